"""The run report: the investigation notebook run with papermill, as HTML without code, plus
``summary.json`` — one artifact an analyst opens and a ticket system stores.

    validate  →  parameters  →  execute (papermill)  →  export (HTML, no code)  →  check summary

:func:`run_report` is that recipe; each step is a function of its own. When a notebook cell
fails, the executed notebook and the HTML are still written — the HTML opens with a banner naming
the failing cell and its error — and :class:`NotebookError` is raised after.

``report.html`` opens offline: plotly.js and the itables bundle are inlined by the notebook
(:func:`torinvest.display.setup`), nbconvert's require.js, MathJax and mermaid loaders are left
out (:data:`REPORT_TEMPLATE`), and a Content-Security-Policy forbids loading anything from
elsewhere. :func:`external_loads` lists any reference that would load something anyway.

Also here, for the notebooks and the CLI: the verdict step (:func:`decide`), ``summary.json``
(:data:`SUMMARY_SCHEMA`, :func:`write_summary`), CSV exports, the open findings of a source for
triage and batch runs (:func:`open_findings`, :func:`triage_frame`, :func:`run_batch`).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import html as _html
import logging
import os
import re
import shlex
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
import pandas as pd

from torinvest import __version__
from torinvest.aws import parse_regions
from torinvest.case import Case
from torinvest.errors import DataIssue, InputError, TorinvestError
from torinvest.events import DEFAULT_MAX_ROWS
from torinvest.findings import TOR_FINDING_TYPES, FindingsResult, check_finding_id, fetch_findings
from torinvest.findings import read_findings as _read_findings
from torinvest.investigation import (
    DEFAULT_LOOKAHEAD_DAYS,
    DEFAULT_LOOKBACK_DAYS,
    DEFAULT_TOLERANCE_HOURS,
    Investigation,
    Sources,
    outputs,
    report_dir_name,
)
from torinvest.investigation import summary as _summary
from torinvest.safety import html_text, term_safe
from torinvest.sources.logs import DEFAULT_MAX_FILE_BYTES
from torinvest.verdict import (
    STATUSES,
    check_status,
    default_ledger_path,
    latest_verdict,
    make_verdict,
    read_ledger,
    record_decision,
)

if TYPE_CHECKING:
    import nbformat

log = logging.getLogger(__name__)

#: The notebooks torinvest runs (``notebooks/<name>.ipynb``).
INVESTIGATE_NOTEBOOK = "investigate"
TRIAGE_NOTEBOOK = "triage"
#: Kernel: ipykernel of the interpreter running torinvest (see :func:`kernel_manager_class`).
KERNEL_NAME = "python3"
#: Seconds one cell may run (fetching every region's CloudTrail can take minutes).
CELL_TIMEOUT = 1800
#: Seconds the kernel may take to start.
KERNEL_START_TIMEOUT = 120
#: The report files besides report.ipynb/html and summary.json.
EVENTS_CSV = "events.csv"
PER_IP_CSV = "per_ip.csv"
INDEX_JSON = "index.json"
INDEX_HTML = "index.html"
#: Written last, listing every file of a report folder with its SHA-256: a folder is complete
#: only when it is there and every file matches (see :func:`folder_state`).
MANIFEST = "manifest.json"
#: Every file of a complete report folder besides the manifest.
REPORT_FILES: tuple[str, ...] = (
    "report.ipynb",
    "report.html",
    "summary.json",
    EVENTS_CSV,
    PER_IP_CSV,
)
#: Content-Security-Policy of report.html: only the inline scripts the report was exported with
#: run (each allowed by its SHA-256: plotly, itables), plus blob: modules (itables' offline
#: bundle); inline styles, data: images and fonts; nothing from any other origin. A script or an
#: event handler that markup injection might add would have no hash, so it would not run either.
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
# errors and results
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class CellFailure:
    """Where the notebook stopped: the cell (index in the executed notebook, execution count),
    the report section it belongs to, its first line of code, and the error."""

    ename: str
    evalue: str
    cell_index: int | None = None
    exec_count: int | None = None
    section: str | None = None
    code: str | None = None

    def one_line(self) -> str:
        where = f"cell [{self.exec_count}]" if self.exec_count is not None else "the run"
        if self.section:
            where += f" ({self.section})"
        first = (self.evalue or "").strip().splitlines()
        return f"{where} raised {self.ename}" + (f": {first[0]}" if first else "")


@dataclass(slots=True)
class ReportRun:
    """One run's outcome and files (``status``: ok or failed)."""

    finding_id: str
    out: Path
    status: str
    notebook: Path | None = None
    html: Path | None = None
    summary: Path | None = None
    failure: CellFailure | None = None
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0
    summary_data: dict[str, Any] | None = None


class NotebookError(TorinvestError):
    """The investigation notebook failed; its executed copy and the HTML report were written."""

    def __init__(self, run: ReportRun) -> None:
        assert run.failure is not None
        where = run.html or run.notebook or run.out
        super().__init__(
            f"the investigation of {run.finding_id} stopped: {run.failure.one_line()}",
            hint=f"the report with the error is {where}",
        )
        self.run = run


class ReportError(TorinvestError):
    """A report could not be produced or checked (not a notebook cell failing)."""


