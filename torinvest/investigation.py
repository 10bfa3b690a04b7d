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
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from torinvest import __version__, analysis, tor
from torinvest.addresses import canonical_column
from torinvest.aws import global_events_region
from torinvest.aws.regions import REGION_RE
from torinvest.commands import Access
from torinvest.commands import report_dir_name as report_dir_name
from torinvest.data_events import data_events
from torinvest.data_trails import DataTrails, check_data_trails
from torinvest.errors import DataIssue, InputError, OptionsError, group_issues
from torinvest.events import NOTES_SOURCE, Activity, load_activity
from torinvest.findings import (
    FindingsResult,
    KeyLocation,
    check_finding_id,
    fetch_findings,
    locate_key,
    read_findings,
)
from torinvest.findings.fetched import FETCHED_AS_OF, fetched_with, fetched_words, read_fetched
from torinvest.findings.locate import (
    SEEN_FALLBACK,
    SEEN_FIRST_FROM_CREATION,
    SEEN_FIRST_ONLY,
    SEEN_LAST_FROM_UPDATE,
    SEEN_LAST_ONLY,
)
from torinvest.findings.recheck import (
    CHECK_CHANGED,
    FindingCheck,
    not_reread,
    reread_finding,
)
from torinvest.findings.related import RELATED_SOURCE, RelatedFindings
from torinvest.geo import GeoIP
from torinvest.impairment import SOURCES as IMPAIRED_SOURCES
from torinvest.impairment import WATCHED_CALLS, Impairments
from torinvest.last_used import NOT_ASKED, KeyLastUsed, check_last_used, not_checked
from torinvest.options import (
    DEFAULT_LOOKAHEAD_DAYS,
    DEFAULT_LOOKBACK_DAYS,
    DEFAULT_TOLERANCE_HOURS,
    check_number,
)
from torinvest.outcome import outcome_counts
from torinvest.parameters import (
    InvestigateParameters as InvestigateParameters,
)
from torinvest.parameters import (
    NotebookParameters as NotebookParameters,
)
from torinvest.parameters import (
    Sources as Sources,
)
from torinvest.parameters import (
    TriageParameters as TriageParameters,
)
from torinvest.parameters import (
    check_sources as check_sources,
)
from torinvest.parameters import (
    param_bool as param_bool,
)
from torinvest.parameters import (
    param_list as param_list,
)
from torinvest.parameters import (
    param_number as param_number,
)
from torinvest.parameters import (
    param_regions as param_regions,
)
from torinvest.parameters import (
    param_text as param_text,
)
from torinvest.parameters import (
    sources_from_parameters as sources_from_parameters,
)
from torinvest.passwords import (
    PasswordUse,
    password_issues,
    password_uses,
    passwords_gap,
    passwords_phrase,
    unnamed_dict,
    unnamed_issues,
    unnamed_of,
)
from torinvest.paths import tor_cache
from torinvest.pivot import IpPivot
from torinvest.reading import NOT_SEARCHED as NOT_SEARCHED
from torinvest.reading import NOT_SEARCHED_COUNTED as NOT_SEARCHED_COUNTED
from torinvest.reading import activity_gaps, impaired_of
from torinvest.reading import key_origin as origin_of
from torinvest.schema import iso_utc
from torinvest.shown import Part, cut_fields, cut_prose, cut_prose_fields, listed_total, part_of
from torinvest.sources.logs import KnownRegions
from torinvest.sources.lookup import DELIVERY_MARGIN
from torinvest.sources.records import is_unfollowed
from torinvest.sources.records.origin import KeyOrigin, Mint, origin_phrase
from torinvest.sources.records.passwords import UnnamedPassword
from torinvest.verdict import (
    READING_COMPLETE,
    READING_COULD_NOT_LOOK,
    READING_INCOMPLETE,
    READING_NO_EVENTS,
    Expect,
    check_status,
    decision_lock,
    default_ledger_path,
    describe,
    latest_verdict,
    make_verdict,
    read_ledger,
    record_decision,
)

if TYPE_CHECKING:
    from torinvest.sources.sql import Aggregates

log = logging.getLogger(__name__)

#: The source of the data issue that says the key's activity in the finding's account could not
#: be looked at: no activity source could be read at all, or only other accounts'
#: (:attr:`torinvest.events.Activity.could_not_look`) — the reading's "could not look".
NOTHING_READ_SOURCE = "activity"


# --------------------------------------------------------------------------------------------
# steps
# --------------------------------------------------------------------------------------------
def load_findings(sources: Sources, fetched: str = "") -> FindingsResult:
    """The Tor findings the sources hold (archived ones too: a report may follow an archive).

    ``fetched``: the file in which the command that runs the notebook kept the findings it
    fetched from GuardDuty (:func:`torinvest.findings.fetched.write_fetched`): they are read
    from it, not fetched again (AWS sources only).

    Raises :class:`~torinvest.errors.CouldNotLookError` when no region or file could be read:
    an empty result would read as "not there". Regions or files that failed beside others are
    in ``failed`` and ``issues``."""
    if sources.case is not None:
        if fetched:
            raise OptionsError(
                "fetched_findings goes with AWS sources, not with case_dir",
                hint="leave fetched_findings empty: the case folder's findings are read",
            )
        result = read_findings(sources.case.require("findings"))
    elif fetched:
        assert sources.aws is not None
        config = sources.aws.config
        access = fetched_with(config.profile, config.role_arn, sources.regions)
        result = read_fetched(fetched, access)
    else:
        assert sources.aws is not None
        result = fetch_findings(sources.aws, sources.regions, include_archived=True)
    return result.tor_only().require_looked()


def locate(findings: FindingsResult, finding_id: str) -> tuple[pd.Series, KeyLocation]:
    """The finding's row in the findings frame and the key it names (errors name the ID).

    "Not found" only when every source answered (:meth:`FindingsResult.get`): otherwise a
    could-not-look error, or "not in the N region(s) that answered; … so it may be there"."""
    finding_id = check_finding_id(finding_id)
    findings.get(finding_id)
    frame = findings.frame()
    row = frame.loc[frame["id"] == finding_id].iloc[0]
    as_of = fetched_words(findings, finding_id)
    if as_of is not None:  # read from a kept file: when it was fetched, on the finding's card
        row = row.copy()
        row[FETCHED_AS_OF] = as_of
    return row, locate_key(row)


def window_for(
    key: KeyLocation,
    *,
    lookback_days: float = DEFAULT_LOOKBACK_DAYS,
    lookahead_days: float = DEFAULT_LOOKAHEAD_DAYS,
    now: pd.Timestamp | None = None,
) -> tuple[pd.Timestamp, pd.Timestamp]:
    """[first_seen − lookback, last_seen + lookahead], never later than now. A finding whose
    first sighting is later than its last (:func:`inverted_sightings`) gives the window of
    the earlier to the later of the two, not an empty one."""
    now = now or pd.Timestamp.now(tz="UTC")
    lookback_days = check_number("lookback_days", lookback_days)  # finite, 0 to 3650
    lookahead_days = check_number("lookahead_days", lookahead_days)
    first = key.first_seen or key.last_seen
    last = key.last_seen or first
    if first is None or last is None:  # a window around "now" would search the wrong days
        raise InputError(
            f"finding {key.finding_id} gives no time: no service.eventFirstSeen, "
            "eventLastSeen, createdAt or updatedAt, so its activity cannot be placed",
            hint="check the finding in the GuardDuty console (or export it again), or search "
            "the key's activity over the days you choose: torinvest events --access-key "
            f"{key.access_key_id} --start … --end …",
        )
    first, last = min(first, last), max(first, last)
    start = first - pd.Timedelta(days=lookback_days)
    end = min(last + pd.Timedelta(days=lookahead_days), now)
    return start, max(end, start)


def sightings_note(key: KeyLocation) -> str:
    """Why the window is not built from both of the finding's sightings, and what to do."""
    missing = {
        SEEN_LAST_FROM_UPDATE: "service.eventLastSeen",
        SEEN_FIRST_ONLY: "service.eventLastSeen",
        SEEN_FIRST_FROM_CREATION: "service.eventFirstSeen",
        SEEN_LAST_ONLY: "service.eventFirstSeen",
    }.get(str(key.seen_from), "service.eventFirstSeen/eventLastSeen")
    late = (
        "which can be later than the first call from Tor: widen --lookback-days if the "
        "activity may have started earlier"
    )
    why = {
        SEEN_LAST_FROM_UPDATE: "when GuardDuty last updated the finding stands for its last "
        "sighting",
        SEEN_FIRST_ONLY: "its first sighting stands for its last (it was not updated later): "
        "widen --lookahead-days if the activity may have gone on",
        SEEN_FIRST_FROM_CREATION: f"when GuardDuty created the finding stands for its first "
        f"sighting, {late}",
        SEEN_LAST_ONLY: f"its last sighting stands for its first, {late}",
    }.get(str(key.seen_from), f"when GuardDuty created the finding and last updated it, {late}")
    return (
        f"no usable {missing}: the window is built from {key.seen_from} ({why})"
        if missing != "service.eventFirstSeen/eventLastSeen"
        else f"no {missing}: the window is built from {key.seen_from} ({why})"
    )


