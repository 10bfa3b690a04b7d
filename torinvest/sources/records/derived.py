"""Keys minted by a key (:func:`derived_keys`): STS calls' credentials and the keys
CreateAccessKey returns, followed through role chaining (:func:`follow_minted`, at most
:data:`~torinvest.sources.records.columns.MAX_DERIVED_ROUNDS` rounds), and the data issues
of following them (:func:`unfollowed_issue`, :func:`early_use_issues`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import orjson
import pandas as pd

from torinvest.aws.ids import is_access_key_id
from torinvest.errors import DataIssue
from torinvest.jsonread import parse as parse_json
from torinvest.outcome import FAILED, UNKNOWN, failed_rows, record_outcome, unknown_rows
from torinvest.sources.records.columns import (
    _EMPTY,
    MAX_DERIVED_ROUNDS,
    MINTING_EVENTS,
    record_time,
)

#: The issue source of what following minted keys found wrong (outside any one file).
FOLLOW_SOURCE = "follow-derived"
_UNFOLLOWED = "minted by a derived key, not followed: pass limit"


# --------------------------------------------------------------------------------------------
# derived keys
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class DerivedKey:
    """A key minted by a call of another key (a temporary key from STS, a long-term key from
    CreateAccessKey), and the event that minted it."""

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
    """Keys minted by ``keys`` (GetSessionToken, AssumeRole[WithSAML|WithWebIdentity],
    GetFederationToken: ``responseElements.credentials.accessKeyId``; CreateAccessKey:
    ``responseElements.accessKey.accessKeyId``), oldest first.

    ``data`` is an events frame or CloudTrail records. Without ``keys`` every minted key is
    returned. With ``transitive`` (default), keys minted by minted keys (role chaining) count
    too, up to :data:`MAX_DERIVED_ROUNDS` rounds.

    A call with an ``errorCode`` minted nothing: never followed. A call of unknown outcome
    (:mod:`torinvest.outcome`) may have minted its key: followed, and an issue added to
    ``issues`` says the key may not exist (:func:`unknown_mint_issue`). Only a well-formed access key
    ID (:func:`~torinvest.aws.ids.is_access_key_id`) is a minted key: any other value
    (attacker-written, damaged, ``HIDDEN_DUE_TO_SECURITY_REASONS``) is never followed, and is a
    data issue naming its event, added to ``issues`` when given; so is a successful call whose
    minted key is not recorded (``responseElements`` null, omitted).
    """
    minted = list(_minting_events(data, issues))
    if keys is None:
        found = minted
    else:
        wanted = {keys} if isinstance(keys, str) else set(keys)
        found, seen = [], set(wanted)
        for _ in range(MAX_DERIVED_ROUNDS if transitive else 1):
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
        minting = data["event_name"].isin(MINTING_EVENTS).fillna(False).to_numpy(dtype=bool)
        unknown = np.zeros(len(data), dtype=bool)
        if "error_code" in data:  # a failed call minted nothing; one of unknown outcome may have
            minting = minting & ~failed_rows(data)
            unknown = unknown_rows(data)
        rows = data[minting]
        for row, of_unknown in zip(rows.itertuples(index=False), unknown[minting], strict=True):
            yield from _minted(
                issues,
                unknown=bool(of_unknown),
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
        outcome = record_outcome(r)
        if r.get("eventName") not in MINTING_EVENTS or outcome == FAILED:
            continue
        ui = r.get("userIdentity") or _EMPTY
        when = r.get("eventTime")
        yield from _minted(
            issues,
            unknown=outcome == UNKNOWN,
            origin=None,
            response=r.get("responseElements"),
            request=r.get("requestParameters"),
            caller=ui.get("accessKeyId") or None if isinstance(ui, dict) else None,
            event_name=r["eventName"],
            event_time=record_time(when),
            event_id=r.get("eventID"),
            source_ip=r.get("sourceIPAddress"),
        )


def _minted(
    issues: list[DataIssue] | None,
    *,
    unknown: bool = False,
    origin: str | None,
    response: Any,
    request: Any,
    caller: str | None,
    event_name: str,
    event_time: pd.Timestamp | None,
    event_id: str | None,
    source_ip: str | None,
) -> Iterable[DerivedKey]:
    field = "accessKey" if event_name == "CreateAccessKey" else "credentials"
    creds = response.get(field) if isinstance(response, dict) else None
    role_arn = request.get("roleArn") if isinstance(request, dict) else None
    if not isinstance(creds, dict) or not creds.get("accessKeyId"):
        if issues is not None:
            user = request.get("userName") if isinstance(request, dict) else None
            issues.append(
                unrecorded_issue(
                    event_name, event_time, event_id, origin, role_arn, user, unknown=unknown
                )
            )
        return
    if not is_access_key_id(creds["accessKeyId"]):
        if issues is not None:
            issues.append(_malformed(creds["accessKeyId"], origin, event_name, event_id, field))
        return
    key = DerivedKey(
        access_key_id=str(creds["accessKeyId"]),
        minted_by=caller,
        event_name=event_name,
        event_time=event_time,
        event_id=event_id,
        source_ip=source_ip,
        role_arn=role_arn,
        expiration=_na(creds.get("expiration")),
    )
    if unknown and issues is not None:
        issues.append(unknown_mint_issue(key, origin))
    yield key


def _malformed(
    value: Any,
    origin: str | None,
    event_name: str,
    event_id: str | None,
    field: str = "credentials",
) -> DataIssue:
    """The issue of a minting event whose minted key is not an access key ID."""
    return DataIssue(
        origin or FOLLOW_SOURCE,
        f"{event_name} event {event_id or '(no eventID)'}: responseElements.{field}."
        f"accessKeyId {str(value)[:60]!r} is not an access key ID: not followed",
    )


def unrecorded_issue(
    event_name: str,
    event_time: Any,
    event_id: str | None,
    origin: str | None,
    role_arn: Any = None,
    user_name: Any = None,
    *,
    unknown: bool = False,
) -> DataIssue:
    """The issue of a successful minting call whose minted key the record does not hold
    (``responseElements`` null, or ``{"omitted": true}`` when CloudTrail cut it); ``unknown``:
    of a minting call whose outcome is not known (:mod:`torinvest.outcome`), said so."""
    what = (
        f" (role {str(role_arn)[:200]})"
        if _na(role_arn)
        else f" (user {str(user_name)[:128]})"
        if _na(user_name)
        else ""
    )
    return DataIssue(
        origin or FOLLOW_SOURCE,
        f"{event_name} at {_when(event_time)} (event {_na(event_id) or '(no eventID)'}) "
        + (
            "is of unknown outcome (no usable record) and, if it succeeded, its minted key is "
            f"not recorded: its activity cannot be followed{what}"
            if unknown
            else f"succeeded but its minted key is not recorded: its activity cannot be "
            f"followed{what}"
        ),
    )


def unknown_mint_issue(key: DerivedKey, origin: str | None = None) -> DataIssue:
    """The issue of a key minted by a call of unknown outcome (:mod:`torinvest.outcome`): the
    record names the key, but only a call that succeeded minted it — it may not exist. It is
    followed (its calls, if any, are the key's activity), never said to be minted for sure."""
    return DataIssue(
        origin or FOLLOW_SOURCE,
        f"{key.event_name} at {_when(key.event_time)} (event {key.event_id or '(no eventID)'}) "
        f"is of unknown outcome (no usable record): the key it names, {key.access_key_id}, was "
        "minted only if it succeeded and may not exist; its calls, if any, are followed",
    )


def unfollowed_issue(keys: Sequence[DerivedKey], limit: int = MAX_DERIVED_ROUNDS) -> DataIssue:
    """The issue of keys found after the last round following allows: named, with what to run
    to see their activity (:func:`is_unfollowed` tells it from other issues)."""
    names = ", ".join(sorted({k.access_key_id for k in keys}))
    first = min(k.access_key_id for k in keys)
    return DataIssue(
        FOLLOW_SOURCE,
        f"{names} {_UNFOLLOWED} {limit} reached; their calls are not in the activity: run "
        f"`torinvest events --access-key={first} --follow-derived …` (each of them) to see them",
    )


def is_unfollowed(issue: DataIssue) -> bool:
    """Whether ``issue`` is an :func:`unfollowed_issue`."""
    return issue.source == FOLLOW_SOURCE and _UNFOLLOWED in issue.problem


def follow_minted(
    frame: pd.DataFrame,
    keys: Iterable[str],
    fetch: Callable[[list[DerivedKey]], pd.DataFrame],
    issues: list[DataIssue],
) -> list[DerivedKey]:
    """Follow the keys minted by ``keys``, round after round: the keys minted in ``frame``
    (the activity of ``keys``) are new, ``fetch(new)`` returns their activity, whose minted
    keys are the next round's, until a round finds no new key. After
    :data:`MAX_DERIVED_ROUNDS` rounds, keys still new are an :func:`unfollowed_issue`, not
    fetched. Every source (log files, SQL engines, LookupEvents) follows through this.

    Returns the keys followed, in the order found; issues go to ``issues``."""
    known = set(keys)
    found: list[DerivedKey] = []
    for n in range(MAX_DERIVED_ROUNDS + 1):
        new = [d for d in derived_keys(frame, known, issues=issues) if d.access_key_id not in known]
        if not new:
            break
        if n == MAX_DERIVED_ROUNDS:
            issues.append(unfollowed_issue(new))
            break
        found += new
        known |= {d.access_key_id for d in new}
        frame = fetch(new)
    return found


def early_use_issues(frame: pd.DataFrame, derived: Sequence[DerivedKey]) -> list[DataIssue]:
    """One issue per minted key used before the call that minted it: an impossible order (a
    clock skewed, or a forged record). Its calls are kept, wherever they fall."""
    minted = {d.access_key_id: d for d in derived if d.event_time is not None}
    if not minted or not len(frame):
        return []
    keys = frame["access_key_id"]
    mine = frame[keys.isin(list(minted)).fillna(False).to_numpy(dtype=bool)]
    when = mine["access_key_id"].astype(object).map({k: d.event_time for k, d in minted.items()})
    early = mine[(mine["event_time"] < pd.to_datetime(when, utc=True)).fillna(False).to_numpy(bool)]
    issues = []
    for key, rows in early.groupby(early["access_key_id"].astype(object), sort=True):
        d = minted[str(key)]
        issues.append(
            DataIssue(
                FOLLOW_SOURCE,
                f"{key} made {len(rows)} call(s) from {_when(rows['event_time'].min())}, before "
                f"{d.event_name} minted it at {_when(d.event_time)} (event "
                f"{d.event_id or '(no eventID)'}): an impossible order — a clock skewed or a "
                "forged record; those calls are kept",
            )
        )
    return issues


def _when(t: Any) -> str:
    if t is None or t is pd.NA or (isinstance(t, float) and t != t) or pd.isna(t):
        return "(no time)"
    return pd.Timestamp(t).strftime("%Y-%m-%dT%H:%M:%SZ")


def _loads(text: Any) -> Any:
    if text is None or text is pd.NA or not isinstance(text, str):
        return None
    try:
        return parse_json(text)
    except orjson.JSONDecodeError:
        return None


def _na(v: Any) -> str | None:
    if v is None or v is pd.NA or (isinstance(v, float) and v != v) or v == "":
        return None
    return str(v)
