"""Carrying out a plan (:mod:`torinvest.actions`): its guards, then every call printed, made and
recorded in the ledger.

    verdict gate  →  who am I (sts:GetCallerIdentity)  →  archive: the GuardDuty administrator
        →  each action (a probe first where one can tell "already done")  →  summary

* **Verdict gate** (:func:`require_verdict`): ``--execute`` needs the finding's latest *decided*
  verdict to be one the plan follows (remediate: malicious or inconclusive; archive: legitimate).
  It reads the ledger only — no AWS call — and refuses with the exact ``torinvest verdict``
  command to record one. A later ``pending`` never hides an earlier decision.
* **Account guard**: before anything else that talks to AWS, ``sts:GetCallerIdentity`` with the
  same credentials. A remediation runs only in the finding's account; an archive only in the
  finding's GuardDuty administrator account (or the finding's own account when it is standalone
  or the administrator): a member account is told its administrator. A refusal names both
  accounts and the way to the right credentials (``--profile``, ``--role-arn``); nothing else is
  called.
* **Every call recorded**: printed before it runs (``CHECK`` for guard and probe reads, ``READ``
  for the inventory, ``EXECUTE`` for changes), a ``start`` record in the ledger, the call, an
  ``outcome`` record (``done``/``read`` with the relevant part of the answer, ``already-done``, or
  ``failed`` with the error code and message), and one line with the outcome. An answer that is
  not an AWS response (an HTML page, garbage, a 200 without a request ID or without the fields the
  API promises, a dropped connection) is a failure like any other: one line, no traceback, and
  the ledger is complete. The next calls still run.
* **Re-running is safe**: a change whose probe shows it done (key already inactive, deny already
  in place, finding already archived, rule already there), and an undo call answered "no such
  entity", is reported ``already done``. A delete of something the activity created is left alone
  when a same-named resource was created at another time.

Ledger records (JSON lines, :func:`torinvest.verdict.append`), all with ``kind: "action"``,
``run_id`` and ``seq`` (one per call; a start and its outcome share them)::

    {"phase": "start", "finding_id", "plan", "caller_account", "action": {...}, "at"}
    {"phase": "outcome", "status": "done|read|already-done|failed", "response": {...},
     "error": {"code", "message"}, "note", "at"}
    {"phase": "skipped", "status": "already-done|left-alone", "note", "action", "at"}   # no call made
    {"phase": "refused", "reason", "at"}                                              # a guard said no
"""

from __future__ import annotations

import logging
import os
import shlex
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import botocore.session
import orjson
import pandas as pd
from botocore import xform_name
from botocore.exceptions import ProfileNotFound

from torinvest.actions import (
    ABSENT_CODES,
    PLAN_VERDICTS,
    REVOKE_POLICY_NAME,
    Action,
    Plan,
)
from torinvest.aws import AWS_CALL_ERRORS, Aws, AwsConfig, translate_error
from torinvest.errors import AwsError, EndpointError, InputError, RefusedError, TorinvestError
from torinvest.verdict import append as ledger_append
from torinvest.verdict import (
    default_ledger_path,
    latest_decided_verdict,
    latest_verdict,
    read_ledger,
)

log = logging.getLogger(__name__)

#: How far a resource's CreateDate may be from the activity's create call and still be the same.
SAME_RESOURCE_TOLERANCE = pd.Timedelta(minutes=5)
#: The fields each read promises in its answer (an answer without them is not an AWS answer).
PROMISED: dict[str, tuple[str, ...]] = {
    "GetCallerIdentity": ("Account", "Arn"),
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
    "ListDetectors": ("DetectorIds",),
    "GetFindings": ("Findings",),
    "ListFilters": ("FilterNames",),
    "CreateFilter": ("Name",),
}
#: List calls that page: operation → (request token, response token, truncation flag or None).
_PAGED: dict[str, tuple[str, str, str | None]] = {
    "ListAccessKeys": ("Marker", "Marker", "IsTruncated"),
    "ListMFADevices": ("Marker", "Marker", "IsTruncated"),
    "ListAttachedUserPolicies": ("Marker", "Marker", "IsTruncated"),
    "ListUserPolicies": ("Marker", "Marker", "IsTruncated"),
    "ListGroupsForUser": ("Marker", "Marker", "IsTruncated"),
    "ListDetectors": ("NextToken", "NextToken", None),
    "ListFilters": ("NextToken", "NextToken", None),
}
_MAX_PAGES = 100
#: Exceptions botocore's parsers raise (from inside botocore) on an answer that is not the AWS
#: response they expect — e.g. a well-formed HTML page with status 200 for IAM/STS.
_PARSER_SLIPS = (KeyError, IndexError, TypeError, AttributeError)


