"""What follows a verdict: the archive plan (legitimate) or the remediation plan (not legitimate).

A plan is a list of :class:`Action` — the API call, its parameters, why, what it acts on, and
the equivalent AWS CLI command — built from the finding and the key's activity only (pure: no
AWS call here). :mod:`torinvest.runner` carries a plan out behind its guards (verdict, account)
and records every call; nothing here changes AWS.

Legitimate (AWS: archive the finding), :func:`plan_archive`:
  * ``ArchiveFindings`` — run by the GuardDuty administrator account (or a standalone account);
  * optionally a suppression rule (``CreateFilter`` with ``Action=ARCHIVE``) that matches this
    finding's type, its account and this principal (or only this key) — never broader
    (:func:`check_suppression_scope`).

Not legitimate (AWS: assume every credential is compromised), :func:`plan_remediation`, in order:
  1. contain the key, by its kind: a user's long-term key is deactivated (``UpdateAccessKey
     Inactive``, never deleted first); the user gets the ``AWSRevokeOlderSessions`` deny on tokens
     issued before now; a role session's role gets the same deny; a root key is a manual step;
  2. temporary credentials minted in the activity (GetSessionToken, GetFederationToken: the
     minting user gets the deny; AssumeRole*: the role gets it) — they outlive the deactivated key;
  3. the inventory of the suspect user (read only): other access keys, login profile, MFA
     devices, attached and inline policies, groups;
  4. undo what the activity created or changed, newest first (users, keys, login profiles,
     policies, roles, MFA devices, Lambda functions and permissions); what cannot be undone
     safely by an API call (a changed trust policy, a new policy version, a trail stopped, …:
     every other write the sensitive-actions catalogue knows) is a manual step naming its target;
  5. secrets and parameters the activity read, by name, each with its rotation step.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import orjson
import pandas as pd
from botocore import xform_name

from torinvest.errors import InputError
from torinvest.findings import TOR_FINDING_TYPES, KeyLocation
from torinvest.sources.records import DerivedKey, derived_keys
from torinvest.targets import MORE_KIND, SECRET_READS, read_names, row_targets, targets_text
from torinvest.targets import json_object as _params
from torinvest.targets import scalar_text as _text

REVOKE_POLICY_NAME = "AWSRevokeOlderSessions"
FILTER_NAME_RE = re.compile(r"[^A-Za-z0-9_.-]")
SUPPRESSION_SCOPES = ("key", "principal")
PLAN_KINDS = ("archive", "remediate")
#: The decided verdicts each plan follows (``--execute`` refuses without one of them).
PLAN_VERDICTS: dict[str, tuple[str, ...]] = {
    "archive": ("legitimate",),
    "remediate": ("malicious", "inconclusive"),
}
#: The finding field each suppression scope matches.
SCOPE_FIELDS = {
    "principal": "resource.accessKeyDetails.principalId",
    "key": "resource.accessKeyDetails.accessKeyId",
}
#: Error codes that mean "the thing to remove is not there": an undo call that gets one is done.
ABSENT_CODES = frozenset({"NoSuchEntity", "NoSuchEntityException", "ResourceNotFoundException"})
#: The read-only calls that take stock of the suspect user (their answers go to the summary).
INVENTORY_OPERATIONS: tuple[tuple[str, str], ...] = (
    ("ListAccessKeys", "the user's other keys: rotate them too"),
    ("GetLoginProfile", "a console password: reset it if present"),
    ("ListMFADevices", "MFA devices: check none was added by the actor"),
    ("ListAttachedUserPolicies", "managed policies attached to the user: what the key could do"),
    ("ListUserPolicies", "inline policies of the user: what the key could do"),
    ("ListGroupsForUser", "the user's groups: permissions it inherits"),
)
_LAMBDA_SUFFIX = re.compile(r"\d{8}(v\d+)?$")


@dataclass(frozen=True, slots=True)
class Action:
    """One API call of a plan (or a manual step when ``manual`` is set).

    ``changes_aws`` False marks a read; ``targets`` names what it acts on (user names, key IDs,
    secret names…); ``absent_ok`` marks an undo call for which "no such entity" means it is
    already done; ``created_at`` is when the activity created what a delete removes (the runner
    leaves alone a same-named resource created at another time).
    """

    service: str
    operation: str
    params: Mapping[str, Any]
    why: str
    region: str | None = None
    changes_aws: bool = True
    manual: str | None = None
    targets: tuple[str, ...] = ()
    absent_ok: bool = False
    created_at: str | None = None

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

    @property
    def name(self) -> str:
        """``service:Operation``, the IAM action it needs (manual steps: ``manual``)."""
        return "manual" if self.manual else f"{self.service}:{self.operation}"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["params"] = dict(self.params)
        d["targets"] = list(self.targets)
        d["cli"] = self.cli()
        return d


def _shell_quote(text: str) -> str:
    if re.fullmatch(r"[A-Za-z0-9_./:@=,+-]+", text):
        return text
    return "'" + text.replace("'", "'\"'\"'") + "'"


@dataclass(slots=True)
class Plan:
    """Actions in the order they should run, and notes for the analyst.

    ``kind`` is ``archive`` or ``remediate``; ``account_id`` the finding's account (where a
    remediation must run; an archive runs in that account's GuardDuty administrator account).
    """

    actions: list[Action] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    kind: str = ""
    finding_id: str = ""
    account_id: str | None = None
    region: str | None = None
    access_key_id: str | None = None

    @property
    def changes(self) -> list[Action]:
        return [a for a in self.actions if a.changes_aws and not a.manual]

    @property
    def reads(self) -> list[Action]:
        return [a for a in self.actions if not a.changes_aws and not a.manual]

    @property
    def manual(self) -> list[Action]:
        return [a for a in self.actions if a.manual]


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


def _present(value: Any) -> bool:
    return value is not None and value is not pd.NA and str(value).strip() != ""


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
    """The suppression rule's name: type, scope and value (GuardDuty: 3–64 of [A-Za-z0-9_.-])."""
    short = "recon" if str(finding.get("type", "")).startswith("Recon") else "unauthorized"
    value = finding.get("principal_id" if scope == "principal" else "access_key_id")
    return FILTER_NAME_RE.sub("-", f"torinvest-tor-{short}-{value}")[:64]


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
# not legitimate: remediation
# --------------------------------------------------------------------------------------------
def _role_name(arn: str | None) -> str | None:
    if not arn or ":role/" not in arn:
        return None
    return arn.split(":role/", 1)[1].rsplit("/", 1)[-1]


