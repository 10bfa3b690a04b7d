"""The account guards: whose credentials a run has, and whether that account may carry the plan
out (the finding's account for a remediation; its GuardDuty administrator, or itself when
standalone, for an archive); whose credentials ``--execute`` would use (:func:`check_account`,
:func:`check_administrator`, :func:`whose_credentials`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from torinvest.actions import Action, Plan
from torinvest.aws import Aws, AwsConfig
from torinvest.aws.reach import configured_endpoint, same_endpoint
from torinvest.commands import Access
from torinvest.errors import AwsError, CouldNotCheckError, RefusedError
from torinvest.findings.shapes import api_finding_facts
from torinvest.runner.calls import invoke
from torinvest.runner.gate import Caller, credentials_hint, credentials_source, stale_verdict
from torinvest.runner.recorder import CallResult, Runner


def check_account(caller: Caller, plan: Plan, config: AwsConfig | None = None) -> None:
    """Raise :class:`RefusedError` unless ``caller`` is in the finding's account (remediation)."""
    if not plan.account_id:
        raise RefusedError(
            f"refused: finding {plan.finding_id} does not name its account, so the account of "
            f"these credentials ({caller.account}) cannot be checked; nothing was changed",
            hint="load the finding from GuardDuty or a complete export",
        )
    if caller.account != plan.account_id:
        raise RefusedError(
            f"refused: finding {plan.finding_id} is in account {plan.account_id}, but these "
            f"credentials ({caller.arn}) are account {caller.account}; nothing was changed",
            hint=credentials_hint(plan.account_id, config, plan.region),
        )


def check_administrator(
    runner: Runner, plan: Plan, config: AwsConfig | None = None
) -> tuple[str, dict[str, Any]]:
    """The caller's GuardDuty detector in the finding's region when the caller may archive the
    finding (its own standalone/administrator account, or its administrator), and the finding
    as that detector holds it (GetFindings: :func:`~torinvest.findings.records.finding_facts`);
    else raise :class:`RefusedError` saying which account can, or that the detector does not
    hold the finding. Read-only GuardDuty calls, each recorded."""
    caller = runner.caller
    assert caller is not None
    region = plan.region

    def read(op: str, params: Mapping[str, Any], why: str) -> CallResult:
        return runner.call(
            Action("guardduty", op, dict(params), why=why, region=region, changes_aws=False),
            verb="CHECK",
        )

    def stop(result: CallResult) -> RefusedError:
        said = result.error.message if result.error else "no answer"
        return CouldNotCheckError(
            f"refused: could not check that account {caller.account} may archive "
            f"{plan.finding_id}: {said}; nothing was changed",
            hint=(result.error.hint if result.error else None) or "re-run when GuardDuty answers",
        )

    listed = read("ListDetectors", {}, "the caller's GuardDuty detector")
    if listed.status != "read":
        raise stop(listed)
    detectors = (listed.response or {}).get("DetectorIds") or []
    if not detectors:
        raise RefusedError(
            f"refused: account {caller.account} has no GuardDuty detector in {region}, so it "
            f"cannot archive {plan.finding_id}; nothing was changed",
            hint=credentials_hint(plan.account_id, config, plan.region)
            + " (the finding's account or its GuardDuty administrator)",
        )
    detector = str(detectors[0])
    admin = read("GetAdministratorAccount", {"DetectorId": detector}, "is it a member account?")
    if admin.status != "read":
        raise stop(admin)
    info = (admin.response or {}).get("Administrator") or {}
    if info.get("AccountId") and info.get("RelationshipStatus") == "Enabled":
        admin_id = str(info["AccountId"])
        raise RefusedError(
            f"refused: account {caller.account} is a GuardDuty member of administrator account "
            f"{admin_id}: only {admin_id} can archive findings or create suppression rules; "
            "nothing was changed",
            hint=credentials_hint(admin_id, config, plan.region),
        )
    seen = read(
        "GetFindings",
        {"DetectorId": detector, "FindingIds": [plan.finding_id]},
        f"does detector {detector} hold finding {plan.finding_id} as the plan has it?",
    )
    if seen.status != "read":
        raise stop(seen)
    runner.finding_reads[(region, detector, (plan.finding_id,))] = seen.response or {}
    found = [
        f
        for f in (seen.response or {}).get("Findings") or []
        if isinstance(f, Mapping) and f.get("Id") == plan.finding_id
    ]
    if found:
        return detector, api_finding_facts(found[0])
    if caller.account == plan.account_id:
        raise RefusedError(
            f"refused: detector {detector} in region {region} does not hold finding "
            f"{plan.finding_id} (GetFindings returned nothing for it), so archiving it there would "
            "change nothing; nothing was changed",
            hint=f"the plan's copy of the finding says region {region} and account "
            f"{plan.account_id}: find where GuardDuty holds it (torinvest findings --regions "
            "REGION) and re-run there, without --case or with a case copy that says so",
        )
    raise RefusedError(
        f"refused: finding {plan.finding_id} is in account {plan.account_id}; these credentials "
        f"({caller.arn}) are account {caller.account}, which is neither that account nor its "
        f"GuardDuty administrator (its detector in {region} does not hold the finding); nothing "
        "was changed",
        hint=credentials_hint(plan.account_id, config, plan.region)
        + " — or of its GuardDuty administrator account",
    )


