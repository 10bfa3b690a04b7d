"""The verdict gate (:func:`require_verdict`: the ledger only, no AWS call) and whose
credentials a run would use (:func:`credentials_source`, :func:`credentials_hint`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import botocore.session
import pandas as pd
from botocore.exceptions import ProfileNotFound

from torinvest import commands
from torinvest.actions import PLAN_VERDICTS
from torinvest.aws import AwsConfig, arn_partition
from torinvest.commands import Access
from torinvest.errors import RefusedError
from torinvest.schema import utc_timestamp
from torinvest.verdict import (
    CHAIN_HINT,
    after_now,
    blocking_malformed,
    chain_refusal,
    could_not_look,
    default_ledger_path,
    duration,
    latest_decided_verdict,
    latest_verdict,
    read_ledger_chain,
    without_evidence,
)

log = logging.getLogger(__name__)


# verdict gate
# --------------------------------------------------------------------------------------------
def verdict_command(
    finding_id: str,
    status: str,
    ledger: str | Path | None = None,
    access: Access | None = None,
    *,
    evidence: bool = False,
) -> str:
    """The exact command that records ``status`` on ``finding_id`` (in ``ledger`` when given,
    over ``access``: the sources the refused run was given; ``evidence``: one that reads a
    source even when the run named none), shell-quoted
    (:func:`torinvest.commands.verdict_command`)."""
    return commands.verdict_command(
        finding_id,
        status,
        access=access,
        ledger=str(ledger) if ledger else None,
        evidence=evidence,
    )


def require_verdict(
    finding_id: str,
    kind: str,
    *,
    ledger: str | Path | None = None,
    access: Access | None = None,
) -> dict[str, Any]:
    """The decided verdict that allows ``--plan kind --execute`` on ``finding_id``; else raise
    :class:`RefusedError` with the command to record one. Reads the ledger only."""
    wanted = PLAN_VERDICTS[kind]
    path = Path(ledger).expanduser() if ledger else default_ledger_path()
    read = read_ledger_chain(path)
    lines, issues = read.lines, read.issues
    for issue in issues:
        log.warning("%s: %s", issue.source, issue.problem)
    records = [r for _, r in lines]
    bad = blocking_malformed(lines, finding_id)
    if bad is not None:
        n, record, problem = bad
        status = record.get("status")
        raise RefusedError(
            f"refused: the latest verdict record on {finding_id}, {path}:{n}, is malformed "
            f"({problem.split(':', 1)[0]}) and authorizes nothing; nothing was called",
            hint="record the verdict again: "
            + verdict_command(
                finding_id, status if status in wanted else wanted[0], ledger, access
            ),
        )
    decided = latest_decided_verdict(records, finding_id)
    if decided is not None and decided.get("status") in wanted:
        at = next((n for n, r in lines if r == decided), None)
        broken = chain_refusal(read.chain, at)
        if broken is not None:
            raise RefusedError(
                f"refused: --plan {kind} --execute does not follow the {decided.get('status')} "
                f"verdict on {finding_id}: {broken}; nothing was called",
                hint=CHAIN_HINT,
            )
        blind = blind_archive(decided, kind, finding_id, ledger, access)
        if blind is not None:
            raise RefusedError(f"refused: {blind}; nothing was called", hint=BLIND_HINT)
        return decided
    if decided is None:
        current = latest_verdict(records, finding_id)
        said = "it has only pending" if current is not None else "it has no verdict"
    else:
        said = (
            f"its latest decided verdict is {decided.get('status')} (by "
            f"{decided.get('analyst') or '?'} at {decided.get('recorded_at') or '?'})"
        )
    raise RefusedError(
        f"refused: --plan {kind} --execute follows a {' or '.join(wanted)} verdict on "
        f"{finding_id}; in the ledger {path}, {said}; nothing was called",
        hint="record the verdict first: "
        + verdict_command(finding_id, wanted[0], ledger, access)
        + (f" (or --status {wanted[1]})" if len(wanted) > 1 else ""),
    )


#: What to do when a legitimate verdict rests on a reading that could not look.
BLIND_HINT = (
    "investigate with credentials that can read the key's activity (those of the finding's "
    "account: --profile or --role-arn; or --logs with the trail's log files, --case with a case "
    "folder) and record the verdict again with that evidence (a verdict recorded without a "
    "source option carries none, and no archive follows it)"
)


def blind_archive(
    verdict: Mapping[str, Any],
    kind: str,
    finding_id: str,
    ledger: str | Path | None = None,
    access: Access | None = None,
) -> str | None:
    """Why an archive may not follow ``verdict``: the legitimate verdict was recorded with
    evidence that could not look at the key's activity (``evidence.reading``), which says
    nothing about whether the key was used — archiving would hide a finding nobody could read —,
    or without evidence (:func:`~torinvest.verdict.without_evidence`: no source read, no state
    of the finding stored); None otherwise (a remediation contains the key whatever was
    read, the plan built from the evidence read then)."""
    if kind != "archive":
        return None
    if without_evidence(verdict):
        return (
            f"the {verdict.get('status')} verdict on {finding_id} of "
            f"{verdict.get('analyst') or '?'} recorded at {verdict.get('recorded_at') or '?'} "
            "is a verdict without evidence (recorded with no source: no investigation ran with "
            "it, and it stores no state of the finding to tell later activity by); --plan "
            "archive --execute does not follow it (record it with its evidence first: "
            f"{verdict_command(finding_id, 'legitimate', ledger, access, evidence=True)}, or "
            "over the source it was read from: --regions REGION, --case DIR, --logs PATH)"
        )
    why = could_not_look(verdict)
    if why is None:
        return None
    return (
        f"the {verdict.get('status')} verdict on {finding_id} of "
        f"{verdict.get('analyst') or '?'} recorded at {verdict.get('recorded_at') or '?'} "
        f"rests on evidence that could not look at the key's activity ({why}); --plan archive "
        f"--execute does not follow it (re-record it: "
        f"{verdict_command(finding_id, 'legitimate', ledger, access)} with a source that can "
        "read it)"
    )


def unevidenced_remediation(
    verdict: Mapping[str, Any] | None,
    kind: str,
    finding_id: str,
    ledger: str | Path | None = None,
    access: Access | None = None,
) -> str | None:
    """What a remediation says, loudly and before anything, when the verdict it follows was
    recorded without evidence (:func:`~torinvest.verdict.without_evidence`); None otherwise
    (and for an archive, which refuses it: :func:`blind_archive`).

    The remediation goes ahead — a refusal would hold back the containment of a key that may
    be in an attacker's hands, and each change it makes is undone by a printed step (the key
    made active again, the deny policy removed), while an archive hides the finding from
    everyone after it —, but nothing in the ledger says what the decision rests on: the plan is
    built only from the activity read now, which the analyst must read before ``--execute``."""
    if kind != "remediate" or verdict is None or not without_evidence(verdict):
        return None
    return (
        f"VERDICT WITHOUT EVIDENCE: the {verdict.get('status')} verdict on {finding_id} of "
        f"{verdict.get('analyst') or '?'} recorded at {verdict.get('recorded_at') or '?'} was "
        "recorded with no source (no investigation ran with it: the ledger does not say what "
        "it rests on). The remediation follows it — containing a key that may be compromised "
        "is not held back, and each change has its undo step — but this plan rests only on the "
        "activity read now, above: read it before --execute, and record the verdict with its "
        "evidence so that the ledger says what it rests on: "
        + verdict_command(finding_id, str(verdict.get("status")), ledger, access, evidence=True)
    )


def verdict_gap(
    records: list[dict[str, Any]],
    finding_id: str,
    kind: str,
    ledger: str | Path | None = None,
    access: Access | None = None,
) -> str | None:
    """For a dry run: why ``--plan kind --execute`` would be refused by the verdict in
    ``records`` (the latest verdict on ``finding_id`` is not one the plan follows), with the
    command that records one; None when it would pass."""
    prior = latest_verdict(records, finding_id)
    wanted = PLAN_VERDICTS[kind]
    bad = blocking_malformed(list(enumerate(records, start=1)), finding_id)
    if bad is not None:
        return (
            f"the latest verdict record on {finding_id} is malformed "
            f"({bad[2].split(':', 1)[0]}; the ledger issue names its line): --execute would be "
            f"refused until it is recorded again "
            f"({verdict_command(finding_id, wanted[0], ledger, access)})"
        )
    if prior is not None and prior.get("status") in wanted:
        blind = blind_archive(prior, kind, finding_id, ledger, access)
        return None if blind is None else f"--execute would be refused: {blind}"
    said = (
        f"the verdict on {finding_id} is {prior.get('status')}"
        if prior
        else (f"no verdict is recorded on {finding_id}")
    )
    return (
        f"{said}: --execute needs a {' or '.join(wanted)} "
        f"verdict ({verdict_command(finding_id, wanted[0], ledger, access)})"
    )


def judged_another_key(verdict: Mapping[str, Any] | None, plan: Any) -> str | None:
    """Why ``plan`` may not follow ``verdict``: the verdict judged another access key than the
    one the plan acts on — the finding copy read now (a case folder's file, an export) was
    edited, or is another copy, since the verdict was recorded; the plan would contain (or
    hide) a key nobody judged. None when they agree, or when the verdict names no key (recorded
    without evidence)."""
    if verdict is None:
        return None
    judged = str(verdict.get("access_key_id") or "").strip()
    acting = str(getattr(plan, "access_key_id", None) or "").strip()
    if not judged or judged == acting:
        return None
    return (
        f"the {verdict.get('status')} verdict on {verdict.get('finding_id') or plan.finding_id} "
        f"of {verdict.get('analyst') or '?'} recorded at {verdict.get('recorded_at') or '?'} "
        f"judged access key {judged}, but the finding as read now names access key "
        f"{acting or '(none)'}: the copy of the finding read now (a case folder's file, an "
        "export) is not the one the verdict judged — edited, or another finding's — and the "
        f"--plan {plan.kind} would act on a key nobody judged"
    )


#: What to do when the finding read now names another key than the verdict judged.
ANOTHER_KEY_HINT = (
    "compare the finding file with GuardDuty's copy (torinvest findings --regions REGION) and "
    "with the evidence the verdict was read from; re-investigate the finding as GuardDuty has "
    "it and record the verdict again on that"
)


def finding_changes(
    verdict: Mapping[str, Any], now: Mapping[str, Any], *, clock: pd.Timestamp | None = None
) -> list[str]:
    """What changed in the finding since ``verdict`` judged it, each said with both values;
    ``now`` is the finding as read now (:func:`torinvest.findings.records.finding_facts`).

    A verdict that stored the finding's state (``finding_state``: updatedAt, count,
    eventLastSeen) is compared field by field; an older one (no state) by time: GuardDuty
    updated the finding after the verdict was recorded; a verdict that says it was recorded
    after this host's time now (``clock``, default now: a clock ahead, a hand-edited ledger)
    dates nothing, and that is said as a change. Empty: nothing newer than the verdict (or
    nothing to tell it by)."""
    judged = verdict.get("finding_state")
    changes: list[str] = []
    if isinstance(judged, Mapping) and any(judged.get(k) is not None for k in _STATE_SAID):
        for name, said in _STATE_SAID.items():
            before, after = judged.get(name), now.get(name)
            if before is None or after is None:
                continue
            was, now_is = (
                (_utc(before), _utc(after)) if name != "count" else (str(before), str(after))
            )
            if (was, now_is) == (None, None):  # neither is a time: compared as said
                was, now_is = str(before), str(after)
            if was != now_is:
                changes.append(f"{said} {before} → {after}")
        return changes
    recorded, updated = _utc(verdict.get("recorded_at")), _utc(now.get("updated_at"))
    ahead = _after_now(recorded, clock)
    if ahead is not None:
        changes.append(
            f"the verdict says it was recorded at {verdict.get('recorded_at')}, {ahead} after "
            "this host's time now (a clock ahead, or a ledger edited by hand): its time cannot "
            "tell whether GuardDuty updated the finding after it (it now says updatedAt "
            f"{now.get('updated_at') or '?'}, count {now.get('count') or '?'}, last seen "
            f"{now.get('last_seen') or '?'})"
        )
    elif recorded is not None and updated is not None and updated > recorded:
        changes.append(
            f"GuardDuty updated it at {now.get('updated_at')}, after the verdict (recorded at "
            f"{verdict.get('recorded_at')}); it now says count {now.get('count') or '?'}, last "
            f"seen {now.get('last_seen') or '?'}"
        )
    return changes


def _after_now(recorded: pd.Timestamp | None, clock: pd.Timestamp | None) -> str | None:
    """How far ``recorded`` is after ``clock`` (default now), beyond :data:`CLOCK_SLACK`
    (:func:`torinvest.verdict.after_now`)."""
    ahead = after_now(recorded, clock)
    return duration(ahead) if ahead is not None else None


#: The finding's state a verdict stores, as a change is said.
_STATE_SAID = {"count": "count", "last_seen": "last seen", "updated_at": "updatedAt"}


def _utc(value: Any) -> pd.Timestamp | None:
    try:
        return utc_timestamp(value)
    except (ValueError, TypeError):
        return None


def stale_verdict(
    verdict: Mapping[str, Any],
    now: Mapping[str, Any],
    ledger: str | Path | None = None,
    access: Access | None = None,
) -> RefusedError | None:
    """The refusal of an archive that follows ``verdict`` when the finding (``now``, as
    GuardDuty has it) changed since the verdict judged it: later activity was never reviewed.
    Its hint names the commands that re-investigate it and record the verdict again over
    ``access`` (the sources the refused run was given). None when nothing changed."""
    changes = finding_changes(verdict, now)
    if not changes:
        return None
    fid = str(now.get("id") or verdict.get("finding_id"))
    return RefusedError(
        f"refused: finding {fid} changed since the {verdict.get('status')} verdict of "
        f"{verdict.get('analyst') or '?'} recorded at {verdict.get('recorded_at') or '?'}: "
        + "; ".join(changes)
        + ": that activity was never reviewed, and archiving would hide it; nothing was changed",
        hint=f"re-investigate it ({commands.investigate_command(fid, access=access)}) and "
        "record the verdict again with the evidence ("
        + verdict_command(fid, "legitimate", ledger, access, evidence=True)
        + ")",
    )


# --------------------------------------------------------------------------------------------
# whose credentials
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Caller:
    """Who the credentials are (``sts:GetCallerIdentity``)."""

    account: str
    arn: str
    user_id: str


def credentials_source(config: AwsConfig | None = None) -> str:
    """Where boto3's chain takes the credentials from, said without calling AWS or running a
    credential process (profile, environment variables, SSO, a role to assume…)."""
    config = config or AwsConfig()
    env = os.environ
    if config.profile:
        base = _profile_source(config.profile)
    elif env.get("AWS_ACCESS_KEY_ID"):
        base = f"environment variables (AWS_ACCESS_KEY_ID {env['AWS_ACCESS_KEY_ID']})"
    elif env.get("AWS_PROFILE"):
        base = _profile_source(env["AWS_PROFILE"])
    elif env.get("AWS_WEB_IDENTITY_TOKEN_FILE"):
        base = f"a web identity token for role {env.get('AWS_ROLE_ARN') or '?'}"
    elif env.get("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") or env.get(
        "AWS_CONTAINER_CREDENTIALS_FULL_URI"
    ):
        base = "the container's credentials (ECS/EKS)"
    else:
        base = _profile_source("default", fallback="the instance role (EC2 metadata), if any")
    return f"role {config.role_arn}, assumed with {base}" if config.role_arn else base


def _profile_source(name: str, *, fallback: str | None = None) -> str:
    try:
        scoped = botocore.session.Session(profile=name).get_scoped_config()
    except ProfileNotFound:
        return fallback or f"profile {name} (not found in the AWS config files)"
    if not scoped and fallback:
        return fallback
    if scoped.get("sso_session") or scoped.get("sso_start_url"):
        how = "SSO"
    elif scoped.get("role_arn"):
        how = f"role {scoped['role_arn']} from {scoped.get('source_profile') or 'its source'}"
    elif scoped.get("credential_process"):
        how = "credential_process"
    elif scoped.get("aws_access_key_id"):
        how = f"keys {scoped['aws_access_key_id']}"
    else:
        how = "no credentials of its own"
    return f"profile {name} ({how})"


def credentials_hint(
    account: str | None, config: AwsConfig | None = None, region: str | None = None
) -> str:
    """How to run with credentials of ``account``: ``--profile`` or ``--role-arn`` (an ARN of
    ``region``'s partition: ``arn:aws-us-gov:`` in GovCloud, ``arn:aws-cn:`` in China)."""
    acct = account or "ACCOUNT"
    return (
        f"run with credentials of account {acct}: --profile PROFILE (a profile for that "
        f"account) or --role-arn arn:{arn_partition(region)}:iam::{acct}:role/ROLE (a role you "
        f"may assume there); this run used {credentials_source(config)}"
    )


# --------------------------------------------------------------------------------------------
