"""Athena: the CloudTrail table (DDL with partition projection) and the engine that runs the
investigation queries of :mod:`torinvest.sources.sql` there.

:func:`athena_ddl` writes AWS's documented CloudTrail table for Athena (the JSON SerDe with
``com.amazon.emr.cloudtrail.CloudTrailInputFormat``) partitioned by ``account``, ``region`` and
``date`` with partition projection (enum accounts and regions, ``yyyy/MM/dd`` days), for an
account trail (``AWSLogs/<acct>/CloudTrail/<region>/YYYY/MM/DD/``) or an organization trail
(``AWSLogs/<o-id>/<acct>/…``). Nothing needs ``MSCK REPAIR`` or ``ALTER TABLE ADD PARTITION``.

:class:`AthenaEngine` renders a query in Trino's dialect, its ``records`` reading only the
window's days (±1 day, as the file loader; ``"date" BETWEEN …``) and the asked accounts and
regions, then: StartQueryExecution (database, workgroup, output location) → GetQueryExecution
polled with capped exponential backoff → GetQueryResults pages (the paginator). Ctrl-C while it
runs sends StopQueryExecution. FAILED or CANCELLED raise :class:`~torinvest.errors.AwsError`
with Athena's StateChangeReason. Each run reports its query ID, the bytes scanned and a cost
estimate (:func:`athena_cost_usd`). Results come back as text and are typed by the query's
column kinds; the events frame's ``origin`` is ``athena:<query id>``.
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pandas as pd
import pyarrow as pa

from torinvest.aws import AWS_CALL_ERRORS, Aws, translate_error, validate_region
from torinvest.errors import AwsError, InputError
from torinvest.sources.logs import ACCOUNT_RE, ORG_RE
from torinvest.sources.sql import (
    ATHENA,
    PRICE_PER_TB_USD,
    TRINO_DIALECT,
    Output,
    Query,
    QueryStats,
    Scope,
    render,
    sql_literals,
    to_trino,
)

log = logging.getLogger(__name__)

DEFAULT_TABLE = "cloudtrail_logs"
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
#: Partition projection of the day folders: format, and the first day (CloudTrail's launch).
DATE_FORMAT = "yyyy/MM/dd"
FIRST_DAY = date(2013, 11, 1)
RUNNING_STATES = frozenset({"QUEUED", "RUNNING"})
TABLE_NAME_RE = re.compile(r"^[a-z0-9_]{1,255}$")
BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")

#: Columns of AWS's documented CloudTrail table for Athena (partition projection page).
CLOUDTRAIL_COLUMNS = """\
  eventversion STRING,
  useridentity STRUCT<
    type: STRING,
    principalid: STRING,
    arn: STRING,
    accountid: STRING,
    invokedby: STRING,
    accesskeyid: STRING,
    username: STRING,
    onbehalfof: STRUCT<
      userid: STRING,
      identitystorearn: STRING>,
    sessioncontext: STRUCT<
      attributes: STRUCT<
        mfaauthenticated: STRING,
        creationdate: STRING>,
      sessionissuer: STRUCT<
        type: STRING,
        principalid: STRING,
        arn: STRING,
        accountid: STRING,
        username: STRING>,
      ec2roledelivery: STRING,
      webidfederationdata: STRUCT<
        federatedprovider: STRING,
        attributes: MAP<STRING, STRING>>>>,
  eventtime STRING,
  eventsource STRING,
  eventname STRING,
  awsregion STRING,
  sourceipaddress STRING,
  useragent STRING,
  errorcode STRING,
  errormessage STRING,
  requestparameters STRING,
  responseelements STRING,
  additionaleventdata STRING,
  requestid STRING,
  eventid STRING,
  readonly STRING,
  resources ARRAY<STRUCT<
    arn: STRING,
    accountid: STRING,
    type: STRING>>,
  eventtype STRING,
  apiversion STRING,
  recipientaccountid STRING,
  serviceeventdetails STRING,
  sharedeventid STRING,
  vpcendpointid STRING,
  vpcendpointaccountid STRING,
  eventcategory STRING,
  addendum STRUCT<
    reason: STRING,
    updatedfields: STRING,
    originalrequestid: STRING,
    originaleventid: STRING>,
  sessioncredentialfromconsole STRING,
  edgedevicedetails STRING,
  tlsdetails STRUCT<
    tlsversion: STRING,
    ciphersuite: STRING,
    clientprovidedhostheader: STRING>"""
SERDE = "org.apache.hive.hcatalog.data.JsonSerDe"
INPUT_FORMAT = "com.amazon.emr.cloudtrail.CloudTrailInputFormat"
OUTPUT_FORMAT = "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat"


# --------------------------------------------------------------------------------------------
# table set-up
# --------------------------------------------------------------------------------------------
def trail_location(bucket: str, prefix: str = "", org_id: str | None = None) -> str:
    """``s3://bucket/prefix/AWSLogs/`` (``…/AWSLogs/<o-id>/`` for an organization trail)."""
    if not BUCKET_RE.match(bucket):
        raise InputError(f"invalid bucket name {bucket!r}", hint="the trail's S3 bucket name")
    if org_id is not None and not ORG_RE.match(org_id):
        raise InputError(f"invalid organization ID {org_id!r}", hint="o- and 10–32 characters")
    if "'" in prefix or "\\" in prefix:
        raise InputError(f"invalid key prefix {prefix!r}")
    parts = [bucket, *(p for p in prefix.split("/") if p)]
    if parts[-1] != "AWSLogs":
        parts.append("AWSLogs")
    if org_id:
        parts.append(org_id)
    return "s3://" + "/".join(parts) + "/"


