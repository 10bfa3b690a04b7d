"""One worker task (:func:`read_batch`): files → one Arrow piece, consecutive small log files
parsed as a group; the piece handed back through a private folder in ``/dev/shm``.
"""

from __future__ import annotations

import contextlib
import logging
import mmap
import os
import re
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from torinvest.errors import DataIssue
from torinvest.inflate import json_utf8
from torinvest.sources.logs.model import BatchOut, ReadOptions
from torinvest.sources.logs.prefilter import watched_records
from torinvest.sources.logs.read import (
    _RECORDS_KEY,
    DATA_CATEGORY,
    _gc_paused,
    _general_table,
    _inflated,
    _table_of,
    altered_issue,
    count_data_events,
    fingerprint,
    read_local,
)
from torinvest.sources.records import (
    LookupScope,
    answer_regions,
    answer_scope,
    filter_window,
    has_old_versions,
    is_lookup_answer,
    log_file_records,
    log_group_copy,
    log_records_table,
    repair_utf8,
    untimed_issue,
    utf8_issue,
)

log = logging.getLogger(__name__)

#: RAM-backed folder where worker processes leave their pieces (:func:`_read_batch_packed`).
SPILL_ROOT = "/dev/shm"  # noqa: S108 - a private folder is made in it (mkdtemp)


#: Records of consecutive log files made into one piece at a time (:class:`_LogGroup`): enough
#: that the fixed cost of a piece (about 0.75 ms) vanishes for small files, few enough that the
#: parsed records stay in the CPU's caches.
GROUP_RECORDS = 1024


def read_batch(
    batch: Sequence[tuple[int, str, bytes | None, Any]], options: ReadOptions
) -> BatchOut:
    """Worker task: files (local paths, or S3 bytes already fetched; and what the trail's
    digest says each holds, or None: :func:`altered_issue`) → one Arrow piece.

    Whole log files of a full read are parsed one by one and their records made into pieces a
    group of files at a time (:class:`_LogGroup`, about :data:`GROUP_RECORDS` records);
    every other file (another shape, damage, invalid UTF-8, a key filter) is read alone, in
    its place. The piece holds the rows, and the issues are those, in the order, that reading
    each file alone gives (:func:`read_log_table`, :func:`untimed_issue`,
    :func:`~torinvest.sources.records.filter_window`).
    """
    tables: list[pa.Table] = []
    slots: list[list[DataIssue]] = []  # each file's issues, in file order
    matched = 0
    data_events = 0  # any principal's: whether the trail records them at all
    answers: list[str] = []  # saved LookupEvents answers: never data events, whatever the trail
    answer_regions_of: dict[str, frozenset[str]] = {}  # the regions each answer holds
    scoped: dict[str, LookupScope] = {}  # answers exported for one key, user, name or source
    copies: dict[str, str] = {}  # a trail's CloudWatch Logs copies (location → their kind)
    old_copies: list[str] = []  # those holding records of a version before 1.05
    watched: list[tuple[str, dict[str, Any]]] = []  # anyone else's calls of options.watch
    prints: dict[str, tuple[str, int]] = {}  # the content of those that may be copies
    group = _LogGroup(options)
    with _gc_paused():
        for _, name, raw, *digest in batch:
            mine: list[DataIssue] = []
            slots.append(mine)
            if raw is None:
                raw = read_local(name, options.max_bytes)
                if isinstance(raw, DataIssue):
                    mine.append(raw)
                    continue
            data, problems = _inflated(raw, name, options)
            del raw
            if data is None:
                mine += problems
                continue
            if name in options.twins:  # a copy of another file listed? (told once read)
                prints[name] = (fingerprint(data), count_data_events(data))
            if digest and digest[0] is not None:  # the file delivered, or another?
                mine += filter(None, [altered_issue(name, data, digest[0])])
            data = json_utf8(data)  # a BOM, UTF-16/32: the first bytes tell
            data, bad = repair_utf8(data)
            read = _table_of
            if not options.filtered and not options.ips and not bad and _RECORDS_KEY.match(data):
                recs = log_file_records(data, valid_utf8=True)  # repair_utf8 made it so
                if recs is not None:  # a whole log file: into the group
                    data_events += sum(r.eventCategory == DATA_CATEGORY for r in recs)
                    if recs:
                        matched += 1
                        if group.add(name, data, recs, mine) >= GROUP_RECORDS:
                            tables += group.flush()
                    continue
                read = _general_table  # not one the fast path can read
            data_events += count_data_events(data)  # not parsed here: searched
            watched += [(name, r) for r in watched_records(data, options)]  # anyone else's
            answer = is_lookup_answer(data)
            copy = None if answer else log_group_copy(data)
            if answer:
                answers.append(name)
                answer_regions_of[name] = answer_regions(data)
            elif copy is not None:
                copies[name] = copy
                if has_old_versions(data):
                    old_copies.append(name)
            if answer or copy is not None:  # an answer of one key, user, name or source?
                scope = answer_scope(data)
                if scope is not None:
                    scoped[name] = scope
            tables += group.flush()  # the files before this one come first
            table, more, held = read(data, name, options)
            if bad:
                more.append(utf8_issue(name, bad, table))
            del data
            mine += more
            matched += held
            if table is not None:
                tables += _windowed(table, name, options, mine)
        tables += group.flush()
    issues = [issue for mine in slots for issue in mine]
    table = pa.concat_tables(tables) if tables else None
    first = batch[0][0] if batch else 0
    return BatchOut(
        first,
        len(batch),
        table,
        issues,
        matched,
        data_events=data_events,
        answers=answers,
        answer_regions=answer_regions_of,
        scoped=scoped,
        copies=copies,
        old_copies=old_copies,
        watched=watched,
        prints=prints,
    )


