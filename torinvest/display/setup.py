"""Setup of a notebook's output: the offline plotly renderer, itables in offline mode, the
style sheet (:data:`STYLE`) and torinvest errors shown as cards (:func:`setup`).
"""

from __future__ import annotations

import warnings
from typing import Any

from IPython.display import HTML
from tqdm import TqdmWarning

from torinvest.display import rerun
from torinvest.display.cards import error_card
from torinvest.errors import TorinvestError

# In a kernel without ipywidgets, tqdm.auto (imported by torinvest.aws, after this module when a
# notebook imports it first) warns once that it falls back to text bars: noise in a report.
warnings.filterwarnings("ignore", message="IProgress not found", category=TqdmWarning)

#: Name of the plotly renderer :func:`setup` registers (see :class:`OfflineNotebookRenderer`).
PLOTLY_RENDERER = "torinvest_offline"
#: The default renderers: JupyterLab shows the mime type, nbconvert's HTML the inlined figure.
PLOTLY_RENDERERS = f"plotly_mimetype+{PLOTLY_RENDERER}"
STYLE = """
<style>
.ti-card{border:1px solid #c8ced6;border-radius:6px;padding:10px 14px;margin:8px 0;
  background:#fafbfc;font-family:system-ui,-apple-system,"Segoe UI",sans-serif;font-size:14px}
.ti-card h3{margin:0 0 6px 0;font-size:16px}
.ti-card table.ti-kv{border-collapse:collapse;table-layout:auto;margin:0}
.ti-card table.ti-kv th{text-align:left;padding:2px 14px 2px 0;vertical-align:top;
  color:#444;font-weight:600;white-space:nowrap}
.ti-card table.ti-kv td{padding:2px 0;vertical-align:top;overflow-wrap:anywhere}
.ti-card code,.ti-table code{font-size:12px}
.ti-warn{border:2px solid #d9822b;background:#fff4e5}
.ti-danger{border:2px solid #c23030;background:#fdecea}
.ti-ok{border:1px solid #3d8a4e;background:#eef8f0}
.ti-note{color:#555;font-size:13px}
.ti-big{font-size:22px;font-weight:700}
.ti-scroll{overflow-x:auto;max-width:100%}
table.ti-table{border-collapse:collapse;font-size:13px;margin:6px 0;table-layout:auto}
table.ti-table th,table.ti-table td{border:1px solid #d0d7de;padding:3px 6px;text-align:left;
  vertical-align:top;word-break:normal;overflow-wrap:break-word}
table.ti-table th{background:#f0f3f6}
.ti-card table.ti-kv th,.ti-card table.ti-kv td,table.ti-table th,table.ti-table td,
table.dataTable th,table.dataTable td{text-align:left !important}
table.dataTable{table-layout:auto !important}
table.dataTable td{vertical-align:top;word-break:normal;overflow-wrap:break-word}
table th.ti-id,table td.ti-id{white-space:nowrap}
table td.ti-text{min-width:10em}
table td.ti-long{max-width:28em;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
table td.ti-long:hover{white-space:normal;overflow-wrap:anywhere}
.ti-caption{font-weight:600;margin:10px 0 2px 0}
.ti-nowrap{white-space:nowrap}
.ti-print{display:none}
.ti-answer{border:2px solid #1f4e79;border-radius:8px;padding:12px 16px;margin:4px 0 12px 0;
  background:#fff;font-family:system-ui,-apple-system,"Segoe UI",sans-serif;font-size:14px;
  color:#1b1f24}
.ti-answer h1{font-size:22px;margin:0 0 2px 0;line-height:1.25}
.ti-answer h2{font-size:16px;margin:12px 0 4px 0}
.ti-answer .ti-sub{color:#444;margin:0 0 8px 0}
.ti-answer .ti-state{border-radius:6px;padding:6px 10px;margin:6px 0 10px 0}
.ti-tiles{display:flex;flex-wrap:wrap;gap:10px;margin:6px 0}
.ti-tile{flex:1 1 230px;border:1px solid #c8ced6;border-radius:6px;padding:8px 12px;
  background:#fafbfc;min-width:0}
.ti-tile .ti-label{font-size:12px;text-transform:uppercase;letter-spacing:.04em;color:#555;
  font-weight:600}
.ti-tile .ti-value{font-size:20px;font-weight:700;margin:2px 0;overflow-wrap:anywhere}
.ti-tile p{margin:2px 0}
.ti-tile ol{margin:2px 0;padding-left:18px;font-size:13px}
.ti-tile li .ti-note{font-size:12px}
.ti-answer .ti-next{margin:10px 0 0 0}
.ti-answer .ti-prov{color:#555;font-size:12px;margin:10px 0 0 0;border-top:1px solid #d0d7de;
  padding-top:6px}
table.ti-printed tr.ti-more td{white-space:normal;overflow-wrap:anywhere;color:#333;
  border-top:none}
table.ti-printed tbody.ti-row{break-inside:avoid}
.ti-field{margin-right:6px}
@media print{
  @page{size:A4 landscape;margin:10mm}
  .ti-screen{display:none !important}
  .ti-print{display:block}
  .ti-scroll{overflow:visible}
  table.ti-table{font-size:9px}
  table td.ti-long{max-width:none;white-space:normal;overflow:visible;overflow-wrap:anywhere}
  table.ti-printed th{white-space:normal}
  table.ti-printed td.ti-text{min-width:6em}
  .ti-answer,.ti-card,.ti-tile{break-inside:avoid}
}
</style>
"""


