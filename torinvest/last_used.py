"""IAM's record of the key's last use, against the activity read: an independent check that the
reading saw the key's latest call.

IAM keeps, for every long-term access key (AKIA…), when it was last used, in which region and
for which service (``GetAccessKeyLastUsed``: read-only, in the key's account). CloudTrail is
read by region (LookupEvents), by log file or by table: a region not searched, a trail that
does not record a region, or data events LookupEvents does not return leave calls out of the
reading without any source failing. IAM's last use after the last call read, inside the window,
says calls are missing: a data issue (source :data:`SOURCE`), so the reading is incomplete.

:func:`check_last_used` asks IAM (with the investigation's own access, never a default of its
own) and :func:`compare` judges the answer (pure). :class:`KeyLastUsed` is the result:
``status`` :data:`CHECKED`, :data:`NOT_CHECKED` (a case folder, a session key, another
account's credentials) or :data:`COULD_NOT_CHECK` (denied, throttled, unreachable, no such
key) — never a failure of the report — and, when checked, ``verdict`` (:data:`VERDICTS`).
``summary.json``'s ``key_last_used`` is :meth:`KeyLastUsed.to_summary`;
:func:`summary_text` and :func:`summary_brief` read it back for the terminal and a ticket.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from torinvest.aws import AWS_CALL_ERRORS, Aws, answer, translate_error
from torinvest.errors import AccessDeniedError, DataIssue, TorinvestError
from torinvest.events import Activity
from torinvest.findings import KeyLocation
from torinvest.schema import iso_utc, utc_or_none

log = logging.getLogger(__name__)

#: The data issue's source when IAM's last use shows calls missing from the reading.
SOURCE = "iam:last-used"
#: ``summary.json``'s ``key_last_used.status`` values.
CHECKED, NOT_CHECKED, COULD_NOT_CHECK = "checked", "not checked", "could not check"
STATUSES = (CHECKED, NOT_CHECKED, COULD_NOT_CHECK)
#: ``key_last_used.verdict`` values (null unless checked).
CONSISTENT = "consistent"
MISSING_CALLS = "missing calls"
USED_AFTER_WINDOW = "used after window"
TOO_RECENT = "too recent to compare"
NO_USE_RECORDED = "no use recorded by IAM"
IAM_OLDER = "IAM record older than calls read"
VERDICTS = (CONSISTENT, MISSING_CALLS, USED_AFTER_WINDOW, TOO_RECENT, NO_USE_RECORDED, IAM_OLDER)

#: CloudTrail's delivery delay: a last use this close to the check may not be readable yet (a
#: note, never a miss). CloudTrail delivers events within about 15 minutes of the call.
DELIVERY_DELAY = pd.Timedelta(minutes=20)
#: How far apart IAM's time and a call's time may be and still be the same use (IAM's times
#: may be rounded — its API reference's examples end in whole minutes — and are recorded after
#: the call).
SAME_USE = pd.Timedelta(minutes=5)

_OPERATION = "GetAccessKeyLastUsed"


@dataclass(frozen=True, slots=True)
class KeyLastUsed:
    """What IAM says of the key's last use, and how it compares with the activity read.

    ``text`` says it in one line (plain text: escape it where it is shown); ``issue`` is the
    data issue when calls are missing (``verdict`` :data:`MISSING_CALLS`), else None."""

    status: str
    text: str
    verdict: str | None = None
    last_used: pd.Timestamp | None = None
    region: str | None = None
    service: str | None = None
    last_read: pd.Timestamp | None = None
    checked_at: pd.Timestamp | None = None
    why: str | None = None
    issue: DataIssue | None = None

    @property
    def issues(self) -> list[DataIssue]:
        return [self.issue] if self.issue is not None else []

    def to_summary(self) -> dict[str, Any]:
        """``summary.json``'s ``key_last_used`` (:data:`SUMMARY_PROPERTIES`)."""
        return {
            "status": self.status,
            "verdict": self.verdict,
            "last_used": iso_utc(self.last_used),
            "region": self.region,
            "service": self.service,
            "last_read": iso_utc(self.last_read),
            "checked_at": iso_utc(self.checked_at),
            "why": self.why,
            "text": self.text,
        }


