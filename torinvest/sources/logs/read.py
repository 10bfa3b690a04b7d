"""Reading one file (pure: bytes → Arrow piece): gzip inflated up to the per-file limit (a
decompression bomb is an issue, not read), invalid UTF-8 repaired, the log-file path or the
general one; a local file's bytes (:func:`read_local`).
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import os
import re
import stat
import zlib
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import msgspec
import pyarrow as pa

from torinvest.errors import DataIssue
from torinvest.inflate import json_utf8
from torinvest.sources.logs.listing import key_layout
from torinvest.sources.logs.model import LogFile, ReadOptions
from torinvest.sources.logs.prefilter import _RECORDS_HEAD, _records_of, escapes_may_hide
from torinvest.sources.records import (
    LookupScope,
    answer_regions,
    answer_scope,
    has_old_versions,
    is_lookup_answer,
    log_file_table,
    log_group_copy,
    parse_records,
    records_table,
    repair_utf8,
    utf8_issue,
)

try:  # ISA-L inflates gzip about twice as fast as zlib; same API, optional
    from isal import isal_zlib as _inflate
except ImportError:  # pragma: no cover - depends on the environment
    _inflate = zlib  # type: ignore[assignment]
_GZIP_MAGIC = b"\x1f\x8b"
_RECORDS_KEY = re.compile(rb'\s*\{\s*"Records"\s*:')
_INFLATE_ERRORS: tuple[type[BaseException], ...] = tuple(
    {zlib.error, getattr(_inflate, "error", zlib.error), EOFError}
)


# --------------------------------------------------------------------------------------------
# reading one file (pure: bytes → Arrow piece)
# --------------------------------------------------------------------------------------------
class FileTooLargeError(ValueError):
    """A file whose content (decompressed) is larger than the per-file limit."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"more than {limit} bytes once decompressed")
        self.limit = limit


def gunzip(data: bytes, limit: int | None = None) -> bytes:
    """Inflate a gzip file (every member). Raises EOFError when it is truncated, and
    :class:`FileTooLargeError` once the inflated bytes pass ``limit`` (None: no limit): a
    decompression bomb never takes more than ``limit`` bytes of memory.

    The size the file's trailer states (ISIZE, the last member's length) sizes the first
    output buffer: inflating into a buffer of the right size costs about 40 % less than
    growing one (an exactly sized buffer is never re-grown or shrunk). It is a hint only: the
    limit still bounds every call, and a member longer than its trailer says (or a file of
    several members) is inflated again, bounded by the limit alone.
    """
    out: list[bytes] = []
    total = 0
    rest = data
    hint = int.from_bytes(data[-4:], "little") + 1 if len(data) >= 18 else 0
    while rest:
        room = 0 if limit is None else limit - total + 1  # 0: unbounded
        hinted = hint > 0 and (room == 0 or hint < room)
        d = _inflate.decompressobj(wbits=31)
        piece = d.decompress(rest, hint if hinted else room)
        if hinted and not d.eof and len(piece) == hint:  # longer than its trailer says
            del piece  # inflated again, bounded by the limit alone
            d = _inflate.decompressobj(wbits=31)
            piece = d.decompress(rest, room)
        if limit is not None and total + len(piece) > limit:
            raise FileTooLargeError(limit)
        total += len(piece)
        out.append(piece)
        if not d.eof:
            raise EOFError("the gzip stream ends early: the file is truncated")
        rest = d.unused_data
        hint = 0  # the trailer gave the last member's size, not the next one's
        if rest[:2] != _GZIP_MAGIC:
            break
    return out[0] if len(out) == 1 else b"".join(out)


def _mib(n: int) -> str:
    return f"{n / (1 << 20):,.0f} MiB" if n >= 1 << 20 else f"{n:,} bytes"


