"""The entry point (:func:`load_logs`): list, read, build the events frame, follow minted keys."""

from __future__ import annotations

import contextlib
import logging
import tempfile
from collections.abc import Collection, Iterable, Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm import tqdm  # text bars on a terminal only (tqdm.auto would put widgets in reports)

from torinvest.addresses import same_or_canonical
from torinvest.aws import Aws
from torinvest.aws.ids import access_key_set
from torinvest.errors import DataIssue, InputError
from torinvest.schema import time_window
from torinvest.sources.logs.archive import fold_archived
from torinvest.sources.logs.listing import content_twins, list_logs, twin_candidates, twins_note
from torinvest.sources.logs.model import (
    DEFAULT_MAX_FILE_BYTES,
    SOURCE,
    BatchOut,
    FileCounts,
    KnownRegions,
    LogFile,
    LogsResult,
    Narrowing,
    ReadOptions,
)
from torinvest.sources.logs.pool import _Runner, default_workers, spooled
from torinvest.sources.logs.read import file_accounts, read_local, read_log_records
from torinvest.sources.records import (
    MAX_DERIVED_ROUNDS,
    DerivedKey,
    duplicate_issues,
    early_use_issues,
    follow_minted,
    frame_from_tables,
)
from torinvest.sources.records.origin import mints_of, own_rows
from torinvest.sources.records.passwords import (
    MAX_PASSWORD_ROUNDS,
    ConsolePassword,
    SignIn,
    console_passwords,
    console_sessions,
    sign_ins,
    with_mfa,
)
from torinvest.sources.records.table import records_table

log = logging.getLogger(__name__)
#: How many times :func:`load_logs` re-reads the files for keys minted by minted keys.
MAX_DERIVED_PASSES = MAX_DERIVED_ROUNDS  # the name it had: the log files' rounds


# --------------------------------------------------------------------------------------------
# the entry point
# --------------------------------------------------------------------------------------------
def _key_set(keys: str | Iterable[str] | None) -> frozenset[str] | None:
    if keys is None:
        return None
    return access_key_set(keys)


def file_failures(issues: Iterable[DataIssue], files: Iterable[LogFile]) -> dict[str, str]:
    """The files nothing could be read from (location → the first problem): see
    :func:`file_states`."""
    return file_states(issues, files)[0]


def file_states(
    issues: Iterable[DataIssue], files: Iterable[LogFile | str]
) -> tuple[dict[str, str], dict[str, str]]:
    """The listed files an issue names (location → its first problem), in two: those nothing
    could be read from (an issue marked ``unread``: not downloaded, not decompressed, not JSON,
    not CloudTrail, too large) and those read with issues (records without a time, a damaged
    file whose whole records were kept, invalid UTF-8 replaced, entries or lines skipped). An
    issue of a line (``path:6``) is its file's (``files``: the listed files, or their
    locations). Both in the files' order (whatever order the
    issues came in: every engine counts them in the same words, :meth:`FileCounts.reasons`)."""
    order = {f if isinstance(f, str) else f.location: n for n, f in enumerate(files)}
    failed: dict[str, str] = {}
    flawed: dict[str, str] = {}
    for issue in issues:
        where = _file_of(issue.source, order)
        if where is not None:
            (failed if issue.unread else flawed).setdefault(where, issue.problem)
    return (
        {k: failed[k] for k in sorted(failed, key=order.__getitem__)},
        {k: flawed[k] for k in sorted(flawed, key=order.__getitem__) if k not in failed},
    )


def _file_of(source: str, locations: Collection[str]) -> str | None:
    if source in locations:
        return source
    head, sep, line = source.rpartition(":")
    return head if sep and line.isdigit() and head in locations else None