def not_checked(why: str) -> KeyLastUsed:
    return KeyLastUsed(NOT_CHECKED, f"not checked: {why}", why=why)


def could_not_check(why: str, at: pd.Timestamp | None = None) -> KeyLastUsed:
    return KeyLastUsed(
        COULD_NOT_CHECK,
        f"could not check: {why} — the reading was not cross-checked against IAM (this does "
        "not make it incomplete)",
        checked_at=at,
        why=why,
    )


#: Why the check did not run when the investigation did not ask (a caller of the steps alone).
NOT_ASKED = "not asked for (torinvest.last_used.check_last_used was not run)"


# --------------------------------------------------------------------------------------------
# asking IAM
# --------------------------------------------------------------------------------------------
def check_last_used(
    aws: Aws | None,
    key: KeyLocation,
    activity: Activity,
    window: tuple[pd.Timestamp, pd.Timestamp],
    *,
    offline: str | None = None,
    now: pd.Timestamp | None = None,
) -> KeyLastUsed:
    """IAM's last use of the finding's key, compared with ``activity`` (:func:`compare`).

    ``aws`` is the investigation's own access (``--profile`` / ``--role-arn``); None, or
    ``offline`` (why: a case folder), is :data:`NOT_CHECKED`. Only long-term keys (AKIA…) have
    a record; IAM answers for its own account's keys only, so credentials of another account
    than the finding's are not asked. Every failure is :data:`COULD_NOT_CHECK`, never raised."""
    if offline is not None or aws is None:
        return not_checked(offline or "no AWS access was given: IAM was not asked")
    kid = key.access_key_id
    if key.kind != "long-term":
        what = "a temporary (ASIA…) session key" if key.kind == "temporary" else "no AKIA… key"
        return not_checked(
            f"{kid} is {what}: IAM keeps a last-use record for long-term (AKIA…) keys only — "
            "the key or role that issued it has its own"
        )
    try:
        account = aws.account_id()
    except TorinvestError as e:
        return could_not_check(f"the credentials' account could not be read ({e})")
    if key.account_id and account != key.account_id:
        return not_checked(
            f"the credentials are of account {account}, not the finding's {key.account_id}, and "
            f"IAM answers for its own account's keys only (investigate with access to account "
            f"{key.account_id}: --profile or --role-arn)"
        )
    try:
        found = read_last_used(aws, kid)
    except AccessDeniedError as e:
        return could_not_check(
            f"access denied: iam:{_OPERATION} on {kid} ({e.message}); the investigating "
            f"principal needs iam:{_OPERATION} (policies/)",
            pd.Timestamp.now(tz="UTC"),
        )
    except TorinvestError as e:
        code = getattr(e, "code", None)
        if code == "NoSuchEntity":
            why = (
                "it was deleted (its last-use record went with it) — check CloudTrail "
                "DeleteAccessKey"
                if key.account_id
                else "deleted, or a key of another account (the finding names no account)"
            )
            return could_not_check(
                f"IAM has no access key {kid} in account {account} now (NoSuchEntity): {why}",
                pd.Timestamp.now(tz="UTC"),
            )
        return could_not_check(f"iam:{_OPERATION} failed: {e}", pd.Timestamp.now(tz="UTC"))
    at = now if now is not None else pd.Timestamp.now(tz="UTC")
    last_read, slack = last_call_read(activity, kid)
    return compare(
        kid,
        *found,
        last_read=last_read,
        read_slack=slack,
        window=window,
        checked_at=at,
        searched=searched_regions(activity),
        events_read=key_calls(activity, kid),
    )


