"""One call: made through :class:`~torinvest.aws.Aws`, its answer checked for the fields the
API promises (an answer that is not AWS's is a failure like any other), and described in a line.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar
from datetime import date, datetime
from typing import Any

import pandas as pd
from botocore import xform_name
from botocore.exceptions import ConnectionError as BotoConnectionError

from torinvest.actions import Action
from torinvest.aws import AWS_CALL_ERRORS, Aws, PageTrail, translate_error
from torinvest.errors import EndpointError

#: The fields each read promises in its answer (an answer without them is not an AWS answer).
PROMISED: dict[str, tuple[str, ...]] = {
    "GetCallerIdentity": ("Account", "Arn"),
    "LookupEvents": ("Events",),
    "ListAccessKeys": ("AccessKeyMetadata",),
    "GetLoginProfile": ("LoginProfile",),
    "ListMFADevices": ("MFADevices",),
    "ListAttachedUserPolicies": ("AttachedPolicies",),
    "ListUserPolicies": ("PolicyNames",),
    "ListGroupsForUser": ("Groups",),
    "GetUserPolicy": ("PolicyDocument",),
    "GetRolePolicy": ("PolicyDocument",),
    "GetUser": ("User",),
    "GetRole": ("Role",),
    "GetGroup": ("Group", "Users"),
    "ListAttachedGroupPolicies": ("AttachedPolicies",),
    "ListGroupPolicies": ("PolicyNames",),
    "GetAccessKeyLastUsed": ("UserName",),
    "GetPolicy": ("Policy",),
    "ListUsers": ("Users",),
    "ListGroups": ("Groups",),
    "ListDetectors": ("DetectorIds",),
    "GetFindings": ("Findings",),
    "ListFilters": ("FilterNames",),
    "CreateFilter": ("Name",),
}
#: List calls that page: operation → (request token, response token, truncation flag or None).
#: Each list's pages stop at a token already followed or at the operation's page cap
#: (:mod:`torinvest.aws.pages`): an error, never a partial list taken as whole.
_PAGED: dict[str, tuple[str, str, str | None]] = {
    "ListAccessKeys": ("Marker", "Marker", "IsTruncated"),
    "ListMFADevices": ("Marker", "Marker", "IsTruncated"),
    "ListAttachedUserPolicies": ("Marker", "Marker", "IsTruncated"),
    "ListUserPolicies": ("Marker", "Marker", "IsTruncated"),
    "ListGroupsForUser": ("Marker", "Marker", "IsTruncated"),
    "ListUsers": ("Marker", "Marker", "IsTruncated"),
    "GetGroup": ("Marker", "Marker", "IsTruncated"),
    "ListAttachedGroupPolicies": ("Marker", "Marker", "IsTruncated"),
    "ListGroupPolicies": ("Marker", "Marker", "IsTruncated"),
    "ListGroups": ("Marker", "Marker", "IsTruncated"),
    "ListDetectors": ("NextToken", "NextToken", None),
    "ListFilters": ("NextToken", "NextToken", None),
}
#: Exceptions botocore's parsers raise (from inside botocore) on an answer that is not the AWS
#: response they expect — e.g. a well-formed HTML page with status 200 for IAM/STS.
_PARSER_SLIPS = (KeyError, IndexError, TypeError, AttributeError)


# --------------------------------------------------------------------------------------------
# one call
# --------------------------------------------------------------------------------------------
def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def _not_aws(action: Action, what: str) -> EndpointError:
    where = action.service + (f" in {action.region}" if action.region else "")
    unknown = "; whether the change took effect is unknown" if action.changes_aws else ""
    return EndpointError(
        f"{action.operation} on {where}: {what}",
        hint="a proxy, a captive portal or a wrong AWS_ENDPOINT_URL may be answering instead of "
        f"AWS{unknown}; check the network and the endpoint settings",
        service=action.service,
        region=action.region,
        operation=action.operation,
        code="UnparsableResponse",
    )


#: The attempts of the call being made in this context (see :func:`_note_attempt`).
_ATTEMPTS: ContextVar[list[bool] | None] = ContextVar("torinvest_attempts", default=None)


def _note_attempt(
    response: Any = None, caught_exception: BaseException | None = None, **_: Any
) -> None:
    """botocore ``needs-retry`` hook (after every attempt, the last included): record whether
    the attempt may have reached AWS and been applied — a connection broken after the request
    was sent, or a 5xx; not a connection never made nor a 4xx error answer."""
    seen = _ATTEMPTS.get()
    if seen is None:
        return
    if caught_exception is not None:
        seen.append(not isinstance(caught_exception, BotoConnectionError))
        return
    http = response[0] if isinstance(response, tuple) and response else None
    seen.append(int(getattr(http, "status_code", 0) or 0) >= 500)


def _watched(client: Any) -> Any:
    """``client`` with :func:`_note_attempt` on its attempts (registered once per client)."""
    client.meta.events.register("needs-retry", _note_attempt, unique_id="torinvest-attempts")
    return client


def invoke(aws: Aws, action: Action) -> dict[str, Any]:
    """Make one call (every page of a paged list) and return the answer without
    ``ResponseMetadata`` but with its ``RequestId``; raise :class:`AwsError` otherwise, with
    :attr:`AwsError.attempts` (whether each attempt botocore made may have been applied).

    An answer that is not an AWS response raises :class:`EndpointError` (code
    ``UnparsableResponse``): botocore's parser failing (ResponseParserError, or a KeyError inside
    botocore for a 200 HTML page), a 200 without a request ID, a read without the fields the API
    promises (:data:`PROMISED`); a paged list whose token comes back, or past its page cap,
    raises EndpointError (code ``EndlessPagination``), its pages read named.
    """
    params = dict(action.params)
    merged: dict[str, Any] = {}
    request_ids: list[str] = []
    paging = _PAGED.get(action.operation)
    trail = PageTrail(action.service, action.operation, region=action.region)
    while True:
        attempts: list[bool] = []
        token = _ATTEMPTS.set(attempts)
        try:
            client = _watched(aws.client(action.service, action.region))
            method = getattr(client, xform_name(action.operation))
            response = method(**params)
        except AWS_CALL_ERRORS as e:
            err = translate_error(
                e, service=action.service, region=action.region, operation=action.operation
            )
            err.code = err.code or type(e).__name__  # e.g. ConnectionClosedError
            err.attempts = tuple(attempts)
            raise err from e
        except _PARSER_SLIPS as e:  # raised inside botocore's parser: not an AWS answer
            raise _not_aws(
                action, f"the answer is not an AWS response (botocore: {type(e).__name__} {e})"
            ) from e
        finally:
            _ATTEMPTS.reset(token)
        if not isinstance(response, dict):
            raise _not_aws(action, "the answer is not an AWS response")
        meta = response.pop("ResponseMetadata", None) or {}
        if not meta.get("RequestId"):
            raise _not_aws(
                action,
                f"HTTP {meta.get('HTTPStatusCode', '?')} without an AWS request ID: the answer "
                "is not an AWS response",
            )
        request_ids.append(str(meta["RequestId"]))
        missing = [k for k in PROMISED.get(action.operation, ()) if k not in response]
        if missing:
            raise _not_aws(
                action, f"the answer lacks {', '.join(missing)}: it is not an AWS response"
            )
        for k, v in response.items():
            if isinstance(v, list) and isinstance(merged.get(k), list):
                merged[k] = merged[k] + v
            else:
                merged[k] = v
        if paging is None:
            break
        req_token, resp_token, flag = paging
        following = response.get(resp_token)
        more = bool(response.get(flag)) if flag else bool(following)
        if not trail.follow(following if more else None):  # raises: a list that never ends
            break
        params[req_token] = following
    merged.pop("Marker", None)
    merged.pop("NextToken", None)
    merged.pop("IsTruncated", None)
    merged["RequestId"] = request_ids[0] if len(request_ids) == 1 else request_ids
    return merged


# --------------------------------------------------------------------------------------------
# what an answer says
# --------------------------------------------------------------------------------------------
def _day(value: Any) -> str:
    text = str(value or "")
    return text[:19].replace("T", " ") if text else "?"


def _mfa_device(device: Mapping[str, Any], first_tor: Any) -> str:
    """One MFA device of ListMFADevices, with when it was enabled against the first Tor call:
    after it (during the window: it may be the actor's), before it (the owner's, as far as the
    date tells), or not known (no usable EnableDate: never guessed)."""
    serial = str(device.get("SerialNumber") or "(no serial number)")
    enabled = _utc(device.get("EnableDate"))
    if enabled is None:
        return (
            f"{serial} (its EnableDate is missing or not a time: when it was enabled is not "
            "known — check it against EnableMFADevice in CloudTrail)"
        )
    stamp = f"{enabled:%Y-%m-%d %H:%M:%S}Z"
    first = _utc(first_tor)
    if first is None:
        return (
            f"{serial} (enabled {stamp}; the first Tor call is not known: compare with the "
            "activity's EnableMFADevice)"
        )
    if enabled >= first:
        return (
            f"{serial} (enabled {stamp}, AFTER the first Tor call at {first:%Y-%m-%d %H:%M:%S}Z: "
            "it may be the actor's — check it with its owner, deactivate it if it is not theirs)"
        )
    return (
        f"{serial} (enabled {stamp}, before the first Tor call at "
        f"{first:%Y-%m-%d %H:%M:%S}Z: the owner's, as far as the date tells)"
    )


def _utc(value: Any) -> pd.Timestamp | None:
    """``value`` (a datetime botocore parsed, or ISO text) as a UTC time; None when it is not
    one."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        t = pd.Timestamp(value)
    except (ValueError, TypeError):
        return None
    if pd.isna(t):
        return None
    return t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")


