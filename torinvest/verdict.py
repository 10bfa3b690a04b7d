"""Verdicts and the ledger: what the analyst decided about a finding, and every action taken.

The ledger is a JSON-lines file, one record a line, appended atomically under an exclusive
``flock`` so that concurrent analysts (or automations) never lose or interleave a record. Each
record has a ``kind``: ``verdict`` (:class:`Verdict`) or ``action`` (written by
:mod:`torinvest.actions` before and after each call that changes AWS).

Location: ``--ledger FILE``, else ``$TORINVEST_LEDGER``, else
``$XDG_DATA_HOME/torinvest/ledger.jsonl`` (``~/.local/share/torinvest/ledger.jsonl``).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import logging
import os
import re
import stat
import struct
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Literal

import orjson
import pandas as pd

from torinvest import __version__
from torinvest.errors import DataIssue, InputError
from torinvest.jsonread import loads as read_json
from torinvest.paths import sync_folder
from torinvest.safety import json_inert_bytes

log = logging.getLogger(__name__)

Status = Literal["pending", "legitimate", "malicious", "inconclusive"]
STATUSES: tuple[str, ...] = ("pending", "legitimate", "malicious", "inconclusive")
#: The statuses that are decisions (``pending`` is not: it never supersedes one of these).
DECIDED: tuple[str, ...] = ("legitimate", "malicious", "inconclusive")
#: What each verdict means next (shown in the report and the CLI).
NEXT_STEPS: dict[str, str] = {
    "pending": "No decision yet: keep investigating; nothing is archived or changed.",
    "legitimate": "Archive the finding (administrator account); optionally add a suppression "
    "rule scoped to this IAM user or this key and the Tor finding type.",
    "malicious": "Assume every credential the actor could reach is compromised: deactivate the "
    "key, revoke sessions minted with it, and undo the persistence found in its activity.",
    "inconclusive": "Treat as malicious until shown otherwise: contain the key, then keep "
    "investigating with the owner of the principal.",
}

#: How much of the key's activity the evidence of a verdict read (``evidence["reading"]``, the
#: words post's ``Reading:`` line uses): every source, some (data issues), none, or all of it
#: holding no event.
READING_COMPLETE, READING_INCOMPLETE, READING_COULD_NOT_LOOK, READING_NO_EVENTS = (
    "complete",
    "incomplete",
    "could not look",
    "no events",
)


def could_not_look(record: Mapping[str, Any]) -> str | None:
    """Why the evidence a verdict ``record`` stored could not look at the key's activity (no
    activity source could be read: it says nothing about whether the key was used); None when
    it read some, or stored no evidence."""
    evidence = record.get("evidence")
    if not isinstance(evidence, Mapping) or evidence.get("reading") != READING_COULD_NOT_LOOK:
        return None
    return str(evidence.get("could_not_look") or "no activity source could be read")


def without_evidence(record: Mapping[str, Any]) -> bool:
    """Whether a verdict ``record`` was recorded without reading any source (``torinvest
    verdict`` without a source option): no evidence and no state of the finding stored — an
    archive cannot tell what it judged from what GuardDuty holds now."""
    evidence, state = record.get("evidence"), record.get("finding_state")
    return not (isinstance(evidence, Mapping) and evidence) and not (
        isinstance(state, Mapping) and state
    )


def finding_check_label(record: Mapping[str, Any]) -> str:
    """One word or two for the ``verdicts`` table: how the finding was when the verdict
    ``record`` was recorded — ``unchanged`` (read again: as the evidence read it), ``CHANGED``
    (read again: it changed since the evidence, recorded because the analyst accepted it),
    ``NOT RE-READ`` (it could not be read again) or ``not checked`` (a record written before
    torinvest read findings again, or by another tool)."""
    check = record.get("finding_check")
    state = check.get("state") if isinstance(check, Mapping) else None
    if state == "unchanged":
        return "unchanged"
    if state == "changed":
        return "CHANGED"
    if state == "not re-read":
        return "NOT RE-READ"
    return "not checked"


def finding_check_note(record: Mapping[str, Any]) -> str | None:
    """What must be read with the verdict ``record`` about the finding at recording time
    (plain text: escape it where it is shown): ``finding not re-read when recorded: WHY`` or
    ``recorded although the finding changed since its evidence was read (…): CHANGES``; None
    when it was read again and unchanged, or the record has no check (:func:`finding_check_label`
    says "not checked")."""
    check = record.get("finding_check")
    if not isinstance(check, Mapping):
        return None
    if check.get("state") == "not re-read":
        return (
            f"finding not re-read when the verdict was recorded: {check.get('why') or '?'} — "
            "the evidence describes the finding as it was when the report read it"
        )
    if check.get("state") == "changed":
        changes = check.get("changes")
        said = "; ".join(str(c) for c in changes) if isinstance(changes, list) else "?"
        return (
            "recorded although the finding changed since its evidence was read "
            f"({check.get('accepted') or 'accepted'}): {said} — what changed is not in the "
            "evidence"
        )
    return None


def default_ledger_path() -> Path:
    """``$TORINVEST_LEDGER``, else ``$XDG_DATA_HOME/torinvest/ledger.jsonl``."""
    if os.environ.get("TORINVEST_LEDGER"):
        return Path(os.environ["TORINVEST_LEDGER"]).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "torinvest" / "ledger.jsonl"


def check_status(status: str) -> str:
    if status not in STATUSES:
        raise InputError(
            f"invalid verdict status {status!r}", hint=f"use one of {', '.join(STATUSES)}"
        )
    return status


@dataclass(frozen=True, slots=True)
class Verdict:
    """The analyst's decision on one finding, with the evidence it rests on."""

    finding_id: str
    access_key_id: str | None
    status: str
    analyst: str
    rationale: str
    evidence: Mapping[str, Any] = field(default_factory=dict)
    recorded_at: str = ""
    #: the finding as the verdict judged it (updated_at, count, last_seen:
    #: :func:`torinvest.findings.records.finding_facts`); empty when no source was read
    finding_state: Mapping[str, Any] = field(default_factory=dict)
    #: the finding read again when the verdict was recorded
    #: (:meth:`torinvest.findings.recheck.FindingCheck.to_record`: ``state`` unchanged,
    #: changed — recorded only when the analyst accepted it: ``accepted`` — or not re-read,
    #: with ``why``); empty in records written before torinvest re-read findings
    finding_check: Mapping[str, Any] = field(default_factory=dict)
    torinvest_version: str = __version__
    kind: str = "verdict"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def make_verdict(
    finding_id: str,
    *,
    status: str,
    analyst: str,
    rationale: str,
    access_key_id: str | None = None,
    evidence: Mapping[str, Any] | None = None,
    now: pd.Timestamp | None = None,
    missing_hint: str = "pass --analyst NAME --rationale TEXT",
    finding: Mapping[str, Any] | None = None,
    finding_check: Mapping[str, Any] | None = None,
) -> Verdict:
    """A verdict record; a decided status needs an analyst and a rationale (``missing_hint``
    says how to give them where the verdict comes from: the CLI's flags by default). The finding
    ID is checked (:func:`torinvest.findings.check_finding_id`: trimmed; upper case refused).
    ``finding``: the finding the verdict judged (a findings-frame row): its updatedAt, count and
    eventLastSeen are stored (``finding_state``), so that an action can tell later activity.
    ``finding_check``: the finding read again at recording time (stored as given)."""
    from torinvest.aws.ids import check_finding_id

    finding_id = check_finding_id(finding_id)
    check_status(status)
    if status != "pending" and not (analyst.strip() and rationale.strip()):
        raise InputError(
            f"a {status} verdict needs an analyst and a rationale",
            hint=missing_hint,
        )
    when = (now or pd.Timestamp.now(tz="UTC")).tz_convert("UTC")
    return Verdict(
        finding_id=finding_id,
        access_key_id=access_key_id,
        status=status,
        analyst=analyst,
        rationale=rationale,
        evidence=dict(evidence or {}),
        recorded_at=when.isoformat().replace("+00:00", "Z"),
        finding_state=finding_state(finding) if finding is not None else {},
        finding_check=dict(finding_check or {}),
    )