def inverted_sightings(key: KeyLocation) -> DataIssue | None:
    """The issue of a finding whose first sighting is later than its last (a damaged or edited
    export): the window spans the two either way (:func:`window_for`), and the report says so."""
    first, last = key.first_seen, key.last_seen
    if first is None or last is None or first <= last:
        return None
    fields = key.seen_from or "service.eventFirstSeen/eventLastSeen"
    return DataIssue(
        f"finding {key.finding_id}",
        f"its sightings are inverted: first seen {iso_utc(first)} is later than last seen "
        f"{iso_utc(last)} ({fields}); the window runs from the earlier to the later of the "
        "two: check the finding in the GuardDuty console",
    )


#: How far from the finding's sightings a call of its key still counts as one of them (clock
#: skew, GuardDuty's rounding); the check errs on the side of saying nothing.
SIGHTING_SLACK = pd.Timedelta(minutes=15)


def unread_sightings(
    frame: pd.DataFrame,
    key: KeyLocation,
    *,
    count: object = None,
    now: pd.Timestamp | None = None,
) -> DataIssue | None:
    """The issue of a reading that holds no call of the finding's key at the times GuardDuty
    saw it (``service.eventFirstSeen`` to ``eventLastSeen``, :data:`SIGHTING_SLACK` either
    side): GuardDuty saw those calls in the account's CloudTrail, so a reading without any of
    them is missing what the finding is about (the finding's region, or the region where IAM
    and STS events are recorded, not among the log files; another trail's or account's logs;
    logs altered) — its "no events", "0 from Tor" or "no sensitive call" is not an answer.
    None when a call of the key (or one without a usable time) is there, or when the finding's
    times are not both GuardDuty's sightings of calls (``createdAt``/``updatedAt`` stand for
    both).

    ``frame`` is the events frame or a counts frame (``event_time``: its bucket's start,
    ``attrs["bucket"]`` its width); ``count`` the finding's ``service.count``; ``now`` when
    the reading was made (a sighting within CloudTrail's delivery delay of it may not be
    delivered yet, and the issue says so)."""
    if key.seen_from == SEEN_FALLBACK or key.first_seen is None or key.last_seen is None:
        return None
    first, last = sorted((key.first_seen, key.last_seen))
    if len(frame):  # the key's rows first: a compare of the column, no copy of the frame
        mine = frame["access_key_id"].eq(key.access_key_id).fillna(False).to_numpy(dtype=bool)
        times = pd.to_datetime(frame["event_time"][mine], utc=True)
        bucket = frame.attrs.get("bucket")
        ends = times + bucket if isinstance(bucket, pd.Timedelta) else times
        near = ((ends >= first - SIGHTING_SLACK) & (times <= last + SIGHTING_SLACK)).fillna(False)
        if bool((near | times.isna()).any()):
            return None
    seen = f"at {iso_utc(first)}" if first == last else f"from {iso_utc(first)} to {iso_utc(last)}"
    times = f", {count} time(s)" if isinstance(count, int) and count > 0 else ""
    caller = f" from {key.tor_ip}" if key.tor_ip else ""
    regions = key.region or "the finding's region"
    home = global_events_region(key.region) if key.region else None
    if home is not None and home != key.region:
        regions += f" and {home} (where IAM and STS events are recorded)"
    account = f"account {key.account_id}" if key.account_id else "the finding's account"
    return DataIssue(
        f"finding {key.finding_id}",
        f"GuardDuty saw key {key.access_key_id} called{caller} {seen}{times}, and the sources "
        f"read hold no call of the key within {SIGHTING_SLACK.seconds // 60} minutes of that: "
        "the reading misses the calls the finding is about, so none here is not 'no "
        f"activity' — "
        + (
            f"CloudTrail delivers calls up to about 15 minutes late: run again after "
            f"{iso_utc(last + DELIVERY_MARGIN)}; else "
            if now is not None and last + DELIVERY_MARGIN > now
            else ""
        )
        + f"check that the sources cover {regions} (--regions; the log files' region "
        f"folders), that they are the trail of {account}, and that they were not altered",
    )


def require_log_source(sources: Sources) -> None:
    """A case folder read for a key's activity holds ``cloudtrail/`` — or log files are named
    beside it (``--logs``), or Athena reads them: InputError naming the folder to fill
    otherwise. Checked before a report's kernel starts (``investigate``, ``--all-open``,
    ``notebook``) and by :func:`key_activity`: a folder half-copied (findings/, no
    cloudtrail/ yet) is one line, not a failed cell."""
    case = sources.case
    if case is None or sources.logs or sources.engine.kind == "athena":
        return
    if not case.cloudtrail.is_dir():
        raise InputError(
            f"case folder {case.root} has no cloudtrail/ folder: the key's activity has "
            "nothing to be read from",
            hint="copy the CloudTrail log files (or a lookup-events export) into "
            f"{case.cloudtrail}, or name them with --logs",
        )


def key_activity(
    sources: Sources,
    key: KeyLocation,
    window: tuple[pd.Timestamp, pd.Timestamp],
    *,
    follow_derived: bool = True,
    beyond_retention: str = "issue",
) -> Activity:
    """Everything the key (and keys it minted) did in the window, from every source.

    ``beyond_retention``: a window LookupEvents does not keep, LookupEvents the only source —
    ``"issue"`` (a report that could not look) or ``"raise"`` (a command that needs the
    activity to act, and says to give the trail's log files)."""
    require_log_source(sources)
    logs = list(sources.logs)
    if sources.case is not None and sources.case.cloudtrail.is_dir():
        logs.insert(0, str(sources.case.cloudtrail))
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
        account=key.account_id,  # sources of other accounts only: "could not look there"
        beyond_retention=beyond_retention,  # a finding older than LookupEvents keeps
        known_regions=known_regions(key),  # a trail folder without them: not read, said
        watch=WATCHED_CALLS,  # anyone else's calls that impair logging, read in the same pass
    )


#: The services whose calls CloudTrail records in the partition's global-events region
#: (:func:`~torinvest.aws.global_events_region`), whatever region GuardDuty names.
GLOBAL_SERVICES = frozenset(
    {"iam.amazonaws.com", "cloudfront.amazonaws.com", "route53.amazonaws.com"}
)


def known_regions(key: KeyLocation) -> KnownRegions | None:
    """The regions the finding shows the key called, that the log files of its account must
    have a folder for (:class:`~torinvest.sources.logs.KnownRegions`): the finding's region
    (GuardDuty raises a finding in the region of the call) and, for a call of a global service
    (IAM…), the region where CloudTrail records it. None when the finding names no valid
    region."""
    region = key.region
    if not isinstance(region, str) or not REGION_RE.match(region):
        return None
    reasons = [(region, f"GuardDuty raised finding {key.finding_id} there, the region of the call")]
    home = global_events_region(region)
    if key.service_name in GLOBAL_SERVICES and home is not None and home != region:
        reasons.append((home, f"the finding's call of {key.service_name} is recorded there"))
    return KnownRegions(tuple(reasons), key.account_id or None)


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
    """The events frame plus a ``tor`` column (True / False / NA, see :func:`tor.tor_status`)
    and ``tor_caveat`` (``or_addresses_only`` where "not Tor" rests only on lists of relays' OR
    addresses, else NA: :func:`tor.caveats`, the one rule every surface says it by).

    For a counts frame (rows per time bucket, ``attrs["bucket"]``; see
    :class:`torinvest.sources.sql.Aggregates`) the status is that of each (IP, bucket): Tor when
    the IP is listed within the tolerance of some moment of the bucket, not Tor only when the
    lists rule Tor out throughout the bucket (``tor.tor_status``'s ``span``), else unknown."""
    out = events.copy()
    tolerance, span = _tor_probe(events, tolerance_hours)
    out["tor"] = tor.tor_status(events, lists, tolerance, span=span)
    out["tor_caveat"] = tor.caveats(out, lists, tolerance, span=span)
    return out


def _tor_probe(
    events: pd.DataFrame, tolerance_hours: float
) -> tuple[pd.Timedelta, pd.Timedelta | None]:
    """The tolerance :func:`with_tor` asks with, and the span of each row: None for events, a
    counts frame's bucket (each row's ``event_time`` is its bucket's start)."""
    tolerance = pd.Timedelta(hours=check_number("tolerance_hours", tolerance_hours))
    bucket = events.attrs.get("bucket") if "calls" in events.columns else None
    return tolerance, None if bucket is None else pd.Timedelta(bucket)


