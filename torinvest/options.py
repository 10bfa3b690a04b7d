"""The investigation's options and their defaults, defined once: which engine reads the log
files (:class:`EngineOptions`) and everything one run takes besides the finding and the output
folder (:class:`RunOptions`). ``torinvest investigate``'s arguments, the investigation
notebook's parameters (:class:`torinvest.investigation.InvestigateParameters`) and
:func:`torinvest.investigation.sources_from_parameters` take their defaults from here, and
tests/test_options.py checks that they name the same options.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from torinvest.aws.session import CONNECT_TIMEOUT_RANGE, DEFAULT_CONNECT_TIMEOUT
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
class NumberRange:
    """The values a numeric option (and its notebook parameter) may take: finite, between
    ``low`` and ``high`` (both included), whole when ``integer``; ``what`` says what it counts
    and ``example`` is a value to suggest."""

    low: float
    high: float
    what: str
    example: str
    integer: bool = False

    def span(self) -> str:
        """``0 to 3,650``."""
        return f"{_shown(self.low)} to {_shown(self.high)}"

    def describe(self) -> str:
        """What to give: ``a number of days from 0 to 3,650, e.g. 14``."""
        kind = "a whole number" if self.integer else "a number"
        return f"{kind} of {self.what} from {self.span()}, e.g. {self.example}"


def _shown(bound: float) -> str:
    """A bound as the help and the errors say it: ``3,650``, ``1,048,576``, ``0.5``."""
    return f"{int(bound):,}" if bound == int(bound) else f"{bound:g}"


#: The longest window around a finding one run reads (10 years: CloudTrail keeps 90 days of
#: LookupEvents; trails older than this are an archive, not an investigation window).
MAX_WINDOW_DAYS = 3650
#: Every numeric option of a run and its bounds, by the name of its RunOptions field / notebook
#: parameter (``--lookback-days`` is ``lookback_days``). The CLI (:func:`torinvest.cli.args`'
#: ``number_option``), the notebook's parameter check (:func:`torinvest.parameters.param_number`)
#: and :func:`torinvest.report.validate` all check a value with :func:`check_number`.
NUMBER_RANGES: dict[str, NumberRange] = {
    "lookback_days": NumberRange(0, MAX_WINDOW_DAYS, "days", str(DEFAULT_LOOKBACK_DAYS)),
    "lookahead_days": NumberRange(0, MAX_WINDOW_DAYS, "days", str(DEFAULT_LOOKAHEAD_DAYS)),
    "tolerance_hours": NumberRange(0, 720, "hours", str(DEFAULT_TOLERANCE_HOURS)),
    "max_rows": NumberRange(0, 10**10, "rows", "1000000", integer=True),
    "max_file_mb": NumberRange(1, 1 << 20, "MiB", "2048", integer=True),
    "max_workers": NumberRange(1, 64, "regions queried at once", "8", integer=True),
    "connect_timeout": NumberRange(
        *CONNECT_TIMEOUT_RANGE, "seconds", f"{DEFAULT_CONNECT_TIMEOUT:g}"
    ),
    "jobs": NumberRange(1, MAX_JOBS, "reports run at once", "4", integer=True),
    "cell_timeout": NumberRange(1, 7 * 86400, "seconds", str(CELL_TIMEOUT)),
}


def parse_number(value: object) -> float | None:
    """A number from a number or its text (``14``, ``1.5``, ``1_000_000``, ``1,000``); None for
    anything else (a bool, other text). ``nan`` and ``inf`` come back as they are."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip().replace("_", "").replace(",", ""))
        except ValueError:
            return None
    return None


def check_number(name: str, value: object, *, label: str | None = None) -> float:
    """``value`` of the numeric option ``name`` (a key of :data:`NUMBER_RANGES`) as a number:
    finite, within its range, whole if it must be. Anything else is an :class:`InputError`
    starting with ``label`` (default: ``parameter NAME``; "" for none) that says what it takes."""
    allowed = NUMBER_RANGES[name]
    prefix = f"parameter {name}: " if label is None else f"{label}: " if label else ""
    number = parse_number(value)
    shown = f"{value:g}" if isinstance(value, float) else str(value)[:40]
    problem = ""
    if number is None:
        problem = f"not a number: {shown!r}"
    elif not math.isfinite(number):
        problem = f"{shown!r} is not a finite number"
    elif allowed.integer and number != int(number):
        problem = f"{shown!r} is not a whole number"
    elif number < allowed.low:
        problem = f"{shown} is less than {_shown(allowed.low)}"
    elif number > allowed.high:
        problem = f"{shown} is more than {_shown(allowed.high)}"
    if problem or number is None:
        raise InputError(prefix + problem, hint=f"give {allowed.describe()}")
    return number


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
    #: the external ID AssumeRole passes with ``role_arn`` (``--external-id``)
    external_id: str | None = None
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
    supersede: bool = False
    #: record the verdict even when the finding changed since the report read it
    finding_changed_ok: bool = False
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