# --------------------------------------------------------------------------------------------
# options → notebook parameters
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True, kw_only=True)
class RunOptions:
    """Everything one run takes besides the finding ID and the output folder."""

    case_dir: str | None = None
    profile: str | None = None
    regions: str = "all"
    role_arn: str | None = None
    logs: tuple[str, ...] = ()
    exit_lists: tuple[str, ...] = ()
    lookback_days: float = DEFAULT_LOOKBACK_DAYS
    lookahead_days: float = DEFAULT_LOOKAHEAD_DAYS
    tolerance_hours: float = DEFAULT_TOLERANCE_HOURS
    follow_derived: bool = True
    verdict_status: str = "pending"
    analyst: str = ""
    rationale: str = ""
    suppress: bool = False
    ledger: str | None = None
    cell_timeout: float = CELL_TIMEOUT
    engine: str = "files"
    athena_database: str | None = None
    athena_workgroup: str | None = None
    athena_output: str | None = None
    max_rows: int | None = DEFAULT_MAX_ROWS
    max_file_mb: int = DEFAULT_MAX_FILE_BYTES >> 20


def notebook_path(name: str) -> Path:
    """``<name>.ipynb`` from ``$TORINVEST_NOTEBOOKS``, the checkout's ``notebooks/``, or the
    package's ``data/notebooks/`` (whichever exists first)."""
    places = []
    if os.environ.get("TORINVEST_NOTEBOOKS"):
        places.append(Path(os.environ["TORINVEST_NOTEBOOKS"]).expanduser())
    here = Path(__file__).resolve().parent
    places += [here.parent / "notebooks", here / "data" / "notebooks"]
    for place in places:
        path = place / f"{name}.ipynb"
        if path.is_file():
            return path
    raise ReportError(
        f"notebook {name}.ipynb not found in {', '.join(str(p) for p in places)}",
        hint="run from a checkout of torinvest, or set TORINVEST_NOTEBOOKS to its notebooks/",
    )


def _absolute(path: str | None) -> str:
    if not path:
        return ""
    if path.startswith("s3://"):
        return path
    return str(Path(path).expanduser().resolve())


def validate(finding_id: str, out: str | Path, options: RunOptions) -> Path:
    """Check everything that can be checked before a kernel starts; return the output folder."""
    check_finding_id(finding_id)
    parse_regions(options.regions)  # '' names no region: refused, with a case folder too
    if options.case_dir:
        Case.open(options.case_dir)
    run_sources(options)  # refuses options that cannot go together, before a kernel starts
    for name in ("lookback_days", "lookahead_days", "tolerance_hours"):
        if getattr(options, name) < 0:
            raise InputError(f"{name.replace('_', '-')} must be ≥ 0", hint="e.g. 14, 7 and 24")
    check_status(options.verdict_status)
    if options.verdict_status != "pending":
        make_verdict(
            finding_id,
            status=options.verdict_status,
            analyst=options.analyst,
            rationale=options.rationale,
        )
    from torinvest.notebooks import check_template

    check_template(INVESTIGATE_NOTEBOOK)  # a broken or used template must not change this run
    path = Path(out).expanduser().resolve()
    check_folder(path)
    if options.verdict_status != "pending":
        check_ledger(options.ledger)
    return path


def check_folder(path: Path) -> None:
    """The report folder ``path`` exists (created if needed) and can be written, or
    :class:`InputError` naming it (a path under a file, no permission, a read-only disk)."""
    from torinvest.export import not_a_folder

    if path.exists() and not path.is_dir():
        raise InputError(f"--out {path} is a file", hint="name a folder for the report")
    blocker = not_a_folder(path)
    if blocker is not None:
        raise InputError(
            f"cannot create the report folder {path}: {blocker} is a file, not a folder",
            hint="choose another --out",
        )
    probe = path / f".write-probe-{os.getpid()}"
    try:
        path.mkdir(parents=True, exist_ok=True)
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except OSError as e:
        raise InputError(
            f"cannot write the report folder {path}: {e.strerror or e}",
            hint="choose another --out: a folder you can write to, on a disk with space",
        ) from None
    finally:
        with contextlib.suppress(OSError):
            probe.unlink()


def check_ledger(ledger: str | Path | None) -> None:
    """The ledger a decided verdict goes to can be appended to (checked before a long run)."""
    path = Path(ledger).expanduser() if ledger else default_ledger_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600))
    except OSError as e:
        raise InputError(
            f"cannot write the ledger {path}: {e.strerror or e}",
            hint="nothing was run; pass a writable --ledger FILE (or set TORINVEST_LEDGER)",
        ) from None


def run_sources(options: RunOptions) -> Sources:
    """The sources the notebook builds from these options (engine, log files, credentials):
    options that cannot go together raise OptionsError (the CLI's exit 2)."""
    from torinvest.investigation import sources_from_parameters

    return sources_from_parameters(
        case_dir=options.case_dir,
        profile=options.profile,
        regions=options.regions,
        role_arn=options.role_arn,
        logs=options.logs,
        engine=options.engine,
        athena_database=options.athena_database or "",
        athena_workgroup=options.athena_workgroup or "",
        athena_output=options.athena_output or "",
        max_rows=options.max_rows,
    )


def parameters(finding_id: str, out: Path, options: RunOptions) -> dict[str, Any]:
    """The investigation notebook's parameters for this run (paths made absolute)."""
    files = outputs(out)
    return {
        "finding_id": finding_id,
        "case_dir": _absolute(options.case_dir),
        "profile": options.profile or "",
        "regions": "all" if options.regions is None else options.regions,
        "role_arn": options.role_arn or "",
        "logs": [_absolute(p) for p in options.logs],
        "exit_lists": [_absolute(p) for p in options.exit_lists],
        "lookback_days": float(options.lookback_days),
        "lookahead_days": float(options.lookahead_days),
        "tolerance_hours": float(options.tolerance_hours),
        "follow_derived": bool(options.follow_derived),
        "verdict_status": options.verdict_status,
        "analyst": options.analyst,
        "rationale": options.rationale,
        "suppress": bool(options.suppress),
        "ledger": _absolute(options.ledger),
        "summary_path": str(files["summary"]),
        "export_dir": str(out),
        "engine": options.engine,
        "athena_database": options.athena_database or "",
        "athena_workgroup": options.athena_workgroup or "",
        "athena_output": options.athena_output or "",
        "max_rows": int(options.max_rows or 0),
        "max_file_mb": int(options.max_file_mb),
    }


