"""`actions --execute` stopped half-way — interrupted (Ctrl-C, SIGTERM), a change denied, changes
left alone, a ledger that fails —: its last line and its exit status say what it changed, what it may have changed and
what it did not, as the ledger has it.

The interruption is raised where the signal would land (in the call being made: the real
signal's path into the run is tests/hostile/test_actions_guarded.py's subprocess test).
"""

from __future__ import annotations

import errno
from types import SimpleNamespace
from typing import Any

import pytest

from tests.actions.test_actions import (  # noqa: F401  (proxy_fixture: the fixture "proxy")
    FINDING,
    proxy_fixture,
    run,
)
from tests.fake_aws.proxy import DENIED, FaultProxy
from tests.hostile.test_actions_guarded import _action_records, _statuses
from tests.hostile.test_actions_guarded import story as story  # the fixture
from torinvest.children import Terminated
from torinvest.errors import EXIT_FAILED, InputError
from torinvest.runner import recorder

pytestmark = pytest.mark.usefixtures("quick_lookups")


@pytest.mark.parametrize(
    ("where", "stop", "status"),
    [
        ("PutUserPolicy", KeyboardInterrupt, 130),  # in the 2nd change's call: outcome unknown
        ("GetUserPolicy", Terminated, 143),  # in the check before it: the change was not sent
        ("GetCallerIdentity", KeyboardInterrupt, 130),  # in the account check: nothing changed
    ],
    ids=["ctrl-c-in-a-change", "sigterm-in-its-check", "ctrl-c-in-the-account-check"],
)
def test_an_interrupted_execution_ends_saying_what_it_did_and_did_not_change(
    proxy: FaultProxy,
    story: SimpleNamespace,
    monkeypatch: pytest.MonkeyPatch,
    where: str,
    stop: type[KeyboardInterrupt],
    status: int,
) -> None:
    """The key is deactivated, then the run is interrupted in the deny on benjamin (its call, or
    the check before it) — or in the account check, before anything. The last line names the change made, the one whose outcome is
    unknown (none when the check was interrupted) and counts the changes never made — each
    count the ledger's; stdout's summary names each change not made (was: the last line was
    "torinvest: interrupted", and nothing said the rest of the plan was never made)."""
    real = recorder.invoke

    def invoke(aws: Any, action: Any) -> Any:
        if action.operation == where:
            raise stop
        return real(aws, action)

    monkeypatch.setattr(recorder, "invoke", invoke)
    code, out, err = run(
        "actions", FINDING, "--case", str(story.case), "--plan", "remediate", "--execute",
        "--ledger", str(story.ledger),
    )  # fmt: skip
    assert code == status, err
    records = _action_records(story.ledger)
    planned = records[0]["planned_changes"]
    assert isinstance(planned, int)
    outcomes = {r["seq"]: r["status"] for r in records if r.get("phase") == "outcome"}
    changes = [
        (r["action"], outcomes[r["seq"]])
        for r in records
        if r.get("phase") == "start" and r["action"]["changes_aws"]  # type: ignore[index]
    ]
    made = [a["operation"] for a, s in changes if s == "done"]  # type: ignore[index]
    unknown = [a["operation"] for a, s in changes if s == "unknown"]  # type: ignore[index]
    assert made == ([] if where == "GetCallerIdentity" else ["UpdateAccessKey"])
    assert unknown == (["PutUserPolicy"] if where == "PutUserPolicy" else [])
    last = err.strip().splitlines()[-1]
    head = "torinvest: interrupted: " if stop is KeyboardInterrupt else "torinvest: terminated "
    assert last.startswith(head), last
    if made:
        assert f"1 change(s) made (UpdateAccessKey benjamin {story.suspect})" in last
    else:
        assert "stopped before its end: 0 change(s) made," in last
    if unknown:
        assert "1 with an unknown outcome (PutUserPolicy benjamin" in last
    else:
        assert "unknown" not in last
        assert "  not made (the run was interrupted before it): PutUserPolicy benjamin" in out
        assert _statuses(story.iam, "benjamin")[story.suspect] == (
            "Active" if not made else "Inactive"
        )
        assert story.iam.list_user_policies(UserName="benjamin")["PolicyNames"] == []
    not_made = planned - len(made) - len(unknown)
    assert f", {not_made} not made;" in last and not_made > 0
    assert "re-run to finish" in last
    summary = [line for line in out.splitlines() if line.startswith("INTERRUPTED run")]
    assert len(summary) == 1 and f"{not_made} not made" in summary[0]
    assert out.count("  not made (the run was interrupted before it): ") == not_made