def finding_state(finding: Mapping[str, Any]) -> dict[str, Any]:
    """What a verdict stores of the finding it judged: its updatedAt, count and eventLastSeen
    (:data:`torinvest.findings.records.FINDING_STATE`), as plain JSON values."""
    from torinvest.findings.records import FINDING_STATE, finding_facts

    facts = finding_facts(finding)
    return {k: facts[k] for k in FINDING_STATE}


#: The hash chain (tamper evidence): every record :func:`append` writes ends with these two
#: fields — ``prev_sha256``, the SHA-256 of the previous non-blank line's bytes as they are in
#: the file (:data:`GENESIS` for a ledger's first line), then ``sha256``, that of its own line
#: as written with this field's value as 64 zeros. A reader recomputes both
#: (:func:`read_ledger_chain`): a line changed after it was written, or removed, or inserted,
#: breaks the chain there. Evidence of accidental or naive edits, not a signature: whoever
#: rewrites every line after the one they changed makes a valid chain.
PREV_FIELD, SELF_FIELD = "prev_sha256", "sha256"
#: The ``prev_sha256`` of a ledger's first line: the SHA-256 of nothing.
GENESIS = hashlib.sha256(b"").hexdigest()
_ZEROS = b"0" * 64
#: How every chained line ends: its own SHA-256, the last field.
_SELF_TAIL = re.compile(rb',"sha256":"([0-9a-f]{64})"\}\Z')


def _chained(record: Mapping[str, Any], previous: bytes | None) -> bytes:
    """``record`` as one chained line (no line end): :data:`PREV_FIELD` links it to the
    ``previous`` line's bytes (None: the ledger's first line), :data:`SELF_FIELD` seals it.
    DEL, C1 controls, bidi and zero-width characters (a rationale quoting a user agent, an
    error quoting a name) are written as ``\\uXXXX`` escapes
    (:func:`torinvest.safety.json_inert_bytes`), as in every JSON file torinvest writes:
    ``cat``, ``tail -f`` or ``less`` of the ledger show them inert; the seal is over the line
    as written."""
    rec = {k: v for k, v in dict(record).items() if k not in (PREV_FIELD, SELF_FIELD)}
    rec[PREV_FIELD] = hashlib.sha256(previous).hexdigest() if previous is not None else GENESIS
    rec[SELF_FIELD] = _ZEROS.decode()
    body = json_inert_bytes(orjson.dumps(rec, option=orjson.OPT_NON_STR_KEYS))
    digest = hashlib.sha256(body).hexdigest().encode()
    return body[: -len(_ZEROS) - 2] + digest + b'"}'


def _sealed(line: bytes) -> bool:
    """Whether the chained ``line`` is as it was written: its :data:`SELF_FIELD` is the
    SHA-256 of the line with that value as 64 zeros."""
    found = _SELF_TAIL.search(line)
    if found is None:
        return False
    zeroed = line[: found.start(1)] + _ZEROS + line[found.end(1) :]
    return hashlib.sha256(zeroed).hexdigest().encode() == found.group(1)


def _last_line(fd: int, size: int) -> bytes | None:
    """The last non-blank line of the open file ``fd`` (``size`` bytes), without its line end
    (a torn last line as it is); None when it has none."""
    pos, tail = size, b""
    while pos > 0:
        step = min(1 << 16, pos)
        pos -= step
        parts = (os.pread(fd, step, pos) + tail).split(b"\n")
        whole = parts[1:] if pos else parts  # the first part may go on before ``pos``
        for line in reversed(whole):
            if line.strip():
                return line
        tail = parts[0]
    return None


def append(path: str | Path, record: Mapping[str, Any]) -> None:
    """Append one record as one line, atomically: O_APPEND, one write, under an exclusive lock.

    The line is chained (:data:`PREV_FIELD`, :data:`SELF_FIELD`) to the ledger's last line as
    read under the same lock. The record starts on a fresh line: when the file's last line has
    no line end (a write torn by a crash or a full disk), a line end is written first, so the
    record is never glued onto the torn line (which stays as it is, is what the record links
    to, and :func:`read_ledger` reports it). Raises :class:`InputError` naming the ledger when
    it cannot be written (read-only, no space, …).
    """
    p = Path(path)
    try:
        _make_folder(p)
        fd = os.open(p, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK, 0o600)
    except OSError as e:
        raise _unwritable(p, e) from None
    try:
        not_a_file = _not_a_file(fd)
        if not_a_file:
            raise InputError(
                f"cannot write the ledger {p}: it is {not_a_file}, not a file",
                hint="nothing was recorded; pass --ledger FILE naming a regular file (or set "
                "TORINVEST_LEDGER)",
            )
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            size = os.fstat(fd).st_size
            line = _chained(record, _last_line(fd, size)) + b"\n"
            if size and os.pread(fd, 1, size - 1) != b"\n":
                log.warning("ledger %s ends with a torn line: the record starts a new line", p)
                line = b"\n" + line
            view = memoryview(line)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
            if not size:  # a new ledger: its name lasts too
                sync_folder(p.parent)
        except OSError as e:
            raise _unwritable(p, e) from None
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _not_a_file(fd: int) -> str | None:
    """What the open ``fd`` is when it is not a regular file (``a FIFO (named pipe)``, ``a
    socket``, ``a device``): reading one would wait for a writer, or never end; else None. A
    folder is left to the callers' own errors (EISDIR)."""
    return _not_a_file_mode(os.fstat(fd).st_mode)