# --------------------------------------------------------------------------------------------
# execute
# --------------------------------------------------------------------------------------------
def kernel_manager_class() -> type:
    """A kernel manager that always starts this interpreter's ipykernel (``python3``).

    A ``python3`` kernelspec found first on the Jupyter path (``~/.local/share/jupyter``, a conda
    base…) could run another Python without torinvest; this one searches no folder and so
    gets ipykernel's own spec, whose command is ``sys.executable -m ipykernel_launcher``.
    """
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager
    from traitlets import default

    class ThisInterpreterKernelSpecs(KernelSpecManager):  # type: ignore[misc]
        @default("kernel_dirs")
        def _kernel_dirs_default(self) -> list[str]:
            return []

    class ThisInterpreterKernelManager(AsyncKernelManager):  # type: ignore[misc]
        @default("kernel_spec_manager")
        def _kernel_spec_manager_default(self) -> KernelSpecManager:
            return ThisInterpreterKernelSpecs(data_dir=self.data_dir)

    return ThisInterpreterKernelManager


def execute(
    notebook: Path,
    output: Path,
    params: Mapping[str, Any],
    *,
    cwd: Path,
    timeout: float = CELL_TIMEOUT,
) -> CellFailure | None:
    """Run ``notebook`` with ``params`` into ``output`` (written even when a cell fails).

    Returns None on success, else where and why it stopped.
    """
    import nbformat
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    try:
        pm.execute_notebook(
            str(notebook),
            str(output),
            parameters=dict(params),
            kernel_name=KERNEL_NAME,
            kernel_manager_class=kernel_manager_class(),
            # the kernel's own warning that its loopback TCP sockets are not encrypted is noise
            extra_arguments=["--IPKernelApp.log_level=ERROR"],
            request_save_on_cell_execute=False,
            progress_bar=False,
            log_output=False,
            cwd=str(cwd),
            start_timeout=KERNEL_START_TIMEOUT,
            execution_timeout=timeout,
        )
    except PapermillExecutionError as e:
        nb = nbformat.read(output, as_version=4)
        return _failure(nb, e.ename, e.evalue)
    except Exception as e:  # kernel died, timeout, … : still an artifact, then the error
        log.debug("notebook run failed", exc_info=True)
        if not output.exists():
            nb = nbformat.read(notebook, as_version=4)
            nbformat.write(nb, output)
        nb = nbformat.read(output, as_version=4)
        return _failure(nb, type(e).__name__, str(e))
    return None


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _failure(nb: nbformat.NotebookNode, ename: str, evalue: str) -> CellFailure:
    """Locate the failing cell in an executed notebook and the section heading above it."""
    section: str | None = None
    for index, cell in enumerate(nb.cells):
        tags = cell.get("metadata", {}).get("tags", [])
        if cell.cell_type == "markdown" and "papermill-error-cell-tag" not in tags:
            heading = next(
                (ln.lstrip("#").strip() for ln in cell.source.splitlines() if ln.startswith("#")),
                None,
            )
            section = heading or section
            continue
        if cell.cell_type != "code":
            continue
        errored = any(o.get("output_type") == "error" for o in cell.get("outputs", []))
        flagged = cell.get("metadata", {}).get("papermill", {}).get("exception") is True
        if errored or flagged:
            code = next((ln for ln in cell.source.splitlines() if ln.strip()), None)
            return CellFailure(
                ename=ename,
                evalue=_ANSI.sub("", evalue or ""),
                cell_index=index,
                exec_count=cell.get("execution_count"),
                section=section,
                code=code,
            )
    return CellFailure(ename=ename, evalue=_ANSI.sub("", evalue or ""))


# --------------------------------------------------------------------------------------------
# export
# --------------------------------------------------------------------------------------------
def error_banner(failure: CellFailure) -> str:
    """The HTML banner at the top of a failed report (every value escaped)."""
    where = (
        f"cell [{html_text(failure.exec_count)}]" if failure.exec_count is not None else "the run"
    )
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
    resources = {
        "torinvest_csp": _CSP_PLACEHOLDER,
        "torinvest_banner": error_banner(failure) if failure else "",
    }
    body, _ = exporter().from_notebook_node(nb, resources=resources)
    _write_text(html_path, with_csp(body))
    return html_path


def script_hashes(page: str) -> list[str]:
    """CSP sources (``'sha256-…'``) of every inline script of ``page``, as a browser hashes
    them (line breaks normalized to LF)."""
    out = []
    for m in _SCRIPT.finditer(page):
        text = m.group(1).replace("\r\n", "\n").replace("\r", "\n")
        digest = base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode()
        out.append(f"'sha256-{digest}'")
    return sorted(set(out))


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


def external_loads(text: str) -> list[str]:
    """References in an HTML page that would load something from elsewhere (script src, a
    stylesheet link, an image, CSS url()/@import, an ES module import of a URL)."""
    found: list[str] = []
    for pattern in _LOAD_PATTERNS:
        found += [m.group(0)[:200] for m in pattern.finditer(text)]
    return found


# --------------------------------------------------------------------------------------------
# summary.json
# --------------------------------------------------------------------------------------------
_TIME = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$"
_STR_OR_NULL: dict[str, Any] = {"type": ["string", "null"]}
_TIME_OR_NULL: dict[str, Any] = {"type": ["string", "null"], "pattern": _TIME}
_COUNT: dict[str, Any] = {"type": "integer", "minimum": 0}


def _object(properties: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "additionalProperties": False,
        "required": list(properties),
        "properties": dict(properties),
    }


