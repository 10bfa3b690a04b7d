"""Which trails record data events (torinvest.data_trails): CloudTrail's DescribeTrails and
GetEventSelectors answers summarized (pure, answers in botocore's shapes), and asked by an
investigation with access to the finding's account — trails in moto's server (through the fault
proxy: DescribeTrails and GetEventSelectors to moto, LookupEvents and GuardDuty to
tests/fake_aws): a trail with S3 data selectors for all buckets, one with advanced selectors,
one without data selectors (in no trail's log files, said plainly), access denied (could not check), a
case folder (not asked). summary.json carries it (schema checked); the data-events sentence
every surface shows says it."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.session
import botocore.validate
import pandas as pd
import pytest

from tests.fake_aws import FakeAws
from tests.fake_aws.proxy import DENIED, FaultProxy
from torinvest import data_trails, display, investigation, report
from torinvest.case import sample_case
from torinvest.cli import main
from torinvest.data_events import summary_data_events
from torinvest.data_trails import UNSEEN
from torinvest.post.answer import build_answer
from torinvest.report.summary import summary_data

SHAPES = Path(__file__).parent / "fixtures" / "guardduty" / "shapes"
ACCOUNT = "123837392027"  # the sample finding's account
KEY = "AKIATFQR7NSCUXC3DDDP"
FINDING = "6dde0a8f8d46f6acad893b30f905e97c"
TRAIL_ARN = f"arn:aws:cloudtrail:us-east-1:{ACCOUNT}:trail/org-trail"

_MODEL = botocore.session.get_session().get_service_model("cloudtrail")


def shaped(operation: str, body: dict[str, Any]) -> dict[str, Any]:
    """``body``, checked against the operation's output shape in botocore's model."""
    shape = _MODEL.operation_model(operation).output_shape
    errors = botocore.validate.ParamValidator().validate(body, shape)
    assert not errors.has_errors(), errors.generate_report()
    return body


TRAIL = {
    "Name": "org-trail",
    "S3BucketName": "org-cloudtrail-logs",
    "IncludeGlobalServiceEvents": True,
    "IsMultiRegionTrail": True,
    "HomeRegion": "us-east-1",
    "TrailARN": TRAIL_ARN,
    "LogFileValidationEnabled": True,
    "HasCustomEventSelectors": True,
    "HasInsightSelectors": False,
    "IsOrganizationTrail": True,
}


def describe(*trails: dict[str, Any]) -> list[dict[str, Any]]:
    return shaped("DescribeTrails", {"trailList": list(trails)})["trailList"]


# --------------------------------------------------------------------------------------------
# the answers summarized (pure)
# --------------------------------------------------------------------------------------------
def test_basic_s3_selectors_for_all_buckets() -> None:
    selectors = shaped(
        "GetEventSelectors",
        {
            "TrailARN": TRAIL_ARN,
            "EventSelectors": [
                {
                    "ReadWriteType": "All",
                    "IncludeManagementEvents": True,
                    "DataResources": [{"Type": "AWS::S3::Object", "Values": ["arn:aws:s3"]}],
                    "ExcludeManagementEventSources": [],
                }
            ],
        },
    )
    found = data_trails.summarize("us-east-1", describe(TRAIL), {TRAIL_ARN: selectors})
    assert found.status == "checked" and not found.none_recorded
    assert found.text == (
        "trail org-trail records S3 data events for all buckets; Lambda: none; DynamoDB: none"
    )
    (sel,) = found.selectors
    assert sel.to_json() == {
        "trail": "org-trail",
        "region": "us-east-1",
        "type": "AWS::S3::Object",
        "scope": "all",
        "read_write": "reads and writes",
    }


def test_basic_selectors_some_buckets_writes_only_and_lambda() -> None:
    selectors = shaped(
        "GetEventSelectors",
        {
            "TrailARN": TRAIL_ARN,
            "EventSelectors": [
                {
                    "ReadWriteType": "WriteOnly",
                    "IncludeManagementEvents": True,
                    "DataResources": [
                        {"Type": "AWS::S3::Object", "Values": ["arn:aws:s3:::payroll/"]},
                        {"Type": "AWS::Lambda::Function", "Values": ["arn:aws:lambda"]},
                    ],
                }
            ],
        },
    )
    found = data_trails.summarize("us-east-1", describe(TRAIL), {TRAIL_ARN: selectors})
    assert found.text == (
        "trail org-trail records S3 data events for some buckets (writes only), Lambda data "
        "events for all functions (writes only); DynamoDB: none"
    )


def test_advanced_selectors_with_event_category_data() -> None:
    selectors = shaped(
        "GetEventSelectors",
        {
            "TrailARN": TRAIL_ARN,
            "AdvancedEventSelectors": [
                {
                    "Name": "Management events",
                    "FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}],
                },
                {
                    "Name": "S3 object reads",
                    "FieldSelectors": [
                        {"Field": "eventCategory", "Equals": ["Data"]},
                        {"Field": "resources.type", "Equals": ["AWS::S3::Object"]},
                        {"Field": "readOnly", "Equals": ["true"]},
                    ],
                },
                {
                    "Name": "one table",
                    "FieldSelectors": [
                        {"Field": "eventCategory", "Equals": ["Data"]},
                        {"Field": "resources.type", "Equals": ["AWS::DynamoDB::Table"]},
                        {
                            "Field": "resources.ARN",
                            "StartsWith": [f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/users"],
                        },
                    ],
                },
            ],
        },
    )
    found = data_trails.summarize("us-east-1", describe(TRAIL), {TRAIL_ARN: selectors})
    assert [(s.type, s.scope, s.read_write) for s in found.selectors] == [
        ("AWS::S3::Object", "all", "reads only"),
        ("AWS::DynamoDB::Table", "some", "reads and writes"),
    ]
    assert found.text == (
        "trail org-trail records S3 data events for all buckets (reads only), DynamoDB data "
        "events for some tables; Lambda: none"
    )


def test_no_data_selectors_is_no_trail_records_data_events() -> None:
    management = shaped(
        "GetEventSelectors",
        {
            "TrailARN": TRAIL_ARN,
            "EventSelectors": [
                {"ReadWriteType": "All", "IncludeManagementEvents": True, "DataResources": []}
            ],
        },
    )
    found = data_trails.summarize("us-east-1", describe(TRAIL), {TRAIL_ARN: management})
    assert found.none_recorded and found.trails == ("org-trail",)
    assert found.text.startswith(
        "no trail records data events (DescribeTrails in us-east-1: 1 trail(s), none with a "
        "data event selector): S3 object reads"
    )
    assert "are in no trail's log files, and never in LookupEvents" in found.text
    assert "CloudTrail Lake event data store" in found.text  # what DescribeTrails does not show
    nothing = data_trails.summarize("eu-west-1", describe(), {})
    assert nothing.none_recorded and "0 trail(s)" in nothing.text


# --------------------------------------------------------------------------------------------
# asked by an investigation (moto's CloudTrail through the fault proxy)
# --------------------------------------------------------------------------------------------
@pytest.fixture
def proxy(moto: str, fake_aws: FakeAws, monkeypatch: pytest.MonkeyPatch) -> Iterator[FaultProxy]:
    """GuardDuty and LookupEvents from the fake, DescribeTrails and GetEventSelectors (and STS)
    from moto, through a counting, fault-injecting proxy (one attempt a call); the sample Tor
    finding in the fake's GuardDuty."""
    monkeypatch.setenv("MOTO_ACCOUNT_ID", ACCOUNT)
    fake_aws.set_lookup_rate(None)
    raw = json.loads((SHAPES / "single_raw.json").read_text())
    seen = (pd.Timestamp.now(tz="UTC") - pd.Timedelta(minutes=40)).strftime("%Y-%m-%dT%H:%M:%SZ")
    raw["service"].update(eventFirstSeen=seen, eventLastSeen=seen)  # LookupEvents' 90 days
    raw.update(createdAt=seen, updatedAt=seen)
    gd = fake_aws.guardduty("us-east-1")
    gd.add_findings([raw], detector_id=gd.add_detector(raw["service"]["detectorId"]))
    boto3.client("s3", endpoint_url=moto, region_name="us-east-1").create_bucket(
        Bucket="org-cloudtrail-logs"
    )
    routes = {op: moto for op in ("DescribeTrails", "GetEventSelectors")}
    upstreams = {"guardduty": fake_aws.url, "cloudtrail": fake_aws.url}
    with FaultProxy(upstreams, default=moto, operations=routes) as p:
        for name in (
            "AWS_ENDPOINT_URL",
            "AWS_ENDPOINT_URL_GUARDDUTY",
            "AWS_ENDPOINT_URL_CLOUDTRAIL",
        ):
            monkeypatch.setenv(name, p.url)
        monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
        yield p


