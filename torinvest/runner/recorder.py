"""One run's calls: each printed before it is made, its start and outcome recorded in the
ledger, the outcome read from the answer (done, already done, failed, or unknown when the answer
was lost) (:class:`Runner`, :class:`CallResult`).
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd
from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from torinvest.actions import ABSENT_CODES, Action
from torinvest.aws import Aws
from torinvest.errors import (
    AwsError,
    CouldNotCheckError,
    EndpointError,
    InputError,
    RefusedError,
    TorinvestError,
)
from torinvest.runner.calls import _jsonable, describe_answer, invoke
from torinvest.runner.gate import Caller
from torinvest.verdict import append as ledger_append
from torinvest.verdict import default_ledger_path

log = logging.getLogger(__name__)


@dataclass(slots=True)
class CallResult:
    """What became of one action.

    ``status``: ``done`` / ``read`` (a call answered), ``already-done``, ``left-alone``,
    ``failed`` (``error`` says why), ``unknown`` (the request may have reached AWS, its answer
    was lost), ``dry-run``, ``not-run`` (a read skipped), ``manual``.
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


class UnrecordedOutcome(InputError):
    """The ledger could not take a call's outcome: the call was made (``result``, said on the
    terminal), and the run stops there (every call is recorded before it is made)."""

    def __init__(self, error: InputError, result: CallResult) -> None:
        super().__init__(error.message, hint=error.hint)
        self.result = result


def _retry_attempts(err: AwsError) -> int:
    """How many times botocore retried the call before the answer ``err`` came from (an AWS
    error answer says so in its ResponseMetadata)."""
    cause = err.__cause__
    meta = (getattr(cause, "response", None) or {}).get("ResponseMetadata") or {}
    attempts = meta.get("RetryAttempts")
    return attempts if isinstance(attempts, int) else 0


def _lost_earlier(err: AwsError) -> bool:
    """Whether an attempt before the one that answered ``err`` may have been applied (its answer
    lost: a connection broken after sending, a 5xx) and botocore retried: the retry's error then
    says nothing of the change. Attempts not recorded: any retry counts."""
    if err.attempts:
        return any(err.attempts[:-1])
    return _retry_attempts(err) > 0


