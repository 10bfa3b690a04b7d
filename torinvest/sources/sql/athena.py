"""Athena: the engine that runs the investigation queries of :mod:`torinvest.sources.sql` on
the CloudTrail table of :func:`.athena_ddl`.

:class:`AthenaEngine` renders a query in Trino's dialect, its ``records`` reading only the
window's days (±1 day, as the file loader; ``"date" BETWEEN …``) and the asked accounts and
regions, then: StartQueryExecution (database, workgroup, output location) → GetQueryExecution
polled with capped exponential backoff → GetQueryResults pages (the paginator; a NextToken that
comes back, or too many pages, is an error: the results are incomplete, see
:mod:`torinvest.aws.pages`). Ctrl-C while it runs sends StopQueryExecution (Ctrl-C while
StartQueryExecution waits for its answer too: the query is found by its ClientRequestToken and
stopped). FAILED or CANCELLED raise :class:`~torinvest.errors.AwsError`
with Athena's StateChangeReason. Each run reports its query ID, the bytes scanned and a cost
estimate (:func:`athena_cost_usd`). Results come back as text and are typed by the query's
column kinds; the events frame's ``origin`` is ``athena:<query id>``.
"""

from __future__ import annotations

import logging
import math
import re
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any

import pandas as pd
import pyarrow as pa

from torinvest.aws import (
    AWS_CALL_ERRORS,
    Aws,
    RegionList,
    answer_repairs,
    repair_issue,
    translate_error,
    validate_region,
)
from torinvest.aws.pages import restarting_pages
from torinvest.errors import AwsError, DataIssue, InputError, OptionsError
from torinvest.jsonread import JsonRepairs
from torinvest.sources.logs.coverage import day_ranges, known_called, window_days
from torinvest.sources.logs.model import KnownRegions
from torinvest.sources.records import SAME_RECORD_COLUMNS
from torinvest.sources.sql.columns import (
    CURRENT_TYPES,
    TableColumns,
    add_columns_command,
    add_columns_sql,
    lacks_text,
    unread_issue,
)
from torinvest.sources.sql.ddl import DEFAULT_TABLE, _table_name
from torinvest.sources.sql.engine import (
    ATHENA,
    NOTHING_SCANNED,
    PRICE_PER_TB_USD,
    EngineSettings,
    Output,
    QueryStats,
)
from torinvest.sources.sql.projection import NOT_WHOLE, TRINO_DIALECT, sql_literal, sql_literals
from torinvest.sources.sql.queries import Query, Scope, render, to_trino

log = logging.getLogger(__name__)


#: Athena's billing: PRICE_PER_TB_USD per TB scanned, rounded up to the MB, 10 MB minimum.
BYTES_PER_TB = 1 << 40
BILLING_UNIT_BYTES = 1 << 20
MIN_BILLED_BYTES = 10 << 20
#: Polling GetQueryExecution: first wait, growth factor, cap (seconds), and the total budget.
POLL_FIRST_SECONDS = 0.5
POLL_FACTOR = 2.0
POLL_MAX_SECONDS = 5.0
POLL_TIMEOUT_SECONDS = 30 * 60.0
#: GetQueryResults rows per page (Athena's maximum).
PAGE_SIZE = 1000
#: The coverage probe's (region, day) cells at most: past that it probes per region only.
MAX_PROBES = 400
#: What a table's archived log files do to a query (Athena's "Query restored Amazon S3 Glacier
#: objects"): a day whose files were all archived holds no record, one half archived fewer.
ATHENA_SKIPS_ARCHIVED = (
    "Athena skips a table's GLACIER and DEEP_ARCHIVE objects without a word, restored ones too "
    "unless the table's read_restored_glacier_objects is true; --logs s3://… names them"
)


RUNNING_STATES = frozenset({"QUEUED", "RUNNING"})
#: The catalog of the tables Athena makes (Glue's).
CATALOG = "AwsDataCatalog"


# --------------------------------------------------------------------------------------------
# the engine
# --------------------------------------------------------------------------------------------
def athena_cost_usd(bytes_scanned: int) -> float:
    """What Athena bills for a query that scanned ``bytes_scanned``: $5 per TB, rounded up to
    the MB, 10 MB minimum."""
    billed = max(
        MIN_BILLED_BYTES, math.ceil(bytes_scanned / BILLING_UNIT_BYTES) * BILLING_UNIT_BYTES
    )
    return billed / BYTES_PER_TB * PRICE_PER_TB_USD


@dataclass(frozen=True, slots=True)
class Polling:
    """How GetQueryExecution is polled: waits grow from ``first`` by ``factor`` up to ``cap``
    seconds; after ``timeout`` seconds of waiting the query is stopped."""

    first: float = POLL_FIRST_SECONDS
    factor: float = POLL_FACTOR
    cap: float = POLL_MAX_SECONDS
    timeout: float = POLL_TIMEOUT_SECONDS

    def delays(self) -> Iterable[float]:
        delay, waited = self.first, 0.0
        while waited < self.timeout:
            yield min(delay, self.cap)
            waited += min(delay, self.cap)
            delay *= self.factor