def test_a_change_denied_half_way_ends_saying_what_was_made_failed_and_left_alone(
    proxy: FaultProxy, story: SimpleNamespace
) -> None:
    """The deny on benjamin is refused (AccessDenied) after the key was deactivated; the undo
    steps are left alone (their records are not in CloudTrail's Event history). The last line
    counts every change of the plan — was "1 of 2 change(s) failed" for a plan of 9, nothing
    said of the 7 not made — and names what was made and what failed. Run again, the deny is
    made, the key is already done, and the run ends "partial result", never as if the plan
    were carried out (was: exit 0 with no word of the changes left alone on the last line)."""
    proxy.fault("PutUserPolicy", DENIED, times=1)
    argv = (
        "actions", FINDING, "--case", str(story.case), "--plan", "remediate", "--execute",
        "--ledger", str(story.ledger),
    )  # fmt: skip
    code, _out, err = run(*argv)
    assert code == EXIT_FAILED, err
    planned = _action_records(story.ledger)[0]["planned_changes"]
    assert isinstance(planned, int) and planned > 2
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"torinvest: error: 1 of {planned} change(s) failed; this run: "), last
    assert f"1 change(s) made (UpdateAccessKey benjamin {story.suspect})" in last
    assert "1 failed (PutUserPolicy benjamin" in last
    assert f"{planned - 2} left alone (not made" in last

    code, _out, err = run(*argv)
    assert code == 0, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("torinvest: note: partial result: not every change of the plan was made")
    assert "1 change(s) made (PutUserPolicy benjamin" in last and "1 already done" in last
    assert f"{planned - 2} left alone (not made" in last
    assert story.iam.list_user_policies(UserName="benjamin")["PolicyNames"] == [
        "AWSRevokeOlderSessions"
    ]


def test_a_ledger_that_fails_after_a_change_ends_saying_the_change_was_made(
    proxy: FaultProxy, story: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The disk fills once the key is deactivated: its outcome cannot be ledgered. The run stops
    there (no call without its start recorded), and says the change went through — on its line
    ("done", "NOT LEDGERED") and in the last line, with the changes never made counted (was:
    "EXECUTE … update-access-key" then "cannot write the ledger", nothing saying the key was
    deactivated)."""
    real = recorder.ledger_append
    full: list[bool] = []

    def append(path: Any, record: Any) -> Any:
        if full or (record.get("phase") == "outcome" and record.get("status") == "done"):
            full.append(True)
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(path, record)

    monkeypatch.setattr(recorder, "ledger_append", append)
    code, out, err = run(
        "actions", FINDING, "--case", str(story.case), "--plan", "remediate", "--execute",
        "--ledger", str(story.ledger),
    )  # fmt: skip
    assert code == InputError.exit_status, err
    planned = _action_records(story.ledger)[0]["planned_changes"]
    assert isinstance(planned, int)
    assert "  done: UpdateAccessKey\n  NOT LEDGERED: cannot write the ledger" in out
    keys = story.iam.list_access_keys(UserName="benjamin")["AccessKeyMetadata"]
    assert {k["AccessKeyId"]: k["Status"] for k in keys}[story.suspect] == "Inactive"
    last = err.strip().splitlines()[-1]
    assert last.startswith("torinvest: error: cannot write the ledger"), last
    assert f"this run: 1 change(s) made (UpdateAccessKey benjamin {story.suspect})" in last
    assert f", {planned - 1} not made" in last
    assert "PutUserPolicy" not in out.split("NOT LEDGERED")[1]  # nothing called after it
