"""The events frame's columns as the pieces hold them: the Arrow schema, the column groups,
what makes two rows the same record, the STS calls that mint keys.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import pandas as pd
import pyarrow as pa

from torinvest.errors import InputError
from torinvest.schema import EVENTS_COLUMNS, utc_times

#: Calls that hand the caller a new key: STS calls (``responseElements.credentials.
#: accessKeyId``, a temporary key) and IAM's CreateAccessKey (``responseElements.accessKey.
#: accessKeyId``, a long-term key whose secret the call returns to the caller).
MINTING_EVENTS: frozenset[str] = frozenset(
    {
        "GetSessionToken",
        "AssumeRole",
        "AssumeRoleWithSAML",
        "AssumeRoleWithWebIdentity",
        "GetFederationToken",
        "CreateAccessKey",
    }
)
#: userIdentity types whose user name is the session name at the end of the arn.
SESSION_TYPES: frozenset[str] = frozenset({"AssumedRole", "FederatedUser"})

#: The eventTime forms every engine reads as a time (a regular expression, RE2's and Trino's
#: alike): ISO 8601's extended form as CloudTrail writes it — a date, optionally followed by
#: "T" or a space and a time of day (hours 00–23, minutes, optionally seconds and a fraction),
#: then optionally "Z" or an offset of less than 24 hours (``+02``, ``+0200``, ``+02:00``) with
#: nothing between. Any other text is no usable time in the file loader and in the SQL engines
#: alike (each engine's own parser accepts more, and not the same: ``+24:00``, ``T24:00:00Z``,
#: an offset with seconds, a zone name, a space before the offset, ISO 8601's basic form).
USABLE_TIME = (
    r"\A\d{4}-\d{2}-\d{2}"
    r"(?:[T ](?:[01]\d|2[0-3]):[0-5]\d(?::[0-5]\d(?:\.\d+)?)?"
    r"(?:Z|[+-](?:[01]\d|2[0-3])(?::?[0-5]\d)?)?)?\z"
)
_USABLE_TIME = re.compile(USABLE_TIME.removeprefix(r"\A").removesuffix(r"\z"), re.ASCII)


def record_time(value: object) -> pd.Timestamp | None:
    """A record's ``eventTime`` as the events frame holds it (UTC, microseconds): a time in
    :data:`USABLE_TIME`'s forms, else None (missing, malformed, a leap second, hour 24) — the
    time every engine gives the record, read from the record itself."""
    if not isinstance(value, str) or not _USABLE_TIME.fullmatch(value):
        return None
    at = utc_times([value]).iloc[0]
    return None if pd.isna(at) else at


#: The most rounds of keys minted by minted keys (role chaining) any source follows: the log
#: files and DuckDB re-read the window once per round, LookupEvents pulls every region once per
#: key. Following stops sooner when a round finds no new key; the cap only bounds the cost of a
#: crafted or runaway chain (real role chains are a few hops: each hop is a deliberate
#: AssumeRole, and a chained session lasts at most an hour). Keys still unfollowed when it is
#: reached are a data issue naming them (:func:`~torinvest.sources.records.unfollowed_issue`).
MAX_DERIVED_ROUNDS = 10
#: Former names of :data:`MAX_DERIVED_ROUNDS`.
MAX_DERIVED_DEPTH = MAX_DERIVED_ROUNDS

_EMPTY: Mapping[str, Any] = {}
_STR = pa.large_string()
_TIME = pa.timestamp("us", tz="UTC")
_BOOL_TEXT = {"true": True, "false": False, "1": True, "0": False, "yes": True, "no": False}

CATEGORY_COLUMNS: tuple[str, ...] = tuple(c.name for c in EVENTS_COLUMNS if c.dtype == "category")
STRING_COLUMNS: tuple[str, ...] = tuple(c.name for c in EVENTS_COLUMNS if c.dtype == "string")
BOOLEAN_COLUMNS: tuple[str, ...] = tuple(c.name for c in EVENTS_COLUMNS if c.dtype == "boolean")
COLUMN_NAMES: tuple[str, ...] = tuple(c.name for c in EVENTS_COLUMNS)

#: What makes two rows "the same record": the same event_id and equal values (missing equals
#: missing) in every one of these columns — every column the record itself gives, that is all
#: but event_id, the provenance (derived, source, origin) and outcome_unknown (torinvest's
#: judgement of the record, not a field of it). A log file's record and
#: LookupEvents' ``CloudTrailEvent`` of the same event normalize to the same values, so they
#: are one record; copies that differ in anything (ListUsers vs DeleteUser, another caller,
#: another request) are different records: both are kept and :func:`duplicate_issues` names them.
SAME_RECORD_COLUMNS: tuple[str, ...] = tuple(
    c.name
    for c in EVENTS_COLUMNS
    if c.name not in ("event_id", "derived", "source", "origin", "outcome_unknown")
)

#: Hidden column of the pieces: a hash of event_id, computed where the records are parsed, so
#: that finding copies across pieces needs no hashing of every ID in one process.
ID_HASH = "_event_id_hash"
#: The Arrow schema of the pieces :func:`records_table` returns (``derived`` is added later).
TABLE_SCHEMA = pa.schema(
    [
        pa.field(
            c.name,
            _TIME
            if c.dtype.startswith("datetime64")
            else pa.dictionary(pa.int32(), _STR)
            if c.dtype == "category"
            else pa.bool_()
            if c.dtype == "boolean"
            else _STR,
        )
        for c in EVENTS_COLUMNS
        if c.name != "derived"
    ]
    + [pa.field(ID_HASH, pa.uint64())]
)


class NotCloudTrailError(InputError):
    """A JSON document that holds no CloudTrail record (a findings export, a digest file, …)."""


def is_record(obj: Any) -> bool:
    """True for a dict shaped like a CloudTrail record (eventVersion, or eventName and a time)."""
    return isinstance(obj, dict) and (
        "eventVersion" in obj
        or ("eventName" in obj and ("eventTime" in obj or "@timestamp" in obj))
    )
