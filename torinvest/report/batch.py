"""Open findings: the triage table of a source and batch runs (one report per open finding,
then index.json and index.html).
"""

from __future__ import annotations

import dataclasses
import html as _html
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pandas as pd

from torinvest import __version__, commands
from torinvest.commands import Access
from torinvest.errors import DataIssue, InputError, ReportError, TorinvestError
from torinvest.findings import FindingsResult, fetch_findings, newest_sighting_first
from torinvest.findings import read_findings as _read_findings
from torinvest.findings.records import samples_left_out
from torinvest.investigation import (
    NOTHING_READ_SOURCE,
    Sources,
    baseline_phrase,
    outputs,
    reading_text,
    report_dir_name,
    require_log_source,
    summary_reading,
)
from torinvest.report.folders import (
    EVENTS_CSV,
    INDEX_HTML,
    INDEX_JSON,
    MANIFEST,
    PER_IP_CSV,
    PREVIOUS_REPORT,
    _write_bytes,
    check_folder,
    folder_state,
)
from torinvest.report.page import INDEX_CSP
from torinvest.report.parameters import RunOptions, run_sources
from torinvest.report.run import run_report
from torinvest.safety import html_text, json_inert_bytes, term_safe
from torinvest.verdict import READING_COMPLETE, READING_NO_EVENTS


# --------------------------------------------------------------------------------------------
# open findings: triage and batch
# --------------------------------------------------------------------------------------------
def open_findings(sources: Sources, *, include_archived: bool = False) -> FindingsResult:
    """The Tor findings of a case folder or of GuardDuty (every region asked), open ones only
    unless ``include_archived``; archived ones left out are counted in ``archived``.

    Raises :class:`~torinvest.errors.CouldNotLookError` when no region or file could be read
    (never an empty list then); when some failed, ``result.complete`` is False and
    ``result.gap()`` says which."""
    if sources.case is not None:
        result = _read_findings(sources.case.require("findings")).tor_only().require_looked()
        if not include_archived:
            keep = [f for f in result.findings if not _archived(f.data)]
            result.archived += len(result.findings) - len(keep)
            result.findings = keep
        return result
    assert sources.aws is not None
    return (
        fetch_findings(sources.aws, sources.regions, include_archived=include_archived)
        .tor_only()
        .require_looked()
    )


def open_and_fetched(sources: Sources) -> tuple[FindingsResult, FindingsResult | None]:
    """The open Tor findings of ``sources`` (:func:`open_findings`) and, with AWS, the fetch
    they were taken from — every Tor finding, archived ones too, as a single ``investigate``
    fetches them to check its finding — for each report of a batch to read
    (:func:`~torinvest.report.run_report`'s ``fetched``): GuardDuty is asked once per batch,
    not once to list and again per report. None with a case folder (each report reads its
    files)."""
    if sources.case is not None:
        return open_findings(sources), None
    assert sources.aws is not None
    every = (
        fetch_findings(sources.aws, sources.regions, include_archived=True)
        .tor_only()
        .require_looked()
    )
    opened = dataclasses.replace(
        every, findings=[f for f in every.findings if not _archived(f.data)]
    )
    return opened, every


def _archived(data: Mapping[str, Any]) -> bool:
    return str((data.get("service") or {}).get("archived")).lower() == "true"