def trail(moto: str, **selectors: Any) -> None:
    """org-trail in moto (its bucket made by the fixture), with ``selectors`` put."""
    ct = boto3.client("cloudtrail", endpoint_url=moto, region_name="us-east-1")
    ct.create_trail(Name="org-trail", S3BucketName="org-cloudtrail-logs", IsMultiRegionTrail=True)
    if selectors:
        ct.put_event_selectors(TrailName="org-trail", **selectors)


def run() -> tuple[investigation.Investigation, dict[str, Any]]:
    sources = investigation.sources_from_parameters(regions="us-east-1")
    inv = investigation.investigate(FINDING, sources)
    return inv, report.check_summary_data(summary_data(inv, {}))


def test_an_investigation_says_a_trail_records_s3_data_events_for_all_buckets(
    proxy: FaultProxy, moto: str
) -> None:
    trail(
        moto,
        EventSelectors=[
            {
                "ReadWriteType": "All",
                "IncludeManagementEvents": True,
                "DataResources": [{"Type": "AWS::S3::Object", "Values": ["arn:aws:s3"]}],
            }
        ],
    )
    inv, data = run()
    said = data["data_events"]
    assert said["state"] == "not searched"  # LookupEvents was read
    assert said["trails"]["status"] == "checked"
    assert said["trails"]["selectors"] == [
        {
            "trail": "org-trail",
            "region": "us-east-1",
            "type": "AWS::S3::Object",
            "scope": "all",
            "read_write": "reads and writes",
        }
    ]
    clause = "trail org-trail records S3 data events for all buckets; Lambda: none; DynamoDB: none"
    assert said["text"].startswith("data events not searched (LookupEvents")
    assert said["text"].endswith(f"; {clause}")
    assert said["text"].count(". ") == 0  # still one sentence
    # the Sources card, the ticket's answer and the terminal say the same sentence
    assert clause in display.data_events.row(inv)[1]
    assert clause in build_answer(data).text
    read_back = summary_data_events(data)
    assert read_back is not None and read_back.trails is not None
    assert read_back.trails.selectors == inv.data_trails.selectors  # type: ignore[union-attr]
    ops = [(c.service, c.operation) for c in proxy.calls(service="cloudtrail")]
    assert ("cloudtrail", "DescribeTrails") in ops and ("cloudtrail", "GetEventSelectors") in ops