#: How a finding's identity fields are named in a refusal.
_IDENTITY_SAID = {
    "type": "type",
    "account_id": "account",
    "region": "region",
    "principal_id": "principal",
    "access_key_id": "access key",
}


def check_same_finding(plan: Plan, held: Mapping[str, Any], detector: str) -> None:
    """Raise :class:`RefusedError` when GuardDuty's copy of the finding (``held``, its
    GetFindings answer in ``detector``) names another type, account, region, principal or key
    than the copy the plan was built from (a case file, an export): the archive and its rule
    would act on what nobody judged. Both values are named."""
    built = {
        **{k: v for k, v in (("account_id", plan.account_id), ("region", plan.region)) if v},
        **({"access_key_id": plan.access_key_id} if plan.access_key_id else {}),
        **{k: v for k, v in plan.finding.items() if v is not None},
    }
    differ = [
        f"{said}: the plan's copy says {built[name]}, GuardDuty says {held.get(name) or 'none'}"
        for name, said in _IDENTITY_SAID.items()
        if built.get(name) is not None and str(held.get(name) or "") != str(built[name])
    ]
    if differ:
        raise RefusedError(
            f"refused: GuardDuty's finding {plan.finding_id} (detector {detector}) is not the one "
            "the plan was built from — " + "; ".join(differ) + "; nothing was changed",
            hint="the copy read (a case folder or an export) does not match GuardDuty: "
            "investigate the finding as GuardDuty has it (without --case) and record the "
            "verdict on that",
        )


def _guard(
    runner: Runner,
    plan: Plan,
    config: AwsConfig | None,
    verdict: Mapping[str, Any] | None = None,
    ledger: str | Path | None = None,
    access: Access | None = None,
) -> Plan:
    """Run the account guard for ``plan``; return the plan to carry out (an archive plan is
    re-made with the caller's detector). An archive also needs GuardDuty's copy of the finding
    to be the one the plan was built from (:func:`check_same_finding`) and — given the
    ``verdict`` it follows — not changed since that verdict (:func:`stale_verdict`, whose
    commands name ``access``: the sources the run was given)."""
    caller = runner.identify()
    if plan.kind == "archive":
        detector, held = check_administrator(runner, plan, config)
        check_same_finding(plan, held, detector)
        stale = stale_verdict(verdict, held, ledger, access) if verdict is not None else None
        if stale is not None:
            raise stale
        return _with_detector(plan, detector)
    check_account(caller, plan, config)
    return plan


def _with_detector(plan: Plan, detector: str) -> Plan:
    actions = [
        replace(a, params={**a.params, "DetectorId": detector}) if "DetectorId" in a.params else a
        for a in plan.actions
    ]
    return replace(plan, actions=actions, notes=list(plan.notes))