def _maybe_applied(err: AwsError) -> bool:
    """Whether the request may have reached AWS although no usable answer came back: the
    connection broke after it was sent (closed, read timeout), something that is not AWS
    answered (a proxy may have forwarded it), or AWS answered a 5xx (it may or may not have
    processed it). A connection never made (DNS, connect timeout, TLS) or an AWS error code
    answer (4xx) means it was not applied."""
    cause = err.__cause__
    if isinstance(cause, BotoConnectionError):
        return False  # never connected
    if isinstance(cause, HTTPClientError):
        return True  # sent, then the connection broke
    if isinstance(cause, ClientError):
        meta = cause.response.get("ResponseMetadata") or {}
        return int(meta.get("HTTPStatusCode") or 0) >= 500
    return isinstance(err, EndpointError) and err.code in ("UnparsableResponse", "NotAnAwsAnswer")


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
        #: fields added to the next record only (the run's first: the plan it carries out)
        self.opening: dict[str, Any] = {}
        #: the suspect user's new name, found by its key's ID when its old one is gone
        self.renamed: dict[str, str] = {}
        #: users (folded to lower case) seen holding the suspect key (ListAccessKeys listed it)
        self.holders: set[str] = set()
        #: the identity check of each principal the activity created: (status, why) or None
        self.identities: dict[tuple[str, str], tuple[str, str] | None] = {}
        #: each record confirmed with CloudTrail's Event history this run, by (event ID, region):
        #: None (confirmed) or ("left-alone", why)
        self.confirmations: dict[tuple[str | None, str | None], tuple[str, str] | None] = {}
        #: the (status, note) of steps skipped so far: a reason is printed once
        self.said: set[tuple[str, str]] = set()
        #: the archive guard's GetFindings answer, by (region, detector, finding IDs): the one
        #: read of the finding before its archive (the archive's "already archived?" reads it
        #: here instead of asking GuardDuty again; taken once, by the archive it was read for)
        self.finding_reads: dict[tuple[str | None, str, tuple[str, ...]], Mapping[str, Any]] = {}
        #: the call the run was interrupted in (Ctrl-C, SIGTERM), its outcome as recorded
        #: (:meth:`_interrupted`): the run's report says it
        self.in_flight: CallResult | None = None

    # -- ledger
    def _record(self, record: Mapping[str, Any]) -> None:
        entry = {
            "kind": "action",
            "run_id": self.run_id,
            **self.context,
            "caller_account": self.caller.account if self.caller else None,
            **self.opening,
            **record,
            "at": pd.Timestamp.now(tz="UTC").isoformat().replace("+00:00", "Z"),
        }
        try:
            ledger_append(self.ledger, _jsonable(entry))
            self.opening = {}
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
        if (status, note) in self.said:  # the same reason for another step: said once
            self.echo(f"  {label}: {action.operation} too (the same reason)")
        else:
            self.said.add((status, note))
            self.echo(f"  {label}: {note}")
        return CallResult(action, status, note=note)

    def unconfirmed(self, result: CallResult, status: str, note: str) -> CallResult:
        """A change AWS answered but the read-back does not confirm: ``status`` ``failed`` (the
        read shows it not made) or ``unknown`` (the read failed). Recorded (``phase:
        "verified"``), printed, and returned in place of ``result``."""
        action = result.action
        self._record(
            {"phase": "verified", "status": status, "note": note, "action": action.to_dict()}
        )
        if status == "failed":
            self.echo(f"  FAILED: {note}")
            error = AwsError(
                note,
                hint="re-run (it checks first), or check it in the GuardDuty console",
                service=action.service,
                region=action.region,
                operation=action.operation,
                code="NotConfirmed",
            )
            return CallResult(action, "failed", response=result.response, error=error)
        self.echo(f"  OUTCOME UNKNOWN: {note}")
        return CallResult(action, "unknown", response=result.response, note=note)

    def retarget(self, action: Action) -> Action:
        """``action`` on the suspect user's new name when the run found it renamed."""
        user = action.params.get("UserName")
        new = self.renamed.get(user.casefold()) if isinstance(user, str) else None
        if new is None or action.manual:
            return action
        targets = tuple(new if t == user else t for t in action.targets)
        return replace(action, params={**action.params, "UserName": new}, targets=targets)

    # -- one call
    def call(
        self,
        action: Action,
        *,
        verb: str,
        suspect_key: str | None = None,
        first_tor: Any = None,
        probe: bool = False,
        read_back: bool = False,
    ) -> CallResult:
        """Print, ledger, call, ledger, print. Never raises for an AWS answer (an error is a
        ``failed`` result); raises InputError only when the ledger cannot be written.

        ``probe``: a read that checks whether a change is done; "no such entity" is its answer
        (a ``read`` with no response), and its answer is not an inventory sentence.
        ``read_back``: a change the caller reads back before saying done (its answer is printed
        as "answered", not "done")."""
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
        except TorinvestError as err:  # refused before it was sent (a bad region…): this step
            failed = AwsError(
                err.message,
                hint=err.hint,
                service=action.service,
                region=action.region,
                operation=action.operation,
                code=type(err).__name__,
            )
            return self._failed(action, seq, failed, probe=probe)
        except (KeyboardInterrupt, SystemExit):  # Ctrl-C, SIGTERM while the call was in flight
            self._interrupted(action, seq)
            raise
        status = "done" if action.changes_aws else "read"
        note = None if probe else describe_answer(action, response, suspect_key, first_tor)
        said = "answer" if note else ("answered" if read_back else status)
        return self._outcome(
            {"phase": "outcome", "seq": seq, "status": status, "response": response, "note": note},
            f"  {said}: {note or action.operation}" + (" (read back next)" if read_back else ""),
            CallResult(action, status, response=response, note=note),
        )

    def _outcome(self, record: Mapping[str, Any], line: str, result: CallResult) -> CallResult:
        """Ledger a call's outcome (``record``), say it (``line``) and return ``result``. When the
        ledger cannot take it (a full disk, a file made read-only meanwhile), the call was made
        all the same: its outcome is said here, and :class:`UnrecordedOutcome` carries it."""
        try:
            self._record(record)
        except InputError as e:
            self.echo(line)
            self.echo(f"  NOT LEDGERED: {e.message}: this outcome is said only here")
            raise UnrecordedOutcome(e, result) from e
        self.echo(line)
        return result

    def _interrupted(self, action: Action, seq: int) -> None:
        """The outcome of a call the run was interrupted in (Ctrl-C, SIGTERM): a change's is
        unknown — the request may have reached AWS —, a read's is that it was not read. Said
        and recorded best effort (a second interrupt, or a ledger that cannot be written, leaves
        the start without an outcome: the next run says so, :func:`unfinished_runs`)."""
        status = "unknown" if action.changes_aws else "failed"
        note = (
            f"{action.operation} {_targets(action)}: interrupted while the request was in "
            "flight: it may have reached AWS; whether it took effect is unknown — re-run (a "
            "re-run checks first)"
            if action.changes_aws
            else f"{action.operation} {_targets(action)}: interrupted before its answer"
        )
        error = AwsError(
            note,
            hint="re-run: a re-run checks first",
            service=action.service,
            region=action.region,
            operation=action.operation,
            code="Interrupted",
        )
        self.in_flight = CallResult(action, status, error=error, note=note)
        try:
            self._record(
                {
                    "phase": "outcome",
                    "seq": seq,
                    "status": status,
                    "error": {"code": "Interrupted", "message": note},
                    "note": note,
                }
            )
            self.echo(f"  {'OUTCOME UNKNOWN' if action.changes_aws else 'INTERRUPTED'}: {note}")
        except BaseException:
            log.warning("could not record the interrupted call %s", action.name)

    def _settled(
        self,
        action: Action,
        seq: int,
        status: str,
        err: AwsError,
        note: str,
        said: str = "",
        *,
        hint: bool = False,
    ) -> CallResult:
        """A call AWS refused whose outcome is nonetheless known (``status``: already done,
        done, unknown): recorded with its error (``hint`` too when asked) and ``note``, said
        (``said`` before the note), returned."""
        error = {"code": err.code, "message": err.message}
        if hint:
            error["hint"] = err.hint
        return self._outcome(
            {"phase": "outcome", "seq": seq, "status": status, "error": error, "note": note},
            f"  {said}{note}",
            CallResult(action, status, error=err, note=note),
        )

    def _failed(self, action: Action, seq: int, err: AwsError, *, probe: bool) -> CallResult:
        absent = err.code in ABSENT_CODES
        no_profile = action.operation == "GetLoginProfile" and "login profile" in (
            err.message.lower()
        )  # not "the user with name … cannot be found"
        if absent and not probe and not action.changes_aws and not no_profile:
            user = action.params.get("UserName")
            if user:
                err = AwsError(
                    f"could not look at user {user} (renamed or deleted?): {err.message}",
                    hint=err.hint,
                    service=err.service,
                    region=err.region,
                    operation=err.operation,
                    code=err.code,
                )
        elif absent and (probe or no_profile):  # an answer: none
            note = f"none ({err.message})" if probe else describe_answer(action, None)
            return self._outcome(
                {"phase": "outcome", "seq": seq, "status": "read", "response": None, "note": note},
                f"  answer: {note}",
                CallResult(action, "read", error=err, note=note),
            )
        if absent and action.absent_ok and action.deleted_by is not None:
            return self._settled(action, seq, "already-done", err, gone_note(action, err))
        if absent and action.absent_ok and _lost_earlier(err):
            note = (
                f"{action.operation} {_targets(action)}: nothing to remove now, and an earlier "
                f"attempt of this call lost its answer ({_retry_attempts(err)} retry(ies)): this "
                "run probably made the change"
            )
            return self._settled(action, seq, "done", err, note, "done (probably by this run): ")
        if action.changes_aws and (_maybe_applied(err) or _lost_earlier(err)):
            lost = (
                f"the request may have reached AWS but its answer was lost ({err.message})"
                if _maybe_applied(err)
                else f"an earlier attempt may have reached AWS but its answer was lost, and "
                f"botocore's retry got {err.code or 'an error'} ({err.message}), which does not "
                "say whether the earlier one took effect"
            )
            note = (
                f"{action.operation} {_targets(action)}: {lost}: whether it took effect is "
                "unknown — check it, or re-run (a re-run checks first)"
            )
            return self._settled(action, seq, "unknown", err, note, "OUTCOME UNKNOWN: ", hint=True)
        if absent and action.absent_ok:
            note = f"{action.operation} {_targets(action)}: nothing to remove ({err.message})"
            return self._settled(action, seq, "already-done", err, note, "already done: ")
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
        return self._outcome(
            {
                "phase": "outcome",
                "seq": seq,
                "status": "failed",
                "error": {"code": err.code, "message": err.message, "hint": err.hint},
            },
            f"  FAILED: {err}",
            CallResult(action, "failed", error=err),
        )

    # -- guards
    def identify(self) -> Caller:
        """``sts:GetCallerIdentity`` with the run's credentials (printed and ledgered), pinned
        first (:meth:`~torinvest.aws.Aws.pinned`): every later call of the run signs with the
        very credentials STS vouched for, never ones refreshed since into another account."""
        try:
            self.aws = self.aws.pinned()
        except Exception as e:
            log.info("credentials not pinned (%s): the identity call says why", e)
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
            raise CouldNotCheckError(
                f"refused: could not tell whose credentials these are: {said}; "
                "nothing else was called",
                hint=(result.error.hint if result.error and result.error.hint else "")
                or "check the credentials and the network, then re-run",
            )
        resp = result.response
        account, arn = str(resp["Account"]), str(resp["Arn"])
        broken = identity_problem(account, arn)
        if broken is not None:
            raise CouldNotCheckError(
                f"refused: could not tell whose credentials these are: {broken}; nothing else "
                "was called",
                hint="something that is not AWS's STS may be answering (a proxy, a local "
                "emulator, a wrong AWS_ENDPOINT_URL or AWS_ENDPOINT_URL_STS): check the endpoint "
                "settings and the network, then re-run",
            )
        self.caller = Caller(account=account, arn=arn, user_id=str(resp.get("UserId")))
        return self.caller


