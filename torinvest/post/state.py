"""The state file of scheduled runs (``OUTDIR/state.json``): each new finding investigated once,
interrupted ones finished by the next run, reports posted once per version.

A scheduled run (cron or a systemd timer, every 15 minutes) calls :func:`run_scheduled` with the
open findings it found. Per finding, :meth:`RunState.plan` decides:

========================================  =====================================================
state of the finding                      what the run does
========================================  =====================================================
not in the state file                     investigate ("new finding"), then post
``running`` (a run stopped: Ctrl-C, a     investigate again ("interrupted"), then post
kill, a crash)
``failed`` fewer than ``MAX_ATTEMPTS``    investigate again ("failed before: attempt N")
``failed`` ``MAX_ATTEMPTS`` times         nothing; said once per run (fix, then ``--force``)
reported, but the folder is incomplete    investigate again (the report was damaged or removed)
reported, the finding updated since       investigate again ("the finding was updated: …")
(``updated_at``, ``count`` or last seen
changed)
not in the state file, but a complete     investigate again when its summary.json's finding
report is in its folder (made before the  (count, last seen) is not the finding as it is now;
state file, copied or merged here)        else recorded as reported, from summary.json
reported and complete                     post only: the posting record (``posts.json``) makes
                                          an unchanged report a no-op, so only what changed —
                                          the report, or the verdict in the ledger — is posted
========================================  =====================================================

The file is written atomically after every change of a finding's state, under an exclusive lock
(``OUTDIR/.state.lock``): a run that starts while another still runs is refused
(:class:`StateBusyError`), never interleaved. Its format::

    {"format": 1, "findings": {"<id>": {"status": "running|reported|failed",
        "attempts": 1, "finding": {"updated_at", "count", "last_seen"},
        "report": {"manifest_sha256", "completed_at"}, "error": null,
        "posts": {"<template>": {"status", "line", "at"}}, "updated_at": "…Z"}},
     "runs": [{"started_at", "finished_at", "status": "done|interrupted|running", "error",
        "noticed_at"}]}

A run's entry is ``running`` while it runs. One that ends with an exception (Ctrl-C, SIGTERM,
an error: ``error`` says it) records itself ``interrupted``; one killed outright (``kill -9``, a
crash, a full disk that kept it from recording its end) cannot, so the next run — holding the
lock, it knows no other run is live — marks it ``interrupted`` with ``noticed_at`` and says so
once. The index (``index.json``, ``index.html``) is written under the lock too, and names the
run that wrote it (:attr:`ScheduledResult.started_at`): a run that starts meanwhile is refused,
never overwritten by an older run's index.

A file of another ``format`` is refused (another version wrote it), never read as this one. A
finding's entry not of this shape is said (:attr:`RunState.problems`) and left out: that finding
is rebuilt from its folder as one new to the file, the others' entries kept.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from torinvest import __version__
from torinvest.children import end_with_parent
from torinvest.commands import report_dir_name
from torinvest.errors import EXIT_BUSY, DataIssue, InputError, TorinvestError
from torinvest.paths import held_lock, write_atomic
from torinvest.post.record import now_iso
from torinvest.post.templates import canonical
from torinvest.safety import json_inert_bytes, term_safe
from torinvest.schema import utc_timestamp
from torinvest.verdict import READING_INCOMPLETE

if TYPE_CHECKING:
    from torinvest.report.folders import FolderState

# The report's modules (and through them the investigation, the analysis, the sources) are
# imported where a report folder is read, not with this module: a report worker process of
# the pool (spawned: it imports what it unpickles, investigate_one) needs only what its
# ``investigate`` imports.


def folder_state(folder: Path, finding_id: str) -> FolderState:
    """:func:`torinvest.report.folder_state` (imported when a folder is looked at)."""
    from torinvest.report import folder_state as state_of

    return state_of(folder, finding_id)


def activity_gap(folder: Path) -> list[str]:
    """:func:`torinvest.report.batch.activity_gap` (imported when a folder is looked at)."""
    from torinvest.report.batch import activity_gap as gap_of

    return gap_of(folder)


def retry_reason(gap: Sequence[str]) -> str:
    """:func:`torinvest.report.batch.retry_reason` (imported when it is said)."""
    from torinvest.report.batch import retry_reason as reason

    return reason(gap)


def report_issues(folder: Path) -> list[DataIssue] | None:
    """:func:`torinvest.report.batch.report_issues` (imported when a folder is read)."""
    from torinvest.report.batch import report_issues as issues_of

    return issues_of(folder)


log = logging.getLogger(__name__)

STATE_FILE = "state.json"
LOCK_FILE = ".state.lock"
FORMAT = 1
#: Investigations of one finding that may fail before scheduled runs stop trying it.
MAX_ATTEMPTS = 3
#: Runs kept in the state file's history.
MAX_RUNS = 200


class StateBusyError(InputError):
    """Another scheduled run holds the output folder's lock."""

    exit_status = EXIT_BUSY


