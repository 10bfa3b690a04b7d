"""What the notebooks show: cards, warning blocks and tables, so that each cell is one call.

Every value put into HTML here goes through :func:`torinvest.safety.html_text` (CloudTrail
``userAgent``, ``requestParameters``, user and role names, anything read from a findings file can
be written by the attacker: an f-string of such text in ``IPython.display.HTML``/``Markdown`` runs
its script). Tables go through pandas' ``to_html(escape=True)`` or itables (which escapes), charts
through plotly (which escapes).

:func:`setup` makes the notebook self-contained: plotly figures render in JupyterLab (the plotly
mime type) and in the offline HTML report (plotly.js inlined once, no MathJax from a CDN), and
itables runs in offline mode (its bundle inlined, nothing from a CDN).
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from IPython.display import HTML
from tqdm import TqdmWarning

from torinvest import __version__, analysis
from torinvest.errors import (
    CouldNotLookError,
    DataIssue,
    FindingNotFoundError,
    InputError,
    TorinvestError,
    group_issues,
)
from torinvest.safety import html_text, term_safe
from torinvest.verdict import NEXT_STEPS

if TYPE_CHECKING:
    from torinvest.actions import Plan
    from torinvest.events import Activity
    from torinvest.findings import FindingsResult, KeyLocation
    from torinvest.investigation import Investigation, Sources

log = logging.getLogger(__name__)

# In a kernel without ipywidgets, tqdm.auto (imported by torinvest.aws, after this module when a
# notebook imports it first) warns once that it falls back to text bars: noise in a report.
warnings.filterwarnings("ignore", message="IProgress not found", category=TqdmWarning)

#: Name of the plotly renderer :func:`setup` registers (see :class:`OfflineNotebookRenderer`).
PLOTLY_RENDERER = "torinvest_offline"
#: The default renderers: JupyterLab shows the mime type, nbconvert's HTML the inlined figure.
PLOTLY_RENDERERS = f"plotly_mimetype+{PLOTLY_RENDERER}"
#: At most this many data issues are listed in the warning block (the rest are counted).
MAX_ISSUES_SHOWN = 50
#: Interactive tables embed at most about this many bytes of data (itables downsamples beyond).
TABLE_MAX_BYTES = 1_000_000
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"

KIND_MEANING: Mapping[str, str] = {
    "long-term": "AKIA…: a long-term access key of an IAM user (or of the root user). It stays "
    "valid until it is deactivated: deactivate it, then look for what it created.",
    "temporary": "ASIA…: temporary STS credentials (a role session, GetSessionToken or "
    "GetFederationToken). They expire on their own, but only revoking the sessions "
    "(AWSRevokeOlderSessions) stops them before that; find the key that minted them.",
    "other": "neither AKIA nor ASIA: not an IAM access key shape torinvest knows.",
}
TYPE_MEANING: Mapping[str, str] = {
    "UnauthorizedAccess:IAMUser/TorIPCaller": "an API call that changes or reads data was made "
    "with this key from a Tor exit node",
    "Recon:IAMUser/TorIPCaller": "a reconnaissance API call (list/describe permissions or "
    "resources) was made with this key from a Tor exit node",
}

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
    """In IPython: a TorinvestError shows as a card (message and what to do), not a traceback."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython ships with ipykernel
        return
    shell = get_ipython()
    if shell is None:
        return

    def handler(
        shell: Any, etype: type[BaseException], value: BaseException, tb: Any, tb_offset: Any = None
    ) -> list[str]:
        from IPython.display import display

        display(error_card(value))
        stb = [f"{etype.__name__}: {value}"]
        shell._showtraceback(etype, value, stb)  # the error output papermill and nbclient see
        return stb

    shell.set_custom_exc((TorinvestError,), handler)


# --------------------------------------------------------------------------------------------
# small builders (every value escaped)
# --------------------------------------------------------------------------------------------
def _e(value: Any) -> str:
    if value is None or value is pd.NA or value is pd.NaT:
        return "—"
    if isinstance(value, float) and value != value:
        return "—"
    return html_text(value)


def _time(value: Any) -> str:
    if value is None or value is pd.NaT or value is pd.NA:
        return "—"
    ts = pd.Timestamp(value)
    if pd.isna(ts):
        return "—"
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return ts.strftime(TIME_FORMAT) + " UTC"


def _kv(rows: Iterable[tuple[str, str]]) -> str:
    """A two-column table; labels are ours, values must already be escaped."""
    body = "".join(f"<tr><th>{html_text(k)}</th><td>{v}</td></tr>" for k, v in rows)
    return f'<table class="ti-kv">{body}</table>'


def _card(title: str, body: str, kind: str = "") -> str:
    cls = f"ti-card {kind}".strip()
    return f'<div class="{cls}"><h3>{html_text(title)}</h3>{body}</div>'


def _list(items: Iterable[str]) -> str:
    """A bullet list of already escaped items."""
    return "<ul>" + "".join(f"<li>{i}</li>" for i in items) + "</ul>"


#: Columns of identifiers, times, IPs, names and flags: a cell never breaks inside them.
ID_COLUMNS: frozenset[str] = frozenset(
    {
        "#",
        "event_time",
        "event_name",
        "event_source",
        "aws_region",
        "source_ip",
        "tor",
        "access_key_id",
        "derived",
        "error_code",
        "failed",
        "category",
        "sensitive",
        "first_seen",
        "last_seen",
        "events",
        "tor_events",
        "new",
        "country",
        "id",
        "type",
        "account_id",
        "region",
        "severity",
        "key_kind",
        "user_type",
        "principal_id",
        "tor_ip",
        "count",
        "findings_for_key",
        "archived",
        "name",
        "weight",
        "effect",
        "call",
        "derived key",
        "minted by",
        "minted at",
        "from IP",
        "calls made with it",
        "of them from Tor",
        "when (UTC)",
        "from",
        "Tor",
        "result",
    }
)
#: Columns of long attacker-written text: one line cut with "…", the whole text on hover (it
#: wraps in place) and in print.
LONG_COLUMNS: frozenset[str] = frozenset(
    {
        "user_agent",
        "user_agents",
        "request_parameters",
        "response_elements",
        "error_message",
        "event_names",
        "regions",
        "access_keys",
        "note",
        "mitre_technique",
    }
)
#: A printed (or PDF) interactive table shows at most this many rows (every row up to it).
PRINT_MAX_ROWS = 5_000
#: In print, these columns leave a row's first line for a second line across the whole row
#: (a landscape page then holds every event on its own two lines).
PRINT_SECOND_LINE: frozenset[str] = LONG_COLUMNS | {
    "event_source",
    "asn_org",
    "mitre_technique",
    "note",
    "command",
}


def column_class(name: Any) -> str:
    """The CSS class of a table column: ``ti-id`` (never broken), ``ti-long`` (cut, whole on
    hover and in print) or ``ti-text`` (wraps between words)."""
    if name in ID_COLUMNS:
        return "ti-id"
    if name in LONG_COLUMNS:
        return "ti-long"
    return "ti-text"


def _cell(value: Any) -> str:
    """A table cell's HTML: "—" for a missing value; control and bidi characters shown escaped
    (a name cannot reorder the row around it), then HTML-escaped."""
    if value is None or value is pd.NA or value is pd.NaT:
        return "—"
    if isinstance(value, float) and value != value:
        return "—"
    return html_text(term_safe(value))


#: Characters :func:`torinvest.safety.term_safe` shows escaped (control, line and bidi).
_UNSEEN = "[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]"


