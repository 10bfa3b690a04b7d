"""One investigation as a recipe of named steps, for the notebooks, the report and the CLI.

    sources  →  locate (finding, key)  →  window  →  activity  →  Tor status  →  analysis  →  summary

Each step is a function a notebook cell calls; :func:`investigate` runs them all. The result
(:class:`Investigation`) holds every frame the report shows, and :func:`summary` turns it into
``summary.json`` exactly as docs/DESIGN.md's report contract says.
"""

from __future__ import annotations

import contextlib
import getpass
import logging
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from torinvest import __version__, analysis, tor
from torinvest.aws import Aws, AwsConfig, parse_regions
from torinvest.case import Case
from torinvest.errors import DataIssue, InputError, OptionsError, group_issues
from torinvest.events import DEFAULT_MAX_ROWS, Activity, EngineOptions, load_activity
from torinvest.findings import (
    FindingsResult,
    KeyLocation,
    check_finding_id,
    fetch_findings,
    locate_key,
    read_findings,
)
from torinvest.paths import tor_cache
from torinvest.schema import iso_utc
from torinvest.sources.logs import DEFAULT_MAX_FILE_BYTES
from torinvest.verdict import (
    check_status,
    default_ledger_path,
    latest_verdict,
    make_verdict,
    read_ledger,
    record_decision,
)

if TYPE_CHECKING:
    from torinvest.sources.sql import Aggregates

log = logging.getLogger(__name__)

#: The source of the data issue that says no activity source could be read at all.
NOTHING_READ_SOURCE = "activity"
DEFAULT_LOOKBACK_DAYS = 14
DEFAULT_LOOKAHEAD_DAYS = 7
DEFAULT_TOLERANCE_HOURS = 24


@dataclass(slots=True)
class Sources:
    """Where the investigation reads from: a case folder, or AWS (plus extra log locations).

    ``aws`` is AWS as the source of findings and LookupEvents (None: a case folder);
    ``logs_aws`` the credentials for ``s3://`` log files and Athena when the findings come from
    a case folder (the profile or role the analyst named; with ``aws``, ``aws`` is used)."""

    case: Case | None = None
    aws: Aws | None = None
    regions: list[str] | None = None
    logs: list[str] = field(default_factory=list)
    exit_lists: list[str] = field(default_factory=list)
    engine: EngineOptions = field(default_factory=EngineOptions)
    logs_aws: Aws | None = None

    @property
    def offline(self) -> bool:
        return self.aws is None

    def describe(self) -> str:
        if self.case is not None:
            return f"case folder {self.case.root}"
        where = ", ".join(self.regions) if self.regions else "every enabled region"
        return f"AWS ({where})" + (f" and log files {', '.join(self.logs)}" if self.logs else "")


# --------------------------------------------------------------------------------------------
# notebook parameters: papermill's `-p NAME VALUE` gives text (or a number, or True/False)
# --------------------------------------------------------------------------------------------
def param_text(name: str, value: object) -> str:
    """A text parameter (a path, a name, an ID): text as it is, None as ""; anything else is an
    :class:`InputError` naming the parameter (a number would lose leading zeros: pass it raw)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    raise InputError(
        f"parameter {name}: expected text, got {type(value).__name__} {str(value)[:40]!r}",
        hint=f"pass it as text, e.g. papermill -r {name} VALUE (raw) or {name}='…'",
    )


def param_list(name: str, value: object) -> list[str]:
    """A list parameter (``logs``, ``exit_lists``): a list of text as it is; one text is that
    one item, or a comma-separated list when it holds commas and is not itself an existing
    path; None or "" is the empty list. Anything else names the parameter."""
    if value is None:
        return []
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return []
        if "," in text and not Path(text).expanduser().exists():
            return [part.strip() for part in text.split(",") if part.strip()]
        return [text]
    if isinstance(value, list | tuple):
        items = list(value)
        bad = [v for v in items if not isinstance(v, str)]
        if bad:
            raise InputError(
                f"parameter {name}: every item must be text (a path or s3:// URL), got "
                f"{type(bad[0]).__name__} {str(bad[0])[:40]!r}",
                hint=f'e.g. {name}=["/data/logs", "s3://bucket/AWSLogs/"] or -p {name} PATH',
            )
        return [v for v in items if v.strip()]
    raise InputError(
        f"parameter {name}: expected a list of paths or one path, got {type(value).__name__} "
        f"{str(value)[:40]!r}",
        hint=f"e.g. -p {name} /data/logs (one) or -p {name} /a,/b (several)",
    )


_TRUE = frozenset({"true", "yes", "1", "on"})
_FALSE = frozenset({"false", "no", "0", "off"})


def param_bool(name: str, value: object) -> bool:
    """A yes/no parameter: a bool; the text true/false, yes/no, on/off, 1/0 (any case); the
    numbers 0 and 1. Anything else names the parameter (``"false"`` is never True)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise InputError(
        f"parameter {name}: expected true or false, got {type(value).__name__} {str(value)[:40]!r}",
        hint=f"e.g. -p {name} False (papermill) or {name}=False",
    )


