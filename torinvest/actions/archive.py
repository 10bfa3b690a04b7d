"""Legitimate: archive the finding, optionally with a suppression rule scoped to one IAM user
or one access key, never to a name someone chooses (:func:`plan_archive`).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any

import orjson
import pandas as pd

from torinvest.actions.plan import (
    FILTER_NAME_RE,
    SCOPE_FIELDS,
    SUPPRESSION_SCOPES,
    Action,
    Plan,
    _present,
)
from torinvest.errors import InputError
from torinvest.findings import TOR_FINDING_TYPES
from torinvest.findings.records import finding_facts


# legitimate: archive and suppress
# --------------------------------------------------------------------------------------------
def revoke_older_sessions_policy(now: pd.Timestamp) -> dict[str, Any]:
    """AWS's ``AWSRevokeOlderSessions`` document: deny everything to sessions issued before now."""
    stamp = now.tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Deny",
                "Action": ["*"],
                "Resource": ["*"],
                "Condition": {"DateLessThan": {"aws:TokenIssueTime": stamp}},
            }
        ],
    }


#: IDs AWS makes (nobody names them): an IAM user's unique ID, an access key ID (AKIA… a
#: long-term key of a user or of root; ASIA… temporary credentials of one session).
USER_ID_RE = re.compile(r"AIDA[A-Z0-9]{12,124}")
KEY_ID_RE = re.compile(r"(AKIA|ASIA)[A-Z0-9]{12,124}")
#: What to do instead of a refused principal scope.
_INSTEAD = (
    "use --scope key if the key is an IAM user's long-term key (AKIA…); otherwise archive "
    "without --suppress (no suppression rule: later findings are judged one by one)"
)
#: Why a principal scope is refused, by the finding's userType.
_UNSTABLE_PRINCIPALS: dict[str, str] = {
    "AssumedRole": "its principal is the role's ID and the session name, and the session name "
    "is chosen by whoever assumes the role: the rule would hide the Tor findings of anyone "
    "who assumes it under that name",
    "FederatedUser": "its principal is the account and the name given to "
    "GetFederationToken, which the caller chooses: the rule would hide the Tor findings of "
    "anyone in the account who picks that name",
    "Root": "its principal is the account itself: the rule would hide every Tor finding of the "
    "account's root user",
}


def _text(value: Any) -> str | None:
    """``value`` as text, None when absent (None, NA, NaN, blank)."""
    if value is None or (not isinstance(value, str) and bool(pd.isna(value))):
        return None
    return str(value) if str(value).strip() else None


def scope_value(finding: Mapping[str, Any], scope: str) -> str:
    """The one value a suppression rule of ``scope`` matches for ``finding``, only when nobody
    can choose it: an IAM user's unique ID (``AIDA…``, userType IAMUser) for ``principal``; an
    access key ID AWS made (``AKIA…`` or ``ASIA…``) for ``key``. Anything else raises InputError
    saying why and what to do instead."""
    fid = finding.get("id")
    if _text(finding.get("principal_id" if scope == "principal" else "access_key_id")) is None:
        raise InputError(
            f"finding {fid} has no {SCOPE_FIELDS[scope]}: a suppression rule would be broader "
            f"than this {scope}",
            hint="archive without --suppress",
        )
    if scope == "key":
        key = _text(finding.get("access_key_id"))
        if key is None or not KEY_ID_RE.fullmatch(key):
            raise InputError(
                f"finding {fid}: access key ID {key or '(none)'} is not one AWS makes "
                "(AKIA… or ASIA…): a rule on it could match keys it was not meant for",
                hint="archive without --suppress (no suppression rule)",
            )
        return key
    principal, user_type = _text(finding.get("principal_id")), _text(finding.get("user_type"))
    if user_type in _UNSTABLE_PRINCIPALS:
        raise InputError(
            f"finding {fid}: no suppression rule on principal {principal or '(none)'} "
            f"({user_type}): {_UNSTABLE_PRINCIPALS[user_type]}",
            hint=_INSTEAD,
        )
    if user_type != "IAMUser" or principal is None or not USER_ID_RE.fullmatch(principal):
        raise InputError(
            f"finding {fid}: no suppression rule on principal {principal or '(none)'} (user type "
            f"{user_type or '(none)'}): torinvest keys a principal rule only on an IAM user's "
            "unique ID (AIDA…, user type IAMUser), which nobody can choose or reuse",
            hint=_INSTEAD,
        )
    return principal