def load_logs(
    sources: str | Path | Sequence[str | Path],
    *,
    access_keys: str | Iterable[str] | None = None,
    start: datetime | str | pd.Timestamp | None = None,
    end: datetime | str | pd.Timestamp | None = None,
    accounts: Iterable[str] | None = None,
    regions: Iterable[str] | None = None,
    follow_derived: bool = False,
    aws: Aws | None = None,
    workers: int | None = None,
    progress: bool | None = None,
    max_file_bytes: int | None = None,
    source_ips: Iterable[str] | None = None,
    known: KnownRegions | None = None,
    watch: Iterable[str] = (),
) -> LogsResult:
    """The events frame from CloudTrail log files in folders, files or ``s3://`` prefixes.

    ``source_ips`` keeps the records from those addresses (``sourceIPAddress``, compared as
    addresses: any spelling of an IPv6 address, an IPv4 one written as IPv6; files are
    searched for their bytes first, as for keys).

    ``access_keys`` keeps the records made with those keys (``userIdentity.accessKeyId``);
    ``start``/``end`` (UTC when naive) keep records in that window and, with ``accounts`` and
    ``regions``, narrow which files are read at all; ``regions`` also drops records of other
    regions (those without ``awsRegion`` are kept). ``follow_derived`` also loads the activity
    of temporary keys minted by the keys (GetSessionToken, AssumeRole…), re-reading the files
    for them (S3 objects are downloaded once, to a temporary folder deleted at the end); those
    rows have ``derived`` True. ``workers`` processes parse (default: one per
    core); ``progress`` shows a bar over files (default: only on a terminal).
    ``max_file_bytes`` is the most one file may hold once decompressed (default
    :data:`DEFAULT_MAX_FILE_BYTES`): a larger file is a data issue, not read.
    ``known``: the regions the key is known to have called (a finding's): with no ``regions``,
    a ``CloudTrail/`` folder (of its account) with no folder for one is a data issue
    (:func:`~torinvest.sources.logs.coverage.coverage_issues`); they narrow nothing.
    ``watch``: event names (with ``access_keys``) whose calls by anyone else — not the keys,
    not the keys they minted — in the window are read in the same pass, apart
    (``result.watched``: who else turned off the logging).

    Raises :class:`~torinvest.errors.InputError` for a missing path and
    :class:`~torinvest.errors.AwsError` when an S3 prefix cannot be listed. Everything else is
    a data issue in the result, and the rest loads: a path in a folder that cannot be looked
    at, a file that cannot be read or decompressed, is damaged (what it held whole is
    loaded), is not CloudTrail or is past the size limit — whether or not it holds a key: a
    file that could not be read cannot be shown not to —; records without a usable time
    (kept, NA time, whatever the window); invalid UTF-8 bytes (replaced, the records kept);
    different records sharing an eventID (all kept).
    """
    keys = _key_set(access_keys)
    if follow_derived and not keys:
        raise InputError("follow_derived needs access_keys", hint="name the suspect access key")
    first, last = time_window(start, end, names=("start", "end"))  # a date-only end: its day
    narrowing = Narrowing(
        accounts=frozenset(accounts) if accounts else None,
        regions=frozenset(regions) if regions else None,
        start=first,
        end=last,
        known=known,
        keys=keys,
    )
    limit = DEFAULT_MAX_FILE_BYTES if max_file_bytes is None else max_file_bytes
    if limit <= 0:
        raise InputError(
            f"invalid file size limit {limit}", hint="a number of bytes > 0, e.g. 1073741824"
        )
    listing = list_logs(sources, narrowing, aws=aws)
    files, skipped, roots = listing.files, listing.skipped, listing.roots
    if any(f.bucket for f in files) and aws is None:
        aws = Aws()
    options = ReadOptions(
        keys=keys,
        start=narrowing.start,
        end=narrowing.end,
        max_bytes=limit,
        mints=keys or frozenset(),
        watch=frozenset(watch) if keys else frozenset(),
        twins=twin_candidates(files),
    )
    if source_ips is not None:
        given = frozenset(source_ips)
        if not given or not all(isinstance(ip, str) and ip for ip in given):
            raise InputError(f"invalid source IP filter {sorted(given)!r}", hint="name an address")
        # an address matches however a record writes it (2001:0470::… is 2001:470::…)
        options = replace(options, ips=frozenset(str(same_or_canonical(ip)) for ip in given))
    n_workers = workers or default_workers()
    with contextlib.ExitStack() as stack:
        spool = None
        if follow_derived and any(f.bucket for f in files):  # downloaded once, read per pass
            spool = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="torinvest-s3-")))
        pieces = _read_all(files, options, n_workers, aws, progress, spool)
        matched = sum(p.matched for p in pieces)  # files holding the keys (the first pass)
        data_events = sum(p.data_events for p in pieces)  # anyone's, in the files (once)
        answers = {a for p in pieces for a in p.answers}  # saved LookupEvents answers (once)
        regions_of = {loc: r for p in pieces for loc, r in p.answer_regions.items()}
        scoped = {loc: s for p in pieces for loc, s in p.scoped.items()}
        copies = {loc: k for p in pieces for loc, k in p.copies.items()}
        old_copies = [loc for p in pieces for loc in p.old_copies]
        # the first pass's only, in the order the events frame takes its pieces (of copies of
        # a record, the first file's is kept, as there)
        watched = [w for p in sorted(pieces, key=lambda p: p.first) for w in p.watched]
        prints = {loc: v for p in pieces for loc, v in p.prints.items()}  # the first pass's
        minted: list[DerivedKey] = []
        malformed: list[DataIssue] = []
        found_sign_ins: list[SignIn] = []
        searched: frozenset[str] = frozenset()
        unread: dict[str, str] = {}
        if follow_derived:
            chain = _Chain(files, options, n_workers, aws, progress, spool, malformed)
            minted = chain.follow(pieces)
            pieces += chain.pieces
            found_sign_ins, searched, unread = chain.sign_ins, chain.searched, chain.unread
    result = LogsResult(
        frame=pd.DataFrame(),
        files_read=len(files),
        files_skipped=skipped,
        files_matched=matched if keys else None,
        bytes_read=sum(f.size for f in files),
        sources=roots,
        files=[f.location for f in files],
        keys=keys,
        derived=minted,
        sign_ins=found_sign_ins,
        sign_ins_searched=searched,
        sign_ins_unread=unread,
    )
    ordered = sorted(pieces, key=lambda p: p.first)
    result.issues = listing.failed + listing.unreadable
    result.issues += list(dict.fromkeys(i for p in ordered for i in p.issues))
    result.issues += listing.empty
    result.issues += listing.gaps
    result.issues += list(dict.fromkeys(malformed))
    result.notes = list(listing.notes)
    result.asides = list(listing.asides)
    # copies told once read (another ETag, another compression): their events are the files'
    # they copy (the frame keeps one of each record), and so are the files and data events
    twins = content_twins({loc: v[0] for loc, v in prints.items()}, files)
    if twins:
        result.asides.append(twins_note(twins))
        data_events -= sum(prints[copy][1] for copy, _ in twins)
        copied = {copy for copy, _ in twins}
        files = [f for f in files if f.location not in copied]
    failed, flawed = file_states(result.issues, files)
    accounts, unplaced = file_accounts(files, failed, limit)
    result.counts = FileCounts(
        listed=len(files),
        skipped=skipped,
        failed=failed,
        trails=list(listing.trails),
        with_issues=flawed,
        accounts=accounts,
        unplaced=unplaced,
        data_events=data_events,
        lookup_answers=len(answers - failed.keys()),
        lookup_regions={loc: r for loc, r in regions_of.items() if loc not in failed},
        lookup_scoped={loc: s for loc, s in scoped.items() if loc not in failed},
        log_group_copies={loc: k for loc, k in copies.items() if loc not in failed},
        log_group_old=[loc for loc in old_copies if loc not in failed],
        trail_names=list(listing.trail_names),
    )
    tables = [p.table for p in ordered if p.table is not None]
    for p in ordered:
        p.table = None
    derived = {d.access_key_id for d in result.derived}
    result.frame = frame_from_tables(
        tables, derived_keys=derived if keys else None, consume=True, issues=result.issues
    )
    if keys:  # the records that minted the keys: who minted them, not the keys' activity
        result.mints = mints_of(result.frame, keys)
        result.frame = own_rows(result.frame, keys | derived)
    if narrowing.regions:
        result.frame = keep_regions(result.frame, narrowing.regions)
        result.sign_ins = [
            s for s in result.sign_ins if s.aws_region is None or s.aws_region in narrowing.regions
        ]
    if options.watch:
        result.watched = _watched_frame(watched, keys | derived, narrowing, result.issues)
    result.issues += early_use_issues(result.frame, result.derived)
    # counted per file above; said once per region folder (how many, which days, how to restore)
    result.issues = fold_archived(result.issues)
    log.info(
        "logs: %d files read, %d skipped, %d rows, %d issues",
        result.files_read,
        result.files_skipped,
        len(result.frame),
        len(result.issues),
    )
    return result