def investigate_command(
    finding_id: str,
    *,
    case_dir: str | None = None,
    profile: str | None = None,
    regions: str | None = None,
    role_arn: str | None = None,
    external_id: str | None = None,
    logs: Sequence[str] = (),
    out_dir: str = "out",
    access: Access | None = None,
) -> str:
    """The ``torinvest investigate`` command line for one finding (shell-quoted), over the
    access the run was given (``access``, or the options one by one)."""
    if access is None:
        access = Access(
            case=case_dir or None,
            profile=profile or None,
            regions=None if case_dir else regions,
            role_arn=role_arn or None,
            external_id=external_id or None,
            logs=tuple(logs),
        )
    return commands.investigate_command(finding_id, access=access, out_dir=out_dir)


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
    external_id: str | None = None,
    logs: Sequence[str] = (),
    out_dir: str = "out",
    access: Access | None = None,
) -> pd.DataFrame:
    """One row per finding, newest last activity first: key, principal, counts, and the
    command that investigates it. A finding without a usable last sighting is placed by its
    last update (then its creation): GuardDuty may have kept seeing the key, so it is never
    put last for want of a time."""
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
            external_id=external_id,
            logs=logs,
            out_dir=out_dir,
            access=access,
        )
        for fid in frame["id"]
    ]
    frame = newest_sighting_first(frame)
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
    #: the reading, apart from the folder: "complete" (the report's summary.json has no data
    #: issue), "incomplete" (it has some: a region, file or list could not be read or only
    #: partly), "could not look" (no activity source of the key could be read — none, or only
    #: another account's: its "0 events" says nothing), "failed" (the run failed: no result),
    #: None (no complete report with a readable summary.json)
    reading: str | None = None
    data_issues: int | None = None  # how many data issues the report's summary.json carries
    issue_sources: list[str] = field(default_factory=list)  # where (lookup:eu-west-1, tor, …)
    could_not_look: str | None = None  # why, when the reading is "could not look"
    #: what the report's baseline adds to its reading (no call before the finding's first
    #: sighting: the score is a floor; or a history read in part), None when nothing
    #: (:func:`torinvest.investigation.baseline_phrase`). Not a data issue: a complete reading
    #: can have no baseline.
    baseline: str | None = None

    def reading_said(self, why: str | None = None, *, loud: bool = False) -> str:
        """The reading in the words of :func:`~torinvest.investigation.reading_text` (""
        when there is none: no complete report, or a failed run)."""
        if self.reading is None or self.reading == "failed":
            return ""
        return reading_text(
            self.reading, self.data_issues or 0, why or self.could_not_look, loud=loud
        )

    def reading_note(self) -> str:
        """The reading's gap in a line, as a single ``investigate`` says it ("" when none):
        ``3 DATA ISSUE(S): lookup:eu-west-1, tor, ip pivot``, after ``COULD NOT LOOK: why``
        when no activity source of the key could be read, then the baseline's gap (``no
        baseline (…): … the score is a floor``)."""
        parts = []
        if self.data_issues:
            sources = ", ".join(self.issue_sources)
            said = self.reading_said(_short(self.could_not_look or ""), loud=True)
            if self.could_not_look:  # the count beside the why
                said += f"; {self.data_issues} DATA ISSUE(S)"
            parts.append(f"{said}: {sources}")
        if self.baseline:
            parts.append(self.baseline)
        return "; ".join(parts)


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

    @property
    def unread(self) -> list[BatchEntry]:
        """The entries whose report could read no activity source of the key (none, or only
        another account's): their "0 events" says nothing about whether the key was used."""
        return [e for e in self.entries if e.reading == "could not look"]


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
    if sources is None:
        sources = run_sources(options)
    root = Path(out).expanduser().resolve()
    if sources.case is None:  # checked before GuardDuty is asked
        check_folder(root)
    result, fetched = open_and_fetched(sources)
    frame = triage_frame(result)
    if sources.case is not None:  # its findings read first: logs needed only for open ones
        if len(frame):
            require_log_source(sources)  # before anything is written: each report would fail
        check_folder(root)
    if result.samples:
        echo(samples_left_out(result.samples))
    entries: list[BatchEntry] = []
    try:
        for row in frame.to_dict("records"):
            entry = _batch_entry(row)
            entries.append(entry)
            _run_entry(entry, root, options, force=force, echo=echo, fetched=fetched)
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
    fetched: FindingsResult | None = None,
) -> None:
    """One finding of a batch: skipped when its folder is complete (unless ``force``), run
    otherwise — an incomplete folder (an interrupted or failed run) is run again, and said.
    ``fetched``: the batch's findings fetch, read by the report (not fetched again)."""
    fid = entry.finding_id
    folder = root / report_dir_name(fid)
    state = folder_state(folder, fid)
    gap = activity_gap(folder) if state.complete else []
    if state.complete and not force and not gap:
        entry.status = "skipped"
        echo(f"skipped {fid}: {folder} is complete (--force re-runs it)")
        return
    if gap and not force:  # a report that could not look is no result: run again
        entry.note = retry_reason(gap)
        echo(f"investigating {fid} ({entry.note}) …")
    elif state.state == "incomplete":
        entry.note = f"the folder was incomplete ({state.why}): run again"
        echo(f"investigating {fid} again: {folder} is incomplete ({state.why}) …")
    else:
        echo(f"investigating {fid} …")
    try:
        run_report(fid, folder, options, fetched=fetched)
    except TorinvestError as e:
        entry.status = "failed"
        entry.error = str(e)
        echo(f"FAILED {fid}: {term_safe(e)}")
    else:
        _set_reading(entry, folder)
        note = entry.reading_note()
        echo(f"ok {fid}: {outputs(folder)['html']}" + (f" ({term_safe(note)})" if note else ""))