def _not_a_file_mode(mode: int) -> str | None:
    """:func:`_not_a_file` of a file's ``st_mode``."""
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a device"


def _make_folder(path: Path) -> None:
    """Create the folder of ``path``; when a component of it is not a folder, raise
    NotADirectoryError naming that component (``mkdir`` says "File exists" there)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as e:
        blocking = next(
            (a for a in path.parents if a.exists() or a.is_symlink()), Path(str(e.filename))
        )
        if blocking.is_dir():
            raise
        raise NotADirectoryError(
            errno.ENOTDIR, "a file where a folder is needed (not a directory)", str(blocking)
        ) from None


def _unwritable(path: Path, error: OSError) -> InputError:
    """The error for a ledger that cannot be written: the path that failed (the ledger, a
    component of its folder, or its ``.lock`` beside it) and the operating system's reason."""
    reason = error.strerror or type(error).__name__
    failed = Path(os.fsdecode(error.filename)) if error.filename else path
    if failed == path:
        where = ""
    elif failed == _lock_path(path):
        where = f"its lock file {failed} cannot be created: "
    else:
        where = f"{failed}: "
    return InputError(
        f"cannot write the ledger {path}: {where}{reason}",
        hint="nothing was recorded; pass a writable --ledger FILE (or set TORINVEST_LEDGER)",
    )


def record_verdict(verdict: Verdict, ledger: str | Path | None = None) -> Path:
    """Append ``verdict`` to the ledger; return the ledger's path."""
    path = Path(ledger) if ledger else default_ledger_path()
    append(path, verdict.to_dict())
    log.info("verdict %s for %s recorded in %s", verdict.status, verdict.finding_id, path)
    return path


def read_ledger(path: str | Path | None = None) -> tuple[list[dict[str, Any]], list[DataIssue]]:
    """Every record in the ledger, and one issue per line that cannot be read or holds a
    malformed verdict record (:func:`malformed`: kept, flagged, never a decision)."""
    lines, issues = read_ledger_lines(path)
    return [rec for _, rec in lines], issues


def read_ledger_lines(
    path: str | Path | None = None,
) -> tuple[list[tuple[int, dict[str, Any]]], list[DataIssue]]:
    """:func:`read_ledger` with each record's line number (1-based), to name it."""
    read = read_ledger_chain(path)
    return read.lines, read.issues


#: What to do about a broken chain (said with each break, and by the actions' refusal).
CHAIN_HINT = (
    "compare the ledger with a backup or ask who edited it; restore the line as it was "
    "written, or move the ledger aside (kept as evidence) and record the verdict again in a new "
    "one (torinvest verdict … --ledger NEW, with its source)"
)
#: How each break of the chain starts as a ledger issue.
CHAIN_BROKEN = "hash chain broken"
#: What a line before the chain's first is, where it is said.
UNCHAINED = "unchained (written before torinvest chained its ledger records, or by another tool)"


@dataclass(frozen=True, slots=True)
class ChainBreak:
    """Where the ledger's hash chain breaks: ``line`` (1-based) and what it means."""

    line: int
    what: str


@dataclass(frozen=True, slots=True)
class Chain:
    """The ledger's hash chain as read (:data:`PREV_FIELD`): ``start``, its first chained line
    (None: no chained line, a ledger written before the chain); ``unchained``, the lines before
    it (not an error: their content cannot be checked, only that the chain's first line follows
    the last of them); ``breaks``, every line where it breaks."""

    path: Path
    start: int | None = None
    unchained: tuple[int, ...] = ()
    breaks: tuple[ChainBreak, ...] = ()

    def unchained_note(self) -> str | None:
        """``lines 1–12 of LEDGER are unchained (…)``; None when there is none."""
        if not self.unchained:
            return None
        first, last = self.unchained[0], self.unchained[-1]
        which = f"line {first}" if first == last else f"lines {first}–{last}"
        after = (
            f"; the chain starts at line {self.start}, which links to the last of them"
            if self.start is not None
            else "; the next record torinvest appends starts the chain"
        )
        return (
            f"{which} of the ledger {self.path} {'is' if first == last else 'are'} {UNCHAINED}: "
            f"shown and followed as before, but a later edit of {'it' if first == last else 'them'} "
            f"cannot be told{after}"
        )


@dataclass(frozen=True, slots=True)
class LedgerRead:
    """The ledger as read: its records with their line numbers, the issues (unreadable or
    malformed lines, and each break of the chain) and the hash chain."""

    lines: list[tuple[int, dict[str, Any]]]
    issues: list[DataIssue]
    chain: Chain


def chain_refusal(chain: Chain, line: int | None) -> str | None:
    """Why no verdict of the ledger may be acted on while ``chain`` is broken — the verdict on
    ``line`` (None: not known) at or after the first break was appended over a ledger that had
    been changed, and one before it may have been superseded by a line changed or removed
    after it —; None when the chain is whole."""
    if not chain.breaks:
        return None
    first = chain.breaks[0]
    where = (
        "at or after the break"
        if line is not None and line >= first.line
        else "before the break, but a line changed or removed after it may have been a later "
        "verdict on the finding"
    )
    return (
        f"the ledger {chain.path} was changed after it was written: its hash chain breaks at "
        f"line {first.line} ({first.what})"
        + (f"; the verdict followed is on line {line}, {where}" if line is not None else "")
    )