def _inert(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with control and bidi characters in its text cells shown escaped (only the
    cells that hold one are touched: a million-row table stays fast)."""
    out = frame.copy()
    for name in out.columns:
        col = out[name]
        text = col.map(lambda v: v if isinstance(v, str) else "")
        hit = text.str.contains(_UNSEEN, regex=True).to_numpy(dtype=bool)
        if hit.any():
            out.loc[hit, name] = col[hit].map(term_safe)
    return out


def frame_html(frame: pd.DataFrame, *, max_rows: int | None = None, more_where: str = "") -> str:
    """A static table, every header and cell escaped (:func:`_cell`), each column with its
    :func:`column_class` (identifiers never break mid-word; long text cut, whole on hover).

    ``max_rows``: show the first rows only, and say how many more there are (and
    ``more_where``: where they are).
    """
    shown = frame if max_rows is None else frame.head(max_rows)
    classes = [column_class(c) for c in frame.columns]
    head = "".join(
        f'<th class="{k}">{html_text(c)}</th>' for c, k in zip(frame.columns, classes, strict=True)
    )
    rows = []
    for values in shown.itertuples(index=False, name=None):
        cells = "".join(
            f'<td class="{k}">{_cell(v)}</td>' for v, k in zip(values, classes, strict=True)
        )
        rows.append(f"<tr>{cells}</tr>")
    table = (
        f'<div class="ti-scroll"><table class="ti-table"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )
    more = ""
    if max_rows is not None and len(frame) > max_rows:
        more = f'<p class="ti-note">… and {len(frame) - max_rows:,} more row(s)'
        more += f" {html_text(more_where)}</p>" if more_where else "</p>"
    return table + more


def print_html(frame: pd.DataFrame, *, max_rows: int = PRINT_MAX_ROWS, more_where: str = "") -> str:
    """The table as printed: every row (up to ``max_rows``; the rest counted, ``more_where``
    says where they are) as a ``tbody.ti-row`` of two lines — the short columns, then the
    :data:`PRINT_SECOND_LINE` ones (user agent, parameters…) labelled, across the row, wrapped
    in full. Every header and cell escaped."""
    first = [c for c in frame.columns if c not in PRINT_SECOND_LINE]
    second = [c for c in frame.columns if c in PRINT_SECOND_LINE]
    classes = [column_class(c) for c in first]
    head = "".join(
        f'<th class="{k}">{html_text(c)}</th>' for c, k in zip(first, classes, strict=True)
    )
    bodies = []
    for values in frame.head(max_rows).itertuples(index=False, name=None):
        rec = dict(zip(frame.columns, values, strict=True))
        cells = "".join(
            f'<td class="{k}">{_cell(rec[c])}</td>' for c, k in zip(first, classes, strict=True)
        )
        extra = " · ".join(
            f'<span class="ti-field"><b>{html_text(c)}</b> {_cell(rec[c])}</span>'
            for c in second
            if _present(rec[c])
        )
        more = f'<tr class="ti-more"><td colspan="{len(first)}">{extra}</td></tr>' if extra else ""
        bodies.append(f'<tbody class="ti-row"><tr>{cells}</tr>{more}</tbody>')
    table = (
        f'<table class="ti-table ti-printed"><thead><tr>{head}</tr></thead>'
        f"{''.join(bodies)}</table>"
    )
    if len(frame) > max_rows:
        table += f'<p class="ti-note">… and {len(frame) - max_rows:,} more row(s)'
        table += f" {html_text(more_where)}</p>" if more_where else "</p>"
    return table


def table(
    frame: pd.DataFrame, *, caption: str = "", page_length: int = 10, print_more_where: str = ""
) -> HTML:
    """An interactive table (itables, offline: nothing loads from a CDN; text escaped), and the
    same rows as a static table for print (up to :data:`PRINT_MAX_ROWS`, the rest counted —
    ``print_more_where`` says where they are): printing or saving to PDF shows every row,
    not one page of the interactive table."""
    from itables import to_html_datatable

    shown = _inert(frame.astype("object").where(frame.notna(), ""))
    kinds = [column_class(c) for c in frame.columns]
    column_defs = [
        {"targets": [i for i, k in enumerate(kinds) if k == kind], "className": kind}
        for kind in ("ti-id", "ti-long")
        if kind in kinds
    ]
    body = to_html_datatable(
        shown,
        connected=False,
        allow_html=False,
        showIndex=False,
        maxBytes=TABLE_MAX_BYTES,
        pageLength=page_length,
        classes="display compact",
        scrollX=True,
        columnDefs=column_defs,
    )
    head = f'<p class="ti-caption">{html_text(caption)}</p>' if caption else ""
    printed = print_html(frame, more_where=print_more_where)
    return HTML(f'{head}<div class="ti-screen">{body}</div><div class="ti-print">{printed}</div>')


def _text_cell(value: Any, max_items: int | None = None) -> Any:
    """A cell for a display frame: lists joined (the first ``max_items``), dicts as 'name ×n',
    times formatted, NA as None."""
    if isinstance(value, list | tuple | dict):
        items = (
            [f"{k} ×{v}" for k, v in value.items()]
            if isinstance(value, dict)
            else [str(v) for v in value]
        )
        if max_items is not None and len(items) > max_items:
            items = [*items[:max_items], f"(+{len(items) - max_items} more)"]
        return " | ".join(items)
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):
        return _time(value)
    return value


def _tor_text(value: Any) -> str:
    if value is True:
        return "Tor"
    if value is False:
        return "not Tor"
    return "unknown"


def display_frame(frame: pd.DataFrame, *, max_items: int | None = None) -> pd.DataFrame:
    """A copy of ``frame`` fit for a table or a CSV: plain text cells, times in UTC, Tor spelled,
    lists joined with " | " (the first ``max_items`` of each)."""
    out = pd.DataFrame(index=frame.index)
    for name, col in frame.items():
        if isinstance(col.dtype, pd.DatetimeTZDtype):
            out[name] = col.dt.strftime(TIME_FORMAT).astype("object").where(col.notna(), None)
        elif name == "tor":
            out[name] = [_tor_text(v if v is not pd.NA else None) for v in col.astype("object")]
        else:
            out[name] = [_text_cell(v, max_items) for v in col.astype("object")]
    return out.reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# 0. the answer first
# --------------------------------------------------------------------------------------------
#: What the report's first output says until the notebook's last cell replaces it.
ANSWER_PENDING = (
    "The answer (the key, the Tor reading, what mattered, the score, the verdict and the next "
    "step) appears here when the notebook's last cell has run. If you read this in a report, the "
    "run stopped before the end (the banner above names the failing cell): what follows is "
    "incomplete."
)
#: The answer lists at most this many sensitive calls (all of them are in section 4).
ANSWER_MAX_CALLS = 12
#: The answer's sensitive-calls columns, as it heads them.
ANSWER_CALL_LABELS: Mapping[str, str] = {
    "event_time": "when (UTC)",
    "event_name": "call",
    "source_ip": "from",
    "tor": "Tor",
}
#: … and at most this many Tor IPs, reasons and sources.
ANSWER_MAX_ITEMS = 5
#: A reason's detail is cut to this many characters in the answer.
ANSWER_DETAIL_CHARS = 90


def answer_slot() -> Any:
    """Show the placeholder of the answer (:data:`ANSWER_PENDING`) and return its display
    handle: :func:`answer_first` replaces it, in JupyterLab and in the executed notebook the
    report is made from (papermill records the update)."""
    from IPython.display import display

    body = f"<p>{_e(ANSWER_PENDING)}</p>"
    return display(HTML(_card("The answer: not computed yet", body, "ti-warn")), display_id=True)


def answer_first(
    slot: Any,
    inv: Investigation,
    verdict: Mapping[str, Any],
    *,
    findings: FindingsResult | None = None,
    followed: bool = True,
) -> None:
    """Put the answer (:func:`answer_html`) in ``slot`` (from :func:`answer_slot`); without a
    slot, display it here."""
    page = HTML(answer_html(inv, verdict, findings=findings, followed=followed))
    if slot is None:
        from IPython.display import display

        display(page)
    else:
        slot.update(page)


def activity_state(inv: Investigation) -> tuple[str, str]:
    """What the activity read amounts to, as (state, one line): ``events`` (rows loaded),
    ``counted`` (counted in the engine), ``nothing`` (no log file to read: an empty or mistyped
    source, or none covered the window), ``denied`` (no event; every failed source refused
    access), ``failed`` (no event; sources failed), ``none`` (every source read, none holds a
    call). The states never read the same; the report's answer and the activity card both
    take them from here."""
    from torinvest import events  # here: tqdm.auto's warning filter is set (module top)

    act = inv.activity
    attempted = act.files_read + sum(s.startswith(("lookup:", "athena:")) for s in act.sources)
    failed = list(act.issues)
    denied = [i for i in failed if _is_denied(i)]
    if inv.counted:
        return "counted", (
            "Too many events to load as rows: the activity was counted in the engine; the tables "
            "list the sensitive calls only."
        )
    if len(inv.events):
        return "events", f"{len(inv.events):,} events read."
    if act.nothing_read and act.empty_sources and len(act.empty_sources) >= len(failed):
        why = "; ".join(events.empty_source_text(i) for i in act.empty_sources)
        return "nothing", (
            f"Nothing to read: {why}. This is not evidence that the key was unused: point the "
            "investigation at the trail's logs of the window (or use LookupEvents)."
        )
    if denied and len(denied) >= len(failed):
        return "denied", (
            f"Could not look: {len(denied)} source(s) refused access and no event could be "
            "read. This says nothing about whether the key was used."
        )
    if failed:
        return "failed", (
            f"Could not look: no event was read and {len(failed)} source(s) failed. This is "
            "not evidence that the key was unused."
        )
    if attempted == 0:
        return "nothing", (
            "Nothing to read: no log file or region covered the window, so nothing was looked "
            "at. Add the CloudTrail logs of the window (or use LookupEvents)."
        )
    return "none", (
        f"No events: every source was read ({attempted:,} file(s), region(s) or table(s)) and "
        "none holds a call made with this key in the window. This is not an access problem."
    )


def _state_html(inv: Investigation, findings: FindingsResult | None) -> str:
    """The completeness line under the answer's title: complete, incomplete (data issues),
    could not look, nothing to read, or no events."""
    state, line = activity_state(inv)
    issues = all_issues(inv, findings)
    if state in ("denied", "failed"):
        return f'<div class="ti-state ti-danger"><b>⚠ {_e(line)}</b></div>'
    if state == "nothing":
        return f'<div class="ti-state ti-warn"><b>⚠ {_e(line)}</b></div>'
    parts = [] if state == "events" else [_e(line)]
    if issues:
        denied = [i for i in issues if _is_denied(i)]
        listed = "; ".join(f"<code>{_e(i.source)}</code>: {_e(i.problem)}" for i in issues[:3]) + (
            f"; … and {len(issues) - 3:,} more" if len(issues) > 3 else ""
        )
        head = (
            f"<b>⚠ Incomplete: {len(issues):,} data issue(s)</b> — read what follows with "
            "them in mind"
            + (f" (not allowed to look at {len(denied):,} source(s))" if denied else "")
        )
        parts.insert(0, f"{head}: {listed}. All are listed under Data issues below.")
        return f'<div class="ti-state ti-warn">{" ".join(parts)}</div>'
    read = _read_count(inv)
    if state == "none":
        return f'<div class="ti-state ti-ok"><b>{_e(line)}</b></div>'
    head = f"<b>Complete:</b> every source was read ({_e(read)}); no data issue."
    return f'<div class="ti-state ti-ok">{" ".join([head, *parts])}</div>'


def _read_count(inv: Investigation) -> str:
    act = inv.activity
    parts = []
    if act.files_read:
        parts.append(f"{act.files_read:,} log file(s)")
    regions = sum(s.startswith("lookup:") for s in act.sources)
    if regions:
        parts.append(f"LookupEvents in {regions} region(s)")
    tables = sum(s.startswith("athena:") for s in act.sources)
    if tables:
        parts.append(f"{tables} Athena table(s)")
    return ", ".join(parts) or "no file or region"


def _tile(label: str, value: str, body: str) -> str:
    """One box of the answer: a label, a big value, details (all already escaped)."""
    return (
        f'<div class="ti-tile"><div class="ti-label">{html_text(label)}</div>'
        f'<div class="ti-value">{value}</div>{body}</div>'
    )


def _key_tile(inv: Investigation) -> str:
    k = inv.key
    who = f"{_e(k.user_type)} <b>{_e(k.user_name)}</b>" if k.user_name else _e(k.user_type)
    body = (
        f"<p>{_e(k.kind)} key of {who}</p>"
        f"<p class='ti-note'>principal <code>{_e(k.principal_id)}</code></p>"
    )
    return _tile("Key", f"<code>{_e(k.access_key_id)}</code>", body)


def _tor_ips(inv: Investigation) -> list[str]:
    """The Tor IPs of the activity with their Tor calls, busiest first (escaped)."""
    table = inv.per_ip
    if not len(table) or "tor" not in table.columns:
        return []
    tor = table[table["tor"].astype("boolean").fillna(False).to_numpy(dtype=bool)]
    counts = tor["tor_events"] if "tor_events" in tor.columns else tor["events"]
    pairs = sorted(
        (
            (str(ip), int(n) if pd.notna(n) else 0)
            for ip, n in zip(tor["source_ip"], counts, strict=True)
        ),
        key=lambda p: (-p[1], p[0]),
    )
    items = [
        f"<span class='ti-nowrap'><code>{_e(ip)}</code> ×{n:,}</span>"
        for ip, n in pairs[:ANSWER_MAX_ITEMS]
    ]
    if len(pairs) > ANSWER_MAX_ITEMS:
        items.append(f"+{len(pairs) - ANSWER_MAX_ITEMS} more")
    return items


def _tor_tile(inv: Investigation, state: str) -> str:
    seen = f"<p class='ti-note'>GuardDuty saw <code>{_e(inv.key.tor_ip)}</code></p>"
    if state not in ("events", "counted"):
        value = {
            "denied": "could not look",
            "failed": "could not look",
            "nothing": "nothing read",
            "none": "no events",
        }[state]
        return _tile("Tor reading", _e(value), "<p>0 calls read</p>" + seen)
    totals = inv.totals()
    ips = _tor_ips(inv)
    body = (
        f"<p>from Tor exit nodes:</p><p>{'<br>'.join(ips)}</p>"
        if ips
        else "<p>no call from a listed Tor exit node</p>"
    )
    body += (
        f"<p class='ti-note'>all calls: {totals['total']:,} ({totals['failed']:,} failed) from "
        f"{len(inv.per_ip):,} source IP(s)</p>"
    )
    frame = inv.by_time if inv.counted else inv.events
    if frame is not None and len(frame) and "tor" in frame.columns:
        na = frame["tor"].isna().to_numpy(dtype=bool)
        unknown = int(frame["calls"][na].sum()) if inv.counted else int(na.sum())
        if unknown:
            body += (
                f"<p><b>{unknown:,} call(s) of unknown Tor status</b> (no exit list covers "
                "their time)</p>"
            )
    value = f"{totals['from_tor']:,} of {totals['total']:,} calls"
    return _tile("Tor reading", _e(value), body + seen)


def _score_tile(inv: Investigation) -> str:
    s = inv.score
    reasons = []
    for r in s.reasons[:3]:
        detail = str(r.detail)
        if len(detail) > ANSWER_DETAIL_CHARS:
            detail = detail[: ANSWER_DETAIL_CHARS - 1] + "…"
        reasons.append(
            f"<li><b>{_e(r.name)}</b> +{_e(r.weight)} <span class='ti-note'>{_e(detail)}</span>"
            "</li>"
        )
    body = "<p class='ti-note'>orders what to read first — not a verdict</p>" + (
        f"<ol>{''.join(reasons)}</ol>" if reasons else "<p>no weighted signal</p>"
    )
    return _tile("Triage score", f"{_e(s.score)} / {analysis.MAX_SCORE} · {_e(s.band)}", body)


def _verdict_tile(verdict: Mapping[str, Any]) -> str:
    status = str(verdict.get("status") or "pending")
    recorded = verdict.get("recorded_at")
    who = verdict.get("analyst") or None
    if recorded:
        body = f"<p>by <b>{_e(who)}</b> at {_time(recorded)}</p>"
    else:
        body = "<p>no verdict recorded for this finding</p>"
    if verdict.get("rationale"):
        body += f"<p class='ti-note'>{_e(verdict.get('rationale'))}</p>"
    return _tile("Verdict", _e(status), body)


def _mattered_html(inv: Investigation) -> str:
    """The sensitive calls with their targets (the first :data:`ANSWER_MAX_CALLS`)."""
    found = inv.sensitive
    if not len(found):
        return (
            "<p>No call from the sensitive-actions catalogue (users, keys, policies, roles, "
            "secrets, trails… created, changed or read)"
            + (" among the calls read." if len(inv.events) or inv.counted else ": no call read.")
            + "</p>"
        )
    rows = pd.DataFrame(
        {
            "event_time": found["event_time"],
            "event_name": found["event_name"],
            "target": found["target"] if "target" in found.columns else None,
            "source_ip": found["source_ip"],
            "tor": found["tor"],
            "result": found["error_code"].astype("object").where(found["error_code"].notna(), "ok"),
            "category": found["category"],
        }
    )
    shown = display_frame(rows).rename(columns=ANSWER_CALL_LABELS)
    note = (
        f"<p class='ti-note'>The first {ANSWER_MAX_CALLS} of {len(found):,}: all are in "
        "section 4 (Sensitive calls) and summary.json.</p>"
        if len(found) > ANSWER_MAX_CALLS
        else ""
    )
    return frame_html(shown, max_rows=ANSWER_MAX_CALLS) + note


def key_calls(inv: Investigation, access_key_id: str) -> tuple[int, int]:
    """(calls, calls from Tor) made with one key: from the rows, or from the engine's counts
    when the activity was counted (the rows then hold only the sensitive calls)."""
    frame = inv.by_time if inv.counted else inv.events
    if frame is None or not len(frame):
        return 0, 0
    mine = frame[(frame["access_key_id"] == access_key_id).fillna(False).to_numpy(dtype=bool)]
    tor = mine["tor"].astype("boolean").fillna(False).to_numpy(dtype=bool)
    if inv.counted:
        calls = mine["calls"].fillna(0).to_numpy(dtype="int64")
        return int(calls.sum()), int(calls[tor].sum())
    return len(mine), int(tor.sum())


def _derived_html(inv: Investigation, followed: bool) -> str:
    if not followed:
        return "<p><b>Derived keys: not followed</b> (follow_derived is off).</p>"
    derived = inv.activity.derived
    if not derived:
        return "<p>Derived keys: none minted by this key in its activity.</p>"
    items = []
    for d in derived:
        calls, tor = key_calls(inv, d.access_key_id)
        items.append(
            f"<code>{_e(d.access_key_id)}</code> minted with {_e(d.event_name)} at "
            f"{_time(d.event_time)} from <code>{_e(d.source_ip)}</code>: {calls:,} call(s), "
            f"{tor:,} from Tor"
        )
    return f"<p><b>Derived keys ({len(derived)})</b> — the same actor holds them:</p>" + _list(
        items
    )


def _next_html(inv: Investigation, verdict: Mapping[str, Any]) -> str:
    status = str(verdict.get("status") or "pending")
    fid = inv.key.finding_id
    if status == "pending":
        command = (
            f"torinvest verdict {fid} --status malicious|legitimate|inconclusive "
            '--analyst NAME --rationale "…"'
        )
    elif status == "legitimate":
        command = f"torinvest actions {fid} --plan archive --execute"
    else:
        command = f"torinvest actions {fid} --plan remediate --execute"
    then = "Record it" if status == "pending" else "After reviewing the dry-run plan below"
    return (
        f'<p class="ti-next"><b>Next step:</b> {_e(NEXT_STEPS.get(status, ""))} {then}: '
        f"<code>{_e(command)}</code></p>"
    )


def _provenance_html(generated: Mapping[str, Any]) -> str:
    sources = list(generated.get("sources") or [])
    shown = [_e(x) for x in sources[:ANSWER_MAX_ITEMS]]
    if len(sources) > ANSWER_MAX_ITEMS:
        shown.append(f"+{len(sources) - ANSWER_MAX_ITEMS} more (summary.json)")
    return (
        f'<p class="ti-prov">Generated {_time(generated.get("at"))} by '
        f"<b>{_e(generated.get('by'))}</b> with torinvest {_e(__version__)}. Sources: "
        f"{'; '.join(shown) or '—'}.</p>"
    )


def answer_html(
    inv: Investigation,
    verdict: Mapping[str, Any],
    *,
    findings: FindingsResult | None = None,
    followed: bool = True,
) -> str:
    """The report's first screen: the finding, whether the reading is complete (data issues,
    could not look and no events read differently), four boxes — the key, the Tor reading
    (N of M calls, which IPs), the triage score with its top reasons, the verdict —, what
    mattered (sensitive calls with their targets), derived keys, the next step, and the
    provenance (generated at, by whom, torinvest version, sources: the same as summary.json's
    ``generated``). Every value escaped."""
    from torinvest.investigation import provenance

    k = inv.key
    state, _ = activity_state(inv)
    sub = (
        f"{_e(k.finding_type)} · account {_e(k.account_id)} · {_e(k.region)} · severity "
        f"{_e(inv.finding.get('severity'))} · first seen {_time(k.first_seen)} · last seen "
        f"{_time(k.last_seen)}"
    )
    tiles = _key_tile(inv) + _tor_tile(inv, state) + _score_tile(inv) + _verdict_tile(verdict)
    return (
        '<div class="ti-answer" id="torinvest-answer">'
        f"<h1>Tor finding <code>{_e(k.finding_id)}</code></h1>"
        f'<p class="ti-sub">{sub}</p>'
        + _state_html(inv, findings)
        + f'<div class="ti-tiles">{tiles}</div>'
        + _next_html(inv, verdict)
        + "<h2>What mattered</h2>"
        + _mattered_html(inv)
        + _derived_html(inv, followed)
        + _provenance_html(provenance(inv))
        + "</div>"
    )


# --------------------------------------------------------------------------------------------
# 1. the finding and the key
# --------------------------------------------------------------------------------------------
def finding_card(finding: pd.Series, key: KeyLocation) -> HTML:
    """Who, which key (and what AKIA/ASIA means), when, and the Tor IP with its network."""
    network = " · ".join(
        _e(finding.get(c)) for c in ("country", "asn", "asn_org") if _present(finding.get(c))
    )
    archived = finding.get("archived")
    archived = None if not _present(archived) else bool(archived)
    finding_rows = [
        ("finding ID", f"<code>{_e(key.finding_id)}</code>"),
        (
            "type",
            f"{_e(key.finding_type)}<br><span class='ti-note'>"
            f"{_e(TYPE_MEANING.get(key.finding_type, ''))}</span>",
        ),
        ("severity", _e(finding.get("severity"))),
        ("account / region", f"{_e(key.account_id)} / {_e(key.region)}"),
        ("first seen", _time(key.first_seen)),
        ("last seen", _time(key.last_seen)),
        (
            "count",
            f"{_e(finding.get('count'))} <span class='ti-note'>(calls GuardDuty "
            "aggregated into this finding: CloudTrail below has each one)</span>",
        ),
        ("API seen", f"{_e(key.api)} on {_e(key.service_name)}"),
        ("archived", "yes" if archived is True else "no" if archived is False else "—"),
    ]
    key_rows = [
        ("access key", f"<code>{_e(key.access_key_id)}</code> — {_e(key.kind)}"),
        ("what that means", _e(KIND_MEANING.get(key.kind, KIND_MEANING["other"]))),
        ("user", f"{_e(key.user_name)} ({_e(key.user_type)})"),
        ("principal ID", f"<code>{_e(key.principal_id)}</code>"),
    ]
    tor_rows = [
        ("Tor IP (from the finding)", f"<code>{_e(key.tor_ip)}</code>"),
        ("its network", network or "— (not in the finding)"),
    ]
    body = (
        _card("The finding", _kv(finding_rows))
        + _card("The key", _kv(key_rows))
        + _card("The Tor exit node", _kv(tor_rows))
    )
    return HTML(body)


def _present(v: Any) -> bool:
    return not (v is None or v is pd.NA or (isinstance(v, float) and v != v) or v == "")


# --------------------------------------------------------------------------------------------
# 2. the key's activity
# --------------------------------------------------------------------------------------------
def sources_card(inv: Investigation) -> HTML:
    """Where the activity came from: the source, files and regions read, exit lists, window."""
    from torinvest import events  # here: tqdm.auto's warning filter is set (module top)

    act = inv.activity
    src: Sources = inv.sources
    logs = [s.removeprefix("logs:") for s in act.sources if s.startswith("logs:")]
    lookups = [s.removeprefix("lookup:") for s in act.sources if s.startswith("lookup:")]
    read = f"{act.files_read:,} from " + (", ".join(_e(x) for x in logs) or "—")
    kind = src.engine.kind
    engine_sources = [s.removeprefix(f"{kind}:") for s in act.sources if s.startswith(f"{kind}:")]
    if kind == "duckdb" and engine_sources:
        read = f"{act.files_read:,} by the DuckDB engine from " + ", ".join(
            _e(x) for x in engine_sources
        )
    elif kind == "athena" and engine_sources:
        read = (
            "— (Athena reads the CloudTrail table in "
            + ", ".join(_e(x) for x in engine_sources)
            + ")"
        )
    rows = [
        ("source", _e(src.describe())),
        ("window", f"{_time(inv.window[0])} → {_time(inv.window[1])}"),
        ("log files read", read),
    ]
    if act.file_counts is not None:  # listed, read, failed (why), outside the narrowing
        rows.append(("log files", _e(act.file_counts.describe())))
        if act.file_counts.trails:
            rows.append(("trail folders found", "<br>".join(_e(t) for t in act.file_counts.trails)))
    rows += [
        ("LookupEvents regions", ", ".join(_e(x) for x in lookups) or "— (not used)"),
        ("Tor exit lists", "<br>".join(_e(line) for line in inv.lists.describe().splitlines())),
        ("result", _e(act.summary())),
    ]
    if act.engine_summary:
        rows.append(("engine", _e(act.engine_summary)))
    for empty in act.empty_sources:
        rows.append(("nothing to read", _e(events.empty_source_text(empty))))
    notes = _list(_e(n) for n in act.notes) if act.notes else ""
    return HTML(_card("Sources used", _kv(rows) + notes))


def _is_denied(issue: DataIssue) -> bool:
    return issue.problem.lower().startswith("access denied") or "AccessDenied" in issue.problem


def all_issues(inv: Investigation, findings: FindingsResult | None = None) -> list[DataIssue]:
    """The investigation's data issues, plus the findings files that could not be read
    (identical problems of many sources grouped: :func:`torinvest.errors.group_issues`)."""
    issues = list(findings.issues) if findings is not None else []
    return group_issues([*issues, *inv.data_issues])


def data_issues(inv: Investigation, findings: FindingsResult | None = None) -> HTML:
    """A visible warning block listing every data issue, or a short "none" note."""
    issues = all_issues(inv, findings)
    if not issues:
        return HTML(
            _card(
                "No data issues",
                "<p>Every file and region was read completely.</p>",
                "ti-ok",
            )
        )
    every = [*(findings.issues if findings is not None else []), *inv.data_issues]
    denied = [i for i in dict.fromkeys(every) if _is_denied(i)]
    shown = issues[:MAX_ISSUES_SHOWN]
    items = [f"<code>{_e(i.source)}</code>: {_e(i.problem)}" for i in shown]
    more = len(issues) - len(shown)
    if more:
        items.append(f"… and {more:,} more (see summary.json)")
    head = (
        f"<p><b>{len(issues)} data issue(s): what follows may be incomplete.</b> A source that "
        "could not be read is not a source without events.</p>"
    )
    if denied:
        head += (
            f"<p><b>Not allowed to look:</b> {len(denied)} source(s) refused access "
            "(AccessDenied). Investigate with a principal that may read them; AWS's quarantine "
            "policies deny cloudtrail:LookupEvents to the quarantined key itself.</p>"
        )
    return HTML(_card("⚠ Data issues", head + _list(items), "ti-warn"))


def activity_status(inv: Investigation) -> HTML:
    """What was found: events, or "no events" (sources read, nothing there) vs "could not look"
    vs "nothing to read" (:func:`activity_state`)."""
    act: Activity = inv.activity
    ev = inv.events
    failed = list(act.issues)
    state, line = activity_state(inv)
    if state == "counted":
        return HTML(_card("The key's activity", _counted_body(inv)))
    if state == "events":
        n_failed = int(ev["error_code"].notna().sum())
        n_tor = int(ev["tor"].fillna(False).astype(bool).sum())
        keys = ev["access_key_id"].dropna().astype(str).unique().tolist()
        rows = [
            ("events", f"<span class='ti-big'>{len(ev):,}</span>"),
            ("failed calls", f"{n_failed:,}"),
            ("calls from Tor", f"{n_tor:,}"),
            ("source IPs", f"{ev['source_ip'].nunique():,}"),
            ("access keys", ", ".join(f"<code>{_e(k)}</code>" for k in sorted(keys))),
            ("first / last", f"{_time(ev['event_time'].min())} → {_time(ev['event_time'].max())}"),
        ]
        body = _kv(rows)
        if failed:
            body += (
                f"<p><b>{len(failed)} source(s) failed</b>: events from them are missing "
                "(see the data issues).</p>"
            )
        return HTML(_card("The key's activity", body))
    title, kind = {
        "nothing": ("Nothing to read", "ti-danger" if act.empty_sources else "ti-warn"),
        "denied": ("Not allowed to look", "ti-danger"),
        "failed": ("No events read — but sources failed", "ti-danger"),
        "none": ("No events", "ti-ok"),
    }[state]
    return HTML(_card(title, f"<p>{_e(line)}</p>", kind))


def _counted_body(inv: Investigation) -> str:
    """The activity card's body when the activity was counted in the engine."""
    agg = inv.activity.aggregates
    assert agg is not None
    totals = inv.totals()
    keys = sorted({str(k) for ks in inv.per_ip["access_keys"] for k in ks})
    bucket = (inv.by_time.attrs.get("bucket_name") if inv.by_time is not None else None) or "bucket"
    rows = [
        ("events", f"<span class='ti-big'>{totals['total']:,}</span> (counted in the engine)"),
        ("failed calls", f"{totals['failed']:,}"),
        ("calls from Tor", f"{totals['from_tor']:,} (Tor status per IP and {_e(bucket)})"),
        ("source IPs", f"{len(inv.per_ip):,}"),
        ("access keys", ", ".join(f"<code>{_e(k)}</code>" for k in keys)),
        ("first / last", f"{_time(agg.first_seen)} → {_time(agg.last_seen)}"),
    ]
    limit = f"the {agg.limit:,}-row limit" if agg.limit is not None else "the row limit"
    body = _kv(rows) + (
        f"<p><b>Too many events to load as rows</b> (more than {limit}): the per-IP table and "
        "the charts were computed in the engine (GROUP BY), and the events table lists only the "
        f"{len(inv.events):,} sensitive calls. Query the engine (<code>torinvest events "
        "--engine …</code>) for the rest.</p>"
    )
    if inv.activity.issues:
        body += (
            f"<p><b>{len(inv.activity.issues)} source(s) failed</b>: events from them are "
            "missing (see the data issues).</p>"
        )
    return body


