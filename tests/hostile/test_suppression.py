"""Hostile: the suppression rule of an archive (``--suppress --scope``). A rule must never be
keyed on a name someone chooses (a role session, a federated user) or on root; the scope is the
analyst's explicit choice; a rule found under the kit's name counts as made only when it IS the
rule; its Description keeps to the characters GuardDuty takes.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import boto3
import pytest

from tests.actions.test_actions import (  # noqa: F401  (proxy_fixture: the fixture "proxy")
    FINDING,
    SAMPLE_ACCOUNT,
    SHAPES,
    SUSPECT,
    ops,
    proxy_fixture,
    run,
    verdict,
)
from tests.fake_aws import FakeAws
from tests.fake_aws.proxy import FaultProxy
from tests.fake_aws.server import FILTER_TEXT_PATTERNS
from torinvest import actions as ac
from torinvest.errors import InputError

RAW = json.loads((SHAPES / "single_raw.json").read_text())
DETECTOR = RAW["service"]["detectorId"]
USER_ID = RAW["resource"]["accessKeyDetails"]["principalId"]


def errors(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("torinvest: error:")]


def with_key(**details: str) -> dict[str, Any]:
    """The sample finding with these accessKeyDetails."""
    raw = copy.deepcopy(RAW)
    raw["resource"]["accessKeyDetails"] = details
    return raw


def row_of(raw: dict[str, Any], tmp_path: Any) -> Any:
    from torinvest.findings import read_findings

    path = tmp_path / "f.json"
    path.write_text(json.dumps([raw]))
    return read_findings(path).frame().iloc[0]


def add_finding(fake_aws: FakeAws, raw: dict[str, Any]) -> None:
    gd = fake_aws.guardduty("us-east-1")
    gd.add_findings([raw], detector_id=gd.add_detector(DETECTOR))


def archive(ledger: Any, *extra: str) -> tuple[int, str, str]:
    return run(
        "actions", FINDING, "--plan", "archive", "--suppress", "--regions", "us-east-1",
        "--ledger", str(ledger), *extra,
    )  # fmt: skip


# --------------------------------------------------------------------------------------------
# 1. a principal rule only for an IAM user; a key rule only on a key AWS made
# --------------------------------------------------------------------------------------------
PRINCIPALS = [
    (  # the session name is the caller's choice
        dict(
            accessKeyId="ASIATFQR7NSCAAAAAAAA",
            principalId="AROATFQR7NSCROLEID000:ci-runner",
            userName="deploy-role",
            userType="AssumedRole",
        ),
        "session name is chosen by whoever assumes the role",
    ),
    (  # GetFederationToken's name is the caller's choice
        dict(
            accessKeyId="ASIATFQR7NSCBBBBBBBB",
            principalId=f"{SAMPLE_ACCOUNT}:ci-runner",
            userName="ci-runner",
            userType="FederatedUser",
        ),
        "GetFederationToken, which the caller chooses",
    ),
    (  # the account itself: every root finding
        dict(
            accessKeyId="AKIATFQR7NSCROOTKEY0",
            principalId=SAMPLE_ACCOUNT,
            userName="Root",
            userType="Root",
        ),
        "every Tor finding of the account's root user",
    ),
    (  # an IAM user's type with a principal that is not a user's unique ID
        dict(
            accessKeyId="AKIATFQR7NSCUXC3DDDP",
            principalId="AROATFQR7NSCROLEID000:x",
            userName="benjamin",
            userType="IAMUser",
        ),
        "only on an IAM user's unique ID (AIDA",
    ),
    (  # a type torinvest does not know
        dict(
            accessKeyId="AKIATFQR7NSCUXC3DDDP",
            principalId=USER_ID,
            userName="benjamin",
            userType="AWSService",
        ),
        "user type AWSService",
    ),
]


@pytest.mark.parametrize(("details", "why"), PRINCIPALS)
def test_a_principal_rule_is_refused_unless_the_principal_is_an_iam_user(
    proxy: FaultProxy,
    fake_aws: FakeAws,
    tmp_path: Any,
    monkeypatch: pytest.MonkeyPatch,
    details: dict[str, str],
    why: str,
) -> None:
    """Before: rules on ``AROA…:ci-runner``, ``account:ci-runner`` and the bare account (root)
    were made. Now: refused, saying why and what to do; nothing archived, no rule."""
    monkeypatch.setenv("MOTO_ACCOUNT_ID", SAMPLE_ACCOUNT)
    add_finding(fake_aws, with_key(**details))
    verdict(tmp_path / "l.jsonl", "legitimate")
    code, out, err = archive(tmp_path / "l.jsonl", "--scope", "principal", "--execute")
    assert code == 1 and out == ""
    (line,) = errors(err)
    assert why in line and details["principalId"] in line
    assert "--scope key" in line and "archive without --suppress" in line
    assert "Traceback" not in err
    assert "CreateFilter" not in ops(proxy) and "ArchiveFindings" not in ops(proxy)
    assert fake_aws.filters == [] and fake_aws.archived_ids == set()


@pytest.mark.parametrize(
    ("criterion", "problem"),
    [
        ({"resource.accessKeyDetails.principalId": {"Eq": ["AROATFQR7NSCROLEID000:ci"]}}, "AIDA"),
        ({"resource.accessKeyDetails.principalId": {"Eq": [SAMPLE_ACCOUNT]}}, "AIDA"),
        ({"resource.accessKeyDetails.accessKeyId": {"Eq": ["ci-runner"]}}, "AKIA"),
    ],
)
def test_no_rule_on_a_chosen_name_passes_the_scope_check(
    criterion: dict[str, Any], problem: str
) -> None:
    """The check every rule passes before it is planned refuses those values too."""
    crit = {"type": {"Eq": ["UnauthorizedAccess:IAMUser/TorIPCaller"]}, **criterion}
    with pytest.raises(InputError, match=problem):
        ac.check_suppression_scope({"Criterion": crit})


def test_a_principal_rule_of_an_iam_user_and_key_rules(tmp_path: Any) -> None:
    """An IAM user's unique ID is a principal rule; a key rule is on the key AWS made: a
    long-term one, or a session's temporary one (allowed: it stops matching when the session
    ends, and says so); a key ID AWS does not make is refused."""
    user = ac.plan_archive(row_of(RAW, tmp_path), suppress=True, scope="principal").actions[1]
    assert user.params["FindingCriteria"]["Criterion"][ac.SCOPE_FIELDS["principal"]] == {
        "Eq": [USER_ID]
    }
    assert "of IAM user benjamin (unique ID AIDATFQR7NSC5U6Q3TMDR), whichever key" in user.why
    role = with_key(**PRINCIPALS[0][0])
    temp = ac.plan_archive(row_of(role, tmp_path), suppress=True, scope="key").actions[1]
    assert temp.params["FindingCriteria"]["Criterion"][ac.SCOPE_FIELDS["key"]] == {
        "Eq": ["ASIATFQR7NSCAAAAAAAA"]
    }
    assert "temporary key ASIATFQR7NSCAAAAAAAA" in temp.why and "expire" in temp.why
    odd = with_key(accessKeyId="ci-runner", principalId=USER_ID, userType="IAMUser")
    with pytest.raises(InputError, match="not one AWS makes"):
        ac.plan_archive(row_of(odd, tmp_path), suppress=True, scope="key")


# --------------------------------------------------------------------------------------------
# 2. the scope is the analyst's explicit choice; the dry run says what the rule hides
# --------------------------------------------------------------------------------------------
def test_suppress_needs_an_explicit_scope(tmp_path: Any) -> None:
    code, out, err = run("actions", FINDING, "--plan", "archive", "--suppress")
    assert code == 2 and out == ""
    (line,) = errors(err)
    assert "--suppress needs --scope" in line
    assert "principal (every key of the finding's IAM user" in line
    assert "key (the finding's access key only)" in line
    code, _, err = run("actions", FINDING, "--plan", "archive", "--scope", "key")
    assert code == 2 and "--scope goes with --suppress" in err


def test_the_dry_run_says_what_the_rule_hides(
    proxy: FaultProxy, fake_aws: FakeAws, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MOTO_ACCOUNT_ID", SAMPLE_ACCOUNT)
    add_finding(fake_aws, copy.deepcopy(RAW))
    code, out, err = archive(tmp_path / "l.jsonl", "--scope", "key")
    assert code == 0, err
    (rule,) = [line for line in out.splitlines() if "create-filter" in line]
    assert rule.startswith("DRY RUN")
    assert (
        "archives future UnauthorizedAccess:IAMUser/TorIPCaller findings of account "
        f"{SAMPLE_ACCOUNT} made with long-term key {SUSPECT} (IAMUser benjamin)"
    ) in rule
    assert fake_aws.filters == []


# --------------------------------------------------------------------------------------------
# 3. a rule of the kit's name is done only when it is this rule
# --------------------------------------------------------------------------------------------
TYPE = {"Eq": ["UnauthorizedAccess:IAMUser/TorIPCaller"]}


@pytest.mark.parametrize(
    ("action", "criterion", "differs"),
    [
        ("NOOP", None, 'Action is "NOOP", not "ARCHIVE"'),
        ("ARCHIVE", {"type": TYPE}, "FindingCriteria is"),  # broader: every user's
        ("NOOP", {"type": TYPE}, 'Action is "NOOP"'),
    ],
)
def test_a_rule_of_the_kits_name_that_is_not_this_rule_is_left_alone(
    proxy: FaultProxy,
    fake_aws: FakeAws,
    tmp_path: Any,
    monkeypatch: pytest.MonkeyPatch,
    action: str,
    criterion: dict[str, Any] | None,
    differs: str,
) -> None:
    """Before: ListFilters listed the name and the run said "already done"."""
    monkeypatch.setenv("MOTO_ACCOUNT_ID", SAMPLE_ACCOUNT)
    add_finding(fake_aws, copy.deepcopy(RAW))
    planned = ac.plan_archive(row_of(RAW, tmp_path), suppress=True, scope="principal")
    rule = planned.actions[1].params
    criteria = {"Criterion": criterion} if criterion else rule["FindingCriteria"]
    boto3.client("guardduty", region_name="us-east-1").create_filter(
        DetectorId=DETECTOR, Name=rule["Name"], Action=action, FindingCriteria=criteria
    )
    proxy.clear()
    verdict(tmp_path / "l.jsonl", "legitimate")
    code, out, err = archive(tmp_path / "l.jsonl", "--scope", "principal", "--execute")
    assert code == 0, err
    assert "already done: suppression rule" not in out
    (left,) = [line for line in out.splitlines() if line.startswith("  LEFT ALONE:")]
    assert f"a rule named {rule['Name']} exists but is not this rule" in left
    assert differs in left and "fix or delete it and re-run" in left
    assert "1 change(s) done, 0 already done, 0 failed, 1 left alone" in out
    assert "CreateFilter" not in ops(proxy)
    ((made,),) = [fake_aws.filters]  # left as it was
    assert (made["Action"], made["FindingCriteria"]) == (action, criteria)


def test_the_same_rule_in_the_other_spelling_is_already_done(
    proxy: FaultProxy, fake_aws: FakeAws, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``Equals`` is ``Eq`` (GuardDuty's newer spelling): the rule is the same, already done."""
    monkeypatch.setenv("MOTO_ACCOUNT_ID", SAMPLE_ACCOUNT)
    add_finding(fake_aws, copy.deepcopy(RAW))
    rule = ac.plan_archive(row_of(RAW, tmp_path), suppress=True, scope="principal").actions[1]
    spelled = {
        "Criterion": {
            k: {"Equals": v["Eq"]} for k, v in rule.params["FindingCriteria"]["Criterion"].items()
        }
    }
    boto3.client("guardduty", region_name="us-east-1").create_filter(
        DetectorId=DETECTOR, Name=rule.params["Name"], Action="ARCHIVE", FindingCriteria=spelled
    )
    verdict(tmp_path / "l.jsonl", "legitimate")
    code, out, err = archive(tmp_path / "l.jsonl", "--scope", "principal", "--execute")
    assert code == 0, err
    assert "already exists with this action and these criteria" in out
    assert "1 change(s) done, 1 already done, 0 failed" in out