@dataclass(slots=True)
class AthenaRun:
    """One finished query: its ID, column names and Athena types, rows as text (None = NULL),
    the bytes scanned and the cost estimate."""

    query_id: str
    columns: list[str]
    types: list[str]
    rows: list[list[str | None]] = field(default_factory=list)
    bytes_scanned: int = 0
    seconds: float = 0.0
    #: what was made valid in its answers' text (:func:`torinvest.aws.answers.repair_answer`)
    repaired: list[JsonRepairs] = field(default_factory=list)

    @property
    def cost_usd(self) -> float:
        return athena_cost_usd(self.bytes_scanned)


class AthenaEngine:
    """The investigation queries on Athena, over the table of :func:`.athena_ddl`.

    ``output_location`` (``s3://…``) may be left out when the workgroup sets one. ``sleep`` is
    how the poller waits (tests pass their own); clients come from ``aws`` (:class:`Aws`).
    """

    name = ATHENA
    dialect = TRINO_DIALECT
    #: with a row limit, count first: one more scan of the window's partitions (its cost is in
    #: the estimate), where asking for a row over the limit would page up to the limit's rows
    #: (a million rows: a thousand GetQueryResults calls and gigabytes of text) to learn that
    #: they are too many
    count_first = True

    def __init__(
        self,
        *,
        database: str,
        table: str = DEFAULT_TABLE,
        workgroup: str | None = None,
        output_location: str | None = None,
        region: str | None = None,
        aws: Aws | None = None,
        polling: Polling | None = None,
        sleep: Callable[[float], None] = time.sleep,
        page_size: int = PAGE_SIZE,
    ) -> None:
        _table_name(table, database)
        if output_location is not None and not output_location.startswith("s3://"):
            raise InputError(
                f"invalid Athena output location {output_location!r}", hint="s3://bucket/prefix/"
            )
        self.database = database
        self.table = table
        self.workgroup = workgroup
        self.output_location = output_location
        self.region = validate_region(region) if region else None
        self.aws = aws or Aws()
        self.polling = polling or Polling()
        self.sleep = sleep
        self.page_size = page_size
        #: GetTableMetadata's answer (or the error it raised), asked once
        self._metadata: dict[str, Any] | AwsError | None = None
        self._columns: TableColumns | None = None

    @classmethod
    def from_settings(cls, settings: EngineSettings) -> AthenaEngine:
        """The engine :func:`~torinvest.sources.sql.engine.make_engine` makes for ``athena``: on
        ``settings.database`` (required) and its table (``cloudtrail_logs`` by default)."""
        if not settings.database:
            raise InputError("the athena engine needs a database", hint="--athena-database")
        return cls(
            database=settings.database,
            table=settings.table or DEFAULT_TABLE,
            workgroup=settings.workgroup,
            output_location=settings.output_location,
            region=settings.region,
            aws=settings.aws,
        )

    def close(self) -> None:
        """Nothing to release (the clients are the Aws session's)."""

    @property
    def client(self) -> Any:
        return self.aws.client("athena", self.region)

    # -- the table -----------------------------------------------------------------------------
    def metadata(self) -> dict[str, Any]:
        """The table's definition (Athena GetTableMetadata's ``TableMetadata``: columns,
        partition keys, parameters), asked once; an AwsError when it cannot be read (asked
        once too)."""
        if self._metadata is None:
            try:
                answer = self.client.get_table_metadata(
                    CatalogName=CATALOG, DatabaseName=self.database, TableName=self.table
                )
                self._metadata = dict(answer.get("TableMetadata") or {})
            except AWS_CALL_ERRORS as e:
                self._metadata = translate_error(
                    e, service="athena", operation="GetTableMetadata", resource=self.location
                )
        if isinstance(self._metadata, AwsError):
            raise self._metadata
        return self._metadata

    def columns(self) -> TableColumns | None:
        """The table's columns and partitions (:class:`~.columns.TableColumns`), or None when
        its definition cannot be read (the queries then assume today's DDL: a column the table
        lacks fails the query, and the error names it — :func:`_failed`)."""
        try:
            metadata = self.metadata()
        except AwsError as e:
            log.info("athena: the columns of %s are not known: %s", self.location, e)
            return None
        if not metadata.get("Columns"):
            return None  # an answer without columns (not Athena's): nothing to go by
        if self._columns is None:
            self._columns = TableColumns.from_metadata(metadata)
        return self._columns

    def table_lacks(self, *paths: str) -> str | None:
        """Why what reads table columns ``paths`` cannot be asked (the table lacks some, and
        the statement that adds them), or None."""
        columns = self.columns()
        missing = [p for p in paths if columns is not None and p not in columns.fields]
        if not missing:
            return None
        return lacks_text(f"{self.database}.{self.table}", missing)

    # -- SQL -----------------------------------------------------------------------------------
    def source(self, scope: Scope, columns: TableColumns | None = None) -> list[tuple[str, str]]:
        """``records``: the table, read for the window's days (±1), accounts and regions only —
        by its partitions: ``account``, ``region``, ``date`` (:func:`.athena_ddl`'s), or
        ``year``, ``month``, ``day`` (AWS's manual partitioning DDL), the account and region
        read from the records (``recipientaccountid``, ``awsregion``) where the table has no
        such partition (``columns``: the table's, :meth:`columns`; None: today's DDL). A table
        without a day partition is refused: every query would read the trail's whole
        history."""
        narrowing = scope.narrowing
        if narrowing.first_day is None or narrowing.last_day is None:
            raise InputError(
                "an Athena query needs a window (start and end)",
                hint="without one it would scan every day of the trail; pass --start/--end",
            )
        partitions = columns.partitions if columns is not None else ("account", "region", "date")
        added, where = [], []
        first_day, last_day = narrowing.first_day, narrowing.last_day
        if "date" in partitions:
            where.append(f"\"date\" BETWEEN '{first_day:%Y/%m/%d}' AND '{last_day:%Y/%m/%d}'")
        elif {"year", "month", "day"} <= set(partitions):
            added.append('concat("year", \'/\', "month", \'/\', "day") AS "date"')
            days = " OR ".join(
                f"(\"year\" = '{d:%Y}' AND \"month\" = '{d:%m}' AND \"day\" = '{d:%d}')"
                for d in _days_between(first_day, last_day)
            )
            where.append(f"({days})")
        else:
            raise OptionsError(  # --athena-table names a table no query should read
                f"the Athena table {self.database}.{self.table} has no day partition "
                f"(partitions: {', '.join(partitions) or 'none'}): every query would read the "
                "trail's whole history",
                hint="create a table partitioned by day with the statement `torinvest "
                "athena-ddl` prints (partition projection by account, region and date; the log "
                "files stay where they are), and name it with --athena-table",
            )
        account, region = "account", "region"
        if "account" not in partitions:
            account = "recipientaccountid"
            added.append("recipientaccountid AS account")
        if "region" not in partitions:
            region = "awsregion"
            added.append("awsregion AS region")
        if scope.accounts:
            where.append(f"{account} IN ({sql_literals(scope.accounts)})")
        if scope.regions:
            where.append(f"{region} IN ({sql_literals(scope.regions)})")
        # NOT_WHOLE is FALSE, said outright: the table (athena_ddl, AWS's CloudTrail table)
        # holds the trail's own log records, each whole — CloudTrail writes errorCode on every
        # call that failed, so a record without one succeeded. A record of unknown outcome is
        # one torinvest rebuilt from a LookupEvents answer (OUTCOME_UNKNOWN_MARK), which no
        # trail's log file holds and the table has no column for.
        more = "".join(f"{a}, " for a in added)
        records = (
            f"SELECT *, {more}CAST(NULL AS INTEGER) AS file_index, "
            "CAST(NULL AS BIGINT) AS record_index,"
            f"\n  FALSE AS {NOT_WHOLE} -- the trail's own records: whole, outcome known\n"
            f'FROM "{self.database}"."{self.table}"\nWHERE ' + "\n  AND ".join(where)
        )
        return [("records", records)]

    def sql(self, query: Query) -> str:
        """The query in Trino's SQL over a table of today's DDL (:func:`.athena_ddl`), without
        reading the table (``--print-sql``); :meth:`run` reads the table's columns first and
        adapts the query to them (:meth:`_render`)."""
        return to_trino(render(query, self.source(query.scope)))

    def _render(self, query: Query) -> tuple[str, dict[str, tuple[str, ...]]]:
        """The query in Trino's SQL over the table as it is (its columns and partitions,
        :meth:`columns`), and the columns of ``events`` it cannot give (what the table lacks
        for each: NULL in the query)."""
        columns = self.columns()
        wanted = {*query.event_columns, *SAME_RECORD_COLUMNS}  # the content key reads those
        unread = columns.unread(wanted) if columns is not None else {}
        source = self.source(query.scope, columns)
        return to_trino(render(query, source, unread=unread)), unread

    @property
    def location(self) -> str:
        """What the activity's ``sources`` call this table: ``athena:<database>.<table>``."""
        return f"athena:{self.database}.{self.table}"

    def nothing_scanned(self, scope: Scope) -> DataIssue:
        """The issue for queries of ``scope`` that matched no event and scanned 0 bytes: Athena
        found no data where it looked (a LOCATION that is not the trail's, a partition
        projection whose ranges leave out the accounts, regions or days asked, no log file in
        the window): "could not look", never "no events". It names what to check."""
        narrowing = scope.narrowing
        asked = []
        if narrowing.first_day is not None and narrowing.last_day is not None:
            asked.append(f"days {narrowing.first_day:%Y/%m/%d}–{narrowing.last_day:%Y/%m/%d}")
        if scope.accounts:
            asked.append(f"account(s) {', '.join(sorted(scope.accounts))}")
        if scope.regions:
            asked.append(f"region(s) {', '.join(sorted(scope.regions))}")
        return DataIssue(
            self.location,
            f"{NOTHING_SCANNED} (Athena found no data for {'; '.join(asked) or 'the query'}): "
            "check the table's LOCATION (SHOW CREATE TABLE: the trail's s3://…/AWSLogs/), that "
            "its partition projection ranges (projection.account.values, projection.region."
            "values, projection.date.range) hold those accounts, regions and days, and the "
            "window (--start/--end)",
            unread=True,
        )

    def probe_sql(
        self, scope: Scope, account: str | None = None, others: Iterable[str] = ()
    ) -> str:
        """The query of :meth:`coverage`: for each region of the scope (or once, for any) and
        each UTC day of the window (:func:`~torinvest.sources.logs.coverage.window_days`; once
        for the window's days beyond :data:`MAX_PROBES` cells), and for each region of
        ``others`` over the whole window, whether the table holds a record there — of
        ``account`` only, when given — reading one record at most for each (``LIMIT 1``: a
        partition pruned to nothing costs nothing)."""
        narrowed = replace(scope, accounts=frozenset({account})) if account else scope
        cells = _probe_cells(scope, others)
        if narrowed.regions:  # the other regions' partitions are read too
            narrowed = replace(narrowed, regions=frozenset({r for r, _ in cells if r}))
        (records,) = self.source(narrowed, self.columns())
        parts = []
        for i, (region, day) in enumerate(cells):
            conditions = []
            if region:
                conditions.append(f"region = {sql_literal(region)}")
            if day:
                conditions.append(f'"date" = {sql_literal(day)}')
            where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
            parts.append(
                f"SELECT {sql_literal(region)} AS region, {sql_literal(day)} AS day, "  # noqa: S608
                f"count(*) AS records\nFROM (SELECT 1 AS one FROM records{where} LIMIT 1) "
                f"AS probe{i}"
            )
        return f"WITH records AS (\n{records[1]}\n)\n" + "\nUNION ALL\n".join(parts)

    def coverage(
        self, scope: Scope, account: str | None = None, others: Iterable[str] = ()
    ) -> tuple[set[tuple[str, str]], QueryStats]:
        """The (region, day) cells of :meth:`probe_sql` (``""``: any region; ``""``: any day
        of the window — the cells of ``others``, regions asked of the whole window; days
        ``YYYY/MM/DD``) where the table holds a record (of ``account`` only, when given), and
        the probe's stats. A table of other accounts (a LOCATION or a
        projection.account.values without it), or whose projection.region.values or
        projection.date.range leave a region or day out, or days the trail logged nothing,
        hold none there: queries that matched no event there say nothing of them. Rows for
        cells it did not ask about are not taken."""
        others = frozenset(others)
        sql = self.probe_sql(scope, account, others)
        done = self.execute(sql)
        kinds = {"region": "text", "day": "text", "records": "int"}
        table = _typed(done, kinds, self.region)
        rows = zip(*(table.column(c).to_pylist() for c in kinds), strict=True)
        asked = set(_probe_cells(scope, others))
        held = {(region or "", day or "") for region, day, records in rows if records}
        stats = self._stats(done, "coverage", sql, table.num_rows)
        return held & asked, stats

    def enabled_regions(self) -> RegionList:
        """The regions the account of the engine's credentials has enabled (EC2 DescribeRegions,
        read-only, through :meth:`Aws.regions`; the partition's CloudTrail regions, with a note,
        when that call is refused or fails): the regions a key of that account could have
        called, which :func:`~torinvest.sources.sql.run.load_sql` asks the table about when no
        region is named. Asked once per :class:`Aws` (the same credentials, the same account)."""
        return self.aws.enabled_regions("cloudtrail")

    def data_events_sql(self, scope: Scope, account: str | None = None) -> str:
        """The query of :meth:`data_events`: whether the table holds a data event
        (``eventcategory`` ``Data``, any principal's; of ``account`` only, when given) in the
        window's days, accounts and regions — one at most (``LIMIT 1``: it stops at the
        first; a table without any is read over the window, as the events query reads it)."""
        narrowed = replace(scope, accounts=frozenset({account})) if account else scope
        (records,) = self.source(narrowed, self.columns())
        return (
            f"WITH records AS (\n{records[1]}\n)\n"  # noqa: S608 - the table's own source
            "SELECT count(*) AS data_events\nFROM (SELECT 1 AS one FROM records "
            "WHERE eventcategory = 'Data' LIMIT 1) AS data_probe"
        )

    def data_events(
        self, scope: Scope, account: str | None = None
    ) -> tuple[int | None, QueryStats]:
        """Whether the table holds data events in the window (:meth:`data_events_sql`): 1 (at
        least one: the trail records data events), 0 (none: it may not record them), None
        (an answer without a row: not known); and the query's stats."""
        sql = self.data_events_sql(scope, account)
        done = self.execute(sql)
        table = _typed(done, {"data_events": "int"}, self.region)
        values = table.column("data_events").to_pylist() if table.num_rows else []
        found = int(values[0]) if values and values[0] is not None else None
        return found, self._stats(done, "data events", sql, table.num_rows)

    def gaps(
        self,
        scope: Scope,
        held: set[tuple[str, str]],
        account: str | None = None,
        *,
        asked: bool = True,
        others: Iterable[str] = (),
        enabled: str = "ec2:DescribeRegions",
        known: KnownRegions | None = None,
    ) -> list[DataIssue]:
        """The issues of what :meth:`coverage` found missing: regions asked (``asked``: the
        scope's regions are the analyst's ``--regions``) where the table holds no record in the
        window; the regions of ``others`` (the account's enabled regions — ``enabled`` says
        where that list came from — when none was asked) where it holds none; and per other
        region probed (``""``: any region) the UTC days it holds none —
        in the file loader's words for a region folder without a day's log files
        (:func:`~torinvest.sources.logs.coverage.coverage_issues`), where "no log file" is "no
        record": a table cannot tell a day without log files from one whose files hold no
        record (of the account).

        ``known``: the regions the key is known to have called (the finding's), among
        ``others``: one the table holds nothing of is said with why it was expected, in the file
        loader's words for a trail folder without it, instead of as an enabled region."""
        of = f" of account {account}" if account else ""
        issues = []
        cells = _probe_cells(scope)
        regions = sorted(dict.fromkeys(r for r, _ in cells))
        unheld = sorted(
            r for r in frozenset(others) - set(regions) if not any(h == r for h, _ in held)
        )
        called = [r for r in unheld if known is not None and r in known.names]
        unheld = [r for r in unheld if r not in called]
        if called and known is not None:
            issues.append(
                DataIssue(
                    f"{self.location}:{','.join(called)}",  # not the table's: the rest was read
                    f"no record{of} in region(s) {', '.join(called)}{self._days(scope)}: the "
                    "table holds nothing there (its projection.region.values or LOCATION, or "
                    f"the trail's regions, leave {'it' if len(called) == 1 else 'them'} out), "
                    f"so its events, if any, were not read — {known_called(called, known)}",
                )
            )
        if unheld:
            issues.append(
                DataIssue(
                    f"{self.location}:{','.join(unheld)}",  # not the table's: the rest was read
                    f"no record{of} in region(s) {', '.join(unheld)}{self._days(scope)}, "
                    f"enabled for the account ({enabled}) and not asked with --regions: the "
                    "table holds nothing there (its projection.region.values or LOCATION, or "
                    f"the trail's regions, leave {'it' if len(unheld) == 1 else 'them'} out, or "
                    "nothing at all was logged there), so the key's events there, if any, were "
                    "not read; check SHOW CREATE TABLE (athena-ddl --regions), or read that "
                    "region's log files (--logs) or LookupEvents (--lookup)",
                )
            )
        missing = [r for r in regions if r and not any(h == r for h, _ in held)] if asked else []
        if missing:
            issues.append(
                DataIssue(
                    f"{self.location}:{','.join(missing)}",  # not the table's: the rest was read
                    f"no record{of} in region(s) {', '.join(missing)}{self._days(scope)}: the "
                    "table holds nothing there (its projection.region.values, or the trail's "
                    f"regions, leave {'it' if len(missing) == 1 else 'them'} out), so the "
                    "events there, if any, were not read",
                )
            )
        if not any(day for _, day in cells):
            return issues  # no day of the window, or too many cells: probed per region only
        days = [f"{d:%Y/%m/%d}" for d in window_days(scope.narrowing)]
        for region in regions:
            if region in missing:
                continue
            gaps = [
                date.fromisoformat(d.replace("/", "-")) for d in days if (region, d) not in held
            ]
            if not gaps:
                continue
            where = "" if region else " in any region"
            issues.append(
                DataIssue(
                    f"{self.location}:{region}" if region else f"{self.location} (days)",
                    f"no record{of}{where} for {day_ranges(gaps)} ({len(gaps):,} of the "
                    f"window's {len(days):,} UTC day(s)): nothing was logged there those days, "
                    "or logging stopped, or the table does not hold them (its LOCATION, "
                    "projection.date.range), or their log files are archived in S3 Glacier "
                    f"({ATHENA_SKIPS_ARCHIVED}); the events of those days, if any, were not read",
                )
            )
        return issues

    def days_unprobed(self, scope: Scope) -> str | None:
        """What the coverage query of ``scope`` could not tell, when its (region, day) cells
        are more than :data:`MAX_PROBES` (it asks per region only), else None."""
        regions = len(scope.regions) if scope.regions else 1
        days = len(window_days(scope.narrowing))
        if not days or any(day for _, day in _probe_cells(scope)):
            return None
        return (
            f"{self.location}: the coverage query asked per region only ({regions:,} region(s) × "
            f"{days:,} day(s) is more than {MAX_PROBES:,} cells): a day of the window the table "
            "holds no record of, in a region holding some, is not known — its events, if any, "
            "may not have been read; a shorter window (--start/--end) or fewer regions "
            "(--regions) asks per day"
        )

    def _days(self, scope: Scope) -> str:
        narrowing = scope.narrowing
        if narrowing.first_day is None or narrowing.last_day is None:
            return ""
        return f" for days {narrowing.first_day:%Y/%m/%d}–{narrowing.last_day:%Y/%m/%d}"

    def account_missing(self, scope: Scope, account: str) -> str:
        """Where the table could not look, for :attr:`torinvest.events.Activity.account_gap`."""
        where = self._days(scope)
        if scope.regions:
            where += f" in region(s) {', '.join(sorted(scope.regions))}"
        return (
            f"the Athena table {self.database}.{self.table} holds no record of account "
            f"{account}{where} (its account partitions: the table's LOCATION and "
            "projection.account.values name the accounts it reads)"
        )

    # -- running -------------------------------------------------------------------------------
    def run(self, query: Query) -> Output:
        sql, unread = self._render(query)
        done = self.execute(sql)
        table = _typed(done, query.columns, self.region)
        stats = self._stats(done, query.kind, sql, table.num_rows)
        issues = [i for i in (_repair_issue(done),) if i is not None]
        name = f"{self.database}.{self.table}"
        issues += [  # what the query could not read: the table lacks the column
            unread_issue(self.location, name, column, missing)
            for column, missing in unread.items()
            if column in query.event_columns
        ]
        out = Output(table, [f"athena:{done.query_id}"], stats, query.columns, issues=issues)
        out.unread = frozenset(c for c in unread if c in query.event_columns)
        return out

    def _stats(self, done: AthenaRun, kind: str, sql: str, rows: int) -> QueryStats:
        """What one finished query cost: its time, bytes scanned, ID and price."""
        return QueryStats(
            engine=self.name,
            kind=kind,
            sql=sql,
            seconds=done.seconds,
            rows=rows,
            bytes_scanned=done.bytes_scanned,
            query_id=done.query_id,
            cost_usd=done.cost_usd,
        )

    def execute(self, sql: str) -> AthenaRun:
        """Run ``sql`` (Trino) and fetch every row. Raises AwsError when Athena refuses it, or
        when it ends FAILED or CANCELLED (with Athena's reason); Ctrl-C stops the query."""
        started = time.perf_counter()
        token = str(uuid.uuid4())
        try:
            query_id = self._start(sql, token)
        except KeyboardInterrupt:  # Athena may have started it: its ID, by the same token
            self._stop_started(sql, token)
            raise
        try:
            log.info("athena: query %s started", query_id)
            execution = self._wait(query_id)
        except KeyboardInterrupt:
            self._stop(query_id)
            raise
        scanned = int(execution.get("Statistics", {}).get("DataScannedInBytes") or 0)
        run = self._results(query_id)
        run.bytes_scanned = scanned
        run.seconds = time.perf_counter() - started
        log.info(
            "athena: query %s: %d rows, %.1f MB scanned (~$%.4f)",
            query_id,
            len(run.rows),
            scanned / 1e6,
            run.cost_usd,
        )
        return run

    def _call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        method = re.sub(r"(?<!^)(?=[A-Z])", "_", operation).lower()
        try:
            return getattr(self.client, method)(**kwargs)
        except AWS_CALL_ERRORS as e:
            raise translate_error(
                e, service="athena", region=self.region, operation=operation
            ) from e

    def _start(self, sql: str, token: str) -> str:
        kwargs: dict[str, Any] = {
            "QueryString": sql,
            "QueryExecutionContext": {"Database": self.database},
            "ClientRequestToken": token,  # a second call with it answers the same query's ID
        }
        if self.workgroup:
            kwargs["WorkGroup"] = self.workgroup
        if self.output_location:
            kwargs["ResultConfiguration"] = {"OutputLocation": self.output_location}
        return str(self._call("StartQueryExecution", **kwargs)["QueryExecutionId"])

    def _wait(self, query_id: str) -> dict[str, Any]:
        for delay in (0.0, *self.polling.delays()):
            if delay:
                self.sleep(delay)
            execution = self._call("GetQueryExecution", QueryExecutionId=query_id)["QueryExecution"]
            status = execution.get("Status", {})
            state = status.get("State")
            if state == "SUCCEEDED":
                return execution
            if state not in RUNNING_STATES:
                raise _failed(query_id, state, status, self.region, f"{self.database}.{self.table}")
        self._stop(query_id)
        raise AwsError(
            f"Athena query {query_id} did not finish within {self.polling.timeout:.0f} s; "
            "it was stopped",
            hint="narrow the window, accounts or regions, or raise the polling timeout",
            service="athena",
            region=self.region,
            operation="GetQueryExecution",
            code="Timeout",
        )

    def _stop_started(self, sql: str, token: str) -> None:
        """Stop the query a StartQueryExecution interrupted before its answer came may have
        started (Athena received it: it runs, and bills, with nobody to read it): the call again
        with the same ClientRequestToken answers its ID (or starts it, if the first never
        arrived), and it is stopped."""
        log.warning("athena: interrupted while starting a query: stopping it if it started")
        try:
            query_id = self._start(sql, token)
        except AwsError as e:  # best effort: the interrupt goes on
            log.warning("athena: could not learn the interrupted query's ID: %s", e)
            return
        self._stop(query_id)

    def _stop(self, query_id: str) -> None:
        log.warning("athena: stopping query %s", query_id)
        try:
            self._call("StopQueryExecution", QueryExecutionId=query_id)
        except AwsError as e:  # stopping is best effort: the interrupt or timeout goes on
            log.warning("athena: could not stop query %s: %s", query_id, e)

    def _results(self, query_id: str) -> AthenaRun:
        paginator = self.client.get_paginator("get_query_results")
        # a NextToken that comes back: the results are incomplete; one that expired: started
        # over, the pages already read skipped (the query's stored result pages the same way)
        pages = restarting_pages(
            lambda: paginator.paginate(
                QueryExecutionId=query_id, PaginationConfig={"PageSize": self.page_size}
            ),
            "NextToken",
            "athena",
            "GetQueryResults",
            region=self.region or self.client.meta.region_name,
            resource=f"query {query_id}",
            same_pages=True,
        )
        run: AthenaRun | None = None
        repaired: list[JsonRepairs] = []
        try:
            for page in pages:
                if answer_repairs(page):
                    repaired.append(answer_repairs(page))
                result = page["ResultSet"]
                if run is None:
                    info = result.get("ResultSetMetadata", {}).get("ColumnInfo", [])
                    run = AthenaRun(
                        query_id,
                        [c.get("Label") or c["Name"] for c in info],
                        [c.get("Type", "varchar") for c in info],
                    )
                    rows = _values(result.get("Rows", []))
                    if rows and rows[0] == run.columns:  # the header row of a SELECT
                        rows = rows[1:]
                    run.rows += rows
                else:
                    run.rows += _values(result.get("Rows", []))
        except AWS_CALL_ERRORS as e:
            raise translate_error(
                e, service="athena", region=self.region, operation="GetQueryResults"
            ) from e
        run = run or AthenaRun(query_id, [], [])
        run.repaired = repaired
        return run