def describe_answer(
    action: Action,
    response: Mapping[str, Any] | None,
    suspect_key: str | None = None,
    first_tor: Any = None,
) -> str | None:
    """One sentence a responder reads at once ("benjamin has another active key AKIA…").
    ``first_tor``: when the first Tor call was (the finding's first sighting): an MFA device
    enabled after it is told apart from one the owner had before."""
    user = action.params.get("UserName")
    op = action.operation
    if response is None:
        return f"{user} has no console password" if op == "GetLoginProfile" else None
    if op == "ListAccessKeys":
        keys = response.get("AccessKeyMetadata") or []
        lines = []
        for k in keys:
            kid, status = k.get("AccessKeyId"), str(k.get("Status") or "?").lower()
            if kid == suspect_key:
                lines.append(f"{user}'s suspect key {kid} is {status}")
            else:
                lines.append(
                    f"{user} has another {status} key {kid} (created {_day(k.get('CreateDate'))})"
                )
        others = [k for k in keys if k.get("AccessKeyId") != suspect_key]
        if not others:
            lines.append(f"{user} has no other access key")
        return "; ".join(lines)
    if op == "GetLoginProfile":
        profile = response.get("LoginProfile") or {}
        return (
            f"{user} has a console password (login profile created "
            f"{_day(profile.get('CreateDate'))})"
        )
    if op == "ListMFADevices":
        devices = [d for d in response.get("MFADevices") or [] if isinstance(d, Mapping)]
        if not devices:
            return f"{user} has no MFA device"
        said = [_mfa_device(d, first_tor) for d in devices]
        return f"{user} has {len(devices)} MFA device(s): {'; '.join(said)}"
    if op == "ListAttachedUserPolicies":
        names = [str(p.get("PolicyName")) for p in response.get("AttachedPolicies") or []]
        return (
            f"{user} has managed policies attached: {', '.join(names)}"
            if names
            else f"{user} has no managed policy attached"
        )
    if op == "ListUserPolicies":
        names = [str(n) for n in response.get("PolicyNames") or []]
        return (
            f"{user} has inline policies: {', '.join(names)}"
            if names
            else f"{user} has no inline policy"
        )
    if op == "ListGroupsForUser":
        names = [str(g.get("GroupName")) for g in response.get("Groups") or []]
        return f"{user} is in groups: {', '.join(names)}" if names else f"{user} is in no group"
    if op == "GetCallerIdentity":
        return f"account {response.get('Account')} as {response.get('Arn')}"
    return None


# --------------------------------------------------------------------------------------------