# --------------------------------------------------------------------------------------------
# 4. the Description keeps to GuardDuty's characters
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("scope", ["principal", "key"])
def test_the_rule_description_keeps_to_the_characters_guardduty_takes(
    proxy: FaultProxy,
    fake_aws: FakeAws,
    tmp_path: Any,
    monkeypatch: pytest.MonkeyPatch,
    scope: str,
) -> None:
    """Before: ``principalId=AIDA…`` (``=`` is not one GuardDuty takes); the fake GuardDuty
    refuses what its API reference does not allow, as GuardDuty does."""
    monkeypatch.setenv("MOTO_ACCOUNT_ID", SAMPLE_ACCOUNT)
    add_finding(fake_aws, copy.deepcopy(RAW))
    hostile = row_of(RAW, tmp_path).copy()
    hostile["account_id"] = "1238<b>=37,@+\x1b[31m"
    text = ac.filter_description(hostile, scope)
    assert FILTER_TEXT_PATTERNS["Description"].fullmatch(text) and len(text) <= 512
    verdict(tmp_path / "l.jsonl", "legitimate")
    code, out, err = archive(tmp_path / "l.jsonl", "--scope", scope, "--execute")
    assert code == 0, err
    assert "2 change(s) done" in out
    (made,) = fake_aws.filters
    assert FILTER_TEXT_PATTERNS["Description"].fullmatch(made["Description"])
    assert "=" not in made["Description"] and FINDING in made["Description"]


def test_the_fake_guardduty_refuses_a_description_guardduty_refuses(fake_aws: FakeAws) -> None:
    from botocore.exceptions import ClientError

    gd = boto3.client("guardduty", region_name="us-east-1", endpoint_url=fake_aws.url)
    detector = fake_aws.guardduty("us-east-1").add_detector(DETECTOR)
    with pytest.raises(ClientError, match="Description"):
        gd.create_filter(
            DetectorId=detector,
            Name="n-1",
            Description="principalId=AIDA",
            FindingCriteria={"Criterion": {"type": TYPE}},
        )
    gd.create_filter(
        DetectorId=detector,
        Name="n-2",
        Description="ok: a-b_c.d (e) [f] {g} /h",
        FindingCriteria={"Criterion": {"type": TYPE}},
    )
    assert [f["Name"] for f in fake_aws.filters] == ["n-2"]
