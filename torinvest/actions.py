"""What follows a verdict: archive (legitimate) or the remediation plan (not legitimate).

Every action is planned first as an :class:`Action` — the API call, its parameters, why, and the
equivalent AWS CLI command — and nothing that changes AWS runs unless ``execute=True``
(``--execute`` at the command line). Each action is printed before it runs, and each executed
one is written to the ledger (:mod:`torinvest.verdict`) before and after the call.

Legitimate (AWS: archive the finding):
  * ``ArchiveFindings`` — only the GuardDuty administrator account (or a standalone account) can;
    a member account gets a clear explanation naming its administrator;
  * optionally a suppression rule (``CreateFilter`` with ``Action=ARCHIVE``) scoped to this
    principal and the two Tor finding types — never broader unless asked.

Not legitimate (AWS: assume every credential is compromised), by the key's kind:
  * long-term key of a user: deactivate the key (``UpdateAccessKey Inactive``, before any delete),
    deny sessions the user minted before now (inline policy ``AWSRevokeOlderSessions`` on
    ``aws:TokenIssueTime``), and an inventory of the user's other keys, login profile and MFA
    devices (read-only calls);
  * temporary key of a role: the ``AWSRevokeOlderSessions`` inline policy on the role;
  * persistence found in the activity (users, keys, policies, login profiles, roles created) with
    the call that undoes each, newest first.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pandas as pd
from botocore import xform_name

from torinvest.aws import AWS_CALL_ERRORS, Aws, translate_error
from torinvest.errors import AwsError, InputError
from torinvest.findings import TOR_FINDING_TYPES, KeyLocation
from torinvest.verdict import append, default_ledger_path

log = logging.getLogger(__name__)

REVOKE_POLICY_NAME = "AWSRevokeOlderSessions"
FILTER_NAME_RE = re.compile(r"[^A-Za-z0-9_.-]")
SUPPRESSION_SCOPES = ("key", "principal")


@dataclass(frozen=True, slots=True)
class Action:
    """One API call of a plan. ``changes_aws`` False marks a read (inventory) call."""

    service: str
    operation: str
    params: Mapping[str, Any]
    why: str
    region: str | None = None
    changes_aws: bool = True
    manual: str | None = None  # set when no API call can do it safely: what to do by hand

    def cli(self) -> str:
        """The equivalent AWS CLI command (for the ticket and for review)."""
        if self.manual:
            return f"# by hand: {self.manual}"
        parts = ["aws", self.service, xform_name(self.operation, "-")]
        if self.region:
            parts += ["--region", self.region]
        for key, value in self.params.items():
            flag = "--" + xform_name(key, "-")
            text = value if isinstance(value, str) else orjson.dumps(value).decode()
            parts += [flag, _shell_quote(text)]
        return " ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["params"] = dict(self.params)
        d["cli"] = self.cli()
        return d


def _shell_quote(text: str) -> str:
    if re.fullmatch(r"[A-Za-z0-9_./:@=,+-]+", text):
        return text
    return "'" + text.replace("'", "'\"'\"'") + "'"


@dataclass(slots=True)
class ActionResult:
    action: Action
    status: str  # "dry-run", "done", "failed", "read", "manual"
    detail: Any = None


@dataclass(slots=True)
class Plan:
    """Actions in the order they should run, and notes for the analyst."""

    actions: list[Action] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------------------------
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


def plan_archive(
    finding: Mapping[str, Any],
    *,
    suppress: bool = False,
    scope: str = "principal",
) -> Plan:
    """Archive one finding; with ``suppress``, a filter that archives future Tor findings of the
    same principal (``scope="principal"``) or only of the same key (``scope="key"``).

    ``finding`` is a row of the findings frame (needs id, region, detector_id, principal_id,
    access_key_id).
    """
    if scope not in SUPPRESSION_SCOPES:
        raise InputError(
            f"suppression scope {scope!r} is broader than torinvest allows",
            hint=f"use one of {', '.join(SUPPRESSION_SCOPES)}; create wider rules in the console",
        )
    region = str(finding["region"])
    detector = finding.get("detector_id")
    if not detector or detector is pd.NA:
        raise InputError(
            f"finding {finding['id']} does not name its detector",
            hint="load the finding from GuardDuty (not an ASFF export) to archive it",
        )
    plan = Plan()
    plan.actions.append(
        Action(
            "guardduty",
            "ArchiveFindings",
            {"DetectorId": str(detector), "FindingIds": [str(finding["id"])]},
            why="verdict legitimate: archive the finding",
            region=region,
        )
    )
    if suppress:
        if scope == "key":
            field_name, value = "resource.accessKeyDetails.accessKeyId", finding["access_key_id"]
        else:
            field_name, value = "resource.accessKeyDetails.principalId", finding["principal_id"]
        if not value or value is pd.NA:
            raise InputError(
                f"finding {finding['id']} has no {field_name}: a suppression rule would be "
                "broader than this principal",
                hint="archive without --suppress",
            )
        name = FILTER_NAME_RE.sub("-", f"torinvest-tor-{value}")[:64]
        plan.actions.append(
            Action(
                "guardduty",
                "CreateFilter",
                {
                    "DetectorId": str(detector),
                    "Name": name,
                    "Action": "ARCHIVE",
                    "Rank": 1,
                    "Description": f"torinvest: Tor findings of {field_name}={value} "
                    f"judged legitimate (finding {finding['id']})",
                    "FindingCriteria": {
                        "Criterion": {
                            "type": {"Eq": list(TOR_FINDING_TYPES)},
                            field_name: {"Eq": [str(value)]},
                        }
                    },
                },
                why=f"suppress future Tor findings of this {scope} only",
                region=region,
            )
        )
    return plan


def check_can_archive(aws: Aws, region: str) -> str | None:
    """None when this account may archive; else the explanation (a member account)."""
    gd = aws.client("guardduty", region)
    try:
        detectors = gd.list_detectors().get("DetectorIds", [])
        if not detectors:
            return f"GuardDuty has no detector in {region} for these credentials"
        admin = gd.get_administrator_account(DetectorId=detectors[0]).get("Administrator")
    except AWS_CALL_ERRORS as e:
        raise translate_error(e, service="guardduty", region=region) from e
    if admin and admin.get("RelationshipStatus") == "Enabled":
        return (
            f"this account is a GuardDuty member of administrator account {admin.get('AccountId')}:"
            " only the administrator can archive findings or create suppression rules — run "
            "this from that account (or ask its owners)"
        )
    return None


# --------------------------------------------------------------------------------------------
# not legitimate: remediation
# --------------------------------------------------------------------------------------------
def _role_name(arn: str | None) -> str | None:
    if not arn or ":role/" not in arn:
        return None
    return arn.split(":role/", 1)[1].rsplit("/", 1)[-1]


def _issuer_role(events: pd.DataFrame | None, key: str) -> str | None:
    if events is None or not len(events):
        return None
    rows = events.loc[events["access_key_id"] == key, "session_issuer_arn"].dropna()
    return _role_name(str(rows.iloc[0])) if len(rows) else None


def plan_remediation(
    key: KeyLocation,
    events: pd.DataFrame | None = None,
    *,
    now: pd.Timestamp | None = None,
) -> Plan:
    """The remediation plan for ``key`` (AWS guidance for its kind) plus undoing persistence."""
    now = now or pd.Timestamp.now(tz="UTC")
    policy = orjson.dumps(revoke_older_sessions_policy(now)).decode()
    plan = Plan()
    user = key.user_name
    if key.user_type == "Root":
        plan.actions.append(
            Action(
                "iam",
                "DeleteAccessKey",
                {},
                why="root access key used from Tor",
                manual="sign in as root, delete the root access key, rotate the root "
                "password and MFA, then review the account's other principals",
            )
        )
    elif key.kind == "long-term" and user:
        plan.actions += [
            Action(
                "iam",
                "UpdateAccessKey",
                {"UserName": user, "AccessKeyId": key.access_key_id, "Status": "Inactive"},
                why="deactivate the suspect key first (delete only after the investigation)",
            ),
            Action(
                "iam",
                "PutUserPolicy",
                {"UserName": user, "PolicyName": REVOKE_POLICY_NAME, "PolicyDocument": policy},
                why="deny sessions this user minted before now (GetSessionToken keys)",
            ),
            Action(
                "iam",
                "ListAccessKeys",
                {"UserName": user},
                changes_aws=False,
                why="the user's other keys: rotate them too",
            ),
            Action(
                "iam",
                "GetLoginProfile",
                {"UserName": user},
                changes_aws=False,
                why="a console password: reset it if present",
            ),
            Action(
                "iam",
                "ListMFADevices",
                {"UserName": user},
                changes_aws=False,
                why="MFA devices: check none was added by the actor",
            ),
        ]
    elif key.kind == "temporary":
        role = _issuer_role(events, key.access_key_id) or (
            _role_name(key.principal_id) if key.user_type == "AssumedRole" else None
        )
        if key.user_type == "AssumedRole" and not role and user:
            role = user
        if role:
            plan.actions.append(
                Action(
                    "iam",
                    "PutRolePolicy",
                    {"RoleName": role, "PolicyName": REVOKE_POLICY_NAME, "PolicyDocument": policy},
                    why="revoke every session of the role issued before now "
                    "(AWSRevokeOlderSessions)",
                )
            )
        elif user:
            plan.actions.append(
                Action(
                    "iam",
                    "PutUserPolicy",
                    {"UserName": user, "PolicyName": REVOKE_POLICY_NAME, "PolicyDocument": policy},
                    why="a session key of an IAM user: deny sessions it minted before now",
                )
            )
            plan.notes.append(
                "this temporary key was minted by a long-term key of the user: find it "
                "(GetSessionToken in the activity) and deactivate it too"
            )
        else:
            plan.notes.append(
                "the role behind this temporary key is unknown: find it in "
                "CloudTrail (sessionIssuer) and attach AWSRevokeOlderSessions"
            )
    else:
        plan.notes.append(
            f"no automatic remediation for a {key.kind} key of a {key.user_type or 'unknown'} "
            "principal: handle by hand"
        )
    plan.actions += undo_persistence(events)
    return plan


def _params(text: Any) -> dict[str, Any]:
    if not isinstance(text, str) or not text:
        return {}
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def _undo_one(row: Mapping[str, Any]) -> list[Action]:
    """The calls that undo one persistence event (empty when it is not one)."""
    name = row["event_name"]
    req = _params(row.get("request_parameters"))
    resp = _params(row.get("response_elements"))
    t = row["event_time"]
    at = "an unknown time" if pd.isna(t) else f"{t:%Y-%m-%d %H:%M:%S}Z"  # no usable eventTime
    when = f"{name} at {at} from {row.get('source_ip')}"
    user, role = req.get("userName"), req.get("roleName")
    a: list[Action] = []
    if name == "CreateUser" and user:
        a.append(
            Action(
                "iam",
                "DeleteUser",
                {"UserName": user},
                why=f"undo {when} (after its keys, policies and login profile)",
            )
        )
    elif name == "CreateAccessKey":
        made = resp.get("accessKey") or {}
        key_id, owner = made.get("accessKeyId"), made.get("userName") or user
        if key_id and owner:
            a += [
                Action(
                    "iam",
                    "UpdateAccessKey",
                    {"UserName": owner, "AccessKeyId": key_id, "Status": "Inactive"},
                    why=f"undo {when}: deactivate the key it created",
                ),
                Action(
                    "iam",
                    "DeleteAccessKey",
                    {"UserName": owner, "AccessKeyId": key_id},
                    why=f"undo {when}: delete the key it created",
                ),
            ]
    elif name == "AttachUserPolicy" and user and req.get("policyArn"):
        a.append(
            Action(
                "iam",
                "DetachUserPolicy",
                {"UserName": user, "PolicyArn": req["policyArn"]},
                why=f"undo {when}",
            )
        )
    elif name == "PutUserPolicy" and user and req.get("policyName"):
        a.append(
            Action(
                "iam",
                "DeleteUserPolicy",
                {"UserName": user, "PolicyName": req["policyName"]},
                why=f"undo {when}",
            )
        )
    elif name == "CreateLoginProfile" and user:
        a.append(Action("iam", "DeleteLoginProfile", {"UserName": user}, why=f"undo {when}"))
    elif name == "AddUserToGroup" and user and req.get("groupName"):
        a.append(
            Action(
                "iam",
                "RemoveUserFromGroup",
                {"UserName": user, "GroupName": req["groupName"]},
                why=f"undo {when}",
            )
        )
    elif name == "CreateRole" and role:
        a.append(
            Action("iam", "DeleteRole", {"RoleName": role}, why=f"undo {when} (after its policies)")
        )
    elif name == "AttachRolePolicy" and role and req.get("policyArn"):
        a.append(
            Action(
                "iam",
                "DetachRolePolicy",
                {"RoleName": role, "PolicyArn": req["policyArn"]},
                why=f"undo {when}",
            )
        )
    elif name == "PutRolePolicy" and role and req.get("policyName"):
        a.append(
            Action(
                "iam",
                "DeleteRolePolicy",
                {"RoleName": role, "PolicyName": req["policyName"]},
                why=f"undo {when}",
            )
        )
    elif name in ("UpdateLoginProfile", "UpdateAssumeRolePolicy", "CreatePolicyVersion"):
        target = user or role or req.get("policyArn") or "?"
        a.append(
            Action(
                "iam",
                name,
                {},
                why=f"{when} changed {target}",
                manual=f"restore {target} as it was before {name} (the value set is in "
                "the event's requestParameters)",
            )
        )
    return a


def undo_persistence(events: pd.DataFrame | None) -> list[Action]:
    """Undo calls for every successful persistence call in ``events``, newest first."""
    if events is None or not len(events):
        return []
    ok = events[events["error_code"].isna()]
    rows = ok.sort_values("event_time", ascending=False, kind="stable")
    out: list[Action] = []
    for row in rows.to_dict("records"):
        out += _undo_one(row)
    return out


# --------------------------------------------------------------------------------------------
# running a plan
# --------------------------------------------------------------------------------------------
def run_plan(
    aws: Aws,
    actions: Iterable[Action],
    *,
    execute: bool = False,
    ledger: str | Path | None = None,
    echo: Callable[[str], None] = print,
    context: Mapping[str, Any] | None = None,
) -> list[ActionResult]:
    """Print every action, then run it: reads always, changes only with ``execute``.

    Each executed change is written to the ledger before the call and again with its outcome.
    A failing call is reported and the next ones still run.
    """
    ledger_path = Path(ledger) if ledger else default_ledger_path()
    results: list[ActionResult] = []
    for action in actions:
        if action.manual:
            echo(f"MANUAL   {action.cli()}  # {action.why}")
            results.append(ActionResult(action, "manual"))
            continue
        if action.changes_aws and not execute:
            echo(f"DRY RUN  {action.cli()}  # {action.why}")
            results.append(ActionResult(action, "dry-run"))
            continue
        verb = "EXECUTE" if action.changes_aws else "READ   "
        echo(f"{verb}  {action.cli()}  # {action.why}")
        if action.changes_aws:
            log.warning("executing %s:%s %s", action.service, action.operation, action.params)
        entry = {"kind": "action", **(context or {}), "action": action.to_dict()}
        if action.changes_aws:
            append(ledger_path, {**entry, "phase": "start", "at": _now()})
        try:
            client = aws.client(action.service, action.region)
            response = getattr(client, xform_name(action.operation))(**action.params)
            response.pop("ResponseMetadata", None)
            results.append(ActionResult(action, "done" if action.changes_aws else "read", response))
            if action.changes_aws:
                append(ledger_path, {**entry, "phase": "done", "ok": True, "at": _now()})
        except AWS_CALL_ERRORS as e:
            err: AwsError = translate_error(
                e, service=action.service, region=action.region, operation=action.operation
            )
            echo(f"FAILED   {action.operation}: {err}")
            results.append(ActionResult(action, "failed", str(err)))
            if action.changes_aws:
                append(
                    ledger_path,
                    {**entry, "phase": "done", "ok": False, "error": str(err), "at": _now()},
                )
    return results


def _now() -> str:
    return pd.Timestamp.now(tz="UTC").isoformat().replace("+00:00", "Z")


def plan_operations(plans: Sequence[Plan]) -> set[str]:
    """The IAM actions a set of plans would call (for the policy documents)."""
    return {f"{a.service}:{a.operation}" for p in plans for a in p.actions if not a.manual}
