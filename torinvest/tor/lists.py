"""Exit-list files, folders and tar archives, the bundled history and the cache, loaded as
one :class:`ExitLists` (:func:`load_exit_lists`).
"""

from __future__ import annotations

import functools
import json
import logging
import lzma
import re
import tarfile
import zlib
from collections.abc import Iterator
from dataclasses import replace
from datetime import date, datetime
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from torinvest.errors import DataIssue
from torinvest.inflate import DAMAGED, DEFAULT_LIMIT, TooLargeError, inflate, mib
from torinvest.tor.parsers import (
    _LINE_EXAMPLES,
    _exit_address_pairs,
    _line_count,
    _pair_ok,
    _pairs_frame,
    _tordnsel_bad_lines,
    _tordnsel_looks_clean,
    cut_short,
    parse_intervals,
    parse_plain_list,
    parse_tordnsel,
    skipped_lines_problem,
)
from torinvest.tor.records import (
    MIN_EXITS,
    SHORT_SHARE,
    SINGLE_FORMATS,
    ExitListError,
    ExitLists,
    ListFormat,
    ListKind,
    ListSource,
    RefreshResult,
    _concat,
    _date_from_name,
    _dedupe,
    ipv4_count,
    names_of,
    normalize_ip,
    short_lists,
)
from torinvest.tor.snapshot import read_snapshot, snapshot_key, write_snapshot

log = logging.getLogger(__name__)