#: A caller ARN as STS gives it: a user, a role session, a federated user or root, in one account.
_CALLER_ARN = re.compile(r"arn:aws[a-z-]*:(?:iam|sts)::(\d{12}):(?:root|[A-Za-z-]+/\S+)")


def identity_problem(account: str, arn: str) -> str | None:
    """Why STS's GetCallerIdentity answer (``account``, ``arn``) is not an identity: an Account
    that is not 12 digits, an Arn that is no caller ARN, or one in another account than the
    Account beside it (a proxy or an emulator answering, not STS); None when it holds
    together."""
    if not re.fullmatch(r"\d{12}", account):
        return f"STS answered Account {account!r}, which is not an account ID (12 digits)"
    m = _CALLER_ARN.fullmatch(arn)
    if m is None:
        return (
            f"STS answered Account {account} with Arn {arn!r}, which is not the ARN of a "
            "caller: the answer does not hold together"
        )
    if m.group(1) != account:
        return (
            f"STS answered Account {account} with Arn {arn}, of account {m.group(1)}: the "
            "answer does not hold together"
        )
    return None


def unfinished_runs(
    records: Sequence[Mapping[str, Any]], finding_id: str, kind: str
) -> list[dict[str, Any]]:
    """The ``--execute`` runs of ``kind`` on ``finding_id`` in the ledger ``records`` that did
    not finish — interrupted (Ctrl-C with no handler, killed, the machine stopped) after their
    first record —, after the last run that did: each with ``run_id``, ``at``,
    ``caller_account``, ``planned`` (changes it set out to make), ``recorded`` (changes with an
    outcome or a skip) and ``in_flight`` (the changes started with no outcome: each may have
    reached AWS). A run a guard refused, or that the verdict stopped, finished."""
    runs: dict[str, dict[str, Any]] = {}
    for r in records:
        if r.get("kind") != "action" or r.get("finding_id") != finding_id:
            continue
        rid = r.get("run_id")
        if r.get("plan") != kind or not isinstance(rid, str):
            continue
        run = runs.setdefault(
            rid,
            {
                "run_id": rid,
                "at": r.get("at"),
                "caller_account": r.get("caller_account"),
                "planned": None,
                "starts": {},
                "ended": set(),
                "skipped": 0,
                "refused": False,
            },
        )
        if isinstance(r.get("planned_changes"), int):
            run["planned"] = r["planned_changes"]
        run["caller_account"] = run["caller_account"] or r.get("caller_account")
        action = r.get("action") if isinstance(r.get("action"), Mapping) else {}
        phase, seq = r.get("phase"), r.get("seq")
        if phase == "start" and action.get("changes_aws") and not action.get("manual"):
            run["starts"][seq] = action
        elif phase == "outcome":
            run["ended"].add(seq)
        elif phase == "skipped" and action.get("changes_aws") and not action.get("manual"):
            run["skipped"] += 1
        elif phase == "refused":
            run["refused"] = True
    unfinished: list[dict[str, Any]] = []
    for run in runs.values():  # in the order the runs began
        if run["planned"] is None:
            continue  # a dry run: it changed nothing
        in_flight = [a for seq, a in run["starts"].items() if seq not in run["ended"]]
        recorded = len(run["starts"]) - len(in_flight) + run["skipped"]
        if run["refused"] or (not in_flight and recorded >= run["planned"]):
            unfinished = []  # a run that finished checked everything an earlier one left
            continue
        unfinished.append(
            {
                "run_id": run["run_id"],
                "at": run["at"],
                "caller_account": run["caller_account"],
                "planned": run["planned"],
                "recorded": recorded,
                "in_flight": [
                    {"name": f"{a.get('service')}:{a.get('operation')}", "cli": a.get("cli")}
                    for a in in_flight
                ],
            }
        )
    return unfinished