def read_ledger_chain(path: str | Path | None = None) -> LedgerRead:
    """Every record of the ledger with its line number, one issue per line that cannot be read
    or holds a malformed verdict record, one per break of the hash chain (:class:`Chain`)."""
    p = Path(path) if path else default_ledger_path()
    if not p.exists():
        return LedgerRead([], [], Chain(p))
    records: list[tuple[int, dict[str, Any]]] = []
    issues: list[DataIssue] = []
    try:
        # O_NONBLOCK: a FIFO (or a device) named as the ledger is refused, never waited on
        with open(os.open(p, os.O_RDONLY | os.O_NONBLOCK), "rb") as fh:
            not_a_file = _not_a_file(fh.fileno())
            if not_a_file:
                raise InputError(
                    f"cannot read the ledger {p}: it is {not_a_file}, not a file",
                    hint="pass --ledger FILE naming a regular file (or set TORINVEST_LEDGER)",
                )
            fcntl.flock(fh, fcntl.LOCK_SH)
            data = fh.read()
            fcntl.flock(fh, fcntl.LOCK_UN)
    except OSError as e:  # a folder, no permission, an I/O error: one line naming the ledger
        raise InputError(
            f"cannot read the ledger {p}: {e.strerror or type(e).__name__}",
            hint="pass --ledger FILE (a file, not a folder) or set TORINVEST_LEDGER",
        ) from None
    lines = data.split(b"\n")
    chain = _ChainCheck(p)
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        torn = n == len(lines) and not data.endswith(b"\n")
        try:
            rec, repairs = read_json(line)
        except orjson.JSONDecodeError as e:
            rec = _salvage(line)
            if rec is not None:
                problem = (
                    "a torn record with a whole one glued after it: the whole one is kept, "
                    "the torn part is lost"
                )
                records.append((n, rec))
            elif torn:
                problem = f"the last line is an incomplete record (an interrupted write): {e.msg}"
            else:
                problem = f"unreadable ledger line (an interrupted write?): {e.msg}"
            issues.append(DataIssue(f"{p}:{n}", problem))
            chain.see(n, line, rec, whole=False)
            continue
        chain.see(n, line, rec if isinstance(rec, dict) else None, whole=True)
        if repairs:  # written by another tool: kept, and said
            issues.append(DataIssue(f"{p}:{n}", repairs.issue_text([rec], ["the record"])))
        if isinstance(rec, dict):
            records.append((n, rec))
            problem = malformed(rec)
            if problem:
                issues.append(DataIssue(f"{p}:{n}", problem))
        else:
            issues.append(
                DataIssue(f"{p}:{n}", "not a JSON object (each ledger record is one): skipped")
            )
    found = chain.result()
    issues += [
        DataIssue(
            f"{p}:{b.line}",
            f"{CHAIN_BROKEN}: {b.what}; torinvest actions --execute follows no verdict of "
            f"this ledger while it is: {CHAIN_HINT}",
        )
        for b in found.breaks
    ]
    issues.sort(key=lambda i: _issue_line(i, p))
    return LedgerRead(records, issues, found)


def _issue_line(issue: DataIssue, path: Path) -> int:
    """The line an issue of the ledger ``path`` names (issues in line order)."""
    tail = issue.source.removeprefix(f"{path}:")
    return int(tail) if tail.isdigit() else 0


class _ChainCheck:
    """The hash chain verified line by line (:func:`read_ledger_chain`)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.previous: tuple[int, bytes] | None = None
        self.previous_changed = False  # the previous line broke its own seal: said there
        self._unsealed = 0  # the last line that broke its own seal
        self.start: int | None = None
        self.unchained: list[int] = []
        self.breaks: list[ChainBreak] = []

    def see(self, n: int, line: bytes, rec: Mapping[str, Any] | None, *, whole: bool) -> None:
        """Line ``n`` (its bytes, its record when it is one: None for a line that is not
        JSON); ``whole``: the line is the record (not one salvaged from a torn line)."""
        linked = rec is not None and (PREV_FIELD in rec or SELF_FIELD in rec)
        if linked:
            assert rec is not None
            if self.start is None:
                self.start = n
            self._check(n, line, rec, whole=whole)
        elif rec is not None:  # a record without a link
            if self.start is None:
                self.unchained.append(n)
            else:
                self.breaks.append(
                    ChainBreak(
                        n,
                        f"ledger line {n} carries no chain link although the chain starts at "
                        f"line {self.start}: added by hand, by another tool or by a torinvest "
                        "older than the chain after the chain began",
                    )
                )
        # a line that is not a record (torn by a crash): an issue of its own; the next line
        # links to its bytes, so a torn line changed after the next was written breaks there
        self.previous_changed = linked and self._unsealed == n
        self.previous = (n, line)

    def _check(self, n: int, line: bytes, rec: Mapping[str, Any], *, whole: bool) -> None:
        if not whole or not _sealed(line) or rec.get(SELF_FIELD) != line[-66:-2].decode():
            self.breaks.append(
                ChainBreak(
                    n,
                    f"ledger line {n} changed after it was written (it no longer matches the "
                    "SHA-256 it was written with)",
                )
            )
            self._unsealed = n
            return
        before = self.previous
        want = hashlib.sha256(before[1]).hexdigest() if before is not None else GENESIS
        if rec.get(PREV_FIELD) == want or self.previous_changed:
            return  # linked as written, or to a line already said changed
        if before is None:
            what = (
                f"ledger line {n}, the first, was not the first line when it was written: a "
                "line before it was removed after it was written"
            )
        else:
            what = (
                f"ledger line {n} does not follow line {before[0]} as that was written: line "
                f"{before[0]} changed, or a line between them removed or added, after line {n} "
                "was written"
            )
        self.breaks.append(ChainBreak(n, what))

    def result(self) -> Chain:
        return Chain(self.path, self.start, tuple(self.unchained), tuple(self.breaks))


def malformed(rec: Mapping[str, Any]) -> str | None:
    """Why the verdict record ``rec`` is not one torinvest can follow, else None (also None for
    records of another kind). A verdict record needs a finding ID (:func:`_unmatchable`), a
    status of :data:`STATUSES`, a ``recorded_at`` time and — a decided status — an analyst and a
    rationale (non-blank text): what :func:`make_verdict` refuses to write without. Such a record
    (edited by hand, or written by another tool) is kept and shown, flagged, but it is never the
    current verdict, never supersedes one and never lets ``actions --execute`` run."""
    if rec.get("kind") != "verdict":
        return None
    unmatchable = _unmatchable(rec)
    if unmatchable:
        return unmatchable
    wrong = _missing_fields(rec)
    if not wrong:
        return None
    status = rec.get("status")
    said = status if isinstance(status, str) and status in DECIDED else "a decided status"
    again = (
        f"torinvest verdict {rec.get('finding_id')} --status {said} --analyst NAME --rationale WHY"
    )
    return (
        f"a verdict record with {' and '.join(wrong)}: torinvest never writes one; it is "
        f"shown flagged (state malformed), is not the current verdict and authorizes no "
        f"action; record the verdict again: {again}"
    )


def _missing_fields(rec: Mapping[str, Any]) -> list[str]:
    """What a verdict record lacks or has wrong (besides its finding ID)."""
    status = rec.get("status")
    wrong: list[str] = []
    if not isinstance(status, str) or not status.strip():
        wrong.append("no status")
    elif status not in STATUSES:
        wrong.append(f"status {status[:40]!r}, which is not one of {', '.join(STATUSES)}")
    if _recorded_at(rec) is None:
        at = rec.get("recorded_at")
        wrong.append(
            f"recorded_at {str(at)[:40]!r}, which is not a time" if at else "no recorded_at"
        )
    if status != "pending":  # a decision (or what may have been meant as one)
        for name in ("analyst", "rationale"):
            value = rec.get(name)
            if not isinstance(value, str):
                wrong.append(
                    f"no {name}" if value is None else f"{_a(name)} {name} that is not text"
                )
            elif not value.strip():
                wrong.append(f"a blank {name}")
    return wrong


def _unmatchable(rec: Mapping[str, Any]) -> str | None:
    """Why the verdict record ``rec`` can match no finding — its finding ID is not one (upper
    case or surrounding spaces, written before IDs were checked) —, else None. The record is
    kept as it is: a verdict is never moved to another ID behind the analyst's back."""
    from torinvest.aws.ids import FINDING_ID_RE, check_finding_id

    fid = rec.get("finding_id")
    if rec.get("kind") != "verdict":
        return None
    hint = ""
    try:
        if check_finding_id(fid) == fid:  # type: ignore[arg-type]
            return None
    except InputError as e:
        hint = e.hint or ""
    if isinstance(fid, str) and FINDING_ID_RE.match(fid.strip().lower()):
        hint = f"record it again as {fid.strip().lower()}"
    return (
        f"a verdict on {str(fid)[:80]!r}, which is not a finding ID: it matches no finding, "
        f"and no action sees it ({hint})"
    )