def tor_unknown_issues(
    frame: pd.DataFrame, lists: tor.ExitLists, *, tolerance_hours: float = DEFAULT_TOLERANCE_HOURS
) -> list[DataIssue]:
    """Why the rows of a frame of :func:`with_tor` have no Tor status, one data issue per reason
    (:func:`tor.unknown_issues`, asked as :func:`with_tor` asked)."""
    if not len(frame) or "tor" not in frame.columns:
        return []
    tolerance, span = _tor_probe(frame, tolerance_hours)
    return tor.unknown_issues(frame, lists, tolerance, span=span)


def or_only_ips(
    frame: pd.DataFrame,
    per_ip: pd.DataFrame,
    lists: tor.ExitLists,
    *,
    tolerance_hours: float = DEFAULT_TOLERANCE_HOURS,
) -> frozenset[str]:
    """The source IPs (canonical) the per-IP table calls "not Tor" whose "not Tor" rests, for
    some of their calls (rows of ``frame``, a frame of :func:`with_tor`), only on lists that name
    relays by their OR address (:func:`tor.or_only`, asked as :func:`with_tor` asked)."""
    if not len(frame) or "tor" not in frame.columns or not len(per_ip):
        return frozenset()
    if "tor_caveat" in frame.columns:  # with_tor's (the one rule): not asked again
        mask = frame["tor_caveat"].eq(OR_ONLY_CAVEAT).fillna(False).to_numpy(dtype=bool)
    else:
        tolerance, span = _tor_probe(frame, tolerance_hours)
        mask = tor.or_only(frame, lists, tolerance, span=span)
    if not mask.any():
        return frozenset()
    weak = set(canonical_column(frame["source_ip"])[mask].dropna().astype(str))
    no = per_ip["tor"].eq(False).fillna(False).to_numpy(dtype=bool)
    said = canonical_column(per_ip["source_ip"])[no].dropna().astype(str)
    return frozenset(ip for ip in said if ip in weak)


def or_only_column(per_ip: pd.DataFrame, ips: Collection[str]) -> pd.Series:
    """Per row of a per-IP frame: ``or_addresses_only`` where its "not Tor" rests only on lists
    of relays' OR addresses (``ips``: :func:`or_only_ips`), else NA — ``tor_caveat``."""
    hit = canonical_column(per_ip["source_ip"]).isin(list(ips)).fillna(False)
    values = pd.Series(pd.NA, index=per_ip.index, dtype="string")
    values[hit.to_numpy(dtype=bool)] = OR_ONLY_CAVEAT
    return values.rename("tor_caveat")


#: ``tor_caveat`` of an IP (or a call) whose "not Tor" rests only on lists of relays' OR
#: addresses (the per-IP table, the calls, ``summary.json``, the CSVs).
OR_ONLY_CAVEAT = tor.OR_ONLY_CAVEAT


def call_caveats(
    frame: pd.DataFrame, lists: tor.ExitLists, *, tolerance_hours: float = DEFAULT_TOLERANCE_HOURS
) -> pd.Series:
    """Per call of ``frame`` (``event_time``, ``source_ip``, ``tor``: the events, the sensitive
    calls): :data:`OR_ONLY_CAVEAT` where its "not Tor" rests only on lists of relays' OR
    addresses, else NA — ``tor_caveat`` (:func:`tor.caveats`, the one rule)."""
    tolerance = pd.Timedelta(hours=check_number("tolerance_hours", tolerance_hours))
    return tor.caveats(frame, lists, tolerance)