#: JSON Schema (2020-12) of ``summary.json``, as docs/DESIGN.md's report contract writes it.
SUMMARY_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "torinvest summary.json",
    **_object(
        {
            "torinvest_version": {"type": "string"},
            "generated": _object(
                {
                    "at": {"type": "string", "pattern": _TIME},
                    "by": {"type": "string", "minLength": 1},
                    "sources": {"type": "array", "items": {"type": "string"}},
                }
            ),
            "finding": _object(
                {
                    "id": {"type": "string", "pattern": r"^[A-Za-z0-9]{8,128}$"},
                    "type": {"enum": list(TOR_FINDING_TYPES)},
                    "account_id": _STR_OR_NULL,
                    "region": _STR_OR_NULL,
                    "severity": {"type": ["number", "null"]},
                    "first_seen": _TIME_OR_NULL,
                    "last_seen": _TIME_OR_NULL,
                    "count": {"type": ["integer", "null"], "minimum": 0},
                    "tor_ip": _STR_OR_NULL,
                }
            ),
            "key": _object(
                {
                    "access_key_id": {"type": "string", "minLength": 1},
                    "kind": {"enum": ["long-term", "temporary", "other"]},
                    "principal_id": _STR_OR_NULL,
                    "user_name": _STR_OR_NULL,
                    "user_type": _STR_OR_NULL,
                }
            ),
            "window": _object(
                {
                    "start": {"type": "string", "pattern": _TIME},
                    "end": {"type": "string", "pattern": _TIME},
                }
            ),
            "events": _object({"total": _COUNT, "failed": _COUNT, "from_tor": _COUNT}),
            "source_ips": {
                "type": "array",
                "items": _object(
                    {
                        "ip": _STR_OR_NULL,
                        "events": _COUNT,
                        "failed": _COUNT,
                        "tor": {"type": ["boolean", "null"]},
                        "first_seen": _TIME_OR_NULL,
                        "last_seen": _TIME_OR_NULL,
                        "user_agents": {"type": "array", "items": {"type": "string"}},
                        "new": {"type": ["boolean", "null"]},
                    }
                ),
            },
            "sensitive_events": {
                "type": "array",
                "items": _object(
                    {
                        "event_name": _STR_OR_NULL,
                        "event_source": _STR_OR_NULL,
                        "event_time": _TIME_OR_NULL,
                        "source_ip": _STR_OR_NULL,
                        "tor": {"type": ["boolean", "null"]},
                        "category": _STR_OR_NULL,
                        "error_code": _STR_OR_NULL,
                        "target": _STR_OR_NULL,
                        "targets": {
                            "type": "array",
                            "items": _object(
                                {"kind": {"type": "string"}, "value": {"type": "string"}}
                            ),
                        },
                    }
                ),
            },
            "derived_keys": {"type": "array", "items": {"type": "string"}},
            "signals": {
                "type": "array",
                "items": _object(
                    {
                        "name": {"type": "string"},
                        "detail": {"type": "string"},
                        "weight": {"type": "integer"},
                    }
                ),
            },
            "verdict": _object(
                {
                    "status": {"enum": list(STATUSES)},
                    "analyst": _STR_OR_NULL,
                    "rationale": _STR_OR_NULL,
                    "recorded_at": _TIME_OR_NULL,
                }
            ),
            "data_issues": {
                "type": "array",
                "items": _object({"source": {"type": "string"}, "problem": {"type": "string"}}),
            },
        }
    ),
}


def summary_problems(data: Any) -> list[str]:
    """Every way ``data`` breaks :data:`SUMMARY_SCHEMA` (empty when it conforms)."""
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(SUMMARY_SCHEMA)
    problems = []
    for err in sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path)):
        where = "/".join(str(p) for p in err.absolute_path) or "(top)"
        problems.append(f"{where}: {err.message}")
    return problems


def check_summary_data(data: Any) -> dict[str, Any]:
    """``data`` if it conforms to the summary contract, else ReportError naming the problems."""
    problems = summary_problems(data)
    if problems:
        raise ReportError(
            f"summary.json breaks its contract: {'; '.join(problems[:3])}"
            + (f" (+{len(problems) - 3} more)" if len(problems) > 3 else ""),
            hint="this is a torinvest bug: report it with the notebook",
        )
    return data


def summary_data(
    inv: Investigation,
    verdict: Mapping[str, Any] | None = None,
    *,
    findings: FindingsResult | None = None,
) -> dict[str, Any]:
    """The summary (:func:`torinvest.investigation.summary`) plus the findings files' issues and
    the ledger's unreadable lines (a torn record may be a lost verdict)."""
    data = _summary(inv, dict(verdict or {}))
    extra = [i.to_dict() for i in findings.issues] if findings is not None else []
    if (verdict or {}).get("ledger"):
        extra += [i.to_dict() for i in read_ledger(verdict["ledger"])[1]]  # type: ignore[index]
    if extra:
        data["data_issues"] = [*extra, *[i for i in data["data_issues"] if i not in extra]]
    return data


def write_summary(
    inv: Investigation,
    verdict: Mapping[str, Any] | None,
    path: str | Path | None,
    *,
    findings: FindingsResult | None = None,
) -> Path | None:
    """Write ``summary.json`` (checked against the contract) at ``path``; None writes nothing."""
    if not path:
        return None
    data = check_summary_data(summary_data(inv, verdict, findings=findings))
    p = Path(path)
    _write_bytes(p, orjson.dumps(data, option=orjson.OPT_INDENT_2) + b"\n")
    return p