def too_large(name: str, limit: int, size: int | None = None) -> DataIssue:
    """The issue of a file past the per-file limit (``size``: its size on disk, when that alone
    is past it), saying how to raise the limit."""
    what = f"{_mib(size)} on disk" if size is not None else "its content, once decompressed, is"
    return DataIssue(
        name,
        f"not read: {what} more than the {_mib(limit)} limit for one log file (a "
        "decompression bomb, or a file far larger than CloudTrail writes); if it is genuine, "
        "raise the limit: --max-file-mb N (notebook parameter max_file_mb, "
        "Python max_file_bytes=…)",
        unread=True,
    )


def _content(raw: bytes, name: str, options: ReadOptions) -> tuple[bytes | None, list[DataIssue]]:
    """A file's bytes decompressed (within the per-file limit), as UTF-8 when another Unicode
    encoding wrote them (:func:`~torinvest.inflate.json_utf8`), and made valid UTF-8 (see
    :func:`~torinvest.sources.records.repair_utf8`), or None and the issue that stopped it."""
    data, issues = _inflated(raw, name, options)
    return (None if data is None else json_utf8(data)), issues


def _inflated(raw: bytes, name: str, options: ReadOptions) -> tuple[bytes | None, list[DataIssue]]:
    """A file's bytes decompressed (within the per-file limit), as they are (what a digest's
    ``hashValue`` is of), or None and the issue that stopped it."""
    if raw[:2] == _GZIP_MAGIC:
        try:
            data = gunzip(raw, options.max_bytes)
        except FileTooLargeError:
            return None, [too_large(name, options.max_bytes)]
        except _INFLATE_ERRORS as e:
            return None, [DataIssue(name, f"cannot decompress: {e}", unread=True)]
    elif len(raw) > options.max_bytes:
        return None, [too_large(name, options.max_bytes, len(raw))]
    else:
        data = raw
    return data, []


def altered_issue(name: str, data: bytes, sha256: tuple[str, str]) -> DataIssue | None:
    """The issue of a log file whose content (``data``, decompressed) is not what the trail's
    digest file says CloudTrail delivered (``sha256``: its SHA-256 hex, the digest's path);
    None when it is."""
    want, digest = sha256
    got = hashlib.sha256(data).hexdigest()
    if got == want:
        return None
    return DataIssue(
        name,
        f"hash does not match the trail's digest file ({digest} says SHA-256 {want[:16]}…, the "
        f"file read has {got[:16]}…): this log file may have been altered since CloudTrail "
        "delivered it; its events cannot be trusted",
    )


def read_log_records(
    raw: bytes, name: str, options: ReadOptions
) -> tuple[list[dict[str, Any]], list[DataIssue], bool]:
    """One file's bytes (gzip or not, any shape) → (records kept, issues, held records/a key).

    With ``options.keys`` only the records made with those keys are returned; the issues are
    those of a full read (a damaged file is reported whether or not it holds a key: a file
    that could not be read cannot be shown not to). The window is applied later, on the Arrow
    piece.
    """
    data, issues = _content(raw, name, options)
    if data is None:
        return [], issues, False
    data, bad = repair_utf8(data)
    records, more, held = _records_of(data, name, options)
    if bad:
        more.append(utf8_issue(name, bad, records_table(records, source="", origin=name)))
    return records, issues + more, held


def read_log_table(
    raw: bytes, name: str, options: ReadOptions
) -> tuple[pa.Table | None, list[DataIssue], bool]:
    """One file's bytes → (its Arrow piece or None, issues, held records/a key): the piece of
    :func:`read_log_records`' records. A whole log file (no key filter) is read straight from
    its bytes (:func:`~torinvest.sources.records.log_file_table`), other files through dicts.
    """
    data, issues = _content(raw, name, options)
    if data is None:
        return None, issues, False
    data, bad = repair_utf8(data)
    table, more, held = _table_of(data, name, options)
    if bad:
        more.append(utf8_issue(name, bad, table))
    return table, issues + more, held