def _repair_issue(done: AthenaRun) -> DataIssue | None:
    """The issue of a query whose result text had to be made valid (a lone surrogate escape
    in a value an attacker wrote: U+FFFD in its place), naming the rows holding it by event
    ID where the query returns one."""
    if not done.repaired:
        return None
    every = JsonRepairs(tuple(o for r in done.repaired for o in r.surrogates))
    at = done.columns.index("event_id") if "event_id" in done.columns else None
    names = [
        f"event {row[at]}" if at is not None and at < len(row) else f"row {n:,}"
        for n, row in enumerate(done.rows, start=1)
    ]
    return repair_issue(
        f"athena:{done.query_id}", "Athena's GetQueryResults answer", every, done.rows, names
    )


def _values(rows: Sequence[dict[str, Any]]) -> list[list[str | None]]:
    return [[d.get("VarCharValue") for d in row.get("Data", [])] for row in rows]


#: Athena's reasons for a query stopped by a file of the table it could not read (a damaged
#: or cut gzip, a file that is not JSON…): the data, not the query or the table's definition.
_BAD_FILE = re.compile(r"\b(?:HIVE_CURSOR_ERROR|HIVE_BAD_DATA)\b")
_NOT_JSON = re.compile(r"not a valid JSON|JSONException|JsonParseException", re.IGNORECASE)
#: Trino's words for a column the table lacks (``COLUMN_NOT_FOUND: line 9:3: Column
#: 'sessioncredentialfromconsole' cannot be resolved or requester is not authorized…``).
_NO_COLUMN = re.compile(r"Column '([A-Za-z0-9_.]+)' cannot be resolved")