def with_ip_tor(frame: pd.DataFrame, status: pd.Series) -> pd.DataFrame:
    """A frame without times (counts per user agent, per region) plus each IP's ``tor`` status
    (:func:`torinvest.analysis.ip_tor_status` of the by-time counts, by canonical address)."""
    out = frame.copy()
    out["tor"] = canonical_column(frame["source_ip"]).map(status).astype("boolean").array
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
    #: Which datasets placed the IPs (country, ASN) and their data issues
    geo: analysis.GeoProvenance | None = None
    #: When the investigation ran (UTC): the report's and summary.json's "generated at".
    started_at: pd.Timestamp = field(default_factory=lambda: pd.Timestamp.now(tz="UTC"))
    #: Related findings and who else used the addresses (torinvest.campaign.look_around).
    related: RelatedFindings | None = None
    pivot: IpPivot | None = None
    #: The tolerance the Tor status was computed with (:func:`with_tor`).
    tolerance_hours: float = DEFAULT_TOLERANCE_HOURS
    #: The source IPs the per-IP table calls "not Tor" only by lists of relays' OR addresses
    #: (:func:`or_only_ips`): the table, summary.json and the reading notes say so.
    tor_or_only: frozenset[str] = frozenset()
    #: Whether keys the key minted were followed (``follow_derived``): when False the
    #: activity holds the key's own calls only, and "no derived key" is not known.
    follow_derived: bool = True
    #: IAM's record of the key's last use against the activity read (torinvest.last_used);
    #: None: not asked.
    key_last_used: KeyLastUsed | None = None
    #: Which trails record data events, as CloudTrail answered (torinvest.data_trails); None:
    #: not asked.
    data_trails: DataTrails | None = None
    #: The key's calls that impaired logging or detection, and what each takes away from the
    #: reading (torinvest.impairment): trail gaps and a blinded GuardDuty are data issues.
    impaired: Impairments = field(default_factory=Impairments)
    #: The issues of the findings' read this investigation located its finding in (files or
    #: regions that could not be read): not the investigation's own data issues, but among the
    #: report's (:func:`report_issues`) — kept so that what counts them without the
    #: :class:`FindingsResult` (the plan's "built from incomplete evidence") counts them too.
    findings_issues: list[DataIssue] = field(default_factory=list)
    #: Console passwords the key or a derived key set, and what was read of their use
    #: (torinvest.passwords): a credential the key minted, as a derived key is.
    console_passwords: list[PasswordUse] = field(default_factory=list)
    #: Console passwords the key or a derived key set for a user the call does not name (a
    #: role session's or federated user's CreateLoginProfile without userName): whose sign-ins
    #: to search is not known (torinvest.passwords.unnamed_said).
    unnamed_passwords: list[UnnamedPassword] = field(default_factory=list)

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

    @property
    def tor_notes(self) -> list[str]:
        """What the Tor status rests on that is no data issue: how many source IPs are "not
        Tor" only by lists of relays' OR addresses (:attr:`tor_or_only`), one note; said with
        the reading's notes (summary.json's ``reading_notes``, the terminal, the report)."""
        return [tor.or_only_note(len(self.tor_or_only))] if self.tor_or_only else []

    @property
    def reading_notes(self) -> list[str]:
        """Every note that is no data issue: the activity's asides (what the reading rests
        on) and :attr:`tor_notes`, each once."""
        return list(dict.fromkeys([*self.activity.asides, *self.tor_notes]))

    def totals(self) -> dict[str, int]:
        """Every event of the activity: total, failed, outcome_unknown (calls neither succeeded
        nor failed: their outcome is not known, :mod:`torinvest.outcome`), from_tor and
        tor_unknown (calls at times no exit list covers), counted or from the rows."""
        frame = self.by_time if self.counted else self.events
        assert frame is not None
        if not len(frame):
            return {"total": 0, "failed": 0, "outcome_unknown": 0, "from_tor": 0, "tor_unknown": 0}
        weight, failed, unknown = outcome_counts(frame)
        tor_true = frame["tor"].fillna(False).to_numpy(dtype=bool)
        tor_na = frame["tor"].isna().to_numpy(dtype=bool)
        return {
            "total": int(weight.sum()),
            "failed": int(failed.sum()),
            "outcome_unknown": int(unknown.sum()),
            "from_tor": int(weight[tor_true].sum()),
            "tor_unknown": int(weight[tor_na].sum()),
        }

    @property
    def could_not_look(self) -> str | None:
        """Why the key's activity in the finding's account could not be looked at (the reading
        says nothing about whether the key was used there): no activity source could be read,
        or only other accounts' (events recorded there are shown all the same) —
        :attr:`torinvest.events.Activity.could_not_look`; None when a source read covers it."""
        return self.activity.could_not_look

    @property
    def unread_activity(self) -> list[DataIssue]:
        """What the key's activity read may lack, as data issues (empty: read whole): a region,
        file or days not read or read in part (keys minted past the pass limit apart: a re-run
        follows the same), and IAM's last use after the last call read (calls missing though no
        source failed), and a reading that holds none of the calls GuardDuty saw
        (:attr:`sightings_unread`). "None" over the activity (no sensitive call, no key minted)
        holds only without them."""
        # the reading's own gaps (a trail the key stopped…): what `events` says too
        gaps = activity_gaps(self.activity, self.impaired)
        own = len(gaps) - len(self.impaired.activity_gaps)
        issues = gaps[:own]
        if self.key_last_used is not None:  # IAM saw a use the reading did not: calls missing
            issues += self.key_last_used.issues
        missing = self.sightings_unread
        if missing is not None:  # the finding's own calls are not in what was read
            issues.append(missing)
        # the key stopped (or moved, narrowed) the trail read: its files after T hold nothing
        issues += gaps[own:]
        return issues

    def key_origin(self) -> KeyOrigin:
        """Who minted the finding's key (:func:`~torinvest.sources.records.origin.key_origin`):
        the minting records read, each source IP's Tor status at that time, or why that is not
        known ("not in window", "not searched" — never "none")."""
        tolerance = pd.Timedelta(hours=self.tolerance_hours)

        def mark(mints: list[Mint]) -> list[Mint]:  # each minting IP's Tor status then
            said = tor.marked(
                [m.event_time for m in mints], [m.source_ip for m in mints], self.lists, tolerance
            )
            return [replace(m, tor=t, tor_caveat=c) for m, (t, c) in zip(mints, said, strict=True)]

        return origin_of(  # the one computation `events` makes too (torinvest.reading)
            self.activity,
            self.key.access_key_id,
            start=self.window[0],
            frame=self.events,
            first_seen=self.key.first_seen,
            unread=self.unread_activity,
            mark=mark,
        )

    @property
    def sightings_unread(self) -> DataIssue | None:
        """The issue of a reading that holds none of the calls GuardDuty saw the key make
        (:func:`unread_sightings`); None when it holds one, or when the key's activity in the
        finding's account could not be looked at (:attr:`could_not_look` says so)."""
        if self.could_not_look is not None:
            return None
        frame = self.by_time if self.counted else self.events
        assert frame is not None
        count = _plain(self.finding.get("count"))
        return unread_sightings(frame, self.key, count=count, now=self.started_at)

    @property
    def data_issues(self) -> list[DataIssue]:
        issues = []
        unread = self.could_not_look
        if unread is not None:  # first: "could not look", never "no events" nor "incomplete"
            issues.append(DataIssue(NOTHING_READ_SOURCE, unread))
        said = self.activity.said_by_why()  # the reading's issue says them: not again
        issues += [i for i in self.activity.issues if i not in said] + list(self.lists.issues)
        issues += [DataIssue(NOTES_SOURCE, n) for n in self.activity.notes]
        if self.key.seen_from:
            issues.append(DataIssue(f"finding {self.key.finding_id}", sightings_note(self.key)))
        inverted = inverted_sightings(self.key)
        if inverted is not None:
            issues.append(inverted)
        issues += list(self.geo.issues) if self.geo is not None else []
        frame = self.by_time if self.counted else self.events
        assert frame is not None
        issues += tor_unknown_issues(frame, self.lists, tolerance_hours=self.tolerance_hours)
        contradiction = tor.finding_ip_contradiction(frame, self.key.tor_ip, self.key.finding_id)
        if contradiction is not None:
            issues.append(contradiction)
        missing = self.sightings_unread
        if missing is not None:  # what was read misses the finding's own calls: not "none"
            issues.append(missing)
        issues += [i for i in campaign_issues(self) if i not in issues]
        if self.key_last_used is not None:  # IAM saw a later use: calls missing from the reading
            issues += self.key_last_used.issues
        # the key impaired the logging or detection the reading relies on (torinvest.impairment)
        issues += [i for i in self.impaired.issues if i not in issues]
        # console passwords the key set: sign-ins not read, console sessions' calls not read
        issues += password_issues(self.console_passwords)
        issues += unnamed_issues(self.unnamed_passwords)  # whose sign-ins: not known
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
    beyond_retention: str = "issue",
) -> Investigation:
    """Run every step for one finding (``findings``: already loaded, not fetched again).
    ``beyond_retention``: see :func:`key_activity`.

    ``follow_derived`` is checked as a yes/no parameter (the text ``"false"`` is False)."""
    follow_derived = param_bool("follow_derived", follow_derived)
    findings = findings if findings is not None else load_findings(sources)
    row, key = locate(findings, finding_id)
    window = window_for(key, lookback_days=lookback_days, lookahead_days=lookahead_days, now=now)
    activity = key_activity(
        sources, key, window, follow_derived=follow_derived, beyond_retention=beyond_retention
    )
    lists = exit_lists(sources)
    events = with_tor(activity.frame, lists, tolerance_hours=tolerance_hours)
    finding_frame = findings.frame()
    mine = finding_frame[finding_frame["access_key_id"] == key.access_key_id]
    counts: dict[str, pd.DataFrame] = {}
    with contextlib.ExitStack() as stack:
        geo = stack.enter_context(GeoIP(sources.geoip)) if sources.geoip else None
        if activity.aggregates is None:
            table = analysis.per_ip(events, findings=mine, geoip=geo)
            found_signals = analysis.signals(
                events,
                finding_window=analysis.window_of(mine),
                derived_keys=activity.derived,
                ip_asn=_database_asns(table) if geo is not None else None,
                per_ip_table=table,
                read_from=window[0],
            )
        else:  # counted in the engine: events holds the sensitive calls
            counts = _counts_with_tor(activity.aggregates, lists, tolerance_hours)
            table = analysis.per_ip_counted(
                activity.aggregates.per_ip, counts["by_time"], findings=mine, geoip=geo
            )
            found_signals = analysis.signals(
                events,
                finding_window=analysis.window_of(mine),
                derived_keys=activity.derived,
                counts=counts["by_time"],
                per_ip_table=table,
                agents=counts["by_agent"],
                read_from=window[0],
            )
        placed = analysis.geo_provenance(geo, _earliest(counts["by_time"] if counts else events))
    # the finding's account not read (events of others only): its history is not read either
    said = activity.said_by_why()  # counted once, as the reading's issue (data_issues)
    unread = len(group_issues(i for i in activity.issues if i not in said))
    unread += activity.could_not_look is not None
    found_signals = analysis.qualify_new(found_signals, unread)
    if activity.nothing_read:  # 0 over nothing read is not a quiet key: not scored
        found_signals.append(analysis.Signal(analysis.NOT_LOOKED_SIGNAL, activity.why_nothing(), 0))
    inv = Investigation(
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
        geo=placed,
        tolerance_hours=tolerance_hours,
        follow_derived=follow_derived,
        key_last_used=last_used_check(sources, key, activity, window),
        data_trails=trails_check(sources, key),
        # what the key impaired, as `events` says it (torinvest.reading), from Tor IPs here;
        # others' calls that impaired what the reading relies on (the file loader's watch)
        impaired=impaired_of(
            activity,
            window,
            access_key=key.access_key_id,
            events=events,
            others=(
                with_tor(activity.watched, lists, tolerance_hours=tolerance_hours)
                if activity.watched is not None
                else None
            ),
        ),
        findings_issues=list(findings.issues),
        console_passwords=password_uses(
            activity,
            events,
            [key.access_key_id, *(d.access_key_id for d in activity.derived)],
            lists,
            tolerance_hours=tolerance_hours,
            follow_derived=follow_derived,
            until=window[1],
        ),
        unnamed_passwords=unnamed_of(
            events, [key.access_key_id, *(d.access_key_id for d in activity.derived)]
        ),
        **counts,
    )
    # what the key impaired that the reading does not rely on (another trail, LookupEvents
    # read): said with the reading's notes, never a data issue
    activity.asides += [n for n in inv.impaired.notes if n not in activity.asides]
    # "not Tor" by OR-address lists only: a note (the status stands, for what it is worth)
    frame = inv.by_time if inv.counted else events
    assert frame is not None
    inv.tor_or_only = or_only_ips(frame, table, lists, tolerance_hours=tolerance_hours)
    inv.per_ip = table.assign(tor_caveat=or_only_column(table, inv.tor_or_only))
    caveats = call_caveats(inv.sensitive, lists, tolerance_hours=tolerance_hours)
    inv.sensitive = inv.sensitive.assign(tor_caveat=caveats)
    if "tor_caveat" not in inv.events.columns:  # the events table, events.csv (with_tor's)
        inv.events = inv.events.assign(
            tor_caveat=call_caveats(inv.events, lists, tolerance_hours=tolerance_hours)
        )
    gaps = score_gaps(inv)
    if gaps and not activity.nothing_read:  # a floor: a low score is not known to be low
        inv.signals.append(analysis.Signal(analysis.INCOMPLETE_SIGNAL, gaps, 0))
        inv.score = analysis.triage_score(inv.signals)
    return inv


def last_used_check(
    sources: Sources,
    key: KeyLocation,
    activity: Activity,
    window: tuple[pd.Timestamp, pd.Timestamp],
) -> KeyLastUsed:
    """IAM's last use of the key against ``activity`` (:func:`torinvest.last_used.check_last_used`),
    with the investigation's own access; a case folder is not checked (offline)."""
    return check_last_used(sources.aws, key, activity, window, offline=_offline(sources, "IAM"))


def trails_check(sources: Sources, key: KeyLocation) -> DataTrails:
    """Which trails record data events (:func:`torinvest.data_trails.check_data_trails`), asked
    with the investigation's own access in the finding's region; a case folder is not asked."""
    offline = _offline(sources, "CloudTrail")
    return check_data_trails(sources.aws, key.region, key.account_id, offline=offline)


