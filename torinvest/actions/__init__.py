"""What follows a verdict: the archive plan (legitimate) or the remediation plan (not legitimate).

A plan is a list of :class:`Action` — the API call, its parameters, why, what it acts on, and
the equivalent AWS CLI command — built from the finding and the key's activity only (pure: no
AWS call here). :mod:`torinvest.runner` carries a plan out behind its guards (verdict, account)
and records every call; nothing here changes AWS.

Legitimate (AWS: archive the finding), :func:`plan_archive`:
  * ``ArchiveFindings`` — run by the GuardDuty administrator account (or a standalone account);
  * optionally a suppression rule (``CreateFilter`` with ``Action=ARCHIVE``) that matches this
    finding's type, its account and, by the analyst's explicit scope, one IAM user (``AIDA…``)
    or one access key — never a role session, federated user or root, whose principal is a
    name someone chooses or the whole account (:func:`scope_value`,
    :func:`check_suppression_scope`).

Not legitimate (AWS: assume every credential is compromised), :func:`plan_remediation`, in order:
  1. contain the key, by its kind: a user's long-term key is deactivated (``UpdateAccessKey
     Inactive``, never deleted first); the user gets the ``AWSRevokeOlderSessions`` deny on tokens
     issued before now; a role session's role gets the same deny; a root key is a manual step;
  2. temporary credentials minted in the activity (GetSessionToken, GetFederationToken: the
     minting user gets the deny; AssumeRole*: the role gets it) — they outlive the deactivated key;
  3. the inventory of the suspect user (read only): other access keys, login profile, MFA
     devices, attached and inline policies, groups;
  4. undo what the activity created or changed, newest first — each call carrying the records it
     is justified by (:class:`Record`: the write it undoes, the create of what it acts on), which
     the runner confirms with CloudTrail's Event history before the call (users, keys, login profiles,
     policies, roles, groups, MFA devices) — an attach, a group
     membership or an inline policy only when the activity created the principal (or group, or
     managed policy) first: otherwise it may have been there before, a manual check; an MFA
     deactivation only on a user the activity created; a Lambda function or permission and a
     virtual MFA device (no creation date to check) are manual steps; what cannot be undone
     safely by an API call (a changed trust policy, a new policy version, a trail stopped, …:
     every other write the sensitive-actions catalogue knows) is a manual step naming its target;
  5. secrets and parameters the activity read, by name, each with its rotation step.

The package, each module importing only those above it:

    plan       Action and Plan; plan kinds, the verdicts each follows, the inventory reads
    archive    legitimate: archive, the suppression rule and its scope checks
    undo       one write of the activity → its undo steps, per kind of thing; when a step is
               manual (not checkable, a region that is not one, another account)
    created    what the activity created (time, unique ID) and the undo steps tied to it (checked
               principals, what may have been there before, renamed principals)
    evidence   what the activity created, changed and read: undo steps, manual steps, rotations
    remediate  not legitimate: the remediation plan, in the order above
"""

from torinvest.actions.archive import (
    check_suppression_scope,
    filter_description,
    filter_name,
    plan_archive,
    revoke_older_sessions_policy,
    scope_value,
    scope_words,
    suppression_criteria,
)
from torinvest.actions.evidence import failed_secret_reads, rotate_secrets, undo_persistence
from torinvest.actions.plan import (
    ABSENT_CODES,
    FILTER_NAME_RE,
    INVENTORY_OPERATIONS,
    PLAN_KINDS,
    PLAN_VERDICTS,
    REVOKE_POLICY_NAME,
    SCOPE_FIELDS,
    SUPPRESSION_SCOPES,
    Action,
    Plan,
    Record,
    plan_operations,
    record_field,
)
from torinvest.actions.remediate import inventory, minted_credentials, plan_remediation

__all__ = [
    "ABSENT_CODES",
    "FILTER_NAME_RE",
    "INVENTORY_OPERATIONS",
    "PLAN_KINDS",
    "PLAN_VERDICTS",
    "REVOKE_POLICY_NAME",
    "SCOPE_FIELDS",
    "SUPPRESSION_SCOPES",
    "Action",
    "Plan",
    "Record",
    "check_suppression_scope",
    "failed_secret_reads",
    "filter_description",
    "filter_name",
    "inventory",
    "minted_credentials",
    "plan_archive",
    "plan_operations",
    "plan_remediation",
    "record_field",
    "revoke_older_sessions_policy",
    "rotate_secrets",
    "scope_value",
    "scope_words",
    "suppression_criteria",
    "undo_persistence",
]