def _salvage(line: bytes) -> dict[str, Any] | None:
    """A whole record glued after a torn one on the same line (ledgers written before appends
    started on a fresh line): the first ``{"`` from which the rest of the line is a ledger
    record (a verdict or an action; an object nested in the torn one is not)."""
    start = line.find(b'{"', 1)
    while start > 0:
        try:
            rec = orjson.loads(line[start:])
        except orjson.JSONDecodeError:
            rec = None
        if isinstance(rec, dict) and _is_record(rec):
            return rec
        start = line.find(b'{"', start + 1)
    return None


def _is_record(rec: Mapping[str, Any]) -> bool:
    if rec.get("kind") == "verdict":
        return "finding_id" in rec and "recorded_at" in rec
    return rec.get("kind") == "action" and "phase" in rec and "at" in rec


def verdicts_frame(records: list[dict[str, Any]]) -> pd.DataFrame:
    """Verdict records as a frame (recorded_at, finding_id, access_key_id, status, analyst,
    rationale), newest first: the last appended first (ledger order, not ``recorded_at``, which
    is only as right as the recording host's clock)."""
    rows = [r for r in records if r.get("kind") == "verdict"][::-1]
    cols = ["recorded_at", "finding_id", "access_key_id", "status", "analyst", "rationale"]
    frame = pd.DataFrame([{c: r.get(c) for c in cols} for r in rows], columns=cols)
    frame["recorded_at"] = pd.to_datetime(
        frame["recorded_at"], utc=True, format="ISO8601", errors="coerce"
    )
    return frame.reset_index(drop=True)


def _recorded_at(record: Mapping[str, Any]) -> pd.Timestamp | None:
    try:
        ts = pd.Timestamp(str(record.get("recorded_at")))
    except (ValueError, TypeError):
        return None
    if ts is pd.NaT or pd.isna(ts):
        return None
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def verdict_history(records: Sequence[Mapping[str, Any]], finding_id: str) -> list[dict[str, Any]]:
    """The verdict records of ``finding_id``, oldest first, in ledger order: the order the
    appends happened (under the ledger's lock). ``recorded_at`` does not order them: it is the
    recording host's clock, which may be behind another's (:func:`clock_behind`)."""
    return [
        dict(r) for r in records if r.get("kind") == "verdict" and r.get("finding_id") == finding_id
    ]


#: How far a verdict's ``recorded_at`` may be ahead of this host's time (another host's clock)
#: before its time stops dating anything (the actions' gate, ``verdicts``).
CLOCK_SLACK = pd.Timedelta(minutes=5)


def after_now(recorded: pd.Timestamp | None, clock: pd.Timestamp | None) -> pd.Timedelta | None:
    """How far ``recorded`` is after ``clock`` (default now) when that is more than
    :data:`CLOCK_SLACK`; else None (also for no time)."""
    now = clock if clock is not None else pd.Timestamp.now(tz="UTC")
    if recorded is None or recorded - now <= CLOCK_SLACK:
        return None
    return recorded - now


def clock_ahead(record: Mapping[str, Any], clock: pd.Timestamp | None = None) -> str | None:
    """``recorded_at is 3.0 h after this host's time now …`` when ``record`` says it was
    recorded more than :data:`CLOCK_SLACK` after ``clock`` (default now): written by a host
    whose clock is ahead, or edited by hand; None otherwise."""
    ahead = after_now(_recorded_at(record), clock)
    if ahead is None:
        return None
    return (
        f"recorded_at is {duration(ahead)} after this host's time now (a clock ahead, or a "
        "ledger edited by hand): its time dates nothing"
    )


def clock_behind(previous: Mapping[str, Any] | None, record: Mapping[str, Any]) -> str | None:
    """``recorded with a clock behind the previous record by 10 min`` when ``record`` (appended
    after ``previous``) says it was recorded earlier than ``previous`` does; None otherwise."""
    if previous is None:
        return None
    before, after = _recorded_at(previous), _recorded_at(record)
    if before is None or after is None or after >= before:
        return None
    return f"recorded with a clock behind the previous record by {duration(before - after)}"