def check_summary(path: Path) -> dict[str, Any]:
    """Read ``summary.json`` back and check it against the contract."""
    try:
        data = orjson.loads(path.read_bytes())
    except FileNotFoundError as e:
        raise ReportError(
            f"the notebook ran but wrote no {path}",
            hint="the investigation notebook's last cell writes it: is it the torinvest one?",
        ) from e
    except orjson.JSONDecodeError as e:
        raise ReportError(f"{path} is not JSON: {e}") from e
    return check_summary_data(data)


def export_tables(inv: Investigation, folder: str | Path | None) -> dict[str, Path | None]:
    """``events.csv`` and ``per_ip.csv`` in ``folder`` (the columns the report's tables show),
    written as every export is (:mod:`torinvest.export`: empty cells for missing values, times
    ISO 8601 UTC with ``Z``, true/false, formula-safe text); nothing when ``folder`` is empty."""
    from torinvest import display
    from torinvest.export import write_frame

    if not folder:
        return {EVENTS_CSV: None, PER_IP_CSV: None}
    base = Path(folder)
    events = inv.events[[c for c in display.EVENT_COLUMNS if c in inv.events.columns]]
    per_ip = inv.per_ip[[c for c in display.PER_IP_SHOWN if c in inv.per_ip.columns]]
    return {
        EVENTS_CSV: write_frame(events, base / EVENTS_CSV),
        PER_IP_CSV: write_frame(per_ip, base / PER_IP_CSV),
    }


# --------------------------------------------------------------------------------------------
# verdict
# --------------------------------------------------------------------------------------------
def evidence(inv: Investigation) -> dict[str, Any]:
    """What a verdict rests on, in a few numbers (stored with the verdict in the ledger)."""
    totals = inv.totals()
    tor_ips = sorted(
        str(ip) for ip in inv.per_ip.loc[inv.per_ip["tor"].fillna(False).astype(bool), "source_ip"]
    )
    return {
        "window": {"start": str(inv.window[0]), "end": str(inv.window[1])},
        "events": totals["total"],
        "failed": totals["failed"],
        "from_tor": totals["from_tor"],
        "source_ips": len(inv.per_ip),
        "tor_ips": tor_ips,
        "derived_keys": [d.access_key_id for d in inv.activity.derived],
        "sensitive_events": len(inv.sensitive),
        "score": inv.score.score,
        "band": inv.score.band,
        "signals": [s.name for s in inv.signals if s.weight > 0],
        "data_issues": len(inv.data_issues),
        "source": inv.sources.describe(),
    }


def decide(
    inv: Investigation | None,
    *,
    finding_id: str,
    status: str = "pending",
    analyst: str = "",
    rationale: str = "",
    ledger: str | Path | None = None,
) -> dict[str, Any]:
    """The verdict of this run: a decided status is recorded in the ledger with the evidence —
    once: when the finding's current verdict already says the same (status, analyst,
    rationale), nothing is appended, so re-running the notebook adds no record; ``pending``
    records nothing and shows the finding's current verdict, if any.

    Returns the summary's verdict fields plus ``ledger`` (the ledger's path), ``added`` (a
    record was appended by this call) and ``superseded`` (the decided verdict it replaced).
    """
    path = Path(ledger).expanduser() if ledger else default_ledger_path()
    check_status(status)
    if status == "pending":
        records, _ = read_ledger(path)
        prior = latest_verdict(records, finding_id)
        if prior is not None:
            return _verdict_fields(prior, path)
        return {
            "status": "pending",
            "analyst": analyst or None,
            "rationale": rationale or None,
            "recorded_at": None,
            "ledger": str(path),
            "added": False,
            "superseded": None,
        }
    v = make_verdict(
        finding_id,
        status=status,
        analyst=analyst,
        rationale=rationale,
        access_key_id=inv.key.access_key_id if inv is not None else None,
        evidence=evidence(inv) if inv is not None else None,
    )
    done = record_decision(v, path)
    return _verdict_fields(done.record, path, added=done.added, superseded=done.superseded)


def _verdict_fields(
    record: Mapping[str, Any],
    path: Path,
    *,
    added: bool = False,
    superseded: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "status": record.get("status", "pending"),
        "analyst": record.get("analyst") or None,
        "rationale": record.get("rationale") or None,
        "recorded_at": record.get("recorded_at"),
        "ledger": str(path),
        "added": added,
        "superseded": dict(superseded) if superseded else None,
    }


# --------------------------------------------------------------------------------------------
# the recipe
# --------------------------------------------------------------------------------------------
def run_report(finding_id: str, out: str | Path, options: RunOptions | None = None) -> ReportRun:
    """validate → parameters → begin → execute → export HTML → check summary.json → manifest.

    The folder is complete only when the manifest (:data:`MANIFEST`) is written, last: a run
    stopped anywhere before (Ctrl-C, a kill, a full disk) leaves it incomplete, and
    :func:`folder_state` says so. Each file is written to a temporary name and renamed.

    Raises :class:`NotebookError` (after writing report.ipynb and report.html) when a cell
    fails, :class:`ReportError` when a file cannot be written, other :class:`TorinvestError`
    when the run cannot start or its summary is wrong.
    """
    options = options or RunOptions()
    started = time.monotonic()
    folder = validate(finding_id, out, options)
    params = parameters(finding_id, folder, options)
    files = outputs(folder)
    run = ReportRun(finding_id=finding_id, out=folder, status="ok", notebook=files["notebook"])
    try:
        begin(folder)
        failure = execute_into(
            notebook_path(INVESTIGATE_NOTEBOOK),
            files["notebook"],
            params,
            cwd=folder,
            timeout=options.cell_timeout,
        )
        run.html = export_html(
            files["notebook"],
            files["html"],
            failure=failure,
            title=f"torinvest: Tor finding {finding_id}",
        )
        loads = external_loads(files["html"].read_text(encoding="utf-8"))
        if loads:
            run.warnings.append(
                f"report.html references {len(loads)} external resource(s), e.g. {loads[0]}"
            )
        run.seconds = time.monotonic() - started
        if failure is not None:
            run.status = "failed"
            run.failure = failure
            raise NotebookError(run)
        run.summary_data = check_summary(files["summary"])
        run.summary = files["summary"]
        write_manifest(folder, finding_id)
    except OSError as e:
        where = e.filename or folder
        raise ReportError(
            f"cannot write the report {where}: {e.strerror or e}",
            hint="the report folder is incomplete; free space or choose another --out, then "
            "run it again",
        ) from None
    return run


