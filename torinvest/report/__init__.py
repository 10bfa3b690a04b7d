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

The package, each module importing only those above it:

    folders     a report folder: its files, writable, begun, complete by its manifest
    kernel      the notebook run in a kernel (papermill), a failing cell as CellFailure
    page        report.html: exported without code, offline, with a CSP and the error banner
    summary     summary.json's contract (SUMMARY_SCHEMA), written and checked; the CSVs
    parameters  RunOptions (torinvest.options) → checks before a kernel starts (validate) →
                notebook parameters
    run         the recipe of one report (run_report) and its result (ReportRun)
    batch       open findings: the triage table, batch runs, index.json/index.html

Every public name is importable from ``torinvest.report``; so are the verdict step
(:func:`~torinvest.investigation.decide`, :func:`~torinvest.investigation.evidence`), the
template lookup (:func:`~torinvest.notebooks.notebook_path`) and :class:`ReportError`
(:mod:`torinvest.errors`), which lived here before.
"""

from torinvest.errors import ReportError
from torinvest.investigation import decide, evidence
from torinvest.notebooks import notebook_path
from torinvest.report.batch import (
    TRIAGE_COLUMNS,
    BatchEntry,
    BatchResult,
    investigate_command,
    open_findings,
    run_batch,
    triage_frame,
    write_index,
)
from torinvest.report.folders import (
    EVENTS_CSV,
    INDEX_HTML,
    INDEX_JSON,
    MANIFEST,
    PER_IP_CSV,
    REPORT_FILES,
    FolderState,
    begin,
    check_folder,
    folder_state,
    write_manifest,
)
from torinvest.report.kernel import (
    CELL_TIMEOUT,
    KERNEL_NAME,
    KERNEL_START_TIMEOUT,
    CellFailure,
    execute,
    kernel_manager_class,
)
from torinvest.report.page import (
    INDEX_CSP,
    NOTEBOOK_ONLY_TAG,
    REPORT_CSP,
    REPORT_TEMPLATE,
    REPORT_TEMPLATE_NAME,
    error_banner,
    export_html,
    exporter,
    external_loads,
    script_hashes,
    with_csp,
)
from torinvest.report.parameters import (
    INVESTIGATE_NOTEBOOK,
    TRIAGE_NOTEBOOK,
    RunOptions,
    check_finding,
    check_ledger,
    check_run,
    parameters,
    run_sources,
    validate,
)
from torinvest.report.run import (
    NotebookError,
    ReportRun,
    execute_into,
    one_line_summary,
    run_report,
)
from torinvest.report.summary import (
    SUMMARY_SCHEMA,
    check_summary,
    check_summary_data,
    export_tables,
    summary_data,
    summary_problems,
    write_summary,
)

__all__ = [
    "CELL_TIMEOUT",
    "EVENTS_CSV",
    "INDEX_CSP",
    "INDEX_HTML",
    "INDEX_JSON",
    "INVESTIGATE_NOTEBOOK",
    "KERNEL_NAME",
    "KERNEL_START_TIMEOUT",
    "MANIFEST",
    "NOTEBOOK_ONLY_TAG",
    "PER_IP_CSV",
    "REPORT_CSP",
    "REPORT_FILES",
    "REPORT_TEMPLATE",
    "REPORT_TEMPLATE_NAME",
    "SUMMARY_SCHEMA",
    "TRIAGE_COLUMNS",
    "TRIAGE_NOTEBOOK",
    "BatchEntry",
    "BatchResult",
    "CellFailure",
    "FolderState",
    "NotebookError",
    "ReportError",
    "ReportRun",
    "RunOptions",
    "begin",
    "check_finding",
    "check_folder",
    "check_ledger",
    "check_run",
    "check_summary",
    "check_summary_data",
    "decide",
    "error_banner",
    "evidence",
    "execute",
    "execute_into",
    "export_html",
    "export_tables",
    "exporter",
    "external_loads",
    "folder_state",
    "investigate_command",
    "kernel_manager_class",
    "notebook_path",
    "one_line_summary",
    "open_findings",
    "parameters",
    "run_batch",
    "run_report",
    "run_sources",
    "script_hashes",
    "summary_data",
    "summary_problems",
    "triage_frame",
    "validate",
    "with_csp",
    "write_index",
    "write_manifest",
    "write_summary",
]