def keep_regions(frame: pd.DataFrame, regions: Iterable[str]) -> pd.DataFrame:
    """The rows of ``frame`` whose ``aws_region`` is one of ``regions`` (or unknown)."""
    region = frame["aws_region"]
    keep = region.isna() | region.isin(list(regions))
    return frame if bool(keep.all()) else subset(frame, keep.to_numpy(dtype=bool))


def subset(frame: pd.DataFrame, keep: Any) -> pd.DataFrame:
    """The rows of an events frame where ``keep`` is True, its categoricals holding only the
    values left (a category of a dropped row would show as an empty group)."""
    out = frame[keep].reset_index(drop=True)
    for name in out.columns:
        if isinstance(out[name].dtype, pd.CategoricalDtype):
            out[name] = out[name].cat.remove_unused_categories()
    return out


def _read_all(
    files: Sequence[LogFile],
    options: ReadOptions,
    workers: int,
    aws: Aws | None,
    progress: bool | None,
    spool: Path | None = None,
) -> list[BatchOut]:
    runner = _Runner(files, options, workers=workers, aws=aws, spool=spool)
    disable = None if progress is None else not progress  # None: only on a terminal

    def bar() -> tqdm:
        return tqdm(total=len(files), unit="file", desc="CloudTrail logs", disable=disable)

    return runner.run(bar)


