"""IAM's record of the key's last use (GetAccessKeyLastUsed) against the activity read: the
key's account in moto's server (a key created there, used there so that IAM records the use),
GuardDuty and CloudTrail LookupEvents in tests/fake_aws, investigated as a report investigates
— consistent; calls missing in a region not searched (a data issue: the reading is
incomplete); used after the window; too recent to compare; access denied (could not check, a
note); a session key and a case folder (not checked). summary.json carries it (schema
checked), the activity card, the ticket's answer and the terminal's line say it."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pandas as pd
import pytest

from tests.fake_aws import FakeAws
from tests.fake_aws.proxy import DENIED, FaultProxy
from torinvest import display, investigation, last_used, report
from torinvest.case import sample_case
from torinvest.cli import main
from torinvest.events import Activity
from torinvest.findings import KeyLocation
from torinvest.post.answer import build_answer
from torinvest.report.summary import summary_data

SHAPES = Path(__file__).parent / "fixtures" / "guardduty" / "shapes"
ACCOUNT = "123837392027"  # the sample finding's account
FINDING = "6dde0a8f8d46f6acad893b30f905e97c"
NOW = pd.Timestamp.now(tz="UTC")


def ago(minutes: float) -> str:
    return (pd.Timestamp.now(tz="UTC") - pd.Timedelta(minutes=minutes)).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )


@pytest.fixture
def key(moto: str, fake_aws: FakeAws, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    """A long-term key of user benjamin in the finding's account (moto: its IAM and STS)."""
    monkeypatch.setenv("MOTO_ACCOUNT_ID", ACCOUNT)
    fake_aws.set_lookup_rate(None)
    iam = boto3.client("iam", endpoint_url=moto)
    iam.create_user(UserName="benjamin")
    made = iam.create_access_key(UserName="benjamin")["AccessKey"]
    assert made["AccessKeyId"].startswith("AKIA")
    return made["AccessKeyId"], made["SecretAccessKey"]


def use(moto: str, key: tuple[str, str], region: str) -> pd.Timestamp:
    """A call made with ``key`` in ``region`` (S3 ListBuckets): IAM records its last use."""
    before = pd.Timestamp.now(tz="UTC")
    boto3.client(
        "s3",
        region_name=region,
        endpoint_url=moto,
        aws_access_key_id=key[0],
        aws_secret_access_key=key[1],
        aws_session_token=None,
    ).list_buckets()
    return before


def finding(fake_aws: FakeAws, access_key: str, first: float = 50, last: float = 40) -> str:
    """The sample Tor finding naming ``access_key``, seen ``first`` to ``last`` minutes ago."""
    raw = json.loads((SHAPES / "single_raw.json").read_text())
    raw["resource"]["accessKeyDetails"]["accessKeyId"] = access_key
    raw["service"].update(eventFirstSeen=ago(first), eventLastSeen=ago(last))
    raw.update(createdAt=ago(last), updatedAt=ago(last))
    gd = fake_aws.guardduty("us-east-1")
    gd.add_findings([raw], detector_id=gd.add_detector(raw["service"]["detectorId"]))
    return str(raw["id"])


def calls(fake_aws: FakeAws, access_key: str, times: list[str], region: str = "us-east-1") -> None:
    """The key's calls at ``times`` in CloudTrail (LookupEvents) of ``region``."""
    identity = {"type": "IAMUser", "accessKeyId": access_key, "userName": "benjamin"}
    fake_aws.cloudtrail(region).add_records(
        [
            {
                "eventVersion": "1.08",
                "eventID": f"call-{i}",
                "eventTime": at,
                "eventName": "ListBuckets",
                "eventSource": "s3.amazonaws.com",
                "awsRegion": region,
                "sourceIPAddress": "185.220.101.34",
                "userAgent": "aws-cli/2.13.0",
                "userIdentity": identity,
                "readOnly": True,
                "eventType": "AwsApiCall",
                "recipientAccountId": ACCOUNT,
            }
            for i, at in enumerate(times)
        ]
    )