EVENT_COLUMNS: tuple[str, ...] = (
    "event_time",
    "event_name",
    "event_source",
    "aws_region",
    "source_ip",
    "tor",
    "access_key_id",
    "derived",
    "error_code",
    "user_agent",
    "request_parameters",
)


def events_frame(inv: Investigation) -> pd.DataFrame:
    """The events as plain text columns (the ones an analyst reads first)."""
    cols = [c for c in EVENT_COLUMNS if c in inv.events.columns]
    return display_frame(inv.events[cols])


#: The events table's columns, what an analyst reads first on the left.
EVENT_TABLE_COLUMNS: tuple[str, ...] = (
    "event_time",
    "event_name",
    "sensitive",
    "source_ip",
    "tor",
    "aws_region",
    "error_code",
    "access_key_id",
    "derived",
    "event_source",
    "user_agent",
    "request_parameters",
)
#: How the events table is ordered (its caption says it).
EVENTS_ORDER = "Tor and sensitive calls first, then the others; oldest first within each"


def events_view(inv: Investigation) -> pd.DataFrame:
    """The events table's rows (:data:`EVENT_TABLE_COLUMNS`, plain text): calls from Tor exits
    and calls in the sensitive-actions catalogue first, then the others, each group oldest
    first. ``sensitive`` is the call's catalogue category (empty for other calls)."""
    ev = inv.events
    if not len(ev):
        return pd.DataFrame(columns=list(EVENT_TABLE_COLUMNS))
    cat = analysis.load_catalogue()[["event_name", "event_source", "category"]].astype("object")
    pairs = pd.DataFrame(
        {
            "event_name": ev["event_name"].astype("object").to_numpy(),
            "event_source": ev["event_source"].astype("object").to_numpy(),
        }
    )
    category = pairs.merge(cat, on=["event_name", "event_source"], how="left")["category"]
    tor = ev["tor"].astype("boolean").fillna(False).to_numpy(dtype=bool)
    first = tor | category.notna().to_numpy(dtype=bool)
    order = pd.DataFrame(
        {"later": ~first, "time": ev["event_time"].to_numpy(), "n": range(len(ev))}
    ).sort_values(["later", "time", "n"], kind="stable", na_position="last")["n"]
    rows = ev.iloc[order.to_numpy()].copy()
    rows["sensitive"] = category.iloc[order.to_numpy()].to_numpy()
    cols = [c for c in EVENT_TABLE_COLUMNS if c in rows.columns]
    return display_frame(rows[cols])