def test_an_investigation_reads_advanced_selectors(proxy: FaultProxy, moto: str) -> None:
    trail(
        moto,
        AdvancedEventSelectors=[
            {
                "Name": "Lambda invocations",
                "FieldSelectors": [
                    {"Field": "eventCategory", "Equals": ["Data"]},
                    {"Field": "resources.type", "Equals": ["AWS::Lambda::Function"]},
                ],
            }
        ],
    )
    _, data = run()
    trails = data["data_events"]["trails"]
    assert [s["type"] for s in trails["selectors"]] == ["AWS::Lambda::Function"]
    assert trails["text"] == (
        "trail org-trail records Lambda data events for all functions; S3: none (S3 object "
        "reads are in no trail's log files; " + UNSEEN + "); DynamoDB: none"
    )
    assert trails["text"] in data["data_events"]["text"]


def test_no_data_selectors_says_s3_reads_are_in_no_trails_files(
    proxy: FaultProxy, moto: str
) -> None:
    trail(moto)  # a trail's default selectors: management events only
    inv, data = run()
    assert inv.data_trails is not None and inv.data_trails.none_recorded
    said = data["data_events"]
    assert said["trails"]["status"] == "checked" and said["trails"]["selectors"] == []
    assert "; no trail records data events (DescribeTrails in us-east-1: 1 trail(s)" in said["text"]
    assert (
        "S3 object reads, Lambda invocations and DynamoDB item calls are in no trail's log files"
        in (said["text"])
    )
    assert "log files, and never in LookupEvents" in display.data_events.note(inv)