def _windowed(
    table: pa.Table, name: str, options: ReadOptions, issues: list[DataIssue]
) -> list[pa.Table]:
    """One file's piece within the window (rows without a time kept and named in ``issues``)."""
    untimed = untimed_issue(table, name)
    if untimed is not None:
        issues.append(untimed)
    table = filter_window(table, options.start, options.end)
    return [table] if table.num_rows else []


@dataclass(slots=True)
class _LogGroup:
    """Whole log files parsed (:func:`~torinvest.sources.records.log_file_records`) and not yet
    made into a piece: :meth:`flush` makes one piece of all of them (``origin`` runs name each
    file's rows), the rows and issues that a piece per file gives."""

    options: ReadOptions
    names: list[str] = field(default_factory=list)
    datas: list[bytes] = field(default_factory=list)
    recs: list[Any] = field(default_factory=list)
    counts: list[int] = field(default_factory=list)
    slots: list[list[DataIssue]] = field(default_factory=list)

    def add(self, name: str, data: bytes, recs: list[Any], issues: list[DataIssue]) -> int:
        """Add a file (its bytes, its records, where its issues go); the records held now."""
        self.names.append(name)
        self.datas.append(data)
        self.recs += recs
        self.counts.append(len(recs))
        self.slots.append(issues)
        return len(self.recs)

    def flush(self) -> list[pa.Table]:
        """The pieces of the files added (one, unless a value sends them back one by one), each
        within the window; the group is empty after."""
        if not self.names:
            return []
        source = self.options.source
        runs = list(zip(self.names, self.counts, strict=True))
        table = log_records_table(self.recs, source=source, origin=runs)
        files = list(zip(self.names, self.datas, self.counts, self.slots, strict=True))
        recs = self.recs
        self.names, self.datas, self.recs, self.counts, self.slots = [], [], [], [], []
        if table is None:  # a raw value that does not parse again: each file alone
            return self._one_by_one(files, recs)
        if table.column("event_time").null_count:  # the files with untimed records say so
            offset = 0
            for (
                name,
                _,
                count,
                issues,
            ) in files:
                untimed = untimed_issue(table.slice(offset, count), name)
                if untimed is not None:
                    issues.append(untimed)
                offset += count
        table = filter_window(table, self.options.start, self.options.end)
        return [table] if table.num_rows else []

    def _one_by_one(
        self, files: list[tuple[str, bytes, int, list[DataIssue]]], recs: list[Any]
    ) -> list[pa.Table]:
        tables: list[pa.Table] = []
        offset = 0
        for name, data, count, issues in files:
            mine = recs[offset : offset + count]
            offset += count
            table = log_records_table(mine, source=self.options.source, origin=name)
            if table is None:
                table, more, _ = _table_of(data, name, self.options)
                issues += more
            if table is not None:
                tables += _windowed(table, name, self.options, issues)
        return tables