def duration(delta: pd.Timedelta) -> str:
    """``90 s``, ``12 min``, ``3.5 h``, ``4.0 days``."""
    seconds = int(delta.total_seconds())
    if seconds < 120:
        return f"{max(seconds, 1)} s"
    if seconds < 2 * 3600:
        return f"{round(seconds / 60)} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def latest_decided_verdict(
    records: Sequence[Mapping[str, Any]], finding_id: str
) -> dict[str, Any] | None:
    """The most recent *decided* verdict (legitimate, malicious, inconclusive) on ``finding_id``:
    what the actions follow. ``pending`` records are not decisions and never count."""
    history = verdict_history(records, finding_id)
    copies = duplicates(history)
    decided = [
        r
        for r, copy in zip(history, copies, strict=True)
        if r.get("status") in DECIDED and malformed(r) is None and copy is None
    ]
    return decided[-1] if decided else None


def duplicates(history: Sequence[Mapping[str, Any]]) -> list[int | None]:
    """For each record of one finding's ``history`` (ledger order), the index of the earlier
    record it is a copy of — the same record (every field), or the same decision
    (:func:`decision_key`: status, analyst, rationale and ``recorded_at``, which torinvest
    never writes twice) —, else None. A copy is a line pasted twice (a ledger merged or edited
    by hand): it is not a new decision, never the current verdict and never supersedes one."""
    seen: dict[Any, int] = {}
    out: list[int | None] = []
    for i, r in enumerate(history):
        keys: list[Any] = []
        with contextlib.suppress(TypeError):  # not JSON (built in code): by decision only
            keys.append(orjson.dumps(dict(r), option=orjson.OPT_SORT_KEYS))
        key = decision_key(r)
        if key is not None:
            keys.append(key)
        out.append(next((seen[k] for k in keys if k in seen), None))
        for k in keys:
            seen.setdefault(k, i)
    return out


def latest_verdict(records: Sequence[Mapping[str, Any]], finding_id: str) -> dict[str, Any] | None:
    """The finding's current verdict: the latest decided one; a ``pending`` record only when
    nothing was ever decided (a later pending never hides an earlier decision); None when the
    ledger has no verdict on it. A :func:`malformed` record is never the current verdict."""
    decided = latest_decided_verdict(records, finding_id)
    if decided is not None:
        return decided
    history = verdict_history(records, finding_id)
    valid = [
        r
        for r, copy in zip(history, duplicates(history), strict=True)
        if malformed(r) is None and copy is None
    ]
    return valid[-1] if valid else None


def blocking_malformed(
    records: Sequence[tuple[int, Mapping[str, Any]]], finding_id: str
) -> tuple[int, Mapping[str, Any], str] | None:
    """The last :func:`malformed` verdict record on ``finding_id`` that is not ``pending`` and
    was appended after its latest decided verdict (or when it has none), with its line number
    and problem: the ledger's last word on the finding cannot be followed, so no action may
    run until the verdict is recorded again. ``records``: (line, record) pairs in ledger order
    (:func:`read_ledger_lines`)."""
    found: tuple[int, Mapping[str, Any], str] | None = None
    for n, r in records:
        if r.get("kind") != "verdict" or r.get("finding_id") != finding_id:
            continue
        problem = malformed(r)
        if problem is None and r.get("status") in DECIDED:
            found = None  # a decision after it: the malformed record is history
        elif problem is not None and r.get("status") != "pending":
            found = (n, r, problem)
    return found


def default_analyst() -> str:
    """Who is deciding, as far as this machine knows: ``$TORINVEST_ANALYST``, else the login
    name; ``""`` when neither is known."""
    import getpass

    name = os.environ.get("TORINVEST_ANALYST", "").strip()
    if name:
        return name
    try:
        return getpass.getuser()
    except (OSError, KeyError, ImportError):
        return ""


def same_decision(record: Mapping[str, Any], verdict: Verdict | Mapping[str, Any]) -> bool:
    """True when ``verdict`` says what ``record`` says: same finding, status, analyst and
    rationale (surrounding blanks ignored) — and, when ``verdict`` says which state of the
    finding it judged, the same state: the same decision on a finding GuardDuty updated since
    (new activity) is a new decision. Evidence and time do not make a decision new — except
    that one over a ``record`` whose evidence could not look (:func:`could_not_look`) is new
    when its own evidence read the activity, or it carries none: the analyst re-recorded it so
    that an archive may follow it. Likewise one whose finding was read again unchanged
    (``finding_check``) over a ``record`` whose finding was not (not re-read, changed, or no
    check): the analyst recorded it again so that the ledger says it was checked."""
    other = verdict.to_dict() if isinstance(verdict, Verdict) else verdict
    if could_not_look(record) is not None and could_not_look(other) is None:
        return False
    if _checked_unchanged(other) and not _checked_unchanged(record):
        return False
    judged, had = other.get("finding_state"), record.get("finding_state")
    if (
        isinstance(judged, Mapping)
        and judged
        and dict(judged) != (dict(had) if isinstance(had, Mapping) else {})
    ):
        return False
    return all(
        str(record.get(k) or "").strip() == str(other.get(k) or "").strip()
        for k in ("finding_id", "status", "analyst", "rationale")
    )


def _checked_unchanged(record: Mapping[str, Any]) -> bool:
    check = record.get("finding_check")
    return isinstance(check, Mapping) and check.get("state") == "unchanged"


@dataclass(frozen=True, slots=True)
class Recorded:
    """What recording a decided verdict did.

    ``record`` is the finding's current verdict afterwards (the new record, the identical one
    already in the ledger, or — when nothing was recorded — the one that stays current);
    ``added`` says whether a line was appended; ``superseded`` is the decided verdict it
    replaced (None when it is the first, or when nothing was added); ``refused`` is the verdict
    that was not recorded and ``why`` says why (:func:`record_decision`); ``issues`` are the
    ledger's unreadable lines (a torn record may be a later verdict: ``record`` may not be the
    latest)."""

    record: dict[str, Any]
    added: bool
    path: Path
    superseded: dict[str, Any] | None = None
    refused: dict[str, Any] | None = None
    why: str = ""
    issues: tuple[DataIssue, ...] = ()


class Expect(Enum):
    """:func:`record_decision`'s ``expected`` when the caller did not look first."""

    ANY = "any"


def decision_key(record: Mapping[str, Any] | None) -> tuple[str, ...] | None:
    """What identifies a decided verdict record (status, analyst, rationale, recorded_at,
    surrounding blanks ignored); None for no record or a record that is not a decision."""
    if record is None or record.get("status") not in DECIDED:
        return None
    return tuple(
        str(record.get(k) or "").strip() for k in ("status", "analyst", "rationale", "recorded_at")
    )