# --------------------------------------------------------------------------------------------
# verdict gate
# --------------------------------------------------------------------------------------------
def verdict_command(finding_id: str, status: str, ledger: str | Path | None = None) -> str:
    """The exact command that records ``status`` on ``finding_id`` (in ``ledger`` when given)."""
    cmd = (
        f"torinvest verdict {finding_id} --status {status} --analyst NAME "
        "--rationale 'WHY (the evidence)'"
    )
    return cmd + (f" --ledger {shlex.quote(str(ledger))}" if ledger else "")


def require_verdict(
    finding_id: str, kind: str, *, ledger: str | Path | None = None
) -> dict[str, Any]:
    """The decided verdict that allows ``--plan kind --execute`` on ``finding_id``; else raise
    :class:`RefusedError` with the command to record one. Reads the ledger only."""
    wanted = PLAN_VERDICTS[kind]
    path = Path(ledger).expanduser() if ledger else default_ledger_path()
    records, issues = read_ledger(path)
    for issue in issues:
        log.warning("%s: %s", issue.source, issue.problem)
    decided = latest_decided_verdict(records, finding_id)
    if decided is not None and decided.get("status") in wanted:
        return decided
    if decided is None:
        current = latest_verdict(records, finding_id)
        said = "only pending" if current is not None else "no verdict"
    else:
        said = (
            f"its latest decided verdict is {decided.get('status')} (by "
            f"{decided.get('analyst') or '?'} at {decided.get('recorded_at') or '?'})"
        )
    raise RefusedError(
        f"refused: --plan {kind} --execute follows a {' or '.join(wanted)} verdict on "
        f"{finding_id}, and the ledger {path} has {said}; nothing was called",
        hint="record the verdict first: "
        + verdict_command(finding_id, wanted[0], ledger)
        + (f" (or --status {wanted[1]})" if len(wanted) > 1 else ""),
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


def credentials_hint(account: str | None, config: AwsConfig | None = None) -> str:
    """How to run with credentials of ``account``: ``--profile`` or ``--role-arn``."""
    acct = account or "ACCOUNT"
    return (
        f"run with credentials of account {acct}: --profile PROFILE (a profile for that "
        f"account) or --role-arn arn:aws:iam::{acct}:role/ROLE (a role you may assume there); "
        f"this run used {credentials_source(config)}"
    )


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


def invoke(aws: Aws, action: Action) -> dict[str, Any]:
    """Make one call (every page of a paged list) and return the answer without
    ``ResponseMetadata`` but with its ``RequestId``; raise :class:`AwsError` otherwise.

    An answer that is not an AWS response raises :class:`EndpointError` (code
    ``UnparsableResponse``): botocore's parser failing (ResponseParserError, or a KeyError inside
    botocore for a 200 HTML page), a 200 without a request ID, a read without the fields the API
    promises (:data:`PROMISED`).
    """
    params = dict(action.params)
    merged: dict[str, Any] = {}
    request_ids: list[str] = []
    paging = _PAGED.get(action.operation)
    for _ in range(_MAX_PAGES):
        try:
            client = aws.client(action.service, action.region)
            method = getattr(client, xform_name(action.operation))
            response = method(**params)
        except AWS_CALL_ERRORS as e:
            err = translate_error(
                e, service=action.service, region=action.region, operation=action.operation
            )
            err.code = err.code or type(e).__name__  # e.g. ConnectionClosedError
            raise err from e
        except _PARSER_SLIPS as e:  # raised inside botocore's parser: not an AWS answer
            raise _not_aws(
                action, f"the answer is not an AWS response (botocore: {type(e).__name__} {e})"
            ) from e
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
        token = response.get(resp_token)
        more = bool(response.get(flag)) if flag else bool(token)
        if not (more and token):
            break
        params[req_token] = token
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


def describe_answer(
    action: Action, response: Mapping[str, Any] | None, suspect_key: str | None = None
) -> str | None:
    """One sentence a responder reads at once ("benjamin has another active key AKIA…")."""
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
        serials = [str(d.get("SerialNumber")) for d in response.get("MFADevices") or []]
        return (
            f"{user} has {len(serials)} MFA device(s): {', '.join(serials)}"
            if serials
            else f"{user} has no MFA device"
        )
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
# probes: is a change already done?
# --------------------------------------------------------------------------------------------
Check = Callable[[Mapping[str, Any] | None], tuple[str, str] | None]


def _probe(action: Action) -> tuple[Action, Check] | None:
    """A read that tells whether ``action`` is already done, and how to read its answer: the
    check returns ``("already-done" | "left-alone", why)`` or None (go ahead). A None answer
    means the probe found nothing ("no such entity")."""
    p = action.params
    op = action.operation

    def read(operation: str, params: Mapping[str, Any], why: str) -> Action:
        return Action(
            action.service,
            operation,
            dict(params),
            why=why,
            region=action.region,
            changes_aws=False,
            targets=action.targets,
        )

    if op == "UpdateAccessKey" and p.get("Status") == "Inactive":
        user, key = p["UserName"], p["AccessKeyId"]

        def key_check(resp: Mapping[str, Any] | None) -> tuple[str, str] | None:
            keys = {k.get("AccessKeyId"): k for k in (resp or {}).get("AccessKeyMetadata") or []}
            if resp is None or key not in keys:
                return "already-done", f"key {key} of {user} no longer exists"
            if keys[key].get("Status") == "Inactive":
                return "already-done", f"key {key} of {user} is already inactive"
            return None

        return read("ListAccessKeys", {"UserName": user}, f"is {key} already inactive?"), key_check
    if op in ("PutUserPolicy", "PutRolePolicy") and p.get("PolicyName") == REVOKE_POLICY_NAME:
        who = {k: v for k, v in p.items() if k in ("UserName", "RoleName")}
        name = next(iter(who.values()))

        def revoke_check(resp: Mapping[str, Any] | None) -> tuple[str, str] | None:
            stamp = _token_issue_time((resp or {}).get("PolicyDocument"))
            if stamp:
                return (
                    "already-done",
                    f"{REVOKE_POLICY_NAME} is already on {name} (denies tokens issued before "
                    f"{stamp})",
                )
            return None

        get = "GetUserPolicy" if op == "PutUserPolicy" else "GetRolePolicy"
        return (
            read(get, {**who, "PolicyName": REVOKE_POLICY_NAME}, f"is the deny on {name} there?"),
            revoke_check,
        )
    if op == "ArchiveFindings":
        ids = set(p["FindingIds"])

        def archived(resp: Mapping[str, Any] | None) -> tuple[str, str] | None:
            found = {
                f.get("Id"): f for f in (resp or {}).get("Findings") or [] if isinstance(f, dict)
            }
            if (
                ids
                and set(found) >= ids
                and all((found[i].get("Service") or {}).get("Archived") for i in ids)
            ):
                return "already-done", f"finding {', '.join(sorted(ids))} is already archived"
            return None

        return read("GetFindings", p, "is the finding already archived?"), archived
    if op == "CreateFilter":
        name = p["Name"]

        def exists(resp: Mapping[str, Any] | None) -> tuple[str, str] | None:
            if name in ((resp or {}).get("FilterNames") or []):
                return "already-done", f"suppression rule {name} already exists"
            return None

        return (
            read("ListFilters", {"DetectorId": p["DetectorId"]}, f"does rule {name} exist?"),
            exists,
        )
    if op in ("DeleteUser", "DeleteRole") and action.created_at:
        kind = "User" if op == "DeleteUser" else "Role"
        name = p[f"{kind}Name"]
        made = pd.Timestamp(action.created_at)

        def same(resp: Mapping[str, Any] | None) -> tuple[str, str] | None:
            if resp is None:
                return "already-done", f"{kind.lower()} {name} no longer exists"
            created = (resp.get(kind) or {}).get("CreateDate")
            if created is None:
                return None
            when = pd.Timestamp(created)
            when = when.tz_localize("UTC") if when.tzinfo is None else when.tz_convert("UTC")
            if abs(when - made) > SAME_RESOURCE_TOLERANCE:
                return (
                    "left-alone",
                    f"{kind.lower()} {name} was created at {when:%Y-%m-%d %H:%M:%S}Z, not by the "
                    f"activity's Create{kind} at {made:%Y-%m-%d %H:%M:%S}Z: left alone, check "
                    "it by hand",
                )
            return None

        return read(f"Get{kind}", {f"{kind}Name": name}, f"is {name} the one the actor made?"), same
    return None


def _token_issue_time(document: Any) -> str | None:
    if isinstance(document, str):
        try:
            document = orjson.loads(document)
        except orjson.JSONDecodeError:
            return None
    if not isinstance(document, Mapping):
        return None
    statements = document.get("Statement")
    statements = statements if isinstance(statements, list) else [statements]
    for st in statements:
        if not isinstance(st, Mapping) or st.get("Effect") != "Deny":
            continue
        cond = (st.get("Condition") or {}).get("DateLessThan") or {}
        if isinstance(cond, Mapping) and cond.get("aws:TokenIssueTime"):
            return str(cond["aws:TokenIssueTime"])
    return None


# --------------------------------------------------------------------------------------------
# the run
# --------------------------------------------------------------------------------------------
@dataclass(slots=True)
class CallResult:
    """What became of one action.

    ``status``: ``done`` / ``read`` (a call answered), ``already-done``, ``left-alone``,
    ``failed`` (``error`` says why), ``dry-run``, ``not-run`` (a read skipped), ``manual``.
    ``note`` is the one-line reading of the answer (inventory) or why it was skipped.
    """

    action: Action
    status: str
    response: dict[str, Any] | None = None
    error: AwsError | None = None
    note: str | None = None

    @property
    def code(self) -> str | None:
        return self.error.code if self.error is not None else None


@dataclass(slots=True)
class RunReport:
    """A plan's run: who ran it, each action's result, and what the reads found."""

    plan: Plan
    execute: bool
    run_id: str
    caller: Caller | None = None
    results: list[CallResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    inventory: list[str] = field(default_factory=list)

    def _of(self, *statuses: str, changes: bool | None = None) -> list[CallResult]:
        return [
            r
            for r in self.results
            if r.status in statuses and (changes is None or r.action.changes_aws == changes)
        ]

    @property
    def done(self) -> list[CallResult]:
        return self._of("done")

    @property
    def failed(self) -> list[CallResult]:
        """Changes that failed (a failed read is in :attr:`read_failures`)."""
        return self._of("failed", changes=True)

    @property
    def read_failures(self) -> list[CallResult]:
        return self._of("failed", changes=False)

    @property
    def already(self) -> list[CallResult]:
        return self._of("already-done")

    @property
    def left_alone(self) -> list[CallResult]:
        return self._of("left-alone")

    def summary_lines(self) -> list[str]:
        """The final summary: counts, then every inventory answer, then what is left to do."""
        plan = self.plan
        who = f" as {self.caller.arn} (account {self.caller.account})" if self.caller else ""
        if self.execute:
            head = (
                f"summary of run {self.run_id}{who}: {len(self.done)} change(s) done, "
                f"{len(self.already)} already done, {len(self.failed)} failed"
                + (f", {len(self.left_alone)} left alone" if self.left_alone else "")
                + f"; {len(self._of('read', changes=False))} read(s)"
                + (f", {len(self.read_failures)} read(s) failed" if self.read_failures else "")
                + f"; {len(plan.manual)} manual step(s)"
            )
        else:
            head = (
                f"dry run{who}: {len(plan.changes)} call(s) that change AWS were not made; "
                "re-run with --execute"
            )
        lines = [head]
        lines += [f"  {line}" for line in self.inventory]
        for r in self.read_failures:
            said = r.error.message if r.error else "?"
            lines.append(f"  could not look: {r.action.operation} {_targets(r.action)}: {said}")
        for r in self.failed:
            said = r.error.message if r.error else "?"
            lines.append(f"  failed: {r.action.operation} {_targets(r.action)}: {said}")
        for r in self._of("done", "already-done", "dry-run"):
            minted = [t for t in r.action.targets if t.startswith("ASIA")]
            if r.action.params.get("PolicyName") == REVOKE_POLICY_NAME and minted:
                whose = r.action.targets[0]
                said = "revoked" if r.status != "dry-run" else "to revoke"
                lines.append(
                    f"  {said}: {', '.join(minted)} (the deny on {whose}'s tokens issued before "
                    "the run)"
                )
        for r in self.left_alone:
            lines.append(f"  left alone: {r.note}")
        for a in plan.manual:
            lines.append(f"  manual: {a.manual}")
        return lines


def _targets(action: Action) -> str:
    return " ".join(action.targets) if action.targets else ""


class Runner:
    """Makes calls for one run: prints each before it runs, ledgers its start and its outcome.

    ``echo`` receives every line (the CLI prints them through ``term_safe``); ``context`` is
    added to every ledger record (finding_id, access_key_id, plan).
    """

    def __init__(
        self,
        aws: Aws,
        *,
        ledger: str | Path | None = None,
        echo: Callable[[str], None] = print,
        context: Mapping[str, Any] | None = None,
        run_id: str | None = None,
    ) -> None:
        self.aws = aws
        self.ledger = Path(ledger).expanduser() if ledger else default_ledger_path()
        self.echo = echo
        self.context = dict(context or {})
        self.run_id = run_id or uuid.uuid4().hex[:12]
        self.seq = 0
        self.caller: Caller | None = None

    # -- ledger
    def _record(self, record: Mapping[str, Any]) -> None:
        entry = {
            "kind": "action",
            "run_id": self.run_id,
            **self.context,
            "caller_account": self.caller.account if self.caller else None,
            **record,
            "at": pd.Timestamp.now(tz="UTC").isoformat().replace("+00:00", "Z"),
        }
        try:
            ledger_append(self.ledger, _jsonable(entry))
        except OSError as e:
            raise InputError(
                f"cannot write the ledger {self.ledger}: {e.strerror or e}",
                hint="every call is recorded before it is made: fix the ledger (or pass "
                "--ledger FILE) and re-run; re-running is safe",
            ) from e

    def refused(self, error: RefusedError) -> None:
        """Record a guard's refusal (best effort: the refusal stands even if this fails)."""
        try:
            self._record({"phase": "refused", "reason": error.message, "hint": error.hint})
        except InputError as e:
            log.warning("%s", e)

    def skipped(self, action: Action, status: str, note: str) -> CallResult:
        self._record(
            {"phase": "skipped", "status": status, "note": note, "action": action.to_dict()}
        )
        label = "already done" if status == "already-done" else "LEFT ALONE"
        self.echo(f"  {label}: {note}")
        return CallResult(action, status, note=note)

    # -- one call
    def call(
        self,
        action: Action,
        *,
        verb: str,
        suspect_key: str | None = None,
        probe: bool = False,
    ) -> CallResult:
        """Print, ledger, call, ledger, print. Never raises for an AWS answer (an error is a
        ``failed`` result); raises InputError only when the ledger cannot be written.

        ``probe``: a read that checks whether a change is done; "no such entity" is its answer
        (a ``read`` with no response), and its answer is not an inventory sentence."""
        self.seq += 1
        seq = self.seq
        self.echo(f"{verb:<8} {action.cli()}  # {action.why}")
        self._record({"phase": "start", "seq": seq, "action": action.to_dict()})
        if action.changes_aws:
            log.info("executing %s %s", action.name, dict(action.params))
        try:
            response = invoke(self.aws, action)
        except AwsError as err:
            return self._failed(action, seq, err, probe=probe)
        status = "done" if action.changes_aws else "read"
        note = None if probe else describe_answer(action, response, suspect_key)
        self._record(
            {
                "phase": "outcome",
                "seq": seq,
                "status": status,
                "response": response,
                "note": note,
            }
        )
        self.echo(f"  {'answer' if note else status}: {note or action.operation}")
        return CallResult(action, status, response=response, note=note)

    def _failed(self, action: Action, seq: int, err: AwsError, *, probe: bool) -> CallResult:
        absent = err.code in ABSENT_CODES
        if absent and (probe or action.operation == "GetLoginProfile"):  # an answer: none
            note = f"none ({err.message})" if probe else describe_answer(action, None)
            self._record(
                {"phase": "outcome", "seq": seq, "status": "read", "response": None, "note": note}
            )
            self.echo(f"  answer: {note}")
            return CallResult(action, "read", note=note)
        if absent and action.absent_ok:
            note = f"{action.operation} {_targets(action)}: nothing to remove ({err.message})"
            self._record(
                {
                    "phase": "outcome",
                    "seq": seq,
                    "status": "already-done",
                    "error": {"code": err.code, "message": err.message},
                    "note": note,
                }
            )
            self.echo(f"  already done: {note}")
            return CallResult(action, "already-done", error=err, note=note)
        if err.code == "DeleteConflict":
            err = AwsError(
                err.message,
                hint="it still has something the activity did not show (keys, policies, groups, "
                "MFA devices, signing certificates, SSH keys, instance profiles): remove those by "
                "hand, then re-run",
                service=err.service,
                region=err.region,
                operation=err.operation,
                code=err.code,
            )
        self._record(
            {
                "phase": "outcome",
                "seq": seq,
                "status": "failed",
                "error": {"code": err.code, "message": err.message, "hint": err.hint},
            }
        )
        self.echo(f"  FAILED: {err}")
        return CallResult(action, "failed", error=err)

    # -- guards
    def identify(self) -> Caller:
        """``sts:GetCallerIdentity`` with the run's credentials (printed and ledgered)."""
        action = Action(
            "sts",
            "GetCallerIdentity",
            {},
            why="whose credentials are these? (before anything that changes AWS)",
            changes_aws=False,
        )
        result = self.call(action, verb="CHECK")
        if result.status != "read" or result.response is None:
            said = result.error.message if result.error else "no answer"
            raise RefusedError(
                f"refused: could not tell whose credentials these are: {said}; "
                "nothing else was called",
                hint=(result.error.hint if result.error and result.error.hint else "")
                or "check the credentials and the network, then re-run",
            )
        resp = result.response
        self.caller = Caller(
            account=str(resp["Account"]), arn=str(resp["Arn"]), user_id=str(resp.get("UserId"))
        )
        return self.caller


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
            hint=credentials_hint(plan.account_id, config),
        )


def check_administrator(runner: Runner, plan: Plan, config: AwsConfig | None = None) -> str:
    """The caller's GuardDuty detector in the finding's region when the caller may archive the
    finding (its own standalone/administrator account, or its administrator); else raise
    :class:`RefusedError` saying which account can. Read-only GuardDuty calls, each recorded."""
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
        return RefusedError(
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
            hint=credentials_hint(plan.account_id, config)
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
            hint=credentials_hint(admin_id, config),
        )
    if caller.account == plan.account_id:
        return detector
    seen = read(
        "GetFindings",
        {"DetectorId": detector, "FindingIds": [plan.finding_id]},
        f"is account {caller.account} the GuardDuty administrator of {plan.account_id}?",
    )
    if seen.status != "read":
        raise stop(seen)
    found = [
        f
        for f in (seen.response or {}).get("Findings") or []
        if isinstance(f, dict) and f.get("Id") == plan.finding_id
    ]
    if found and str(found[0].get("AccountId")) == str(plan.account_id):
        return detector
    raise RefusedError(
        f"refused: finding {plan.finding_id} is in account {plan.account_id}; these credentials "
        f"({caller.arn}) are account {caller.account}, which is neither that account nor its "
        f"GuardDuty administrator (its detector in {region} does not hold the finding); nothing "
        "was changed",
        hint=credentials_hint(plan.account_id, config)
        + " — or of its GuardDuty administrator account",
    )


def _guard(runner: Runner, plan: Plan, config: AwsConfig | None) -> Plan:
    """Run the account guard for ``plan``; return the plan to carry out (an archive plan is
    re-made with the caller's detector)."""
    caller = runner.identify()
    if plan.kind == "archive":
        detector = check_administrator(runner, plan, config)
        return _with_detector(plan, detector)
    check_account(caller, plan, config)
    return plan


def _with_detector(plan: Plan, detector: str) -> Plan:
    actions = [
        Action(
            a.service,
            a.operation,
            {**a.params, "DetectorId": detector} if "DetectorId" in a.params else a.params,
            why=a.why,
            region=a.region,
            changes_aws=a.changes_aws,
            manual=a.manual,
            targets=a.targets,
            absent_ok=a.absent_ok,
            created_at=a.created_at,
        )
        for a in plan.actions
    ]
    return Plan(
        actions=actions,
        notes=list(plan.notes),
        kind=plan.kind,
        finding_id=plan.finding_id,
        account_id=plan.account_id,
        region=plan.region,
        access_key_id=plan.access_key_id,
    )


def carry_out(
    aws: Aws,
    plan: Plan,
    *,
    execute: bool = False,
    offline: bool = False,
    ledger: str | Path | None = None,
    echo: Callable[[str], None] = print,
    context: Mapping[str, Any] | None = None,
) -> RunReport:
    """Carry out ``plan``: print every action; with ``execute``, make its calls behind the
    account guard (the verdict gate, :func:`require_verdict`, comes first and is the caller's).

    ``offline`` (a dry run from a case folder): print the plan and whose credentials ``--execute``
    would use; call nothing. A dry run against AWS checks the account first and runs the
    read-only inventory only in the right account. Raises :class:`RefusedError` when ``execute``
    and a guard refuses (after recording the refusal), InputError when the ledger cannot be
    written; an AWS error of one call is a ``failed`` result and the next calls still run.
    """
    runner = Runner(
        aws,
        ledger=ledger,
        echo=echo,
        context={
            "finding_id": plan.finding_id,
            "access_key_id": plan.access_key_id,
            "plan": plan.kind,
            **(context or {}),
        },
    )
    report = RunReport(plan=plan, execute=execute, run_id=runner.run_id)
    config = aws.config
    if offline:
        report.notes.append(_would_use(plan, config))
        for a in plan.actions:
            verb = "MANUAL" if a.manual else ("DRY RUN" if a.changes_aws else "READ")
            echo(f"{verb:<8} {a.cli()}  # {a.why}" + ("" if a.changes_aws else " (not run)"))
            status = "manual" if a.manual else ("dry-run" if a.changes_aws else "not-run")
            report.results.append(CallResult(a, status))
        return report
    try:
        plan = _guard(runner, plan, config)
        allowed = True
    except RefusedError as refusal:
        report.caller = runner.caller
        if execute:
            runner.refused(refusal)
            raise
        allowed = False
        report.notes.append(f"--execute would be {refusal.message}; {refusal.hint}")
    report.caller = runner.caller
    report.plan = plan
    for a in plan.actions:
        if a.manual:
            echo(f"{'MANUAL':<8} {a.cli()}  # {a.why}")
            report.results.append(CallResult(a, "manual"))
        elif not a.changes_aws:
            if not allowed:
                echo(f"{'READ':<8} {a.cli()}  # {a.why} (not run: wrong account)")
                report.results.append(CallResult(a, "not-run"))
                continue
            r = runner.call(a, verb="READ", suspect_key=plan.access_key_id)
            report.results.append(r)
            if r.note:
                report.inventory.append(r.note)
        elif not execute:
            echo(f"{'DRY RUN':<8} {a.cli()}  # {a.why}")
            report.results.append(CallResult(a, "dry-run"))
        else:
            report.results.append(_change(runner, a))
    return report


def _change(runner: Runner, action: Action) -> CallResult:
    """One change: its probe first (when one can tell it is done), then the call."""
    probe = _probe(action)
    if probe is not None:
        read, check = probe
        seen = runner.call(read, verb="CHECK", probe=True)
        verdict = check(seen.response) if seen.status == "read" else None
        if verdict is not None:
            return runner.skipped(action, *verdict)
    return runner.call(action, verb="EXECUTE")


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
            f"({credentials_hint(plan.account_id, aws.config)})"
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


def exit_problem(report: RunReport) -> TorinvestError | None:
    """The error a command ends with after the run (None: it did what it was asked)."""
    if report.failed:
        n = len(report.failed)
        total = len(report.done) + len(report.failed) + len(report.already)
        return TorinvestError(
            f"{n} of {total} change(s) failed",
            hint="see FAILED above; the ledger has every call and its answer; re-running is safe",
        )
    return None