def read_last_used(
    aws: Aws, access_key_id: str
) -> tuple[pd.Timestamp | None, str | None, str | None]:
    """``(LastUsedDate, Region, ServiceName)`` of IAM's answer (``N/A`` → None); raises a
    :class:`TorinvestError` (translated) when the call fails or the answer is not IAM's."""
    try:
        resp = aws.client("iam").get_access_key_last_used(AccessKeyId=access_key_id)
    except AWS_CALL_ERRORS as e:
        raise translate_error(e, service="iam", operation=_OPERATION) from e
    used = answer(resp, "AccessKeyLastUsed", Mapping, service="iam", operation=_OPERATION)
    when = utc_or_none(used.get("LastUsedDate"))
    log.info("IAM: %s last used %s in %s (%s)", access_key_id, when, used.get("Region"),
             used.get("ServiceName"))  # fmt: skip
    return when, _named(used.get("Region")), _named(used.get("ServiceName"))


def _named(value: Any) -> str | None:
    """A region or service name of IAM's answer; None for ``N/A``, empty or not text."""
    if not isinstance(value, str) or not value.strip() or value.strip().upper() == "N/A":
        return None
    return value.strip()[:128]


# --------------------------------------------------------------------------------------------
# what was read
# --------------------------------------------------------------------------------------------
def key_calls(activity: Activity, access_key_id: str) -> int:
    """How many calls of the key itself (not the keys it minted) were read."""
    agg = activity.aggregates
    if agg is not None:
        rows = agg.by_time[agg.by_time["access_key_id"].astype("string") == access_key_id]
        return int(rows["calls"].sum())
    frame = activity.frame
    if not len(frame):
        return 0
    return int((frame["access_key_id"].astype("string") == access_key_id).fillna(False).sum())


def last_call_read(
    activity: Activity, access_key_id: str
) -> tuple[pd.Timestamp | None, pd.Timedelta]:
    """The time of the key's own last call read (its minted keys' calls left out: IAM's record
    is the key's) and how precise it is: exact from rows; counted in the engine, the start of
    the last time bucket holding one, precise to the bucket."""
    agg = activity.aggregates
    frame = activity.frame
    times: list[pd.Timestamp] = []
    slack = pd.Timedelta(0)
    if len(frame):
        mine = frame.loc[(frame["access_key_id"].astype("string") == access_key_id).fillna(False)]
        last = mine["event_time"].max() if len(mine) else None
        if last is not None and not pd.isna(last):
            times.append(pd.Timestamp(last))
    if agg is not None and len(agg.by_time):
        by = agg.by_time
        mine = by.loc[(by["access_key_id"].astype("string") == access_key_id).fillna(False)]
        last = mine["event_time"].max() if len(mine) else None
        if last is not None and not pd.isna(last):
            times.append(pd.Timestamp(last))
            bucket = by.attrs.get("bucket")
            slack = pd.Timedelta(bucket) if bucket is not None else pd.Timedelta(0)
    return (max(times) if times else None), slack


@dataclass(frozen=True, slots=True)
class Searched:
    """Where the activity was looked for: the LookupEvents regions asked, whether log files or
    a table were read (their regions are not listed), and the regions calls were read in."""

    lookup: tuple[str, ...] = ()
    logs: bool = False
    seen: tuple[str, ...] = ()


def searched_regions(activity: Activity) -> Searched:
    frame = activity.frame
    seen: Sequence[str] = ()
    if len(frame) and "aws_region" in frame.columns:
        seen = sorted({str(r) for r in frame["aws_region"].dropna().unique()})
    if activity.aggregates is not None and "aws_region" in activity.aggregates.by_region.columns:
        regions = activity.aggregates.by_region["aws_region"].dropna().unique()
        seen = sorted({*seen, *(str(r) for r in regions)})
    tables = any(s.startswith(("athena:", "duckdb:")) for s in activity.sources)
    return Searched(tuple(activity.lookup_asked), bool(activity.files_read) or tables, tuple(seen))


# --------------------------------------------------------------------------------------------
# comparing (pure)
# --------------------------------------------------------------------------------------------
NO_SLACK = pd.Timedelta(0)