def _read_batch_packed(
    batch: Sequence[tuple[int, str, bytes | None, Any]], options: ReadOptions, folder: str | None
) -> BatchOut:
    """:func:`read_batch` in a worker process. The piece goes back as Arrow IPC, one stream
    per column: written straight into a file of ``folder`` (RAM-backed), which the main
    process maps without copying (:func:`_receive`), else packed through the result pipe (a
    piece of megabytes through the pipe costs both processes far more CPU time)."""
    out = read_batch(batch, options)
    if out.table is not None:
        table = out.table.combine_chunks()  # one batch per column: far cheaper IPC
        out.table = None
        out.spilled = _spill(table, folder, out.first)
        if out.spilled is None:
            out.packed = [p.to_pybytes() for p in _pack(table)]
    return out


def _write_column(sink: Any, table: pa.Table, i: int) -> None:
    column = table.select([i])
    with pa.ipc.new_stream(sink, column.schema) as writer:
        writer.write_table(column)


def _pack(table: pa.Table) -> list[pa.Buffer]:
    """A piece as one Arrow IPC stream per column: cheap to write and to read back, and each
    column still has memory of its own, freed as soon as the frame has converted it."""
    packed = []
    for i in range(table.num_columns):
        sink = pa.BufferOutputStream()
        _write_column(sink, table, i)
        packed.append(sink.getvalue())
    return packed


#: Each column's stream starts at a multiple of this in a spilled piece, so that the main
#: process maps each column on its own (and unmaps it once converted).
_MAP_ALIGN = mmap.ALLOCATIONGRANULARITY


def _spill(
    table: pa.Table, folder: str | None, first: int
) -> tuple[str, list[tuple[int, int]]] | None:
    """Write a piece into ``folder`` (one stream per column, each at an aligned offset): the
    file and each column's (offset, length); None when there is no folder or no room."""
    if folder is None:
        return None
    path = os.path.join(folder, f"{first}.arrows")
    spans: list[tuple[int, int]] = []
    try:
        with pa.OSFile(path, "wb") as sink:
            for i in range(table.num_columns):
                at = sink.tell()
                if at % _MAP_ALIGN:
                    sink.write(bytes(_MAP_ALIGN - at % _MAP_ALIGN))
                    at = sink.tell()
                _write_column(sink, table, i)
                spans.append((at, sink.tell() - at))
    except OSError:  # no room (a small /dev/shm): through the pipe
        with contextlib.suppress(OSError):
            os.unlink(path)
        return None
    return path, spans


def _receive(out: BatchOut) -> None:
    """Unpack a worker's piece into ``out.table``: a spilled one is mapped, one column at a
    time (no copy; each mapping goes when its column's memory is freed), and its file
    removed."""
    if out.spilled is not None:
        path, spans = out.spilled
        out.spilled = None
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        try:
            maps = [mmap.mmap(fd, n, offset=at, access=mmap.ACCESS_READ) for at, n in spans]
        finally:
            os.close(fd)
            os.unlink(path)
        out.table = _unpack([pa.py_buffer(m) for m in maps])
    if out.packed is not None:
        out.table, out.packed = _unpack(out.packed), None


def _unpack(packed: Sequence[bytes | pa.Buffer]) -> pa.Table:
    columns = [pa.ipc.open_stream(data).read_all() for data in packed]
    return pa.Table.from_arrays(
        [c.column(0) for c in columns], schema=pa.schema([c.schema.field(0) for c in columns])
    )


def _spill_folder() -> str | None:
    """A new folder in /dev/shm for the workers' pieces (named with this process's ID), or None
    (no /dev/shm). The folders of loads whose process is gone (killed before it could remove
    its folder: /dev/shm is memory) are removed first (:func:`_sweep_spill_folders`)."""
    if not os.path.isdir(SPILL_ROOT):
        return None
    _sweep_spill_folders()
    try:
        return tempfile.mkdtemp(prefix=f"torinvest-{os.getpid()}-", dir=SPILL_ROOT)
    except OSError:
        return None


_SPILL_NAME = re.compile(r"torinvest-(\d+)-[\w]+")


def _sweep_spill_folders() -> None:
    """Remove this user's spill folders whose process no longer runs (never another user's, and
    never a running load's)."""
    try:
        names = os.listdir(SPILL_ROOT)
    except OSError:
        return
    for name in names:
        m = _SPILL_NAME.fullmatch(name)
        path = os.path.join(SPILL_ROOT, name)
        if m is None or _running(int(m.group(1))):
            continue
        try:
            if os.stat(path, follow_symlinks=False).st_uid != os.getuid():
                continue
        except OSError:
            continue
        log.info("removing %s: its load's process %s is gone", path, m.group(1))
        shutil.rmtree(path, ignore_errors=True)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists (another user's: EPERM)
        return True
    return True