def same_analyst(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """True when both records name the same analyst (blanks and case ignored)."""
    return str(a.get("analyst") or "").strip().casefold() == (
        str(b.get("analyst") or "").strip().casefold()
    )


def describe(record: Mapping[str, Any]) -> str:
    """``legitimate by bob at 2024-…`` (plain text: escape it where it is shown)."""
    return (
        f"{record.get('status')} by {record.get('analyst') or '-'} at "
        f"{record.get('recorded_at') or '-'}"
    )


def _decision_lock(path: Path) -> int:
    """An exclusive lock that serializes read-compare-append by torinvest writers of ``path``
    (``<ledger>.lock`` beside it, :func:`_lock_path`; the ledger's own lock still guards each
    append). When another holds it, :func:`_waiting` is told before this waits."""
    lock = _lock_path(path)
    try:
        _make_folder(path)
        # O_NONBLOCK: a FIFO named as the lock is refused below, never waited on
        fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_NONBLOCK, 0o600)
    except OSError as e:
        try:  # a socket cannot be opened (ENXIO): say what it is
            not_a_file = _not_a_file_mode(os.stat(lock).st_mode)
        except OSError:
            not_a_file = None
        if not_a_file:
            raise _lock_not_a_file(path, lock, not_a_file) from None
        if not e.filename:
            e.filename = str(lock)
        raise _unwritable(path, e) from None
    try:
        not_a_file = _not_a_file(fd)
        if not_a_file:
            raise _lock_not_a_file(path, lock, not_a_file)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            _waiting(path, lock)
            fcntl.flock(fd, fcntl.LOCK_EX)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _waiting(path: Path, lock: Path) -> None:
    """Said when another torinvest holds the decision lock of the ledger ``path`` (recording a
    verdict, reading its finding again, or an archive's change call): this one waits for it."""
    log.info(
        "waiting for %s: another torinvest is recording a verdict or making a change over the "
        "ledger %s",
        lock,
        path,
    )


#: The decision locks this thread holds (lock path → depth): :func:`decision_lock` inside one
#: of its own (``record_decision`` within a verdict's critical section) does not wait on itself.
_held = threading.local()


#: Where the decision lock also sits in the ledger file itself (:func:`_inode_lock`): one byte
#: far past any ledger's end, never written.
_INODE_LOCK_BYTE = 1 << 62


def _inode_lock(path: Path) -> int | None:
    """Hold the decision lock on the ledger file itself, as an open file description lock
    (Linux ``F_OFD_SETLKW``) on one byte past any end (:data:`_INODE_LOCK_BYTE`): a lock of
    the file, not of a name, so that every name of the ledger — a hard link in another folder
    too, which ``<ledger>.lock`` beside each name does not see — takes this one. It is
    independent of the append's ``flock`` and of the readers' (no wait on itself), and is
    released when its descriptor closes. Returns that descriptor; None where there is nothing to
    lock (no ledger file yet: no second name can exist; not a regular file: the append refuses
    it) or no such locks (another system, a file system without them): ``<ledger>.lock`` alone
    then."""
    setlk = getattr(fcntl, "F_OFD_SETLK", None)
    setlkw = getattr(fcntl, "F_OFD_SETLKW", None)
    if setlk is None or setlkw is None:
        return None
    try:
        fd = os.open(path, os.O_RDWR | os.O_NONBLOCK)
    except OSError:  # none yet, or not writable: the append says so, naming it
        return None
    try:
        if _not_a_file(fd):
            os.close(fd)
            return None
        lock = struct.pack("hhqqi4x", fcntl.F_WRLCK, os.SEEK_SET, _INODE_LOCK_BYTE, 1, 0)
        try:
            fcntl.fcntl(fd, setlk, lock)
        except OSError as e:
            if e.errno not in (errno.EAGAIN, errno.EACCES):  # no such locks here
                os.close(fd)
                return None
            _waiting(path, path)
            fcntl.fcntl(fd, setlkw, lock)
    except BaseException:
        os.close(fd)
        raise
    return fd


@contextlib.contextmanager
def decision_lock(ledger: str | Path | None = None) -> Iterator[Path]:
    """Hold the ledger's decision lock (``<ledger>.lock``, exclusive) for one critical section
    — a verdict's finding re-read, the comparison with the ledger's current verdict and the
    append (:func:`record_decision`), or an archive's last look at the verdict and its change
    call — and yield the ledger's path. Every torinvest writer of the same ledger file waits
    for it, however it names the ledger (a symlink to it takes the same lock). Re-entrant in
    one thread."""
    path = Path(ledger).expanduser() if ledger else default_ledger_path()
    if path.is_dir():
        raise _unwritable(path, IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR)))
    key = str(_lock_path(path))
    held: dict[str, int] = _held.__dict__.setdefault("locks", {})
    if held.get(key):
        held[key] += 1
        try:
            yield path
        finally:
            held[key] -= 1
        return
    fd = _decision_lock(path)
    try:
        inode = _inode_lock(path)  # the file's own: every other name of it waits here too
    except BaseException:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
        raise
    held[key] = 1
    try:
        yield path
    finally:
        held.pop(key, None)
        if inode is not None:
            os.close(inode)
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _lock_not_a_file(path: Path, lock: Path, what: str) -> InputError:
    """The error for a decision lock (``<ledger>.lock``) that is not a regular file."""
    return InputError(
        f"cannot write the ledger {path}: its lock file {lock} is {what}, not a file",
        hint=f"nothing was recorded; remove {lock} (torinvest creates it as an empty file) or "
        "pass another --ledger FILE (or set TORINVEST_LEDGER)",
    )


def _lock_path(path: Path) -> Path:
    """``<ledger>.lock`` beside the ledger file itself: a ledger named through a symlink (one
    analyst's ``~/.local/share/torinvest/ledger.jsonl`` linked to the team's) takes the lock
    beside its target, the one every other name of it takes."""
    if path.is_symlink():
        path = Path(os.path.realpath(path))
    return path.with_name(path.name + ".lock")