def _failed(
    query_id: str,
    state: str | None,
    status: dict[str, Any],
    region: str | None,
    table: str = "the table",
) -> AwsError:
    reason = status.get("StateChangeReason") or "no reason given"
    error = status.get("AthenaError") or {}
    verb = "was cancelled" if state == "CANCELLED" else "failed"
    message = f"Athena query {query_id} {verb}: {reason}"
    hint = (
        "check the database, the table (athena_ddl) and the output location; "
        "--print-sql shows the query"
    )
    column = _NO_COLUMN.search(reason) if state != "CANCELLED" else None
    name = column.group(1).lower() if column is not None else ""
    if name in ("date", "account", "region"):  # a partition of athena-ddl's table
        message += (
            f" (the Athena table {table} has no partition {name}: its definition could not be "
            "read to adapt the query to its partitions)"
        )
        hint = (
            "grant athena:GetTableMetadata and glue:GetTable (the queries then follow the "
            "table's partitions: region, year, month, day too), or create a table with the "
            "statement `torinvest athena-ddl` prints and name it with --athena-table"
        )
    elif name in CURRENT_TYPES:
        message += (
            f" (the Athena table {table} has no column {name}: it was made from an older "
            "CloudTrail DDL)"
        )
        command = add_columns_command(table, [name])
        printed = f" (`{command}` prints it)" if command else ""
        hint = (
            f"add it: {add_columns_sql(table, [name])}{printed}; or read the log files "
            "(--logs s3://…)"
        )
    elif state != "CANCELLED" and _BAD_FILE.search(reason):
        what = "is not valid JSON" if _NOT_JSON.search(reason) else "cannot be read"
        message += (
            f" (a log file in the location of the Athena table {table} {what}: damaged, cut "
            "short or not a CloudTrail log file; Athena stops the whole query at such a file)"
        )
        hint = (
            f"read the table's LOCATION, which SHOW CREATE TABLE {table} shows, with "
            "--engine duckdb --logs s3://… or with --logs s3://…: they report the damaged file "
            f"and read the rest; or open query {query_id} in the Athena console to find the "
            "file, and move it out of the table's location"
        )
    return AwsError(
        message,
        hint=hint,
        service="athena",
        region=region,
        operation="GetQueryExecution",
        code=str(error.get("ErrorType") or state),
    )


