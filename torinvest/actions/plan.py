"""A plan and its actions: :class:`Action` (the call, its parameters, why, what it acts on, the
AWS CLI command) and :class:`Plan`; the plan kinds and the verdicts each follows.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd
from botocore import xform_name

from torinvest.jsonread import dumps as json_dumps
from torinvest.options import PLAN_KINDS as PLAN_KINDS
from torinvest.options import SUPPRESSION_SCOPES as SUPPRESSION_SCOPES
from torinvest.safety import cli_option
from torinvest.targets import json_object, scalar_text

REVOKE_POLICY_NAME = "AWSRevokeOlderSessions"
FILTER_NAME_RE = re.compile(r"[^A-Za-z0-9_.-]")
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
#: The kinds of IAM names, all compared without regard to letter case (IAM treats ``Svc-Ops`` and
#: ``svc-ops`` as one user; the same for roles, groups, policies and instance profiles).
IAM_NAME_KINDS = ("User", "Role", "Group", "Policy", "InstanceProfile")
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


@dataclass(frozen=True, slots=True)
class Record:
    """The CloudTrail record a step is justified by: the run confirms it with CloudTrail's Event
    history (LookupEvents by its event ID, in ``region``) before the step changes anything,
    unless it came from LookupEvents itself (``source`` ``lookup``). A log file can be written by
    whoever can write the trail's bucket or the case folder: a record alone proves nothing.

    ``fields``: (path in the record, value) of what the step takes from it (the name a create
    gave, the key it made, the policy it attached…): CloudTrail's copy must say the same."""

    event_id: str | None
    region: str | None
    event_name: str
    access_key_id: str | None
    source: str | None
    event_time: str | None = None
    fields: tuple[tuple[str, str], ...] = ()

    @property
    def from_lookup(self) -> bool:
        """Whether the row came from LookupEvents (CloudTrail's own answer: nothing to confirm)."""
        return self.source == "lookup"


