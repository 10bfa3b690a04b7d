"""A key's activity from every source at once: log files, LookupEvents, or both, as one frame.

Each source (:mod:`torinvest.sources.logs`, :mod:`torinvest.sources.lookup`) returns the events
frame (:data:`torinvest.schema.EVENTS_COLUMNS`); :func:`combine_frames` joins them, keeping one row
per record (sources overlap: a log file and a lookup of the same period hold the same
events; the first source named wins; different records sharing an ``event_id`` are all kept and
reported), sorted by ``event_time``. :class:`Activity` carries the
frame together with everything that kept it from being complete.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
from pandas.api.types import union_categoricals

from torinvest.aws import Aws
from torinvest.errors import DataIssue, InputError
from torinvest.schema import EVENTS_COLUMNS
from torinvest.sources.logs import DEFAULT_MAX_FILE_BYTES, load_logs
from torinvest.sources.lookup import lookup_events
from torinvest.sources.records import DerivedKey, duplicate_issues, empty_frame, later_copies

if TYPE_CHECKING:
    from torinvest.sources.sql import Aggregates

log = logging.getLogger(__name__)

_STRING = pd.StringDtype()


ENGINES = ("files", "duckdb", "athena")
#: Matching rows above which the duckdb/athena engines count in the engine instead of loading
#: every row (the same as torinvest.sources.sql.DEFAULT_MAX_ROWS, without importing DuckDB).
DEFAULT_MAX_ROWS = 1_000_000


@dataclass(frozen=True, slots=True)
class EngineOptions:
    """Which engine reads the trail's log files: ``files`` (the file loader, default), ``duckdb``
    (embedded SQL over the same files) or ``athena`` (the CloudTrail table in Athena, no
    ``logs`` needed).

    ``max_rows``: when the duckdb/athena engine matches more rows than this, the per-IP summary
    and the charts' counts are computed in the engine (GROUP BY) and only the sensitive calls
    are loaded as rows (:attr:`Activity.aggregates`); None: always load every row. The file
    loader always loads every row.

    ``max_file_bytes``: the most one log file may hold once decompressed; a larger file is a
    data issue, not read (:data:`torinvest.sources.logs.DEFAULT_MAX_FILE_BYTES`)."""

    kind: str = "files"
    athena_database: str | None = None
    athena_table: str | None = None
    athena_workgroup: str | None = None
    athena_output: str | None = None
    athena_region: str | None = None
    max_rows: int | None = DEFAULT_MAX_ROWS
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES

    def __post_init__(self) -> None:
        if self.kind not in ENGINES:
            raise InputError(f"unknown engine {self.kind!r}", hint=f"one of {', '.join(ENGINES)}")
        if self.max_file_bytes <= 0:
            raise InputError(
                f"invalid file size limit {self.max_file_bytes}",
                hint="a size > 0 (--max-file-mb 2048 for 2 GiB)",
            )
        if self.max_rows is not None and self.max_rows < 0:
            raise InputError(
                f"invalid row limit {self.max_rows}", hint="a number of rows ≥ 0 (e.g. 1000000)"
            )


@dataclass(slots=True)
class Activity:
    """The events frame and its provenance.

    ``sources`` names what was read (``logs:<path or s3 URL>``, ``lookup:<region>``);
    ``files_read`` counts log files opened; ``issues`` lists each file or region that failed or
    is incomplete; ``derived`` the temporary keys minted by the key whose activity is included;
    ``notes`` anything else the analyst should know (a window cut to 90 days, …).

    ``aggregates`` is set when the engine matched more rows than :attr:`EngineOptions.max_rows`:
    the activity was counted in the engine (:class:`torinvest.sources.sql.Aggregates`: per-IP
    summary, counts for the charts) and ``frame`` holds only the sensitive calls.
    """

    frame: pd.DataFrame
    issues: list[DataIssue] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    files_read: int = 0
    derived: list[DerivedKey] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    engine_summary: str | None = None  # queries run, bytes scanned, cost (duckdb/athena)
    aggregates: Aggregates | None = None

    @property
    def total_events(self) -> int:
        """Every event matched: counted in the engine, or the frame's rows."""
        return self.aggregates.total if self.aggregates is not None else len(self.frame)

    @property
    def complete(self) -> bool:
        return not self.issues

    def summary(self) -> str:
        """One line: rows, files, lookup regions, time span, derived keys."""
        f = self.frame
        read = []
        if any(s.startswith("logs:") for s in self.sources):
            read.append(f"{self.files_read:,} log file(s)")
        for kind, label in (("duckdb:", "DuckDB"), ("athena:", "Athena")):
            if any(s.startswith(kind) for s in self.sources):
                read.append(f"the {label} engine")
        lookups = sum(s.startswith("lookup:") for s in self.sources)
        if lookups:
            read.append(f"LookupEvents in {lookups} region(s)")
        span = "no events"
        first, last = (f["event_time"].min(), f["event_time"].max()) if len(f) else (None, None)
        if self.aggregates is not None:
            first, last = self.aggregates.first_seen, self.aggregates.last_seen
        if first is not None and not pd.isna(first) and last is not None and not pd.isna(last):
            span = f"{first:%Y-%m-%d %H:%M:%S}Z → {last:%Y-%m-%d %H:%M:%S}Z"
        derived = f", {len(self.derived)} derived key(s)" if self.derived else ""
        counted = ""
        if self.aggregates is not None:
            counted = f" (counted in the engine; {len(f):,} sensitive calls loaded as rows)"
        return (
            f"{self.total_events:,} events{counted} from {' and '.join(read) or 'no source'}, "
            f"{span}{derived}"
        )