def _table_of(
    data: bytes, name: str, options: ReadOptions
) -> tuple[pa.Table | None, list[DataIssue], bool]:
    if not options.filtered and not options.ips and _RECORDS_KEY.match(data):
        table = log_file_table(data, source=options.source, origin=name)
        if table is not None:
            return (table if table.num_rows else None), [], table.num_rows > 0
    return _general_table(data, name, options)


def _general_table(
    data: bytes, name: str, options: ReadOptions
) -> tuple[pa.Table | None, list[DataIssue], bool]:
    """:func:`_table_of` through dicts (:func:`_records_of`, then
    :func:`~torinvest.sources.records.records_table`)."""
    records, issues, held = _records_of(data, name, options)
    if not records:
        return None, issues, held
    return records_table(records, source=options.source, origin=name), issues, held


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Parsing allocates millions of dicts that all die together: don't let the GC scan them."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def read_local(path: str, limit: int) -> bytes | DataIssue:
    """A local file's bytes, or the issue that kept them from being read: it cannot be opened
    (gone since it was listed, no permission), is not a regular file (a named pipe put there
    since: opened without blocking, never read), or is larger than ``limit``."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as e:
        return DataIssue(path, f"cannot read: {e.strerror or e}", unread=True)
    with open(fd, "rb", buffering=0) as f:
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                return DataIssue(path, "not a regular file: not read", unread=True)
            if st.st_size > limit:
                return too_large(path, limit, st.st_size)
            data = f.read(st.st_size + 1)  # a buffer of its size, not of the limit
            if len(data) > st.st_size:  # it grew since fstat: the rest, up to the limit
                data += f.read(limit + 1 - len(data))
        except OSError as e:
            return DataIssue(path, f"cannot read: {e.strerror or e}", unread=True)
    if len(data) > limit:  # it grew since fstat
        return too_large(path, limit, len(data))
    return data


_RECIPIENT = re.compile(rb'"recipientAccountId"\s*:\s*"(\d{12})"')
#: ``recipientAccountId`` and ``eventVersion`` (one per record) as a log file writes them, or
#: escaped inside a string (a LookupEvents answer's ``CloudTrailEvent``): the name after a ``"``
#: (``\\"`` when escaped), which :func:`_quoted` checks. The patterns begin with the name itself,
#: so that the regular expression engine looks for it as a literal (a pattern beginning with an
#: optional ``\\`` is tried at every byte: a second per 8 MB, a large file's accounts cost more
#: than its read).
_RECIPIENT_ANY = re.compile(rb'recipientAccountId\\?"\s*:\s*\\?"(\d{12})\\?"')
_EVENT_VERSION = re.compile(rb'eventVersion\\?"\s*:')


def _quoted(pattern: re.Pattern[bytes], text: bytes) -> list[re.Match[bytes]]:
    """The matches of ``pattern`` in ``text`` whose field name follows a ``"``."""
    return [m for m in pattern.finditer(text) if text[m.start() - 1 : m.start()] == b'"']


#: At most this many local files whose path names no account are opened for their records'
#: accounts (:func:`file_accounts`), and at most this many bytes of them on disk; the others
#: stay unplaced (they may hold any account).
MAX_UNPLACED_OPENED = 200
MAX_UNPLACED_BYTES = 256 * 1024 * 1024


