"""fetch_findings against the local GuardDuty endpoint: regions, paging, batching, failures."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pandas as pd
import pytest

from tests.bounded import bounded
from tests.fake_aws import DROP, FakeAws
from torinvest.aws import Aws, AwsConfig, pages
from torinvest.findings import TOR_FINDING_TYPES, fetch_findings

SHAPES = Path(__file__).parent.parent / "fixtures" / "guardduty" / "shapes"
BASE = json.loads((SHAPES / "single_raw.json").read_text())


def tor_findings(count: int, region: str, *, prefix: str = "a", **changes: object) -> list[dict]:
    out = []
    for i in range(count):
        f = copy.deepcopy(BASE)
        f["id"] = f"{prefix}{i:031x}"
        f["region"] = region
        f["updatedAt"] = f"2023-07-10T12:{i % 60:02d}:00.000Z"
        f.update(changes)
        out.append(f)
    return out


@pytest.fixture
def aws(fake_aws: FakeAws, monkeypatch: pytest.MonkeyPatch) -> Aws:
    # AWS_MAX_ATTEMPTS from the environment is honoured (the chain wins over our default).
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")
    return Aws(AwsConfig(max_workers=4))


def test_pages_and_batches_in_every_region(fake_aws: FakeAws, aws: Aws) -> None:
    fake_aws.guardduty("us-east-1").add_detector()
    fake_aws.guardduty("us-east-1").add_findings(tor_findings(120, "us-east-1"))
    fake_aws.guardduty("eu-west-1").add_detector()
    fake_aws.guardduty("eu-west-1").add_findings(tor_findings(3, "eu-west-1", prefix="b"))
    result = fetch_findings(aws, ["us-east-1", "eu-west-1"])
    assert result.issues == []
    assert len(result.findings) == 123
    assert {f.origin for f in result.findings} == {"guardduty:us-east-1", "guardduty:eu-west-1"}
    assert all(f.shape == "api" for f in result.findings)
    lists = fake_aws.calls("ListFindings", region="us-east-1")
    assert len(lists) == 3  # 50 + 50 + 20
    gets = fake_aws.calls("GetFindings", region="us-east-1")
    assert [len(c.params["FindingIds"]) for c in gets] == [50, 50, 20]
    crit = lists[0].params["FindingCriteria"]["Criterion"]
    assert crit["type"] == {"Eq": list(TOR_FINDING_TYPES)}
    assert crit["service.archived"] == {"Eq": ["false"]}
    frame = result.frame()
    assert frame["region"].value_counts().to_dict() == {"us-east-1": 120, "eu-west-1": 3}


def test_archived_and_other_types_are_filtered_by_guardduty(fake_aws: FakeAws, aws: Aws) -> None:
    gd = fake_aws.guardduty("us-east-1")
    gd.add_detector()
    live = tor_findings(2, "us-east-1")
    archived = tor_findings(1, "us-east-1", prefix="c")
    archived[0]["service"] = {**archived[0]["service"], "archived": True}
    other = tor_findings(1, "us-east-1", prefix="d", type="Recon:IAMUser/UserPermissions")
    gd.add_findings(live + archived + other)
    ids = {f.id for f in fetch_findings(aws, ["us-east-1"]).findings}
    assert ids == {live[0]["id"], live[1]["id"]}
    ids = {f.id for f in fetch_findings(aws, ["us-east-1"], include_archived=True).findings}
    assert ids == {live[0]["id"], live[1]["id"], archived[0]["id"]}


def test_one_failing_region_does_not_stop_the_others(fake_aws: FakeAws, aws: Aws) -> None:
    fake_aws.guardduty("us-east-1").add_detector()
    fake_aws.guardduty("us-east-1").add_findings(tor_findings(2, "us-east-1"))
    fake_aws.fail("guardduty", "eu-west-1", "AccessDeniedException")
    fake_aws.fail("guardduty", "ap-east-1", "UnrecognizedClientException")
    fake_aws.fail("guardduty", "sa-east-1", DROP)
    # eu-central-1: reachable, but GuardDuty has no detector there
    regions = ["us-east-1", "eu-west-1", "ap-east-1", "sa-east-1", "eu-central-1"]
    result = fetch_findings(aws, regions)
    assert len(result.findings) == 2
    problems = {i.source: i.problem for i in result.issues}
    assert sorted(problems) == [
        "guardduty:ap-east-1",
        "guardduty:eu-central-1",
        "guardduty:eu-west-1",
        "guardduty:sa-east-1",
    ]
    assert "guardduty:ListDetectors" in problems["guardduty:eu-west-1"]
    assert "opt-in region" in problems["guardduty:ap-east-1"]
    assert "could not reach" in problems["guardduty:sa-east-1"]
    assert "no detector" in problems["guardduty:eu-central-1"]
    # an administrator's view: a member's own detector there is not seen, and that is said
    assert (
        "member account that enabled GuardDuty there itself" in problems["guardduty:eu-central-1"]
    )


def test_a_list_findings_token_that_repeats_is_named_and_the_others_kept(
    fake_aws: FakeAws, aws: Aws
) -> None:
    for region in ("us-east-1", "eu-west-1"):
        fake_aws.guardduty(region).add_detector()
        fake_aws.guardduty(region).add_findings(tor_findings(2, region))
    fake_aws.loop_tokens("guardduty", "eu-west-1", operation="ListFindings")
    result = fetch_findings(aws, ["us-east-1", "eu-west-1"])
    assert {f.origin for f in result.findings} == {"guardduty:us-east-1"}
    (issue,) = result.issues
    assert issue.source == "guardduty:eu-west-1"
    assert issue.problem.startswith(
        "ListFindings on guardduty in eu-west-1: the endpoint returned the same next token twice"
    )
    assert "results of this call are incomplete" in issue.problem
    assert result.failed == ["guardduty:eu-west-1"] and result.answered == ["guardduty:us-east-1"]


@pytest.mark.parametrize("operation", ["ListDetectors", "ListFindings"])
@pytest.mark.parametrize("period", [2, None], ids=["cycle-of-2", "fresh-for-ever"])
def test_a_page_chain_that_never_ends_fails_its_region_not_the_others(
    fake_aws: FakeAws, aws: Aws, monkeypatch: pytest.MonkeyPatch, operation: str, period: int | None
) -> None:
    """Tokens in a cycle (A, B, A…: botocore's paginator sees no repeat on consecutive pages)
    or fresh ones for ever (up to the page cap): the region stops, said as incomplete, and the
    other region is whole. Bounded: a regression fails instead of hanging."""
    monkeypatch.setitem(pages.MAX_PAGES, operation, 5)
    for region in ("us-east-1", "eu-west-1"):
        fake_aws.guardduty(region).add_detector()
        fake_aws.guardduty(region).add_findings(tor_findings(2, region))
    fake_aws.loop_tokens("guardduty", "eu-west-1", period=period, operation=operation)
    result = bounded(lambda: fetch_findings(aws, ["us-east-1", "eu-west-1"]))
    assert {f.origin for f in result.findings} == {"guardduty:us-east-1"}
    assert len(result.findings) == 2
    (issue,) = result.issues
    assert issue.source == "guardduty:eu-west-1"
    read = len(fake_aws.calls(operation, region="eu-west-1"))
    assert read == (5 if period is None else period + 1)
    problem = "returned the same next token twice" if period else "still returned a next token"
    assert issue.problem.startswith(
        f"{operation} on guardduty in eu-west-1: the endpoint {problem}"
    )
    assert f"; stopped after {read} page(s), the results of this call are incomplete" in (
        issue.problem
    )
    assert result.failed == ["guardduty:eu-west-1"] and result.answered == ["guardduty:us-east-1"]


def test_regions_searched_in_order_when_sequential(fake_aws: FakeAws) -> None:
    for r in ("us-east-1", "us-west-2"):
        fake_aws.guardduty(r).add_detector()
    aws = Aws(AwsConfig(max_workers=1))
    result = fetch_findings(aws, ["us-west-2", "us-east-1"])
    assert result.sources == ["guardduty:us-west-2", "guardduty:us-east-1"]
    assert result.findings == []
    assert result.issues == []


def test_window_and_accounts_reach_the_criteria(fake_aws: FakeAws, aws: Aws) -> None:
    gd = fake_aws.guardduty("us-east-1")
    gd.add_detector()
    gd.add_findings(tor_findings(10, "us-east-1"))
    result = fetch_findings(
        aws,
        ["us-east-1"],
        start=pd.Timestamp("2023-07-10T12:03:00Z"),
        end=pd.Timestamp("2023-07-10T12:05:00Z"),
        account_ids=[BASE["accountId"]],
    )
    assert sorted(f.data["updatedAt"] for f in result.findings) == [
        "2023-07-10T12:03:00.000Z",
        "2023-07-10T12:04:00.000Z",
        "2023-07-10T12:05:00.000Z",
    ]


# --------------------------------------------------------------------------------------------
# a fetch kept in a file (torinvest.findings.fetched): what the notebook of a command reads
# --------------------------------------------------------------------------------------------
def test_a_kept_fetch_reads_back_as_the_fetch_with_what_could_not_be_searched(
    fake_aws: FakeAws, aws: Aws, tmp_path: Path
) -> None:
    from torinvest.errors import FindingNotFoundError
    from torinvest.findings.fetched import fetched_name, read_fetched, write_fetched

    fake_aws.guardduty("us-east-1").add_detector()
    fake_aws.guardduty("us-east-1").add_findings(tor_findings(3, "us-east-1"))
    fake_aws.fail("guardduty", "eu-west-1", "AccessDeniedException")
    result = fetch_findings(aws, ["us-east-1", "eu-west-1"], include_archived=True)
    path = write_fetched(result, tmp_path / fetched_name(result))
    fake_aws.clear_requests()
    back = read_fetched(path)
    assert fake_aws.requests == []  # read, not fetched
    assert [(f.id, f.origin, f.data) for f in back.findings] == [
        (f.id, f.origin, f.data) for f in result.findings
    ]
    assert [f.original for f in back.findings] == [f.original for f in result.findings]
    assert "Id" in back.findings[0].original  # GuardDuty's own shape, as it answered
    assert (back.sources, back.failed, back.issues) == (
        result.sources,
        result.failed,
        result.issues,
    )
    pd.testing.assert_frame_equal(back.frame(), result.frame())
    with pytest.raises(FindingNotFoundError, match="so it may be there"):  # eu-west-1 unsearched
        back.get("f" * 32)
    assert fetched_name(back) == fetched_name(result) == path.name  # same findings, same name


@pytest.mark.parametrize(
    "text",
    [
        "",
        "{}",
        '{"format": "torinvest/guardduty-findings/1", "sources": ["/tmp/f.json"]}',
    ],
    ids=["empty", "no-format", "not-guardduty"],
)
def test_a_file_that_is_not_a_kept_fetch_is_named(tmp_path: Path, text: str) -> None:
    from torinvest.errors import InputError
    from torinvest.findings.fetched import read_fetched

    path = tmp_path / "findings.json"
    path.write_text(text)
    with pytest.raises(InputError, match=f"fetched findings {path}: not a file of findings"):
        read_fetched(path)
    with pytest.raises(InputError, match="cannot read it: No such file"):
        read_fetched(tmp_path / "gone.json")


def test_fetched_findings_go_with_aws_sources_not_a_case_folder(tmp_path: Path) -> None:
    from torinvest import investigation
    from torinvest.case import sample_case
    from torinvest.errors import OptionsError

    sources = investigation.sources_from_parameters(case_dir=str(sample_case().root))
    with pytest.raises(OptionsError, match="fetched_findings goes with AWS sources"):
        investigation.load_findings(sources, fetched=str(tmp_path / "findings.json"))


@pytest.mark.parametrize("operation", ["ListFindings", "GetFindings"])
def test_credentials_that_expire_on_page_2_keep_page_1_and_say_the_region_read_in_part(
    fake_aws: FakeAws, aws: Aws, operation: str
) -> None:
    """ListFindings (or the GetFindings of its page) answered ExpiredToken on page 2: the
    findings of page 1 are kept and the region says it was read in part — which page stopped
    and why — never "could not be searched" with what was read thrown away."""
    fake_aws.guardduty("us-east-1").add_detector()
    fake_aws.guardduty("us-east-1").add_findings(tor_findings(120, "us-east-1"))
    fake_aws.guardduty("eu-west-1").add_detector()
    fake_aws.guardduty("eu-west-1").add_findings(tor_findings(3, "eu-west-1", prefix="b"))
    message = "The security token included in the request is expired"
    fake_aws.fail(
        "guardduty", "us-east-1", "ExpiredTokenException", operation=operation,
        message=message, after=1,
    )  # fmt: skip
    result = fetch_findings(aws, ["us-east-1", "eu-west-1"])
    assert len(result.findings) == 53
    assert [f.origin for f in result.findings].count("guardduty:us-east-1") == 50
    assert result.failed == [] and result.partial == ["guardduty:us-east-1"]
    assert result.answered == ["guardduty:us-east-1", "guardduty:eu-west-1"]
    (issue,) = result.issues
    assert issue.source == "guardduty:us-east-1" and issue.unread
    assert issue.problem.startswith(
        "read in part: 50 finding(s) from 1 page(s) of ListFindings were read, then "
    )
    stopped = "ListFindings page 2" if operation == "ListFindings" else "GetFindings of the"
    assert f"then {stopped}" in issue.problem and "ExpiredTokenException" in issue.problem
    assert "the findings from that page on are not listed" in issue.problem
    assert result.gap(detail=False) == "1 region(s) read in part"
    assert result.gap().startswith("1 region(s) read in part: us-east-1 (read in part: 50 ")
    assert not result.complete or result.unread_records  # never read as a whole search


def test_kept_findings_fetched_with_other_access_are_refused_not_investigated(
    fake_aws: FakeAws, aws: Aws, tmp_path: Path
) -> None:
    """A working copy's kept findings were fetched with its profile, role and regions: the
    analyst who changes those in the notebook must not get the first account's (or regions')
    findings investigated with the new access's logs — the file says what it was fetched
    with, and another access is refused, naming what differs."""
    from torinvest import investigation
    from torinvest.errors import InputError
    from torinvest.findings.fetched import fetched_name, fetched_with, write_fetched

    fake_aws.guardduty("us-east-1").add_detector()
    fake_aws.guardduty("us-east-1").add_findings(tor_findings(2, "us-east-1"))
    regions = ["us-east-1", "eu-west-1"]
    result = fetch_findings(aws, regions, include_archived=True)
    path = write_fetched(result, tmp_path / fetched_name(result), fetched_with(None, None, regions))

    same = investigation.sources_from_parameters(regions="eu-west-1, us-east-1")
    assert len(investigation.load_findings(same, fetched=str(path)).findings) == 2
    role = "arn:aws:iam::222222222222:role/Audit"
    for other, said in [
        ({"regions": "us-east-1"}, "regions: eu-west-1,us-east-1, now us-east-1"),
        ({"regions": ",".join(regions), "role_arn": role}, f"role_arn: (none), now '{role}'"),
    ]:
        sources = investigation.sources_from_parameters(**other)
        with pytest.raises(InputError) as raised:
            investigation.load_findings(sources, fetched=str(path))
        assert "fetched with other AWS access than this notebook's" in raised.value.message
        assert said in raised.value.message, raised.value.message
        assert "leave the fetched_findings parameter empty" in str(raised.value.hint)
    # a file kept before the access was: read as it is
    old = write_fetched(result, tmp_path / "old.json")
    assert investigation.load_findings(sources, fetched=str(old)).findings


def test_a_finding_read_from_a_kept_fetch_says_when_it_was_fetched_on_its_card(
    fake_aws: FakeAws, aws: Aws, tmp_path: Path
) -> None:
    """A working copy reopened days later reads its findings from the kept file: the finding's
    card says when they were fetched and how long ago, that status, archived state and count
    are as of then, and how to fetch them again — it showed them as if current. A fetch made
    in the run says nothing of the kind; a file that does not keep the time says so."""
    from torinvest import display, investigation
    from torinvest.findings.fetched import (
        FETCHED_AS_OF,
        fetched_name,
        fetched_with,
        fetched_words,
        write_fetched,
    )

    fake_aws.guardduty("us-east-1").add_detector()
    fake_aws.guardduty("us-east-1").add_findings(tor_findings(1, "us-east-1"))
    result = fetch_findings(aws, ["us-east-1"], include_archived=True)
    fid = result.findings[0].id
    path = write_fetched(result, tmp_path / fetched_name(result), fetched_with(None, None, None))
    doc = json.loads(path.read_text())
    doc["fetched_at"] = "2026-12-01T09:30:00.123456Z"
    path.write_text(json.dumps(doc))

    sources = investigation.sources_from_parameters(regions="all")
    findings = investigation.load_findings(sources, fetched=str(path))
    assert findings.fetched_at == pd.Timestamp("2026-12-01T09:30:00.123456Z")
    said = fetched_words(findings, fid, now=pd.Timestamp("2026-12-04T13:31:00Z"))
    assert said == (
        f"fetched from GuardDuty at 2026-12-01T09:30:00Z (3 days 4 hours ago), kept in "
        f"{path.name}: its status, archived state and count are as they were then, not "
        "necessarily now; to see them as GuardDuty has them now, fetch them again: in a "
        "working copy, leave the fetched_findings parameter empty and re-run it (it fetches "
        f"finding {fid} again); for a report, run its `torinvest investigate` command again"
    )
    row, key = investigation.locate(findings, fid)
    assert row[FETCHED_AS_OF].startswith("fetched from GuardDuty at 2026-12-01T09:30:00Z (")
    card = display.finding_card(row, key).data
    assert "as of" in card and "fetched from GuardDuty at 2026-12-01T09:30:00Z (" in card
    assert "leave the fetched_findings parameter empty" in card

    fresh, fresh_key = investigation.locate(result.tor_only(), fid)  # fetched in this run
    assert FETCHED_AS_OF not in fresh.index
    assert "fetched from GuardDuty" not in display.finding_card(fresh, fresh_key).data

    del doc["fetched_at"]
    path.write_text(json.dumps(doc))
    unsaid = investigation.load_findings(sources, fetched=str(path))
    assert fetched_words(unsaid, fid) is not None
    assert f"at a time the kept file {path.name} does not say" in str(fetched_words(unsaid, fid))
