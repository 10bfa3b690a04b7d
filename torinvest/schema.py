"""Column contracts of the frames torinvest returns: names, dtypes, meaning.

Each frame is described once here as a tuple of :class:`Column`; :func:`conform` gives a frame
exactly that column order and those dtypes, and :func:`contract_markdown` renders the contract for
the README. Missing values are ``NA`` (never ``""``); times are UTC.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal

import numpy as np
import pandas as pd

from torinvest.errors import InputError

UTC_TIME = "datetime64[us, UTC]"


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    dtype: str
    meaning: str


FINDINGS_COLUMNS: tuple[Column, ...] = (
    Column("id", "string", "GuardDuty finding ID"),
    Column("type", "category", "finding type, e.g. UnauthorizedAccess:IAMUser/TorIPCaller"),
    Column("account_id", "category", "account the finding belongs to"),
    Column("region", "category", "region the finding was raised in"),
    Column("severity", "Float64", "GuardDuty severity (0.1–10)"),
    Column("title", "string", "finding title"),
    Column("created_at", UTC_TIME, "when GuardDuty created the finding"),
    Column("updated_at", UTC_TIME, "when GuardDuty last updated it"),
    Column("first_seen", UTC_TIME, "service.eventFirstSeen: first activity it aggregates"),
    Column("last_seen", UTC_TIME, "service.eventLastSeen: last activity it aggregates"),
    Column("count", "Int64", "service.count: how many times the activity was seen"),
    Column("archived", "boolean", "service.archived"),
    Column("access_key_id", "string", "resource.accessKeyDetails.accessKeyId"),
    Column("key_kind", "category", "long-term (AKIA), temporary (ASIA) or other"),
    Column("principal_id", "string", "resource.accessKeyDetails.principalId"),
    Column("user_name", "string", "resource.accessKeyDetails.userName"),
    Column(
        "user_type", "category", "resource.accessKeyDetails.userType (IAMUser, AssumedRole, Root…)"
    ),
    Column("tor_ip", "string", "remote IP of the call (remoteIpDetails.ipAddressV4 or V6)"),
    Column("country", "string", "remoteIpDetails.country.countryName"),
    Column("asn", "string", "remoteIpDetails.organization.asn"),
    Column("asn_org", "string", "remoteIpDetails.organization.asnOrg"),
    Column("api", "string", "awsApiCallAction.api: the API called"),
    Column("service_name", "string", "awsApiCallAction.serviceName, e.g. iam.amazonaws.com"),
    Column("detector_id", "string", "service.detectorId"),
    Column("sample", "boolean", "a GuardDuty sample finding (additionalInfo.sample)"),
    Column("shape", "category", "input shape: api, raw, get-findings, eventbridge, asff, …"),
    Column("origin", "string", "where it came from: file[index] or guardduty:<region>"),
    Column("raw", "object", "the finding exactly as read (dict)"),
)


EVENTS_COLUMNS: tuple[Column, ...] = (
    Column("event_time", UTC_TIME, "eventTime (NA when missing or unparsable: a data issue)"),
    Column(
        "event_id",
        "string",
        "eventID (unique, but for different records sharing one: a data issue)",
    ),
    Column("event_name", "category", "eventName, e.g. ListUsers"),
    Column("event_source", "category", "eventSource, e.g. iam.amazonaws.com"),
    Column("aws_region", "category", "awsRegion the call was made to"),
    Column("source_ip", "category", "sourceIPAddress (an IP, or a service name for AWS calls)"),
    Column("user_agent", "category", "userAgent (attacker-written text)"),
    Column(
        "error_code",
        "category",
        "errorCode; NA for a successful call (or one of unknown outcome: outcome_unknown)",
    ),
    Column(
        "outcome_unknown",
        "boolean",
        "True when whether the call succeeded is not known: no errorCode, and the record was "
        "not whole (LookupEvents' CloudTrailEvent unusable or partial: kept from its own fields)",
    ),
    Column("error_message", "string", "errorMessage"),
    Column("read_only", "boolean", "readOnly"),
    Column("event_type", "category", "eventType (AwsApiCall, AwsConsoleSignIn, …)"),
    Column("access_key_id", "category", "userIdentity.accessKeyId"),
    Column("principal_id", "category", "userIdentity.principalId"),
    Column("user_type", "category", "userIdentity.type (IAMUser, AssumedRole, Root, …)"),
    Column("user_name", "category", "userIdentity.userName, or the role session name"),
    Column("arn", "category", "userIdentity.arn"),
    Column("account_id", "category", "userIdentity.accountId"),
    Column("recipient_account_id", "category", "recipientAccountId: the account that logged it"),
    Column("session_issuer_arn", "category", "userIdentity.sessionContext.sessionIssuer.arn"),
    Column(
        "mfa_authenticated", "boolean", "userIdentity.sessionContext.attributes.mfaAuthenticated"
    ),
    Column("request_parameters", "string", "requestParameters as JSON text (attacker-written)"),
    Column("response_elements", "string", "responseElements as JSON text"),
    Column("derived", "boolean", "activity of a key minted by the suspect key (follow-derived)"),
    Column("source", "category", "which source produced the row: logs, lookup, duckdb, athena"),
    Column("origin", "category", "file path, s3:// URL or lookup:<region> the row came from"),
)


#: The analysis frames' columns (per IP, sensitive calls), shared by :mod:`torinvest.analysis`,
#: which computes them from the rows, and the SQL engines, which compute them in the engine.

#: How many event names (with counts) :func:`torinvest.analysis.per_ip` keeps per IP.
TOP_EVENT_NAMES = 5
#: At most this many regions/user agents/keys per IP in :func:`torinvest.analysis.per_ip` (the
#: most frequent); :data:`PER_IP_LIST_COUNTS` say how many the IP had in all.
MAX_LIST_ITEMS = 50
#: The per-IP frame's list columns and, for each, the column counting its distinct values over
#: all the IP's calls (the list keeps only the :data:`MAX_LIST_ITEMS` most frequent of them).
PER_IP_LIST_COUNTS: dict[str, str] = {
    "regions": "n_regions",
    "user_agents": "n_user_agents",
    "access_keys": "n_access_keys",
}


PER_IP_COLUMNS: tuple[str, ...] = (
    "source_ip",
    "events",
    "failed",
    "outcome_unknown",
    "first_seen",
    "last_seen",
    "regions",
    "user_agents",
    "event_names",
    "access_keys",
    "n_regions",
    "n_user_agents",
    "n_access_keys",
    "derived",
    "tor",
    "tor_events",
    "ip_kind",
    "country",
    "country_source",
    "asn",
    "asn_org",
    "asn_source",
    "new",
)


SENSITIVE_COLUMNS: tuple[str, ...] = (
    "event_time",
    "event_id",
    "event_name",
    "event_source",
    "aws_region",
    "source_ip",
    "access_key_id",
    "user_name",
    "user_agent",
    "error_code",
    "failed",
    "tor",
    "derived",
    "category",
    "mitre_technique",
    "note",
)
#: Columns :func:`torinvest.analysis.sensitive_events` adds with ``targets=True``: what each call
#: acted on, as one line (string, NA when nothing is named) and as
#: :class:`torinvest.targets.Target` tuples.
SENSITIVE_TARGET_COLUMNS: tuple[str, ...] = ("target", "targets")


def empty_per_ip() -> pd.DataFrame:
    """A per-IP frame without rows: the columns and dtypes of :func:`torinvest.analysis.per_ip`."""
    dtypes = {
        "source_ip": "string",
        "events": "Int64",
        "failed": "Int64",
        "outcome_unknown": "Int64",
        "first_seen": UTC_TIME,
        "last_seen": UTC_TIME,
        "regions": object,
        "user_agents": object,
        "event_names": object,
        "access_keys": object,
        "n_regions": "Int64",
        "n_user_agents": "Int64",
        "n_access_keys": "Int64",
        "derived": "boolean",
        "tor": "boolean",
        "tor_events": "Int64",
        "ip_kind": "string",
        "country": "string",
        "country_source": "string",
        "asn": "string",
        "asn_org": "string",
        "asn_source": "string",
        "new": "boolean",
    }
    return pd.DataFrame({c: pd.Series([], dtype=dtypes[c]) for c in PER_IP_COLUMNS})


def _empty(dtype: str) -> pd.Series:
    if dtype == "category":  # string categories, as in non-empty frames
        return pd.Series([], dtype="string").astype("category")
    return pd.Series([], dtype=dtype)


def conform(frame: pd.DataFrame | Iterable[Mapping], columns: tuple[Column, ...]) -> pd.DataFrame:
    """Return a frame with exactly ``columns``, in order and with their dtypes.

    Missing columns are added as all-NA; extra columns are dropped; empty strings become NA.
    """
    df = frame if isinstance(frame, pd.DataFrame) else pd.DataFrame(list(frame))
    out: dict[str, pd.Series] = {}
    for col in columns:
        if col.name not in df.columns:
            s = pd.Series([None] * len(df), index=df.index, dtype="object")
        else:
            s = df[col.name]
        out[col.name] = _cast(s, col.dtype) if len(df) else _empty(col.dtype)
    result = pd.DataFrame(out)
    return result.reset_index(drop=True)


def _cast(s: pd.Series, dtype: str) -> pd.Series:
    if dtype == "object":
        return s.astype("object")
    if dtype.startswith("datetime64"):
        return utc_times(s).astype(dtype)
    if dtype in ("string", "category"):
        s = s.astype("object").where(s.notna(), None)
        s = s.map(lambda v: None if v is None or v == "" else str(v))
        return s.astype("string").astype("category") if dtype == "category" else s.astype("string")
    if dtype == "boolean":
        return s.map(_to_bool).astype("boolean")
    if dtype in ("Int64", "Float64"):
        return pd.to_numeric(s, errors="coerce").astype(dtype)
    return s.astype(dtype)


def _to_bool(v: object) -> bool | None:
    if v is None or v is pd.NA or (isinstance(v, float) and v != v):
        return None
    if isinstance(v, bool):
        return v
    if isinstance(v, str):
        low = v.strip().lower()
        if low in ("true", "1", "yes"):
            return True
        if low in ("false", "0", "no"):
            return False
        return None
    return bool(v)


#: Digits of a fraction of a second past the microsecond (``.1234567``: the ``7``).
_PAST_MICROSECOND = re.compile(r"(?<=\.\d{6})\d+")


def utc_times(values: Iterable[object] | pd.Series) -> pd.Series:
    """Times (ISO 8601 text with any offset, naive = UTC, or times) as ``datetime64[us, UTC]``;
    what is not a time is NaT. Text's digits past the microsecond are dropped first (as DuckDB
    drops them): pandas takes the resolution of text it parses from the text, so one
    ``.1234567`` made the whole batch nanoseconds, where every time before 1677-09-21 or after
    2262-04-11 is out of bounds (NaT: read as "no usable time", kept in every window) although
    the same times parse in a batch without it."""
    s = values if isinstance(values, pd.Series) else pd.Series(list(values), dtype="object")
    if s.dtype == object or isinstance(s.dtype, pd.StringDtype):
        s = _cut_past_microseconds(s)
    return pd.to_datetime(s, utc=True, format="ISO8601", errors="coerce").astype(UTC_TIME)


def _cut_past_microseconds(s: pd.Series) -> pd.Series:
    """``s`` with its texts' digits past the microsecond dropped (``s`` itself when none has
    any: the common case costs one scan in Arrow)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        text = pa.array(s, type=pa.large_string(), from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # times and text mixed: one by one
        return s.map(lambda v: _PAST_MICROSECOND.sub("", v) if isinstance(v, str) else v)
    if not pc.any(pc.match_substring_regex(text, r"\.\d{7}")).as_py():
        return s
    cut = pc.replace_substring_regex(text, r"(\.\d{6})\d+", r"\1")
    return pd.Series(cut.to_pylist(), index=s.index, dtype="object")


def utc_timestamp(value: object) -> pd.Timestamp | None:
    """``value`` as a UTC Timestamp (a naive time is taken as UTC); None for missing values."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and value != value:
        return None
    ts = pd.Timestamp(value)  # type: ignore[arg-type]
    if pd.isna(ts):
        return None
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def utc_or_none(value: object) -> pd.Timestamp | None:
    """``value`` (a time, or its text with any offset) as a UTC Timestamp; None when missing or
    not a time. Times are compared this way, never as text (``…T01:00+09:00`` is before
    ``…T20:00Z`` of the day before's text order; ``…:00Z`` is before ``…:00.5Z``)."""
    try:
        return utc_timestamp(value)
    except (ValueError, TypeError, OverflowError):
        return None


def expiration_time(value: object) -> pd.Timestamp | None:
    """A credential's ``expiration`` from CloudTrail's ``responseElements`` (AWS writes
    ``Jul 12, 2023, 12:20:04 AM``, in UTC; ISO 8601 also read) as a UTC Timestamp; None when
    missing or not a time (a forged record's text: shown as written)."""
    return utc_or_none(value)


def iso_utc(value: object) -> str | None:
    """ISO 8601 UTC text with a ``Z`` (``2023-07-10T12:17:08Z``); None for missing values."""
    ts = utc_timestamp(value)
    return None if ts is None else ts.isoformat().replace("+00:00", "Z")


#: The last instant an inclusive end can name: a date-only end is its day's last microsecond.
TIME_RESOLUTION = pd.Timedelta(microseconds=1)
_MONTH_ONLY = re.compile(r"(\d{4})-(\d{2})")
_ISO_HINT = (
    "a date (2023-07-10: a whole UTC day), a month (2023-07) or a date-time "
    "(2023-07-10T12:00:00Z, 2023-07-10T14:00+02:00)"
)
#: An ISO week date (``2023-W28``, ``2023W28-3``, ``2023-W28T12:00``): Python reads it as one
#: day (the Monday), so a window "of that week" would silently be its Monday only.
_ISO_WEEK = re.compile(r"(\d{4})-?[Ww](\d{2})(?:-?(\d))?(?:[T ].*)?")


def _week_refused(text: str, prefix: str) -> InputError:
    """The error for an ISO week date, with the week's calendar days as the hint."""
    week = _ISO_WEEK.fullmatch(text)
    hint = "give calendar dates instead: " + _ISO_HINT
    if week:
        try:
            monday = date.fromisocalendar(int(week.group(1)), int(week.group(2)), 1)
        except ValueError:
            pass
        else:
            sunday = monday + timedelta(days=6)
            hint = f"give calendar dates: that week is --start {monday} --end {sunday}"
            if week.group(3) and 1 <= int(week.group(3)) <= 7:
                hint += (
                    f", and its day {week.group(3)} is {monday + timedelta(int(week.group(3)) - 1)}"
                )
    return InputError(
        f"{prefix}{text[:60]!r} is an ISO week date, which names a single day, not the week",
        hint=hint,
    )


def window_bound(
    value: object, bound: Literal["start", "end"], *, name: str | None = None
) -> pd.Timestamp | None:
    """One bound of a time window as a UTC Timestamp (None for None/NA): every command, the
    Python API and the SQL engines read ``--start``/``--end`` (and ``start=``/``end=``) here.

    - text is ISO 8601 (``2023-07-10``, ``20230710``, ``2023-07-10T12:00Z``,
      ``2023-07-10T14:00:00+02:00``); anything else is an :class:`InputError` naming ``name``;
    - a date alone (text, or a :class:`datetime.date` that is not a datetime) is a whole UTC
      day: as a start, its first instant (00:00:00); as an end, its last (23:59:59.999999), so
      that ``start=end=2023-07-10`` is that whole day. ``YYYY-MM`` is a whole month likewise;
    - a naive time is UTC; a time with an offset is converted to UTC;
    - ``name`` labels errors (default ``--start``/``--end``; ``""``: no label);
    - a :class:`datetime.datetime` or :class:`pandas.Timestamp` is an instant, even at midnight;
    - bounds are microseconds, as events' times are (and DuckDB's, Athena's): a start between
      two is the next, an end the previous (text past the microsecond is cut, as Python reads
      it), so that every engine keeps the same events.

    Ends are inclusive: an event at exactly ``end`` is in the window.
    """
    label = f"--{bound}" if name is None else name
    prefix = f"{label}: " if label else ""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and value != value:
        return None
    day: date | None = None
    last_day: date | None = None
    cut_up = False  # a start whose text Python cut past the microsecond: the next one
    if isinstance(value, str):
        text = value.strip()
        cut = _PAST_MICROSECOND.search(text)
        cut_up = bound == "start" and cut is not None and bool(cut.group().strip("0"))
        if _ISO_WEEK.fullmatch(text):
            raise _week_refused(text, prefix)
        month = _MONTH_ONLY.fullmatch(text)
        if month and 1 <= int(month.group(2)) <= 12:
            year, mon = int(month.group(1)), int(month.group(2))
            day = date(year, mon, 1)
            last_day = (pd.Timestamp(day) + pd.offsets.MonthEnd(0)).date()
        else:
            try:
                day = last_day = date.fromisoformat(text)
            except ValueError:
                try:
                    value = datetime.fromisoformat(text.replace("z", "Z"))
                except ValueError:
                    raise InputError(
                        f"{prefix}not an ISO 8601 date or time: {text[:60]!r}", hint=_ISO_HINT
                    ) from None
    elif isinstance(value, date) and not isinstance(value, datetime):
        day = last_day = value
    elif not isinstance(value, datetime | np.datetime64):
        raise InputError(
            f"{prefix}not a date or time: {type(value).__name__} {str(value)[:40]!r}",
            hint=_ISO_HINT,
        )
    if day is not None and last_day is not None:
        if bound == "start":
            return pd.Timestamp(day).as_unit("us").tz_localize("UTC")
        next_day = pd.Timestamp(last_day).as_unit("us") + pd.Timedelta(days=1)
        return (next_day - TIME_RESOLUTION).tz_localize("UTC")
    ts = pd.Timestamp(value)  # type: ignore[arg-type]
    if pd.isna(ts):
        return None
    if ts.unit == "ns":  # events are microseconds: the window's bound is the one they can meet
        ts = ts.ceil("us") if bound == "start" else ts.floor("us")
    ts = (ts + TIME_RESOLUTION if cut_up else ts).as_unit("us")
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def time_window(
    start: object,
    end: object,
    *,
    names: tuple[str, str] = ("--start", "--end"),
    now: pd.Timestamp | None = None,
) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
    """``(start, end)`` read by :func:`window_bound`; :class:`InputError` when the window ends
    before it starts (a date-only end is the end of its day, so ``start == end`` is a day), both
    bounds said. With ``now``: a start after it is an error too (nothing can be there yet), said
    as such, not as a start after an end the caller did not give."""
    first = window_bound(start, "start", name=names[0])
    last = window_bound(end, "end", name=names[1])
    if now is not None and first is not None and first > now:
        raise InputError(
            f"{names[0]} {iso_utc(first)} is in the future (now is {iso_utc(now.floor('s'))}): "
            "no event can be there yet",
            hint=f"give a {names[0]} in the past",
        )
    if first is not None and last is not None and last < first:
        raise InputError(
            f"{names[0]} {iso_utc(first)} is after {names[1]} {iso_utc(last)}",
            hint="swap them, or widen the window",
        )
    return first, last


def contract_markdown(columns: tuple[Column, ...]) -> str:
    """The contract as a Markdown table (used in the README and docstrings)."""
    rows = ["| column | dtype | meaning |", "|---|---|---|"]
    rows += [f"| `{c.name}` | {c.dtype} | {c.meaning} |" for c in columns]
    return "\n".join(rows)