def begin(folder: Path) -> None:
    """Mark ``folder`` incomplete before a run writes anything: its manifest and the previous
    run's summary go (a stale summary must not pass for this run's), and so do temporary files
    a killed run left (report.ipynb and report.html are replaced when the new ones are done)."""
    (folder / MANIFEST).unlink(missing_ok=True)
    for name in ("summary.json", EVENTS_CSV, PER_IP_CSV):  # the notebook writes them again
        (folder / name).unlink(missing_ok=True)
    for leftover in (*folder.glob(".*.tmp"), *folder.glob(".*.partial.*")):
        leftover.unlink(missing_ok=True)


def execute_into(
    notebook: Path,
    output: Path,
    params: Mapping[str, Any],
    *,
    cwd: Path,
    timeout: float = CELL_TIMEOUT,
) -> CellFailure | None:
    """:func:`execute` into a temporary name beside ``output``, renamed into place after."""
    partial = output.with_name(f".{output.stem}.partial{output.suffix}")
    try:
        failure = execute(notebook, partial, params, cwd=cwd, timeout=timeout)
        os.replace(partial, output)
    finally:
        partial.unlink(missing_ok=True)
    return failure


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_manifest(folder: Path, finding_id: str) -> Path:
    """The manifest of a finished report folder, written last: every report file with its
    size and SHA-256. A file missing here is an error (the run is not complete)."""
    entries = {}
    for name in REPORT_FILES:
        path = folder / name
        entries[name] = {"bytes": path.stat().st_size, "sha256": _sha256(path)}
    doc = {
        "torinvest_version": __version__,
        "finding_id": finding_id,
        "completed_at": pd.Timestamp.now(tz="UTC").isoformat().replace("+00:00", "Z"),
        "files": entries,
    }
    path = folder / MANIFEST
    _write_bytes(path, orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n")
    return path


@dataclass(frozen=True, slots=True)
class FolderState:
    """Whether a report folder is ``complete``, ``incomplete`` (``why``) or ``missing``, and
    which of its report files exist (``present``)."""

    state: str
    why: str = ""
    present: tuple[str, ...] = ()

    @property
    def complete(self) -> bool:
        return self.state == "complete"


def folder_state(folder: str | Path, finding_id: str | None = None) -> FolderState:
    """Read a report folder: complete when its manifest is there, names ``finding_id`` (if
    given), and every file it lists is there with the same SHA-256."""
    p = Path(folder)
    present = tuple(n for n in REPORT_FILES if (p / n).is_file())
    if not p.is_dir():
        return FolderState("missing", "no report folder", present)
    try:
        doc = orjson.loads((p / MANIFEST).read_bytes())
    except FileNotFoundError:
        why = "no manifest: the run did not finish" if present else "no report yet"
        return FolderState("incomplete" if present else "missing", why, present)
    except (OSError, orjson.JSONDecodeError) as e:
        return FolderState("incomplete", f"unreadable manifest: {e}", present)
    listed = doc.get("files") if isinstance(doc, dict) else None
    if not isinstance(listed, dict) or set(listed) != set(REPORT_FILES):
        return FolderState("incomplete", "the manifest does not list the report files", present)
    if finding_id is not None and doc.get("finding_id") != finding_id:
        return FolderState("incomplete", "the manifest is of another finding", present)
    for name, meta in listed.items():
        path = p / name
        if not path.is_file():
            return FolderState("incomplete", f"{name} is missing", present)
        if not isinstance(meta, dict) or meta.get("sha256") != _sha256(path):
            return FolderState("incomplete", f"{name} changed after the run", present)
    return FolderState("complete", "", present)


def one_line_summary(data: Mapping[str, Any]) -> str:
    """summary.json in one line for a terminal (attacker text made inert)."""
    k, ev = data["key"], data["events"]
    tor_ips = [s["ip"] for s in data["source_ips"] if s.get("tor")]
    line = (
        f"finding {data['finding']['id']}: key {k['access_key_id']} ({k['kind']}"
        + (f", {k['user_name']}" if k.get("user_name") else "")
        + f"), {ev['total']} events ({ev['failed']} failed, {ev['from_tor']} from Tor), "
        f"{len(tor_ips)} Tor IP(s), {len(data['derived_keys'])} derived key(s), "
        f"{len(data['sensitive_events'])} sensitive call(s), verdict {data['verdict']['status']}"
    )
    if data["data_issues"]:
        line += f", {len(data['data_issues'])} DATA ISSUE(S)"
    return term_safe(line)


# --------------------------------------------------------------------------------------------
# open findings: triage and batch
# --------------------------------------------------------------------------------------------
def open_findings(sources: Sources, *, include_archived: bool = False) -> FindingsResult:
    """The Tor findings of a case folder or of GuardDuty (every region asked), open ones only
    unless ``include_archived``; archived ones left out are counted in ``skipped``.

    Raises :class:`~torinvest.errors.CouldNotLookError` when no region or file could be read
    (never an empty list then); when some failed, ``result.complete`` is False and
    ``result.gap()`` says which."""
    if sources.case is not None:
        result = _read_findings(sources.case.require("findings")).tor_only().require_looked()
        if not include_archived:
            keep = [f for f in result.findings if not _archived(f.data)]
            result.skipped["archived"] += len(result.findings) - len(keep)
            result.findings = keep
        return result
    assert sources.aws is not None
    return (
        fetch_findings(sources.aws, sources.regions, include_archived=include_archived)
        .tor_only()
        .require_looked()
    )


def _archived(data: Mapping[str, Any]) -> bool:
    return str((data.get("service") or {}).get("archived")).lower() == "true"


def investigate_command(
    finding_id: str,
    *,
    case_dir: str | None = None,
    profile: str | None = None,
    regions: str | None = None,
    role_arn: str | None = None,
    out_dir: str = "out",
) -> str:
    """The ``torinvest investigate`` command line for one finding (shell-quoted)."""
    parts = ["torinvest", "investigate", finding_id]
    if case_dir:
        parts += ["--case", case_dir]
    else:
        if profile:
            parts += ["--profile", profile]
        if regions and regions != "all":
            parts += ["--regions", regions]
        if role_arn:
            parts += ["--role-arn", role_arn]
    parts += ["--out", str(Path(out_dir) / report_dir_name(finding_id))]
    return shlex.join(parts)


TRIAGE_COLUMNS: tuple[str, ...] = (
    "last_seen",
    "id",
    "type",
    "account_id",
    "region",
    "severity",
    "access_key_id",
    "key_kind",
    "user_name",
    "user_type",
    "principal_id",
    "tor_ip",
    "count",
    "findings_for_key",
    "archived",
    "command",
)


def triage_frame(
    result: FindingsResult,
    *,
    case_dir: str | None = None,
    profile: str | None = None,
    regions: str | None = None,
    role_arn: str | None = None,
    out_dir: str = "out",
) -> pd.DataFrame:
    """One row per finding, newest last activity first: key, principal, counts, and the
    command that investigates it."""
    frame = result.frame()
    if not len(frame):
        return pd.DataFrame({c: pd.Series([], dtype="object") for c in TRIAGE_COLUMNS})
    frame = frame.copy()
    per_key = frame.groupby("access_key_id", dropna=False)["id"].transform("count")
    frame["findings_for_key"] = per_key.astype("Int64")
    frame["type"] = frame["type"].astype("string").str.split(":").str[0]
    frame["command"] = [
        investigate_command(
            str(fid),
            case_dir=case_dir,
            profile=profile,
            regions=regions,
            role_arn=role_arn,
            out_dir=out_dir,
        )
        for fid in frame["id"]
    ]
    frame = frame.sort_values(
        ["last_seen", "id"], ascending=[False, True], na_position="last", kind="stable"
    )
    return frame[list(TRIAGE_COLUMNS)].reset_index(drop=True)


@dataclass(slots=True)
class BatchEntry:
    finding_id: str
    status: str  # ok, failed, skipped
    type: str | None = None
    account_id: str | None = None
    region: str | None = None
    access_key_id: str | None = None
    user_name: str | None = None
    last_seen: str | None = None
    error: str | None = None
    report: dict[str, str] = field(default_factory=dict)  # the report files that exist
    complete: bool = False  # the folder's manifest is written and every file matches it
    note: str | None = None  # e.g. why an incomplete folder was run again


@dataclass(slots=True)
class BatchResult:
    """One batch run. ``gap`` says which regions or files could not be searched (empty when
    the search was complete): open findings there are not in the batch."""

    out: Path
    entries: list[BatchEntry]
    issues: list[DataIssue]
    index_json: Path
    index_html: Path
    gap: str = ""

    @property
    def failed(self) -> list[BatchEntry]:
        return [e for e in self.entries if e.status == "failed"]


def _opt(v: Any) -> str | None:
    if v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float) and v != v):
        return None
    if isinstance(v, pd.Timestamp):
        return v.tz_convert("UTC").isoformat().replace("+00:00", "Z")
    return str(v)