@dataclass(frozen=True, slots=True)
class FindingRef:
    """An open finding as a scheduled run sees it: its ID and what tells an update apart."""

    finding_id: str
    updated_at: str | None = None
    count: int | None = None
    last_seen: str | None = None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> FindingRef:
        """From a findings-frame row (``id``, ``updated_at``, ``count``, ``last_seen``)."""

        def text(v: Any) -> str | None:
            if v is None or (isinstance(v, float) and v != v) or str(v) in ("NaT", "<NA>"):
                return None
            return v.isoformat() if hasattr(v, "isoformat") else str(v)

        count = row.get("count")
        try:
            count = int(count) if count is not None and str(count) != "<NA>" else None
        except (TypeError, ValueError):
            count = None
        return cls(
            finding_id=str(row["id"]),
            updated_at=text(row.get("updated_at")),
            count=count,
            last_seen=text(row.get("last_seen")),
        )

    def to_dict(self) -> dict[str, Any]:
        return {"updated_at": self.updated_at, "count": self.count, "last_seen": self.last_seen}


@dataclass(frozen=True, slots=True)
class Work:
    """What a run does for one finding: ``investigate`` (then post), post only, or nothing
    (``skip``, with ``reason``)."""

    finding_id: str
    investigate: bool
    post: bool
    reason: str
    skip: bool = False
    #: a run forced (``--force``): the counts of runs that failed or could not look start again
    forced: bool = False
    #: a finding left after :data:`MAX_ATTEMPTS` failed investigations: its last error (it has
    #: no report: the run says it failed, never "skipped")
    given_up: str | None = None


def _same_time(a: Any, b: Any) -> bool:
    """Two times the same instant (``…Z`` and ``…+00:00`` alike); text compared otherwise."""
    try:
        ta, tb = utc_timestamp(a), utc_timestamp(b)
    except (ValueError, TypeError):
        return str(a) == str(b)
    return ta == tb if ta is not None and tb is not None else str(a) == str(b)


def _changed(before: Mapping[str, Any], now: FindingRef) -> str | None:
    """How the finding changed since its report (None: it did not, as far as we can tell):
    its count, updatedAt or last sighting, each compared when both sides know it."""
    parts = []
    if now.count is not None and before.get("count") not in (None, now.count):
        parts.append(f"count {before.get('count')} → {now.count}")
    for name, value in (("updated", now.updated_at), ("last seen", now.last_seen)):
        key = "updated_at" if name == "updated" else "last_seen"
        if value and before.get(key) is not None and not _same_time(before[key], value):
            parts.append(f"{name} {before[key]} → {value}")
    return ", ".join(parts) or None


