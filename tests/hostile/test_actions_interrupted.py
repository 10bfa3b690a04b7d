"""`actions --execute` interrupted (Ctrl-C, SIGTERM) half-way: its last line and its exit status
say what it changed, what it may have changed and what it did not, as the ledger has it.

The interruption is raised where the signal would land (in the call being made: the real
signal's path into the run is tests/hostile/test_actions_guarded.py's subprocess test).
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from tests.actions.test_actions import (  # noqa: F401  (proxy_fixture: the fixture "proxy")
    FINDING,
    proxy_fixture,
    run,
)
from tests.fake_aws.proxy import FaultProxy
from tests.hostile.test_actions_guarded import _action_records
from tests.hostile.test_actions_guarded import story as story  # the fixture
from torinvest.children import Terminated
from torinvest.runner import recorder

pytestmark = pytest.mark.usefixtures("quick_lookups")


@pytest.mark.parametrize(
    ("where", "stop", "status"),
    [
        ("PutUserPolicy", KeyboardInterrupt, 130),  # in the 2nd change's call: outcome unknown
        ("GetUserPolicy", Terminated, 143),  # in the check before it: the change was not sent
    ],
    ids=["ctrl-c-in-a-change", "sigterm-in-its-check"],
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
    the check before it). The last line names the change made, the one whose outcome is
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
    assert made == ["UpdateAccessKey"]
    assert unknown == (["PutUserPolicy"] if where == "PutUserPolicy" else [])
    last = err.strip().splitlines()[-1]
    head = "torinvest: interrupted: " if stop is KeyboardInterrupt else "torinvest: terminated "
    assert last.startswith(head), last
    assert f"1 change(s) made (UpdateAccessKey benjamin {story.suspect})" in last
    if unknown:
        assert "1 with an unknown outcome (PutUserPolicy benjamin" in last
    else:
        assert "unknown" not in last
        assert "  not made (the run was interrupted before it): PutUserPolicy benjamin" in out
        assert story.iam.list_user_policies(UserName="benjamin")["PolicyNames"] == []
    not_made = planned - len(made) - len(unknown)
    assert f", {not_made} not made;" in last and not_made > 0
    assert "re-run to finish" in last
    summary = [line for line in out.splitlines() if line.startswith("INTERRUPTED run")]
    assert len(summary) == 1 and f"{not_made} not made" in summary[0]
    assert out.count("  not made (the run was interrupted before it): ") == not_made