class _Chain:
    """Following what the keys minted through the log files (``follow_derived``): the keys
    they minted, round after round (:func:`~torinvest.sources.records.follow_minted`, re-reading
    the files for each round: S3 objects from ``spool``, where the first pass left them); the
    console passwords those keys set, whose users' sign-ins and console sessions are read in a
    pass of their own (:func:`_read_sign_ins`); then what those console sessions minted in turn
    — keys (CreateAccessKey, AssumeRole, GetSessionToken… called in the console: followed as
    derived keys are) and passwords set from the console (another user's sign-ins, another
    pass) —, at most :data:`~torinvest.sources.records.passwords.MAX_PASSWORD_ROUNDS` sign-in
    passes: a password found past them is not read, and why (``unread``).

    What following found wrong (a minted value that is not an access key ID, a mint not
    recorded, keys past the limit) is an issue in ``malformed``; ``pieces`` are the passes'
    pieces after the first (ordered after it, pass by pass)."""

    def __init__(
        self,
        files: Sequence[LogFile],
        options: ReadOptions,
        workers: int,
        aws: Aws | None,
        progress: bool | None,
        spool: Path | None,
        malformed: list[DataIssue],
    ) -> None:
        assert options.keys is not None
        self.files, self.options, self.workers = files, options, workers
        self.aws, self.progress, self.spool, self.malformed = aws, progress, spool, malformed
        self.pieces: list[BatchOut] = []
        #: every key followed (the keys, those minted, the console sessions)
        self.every: set[str] = set(options.keys)
        #: the console passwords the keys followed set (by any of them)
        self.passwords: list[ConsolePassword] = []
        #: the sign-ins read, the users whose sign-ins and sessions were, and those that were
        #: not (user → why)
        self.sign_ins: list[SignIn] = []
        self.searched: frozenset[str] = frozenset()
        self.unread: dict[str, str] = {}
        self._passes = 0

    def read(self, options: ReadOptions) -> list[BatchOut]:
        """One more pass over the files, its pieces ordered after the passes before."""
        self._passes += 1
        latest = _read_all(self.files, options, self.workers, self.aws, self.progress, self.spool)
        for p in latest:
            p.first += self._passes * len(self.files)
        self.pieces.extend(latest)
        return latest

    def fetch(self, new: list[DerivedKey]) -> pd.DataFrame:
        """The calls of the keys ``new`` (their mints are the pass before's); the passwords they
        set are added."""
        keys = frozenset(d.access_key_id for d in new)
        latest = self.read(replace(self.options, keys=keys, mints=frozenset(), watch=frozenset()))
        frame = frame_from_tables([p.table for p in latest if p.table is not None])
        self.every.update(keys)
        self.passwords.extend(console_passwords(frame, self.every))  # set by a minted key
        return frame

    def follow(self, first_pieces: Sequence[BatchOut]) -> list[DerivedKey]:
        """Follow from the first pass's pieces (the keys' calls): the keys found, in the order
        found (the console sessions among them, minted by ``ConsoleLogin``)."""
        keys = self.options.keys
        assert keys is not None
        first = frame_from_tables([p.table for p in first_pieces if p.table is not None])
        first = own_rows(first, keys)  # not the records that minted the keys
        self.passwords.extend(console_passwords(first, self.every))
        found = follow_minted(first, keys, self.fetch, self.malformed)
        for n in range(MAX_PASSWORD_ROUNDS + 1):
            users = {p.user_name for p in self.passwords} - self.searched
            if not users:  # a pass of its own, only when a key set a console password
                break
            if n == MAX_PASSWORD_ROUNDS:
                self._cut(users)
                break
            signed, sessions, calls = _read_sign_ins(self, frozenset(users))
            self.sign_ins += signed
            self.searched |= users
            new = [d for d in sessions if d.access_key_id not in self.every]
            found += new
            self.every |= {d.access_key_id for d in new}
            # what the console sessions did: passwords set from the console, keys minted there
            self.passwords.extend(console_passwords(calls, {d.access_key_id for d in sessions}))
            found += follow_minted(calls, self.every, self.fetch, self.malformed)
        return found

    def _cut(self, users: Collection[str]) -> None:
        """The users whose passwords were found after the last sign-in pass: not read, said."""
        for user in sorted(users):
            by = sorted({p.set_by or "(no key)" for p in self.passwords if p.user_name == user})
            self.unread[user] = (
                f"the password was set with {', '.join(by)}, found after the "
                f"{MAX_PASSWORD_ROUNDS} pass(es) over the log files for console sign-ins that "
                "following allows (the limit: each pass reads the users of the passwords set "
                "from the console sessions the pass before read): its sign-ins and console "
                "sessions' calls were not read"
            )


