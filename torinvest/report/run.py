"""The recipe of one report (:func:`run_report`) and its result (:class:`ReportRun`)."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torinvest.errors import EXIT_FAILED, ReportError, TorinvestError
from torinvest.events import ACCOUNT_GAP
from torinvest.findings import FindingsResult
from torinvest.findings.fetched import fetched_access, write_fetched
from torinvest.grouping import from_tor
from torinvest.investigation import (
    NOTHING_READ_SOURCE,
    derived_keys_phrase,
    outputs,
    reading_text,
    summary_reading,
)
from torinvest.last_used import summary_brief
from torinvest.notebooks import notebook_path
from torinvest.outcome import split_text
from torinvest.report.folders import (
    FAILED_SUMMARY,
    FETCHED_FINDINGS,
    begin,
    finish,
    hold,
    set_aside_summary,
    write_manifest,
)
from torinvest.report.kernel import CELL_TIMEOUT, CellFailure, execute
from torinvest.report.page import export_html, external_loads
from torinvest.report.parameters import INVESTIGATE_NOTEBOOK, RunOptions, parameters, validate
from torinvest.report.summary import check_summary
from torinvest.safety import term_safe
from torinvest.shown import listed_total, tor_ip_counts
from torinvest.verdict import READING_INCOMPLETE


# --------------------------------------------------------------------------------------------
# errors and results
# --------------------------------------------------------------------------------------------
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

    exit_status = EXIT_FAILED

    def __init__(self, run: ReportRun) -> None:
        assert run.failure is not None
        where = run.html or run.notebook or run.out
        kept = run.out / FAILED_SUMMARY
        super().__init__(
            f"the investigation of {run.finding_id} stopped: {run.failure.one_line()}",
            hint=f"the report with the error is {where}"
            + (f"; the summary it wrote is {kept}, not a result" if kept.is_file() else ""),
        )
        self.run = run


# --------------------------------------------------------------------------------------------
# the recipe
# --------------------------------------------------------------------------------------------
def run_report(
    finding_id: str,
    out: str | Path,
    options: RunOptions | None = None,
    *,
    fetched: FindingsResult | None = None,
) -> ReportRun:
    """validate → lock → parameters → begin → execute → export HTML → check summary.json
    (its finding is this one) → manifest.

    The folder is locked for the whole run (:func:`~torinvest.report.folders.hold`): a second
    run into it is refused (:class:`~torinvest.report.folders.FolderBusyError`, nothing
    touched). A run that does not finish leaves its summary as ``summary.failed.json``, never
    ``summary.json``; the previous run's report pair is ``report.previous.html``/``.ipynb``
    until a run completes.

    ``fetched``: the findings already fetched from GuardDuty for this run
    (:func:`~torinvest.report.check_run`): kept in the folder (:data:`FETCHED_FINDINGS`, in the
    manifest) and read by the notebook, not fetched again.

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
    with hold(folder):  # the whole run: a second run into this folder is refused
        return _run_held(finding_id, folder, options, fetched, started)


def _run_held(
    finding_id: str,
    folder: Path,
    options: RunOptions,
    fetched: FindingsResult | None,
    started: float,
) -> ReportRun:
    """:func:`run_report` once the folder's lock is held. A run that does not reach its
    manifest (a failing cell, a wrong summary, Ctrl-C) leaves no summary.json: it is renamed
    :data:`FAILED_SUMMARY`."""
    files = outputs(folder)
    run = ReportRun(finding_id=finding_id, out=folder, status="ok", notebook=files["notebook"])
    done = False
    try:
        begin(folder)
        kept = None
        if fetched is not None and not options.case_dir:
            kept = write_fetched(fetched, folder / FETCHED_FINDINGS, fetched_access(options))
        params = parameters(finding_id, folder, options, fetched=kept)
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
            set_aside_summary(folder)  # before the error names it
            raise NotebookError(run)
        run.summary_data = check_summary(files["summary"])
        check_summary_finding(run.summary_data, finding_id, files["summary"])
        run.summary = files["summary"]
        write_manifest(folder, finding_id)
        done = True
        finish(folder)
    except OSError as e:
        where = e.filename or folder
        raise ReportError(
            f"cannot write the report {where}: {e.strerror or e}",
            hint="the report folder is incomplete; free space or choose another --out, then "
            "run it again",
        ) from None
    finally:
        if not done:
            set_aside_summary(folder)
    return run


def check_summary_finding(data: Mapping[str, Any], finding_id: str, path: Path) -> None:
    """summary.json is of ``finding_id`` (the run's), or :class:`ReportError`: no manifest
    then, so no folder passes for this finding's report with another's summary."""
    found = (data.get("finding") or {}).get("id")
    if found != finding_id:
        raise ReportError(
            f"{path} is of finding {term_safe(found)}, not {finding_id}: something else wrote "
            "into the report folder during the run",
            hint="the report folder is incomplete; run it again",
        )


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


#: The most of the key's user name the terminal's line shows: IAM names are at most 64
#: characters, so a longer one comes from a findings file or an event made up to flood the
#: terminal (a 1 MB name was printed whole, on one line); the rest is cut with "…" (whole in
#: summary.json).
LINE_NAME_CHARS = 128


def one_line_summary(data: Mapping[str, Any]) -> str:
    """summary.json in one line for a terminal (attacker text made inert, and cut: the user name
    to :data:`LINE_NAME_CHARS`)."""
    k, ev = data["key"], data["events"]
    # counted over every source IP, not the part summary.json lists (torinvest.shown)
    tor_ips, unknown_ips = tor_ip_counts(data)
    unread = [
        i
        for i in data["data_issues"]
        if isinstance(i, Mapping) and i.get("source") == NOTHING_READ_SOURCE
    ]
    # no activity source of the finding's account was read: its "0 events" says nothing, and
    # events recorded in other accounts say nothing of it — never said alone
    elsewhere = unread and ev["total"] and str(unread[0].get("problem")).startswith(ACCOUNT_GAP)
    events = (
        (
            f"COULD NOT LOOK at the key's activity (in the finding's account: {ev['total']} "
            "events read, all recorded in other accounts)"
            if elsewhere
            else f"COULD NOT LOOK at the key's activity ({ev['total']} events read)"
        )
        if unread
        else f"{ev['total']} events ({split_text(ev['failed'], ev.get('outcome_unknown', 0))}, "
        f"{from_tor(ev['from_tor'], ev.get('tor_unknown', 0))})"
    )
    line = (
        f"finding {data['finding']['id']}: key {k['access_key_id']} ({k['kind']}"
        + (f", {term_safe(k['user_name'], limit=LINE_NAME_CHARS)}" if k.get("user_name") else "")
        + f"), {events}, "
        f"{tor_ips} Tor IP(s)"
        + (f" ({unknown_ips} of unknown Tor status)" if unknown_ips else "")
        + f", {derived_keys_phrase(data)}, "
        f"{listed_total(data, 'sensitive_events')} sensitive call(s), verdict {data['verdict']['status']}"
        + (f" ({data['verdict']['note']})" if data["verdict"].get("note") else "")
    )
    state, _ = summary_reading(data)
    if state == READING_INCOMPLETE:  # in the words the report, summary.json and index say
        line += f", {reading_text(state, len(data['data_issues']), loud=True)}"
    elif data["data_issues"]:  # could not look (said above): the count beside it
        line += f", {len(data['data_issues'])} DATA ISSUE(S)"
    if summary_brief(data):  # IAM's last use against the calls read (torinvest.last_used)
        line += f", {summary_brief(data)}"
    return term_safe(line)