def _offline(sources: Sources, service: str) -> str | None:
    """Why ``service`` is not asked: the finding was read from a case folder (offline); None
    when it was read from AWS."""
    if sources.case is None:
        return None
    return f"the finding was read from the case folder {sources.case.root} (offline): {service} was not asked"


def score_gaps(inv: Investigation) -> str:
    """What the signals could not see, in a line ("" when nothing): the data issues of the
    key's activity, its Tor status, its places and its window (the related findings' and the
    IP pivot's are not read by any signal), calls counted in an engine (recon, concurrency and
    retries read the sensitive calls only) and derived keys not followed."""
    parts = []
    issues = group_issues(inv.data_issues)  # counted as the report and summary.json show them
    if issues:
        sources = list(dict.fromkeys(i.source for i in issues))
        shown = ", ".join(sources[:3]) + (f", … (+{len(sources) - 3})" if len(sources) > 3 else "")
        parts.append(f"{len(issues)} data issue(s) ({shown})")
    if inv.counted:
        parts.append(
            "the calls were counted in the engine, not loaded: recon, concurrency and retry "
            "signals read only the sensitive calls"
        )
    if not inv.follow_derived:
        parts.append("derived keys were not followed: their calls were not read")
    if not parts:
        return ""
    return (
        "scored on incomplete evidence: "
        + "; ".join(parts)
        + " — what could not be read may hold more signals, so the score is a floor"
    )


def _earliest(frame: pd.DataFrame) -> pd.Timestamp | None:
    """The earliest ``event_time`` of ``frame`` (None: no event with a time)."""
    if frame.empty or "event_time" not in frame.columns:
        return None
    first = frame["event_time"].min()
    return None if pd.isna(first) else first


def _database_asns(table: pd.DataFrame) -> pd.Series:
    """IP → ASN from the analyst's database (``asn_source`` ``geoip``) for ``new_asn``. Only
    with a database: without one only the findings' Tor IPs have an ASN, and every one of them
    would look new against a history whose ASNs are unknown."""
    mine = table[table["asn_source"] == "geoip"]
    return pd.Series(mine["asn"].to_numpy(), index=mine["source_ip"].to_numpy())


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
def reading_of(issues: Sequence[DataIssue], events: int) -> tuple[str, str | None]:
    """How much of the activity was read — :data:`READING_COULD_NOT_LOOK` (no activity source
    of the finding's account could be read, whatever other accounts' events were: says nothing
    about use there; the :data:`NOTHING_READ_SOURCE` issue), :data:`READING_INCOMPLETE` (data
    issues), :data:`READING_NO_EVENTS` or :data:`READING_COMPLETE` — and, when it could not
    look, why."""
    unread = [i.problem for i in issues if i.source == NOTHING_READ_SOURCE]
    if unread:  # prose: cut as summary.json's problems are (read back from it: the same)
        return READING_COULD_NOT_LOOK, cut_prose(unread[0])
    if issues:
        return READING_INCOMPLETE, None
    return (READING_NO_EVENTS if events == 0 else READING_COMPLETE), None


def summary_reading(data: Mapping[str, Any]) -> tuple[str, str | None]:
    """:func:`reading_of` of a ``summary.json``'s data (its ``data_issues`` and event total;
    entries that are not objects are skipped)."""
    issues = [
        DataIssue(str(i.get("source") or "?"), str(i.get("problem") or ""))
        for i in data.get("data_issues") or []
        if isinstance(i, Mapping)
    ]
    events = data.get("events")
    total = events.get("total") if isinstance(events, Mapping) else 0
    return reading_of(issues, int(total) if isinstance(total, int) else 0)


def reading_text(state: str, issues: int, why: str | None = None, *, loud: bool = False) -> str:
    """The reading in words — the one phrase the report's activity card, the terminal's line,
    summary.json's ``reading.text`` and the ``--all-open`` index say for it: ``could not look:
    WHY`` (no activity source could be read: nothing was read), ``incomplete: N data issue(s)``
    (some sources read, some not — a partial reading, never "could not look"), ``no events``
    (every source read, none holds a call) or ``complete``. ``loud``: the terminal's, its own
    words in capitals (``INCOMPLETE: 2 DATA ISSUE(S)``; the why as it is)."""
    if state == READING_COULD_NOT_LOOK:
        head = state.upper() if loud else state
        return f"{head}: {why or 'no activity source could be read'}"
    if state == READING_INCOMPLETE:
        text = f"incomplete: {issues:,} data issue(s)"
        return text.upper() if loud else text
    return state.upper() if loud else state


def evidence(inv: Investigation) -> dict[str, Any]:
    """What a verdict rests on, in a few numbers (stored with the verdict in the ledger):
    ``reading`` says how much of the activity was read (:func:`reading_of`), and
    ``could_not_look`` why the finding's account was not, when it was not
    (:attr:`Investigation.could_not_look`: nothing read, or only other accounts' events) —
    "0 events" is not "no use", and events of other accounts are not the finding's account's.
    The archive gate (:func:`torinvest.runner.gate.blind_archive`) refuses a legitimate verdict
    whose ``reading`` is "could not look"."""
    totals = inv.totals()
    issues = group_issues(inv.data_issues)  # counted as the report and summary.json show them
    reading, why = reading_of(issues, totals["total"])
    tor_ips = sorted(
        str(ip) for ip in inv.per_ip.loc[inv.per_ip["tor"].fillna(False).astype(bool), "source_ip"]
    )
    return {
        "window": {"start": str(inv.window[0]), "end": str(inv.window[1])},
        "events": totals["total"],
        "failed": totals["failed"],
        "outcome_unknown": totals["outcome_unknown"],
        "from_tor": totals["from_tor"],
        "tor_unknown": totals["tor_unknown"],
        "source_ips": len(inv.per_ip),
        "tor_ips": tor_ips,
        "derived_keys": [d.access_key_id for d in inv.activity.derived],
        "sensitive_events": len(inv.sensitive),
        "score": inv.score.score,
        "band": inv.score.band,
        "signals": [s.name for s in inv.signals if s.weight > 0],
        "data_issues": len(issues),
        "reading": reading,
        **({"could_not_look": why} if why else {}),
        "baseline": baseline_summary(inv)["status"],
        "source": inv.sources.describe(),
    }


#: What to do when a notebook's verdict parameters lack an analyst or a rationale.
PARAMETER_HINT = (
    "set the notebook's analyst and rationale parameters (papermill: -p analyst NAME "
    "-p rationale TEXT; torinvest investigate: --analyst NAME --rationale TEXT)"
)
#: What to do to record a verdict over another analyst's (the parameter path refuses it).
SUPERSEDE_HINT = (
    "to replace it, run again with the supersede parameter true (torinvest investigate: "
    "--supersede; papermill: -p supersede true) or record it with torinvest verdict"
)


#: How a verdict over a changed finding was accepted, by where it was recorded.
CHANGED_OK_PARAMETER = "the finding_changed_ok parameter (--finding-changed-ok)"
CHANGED_OK_FLAG = "--finding-changed-ok"
#: How to record a verdict over a changed finding, from the parameters.
CHANGED_OK_HINT = "add --finding-changed-ok to that command (papermill: -p finding_changed_ok true)"


def recheck(inv: Investigation | None) -> FindingCheck:
    """The finding of ``inv`` read again from GuardDuty now, with the investigation's own
    access (:func:`torinvest.findings.recheck.reread_finding`: one GetFindings in its region),
    for a verdict about to be recorded on ``inv``'s evidence. ``not re-read`` (never
    "unchanged") when there is nothing to read it with: no investigation (a verdict without
    evidence), a case folder (offline), no AWS access."""
    if inv is None:
        return not_reread(
            "no source option was given: no investigation ran with this verdict, so there is "
            "no evidence to compare with and GuardDuty was not asked"
        )
    if inv.sources.case is not None:
        return not_reread(
            f"the finding was read from the case folder {inv.sources.case.root} (offline): "
            "GuardDuty was not asked"
        )
    if inv.sources.aws is None:
        return not_reread("no AWS access was given: GuardDuty was not asked")
    return reread_finding(inv.sources.aws, inv.finding)


def changed_refusal(inv: Investigation, check: FindingCheck) -> str:
    """Why a verdict is not recorded over a finding that changed since ``inv`` read it (plain
    text): what changed, from → to, where and when it was read again."""
    return (
        f"finding {inv.key.finding_id} changed since the evidence of this verdict was read "
        f"(report run at {iso_utc(inv.started_at)}): "
        + "; ".join(check.changes)
        + f" ({check.where}, read again at {check.at}): the evidence does not describe the "
        "finding as it is now"
    )


def rerun_command(
    inv: Investigation,
    *,
    status: str,
    analyst: str,
    rationale: str,
    ledger: str | Path | None = None,
    out_dir: str | Path | None = None,
) -> str:
    """The ``torinvest investigate`` that makes ``inv``'s report again over the same access
    and records ``status`` (the analyst's words as given, shell-quoted)."""
    from torinvest.commands import Access, command
    from torinvest.safety import option

    extra = [option("--out", out_dir or Path("out") / report_dir_name(inv.key.finding_id))]
    extra += ["--verdict", status, "--analyst", analyst, "--rationale", rationale]
    if ledger:
        extra.append(option("--ledger", str(ledger)))
    return command(
        "investigate", inv.key.finding_id, access=Access.of_sources(inv.sources), extra=extra
    )