@dataclass(frozen=True, slots=True)
class Action:
    """One API call of a plan (or a manual step when ``manual`` is set).

    ``changes_aws`` False marks a read; ``targets`` names what it acts on (user names, key IDs,
    secret names…); ``absent_ok`` marks an undo call for which "no such entity" means it is
    already done; ``created_at`` is when the activity created the user or role the action acts
    on (set on every undo step on it, the delete included: the runner checks that principal's
    creation date first and leaves all of them alone for a same-named one created at another
    time). ``records``: the CloudTrail records the step is justified by (the write it undoes,
    and the create of what it acts on when it relies on "the activity created it"): the runner
    confirms each with CloudTrail before the call (:class:`Record`); empty for a step that comes
    from the finding, not from a record. ``any_record``: one confirmed record is enough (a
    revoke several minting calls each justify: a forged one must not hold a genuine one back).
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
    identity: tuple[str, ...] | None = None
    records: tuple[Record, ...] = ()
    any_record: bool = False
    #: the users whose console sessions this deny ends (the passwords the key set): the run's
    #: summary names them
    ends_sessions_of: tuple[str, ...] = ()
    #: the activity's DeleteUser of the user this deny is on, after the password it ends the
    #: sessions of was set: IAM ends a user's console sessions with the user, so once CloudTrail
    #: confirms it, a NoSuchEntity on the deny reads "user gone: no session to end", never
    #: "failed" (:func:`torinvest.runner.checks.gone_user`)
    deleted_by: Record | None = None

    def cli(self) -> str:
        """The equivalent AWS CLI command (for the ticket and for review)."""
        if self.manual:
            return f"# by hand: {self.manual}"
        parts = ["aws", self.service, xform_name(self.operation, "-")]
        if self.region:
            parts.append(cli_option("--region", self.region))
        for key, value in self.params.items():
            flag = "--" + xform_name(key, "-")
            text = value if isinstance(value, str) else json_dumps(value).decode()
            parts.append(cli_option(flag, text))  # a value may start with -
        return " ".join(parts)

    @property
    def name(self) -> str:
        """``service:Operation``, the IAM action it needs (manual steps: ``manual``)."""
        return "manual" if self.manual else f"{self.service}:{self.operation}"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["params"] = dict(self.params)
        d["targets"] = list(self.targets)
        d["identity"] = list(self.identity) if self.identity else None
        d["records"] = [asdict(r) for r in self.records]
        d["ends_sessions_of"] = list(self.ends_sessions_of)
        d["deleted_by"] = asdict(self.deleted_by) if self.deleted_by is not None else None
        d["cli"] = self.cli()
        return d


@dataclass(slots=True)
class Plan:
    """Actions in the order they should run, and notes for the analyst.

    ``kind`` is ``archive`` or ``remediate``; ``account_id`` the finding's account (where a
    remediation must run; an archive runs in that account's GuardDuty administrator account).
    ``finding``: the finding the plan was built from
    (:func:`torinvest.findings.records.finding_facts`: type, account, region, principal, key,
    updatedAt, count, eventLastSeen); an archive checks GuardDuty's copy against it.
    """

    actions: list[Action] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    kind: str = ""
    finding_id: str = ""
    account_id: str | None = None
    region: str | None = None
    access_key_id: str | None = None
    finding: dict[str, Any] = field(default_factory=dict)
    #: how much of the activity the plan was built from, when not all of it ("COULD NOT LOOK …",
    #: "INCOMPLETE: …"): the run's summary says it; "" when everything was read
    evidence: str = ""
    #: when the first Tor call was (the finding's first sighting, ISO 8601), when known: the
    #: inventory tells an MFA device enabled after it from the owner's older one
    first_tor: str | None = None

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
def _present(value: Any) -> bool:
    """Whether ``value`` holds something: not None, NA, NaN (a frame's missing cell) or blank."""
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return False
    return str(value).strip() != ""


#: What a plan says of the account's root user: no IAM call applies to its access keys, its
#: password or its MFA, and no IAM policy can be attached to it (so no deny revokes its sessions).
ROOT_BY_HAND = (
    "root access keys (and the root password and MFA) are managed only by signing in as the "
    "root user (AWS console, Security credentials): no IAM call here applies to them, and no IAM "
    "policy can be attached to root"
)


def root_step(operation: str, what: str, why: str, targets: Sequence[str]) -> Action:
    """A manual step on the account's root user (:data:`ROOT_BY_HAND`): never a call, never on an
    IAM user that happens to be named like it."""
    return Action(
        "iam",
        operation,
        {},
        why=why,
        manual=f"{what}: {ROOT_BY_HAND}",
        targets=tuple(t for t in targets if t),
    )


#: What an undo step takes from each write's record, by eventName (paths in the record): the
#: confirmation checks CloudTrail's copy says the same.
_TAKEN: dict[str, tuple[str, ...]] = {
    "CreateUser": ("requestParameters.userName", "responseElements.user.userId"),
    "CreateRole": ("requestParameters.roleName", "responseElements.role.roleId"),
    "CreateGroup": ("requestParameters.groupName", "responseElements.group.groupId"),
    "CreatePolicy": ("requestParameters.policyName", "responseElements.policy.arn"),
    "CreateLoginProfile": ("requestParameters.userName",),
    "CreateAccessKey": (
        "requestParameters.userName",
        "responseElements.accessKey.accessKeyId",
        "responseElements.accessKey.userName",
    ),
    "UpdateAccessKey": (
        "requestParameters.userName",
        "requestParameters.accessKeyId",
        "requestParameters.status",
    ),
    "EnableMFADevice": ("requestParameters.userName", "requestParameters.serialNumber"),
    # minting calls: the role a revoke denies, the key it revokes
    "AssumeRole": ("requestParameters.roleArn", "responseElements.credentials.accessKeyId"),
    "GetSessionToken": ("responseElements.credentials.accessKeyId",),
    "GetFederationToken": ("responseElements.credentials.accessKeyId",),
}
_OWNERS = ("userName", "roleName", "groupName")
_WHAT = ("policyArn", "policyName")


def _taken(event_name: str) -> tuple[str, ...]:
    if event_name in _TAKEN:
        return _TAKEN[event_name]
    return tuple(f"requestParameters.{f}" for f in (*_OWNERS, *_WHAT))


def record_field(record: Mapping[str, Any], path: str) -> str | None:
    """The scalar at a dotted ``path`` of a record (None when absent or not a scalar)."""
    part, _, rest = path.partition(".")
    value: Any = record.get(part)
    for step in rest.split(".") if rest else ():
        value = value.get(step) if isinstance(value, Mapping) else None
    return scalar_text(value)


def record_of(row: Mapping[str, Any]) -> Record:
    """The :class:`Record` of one events-frame row, with what an undo step takes from it."""

    def text(column: str) -> str | None:
        value = row.get(column)
        return str(value).strip() if _present(value) else None

    name = str(row.get("event_name"))
    parts = {
        "requestParameters": json_object(row.get("request_parameters")),
        "responseElements": json_object(row.get("response_elements")),
    }
    fields = tuple(
        (path, value) for path in _taken(name) if (value := record_field(parts, path)) is not None
    )
    t = row.get("event_time")
    return Record(
        event_id=text("event_id"),
        region=text("aws_region"),
        event_name=name,
        access_key_id=text("access_key_id"),
        source=text("source"),
        event_time=None if t is None or pd.isna(t) else pd.Timestamp(t).isoformat(),
        fields=fields,
    )


def iam_key(kind: str, name: str) -> tuple[str, str]:
    """How two IAM names (or a policy ARN) are compared: IAM names are case-insensitive."""
    return kind, name.casefold()


def plan_operations(plans: Sequence[Plan]) -> set[str]:
    """The IAM actions a set of plans would call (for the policy documents)."""
    return {a.name for p in plans for a in p.actions if not a.manual}