def param_number(name: str, value: object, *, integer: bool = False) -> float:
    """A number parameter (days, hours, rows): a number, or text that is one (``14``, ``1.5``,
    ``1_000_000``); ≥ 0 and finite. Anything else names the parameter."""
    number: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        with contextlib.suppress(ValueError):
            number = float(value.strip().replace("_", "").replace(",", ""))
    if number is None or number != number or number in (float("inf"), float("-inf")):
        raise InputError(
            f"parameter {name}: expected a number, got {type(value).__name__} {str(value)[:40]!r}",
            hint=f"e.g. -p {name} 14",
        )
    if number < 0 or (integer and number != int(number)):
        what = "a whole number ≥ 0" if integer else "a number ≥ 0"
        raise InputError(f"parameter {name}: expected {what}, got {value!r}", hint="e.g. 14")
    return number


def param_regions(name: str, value: object) -> str:
    """``regions``: ``all`` or a comma list, as text; a list of region names is joined."""
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return ",".join(value)
    return param_text(name, value)


_PARAM_CHECKS: dict[str, Any] = {
    "regions": param_regions,
    "str": param_text,
    "list[str]": param_list,
    "bool": param_bool,
    "float": param_number,
    "int": lambda name, value: int(param_number(name, value, integer=True)),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class NotebookParameters:
    """Base of a notebook's checked parameters: :meth:`check` reads each declared field from
    the parameters the notebook was given (its namespace), converts what is unambiguous (a
    comma list or one path for a list, ``"false"`` for a bool, ``"14"`` for a number) and
    raises :class:`InputError` naming the parameter for the rest."""

    @classmethod
    def check(cls, values: Mapping[str, Any]) -> Any:
        checked: dict[str, Any] = {}
        for f in fields(cls):
            if f.name in values:
                check = _PARAM_CHECKS.get(f.name) or _PARAM_CHECKS[str(f.type)]
                checked[f.name] = check(f.name, values[f.name])
        return cls(**checked)


@dataclass(frozen=True, slots=True, kw_only=True)
class InvestigateParameters(NotebookParameters):
    """The parameters of ``notebooks/investigate.ipynb`` (its parameters cell documents them)."""

    finding_id: str = ""
    case_dir: str = ""
    profile: str = ""
    regions: str = "all"
    role_arn: str = ""
    logs: list[str] = field(default_factory=list)
    exit_lists: list[str] = field(default_factory=list)
    engine: str = "files"
    athena_database: str = ""
    athena_workgroup: str = ""
    athena_output: str = ""
    max_rows: int = DEFAULT_MAX_ROWS
    max_file_mb: int = DEFAULT_MAX_FILE_BYTES >> 20
    lookback_days: float = DEFAULT_LOOKBACK_DAYS
    lookahead_days: float = DEFAULT_LOOKAHEAD_DAYS
    tolerance_hours: float = DEFAULT_TOLERANCE_HOURS
    follow_derived: bool = True
    verdict_status: str = "pending"
    analyst: str = ""
    rationale: str = ""
    suppress: bool = False
    ledger: str = ""
    summary_path: str = ""
    export_dir: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class TriageParameters(NotebookParameters):
    """The parameters of ``notebooks/triage.ipynb`` (its parameters cell documents them)."""

    case_dir: str = ""
    profile: str = ""
    regions: str = "all"
    role_arn: str = ""
    include_archived: bool = False
    out_dir: str = "out"
    notebooks_dir: str = "investigations"


def sources_from_parameters(
    *,
    case_dir: str | None = None,
    profile: str | None = None,
    regions: str | Sequence[str] | None = "all",
    role_arn: str | None = None,
    logs: Sequence[str] | str = (),
    exit_lists: Sequence[str] | str = (),
    engine: str = "files",
    athena_database: str = "",
    athena_workgroup: str = "",
    athena_output: str = "",
    max_rows: int | None = DEFAULT_MAX_ROWS,
    max_file_mb: int = DEFAULT_MAX_FILE_BYTES >> 20,
) -> Sources:
    """Sources from notebook/CLI parameters: a case folder wins; else AWS via the CLI chain.

    ``logs`` and ``exit_lists`` may be one path (text, as papermill's ``-p`` gives it) or a
    comma-separated list (:func:`param_list`); a wrong-typed parameter is an InputError naming it.

    ``engine`` reads the log files: ``files`` (default), ``duckdb``, or ``athena`` (the
    CloudTrail table in ``athena_database``; then no log files are needed). ``max_rows``: above
    this many matching rows the duckdb/athena engine counts in the engine (0 or None: never).
    ``max_file_mb``: the most one log file may hold once decompressed (MiB); a larger file is
    a data issue, not read.
    """
    case_dir = param_text("case_dir", case_dir)
    profile, role_arn = param_text("profile", profile), param_text("role_arn", role_arn)
    logs, exit_lists = param_list("logs", logs), param_list("exit_lists", exit_lists)
    rows = None if max_rows is None else int(param_number("max_rows", max_rows, integer=True))
    options = EngineOptions(
        kind=param_text("engine", engine) or "files",
        max_rows=rows or None,
        max_file_bytes=int(param_number("max_file_mb", max_file_mb, integer=True)) << 20,
        athena_database=param_text("athena_database", athena_database) or None,
        athena_workgroup=param_text("athena_workgroup", athena_workgroup) or None,
        athena_output=param_text("athena_output", athena_output) or None,
    )
    case = Case.open(case_dir) if case_dir else None
    check_sources(case, list(logs), options, named=bool(profile or role_arn))
    if case is not None:
        reads_aws = options.kind == "athena" or any(str(s).startswith("s3://") for s in logs)
        logs_aws = (
            Aws(AwsConfig(profile=profile or None, role_arn=role_arn or None))
            if reads_aws
            else None
        )
        return Sources(
            case=case,
            logs=list(logs),
            exit_lists=list(exit_lists),
            engine=options,
            logs_aws=logs_aws,
        )
    aws = Aws(AwsConfig(profile=profile or None, role_arn=role_arn or None))
    return Sources(
        aws=aws,
        regions=parse_regions(regions),
        logs=logs,
        exit_lists=exit_lists,
        engine=options,
    )


def check_sources(
    case: Case | None, logs: Sequence[str], engine: EngineOptions, *, named: bool
) -> None:
    """Refuse parameters that cannot mean what they say together (:class:`OptionsError`; the
    CLI exits 2 before a kernel starts, the notebook shows the error): log files for the Athena
    engine (which reads its table), the DuckDB engine with no log file, credentials named for a
    run that reads nothing from AWS."""
    case_logs = case is not None and case.cloudtrail.is_dir()
    if engine.kind == "athena" and (logs or case_logs):
        given = "--logs (logs)" if logs else f"the case folder's {case.cloudtrail if case else ''}"
        raise OptionsError(
            f"--engine athena reads the CloudTrail table in Athena: {given} would not be read",
            hint="use --engine files or duckdb for log files; for Athena, leave --logs out and "
            "use a case folder without cloudtrail/ (or AWS) for the findings",
        )
    if engine.kind == "duckdb" and not (logs or case_logs):
        raise OptionsError(
            "--engine duckdb reads log files: give --logs (logs) or a case folder with cloudtrail/",
            hint="or use --engine athena for the CloudTrail table",
        )
    reads_aws = engine.kind == "athena" or any(str(s).startswith("s3://") for s in logs)
    if case is not None and named and not reads_aws:
        raise OptionsError(
            "--profile/--role-arn (profile, role_arn) name AWS credentials, but with a case "
            "folder and local log files nothing reads AWS",
            hint="leave them out, or add the s3:// logs (--logs) or --engine athena they are for",
        )


# --------------------------------------------------------------------------------------------
# steps
# --------------------------------------------------------------------------------------------
def load_findings(sources: Sources) -> FindingsResult:
    """The Tor findings the sources hold (archived ones too: a report may follow an archive).

    Raises :class:`~torinvest.errors.CouldNotLookError` when no region or file could be read:
    an empty result would read as "not there". Regions or files that failed beside others are
    in ``failed`` and ``issues``."""
    if sources.case is not None:
        result = read_findings(sources.case.require("findings"))
    else:
        assert sources.aws is not None
        result = fetch_findings(sources.aws, sources.regions, include_archived=True)
    return result.tor_only().require_looked()


def locate(findings: FindingsResult, finding_id: str) -> tuple[pd.Series, KeyLocation]:
    """The finding's row in the findings frame and the key it names (errors name the ID).

    "Not found" only when every source answered (:meth:`FindingsResult.get`): otherwise a
    could-not-look error, or "not in the N region(s) that answered; … so it may be there"."""
    check_finding_id(finding_id)
    findings.get(finding_id)
    frame = findings.frame()
    row = frame.loc[frame["id"] == finding_id].iloc[0]
    return row, locate_key(row)


def window_for(
    key: KeyLocation,
    *,
    lookback_days: float = DEFAULT_LOOKBACK_DAYS,
    lookahead_days: float = DEFAULT_LOOKAHEAD_DAYS,
    now: pd.Timestamp | None = None,
) -> tuple[pd.Timestamp, pd.Timestamp]:
    """[first_seen − lookback, last_seen + lookahead], never later than now."""
    now = now or pd.Timestamp.now(tz="UTC")
    if lookback_days < 0 or lookahead_days < 0:
        raise InputError("look-back and look-ahead must be ≥ 0 days", hint="e.g. 14 and 7")
    first = key.first_seen or key.last_seen or now
    last = key.last_seen or first
    start = first - pd.Timedelta(days=lookback_days)
    end = min(last + pd.Timedelta(days=lookahead_days), now)
    return start, max(end, start)


def key_activity(
    sources: Sources,
    key: KeyLocation,
    window: tuple[pd.Timestamp, pd.Timestamp],
    *,
    follow_derived: bool = True,
) -> Activity:
    """Everything the key (and keys it minted) did in the window, from every source."""
    logs = list(sources.logs)
    if sources.case is not None and sources.case.cloudtrail.is_dir():
        logs.insert(0, str(sources.case.cloudtrail))
    if sources.case is not None and not logs and sources.engine.kind != "athena":
        raise InputError(
            f"case folder {sources.case.root} has no cloudtrail/ folder",
            hint="add the CloudTrail logs (or a lookup-events export) to CASE/cloudtrail/",
        )
    return load_activity(
        logs=logs,
        lookup=sources.aws,
        access_key=key.access_key_id,
        start=window[0],
        end=window[1],
        regions=sources.regions,
        follow_derived=follow_derived,
        aws=sources.aws or sources.logs_aws,  # the credentials named, for S3 and Athena too
        engine=sources.engine,
    )


def exit_lists(sources: Sources) -> tor.ExitLists:
    """The case's exit lists (CASE/tor/), extra ones asked for, lists refreshed into the cache
    (``torinvest tor refresh``), and the bundled history."""
    paths: list[str] = list(sources.exit_lists)
    if sources.case is not None and sources.case.tor.is_dir():
        paths.insert(0, str(sources.case.tor))
    cache = tor_cache()
    return tor.load_exit_lists(*paths, bundled=True, cache_dir=cache if cache.is_dir() else None)


def with_tor(
    events: pd.DataFrame, lists: tor.ExitLists, *, tolerance_hours: float = DEFAULT_TOLERANCE_HOURS
) -> pd.DataFrame:
    """The events frame plus a ``tor`` column (True / False / NA, see :func:`tor.tor_status`).

    For a counts frame (rows per time bucket, ``attrs["bucket"]``; see
    :class:`torinvest.sources.sql.Aggregates`) the status is that of each (IP, bucket): the IP
    listed within the tolerance plus half a bucket of the bucket's middle."""
    out = events.copy()
    tolerance = pd.Timedelta(hours=tolerance_hours)
    bucket = events.attrs.get("bucket") if "calls" in events.columns else None
    if bucket is None:
        out["tor"] = tor.tor_status(events, lists, tolerance)
        return out
    half = pd.Timedelta(bucket) / 2
    probe = pd.DataFrame(
        {"event_time": events["event_time"] + half, "source_ip": events["source_ip"]},
        index=events.index,
    )
    out["tor"] = tor.tor_status(probe, lists, tolerance + half)
    return out


def with_ip_tor(frame: pd.DataFrame, status: pd.Series) -> pd.DataFrame:
    """A frame without times (counts per user agent, per region) plus each IP's ``tor`` status
    (:func:`torinvest.analysis.ip_tor_status` of the by-time counts)."""
    out = frame.copy()
    out["tor"] = frame["source_ip"].map(status).astype("boolean")
    return out


# --------------------------------------------------------------------------------------------
# the whole recipe
# --------------------------------------------------------------------------------------------
@dataclass(slots=True)
class Investigation:
    """Everything one report shows. Frames are documented in :mod:`torinvest.analysis`."""

    finding: pd.Series
    key: KeyLocation
    window: tuple[pd.Timestamp, pd.Timestamp]
    activity: Activity
    lists: tor.ExitLists
    events: pd.DataFrame
    per_ip: pd.DataFrame
    sensitive: pd.DataFrame
    signals: list[analysis.Signal]
    score: analysis.TriageScore
    findings: pd.DataFrame
    sources: Sources
    by_time: pd.DataFrame | None = None
    by_agent: pd.DataFrame | None = None
    by_region: pd.DataFrame | None = None
    #: When the investigation ran (UTC): the report's and summary.json's "generated at".
    started_at: pd.Timestamp = field(default_factory=lambda: pd.Timestamp.now(tz="UTC"))

    def __post_init__(self) -> None:
        # what the charts take: the events frame, or counts frames when the activity was
        # counted in the engine (Activity.aggregates)
        for name in ("by_time", "by_agent", "by_region"):
            if getattr(self, name) is None:
                setattr(self, name, self.events)

    @property
    def counted(self) -> bool:
        """Whether the activity was counted in the engine (events holds the sensitive calls)."""
        return self.activity.aggregates is not None

    def totals(self) -> dict[str, int]:
        """Every event of the activity: total, failed, from_tor (counted or from the rows)."""
        frame = self.by_time if self.counted else self.events
        assert frame is not None
        if not len(frame):
            return {"total": 0, "failed": 0, "from_tor": 0}
        weight = (
            frame["calls"].fillna(0).to_numpy(dtype="int64")
            if self.counted
            else np.ones(len(frame), dtype="int64")
        )
        failed = (
            frame["failed"].fillna(0).to_numpy(dtype="int64")
            if self.counted
            else frame["error_code"].notna().to_numpy(dtype="int64")
        )
        tor_true = frame["tor"].fillna(False).to_numpy(dtype=bool)
        return {
            "total": int(weight.sum()),
            "failed": int(failed.sum()),
            "from_tor": int(weight[tor_true].sum()),
        }

    @property
    def data_issues(self) -> list[DataIssue]:
        issues = []
        if self.activity.nothing_read:  # first: "could not look", not "no events"
            issues.append(DataIssue(NOTHING_READ_SOURCE, self.activity.why_nothing()))
        issues += list(self.activity.issues) + list(self.lists.issues)
        issues += [DataIssue("events", n) for n in self.activity.notes]
        frame = self.by_time if self.counted else self.events
        assert frame is not None
        unknown = 0
        if len(frame):
            na = frame["tor"].isna().to_numpy(dtype=bool)
            unknown = int(frame["calls"][na].sum()) if self.counted else int(na.sum())
        if unknown:
            issues.append(
                DataIssue(
                    "tor",
                    f"{unknown} event(s) at times no loaded exit list covers: their Tor status "
                    "is unknown (add exit lists for those dates to CASE/tor/ or refresh)",
                )
            )
        return issues


def investigate(
    finding_id: str,
    sources: Sources,
    *,
    lookback_days: float = DEFAULT_LOOKBACK_DAYS,
    lookahead_days: float = DEFAULT_LOOKAHEAD_DAYS,
    tolerance_hours: float = DEFAULT_TOLERANCE_HOURS,
    follow_derived: bool = True,
    now: pd.Timestamp | None = None,
    findings: FindingsResult | None = None,
) -> Investigation:
    """Run every step for one finding (``findings``: already loaded, not fetched again)."""
    findings = findings if findings is not None else load_findings(sources)
    row, key = locate(findings, finding_id)
    window = window_for(key, lookback_days=lookback_days, lookahead_days=lookahead_days, now=now)
    activity = key_activity(sources, key, window, follow_derived=follow_derived)
    lists = exit_lists(sources)
    events = with_tor(activity.frame, lists, tolerance_hours=tolerance_hours)
    finding_frame = findings.frame()
    mine = finding_frame[finding_frame["access_key_id"] == key.access_key_id]
    counts: dict[str, pd.DataFrame] = {}
    if activity.aggregates is None:
        table = analysis.per_ip(events, findings=mine)
        found_signals = analysis.signals(
            events,
            finding_window=analysis.window_of(mine),
            derived_keys=[d.access_key_id for d in activity.derived],
        )
    else:  # counted in the engine: events holds the sensitive calls
        counts = _counts_with_tor(activity.aggregates, lists, tolerance_hours)
        table = analysis.per_ip_counted(
            activity.aggregates.per_ip, counts["by_time"], findings=mine
        )
        found_signals = analysis.signals(
            events,
            finding_window=analysis.window_of(mine),
            derived_keys=activity.derived,
            counts=counts["by_time"],
            per_ip_table=table,
        )
    return Investigation(
        finding=row,
        key=key,
        window=window,
        activity=activity,
        lists=lists,
        events=events,
        per_ip=table,
        sensitive=analysis.sensitive_events(events, targets=True),
        signals=found_signals,
        score=analysis.triage_score(found_signals),
        findings=mine,
        sources=sources,
        **counts,
    )


def _counts_with_tor(
    agg: Aggregates, lists: tor.ExitLists, tolerance_hours: float
) -> dict[str, pd.DataFrame]:
    """The engine's counts frames with their Tor status: per (IP, time bucket) for ``by_time``,
    per IP (any bucket Tor → Tor) for ``by_agent`` and ``by_region``."""
    by_time = with_tor(agg.by_time, lists, tolerance_hours=tolerance_hours)
    status = analysis.ip_tor_status(by_time)
    return {
        "by_time": by_time,
        "by_agent": with_ip_tor(agg.by_agent, status),
        "by_region": with_ip_tor(agg.by_region, status),
    }


# --------------------------------------------------------------------------------------------
# verdict
# --------------------------------------------------------------------------------------------
def evidence(inv: Investigation) -> dict[str, Any]:
    """What a verdict rests on, in a few numbers (stored with the verdict in the ledger)."""
    totals = inv.totals()
    tor_ips = sorted(
        str(ip) for ip in inv.per_ip.loc[inv.per_ip["tor"].fillna(False).astype(bool), "source_ip"]
    )
    return {
        "window": {"start": str(inv.window[0]), "end": str(inv.window[1])},
        "events": totals["total"],
        "failed": totals["failed"],
        "from_tor": totals["from_tor"],
        "source_ips": len(inv.per_ip),
        "tor_ips": tor_ips,
        "derived_keys": [d.access_key_id for d in inv.activity.derived],
        "sensitive_events": len(inv.sensitive),
        "score": inv.score.score,
        "band": inv.score.band,
        "signals": [s.name for s in inv.signals if s.weight > 0],
        "data_issues": len(inv.data_issues),
        "source": inv.sources.describe(),
    }


def decide(
    inv: Investigation | None,
    *,
    finding_id: str,
    status: str = "pending",
    analyst: str = "",
    rationale: str = "",
    ledger: str | Path | None = None,
) -> dict[str, Any]:
    """The verdict of this run: a decided status is recorded in the ledger with the evidence —
    once: when the finding's current verdict already says the same (status, analyst,
    rationale), nothing is appended, so re-running the notebook adds no record; ``pending``
    records nothing and shows the finding's current verdict, if any.

    Returns the summary's verdict fields plus ``ledger`` (the ledger's path), ``added`` (a
    record was appended by this call) and ``superseded`` (the decided verdict it replaced).
    """
    path = Path(ledger).expanduser() if ledger else default_ledger_path()
    check_status(status)
    if status == "pending":
        records, _ = read_ledger(path)
        prior = latest_verdict(records, finding_id)
        if prior is not None:
            return _verdict_fields(prior, path)
        return {
            "status": "pending",
            "analyst": analyst or None,
            "rationale": rationale or None,
            "recorded_at": None,
            "ledger": str(path),
            "added": False,
            "superseded": None,
        }
    v = make_verdict(
        finding_id,
        status=status,
        analyst=analyst,
        rationale=rationale,
        access_key_id=inv.key.access_key_id if inv is not None else None,
        evidence=evidence(inv) if inv is not None else None,
    )
    done = record_decision(v, path)
    return _verdict_fields(done.record, path, added=done.added, superseded=done.superseded)


def _verdict_fields(
    record: Mapping[str, Any],
    path: Path,
    *,
    added: bool = False,
    superseded: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "status": record.get("status", "pending"),
        "analyst": record.get("analyst") or None,
        "rationale": record.get("rationale") or None,
        "recorded_at": record.get("recorded_at"),
        "ledger": str(path),
        "added": added,
        "superseded": dict(superseded) if superseded else None,
    }


# --------------------------------------------------------------------------------------------
# summary.json
# --------------------------------------------------------------------------------------------
def _plain(v: Any) -> Any:
    if v is None or v is pd.NA or (isinstance(v, float) and v != v):
        return None
    return v.item() if hasattr(v, "item") else v


def run_by() -> str:
    """Who generated the report: ``user@host`` of the process (``unknown user`` when the
    operating system names no user)."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry and no LOGNAME/USER (some containers)
        user = "unknown user"
    return f"{user}@{socket.gethostname()}"


def read_sources(inv: Investigation) -> list[str]:
    """What the investigation read, one line each: the findings' source, every log location,
    LookupEvents region or engine table (``logs:…``, ``lookup:<region>``, ``duckdb:…``,
    ``athena:…``), and the Tor exit lists (``tor: …``)."""
    lists = [f"tor: {line}" for line in inv.lists.describe().splitlines() if line.strip()]
    return list(dict.fromkeys([inv.sources.describe(), *inv.activity.sources, *lists]))


def provenance(inv: Investigation) -> dict[str, Any]:
    """``summary.json``'s ``generated``: when the investigation ran (UTC), by whom
    (:func:`run_by`) and from which sources (:func:`read_sources`)."""
    return {"at": iso_utc(inv.started_at), "by": run_by(), "sources": read_sources(inv)}


def summary(inv: Investigation, verdict: dict[str, Any] | None = None) -> dict[str, Any]:
    """``summary.json``: the machine-readable result a ticket system stores (docs/DESIGN.md)."""
    f, k = inv.finding, inv.key
    v = verdict or {}
    return {
        "torinvest_version": __version__,
        "generated": provenance(inv),
        "finding": {
            "id": k.finding_id,
            "type": k.finding_type,
            "account_id": k.account_id,
            "region": k.region,
            "severity": _plain(f.get("severity")),
            "first_seen": iso_utc(k.first_seen),
            "last_seen": iso_utc(k.last_seen),
            "count": _plain(f.get("count")),
            "tor_ip": k.tor_ip,
        },
        "key": {
            "access_key_id": k.access_key_id,
            "kind": k.kind,
            "principal_id": k.principal_id,
            "user_name": k.user_name,
            "user_type": k.user_type,
        },
        "window": {"start": iso_utc(inv.window[0]), "end": iso_utc(inv.window[1])},
        "events": inv.totals(),
        "source_ips": analysis.summary_source_ips(inv.per_ip),
        "sensitive_events": analysis.summary_sensitive_events(inv.sensitive),
        "derived_keys": [d.access_key_id for d in inv.activity.derived],
        "signals": [s.to_dict() for s in inv.signals],
        "verdict": {
            "status": v.get("status", "pending"),
            "analyst": v.get("analyst") or None,
            "rationale": v.get("rationale") or None,
            "recorded_at": v.get("recorded_at"),
        },
        # identical problems grouped (count and examples): see torinvest.errors.group_issues
        "data_issues": [i.to_dict() for i in group_issues(inv.data_issues)],
    }


def report_dir_name(finding_id: str) -> str:
    return f"finding-{check_finding_id(finding_id)}"


def outputs(out: str | Path) -> dict[str, Path]:
    """The files a run writes in ``out``."""
    p = Path(out)
    return {
        "notebook": p / "report.ipynb",
        "html": p / "report.html",
        "summary": p / "summary.json",
    }