def _accepted(check: FindingCheck, ok: bool | Collection[str]) -> bool:
    """Whether ``ok`` accepts the changes of ``check``: True accepts any; a collection of
    changes (the form's confirmation) only exactly those it showed."""
    if isinstance(ok, bool):
        return ok
    return set(ok) == set(check.changes)


def decide(
    inv: Investigation | None,
    *,
    finding_id: str,
    status: str = "pending",
    analyst: str = "",
    rationale: str = "",
    ledger: str | Path | None = None,
    supersede: bool = False,
    expected: Mapping[str, Any] | Expect | None = Expect.ANY,
    missing_hint: str = PARAMETER_HINT,
    finding_changed_ok: bool | Collection[str] = False,
    accepted_as: str = CHANGED_OK_PARAMETER,
    override: str = CHANGED_OK_HINT,
    rerun: str | None = None,
    out_dir: str | Path | None = None,
) -> dict[str, Any]:
    """The verdict of this run: a decided status is recorded in the ledger with the evidence —
    once: when the finding's current verdict already says the same (status, analyst,
    rationale), nothing is appended, so re-running the notebook adds no record; ``pending``
    records nothing and shows the finding's current verdict, if any.

    A verdict that would supersede another analyst's current decided verdict is not recorded
    unless ``supersede`` (a re-run notebook or a stale parameter never quietly replaces someone
    else's later decision); the analyst's own is superseded. ``expected``: the current decided
    verdict the caller decided upon (the form: the one it showed); when the ledger's is another
    one now, nothing is recorded (:func:`torinvest.verdict.record_decision`).

    Returns the summary's verdict fields (the finding's current verdict afterwards) plus
    ``ledger`` (the ledger's path), ``added`` (a record was appended by this call),
    ``superseded`` (the decided verdict it replaced), ``refused`` (the verdict not recorded) and
    ``refused_why``, ``ledger_issues`` (the ledger's unreadable lines, as summary.json's
    data_issues: the verdict shown may not be the latest) and ``note`` (one line for a report
    or a terminal: what was superseded or refused; None when nothing needs saying).

    Before recording, the finding is read again (:func:`recheck`: one GetFindings with the
    investigation's access). When it changed since ``inv`` read it (new activity, another
    key, archived or unarchived, severity), nothing is recorded (``finding_changed`` lists
    the changes; the note says them and how to re-run: ``rerun``, default the ``torinvest
    investigate`` of :func:`rerun_command` with ``out_dir``) unless ``finding_changed_ok``
    accepts them (True: any; the form: exactly the changes it showed), said in the record as
    ``accepted_as`` (``override`` says how, in the note). When it cannot be read again, the verdict is recorded and says so
    (``finding_check``: ``not re-read`` and why).
    """
    path = Path(ledger).expanduser() if ledger else default_ledger_path()
    check_status(status)
    if status == "pending":
        records, issues = read_ledger(path)
        prior = latest_verdict(records, finding_id)
        if prior is not None:
            return _verdict_fields(prior, path, issues=issues)
        return {
            **_verdict_fields({}, path, issues=issues),
            "analyst": analyst or None,
            "rationale": rationale or None,
        }

    def verdict(check: Mapping[str, Any] | None = None) -> Any:
        return make_verdict(
            finding_id,
            status=status,
            analyst=analyst,
            rationale=rationale,
            access_key_id=inv.key.access_key_id if inv is not None else None,
            evidence=evidence(inv) if inv is not None else None,
            missing_hint=missing_hint,
            finding=inv.finding if inv is not None else None,
            finding_check=check,
        )

    verdict()  # an analyst and a rationale first: nothing is read for an incomplete verdict
    # one critical section: the finding read again, checked against the evidence and the
    # verdict appended — no verdict (or archive) over this ledger slips in between
    with decision_lock(path):
        return _decide_locked(
            inv, verdict, finding_id=finding_id, status=status, analyst=analyst,
            rationale=rationale, ledger=ledger, path=path, supersede=supersede,
            expected=expected, finding_changed_ok=finding_changed_ok, accepted_as=accepted_as,
            override=override, rerun=rerun, out_dir=out_dir,
        )  # fmt: skip


def _decide_locked(
    inv: Investigation | None,
    verdict: Callable[..., Any],
    *,
    finding_id: str,
    status: str,
    analyst: str,
    rationale: str,
    ledger: str | Path | None,
    path: Path,
    supersede: bool,
    expected: Mapping[str, Any] | Expect | None,
    finding_changed_ok: bool | Collection[str],
    accepted_as: str,
    override: str,
    rerun: str | None,
    out_dir: str | Path | None,
) -> dict[str, Any]:
    """:func:`decide`'s re-read, check and append, under the ledger's decision lock."""
    check = recheck(inv)
    changed = check.state == CHECK_CHANGED
    if changed and not _accepted(check, finding_changed_ok):
        assert inv is not None  # a finding read again is an investigation's
        records, issues = read_ledger(path)
        again = rerun or rerun_command(
            inv, status=status, analyst=analyst, rationale=rationale, ledger=ledger,
            out_dir=out_dir,
        )  # fmt: skip
        why = (
            f"{changed_refusal(inv, check)}; nothing recorded. Re-run the report (it reads the "
            f"finding as GuardDuty has it then): {again} — or, to record this verdict over the "
            f"change: {override}"
        )
        log.info("verdict %s for %s not recorded: %s", status, finding_id, why)
        return {
            **_verdict_fields(
                latest_verdict(records, finding_id) or {},
                path,
                refused=verdict(check.to_record()).to_dict(),
                refused_why=why,
                issues=issues,
            ),
            "finding_changed": list(check.changes),
        }
    v = verdict(check.to_record(accepted=accepted_as if changed else ""))
    done = record_decision(v, path, expected=expected, supersede=supersede)
    return _verdict_fields(
        done.record,
        path,
        added=done.added,
        superseded=done.superseded,
        refused=done.refused,
        refused_why=done.why,
        issues=done.issues,
    )


def _verdict_fields(
    record: Mapping[str, Any],
    path: Path,
    *,
    added: bool = False,
    superseded: Mapping[str, Any] | None = None,
    refused: Mapping[str, Any] | None = None,
    refused_why: str = "",
    issues: Sequence[DataIssue] = (),
) -> dict[str, Any]:
    return {
        "status": record.get("status", "pending"),
        "analyst": record.get("analyst") or None,
        "rationale": record.get("rationale") or None,
        "recorded_at": record.get("recorded_at"),
        "ledger": str(path),
        "added": added,
        "superseded": dict(superseded) if superseded else None,
        "refused": dict(refused) if refused else None,
        "refused_why": refused_why or None,
        "ledger_issues": [i.to_dict() for i in issues],
        "note": verdict_note(superseded=superseded, refused=refused, why=refused_why),
        # the finding read again when the verdict shown was recorded (verdict.finding_check_note)
        "finding_check": dict(record["finding_check"])
        if isinstance(record.get("finding_check"), Mapping)
        else None,
        "finding_changed": None,
    }