def file_accounts(
    files: Sequence[LogFile], failed: Mapping[str, str], limit: int
) -> tuple[list[str], int]:
    """The accounts the files read (``files`` less ``failed``) are of, and how many name none.

    An account is what a file's layout says (``AWSLogs/<account>/``, ``<account>_CloudTrail_…``:
    :func:`key_layout`), checked against the records: for each account a path names, one local
    file of it is opened and its ``recipientAccountId`` values are taken instead (a copied or
    rewritten dataset's path can name another account than its records). Per account, not per
    record or file: nothing on the reading's hot path. A local file whose path names no account
    (an export, a renamed file) is opened (at most :data:`MAX_UNPLACED_OPENED` of them,
    :data:`MAX_UNPLACED_BYTES` in all) and placed by its records' ``recipientAccountId`` when
    every record names one; otherwise (on S3, past the bounds, a record naming none) it is
    counted as naming none: it may hold any account."""
    by_path: dict[str, str | None] = {}  # account of the path → a local file of it
    unplaced = 0
    opened, budget = 0, MAX_UNPLACED_BYTES
    accounts: set[str] = set()
    for f in files:
        if f.location in failed:
            continue
        layout = key_layout(f.key or f.location)
        if layout is None or not layout.account:
            held = None
            if not f.bucket and opened < MAX_UNPLACED_OPENED and f.size <= budget:
                opened, budget = opened + 1, budget - f.size
                held = _records_accounts(f.location, limit)
            if held:
                accounts |= held
            else:
                unplaced += 1
        elif by_path.get(layout.account) is None:
            by_path[layout.account] = None if f.bucket else f.location
    for account, local in by_path.items():
        accounts |= _recipients(local, limit) or {account}
    return sorted(accounts), unplaced


def _text_of(path: str | None, limit: int) -> bytes | None:
    """A local log file's content, decompressed (None when it cannot be read)."""
    if path is None:
        return None
    data = read_local(path, limit)
    if isinstance(data, DataIssue):
        return None
    try:
        return gunzip(data, limit) if data[:2] == b"\x1f\x8b" else data
    except (OSError, EOFError, zlib.error, FileTooLargeError):
        return None


def _recipients(path: str | None, limit: int) -> set[str]:
    """The ``recipientAccountId`` values of a local log file (none when it cannot be read)."""
    text = _text_of(path, limit)
    return set() if text is None else {m.decode() for m in _RECIPIENT.findall(text)}


def _records_accounts(path: str, limit: int) -> set[str] | None:
    """The accounts whose CloudTrail recorded a local file's records (``recipientAccountId``,
    also inside a LookupEvents answer's escaped ``CloudTrailEvent``), when every record names
    one; None when the file cannot be read, holds no record, or one names none (it may hold
    any account)."""
    text = _text_of(path, limit)
    if text is None:
        return None
    found = _quoted(_RECIPIENT_ANY, text)
    records = len(_quoted(_EVENT_VERSION, text))
    if not found or len(found) < records:
        return None
    return {m[1].decode() for m in found}


# --------------------------------------------------------------------------------------------
# data events: whether the files read hold any (any principal's)
# --------------------------------------------------------------------------------------------
#: The one value of a record's top-level ``eventCategory`` that marks a CloudTrail data event
#: (S3 object reads/writes, Lambda invocations, DynamoDB item calls…): a trail records them only
#: when its event selectors say so; LookupEvents never returns them.
DATA_CATEGORY = "Data"
_DATA_BYTES = re.compile(rb'"eventCategory"\s*:\s*"Data"')
#: The field in a record held as a JSON string (a CloudWatch Logs copy's ``message``).
_ESCAPED_DATA = re.compile(rb'\\"eventCategory\\"\s*:\s*\\"Data\\"')
#: The field as CloudTrail writes it in its compact files (no space; field names never escaped):
#: searched alone in such a file (a few times faster than the pattern above).
_DATA_FIELD = b'"eventCategory":"Data"'


class _Category(msgspec.Struct, gc=False):
    eventCategory: object = None


class _Categories(msgspec.Struct, gc=False):
    Records: list[_Category]


_CATEGORIES = msgspec.json.Decoder(_Categories)


def fingerprint(data: bytes) -> str:
    """What tells a log file's content once inflated (its SHA-256): a copy under another ETag
    or compression (:func:`~torinvest.sources.logs.listing.content_twins`)."""
    return hashlib.sha256(data).hexdigest()