def _arn_account(arn: str | None) -> str | None:
    parts = (arn or "").split(":")
    return parts[4] if len(parts) > 5 and parts[4].isdigit() else None


def _issuer_role(events: pd.DataFrame | None, key: str) -> str | None:
    if events is None or not len(events):
        return None
    rows = events.loc[events["access_key_id"] == key, "session_issuer_arn"].dropna()
    return _role_name(str(rows.iloc[0])) if len(rows) else None


def _revoke(kind: str, name: str, policy: str, why: str, targets: Sequence[str]) -> Action:
    param = "UserName" if kind == "user" else "RoleName"
    return Action(
        "iam",
        "PutUserPolicy" if kind == "user" else "PutRolePolicy",
        {param: name, "PolicyName": REVOKE_POLICY_NAME, "PolicyDocument": policy},
        why=why,
        targets=(name, *targets),
    )


def plan_remediation(
    key: KeyLocation,
    events: pd.DataFrame | None = None,
    *,
    now: pd.Timestamp | None = None,
) -> Plan:
    """The remediation plan for ``key`` (AWS guidance for its kind), following its activity:
    ``events`` is the events frame of the key and the keys it minted (see the module docstring
    for the order)."""
    now = now or pd.Timestamp.now(tz="UTC")
    policy = orjson.dumps(revoke_older_sessions_policy(now)).decode()
    plan = Plan(
        kind="remediate",
        finding_id=key.finding_id,
        account_id=key.account_id,
        region=key.region,
        access_key_id=key.access_key_id,
    )
    #: one AWSRevokeOlderSessions per principal: (kind, name) → index in plan.actions
    revokes: dict[tuple[str, str], int] = {}
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
                targets=(key.access_key_id,),
            )
        )
    elif key.kind == "long-term" and user:
        plan.actions.append(
            Action(
                "iam",
                "UpdateAccessKey",
                {"UserName": user, "AccessKeyId": key.access_key_id, "Status": "Inactive"},
                why="deactivate the suspect key first (delete only after the investigation)",
                targets=(user, key.access_key_id),
            )
        )
        revokes[("user", user)] = len(plan.actions)
        plan.actions.append(
            _revoke(
                "user",
                user,
                policy,
                f"deny every session {user} minted before now (GetSessionToken, "
                "GetFederationToken keys)",
                (),
            )
        )
    elif key.kind == "temporary":
        role = _issuer_role(events, key.access_key_id) or (
            _role_name(key.principal_id) if key.user_type == "AssumedRole" else None
        )
        if key.user_type == "AssumedRole" and not role and user:
            role = user
        if role:
            revokes[("role", role)] = len(plan.actions)
            plan.actions.append(
                _revoke(
                    "role",
                    role,
                    policy,
                    "revoke every session of the role issued before now (AWSRevokeOlderSessions)",
                    (key.access_key_id,),
                )
            )
        elif user:
            revokes[("user", user)] = len(plan.actions)
            plan.actions.append(
                _revoke(
                    "user",
                    user,
                    policy,
                    "a session key of an IAM user: deny sessions it minted before now",
                    (key.access_key_id,),
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
    _revoke_minted(plan, key, events, policy, revokes)
    if key.kind == "long-term" and user and key.user_type != "Root":
        plan.actions += inventory(user)
    plan.actions += undo_persistence(events)
    plan.actions += rotate_secrets(events)
    tried = failed_secret_reads(events)
    if tried:
        plan.notes.append(
            "the actor tried to read, and failed: " + ", ".join(tried) + " (nothing to rotate)"
        )
    return plan


def inventory(user: str) -> list[Action]:
    """The read-only calls that take stock of ``user``'s credentials and permissions."""
    return [
        Action("iam", op, {"UserName": user}, why=why, changes_aws=False, targets=(user,))
        for op, why in INVENTORY_OPERATIONS
    ]


def minted_credentials(events: pd.DataFrame | None, key: str | None = None) -> list[DerivedKey]:
    """Temporary keys minted in ``events`` (by ``key`` and what it minted, when given)."""
    if events is None or not len(events):
        return []
    ok = events[events["error_code"].isna()]
    return derived_keys(ok, key) if key else derived_keys(ok)


def _minter(events: pd.DataFrame, minted: DerivedKey) -> tuple[str | None, str | None]:
    """(user name, user type) of the principal whose call minted ``minted``."""
    rows = events[events["event_id"] == minted.event_id] if minted.event_id else events.iloc[0:0]
    if not len(rows):
        rows = events[events["access_key_id"] == minted.minted_by]
    if not len(rows):
        return None, None
    row = rows.iloc[0]
    name = row.get("user_name")
    kind = row.get("user_type")
    return (
        str(name) if _present(name) else None,
        str(kind) if _present(kind) else None,
    )


def _minted_text(m: DerivedKey) -> str:
    when = f" at {m.event_time:%Y-%m-%d %H:%M:%S}Z" if m.event_time is not None else ""
    until = f", valid until {m.expiration}" if m.expiration else ""
    src = f" from {m.source_ip}" if m.source_ip else ""
    return f"{m.access_key_id} ({m.event_name}{when}{src}{until})"


def _revoke_minted(
    plan: Plan,
    key: KeyLocation,
    events: pd.DataFrame | None,
    policy: str,
    revokes: dict[tuple[str, str], int],
) -> None:
    """Temporary credentials minted in the activity outlive the deactivated key: deny every token
    their principal was issued before now (the minting user's for GetSessionToken and
    GetFederationToken, the role's for AssumeRole*)."""
    for m in minted_credentials(events, key.access_key_id):
        assert events is not None
        if m.event_name.startswith("AssumeRole"):
            role, account = _role_name(m.role_arn), _arn_account(m.role_arn)
            if not role:
                plan.notes.append(f"{_minted_text(m)}: the role is unknown; revoke by hand")
                continue
            if account and key.account_id and account != key.account_id:
                plan.actions.append(
                    Action(
                        "iam",
                        "PutRolePolicy",
                        {},
                        why=f"revoke sessions of {m.role_arn} minted by the key",
                        manual=f"in account {account}: attach {REVOKE_POLICY_NAME} to role "
                        f"{role} (it revokes {_minted_text(m)}); run `torinvest actions` "
                        "there or use the IAM console's 'Revoke active sessions'",
                        targets=(role, m.access_key_id),
                    )
                )
                continue
            target = ("role", role)
            why = f"revoke sessions of role {role} minted by the key: {_minted_text(m)}"
        else:  # GetSessionToken, GetFederationToken: the user's deny covers them
            name, _ = _minter(events, m)
            name = name or key.user_name
            if not name:
                plan.notes.append(f"{_minted_text(m)}: the minting user is unknown")
                continue
            target = ("user", name)
            why = f"revoke the temporary credentials {name} minted: {_minted_text(m)}"
        if target in revokes:
            i = revokes[target]
            old = plan.actions[i]
            plan.actions[i] = Action(
                old.service,
                old.operation,
                old.params,
                why=f"{old.why}; revokes {_minted_text(m)}",
                region=old.region,
                targets=(*old.targets, m.access_key_id),
            )
        else:
            revokes[target] = len(plan.actions)
            plan.actions.append(_revoke(target[0], target[1], policy, why, (m.access_key_id,)))


# --------------------------------------------------------------------------------------------
# the evidence: what the activity created, changed and read
# --------------------------------------------------------------------------------------------
def _base_name(name: str, source: str) -> str:
    """Lambda's versioned event names (CreateFunction20150331) without the version suffix."""
    return _LAMBDA_SUFFIX.sub("", name) if source == "lambda.amazonaws.com" else name


def _undo(
    op: str,
    params: Mapping[str, Any],
    why: str,
    targets: Iterable[str],
    *,
    service: str = "iam",
    region: str | None = None,
    created_at: str | None = None,
) -> Action:
    return Action(
        service,
        op,
        dict(params),
        why=why,
        region=region,
        targets=tuple(targets),
        absent_ok=True,
        created_at=created_at,
    )


def _manual(
    op: str, what: str, why: str, targets: Iterable[str], *, service: str = "iam"
) -> Action:
    return Action(service, op, {}, why=why, manual=what, targets=tuple(targets))


def _undo_one(row: Mapping[str, Any]) -> list[Action]:
    """The calls (or manual steps) that undo one write of the activity; empty when none."""
    source = str(row.get("event_source") or "")
    name = _base_name(str(row["event_name"]), source)
    req = _params(row.get("request_parameters"))
    resp = _params(row.get("response_elements"))
    t = row["event_time"]
    stamp = "an unknown time" if pd.isna(t) else f"{t:%Y-%m-%d %H:%M:%S}Z"  # no usable eventTime
    when = f"{row['event_name']} at {stamp} from {row.get('source_ip')}"
    created = None if pd.isna(t) else t.isoformat()
    region = str(row.get("aws_region")) if _present(row.get("aws_region")) else None
    user, role = _text(req.get("userName")), _text(req.get("roleName"))
    group = _text(req.get("groupName"))
    policy_arn, policy_name = _text(req.get("policyArn")), _text(req.get("policyName"))
    a: list[Action] = []
    if source == "iam.amazonaws.com":
        if name == "CreateUser" and user:
            a.append(
                _undo(
                    "DeleteUser",
                    {"UserName": user},
                    f"undo {when} (after its keys, policies and login profile)",
                    (user,),
                    created_at=created,
                )
            )
        elif name == "CreateAccessKey":
            made = resp.get("accessKey") if isinstance(resp.get("accessKey"), dict) else {}
            key_id, owner = _text(made.get("accessKeyId")), _text(made.get("userName")) or user
            if key_id and owner:
                a += [
                    _undo(
                        "UpdateAccessKey",
                        {"UserName": owner, "AccessKeyId": key_id, "Status": "Inactive"},
                        f"undo {when}: deactivate the key it created",
                        (owner, key_id),
                    ),
                    _undo(
                        "DeleteAccessKey",
                        {"UserName": owner, "AccessKeyId": key_id},
                        f"undo {when}: delete the key it created",
                        (owner, key_id),
                    ),
                ]
        elif name == "UpdateAccessKey" and req.get("status") == "Active" and user:
            key_id = _text(req.get("accessKeyId"))
            if key_id:
                a.append(
                    _undo(
                        "UpdateAccessKey",
                        {"UserName": user, "AccessKeyId": key_id, "Status": "Inactive"},
                        f"undo {when}: it re-activated the key",
                        (user, key_id),
                    )
                )
        elif name == "CreateLoginProfile" and user:
            a.append(_undo("DeleteLoginProfile", {"UserName": user}, f"undo {when}", (user,)))
        elif name == "AttachUserPolicy" and user and policy_arn:
            a.append(
                _undo(
                    "DetachUserPolicy",
                    {"UserName": user, "PolicyArn": policy_arn},
                    f"undo {when}",
                    (user, policy_arn),
                )
            )
        elif name == "PutUserPolicy" and user and policy_name:
            a.append(
                _undo(
                    "DeleteUserPolicy",
                    {"UserName": user, "PolicyName": policy_name},
                    f"undo {when}",
                    (user, policy_name),
                )
            )
        elif name == "AddUserToGroup" and user and group:
            a.append(
                _undo(
                    "RemoveUserFromGroup",
                    {"UserName": user, "GroupName": group},
                    f"undo {when}",
                    (user, group),
                )
            )
        elif name == "AttachGroupPolicy" and group and policy_arn:
            a.append(
                _undo(
                    "DetachGroupPolicy",
                    {"GroupName": group, "PolicyArn": policy_arn},
                    f"undo {when}",
                    (group, policy_arn),
                )
            )
        elif name == "PutGroupPolicy" and group and policy_name:
            a.append(
                _undo(
                    "DeleteGroupPolicy",
                    {"GroupName": group, "PolicyName": policy_name},
                    f"undo {when}",
                    (group, policy_name),
                )
            )
        elif name == "CreateRole" and role:
            a.append(
                _undo(
                    "DeleteRole",
                    {"RoleName": role},
                    f"undo {when} (after its policies; its sessions end with it)",
                    (role,),
                    created_at=created,
                )
            )
        elif name == "AttachRolePolicy" and role and policy_arn:
            a.append(
                _undo(
                    "DetachRolePolicy",
                    {"RoleName": role, "PolicyArn": policy_arn},
                    f"undo {when}",
                    (role, policy_arn),
                )
            )
        elif name == "PutRolePolicy" and role and policy_name:
            a.append(
                _undo(
                    "DeleteRolePolicy",
                    {"RoleName": role, "PolicyName": policy_name},
                    f"undo {when}",
                    (role, policy_name),
                )
            )
        elif name == "CreatePolicy":
            made = resp.get("policy") if isinstance(resp.get("policy"), dict) else {}
            arn = _text(made.get("arn"))
            if arn:
                a.append(
                    _undo(
                        "DeletePolicy",
                        {"PolicyArn": arn},
                        f"undo {when} (after it is detached everywhere)",
                        (arn,),
                    )
                )
        elif name == "EnableMFADevice" and user and _text(req.get("serialNumber")):
            serial = str(req["serialNumber"])
            a.append(
                _undo(
                    "DeactivateMFADevice",
                    {"UserName": user, "SerialNumber": serial},
                    f"undo {when}: an MFA device the actor controls",
                    (user, serial),
                )
            )
        elif name == "CreateVirtualMFADevice":
            made = resp.get("virtualMFADevice")
            serial = _text(made.get("serialNumber")) if isinstance(made, dict) else None
            if serial:
                a.append(
                    _undo(
                        "DeleteVirtualMFADevice",
                        {"SerialNumber": serial},
                        f"undo {when}",
                        (serial,),
                    )
                )
        elif name == "UpdateAssumeRolePolicy" and role:
            a.append(
                _manual(
                    name,
                    f"restore the trust policy of role {role} as it was before {stamp}: the "
                    "actor set the policyDocument in this event's requestParameters (who may "
                    "assume the role now?)",
                    f"{when} changed the trust policy of role {role}",
                    (role,),
                )
            )
        elif name == "UpdateLoginProfile" and user:
            a.append(
                _manual(
                    name,
                    f"reset the console password of {user} with its owner (the actor set it "
                    f"at {stamp}); sign out its console sessions",
                    f"{when} changed the console password of {user}",
                    (user,),
                )
            )
        elif name in ("CreatePolicyVersion", "SetDefaultPolicyVersion") and policy_arn:
            version = _text(req.get("versionId")) or _text(
                (resp.get("policyVersion") or {}).get("versionId")
                if isinstance(resp.get("policyVersion"), dict)
                else None
            )
            a.append(
                _manual(
                    name,
                    f"make the version of {policy_arn} that was the default before {stamp} the "
                    f"default again (set-default-policy-version), then delete version "
                    f"{version or '(the new one)'}",
                    f"{when} changed the permissions of {policy_arn}",
                    (policy_arn,),
                )
            )
    elif source == "lambda.amazonaws.com":
        fn = _text(req.get("functionName"))
        if name == "CreateFunction" and fn:
            a.append(
                _undo(
                    "DeleteFunction",
                    {"FunctionName": fn},
                    f"undo {when}: a function the actor created",
                    (fn,),
                    service="lambda",
                    region=region,
                )
            )
        elif name == "AddPermission" and fn and _text(req.get("statementId")):
            sid = str(req["statementId"])
            a.append(
                _undo(
                    "RemovePermission",
                    {"FunctionName": fn, "StatementId": sid},
                    f"undo {when}: who may invoke {fn}",
                    (fn, sid),
                    service="lambda",
                    region=region,
                )
            )
    return a


def _catalogue() -> pd.DataFrame:
    from torinvest.analysis import load_catalogue

    return load_catalogue()


#: Catalogue categories whose writes are left to a manual step when no undo call is known.
_MANUAL_CATEGORIES = frozenset(
    {"persistence", "privilege-escalation", "defense-evasion", "exfiltration", "impact"}
)


def undo_persistence(events: pd.DataFrame | None) -> list[Action]:
    """Undo calls for every successful write in ``events`` that created or changed something,
    newest first; writes the sensitive-actions catalogue knows but no call can safely undo
    become manual steps naming their target."""
    if events is None or not len(events):
        return []
    ok = events[events["error_code"].isna()]
    rows = ok.sort_values("event_time", ascending=False, kind="stable")
    cat = _catalogue()
    known = {
        (str(r.event_name), str(r.event_source)): r
        for r in cat.itertuples(index=False)
        if r.category in _MANUAL_CATEGORIES
    }
    out: list[Action] = []
    for row in rows.to_dict("records"):
        undo = _undo_one(row)
        if undo:
            out += undo
            continue
        entry = known.get((str(row["event_name"]), str(row.get("event_source"))))
        if entry is None or row["event_name"] in SECRET_READS or row.get("read_only") is True:
            continue
        found = row_targets(row)
        target = targets_text(found)
        t = row["event_time"]
        stamp = "an unknown time" if pd.isna(t) else f"{t:%Y-%m-%d %H:%M:%S}Z"
        where = f" in {row.get('aws_region')}" if _present(row.get("aws_region")) else ""
        out.append(
            _manual(
                str(row["event_name"]),
                f"review and undo {row['event_name']}{where} on {target or '(see the event)'} "
                f"at {stamp}: {entry.note}",
                f"{row['event_name']} at {stamp} from {row.get('source_ip')} ({entry.category})",
                tuple(t.value for t in found if t.kind != MORE_KIND),
                service=str(row.get("event_source") or "").split(".")[0] or "iam",
            )
        )
    return out


def rotate_secrets(events: pd.DataFrame | None) -> list[Action]:
    """One manual rotation step per secret or parameter the activity read successfully."""
    if events is None or not len(events):
        return []
    rows = events[events["event_name"].isin(list(SECRET_READS)) & events["error_code"].isna()]
    seen: dict[tuple[str, str, str | None], pd.Timestamp] = {}
    for row in rows.sort_values("event_time", kind="stable").to_dict("records"):
        region = str(row.get("aws_region")) if _present(row.get("aws_region")) else None
        kind = "secret" if str(row["event_name"]).endswith("SecretValue") else "parameter"
        for n in read_names(str(row["event_name"]), _params(row.get("request_parameters"))):
            seen.setdefault((kind, n, region), row["event_time"])
    out = []
    for (kind, n, region), when in seen.items():
        where = f" in {region}" if region else ""
        if kind == "secret":
            how = (
                f"rotate secret {n}{where}: change it at its source, then store the new value "
                f"(aws secretsmanager put-secret-value, or rotate-secret if rotation is set up)"
            )
            op, service = "RotateSecret", "secretsmanager"
        else:
            how = (
                f"rotate parameter {n}{where}: change it at its source, then store the new value "
                "(aws ssm put-parameter --overwrite)"
            )
            op, service = "PutParameter", "ssm"
        out.append(
            Action(
                service,
                op,
                {},
                why=f"the actor read {kind} {n} at {when:%Y-%m-%d %H:%M:%S}Z",
                region=region,
                manual=how,
                targets=(n,),
            )
        )
    return out


def failed_secret_reads(events: pd.DataFrame | None) -> list[str]:
    """Secrets and parameters the activity tried to read and was refused or did not find."""
    if events is None or not len(events):
        return []
    rows = events[events["event_name"].isin(list(SECRET_READS)) & events["error_code"].notna()]
    out: list[str] = []
    for row in rows.to_dict("records"):
        for n in read_names(str(row["event_name"]), _params(row.get("request_parameters"))):
            text = f"{n} ({row['error_code']})"
            if text not in out:
                out.append(text)
    return out


def plan_operations(plans: Sequence[Plan]) -> set[str]:
    """The IAM actions a set of plans would call (for the policy documents)."""
    return {a.name for p in plans for a in p.actions if not a.manual}
