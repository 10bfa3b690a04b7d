"""report.html: the executed notebook exported without code (nbconvert), offline, with a
Content-Security-Policy, and a banner naming the failing cell when one failed.
"""

from __future__ import annotations

import base64
import hashlib
import html as _html
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from torinvest.errors import ReportError
from torinvest.report.folders import _write_text
from torinvest.report.kernel import CellFailure
from torinvest.safety import html_text, visible_text

#: Content-Security-Policy of report.html: only the inline scripts the report was exported with
#: run (each allowed by its SHA-256: plotly, itables), plus blob: modules (itables' offline
#: bundle); inline styles, data: images and fonts; nothing from any other origin. An event handler
#: (``onerror=``) or a ``javascript:`` link that markup injection might add would not run, nor a
#: script from elsewhere. An inline ``<script>`` element in the exported page would be hashed with
#: the others (:func:`script_hashes` reads the whole page), so the policy does not stop that one:
#: escaping every value (:func:`torinvest.safety.html_text`, itables, the charts) does.
REPORT_CSP = (
    "default-src 'none'; script-src {script_hashes} blob:; style-src 'unsafe-inline'; "
    "img-src data: blob:; font-src data:; connect-src 'none'; frame-src 'none'; "
    "base-uri 'none'; form-action 'none'"
)
#: Content-Security-Policy of index.html (no script at all).
INDEX_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; "
    "form-action 'none'"
)
_CSP_PLACEHOLDER = "torinvest-csp-is-set-after-export"
_SCRIPT = re.compile(r"<script\b[^>]*>(.*?)</script\s*>", re.I | re.S)
_SCRIPT_START = re.compile(r"<script\b[^>]*>", re.I)
_SCRIPT_END = re.compile(r"</script\s*>", re.I)

#: Cells with this tag (how to run the notebook, for its author in JupyterLab) are not in the
#: report.
NOTEBOOK_ONLY_TAG = "notebook-only"
#: nbconvert template: the JupyterLab one without its CDN loaders, with a CSP and a banner slot.
REPORT_TEMPLATE_NAME = "torinvest-report.html.j2"
REPORT_TEMPLATE = """{%- extends 'index.html.j2' -%}
{%- block html_head -%}
<meta http-equiv="Content-Security-Policy" content="{{ resources.torinvest_csp }}">
<meta name="referrer" content="no-referrer">
{{ super() }}
{%- endblock html_head -%}
{%- block html_head_js -%}{%- endblock html_head_js -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{%- block body_header -%}
{{ super() }}
{{ resources.torinvest_banner }}
{%- endblock body_header -%}
"""


# --------------------------------------------------------------------------------------------
# export
# --------------------------------------------------------------------------------------------
def error_banner(failure: CellFailure) -> str:
    """The HTML banner at the top of a failed report (every value escaped)."""
    where = html_text(failure.where())
    section = f" in section “{html_text(failure.section)}”" if failure.section else ""
    code = (
        f"<p style='margin:4px 0'>Failing call: <code>{html_text(failure.code)}</code></p>"
        if failure.code
        else ""
    )
    message = html_text(failure.evalue.strip() or "(no message)")
    return (
        '<div id="torinvest-error" role="alert" style="border:3px solid #c23030;'
        "background:#fdecea;color:#3b0b0b;padding:12px 16px;margin:12px;border-radius:6px;"
        'font-family:system-ui,sans-serif;font-size:15px">'
        "<h2 style='margin:0 0 6px 0;font-size:20px'>This report is incomplete: "
        "the investigation stopped</h2>"
        f"<p style='margin:4px 0'>{where}{section} raised <b>{html_text(failure.ename)}</b>:</p>"
        f"<pre style='white-space:pre-wrap;margin:4px 0'>{message}</pre>{code}"
        "<p style='margin:4px 0'>The sections after it were not run. "
        '<a href="#papermill-error-cell">Go to the failing cell</a>.</p></div>'
    )


def exporter() -> Any:
    """nbconvert's HTML exporter: JupyterLab look, no code, no prompts, no CDN loaders; cells
    tagged :data:`NOTEBOOK_ONLY_TAG` (notebook-authoring text) left out."""
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter
    from traitlets.config import Config

    config = Config()
    config.TagRemovePreprocessor.enabled = True
    config.TagRemovePreprocessor.remove_cell_tags = {NOTEBOOK_ONLY_TAG}
    exp = HTMLExporter(
        config=config,
        template_name="lab",
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        embed_images=True,
        theme="light",
        extra_loaders=[DictLoader({REPORT_TEMPLATE_NAME: REPORT_TEMPLATE})],
    )
    exp.template_file = REPORT_TEMPLATE_NAME
    return exp


def export_html(
    notebook: Path, html_path: Path, *, failure: CellFailure | None = None, title: str = ""
) -> Path:
    """Write ``html_path`` from the executed ``notebook``; a failure becomes a banner on top."""
    import nbformat

    nb = nbformat.read(notebook, as_version=4)
    if title:
        nb.metadata["title"] = title
    _short_errors(nb, notebook.name)
    resources = {
        "torinvest_csp": _CSP_PLACEHOLDER,
        "torinvest_banner": error_banner(failure) if failure else "",
    }
    body, _ = exporter().from_notebook_node(nb, resources=resources)
    _write_text(html_path, with_csp(body))
    return html_path


