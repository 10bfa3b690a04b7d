"""Guarded execution attacked again: a finding file edited after the verdict, an STS answer that
names no account, names in the suggested commands, an execution interrupted half-way, an endpoint
override that the account check does not vouch for.

Every AWS request goes through tests/fake_aws/proxy.py (to moto for IAM/STS), which counts them.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from tests.actions.test_actions import (  # noqa: F401  (proxy_fixture: the fixture "proxy")
    FINDING,
    SAMPLE_ACCOUNT,
    SUSPECT,
    iam_client,
    ops,
    proxy_fixture,
    run,
    sample_case_with,
)
from tests.fake_aws.proxy import FaultProxy
from torinvest.errors import EXIT_REFUSED
from torinvest.verdict import make_verdict, read_ledger, record_verdict


def errors(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("torinvest: error:")]


@pytest.fixture
def story(
    proxy: FaultProxy, moto: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> SimpleNamespace:
    """benjamin with the suspect key and a second (his everyday) key, in the finding's account;
    the case folder names the suspect key; a malicious verdict recorded over that case, naming
    the suspect key as `torinvest verdict --case` stores it."""
    monkeypatch.setenv("MOTO_ACCOUNT_ID", SAMPLE_ACCOUNT)
    iam = iam_client(moto)
    iam.create_user(UserName="benjamin")
    suspect = iam.create_access_key(UserName="benjamin")["AccessKey"]["AccessKeyId"]
    other = iam.create_access_key(UserName="benjamin")["AccessKey"]["AccessKeyId"]
    case = sample_case_with(tmp_path, {SUSPECT: suspect})
    ledger = tmp_path / "ledger.jsonl"
    record_verdict(
        make_verdict(
            FINDING,
            status="malicious",
            analyst="ana",
            rationale="read the activity",
            access_key_id=suspect,
            evidence={"reading": "complete"},
            now=pd.Timestamp("2024-01-01T00:00:00Z"),
        ),
        ledger,
    )
    proxy.clear()
    return SimpleNamespace(case=case, ledger=ledger, iam=iam, suspect=suspect, other=other)


def _edit_findings(case: Path, old: str, new: str) -> None:
    for f in (case / "findings").glob("*.json"):
        f.write_text(f.read_text().replace(old, new))


def _statuses(iam, user: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    keys = iam.list_access_keys(UserName=user)["AccessKeyMetadata"]
    return {k["AccessKeyId"]: k["Status"] for k in keys}


# --------------------------------------------------------------------------------------------
# the finding file edited after the verdict
# --------------------------------------------------------------------------------------------
def test_a_finding_file_edited_after_the_verdict_to_name_another_key_changes_nothing(
    proxy: FaultProxy, story: SimpleNamespace
) -> None:
    """Someone who can write in the case folder makes the finding name benjamin's everyday key:
    the verdict judged the suspect key, so --execute refuses before any call (was: the everyday
    key deactivated, the suspect one left active)."""
    _edit_findings(story.case, story.suspect, story.other)
    code, _out, err = run(
        "actions", FINDING, "--case", str(story.case), "--plan", "remediate", "--execute",
        "--ledger", str(story.ledger),
    )  # fmt: skip
    assert code == EXIT_REFUSED, err
    (line,) = errors(err)
    assert f"judged access key {story.suspect}" in line
    assert f"names access key {story.other}" in line and "nothing was called" in line
    assert ops(proxy) == []
    (refused,) = [r for r in read_ledger(story.ledger)[0] if r.get("phase") == "refused"]
    assert f"judged access key {story.suspect}" in refused["reason"]
    assert _statuses(story.iam, "benjamin") == {story.suspect: "Active", story.other: "Active"}
    # a dry run says --execute would be refused, and why
    code, _out, err = run(
        "actions", FINDING, "--case", str(story.case), "--plan", "remediate",
        "--ledger", str(story.ledger),
    )  # fmt: skip
    assert code == 0, err
    assert "--execute would be refused: the malicious verdict" in err
    assert f"judged access key {story.suspect}" in err