def scope_words(finding: Mapping[str, Any], scope: str) -> str:
    """What a suppression rule of ``scope`` for ``finding`` hides, in words (the dry run says it)."""
    value = scope_value(finding, scope)
    user = _text(finding.get("user_name")) or "(no name)"
    head = f"future {finding.get('type')} findings of account {finding.get('account_id')}"
    if scope == "principal":
        return f"{head} of IAM user {user} (unique ID {value}), whichever key it uses"
    if value.startswith("ASIA"):
        return (
            f"{head} made with temporary key {value} ({finding.get('user_type') or 'unknown'} "
            f"{user}): only this session's credentials, so the rule stops matching when they expire"
        )
    if _text(finding.get("user_type")) == "Root":
        return (
            f"{head} made with the account's root user's access key {value}, until the key is "
            "deleted (root access keys are managed only by signing in as root: no IAM call "
            "here applies to them)"
        )
    return (
        f"{head} made with long-term key {value} ({finding.get('user_type') or 'unknown'} "
        f"{user}), until the key is deleted; its other keys are not covered"
    )


def suppression_criteria(finding: Mapping[str, Any], scope: str) -> dict[str, Any]:
    """The FindingCriteria of a suppression rule for ``finding``: its type, its account and its
    principal (``scope="principal"``, an IAM user only) or key (``scope="key"``), each one exact
    value (:func:`scope_value` refuses a value someone could choose)."""
    if scope not in SUPPRESSION_SCOPES:
        raise InputError(
            f"suppression scope {scope!r} is broader than torinvest allows",
            hint=f"use one of {', '.join(SUPPRESSION_SCOPES)}; create wider rules in the console",
        )
    field_name = SCOPE_FIELDS[scope]
    ftype, account = finding.get("type"), finding.get("account_id")
    missing = [name for name, v in (("type", ftype), ("accountId", account)) if not _present(v)]
    if missing:
        raise InputError(
            f"finding {finding.get('id')} has no {', '.join(missing)}: a suppression rule "
            f"would be broader than this {scope}",
            hint="archive without --suppress",
        )
    value = scope_value(finding, scope)
    criteria = {
        "Criterion": {
            "type": {"Eq": [str(ftype)]},
            "accountId": {"Eq": [str(account)]},
            field_name: {"Eq": [value]},
        }
    }
    check_suppression_scope(criteria)
    return criteria


def check_suppression_scope(criteria: Mapping[str, Any]) -> None:
    """Raise InputError unless ``criteria`` match one Tor finding type and one principal or key.

    Every rule torinvest creates passes here before it can be planned: a rule that could hide
    another principal's (or another type's) Tor findings is never made.
    """
    crit = criteria.get("Criterion") if isinstance(criteria, Mapping) else None
    problems: list[str] = []
    if not isinstance(crit, Mapping):
        problems.append("no Criterion")
        crit = {}

    def one_exact(name: str) -> str | None:
        cond = crit.get(name)
        if not isinstance(cond, Mapping) or set(cond) != {"Eq"}:
            return None
        values = cond["Eq"]
        if not isinstance(values, list) or len(values) != 1 or not _present(values[0]):
            return None
        return str(values[0])

    ftype = one_exact("type")
    if ftype not in TOR_FINDING_TYPES:
        problems.append("the type must be exactly one Tor finding type")
    scoped = [f for f in SCOPE_FIELDS.values() if one_exact(f) is not None]
    if not scoped:
        problems.append("it must match exactly one principal or one access key")
    principal, key = one_exact(SCOPE_FIELDS["principal"]), one_exact(SCOPE_FIELDS["key"])
    if principal is not None and not USER_ID_RE.fullmatch(principal):
        problems.append(f"principal {principal} is not an IAM user's unique ID (AIDA…)")
    if key is not None and not KEY_ID_RE.fullmatch(key):
        problems.append(f"key {key} is not an access key ID AWS makes (AKIA…, ASIA…)")
    extra = set(crit) - {"type", "accountId", *SCOPE_FIELDS.values()}
    if extra:
        problems.append(f"unexpected criteria {sorted(extra)}")
    if "accountId" in crit and one_exact("accountId") is None:
        problems.append("the account must be exactly one account")
    if problems:
        raise InputError(
            "a suppression rule broader than one principal's Tor findings: " + "; ".join(problems),
            hint="torinvest only creates rules scoped to the finding type and the principal or key",
        )


