"""The AWS test harness itself: tests/fake_aws against real boto3 clients, the guard, and moto."""

from __future__ import annotations

import contextlib
import copy
import itertools
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import botocore
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError, ConnectionClosedError, PaginationError
from botocore.parsers import ResponseParserError

from tests.fake_aws import DROP, HTTP_500, FakeAws, RealAwsCallError, lookup_event

FIXTURES = Path(__file__).parent / "fixtures"
SAMPLE_FINDING = FIXTURES / "guardduty" / "raw_TorIPCaller_sample_finding.json"
INVICTUS_SAMPLE = FIXTURES / "cloudtrail" / "invictus_sample.json"
TOR_TYPE = "UnauthorizedAccess:IAMUser/TorIPCaller"
RECON_TYPE = "Recon:IAMUser/TorIPCaller"
#: Client config key ``max_attempts`` counts *retries* (botocore adds one); this one means: no retry.
NO_RETRIES = Config(retries={"total_max_attempts": 1})
NO_CLIENT_VALIDATION = Config(parameter_validation=False, retries={"total_max_attempts": 1})
BUSY_KEY = "AKIATFQR7NSC8Q4X20BJ"  # the most active key of the Invictus sample


def variants(count: int, *, prefix: str = "a", finding_type: str | None = None) -> list[dict]:
    """Copies of the real sample finding with distinct ids and updatedAt one minute apart."""
    base = json.loads(SAMPLE_FINDING.read_text())
    start = datetime(2024, 5, 1, tzinfo=UTC)
    out = []
    for i in range(count):
        finding = copy.deepcopy(base)
        finding["id"] = f"{prefix}{i:031x}"
        updated = (start + timedelta(minutes=i)).isoformat(timespec="milliseconds")
        finding["updatedAt"] = updated.replace("+00:00", "Z")
        finding["type"] = finding_type or finding["type"]
        out.append(finding)
    return out


def records() -> list[dict[str, Any]]:
    return json.loads(INVICTUS_SAMPLE.read_text())["Records"]


def epoch_ms(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp() * 1000)


@pytest.fixture
def detector(fake_aws: FakeAws) -> str:
    return fake_aws.guardduty("us-east-1").add_detector()


@pytest.fixture
def guardduty(fake_aws: FakeAws) -> Any:
    return boto3.client("guardduty", region_name="us-east-1", config=NO_RETRIES)


@pytest.fixture
def cloudtrail(fake_aws: FakeAws) -> Any:
    fake_aws.cloudtrail("us-east-1").add_records(records())
    return boto3.client("cloudtrail", region_name="us-east-1", config=NO_RETRIES)