def events_table(inv: Investigation) -> HTML:
    """Every event of the key (and its derived keys), interactive, Tor and sensitive calls
    first (:data:`EVENTS_ORDER`); printed, every row (up to :data:`PRINT_MAX_ROWS`)."""
    if not len(inv.events):
        what = "No sensitive call to list" if inv.counted else "No events to list"
        return HTML(f'<p class="ti-note">{what}.</p>')
    caption = f"Events ({len(inv.events):,}): {EVENTS_ORDER}"
    if inv.counted:
        total = inv.totals()["total"]
        caption = f"Sensitive calls only: {len(inv.events):,} of {total:,} events ({EVENTS_ORDER})"
    return table(events_view(inv), caption=caption, print_more_where="(all in events.csv)")


# --------------------------------------------------------------------------------------------
# 3. by source IP
# --------------------------------------------------------------------------------------------
PER_IP_SHOWN: tuple[str, ...] = (
    "source_ip",
    "tor",
    "events",
    "failed",
    "tor_events",
    "first_seen",
    "last_seen",
    "new",
    "country",
    "asn_org",
    "regions",
    "event_names",
    "user_agents",
    "access_keys",
    "derived",
)


#: Lists (user agents, regions…) in the interactive per-IP table keep this many items each.
TABLE_LIST_ITEMS = 5