def athena_ddl(
    bucket: str,
    prefix: str = "",
    org_id: str | None = None,
    accounts: Sequence[str] = (),
    regions: Sequence[str] | None = None,
    table: str = DEFAULT_TABLE,
    database: str | None = None,
    first_day: date | str = FIRST_DAY,
) -> str:
    """The CREATE EXTERNAL TABLE for the trail's logs in ``s3://bucket/prefix``, partitioned by
    ``account``, ``region`` and ``date`` with partition projection.

    ``accounts`` (required) and ``regions`` are the projection's enum values (``regions``
    defaults to every region botocore knows for CloudTrail); ``org_id`` (``o-…``) makes it the
    table of an organization trail. ``date`` runs from ``first_day`` to NOW.
    """
    location = trail_location(bucket, prefix, org_id)
    account_list = sorted(set(accounts))
    bad = [a for a in account_list if not ACCOUNT_RE.match(a)]
    if not account_list or bad:
        raise InputError(
            f"invalid or missing accounts {bad or account_list!r}",
            hint="name the accounts whose logs the trail holds (12 digits each)",
        )
    region_list = sorted({validate_region(r) for r in regions or _cloudtrail_regions()})
    name = _table_name(table, database)
    start = first_day if isinstance(first_day, str) else f"{first_day:%Y/%m/%d}"
    properties = {
        "projection.enabled": "true",
        "projection.account.type": "enum",
        "projection.account.values": ",".join(account_list),
        "projection.region.type": "enum",
        "projection.region.values": ",".join(region_list),
        "projection.date.type": "date",
        "projection.date.format": DATE_FORMAT,
        "projection.date.range": f"{start},NOW",
        "projection.date.interval": "1",
        "projection.date.interval.unit": "DAYS",
        "storage.location.template": location + "${account}/CloudTrail/${region}/${date}",
    }
    props = ",\n".join(f"  '{k}'='{v}'" for k, v in properties.items())
    return (
        f"CREATE EXTERNAL TABLE IF NOT EXISTS {name} (\n{CLOUDTRAIL_COLUMNS}\n)\n"
        "PARTITIONED BY (\n  `account` STRING,\n  `region` STRING,\n  `date` STRING)\n"
        f"ROW FORMAT SERDE '{SERDE}'\n"
        f"STORED AS INPUTFORMAT '{INPUT_FORMAT}'\n"
        f"OUTPUTFORMAT '{OUTPUT_FORMAT}'\n"
        f"LOCATION '{location}'\n"
        f"TBLPROPERTIES (\n{props})"
    )


def _table_name(table: str, database: str | None) -> str:
    for part in (table, database):
        if part is not None and not TABLE_NAME_RE.match(part):
            raise InputError(
                f"invalid Athena name {part!r}", hint="lower-case letters, digits and _"
            )
    return f"`{database}`.`{table}`" if database else f"`{table}`"


def _cloudtrail_regions() -> list[str]:
    import boto3

    return boto3.session.Session().get_available_regions("cloudtrail")


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

    @property
    def cost_usd(self) -> float:
        return athena_cost_usd(self.bytes_scanned)