def combine_frames(frames: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """Join events frames, sorted by event_time (rows without a time last): copies of a record
    (the same event_id and content, :data:`~torinvest.sources.records.SAME_RECORD_COLUMNS`)
    are kept once (the first frame's wins); different records sharing an event_id are all
    kept (:func:`~torinvest.sources.records.duplicate_issues` names them)."""
    frames = [f for f in frames if len(f)]
    if not frames:
        return empty_frame()
    if len(frames) == 1:
        return frames[0]
    columns: dict[str, object] = {}
    for col in EVENTS_COLUMNS:
        parts = [f[col.name] for f in frames]
        if col.dtype == "category":
            columns[col.name] = union_categoricals(
                [_string_categories(p) for p in parts], ignore_order=True
            )
        else:
            columns[col.name] = pd.concat(parts, ignore_index=True)
    df = pd.DataFrame(columns)
    df = df[~later_copies(df)]
    df = df.sort_values("event_time", kind="stable", na_position="last")
    return df.reset_index(drop=True)


def _string_categories(s: pd.Series) -> pd.Series:
    """The same categorical with string-dtype categories (union_categoricals needs one dtype)."""
    if not isinstance(s.dtype, pd.CategoricalDtype):
        return s.astype("string").astype("category")
    cats = s.cat.categories
    if cats.dtype == _STRING:
        return s
    return s.cat.rename_categories(cats.astype(_STRING))


def _load_with_engine(
    act: Activity,
    frames: list[pd.DataFrame],
    engine: EngineOptions,
    logs: Sequence[str | Path],
    access_key: str | None,
    start: pd.Timestamp | None,
    end: pd.Timestamp | None,
    regions: Sequence[str] | None,
    follow_derived: bool,
    aws: Aws | None,
) -> None:
    """Load the log files' events with the DuckDB or Athena engine into ``act``/``frames``."""
    from torinvest.sources.sql import load_sql, make_engine

    eng = make_engine(
        engine.kind,
        sources=list(logs) or None,
        database=engine.athena_database,
        table=engine.athena_table,
        workgroup=engine.athena_workgroup,
        output_location=engine.athena_output,
        region=engine.athena_region,
        aws=aws,
        max_file_bytes=engine.max_file_bytes,
    )
    try:
        res = load_sql(
            eng,
            access_keys=access_key,
            start=start,
            end=end,
            regions=regions,
            follow_derived=follow_derived and bool(access_key),
            max_rows=engine.max_rows,
        )
    finally:
        eng.close()
    frames.append(res.frame)
    act.aggregates = res.aggregates
    if res.aggregates is not None:
        act.notes.append(
            f"{res.aggregates.total:,} events matched, more than the {engine.max_rows:,}-row "
            "limit: the per-IP summary and the charts were computed in the engine, and only "
            f"the {len(res.frame):,} sensitive calls were loaded as rows"
        )
    act.issues += res.issues
    act.derived += res.derived
    act.sources += [f"{engine.kind}:{s}" for s in (logs or [engine.athena_database])]
    act.files_read += max((q.files or 0 for q in res.queries), default=0)  # DuckDB's
    act.engine_summary = res.summary()


def load_activity(
    *,
    logs: Sequence[str | Path] = (),
    lookup: Aws | None = None,
    access_key: str | None = None,
    username: str | None = None,
    start: pd.Timestamp | None = None,
    end: pd.Timestamp | None = None,
    regions: Sequence[str] | None = None,
    follow_derived: bool = False,
    cache_dir: Path | bool | None = None,
    aws: Aws | None = None,
    now: pd.Timestamp | None = None,
    engine: EngineOptions | None = None,
) -> Activity:
    """Load a key's activity from log files (folders, files, ``s3://`` URLs) and/or LookupEvents.

    ``lookup`` is the AWS access to use for LookupEvents (None: no lookup). LookupEvents needs
    ``access_key`` or ``username``; log files without either are loaded unfiltered. A source that
    fails as a whole (a missing folder, an S3 prefix that cannot be listed) raises; a file or
    region that fails is a data issue.
    """
    engine = engine or EngineOptions()
    if not logs and lookup is None and engine.kind != "athena":
        raise InputError("no source given", hint="use --case DIR, --logs PATH or --lookup")
    if lookup is not None and not (access_key or username):
        raise InputError(
            "LookupEvents needs an access key or a user name",
            hint="pass --access-key AKIA… (or --username for a role session)",
        )
    frames: list[pd.DataFrame] = []
    act = Activity(frame=empty_frame())
    if engine.kind != "files" and (logs or engine.kind == "athena"):
        _load_with_engine(
            act,
            frames,
            engine,
            logs,
            access_key,
            start,
            end,
            regions,
            follow_derived,
            aws or lookup,
        )
    elif logs:
        res = load_logs(
            list(logs),
            access_keys=access_key,
            start=start,
            end=end,
            regions=regions,
            follow_derived=follow_derived and bool(access_key),
            aws=aws or lookup,
            max_file_bytes=engine.max_file_bytes,
        )
        frames.append(res.frame)
        act.issues += res.issues
        act.files_read += res.files_read
        act.sources += [f"logs:{s}" for s in res.sources]
        act.derived += res.derived
        if not res.files_read:
            act.notes.append(
                "no CloudTrail log file matched the window/region narrowing in "
                + ", ".join(str(s) for s in res.sources)
            )
    if lookup is not None and act.aggregates is not None:
        act.notes.append(
            "LookupEvents not used: the activity was counted in the engine over the trail's "
            "log files, and LookupEvents rows could not be merged into those counts"
        )
    elif lookup is not None:
        now = now if now is not None else pd.Timestamp.now(tz="UTC")
        try:
            res_l = lookup_events(
                lookup,
                access_key or str(username),
                attribute="AccessKeyId" if access_key else "Username",
                start=start if start is not None else now - pd.Timedelta(days=90),
                end=end if end is not None else now,
                regions=regions,
                follow_derived=follow_derived,
                cache_dir=False if cache_dir is False else (cache_dir or None),  # type: ignore[arg-type]
                now=now,
            )
        except InputError as e:
            if not logs:
                raise
            act.notes.append(f"LookupEvents not used: {e}")
        else:
            frames.append(res_l.frame)
            act.issues += res_l.issues
            act.sources += res_l.sources
            act.notes += res_l.notes
            known = {d.access_key_id for d in act.derived}
            act.derived += [d for d in res_l.derived if d.access_key_id not in known]
    act.frame = combine_frames(frames)
    if len(frames) > 1:  # eventIDs shared by different records, across the sources too
        per_source = {i for f in frames for i in duplicate_issues(f)}
        act.issues = [i for i in act.issues if i not in per_source]
        act.issues += duplicate_issues(act.frame)
    return act
