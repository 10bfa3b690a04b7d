"""One investigation as a recipe of named steps, for the notebooks, the report and the CLI.

    sources  →  locate (finding, key)  →  window  →  activity  →  Tor status  →  analysis  →  summary

Each step is a function a notebook cell calls; :func:`investigate` runs them all. The result
(:class:`Investigation`) holds every frame the report shows, and :func:`summary` turns it into
``summary.json`` exactly as DESIGN.md's report contract says.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from torinvest import __version__, analysis, tor
from torinvest.aws import Aws, AwsConfig, parse_regions
from torinvest.case import Case
from torinvest.errors import DataIssue, InputError
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

if TYPE_CHECKING:
    from torinvest.sources.sql import Aggregates

log = logging.getLogger(__name__)

DEFAULT_LOOKBACK_DAYS = 14
DEFAULT_LOOKAHEAD_DAYS = 7
DEFAULT_TOLERANCE_HOURS = 24


@dataclass(slots=True)
class Sources:
    """Where the investigation reads from: a case folder, or AWS (plus extra log locations)."""

    case: Case | None = None
    aws: Aws | None = None
    regions: list[str] | None = None
    logs: list[str] = field(default_factory=list)
    exit_lists: list[str] = field(default_factory=list)
    engine: EngineOptions = field(default_factory=EngineOptions)

    @property
    def offline(self) -> bool:
        return self.aws is None

    def describe(self) -> str:
        if self.case is not None:
            return f"case folder {self.case.root}"
        where = ", ".join(self.regions) if self.regions else "every enabled region"
        return f"AWS ({where})" + (f" and log files {', '.join(self.logs)}" if self.logs else "")


def sources_from_parameters(
    *,
    case_dir: str | None = None,
    profile: str | None = None,
    regions: str | Sequence[str] | None = "all",
    role_arn: str | None = None,
    logs: Sequence[str] = (),
    exit_lists: Sequence[str] = (),
    engine: str = "files",
    athena_database: str = "",
    athena_workgroup: str = "",
    athena_output: str = "",
    max_rows: int | None = DEFAULT_MAX_ROWS,
    max_file_mb: int = DEFAULT_MAX_FILE_BYTES >> 20,
) -> Sources:
    """Sources from notebook/CLI parameters: a case folder wins; else AWS via the CLI chain.

    ``engine`` reads the log files: ``files`` (default), ``duckdb``, or ``athena`` (the
    CloudTrail table in ``athena_database``; then no log files are needed). ``max_rows``: above
    this many matching rows the duckdb/athena engine counts in the engine (0 or None: never).
    ``max_file_mb``: the most one log file may hold once decompressed (MiB); a larger file is
    a data issue, not read.
    """
    options = EngineOptions(
        kind=engine or "files",
        max_rows=int(max_rows) if max_rows else None,
        max_file_bytes=int(max_file_mb) << 20,
        athena_database=athena_database or None,
        athena_workgroup=athena_workgroup or None,
        athena_output=athena_output or None,
    )
    if case_dir:
        return Sources(
            case=Case.open(case_dir), logs=list(logs), exit_lists=list(exit_lists), engine=options
        )
    aws = Aws(AwsConfig(profile=profile or None, role_arn=role_arn or None))
    return Sources(
        aws=aws,
        regions=parse_regions(regions),
        logs=list(logs),
        exit_lists=list(exit_lists),
        engine=options,
    )


# --------------------------------------------------------------------------------------------
# steps
# --------------------------------------------------------------------------------------------
def load_findings(sources: Sources) -> FindingsResult:
    """The Tor findings the sources hold (archived ones too: a report may follow an archive)."""
    if sources.case is not None:
        return read_findings(sources.case.require("findings")).tor_only()
    assert sources.aws is not None
    return fetch_findings(sources.aws, sources.regions, include_archived=True).tor_only()


def locate(findings: FindingsResult, finding_id: str) -> tuple[pd.Series, KeyLocation]:
    """The finding's row in the findings frame and the key it names (errors name the ID)."""
    check_finding_id(finding_id)
    findings.get(finding_id)  # FindingNotFoundError, listing what there is
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
        aws=sources.aws,
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
        issues = list(self.activity.issues) + list(self.lists.issues)
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
        sensitive=analysis.sensitive_events(events),
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
# summary.json
# --------------------------------------------------------------------------------------------
def _plain(v: Any) -> Any:
    if v is None or v is pd.NA or (isinstance(v, float) and v != v):
        return None
    return v.item() if hasattr(v, "item") else v


def summary(inv: Investigation, verdict: dict[str, Any] | None = None) -> dict[str, Any]:
    """``summary.json``: the machine-readable result a ticket system stores (DESIGN.md)."""
    f, k = inv.finding, inv.key
    v = verdict or {}
    return {
        "torinvest_version": __version__,
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
        "data_issues": [i.to_dict() for i in inv.data_issues],
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