def run_batch(
    out: str | Path,
    options: RunOptions | None = None,
    *,
    force: bool = False,
    echo: Callable[[str], None] = print,
    sources: Sources | None = None,
) -> BatchResult:
    """One report per open Tor finding in ``out/finding-<id>/``; findings whose folder is
    complete (:func:`folder_state`) are skipped unless ``force``, incomplete ones (an
    interrupted or failed run) are run again. Writes ``index.json`` and ``index.html``, which
    link only files that exist and mark incomplete reports; on Ctrl-C the index is written for
    what was done, then KeyboardInterrupt propagates."""
    options = options or RunOptions()
    if options.verdict_status != "pending":
        raise InputError(
            "a verdict is given per finding, not for a batch",
            hint="run the batch without --verdict, then `torinvest verdict ID …` per finding",
        )
    root = Path(out).expanduser().resolve()
    check_folder(root)
    if sources is None:
        sources = run_sources(options)
    result = open_findings(sources)
    frame = triage_frame(result)
    entries: list[BatchEntry] = []
    try:
        for row in frame.to_dict("records"):
            entry = _batch_entry(row)
            entries.append(entry)
            _run_entry(entry, root, options, force=force, echo=echo)
    except KeyboardInterrupt:
        if entries:
            entries[-1].status = "interrupted"
        done = {e.finding_id for e in entries}
        for row in frame.to_dict("records"):
            if str(row["id"]) not in done:
                entries.append(_batch_entry(row, status="not run"))
        _finish_entries(root, entries)
        write_index(root, entries, result.issues, sources)
        raise
    _finish_entries(root, entries)
    index_json, index_html = write_index(root, entries, result.issues, sources)
    return BatchResult(root, entries, list(result.issues), index_json, index_html, gap=result.gap())


