"""Legitimate: archive the finding, optionally with a suppression rule scoped to the
principal or the key, never broader (:func:`plan_archive`).
"""

from __future__ import annotations

import hashlib
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


def suppression_criteria(finding: Mapping[str, Any], scope: str) -> dict[str, Any]:
    """The FindingCriteria of a suppression rule for ``finding``: its type, its account and its
    principal (``scope="principal"``) or key (``scope="key"``), each one exact value."""
    if scope not in SUPPRESSION_SCOPES:
        raise InputError(
            f"suppression scope {scope!r} is broader than torinvest allows",
            hint=f"use one of {', '.join(SUPPRESSION_SCOPES)}; create wider rules in the console",
        )
    field_name = SCOPE_FIELDS[scope]
    value = finding.get("principal_id" if scope == "principal" else "access_key_id")
    ftype, account = finding.get("type"), finding.get("account_id")
    missing = [
        name
        for name, v in ((field_name, value), ("type", ftype), ("accountId", account))
        if not _present(v)
    ]
    if missing:
        raise InputError(
            f"finding {finding.get('id')} has no {', '.join(missing)}: a suppression rule "
            f"would be broader than this {scope}",
            hint="archive without --suppress",
        )
    criteria = {
        "Criterion": {
            "type": {"Eq": [str(ftype)]},
            "accountId": {"Eq": [str(account)]},
            field_name: {"Eq": [str(value)]},
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
    two rules with different criteria (two sessions of one role) never share a name, so a rule
    of this name is one with these criteria."""
    short = "recon" if str(finding.get("type", "")).startswith("Recon") else "unauthorized"
    value = finding.get("principal_id" if scope == "principal" else "access_key_id")
    criteria = suppression_criteria(finding, scope)
    digest = hashlib.sha256(orjson.dumps(criteria, option=orjson.OPT_SORT_KEYS)).hexdigest()[:10]
    head = FILTER_NAME_RE.sub("-", f"torinvest-tor-{short}-{value}")[: 64 - len(digest) - 1]
    return f"{head}-{digest}"


def plan_archive(
    finding: Mapping[str, Any],
    *,
    suppress: bool = False,
    scope: str = "principal",
    detector_id: str | None = None,
) -> Plan:
    """Archive one finding; with ``suppress``, a rule that archives future findings of the same
    Tor type, account and principal (``scope="principal"``) or key (``scope="key"``).

    ``finding`` is a row of the findings frame (id, type, account_id, region, detector_id,
    principal_id, access_key_id). ``detector_id``: the detector of the account that archives
    (the administrator's), default the finding's.
    """
    if scope not in SUPPRESSION_SCOPES:
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
        criteria = suppression_criteria(finding, scope)
        field_name = SCOPE_FIELDS[scope]
        value = criteria["Criterion"][field_name]["Eq"][0]
        plan.actions.append(
            Action(
                "guardduty",
                "CreateFilter",
                {
                    "DetectorId": str(detector),
                    "Name": filter_name(finding, scope),
                    "Action": "ARCHIVE",
                    "Rank": 1,
                    "Description": f"torinvest: {finding['type']} findings of {field_name}="
                    f"{value} in account {finding['account_id']} judged legitimate "
                    f"(finding {finding['id']})",
                    "FindingCriteria": criteria,
                },
                why=f"suppress future {finding['type']} findings of this {scope} only",
                region=region,
                targets=(str(value),),
            )
        )
    return plan


# --------------------------------------------------------------------------------------------
