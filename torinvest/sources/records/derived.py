"""Keys minted by a key (:func:`derived_keys`): STS calls' credentials, followed through role
chaining.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import orjson
import pandas as pd

from torinvest.aws.ids import is_access_key_id
from torinvest.errors import DataIssue
from torinvest.sources.records.columns import _EMPTY, MAX_DERIVED_DEPTH, MINTING_EVENTS


# --------------------------------------------------------------------------------------------
# derived keys
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class DerivedKey:
    """A temporary key minted by an STS call, and the event that minted it."""

    access_key_id: str
    minted_by: str | None
    event_name: str
    event_time: pd.Timestamp | None
    event_id: str | None
    source_ip: str | None
    role_arn: str | None
    expiration: str | None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["event_time"] = None if self.event_time is None else self.event_time.isoformat()
        return d


def derived_keys(
    data: pd.DataFrame | Iterable[Mapping[str, Any]],
    keys: str | Iterable[str] | None = None,
    *,
    transitive: bool = True,
    issues: list[DataIssue] | None = None,
) -> list[DerivedKey]:
    """Temporary keys minted by ``keys`` (GetSessionToken, AssumeRole[WithSAML|WithWebIdentity],
    GetFederationToken: ``responseElements.credentials.accessKeyId``), oldest first.

    ``data`` is an events frame or CloudTrail records. Without ``keys`` every minted key is
    returned. With ``transitive`` (default), keys minted by minted keys (role chaining) count
    too, up to :data:`MAX_DERIVED_DEPTH` rounds.

    Only a well-formed access key ID (:func:`~torinvest.aws.ids.is_access_key_id`) is a minted
    key: any other value (attacker-written, damaged) is never followed, and is a data issue
    naming its event, added to ``issues`` when given.
    """
    minted = list(_minting_events(data, issues))
    if keys is None:
        found = minted
    else:
        wanted = {keys} if isinstance(keys, str) else set(keys)
        found, seen = [], set(wanted)
        for _ in range(MAX_DERIVED_DEPTH if transitive else 1):
            new = [m for m in minted if m.minted_by in wanted and m.access_key_id not in seen]
            if not new:
                break
            found.extend(new)
            wanted = {m.access_key_id for m in new}
            seen |= wanted
    unique: dict[str, DerivedKey] = {}
    for m in sorted(found, key=_derived_order):
        unique.setdefault(m.access_key_id, m)
    return list(unique.values())


def _derived_order(m: DerivedKey) -> tuple[bool, pd.Timestamp, str]:
    when = m.event_time if m.event_time is not None else pd.Timestamp.min.tz_localize("UTC")
    return (m.event_time is None, when, m.event_id or "")


def _minting_events(
    data: pd.DataFrame | Iterable[Mapping[str, Any]], issues: list[DataIssue] | None
) -> Iterable[DerivedKey]:
    if isinstance(data, pd.DataFrame):
        rows = data[data["event_name"].isin(MINTING_EVENTS) & data["response_elements"].notna()]
        for row in rows.itertuples(index=False):
            yield from _minted(
                issues,
                origin=_na(getattr(row, "origin", None)),
                response=_loads(row.response_elements),
                request=_loads(row.request_parameters),
                caller=_na(row.access_key_id),
                event_name=str(row.event_name),
                event_time=None if pd.isna(row.event_time) else row.event_time,
                event_id=_na(row.event_id),
                source_ip=_na(row.source_ip),
            )
        return
    for r in data:
        if r.get("eventName") not in MINTING_EVENTS:
            continue
        ui = r.get("userIdentity") or _EMPTY
        when = r.get("eventTime")
        yield from _minted(
            issues,
            origin=None,
            response=r.get("responseElements"),
            request=r.get("requestParameters"),
            caller=ui.get("accessKeyId") or None if isinstance(ui, dict) else None,
            event_name=r["eventName"],
            event_time=pd.Timestamp(when).tz_convert("UTC")
            if isinstance(when, str) and when
            else None,
            event_id=r.get("eventID"),
            source_ip=r.get("sourceIPAddress"),
        )


def _minted(
    issues: list[DataIssue] | None,
    *,
    origin: str | None,
    response: Any,
    request: Any,
    caller: str | None,
    event_name: str,
    event_time: pd.Timestamp | None,
    event_id: str | None,
    source_ip: str | None,
) -> Iterable[DerivedKey]:
    creds = response.get("credentials") if isinstance(response, dict) else None
    if not isinstance(creds, dict) or not creds.get("accessKeyId"):
        return
    if not is_access_key_id(creds["accessKeyId"]):
        if issues is not None:
            issues.append(_malformed(creds["accessKeyId"], origin, event_name, event_id))
        return
    role_arn = request.get("roleArn") if isinstance(request, dict) else None
    yield DerivedKey(
        access_key_id=str(creds["accessKeyId"]),
        minted_by=caller,
        event_name=event_name,
        event_time=event_time,
        event_id=event_id,
        source_ip=source_ip,
        role_arn=role_arn,
        expiration=_na(creds.get("expiration")),
    )


def _malformed(value: Any, origin: str | None, event_name: str, event_id: str | None) -> DataIssue:
    """The issue of a minting event whose credentials' key is not an access key ID."""
    return DataIssue(
        origin or "follow-derived",
        f"{event_name} event {event_id or '(no eventID)'}: responseElements.credentials."
        f"accessKeyId {str(value)[:60]!r} is not an access key ID: not followed",
    )


def _loads(text: Any) -> Any:
    if text is None or text is pd.NA or not isinstance(text, str):
        return None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return None


def _na(v: Any) -> str | None:
    if v is None or v is pd.NA or (isinstance(v, float) and v != v) or v == "":
        return None
    return str(v)