def per_ip_frame(inv: Investigation, *, max_items: int | None = None) -> pd.DataFrame:
    """The per-IP frame (:func:`torinvest.analysis.per_ip`) as plain text columns."""
    cols = [c for c in PER_IP_SHOWN if c in inv.per_ip.columns]
    return display_frame(inv.per_ip[cols], max_items=max_items)


def per_ip_table(inv: Investigation) -> HTML:
    """One row per source IP, interactive (offline)."""
    if not len(inv.per_ip):
        return HTML('<p class="ti-note">No source IP: no events.</p>')
    return table(
        per_ip_frame(inv, max_items=TABLE_LIST_ITEMS),
        caption=f"Activity by source IP (lists: first {TABLE_LIST_ITEMS}; all in per_ip.csv)",
    )


# --------------------------------------------------------------------------------------------
# 4. signals and triage score
# --------------------------------------------------------------------------------------------
def score_card(inv: Investigation) -> HTML:
    """The triage score, its band and reasons, and that it is not a verdict."""
    s = inv.score
    kind = {"high": "ti-danger", "medium": "ti-warn"}.get(s.band, "")
    reasons = [f"<b>{_e(r.name)}</b> (+{_e(r.weight)}): {_e(r.detail)}" for r in s.reasons] or [
        "no weighted signal"
    ]
    body = (
        f"<p><span class='ti-big'>{_e(s.score)} / {analysis.MAX_SCORE}</span> "
        f"&nbsp;band: <b>{_e(s.band)}</b></p>"
        f"<p><b>{_e(s.note)}</b></p>"
        "<p>Weighed most:</p>" + _list(reasons)
    )
    return HTML(_card("Triage score — not a verdict", body, kind))