def signed_post(url: str, service: str, body: dict[str, Any], headers: dict[str, str]) -> Any:
    """POST a SigV4-signed JSON body with urllib: what a client without botocore would send."""
    data = json.dumps(body).encode()
    request = AWSRequest("POST", url, data=data, headers=headers)
    SigV4Auth(Credentials("testing", "testing"), service, "us-east-1").add_auth(request)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    raw = urllib.request.Request(url, data=data, headers=dict(request.headers))
    try:
        with opener.open(raw, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


# --------------------------------------------------------------------------- GuardDuty


def test_list_findings_pages_230_findings_in_5_pages(
    fake_aws: FakeAws, detector: str, guardduty: Any
) -> None:
    fake_aws.guardduty("us-east-1").add_findings(variants(230))

    pages = list(guardduty.get_paginator("list_findings").paginate(DetectorId=detector))

    assert [len(p["FindingIds"]) for p in pages] == [50, 50, 50, 50, 30]
    assert len({i for p in pages for i in p["FindingIds"]}) == 230
    assert pages[-1]["NextToken"] == ""  # GuardDuty ends with an empty token, not none
    assert len(fake_aws.calls("ListFindings")) == 5


def test_get_findings_serves_the_raw_finding_as_boto3_parses_it(
    fake_aws: FakeAws, detector: str, guardduty: Any
) -> None:
    findings = variants(3)
    fake_aws.guardduty("us-east-1").add_findings(findings)

    found = guardduty.get_findings(DetectorId=detector, FindingIds=[findings[1]["id"]])

    (finding,) = found["Findings"]
    assert finding["Type"] == TOR_TYPE
    assert finding["Resource"]["AccessKeyDetails"]["AccessKeyId"] == "GeneratedFindingAccessKeyId"
    remote = finding["Service"]["Action"]["AwsApiCallAction"]["RemoteIpDetails"]
    assert remote["IpAddressV4"] == "198.51.100.0"
    assert finding["Service"]["Archived"] is False
    assert finding["UpdatedAt"] == "2024-05-01T00:01:00.000Z"  # a string in the API model


def test_list_findings_criteria_and_sort(fake_aws: FakeAws, detector: str, guardduty: Any) -> None:
    tor, recon = variants(5, prefix="a"), variants(3, prefix="b", finding_type=RECON_TYPE)
    tor[4]["accountId"] = "111122223333"
    tor[3]["resource"]["accessKeyDetails"]["accessKeyId"] = "AKIAEXAMPLEKEY000001"
    fake_aws.guardduty("us-east-1").add_findings(tor + recon)

    def ids(criterion: dict[str, Any]) -> list[str]:
        criteria = {"Criterion": criterion}
        return guardduty.list_findings(DetectorId=detector, FindingCriteria=criteria)["FindingIds"]

    is_tor = {"type": {"Eq": [TOR_TYPE]}}
    assert ids(is_tor) == [f["id"] for f in tor]
    assert ids({"type": {"NotEquals": [TOR_TYPE]}}) == [f["id"] for f in recon]
    assert ids({"accountId": {"Eq": ["111122223333"]}}) == [tor[4]["id"]]
    assert ids({"id": {"Eq": [recon[1]["id"]]}}) == [recon[1]["id"]]
    by_key = {"resource.accessKeyDetails.accessKeyId": {"Eq": ["AKIAEXAMPLEKEY000001"]}}
    assert ids(by_key) == [tor[3]["id"]]
    window = {
        "GreaterThanOrEqual": epoch_ms(tor[1]["updatedAt"]),
        "LessThanOrEqual": epoch_ms(tor[3]["updatedAt"]),
    }
    assert ids({**is_tor, "updatedAt": window}) == [f["id"] for f in tor[1:4]]
    deprecated = {"Gte": epoch_ms(tor[3]["updatedAt"]), "Lte": epoch_ms(tor[4]["updatedAt"])}
    assert ids({**is_tor, "updatedAt": deprecated}) == [tor[3]["id"], tor[4]["id"]]
    newest_first = guardduty.list_findings(
        DetectorId=detector,
        FindingCriteria={"Criterion": {"type": {"Eq": [RECON_TYPE]}}},
        SortCriteria={"AttributeName": "updatedAt", "OrderBy": "DESC"},
    )
    assert newest_first["FindingIds"] == [f["id"] for f in reversed(recon)]


def test_archive_then_filter_on_archived(fake_aws: FakeAws, detector: str, guardduty: Any) -> None:
    findings = variants(4)
    fake_aws.guardduty("us-east-1").add_findings(findings)
    archived = [findings[0]["id"], findings[2]["id"]]

    guardduty.archive_findings(DetectorId=detector, FindingIds=archived)
    current = guardduty.list_findings(
        DetectorId=detector, FindingCriteria={"Criterion": {"service.archived": {"Eq": ["false"]}}}
    )

    assert fake_aws.archived_ids == set(archived)
    assert current["FindingIds"] == [findings[1]["id"], findings[3]["id"]]
    guardduty.unarchive_findings(DetectorId=detector, FindingIds=[findings[0]["id"]])
    assert fake_aws.archived_ids == {findings[2]["id"]}


def test_member_account_has_an_administrator_and_cannot_archive(
    fake_aws: FakeAws, detector: str, guardduty: Any
) -> None:
    assert "Administrator" not in guardduty.get_administrator_account(DetectorId=detector)
    fake_aws.guardduty("us-east-1").set_administrator("111122223333")

    admin = guardduty.get_administrator_account(DetectorId=detector)["Administrator"]

    assert admin["AccountId"] == "111122223333"
    assert admin["RelationshipStatus"] == "Enabled"
    with pytest.raises(guardduty.exceptions.BadRequestException, match="member account"):
        guardduty.archive_findings(DetectorId=detector, FindingIds=["a" * 32])
    with pytest.raises(guardduty.exceptions.BadRequestException, match="member account"):
        guardduty.create_filter(
            DetectorId=detector, Name="tor", Action="ARCHIVE", FindingCriteria={}
        )


def test_create_filter_is_recorded_and_listed(
    fake_aws: FakeAws, detector: str, guardduty: Any
) -> None:
    criteria = {"Criterion": {"type": {"Eq": [TOR_TYPE]}}}
    guardduty.create_filter(
        DetectorId=detector,
        Name="tor-known-vpn",
        Action="ARCHIVE",
        Rank=1,
        FindingCriteria=criteria,
    )

    (saved,) = fake_aws.filters
    assert saved["Action"] == "ARCHIVE"
    assert saved["FindingCriteria"] == criteria
    assert guardduty.list_filters(DetectorId=detector)["FilterNames"] == ["tor-known-vpn"]
    with pytest.raises(guardduty.exceptions.BadRequestException, match="already exists"):
        guardduty.create_filter(DetectorId=detector, Name="tor-known-vpn", FindingCriteria=criteria)


def test_unknown_detector_is_rejected_as_guardduty_does(fake_aws: FakeAws, guardduty: Any) -> None:
    with pytest.raises(ClientError) as caught:
        guardduty.list_findings(DetectorId="0" * 32)

    error = caught.value.response
    assert error["Error"]["Code"] == "BadRequestException"
    assert error["Error"]["Message"] == (
        "The request is rejected because the input detectorId is not owned by the current account."
    )
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_guardduty_limits_that_botocore_does_not_check_are_enforced(
    fake_aws: FakeAws, detector: str, guardduty: Any
) -> None:
    # botocore validates min, required and types client-side, but never max or enum
    with pytest.raises(guardduty.exceptions.BadRequestException, match="MaxResults"):
        guardduty.list_findings(DetectorId=detector, MaxResults=51)
    with pytest.raises(guardduty.exceptions.BadRequestException, match="FindingIds"):
        guardduty.get_findings(DetectorId=detector, FindingIds=[f"{i:032x}" for i in range(51)])
    with pytest.raises(guardduty.exceptions.BadRequestException, match="FindingIds"):
        guardduty.archive_findings(DetectorId=detector, FindingIds=[f"{i:032x}" for i in range(51)])
    with pytest.raises(guardduty.exceptions.BadRequestException, match="Action"):
        guardduty.create_filter(
            DetectorId=detector, Name="x" * 3, Action="DELETE", FindingCriteria={}
        )
    assert not fake_aws.filters


def test_guardduty_validates_what_a_client_without_validation_sends(
    fake_aws: FakeAws, detector: str
) -> None:
    unchecked = boto3.client("guardduty", region_name="us-east-1", config=NO_CLIENT_VALIDATION)

    with pytest.raises(unchecked.exceptions.BadRequestException, match="valid min value: 1"):
        unchecked.list_findings(DetectorId=detector, MaxResults=0)
    with pytest.raises(unchecked.exceptions.BadRequestException, match="Name"):
        unchecked.create_filter(DetectorId=detector, Name="ab", FindingCriteria={})
    with pytest.raises(unchecked.exceptions.BadRequestException, match="FindingIds"):
        unchecked.get_findings(DetectorId=detector)

    assert [r.status for r in fake_aws.requests] == [400, 400, 400]


def test_next_tokens_are_opaque_and_bound_to_their_query(
    fake_aws: FakeAws, detector: str, guardduty: Any
) -> None:
    fake_aws.guardduty("us-east-1").add_findings(variants(60))
    token = guardduty.list_findings(DetectorId=detector)["NextToken"]

    assert len(guardduty.list_findings(DetectorId=detector, NextToken=token)["FindingIds"]) == 10
    with pytest.raises(guardduty.exceptions.BadRequestException, match="nextToken"):
        guardduty.list_findings(DetectorId=detector, NextToken="not-a-token")
    other_query = {"Criterion": {"type": {"Eq": [TOR_TYPE]}}}
    with pytest.raises(guardduty.exceptions.BadRequestException, match="nextToken"):
        guardduty.list_findings(DetectorId=detector, NextToken=token, FindingCriteria=other_query)


def test_regions_are_separate_and_come_from_the_signature(fake_aws: FakeAws) -> None:
    fake_aws.guardduty("eu-west-1").add_detector("d" * 32)

    east = boto3.client("guardduty", region_name="us-east-1").list_detectors()
    west = boto3.client("guardduty", region_name="eu-west-1").list_detectors()

    assert east["DetectorIds"] == []
    assert west["DetectorIds"] == ["d" * 32]
    assert [(r.region, r.operation) for r in fake_aws.requests] == [
        ("us-east-1", "ListDetectors"),
        ("eu-west-1", "ListDetectors"),
    ]


def test_requests_for_other_services_are_refused_and_logged(fake_aws: FakeAws) -> None:
    sts = boto3.client("sts", endpoint_url=fake_aws.url, config=NO_RETRIES)

    # STS speaks XML: botocore cannot parse the JSON refusal, but shows it
    with pytest.raises(
        ResponseParserError, match="serves SigV4-signed guardduty, cloudtrail, athena"
    ):
        sts.get_caller_identity()

    assert fake_aws.requests[-1][:3] == ("sts", "us-east-1", "Unknown")


def test_operation_outside_the_fake_says_so(
    fake_aws: FakeAws, detector: str, guardduty: Any
) -> None:
    with pytest.raises(ClientError, match="not implemented by tests/fake_aws") as caught:
        guardduty.get_detector(DetectorId=detector)

    assert caught.value.response["Error"]["Code"] == "NotImplementedByFake"


# --------------------------------------------------------------------------- Athena


@pytest.fixture
def athena(fake_aws: FakeAws) -> Any:
    return boto3.client("athena", region_name="us-east-1", config=NO_RETRIES)


def test_athena_rejects_what_its_model_rejects(fake_aws: FakeAws, athena: Any) -> None:
    """Requests botocore's Athena model forbids (checked client-side or not) are refused with
    InvalidRequestException, HTTP 400, naming the parameter; none starts a query."""
    unchecked = boto3.client("athena", region_name="us-east-1", config=NO_CLIENT_VALIDATION)
    fake_aws.athena("us-east-1").add_results([("n", "bigint")], [["1"]])
    query_id = athena.start_query_execution(QueryString="SELECT 1")["QueryExecutionId"]

    refused = [
        (lambda: unchecked.start_query_execution(), "QueryString"),
        (lambda: unchecked.start_query_execution(QueryString=""), "valid min length: 1"),
        (lambda: unchecked.start_query_execution(QueryString=7), "QueryString"),
        (lambda: athena.start_query_execution(QueryString="x" * 262145), "QueryString"),
        (
            lambda: athena.get_query_results(QueryExecutionId=query_id, MaxResults=1001),
            "MaxResults: 1001, valid max value: 1000",
        ),
        (
            lambda: athena.start_query_execution(QueryString="SELECT 1", WorkGroup="nope"),
            "WorkGroup nope is not found",
        ),
        (lambda: athena.get_query_execution(QueryExecutionId="no-such-id"), "was not found"),
    ]
    for call, problem in refused:
        with pytest.raises(athena.exceptions.InvalidRequestException, match=problem):
            call()
    assert [r.status for r in fake_aws.calls(service="athena")] == [200] + [400] * len(refused)
    assert [e.query_id for e in fake_aws.athena("us-east-1").executions] == [query_id]


def test_athena_engine_speaks_the_installed_models_protocol(fake_aws: FakeAws) -> None:
    """The engine's calls travel in the protocol of the installed botocore's Athena model
    (json 1.1 with X-Amz-Target before botocore 1.44.18, rest-json with method and path from
    1.44.18), the fake routes each to its operation, and the query's rows come back."""
    from torinvest.sources.sql.athena import AthenaEngine

    athena = fake_aws.athena("us-east-1")
    athena.add_results([("source_ip", "varchar"), ("events", "bigint")], [["198.51.100.7", "3"]])
    athena.set_polls(queued=1, running=1)
    engine = AthenaEngine(database="security", sleep=lambda _: None)
    model = engine.client.meta.service_model
    sent: list[tuple[str, str, str | None]] = []

    def record(request: Any, **_: Any) -> None:
        target = request.headers.get("X-Amz-Target")
        path = request.url.split(fake_aws.url, 1)[1].split("?", 1)[0]
        sent.append(
            (request.method, path, target.decode() if isinstance(target, bytes) else target)
        )

    engine.client.meta.events.register("before-send.athena", record)
    run = engine.execute("SELECT source_ip, events FROM t")

    assert run.rows == [["198.51.100.7", "3"]] and run.types == ["varchar", "bigint"]
    operations = ["StartQueryExecution", *["GetQueryExecution"] * 3, "GetQueryResults"]
    assert [r.operation for r in fake_aws.calls(service="athena")] == operations
    qid = run.query_id
    if model.protocol == "json":
        assert sent == [("POST", "/", f"AmazonAthena.{op}") for op in operations]
    else:
        assert model.protocol == "rest-json", f"the fake does not speak {model.protocol}"
        assert sent == [
            ("POST", "/query-executions", None),
            *[("GET", f"/query-executions/{qid}", None)] * 3,
            ("GET", f"/query-executions/{qid}/results", None),
        ]
    version = tuple(int(p) for p in botocore.__version__.split(".")[:3])
    assert model.protocol == ("rest-json" if version >= (1, 44, 18) else "json")


def test_athena_failures_and_retries(fake_aws: FakeAws) -> None:
    """fail() reaches Athena too: a throttled GetQueryResults is retried by botocore and the
    rows still come back whole."""
    from torinvest.sources.sql.athena import AthenaEngine

    fake_aws.athena("us-east-1").add_results([("n", "bigint")], [["1"], ["2"]])
    fake_aws.fail("athena", "*", "ThrottlingException", operation="GetQueryResults", times=1)
    run = AthenaEngine(database="security", sleep=lambda _: None).execute("SELECT n FROM t")
    assert run.rows == [["1"], ["2"]]
    assert [r.status for r in fake_aws.calls("GetQueryResults")] == [400, 200]


# --------------------------------------------------------------------------- CloudTrail


def test_lookup_events_by_access_key_pages_newest_first(fake_aws: FakeAws, cloudtrail: Any) -> None:
    expected = [r for r in records() if r["userIdentity"].get("accessKeyId") == BUSY_KEY]
    by_key = [{"AttributeKey": "AccessKeyId", "AttributeValue": BUSY_KEY}]

    pages = list(cloudtrail.get_paginator("lookup_events").paginate(LookupAttributes=by_key))

    events = [e for p in pages for e in p["Events"]]
    assert [len(p["Events"]) for p in pages] == [50, len(expected) - 50]
    assert {e["EventId"] for e in events} == {r["eventID"] for r in expected}
    assert {e["AccessKeyId"] for e in events} == {BUSY_KEY}
    times = [e["EventTime"] for e in events]
    assert times == sorted(times, reverse=True)
    assert "NextToken" not in pages[-1]


def test_lookup_events_all_records_in_many_pages(fake_aws: FakeAws, cloudtrail: Any) -> None:
    fake_aws.set_lookup_rate(None)

    pages = list(
        cloudtrail.get_paginator("lookup_events").paginate(PaginationConfig={"PageSize": 30})
    )

    assert [len(p["Events"]) for p in pages] == [30] * 6 + [20]
    assert len({e["EventId"] for p in pages for e in p["Events"]}) == 200


def test_loop_tokens_never_ends_paging_with_tokens_the_fake_accepts(
    fake_aws: FakeAws, cloudtrail: Any, guardduty: Any, detector: str
) -> None:
    fake_aws.set_lookup_rate(None)
    by_key = [{"AttributeKey": "AccessKeyId", "AttributeValue": BUSY_KEY}]

    def tokens(period: int | None, calls: int = 7) -> list[str]:
        fake_aws.loop_tokens("cloudtrail", "us-east-1", period=period)
        out: list[str] = []
        kw: dict[str, Any] = {}
        for _ in range(calls):
            page = cloudtrail.lookup_events(LookupAttributes=by_key, **kw)  # validated tokens
            out.append(page["NextToken"])
            kw = {"NextToken": page["NextToken"]}
        return out

    assert len(set(tokens(1))) == 1
    cycle = tokens(3)
    assert len(set(cycle)) == 3 and cycle[:3] == cycle[3:6]
    assert len(set(tokens(None, calls=12))) == 12  # past the last events: empty pages, no end
    fake_aws.loop_tokens("cloudtrail", "us-east-1")
    with pytest.raises(PaginationError, match="same next token"):  # botocore's own check
        list(cloudtrail.get_paginator("lookup_events").paginate(LookupAttributes=by_key))
    fake_aws.loop_tokens("guardduty", "us-east-1", operation="ListFindings")
    fake_aws.guardduty("us-east-1").add_findings(variants(3))
    first = guardduty.list_findings(DetectorId=detector)
    again = guardduty.list_findings(DetectorId=detector, NextToken=first["NextToken"])
    assert first["NextToken"] == again["NextToken"] and len(again["FindingIds"]) == 3
    fake_aws.clear_failures()
    assert guardduty.list_findings(DetectorId=detector)["NextToken"] == ""


def test_lookup_event_shape_matches_the_api(fake_aws: FakeAws, cloudtrail: Any) -> None:
    assumed = next(r for r in records() if r["userIdentity"].get("type") == "AssumedRole")
    with_resources = next(r for r in records() if r.get("resources"))
    fake_aws.set_lookup_rate(None)

    def one(record: dict[str, Any]) -> dict[str, Any]:
        by_id = [{"AttributeKey": "EventId", "AttributeValue": record["eventID"]}]
        (event,) = cloudtrail.lookup_events(LookupAttributes=by_id)["Events"]
        return event

    event = one(assumed)
    assert event["Username"] == assumed["userIdentity"]["arn"].rsplit("/", 1)[1]
    assert event["ReadOnly"] in ("true", "false")
    assert event["EventTime"] == datetime.fromisoformat(assumed["eventTime"])
    assert json.loads(event["CloudTrailEvent"]) == assumed
    resources = one(with_resources)["Resources"]
    assert resources == [
        {"ResourceType": r["type"], "ResourceName": r["ARN"]} for r in with_resources["resources"]
    ]
    assert lookup_event(with_resources)["Resources"] == resources


def test_lookup_events_time_window_and_other_attributes(fake_aws: FakeAws, cloudtrail: Any) -> None:
    fake_aws.set_lookup_rate(None)
    start, end = (
        datetime(2023, 7, 10, 11, 45, tzinfo=UTC),
        datetime(2023, 7, 10, 11, 50, tzinfo=UTC),
    )
    in_window = [r for r in records() if start <= datetime.fromisoformat(r["eventTime"]) <= end]
    writes = [r for r in records() if r["readOnly"] is False]

    windowed = cloudtrail.lookup_events(StartTime=start, EndTime=end, MaxResults=50)["Events"]
    read_write = cloudtrail.lookup_events(
        LookupAttributes=[{"AttributeKey": "ReadOnly", "AttributeValue": "false"}]
    )["Events"]

    assert {e["EventId"] for e in windowed} == {r["eventID"] for r in in_window}
    assert {e["EventId"] for e in read_write} == {r["eventID"] for r in writes}


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"MaxResults": 51}, "InvalidMaxResultsException"),
        ({"MaxResults": 0}, "InvalidMaxResultsException"),
        (
            {
                "LookupAttributes": [
                    {"AttributeKey": "AccessKeyId", "AttributeValue": BUSY_KEY},
                    {"AttributeKey": "EventName", "AttributeValue": "GetUser"},
                ]
            },
            "InvalidLookupAttributesException",
        ),
        (
            {"LookupAttributes": [{"AttributeKey": "SourceIp", "AttributeValue": "1.2.3.4"}]},
            "InvalidLookupAttributesException",
        ),
        ({"StartTime": 1_700_000_100, "EndTime": 1_700_000_000}, "InvalidTimeRangeException"),
        ({"NextToken": "not-a-token"}, "InvalidNextTokenException"),
        ({"EventCategory": "data"}, "InvalidEventCategoryException"),
        ({"MaxResults": "ten"}, "InvalidMaxResultsException"),
        ({"StartTime": "yesterday"}, "ValidationException"),
    ],
)
def test_lookup_events_rejects_what_cloudtrail_rejects(
    fake_aws: FakeAws, params: dict[str, Any], code: str
) -> None:
    target = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents"
    headers = {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": target}

    status, body = signed_post(fake_aws.url, "cloudtrail", params, headers)

    assert (status, body["__type"]) == (400, code)
    assert fake_aws.requests[-1].status == 400


def test_lookup_events_errors_reach_boto3_as_modeled_exceptions(fake_aws: FakeAws) -> None:
    unchecked = boto3.client("cloudtrail", region_name="us-east-1", config=NO_CLIENT_VALIDATION)
    two = [
        {"AttributeKey": "AccessKeyId", "AttributeValue": BUSY_KEY},
        {"AttributeKey": "Username", "AttributeValue": "benjamin"},
    ]

    with pytest.raises(unchecked.exceptions.InvalidLookupAttributesException):
        unchecked.lookup_events(LookupAttributes=two)
    fake_aws.set_lookup_rate(None)
    with pytest.raises(unchecked.exceptions.InvalidMaxResultsException):
        unchecked.lookup_events(MaxResults=0)
    with pytest.raises(unchecked.exceptions.InvalidTimeRangeException):
        unchecked.lookup_events(StartTime=datetime(2024, 1, 2), EndTime=datetime(2024, 1, 1))


def test_lookup_events_is_throttled_at_2_per_second_per_region(fake_aws: FakeAws) -> None:
    east = boto3.client("cloudtrail", region_name="us-east-1", config=NO_RETRIES)
    west = boto3.client("cloudtrail", region_name="eu-west-1", config=NO_RETRIES)
    east.lookup_events()
    first_accepted = time.monotonic()  # the server accepted the first call before this
    east.lookup_events()

    with pytest.raises(ClientError) as caught:
        east.lookup_events()
    west.lookup_events()

    error = caught.value.response
    assert (error["Error"]["Code"], error["Error"]["Message"]) == (
        "ThrottlingException",
        "Rate exceeded",
    )
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400
    time.sleep(max(0.0, 1.0 - (time.monotonic() - first_accepted)))
    east.lookup_events()
    assert [r.status for r in fake_aws.calls("LookupEvents")] == [200, 200, 400, 200, 200]


def test_lookup_latency_counts_from_arrival(fake_aws: FakeAws) -> None:
    """Answers come ``latency`` after the request arrived; the limit counts arrivals, so two
    requests sent together are both in the same second even though the answers take 0.3 s."""
    east = boto3.client("cloudtrail", region_name="us-east-1", config=NO_RETRIES)
    fake_aws.set_lookup_latency(0.3)
    sent = time.monotonic()
    east.lookup_events()
    took = time.monotonic() - sent
    east.lookup_events()
    with pytest.raises(ClientError):  # the third within a second of the first's arrival
        east.lookup_events()
    calls = fake_aws.calls("LookupEvents")
    assert [c.status for c in calls] == [200, 200, 400]
    assert 0.3 <= took < 0.6
    assert sent <= calls[0].at < sent + 0.1  # arrival, not answer
    assert [round(b.at - a.at, 1) for a, b in itertools.pairwise(calls)] == [0.3, 0.3]
    fake_aws.reset()
    assert fake_aws._lookup_latency == (0.0, 0.0)


def test_throttled_lookups_succeed_with_standard_retries(fake_aws: FakeAws) -> None:
    patient = boto3.client(
        "cloudtrail",
        region_name="us-east-1",
        config=Config(retries={"mode": "standard", "total_max_attempts": 10}),
    )
    fake_aws.set_lookup_rate(1)

    answers = [patient.lookup_events() for _ in range(2)]

    assert answers[1]["ResponseMetadata"]["RetryAttempts"] >= 1
    assert 400 in [r.status for r in fake_aws.calls("LookupEvents")]


def test_throttle_share_is_a_seeded_storm(fake_aws: FakeAws) -> None:
    client = boto3.client("cloudtrail", region_name="us-east-1", config=NO_RETRIES)

    def storm() -> list[int]:
        fake_aws.reset()
        fake_aws.set_lookup_rate(None)
        fake_aws.throttle_share = 0.5
        for _ in range(20):
            with contextlib.suppress(client.exceptions.ClientError):
                client.lookup_events(MaxResults=1)
        return [r.status for r in fake_aws.requests]

    statuses = storm()
    assert 3 < statuses.count(400) < 17
    assert {r.status for r in fake_aws.requests} == {200, 400}
    assert storm() == statuses


# --------------------------------------------------------------------------- failure injection


def test_access_denied_in_one_region_only(fake_aws: FakeAws) -> None:
    fake_aws.fail("cloudtrail", "eu-west-1", "AccessDeniedException")
    fake_aws.fail("guardduty", "eu-west-1", "AccessDeniedException")

    west = boto3.client("cloudtrail", region_name="eu-west-1", config=NO_RETRIES)
    west_gd = boto3.client("guardduty", region_name="eu-west-1", config=NO_RETRIES)
    with pytest.raises(west.exceptions.ClientError) as denied:
        west.lookup_events()
    with pytest.raises(west_gd.exceptions.ClientError) as denied_gd:
        west_gd.list_detectors()

    assert denied.value.response["Error"]["Code"] == "AccessDeniedException"
    assert denied.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert denied_gd.value.response["Error"]["Code"] == "AccessDeniedException"
    assert denied_gd.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert "guardduty:ListDetectors" in denied_gd.value.response["Error"]["Message"]
    assert boto3.client("cloudtrail", region_name="us-east-1").lookup_events()["Events"] == []


def test_disabled_region_endpoint_errors_and_recovery(fake_aws: FakeAws) -> None:
    fake_aws.fail("guardduty", "ap-east-1", "UnrecognizedClientException")
    fake_aws.fail("guardduty", "us-west-2", HTTP_500, times=1)
    fake_aws.fail("guardduty", "eu-north-1", DROP, operation="ListDetectors")

    def call(region: str) -> Any:
        return boto3.client("guardduty", region_name=region, config=NO_RETRIES).list_detectors()

    with pytest.raises(ClientError, match="security token included in the request is invalid"):
        call("ap-east-1")
    with pytest.raises(ClientError) as server_error:
        call("us-west-2")
    assert server_error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert call("us-west-2")["DetectorIds"] == []  # times=1: the next call succeeds
    with pytest.raises(ConnectionClosedError):
        call("eu-north-1")
    assert [r.status for r in fake_aws.requests] == [403, 500, 200, 0]


# --------------------------------------------------------------------------- the guard and moto


def test_guard_blocks_a_client_without_endpoint_override(no_real_aws: list[str]) -> None:
    client = boto3.client("guardduty", region_name="us-east-1")

    with pytest.raises(RealAwsCallError, match=r"https://guardduty\.us-east-1\.amazonaws\.com"):
        client.list_detectors()

    assert no_real_aws == ["https://guardduty.us-east-1.amazonaws.com/detector"]
    no_real_aws.clear()  # expected here; any other blocked call fails the test at teardown


def test_guard_fails_a_test_that_swallows_the_blocked_call(pytester: pytest.Pytester) -> None:
    pytester.makeconftest((Path(__file__).parent / "conftest.py").read_text())
    pytester.makepyfile(
        """
        import boto3

        def test_swallows():
            try:
                boto3.client("sts").get_caller_identity()
            except Exception:
                pass
        """
    )

    result = pytester.runpytest_inprocess("-p", "no:xdist", "-p", "no:cacheprovider")

    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*test tried to reach real AWS (blocked)*sts.us-east-1*"])


def test_guard_environment_is_fake_and_local(no_real_aws: list[str]) -> None:
    credentials = boto3.Session().get_credentials()

    assert (credentials.access_key, credentials.secret_key) == ("testing", "testing")
    assert boto3.Session().region_name == "us-east-1"
    assert boto3.Session().available_profiles == []


def test_subprocesses_cannot_reach_aws_either() -> None:
    script = "import boto3; boto3.client('sts').get_caller_identity()"
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env={**os.environ, "AWS_MAX_ATTEMPTS": "1"},
        timeout=60,
        check=False,
    )

    assert done.returncode != 0
    assert "proxy" in done.stderr.lower()
    assert time.monotonic() - started < 30