def filter_name(finding: Mapping[str, Any], scope: str) -> str:
    """The suppression rule's name: type, scope and value, and a short hash of the rule's exact
    criteria (GuardDuty: 3–64 of [A-Za-z0-9_.-]). The value may be cut to fit, the hash never:
    two rules with different criteria never share a name; a rule found under this name is still
    compared with these criteria before it counts as made (someone else may have made it)."""
    short = "recon" if str(finding.get("type", "")).startswith("Recon") else "unauthorized"
    criteria = suppression_criteria(finding, scope)
    value = criteria["Criterion"][SCOPE_FIELDS[scope]]["Eq"][0]
    digest = hashlib.sha256(orjson.dumps(criteria, option=orjson.OPT_SORT_KEYS)).hexdigest()[:10]
    head = FILTER_NAME_RE.sub("-", f"torinvest-tor-{short}-{value}")[: 64 - len(digest) - 1]
    return f"{head}-{digest}"


#: Characters GuardDuty's CreateFilter takes in a Description (API reference: letters, digits,
#: whitespace and - . : _ { } [ ] ( ) /; at most 512 characters). Others become "-".
DESCRIPTION_UNSAFE_RE = re.compile(r"[^A-Za-z0-9 \-.:_(){}\[\]/]")
DESCRIPTION_MAX = 512


def filter_description(finding: Mapping[str, Any], scope: str) -> str:
    """The rule's Description: what it matches and why, in the characters GuardDuty takes
    (:data:`DESCRIPTION_UNSAFE_RE`; finding text reduced to them)."""
    value = scope_value(finding, scope)
    what = "IAM user unique ID" if scope == "principal" else "access key"
    text = (
        f"torinvest: {finding.get('type')} findings of account {finding.get('account_id')} "
        f"and {what} {value} judged legitimate (finding {finding.get('id')})"
    )
    return DESCRIPTION_UNSAFE_RE.sub("-", text)[:DESCRIPTION_MAX]


def plan_archive(
    finding: Mapping[str, Any],
    *,
    suppress: bool = False,
    scope: str | None = None,
    detector_id: str | None = None,
) -> Plan:
    """Archive one finding; with ``suppress``, a rule that archives future findings of the same
    Tor type, account and IAM user (``scope="principal"``) or key (``scope="key"``): the scope
    is required (no default), and refused for a principal or key someone could choose
    (:func:`scope_value`).

    ``finding`` is a row of the findings frame (id, type, account_id, region, detector_id,
    principal_id, access_key_id). ``detector_id``: the detector of the account that archives
    (the administrator's), default the finding's.
    """
    if scope is not None and scope not in SUPPRESSION_SCOPES:
        raise InputError(
            f"suppression scope {scope!r} is broader than torinvest allows",
            hint=f"use one of {', '.join(SUPPRESSION_SCOPES)}; create wider rules in the console",
        )
    region = str(finding["region"])
    detector = detector_id or finding.get("detector_id")
    if not _present(detector):
        raise InputError(
            f"finding {finding['id']} does not name its detector",
            hint="load the finding from GuardDuty (not an ASFF export) to archive it",
        )
    plan = Plan(
        kind="archive",
        finding_id=str(finding["id"]),
        account_id=str(finding["account_id"]) if _present(finding.get("account_id")) else None,
        region=region,
        access_key_id=str(finding["access_key_id"])
        if _present(finding.get("access_key_id"))
        else None,
        finding=finding_facts(finding),
    )
    plan.actions.append(
        Action(
            "guardduty",
            "ArchiveFindings",
            {"DetectorId": str(detector), "FindingIds": [str(finding["id"])]},
            why="verdict legitimate: archive the finding",
            region=region,
            targets=(str(finding["id"]),),
        )
    )
    if suppress:
        if scope is None:
            raise InputError(
                "a suppression rule needs its scope: principal or key",
                hint="--scope principal: every key of the finding's IAM user; --scope key: the "
                "finding's access key only",
            )
        criteria = suppression_criteria(finding, scope)
        value = criteria["Criterion"][SCOPE_FIELDS[scope]]["Eq"][0]
        plan.actions.append(
            Action(
                "guardduty",
                "CreateFilter",
                {
                    "DetectorId": str(detector),
                    "Name": filter_name(finding, scope),
                    "Action": "ARCHIVE",
                    "Rank": 1,
                    "Description": filter_description(finding, scope),
                    "FindingCriteria": criteria,
                },
                why=f"suppression rule (--scope {scope}): archives {scope_words(finding, scope)}",
                region=region,
                targets=(str(value),),
            )
        )
    return plan


# --------------------------------------------------------------------------------------------