def run_investigation(finding_id: str, **kw: Any) -> investigation.Investigation:
    sources = investigation.sources_from_parameters(regions="us-east-1")
    return investigation.investigate(finding_id, sources, **kw)


def checked_summary(inv: investigation.Investigation) -> dict[str, Any]:
    return report.check_summary_data(summary_data(inv, {}))


def iam_issues(data: dict[str, Any]) -> list[dict[str, str]]:
    """summary.json's data issues of IAM's last use (the window reaching the last minutes and
    Tor lists not covering today are issues of their own in these runs)."""
    return [i for i in data["data_issues"] if i["source"] == last_used.SOURCE]


@pytest.fixture
def proxy(moto: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[FaultProxy]:
    """IAM and STS through a counting, fault-injecting proxy to moto (one attempt a call)."""
    with FaultProxy({}, default=moto) as p:
        monkeypatch.setenv("AWS_ENDPOINT_URL", p.url)
        monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
        yield p


# --------------------------------------------------------------------------------------------
# against IAM (moto) and CloudTrail (the fake)
# --------------------------------------------------------------------------------------------
def test_a_last_use_among_the_calls_read_is_consistent(
    key: tuple[str, str], moto: str, fake_aws: FakeAws
) -> None:
    used = use(moto, key, "us-east-1")
    calls(fake_aws, key[0], [ago(45), used.floor("s").strftime("%Y-%m-%dT%H:%M:%SZ")])
    inv = run_investigation(finding(fake_aws, key[0]))
    found = inv.key_last_used
    assert found is not None and found.status == "checked", found
    assert (found.verdict, found.region, found.service) == ("consistent", "us-east-1", "s3")
    assert found.issue is None and not any(i.source == last_used.SOURCE for i in inv.data_issues)
    data = checked_summary(inv)
    assert data["key_last_used"]["verdict"] == "consistent"
    assert not iam_issues(data)
    assert "consistent with the last call read" in data["key_last_used"]["text"]


def test_a_later_use_in_a_region_not_searched_is_missing_calls_and_the_reading_incomplete(
    key: tuple[str, str], moto: str, fake_aws: FakeAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    """IAM saw the key in ap-south-1 (s3) after the last call LookupEvents read in us-east-1,
    the only region asked: calls are missing — a data issue naming the region and service."""
    last = ago(44)
    calls(fake_aws, key[0], [ago(45), last])
    use(moto, key, "ap-south-1")
    monkeypatch.setattr(last_used, "DELIVERY_DELAY", pd.Timedelta(0))  # not "too recent"
    inv = run_investigation(finding(fake_aws, key[0]))
    found = inv.key_last_used
    assert found is not None and found.verdict == "missing calls", found
    (issue,) = [i for i in inv.data_issues if i.source == last_used.SOURCE]
    assert f"IAM says {key[0]} was last used at" in issue.problem
    assert "in ap-south-1 (s3), after the last call read" in issue.problem
    assert "ap-south-1 was not searched (LookupEvents was asked in us-east-1" in issue.problem
    assert "--regions all" in issue.problem
    assert "data events" in issue.problem  # s3: LookupEvents returns management events only
    data = checked_summary(inv)
    assert data["reading"]["state"] == "incomplete"
    assert iam_issues(data) == [issue.to_dict()]
    assert {"source": last_used.SOURCE, "problem": issue.problem} in data["data_issues"]
    assert data["key_last_used"]["region"] == "ap-south-1"
    assert data["key_last_used"]["service"] == "s3"
    assert data["key_last_used"]["last_read"] == last
    # the report's activity card, the ticket's answer and the terminal's line say it
    card = display.activity_status(inv).data
    assert "IAM&#x27;s last use of the key" in card or "IAM's last use of the key" in card
    assert "missing calls" in card and "ap-south-1" in card
    answer = build_answer(data).text
    assert "Key last used (IAM): IAM says" in answer and "calls are missing" in answer
    assert "IAM last use: MISSING CALLS (ap-south-1, s3)" in report.one_line_summary(data)
    # a gap in the activity as any other: retried by --all-open, no "none" over it said whole
    assert data["activity_issues"] == [issue.to_dict()]
    assert data["derived_keys_search"]["status"] == "partial"
    assert f"data issue(s): {last_used.SOURCE})" in data["derived_keys_search"]["why"]
    assert "None of the catalogued sensitive calls: in what was read only" in (
        display.sensitive_table(inv).data
    )


def test_a_use_minutes_before_the_check_is_a_note_not_a_miss(
    key: tuple[str, str], moto: str, fake_aws: FakeAws
) -> None:
    """CloudTrail delivers calls up to about 15 minutes late: a use IAM saw seconds ago may not
    be readable yet — said, and the reading stays complete."""
    calls(fake_aws, key[0], [ago(45)])
    use(moto, key, "ap-south-1")
    inv = run_investigation(finding(fake_aws, key[0]))
    found = inv.key_last_used
    assert found is not None and found.verdict == "too recent to compare", found
    assert "may not be readable yet" in found.text and found.issue is None
    assert not iam_issues(checked_summary(inv))


def test_a_use_after_the_window_says_widen_lookahead(
    key: tuple[str, str], moto: str, fake_aws: FakeAws
) -> None:
    calls(fake_aws, key[0], [ago(185)])
    fid = finding(fake_aws, key[0], first=190, last=180)
    use(moto, key, "eu-west-1")
    inv = run_investigation(fid, lookahead_days=0)
    found = inv.key_last_used
    assert found is not None and found.verdict == "used after window", found
    assert "in eu-west-1 (s3), after the window's end" in found.text
    assert "used again after the window — widen --lookahead-days" in found.text
    assert found.issue is None
    data = checked_summary(inv)
    assert not iam_issues(data)
    assert "IAM last use: used after window" in report.one_line_summary(data)
    assert "Key last used (IAM): IAM says" in build_answer(data).text


def test_access_denied_is_could_not_check_never_a_failure(
    key: tuple[str, str], moto: str, fake_aws: FakeAws, proxy: FaultProxy
) -> None:
    calls(fake_aws, key[0], [ago(45)])
    proxy.fault("GetAccessKeyLastUsed", DENIED)
    inv = run_investigation(finding(fake_aws, key[0]))
    found = inv.key_last_used
    assert found is not None and found.status == "could not check", found
    assert "access denied: iam:GetAccessKeyLastUsed" in found.text
    assert found.verdict is None and found.issue is None
    assert [c.operation for c in proxy.calls(service="iam")] == ["GetAccessKeyLastUsed"]
    data = checked_summary(inv)
    assert not iam_issues(data)  # the check failed, not the reading
    assert data["key_last_used"]["status"] == "could not check"
    assert "IAM last use: could not check" in report.one_line_summary(data)
    assert "Key last used (IAM): could not check: access denied" in build_answer(data).text


def test_a_key_iam_does_not_have_is_could_not_check_saying_deleted(
    key: tuple[str, str], fake_aws: FakeAws
) -> None:
    gone = "AKIATFQR7NSCDELETED1"  # not a key of the account now
    calls(fake_aws, gone, [ago(45)])
    inv = run_investigation(finding(fake_aws, gone))
    found = inv.key_last_used
    assert found is not None and found.status == "could not check", found
    assert f"IAM has no access key {gone} in account {ACCOUNT} now (NoSuchEntity)" in found.text
    assert "deleted" in found.text and not iam_issues(checked_summary(inv))


def test_a_session_key_is_not_checked_and_iam_is_not_asked(
    moto: str, fake_aws: FakeAws, proxy: FaultProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MOTO_ACCOUNT_ID", ACCOUNT)
    fake_aws.set_lookup_rate(None)
    session_key = "ASIATFQR7NSCNGEI5QNT"
    calls(fake_aws, session_key, [ago(45)])
    inv = run_investigation(finding(fake_aws, session_key))
    found = inv.key_last_used
    assert found is not None and found.status == "not checked", found
    assert f"{session_key} is a temporary (ASIA…) session key" in found.text
    assert "long-term (AKIA…) keys only" in found.text
    assert not proxy.calls(service="iam")
    assert checked_summary(inv)["key_last_used"]["status"] == "not checked"


def test_a_case_folder_is_not_checked() -> None:
    inv = investigation.investigate(
        FINDING, investigation.sources_from_parameters(case_dir=str(sample_case().root))
    )
    found = inv.key_last_used
    assert found is not None and found.status == "not checked"
    assert "case folder" in found.text and "IAM was not asked" in found.text
    data = checked_summary(inv)
    assert data["key_last_used"]["status"] == "not checked"
    assert "Key last used (IAM): not checked: the finding was read from the case folder" in (
        build_answer(data).text
    )


def test_credentials_of_another_account_are_not_asked(
    key: tuple[str, str], proxy: FaultProxy
) -> None:
    """IAM answers for its own account's keys: credentials of another account (an
    administrator's) do not ask it about a member account's key."""
    member = KeyLocation(
        finding_id=FINDING, finding_type="UnauthorizedAccess:IAMUser/TorIPCaller",
        access_key_id=key[0], kind="long-term", principal_id=None, user_name="benjamin",
        user_type="IAMUser", account_id="999988887777", region="us-east-1", tor_ip=None,
        api=None, service_name=None, first_seen=None, last_seen=None,
    )  # fmt: skip
    aws = investigation.sources_from_parameters(regions="us-east-1").aws
    found = last_used.check_last_used(
        aws, member, Activity(frame=pd.DataFrame()), (NOW - pd.Timedelta(days=1), NOW)
    )
    assert found.status == "not checked"
    assert f"the credentials are of account {ACCOUNT}, not the finding's 999988887777" in found.text
    assert not proxy.calls(service="iam")


# --------------------------------------------------------------------------------------------
# the comparison (pure)
# --------------------------------------------------------------------------------------------
T0 = pd.Timestamp("2023-07-10T12:00:00Z")
WINDOW = (pd.Timestamp("2023-06-26T12:00:00Z"), pd.Timestamp("2023-07-17T12:00:00Z"))
LATER = pd.Timestamp("2023-08-01T00:00:00Z")


def compare(last: pd.Timestamp | None, **kw: Any) -> last_used.KeyLastUsed:
    kw.setdefault("last_read", T0)
    kw.setdefault("window", WINDOW)
    kw.setdefault("checked_at", LATER)
    return last_used.compare("AKIAEXAMPLEKEY000001", last, "us-east-1", "iam", **kw)


@pytest.mark.parametrize(
    ("last", "kw", "verdict"),
    [
        (T0 + pd.Timedelta(minutes=3), {}, "consistent"),  # IAM's time kept to the minute
        (T0 - pd.Timedelta(days=2), {}, "IAM record older than calls read"),
        (T0 + pd.Timedelta(hours=2), {}, "missing calls"),
        (T0 + pd.Timedelta(hours=2), {"last_read": None}, "missing calls"),  # nothing read
        (pd.Timestamp("2023-07-20T00:00:00Z"), {}, "used after window"),
        (WINDOW[0] - pd.Timedelta(days=1), {"last_read": None}, "consistent"),
        (None, {"last_read": None}, "consistent"),
        (None, {"events_read": 4}, "no use recorded by IAM"),
        # counted in the engine: the last call read is a time bucket's start
        (T0 + pd.Timedelta(minutes=50), {"read_slack": pd.Timedelta(hours=1)}, "consistent"),
        (
            T0 + pd.Timedelta(hours=2),
            {"checked_at": T0 + pd.Timedelta(hours=2, minutes=5)},
            "too recent to compare",
        ),
    ],
)
def test_each_comparison_has_its_verdict(
    last: pd.Timestamp | None, kw: dict[str, Any], verdict: str
) -> None:
    found = compare(last, **kw)
    assert found.verdict == verdict, found.text
    assert (found.issue is not None) == (verdict == "missing calls")


def test_a_region_searched_says_data_events_not_a_region_not_searched() -> None:
    searched = last_used.Searched(lookup=("us-east-1",), logs=False, seen=("us-east-1",))
    found = compare(T0 + pd.Timedelta(hours=2), searched=searched)
    assert "us-east-1 was searched" in found.text and "management events only" in found.text
    logs = last_used.Searched(lookup=(), logs=True, seen=("eu-west-1",))
    found = last_used.compare(
        "AKIAEXAMPLEKEY000001",
        T0 + pd.Timedelta(hours=2),
        "ap-south-1",
        None,
        last_read=T0,
        window=WINDOW,
        checked_at=LATER,
        searched=logs,
    )
    assert "LookupEvents was not asked there" in found.text
    assert "hold no call of the key there" in found.text


# --------------------------------------------------------------------------------------------
# the command
# --------------------------------------------------------------------------------------------
def test_investigate_prints_and_writes_iams_last_use(
    key: tuple[str, str],
    moto: str,
    fake_aws: FakeAws,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`torinvest investigate` from AWS: summary.json's key_last_used (schema checked), the
    activity card of report.html, and the terminal's line and note."""
    monkeypatch.setenv("TORINVEST_CACHE", str(tmp_path / "cache"))
    calls(fake_aws, key[0], [ago(185)])
    fid = finding(fake_aws, key[0], first=190, last=180)
    use(moto, key, "eu-west-1")
    out = tmp_path / "o"
    stdout, stderr = io.StringIO(), io.StringIO()
    code = main(
        ["investigate", fid, "--regions", "us-east-1", "--lookahead-days", "0", "--out", str(out),
         "--ledger", str(tmp_path / "l.jsonl")],
        out=stdout, err=stderr,
    )  # fmt: skip
    assert code == 0, stderr.getvalue()
    data = report.check_summary(out / "summary.json")
    assert data["key_last_used"]["verdict"] == "used after window"
    assert data["key_last_used"]["region"] == "eu-west-1"
    assert "IAM last use: used after window" in stdout.getvalue()
    assert "torinvest: note: key last used (IAM): IAM says" in stderr.getvalue()
    page = (out / "report.html").read_text()
    assert "last use of the key</b> (checked: used after window)" in page  # the activity card
    assert "used again after the window — widen --lookahead-days" in page


def test_all_open_retries_a_report_whose_last_use_shows_calls_missing(
    key: tuple[str, str],
    moto: str,
    fake_aws: FakeAws,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """IAM's last use after the last call read (calls missing, though no source failed) is a
    gap in the key's activity like a region denied: `investigate --all-open` retries the
    report on its next run (said), as it retries any activity gap — it was counted done and
    never retried. The report is the real investigation's summary.json (rendered without a
    kernel, where the monkeypatched delivery delay would not reach)."""
    from tests.post.conftest import make_report
    from torinvest.post import batch as post_batch

    monkeypatch.setenv("TORINVEST_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(last_used, "DELIVERY_DELAY", pd.Timedelta(0))  # not "too recent"
    calls(fake_aws, key[0], [ago(45), ago(44)])
    fid = finding(fake_aws, key[0])
    use(moto, key, "ap-south-1")

    def writes(finding_id: str, folder: Path, *_: Any, **__: Any) -> None:
        data = checked_summary(run_investigation(finding_id))
        make_report(folder, summary=json.loads(json.dumps(data)), finding_id=finding_id)

    monkeypatch.setattr(post_batch, "_investigate", writes)
    out = tmp_path / "reports"
    argv = ["investigate", "--all-open", "--regions", "us-east-1", "--out", str(out)]
    argv += ["--ledger", str(tmp_path / "l.jsonl")]

    def run_all() -> str:
        stderr = io.StringIO()
        assert main(argv, out=io.StringIO(), err=stderr) == 0, stderr.getvalue()
        return stderr.getvalue()

    run_all()
    data = report.check_summary(out / f"finding-{fid}" / "summary.json")
    assert data["key_last_used"]["verdict"] == "missing calls"
    assert [i["source"] for i in data["activity_issues"]] == [last_used.SOURCE]
    err = run_all()
    assert (
        f"investigating {fid} (retrying: the last run did not read the key's whole activity "
        f"({last_used.SOURCE}) (run 2 of 3)) …"
    ) in err
