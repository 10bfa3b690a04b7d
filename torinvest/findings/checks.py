"""What a finding must be: the Tor finding types, a finding ID, the kind of a key, the
essential fields, and field types (a field of the wrong JSON type never crashes a load:
:func:`sanitize`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

import pandas as pd

from torinvest.aws import validate_region
from torinvest.aws.ids import FINDING_ID_RE as FINDING_ID_RE  # re-exported
from torinvest.aws.ids import check_finding_id
from torinvest.errors import DataIssue, FindingFileError, InvalidFindingIdError, InvalidRegionError

log = logging.getLogger(__name__)

TOR_FINDING_TYPES: tuple[str, ...] = (
    "UnauthorizedAccess:IAMUser/TorIPCaller",
    "Recon:IAMUser/TorIPCaller",
)
#: GetFindings and ArchiveFindings take at most 50 IDs; ListFindings returns at most 50 a page.
BATCH_SIZE = 50
FINDING_FILE_SUFFIXES = (".json", ".jsonl", ".ndjson", ".json.gz", ".jsonl.gz", ".ndjson.gz")

KeyKind = Literal["long-term", "temporary", "other"]


# --------------------------------------------------------------------------------------------
# --------------------------------------------------------------------------------------------
# validation helpers
# --------------------------------------------------------------------------------------------
def key_kind(access_key_id: str | None) -> KeyKind:
    """AKIA → long-term key of a user (or root); ASIA → temporary STS credentials."""
    if access_key_id and access_key_id.startswith("AKIA"):
        return "long-term"
    if access_key_id and access_key_id.startswith("ASIA"):
        return "temporary"
    return "other"


def _validate(data: Mapping[str, Any], where: str) -> None:
    """Raise an InputError when a finding's id, type or region are unusable."""
    fid = data.get("id")
    if fid is None or fid == "":
        raise InvalidFindingIdError(f"{where}: finding has no id", hint="the finding is incomplete")
    if not isinstance(fid, str):
        raise InvalidFindingIdError(
            f"{where}: finding id is {_json_type(fid)} ({_show(fid)}), not text",
            hint="a GuardDuty finding ID is text: the export is damaged or edited",
        )
    try:
        check_finding_id(fid)
    except InvalidFindingIdError as e:
        raise InvalidFindingIdError(f"{where}: {e.message}", hint=e.hint) from None
    region = data.get("region")
    if region is not None:
        if not isinstance(region, str):
            raise InvalidRegionError(
                f"{where}: finding {fid}: region is {_json_type(region)} ({_show(region)}), "
                "not text",
                hint="the export is damaged or edited",
            )
        try:
            validate_region(region)
        except InvalidRegionError as e:
            raise InvalidRegionError(
                f"{where}: finding {fid}: {e.message}", hint="the export is damaged or edited"
            ) from None
    ftype = data.get("type")
    if not ftype:
        raise FindingFileError(where, f"finding {fid} has no type")
    if not isinstance(ftype, str):
        raise FindingFileError(
            where, f"finding {fid}: type is {_json_type(ftype)} ({_show(ftype)}), not text"
        )