def _read_sign_ins(
    chain: _Chain, users: frozenset[str]
) -> tuple[list[SignIn], list[DerivedKey], pd.DataFrame]:
    """Read the files once more for the console sign-ins (ConsoleLogin) of ``users`` (of a
    password the chain's keys set), and their console sessions' calls: a sign-in record holds
    no access key, and a console session's key was minted by no call, so no pass by key holds
    them. Returns the sign-ins, with ``MFAUsed`` read again from the few files that hold them
    (:func:`_mfa_of`), the sessions the passwords gave
    (:func:`~torinvest.sources.records.console_sessions`: followed as derived keys) and those
    sessions' calls (an events frame: what they minted is followed in turn). The pass's pieces
    are the chain's (their issues are the files'; the sign-ins and the sessions not begun
    after a password are taken out of the frame with every row not of the keys)."""
    wanted = replace(
        chain.options, keys=frozenset(), mints=frozenset(), users=users, watch=frozenset()
    )
    pieces = chain.read(wanted)
    frame = frame_from_tables([p.table for p in pieces if p.table is not None])
    found = _mfa_of(sign_ins(frame, users), chain.files, wanted, chain.spool)
    sessions = console_sessions(frame, chain.passwords, found)
    calls = own_rows(frame, {d.access_key_id for d in sessions})
    return found, sessions, calls


def _watched_frame(
    watched: Sequence[tuple[str, dict[str, Any]]],
    keys: frozenset[str],
    narrowing: Narrowing,
    issues: list[DataIssue] | None = None,
) -> pd.DataFrame:
    """The watched calls (file, record) as an events frame: not of ``keys`` (the keys minted
    are known only after the first pass), in the window and the regions asked. Made as the
    events frame is (:func:`~torinvest.sources.records.frame_from_tables`, converted once):
    copies of a record — in one file or across files (a trail copied under two prefixes,
    another ETag, a gunzipped copy beside the .gz) — kept once (the first file's), different
    records sharing an eventID all kept and named in ``issues``; in event_time order (no time:
    last), the events frame's dtypes."""
    by_file: dict[str, list[dict[str, Any]]] = {}
    for name, rec in watched:
        ident = rec.get("userIdentity")
        if isinstance(ident, dict) and ident.get("accessKeyId") in keys:
            continue
        by_file.setdefault(name, []).append(rec)
    tables = [records_table(recs, source=SOURCE, origin=name) for name, recs in by_file.items()]
    frame = frame_from_tables(tables, consume=True)
    if len(frame) and (narrowing.start is not None or narrowing.end is not None):
        times = frame["event_time"]
        inside = times.notna()
        if narrowing.start is not None:
            inside &= times >= narrowing.start
        if narrowing.end is not None:
            inside &= times <= narrowing.end
        if not bool(inside.all()):
            frame = subset(frame, inside.fillna(False).to_numpy(dtype=bool))
    if narrowing.regions:
        frame = keep_regions(frame, narrowing.regions)
    if issues is not None:  # of the calls kept (none shared an eventID: found at no cost)
        issues += [i for i in duplicate_issues(frame) if i not in issues]
    return frame


def _mfa_of(
    found: list[SignIn], files: Sequence[LogFile], options: ReadOptions, spool: Path | None
) -> list[SignIn]:
    """``found`` with ``additionalEventData.MFAUsed`` (not a column of the events frame) read
    from the files that hold them — a local file, or an S3 object the passes left in
    ``spool``; a file that cannot be read again leaves ``mfa_used`` unknown (None)."""
    origins = {s.origin for s in found if s.origin}
    records: list[dict[str, Any]] = []
    for f in files:
        if f.location not in origins:
            continue
        if f.bucket is None:
            raw = read_local(f.location, options.max_bytes)
        elif spool is not None:
            kept = spooled(spool, f.location)
            raw = kept.read_bytes() if kept.is_file() else None
        else:  # pragma: no cover - the sign-in pass runs with a spool for S3 files
            raw = None
        if isinstance(raw, bytes):
            records += read_log_records(raw, f.location, options)[0]
    return with_mfa(found, records)