class AthenaEngine:
    """The investigation queries on Athena, over the table of :func:`athena_ddl`.

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

    def close(self) -> None:
        """Nothing to release (the clients are the Aws session's)."""

    @property
    def client(self) -> Any:
        return self.aws.client("athena", self.region)

    # -- SQL -----------------------------------------------------------------------------------
    def source(self, scope: Scope) -> list[tuple[str, str]]:
        """``records``: the table, read for the window's days (±1), accounts and regions only."""
        narrowing = scope.narrowing
        if narrowing.first_day is None or narrowing.last_day is None:
            raise InputError(
                "an Athena query needs a window (start and end)",
                hint="without one it would scan every day of the trail; pass --start/--end",
            )
        where = [
            f"\"date\" BETWEEN '{narrowing.first_day:%Y/%m/%d}' AND '{narrowing.last_day:%Y/%m/%d}'"
        ]
        if scope.accounts:
            where.append(f"account IN ({sql_literals(scope.accounts)})")
        if scope.regions:
            where.append(f"region IN ({sql_literals(scope.regions)})")
        records = (
            "SELECT *, CAST(NULL AS INTEGER) AS file_index, CAST(NULL AS BIGINT) AS record_index\n"
            f'FROM "{self.database}"."{self.table}"\nWHERE ' + "\n  AND ".join(where)
        )
        return [("records", records)]

    def sql(self, query: Query) -> str:
        return to_trino(render(query, self.source(query.scope)))

    # -- running -------------------------------------------------------------------------------
    def run(self, query: Query) -> Output:
        sql = self.sql(query)
        done = self.execute(sql)
        table = _typed(done, query.columns)
        stats = QueryStats(
            engine=self.name,
            kind=query.kind,
            sql=sql,
            seconds=done.seconds,
            rows=table.num_rows,
            bytes_scanned=done.bytes_scanned,
            query_id=done.query_id,
            cost_usd=done.cost_usd,
        )
        return Output(table, [f"athena:{done.query_id}"], stats, query.columns)

    def execute(self, sql: str) -> AthenaRun:
        """Run ``sql`` (Trino) and fetch every row. Raises AwsError when Athena refuses it, or
        when it ends FAILED or CANCELLED (with Athena's reason); Ctrl-C stops the query."""
        started = time.perf_counter()
        query_id = self._start(sql)
        log.info("athena: query %s started", query_id)
        try:
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

    def _start(self, sql: str) -> str:
        kwargs: dict[str, Any] = {
            "QueryString": sql,
            "QueryExecutionContext": {"Database": self.database},
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
                raise _failed(query_id, state, status, self.region)
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

    def _stop(self, query_id: str) -> None:
        log.warning("athena: stopping query %s", query_id)
        try:
            self._call("StopQueryExecution", QueryExecutionId=query_id)
        except AwsError as e:  # stopping is best effort: the interrupt or timeout goes on
            log.warning("athena: could not stop query %s: %s", query_id, e)

    def _results(self, query_id: str) -> AthenaRun:
        paginator = self.client.get_paginator("get_query_results")
        pages = paginator.paginate(
            QueryExecutionId=query_id, PaginationConfig={"PageSize": self.page_size}
        )
        run: AthenaRun | None = None
        try:
            for page in pages:
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
        return run or AthenaRun(query_id, [], [])


def _values(rows: Sequence[dict[str, Any]]) -> list[list[str | None]]:
    return [[d.get("VarCharValue") for d in row.get("Data", [])] for row in rows]


def _failed(
    query_id: str, state: str | None, status: dict[str, Any], region: str | None
) -> AwsError:
    reason = status.get("StateChangeReason") or "no reason given"
    error = status.get("AthenaError") or {}
    verb = "was cancelled" if state == "CANCELLED" else "failed"
    return AwsError(
        f"Athena query {query_id} {verb}: {reason}",
        hint="check the database, the table (athena_ddl) and the output location; "
        "--print-sql shows the query",
        service="athena",
        region=region,
        operation="GetQueryExecution",
        code=str(error.get("ErrorType") or state),
    )


# --------------------------------------------------------------------------------------------
# text results → typed columns
# --------------------------------------------------------------------------------------------
_ZONE = re.compile(r"\s*(UTC|Z)$")


def _typed(run: AthenaRun, kinds: Mapping[str, str]) -> pa.Table:
    """Athena's text values as the Arrow types of the query's columns."""
    names = run.columns or list(kinds)  # no columns at all: an empty result of the query's
    arrays = {}
    for i, name in enumerate(names):
        values = [row[i] if i < len(row) else None for row in run.rows]
        arrays[name] = _column(values, kinds.get(name, "text"))
    return pa.table(arrays)


def _column(values: list[str | None], kind: str) -> pa.Array:
    if kind == "time":
        text = pd.Series(values, dtype="string").str.replace(_ZONE, "+00:00", regex=True)
        times = pd.to_datetime(text, utc=True, format="ISO8601", errors="coerce")
        return pa.array(times.astype("datetime64[us, UTC]"), type=pa.timestamp("us", tz="UTC"))
    if kind == "bool":
        return pa.array([None if v is None else v.lower() == "true" for v in values], pa.bool_())
    if kind == "int":
        return pa.array([None if v in (None, "") else int(v) for v in values], pa.int64())
    return pa.array(values, pa.large_string())