def signals_table(inv: Investigation) -> HTML:
    """Every signal with its detail and weight (weight 0 = information)."""
    if not inv.signals:
        return HTML('<p class="ti-note">No signal.</p>')
    frame = pd.DataFrame([s.to_dict() for s in inv.signals], columns=["name", "weight", "detail"])
    return HTML(frame_html(frame))


SENSITIVE_SHOWN: tuple[str, ...] = (
    "event_time",
    "category",
    "event_name",
    "target",
    "source_ip",
    "tor",
    "error_code",
    "access_key_id",
    "derived",
    "event_source",
    "mitre_technique",
    "note",
)


def sensitive_table(inv: Investigation) -> HTML:
    """The calls from the sensitive-actions catalogue (persistence, privilege escalation…),
    each with its target: what it created, changed or read (:mod:`torinvest.targets`)."""
    if not len(inv.sensitive):
        return HTML(_card("Sensitive calls", "<p>None of the catalogued sensitive calls.</p>"))
    cols = [c for c in SENSITIVE_SHOWN if c in inv.sensitive.columns]
    return HTML(
        _card(
            f"Sensitive calls ({len(inv.sensitive)})",
            frame_html(display_frame(inv.sensitive[cols])),
        )
    )


# --------------------------------------------------------------------------------------------
# 5. derived keys
# --------------------------------------------------------------------------------------------
def derived_keys(inv: Investigation, *, followed: bool = True) -> HTML:
    """Keys minted by the suspect key (same actor), and what they did."""
    derived = inv.activity.derived
    if not followed:
        return HTML(
            _card(
                "Derived keys: not followed",
                "<p>follow_derived is off: keys minted by this key (GetSessionToken, "
                "AssumeRole, GetFederationToken) were not searched.</p>",
                "ti-warn",
            )
        )
    if not derived:
        return HTML(
            _card(
                "Derived keys",
                "<p>No key minted by this key was found in its activity "
                "(responseElements.credentials of GetSessionToken, AssumeRole, "
                "GetFederationToken).</p>",
            )
        )
    rows = []
    for d in derived:
        calls, tor = key_calls(inv, d.access_key_id)
        rows.append(
            {
                "derived key": d.access_key_id,
                "minted by": d.minted_by,
                "call": d.event_name,
                "minted at": _time(d.event_time),
                "from IP": d.source_ip,
                "role": d.role_arn,
                "expires": d.expiration,
                "calls made with it": calls,
                "of them from Tor": tor,
            }
        )
    body = (
        "<p>The same actor holds these keys: their calls are in the activity above "
        "(flagged <code>derived</code>), and remediation must revoke them too.</p>"
        + frame_html(pd.DataFrame(rows))
    )
    return HTML(_card(f"Derived keys ({len(derived)})", body, "ti-warn"))


# --------------------------------------------------------------------------------------------
# 6. verdict and next steps
# --------------------------------------------------------------------------------------------
def verdict_card(verdict: Mapping[str, Any], *, ledger: str | None = None) -> HTML:
    """The verdict, who decided and why, whether it is recorded, and what it means next."""
    status = str(verdict.get("status") or "pending")
    kind = {"malicious": "ti-danger", "inconclusive": "ti-warn", "legitimate": "ti-ok"}.get(
        status, ""
    )
    recorded = verdict.get("recorded_at")
    rows = [
        ("status", f"<span class='ti-big'>{_e(status)}</span>"),
        ("analyst", _e(verdict.get("analyst") or None)),
        ("rationale", _e(verdict.get("rationale") or None)),
        (
            "recorded",
            f"{_e(recorded)} in {_e(ledger)}"
            if recorded and ledger
            else _e(recorded)
            if recorded
            else "not recorded (pending)",
        ),
        ("what it means next", _e(NEXT_STEPS.get(status, ""))),
    ]
    return HTML(_card("Verdict", _kv(rows), kind))


def plan_frame(plan: Plan) -> pd.DataFrame:
    """A plan as rows: step, what it does to AWS, the call, region, what it acts on, why, the
    AWS CLI command (or what to do by hand)."""
    rows = []
    for n, a in enumerate(plan.actions, start=1):
        effect = "by hand" if a.manual else ("changes AWS" if a.changes_aws else "read only")
        rows.append(
            {
                "#": n,
                "effect": effect,
                "call": f"{a.service}:{a.operation}",
                "region": a.region,
                "on": ", ".join(a.targets) or None,
                "why": a.why,
                "AWS CLI equivalent (not executed)": a.cli(),
            }
        )
    cols = ["#", "effect", "call", "region", "on", "why", "AWS CLI equivalent (not executed)"]
    return pd.DataFrame(rows, columns=cols)


def _plan_html(title: str, plan: Plan, command: str, who: str, kind: str = "") -> str:
    notes = _list(_e(n) for n in plan.notes) if plan.notes else ""
    body = (
        "<p><b>DRY RUN: nothing here has been executed.</b> The notebook never executes "
        "actions; review the calls, then run them with "
        f"<code>{_e(command)}</code> (it refuses without a matching verdict in the ledger or "
        "with credentials of another account; each call is printed before it runs and "
        "ledgered with its answer).</p>"
        f"<p><b>Credentials:</b> {_e(who)}</p>"
        + (frame_html(plan_frame(plan)) if plan.actions else "<p>No API call to make.</p>")
        + notes
    )
    return _card(title, body, kind)


def next_steps(
    inv: Investigation,
    verdict: Mapping[str, Any],
    *,
    suppress: bool = False,
    now: pd.Timestamp | None = None,
) -> HTML:
    """The plan the verdict leads to, as a dry-run table with the AWS CLI equivalents, and whose
    credentials ``--execute`` would use (an online investigation asks STS; a case folder says
    where the credentials would come from, without calling AWS).

    legitimate: archive (and, with ``suppress``, a suppression rule scoped to this principal);
    malicious/inconclusive: the remediation plan; pending: both, as previews.
    """
    from torinvest import actions, runner

    status = str(verdict.get("status") or "pending")
    fid = inv.key.finding_id
    aws = inv.sources.aws
    parts: list[str] = []
    if status in ("legitimate", "pending"):
        cmd = f"torinvest actions {fid} --plan archive{' --suppress' if suppress else ''} --execute"
        title = "Archive plan" if status == "legitimate" else "If legitimate: archive plan"
        try:
            plan = actions.plan_archive(inv.finding, suppress=suppress)
        except InputError as e:
            parts.append(_card(title, f"<p>No archive plan: {_e(e)}</p>", "ti-warn"))
        else:
            plan.notes.append(
                "only the GuardDuty administrator account (or a standalone account) can archive "
                "findings and create suppression rules"
            )
            parts.append(_plan_html(title, plan, cmd, runner.whose_credentials(plan, aws)))
    if status in ("malicious", "inconclusive", "pending"):
        cmd = f"torinvest actions {fid} --plan remediate --execute"
        title = "Remediation plan" if status != "pending" else "If not legitimate: remediation plan"
        plan = actions.plan_remediation(inv.key, inv.events, now=now)
        who = runner.whose_credentials(plan, aws)
        parts.append(
            _plan_html(title, plan, cmd, who, "ti-danger" if status == "malicious" else "")
        )
    return HTML("".join(parts))


# --------------------------------------------------------------------------------------------
# errors, files, triage
# --------------------------------------------------------------------------------------------
def error_card(error: BaseException) -> HTML:
    """A torinvest error as a short explanation: what went wrong and what to do.

    A could-not-look error (no region searched, no file read) says so in its title and lists
    what failed: it is never a "not found". A "not found" after a partial search says the
    finding may be where torinvest could not look.
    """
    hint = getattr(error, "hint", None)
    message = getattr(error, "message", None) or str(error)
    body = f"<p>{_e(message)}</p>" + (f"<p><b>What to do:</b> {_e(hint)}</p>" if hint else "")
    title = f"Stopped: {type(error).__name__}"
    failed: Sequence[DataIssue] = ()
    if isinstance(error, CouldNotLookError):
        title = "Could not look: nothing was searched (this is not a “not found”)"
        failed = error.issues
    elif isinstance(error, FindingNotFoundError) and error.unsearched:
        title = "Not found where torinvest could look: it may be where it could not"
        failed = error.unsearched
    if failed:
        items = [f"<code>{_e(i.source)}</code>: {_e(i.problem)}" for i in failed[:MAX_ISSUES_SHOWN]]
        if len(failed) > MAX_ISSUES_SHOWN:
            items.append(f"… and {len(failed) - MAX_ISSUES_SHOWN:,} more")
        body += "<p><b>Could not be searched:</b></p>" + _list(items)
    return HTML(_card(title, body, "ti-danger"))


