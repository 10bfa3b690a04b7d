"""Text from AWS answers that no writer can write: botocore reads JSON answers with Python's
``json``, which turns an escape of a lone UTF-16 surrogate (``"\\ud800"``, legal JSON) into a
``str`` that orjson, ``str.encode``, CSV and HTML writers, a terminal and an HTTP body all refuse.
GuardDuty findings and LookupEvents answers carry text an attacker wrote (a user agent, a user
or resource name, a finding's title built from them).

The class is fixed in one place: every client torinvest builds makes an answer's text valid
before it is parsed (:func:`torinvest.aws.answers.repair_answer`: U+FFFD in place of the half
character, as the file readers do), and the reader of the answer names the finding or event
that holds it in a data issue. Each output is tested once: the terminal, JSON, CSV, the HTML
report and a ticket (was: ``internal error: UnicodeEncodeError … surrogates not allowed`` from
``findings``, ``investigate`` and ``verdict``; no report to post).
"""

from __future__ import annotations

import copy
import csv
import json
from pathlib import Path
from typing import Any

import orjson
import pandas as pd
import pytest

from tests.cli_run import run
from tests.fake_aws import FakeAws
from tests.fake_tickets import FakeJira
from tests.post.conftest import variables
from torinvest.aws import Aws, AwsConfig, answer_repairs
from torinvest.post import post_report
from torinvest.sources.lookup import lookup_events

ROOT = Path(__file__).resolve().parents[2]
RAW: dict[str, Any] = json.loads(
    (ROOT / "tests" / "fixtures" / "guardduty" / "shapes" / "single_raw.json").read_text()
)
FINDING = RAW["id"]
KEY = RAW["resource"]["accessKeyDetails"]["accessKeyId"]
#: Text with a lone high surrogate: the fake's ``json.dumps`` sends it as ``"\ud800"``.
HALF = "ev\ud800il"
SEEN = "ev\ufffdil"  # what every output holds instead


def _clean(text: str) -> None:
    """``text`` can be written anywhere: no lone surrogate in it."""
    text.encode("utf-8")