def record_decision(
    verdict: Verdict,
    ledger: str | Path | None = None,
    *,
    expected: Mapping[str, Any] | Expect | None = Expect.ANY,
    supersede: bool = True,
) -> Recorded:
    """Record a *decided* verdict once, compare-and-append under the ledger's decision lock
    (nothing can slip in between reading the current verdict and appending):

    - the finding's current decided verdict already says the same (:func:`same_decision`):
      nothing is appended — re-running a notebook or pressing the button twice adds no record;
    - ``expected`` (the current decided verdict the caller decided upon, None for "none yet")
      is not the current one any more (:func:`decision_key`): nothing is appended (``refused``;
      the caller shows the current one, and may record again based on it);
    - ``supersede`` False and the current decided verdict is another analyst's
      (:func:`same_analyst`): nothing is appended (``refused``) — a notebook's parameters never
      replace someone else's decision unless asked to; an analyst's own is replaced;
    - else the verdict is appended and supersedes the current one, kept in the ledger.

    ``pending`` is not a verdict: it raises InputError (nothing is recorded).
    """
    if verdict.status not in DECIDED:
        raise InputError(
            f"{verdict.status} is not a verdict: nothing recorded",
            hint=f"record one of {', '.join(DECIDED)}",
        )
    with decision_lock(ledger) as path:
        records, issues = read_ledger(path)
        found = tuple(issues)
        current = latest_decided_verdict(records, verdict.finding_id)
        if current is not None and same_decision(current, verdict):
            log.info("verdict %s for %s already recorded", verdict.status, verdict.finding_id)
            return Recorded(record=dict(current), added=False, path=path, issues=found)
        why = _refusal(verdict, current, expected=expected, supersede=supersede)
        if why:
            log.info("verdict %s for %s not recorded: %s", verdict.status, verdict.finding_id, why)
            return Recorded(
                record=dict(current) if current is not None else {},
                added=False,
                path=path,
                refused=verdict.to_dict(),
                why=why,
                issues=found,
            )
        record_verdict(verdict, path)
    return Recorded(
        record=verdict.to_dict(), added=True, path=path, superseded=current, issues=found
    )


def _refusal(
    verdict: Verdict,
    current: Mapping[str, Any] | None,
    *,
    expected: Mapping[str, Any] | Expect | None,
    supersede: bool,
) -> str:
    """Why ``verdict`` may not be appended over ``current`` (:func:`record_decision`), else
    ``""``."""
    if not isinstance(expected, Expect) and decision_key(expected) != decision_key(current):
        return "the current verdict changed since this was drawn: it is now " + (
            describe(current) if current is not None else "none"
        )
    if not supersede and current is not None and not same_analyst(current, verdict.to_dict()):
        return f"it would supersede another analyst's verdict: {describe(current)}"
    return ""


def current_verdicts(
    records: Sequence[Mapping[str, Any]], clock: pd.Timestamp | None = None
) -> list[dict[str, Any]]:
    """The current verdict of every finding in the ledger (:func:`latest_verdict`), newest
    first (the last appended first), each with ``clock`` (:func:`clock_behind`, else None) and
    ``clock_ahead`` (:func:`clock_ahead` of ``clock``, default now, else None) — and every
    :func:`malformed` record, and every copy of a record other than the current verdict
    (:func:`duplicates`: ``state`` ``duplicate``), appended after its finding's current verdict
    (or on a finding without one): it is not the current verdict, but the analyst who wrote it
    may think it is, so it is shown, flagged, where they would look."""
    return [
        r
        for r, after_current, of_current in _states(records, clock)
        if r["state"] == "current"
        or (after_current and r["state"] == "malformed")
        or (after_current and r["state"] == "duplicate" and not of_current)
    ]


def verdict_states(
    records: Sequence[Mapping[str, Any]], clock: pd.Timestamp | None = None
) -> list[dict[str, Any]]:
    """Every verdict record, newest first (the last appended first), each with ``state``:
    ``current`` (the finding's current verdict), ``superseded`` (a decision a later one
    replaced) or ``not a decision`` (a ``pending`` record: it never supersedes a decided
    verdict) or ``malformed`` (:func:`malformed`: never current; ``problem`` says why, else
    None) or ``duplicate`` (a copy of an earlier record, :func:`duplicates`: never current,
    supersedes nothing; ``duplicate`` says of which, else None); ``clock``: a record whose
    ``recorded_at`` is earlier than the finding's record before it says by how much
    (:func:`clock_behind`), else None; ``clock_ahead``: a record whose ``recorded_at`` is after
    ``clock`` (default now) by more than :data:`CLOCK_SLACK` says by how much
    (:func:`clock_ahead`), else None."""
    return [r for r, _, _ in _states(records, clock)]


def _states(
    records: Sequence[Mapping[str, Any]], clock: pd.Timestamp | None
) -> list[tuple[dict[str, Any], bool, bool]]:
    """:func:`verdict_states`' rows, each with whether it was appended after its finding's
    current verdict (or the finding has none), and whether it is a copy of that verdict."""
    now = clock if clock is not None else pd.Timestamp.now(tz="UTC")
    out: list[tuple[int, dict[str, Any], bool, bool]] = []
    mine: dict[str, list[tuple[int, Mapping[str, Any]]]] = {}
    for position, r in enumerate(records):
        if r.get("kind") == "verdict":
            mine.setdefault(str(r.get("finding_id")), []).append((position, r))
    for history in mine.values():
        problems = [malformed(r) for _, r in history]
        copies = duplicates([r for _, r in history])
        valid = [i for i, p in enumerate(problems) if p is None and copies[i] is None]
        decided = [i for i in valid if history[i][1].get("status") in DECIDED]
        current = decided[-1] if decided else valid[-1] if valid else -1  # as latest_verdict
        for i, (position, r) in enumerate(history):
            copy = copies[i]
            state = (
                "malformed"
                if problems[i] is not None
                else "duplicate"
                if copy is not None
                else "current"
                if i == current
                else "superseded"
                if r.get("status") in DECIDED
                else "not a decision"
            )
            row = {
                **r,
                "state": state,
                "clock": clock_behind(history[i - 1][1] if i else None, r),
                "clock_ahead": clock_ahead(r, now),
                "problem": problems[i],
                "duplicate": _copy_note(history[copy][1]) if copy is not None else None,
            }
            out.append((position, row, i > current, copy is not None and copy == current))
    return [(r, a, c) for _, r, a, c in sorted(out, key=lambda item: item[0], reverse=True)]


def _copy_note(original: Mapping[str, Any]) -> str:
    """What a :func:`duplicates` copy of ``original`` is (plain text: escape it where shown)."""
    return (
        f"a copy of an earlier record ({describe(original)}): the same line pasted twice? It "
        "is not a new decision: it is never the current verdict and supersedes nothing"
    )


def _a(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"
