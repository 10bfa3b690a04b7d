"""``torinvest investigate --all-open``: one report per open Tor finding, run as a scheduled run
(the state file of :mod:`torinvest.post.state`), ``jobs`` reports at once, each finished report
posted to the destinations its ``--post-each`` templates give.

    open findings (report.open_findings)  →  the state's plan  →  investigations, N at a time
        →  each finished report recorded, then posted  →  index.json and index.html

The index is :mod:`torinvest.report.batch`'s (:func:`~torinvest.report.write_index`), its
entries' statuses ``ok``, ``failed``, ``skipped`` and, when the run is interrupted,
``interrupted`` (being investigated) and ``not run``. The reports do not depend on ``jobs``:
each is its finding's notebook run alone in a kernel of its own.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from torinvest.errors import InputError, ReportError
from torinvest.findings import FindingsResult
from torinvest.findings.records import samples_left_out
from torinvest.investigation import require_log_source
from torinvest.options import MAX_JOBS as MAX_JOBS
from torinvest.post.state import FindingRef, ScheduledResult, run_scheduled
from torinvest.report import (
    INDEX_HTML,
    INDEX_JSON,
    BatchResult,
    RunOptions,
    check_folder,
    triage_frame,
)
from torinvest.report.batch import _batch_entry, _finish_entries, open_and_fetched, write_index
from torinvest.report.parameters import run_sources
from torinvest.report.run import run_report


class IndexNotWritten(ReportError):
    """The run ended but its index could not be written (its error's message and hint):
    ``batch`` and ``scheduled`` are what the run did, so each finding's line is still said."""

    def __init__(self, error: ReportError, batch: BatchResult, scheduled: ScheduledResult):
        super().__init__(error.message, hint=error.hint)
        self.batch = batch
        self.scheduled = scheduled


def _investigate(
    finding_id: str,
    folder: Path,
    *,
    options: RunOptions,
    fetched: FindingsResult | None = None,
) -> None:
    """One report (in a worker process when ``jobs`` > 1): module-level, so it pickles.
    ``fetched``: the run's findings fetch, which the report reads instead of asking GuardDuty
    again (:func:`~torinvest.report.batch.open_and_fetched`)."""
    run_report(finding_id, folder, options, fetched=fetched)


def run_open(
    out: str | Path,
    options: RunOptions | None = None,
    *,
    force: bool = False,
    jobs: int = 1,
    templates: Sequence[str] = (),
    post: Callable[[Path, Sequence[str]], Any] | None = None,
    echo: Callable[[str], None] = print,
    investigate: Callable[[str, Path], Any] | None = None,
) -> tuple[BatchResult, ScheduledResult]:
    """Every open Tor finding's report in ``out/finding-<id>/`` (module docstring): new,
    interrupted, failed (fewer than 3 times), updated and damaged ones investigated, complete
    ones left as they are unless ``force``; each complete report posted with ``post(folder,
    templates)`` when templates are given (:func:`torinvest.post.post_report` makes an unchanged
    report a no-op). ``investigate`` replaces :func:`run_report` (tests; it must pickle when
    ``jobs`` > 1). On Ctrl-C the index is written for what was done, then KeyboardInterrupt
    propagates; the state file makes the next run finish what was interrupted."""
    options = options or RunOptions()
    if options.verdict_status != "pending":
        raise InputError(
            "a verdict is given per finding, not for a batch",
            hint="run the batch without --verdict, then `torinvest verdict ID …` per finding",
        )
    if not 1 <= jobs <= MAX_JOBS:
        raise InputError(f"--jobs {jobs}: give 1 to {MAX_JOBS}", hint="each job is a kernel")
    sources = run_sources(options)
    root = Path(out).expanduser().resolve()
    if sources.case is None:  # checked before GuardDuty is asked
        check_folder(root)
    found, fetched = open_and_fetched(sources)  # GuardDuty asked once: listed, then read
    frame = triage_frame(found)
    if sources.case is not None:  # its findings read first: logs needed only for open ones
        if len(frame):
            require_log_source(sources)  # before anything is written: each report would fail
        check_folder(root)
    if found.samples:
        echo(samples_left_out(found.samples))
    full = found.frame()
    by_id = {str(r["id"]): r for r in full.to_dict("records")} if len(full) else {}
    rows = frame.to_dict("records")
    refs = [FindingRef.from_row(by_id.get(str(r["id"]), r)) for r in rows]
    if investigate is None:
        investigate = functools.partial(_investigate, options=options, fetched=fetched)
    scheduled = ScheduledResult(root)
    ended: list[list[Any]] = []  # the entries the index was written (or tried) with

    def index(result: ScheduledResult, interrupted: bool) -> None:
        """The index, written while the state's lock is held (a newer run cannot start and
        write its own before this one's lands on it), naming this run."""
        entries = [_entry(r, result, interrupted=interrupted) for r in rows]
        _finish_entries(root, entries)
        ended.append(entries)
        run = {"started_at": result.started_at, "state": "state.json"}
        write_index(root, entries, found.issues, sources, run=run)

    def batch_of(entries: list[Any]) -> BatchResult:
        json_path, html_path = root / INDEX_JSON, root / INDEX_HTML
        return BatchResult(root, entries, list(found.issues), json_path, html_path, found.gap())

    try:
        run_scheduled(
            root,
            refs,
            investigate=investigate,
            post=post,
            templates=templates,
            force=force,
            jobs=jobs,
            echo=echo,
            result=scheduled,
            finish=index,
        )
    except ReportError as e:
        if not ended:
            raise
        raise IndexNotWritten(e, batch_of(ended[-1]), scheduled) from None
    return batch_of(ended[-1]), scheduled


def _entry(row: dict[str, Any], scheduled: ScheduledResult, *, interrupted: bool = False) -> Any:
    """The index entry of one finding from what the run did to it."""
    fid = str(row["id"])
    said = scheduled.done.get(fid)
    if said is None:
        return _batch_entry(row, status="not run" if interrupted else "skipped")
    if fid in scheduled.running:
        return _batch_entry(row, status="interrupted")
    if fid in scheduled.given_up:  # not tried again: still no report, never "skipped"
        entry = _batch_entry(row, status="failed")
        entry.error = scheduled.given_up[fid]
    elif "failed" in said:
        entry = _batch_entry(row, status="failed")
        entry.error = next(
            (
                line.split(": ", 1)[1]
                for line in scheduled.lines
                if line.startswith(f"FAILED {fid}")
            ),
            None,
        )
    elif "investigated" in said:
        entry = _batch_entry(row, status="ok")
    else:  # left as it was (complete), perhaps posted
        entry = _batch_entry(row, status="skipped")
    posted = [s for s in said if s.startswith(("posted ", "post failed "))]
    notes = [scheduled.reasons[fid]] if fid in scheduled.reasons else []
    if notes or posted:
        entry.note = "; ".join(notes + posted)
    return entry