def count_data_events(data: bytes) -> int:
    """How many records of one file's content (decompressed, UTF-8) are data events: their
    top-level ``eventCategory`` is ``"Data"``, whoever made them (the files read say whether
    the trail records data events at all, not only the key's).

    A byte search first: in a compact log file as CloudTrail writes it (``{"Records":[{"eventVersion":``
    first), the field exactly as CloudTrail writes it (:data:`_DATA_FIELD`, one ``memmem``: a
    field name spelled with ``\\u`` escapes there is not looked for — CloudTrail writes none, and
    a search for every spelling cost a quarter of a full load's time); in any other file the field
    in any spacing, or a ``\\u`` escape that may spell it (:func:`escapes_may_hide`). Whole log
    files the loader parses anyway are counted from their parsed records instead (the field is
    read with the others: no search). A file with it is decoded
    (``{"Records": [...]}`` with msgspec, reading only that field; any other shape through
    :func:`parse_records`), so that the same text inside a value (a tag named eventCategory,
    attacker-written) is not counted: only the record's own field is. The DuckDB engine counts
    its files with this function too, so both say the same number."""
    if _RECORDS_HEAD.match(data) is not None:  # compact, as CloudTrail writes: one memmem
        if _DATA_FIELD not in data:
            return 0
    elif (
        not escapes_may_hide(data)
        and _DATA_BYTES.search(data) is None
        and _ESCAPED_DATA.search(data) is None
    ):  # spaced, lines, a log group's messages…
        return 0
    try:
        records = _CATEGORIES.decode(data).Records
    except (msgspec.DecodeError, UnicodeDecodeError):
        parsed, _ = parse_records(data, where="")
        return sum(r.get("eventCategory") == DATA_CATEGORY for r in parsed)
    return sum(r.eventCategory == DATA_CATEGORY for r in records)


def data_events_of(raw: bytes, name: str, options: ReadOptions) -> int:
    """:func:`count_data_events` of a file's bytes as read (gzip or not; 0 when it cannot be
    read: its issue is the reader's)."""
    data, _ = _content(raw, name, options)
    if data is None:
        return 0
    data, _ = repair_utf8(data)
    return count_data_events(data)


def lookup_scope_of(raw: bytes, name: str, options: ReadOptions) -> LookupScope | None:
    """:func:`~torinvest.sources.records.answer_scope` of a file's bytes as read (None when it
    cannot be read, or is no saved answer: a LookupEvents answer, a log group's copy)."""
    data, _ = _content(raw, name, options)
    if data is None:
        return None
    data, _ = repair_utf8(data)
    return answer_scope(data)


def log_group_copy_of(raw: bytes, name: str, options: ReadOptions) -> tuple[str, bool] | None:
    """:func:`~torinvest.sources.records.log_group_copy` of a file's bytes as read, and whether
    it holds records of a version before 1.05
    (:func:`~torinvest.sources.records.has_old_versions`); None when it cannot be read, or is
    no copy of a trail's CloudWatch Logs log group."""
    data, _ = _content(raw, name, options)
    if data is None:
        return None
    data, _ = repair_utf8(data)
    kind = log_group_copy(data)
    return None if kind is None else (kind, has_old_versions(data))


def answer_regions_of(raw: bytes, name: str, options: ReadOptions) -> frozenset[str]:
    """:func:`~torinvest.sources.records.answer_regions` of a saved LookupEvents answer's bytes
    as read (gzip or not; empty when it cannot be read)."""
    data, _ = _content(raw, name, options)
    if data is None:
        return frozenset()
    data, _ = repair_utf8(data)
    return answer_regions(data)


def lookup_answer_of(raw: bytes, name: str, options: ReadOptions) -> bool:
    """:func:`~torinvest.sources.records.is_lookup_answer` of a file's bytes as read (gzip or
    not; False when it cannot be read: it is then not read at all)."""
    data, _ = _content(raw, name, options)
    if data is None:
        return False
    data, _ = repair_utf8(data)
    return is_lookup_answer(data)