def _short_errors(nb: Any, notebook_name: str) -> None:
    """Each error output of ``nb`` as its one line (``InputError: …``) and where the full
    traceback is: the page is read by analysts and attached to tickets, where a Python
    traceback is noise (the executed notebook keeps it). That line and any text a cell printed
    (``stream`` outputs) show control and bidi characters escaped
    (:func:`~torinvest.safety.visible_text`): an error can quote attacker text (an Athena
    error naming a table's data, a file name), and nbconvert only drops ANSI escapes — a
    U+202E reordered the rest of the line, an OSC sequence left its link text."""
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            kind = output.get("output_type")
            if kind == "error":
                line = f"{output.get('ename', 'Error')}: {output.get('evalue', '')}".rstrip(": ")
                output["traceback"] = [
                    visible_text(line),
                    f"(the full traceback is in {visible_text(notebook_name)})",
                ]
            elif kind == "stream":
                output["text"] = visible_text(output.get("text", ""))


def script_hashes(page: str) -> list[str]:
    """CSP sources (``'sha256-…'``) of every inline script of ``page``, as a browser hashes
    them (line breaks normalized to LF)."""
    out = []
    for text in _script_texts(page):
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        digest = base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode()
        out.append(f"'sha256-{digest}'")
    return sorted(set(out))


def _script_texts(page: str) -> Iterator[str]:
    """The text of each ``<script …>…</script>`` of ``page``: what :data:`_SCRIPT` finds, found
    without its lazy ``(.*?)``, which stepped through plotly.js and the tables' code (5.8 MB of a
    report) one character at a time (0.08 s); each end tag here is one search."""
    at = 0
    while (start := _SCRIPT_START.search(page, at)) is not None:
        end = _SCRIPT_END.search(page, start.end())
        if end is None:  # no end tag after this one: none after any later one either
            return
        yield page[start.end() : end.start()]
        at = end.end()


def with_csp(page: str) -> str:
    """``page`` with its CSP placeholder set to :data:`REPORT_CSP` for the scripts it has."""
    csp = REPORT_CSP.format(script_hashes=" ".join(script_hashes(page)) or "'none'")
    if _CSP_PLACEHOLDER not in page:
        raise ReportError("the report template lost its Content-Security-Policy")
    return page.replace(_CSP_PLACEHOLDER, _html.escape(csp), 1)


_LOAD_PATTERNS = (
    re.compile(r"<script\b[^>]*\bsrc\s*=\s*[\"']?\s*(?!data:|blob:)[^\"'\s>]+", re.I),
    re.compile(r"<link\b[^>]*\bhref\s*=\s*[\"']?\s*(?:https?:)?//[^\"'\s>]+", re.I),
    re.compile(
        r"<(?:img|iframe|embed|source|video|audio)\b[^>]*\bsrc\s*=\s*[\"']?\s*(?:https?:)?//[^\"'\s>]+",
        re.I,
    ),
    re.compile(r"@import\s+(?:url\()?\s*[\"']?(?:https?:)?//[^\"')\s]+", re.I),
    re.compile(r"url\(\s*[\"']?(?:https?:)?//[^\"')\s]+", re.I),
    re.compile(r"\bimport\s*(?:[\w{}\s,*]+from\s*)?[\"'](?:https?:)?//[^\"']+[\"']", re.I),
)


#: Where a match of each of :data:`_LOAD_PATTERNS` can start, for the two that begin with a
#: word (None: the pattern itself is the search). Under re.I, sre has no literal to look for
#: and tries the whole pattern at each of a report's 6 million characters (0.2 s); these
#: are case-sensitive, with every character re.I matches for each letter (``ı`` and ``İ``
#: for i), and the pattern is then tried where one matches.
_LOAD_STARTS: tuple[re.Pattern[str] | None, ...] = (
    None,
    None,
    None,
    None,
    re.compile(r"[uU][rR][lL]\("),
    re.compile("[iI\u0130\u0131][mM][pP][oO][rR][tT]"),
)


def external_loads(text: str) -> list[str]:
    """References in an HTML page that would load something from elsewhere (script src, a
    stylesheet link, an image, CSS url()/@import, an ES module import of a URL)."""
    found: list[str] = []
    for pattern, start in zip(_LOAD_PATTERNS, _LOAD_STARTS, strict=True):
        found += [m.group(0)[:200] for m in _matches(pattern, start, text)]
    return found


def _matches(
    pattern: re.Pattern[str], start: re.Pattern[str] | None, text: str
) -> Iterator[re.Match[str]]:
    """``pattern.finditer(text)``, tried only where ``start`` matches (:data:`_LOAD_STARTS`)."""
    if start is None:
        yield from pattern.finditer(text)
        return
    after = 0  # as finditer: the next match starts after the last one
    for at in start.finditer(text):
        if at.start() >= after and (m := pattern.match(text, at.start())) is not None:
            yield m
            after = m.end()