def _seed(fake: FakeAws) -> None:
    """A Tor finding seen 50 to 40 minutes ago whose attacker-written fields hold ``HALF``, and
    its key's three calls, whose user name (LookupEvents' ``Username``), user agent and request
    hold it too; a severity GuardDuty sends as NaN (a double may be "NaN": botocore reads it)."""
    now = pd.Timestamp.now(tz="UTC").floor("s")

    def ago(minutes: int) -> str:
        return (now - pd.Timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")

    raw = copy.deepcopy(RAW)
    raw["service"].update(eventFirstSeen=ago(50), eventLastSeen=ago(40))
    raw.update(createdAt=ago(30), updatedAt=ago(30), title=f"Tor {HALF}")
    raw["resource"]["accessKeyDetails"]["userName"] = f"ben{HALF}"
    call = raw["service"]["action"]["awsApiCallAction"]
    call["userAgent"] = f"curl/{HALF}"
    call["affectedResources"] = {"AWS::IAM::User": f"u{HALF}"}
    gd = fake.guardduty("us-east-1")
    gd.add_detector(raw["service"]["detectorId"])
    gd.add_findings([raw])
    identity = {"type": "IAMUser", "accessKeyId": KEY, "userName": f"ben{HALF}"}
    fake.cloudtrail("us-east-1").add_records(
        [
            {
                "eventVersion": "1.08",
                "eventID": f"aws-{i}",
                "eventTime": ago(50 - i),
                "eventName": name,
                "eventSource": "iam.amazonaws.com",
                "awsRegion": "us-east-1",
                "sourceIPAddress": "185.220.101.34",
                "userAgent": f"aws-cli/{HALF}",
                "userIdentity": identity,
                "requestParameters": {"userName": f"x{HALF}"},
            }
            for i, name in enumerate(["ListUsers", "ListRoles", "CreateUser"])
        ]
    )
    fake.set_lookup_rate(None)


@pytest.fixture
def seeded(fake_aws: FakeAws, monkeypatch: pytest.MonkeyPatch) -> FakeAws:
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    _seed(fake_aws)
    return fake_aws


# -- the class: every client's answers ---------------------------------------------------------


def test_every_client_makes_an_answers_text_valid_and_says_so(seeded: FakeAws) -> None:
    """GetFindings through any client :class:`Aws` builds: the text holds U+FFFD (a pair would
    be kept), and the answer carries what was replaced."""
    gd = Aws(AwsConfig(region="us-east-1")).client("guardduty", "us-east-1")
    (detector,) = gd.list_detectors()["DetectorIds"]
    resp = gd.get_findings(DetectorId=detector, FindingIds=[FINDING])
    (finding,) = resp["Findings"]
    assert finding["Resource"]["AccessKeyDetails"]["UserName"] == f"ben{SEEN}"
    assert finding["Service"]["Action"]["AwsApiCallAction"]["UserAgent"] == f"curl/{SEEN}"
    orjson.dumps(finding)  # was: TypeError: str is not valid UTF-8: surrogates not allowed
    assert "4 escape(s) of a lone UTF-16 surrogate" in answer_repairs(resp).describe()
    assert not answer_repairs(gd.list_detectors())  # an answer without one: untouched


def test_lookup_events_names_the_events_whose_own_fields_were_repaired(
    seeded: FakeAws, moto: str
) -> None:
    """``Username`` beside ``CloudTrailEvent`` held the half character: the events holding it
    are named (the record's own text is repaired and named as before)."""
    now = pd.Timestamp.now(tz="UTC")
    result = lookup_events(
        Aws(AwsConfig(region="us-east-1", max_workers=1)),
        KEY,
        start=now - pd.Timedelta(hours=2),
        end=now,
        regions=["us-east-1"],
        cache_dir=False,
    )
    assert set(result.frame["user_agent"]) == {f"aws-cli/{SEEN}"}
    said = [i.problem for i in result.issues if i.problem.startswith("LookupEvents' answer:")]
    assert len(said) == 1, result.issues
    assert "were replaced with U+FFFD: event aws-2 (CreateUser), event aws-1" in said[0]


# -- each output ------------------------------------------------------------------------------


def test_terminal(seeded: FakeAws) -> None:
    code, out, err = run("findings", "--regions", "us-east-1")
    assert code == 0, err
    assert f"ben{SEEN}" in out
    _clean(out + err)
    (issue,) = [ln for ln in err.splitlines() if "lone UTF-16 surrogate" in ln]
    assert issue.startswith("torinvest: issue: guardduty:us-east-1: GuardDuty's GetFindings")
    assert f"finding {FINDING} hold(s) it" in issue


def test_json(seeded: FakeAws) -> None:
    code, out, err = run("findings", "--regions", "us-east-1", "--json")
    assert code == 0, err
    (listed,) = orjson.loads(out.encode())
    assert listed["user_name"] == f"ben{SEEN}"
    assert f"finding {FINDING} hold(s) it" in err


_RUN: dict[str, Path] = {}


def investigated(fake: FakeAws, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The finding investigated from the fakes (once for the tests of this module), its
    verdict recorded with evidence from AWS."""
    if "out" not in _RUN:
        _seed(fake)
        root = tmp_path_factory.mktemp("answer-text")
        out, ledger = root / "out", root / "ledger.jsonl"
        code, _, err = run(
            "investigate", FINDING, "--regions", "us-east-1", "--out", str(out),
            "--ledger", str(ledger),
        )  # fmt: skip
        assert code == 0, err
        assert "Traceback" not in err
        code, said, err = run(
            "verdict", FINDING, "--status", "malicious", "--analyst", "ana", "--rationale",
            "tor", "--regions", "us-east-1", "--ledger", str(ledger),
        )  # fmt: skip
        assert code == 0, err
        _clean(said + err)
        _RUN["out"], _RUN["ledger"] = out, ledger
    return _RUN["out"]


@pytest.fixture
def report_folder(
    fake_aws: FakeAws,
    moto: str,
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> Path:
    # the credentials are the finding's account's: LookupEvents asked in another account is
    # "could not look" in the finding's (tests/test_finding_account.py)
    monkeypatch.setenv("MOTO_ACCOUNT_ID", str(RAW["accountId"]))
    return investigated(fake_aws, tmp_path_factory)


def test_json_files_of_the_report(report_folder: Path) -> None:
    summary = orjson.loads((report_folder / "summary.json").read_bytes())
    assert summary["key"]["user_name"] == f"ben{SEEN}"
    named = [i["problem"] for i in summary["data_issues"] if "lone UTF-16" in i["problem"]]
    assert any(f"finding {FINDING} hold(s) it" in p for p in named), named
    assert any("event aws-0 (ListUsers)" in p for p in named), named
    kept = orjson.loads((report_folder / "findings.json").read_bytes())
    assert kept["findings"][0]["finding"]["Title"] == f"Tor {SEEN}"


def test_csv(report_folder: Path) -> None:
    with open(report_folder / "events.csv", encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 3  # every record kept
    assert {r["user_agent"] for r in rows} == {f"aws-cli/{SEEN}"}
    assert {r["user_name"] for r in rows} == {f"ben{SEEN}"}
    per_ip = (report_folder / "per_ip.csv").read_text(encoding="utf-8")
    assert f"aws-cli/{SEEN}" in per_ip


def test_html(report_folder: Path) -> None:
    page = (report_folder / "report.html").read_text(encoding="utf-8")
    assert f"ben{SEEN}" in page
    assert "lone UTF-16 surrogate" in page  # the data issue, on the page


def test_ticket(report_folder: Path, tmp_path: Path) -> None:
    with FakeJira(cloud=True) as jira:
        jira.add_issue("SEC-1")
        (o,) = post_report(
            report_folder, ["jira:SEC-1"], env=variables(jira), ledger=tmp_path / "l.jsonl"
        ).outcomes
        assert o.status == "posted", o.line
        (comment,) = jira.issues["SEC-1"]["comments"]
        text = json.dumps(comment["body"], ensure_ascii=False)
        assert f"ben{SEEN}" in text
        assert jira.violations == []