def _would_use(plan: Plan, config: AwsConfig | None) -> str:
    where = (
        f"account {plan.account_id} (the finding's)"
        if plan.kind == "remediate"
        else f"the GuardDuty administrator account of {plan.account_id} (or {plan.account_id} "
        "itself when standalone)"
    )
    return (
        f"--execute would run with {credentials_source(config)}; it checks first "
        f"(sts:GetCallerIdentity) that they are {where} and refuses otherwise"
    )


def whose_credentials(plan: Plan, aws: Aws | None, config: AwsConfig | None = None) -> str:
    """For the notebook: whose credentials ``--execute`` would use and whether they fit the plan.

    With ``aws`` (an online investigation), asks STS who they are (read only); otherwise says
    where the credentials would come from, without calling AWS.
    """
    if aws is None:
        return _would_use(plan, config)
    try:
        ident = invoke(
            aws,
            Action("sts", "GetCallerIdentity", {}, why="whose credentials", changes_aws=False),
        )
    except AwsError as e:
        return f"{_would_use(plan, aws.config)}; could not ask STS who they are: {e}"
    account, arn = str(ident["Account"]), str(ident["Arn"])
    if plan.kind == "remediate":
        fits = (
            "the finding's account: --execute may run"
            if account == plan.account_id
            else f"not the finding's account {plan.account_id}: --execute would be refused "
            f"({credentials_hint(plan.account_id, aws.config, plan.region)})"
        )
    else:
        fits = (
            "the finding's account: --execute may archive if it is standalone or the "
            "GuardDuty administrator (checked at run time)"
            if account == plan.account_id
            else f"not the finding's account {plan.account_id}: --execute archives only if "
            "this is its GuardDuty administrator (checked at run time)"
        )
    return f"--execute would run as {arn} (account {account}, {credentials_source(aws.config)}): {fits}"


def unvouched_endpoints(aws: Aws, plan: Plan) -> str | None:
    """Why the account check cannot vouch for where ``plan``'s calls go: an endpoint override
    (``AWS_ENDPOINT_URL_IAM``, a profile's ``services`` section…) sends a service's calls to
    another endpoint than the one ``sts:GetCallerIdentity`` asks. STS's answer says whose
    credentials reach *its* endpoint; calls sent elsewhere may reach something that is not AWS
    (a local emulator left configured, a proxy) and be answered "done" while nothing changed —
    or reach whatever that endpoint fronts. None when every service of the plan goes where STS
    goes (no override, or the same one: ``AWS_ENDPOINT_URL``, a VPC endpoint for both…);
    GuardDuty's calls are vouched for by the archive's read of the finding there."""
    if aws.config.endpoint_url:  # one endpoint for every client, STS included
        return None
    session = aws.session._session
    sts = configured_endpoint(session, "sts")
    # GuardDuty vouches for its own endpoint: an archive first reads the finding in the
    # detector it changes and refuses unless it holds the plan's finding (its account,
    # principal and key: check_same_finding) — something else answering there would not
    services = sorted({a.service for a in plan.actions if not a.manual} - {"sts", "guardduty"})
    differ = []
    for service in services:
        there = configured_endpoint(session, service)
        if there is None and sts is None:
            continue
        if there is not None and sts is not None and same_endpoint(there.url, sts.url):
            continue
        where = f"{there.shown} ({there.origin})" if there else "AWS's own endpoint"
        differ.append(f"{service} calls go to {where}")
    if not differ:
        return None
    asked = f"{sts.shown} ({sts.origin})" if sts else "AWS's own STS endpoint"
    return (
        f"the account check asks STS at {asked}, but the plan's " + "; ".join(differ) + ": "
        "STS's answer says whose credentials reach its own endpoint only, so it cannot vouch "
        "for the account (or that it is AWS at all) the calls sent elsewhere would reach"
    )


#: What to do when an endpoint override takes a service's calls where STS is not asked.
UNVOUCHED_HINT = (
    "unset the override (AWS_ENDPOINT_URL_<SERVICE>, or the profile's services section), or "
    "give STS the same endpoint (AWS_ENDPOINT_URL_STS: a VPC endpoint for both, say), then "
    "re-run; for FIPS endpoints set AWS_USE_FIPS_ENDPOINT=true instead of an override"
)