def unfinished_said(run: Mapping[str, Any]) -> str:
    """One line on an earlier run that did not finish (:func:`unfinished_runs`)."""
    said = (
        f"an earlier --execute run {run['run_id']} (begun {run.get('at') or '?'}, account "
        f"{run.get('caller_account') or '?'}) did not finish: it set out to make "
        f"{run['planned']} change(s) and recorded the outcome of {run['recorded']}"
    )
    for a in run["in_flight"]:
        said += (
            f"; {a['name']} was started and has no outcome — it may have reached AWS "
            f"({a.get('cli') or a['name']})"
        )
    return (
        said + ": this run checks each change before it makes it (what that run did reads "
        "'already done'), and makes the ones it did not reach"
    )


#: What a deny on a user the activity deleted says when IAM has no such user (its result's note
#: starts with it: the run's summary says it instead of "console sessions ended").
GONE = "gone: no session to end"


def gone_note(action: Action, err: AwsError) -> str:
    """The note of a deny whose user IAM no longer has, the activity's ``DeleteUser`` of it
    confirmed with CloudTrail (:attr:`~torinvest.actions.Action.deleted_by`)."""
    gone = action.deleted_by
    user = str(action.params.get("UserName") or (action.targets[:1] or ("?",))[0])
    ref = (
        f"{gone.event_name} at {gone.event_time or 'an unknown time'} (event "
        f"{gone.event_id or '(no eventID)'})"
        if gone is not None
        else "DeleteUser"
    )
    return (
        f"user {user} {GONE} — IAM has no user {user} ({err.message}); the activity deleted it "
        f"({ref}, confirmed with CloudTrail), and IAM ends a user's console sessions with the "
        f"user: the {action.operation} deny is not needed"
    )