def verdict_note(
    *,
    superseded: Mapping[str, Any] | None = None,
    refused: Mapping[str, Any] | None = None,
    why: str = "",
) -> str | None:
    """One line on what recording did beyond adding a record: ``NOT RECORDED: malicious by
    ana — it would supersede …`` or ``supersedes legitimate by bob at … (kept in the ledger)``;
    None when there is nothing to say. Plain text: escape it where it is shown."""
    if refused is not None:
        hint = SUPERSEDE_HINT if why.startswith("it would supersede") else ""
        return (
            f"NOT RECORDED: {refused.get('status')} by {refused.get('analyst') or '-'} — {why}"
            + (f"; {hint}" if hint else "")
        )
    if superseded is not None:
        return f"supersedes {describe(superseded)} (kept in the ledger)"
    return None


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
    ``athena:…``), the Tor exit lists (``tor: …``) and the datasets that placed the IPs
    (``geo: country: …``, ``geo: ASN: …``)."""
    lists = [f"tor: {line}" for line in inv.lists.describe().splitlines() if line.strip()]
    geo = inv.geo.lines() if inv.geo is not None else []
    return list(dict.fromkeys([inv.sources.describe(), *inv.activity.sources, *lists, *geo]))


def provenance(inv: Investigation) -> dict[str, Any]:
    """``summary.json``'s ``generated``: when the investigation ran (UTC), by whom
    (:func:`run_by`) and from which sources (:func:`read_sources`)."""
    return {"at": iso_utc(inv.started_at), "by": run_by(), "sources": read_sources(inv)}


def summary(inv: Investigation, verdict: dict[str, Any] | None = None) -> dict[str, Any]:
    """``summary.json``: the machine-readable result a ticket system stores (docs/DESIGN.md).
    Its prose fields (``why``, ``problem``, ``detail``) are cut around their commands
    (:func:`torinvest.shown.cut_prose`: attacker-written values inside them cannot make it huge)."""
    return cut_prose_fields(_summary(inv, verdict))


def _summary(inv: Investigation, verdict: dict[str, Any] | None) -> dict[str, Any]:
    f, k = inv.finding, inv.key
    v = verdict or {}
    # a busy key's lists are parts (torinvest.shown): "lists" gives what they are parts of
    ips, ips_part = analysis.listed_source_ips(inv.per_ip)
    sensitive, sensitive_part = analysis.listed_sensitive_events(inv.sensitive)
    derived, derived_part = listed_derived_keys(inv)
    pivot = inv.pivot or IpPivot.not_looked(CAMPAIGN_NOT_RUN)
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
        "key": cut_fields(
            {
                "access_key_id": k.access_key_id,
                "kind": k.kind,
                "principal_id": k.principal_id,
                "user_name": k.user_name,
                "user_type": k.user_type,
            },
            KEY_TEXT,
            where=FINDING_WHOLE_IN,
        ),
        "window": {"start": iso_utc(inv.window[0]), "end": iso_utc(inv.window[1])},
        "events": inv.totals(),
        "source_ips": analysis.summary_source_ips(ips),
        "sensitive_events": analysis.summary_sensitive_events(sensitive),
        "lists": {
            "source_ips": analysis.source_ips_list(inv.per_ip, ips_part),
            "sensitive_events": sensitive_part.to_json(),
            "derived_keys": derived_part.to_json(),
            "ip_pivot_search.ips": pivot.ips_part()[1].to_json(),
            "ip_pivot": pivot.rows_part()[1].to_json(),
        },
        "derived_keys": derived,
        "derived_keys_search": derived_keys_search(inv),
        # console passwords the key or a derived key set, and their sign-ins (torinvest.passwords)
        "console_passwords": [
            cut_fields(u.to_dict(), ("user_name",), where="events.csv")
            for u in inv.console_passwords
        ],
        # console passwords set for a user the call does not name: whose sign-ins, not known
        "console_passwords_unnamed": [unnamed_dict(u) for u in inv.unnamed_passwords],
        # who minted the key (the upstream principal), or why that is not known
        "key_origin": _origin_summary(inv),
        "signals": [s.to_dict() for s in inv.signals],
        # what the new-value signals compared with: none (the score is a floor), partial…
        "baseline": baseline_summary(inv),
        "verdict": {
            "status": v.get("status", "pending"),
            "analyst": v.get("analyst") or None,
            "rationale": v.get("rationale") or None,
            "recorded_at": v.get("recorded_at"),
            **({"note": v["note"]} if v.get("note") else {}),
            # the finding read again when this verdict was recorded (unchanged; changed and
            # accepted; not re-read, and why): absent for pending and for older records
            **({"finding_check": v["finding_check"]} if v.get("finding_check") else {}),
        },
        # identical problems grouped (count and examples): see torinvest.errors.group_issues
        "data_issues": [i.to_dict() for i in group_issues(inv.data_issues)],
        # the reading in words (reading_text): what the report, the terminal and the index say
        "reading": _summary_reading_field(inv),
        # facts the reading rests on that are no issue (days the trail's digest files show
        # quiet, a source not used because another covers it; IPs "not Tor" only by lists of
        # relays' OR addresses): the report's Sources card says them; so do the answer and the
        # terminal
        "reading_notes": inv.reading_notes,
        # the data issues of the key's activity alone (no source could be read, another
        # account's, a region or file failed or read in part): a scheduled run retries them
        "activity_issues": [i.to_dict() for i in group_issues(activity_issues(inv))],
        # what the run read and how it reached AWS (no external ID value, no credential): the
        # commands built later from this file (torinvest post's answer) name it again
        "access": Access.of_sources(inv.sources).summary(),
        **campaign_summary(inv),
        # data events (S3 object reads, Lambda invocations…): LookupEvents never returns them,
        # a trail's log files hold them only when it records them (torinvest.data_events)
        # and which trails record them, as CloudTrail answered (torinvest.data_trails)
        "data_events": data_events(inv.activity, inv.data_trails).to_json(),
        # IAM's record of the key's last use against the activity read (torinvest.last_used)
        "key_last_used": (inv.key_last_used or not_checked(NOT_ASKED)).to_summary(),
        # the key's calls that impaired logging or detection (a trail stopped, GuardDuty
        # disabled…) and what each takes away from the reading (torinvest.impairment): those
        # that blind what was read are also in data_issues, the others in reading_notes
        "impaired_logging": inv.impaired.to_json(),
    }


#: The key's attacker-influenced text in ``summary.json`` (a findings file names the user):
#: cut there (:func:`torinvest.shown.cut_text`), whole in the finding; its IDs stay whole.
KEY_TEXT = ("user_name", "user_type")
#: Where a value of the finding (the key's user name, the Tor IP's network) is whole when
#: ``summary.json`` or a card cuts it.
FINDING_WHOLE_IN = "the finding as read (GuardDuty or the findings file)"
#: A minting record's text written by its caller (a session name, a user name): cut in
#: ``summary.json``; its ARNs, IDs and keys stay whole.
MINT_TEXT = ("principal", "principal_user", "session_name", "principal_type", "service")


def _origin_summary(inv: Investigation) -> dict[str, Any]:
    """``summary.json``'s ``key_origin``: its minting records' caller-written text cut."""
    origin = inv.key_origin().to_dict()
    origin["mints"] = [cut_fields(m, MINT_TEXT) for m in origin["mints"]]
    return origin


def _summary_reading_field(inv: Investigation) -> dict[str, Any]:
    """``summary.json``'s ``reading``: ``state`` (:func:`reading_of`) and ``text``
    (:func:`reading_text`), counted over the grouped data issues as ``data_issues`` lists them."""
    grouped = group_issues(inv.data_issues)
    state, why = reading_of(grouped, inv.totals()["total"])
    return {"state": state, "text": reading_text(state, len(grouped), why)}


#: ``summary.json``'s ``baseline.status`` values (docs/DESIGN.md).
BASELINE_STATUSES = ("compared", "partial", "none", "not evaluated")


def baseline_summary(inv: Investigation) -> dict[str, Any]:
    """``summary.json``'s ``baseline``: what the signals that compare with the key's earlier
    use (new source IP, user agent, ASN, country) compared with — the key's calls from the
    window's start (``from``) to the finding's first sighting (``to``), the earliest of them
    (``history_start``) — and ``status``: ``compared`` (calls before the first sighting, the
    activity read whole), ``partial`` (calls before it, but the activity was not read whole: a
    value called new may have been used in what was not read), ``none`` (no call before the
    first sighting in what was read: those signals could not be evaluated and the score is a
    floor — not a data issue), ``not evaluated`` (nothing could be read, no call at all, or no
    first sighting). ``why`` says it (null when compared)."""
    split = analysis.window_of(inv.findings)
    first = split[0] if split is not None else None
    out: dict[str, Any] = {
        "status": "compared",
        "from": iso_utc(inv.window[0]),
        "to": iso_utc(first),
        "history_start": None,
        "why": None,
    }
    if first is not None and len(inv.per_ip) and "first_seen" in inv.per_ip.columns:
        seen = inv.per_ip["first_seen"]
        earlier = seen[(seen < first).fillna(False).to_numpy(dtype=bool)]
        out["history_start"] = iso_utc(earlier.min()) if len(earlier) else None
    by_name = {s.name: s for s in inv.signals}
    if inv.activity.nothing_read:
        why = "no activity source of the key could be read: " + inv.activity.why_nothing()
        return {**out, "status": "not evaluated", "why": why}
    if analysis.NO_BASELINE_SIGNAL in by_name:
        return {**out, "status": "none", "why": by_name[analysis.NO_BASELINE_SIGNAL].detail}
    if first is None:
        why = "the findings give no first sighting: nothing to split the activity at"
        return {**out, "status": "not evaluated", "why": why}
    if out["history_start"] is None:
        why = "no call of the key in the window: nothing to compare"
        return {**out, "status": "not evaluated", "why": why}
    unread = len(group_issues(inv.activity.issues))
    if inv.could_not_look is not None:  # events of other accounts only: the finding's not read
        why = "the key's activity in the finding's account was not read: " + inv.could_not_look
        return {**out, "status": "partial", "why": why}
    if unread:
        partial = by_name.get(analysis.PARTIAL_BASELINE_SIGNAL)
        why = (
            partial.detail
            if partial is not None
            else f"the activity was not completely read ({unread:,} data issue(s) about reading "
            "it): a value called new may have been used in what was not read"
        )
        return {**out, "status": "partial", "why": why}
    return out


def key_origin_phrase(summary_data: Mapping[str, Any]) -> str:
    """Who minted the key, from a ``summary.json``'s ``key_origin``, in a line ("" when the
    summary has none, or the key is long-term and its creation is simply before the window:
    nothing to add): :func:`torinvest.sources.records.origin.origin_phrase`, which ``events``
    says too. Plain text: escape it where it is shown."""
    return origin_phrase(summary_data.get("key_origin"))


def baseline_phrase(summary_data: Mapping[str, Any]) -> str:
    """What a ``summary.json``'s ``baseline`` adds to its reading, in a few words ("" when it
    compared, or the summary has none): ``no baseline (no call before the first sighting
    2023-07-10T12:11:02Z): the score is a floor`` or ``baseline read in part: "new" signals may
    be wrong``."""
    base = summary_data.get("baseline")
    status = base.get("status") if isinstance(base, Mapping) else None
    if not isinstance(base, Mapping):  # a summary written before ``baseline``: its signals
        names = {s.get("name") for s in summary_data.get("signals") or [] if isinstance(s, Mapping)}
        if analysis.NO_BASELINE_SIGNAL in names:
            return (
                "no baseline (no call of the key before the finding's first sighting): the new "
                "IP/user agent/ASN/country signals could not be evaluated — the score is a floor"
            )
        return ""
    if status == "none":
        return (
            f"no baseline (no call of the key before the first sighting {base.get('to')}): the "
            "new IP/user agent/ASN/country signals could not be evaluated — the score is a floor"
        )
    if status == "partial":
        return (
            "baseline read in part: a source called new may have been used in what was not "
            "read — the new IP/user agent/ASN/country signals may be wrong"
        )
    return ""


def activity_issues(inv: Investigation) -> list[DataIssue]:
    """What kept the key's activity from being read whole — nothing could be read (the
    ``activity`` issue), only another account's sources, a region or file that failed or was
    read in part — apart from the investigation's other data issues (Tor lists, places, the
    related findings, a structural limit such as LookupEvents not filtering by IP): the part a
    later run may read (access restored, throttling over, calls delivered late) — and IAM's
    last use of the key after the last call read (:data:`torinvest.last_used.SOURCE`: calls
    missing from the reading, though no source failed). Keys minted past the pass limit are
    not among them (a re-run follows the same)."""
    issues = [i for i in inv.data_issues if i.source == NOTHING_READ_SOURCE]
    said = inv.activity.said_by_why()  # the "activity" issue says them whole: said once
    # a trail the key stopped stays stopped: a re-run reads the same (not retried)
    return issues + [
        i for i in inv.unread_activity if i.source not in IMPAIRED_SOURCES and i not in said
    ]


#: Why the campaign sections are "not looked" when torinvest.campaign.look_around did not run.
CAMPAIGN_NOT_RUN = "not asked for (torinvest.campaign.look_around was not run)"


#: ``summary.json``'s ``derived_keys_search.status`` values (docs/DESIGN.md).
DERIVED_SEARCH_STATUSES = ("followed", "partial", "not followed")


def derived_keys_search(inv: Investigation) -> dict[str, Any]:
    """``summary.json``'s ``derived_keys_search``: whether ``derived_keys`` is the whole answer.

    ``followed`` (every key minted in the activity was followed, and the activity was read
    whole: an empty list means none), ``partial`` (keys minted past the pass limit were not
    followed, or the activity was not read whole — no call could be read, or a source, region,
    file or days were not: a key minted there is not known; or a console password the key set,
    ``console_passwords``, whose sign-ins were not read, or whose console sessions signed in and
    their calls were not read — :func:`torinvest.passwords.passwords_gap`; ``why`` says which),
    ``not followed`` (``follow_derived`` was off: the list is empty whatever the key minted)."""
    if not inv.follow_derived:
        return {
            "status": "not followed",
            "why": "follow_derived was off (--no-follow-derived): keys the key minted were not "
            "searched for",
        }
    unfollowed = [i.problem for i in inv.activity.issues if is_unfollowed(i)]
    if unfollowed:
        return {"status": "partial", "why": "; ".join(unfollowed)}
    if inv.activity.nothing_read:
        return {
            "status": "partial",
            "why": "no call of the key could be read, so no key it minted could be seen: "
            + inv.activity.why_nothing(),
        }
    if inv.could_not_look is not None:  # events of other accounts only
        return {
            "status": "partial",
            "why": "the key's activity in the finding's account was not read, so a key minted "
            "there is not known: " + inv.could_not_look,
        }
    if inv.sightings_unread is not None:
        return {
            "status": "partial",
            "why": "the calls GuardDuty saw the key make are not in what was read, so a key "
            "minted by them is not known: " + inv.sightings_unread.problem,
        }
    unread = group_issues(inv.unread_activity)  # IAM's last use after the last call read too
    if unread:
        sources = ", ".join(dict.fromkeys(i.source for i in unread))
        return {
            "status": "partial",
            "why": f"the activity was not read whole ({len(unread)} data issue(s): {sources}): "
            "a key minted in what was not read is not known",
        }
    gap = passwords_gap(
        inv.console_passwords, inv.unnamed_passwords
    )  # a console password is a credential it minted
    if gap is not None:
        return {"status": "partial", "why": gap}
    return {"status": "followed", "why": None}


def listed_derived_keys(inv: Investigation) -> tuple[list[str], Part]:
    """The derived keys ``summary.json`` lists (every one up to :data:`torinvest.shown.LIMITS`
    ``summary_items``, in the order they were found) and the part (``lists.derived_keys``).
    No export holds every one (they are read from the minting calls' responses): ``all_in`` is
    null; ``torinvest actions`` plans from the evidence, never from this list."""
    keys = [d.access_key_id for d in inv.activity.derived]
    listed, part = part_of(keys, "summary_items", what="derived keys")
    return list(listed), part


def derived_keys_phrase(summary_data: Mapping[str, Any]) -> str:
    """The derived keys of a ``summary.json`` in a few words ("2 derived key(s)", "derived keys
    not followed"), counted over all of them (``lists``), never the listed part; a summary
    written before ``derived_keys_search`` counts its list."""
    count = listed_total(summary_data, "derived_keys")
    status = (summary_data.get("derived_keys_search") or {}).get("status")
    said = passwords_phrase(summary_data)
    if status == "not followed":
        return "derived keys not followed" + said
    if status == "partial":
        return f"{count} derived key(s) (search partial)" + said
    return f"{count} derived key(s)" + said


def report_issues(
    inv: Investigation,
    findings: FindingsResult | None = None,
    ledger_issues: Sequence[DataIssue] = (),
) -> list[DataIssue]:
    """Every data issue of one report, once: the findings files that could not be read, the
    verdict ledger's unreadable lines and the investigation's data issues, identical problems
    of many sources grouped (:func:`torinvest.errors.group_issues`). The one list the report's
    answer and Data issues card show, ``summary.json``'s ``data_issues`` holds, its
    ``reading`` counts and ``torinvest investigate`` prints and counts: the same reading says
    the same number everywhere. Without ``findings``, those the investigation located its
    finding in (:attr:`Investigation.findings_issues`).

    A findings file (or region) that could not be read is not searched for related findings
    either: the related-findings search's issue of it (``related findings: SOURCE`` with the
    same problem) is that issue said again, and counted once — the related findings card and
    ``related_findings_search.not_searched`` still name it."""
    found = list(findings.issues) if findings is not None else list(inv.findings_issues)
    said = {(i.source, i.problem) for i in found}
    prefix = f"{RELATED_SOURCE}: "
    own = [
        i
        for i in inv.data_issues
        if not (i.source.startswith(prefix) and (i.source[len(prefix) :], i.problem) in said)
    ]
    return group_issues([*found, *ledger_issues, *own])


def campaign_issues(inv: Investigation) -> list[DataIssue]:
    """What kept the related findings and the IP pivot from being complete (nothing when
    they were not asked for)."""
    parts = [p for p in (inv.related, inv.pivot) if p is not None]
    return [i for p in parts for i in p.data_issues]


def campaign_summary(inv: Investigation) -> dict[str, Any]:
    """``summary.json``'s ``related_findings``, ``related_findings_search``, ``ip_pivot`` and
    ``ip_pivot_search`` (docs/DESIGN.md): "not looked" when they were not asked for."""
    related = inv.related or RelatedFindings.not_looked(CAMPAIGN_NOT_RUN)
    pivot = inv.pivot or IpPivot.not_looked(CAMPAIGN_NOT_RUN)
    return {
        "related_findings": [
            cut_fields(dict(r, link=list(r["link"])), ("type",)) for r in related.findings
        ],
        "related_findings_search": related.search_summary(),
        "ip_pivot": [cut_fields(r, ("user_name",)) for r in pivot.to_summary()],
        "ip_pivot_search": pivot.search_summary(),
    }


def outputs(out: str | Path) -> dict[str, Path]:
    """The files a run writes in ``out``."""
    p = Path(out)
    return {
        "notebook": p / "report.ipynb",
        "html": p / "report.html",
        "summary": p / "summary.json",
    }