def _batch_entry(row: Mapping[str, Any], status: str = "ok") -> BatchEntry:
    return BatchEntry(
        finding_id=str(row["id"]),
        status=status,
        type=_opt(row["type"]),
        account_id=_opt(row["account_id"]),
        region=_opt(row["region"]),
        access_key_id=_opt(row["access_key_id"]),
        user_name=_opt(row["user_name"]),
        last_seen=_opt(row["last_seen"]),
    )


def _run_entry(
    entry: BatchEntry,
    root: Path,
    options: RunOptions,
    *,
    force: bool,
    echo: Callable[[str], None],
) -> None:
    """One finding of a batch: skipped when its folder is complete (unless ``force``), run
    otherwise — an incomplete folder (an interrupted or failed run) is run again, and said."""
    fid = entry.finding_id
    folder = root / report_dir_name(fid)
    state = folder_state(folder, fid)
    if state.complete and not force:
        entry.status = "skipped"
        echo(f"skipped {fid}: {folder} is complete (--force re-runs it)")
        return
    if state.state == "incomplete":
        entry.note = f"the folder was incomplete ({state.why}): run again"
        echo(f"investigating {fid} again: {folder} is incomplete ({state.why}) …")
    else:
        echo(f"investigating {fid} …")
    try:
        run_report(fid, folder, options)
    except TorinvestError as e:
        entry.status = "failed"
        entry.error = str(e)
        echo(f"FAILED {fid}: {term_safe(e)}")
    else:
        echo(f"ok {fid}: {outputs(folder)['html']}")


#: The files an index links, by key (only those that exist; the manifest when complete).
_INDEX_FILES: dict[str, str] = {
    "html": "report.html",
    "notebook": "report.ipynb",
    "summary": "summary.json",
    "events": EVENTS_CSV,
    "per_ip": PER_IP_CSV,
    "manifest": MANIFEST,
}


def _finish_entries(root: Path, entries: Sequence[BatchEntry]) -> None:
    """Each entry's report files as they are on disk (only those that exist) and completeness."""
    for e in entries:
        folder = root / report_dir_name(e.finding_id)
        state = folder_state(folder, e.finding_id)
        e.complete = state.complete
        e.report = {
            key: f"{folder.name}/{name}"
            for key, name in _INDEX_FILES.items()
            if (folder / name).is_file() and (key != "manifest" or e.complete)
        }


def write_index(
    root: Path, entries: Sequence[BatchEntry], issues: Sequence[DataIssue], sources: Sources
) -> tuple[Path, Path]:
    """``index.json`` and ``index.html`` (values escaped) listing each finding's report: links
    only to files that exist (checked here, whatever ``entries`` say), and an incomplete report
    shown as such. Raises :class:`ReportError` naming the file when it cannot be written."""
    for e in entries:  # only files that exist are linked
        e.report = {k: v for k, v in e.report.items() if (root / v).is_file()}
    doc = {
        "torinvest_version": __version__,
        "generated_at": pd.Timestamp.now(tz="UTC").isoformat().replace("+00:00", "Z"),
        "source": sources.describe(),
        "findings": [asdict(e) for e in entries],
        "data_issues": [i.to_dict() for i in issues],
    }
    index_json = root / INDEX_JSON
    _write_index_file(index_json, orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n")
    rows = []
    for e in entries:
        link = f'<a href="{html_text(e.report["html"])}">report</a>' if "html" in e.report else ""
        if not e.complete:
            link += (" " if link else "") + "<b>incomplete</b>"
        rows.append(
            "<tr>"
            + "".join(
                f"<td>{html_text(v) if v is not None else '—'}</td>"
                for v in (
                    e.last_seen,
                    e.finding_id,
                    e.type,
                    e.account_id,
                    e.region,
                    e.access_key_id,
                    e.user_name,
                    e.status,
                    e.error,
                )
            )
            + f"<td>{link}</td></tr>"
        )
    heads = [
        "last seen",
        "finding",
        "type",
        "account",
        "region",
        "access key",
        "user",
        "status",
        "error",
        "report",
    ]
    issue_items = "".join(
        f"<li><code>{html_text(i.source)}</code>: {html_text(i.problem)}</li>" for i in issues
    )
    page = (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f'<meta http-equiv="Content-Security-Policy" content="{_html.escape(INDEX_CSP)}">'
        "<title>torinvest: Tor findings</title><style>"
        "body{font-family:system-ui,sans-serif;margin:20px}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}th{background:#f0f3f6}"
        ".warn{border:2px solid #d9822b;background:#fff4e5;padding:8px}</style></head><body>"
        f"<h1>Tor findings: {len(entries)} report(s)</h1>"
        f"<p>Source: {html_text(sources.describe())}. torinvest {html_text(__version__)}.</p>"
        + (
            f"<div class='warn'><b>{len(issues)} data issue(s)</b><ul>{issue_items}</ul></div>"
            if issues
            else ""
        )
        + "<table><thead><tr>"
        + "".join(f"<th>{h}</th>" for h in heads)
        + "</tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table></body></html>"
    )
    index_html = root / INDEX_HTML
    _write_index_file(index_html, page.encode("utf-8"))
    return index_json, index_html


def _write_index_file(path: Path, data: bytes) -> None:
    try:
        _write_bytes(path, data)
    except OSError as e:
        raise ReportError(
            f"cannot write the index {path}: {e.strerror or e}",
            hint="the reports are written; free space or fix the folder, then run again",
        ) from None


# --------------------------------------------------------------------------------------------
# files
# --------------------------------------------------------------------------------------------
def _write_bytes(path: Path, data: bytes) -> None:
    """``data`` into ``path`` through a temporary name (never half a file under the name).
    Raises OSError (:func:`run_report` and :func:`write_index` name the file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _write_text(path: Path, text: str) -> None:
    _write_bytes(path, text.encode("utf-8"))