#: The files an index links, by key (only those that exist; the manifest when complete).
_INDEX_FILES: dict[str, str] = {
    "html": "report.html",
    "notebook": "report.ipynb",
    "summary": "summary.json",
    "events": EVENTS_CSV,
    "per_ip": PER_IP_CSV,
    "manifest": MANIFEST,
    # the report of an earlier run, kept while a later one has not completed (failed, stopped)
    "previous": PREVIOUS_REPORT["report.html"],
}


def report_issues(folder: Path) -> list[DataIssue] | None:
    """The data issues a report folder's ``summary.json`` carries; None when there is no
    readable summary (no report, or a damaged one)."""
    try:
        data = orjson.loads((folder / "summary.json").read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
    issues = data.get("data_issues") if isinstance(data, dict) else None
    if not isinstance(issues, list):
        return None
    return [
        DataIssue(str(i.get("source") or "?"), str(i.get("problem") or ""))
        for i in issues
        if isinstance(i, dict)
    ]


def report_baseline(folder: Path) -> str:
    """What the baseline of the report in ``folder`` adds to its reading
    (:func:`torinvest.investigation.baseline_phrase`; "" when nothing or no readable
    summary)."""
    try:
        data = orjson.loads((folder / "summary.json").read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return ""
    return baseline_phrase(data) if isinstance(data, dict) else ""


def activity_gap(folder: Path) -> list[str]:
    """Where the report in ``folder`` could not look at its key's activity — the sources of its
    ``summary.json``'s ``activity_issues`` (``activity`` when it could read none,
    ``lookup:eu-west-1`` for a region denied or throttled, a log file…) — empty when it read
    the activity whole or has no readable summary. A summary written before
    ``activity_issues`` existed: its could-not-look issue only. Such a report is no complete
    result: a batch runs it again (``retrying: the last run did not read the key's whole activity
    (…)``)."""
    try:
        data = orjson.loads((folder / "summary.json").read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return []
    if not isinstance(data, dict):
        return []
    issues = data.get("activity_issues")
    if not isinstance(issues, list):  # an earlier summary: its could-not-look issue only
        issues = [
            i
            for i in data.get("data_issues") or []
            if isinstance(i, dict) and i.get("source") == NOTHING_READ_SOURCE
        ]
    return list(dict.fromkeys(str(i.get("source") or "?") for i in issues if isinstance(i, dict)))


def retry_reason(gap: Sequence[str]) -> str:
    """What a batch says when it runs a report again for its reading (``gap``:
    :func:`activity_gap`)."""
    # "did not read whole", not "could not look": a region denied or days without log files
    # beside what was read is a partial reading, never the could-not-look of nothing read
    return f"retrying: the last run did not read the key's whole activity ({', '.join(gap)})"


def _set_reading(entry: BatchEntry, folder: Path) -> None:
    """The entry's reading (complete or not, how many issues, where) from its summary.json:
    "failed" when its run failed, None unless the folder is complete (a summary.json in an
    incomplete folder is no result)."""
    entry.could_not_look = entry.baseline = None
    if entry.status == "failed":
        entry.reading, entry.data_issues, entry.issue_sources = "failed", None, []
        return
    issues = report_issues(folder) if folder_state(folder, entry.finding_id).complete else None
    if issues is None:
        entry.reading, entry.data_issues, entry.issue_sources = None, None, []
        return
    entry.baseline = report_baseline(folder) or None
    entry.data_issues = len(issues)
    entry.issue_sources = list(dict.fromkeys(i.source for i in issues))
    # the reading as the report, its summary.json and the terminal say it (reading_of)
    entry.reading, entry.could_not_look = summary_reading(_summary(folder) or {})
    if entry.reading == READING_NO_EVENTS:  # every source read: the index's "complete"
        entry.reading = READING_COMPLETE


def _summary(folder: Path) -> dict[str, Any] | None:
    """The report's summary.json (None when unreadable)."""
    try:
        data = orjson.loads((folder / "summary.json").read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def _short(text: str, limit: int = 240) -> str:
    """``text`` cut to ``limit`` characters (an ellipsis when cut), for one line."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _finish_entries(root: Path, entries: Sequence[BatchEntry]) -> None:
    """Each entry's report files as they are on disk (only those that exist), the folder's
    completeness, and the reading's (the data issues its summary.json carries)."""
    for e in entries:
        folder = root / report_dir_name(e.finding_id)
        state = folder_state(folder, e.finding_id)
        e.complete = state.complete
        _set_reading(e, folder)
        e.report = {
            key: f"{folder.name}/{name}"
            for key, name in _INDEX_FILES.items()
            if (folder / name).is_file() and (key != "manifest" or e.complete)
        }


def write_index(
    root: Path,
    entries: Sequence[BatchEntry],
    issues: Sequence[DataIssue],
    sources: Sources,
    *,
    run: Mapping[str, Any] | None = None,
) -> tuple[Path, Path]:
    """``index.json`` and ``index.html`` (values escaped) listing each finding's report: links
    only to files that exist (checked here, whatever ``entries`` say), and an incomplete report
    shown as such; each names when it was written, and ``run`` (a scheduled run's
    ``started_at``: the run that wrote it). Raises :class:`ReportError` naming the file when it
    cannot be written, and saying what index is left there (an earlier run's, or none)."""
    for e in entries:  # only files that exist are linked
        e.report = {k: v for k, v in e.report.items() if (root / v).is_file()}
    generated = pd.Timestamp.now(tz="UTC").isoformat().replace("+00:00", "Z")
    doc: dict[str, Any] = {
        "torinvest_version": __version__,
        "generated_at": generated,
        **({"run": dict(run)} if run is not None else {}),
        "source": sources.describe(),
        "findings": [asdict(e) for e in entries],
        "data_issues": [i.to_dict() for i in issues],
    }
    index_json = root / INDEX_JSON
    before = _index_written(index_json)  # what stays there if this one cannot be written
    _write_index_file(
        index_json,
        json_inert_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2)) + b"\n",
        left=f"{INDEX_JSON} and {INDEX_HTML} are left as they were ({before}): they do not "
        "show this run",
    )
    rows = []
    for e in entries:
        link = f'<a href="{html_text(e.report["html"])}">report</a>' if "html" in e.report else ""
        if not e.complete:
            link += (" " if link else "") + "<b>incomplete</b>"
        if "previous" in e.report:  # a run did not complete: the report before it is kept
            link += (
                f' · <a href="{html_text(e.report["previous"])}">previous report</a> (kept: '
                "a later run did not complete)"
            )
        reading = (
            "—"
            if e.reading is None
            else "<b>failed</b>"
            if e.reading == "failed"
            else "complete"
            if not e.data_issues
            else f"<b>{html_text(e.reading_said())}</b> "
            + (f"({e.data_issues} data issue(s)) " if e.could_not_look else "")
            + ", ".join(f"<code>{html_text(s)}</code>" for s in e.issue_sources)
        )
        if e.baseline and e.reading not in (None, "failed"):  # not a data issue: said apart
            reading += f"<br><b>{html_text(e.baseline)}</b>"
        if e.note and e.note.startswith(("retrying:", "the last ")):  # run again for it, or not
            reading += f"<br><i>{html_text(e.note)}</i>"
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
            + f"<td>{reading}</td><td>{link}</td></tr>"
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
        "reading",
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
        f"<p>Source: {html_text(sources.describe())}. torinvest {html_text(__version__)}. "
        f"Written at {html_text(generated)}"
        + (
            f" by the run started at {html_text(str(run.get('started_at')))}"
            if run is not None
            else ""
        )
        + ".</p>"
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
    _write_index_file(
        index_html,
        page.encode("utf-8"),
        left=f"{INDEX_JSON} is this run's, but {INDEX_HTML} is left as it was ({before}): it "
        "does not show this run",
    )
    return index_json, index_html


def _index_written(index_json: Path) -> str:
    """What index is in the folder now, in words: when it was written, and by which run."""
    try:
        data = orjson.loads(index_json.read_bytes())
    except FileNotFoundError:
        return "there was none"
    except (OSError, orjson.JSONDecodeError):
        return f"{INDEX_JSON} unreadable"
    if not isinstance(data, dict):
        return f"{INDEX_JSON} unreadable"
    run = data.get("run") if isinstance(data.get("run"), dict) else {}
    said = f"written at {term_safe(str(data.get('generated_at')))[:40]}"
    if run.get("started_at"):
        said += f" by the run started at {term_safe(str(run['started_at']))[:40]}"
    return said


def _write_index_file(path: Path, data: bytes, *, left: str) -> None:
    try:
        _write_bytes(path, data)
    except OSError as e:
        raise ReportError(
            f"cannot write the index {path}: {e.strerror or e}: {left}",
            hint="the reports are written; free space or fix the folder, then run again",
        ) from None
