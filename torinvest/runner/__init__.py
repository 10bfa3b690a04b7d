"""Carrying out a plan (:mod:`torinvest.actions`): its guards, then every call printed, made and
recorded in the ledger.

    verdict gate  →  who am I (sts:GetCallerIdentity)  →  archive: the GuardDuty administrator
        →  each action (a probe first where one can tell "already done")  →  summary

* **Verdict gate** (:func:`require_verdict`): ``--execute`` needs the finding's latest *decided*
  verdict to be one the plan follows (remediate: malicious or inconclusive; archive: legitimate).
  It reads the ledger only — no AWS call — and refuses with the exact ``torinvest verdict``
  command to record one. A later ``pending`` never hides an earlier decision. With
  ``carry_out(recheck_verdict=True)`` (the CLI's ``--execute``) it is checked again right before
  each change: a verdict changed meanwhile stops the run (``RunReport.stopped``).
* **The finding GuardDuty holds** (archive): ``GetFindings`` in the detector the archive
  changes; refused when it does not hold the finding, when its copy names another type, account,
  region, principal or key than the plan's copy, or when it changed since the legitimate verdict
  (``carry_out(verdict=…)``, :func:`~torinvest.runner.gate.stale_verdict`). ``ArchiveFindings``
  is done only when read back archived.
* **Account guard**: before anything else that talks to AWS, ``sts:GetCallerIdentity`` with the
  same credentials. A remediation runs only in the finding's account; an archive only in the
  finding's GuardDuty administrator account (or the finding's own account when it is standalone
  or the administrator): a member account is told its administrator. A refusal names both
  accounts and the way to the right credentials (``--profile``, ``--role-arn``); nothing else is
  called.
* **Every call recorded**: printed before it runs (``CHECK`` for guard and probe reads, ``READ``
  for the inventory, ``EXECUTE`` for changes), a ``start`` record in the ledger, the call, an
  ``outcome`` record (``done``/``read`` with the relevant part of the answer, ``already-done``, or
  ``failed`` with the error code and message, ``unknown`` when the request may have reached AWS
  but its answer was lost), and one line with the outcome. An answer that is
  not an AWS response (an HTML page, garbage, a 200 without a request ID or without the fields the
  API promises, a dropped connection) is a failure like any other: one line, no traceback, and
  the ledger is complete. The next calls still run.
* **Re-running is safe**: a change whose probe shows it done (key already inactive, deny already
  in place, finding already archived, rule already there), and an undo call answered "no such
  entity", is reported ``already done``. Every undo step on a user or role the activity created
  waits for that principal's identity check (its CreateDate, once per run): a same-named one
  created at another time is left alone entirely (no login profile, key, policy or group
  change, no delete).

Ledger records (JSON lines, :func:`torinvest.verdict.append`), all with ``kind: "action"``,
``run_id`` and ``seq`` (one per call; a start and its outcome share them)::

    {"phase": "start", "finding_id", "plan", "caller_account", "action": {...}, "at"}
    {"phase": "outcome", "status": "done|read|already-done|failed|unknown", "response": {...},
     "error": {"code", "message"}, "note", "at"}
    {"phase": "skipped", "status": "already-done|left-alone", "note", "action", "at"}   # no call made
    {"phase": "refused", "reason", "at"}                                              # a guard said no
    {"phase": "verified", "status": "failed|unknown", "note", "action", "at"}  # a read-back did not confirm

The first record of an ``--execute`` run also carries ``planned_changes`` (how many changes the
plan has) and ``planned`` (each change: ``service:Operation`` and its targets): a run with fewer
outcomes than that was stopped before it finished.

The package, each module importing only those above it:

    gate      the verdict gate (the ledger only), whose credentials a run would use
    calls     one call made, its answer checked and described
    probes    the reads that tell "already done" before a change
    recorder  the Runner: each call printed, ledgered, made, its outcome read (done, already
              done, failed, unknown)
    confirm   a record a change is justified by, confirmed with CloudTrail's Event history
              (LookupEvents by its event ID) before the change
    guards    the account guards (check_account, check_administrator), whose_credentials
    checks    what exists before a change: the principal the activity created, the finding's
              user, the suspect key's user renamed, what a group still holds
    run       the run itself and its report (carry_out, RunReport, exit_problem)
"""

from torinvest.runner.calls import PROMISED, describe_answer, invoke
from torinvest.runner.gate import (
    Caller,
    credentials_hint,
    credentials_source,
    finding_changes,
    require_verdict,
    stale_verdict,
    unevidenced_remediation,
    verdict_command,
    verdict_gap,
)
from torinvest.runner.probes import SAME_RESOURCE_TOLERANCE, Check, identity_probe
from torinvest.runner.probes import _probe as _probe
from torinvest.runner.run import (
    CallResult,
    Runner,
    RunReport,
    carry_out,
    changes_said,
    check_account,
    check_administrator,
    exit_problem,
    interrupted_said,
    whose_credentials,
)

__all__ = [
    "PROMISED",
    "SAME_RESOURCE_TOLERANCE",
    "CallResult",
    "Caller",
    "Check",
    "RunReport",
    "Runner",
    "carry_out",
    "changes_said",
    "check_account",
    "check_administrator",
    "credentials_hint",
    "credentials_source",
    "describe_answer",
    "exit_problem",
    "finding_changes",
    "identity_probe",
    "interrupted_said",
    "invoke",
    "require_verdict",
    "stale_verdict",
    "unevidenced_remediation",
    "verdict_command",
    "verdict_gap",
    "whose_credentials",
]