def test_moto_serves_sts_and_iam(moto: str) -> None:
    iam = boto3.client("iam")

    iam.create_user(UserName="tor-suspect")

    assert boto3.client("sts").get_caller_identity()["Account"] == "123456789012"
    assert [u["UserName"] for u in iam.list_users()["Users"]] == ["tor-suspect"]


def test_moto_starts_empty_in_every_test(moto: str) -> None:
    assert boto3.client("iam").list_users()["Users"] == []


def test_fail_with_a_body_answers_exactly_those_bytes(fake_aws: FakeAws) -> None:
    """fail(..., body=...) answers a proxy's page, a JSON 404 or garbled bytes verbatim."""
    import urllib.request

    from tests.fake_aws import HTML_PAGE

    fake_aws.fail("guardduty", "*", 200, body=HTML_PAGE, content_type="text/html", times=1)
    gd = boto3.client("guardduty", endpoint_url=fake_aws.url, region_name="us-east-1")
    page = gd.list_detectors()  # a plain boto3 client parses the page into an empty answer
    assert "DetectorIds" not in page and page["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert gd.list_detectors()["DetectorIds"] == []  # times=1: then a real answer
    fake_aws.fail("guardduty", "*", 404, body='{"message": "Not Found"}', times=1)
    with pytest.raises(ClientError) as caught:
        gd.list_detectors()
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    with pytest.raises(ValueError, match="int HTTP status"):
        fake_aws.fail("guardduty", "*", "AccessDeniedException", body="x")
    fake_aws.fail("guardduty", "*", 200, body=HTML_PAGE, content_type="text/html")
    request = urllib.request.Request(
        f"{fake_aws.url}/detector",
        headers={
            "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20240101/us-east-1/guardduty/"
            "aws4_request, SignedHeaders=host, Signature=x"
        },
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=10) as answer:
        assert answer.status == 200 and answer.headers["Content-Type"] == "text/html"
        assert answer.read().decode() == HTML_PAGE


def test_services_the_fake_does_not_serve_can_be_failed(
    fake_aws: FakeAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    """STS, EC2, IAM…: point AWS_ENDPOINT_URL_<SERVICE> at the fake and fail them; the
    operation is the query Action, and the error is the service's own XML document."""
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    fake_aws.fail("sts", "*", "AccessDenied", operation="AssumeRole", message="not allowed")
    sts = boto3.client("sts", endpoint_url=fake_aws.url, region_name="us-east-1")
    with pytest.raises(ClientError) as caught:
        sts.assume_role(RoleArn="arn:aws:iam::123456789012:role/x", RoleSessionName="case-1")
    assert caught.value.response["Error"] == {
        "Type": "Sender",
        "Code": "AccessDenied",
        "Message": "not allowed",
    }
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    (call,) = fake_aws.calls("AssumeRole", service="sts")
    assert call.status == 403
    fake_aws.fail("ec2", "*", "UnauthorizedOperation")
    ec2 = boto3.client("ec2", endpoint_url=fake_aws.url, region_name="us-east-1")
    with pytest.raises(ClientError, match="UnauthorizedOperation"):
        ec2.describe_regions()
    with pytest.raises(ResponseParserError, match="serves SigV4-signed guardduty"):
        sts.get_caller_identity()  # not failed: the fake does not serve sts (as before)


# --------------------------------------------------------------------------- expired next tokens


@pytest.mark.parametrize(
    ("service", "operation", "code"),
    [
        ("guardduty", "ListFindings", "BadRequestException"),
        ("cloudtrail", "LookupEvents", "InvalidNextTokenException"),
        ("athena", "GetQueryResults", "InvalidRequestException"),
    ],
)
def test_an_expired_token_is_answered_with_the_error_in_the_services_model(
    service: str, operation: str, code: str
) -> None:
    """The codes :func:`torinvest.aws.pages.expired_token` knows are those the operations list
    in botocore's models (and the fake answers them)."""
    from torinvest.aws.pages import GENERIC_TOKEN_ERRORS, TOKEN_ERRORS

    model = botocore.session.get_session().get_service_model(service)
    errors = {e.name for e in model.operation_model(operation).error_shapes}
    assert code in errors
    assert code in TOKEN_ERRORS.get(service, GENERIC_TOKEN_ERRORS.get(service, frozenset()))


def test_guardduty_findings_listed_again_once_when_the_token_expired(
    fake_aws: FakeAws, detector: str
) -> None:
    """ListFindings' token expires after the second page (a long pause): the listing starts over
    from the first page and every finding is fetched once; before, the region failed with the
    BadRequestException."""
    from torinvest.aws import Aws
    from torinvest.findings.fetch import fetch_findings

    fake_aws.guardduty("us-east-1").add_findings(variants(230))
    fake_aws.expire_tokens("guardduty", "*", operation="ListFindings", times=1)
    result = fetch_findings(Aws(), ["us-east-1"], include_archived=True)

    assert result.issues == [] and result.failed == []
    ids = [f.id for f in result.findings]
    assert len(ids) == len(set(ids)) == 230
    statuses = [c.status for c in fake_aws.calls("ListFindings")]
    assert statuses == [200, 400, *[200] * 5]  # page 1, the expired token, then 5 pages again
    assert sum(len(c.params.get("FindingIds", [])) for c in fake_aws.calls("GetFindings")) == 230


def test_guardduty_token_expiring_again_is_a_region_that_could_not_be_read(
    fake_aws: FakeAws, detector: str
) -> None:
    from torinvest.aws import Aws
    from torinvest.findings.fetch import fetch_findings

    fake_aws.guardduty("us-east-1").add_findings(variants(230))
    fake_aws.expire_tokens("guardduty", "*", operation="ListFindings", times=None)
    result = fetch_findings(Aws(), ["us-east-1"], include_archived=True)

    assert result.failed == ["guardduty:us-east-1"] and result.findings == []
    (issue,) = result.issues
    assert "ListFindings on guardduty in us-east-1: the next token was refused" in issue.problem
    assert "again after the listing started over" in issue.problem
    assert "the results of this call are incomplete" in issue.problem


def test_athena_results_read_on_from_where_they_stopped_when_the_token_expired(
    fake_aws: FakeAws,
) -> None:
    """GetQueryResults' token expires on the third page: the results are read again from the
    first page and the pages already read are skipped — each row once, in order, equal rows
    kept (rows are not keys)."""
    from torinvest.sources.sql.athena import AthenaEngine

    rows = [[str(i // 2)] for i in range(2500)]  # every value twice
    fake_aws.athena("us-east-1").add_results([("n", "bigint")], rows)
    fake_aws.expire_tokens("athena", "*", operation="GetQueryResults", times=1)
    run = AthenaEngine(database="security", sleep=lambda _: None).execute("SELECT n FROM t")

    assert run.rows == rows
    assert [c.status for c in fake_aws.calls("GetQueryResults")][:2] == [200, 400]


def test_athena_token_expiring_again_says_the_results_are_incomplete(fake_aws: FakeAws) -> None:
    from torinvest.errors import AwsError
    from torinvest.sources.sql.athena import AthenaEngine

    fake_aws.athena("us-east-1").add_results([("n", "bigint")], [[str(i)] for i in range(2500)])
    fake_aws.expire_tokens("athena", "*", operation="GetQueryResults", times=None)
    with pytest.raises(AwsError, match="results of this call are incomplete") as got:
        AthenaEngine(database="security", sleep=lambda _: None).execute("SELECT n FROM t")
    assert got.value.code == "ExpiredNextToken"


# --------------------------------------------------------------------------- CloudTrail trails


def _trail(name: str, home: str, *, multi: bool) -> dict[str, Any]:
    return {
        "Name": name,
        "S3BucketName": f"{name}-logs",
        "IncludeGlobalServiceEvents": True,
        "IsMultiRegionTrail": multi,
        "HomeRegion": home,
        "TrailARN": f"arn:aws:cloudtrail:{home}:123456789012:trail/{name}",
        "LogFileValidationEnabled": True,
        "HasCustomEventSelectors": True,
        "HasInsightSelectors": False,
        "IsOrganizationTrail": False,
    }


def test_describe_trails_and_their_event_selectors(fake_aws: FakeAws) -> None:
    """DescribeTrails gives the region's trails and the shadows of other regions' multi-region
    trails (unless includeShadowTrails is false); GetEventSelectors a trail's selectors by name
    in its home region or by ARN; an unknown trail is TrailNotFoundException. An account
    without a trail (the default) has an empty list."""
    client = boto3.client("cloudtrail", region_name="us-east-1", config=NO_RETRIES)
    assert client.describe_trails()["trailList"] == []
    s3_all = [
        {
            "ReadWriteType": "All",
            "IncludeManagementEvents": True,
            "DataResources": [{"Type": "AWS::S3::Object", "Values": ["arn:aws:s3"]}],
            "ExcludeManagementEventSources": [],
        }
    ]
    home = _trail("org-trail", "eu-west-1", multi=True)
    fake_aws.cloudtrail("eu-west-1").add_trail(home, event_selectors=s3_all)
    local = _trail("local", "us-east-1", multi=False)
    fake_aws.cloudtrail("us-east-1").add_trail(local, advanced_event_selectors=[])
    names = [t["Name"] for t in client.describe_trails()["trailList"]]
    assert sorted(names) == ["local", "org-trail"]
    alone = client.describe_trails(includeShadowTrails=False)["trailList"]
    assert [t["Name"] for t in alone] == ["local"]
    by_arn = client.get_event_selectors(TrailName=home["TrailARN"])
    assert by_arn["EventSelectors"] == s3_all and by_arn["TrailARN"] == home["TrailARN"]
    assert client.get_event_selectors(TrailName="local")["AdvancedEventSelectors"] == []
    with pytest.raises(ClientError) as e:
        client.get_event_selectors(TrailName="org-trail")  # by name outside its home region
    assert e.value.response["Error"]["Code"] == "TrailNotFoundException"