def files_written(paths: Mapping[str, Any]) -> HTML:
    """The files a cell wrote (name → path; None = not written)."""
    rows = [(k, f"<code>{_e(v)}</code>" if v else "not written") for k, v in paths.items()]
    return HTML(_card("Files written", _kv(rows)))


def findings_issues(issues: Sequence[DataIssue], skipped: Mapping[str, int] | None = None) -> HTML:
    """Findings files or regions that could not be read, and findings left out by type."""
    skipped = dict(skipped or {})
    notes = [f"{_e(n)} finding(s) of type {_e(t)} left out" for t, n in sorted(skipped.items())]
    if not issues:
        body = "<p>Every findings file or region was read.</p>" + (_list(notes) if notes else "")
        return HTML(_card("No data issues", body, "ti-ok"))
    items = [f"<code>{_e(i.source)}</code>: {_e(i.problem)}" for i in issues[:MAX_ISSUES_SHOWN]]
    if len(issues) > MAX_ISSUES_SHOWN:
        items.append(f"… and {len(issues) - MAX_ISSUES_SHOWN:,} more")
    body = (
        f"<p><b>{len(issues)} data issue(s): findings may be missing from the table.</b></p>"
        + _list(items)
        + (_list(notes) if notes else "")
    )
    return HTML(_card("⚠ Data issues", body, "ti-warn"))


def triage_table(
    frame: pd.DataFrame,
    found: FindingsResult | None = None,
    *,
    case_dir: str | None = None,
    profile: str | None = None,
    regions: str | None = None,
    role_arn: str | None = None,
    notebooks_dir: str | None = None,
) -> Any:
    """The open Tor findings, newest first (:func:`torinvest.report.triage_frame`; identifiers
    never wrap), then each finding's ``torinvest notebook`` and ``torinvest investigate``
    commands for these sources (:class:`TriageActions`). In JupyterLab the table is displayed
    and the list comes back as widgets, a button per finding that makes its working notebook in
    ``notebooks_dir``; under papermill both are static HTML.

    With ``found`` (the result the frame was made from): when nothing could be searched, a red
    card says so; when some regions or files could not be, an amber card says the list may be
    incomplete and where. "Nothing to triage" only when every source was searched.
    """
    if found is not None and found.sources and not found.answered:
        body = (
            "<p><b>No region or file could be searched: this is not an empty list.</b></p>"
            + _list(f"<code>{_e(i.source)}</code>: {_e(i.problem)}" for i in found.unsearched)
        )
        return HTML(_card("Could not look: nothing was searched", body, "ti-danger"))
    gap = found.gap() if found is not None else ""
    warning = (
        _card(
            "⚠ Partial list: not every region or file could be searched",
            f"<p>{_e(gap)}. Open findings there are not listed.</p>",
            "ti-warn",
        )
        if gap
        else ""
    )
    if not len(frame):
        if gap:
            return HTML(
                _card(
                    "No open Tor finding where torinvest could look",
                    f"<p>{_e(gap)}: there may be open findings there. Fix the access and "
                    "re-run before concluding there is nothing to triage.</p>",
                    "ti-warn",
                )
            )
        return HTML(_card("No open Tor finding", "<p>Nothing to triage.</p>", "ti-ok"))
    actions = TriageActions(
        frame,
        case_dir=case_dir,
        profile=profile,
        regions=regions,
        role_arn=role_arn,
        notebooks_dir=notebooks_dir,
    )
    findings = warning + _triage_findings_html(frame)
    if not live_frontend():
        return HTML(findings + actions.static_html())
    from IPython.display import display

    display(HTML(findings))
    return actions.widget()


# --------------------------------------------------------------------------------------------
# interactive: the verdict form and the triage buttons (JupyterLab only)
# --------------------------------------------------------------------------------------------
#: ``1`` shows the widgets, ``0`` never does, whatever :func:`live_frontend` finds.
WIDGETS_ENV = "TORINVEST_WIDGETS"


def live_frontend() -> bool:
    """True when this cell runs for a live Jupyter frontend that renders widgets (JupyterLab,
    Notebook 7: their execute requests carry the cell's ID), False under papermill/nbclient —
    no one to click, and a widget would be an empty box in the report — and outside a kernel.
    ``$TORINVEST_WIDGETS`` (``1``/``0``) overrides."""
    forced = os.environ.get(WIDGETS_ENV, "").strip()
    if forced in {"0", "1"}:
        return forced == "1"
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython ships with ipykernel
        return False
    kernel = getattr(get_ipython(), "kernel", None)
    if kernel is None:
        return False
    try:
        parent = kernel.get_parent() if hasattr(kernel, "get_parent") else kernel._parent_header
    except (AttributeError, KeyError, LookupError):
        return False
    metadata = (parent or {}).get("metadata") or {}
    return isinstance(metadata, Mapping) and "cellId" in metadata


def _verdict_html(inv: Investigation, verdict: Mapping[str, Any], *, suppress: bool) -> str:
    card = verdict_card(verdict, ledger=verdict.get("ledger")).data
    return str(card) + str(next_steps(inv, verdict, suppress=suppress).data)


class VerdictForm:
    """The verdict in JupyterLab: status, analyst (prefilled from ``$TORINVEST_ANALYST``, else
    the login name), rationale and a *Record verdict* button; below them the finding's current
    verdict card and the plan it leads to, redrawn after each recording.

    Recording goes through :func:`torinvest.report.decide` (the evidence summary stored with it;
    the same verdict again adds no record, a different one supersedes). :meth:`record` is the
    button's callback, callable directly.
    """

    def __init__(
        self,
        inv: Investigation,
        verdict: Mapping[str, Any],
        *,
        suppress: bool = False,
        analyst: str | None = None,
    ) -> None:
        import ipywidgets as w

        from torinvest.verdict import DECIDED, default_analyst

        self.inv = inv
        self.suppress = suppress
        self.ledger = verdict.get("ledger")
        self.verdict: dict[str, Any] = dict(verdict)
        who = default_analyst() if analyst is None else analyst
        mine = verdict.get("status") in DECIDED and (verdict.get("analyst") or "") == who
        self.status = w.ToggleButtons(
            options=list(DECIDED),
            value=verdict.get("status") if mine else None,
            tooltips=["archive", "remediate", "contain, keep investigating"],
        )
        self.analyst = w.Text(
            value=who,
            description="Analyst",
            placeholder="who decides",
            style={"description_width": "6em"},
        )
        self.rationale = w.Textarea(
            value=(verdict.get("rationale") or "") if mine else "",
            description="Rationale",
            style={"description_width": "6em"},
            placeholder="why: what in the evidence above decides it",
            layout=w.Layout(width="100%", max_width="60em", height="5em"),
        )
        self.button = w.Button(
            description="Record verdict",
            button_style="primary",
            icon="check",
            tooltip="append it to the ledger with the evidence summary",
        )
        self.message = w.HTML()
        self.output = w.Output()
        self.button.on_click(lambda _button: self._clicked())
        self._redraw()
        self.widget = w.VBox(
            [
                w.HTML(
                    "<b>Record the verdict</b> <span class='ti-note'>(ledger: "
                    f"<code>{_e(self.ledger)}</code>; the same verdict again adds nothing, "
                    "a different one supersedes the current one)</span>"
                ),
                w.HBox(
                    [
                        w.HTML(
                            "<div style='text-align:right;padding-right:8px'>Verdict</div>",
                            layout=w.Layout(width="6em", min_width="6em"),
                        ),
                        self.status,
                    ]
                ),
                self.analyst,
                self.rationale,
                w.HBox([self.button, self.message]),
                self.output,
            ]
        )

    def record(self) -> dict[str, Any]:
        """Record what the form says (InputError when it is incomplete); redraw the verdict and
        its plan; return the verdict fields (:func:`torinvest.report.decide`)."""
        from torinvest import report

        if not self.status.value:
            raise InputError("choose a verdict: legitimate, malicious or inconclusive")
        self.verdict = report.decide(
            self.inv,
            finding_id=self.inv.key.finding_id,
            status=str(self.status.value),
            analyst=self.analyst.value.strip(),
            rationale=self.rationale.value.strip(),
            ledger=self.ledger,
        )
        v = self.verdict
        if v.get("added"):
            before = v.get("superseded")
            said = f"Recorded: <b>{_e(v['status'])}</b> at {_e(v['recorded_at'])}" + (
                f" — supersedes {_e(before.get('status'))} by {_e(before.get('analyst'))} "
                f"({_e(before.get('recorded_at'))}), kept in the ledger"
                if before
                else ""
            )
        else:
            said = (
                f"Already recorded at {_e(v.get('recorded_at'))}: the same verdict, nothing added."
            )
        self.message.value = f"<span class='ti-note'>{said}</span>"
        self._redraw()
        return v

    def _clicked(self) -> None:
        try:
            self.record()
        except TorinvestError as e:
            self.message.value = str(error_card(e).data)

    def _redraw(self) -> None:
        self.output.outputs = ()
        self.output.append_display_data(
            HTML(_verdict_html(self.inv, self.verdict, suppress=self.suppress))
        )


