"""The investigation's options and their defaults, defined once: which engine reads the log
files (:class:`EngineOptions`) and everything one run takes besides the finding and the output
folder (:class:`RunOptions`). ``torinvest investigate``'s arguments, the investigation
notebook's parameters (:class:`torinvest.investigation.InvestigateParameters`) and
:func:`torinvest.investigation.sources_from_parameters` take their defaults from here, and
tests/test_options.py checks that they name the same options.
"""

from __future__ import annotations

from dataclasses import dataclass

from torinvest.errors import InputError, OptionsError
from torinvest.inflate import DEFAULT_LIMIT as DEFAULT_MAX_FILE_BYTES

DEFAULT_LOOKBACK_DAYS = 14
DEFAULT_LOOKAHEAD_DAYS = 7
DEFAULT_TOLERANCE_HOURS = 24
#: Seconds one cell may run (fetching every region's CloudTrail can take minutes).
CELL_TIMEOUT = 1800

ENGINES = ("files", "duckdb", "athena")
#: Matching rows above which the duckdb/athena engines count in the engine instead of loading
#: every row (``max_rows`` of load_sql): a million events make a frame of about 1 GB with their
#: request/response JSON.
DEFAULT_MAX_ROWS = 1_000_000
#: ``torinvest actions``: the plans (``--plan``) and what a suppression rule matches (``--scope``).
SUPPRESSION_SCOPES = ("key", "principal")
PLAN_KINDS = ("archive", "remediate")
#: ``investigate --all-open --jobs N``: the most reports run at once (each is a process and a
#: kernel: memory grows with it).
MAX_JOBS = 16


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
        athena = [
            name
            for name in ("database", "table", "workgroup", "output", "region")
            if getattr(self, f"athena_{name}")
        ]
        if athena and self.kind != "athena":
            options = ", ".join(f"--athena-{n}" for n in athena)
            raise OptionsError(
                f"{options} go(es) with --engine athena, not --engine {self.kind}",
                hint="add --engine athena, or leave the Athena options out",
            )
        if self.max_rows is not None and self.max_rows < 0:
            raise InputError(
                f"invalid row limit {self.max_rows}", hint="a number of rows ≥ 0 (e.g. 1000000)"
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class RunOptions:
    """Everything one run takes besides the finding ID and the output folder."""

    case_dir: str | None = None
    profile: str | None = None
    regions: str = "all"
    role_arn: str | None = None
    logs: tuple[str, ...] = ()
    exit_lists: tuple[str, ...] = ()
    lookback_days: float = DEFAULT_LOOKBACK_DAYS
    lookahead_days: float = DEFAULT_LOOKAHEAD_DAYS
    tolerance_hours: float = DEFAULT_TOLERANCE_HOURS
    follow_derived: bool = True
    verdict_status: str = "pending"
    analyst: str = ""
    rationale: str = ""
    suppress: bool = False
    ledger: str | None = None
    cell_timeout: float = CELL_TIMEOUT
    engine: str = "files"
    athena_database: str | None = None
    athena_table: str | None = None
    athena_workgroup: str | None = None
    athena_output: str | None = None
    max_rows: int | None = DEFAULT_MAX_ROWS
    max_file_mb: int = DEFAULT_MAX_FILE_BYTES >> 20
    geoip: tuple[str, ...] = ()