BUNDLED_PACKAGE_DIR = ("data", "tor")
_ARCHIVE_SUFFIXES = (".tar", ".tar.xz", ".txz", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tbz")
_DOC_NAME_RE = re.compile(r"^(provenance|licen[cs]e|readme|copying|notice)\b", re.IGNORECASE)
_DOC_SUFFIXES = (".md", ".rst")
_INDEX_NAME = "INDEX.json"
#: The most bytes one exit list (a file, or a member of an archive) may inflate to.
MAX_LIST_BYTES = DEFAULT_LIMIT
_BOM = b"\xef\xbb\xbf"
#: How much of a list is searched for a line that tells its format.
_SNIFF_BYTES = 1 << 20
_CHUNK = 1 << 16
#: How far past the time of loading an observation may be (clocks differ a little): later
#: observations are a data issue and not used; an interval still open then ends there.
FUTURE_MARGIN = pd.Timedelta(hours=1)


# --------------------------------------------------------------------------------------------
# files
# --------------------------------------------------------------------------------------------
def _is_archive(name: str) -> bool:
    return name.lower().endswith(_ARCHIVE_SUFFIXES)


def _skipped(name: str) -> bool:
    """Documentation, licences and hidden files are not lists."""
    base = Path(name).name
    return (
        base.startswith(".")
        or base == _INDEX_NAME
        or base.lower().endswith(_DOC_SUFFIXES)
        or bool(_DOC_NAME_RE.match(base))
    )


def _decompress(data: bytes, where: str) -> bytes:
    """gzip / xz / bzip2 content (recognized by its magic bytes) decompressed, at most
    :data:`torinvest.inflate.DEFAULT_LIMIT` bytes of it; other bytes as is."""
    try:
        return inflate(data, MAX_LIST_BYTES)
    except TooLargeError as e:
        raise ExitListError(where, f"{e} (a decompression bomb?): not read") from None
    except DAMAGED as e:
        raise ExitListError(where, f"damaged compressed file: {e}") from None


def _sniff(data: bytes) -> Literal["tordnsel", "plain", "interval"] | None:
    """The format of a list, from its first line that tells (lines that tell nothing, such as a
    bad first line, are passed over: the parser counts them); None when none does."""
    seen = 0
    for size in (_CHUNK, _SNIFF_BYTES):
        for raw in data[seen:size].splitlines():
            fmt = _line_format(raw.strip())
            if fmt is not None:
                return fmt
        seen = size
        if len(data) <= size:
            break
        seen = data.rfind(b"\n", 0, size) + 1  # the cut line is read again, whole
    return None


def _line_format(text: bytes) -> Literal["tordnsel", "plain", "interval"] | None:
    if not text or text.startswith(b"#"):
        return None
    if text.startswith((b"@type tordnsel", b"ExitNode ", b"ExitAddress ", b"Downloaded ")):
        return "tordnsel"
    low = text.lower()
    if low.startswith(b"ip,") and b"first_seen" in low:
        return "interval"
    try:
        first = text.decode("ascii").split()[0]
    except (UnicodeDecodeError, IndexError):
        return None
    return "plain" if normalize_ip(first) is not None else None


def _prepare(data: bytes, where: str) -> tuple[bytes, Literal["tordnsel", "plain", "interval"]]:
    """Decompressed content and its format; ExitListError when it is not an exit list."""
    data = _decompress(data, where).removeprefix(_BOM)
    if not data.strip():
        raise ExitListError(where, "empty file")
    fmt = _sniff(data)
    if fmt is None:
        raise ExitListError(
            where,
            "not a Tor exit list (no ExitNode/ExitAddress lines, not one IP address a line, "
            "not an ip,first_seen_utc,last_seen_utc CSV)",
        )
    return data, fmt


def _parse(
    data: bytes,
    fmt: Literal["tordnsel", "plain", "interval"],
    *,
    where: str,
    list_name: str,
    observed: date | datetime | str | None = None,
) -> tuple[pd.DataFrame, list[str]]:
    if fmt == "tordnsel":
        return parse_tordnsel(data, list_name=list_name)
    if fmt == "interval":
        return parse_intervals(data, list_name=list_name)
    when = observed if observed is not None else _date_from_name(where)
    if when is None:
        raise ExitListError(
            where,
            "a plain IP list without a date",
            hint="put the list's UTC date in its file name, e.g. exits-2023-07-10.txt",
        )
    return parse_plain_list(data, observed=when, list_name=list_name)


def cut_issue(where: str, why: str) -> DataIssue:
    """The issue of a list cut short (:func:`~torinvest.tor.parsers.cut_short` says ``why``)."""
    return DataIssue(
        where,
        f"the file is cut short ({why}): the rest of the list is missing, so its addresses mark "
        "IPs as Tor but it does not rule Tor out (where only cut lists cover a time, the answer "
        "is unknown); get the whole file again",
    )


def short_issue(source: ListSource, ref: ListSource, exits: int, ref_exits: int) -> DataIssue:
    """The issue of a list taken as cut at the end of a line (:func:`short_lists`)."""
    return DataIssue(
        source.path,
        f"it names {exits:,} IPv4 exit(s), fewer than {SHORT_SHARE:.0%} of the {ref_exits:,} "
        f"named by {ref.name} ({ref.last_seen:%Y-%m-%d %H:%M}Z), the list nearest it in time: "
        "it is taken as cut short at the end of a line (a download or a copy that stopped "
        "early), so its addresses mark IPs as Tor but it does not rule Tor out (where only such "
        "lists cover a time, the answer is unknown); download it again, or check the copy "
        "against where it came from",
    )


def mark_short(lists: ExitLists) -> ExitLists:
    """``lists`` with the single lists :func:`short_lists` takes as cut no longer ruling Tor out
    (``rules_out`` False, ``short_of`` naming the list compared with), one issue each."""
    short = short_lists(lists)
    if not short:
        return lists
    sources = []
    for s in lists.sources:
        if s.name in short:
            ref, exits, ref_exits = short[s.name]
            lists.issues.append(short_issue(s, ref, exits, ref_exits))
            s = replace(s, rules_out=False, short_of=ref.name)
        sources.append(s)
    lists.sources[:] = sources
    return lists


def cut_list_name(list_name: str) -> str:
    """The ``list`` name of what an archive's cut members add (a source that cannot rule out)."""
    return f"{list_name} (cut members)"


def _read_archive(path: Path, list_name: str) -> tuple[pd.DataFrame, list[DataIssue]]:
    """Every list inside a tar archive (read member by member, nothing extracted), deduplicated.

    TorDNSEL members (CollecTor's hourly lists) go through :func:`_exit_address_pairs`; the same
    (address, time) repeats in consecutive hourly lists and is kept once. What only members cut
    short add is named :func:`cut_list_name` (it cannot rule Tor out).
    """
    cut_name = cut_list_name(list_name)
    cut_pairs: set[tuple[bytes, bytes]] = set()
    pairs: set[tuple[bytes, bytes]] = set()
    bad_pairs: set[tuple[bytes, bytes]] = set()
    frames: list[pd.DataFrame] = []
    issues: list[DataIssue] = []
    bad_lines = 0
    total_lines = 0
    examples: list[str] = []
    first_bad: str | None = None
    try:
        with tarfile.open(path, mode="r:*") as tar:
            for member in tar:
                if not member.isfile() or _skipped(member.name):
                    continue
                where = f"{path}:{member.name}"
                if member.size > MAX_LIST_BYTES:
                    problem = f"it holds more than {mib(MAX_LIST_BYTES)} (a decompression bomb?)"
                    issues.append(DataIssue(where, f"{problem}: not read"))
                    continue
                handle = tar.extractfile(member)
                if handle is None:
                    continue
                try:
                    data, fmt = _prepare(handle.read(), member.name)
                    cut = cut_short(data, fmt)
                    if fmt != "tordnsel":
                        name = list_name if cut is None else cut_name
                        frame, problems = _parse(data, fmt, where=member.name, list_name=name)
                        frames.append(frame)
                        issues.extend(DataIssue(where, p) for p in problems)
                        issues.extend([cut_issue(where, cut)] if cut is not None else [])
                        continue
                except ExitListError as e:
                    issues.append(e.issue(where))
                    continue
                found, lines = _exit_address_pairs(data)
                member_pairs = set(found)
                fresh = member_pairs - pairs  # hourly lists repeat most of the previous one
                if bad_pairs:
                    fresh -= bad_pairs
                newly_bad = {p for p in fresh if not _pair_ok(p)}
                bad_pairs |= newly_bad
                kept = len(found) if not bad_pairs else len(member_pairs - bad_pairs)
                if not kept:
                    problem = "not a Tor exit list: no readable ExitAddress line"
                    issues.append(DataIssue(where, problem))
                    continue
                total_lines += _line_count(data)
                if not (
                    _tordnsel_looks_clean(data, lines, len(found))
                    and (not bad_pairs or member_pairs.isdisjoint(bad_pairs))
                ):
                    bad, first = _tordnsel_bad_lines(data)
                    bad_lines += len(bad)
                    examples += [f"{member.name}:{n}" for n in bad[:_LINE_EXAMPLES]]
                    first_bad = first_bad if first_bad is not None else first
                if cut is None:
                    pairs |= fresh - newly_bad
                else:
                    cut_pairs |= fresh - newly_bad
                    issues.append(cut_issue(where, cut))
    except (tarfile.TarError, OSError, EOFError, lzma.LZMAError, zlib.error) as e:
        issues.append(DataIssue(str(path), f"damaged archive: {e}"))
    if bad_lines:
        why = "not a TorDNSEL line, or an unreadable address or time"
        problem = skipped_lines_problem(bad_lines, total_lines, why, examples, first_bad)
        issues.append(DataIssue(str(path), problem))
    if pairs:
        frame, _ = _pairs_frame(pairs, list_name)
        frames.append(frame)
    if cut_pairs - pairs:
        frame, _ = _pairs_frame(cut_pairs - pairs, cut_name)
        frames.append(frame)
    return _dedupe(_concat(frames)), issues


def read_exit_list(
    path: str | Path,
    *,
    observed: date | datetime | str | None = None,
    kind: ListKind = "case",
    name: str | None = None,
    now: datetime | pd.Timestamp | None = None,
) -> ExitLists:
    """One exit-list file or archive, whatever its format. Never raises for bad content.

    ``observed`` dates a plain IP list whose file name has no ``YYYY-MM-DD``. ``name`` (default:
    the file name) becomes ``<kind>:<name>`` in the ``list`` column. Observations that start
    after ``now`` (default: the current time) plus :data:`FUTURE_MARGIN` are not used (one data
    issue names the file); one that reaches past it ends there.
    """
    p = Path(path)
    list_name = f"{kind}:{name or p.name}"
    cut_names = {cut_list_name(list_name)}
    if _is_archive(p.name):
        frame, issues = _read_archive(p, list_name)
        fmt: ListFormat = "archive"
    else:
        try:
            data, fmt = _prepare(p.read_bytes(), str(p))
            frame, problems = _parse(
                data, fmt, where=str(p), list_name=list_name, observed=observed
            )
        except OSError as e:
            return ExitLists(issues=[DataIssue(str(p), f"cannot read the file: {e}")])
        except ExitListError as e:
            return ExitLists(issues=[e.issue(str(p))])
        issues = [DataIssue(str(p), pr) for pr in problems]
        cut = cut_short(data, fmt)
        if cut is not None:
            issues.append(cut_issue(str(p), cut))
            cut_names.add(list_name)
    frame, future = _without_future(frame, now)
    if future:
        issues.append(DataIssue(str(p), future))
    if not len(frame):
        return ExitLists(issues=issues)
    names = [list_name, *sorted(set(frame["list"].unique()) - {list_name})]
    sources = []
    for n in names:
        rows = frame if len(names) == 1 else frame[(frame["list"] == n).to_numpy(dtype=bool)]
        if len(rows):
            src = _source(rows, n, kind, fmt, p, rules_out=n not in cut_names)
            sources.append(replace(src, names=names_of(fmt, p.name)))
    return ExitLists(observations=frame, sources=sources, issues=issues)


def _without_future(
    frame: pd.DataFrame, now: datetime | pd.Timestamp | None
) -> tuple[pd.DataFrame, str | None]:
    """The observations that start by ``now`` + :data:`FUTURE_MARGIN` (those reaching past it
    end there), and the problem the others make (None when there are none)."""
    if not len(frame):
        return frame, None
    stamp = pd.Timestamp(now) if now is not None else pd.Timestamp.now(tz="UTC")
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    limit = (stamp + FUTURE_MARGIN).as_unit("us")
    later = (frame["first_seen"] > limit).to_numpy()
    open_ended = (frame["last_seen"] > limit).to_numpy()
    if not open_ended.any():
        return frame, None
    problem = None
    if later.any():
        first = frame["first_seen"][later].min()
        problem = (
            f"{int(later.sum()):,} observation(s) dated after now (the first "
            f"{first:%Y-%m-%d %H:%M}Z, now {stamp:%Y-%m-%d %H:%M}Z): not used (a list from the "
            "future: check the date in its file name, or the clock of what wrote it)"
        )
        frame = frame[~later].reset_index(drop=True)
    frame = frame.assign(last_seen=frame["last_seen"].where(frame["last_seen"] <= limit, limit))
    return frame, problem


def _source(
    frame: pd.DataFrame,
    list_name: str,
    kind: ListKind,
    fmt: ListFormat,
    path: Path,
    *,
    rules_out: bool = True,
) -> ListSource:
    return ListSource(
        name=list_name,
        kind=kind,
        format=fmt,
        path=str(path),
        observations=len(frame),
        ips=int(frame["ip"].nunique()),
        first_seen=frame["first_seen"].min(),
        last_seen=frame["last_seen"].max(),
        rules_out=rules_out,
        ipv4=ipv4_count(frame) if fmt in SINGLE_FORMATS else None,
    )


def list_files(path: Path, issues: list[DataIssue] | None = None) -> Iterator[Path]:
    """The list files at ``path``: the file itself, or every non-document file below a folder
    that is not hidden (:func:`torinvest.paths.walk_files`: symbolic links followed). A path
    that cannot be looked at (a link to a missing target or that loops, a folder that cannot be
    listed, a named pipe…) is appended to ``issues`` when a list is given."""
    from torinvest.paths import walk_files

    def wanted(rel: str) -> bool:
        parts = rel.split("/")
        return not any(part.startswith(".") for part in parts) and not _skipped(parts[-1])

    try:
        walk = walk_files(path, wanted=wanted, skip_folder=lambda name: name.startswith("."))
    except OSError as e:
        if issues is not None:
            issues.append(DataIssue(str(path), f"cannot read: {e.strerror or e}"))
        return
    if issues is not None:
        issues += walk.issues
    yield from sorted(Path(f.path) for f in walk.files)


def _read_tree(
    path: Path,
    kind: ListKind,
    exclude: Path | None = None,
    now: datetime | pd.Timestamp | None = None,
) -> ExitLists:
    if not path.exists():
        return ExitLists(issues=[DataIssue(str(path), "no such file or folder")])
    parts = []
    unreadable: list[DataIssue] = []
    for f in list_files(path, unreadable):
        if exclude is not None and f.resolve() == exclude:
            continue
        name = f.relative_to(path).as_posix() if path.is_dir() else f.name
        parts.append(read_exit_list(f, kind=kind, name=name, now=now))
    return ExitLists(issues=unreadable).combine(*parts)


# --------------------------------------------------------------------------------------------
# bundled history
# --------------------------------------------------------------------------------------------
def bundled_dir() -> Path:
    """The folder of the bundled lists (``torinvest/data/tor``)."""
    return Path(str(resources.files("torinvest").joinpath(*BUNDLED_PACKAGE_DIR)))


def bundled_index() -> list[dict[str, Any]]:
    """The entries of ``INDEX.json``: path, format, what it names (``names``:
    ``exit_addresses`` or ``or_addresses``, :data:`~torinvest.tor.records.ListNames`), upstream,
    licence, coverage of each list."""
    doc = json.loads((bundled_dir() / "INDEX.json").read_text(encoding="utf-8"))
    return list(doc["lists"])


@functools.cache
def _bundled() -> ExitLists:
    """The bundled lists: from this installation's snapshot (:mod:`torinvest.tor.snapshot`)
    when it has one, else parsed (and the snapshot written for the next process)."""
    root = bundled_dir()
    index = bundled_index()
    try:
        key = snapshot_key([root / _INDEX_NAME, *(root / e["path"] for e in index)], str(root))
    except OSError as e:  # a bundled file is unreadable: parsing says which
        log.debug("bundled exit lists: no snapshot key (%s)", e)
        return _parse_bundled(root, index)
    lists = read_snapshot(key)
    if lists is None:
        lists = _parse_bundled(root, index)
        if not lists.issues and not lists.notes:  # a snapshot keeps rows and sources only
            write_snapshot(key, lists)
    return lists


def _parse_bundled(root: Path, index: list[dict[str, Any]]) -> ExitLists:
    parts = []
    for entry in index:
        lists = read_exit_list(root / entry["path"], kind="bundled", name=entry["path"])
        lists.sources[:] = [
            replace(
                s,
                upstream=entry.get("upstream"),
                licence=entry.get("licence"),
                names=entry.get("names", s.names),
            )
            for s in lists.sources
        ]
        parts.append(lists)
    return ExitLists().combine(*parts)


# --------------------------------------------------------------------------------------------
# loading
# --------------------------------------------------------------------------------------------
def load_exit_lists(
    *paths: str | Path,
    bundled: bool = True,
    cache_dir: str | Path | None = None,
    refreshed: RefreshResult | None = None,
    min_exits: int = MIN_EXITS,
    now: datetime | pd.Timestamp | None = None,
) -> ExitLists:
    """Every exit list to use: ``paths`` (files, folders, archives), the cache, the bundled history.

    ``paths`` are read as kind ``case``; every list in ``cache_dir`` as ``cache``, except the file
    that ``refreshed`` (the result of :func:`refresh`) saved, which is ``refreshed``, and whose
    note is kept in ``notes``. Bad files become issues; nothing here raises for bad content.
    ``min_exits`` is the floor under which a list is partial (:data:`MIN_EXITS`); observations
    after ``now`` (default: the current time) are not used (:func:`read_exit_list`). A single
    list naming far fewer exits than the one nearest it in time is taken as cut at the end of a
    line (:func:`mark_short`: it does not rule Tor out; an issue names it and the two counts).
    The issues are returned (``.issues``), for the caller to show: they are logged at INFO
    level only.
    """
    parts: list[ExitLists] = [_read_tree(Path(p).expanduser(), "case", now=now) for p in paths]
    fresh = (
        refreshed.path.resolve() if refreshed and refreshed.downloaded and refreshed.path else None
    )
    if fresh is not None:
        parts.append(read_exit_list(fresh, kind="refreshed", now=now))
    if cache_dir is not None and Path(cache_dir).expanduser().is_dir():
        parts.append(_read_tree(Path(cache_dir).expanduser(), "cache", exclude=fresh, now=now))
    if bundled:
        parts.append(_bundled())
    lists = mark_short(ExitLists(min_exits=min_exits).combine(*parts))
    if refreshed is not None:
        lists.notes.append(refreshed.note)
    if log.isEnabledFor(logging.INFO):  # describing every list is not free: only when logged
        for line in lists.describe().splitlines():
            log.info("tor exit lists: %s", line)
    for issue in lists.issues:
        log.info("tor exit list %s: %s", issue.source, issue.problem)
    return lists