def verdict_section(
    inv: Investigation, verdict: Mapping[str, Any], *, suppress: bool = False
) -> Any:
    """The verdict and the plan it leads to. In JupyterLab (:func:`live_frontend`): the
    :class:`VerdictForm` above them. Under papermill: the verdict card and the plan, as the
    parameters decided them (no form: nobody is there to click)."""
    if not live_frontend():
        return HTML(_verdict_html(inv, verdict, suppress=suppress))
    return VerdictForm(inv, verdict, suppress=suppress).widget


#: Columns of the triage table (the commands are listed below it, where they can wrap, with how
#: many findings name the same key; no severity: it follows the type — GuardDuty's default is
#: Medium for UnauthorizedAccess, Low for Recon — and the investigation's finding card shows it).
TRIAGE_SHOWN: tuple[str, ...] = (
    "last_seen",
    "id",
    "type",
    "account_id",
    "region",
    "access_key_id",
    "user_name",
    "tor_ip",
    "count",
    "archived",
)
#: Identifiers that must never wrap inside (a 32-character finding ID on one line).
TRIAGE_NOWRAP: tuple[str, ...] = (
    "last_seen",
    "id",
    "type",
    "account_id",
    "access_key_id",
    "tor_ip",
)
#: The triage table's headings (other cells wrap at spaces only, never inside a word).
TRIAGE_HEADINGS: Mapping[str, str] = {
    "last_seen": "last seen (UTC)",
    "id": "finding",
    "account_id": "account",
    "access_key_id": "access key",
    "user_name": "user",
    "tor_ip": "Tor IP",
    "count": "GuardDuty count",
}
TRIAGE_STYLE = """<style>
.ti-triage table.dataTable td,.ti-triage table.dataTable th{overflow-wrap:normal;
  word-break:normal}
.ti-triage table.dataTable td.ti-nowrap,.ti-triage-list .ti-id{white-space:nowrap;
  max-width:none}
.ti-triage-list code.ti-cmd{display:block;white-space:pre-wrap;overflow-wrap:anywhere;
  word-break:normal;background:#f0f3f6;padding:3px 6px;margin:2px 0;border-radius:3px}
.ti-triage-list td{vertical-align:top}
</style>"""


def _triage_findings_html(frame: pd.DataFrame) -> str:
    from itables import to_html_datatable

    cols = [c for c in TRIAGE_SHOWN if c in frame.columns]
    if "archived" in cols and not frame["archived"].astype("boolean").fillna(False).any():
        cols.remove("archived")  # open findings only: a column of "False" says nothing
    shown = display_frame(frame[cols])
    shown = shown.astype("object").where(shown.notna(), "")
    shown.columns = [TRIAGE_HEADINGS.get(c, c.replace("_", " ")) for c in cols]
    body = to_html_datatable(
        shown,
        connected=False,
        allow_html=False,
        showIndex=False,
        maxBytes=TABLE_MAX_BYTES,
        pageLength=25,
        classes="display compact",
        scrollX=True,
        columnDefs=[
            {
                "className": "ti-nowrap",
                "targets": [cols.index(c) for c in TRIAGE_NOWRAP if c in cols],
            }
        ],
    )
    return (
        f'{TRIAGE_STYLE}<div class="ti-triage"><h3 style="margin:6px 0">Open Tor findings, newest '
        f"first ({len(frame):,})</h3>{body}</div>"
    )


def _finding_label(row: Mapping[str, Any]) -> str:
    parts = [
        f"<code class='ti-id'>{_e(row.get('id'))}</code>",
        _e(row.get("user_name")) if _present(row.get("user_name")) else "",
        f"<code class='ti-id'>{_e(row.get('access_key_id'))}</code>"
        + (
            f" (in {_e(row.get('findings_for_key'))} findings)"
            if _present(row.get("findings_for_key")) and int(row["findings_for_key"]) > 1
            else ""
        )
        if _present(row.get("access_key_id"))
        else "",
        f"last seen {_time(row.get('last_seen'))}",
    ]
    return " · ".join(p for p in parts if p)


class TriageActions:
    """Per finding: its ``torinvest notebook`` command (the working notebook) and its
    ``torinvest investigate`` command (the report); in JupyterLab also a button that makes the
    working notebook (never overwriting one that exists) and shows a link that opens it in Lab.

    :meth:`create` is the button's callback, callable directly.
    """

    def __init__(
        self,
        frame: pd.DataFrame,
        *,
        case_dir: str | None = None,
        profile: str | None = None,
        regions: str | None = None,
        role_arn: str | None = None,
        notebooks_dir: str | None = None,
    ) -> None:
        from torinvest import notebooks
        from torinvest.report import RunOptions

        self.frame = frame
        self.options = RunOptions(
            case_dir=case_dir or None,
            profile=profile or None,
            regions=regions or "all",
            role_arn=role_arn or None,
        )
        self.notebooks_dir = Path(notebooks_dir or notebooks.DEFAULT_DIR).expanduser().resolve()
        self.commands = {
            str(fid): notebooks.notebook_command(
                str(fid),
                case_dir=case_dir,
                profile=profile,
                regions=regions,
                role_arn=role_arn,
                out=self.notebooks_dir,
            )
            for fid in frame["id"]
        }
        self.buttons: dict[str, Any] = {}
        self.outputs: dict[str, Any] = {}

    def static_html(self) -> str:
        """Every finding with its two commands (no button): the report's form."""
        rows = []
        for row in self.frame.to_dict("records"):
            rows.append(
                f"<tr><td>{_finding_label(row)}</td><td>{self._commands_html(row)}</td></tr>"
            )
        return _card(
            "Investigate a finding",
            f"<p>{self._intro()}</p>"
            '<table class="ti-table ti-triage-list"><tr><th>finding</th><th>commands</th></tr>'
            + "".join(rows)
            + "</table>",
        )

    def _intro(self) -> str:
        return (
            "<b>torinvest notebook</b> makes the finding's working notebook in "
            f"<code>{_e(self.notebooks_dir)}</code> (yours to edit; an existing one is never "
            "overwritten); <b>torinvest investigate</b> writes its report."
        )

    def _commands_html(self, row: Mapping[str, Any]) -> str:
        fid = str(row["id"])
        report_cmd = row.get("command")
        return f"<code class='ti-cmd'>{_e(self.commands[fid])}</code>" + (
            f"<code class='ti-cmd'>{_e(report_cmd)}</code>" if _present(report_cmd) else ""
        )

    def widget(self) -> Any:
        """The same list with a *Working notebook* button per finding."""
        import ipywidgets as w

        items = [
            w.HTML(
                f"<h3 style='margin:8px 0 2px 0'>Investigate a finding</h3>"
                f"<p class='ti-note'>{self._intro()}</p>"
            )
        ]
        for row in self.frame.to_dict("records"):
            fid = str(row["id"])
            button = w.Button(
                description="Working notebook",
                icon="book",
                tooltip=f"make (or find) the working notebook of {fid} and link to it",
                layout=w.Layout(width="auto", min_width="12em"),
            )
            out = w.Output()
            button.on_click(lambda _b, fid=fid: self._clicked(fid))
            self.buttons[fid], self.outputs[fid] = button, out
            items.append(
                w.VBox(
                    [
                        w.HBox([button, w.HTML(_finding_label(row))]),
                        w.HTML(f"<div class='ti-triage-list'>{self._commands_html(row)}</div>"),
                        out,
                    ],
                    layout=w.Layout(border_bottom="1px solid #d0d7de", padding="4px 0"),
                )
            )
        return w.VBox(items)

    def create(self, finding_id: str) -> Any:
        """Make (or keep) ``finding_id``'s working notebook and show the link that opens it in
        Lab; return the :class:`torinvest.notebooks.WorkingCopy`."""
        from torinvest import notebooks

        copy = notebooks.investigation_copy(finding_id, self.options, self.notebooks_dir)
        rel = os.path.relpath(copy.path, Path.cwd())
        said = (
            "new"
            if copy.status == "created"
            else "already there: kept as you left it"
            + (
                ""
                if copy.same_parameters
                else " (made with other parameters)"
                if copy.same_parameters is False
                else " (but it cannot be read as a notebook)"
            )
        )
        link = (
            f"<a href='{_e(Path(rel).as_posix())}' target='_blank'>Open "
            f"<code>{_e(Path(rel).as_posix())}</code></a> ({said})"
        )
        out = self.outputs.get(finding_id)
        if out is not None:
            out.outputs = ()
            out.append_display_data(HTML(f"<div class='ti-note'>{link}</div>"))
        return copy

    def _clicked(self, finding_id: str) -> None:
        try:
            self.create(finding_id)
        except TorinvestError as e:
            out = self.outputs[finding_id]
            out.outputs = ()
            out.append_display_data(error_card(e))