def test_access_denied_is_could_not_check(proxy: FaultProxy, moto: str) -> None:
    trail(moto)
    proxy.fault("GetEventSelectors", DENIED)
    inv, data = run()
    trails = data["data_events"]["trails"]
    assert trails["status"] == "could not check"
    assert trails["text"] == (
        "which trails record data events: could not check: AccessDeniedException "
        "(cloudtrail:GetEventSelectors on trail org-trail)"
    )
    assert data["data_events"]["text"].endswith(f"; {trails['text']}")
    assert data["data_events"]["state"] == "not searched"  # the reading itself is unchanged
    assert not any("GetEventSelectors" in i["problem"] for i in data["data_issues"])
    assert inv.data_trails is not None and not inv.data_trails.selectors


def test_a_case_folder_is_not_asked() -> None:
    inv = investigation.investigate(
        FINDING, investigation.sources_from_parameters(case_dir=str(sample_case().root))
    )
    assert inv.data_trails is not None and inv.data_trails.status == "not asked"
    data = report.check_summary_data(summary_data(inv, {}))
    trails = data["data_events"]["trails"]
    assert trails["status"] == "not asked" and trails["selectors"] == []
    assert "case folder" in trails["text"] and "CloudTrail was not asked" in trails["text"]
    assert trails["text"] not in data["data_events"]["text"]  # the sentence is the reading's


def test_credentials_of_another_account_are_not_asked(proxy: FaultProxy, moto: str) -> None:
    trail(moto)
    found = data_trails.check_data_trails(
        investigation.sources_from_parameters(regions="us-east-1").aws, "us-east-1", "210987654321"
    )
    assert found.status == "not asked"
    assert f"the credentials are of account {ACCOUNT}, not the finding's 210987654321" in found.text
    assert not proxy.calls(service="cloudtrail")


# --------------------------------------------------------------------------------------------
# `torinvest events`: asked as investigate asks, where the run reads AWS
# --------------------------------------------------------------------------------------------
def _events(tmp_path: Path, *argv: str) -> str:
    err = io.StringIO()
    args = ["events", *argv, "--access-key", KEY, "--out", str(tmp_path / "e.parquet")]
    assert main(args, out=io.StringIO(), err=err) == 0, err.getvalue()
    notes = [line for line in err.getvalue().splitlines() if "data events" in line]
    assert len(notes) == 1, err.getvalue()
    return notes[0]


def test_events_with_lookup_says_which_trails_record_data_events(
    proxy: FaultProxy, moto: str, tmp_path: Path
) -> None:
    """`events --lookup` asks DescribeTrails and GetEventSelectors (read-only) and its note
    says the same sentence as investigate's summary.json."""
    trail(
        moto,
        EventSelectors=[
            {
                "ReadWriteType": "All",
                "DataResources": [{"Type": "AWS::S3::Object", "Values": ["arn:aws:s3"]}],
            }
        ],
    )
    note = _events(tmp_path, "--lookup", "--regions", "us-east-1")
    clause = "trail org-trail records S3 data events for all buckets; Lambda: none; DynamoDB: none"
    assert note.startswith("torinvest: note: data events not searched (LookupEvents")
    assert note.endswith(f"; {clause}")
    ops = {c.operation for c in proxy.calls(service="cloudtrail")}
    assert {"DescribeTrails", "GetEventSelectors"} <= ops
    assert ops <= {"DescribeTrails", "GetEventSelectors", "LookupEvents"}  # read-only
    _, data = run()
    assert data["data_events"]["text"] == note.removeprefix("torinvest: note: ")


def test_events_says_could_not_check_when_cloudtrail_refuses(
    proxy: FaultProxy, moto: str, tmp_path: Path
) -> None:
    trail(moto)
    proxy.fault("DescribeTrails", DENIED)
    note = _events(tmp_path, "--lookup", "--regions", "us-east-1")
    assert note.endswith(
        "; which trails record data events: could not check: AccessDeniedException "
        "(cloudtrail:DescribeTrails)"
    )


def test_events_over_local_files_asks_no_aws(proxy: FaultProxy, moto: str, tmp_path: Path) -> None:
    """Local log files only: the run makes no AWS call (the trails are not asked, the
    sentence is the files' alone)."""
    trail(moto)
    note = _events(tmp_path, "--case", str(sample_case().root))
    assert "hold no data events: the trail may not record them" in note
    assert "trail(s)" not in note and "which trails" not in note
    assert not proxy.calls()