def compare(
    access_key_id: str,
    last_used: pd.Timestamp | None,
    region: str | None,
    service: str | None,
    *,
    last_read: pd.Timestamp | None,
    window: tuple[pd.Timestamp, pd.Timestamp],
    checked_at: pd.Timestamp,
    searched: Searched | None = None,
    events_read: int = 0,
    read_slack: pd.Timedelta = NO_SLACK,
) -> KeyLastUsed:
    """IAM's last use (``last_used`` in ``region`` for ``service``) against the key's last call
    read (``last_read``, precise to ``read_slack``) in ``window``, asked at ``checked_at``.

    - no use recorded: consistent when no call of the key was read, else a note;
    - at or before the last call read (within :data:`SAME_USE`): consistent; well before it:
      a note (IAM's record is older than the calls read: nothing is missing);
    - after the window's end: a note, "used again after the window";
    - after the last call read, inside the window, within :data:`DELIVERY_DELAY` of the check:
      a note (CloudTrail may not have delivered it yet);
    - after the last call read, inside the window, earlier: **missing calls**, a data issue
      naming the region and service IAM gives and whether that region was searched."""
    fields = {
        "last_used": last_used,
        "region": region,
        "service": service,
        "last_read": last_read,
        "checked_at": checked_at,
    }
    kid = access_key_id
    searched = searched or Searched()
    read = f"the last call read ({_t(last_read)})" if last_read is not None else None
    where = (f" in {region}" if region else "") + (f" ({service})" if service else "")

    def result(verdict: str, text: str, issue: bool = False) -> KeyLastUsed:
        problem = DataIssue(SOURCE, text) if issue else None
        return KeyLastUsed(CHECKED, text, verdict=verdict, issue=problem, **fields)  # type: ignore[arg-type]

    if last_used is None:
        if not events_read:
            return result(CONSISTENT, f"IAM records no use of {kid}, and no call of it was read")
        return result(
            NO_USE_RECORDED,
            f"IAM records no use of {kid} (LastUsedDate empty), yet {events_read:,} call(s) of it "
            f"were read (the last at {_t(last_read)}): the two disagree — check the key's last "
            "use in the IAM console against the calls read",
        )
    said = f"IAM says {kid} was last used at {_t(last_used)}{where}"
    if last_read is not None and last_used <= last_read + read_slack + SAME_USE:
        if last_used < last_read - SAME_USE:
            return result(
                IAM_OLDER,
                f"{said}, earlier than {read}: the calls read are newer than IAM's record "
                "(it may lag); no call is missing by it",
            )
        return result(CONSISTENT, f"{said}: consistent with {read}")
    start, end = window
    if last_used < start and last_read is None:
        return result(
            CONSISTENT,
            f"{said}, before the window (from {_t(start)}): no call of the key in it is expected",
        )
    after = read or "no call of the key was read"
    if last_used > end + SAME_USE:
        live = end >= checked_at - DELIVERY_DELAY  # the window reached the run's start
        how = (
            "run again later to read it (the window ends when this run started)"
            if live
            else "widen --lookahead-days to read it"
        )
        return result(
            USED_AFTER_WINDOW,
            f"{said}, after the window's end ({_t(end)}): used again after the window — {how}",
        )
    if last_used >= checked_at - DELIVERY_DELAY:
        minutes = max(0, int((checked_at - last_used).total_seconds() // 60))
        return result(
            TOO_RECENT,
            f"{said}, {minutes} minute(s) before this check, after {after}: CloudTrail delivers "
            f"calls up to about 15 minutes late, so it may not be readable yet — run again "
            f"after {_t(last_used + DELIVERY_DELAY)} to compare",
        )
    return result(
        MISSING_CALLS,
        f"{said}, after {after}: calls are missing — {_why_missing(region, service, searched)}",
        issue=True,
    )


#: Services whose calls are mostly data events (object reads and writes, invocations, items),
#: which LookupEvents never returns and a trail records only when it is set to.
DATA_EVENT_SERVICES = frozenset({"s3", "lambda", "dynamodb", "s3-object-lambda", "sns", "sqs"})


def _why_missing(region: str | None, service: str | None, searched: Searched) -> str:
    """Where the calls IAM saw may be: the region not searched, the trail not recording it, or
    data events (LookupEvents returns management events only)."""
    data = (
        f"; {service} calls are often data events, which LookupEvents never returns and log files "
        "hold only when the trail records data events"
        if service in DATA_EVENT_SERVICES
        else ""
    )
    if region is None:
        return (
            "a region not searched? the trail not recording that region or those (data) "
            f"events?{data}"
        )
    asked = ", ".join(searched.lookup) if searched.lookup else "none"
    if region not in searched.lookup and not searched.logs:
        return (
            f"{region} was not searched (LookupEvents was asked in {asked}; no log file or table "
            f"was read): run again with --regions all (or with {region}){data}"
        )
    if region not in searched.lookup and region not in searched.seen:
        return (
            f"{region}: LookupEvents was not asked there ({asked}) and the log files or table "
            f"read hold no call of the key there — a trail not recording {region}, or those "
            f"(data) events? add --regions {region} or the trail's {region} log files{data}"
        )
    return (
        f"{region} was searched: the trail not recording those (data) events (LookupEvents "
        "returns management events only)? a source that failed (see the other data issues)?" + data
    )


def _t(value: pd.Timestamp | None) -> str:
    """A time to the second, ``2023-07-10T12:17:08Z`` (``none`` when missing)."""
    if value is None or pd.isna(value):
        return "none"
    return str(iso_utc(pd.Timestamp(value).floor("s")))


# --------------------------------------------------------------------------------------------
# summary.json, read back
# --------------------------------------------------------------------------------------------
_TIME = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$"
_TEXT_OR_NULL: dict[str, Any] = {"type": ["string", "null"]}
_TIME_OR_NULL: dict[str, Any] = {"type": ["string", "null"], "pattern": _TIME}

#: ``summary.json``'s ``key_last_used`` (optional: summaries written before it have none).
SUMMARY_PROPERTIES: dict[str, Any] = {
    "key_last_used": {
        "type": "object",
        "additionalProperties": False,
        "required": ["status", "verdict", "last_used", "region", "service", "text"],
        "properties": {
            "status": {"enum": list(STATUSES)},
            "verdict": {"enum": [*VERDICTS, None]},
            "last_used": _TIME_OR_NULL,
            "region": _TEXT_OR_NULL,
            "service": _TEXT_OR_NULL,
            "last_read": _TIME_OR_NULL,
            "checked_at": _TIME_OR_NULL,
            "why": _TEXT_OR_NULL,
            "text": {"type": "string"},
        },
    }
}


def summary_text(summary: Mapping[str, Any]) -> str:
    """A ``summary.json``'s ``key_last_used`` in one line (plain text), "" when it has none."""
    found = summary.get("key_last_used")
    if not isinstance(found, Mapping):
        return ""
    text = found.get("text")
    return str(text) if isinstance(text, str) else str(found.get("status") or "")


def summary_brief(summary: Mapping[str, Any]) -> str:
    """A few words for the terminal's one line: ``IAM last use: consistent``, ``IAM last use:
    MISSING CALLS (ap-south-1, s3)``, ``IAM last use: not checked``; "" without the field."""
    found = summary.get("key_last_used")
    if not isinstance(found, Mapping):
        return ""
    status = str(found.get("status") or "")
    verdict = found.get("verdict")
    if status != CHECKED or not isinstance(verdict, str):
        return f"IAM last use: {status}"
    if verdict == MISSING_CALLS:
        named = ", ".join(str(found[k]) for k in ("region", "service") if found.get(k))
        return "IAM last use: MISSING CALLS" + (f" ({named})" if named else "")
    return f"IAM last use: {verdict}"