# --------------------------------------------------------------------------------------------
# field types: a wrong-typed field never crashes a load
# --------------------------------------------------------------------------------------------
_TEXT, _TRIMMED, _NUMBER, _WHOLE, _BOOL, _TIME, _ASN = (
    "text",
    "trimmed",
    "number",
    "whole",
    "bool",
    "time",
    "asn",
)
#: Expected JSON types of the fields torinvest reads (camelCase paths). A nested dict is an
#: object whose own fields are checked. Values of the wrong type are dropped with a data issue.
FIELD_TYPES: dict[str, Any] = {
    "accountId": _TRIMMED,
    "severity": _NUMBER,
    "title": _TEXT,
    "createdAt": _TIME,
    "updatedAt": _TIME,
    "resource": {
        "accessKeyDetails": {
            "principalId": _TRIMMED,
            "userName": _TRIMMED,
            "userType": _TRIMMED,
        },
    },
    "service": {
        "eventFirstSeen": _TIME,
        "eventLastSeen": _TIME,
        "count": _WHOLE,
        "archived": _BOOL,
        "detectorId": _TRIMMED,
        "action": {
            "awsApiCallAction": {
                "api": _TRIMMED,
                "serviceName": _TRIMMED,
                "remoteIpDetails": {
                    "ipAddressV4": _TRIMMED,
                    "ipAddressV6": _TRIMMED,
                    "country": {"countryName": _TEXT},
                    "organization": {"asn": _ASN, "asnOrg": _TEXT},
                },
            },
        },
    },
}
_WHAT = {
    _TEXT: "text",
    _TRIMMED: "text",
    _NUMBER: "a number",
    _WHOLE: "a whole number",
    _BOOL: "true or false",
    _TIME: "an ISO 8601 time",
    _ASN: "an AS number",
}


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, float) and not math.isfinite(value):
        return "not a finite number"  # NaN or ±Infinity (JSON has no word: a "NaN" string)
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _show(value: Any, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _check_value(kind: str, value: Any) -> tuple[bool, Any]:
    """(ok, the value to keep) for one field of kind ``kind``."""
    if kind is _TRIMMED or kind is _TEXT:
        if type(value) is not str:
            return False, None
        return True, (value.strip() or None) if kind is _TRIMMED else value
    if kind == _NUMBER:
        if isinstance(value, bool):
            return False, None
        if isinstance(value, int | float):
            return value == value, value  # NaN is not a severity
        if isinstance(value, str):
            try:
                return True, float(value.strip())
            except ValueError:
                return False, None
        return False, None
    if kind == _WHOLE:
        if isinstance(value, bool):
            return False, None
        if isinstance(value, int):
            return True, value
        if isinstance(value, float) and value.is_integer():
            return True, int(value)
        if isinstance(value, str) and value.strip().isdigit():
            return True, int(value.strip())
        return False, None
    if kind == _BOOL:
        if isinstance(value, bool):
            return True, value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return True, value.strip().lower() == "true"
        return False, None
    if kind == _TIME:
        if not isinstance(value, str) or not value.strip():
            return False, None
        text = value.strip()
        try:
            datetime.fromisoformat(text)  # the API's and the exports' shape: fast
        except ValueError:
            ts = pd.to_datetime(text, utc=True, format="ISO8601", errors="coerce")
            return (not pd.isna(ts)), text
        return True, text
    if kind == _ASN:
        if isinstance(value, int) and not isinstance(value, bool):
            return True, str(value)
        if isinstance(value, str):
            return True, value.strip() or None
        return False, None
    raise AssertionError(kind)  # pragma: no cover


def _clean(
    node: Mapping[str, Any], spec: Mapping[str, Any], path: str, problems: list[str]
) -> Mapping[str, Any]:
    """``node`` with its fields in ``spec`` of their type (else dropped, with a problem).

    Copy on write: ``node`` itself when nothing had to change."""
    out: dict[str, Any] | None = None
    for key, kind in spec.items():
        value = node.get(key)
        if value is None:
            continue
        if kind is _TEXT and type(value) is str:  # the common case, first
            continue
        if isinstance(kind, dict):
            if not isinstance(value, Mapping):
                problems.append(f"{path}{key} is {_json_type(value)}, not an object: dropped")
                keep, new = False, None
            else:
                new = _clean(value, kind, f"{path}{key}.", problems)
                keep = True
        else:
            ok, new = _check_value(kind, value)
            if not ok:
                problems.append(
                    f"{path}{key} is {_json_type(value)} ({_show(value)}), "
                    f"not {_WHAT[kind]}: dropped"
                )
            keep = ok and new is not None
        if keep and new is value:
            continue
        if out is None:
            out = dict(node)
        if keep:
            out[key] = new
        else:
            del out[key]
    return node if out is None else out


#: The issue of a Tor finding without its ``service`` section (null or missing): it is listed,
#: but what GuardDuty saw of the calls is not in it.
NO_SERVICE = "has no service section: no Tor IP, sighting times or count"


def sanitize(data: Mapping[str, Any], where: str) -> tuple[dict[str, Any], list[DataIssue]]:
    """A finding with usable field types, and the data issues of the values dropped.

    Raises an InputError (:class:`InvalidFindingIdError`, :class:`InvalidRegionError`,
    :class:`FindingFileError`) naming ``where`` and the field when an essential field — id, type,
    region, ``resource``, ``resource.accessKeyDetails`` or its ``accessKeyId`` — has the wrong
    type; other wrong-typed values are dropped, each with a data issue. Identifiers (id, type,
    region, account, key, principal, user, IP…) are trimmed of surrounding whitespace.
    The finding returned is ``data`` itself when nothing had to change.
    """
    out: Mapping[str, Any] = data
    trimmed = {
        k: v.strip()
        for k in ("id", "type", "region")
        if isinstance(v := data.get(k), str) and v != v.strip()
    }
    if trimmed:
        out = {**data, **trimmed}
    _validate(out, where)
    fid = out["id"]
    resource = out.get("resource")
    if resource is not None and not isinstance(resource, Mapping):
        raise FindingFileError(
            where, f"finding {fid}: resource is {_json_type(resource)}, not an object"
        )
    details = resource.get("accessKeyDetails") if resource else None
    if details is not None and not isinstance(details, Mapping):
        raise FindingFileError(
            where,
            f"finding {fid}: resource.accessKeyDetails is {_json_type(details)}, not an object",
        )
    if details:
        akid = details.get("accessKeyId")
        if akid is not None and not isinstance(akid, str):
            raise FindingFileError(
                where,
                f"finding {fid}: resource.accessKeyDetails.accessKeyId is {_json_type(akid)} "
                f"({_show(akid)}), not text",
                hint="an access key ID is text such as AKIA…: the export is damaged or edited",
            )
        if isinstance(akid, str) and akid != akid.strip():
            details = {**details, "accessKeyId": akid.strip() or None}
            out = {**out, "resource": {**resource, "accessKeyDetails": details}}
    problems: list[str] = []
    clean = _clean(out, FIELD_TYPES, "", problems)
    had_service = out.get("service") is not None  # a wrong-typed one is said as dropped
    if not had_service and out.get("type") in TOR_FINDING_TYPES:
        problems.append(NO_SERVICE)
    issues = [DataIssue(where, f"finding {fid}: {p}") for p in problems]
    return (clean if isinstance(clean, dict) else dict(clean)), issues
