"""Locate the key: the access key, principal and Tor IP a finding names
(:func:`locate_key`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pandas as pd

from torinvest.errors import MissingKeyDetailsError, NotATorFindingError
from torinvest.findings.checks import TOR_FINDING_TYPES, key_kind, sanitize
from torinvest.findings.records import (
    Finding,
    KeyLocation,
    _row,
    not_a_tor_finding,
    sample_finding,
)
from torinvest.findings.shapes import _is_pascal, camelize


# --------------------------------------------------------------------------------------------
# locate the key
# --------------------------------------------------------------------------------------------
def locate_key(finding: Finding | Mapping[str, Any] | pd.Series) -> KeyLocation:
    """The access key named by a Tor finding: a Finding, a raw/PascalCase dict or a frame row.

    Raises NotATorFindingError for another finding type (SampleFindingError, one of its kind,
    for a GuardDuty sample finding) and MissingKeyDetailsError when the finding names no access
    key; every error names the finding ID.
    """
    if isinstance(finding, pd.Series):
        row = finding.to_dict()
    else:
        if not isinstance(finding, Finding):
            data = dict(finding)
            data = camelize(data) if _is_pascal(data) else data
            clean, _ = sanitize(data, "input")  # a wrong-typed key or id raises, naming it
            finding = Finding(data=clean, origin="input", shape="raw")
        row = _row(finding)
    fid = str(row.get("id") or "(no id)")
    ftype = row.get("type")
    if ftype not in TOR_FINDING_TYPES:
        raise not_a_tor_finding(fid, ftype or "(no type)")
    if _na(row.get("sample")) == "True":  # a frame's boolean, a dict's bool
        raise sample_finding(fid, ftype)
    akid = _na(row.get("access_key_id"))
    if not akid:
        raise MissingKeyDetailsError(
            f"finding {fid} has no resource.accessKeyDetails.accessKeyId",
            hint="the finding does not name the access key: read the principal from "
            "resource.accessKeyDetails in the console, or search CloudTrail by user name",
        )
    return KeyLocation(
        finding_id=fid,
        finding_type=str(ftype),
        access_key_id=str(akid),
        kind=key_kind(str(akid)),
        principal_id=_na(row.get("principal_id")),
        user_name=_na(row.get("user_name")),
        user_type=_na(row.get("user_type")),
        account_id=_na(row.get("account_id")),
        region=_na(row.get("region")),
        tor_ip=_na(row.get("tor_ip")),
        api=_na(row.get("api")),
        service_name=_na(row.get("service_name")),
        **_seen(row),
    )


#: Where a finding's sighting times are read when service.eventFirstSeen/eventLastSeen are
#: missing: when GuardDuty created the finding and last updated it (its latest sighting).
SEEN_FALLBACK = "createdAt/updatedAt"


#: What :attr:`KeyLocation.seen_from` says when only one sighting is usable: the other is
#: borrowed from createdAt/updatedAt when that widens the window, else the one stands for both.
SEEN_LAST_FROM_UPDATE = "service.eventFirstSeen/updatedAt"
SEEN_FIRST_FROM_CREATION = "createdAt/service.eventLastSeen"
SEEN_FIRST_ONLY = "service.eventFirstSeen alone"
SEEN_LAST_ONLY = "service.eventLastSeen alone"


def _seen(row: Mapping[str, Any]) -> dict[str, Any]:
    """first_seen/last_seen, else createdAt/updatedAt, said in ``seen_from``; all None when the
    finding gives no time at all. One sighting alone (the other missing or not a time): the
    missing one is updatedAt (last) or createdAt (first) when that widens the window — a
    finding GuardDuty kept updating may have been used long after its one readable sighting —,
    else the one stands for both; ``seen_from`` says which."""
    first, last = _ts(row.get("first_seen")), _ts(row.get("last_seen"))
    created, updated = _ts(row.get("created_at")), _ts(row.get("updated_at"))
    if first is not None and last is None:
        if updated is not None and updated > first:
            return {"first_seen": first, "last_seen": updated, "seen_from": SEEN_LAST_FROM_UPDATE}
        return {"first_seen": first, "last_seen": first, "seen_from": SEEN_FIRST_ONLY}
    if last is not None and first is None:
        if created is not None and created < last:
            return {"first_seen": created, "last_seen": last, "seen_from": SEEN_FIRST_FROM_CREATION}
        return {"first_seen": last, "last_seen": last, "seen_from": SEEN_LAST_ONLY}
    if first is not None or last is not None:
        return {"first_seen": first, "last_seen": last}
    if created is None and updated is None:
        return {"first_seen": None, "last_seen": None}
    return {
        "first_seen": created or updated,
        "last_seen": updated or created,
        "seen_from": SEEN_FALLBACK,
    }


def _na(v: Any) -> Any:
    if v is None or v is pd.NA or (isinstance(v, float) and v != v) or v == "":
        return None
    return str(v)


def _ts(v: Any) -> pd.Timestamp | None:
    if v is None or v is pd.NA or v is pd.NaT:
        return None
    ts = pd.to_datetime(v, utc=True, format="ISO8601", errors="coerce")
    return None if pd.isna(ts) else ts


def iter_located(frame: pd.DataFrame) -> Iterator[tuple[pd.Series, KeyLocation | Exception]]:
    """Each row of a findings frame with its KeyLocation, or the error that prevented it."""
    for _, row in frame.iterrows():
        try:
            yield row, locate_key(row)
        except (NotATorFindingError, MissingKeyDetailsError) as e:
            yield row, e
