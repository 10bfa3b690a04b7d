"""DuckDB over CloudTrail log files (:class:`DuckDBEngine`, the default engine): local folders
and files or ``s3://`` prefixes, listed as the file loader lists them, their text streamed to
DuckDB as Arrow (inflated with ISA-L) and transformed into records there.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import re
import shutil
import tempfile
import threading
import time
import zlib
from collections import deque
from collections.abc import Collection, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as futures_wait
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath

import duckdb
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from torinvest.aws import AWS_CALL_ERRORS, Aws
from torinvest.errors import DataIssue, InputError
from torinvest.outcome import OUTCOME_UNKNOWN_COLUMN, OUTCOME_UNKNOWN_MARK
from torinvest.sources.logs import (
    DEFAULT_MAX_FILE_BYTES,
    S3_THREADS,
    FileCounts,
    FileTooLargeError,
    LogFile,
    Narrowing,
    ReadOptions,
    answer_regions_of,
    archived_issue,
    count_data_events,
    data_events_of,
    default_workers,
    download_problem,
    file_accounts,
    file_states,
    fold_archived,
    gunzip,
    list_logs,
    log_group_copy_of,
    lookup_answer_of,
    lookup_scope_of,
    read_local,
    read_log_table,
    too_large,
)
from torinvest.sources.logs.listing import content_twins, twin_candidates, twins_note
from torinvest.sources.logs.prefilter import holds_nothing_else
from torinvest.sources.logs.read import altered_issue, fingerprint
from torinvest.sources.records import SAME_RECORD_COLUMNS, LookupScope, filter_window, is_utf8
from torinvest.sources.sql.engine import DUCKDB, EngineSettings, Output, QueryStats
from torinvest.sources.sql.projection import (
    CONSOLE_SESSION,
    CONTENT_KEY,
    EVENT_COLUMNS,
    MFA_USED,
    NOT_WHOLE,
    ORDER_COLUMNS,
    SOURCE_DIALECT,
    record_structure,
    sql_literal,
)
from torinvest.sources.sql.queries import Query, Scope, render

log = logging.getLogger(__name__)


#: Bytes of a file (decompressed) read to check it is a ``{"Records": [...]}`` log file.
PEEK_BYTES = 4096


_GZIP_MAGIC = b"\x1f\x8b"
try:  # the errors of the inflater logs.gunzip uses (ISA-L when installed)
    from isal import isal_zlib as _isal

    _INFLATE_ERRORS: tuple[type[BaseException], ...] = (zlib.error, _isal.error, EOFError)
except ImportError:  # pragma: no cover - depends on the environment
    _INFLATE_ERRORS = (zlib.error, EOFError)
_RECORDS_HEAD = re.compile(rb'\s*\{\s*"Records"\s*:\s*\[')


@dataclass(slots=True)
class FileSet:
    """The log files a DuckDB query reads: local ``paths``, the ``locations`` rows name as their
    origin (the path, or the ``s3://`` URL it was downloaded from), sizes and issues;
    ``listed`` log files passed the narrowing (those that failed are issues, not paths),
    ``trails``/``notes`` what the listing found (:class:`~torinvest.sources.logs.LogListing`);
    ``fallback`` (local path, origin) the files DuckDB cannot read (another shape, damaged,
    invalid UTF-8, not inflated, too large), which the file loader reads for each query
    (:func:`file_loader_rows`)."""

    paths: list[str] = field(default_factory=list)
    locations: list[str] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)
    skipped: int = 0
    issues: list[DataIssue] = field(default_factory=list)
    listed: int = 0
    listed_files: list[LogFile] = field(default_factory=list)
    trails: list[str] = field(default_factory=list)
    trail_names: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    asides: list[str] = field(default_factory=list)
    fallback: list[tuple[str, str]] = field(default_factory=list)
    #: origin → records that are data events in that file (any principal's), counted once per
    #: file as the file loader counts them (:func:`~torinvest.sources.logs.count_data_events`)
    data_events: dict[str, int] = field(default_factory=dict)
    #: origin → whether that file (one the file loader reads) is a saved LookupEvents answer
    #: (:func:`~torinvest.sources.logs.lookup_answer_of`): never data events, whatever the trail
    answers: dict[str, bool] = field(default_factory=dict)
    #: origin → the regions of the events of such an answer (:func:`answer_regions_of`)
    answer_regions: dict[str, frozenset[str]] = field(default_factory=dict)
    #: origin → the :class:`~torinvest.sources.records.LookupScope` of such an answer (or of a
    #: log group's copy)
    scoped: dict[str, LookupScope] = field(default_factory=dict)
    #: origin → the kind of a trail's CloudWatch Logs copy that file is
    #: (:func:`~torinvest.sources.logs.log_group_copy_of`)
    copies: dict[str, str] = field(default_factory=dict)
    #: those of them holding records of an event version before 1.05
    old_copies: list[str] = field(default_factory=list)
    #: origin → the issue of a file whose content is not the SHA-256 the trail's digest gives
    #: (:func:`~torinvest.sources.logs.altered_issue`), None when it is: each file the digests
    #: name is compared once, when it is first inflated, as the file loader compares it
    altered: dict[str, DataIssue | None] = field(default_factory=dict)
    #: the issues of the files the file loader read for every query so far (a key's, then the
    #: keys it minted…): the files are counted by all of them, as the file loader counts its
    #: passes (a file's first problem, from the first query that met one)
    fallen: list[DataIssue] = field(default_factory=list)
    #: the files that may be copies of one another (:func:`~torinvest.sources.logs.listing.
    #: twin_candidates`), and of those inflated so far, location → (the fingerprint of its
    #: content, its data events): a copy under another ETag is counted once (:meth:`twins`)
    twin_candidates: frozenset[str] = frozenset()
    prints: dict[str, tuple[str, int]] = field(default_factory=dict)

    def twins(self) -> list[tuple[str, str]]:
        """The (copy, file kept) of the files read whose content is another's."""
        prints = {loc: v[0] for loc, v in self.prints.items()}
        return content_twins(prints, self.listed_files)

    def add(self, path: str, location: str, size: int) -> None:
        self.paths.append(path)
        self.locations.append(location)
        self.sizes.append(size)

    def without(self, bad: Collection[int]) -> FileSet:
        """These files, those of ``bad`` (indexes) left to the file loader (``fallback``)."""
        kept = FileSet(
            skipped=self.skipped,
            issues=list(self.issues),
            listed=self.listed,
            listed_files=self.listed_files,
            trails=self.trails,
            trail_names=self.trail_names,
            notes=self.notes,
            asides=self.asides,
            fallback=list(self.fallback),
            data_events=self.data_events,  # the same files, counted once
            answers=self.answers,
            answer_regions=self.answer_regions,
            scoped=self.scoped,
            copies=self.copies,
            old_copies=self.old_copies,
            altered=self.altered,
            fallen=self.fallen,
            twin_candidates=self.twin_candidates,
            prints=self.prints,  # the same files, fingerprinted once
        )
        for i, (p, loc, s) in enumerate(zip(self.paths, self.locations, self.sizes, strict=True)):
            if i in bad:
                kept.fallback.append((p, loc))
            else:
                kept.add(p, loc, s)
        return kept

    def order(self) -> tuple[list[str], list[int], list[int]]:
        """The files in the order they were listed — the file loader's order, in which the first
        copy of a record is the one kept and named first —: their origins by ``file_index``, and
        the ``file_index`` of each of :attr:`paths` and of :attr:`fallback` (DuckDB's files and
        those the file loader reads for it, interleaved as listed)."""
        rank = {f.location: n for n, f in enumerate(self.listed_files)}
        every = [*self.locations, *(location for _, location in self.fallback)]
        placed = sorted(range(len(every)), key=lambda n: (rank.get(every[n], len(rank)), n))
        index = [0] * len(every)
        for file_index, n in enumerate(placed):
            index[n] = file_index
        own = len(self.locations)
        return [every[n] for n in placed], index[:own], index[own:]

    def counts(self, more: Sequence[DataIssue] = ()) -> FileCounts:
        """Listed, failed (and why), read with issues, skipped: the same counts as the file
        loader's (``more``: the issues of the files it read for a query)."""
        copied = {copy for copy, _ in self.twins()}  # read, counted as the file they copy
        listed = [f for f in self.listed_files if f.location not in copied]
        failed, flawed = file_states([*self.issues, *more], listed)
        accounts, unplaced = file_accounts(listed, failed, DEFAULT_MAX_FILE_BYTES)
        return FileCounts(
            listed=self.listed - len(copied),
            skipped=self.skipped,
            failed=failed,
            trails=list(self.trails),
            with_issues=flawed,
            accounts=accounts,
            unplaced=unplaced,
            data_events=sum(n for loc, n in self.data_events.items() if loc not in copied),
            lookup_answers=sum(a and loc not in failed for loc, a in self.answers.items()),
            lookup_regions={loc: r for loc, r in self.answer_regions.items() if loc not in failed},
            lookup_scoped={loc: s for loc, s in self.scoped.items() if loc not in failed},
            log_group_copies={k: v for k, v in self.copies.items() if k not in failed},
            log_group_old=[k for k in self.old_copies if k not in failed],
            trail_names=list(self.trail_names),
        )


def is_records_file(path: str | Path) -> bool:
    """True when a file (gzip or not) opens as a ``{"Records": [...]}`` CloudTrail log file.

    Raises OSError/zlib.error when it cannot be read or inflated.
    """
    with open(path, "rb") as fh:
        head = fh.read(PEEK_BYTES)
    if head[:2] == _GZIP_MAGIC:
        head = zlib.decompressobj(wbits=31).decompress(head, PEEK_BYTES)
    return _RECORDS_HEAD.match(head) is not None


class DuckDBEngine:
    """DuckDB over CloudTrail log files in local folders/files or ``s3://`` prefixes.

    Each query lists the files for its accounts, regions and days
    (:func:`~torinvest.sources.logs.list_logs`, the file loader's narrowing); S3 objects are
    downloaded once into ``workdir`` (a temporary folder by default, deleted by :meth:`close`).
    DuckDB reads the files' text from ``log_files(file_index, json)``, an Arrow stream that
    inflates them with ISA-L in ``threads`` threads, a few files ahead (with a key filter,
    files without the key's bytes are not handed over). That is 2.5–3x faster than DuckDB's own
    ``read_json_objects`` on gzip, and 30x faster than ``read_json``.

    Files DuckDB cannot read — not ``{"Records": [...]}`` log files (lookup-events output,
    JSON lines), damaged (truncated gzip, invalid JSON or UTF-8), too large — are read by the
    file loader with the query's keys and window (:func:`file_loader_rows`): their rows join
    DuckDB's in every query (``projected``), and their issues are the file loader's, one per
    file naming it. Both engines give the same rows and issues.
    """

    name = DUCKDB
    dialect = SOURCE_DIALECT
    count_first = True

    def __init__(
        self,
        sources: str | Path | Sequence[str | Path],
        *,
        aws: Aws | None = None,
        threads: int | None = None,
        workdir: str | Path | None = None,
        max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    ) -> None:
        self.sources = [sources] if isinstance(sources, str | Path) else list(sources)
        self.aws = aws
        self.threads = threads or default_workers()
        self.max_file_bytes = max_file_bytes  # per file, decompressed: past it, an issue
        self._own_workdir = workdir is None
        self._workdir = Path(workdir) if workdir is not None else None
        self._con = duckdb.connect(":memory:")
        # what DuckDB spills past its memory limit goes to a folder of ours, not to ./.tmp
        self._spill = tempfile.mkdtemp(prefix="torinvest-duckdb-spill-")
        self._con.execute(f"SET temp_directory = {sql_literal(self._spill)}")
        self._con.execute("SET TimeZone = 'UTC'")
        self._con.execute("SET preserve_insertion_order = false")
        self._con.execute(f"SET threads = {int(self.threads)}")
        # DuckDB's own bar (a query past 2 s) goes to stdout even into a pipe or a report's
        # output cell, amid the command's answer: torinvest says its own progress
        self._con.execute("SET enable_progress_bar = false")
        self._listings: dict[Narrowing, FileSet] = {}
        self._downloaded: dict[str, str | DataIssue] = {}
        self._fallen: dict[tuple[object, ...], tuple[pa.Table | None, list[DataIssue]]] = {}

    @classmethod
    def from_settings(cls, settings: EngineSettings) -> DuckDBEngine:
        """The engine :func:`~torinvest.sources.sql.engine.make_engine` makes for ``duckdb``:
        over ``settings.sources`` (required)."""
        if not settings.sources:
            raise InputError("the duckdb engine needs log files", hint="pass a folder or s3://…")
        return cls(settings.sources, aws=settings.aws, max_file_bytes=settings.max_file_bytes)

    # -- context -------------------------------------------------------------------------------
    def __enter__(self) -> DuckDBEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection and delete the downloaded files (when the folder is ours) and
        anything DuckDB spilled to disk."""
        self._con.close()
        shutil.rmtree(self._spill, ignore_errors=True)
        if self._own_workdir and self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    # -- files ---------------------------------------------------------------------------------
    def files(self, scope: Scope) -> FileSet:
        """The files a query of ``scope`` reads (listed, downloaded and checked once)."""
        narrowing = scope.narrowing
        if narrowing not in self._listings:
            self._listings[narrowing] = self._list(narrowing)
        return self._listings[narrowing]

    def _list(self, narrowing: Narrowing) -> FileSet:
        needs_s3 = any(str(s).startswith("s3://") for s in self.sources)
        if needs_s3 and self.aws is None:
            self.aws = Aws()
        listing = list_logs(self.sources, narrowing, aws=self.aws)
        found = listing.files
        local = self._download([f for f in found if f.bucket is not None])
        out = FileSet(
            skipped=listing.skipped,
            issues=list(listing.issues),
            listed=len(found),
            listed_files=found,
            trails=listing.trails,
            trail_names=listing.trail_names,
            notes=listing.notes,
            asides=list(listing.asides),
            twin_candidates=twin_candidates(found),
        )
        for f in found:
            path = local.get(f.location, f.location) if f.bucket else f.location
            if isinstance(path, DataIssue):
                out.issues.append(path)
                continue
            if not _is_log_file(path):  # the file loader reads it (and says what it is)
                out.fallback.append((path, f.location))
                continue
            out.add(path, f.location, f.size)
        log.info("duckdb: %d files to read, %d skipped by narrowing", len(out.paths), out.skipped)
        return out

    def _download(self, objects: Sequence[LogFile]) -> dict[str, str | DataIssue]:
        missing = [f for f in objects if f.location not in self._downloaded]
        if missing:
            if self._workdir is None:
                self._workdir = Path(tempfile.mkdtemp(prefix="torinvest-duckdb-"))
            with ThreadPoolExecutor(min(S3_THREADS, len(missing))) as pool:
                for f, got in zip(missing, pool.map(self._fetch, missing), strict=True):
                    self._downloaded[f.location] = got
        return {f.location: self._downloaded[f.location] for f in objects}

    def _fetch(self, f: LogFile) -> str | DataIssue:
        assert self._workdir is not None
        assert self.aws is not None
        assert f.bucket is not None
        assert f.key is not None
        # a flat name (hash of the URL + the file name): an S3 key cannot climb out of workdir
        digest = hashlib.sha256(f.location.encode()).hexdigest()[:16]
        target = self._workdir / f"{digest}_{PurePosixPath(f.key).name}"
        if f.archived:  # the listing says it cannot be read until restored: not asked for
            return archived_issue(f.location, f.archived, f.restoring)
        version = {"VersionId": f.version} if f.version is not None else {}
        try:
            s3 = self.aws.client("s3")
            body = s3.get_object(Bucket=f.bucket, Key=f.key, **version)["Body"].read()
        except AWS_CALL_ERRORS as e:
            return DataIssue(f.location, download_problem(e, version=bool(version)), unread=True)
        target.write_bytes(body)
        return str(target)

    # -- queries -------------------------------------------------------------------------------
    def source(
        self, files: FileSet, scope: Scope, columns: Collection[str] = EVENT_COLUMNS
    ) -> list[tuple[str, str]]:
        """``records`` from ``log_files``: every record transformed in one pass over each file or,
        with a key filter, each record cut out as JSON text and only those holding a key's text
        transformed (3x faster; the exact filter on access_key_id comes after). Only the fields
        ``columns`` read are transformed (:func:`record_structure`); with ``outcome_unknown``,
        :data:`NOT_WHOLE` is whether the record bears torinvest's mark of a record not whole
        (:data:`~torinvest.outcome.OUTCOME_UNKNOWN_MARK`, not empty), as the file loader reads
        it from the same file."""
        fields = record_structure(columns)
        for name in RECORD_SHAPE:  # what tells a record from another entry: always read
            fields.setdefault(name, "VARCHAR")
        unnested = (
            "SELECT file_index, unnest({checked}) AS record,"
            " generate_subscripts(records, 1) AS record_index FROM documents"
        )
        mark = ""
        if OUTCOME_UNKNOWN_COLUMN in columns:
            mark = f", NULLIF(record.{_quoted_name(OUTCOME_UNKNOWN_MARK)}, '') IS NOT NULL"
            mark += f" AS {NOT_WHOLE}"
        if scope.keys is None:
            structure = sql_literal(orjson.dumps({"Records": [fields]}).decode())
            documents = (
                f"SELECT file_index, json_transform(json, {structure}).Records AS records\n"
                f"FROM {LOG_FILES}"
            )
            unnested = unnested.format(checked=_only_records("records"))
            records = f"SELECT file_index, record_index, record.*{mark}\nFROM ({unnested})"
            return [("documents", documents), ("records", records)]
        as_text = sql_literal(orjson.dumps({"Records": ["JSON"]}).decode())
        structure = sql_literal(orjson.dumps(fields).decode())
        documents = (
            f"SELECT file_index, json_transform(json, {as_text}).Records AS records\n"
            f"FROM {LOG_FILES}"
        )
        holds = " OR ".join(f"contains(record, {sql_literal(k)})" for k in sorted(scope.keys))
        matching = (
            f"SELECT file_index, record_index, json_transform(record, {structure}) AS record\n"
            f"FROM ({unnested.format(checked=_only_record_texts('records'))})\nWHERE {holds}"
        )
        records = f"SELECT file_index, record_index, record.*{mark}\nFROM ({matching})"
        return [("documents", documents), ("records", records)]

    def sql(self, query: Query) -> str:
        return self._sql(query, self.files(query.scope))

    def preview_sql(self, query: Query) -> str:
        """:meth:`sql` without downloading anything: over S3 the files are listed (not
        downloaded) and named by their ``s3://`` URL in place of the local copies."""
        if not any(str(s).startswith("s3://") for s in self.sources):
            return self.sql(query)
        self.aws = self.aws or Aws()
        listing = list_logs(self.sources, query.scope.narrowing, aws=self.aws)
        files = FileSet(skipped=listing.skipped)
        for f in listing.files:
            files.add(f.location, f.location, f.size)
        return self._sql(query, files)

    def _sql(self, query: Query, files: FileSet, fallback: pa.Table | None = None) -> str:
        # with a key filter, records are json_transform()s of the matching texts: computed once
        # (inlined, each of the projection's fields would transform the text again: 2x slower)
        once = ("records",) if query.scope.keys is not None else ()
        # every field of the records: the content key that tells copies apart reads them all
        source = self.source(files, query.scope, (*query.event_columns, *SAME_RECORD_COLUMNS))
        more = _fallback_rows(query.event_columns) if fallback is not None else None
        sql = render(query, source, materialized=once, projected_rows=more)
        return _files_comment(files, query.scope) + sql

    def _fallback(self, files: FileSet, scope: Scope) -> tuple[pa.Table | None, list[DataIssue]]:
        """The rows and issues of the files the file loader reads for ``scope`` (once)."""
        if not files.fallback:
            return None, []
        digested = _digested(files)
        for path, location in files.fallback:  # whether the trail records data events
            if location not in files.data_events:
                raw = read_local(path, self.max_file_bytes)
                if location in digested and not isinstance(raw, DataIssue):
                    _compare_hash(files, location, raw, digested[location], self.max_file_bytes)
                options = ReadOptions(max_bytes=self.max_file_bytes)
                count = 0 if isinstance(raw, DataIssue) else data_events_of(raw, path, options)
                files.data_events[location] = count
                # a saved LookupEvents answer holds none, whatever the trail records
                answer = not isinstance(raw, DataIssue) and lookup_answer_of(raw, path, options)
                files.answers[location] = answer
                if answer:
                    files.answer_regions[location] = answer_regions_of(raw, path, options)  # type: ignore[arg-type]
                copy = (
                    None
                    if isinstance(raw, DataIssue) or answer
                    else (log_group_copy_of(raw, path, options))
                )
                if copy is not None:
                    files.copies[location] = copy[0]
                    if copy[1]:
                        files.old_copies.append(location)
                scoped = (  # an answer of one key, user, name or source (whatever its shape)?
                    lookup_scope_of(raw, path, options)  # type: ignore[arg-type]
                    if answer or copy is not None
                    else None
                )
                if scoped is not None:
                    files.scoped[location] = scoped
        indexes = files.order()[2]
        key = (tuple(files.fallback), tuple(indexes), scope.keys, scope.mints, scope.start)
        key += (scope.end, scope.console)
        if key not in self._fallen:
            options = ReadOptions(
                keys=scope.keys,
                mints=scope.keys if scope.keys and scope.mints else frozenset(),
                start=scope.start,
                end=scope.end,
                source=self.name,
                max_bytes=self.max_file_bytes,
                # the console sign-ins and sessions' calls of those users (their rows'
                # CONSOLE_SESSION: _fallback_rows), as the file loader's pass keeps them
                users=scope.console,
            )
            self._fallen[key] = file_loader_rows(files.fallback, options, indexes)
        return self._fallen[key]

    def run(self, query: Query) -> Output:
        scope = query.scope
        files = self.files(scope)
        while True:
            fallback, fallen_issues = self._fallback(files, scope)
            sql = self._sql(query, files, fallback)
            stream = _LogStream(files, scope.keys, self.threads, self.max_file_bytes)
            started = time.perf_counter()
            self._con.register(LOG_FILES, stream.reader())
            if fallback is not None:
                self._con.register(FALLBACK_ROWS, fallback)
            try:
                table = self._query(sql)
            except duckdb.Error as e:
                bad = stream.problems or self._not_records(e, files, scope.keys)
                bad = bad or _invalid_json(files, scope.keys)
                if not bad:
                    raise
                log.info("duckdb: %d files left to the file loader (%s)", len(bad), e)
                files = self._forget(scope, files, bad)
                continue
            finally:
                self._con.unregister(LOG_FILES)
                if fallback is not None:
                    self._con.unregister(FALLBACK_ROWS)
            if stream.problems:  # not inflated, not UTF-8…: the file loader reads them
                files = self._forget(scope, files, stream.problems)
                continue
            break
        seconds = time.perf_counter() - started
        altered = [i for i in files.altered.values() if i is not None]
        files.fallen += [i for i in fallen_issues if i not in files.fallen]
        stats = QueryStats(
            engine=self.name,
            kind=query.kind,
            sql=sql,
            seconds=seconds,
            rows=table.num_rows,
            bytes_scanned=stream.bytes_read,
            files=stream.files_read,
        )
        log.info("duckdb: %s query, %d rows in %.2f s", query.kind, table.num_rows, seconds)
        return Output(
            table,
            files.order()[0],
            stats,
            query.columns,
            # counted per file below
            fold_archived([*files.issues, *fallen_issues, *altered]),
            files.skipped,
            counts=files.counts([*files.fallen, *altered]),
            notes=list(files.notes),
            asides=[*files.asides, *([twins_note(twins)] if (twins := files.twins()) else [])],
        )

    def _query(self, sql: str) -> pa.Table:
        """``sql``'s rows, the query interrupted at Ctrl-C or SIGTERM.

        DuckDB runs a query without looking at Python's signals: Ctrl-C during a long query
        waited for its end (minutes over a year of logs). From the main thread the query runs in
        a thread of its own while this one waits, where a signal reaches it: the query is then
        interrupted (``connection.interrupt()``), its end waited for (its threads and the
        stream's stop at once), and the interruption goes on."""
        if threading.current_thread() is not threading.main_thread():
            return self._con.sql(sql).to_arrow_table()
        pool = ThreadPoolExecutor(1, thread_name_prefix="torinvest-duckdb")
        try:
            future = pool.submit(lambda: self._con.sql(sql).to_arrow_table())
            try:
                return future.result()
            except BaseException:
                if not future.done():
                    self._con.interrupt()
                    log.info("duckdb: query interrupted")
                    futures_wait([future])
                raise
        finally:
            pool.shutdown(wait=True)

    def _not_records(
        self, error: duckdb.Error, files: FileSet, keys: Collection[str] | None
    ) -> dict[int, str]:
        """When a query stopped at a file holding ``Records`` entries that are not records
        (:func:`_only_records`): every such file (by its place in ``files.paths``), found in
        one more pass over the files — not one query again per such file. When that pass
        stops at a file that is not JSON, none: those are found first, and the query run
        again without them stops here again."""
        if _NOT_A_RECORD not in str(error):
            return {}
        fields = {name: "VARCHAR" for name in RECORD_SHAPE}
        structure = {"Records": ["JSON"] if keys is not None else [fields]}
        condition = _LOOKS if keys is not None else _SHAPED
        sql = (
            "SELECT DISTINCT file_index FROM (\n  SELECT file_index, json_transform(json, "  # noqa: S608 - literals through sql_literal
            f"{sql_literal(orjson.dumps(structure).decode())}).Records AS records\n"
            f"  FROM {LOG_FILES}\n) WHERE NOT {_every('records', condition)}"
        )
        stream = _LogStream(files, keys, self.threads, self.max_file_bytes)
        self._con.register(LOG_FILES, stream.reader())
        try:
            found = {int(i) for i in self._query(sql).column(0).to_pylist()}
        except duckdb.Error:  # a file not JSON beside them: found first (_invalid_json), and
            return {}  # the query run again stops at these files again
        finally:
            self._con.unregister(LOG_FILES)
        own = files.order()[1]
        return {own.index(i): "entries that are not CloudTrail records" for i in found if i in own}

    def _forget(self, scope: Scope, files: FileSet, bad: Mapping[int, str]) -> FileSet:
        """``files`` with ``bad`` left to the file loader, for this query and the next ones."""
        kept = files.without(bad)
        self._listings[scope.narrowing] = kept
        return kept


#: The relation the DuckDB queries read the log files' text from.
LOG_FILES = "log_files"
#: The relation of the rows the file loader read for a query (:func:`file_loader_rows`).
FALLBACK_ROWS = "file_loader_rows"


#: The fields :func:`~torinvest.sources.records.is_record` tells a CloudTrail record by (an
#: ``eventVersion``, or an ``eventName`` and an ``eventTime``).
RECORD_SHAPE = ("eventVersion", "eventName", "eventTime")
#: The error a query raises at a ``Records`` entry that is not a record (its file's index).
_NOT_A_RECORD = "torinvest: an entry that is not a CloudTrail record in file "


def _only_records(records: str) -> str:
    """A file's ``Records`` list (``records``: its entries transformed to the fields read), the
    query stopped at a file holding an entry that is not a CloudTrail record (the file loader's
    rule, :func:`~torinvest.sources.records.is_record`: an ``eventVersion``, or an
    ``eventName`` and an ``eventTime``): a number, a string, ``null``, an object of other keys.
    DuckDB made each a row of NULLs, an event that never was. The file is then read by the
    file loader, which drops such entries and says so (``N of M Records entries are not
    CloudTrail records``). Checked on the whole list, before the entries become rows: no
    filter of a query (a window, a user) can be pushed before it and skip the check."""
    return _each(records, _SHAPED)


#: An entry ``r`` (transformed to :data:`RECORD_SHAPE`'s fields, at least) that is a record.
_SHAPED = (
    "r IS NOT NULL AND (r.eventVersion IS NOT NULL OR "
    "(r.eventName IS NOT NULL AND r.eventTime IS NOT NULL))"
)
#: An entry ``r`` still JSON text that reads as a record's (an object naming its fields).
_LOOKS = (
    "starts_with(CAST(r AS VARCHAR), '{') AND (contains(r, '\"eventVersion\"') OR "
    "(contains(r, '\"eventName\"') AND contains(r, '\"eventTime\"')))"
)


def _only_record_texts(records: str) -> str:
    """:func:`_only_records` for entries still JSON text (a key-filtered read transforms only
    the texts holding a key's): each must read as a record's (an object naming its fields)."""
    return _each(records, _LOOKS)


def _each(records: str, condition: str) -> str:
    """``records`` when every entry ``r`` meets ``condition``, else the query stopped."""
    return f"CASE WHEN {_every(records, condition)} THEN {records} ELSE {_stop('file_index')} END"


def _every(records: str, condition: str) -> str:
    return f"COALESCE(list_bool_and(list_transform({records}, lambda r: {condition})), TRUE)"


def _stop(file_index: str) -> str:
    return f"error({sql_literal(_NOT_A_RECORD)} || {file_index})"


def _quoted_name(name: str) -> str:
    """An identifier in double quotes (a JSON key such as ``torinvest:outcomeUnknown``)."""
    return '"' + name.replace('"', '""') + '"'


def _digested(files: FileSet) -> dict[str, tuple[str, str]]:
    """The files the trail's digest files name with a SHA-256 (location → (SHA-256, digest))."""
    return {f.location: f.sha256 for f in files.listed_files if f.sha256 is not None}


def _compare_hash(
    files: FileSet, location: str, raw: bytes, sha256: tuple[str, str], max_bytes: int
) -> None:
    """Compare a file's content (``raw``, gzip or not) with its digest's SHA-256, once per
    file (:attr:`FileSet.altered`). A file that cannot be inflated is not compared: the file
    loader does not compare it either, and says why it could not be read."""
    if location in files.altered:
        return
    try:
        data = gunzip(raw, max_bytes) if raw[:2] == _GZIP_MAGIC else raw
    except (FileTooLargeError, *_INFLATE_ERRORS):
        return
    files.altered[location] = altered_issue(location, data, sha256)


def _fallback_rows(columns: Sequence[str]) -> str:
    """The SELECT adding :data:`FALLBACK_ROWS` to ``projected``: its columns, content key and
    order keys, as :func:`~torinvest.sources.sql.queries.shared_ctes` projects ``records``."""
    listed = ", ".join(c for c in EVENT_COLUMNS if c in columns)
    if CONSOLE_SESSION in columns:  # read for console users: each row is a sign-in or a call
        listed += f", TRUE AS {CONSOLE_SESSION}"  # of a console session (ReadOptions.users)
    if MFA_USED in columns:  # the file loader's rows hold no MFA: not read for them
        listed += f", CAST(NULL AS VARCHAR) AS {MFA_USED}"
    return (
        f"SELECT {listed}, hash({', '.join(SAME_RECORD_COLUMNS)}) AS {CONTENT_KEY},\n"
        f"  file_index, record_index\nFROM {FALLBACK_ROWS}"
    )


def file_loader_rows(
    files: Sequence[tuple[str, str]], options: ReadOptions, indexes: Sequence[int]
) -> tuple[pa.Table | None, list[DataIssue]]:
    """The files the DuckDB engine cannot read ((local path, origin) each), read by the file
    loader with ``options`` (keys, window, size limit): their rows as ``events`` columns
    (``outcome_unknown`` as the file loader decided it: a saved lookup-events answer's events
    without a usable record are of unknown outcome in every query) plus
    ``file_index`` (``indexes``: each file's place among the query's files, as listed) and
    ``record_index``, or None when
    there is none; and their issues, naming each file as the file loader does (records without
    a time are said from the query's rows, :func:`~torinvest.sources.sql.run.untimed_issues`)."""
    tables: list[pa.Table] = []
    issues: list[DataIssue] = []
    for n, (path, location) in enumerate(files):
        raw = read_local(path, options.max_bytes)
        if isinstance(raw, DataIssue):
            issues.append(replace(raw, source=location))
            continue
        table, more, _ = read_log_table(raw, location, options)
        issues += more
        if table is None:
            continue
        table = filter_window(table, options.start, options.end)
        if not table.num_rows:
            continue
        columns = [_plain(table.column(c)) for c in EVENT_COLUMNS]
        rows = table.num_rows
        columns += [
            pa.array([indexes[n]] * rows, pa.int32()),
            pa.array(range(1, rows + 1), pa.int64()),
        ]
        tables.append(pa.table(columns, names=[*EVENT_COLUMNS, *ORDER_COLUMNS]))
    return (pa.concat_tables(tables) if tables else None), issues


def _plain(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """A dictionary column as its values (DuckDB reads the union's columns as text)."""
    if pa.types.is_dictionary(column.type):
        return column.cast(column.type.value_type)
    return column


_LOG_FILES_SCHEMA = pa.schema([("file_index", pa.int32()), ("json", pa.large_string())])
#: Files inflated ahead of DuckDB, per thread (bounds the memory held by the stream).
INFLATE_AHEAD = 2


class _LogStream:
    """The text of a FileSet's files as an Arrow stream (one batch per file), inflated in
    threads a few files ahead; files without one of ``keys`` (bytes) are skipped. It can be
    read once: every query reads ``log_files`` once."""

    def __init__(
        self,
        files: FileSet,
        keys: Collection[str] | None,
        threads: int,
        max_bytes: int = DEFAULT_MAX_FILE_BYTES,
    ) -> None:
        self.files = files
        self.index = files.order()[1]  # file_index of each of files.paths
        self.digested = _digested(files)
        self.max_bytes = max_bytes
        self.keys = tuple(k.encode() for k in sorted(keys)) if keys else ()
        self.threads = max(1, threads)
        self.problems: dict[int, str] = {}
        self.bytes_read = 0
        self.files_read = 0
        self._started = False

    def reader(self) -> pa.RecordBatchReader:
        return pa.RecordBatchReader.from_batches(_LOG_FILES_SCHEMA, self._batches())

    def _batches(self) -> Iterator[pa.RecordBatch]:
        if self._started:
            raise RuntimeError(f"{LOG_FILES} was read twice in one query")
        self._started = True
        indexes = iter(range(len(self.files.paths)))
        with ThreadPoolExecutor(self.threads, thread_name_prefix="torinvest-inflate") as pool:
            pending: deque[tuple[int, Future[tuple[str | None, int]]]] = deque(
                (i, pool.submit(self.text, i))
                for i in itertools.islice(indexes, INFLATE_AHEAD * self.threads)
            )
            while pending:
                i, fut = pending.popleft()
                pending.extend((j, pool.submit(self.text, j)) for j in itertools.islice(indexes, 1))
                text, size = fut.result()
                self.bytes_read += size
                self.files_read += size > 0
                if text is not None:
                    yield pa.record_batch(
                        [
                            pa.array([self.index[i]], pa.int32()),
                            pa.array([text], pa.large_string()),
                        ],
                        schema=_LOG_FILES_SCHEMA,
                    )

    def text(self, i: int) -> tuple[str | None, int]:
        """File ``i``'s text (None: without the keys, or unreadable) and its size on disk.

        With keys, a file without their bytes is left out only when a key-filtered read of
        the file loader would not parse it either (:func:`holds_nothing_else`): any other is
        given to DuckDB, so that its damage is found as the file loader finds it."""
        try:
            raw = Path(self.files.paths[i]).read_bytes()
        except OSError as e:
            self.problems[i] = f"cannot read: {e.strerror or e}"
            return None, 0
        try:
            if raw[:2] != _GZIP_MAGIC and len(raw) > self.max_bytes:
                raise FileTooLargeError(self.max_bytes)
            data = gunzip(raw, self.max_bytes) if raw[:2] == _GZIP_MAGIC else raw
        except FileTooLargeError:
            self.problems[i] = too_large(self.files.locations[i], self.max_bytes).problem
            return None, len(raw)
        except _INFLATE_ERRORS as e:
            self.problems[i] = f"cannot decompress: {e}"
            return None, len(raw)
        if not (data.isascii() or is_utf8(data)):  # the file loader repairs it and says so
            self.problems[i] = "not UTF-8 text"
            return None, len(raw)
        location = self.files.locations[i]
        if location in self.digested and location not in self.files.altered:  # once per file
            self.files.altered[location] = altered_issue(location, data, self.digested[location])
        if location not in self.files.data_events:  # any principal's, once per file
            self.files.data_events[location] = count_data_events(data)
        if location in self.files.twin_candidates and location not in self.files.prints:
            self.files.prints[location] = (fingerprint(data), self.files.data_events[location])
        if self.keys and not any(k in data for k in self.keys) and holds_nothing_else(data):
            return None, len(raw)
        otherwise = read_otherwise(data)
        if otherwise is not None:  # the file loader reads it as it should be read, and says so
            self.problems[i] = otherwise
            return None, len(raw)
        return data.decode(), len(raw)


#: A number JSON has no word for (``NaN``, ``Infinity``, ``1e400``), maybe — a value after
#: ``:``, ``,`` or ``[`` (``5e073`` in an ID is text): DuckDB's reader takes them and writes them
#: back as they are, text no JSON reader takes. Searched by RE2 (pyarrow): linear, 4x Python's
#: ``re`` on log files' text, and off the GIL (the stream inflates files in threads).
_MAYBE_NOT_JSON_NUMBER = r"[:,\[]\s*-?(?:NaN|Infinity|\d+(?:\.\d*)?[eE]\+?\d{3})"


def read_otherwise(data: bytes) -> str | None:
    """Why DuckDB must not read a log file's text itself, though it can (None: it reads it as
    the file loader does): numbers JSON has no word for — DuckDB would keep ``NaN`` in
    requestParameters, text no JSON reader takes, and say nothing; the file loader keeps it as
    text (``"NaN"``) and names the records — or Logstash's ``@timestamp``, which the file loader
    reads for a record without an ``eventTime`` (the queries read ``eventTime`` alone). Only
    the files whose bytes may hold one are parsed to tell."""
    if b'"@timestamp"' in data:
        return "records with Logstash's @timestamp"
    text = pa.array([data], pa.large_binary())
    if not pc.match_substring_regex(text, _MAYBE_NOT_JSON_NUMBER)[0].as_py():
        return None
    try:
        orjson.loads(data)
    except orjson.JSONDecodeError:  # NaN, or damage: the file loader tells which either way
        return "numbers JSON has no word for, or invalid JSON"
    return None


def _invalid_json(files: FileSet, keys: Collection[str] | None) -> dict[int, str]:
    """The files whose text is not JSON (only looked for after a query failed)."""
    stream = _LogStream(files, keys, 1)
    bad: dict[int, str] = {}
    for i in range(len(files.paths)):
        text, _ = stream.text(i)
        if text is None:
            continue
        try:
            orjson.loads(text)
        except orjson.JSONDecodeError as e:
            bad[i] = f"invalid JSON: {e}"
    return bad | stream.problems


def _files_comment(files: FileSet, scope: Scope) -> str:
    """The SQL comment naming what ``log_files`` holds (paths JSON-quoted: no line breaks)."""
    what = "the text of these files"
    if scope.keys is not None:
        what += " (those holding one of the keys' text)"
    lines = [f"-- {LOG_FILES}(file_index, json): {what}, inflated:"]
    lines += [
        f"--   {i}: {json.dumps(p)}" for i, p in zip(files.order()[1], files.paths, strict=True)
    ]
    if not files.paths:
        lines.append("--   (none)")
    return "\n".join(lines) + "\n"


def _is_log_file(path: str) -> bool:
    """Whether DuckDB reads the file: a ``{"Records": [...]}`` log file (the file loader reads
    the others, and says what is wrong with one that cannot be read)."""
    try:
        return is_records_file(path)
    except (OSError, zlib.error):
        return False