def _days_between(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def _probe_cells(scope: Scope, others: Iterable[str] = ()) -> list[tuple[str, str]]:
    """The (region, day) cells :meth:`AthenaEngine.probe_sql` asks about (``""``: any): the
    scope's regions (or any) by day, then each region of ``others`` not among them over the
    whole window (one cell each, outside :data:`MAX_PROBES`)."""
    regions = sorted(scope.regions) if scope.regions else [""]
    days = [f"{d:%Y/%m/%d}" for d in window_days(scope.narrowing)] or [""]
    if len(regions) * len(days) > MAX_PROBES:
        days = [""]
    cells = [(r, d) for r in regions for d in days]
    return cells + [(r, "") for r in sorted(frozenset(others) - set(regions))]


# --------------------------------------------------------------------------------------------
# text results → typed columns
# --------------------------------------------------------------------------------------------
_ZONE = re.compile(r"\s*(UTC|Z)$")


def _typed(run: AthenaRun, kinds: Mapping[str, str], region: str | None = None) -> pa.Table:
    """Athena's text values as the Arrow types of the query's columns. An answer without the
    query's columns, or with values that are not of their type (a proxy's or an emulator's
    answer, not Athena's), is an AwsError naming the query and what was wrong."""
    names = run.columns or list(kinds)  # no columns at all: an empty result of the query's
    missing = [c for c in kinds if c not in names]
    if missing:
        raise _garbled(
            run,
            f"without the query's column(s) {', '.join(missing)} (it named: "
            f"{', '.join(names[:8]) or 'none'})",
            region,
        )
    arrays = {}
    for i, name in enumerate(names):
        values = [row[i] if i < len(row) else None for row in run.rows]
        try:
            arrays[name] = _column(values, kinds.get(name, "text"))
        except ValueError as e:
            raise _garbled(run, f"with a value of column {name} that is not {e}", region) from e
    return pa.table(arrays)


def _garbled(run: AthenaRun, what: str, region: str | None) -> AwsError:
    return AwsError(
        f"Athena answered query {run.query_id} {what}: not the answer the query asks for",
        hint="is AWS_ENDPOINT_URL(_ATHENA) pointing at Athena? --print-sql shows the query",
        service="athena",
        region=region,
        operation="GetQueryResults",
    )


def _column(values: list[str | None], kind: str) -> pa.Array:
    if kind == "time":
        text = pd.Series(values, dtype="string").str.replace(_ZONE, "+00:00", regex=True)
        times = pd.to_datetime(text, utc=True, format="ISO8601", errors="coerce")
        bad = times.isna() & text.notna() & (text != "")
        if bad.any():
            raise ValueError(f"a time: {str(text[bad].iloc[0])[:40]!r}")
        return pa.array(times.astype("datetime64[us, UTC]"), type=pa.timestamp("us", tz="UTC"))
    if kind == "bool":
        return pa.array([None if v is None else v.lower() == "true" for v in values], pa.bool_())
    if kind == "int":
        try:
            return pa.array([None if v in (None, "") else int(v) for v in values], pa.int64())
        except ValueError:
            bad = next(v for v in values if v not in (None, "") and not _is_int(v))
            raise ValueError(f"an integer: {str(bad)[:40]!r}") from None
    return pa.array(values, pa.large_string())


def _is_int(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True