# --------------------------------------------------------------------------------------------
# setup
# --------------------------------------------------------------------------------------------
def _offline_renderer_class() -> type:
    from plotly.io import to_html
    from plotly.io._base_renderers import NotebookRenderer

    class OfflineNotebookRenderer(NotebookRenderer):  # type: ignore[misc]
        """plotly's ``notebook`` renderer without its per-figure MathJax ``<script src>`` to a CDN.

        plotly.js is inlined once (when the renderer is activated); figures use no LaTeX.
        """

        def to_mimebundle(self, fig_dict: dict[str, Any]) -> dict[str, str]:
            html = to_html(
                fig_dict,
                config=self.config,
                auto_play=self.auto_play,
                include_plotlyjs=False,
                include_mathjax=False,
                post_script=self.post_script,
                full_html=False,
                animation_opts=self.animation_opts,
                default_width="100%",
                default_height=525,
                validate=False,
            )
            return {"text/html": html}

    return OfflineNotebookRenderer


def setup() -> HTML:
    """Make the notebook's output self-contained (call once, in a cell whose output is kept).

    Registers the offline plotly renderer and makes ``plotly_mimetype+torinvest_offline`` the
    default (this displays plotly.js once), starts itables in offline mode (its bundle is displayed
    once), and shows torinvest errors as a short explanation instead of a stack trace.
    """
    import itables
    import plotly.io as pio

    pio.renderers[PLOTLY_RENDERER] = _offline_renderer_class()()
    pio.renderers.default = PLOTLY_RENDERERS
    itables.init_notebook_mode(all_interactive=False, connected=False)
    _short_errors()
    return HTML(STYLE)


def _short_errors() -> None:
    """In IPython: a TorinvestError shows as a card (message and what to do), not a traceback;
    the results of the notebook's cells are kept current (:mod:`torinvest.display.rerun`), and a
    cell that reads one removed as not current shows why as a card, not a ``NameError``."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython ships with ipykernel
        return
    shell = get_ipython()
    if shell is None:
        return
    results = rerun.install(shell)

    def handler(
        shell: Any, etype: type[BaseException], value: BaseException, tb: Any, tb_offset: Any = None
    ) -> list[str]:
        from IPython.display import display

        if not isinstance(value, TorinvestError):
            stale = results.not_current(value)
            if stale is None:  # any other NameError: Python's own traceback
                stb = shell.InteractiveTB.structured_traceback(
                    etype, value, tb, tb_offset=tb_offset
                )
                shell._showtraceback(etype, value, stb)
                return stb
            etype, value = type(stale), stale
        display(error_card(value))
        stb = [f"{etype.__name__}: {value}"]
        shell._showtraceback(etype, value, stb)  # the error output papermill and nbclient see
        return stb

    shell.set_custom_exc((TorinvestError, NameError), handler)