def report_facts(folder: Path) -> dict[str, Any] | None:
    """What a report folder's summary.json says of its finding (``id``, ``count``,
    ``last_seen``): the facts the report was made from. None when it cannot be read."""
    try:
        data = orjson.loads((folder / "summary.json").read_bytes())
        finding = data["finding"]
        return {k: finding.get(k) for k in ("id", "count", "last_seen")}
    except (OSError, orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
        return None


def _recorded(facts: Mapping[str, Any] | None, ref: FindingRef) -> dict[str, Any]:
    """The finding as the state records it for a report: the facts of its summary.json (what
    the report was made from), not the finding as it is now — ``updated_at`` only when those
    facts are the current finding's (else unknown: the next run compares count and last seen)."""
    if facts is None:
        return ref.to_dict()
    count, last_seen = facts.get("count"), facts.get("last_seen")
    same = (ref.count is None or count == ref.count) and (
        ref.last_seen is None or last_seen is None or _same_time(last_seen, ref.last_seen)
    )
    return {
        "updated_at": ref.updated_at if same else None,
        "count": count,
        "last_seen": last_seen,
    }


_STATUSES = ("running", "reported", "failed")


def _entry_problem(entry: Any) -> str | None:
    """Why a finding's entry of the state file is not one :class:`RunState` writes (None: it
    is): the fields a run reads, each of the type written."""
    if not isinstance(entry, dict):
        return f"its entry is {type(entry).__name__}, not an object"
    if entry.get("status") not in _STATUSES:
        return f"status {term_safe(repr(entry.get('status')))[:60]} is not one of {_STATUSES}"
    for name in ("attempts", "unread_runs"):
        value = entry.get(name)
        if value is not None and (type(value) is not int or value < 0):
            return f"{name} {term_safe(repr(value))[:60]} is not a count"
    for name in ("finding", "posts", "report"):
        value = entry.get(name)
        if value is not None and not isinstance(value, dict):
            return f"{name} is {type(value).__name__}, not an object"
    unread = entry.get("unread")
    if unread is not None and not isinstance(unread, list):
        return f"unread is {type(unread).__name__}, not a list"
    return None


def manifest_digest(folder: Path) -> str | None:
    try:
        from torinvest.report import MANIFEST

        return hashlib.sha256((folder / MANIFEST).read_bytes()).hexdigest()
    except OSError:
        return None


def _unusable(folder: Path, e: OSError) -> InputError:
    return InputError(
        f"cannot use {folder} for scheduled runs: {e.strerror or e}",
        hint="pass a writable output folder",
    )


class RunState:
    """The state of one output folder (see the module docstring). Use :meth:`open`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.path = root / STATE_FILE
        self.doc: dict[str, Any] = {"format": FORMAT, "findings": {}, "runs": []}
        #: What :meth:`load` left out of the file, one line each (a finding's entry that is not
        #: one the state writes): the run says them.
        self.problems: list[str] = []
        #: This run's entry in ``runs`` (``started_at``…), set by :meth:`open`.
        self.run: dict[str, Any] = {}

    @classmethod
    @contextmanager
    def open(cls, root: str | Path) -> Iterator[RunState]:
        """Lock the folder's state (refusing when another run holds it), load it, and record
        the run (``interrupted`` when the block ends with an exception)."""
        folder = Path(root).expanduser()
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise _unusable(folder, e) from None
        with held_lock(
            folder / LOCK_FILE,
            cannot=lambda e: _unusable(folder, e),
            busy=lambda: StateBusyError(
                f"another torinvest run is working in {folder} (it holds "
                f"{folder / LOCK_FILE}): this run does nothing",
                hint="runs are scheduled every few minutes: the next one continues",
            ),
        ):
            state = cls(folder)
            state.load()
            state._end_dead_runs()
            run = {"started_at": now_iso(), "finished_at": None, "status": "running"}
            state.run = run
            state.doc["runs"] = [*state.doc["runs"], run][-MAX_RUNS:]
            state.save()
            try:
                yield state
            except BaseException as e:
                run.update(finished_at=now_iso(), status="interrupted")
                if isinstance(e, TorinvestError):  # what stopped it (the index not written…)
                    run["error"] = term_safe(e)
                state.save()
                raise
            run.update(finished_at=now_iso(), status="done")
            state.save()

    def _end_dead_runs(self) -> None:
        """Runs the file still says ``running``: this run holds the lock, so none of them is
        live — each was ended without a word (``kill -9``, a crash, the machine stopped, a full
        disk that kept it from recording its end). Each is marked ``interrupted``, with when
        this run noticed (``noticed_at``), and said once (:attr:`problems`): the next run finds
        it marked. The findings they left ``running`` are finished by :meth:`plan`."""
        noticed = now_iso()
        for run in self.doc["runs"]:
            if isinstance(run, dict) and run.get("status") == "running":
                run.update(status="interrupted", noticed_at=noticed)
                started = term_safe(str(run.get("started_at")))[:40]
                self.problems.append(
                    f"{self.path}: the run started at {started} did not finish (it was killed, "
                    "crashed, or could not write its end: a full disk?): marked interrupted; "
                    "the findings it left running are investigated again"
                )

    def load(self) -> None:
        try:
            data = orjson.loads(self.path.read_bytes())
        except FileNotFoundError:
            return
        except (OSError, orjson.JSONDecodeError) as e:
            raise InputError(
                f"cannot read the state file {self.path}: {e}",
                hint="it says which findings were processed; restore it, or move it aside (the "
                "reports and their posting records stay: a new state is rebuilt from them "
                "without posting twice)",
            ) from None
        if not isinstance(data, dict) or not isinstance(data.get("findings"), dict):
            raise InputError(f"{self.path} is not a torinvest state file", hint="move it aside")
        fmt = data.get("format", FORMAT)
        if type(fmt) is not int or fmt != FORMAT:
            raise InputError(
                f"the state file {self.path} is format {term_safe(repr(fmt))[:40]}; this "
                f"torinvest ({__version__}) reads format {FORMAT} only: it was written by "
                "another version (or is not a state file)",
                hint="run the torinvest that wrote it, or move it aside (the reports and their "
                "posting records stay: a new state is rebuilt from them without posting twice)",
            )
        if not isinstance(data.get("runs", []), list):
            self.problems.append(
                f"{self.path}: 'runs' is not a list: the runs' history is started again"
            )
            data["runs"] = []
        data.setdefault("runs", [])
        for fid, entry in list(data["findings"].items()):
            why = _entry_problem(entry)
            if why is not None:
                del data["findings"][fid]
                self.problems.append(
                    f"{self.path}: finding {term_safe(fid)[:140]}: {why}: its entry is left out "
                    "and the finding taken as new to this state file (its report folder says "
                    "whether its report is complete; its posts.json keeps it from being posted "
                    "twice)"
                )
        self.doc = data

    def save(self) -> None:
        try:
            write_atomic(
                self.path,
                json_inert_bytes(orjson.dumps(self.doc, option=orjson.OPT_INDENT_2)) + b"\n",
            )
        except OSError as e:
            raise InputError(
                f"cannot write the state file {self.path}: {e.strerror or e}",
                hint="free space or fix the folder; the next run continues",
            ) from None

    # -- reading
    @property
    def findings(self) -> dict[str, dict[str, Any]]:
        return self.doc["findings"]

    def folder(self, finding_id: str) -> Path:
        return self.root / report_dir_name(finding_id)

    def plan(
        self, findings: Sequence[FindingRef], *, post: bool, force: bool = False
    ) -> list[Work]:
        """What to do for each finding (the module docstring's table). ``force``: investigate
        every finding again (and failed ones once more)."""
        work: list[Work] = []
        for ref in dict((r.finding_id, r) for r in findings).values():
            fid = ref.finding_id
            seen = self.findings.get(fid)
            state = folder_state(self.folder(fid), fid)
            if force:
                work.append(Work(fid, True, post, "--force", forced=True))
            elif seen is None:
                work.append(self._unrecorded(ref, state.complete, post))
            elif seen.get("status") == "running":
                work.append(Work(fid, True, post, "interrupted in an earlier run: finishing it"))
            elif seen.get("status") == "failed":
                n = int(seen.get("attempts") or 0)
                changed = _changed(seen.get("finding") or {}, ref)
                if n < MAX_ATTEMPTS or changed:
                    work.append(Work(fid, True, post, f"failed before: attempt {n + 1}"))
                else:
                    work.append(
                        Work(
                            fid,
                            False,
                            False,
                            f"failed {n} times (last: {seen.get('error')}): not tried again "
                            "until it changes or a run is forced",
                            skip=True,
                            given_up=str(seen.get("error") or "(no error recorded)"),
                        )
                    )
            elif not state.complete:
                work.append(Work(fid, True, post, f"the report is incomplete ({state.why})"))
            elif changed := _changed(seen.get("finding") or {}, ref):
                work.append(Work(fid, True, post, f"the finding was updated: {changed}"))
            elif gap := activity_gap(self.folder(fid)):
                work.append(self._retry(fid, gap, int(seen.get("unread_runs") or 1), post))
            else:
                work.append(Work(fid, False, post, "report complete", skip=not post))
        return work

    def _retry(self, fid: str, gap: Sequence[str], runs: int, post: bool) -> Work:
        """A complete report that could not look at its key's activity (``gap``): no result,
        so run again — up to :data:`MAX_ATTEMPTS` runs that could not look, then left (and
        said) until the finding changes or a run is forced."""
        if runs < MAX_ATTEMPTS:
            return Work(fid, True, post, f"{retry_reason(gap)} (run {runs + 1} of {MAX_ATTEMPTS})")
        return Work(
            fid,
            False,
            post,
            f"the last {runs} runs did not read the key's whole activity ({', '.join(gap)}): "
            "not retried until the "
            "finding changes or a run is forced (--force); its report says what it could not "
            "read",
            skip=not post,
        )

    def _unrecorded(self, ref: FindingRef, complete: bool, post: bool) -> Work:
        """A finding this state file does not know: investigated unless its folder holds a
        complete report of the finding as it is now (one made before the state file existed,
        or in a folder copied or merged here): its summary.json's facts are compared."""
        fid = ref.finding_id
        if not complete:
            return Work(fid, True, post, "new finding")
        facts = report_facts(self.folder(fid))
        if facts is None or facts.get("id") != fid:
            return Work(fid, True, post, "new to this state file; its summary.json is unreadable")
        if changed := _changed(facts, ref):
            return Work(fid, True, post, f"the finding was updated since its report: {changed}")
        if gap := activity_gap(self.folder(fid)):
            return Work(fid, True, post, retry_reason(gap))
        return Work(fid, False, post, "new to this state file")

    # -- changing
    def _set(self, finding_id: str, **values: Any) -> None:
        entry = self.findings.setdefault(finding_id, {"attempts": 0, "posts": {}})
        entry.update(values, updated_at=now_iso())
        self.save()

    def started(self, ref: FindingRef, *, forced: bool = False) -> None:
        """``forced``: a run the user forced — its failures are counted from 1 again."""
        seen = self.findings.get(ref.finding_id) or {}
        self._set(
            ref.finding_id,
            status="running",
            attempts=(0 if forced else int(seen.get("attempts") or 0)) + 1,
            finding=ref.to_dict(),
            error=None,
        )

    def reported(self, ref: FindingRef, *, forced: bool = False) -> None:
        """``forced``: a run the user forced — the runs that could not look are counted from
        this one (1 when it could not look either, 0 when it read the activity whole), so the
        next runs retry it again up to :data:`MAX_ATTEMPTS`."""
        folder = self.folder(ref.finding_id)
        seen = self.findings.get(ref.finding_id) or {}
        gap = activity_gap(folder)
        earlier = int(seen.get("unread_runs") or 0) if seen.get("unread") and not forced else 0
        self._set(
            ref.finding_id,
            status="reported",
            attempts=0,
            # where its report could not look at the key's activity, and in how many runs in
            # a row: the next runs retry it (RunState.plan)
            unread=gap or None,
            unread_runs=earlier + 1 if gap else 0,
            finding=_recorded(report_facts(folder), ref),
            report={"manifest_sha256": manifest_digest(folder), "folder": folder.name},
            error=None,
        )

    def failed(self, ref: FindingRef, error: str) -> None:
        self._set(ref.finding_id, status="failed", finding=ref.to_dict(), error=error)

    def post_result(self, finding_id: str, template: str, status: str, line: str) -> None:
        entry = self.findings.setdefault(finding_id, {"attempts": 0, "posts": {}})
        entry.setdefault("posts", {})[template] = {"status": status, "line": line, "at": now_iso()}
        entry["updated_at"] = now_iso()
        self.save()


@dataclass(slots=True)
class ScheduledResult:
    """One scheduled run: per finding, what was done (``investigated``, ``posted``,
    ``failed``, ``skipped``) and the lines said."""

    root: Path
    done: dict[str, list[str]] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    #: Findings being investigated (those an interrupt stopped, after one).
    running: set[str] = field(default_factory=set)
    #: Why a finding was run again or left for its report's reading (``retrying: the last run
    #: did not read the key's whole activity (…)``, ``the last 3 runs did not read …``): the
    #: index says it.
    reasons: dict[str, str] = field(default_factory=dict)
    #: Findings left after :data:`MAX_ATTEMPTS` failed investigations (not tried this run):
    #: their last error. No report: the index lists them ``failed``, and the run fails.
    given_up: dict[str, str] = field(default_factory=dict)
    #: When this run started (its entry in the state file's ``runs``): the index names it.
    started_at: str | None = None


def run_scheduled(
    root: str | Path,
    findings: Sequence[FindingRef],
    *,
    investigate: Callable[[str, Path], Any],
    post: Callable[[Path, Sequence[str]], Any] | None = None,
    templates: Sequence[str] = (),
    force: bool = False,
    jobs: int = 1,
    echo: Callable[[str], None] = print,
    result: ScheduledResult | None = None,
    finish: Callable[[ScheduledResult, bool], Any] | None = None,
) -> ScheduledResult:
    """One scheduled run over ``findings`` in ``root`` (module docstring).

    ``investigate(finding_id, folder)`` writes the finding's report folder (the wiring passes
    :func:`torinvest.report.run_report`) and raises :class:`TorinvestError` when it fails;
    ``post(folder, templates)`` posts a complete folder (:func:`torinvest.post.post_report`)
    and returns its :class:`~torinvest.post.PostReport`. ``jobs`` > 1 runs that many
    investigations at once, each in a process of its own (``investigate`` must then be
    picklable: a module-level function or a ``functools.partial`` of one); the state file,
    the posts and the lines said stay in this process, in the order the findings are given
    for everything but the investigations' completion. KeyboardInterrupt leaves the findings
    being investigated ``running`` (the next run finishes them) and propagates; ``result``
    (pass one to read it after an interrupt) holds what was done until then.

    ``finish(result, interrupted)`` (the index: :func:`torinvest.post.batch.run_open`) is
    called once the work ends — after an interrupt too, once the running reports are stopped
    — while the lock is still held: a run that starts meanwhile is refused, so what it writes
    is never replaced by this older run's.
    """
    result = result if result is not None else ScheduledResult(Path(root).expanduser())
    result.root = Path(root).expanduser()
    with RunState.open(root) as state:
        result.started_at = state.run.get("started_at")
        for problem in state.problems:  # said, not a reason to stop: the next lines say what
            log.info("%s", problem)  # said once, by the line below
            result.lines.append(f"state file: {problem}")
            echo(result.lines[-1])
        refs = {r.finding_id: r for r in findings}
        work = state.plan(findings, post=bool(templates and post), force=force)
        runner = _Runner(jobs, investigate, echo)
        try:
            _run_work(state, work, refs, runner, post, templates, result, echo)
        except KeyboardInterrupt:  # Ctrl-C or SIGTERM: the running reports are stopped
            runner.close(stop=True)
            if finish is not None:
                try:
                    finish(result, True)
                except TorinvestError as e:  # said; the run still ends as interrupted
                    echo(f"{e}" + (f" ({e.hint})" if e.hint else ""))
            raise
        finally:
            runner.close()
        if finish is not None:
            finish(result, False)
    return result


def _run_work(
    state: RunState,
    work: Sequence[Work],
    refs: Mapping[str, FindingRef],
    runner: _Runner,
    post: Callable[[Path, Sequence[str]], Any] | None,
    templates: Sequence[str],
    result: ScheduledResult,
    echo: Callable[[str], None],
) -> None:
    """Each finding's work: post-only and skipped ones at once, investigations ``runner.jobs``
    at a time; each finished investigation recorded, then posted, as it completes."""
    pending = list(work)
    pending.reverse()
    while pending or runner.busy:
        while pending and runner.free:
            w = pending.pop()
            said = result.done.setdefault(w.finding_id, [])
            folder = state.folder(w.finding_id)
            if w.reason.startswith(("retrying:", "the last ")) or w.given_up is not None:
                result.reasons[w.finding_id] = w.reason
            if w.given_up is not None:
                result.given_up[w.finding_id] = w.given_up
            if w.skip:
                said.append("skipped")
                why = (
                    f"{folder} is complete (--force re-runs it)"
                    if w.reason == "report complete"
                    else w.reason
                )
                echo(f"skipped {w.finding_id}: {why}")
                if w.reason != "report complete":
                    result.lines.append(f"skipped {w.finding_id}: {w.reason}")
                continue
            if not w.investigate:
                if w.finding_id not in state.findings:
                    state.reported(refs[w.finding_id])  # a complete report from before the file
                if w.post and post is not None and templates:
                    _post(state, w.finding_id, folder, templates, post, result, echo)
                continue
            echo(f"investigating {w.finding_id} ({w.reason}) …")
            state.started(refs[w.finding_id], forced=w.forced)
            result.running.add(w.finding_id)
            runner.start(w, folder)
        for w, error in runner.finished():
            result.running.discard(w.finding_id)
            _finish(state, w, refs[w.finding_id], error, post, templates, result, echo)


def _finish(
    state: RunState,
    w: Work,
    ref: FindingRef,
    error: str | None,
    post: Callable[[Path, Sequence[str]], Any] | None,
    templates: Sequence[str],
    result: ScheduledResult,
    echo: Callable[[str], None],
) -> None:
    """Record one finished investigation (failed, incomplete or reported), then post it."""
    said = result.done.setdefault(w.finding_id, [])
    folder = state.folder(w.finding_id)
    if error is None:
        done = folder_state(folder, w.finding_id)
        if not done.complete:
            error = f"incomplete report ({done.why})"
    if error is not None:
        state.failed(ref, error)
        said.append("failed")
        result.failed.append(w.finding_id)
        result.lines.append(f"FAILED {w.finding_id}: {error}")
        echo(result.lines[-1])
        return
    state.reported(ref, forced=w.forced)
    said.append("investigated")
    from torinvest.investigation import NOTHING_READ_SOURCE, reading_text

    issues = report_issues(folder)
    unread = issues and any(i.source == NOTHING_READ_SOURCE for i in issues)
    # the reading's words (reading_text), as the index and the report say them
    said = reading_text(READING_INCOMPLETE, len(issues or []), loud=True)
    note = (f" (COULD NOT LOOK; {len(issues)} DATA ISSUE(S))" if unread else f" ({said})"
            ) if issues else ""  # fmt: skip
    echo(f"ok {w.finding_id}: {folder / 'report.html'}{note}")
    if w.post and post is not None and templates:
        _post(state, w.finding_id, folder, templates, post, result, echo)


def investigate_one(
    investigate: Callable[[str, Path], Any], finding_id: str, folder: Path
) -> str | None:
    """Run one investigation; its failure as one terminal-safe line (None when it ran). What a
    worker process returns: a line pickles where some exceptions do not."""
    try:
        investigate(finding_id, folder)
    except TorinvestError as e:
        return term_safe(e)
    return None


class _Runner:
    """Investigations, ``jobs`` at a time: in this process when ``jobs`` is 1, else in a pool
    of ``jobs`` processes, each process used for one report and replaced (what a report run
    allocates is returned when it ends: memory stays bounded by ``jobs`` reports).

    A worker process that ends abruptly (the out-of-memory killer, ``kill -9``) breaks the
    whole pool: every investigation running in it ends with it, and which one's worker died is
    not known. The death is counted against a finding only when its investigation was the
    only one running; when several were, each is run again, alone in a fresh pool, in this
    same run (no further attempt counted): the one whose worker dies alone is the one said."""

    def __init__(
        self,
        jobs: int,
        investigate: Callable[[str, Path], Any],
        echo: Callable[[str], None] = print,
    ) -> None:
        self.jobs = max(1, int(jobs))
        self.investigate = investigate
        self.echo = echo
        self._pool: Any = None
        self._running: dict[Any, tuple[Work, Path]] = {}
        self._done: list[tuple[Work, str | None]] = []
        #: investigations a broken pool ended alongside others: each run again alone
        self._alone: list[tuple[Work, Path]] = []

    @property
    def busy(self) -> bool:
        return bool(self._running or self._done or self._alone)

    @property
    def free(self) -> bool:
        if self._alone:  # those are run one at a time first
            return False
        return len(self._running) + len(self._done) < self.jobs

    def start(self, w: Work, folder: Path) -> None:
        if self.jobs == 1:
            self._done.append((w, investigate_one(self.investigate, w.finding_id, folder)))
            return
        self._submit(w, folder)

    def _submit(self, w: Work, folder: Path) -> None:
        if self._pool is None:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            self._pool = ProcessPoolExecutor(
                self.jobs,
                mp_context=multiprocessing.get_context("spawn"),
                max_tasks_per_child=1,
                initializer=end_with_parent,  # killing this run ends its reports too
                initargs=(os.getpid(),),
            )
        fut = self._pool.submit(investigate_one, self.investigate, w.finding_id, folder)
        self._running[fut] = (w, folder)

    def finished(self) -> list[tuple[Work, str | None]]:
        """The investigations that ended (waiting for one when none has)."""
        if not self._done and not self._running and self._alone:
            self._submit(*self._alone.pop(0))  # the next one a broken pool ended, alone
        if not self._done and self._running:
            from concurrent.futures import FIRST_COMPLETED, wait
            from concurrent.futures.process import BrokenProcessPool

            while not (ended := wait(self._running, 1.0, FIRST_COMPLETED)[0]):
                self._look_at_workers()
            broken = False
            for fut in ended:
                try:
                    result = fut.result()
                except BrokenProcessPool:
                    broken = True
                    continue
                self._done.append((self._running.pop(fut)[0], result))
            if broken:
                self._broken()
        done, self._done = self._done, []
        return done

    def _look_at_workers(self) -> None:
        """Have the pool look at its workers again. It watches those it had when it last
        looked: a worker started since (the second one of a pool: started after the pool is
        woken for its task) that dies is not noticed until something else wakes it — its
        investigation would wait for ever, or break the pool only when another one ends."""
        wakeup = getattr(self._pool, "_executor_manager_thread_wakeup", None)
        lock = getattr(self._pool, "_shutdown_lock", None)
        if wakeup is None or lock is None:  # pragma: no cover - another Python's pool
            return
        with lock:
            if not getattr(wakeup, "_closed", True):
                wakeup.wakeup()

    def _broken(self) -> None:
        """The pool broke: a worker process ended abruptly, and every investigation still in
        the pool with it (the pool ends the others' workers)."""
        from concurrent.futures.process import BrokenProcessPool

        pool, self._pool = self._pool, None  # the next start makes a new pool
        workers = list((getattr(pool, "_processes", None) or {}).values())
        pool.shutdown(wait=True, cancel_futures=True)  # every future and worker is settled
        codes = [  # -15: the others, ended by the pool
            p.exitcode for p in workers if p.exitcode not in (None, 0, -15)
        ]
        ended: list[tuple[Work, Path]] = []
        for fut, (w, folder) in list(self._running.items()):
            del self._running[fut]
            try:
                self._done.append((w, fut.result()))  # it finished before the break
            except BrokenProcessPool:
                ended.append((w, folder))
        how = "ended abruptly" + (
            f" (exit status {codes[0]}: killed — by the out-of-memory killer, or kill -9?)"
            if len(codes) == 1 and codes[0] is not None and codes[0] < 0
            else ""
        )
        if len(ended) == 1:  # it ran alone: its worker is the one that died
            w, _ = ended[0]
            self._done.append((w, f"the worker process investigating it {how}"))
            return
        names = ", ".join(w.finding_id for w, _ in ended)
        self.echo(
            f"a worker process {how} while {len(ended)} findings were being investigated "
            f"({names}); which one's is not known: each is investigated again, alone, and "
            "only the one whose worker dies alone counts it as a failed attempt"
        )
        self._alone.extend(ended)

    def close(self, *, stop: bool = False) -> None:
        """End the pool: wait for the running investigations, or with ``stop`` end them first
        (SIGTERM to each worker; its kernel follows it). Ctrl-C reached them already (the
        terminal signals the whole process group); a SIGTERM sent to this process alone did
        not."""
        self._alone.clear()
        if self._pool is not None:
            if stop:
                workers = getattr(self._pool, "_processes", None) or {}
                for process in list(workers.values()):
                    process.terminate()
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


def _post(
    state: RunState,
    finding_id: str,
    folder: Path,
    templates: Sequence[str],
    post: Callable[[Path, Sequence[str]], Any],
    result: ScheduledResult,
    echo: Callable[[str], None],
) -> None:
    said = result.done[finding_id]
    try:
        report = post(folder, templates)
    except TorinvestError as e:
        for t in templates:
            state.post_result(finding_id, t, "failed", term_safe(e))
        said.append("post failed")
        result.failed.append(finding_id)
        result.lines.append(f"NOT POSTED {finding_id}: {term_safe(e)}")
        echo(result.lines[-1])
        return
    by_spec = {o.destination: o for o in report.outcomes}
    for t in templates:
        o = by_spec.get(canonical(t))
        if o is None:
            continue
        state.post_result(finding_id, str(t), o.status, o.line)
        if o.status == "posted":
            said.append(f"posted {t}")
            result.lines.append(f"{finding_id}: {o.line}")
            echo(result.lines[-1])
        elif o.status in ("failed", "partial"):
            said.append(f"post failed {t}")
            result.failed.append(finding_id)
            result.lines.append(f"NOT POSTED {finding_id}: {o.line}")
            echo(result.lines[-1])
