"""CloudTrail log files → the events frame (torinvest.sources.logs and .records).

Every input is built in ``tmp_path`` from the real records in ``tests/fixtures/cloudtrail/``
(invictus-ir log files, OTRF Logstash NDJSON, AWS documentation examples).
"""

from __future__ import annotations

import codecs
import copy
import gzip
import json
import os
import shutil
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest

from tests.bounded import bounded
from tests.lookup_export import lookup_event
from torinvest.aws import Aws
from torinvest.errors import DataIssue, InputError
from torinvest.schema import EVENTS_COLUMNS, conform
from torinvest.sources import logs
from torinvest.sources.logs import KeyLayout, Narrowing, key_layout, load_logs
from torinvest.sources.logs import batch as logs_batch
from torinvest.sources.logs import pool as logs_pool
from torinvest.sources.logs import read as logs_read
from torinvest.sources.records import (
    NotCloudTrailError,
    derived_keys,
    duplicate_issues,
    normalize_records,
    parse_records,
)

FIXTURES = Path(__file__).parent / "fixtures"
CT = FIXTURES / "cloudtrail"
INVICTUS = sorted((CT / "invictus").glob("*.json"))
OTRF = CT / "otrf" / "ec2_proxy_s3_exfiltration_2020-09-14011940.json"
AWSDOCS = CT / "awsdocs" / "awsdocs_cloudtrail_examples.jsonl"
FINDING = FIXTURES / "guardduty" / "raw_TorIPCaller_sample_finding.json"

ACCOUNT = "218007301253"
SUSPECT = "AKIATFQR7NSC8Q4X20BJ"  # the IAM user key behind most invictus activity
DERIVED = "ASIATFQR7NSCXLFJ4S5E"  # minted by SUSPECT (AssumeRole), used once (RunInstances)


def records(path: Path) -> list[dict[str, Any]]:
    return json.loads(path.read_bytes())["Records"]


def all_invictus() -> list[dict[str, Any]]:
    return [r for p in INVICTUS for r in records(p)]


def write_gz(path: Path, doc: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = doc if isinstance(doc, bytes) else json.dumps(doc, separators=(",", ":")).encode()
    path.write_bytes(gzip.compress(data, mtime=0))
    return path


def shifted(recs: list[dict[str, Any]], days: int) -> list[dict[str, Any]]:
    """Copies of records moved by whole days, with their own event IDs."""
    out = copy.deepcopy(recs)
    for r in out:
        t = pd.Timestamp(r["eventTime"]) + timedelta(days=days)
        r["eventTime"] = t.strftime("%Y-%m-%dT%H:%M:%SZ")
        r["eventID"] = f"{r['eventID'][:-3]}d{days:+d}"[-36:] if days else r["eventID"]
    return out


def day_key(day: str, name: str, *, region: str = "us-east-1", account: str = ACCOUNT) -> str:
    y, m, d = day.split("-")
    return f"{account}/CloudTrail/{region}/{y}/{m}/{d}/{name}"


def log_name(path: Path, day: str, region: str = "us-east-1", account: str = ACCOUNT) -> str:
    stamp = path.name.split("_")[3]  # 20230710T1205Z
    return (
        f"{account}_CloudTrail_{region}_{day.replace('-', '')}{stamp[8:]}_{path.stem[-16:]}.json.gz"
    )


# --------------------------------------------------------------------------------------------
# the frame
# --------------------------------------------------------------------------------------------
def test_frame_has_exactly_the_contract_columns_and_dtypes() -> None:
    frame = normalize_records(all_invictus(), source="logs", origin="x")
    assert list(frame.columns) == [c.name for c in EVENTS_COLUMNS]
    for col in EVENTS_COLUMNS:
        assert str(frame[col.name].dtype) == col.dtype, col.name
        if col.dtype == "category":
            assert frame[col.name].cat.categories.dtype == pd.StringDtype(), col.name
        if col.dtype == "string":
            assert frame[col.name].dtype == pd.StringDtype(), col.name
    # conform() of the frame changes nothing but the order of categories
    plain = frame.astype(object).where(frame.notna(), None)  # conform() wants None, not NA
    pd.testing.assert_frame_equal(
        frame, conform(plain, EVENTS_COLUMNS), check_categorical=False, check_dtype=True
    )
    empty = load_logs([], progress=False).frame
    assert [str(t) for t in empty.dtypes] == [c.dtype for c in EVENTS_COLUMNS]


def test_frame_is_sorted_unique_and_never_empty_text() -> None:
    frame = normalize_records(all_invictus() + all_invictus()[:50], source="logs", origin="x")
    assert len(frame) == 302
    assert frame["event_id"].is_unique
    assert frame["event_time"].is_monotonic_increasing
    for col in EVENTS_COLUMNS:
        if col.dtype in ("string", "category"):
            assert not (frame[col.name].astype("string") == "").any(), col.name


def row(frame: pd.DataFrame, event_id: str) -> dict[str, Any]:
    found = frame[frame["event_id"] == event_id]
    assert len(found) == 1
    out = found.iloc[0].to_dict()
    return {k: (None if pd.isna(v) else v) for k, v in out.items()}


def test_an_iam_user_record_normalized_field_by_field() -> None:
    frame = normalize_records(records(INVICTUS[1]), source="logs", origin="f.json")
    got = row(frame, "7c53cae3-f037-4394-8ad9-086f099efa7d")
    token = records(INVICTUS[1])
    (rec,) = [r for r in token if r["eventID"] == "7c53cae3-f037-4394-8ad9-086f099efa7d"]
    assert got == {
        "event_time": pd.Timestamp("2023-07-10T12:02:04Z"),
        "event_id": "7c53cae3-f037-4394-8ad9-086f099efa7d",
        "event_name": "AssumeRole",
        "event_source": "sts.amazonaws.com",
        "aws_region": "us-east-1",
        "source_ip": "192.168.10.20",
        "user_agent": "stratus-red-team_7d2a6913-ded3-49c6-a31c-0cdeebcc259c",
        "error_code": None,
        "outcome_unknown": False,
        "error_message": None,
        "read_only": True,
        "event_type": "AwsApiCall",
        "access_key_id": SUSPECT,
        "principal_id": "AIDATFQR7NSC5AU2ZV3IE",
        "user_type": "IAMUser",
        "user_name": "bert-jan",
        "arn": "arn:aws:iam::123837392027:user/bert-jan",
        "account_id": "123837392027",
        "recipient_account_id": "123837392027",
        "session_issuer_arn": None,
        "mfa_authenticated": None,
        "request_parameters": '{"roleArn":"arn:aws:iam::123837392027:role/stratus-red-team-leave-org-role",'
        '"roleSessionName":"aws-go-sdk-1688990515440126480","durationSeconds":900}',
        "response_elements": json.dumps(rec["responseElements"], separators=(",", ":")),
        "derived": None,
        "source": "logs",
        "origin": "f.json",
    }


def test_an_assumed_role_record_takes_the_session_name_and_issuer() -> None:
    frame = normalize_records(all_invictus(), source="logs", origin="x", derived_keys={DERIVED})
    got = row(frame, "2f4876ba-b0fc-4a24-b406-bef4dcc9656f")
    expected_rp = next(
        r["requestParameters"]
        for r in all_invictus()
        if r["eventID"] == "2f4876ba-b0fc-4a24-b406-bef4dcc9656f"
    )
    assert json.loads(got.pop("request_parameters")) == expected_rp
    assert got == {
        "event_time": pd.Timestamp("2023-07-10T12:09:31Z"),
        "event_id": "2f4876ba-b0fc-4a24-b406-bef4dcc9656f",
        "event_name": "RunInstances",
        "event_source": "ec2.amazonaws.com",
        "aws_region": "us-east-1",
        "source_ip": "192.168.10.20",
        "user_agent": "stratus-red-team_d0fe321d-edc3-44f6-a065-9de1b15b4174",
        "error_code": "Client.VcpuLimitExceeded",
        "outcome_unknown": False,
        "error_message": "You have requested more vCPU capacity than your current vCPU limit of 0 "
        "allows for the instance bucket that the specified instance type belongs to. Please "
        "visit http://aws.amazon.com/contact-us/ec2-request to request an adjustment to this "
        "limit.",
        "read_only": False,
        "event_type": "AwsApiCall",
        "access_key_id": DERIVED,
        "principal_id": "AROATFQR7NSCYGNOX4QAJ:aws-go-sdk-1688990966084647983",
        "user_type": "AssumedRole",
        "user_name": "aws-go-sdk-1688990966084647983",
        "arn": "arn:aws:sts::123837392027:assumed-role/stratus-red-team-ec2lui-role-wuzemnoeqa/"
        "aws-go-sdk-1688990966084647983",
        "account_id": "123837392027",
        "recipient_account_id": "123837392027",
        "session_issuer_arn": "arn:aws:iam::123837392027:role/stratus-red-team-ec2lui-role-wuzemnoeqa",
        "mfa_authenticated": False,
        "response_elements": None,
        "derived": True,
        "source": "logs",
        "origin": "x",
    }


def test_logstash_ndjson_takes_the_time_from_at_timestamp() -> None:
    recs, issues = parse_records(OTRF.read_bytes(), where=str(OTRF))
    assert issues == []
    frame = normalize_records(recs, source="logs", origin="otrf")
    assert len(frame) == 103
    assert frame["event_time"].notna().all()
    assert frame["event_time"].iloc[0] == pd.Timestamp("2020-09-14T00:44:20Z")
    assert frame["event_time"].iloc[-1] == pd.Timestamp("2020-09-14T01:13:20Z")
    assert set(frame["access_key_id"].dropna()) >= {"ASIA5FLZVX4OI4ZDQJOL"}


def test_documentation_examples_load_and_blank_keys_are_na() -> None:
    frame = normalize_records(AWSDOCS.read_bytes(), source="logs", origin="docs")
    # 24 records: two printed twice in the documentation (dropped as copies), and two
    # different examples (RotateKey, CreateServiceLinkedChannel) that reuse the eventID
    # 234f004b-EXAMPLE: both kept, and named by duplicate_issues
    assert len(frame) == 22
    (issue,) = duplicate_issues(frame)
    assert "eventID 234f004b-EXAMPLE is shared by 2 different records" in issue.problem
    assert "RotateKey" in issue.problem and "CreateServiceLinkedChannel" in issue.problem
    assert frame["event_id"].isna().sum() == 5  # Insights events have no eventID
    console = frame[frame["event_name"] == "ConsoleLogin"]
    assert console["access_key_id"].isna().all()  # "" in the record
    assert set(frame["user_type"].dropna()) == {"IAMUser", "Root"}


def test_lookup_events_output_gives_the_same_rows_as_the_log_file() -> None:
    recs = records(INVICTUS[1])
    export = {"Events": [lookup_event(r) for r in recs]}
    from_lookup = normalize_records(json.dumps(export).encode(), source="x", origin="x")
    from_file = normalize_records(recs, source="x", origin="x")
    pd.testing.assert_frame_equal(from_lookup, from_file, check_categorical=False)


def test_normalizing_a_findings_document_is_an_error() -> None:
    with pytest.raises(NotCloudTrailError, match="GuardDuty finding"):
        normalize_records(FINDING.read_bytes(), origin=FINDING.name)


# --------------------------------------------------------------------------------------------
# derived keys
# --------------------------------------------------------------------------------------------
def test_derived_keys_minted_by_the_suspect_key() -> None:
    frame = normalize_records(all_invictus(), source="logs", origin="x")
    found = derived_keys(frame, SUSPECT)
    assert [(d.access_key_id, d.event_id, d.event_name, d.minted_by) for d in found] == [
        ("ASIATFQR7NSC2AF7XJOS", "7c53cae3-f037-4394-8ad9-086f099efa7d", "AssumeRole", SUSPECT),
        ("ASIATFQR7NSCVW2R4OHT", "c24de5b7-4166-4f8d-870f-038ca2e8ca87", "AssumeRole", SUSPECT),
        ("ASIATFQR7NSCR2E3KSFW", "530ce88b-5eb3-463b-b846-3ffeb5671560", "AssumeRole", SUSPECT),
        ("ASIATFQR7NSC7TITDFL2", "dcce42ae-a4f1-45ca-8944-9f70843ca957", "AssumeRole", SUSPECT),
        ("ASIATFQR7NSCXLFJ4S5E", "13da6c81-90fd-4e56-9ac3-269bd9a8ea96", "AssumeRole", SUSPECT),
        ("ASIATFQR7NSCQJB6MQOY", "4e848b99-9590-4e6f-9e10-78439ffd51c2", "AssumeRole", SUSPECT),
    ]
    first = found[0]
    assert first.event_time == pd.Timestamp("2023-07-10T12:02:04Z")
    assert first.role_arn == "arn:aws:iam::123837392027:role/stratus-red-team-leave-org-role"
    assert first.expiration == "Jul 10, 2023, 12:17:04 PM"
    assert first.source_ip == "192.168.10.20"
    # the same from the raw records
    assert [d.access_key_id for d in derived_keys(all_invictus(), SUSPECT)] == [
        d.access_key_id for d in found
    ]
    assert derived_keys(frame, "AKIANOBODY0000000000") == []


def test_follow_derived_loads_the_minted_keys_activity(tmp_path: Path) -> None:
    for p in INVICTUS:
        shutil.copy(p, tmp_path / p.name)
    result = load_logs(  # the files' one region named: no other region is missing
        tmp_path, access_keys=SUSPECT, follow_derived=True, regions=["us-east-1"], progress=False
    )
    frame = result.frame
    assert {d.access_key_id for d in result.derived} == {
        "ASIATFQR7NSC2AF7XJOS",
        "ASIATFQR7NSCVW2R4OHT",
        "ASIATFQR7NSCR2E3KSFW",
        "ASIATFQR7NSC7TITDFL2",
        "ASIATFQR7NSCQJB6MQOY",
        DERIVED,
    }
    used = frame[frame["derived"]]
    assert list(used["event_id"]) == ["2f4876ba-b0fc-4a24-b406-bef4dcc9656f"]
    assert set(frame.loc[~frame["derived"], "access_key_id"]) == {SUSPECT}
    full = load_logs(tmp_path, progress=False).frame
    assert len(frame) == (full["access_key_id"] == SUSPECT).sum() + 1
    assert result.issues == []


# --------------------------------------------------------------------------------------------
# key layouts and narrowing
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("key", "expected"),
    [
        (
            "AWSLogs/111122223333/CloudTrail/eu-west-1/2024/02/29/x.json.gz",
            KeyLayout("111122223333", "eu-west-1", pd.Timestamp("2024-02-29").date()),
        ),
        (
            "trail/AWSLogs/o-aa111bb222/111122223333/CloudTrail/us-east-1/2023/07/10/x.json.gz",
            KeyLayout(
                "111122223333", "us-east-1", pd.Timestamp("2023-07-10").date(), "o-aa111bb222"
            ),
        ),
        (
            "flat/111122223333_CloudTrail_ap-south-1_20230710T1205Z_dOIWyEekdNWhkpqY.json.gz",
            KeyLayout("111122223333", "ap-south-1", pd.Timestamp("2023-07-10").date()),
        ),
        ("AWSLogs/111122223333/CloudTrail/", KeyLayout("111122223333", None, None)),
        ("export/lookup-events.json", None),
    ],
)
def test_key_layout(key: str, expected: KeyLayout | None) -> None:
    assert key_layout(key) == expected


def test_narrowing_keeps_one_day_either_side() -> None:
    n = Narrowing(start=pd.Timestamp("2023-07-10T23:50Z"), end=pd.Timestamp("2023-07-11T00:10Z"))
    assert [str(d) for d in n.days() or []] == [
        "2023-07-09",
        "2023-07-10",
        "2023-07-11",
        "2023-07-12",
    ]


@pytest.fixture
def account_trail(tmp_path: Path) -> Path:
    """Five days of an account trail (the real files, moved by whole days), and a digest."""
    root = tmp_path / "bucket" / "AWSLogs"
    for days in (-3, -1, 0, 1, 3):
        day = (pd.Timestamp("2023-07-10") + timedelta(days=days)).strftime("%Y-%m-%d")
        for p in INVICTUS[:3]:
            write_gz(root / day_key(day, log_name(p, day)), {"Records": shifted(records(p), days)})
    digest = root / ACCOUNT / "CloudTrail-Digest" / "us-east-1" / "2023" / "07" / "10" / "d.json.gz"
    write_gz(digest, {"digestStartTime": "2023-07-10T11:00:00Z", "logFiles": []})
    return tmp_path / "bucket"


def test_account_trail_window_reads_only_the_day_folders_needed(account_trail: Path) -> None:
    every = load_logs(account_trail, progress=False)
    assert (every.files_read, every.files_skipped) == (15, 0)
    assert len(every.frame) == 5 * (26 + 55 + 31)
    window = load_logs(
        account_trail,
        start="2023-07-10T12:00:00Z",
        end="2023-07-10T12:05:00Z",
        regions=["us-east-1"],  # the trail's one region: no other region's folder is missing
        progress=False,
    )
    assert (window.files_read, window.files_skipped) == (9, 6)  # 07-09, 07-10, 07-11
    in_window = every.frame[
        (every.frame["event_time"] >= pd.Timestamp("2023-07-10T12:00:00Z"))
        & (every.frame["event_time"] <= pd.Timestamp("2023-07-10T12:05:00Z"))
    ].reset_index(drop=True)
    assert len(in_window) > 0
    pd.testing.assert_frame_equal(window.frame, in_window, check_categorical=False)
    assert window.issues == []


def test_organization_trail_narrowed_by_account_and_region(tmp_path: Path) -> None:
    root = tmp_path / "AWSLogs" / "o-aa111bb222"
    for account in ("111122223333", "444455556666"):
        for region in ("us-east-1", "eu-west-1"):
            for p in INVICTUS[:2]:
                name = log_name(p, "2023-07-10", region, account)
                recs = copy.deepcopy(records(p))
                for r in recs:
                    r["eventID"] = f"{account[:4]}{region[:2]}{r['eventID'][6:]}"
                    r["recipientAccountId"], r["awsRegion"] = account, region
                write_gz(
                    root / day_key("2023-07-10", name, region=region, account=account),
                    {"Records": recs},
                )
    result = load_logs(tmp_path, accounts=["444455556666"], regions=["eu-west-1"], progress=False)
    assert (result.files_read, result.files_skipped) == (2, 6)
    assert set(result.frame["recipient_account_id"]) == {"444455556666"}
    assert set(result.frame["aws_region"]) == {"eu-west-1"}
    assert len(result.frame) == 26 + 55


def test_flat_folder_is_narrowed_by_file_names(tmp_path: Path) -> None:
    for days in (-5, 0):
        day = (pd.Timestamp("2023-07-10") + timedelta(days=days)).strftime("%Y-%m-%d")
        for p in INVICTUS[:2]:
            write_gz(tmp_path / log_name(p, day), {"Records": shifted(records(p), days)})
    (tmp_path / "notes.txt").write_text("not a log")
    result = load_logs(tmp_path, start="2023-07-10", end="2023-07-11", progress=False)
    assert (result.files_read, result.files_skipped) == (2, 2)
    assert len(result.frame) == 26 + 55


def test_a_missing_path_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file or folder"):
        load_logs(tmp_path / "nope", progress=False)


# --------------------------------------------------------------------------------------------
# S3
# --------------------------------------------------------------------------------------------
def upload(client: Any, bucket: str, folder: Path) -> list[str]:
    keys = []
    for path in sorted(folder.rglob("*.gz")):
        key = path.relative_to(folder).as_posix()
        client.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())
        keys.append(key)
    return keys


@pytest.fixture
def s3(moto: str) -> tuple[Aws, list[dict[str, Any]]]:
    """An Aws session on moto and the ListObjectsV2 calls made through it."""
    aws = Aws()
    client = aws.client("s3")
    client.create_bucket(Bucket="trail")
    calls: list[dict[str, Any]] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        calls.append({k: v for k, v in params.items() if k in ("Prefix", "Delimiter")})

    client.meta.events.register("provide-client-params.s3.ListObjectsV2", record)
    return aws, calls


def test_s3_account_trail_lists_only_the_needed_day_prefixes(
    s3: tuple[Aws, list[dict[str, Any]]], account_trail: Path
) -> None:
    aws, calls = s3
    upload(aws.client("s3"), "trail", account_trail)
    calls.clear()
    result = load_logs(
        "s3://trail/AWSLogs/",
        start="2023-07-10T12:00:00Z",
        end="2023-07-10T12:05:00Z",
        aws=aws,
        progress=False,
    )
    prefix = f"AWSLogs/{ACCOUNT}/CloudTrail/us-east-1/"
    assert [c for c in calls if "Delimiter" in c] == [
        {"Prefix": "AWSLogs/", "Delimiter": "/"},
        {"Prefix": f"AWSLogs/{ACCOUNT}/CloudTrail/", "Delimiter": "/"},
        # the regions enabled for the account with no log folder: has the trail digests there?
        {"Prefix": f"AWSLogs/{ACCOUNT}/CloudTrail-Digest/", "Delimiter": "/"},
    ]
    probes = [
        c["Prefix"] for c in calls if "CloudTrail-Digest" in c["Prefix"] and "Delimiter" not in c
    ]
    digests = f"AWSLogs/{ACCOUNT}/CloudTrail-Digest/us-east-1/"  # its day's files vs its digests
    assert probes == [digests, f"{digests}2023/07/10/", f"{digests}2023/07/11/"]
    assert sorted(
        c["Prefix"] for c in calls if "Delimiter" not in c and c["Prefix"] not in probes
    ) == [
        prefix + "2023/07/09/",
        prefix + "2023/07/10/",
        prefix + "2023/07/11/",
    ]
    assert (result.files_read, result.files_skipped) == (9, 0)
    local = load_logs(
        account_trail, start="2023-07-10T12:00Z", end="2023-07-10T12:05Z", progress=False
    )
    pd.testing.assert_frame_equal(
        result.frame.drop(columns="origin"), local.frame.drop(columns="origin")
    )
    assert str(result.frame["origin"].iloc[0]).startswith(f"s3://trail/{prefix}2023/07/10/")


def test_s3_organization_trail_with_account_and_region(
    s3: tuple[Aws, list[dict[str, Any]]], tmp_path: Path
) -> None:
    aws, calls = s3
    org = tmp_path / "AWSLogs" / "o-aa111bb222"
    for account in ("111122223333", "444455556666"):
        for region in ("us-east-1", "eu-west-1"):
            p = INVICTUS[0]
            name = log_name(p, "2023-07-10", region, account)
            recs = copy.deepcopy(records(p))
            for r in recs:
                r["eventID"] = f"{account[:4]}{region[:2]}{r['eventID'][6:]}"
                r["awsRegion"] = region  # as CloudTrail writes them: the folder's region
            write_gz(
                org / day_key("2023-07-10", name, region=region, account=account), {"Records": recs}
            )
    upload(aws.client("s3"), "trail", tmp_path)
    calls.clear()
    result = load_logs(
        "s3://trail",
        accounts=["444455556666"],
        regions=["eu-west-1"],
        start="2023-07-10T00:00Z",
        end="2023-07-10T23:59Z",
        aws=aws,
        progress=False,
    )
    trail = "AWSLogs/o-aa111bb222/444455556666/CloudTrail/eu-west-1/"
    assert [c for c in calls if "Delimiter" in c] == [
        {"Prefix": "", "Delimiter": "/"},
        {"Prefix": "AWSLogs/", "Delimiter": "/"},
    ]
    probes = [c["Prefix"] for c in calls if "CloudTrail-Digest" in c["Prefix"]]
    assert probes == ["AWSLogs/o-aa111bb222/444455556666/CloudTrail-Digest/eu-west-1/"]
    assert sorted(
        c["Prefix"] for c in calls if "Delimiter" not in c and c["Prefix"] not in probes
    ) == [
        trail + "2023/07/09/",
        trail + "2023/07/10/",
        trail + "2023/07/11/",
    ]
    assert result.files_read == 1
    assert len(result.frame) == 55


def _two_region_trail(root: Path, *, flat: bool = False) -> Path:
    """One day of an account trail in us-east-1 (2 files) and eu-west-1 (1 file); ``flat``: the
    files without the key layout (narrowed by their names)."""
    for region, ps in (("us-east-1", INVICTUS[:2]), ("eu-west-1", INVICTUS[2:3])):
        for p in ps:
            name = log_name(p, "2023-07-10", region)
            key = name if flat else "AWSLogs/" + day_key("2023-07-10", name, region=region)
            write_gz(root / key, {"Records": records(p)})
    return root


def test_the_region_narrowing_says_which_regions_it_left_out(
    s3: tuple[Aws, list[dict[str, Any]]], tmp_path: Path
) -> None:
    """--regions narrows log files (README): each source says what it left out — the files of
    other regions seen and not read, counted by region, and where only the regions asked were
    listed — without listing the other regions' folders."""
    aws, calls = s3
    window = {"start": "2023-07-10T00:00Z", "end": "2023-07-10T23:59Z", "progress": False}
    trail = _two_region_trail(tmp_path / "trail")
    upload(aws.client("s3"), "trail", trail)
    flat = _two_region_trail(tmp_path / "flat", flat=True)
    aws.client("s3").create_bucket(Bucket="flat")
    upload(aws.client("s3"), "flat", flat)
    calls.clear()

    planned = load_logs("s3://trail/AWSLogs/", regions=["us-east-1"], aws=aws, **window)
    assert planned.files_read == 2
    folder = f"s3://trail/AWSLogs/{ACCOUNT}/CloudTrail/"
    assert planned.notes == [
        "s3://trail/AWSLogs/: the region narrowing (--regions us-east-1) kept only those "
        f"regions' log files; only the us-east-1 folder(s) of {folder} were listed: the log "
        "files of any other region there were left out (not listed, so not counted)"
    ]
    assert f"AWSLogs/{ACCOUNT}/CloudTrail/eu-west-1/" not in str(calls)  # not listed

    named = load_logs(
        f"s3://trail/AWSLogs/{ACCOUNT}/CloudTrail/eu-west-1/",
        regions=["us-east-1"],
        aws=aws,
        **window,
    )
    assert named.files_read == 0 and "log files of region(s) eu-west-1 were left out" in str(
        named.notes
    )
    assert [i.problem for i in named.issues] == [
        "no log file matched the window/region narrowing (region(s) eu-west-1 not asked)"
    ]

    for source in ("s3://flat/", flat):
        seen = load_logs(source, regions=["us-east-1"], aws=aws, **window)
        assert (seen.files_read, seen.files_skipped) == (2, 1)
        assert seen.counts.describe().endswith("1 outside the window/region narrowing")
        assert seen.notes == [
            f"{source}: the region narrowing (--regions us-east-1) kept only those regions' "
            "log files; log files of region(s) eu-west-1 (1 file(s)) were left out"
        ]

    local = load_logs(trail, regions=["us-east-1"], **window)
    assert (local.files_read, local.files_skipped) == (2, 1)
    assert "log files of region(s) eu-west-1 (1 file(s)) were left out" in local.notes[0]
    assert load_logs(trail, **window).notes == []


def test_s3_without_narrowing_lists_the_prefix_and_skips_digests(
    s3: tuple[Aws, list[dict[str, Any]]], account_trail: Path
) -> None:
    aws, calls = s3
    upload(aws.client("s3"), "trail", account_trail)
    calls.clear()
    result = load_logs("s3://trail/AWSLogs", aws=aws, progress=False, workers=2)
    # the digest folder was in the prefix listed: whether the trail logged a region missing a
    # folder is told from that listing, not a listing of CloudTrail-Digest/ again
    assert calls == [{"Prefix": "AWSLogs"}]
    assert result.files_read == 15
    # no window: the days are not judged, the regions are — the trail holds us-east-1 only
    (issue,) = result.issues
    assert issue.source == f"s3://trail/AWSLogs/{ACCOUNT}/CloudTrail/"
    assert issue.problem.startswith("no folder for region(s) af-south-1, ")
    assert "us-east-1" not in issue.problem.partition(":")[0]
    assert "nothing was logged there at all" in issue.problem


@pytest.mark.parametrize(
    ("prefix", "listed"),
    [
        ("AWSLogs", [{"Prefix": "AWSLogs"}]),  # the digest folder is in the prefix listed
        (  # it is not: its region folders are listed once, to tell the regions it logged
            f"AWSLogs/{ACCOUNT}/CloudTrail/",
            [
                {"Prefix": f"AWSLogs/{ACCOUNT}/CloudTrail/"},
                {"Prefix": f"AWSLogs/{ACCOUNT}/CloudTrail-Digest/", "Delimiter": "/"},
            ],
        ),
    ],
)
def test_s3_without_a_window_a_region_with_a_digest_folder_is_logged(
    s3: tuple[Aws, list[dict[str, Any]]], account_trail: Path, prefix: str, listed: list[Any]
) -> None:
    """No window: a region with no log folder whose digest folder shows the trail logged it is
    no "no folder" issue (as with a window; its days, like every region's, are not judged)."""
    aws, calls = s3
    client = aws.client("s3")
    upload(client, "trail", account_trail)
    quiet = f"AWSLogs/{ACCOUNT}/CloudTrail-Digest/eu-west-1/2023/07/10/d.json.gz"
    client.put_object(Bucket="trail", Key=quiet, Body=gzip.compress(b'{"logFiles": []}'))
    calls.clear()
    result = load_logs(f"s3://trail/{prefix}", aws=aws, progress=False, workers=2)
    assert calls == listed
    (issue,) = result.issues
    lacking = issue.problem.partition(":")[0].removeprefix("no folder for region(s) ")
    assert "eu-central-1" in lacking.split(", ")
    assert not {"eu-west-1", "us-east-1"} & set(lacking.split(", "))


def test_s3_listing_a_missing_bucket_is_an_aws_error(s3: tuple[Aws, list[dict[str, Any]]]) -> None:
    from torinvest.errors import AwsError

    aws, _ = s3
    with pytest.raises(AwsError) as failed:
        load_logs("s3://no-such-bucket/AWSLogs/", aws=aws, progress=False)
    # the bucket and prefix listed are named: NoSuchBucket alone does not say which
    assert str(failed.value).startswith(
        "ListObjectsV2 on s3://no-such-bucket/AWSLogs/ failed: NoSuchBucket: "
    )


def loop_continuation_tokens(client: Any, period: int | None) -> list[str | None]:
    """Make ``client``'s ListObjectsV2 pages never end, as a broken endpoint or proxy would
    (moto cannot): each request is sent without its token (moto serves the first page again)
    and each answer is truncated with a next token — ``period`` tokens in turn, or a fresh one
    every time (None). Returns the tokens sent, one per call."""
    sent: list[str | None] = []

    def strip(params: dict[str, Any], **_: Any) -> None:
        sent.append(params.pop("ContinuationToken", None))

    def truncate(parsed: dict[str, Any], **_: Any) -> None:
        turn = len(sent) if period is None else len(sent) % period
        parsed["IsTruncated"], parsed["NextContinuationToken"] = True, f"token-{turn}"

    client.meta.events.register("provide-client-params.s3.ListObjectsV2", strip)
    client.meta.events.register("after-call.s3.ListObjectsV2", truncate)
    return sent


@pytest.mark.parametrize("period", [2, None], ids=["cycle-of-2", "fresh-for-ever"])
def test_an_s3_listing_that_never_ends_is_a_prefix_not_listed_not_no_logs(
    s3: tuple[Aws, list[dict[str, Any]]],
    account_trail: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    period: int | None,
) -> None:
    """Continuation tokens in a cycle, or fresh ones for ever (up to the page cap): the prefix
    could not be listed completely — said so, never "no log files" nor a partial listing read
    as whole; a local source beside it is read. Bounded: a regression fails, not hangs."""
    from torinvest.aws import pages
    from torinvest.errors import EndpointError

    monkeypatch.setitem(pages.MAX_PAGES, "ListObjectsV2", 5)
    aws, _ = s3
    upload(aws.client("s3"), "trail", account_trail)
    sent = loop_continuation_tokens(aws.client("s3"), period)
    local = tmp_path / "local"
    write_gz(local / "one.json.gz", {"Records": records(INVICTUS[0])})
    result = bounded(lambda: load_logs(["s3://trail/AWSLogs", local], aws=aws, progress=False))
    assert len(sent) == (5 if period is None else period + 1)
    assert result.files_read == 1
    (issue,) = result.issues
    assert issue.source == "s3://trail/AWSLogs"
    problem = "returned the same next token twice" if period else "still returned a next token"
    assert issue.problem.startswith(
        "could not be listed: ListObjectsV2 on s3 in us-east-1 for s3://trail/AWSLogs: the "
        f"endpoint {problem}"
    )
    assert f"stopped after {len(sent)} page(s), the results of this call are incomplete" in (
        issue.problem
    )
    assert "no CloudTrail log files" not in issue.problem
    with pytest.raises(EndpointError, match="results of this call are incomplete"):
        bounded(lambda: load_logs("s3://trail/AWSLogs", aws=aws, progress=False))


# --------------------------------------------------------------------------------------------
# overlapping sources, bad files
# --------------------------------------------------------------------------------------------
def test_a_log_file_and_a_lookup_export_of_the_same_records_dedupe(tmp_path: Path) -> None:
    recs = records(INVICTUS[1])
    write_gz(tmp_path / "a" / "log.json.gz", {"Records": recs})
    export = {
        "Events": [{"EventId": r["eventID"], "CloudTrailEvent": json.dumps(r)} for r in recs[:10]]
    }
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "lookup.json").write_text(json.dumps(export))
    result = load_logs(tmp_path, progress=False)
    assert result.files_read == 2
    assert len(result.frame) == len(recs) == 26
    assert set(result.frame["origin"]) == {str(tmp_path / "a" / "log.json.gz")}


def test_each_bad_file_is_one_issue_and_the_rest_loads(tmp_path: Path) -> None:
    good = [
        write_gz(tmp_path / f"good{i}.json.gz", {"Records": records(p)})
        for i, p in enumerate(INVICTUS[:3])
    ]
    data = gzip.compress(json.dumps({"Records": records(INVICTUS[3])}).encode(), mtime=0)
    (tmp_path / "truncated.json.gz").write_bytes(data[: len(data) // 2])
    (tmp_path / "invalid.json").write_text('{"Records": [{"eventVersion": "1.08", ')
    shutil.copy(FINDING, tmp_path / "finding.json")
    lines = OTRF.read_bytes().splitlines()
    lines[6] = lines[6][:40]
    (tmp_path / "otrf.ndjson").write_bytes(b"\n".join(lines) + b"\n")
    result = load_logs(tmp_path, progress=False)
    by_source = {i.source: i.problem for i in result.issues}
    assert sorted(by_source) == sorted(
        [
            str(tmp_path / "truncated.json.gz"),
            str(tmp_path / "invalid.json"),
            str(tmp_path / "finding.json"),
            f"{tmp_path / 'otrf.ndjson'}:7",
        ]
    )
    assert "truncated" in by_source[str(tmp_path / "truncated.json.gz")]
    assert "invalid JSON" in by_source[str(tmp_path / "invalid.json")]
    assert "GuardDuty finding" in by_source[str(tmp_path / "finding.json")]
    assert by_source[f"{tmp_path / 'otrf.ndjson'}:7"].startswith("line 7: invalid JSON")
    assert result.files_read == 7
    assert len(result.frame) == 26 + 55 + 31 + 102
    assert set(result.frame["origin"]) == {str(p) for p in good} | {str(tmp_path / "otrf.ndjson")}


# --------------------------------------------------------------------------------------------
# key filter: the byte prefilter gives exactly what a parse + filter gives
# --------------------------------------------------------------------------------------------
def lookup_export(recs: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "Events": [{"EventId": r.get("eventID"), "CloudTrailEvent": json.dumps(r)} for r in recs]
    }


def adversarial_records() -> list[dict[str, Any]]:
    """The suspect key in places that are not the caller, and a record that starts a nested
    object with ``{"eventVersion":`` (so cutting the file at record starts fails)."""
    out = copy.deepcopy(records(INVICTUS[0])[:4])
    for i, r in enumerate(out):
        r["eventID"] = f"00000000-0000-4000-8000-00000000000{i}"
        r["userIdentity"]["accessKeyId"] = SUSPECT
    out[0]["requestParameters"] = {"note": f"{SUSPECT} in a string", "k": SUSPECT}
    out[1]["requestParameters"] = {
        "nested": {"eventVersion": "1.08", "userIdentity": {"accessKeyId": SUSPECT}}
    }
    out[2]["userIdentity"]["accessKeyId"] = SUSPECT + "X"  # a longer key that contains it
    return out


@pytest.fixture
def mixed_folder(tmp_path: Path) -> Path:
    for p in INVICTUS:
        write_gz(tmp_path / "logs" / (p.name + ".gz"), p.read_bytes())  # compact, as written
    shutil.copy(CT / "invictus_sample.json", tmp_path / "one-record-per-line.json")
    shutil.copy(OTRF, tmp_path / "otrf.json")  # NDJSON in a .json file
    write_gz(tmp_path / "docs.jsonl.gz", AWSDOCS.read_bytes())
    (tmp_path / "lookup.json").write_text(json.dumps(lookup_export(records(INVICTUS[2]))))
    (tmp_path / "pretty.json").write_text(json.dumps({"Records": records(INVICTUS[4])}, indent=2))
    write_gz(
        tmp_path / "adversarial.json.gz",
        json.dumps({"Records": adversarial_records()}, separators=(",", ":")).encode(),
    )
    return tmp_path


@pytest.mark.parametrize(
    "key",
    [
        SUSPECT,
        DERIVED,
        "ASIATFQR7NSC2AF7XJOS",  # only in responseElements (minted), never a caller
        "ASIA5FLZVX4OI4ZDQJOL",  # the OTRF NDJSON caller
        "AKIATFQR7NSCUXC3DDDP",  # invictus_sample.json
        "AKIANOBODY0000000000",
    ],
)
def test_key_filter_is_exactly_parse_then_filter(mixed_folder: Path, key: str) -> None:
    whole = load_logs(mixed_folder, progress=False)
    full = whole.frame
    expected = full[full["access_key_id"] == key].reset_index(drop=True)
    got = load_logs(mixed_folder, access_keys=key, progress=False)
    got_frame = got.frame.drop(columns="derived")
    pd.testing.assert_frame_equal(
        got_frame, expected.drop(columns="derived"), check_categorical=False
    )
    assert not got.frame["derived"].any()
    assert got.files_read == len(list(mixed_folder.rglob("*.*"))) == 15
    # no window: the flat group of the us-east-1 files named like CloudTrail's is judged (its
    # other regions named missing), with the key filter as without
    (issue,) = got.issues
    assert issue in whole.issues
    assert issue.source.endswith(" (218007301253_CloudTrail_* files)")
    assert issue.problem.startswith("no log file named for region(s) ")


@pytest.mark.parametrize("key", ["EXAMPLE_KEY_ID", "akiatfqr7nscuxc3dddp", "12345", ""])
def test_a_key_filter_that_is_not_an_access_key_id_is_refused(key: str) -> None:
    """The documentation examples' "EXAMPLE_KEY_ID" is no key: a filter on it is a typo."""
    with pytest.raises(InputError, match="not an access key ID"):
        load_logs(INVICTUS[0], access_keys=key, progress=False)


def test_key_filter_with_several_keys_and_a_window(mixed_folder: Path) -> None:
    keys = {SUSPECT, DERIVED}
    start, end = pd.Timestamp("2023-07-10T12:00Z"), pd.Timestamp("2023-07-10T12:10Z")
    full = load_logs(mixed_folder, progress=False).frame
    t = full["event_time"]
    expected = full[full["access_key_id"].isin(keys) & (t >= start) & (t <= end)]
    got = load_logs(mixed_folder, access_keys=keys, start=start, end=end, progress=False).frame
    assert len(got) > 0
    assert list(got["event_id"]) == list(expected["event_id"])


def test_worker_processes_give_the_same_frame(
    mixed_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sequential = load_logs(mixed_folder, progress=False, workers=1)
    monkeypatch.setattr(logs_pool, "SEQUENTIAL_MAX_FILES", 0)
    monkeypatch.setattr(logs_pool, "SEQUENTIAL_MAX_BYTES", 0)
    monkeypatch.setattr(logs_pool, "BATCH_BYTES", 50_000)
    parallel = load_logs(mixed_folder, progress=False, workers=2)
    pd.testing.assert_frame_equal(parallel.frame, sequential.frame)
    assert parallel.issues == sequential.issues
    keyed = load_logs(mixed_folder, access_keys=SUSPECT, progress=False, workers=2)
    holding = [
        p
        for p in mixed_folder.rglob("*.*")
        if SUSPECT.encode()
        in (gzip.decompress(p.read_bytes()) if p.suffix == ".gz" else p.read_bytes())
    ]
    assert keyed.files_matched == len(holding) == 13
    assert (keyed.frame["access_key_id"] == SUSPECT).all()


def test_an_empty_key_filter_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="access key filter"):
        load_logs(tmp_path, access_keys=[""], progress=False)


def test_the_python_path_gives_the_same_columns_as_the_arrow_path() -> None:
    from torinvest.sources.records import table as rec

    docs = (
        all_invictus()
        + parse_records(OTRF.read_bytes())[0]
        + parse_records(AWSDOCS.read_bytes())[0]
    )
    fast = rec._arrays_arrow(docs)
    slow = rec._arrays_python(docs)
    assert len(fast) == len(slow) == 23
    for i, (a, b) in enumerate(zip(fast, slow, strict=True)):
        a = a.dictionary_decode() if pa.types.is_dictionary(a.type) else a
        b = b.dictionary_decode() if pa.types.is_dictionary(b.type) else b
        assert a.equals(b), i


def test_odd_value_types_become_text_not_errors() -> None:
    rec = copy.deepcopy(records(INVICTUS[1])[0])
    rec["errorCode"] = 403
    rec["readOnly"] = "false"
    rec["userIdentity"]["sessionContext"] = {"attributes": {"mfaAuthenticated": True}}
    odd = {**rec, "eventID": "x", "userIdentity": "not an object"}
    frame = normalize_records([rec, odd])
    assert list(frame["error_code"].astype("string")) == ["403", "403"]
    assert list(frame["read_only"]) == [False, False]
    assert frame["mfa_authenticated"].fillna(False).sum() == 1
    assert frame["user_type"].isna().sum() == 1


# --------------------------------------------------------------------------------------------
# whole log files are read straight from their bytes (msgspec), with the general path behind
# --------------------------------------------------------------------------------------------
def odd_log_files() -> dict[str, bytes]:
    """Log files whose fields take every shape the typed reading must get right, and files it
    must hand to the general path (types it does not take, invalid bytes, other shapes)."""
    base = records(INVICTUS[0])[:6] + records(INVICTUS[5])[:6]

    def doc(change: Any = None, recs: list[dict[str, Any]] | None = None) -> bytes:
        out = copy.deepcopy(base if recs is None else recs)
        for i, r in enumerate(out):
            if change is not None:
                change(r, i)
        return json.dumps({"Records": out}, separators=(",", ":"), ensure_ascii=False).encode()

    def params(text: bytes) -> bytes:  # raw JSON spliced into the first requestParameters
        data = doc()
        at = data.index(b'"requestParameters":{') + len(b'"requestParameters":{')
        return data[:at] + text + b"," + data[at:]

    def identity(r: dict[str, Any], i: int) -> None:
        r["userIdentity"] = [
            None,
            {"type": "AssumedRole", "arn": "arn:aws:sts::1:assumed-role/r/session-1"},
            {"type": "FederatedUser", "arn": "arn:aws:sts::1:federated-user/bob", "userName": ""},
            {"type": "AssumedRole", "arn": "arn:aws:sts::1:assumed-role/r/", "accessKeyId": ""},
            {"sessionContext": None},
            {"sessionContext": {"sessionIssuer": None, "attributes": None}},
            {"sessionContext": {"sessionIssuer": {}, "attributes": {"mfaAuthenticated": " TRUE"}}},
            {"sessionContext": {"attributes": {"mfaAuthenticated": "maybe"}}},
        ][i % 8]
        if i == 9:
            del r["userIdentity"]

    def values(r: dict[str, Any], i: int) -> None:
        r["requestParameters"] = [None, "", "null", 0, -7, True, [], {}, {"a": None}][i % 9]
        r["responseElements"] = [{"x": 1.5}, 2.5, 1e21, "é\u2028", [1, 2]][i % 5]
        if i == 10:
            del r["requestParameters"], r["responseElements"]
        r["readOnly"] = [True, False, None][i % 3]
        r["errorCode"] = ["", None, "AccessDenied"][i % 3]
        if i % 4 == 0:
            r["@timestamp"] = f"2023-07-10T12:00:0{i % 10}.5Z"
            r["eventTime"] = "" if i else None
        if i == 5:
            r["eventTime"] = "not a time"

    return {
        "compact": doc(),
        "pretty": json.dumps({"Records": base}, indent=2).encode(),
        "spaced_and_extra_keys": b'  {  "Records" : '
        + json.dumps(base, separators=(", ", ": ")).encode()
        + b', "extra": {"a": [1]}}\n',
        "identities": doc(identity),
        "values": doc(values),
        "escapes": params(
            b'"p":"a\\/b\\u00e9\\u00E9\\u0041\\"q\\"\\n\\u0008\\u001F\\u007f\\ud83d\\ude00",'
            b'"f":[1.0,1e5,-0,0.10,1E2,12345678901234567890123,18446744073709551615]'
        ),
        "spaced_params": params(b'"k" : [ 1 , 2 ] '),
        "dup_keys_in_record": doc().replace(b'"eventName":', b'"eventName":"First","eventName":'),
        "empty": b'{"Records":[]}',
        # the general path's: types the typed reading does not take, invalid bytes, shapes
        "readonly_text": doc(lambda r, i: r.update(readOnly="true")),
        "error_code_number": doc(lambda r, i: r.update(errorCode=403)),
        "identity_text": doc(lambda r, i: r.update(userIdentity="not an object")),
        "mfa_bool": doc(
            lambda r, i: r.update(
                userIdentity={"sessionContext": {"attributes": {"mfaAuthenticated": True}}}
            )
        ),
        "no_event_version": doc(lambda r, i: r.pop("eventVersion") if i == 3 else None),
        "not_a_record": doc(recs=[*base, {"foo": 1}]),
        "not_an_object": doc(recs=[*base, 5]),
        "records_null": b'{"Records":null}',
        "bad_utf8_skipped": doc().replace(b'"eventCategory":"Management"', b'"x":"\xff"', 1),
        "bad_utf8_params": params(b'"z":"\xc3\x28"'),
        "lone_surrogate": params(b'"s":"ab\\ud800"'),
        "nan": params(b'"n":NaN'),
        "truncated": doc()[:-40],
        "trailing": doc() + b" x",
        "two_documents": doc() + b"\n" + doc(),
        "deep": params(b'"d":' + b"[" * 1100 + b"]" * 1100),
    }


GENERAL_PATH = {
    "readonly_text",
    "error_code_number",
    "identity_text",
    "mfa_bool",
    "no_event_version",
    "not_a_record",
    "not_an_object",
    "records_null",
    "bad_utf8_skipped",
    "bad_utf8_params",
    "lone_surrogate",
    "nan",
    "truncated",
    "trailing",
    "two_documents",
    "deep",
}


@pytest.mark.parametrize("name", sorted(odd_log_files()))
def test_a_log_file_read_from_its_bytes_is_the_records_table(name: str) -> None:
    from torinvest.sources import records as rec

    data = odd_log_files()[name]
    table = rec.log_file_table(data, source="logs", origin=name)
    if name in GENERAL_PATH:
        assert table is None
        return
    assert table is not None
    expected = rec.records_table(parse_records(data)[0], source="logs", origin=name)
    assert table.schema.equals(expected.schema)
    for column in table.column_names:
        assert table.column(column).equals(expected.column(column)), column
        if pa.types.is_dictionary(table.schema.field(column).type):
            got = [c.dictionary for c in table.column(column).chunks]
            assert got == [c.dictionary for c in expected.column(column).chunks], column


def test_odd_log_files_load_as_through_the_general_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = {
        name: write_gz(tmp_path / f"{name}.json.gz", data) for name, data in odd_log_files().items()
    }
    fast = {name: load_logs(p, progress=False) for name, p in paths.items()}
    monkeypatch.setattr(logs_read, "log_file_table", lambda *a, **k: None)
    monkeypatch.setattr(logs_batch, "log_file_records", lambda *a, **k: None)  # grouped reads
    for name, p in paths.items():
        general = load_logs(p, progress=False)
        pd.testing.assert_frame_equal(fast[name].frame, general.frame, obj=name)
        assert fast[name].issues == general.issues, name
    odd_types = {"readonly_text", "error_code_number", "identity_text", "mfa_bool"}
    loaded = odd_types | {"no_event_version", "two_documents"}  # records, no issue
    # "values" has a record whose eventTime is "not a time": kept, NA time, an issue
    assert {name for name, r in fast.items() if r.issues} == GENERAL_PATH - loaded | {"values"}
    # a bad UTF-8 byte, a lone surrogate escape or a NaN costs no record (replaced or kept as its
    # text, flagged); a damaged file keeps its whole records (salvaged, flagged): only the record
    # with the damage is lost
    assert {name for name, r in fast.items() if not len(r.frame)} == {"empty", "records_null"}
    whole = len(json.loads(odd_log_files()["compact"])["Records"])
    for name in ("bad_utf8_skipped", "bad_utf8_params", "trailing", "lone_surrogate", "nan"):
        assert len(fast[name].frame) == whole, name
    for name in ("truncated", "deep"):
        assert len(fast[name].frame) == whole - 1, name


def small_and_odd_folder(root: Path) -> Path:
    """Many small log files (a few records each) with every odd file among them, in one
    flat folder whose order interleaves them: groups of small files are cut by odd files."""
    base = records(INVICTUS[1])
    odd = dict(odd_log_files())
    # a value msgspec takes but orjson cannot read back (1e400 is infinity): the group that
    # holds this file is made file by file, and this file goes through the general path
    odd["infinite"] = odd["compact"].replace(
        b'"requestParameters":{', b'"requestParameters":{"x":1e400,', 1
    )
    names = sorted(odd)
    for i in range(90):
        chunk = copy.deepcopy(base[(i * 3) % len(base) : (i * 3) % len(base) + 1 + i % 4])
        for j, r in enumerate(chunk):
            r["eventID"] = f"small-{i:03d}-{j}"
        write_gz(root / f"f{i:03d}a.json.gz", {"Records": chunk})
        if i % 3 == 0 and names:
            name = names.pop()
            write_gz(root / f"f{i:03d}b-{name}.json.gz", odd[name])
    return root


@pytest.mark.parametrize("window", [False, True])
@pytest.mark.parametrize("workers", [1, 2])
def test_a_grouped_read_is_the_read_of_each_file_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: int, window: bool
) -> None:
    """Small log files made into one piece a group at a time give exactly the rows (and
    their order, categories, origins) and the issues (and their order) of a piece per file."""
    folder = small_and_odd_folder(tmp_path / "logs")
    kwargs: dict[str, Any] = {"progress": False, "workers": workers}
    if window:  # cuts records out, and some records have no usable time
        kwargs |= {"start": "2023-07-10T12:00:00Z", "end": "2023-07-11"}
    if workers > 1:  # else read in this process, in batches too
        monkeypatch.setattr(logs_pool, "SEQUENTIAL_MAX_FILES", 0)
        monkeypatch.setattr(logs_pool, "SEQUENTIAL_MAX_BYTES", 0)
    monkeypatch.setattr(logs_pool, "BATCH_BYTES", 20_000)  # several tasks (and groups)
    flushed: list[int] = []  # files per piece made in this process (workers=1)
    flush = logs_batch._LogGroup.flush

    def counted(group: Any) -> list[pa.Table]:
        flushed.append(len(group.names))
        return flush(group)

    monkeypatch.setattr(logs_batch._LogGroup, "flush", counted)
    grouped = load_logs(folder, **kwargs)
    assert workers > 1 or max(flushed) > 3  # small files are made into pieces together
    monkeypatch.setattr(logs_batch, "GROUP_RECORDS", 0)  # every file its own piece
    alone = load_logs(folder, **kwargs)
    assert len(grouped.frame) > (100 if window else 200)
    pd.testing.assert_frame_equal(grouped.frame, alone.frame)
    assert grouped.issues == alone.issues
    assert len(alone.issues) >= 10  # the odd files' issues, the untimed records, 1e400
    assert any("infinite" in i.source for i in alone.issues)
    assert grouped.counts.failed == alone.counts.failed


@pytest.mark.parametrize("through", ["folder", "pipe"])
def test_worker_pieces_come_back_whole_through_a_folder_or_the_pipe(
    mixed_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, through: str
) -> None:
    sequential = load_logs(mixed_folder, progress=False, workers=1)
    monkeypatch.setattr(logs_pool, "SEQUENTIAL_MAX_FILES", 0)
    monkeypatch.setattr(logs_pool, "SEQUENTIAL_MAX_BYTES", 0)
    monkeypatch.setattr(logs_pool, "BATCH_BYTES", 50_000)
    root = tmp_path / "shm"
    if through == "folder":
        root.mkdir()
    monkeypatch.setattr(logs_batch, "SPILL_ROOT", str(root))
    parallel = load_logs(mixed_folder, progress=False, workers=2)
    pd.testing.assert_frame_equal(parallel.frame, sequential.frame)
    assert parallel.issues == sequential.issues
    assert not root.exists() or list(root.iterdir()) == []  # nothing left behind


def test_a_killed_loads_spill_folder_is_removed_by_the_next_load(
    mixed_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """/dev/shm is memory: a load killed before it removed its folder (pieces and all) leaves
    it to the next load, which removes it — never a running load's, nor a folder of another
    name."""
    import subprocess
    import sys

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    root = tmp_path / "shm"
    root.mkdir()
    stale = root / f"torinvest-{gone.pid}-abc123"
    stale.mkdir()
    (stale / "0.arrows").write_bytes(b"x" * 1000)
    running = root / f"torinvest-{os.getpid()}-live12"
    running.mkdir()
    other = root / "torinvest-notapid"
    other.mkdir()
    monkeypatch.setattr(logs_pool, "SEQUENTIAL_MAX_FILES", 0)
    monkeypatch.setattr(logs_pool, "SEQUENTIAL_MAX_BYTES", 0)
    monkeypatch.setattr(logs_batch, "SPILL_ROOT", str(root))
    load_logs(mixed_folder, progress=False, workers=2)
    assert sorted(p.name for p in root.iterdir()) == sorted([running.name, other.name])


def test_progress_bar_on_request(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for p in INVICTUS[:2]:
        shutil.copy(p, tmp_path / p.name)
    load_logs(tmp_path, progress=True)
    assert "CloudTrail logs" in capsys.readouterr().err
    load_logs(tmp_path)  # not a terminal: no bar
    assert capsys.readouterr().err == ""


def test_bad_json_lines_read_for_a_key_are_reported_as_a_full_read_does(tmp_path: Path) -> None:
    key = "ASIA5FLZVX4OI4ZDQJOL"  # the OTRF NDJSON caller
    lines = OTRF.read_bytes().splitlines()
    assert key.encode() in lines[3] and key.encode() in lines[6]
    cut = lines[3].index(key.encode()) + len(key) + 2
    lines[3] = lines[3][:cut]  # truncated: invalid JSON that still holds the key
    lines[6] = json.dumps({"Findings": [{"note": key}]}).encode()  # not CloudTrail
    (tmp_path / "otrf.ndjson").write_bytes(b"\n".join(lines) + b"\n")
    full = load_logs(tmp_path, progress=False)
    by_key = load_logs(tmp_path, access_keys=key, progress=False)
    assert by_key.issues == full.issues
    (issue,) = full.issues
    assert issue.source.endswith("otrf.ndjson:4")
    assert issue.problem.startswith("line 4: invalid JSON")
    assert "(and 1 more: lines 7…)" in issue.problem and "other lines were loaded" in issue.problem
    expected = full.frame[full.frame["access_key_id"] == key]
    assert list(by_key.frame["event_id"]) == list(expected["event_id"]) and len(expected)


def test_following_derived_keys_in_s3_downloads_each_object_once(
    s3: tuple[Aws, list[dict[str, Any]]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    aws, _ = s3
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))  # where the spool goes
    for p in INVICTUS:
        write_gz(tmp_path / "flat" / (p.name + ".gz"), p.read_bytes())
    keys = upload(aws.client("s3"), "trail", tmp_path / "flat")
    downloads: list[str] = []
    aws.client("s3").meta.events.register(
        "provide-client-params.s3.GetObject", lambda params, **_: downloads.append(params["Key"])
    )
    result = load_logs(
        "s3://trail/", access_keys=SUSPECT, follow_derived=True, aws=aws, progress=False
    )
    local = load_logs(tmp_path / "flat", access_keys=SUSPECT, follow_derived=True, progress=False)
    assert len(result.derived) == 6  # three passes: the suspect's, its keys', theirs
    assert sorted(downloads) == sorted(keys)  # once each, not once per pass
    pd.testing.assert_frame_equal(
        result.frame.drop(columns="origin"), local.frame.drop(columns="origin")
    )
    assert result.derived == local.derived
    assert result.files_matched == local.files_matched
    assert not list((tmp_path / "tmp").iterdir())  # the spool is gone


# --------------------------------------------------------------------------------------------
# bounded inflation, UTF-8 repair, salvage, the same record
# --------------------------------------------------------------------------------------------
def test_gunzip_stops_at_the_limit_and_counts_every_member() -> None:
    data = b"x" * 1000
    one = gzip.compress(data, mtime=0)
    assert logs.gunzip(one, 1000) == data  # exactly the limit: read
    with pytest.raises(logs.FileTooLargeError):
        logs.gunzip(one, 999)
    two = one + gzip.compress(data, mtime=0)
    assert logs.gunzip(two, 2000) == data * 2
    with pytest.raises(logs.FileTooLargeError):
        logs.gunzip(two, 1999)  # each member under the limit, together over it
    with pytest.raises(EOFError):
        logs.gunzip(one[:-10], 10_000)
    assert logs.gunzip(two) == data * 2  # no limit


def _trailer(gz: bytes, isize: int) -> bytes:
    """``gz`` with its trailer's ISIZE (the stated length) replaced."""
    return gz[:-4] + (isize % (1 << 32)).to_bytes(4, "little")


def test_gunzip_takes_the_stated_size_as_a_hint_only() -> None:
    """The trailer's ISIZE sizes the first buffer; a file that lies about it (or whose last
    member is not its first) is still read in full, still stopped at the limit, and its damage
    still reported."""
    data = bytes(range(256)) * 400  # 102,400 bytes
    one = gzip.compress(data, mtime=0)
    small_last = one + gzip.compress(b"{}", mtime=0)  # the trailer gives the 2-byte member
    assert logs.gunzip(small_last, 1 << 20) == data + b"{}"
    assert logs.gunzip(small_last) == data + b"{}"
    for stated in (0, 10, len(data) - 1, len(data) + 1, 1 << 31):
        lying = _trailer(one, stated)
        with pytest.raises(logs.FileTooLargeError):  # a bomb that says it is small
            logs.gunzip(lying, 50_000)
        with pytest.raises(logs_read._INFLATE_ERRORS):  # within the limit: the check catches it
            logs.gunzip(lying, 1 << 20)
    # an honest file is inflated once, into a buffer of the stated size
    asked: list[int] = []
    real = logs_read._inflate.decompressobj

    class Recording:
        def __init__(self, wbits: int) -> None:
            self.d = real(wbits=wbits)

        def decompress(self, data: bytes, max_length: int = 0) -> bytes:
            asked.append(max_length)
            return self.d.decompress(data, max_length)

        def __getattr__(self, name: str) -> Any:
            return getattr(self.d, name)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(logs_read._inflate, "decompressobj", Recording)
        assert logs.gunzip(one, 1 << 20) == data
    assert asked == [len(data) + 1]
    # a stated size past the limit: bounded by the limit alone
    assert logs.gunzip(one, len(data)) == data
    with pytest.raises(logs.FileTooLargeError):
        logs.gunzip(one, len(data) - 1)


def test_repair_utf8_replaces_only_the_bad_sequences_and_says_where() -> None:
    from torinvest.sources.records import repair_utf8

    good = '{"a":"é ✓"}'.encode()
    assert repair_utf8(good) == (good, [])
    bad = b'{"a":"x\xffy","b":"\xe2\x9c"}'
    fixed, spans = repair_utf8(bad)
    assert json.loads(fixed) == {"a": "x\ufffdy", "b": "\ufffd"}
    assert spans == [(7, 8), (16, 18)]  # the byte offsets of \xff and of the cut \xe2\x9c


def test_salvage_keeps_the_whole_records_of_a_damaged_log_file() -> None:
    recs = records(INVICTUS[1])
    data = json.dumps({"Records": recs}, separators=(",", ":")).encode()
    middle = data.index(recs[10]["eventID"].encode())
    damaged = data[:middle] + b"\x00garbage" + data[middle + 5 :]  # record 10 broken
    got, (issue,) = parse_records(damaged, where="f")
    assert [r["eventID"] for r in got] == [r["eventID"] for r in recs if r is not recs[10]]
    assert "the 25 whole record(s) in it were loaded, 1 part(s) could not be read" in issue.problem
    assert "the file is damaged;" in issue.problem  # in the middle: not a download cut short
    pretty = json.dumps({"Records": recs}, indent=2).encode()[:-300]  # cut, pretty-printed
    got, (issue,) = parse_records(pretty, where="f")
    assert len(got) == len(recs) - 1 and "the file is cut short" in issue.problem


def test_copies_are_the_same_record_only_when_every_field_matches() -> None:
    from torinvest.sources.records import SAME_RECORD_COLUMNS, later_copies

    assert "event_id" not in SAME_RECORD_COLUMNS and "origin" not in SAME_RECORD_COLUMNS
    recs = records(INVICTUS[1])[:3]
    changed = copy.deepcopy(recs[0])
    changed["userAgent"] = "other"
    no_id = copy.deepcopy(recs[1])
    del no_id["eventID"]
    frame = normalize_records([*recs, recs[0], changed, no_id, no_id], source="logs", origin="x")
    assert len(frame) == 3 + 1 + 2  # the copy dropped; the changed kept; no-ID rows never merge
    assert not later_copies(frame).any()
    (issue,) = duplicate_issues(frame)
    assert "they differ in user_agent" in issue.problem


def test_a_window_keeps_rows_without_a_time() -> None:
    from torinvest.sources.records import filter_window, records_table

    recs = copy.deepcopy(records(INVICTUS[1])[:4])
    recs[0]["eventTime"] = "not a time"
    table = records_table(recs, source="logs", origin="x")
    kept = filter_window(table, pd.Timestamp("2030-01-01", tz="UTC"), None)
    assert kept.column("event_id").to_pylist() == [recs[0]["eventID"]]


def test_a_file_that_grows_while_read_is_read_whole_within_the_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "growing.json"
    path.write_bytes(b"x" * 1000)
    real_fstat = os.fstat

    def smaller(fd: int) -> os.stat_result:  # as if fstat ran before the last 990 bytes came
        st = list(real_fstat(fd))
        st[6] = 10
        return os.stat_result(st)

    monkeypatch.setattr(logs_read.os, "fstat", smaller)
    assert logs.read_local(str(path), 2000) == b"x" * 1000
    issue = logs.read_local(str(path), 500)
    assert isinstance(issue, DataIssue) and "more than the 500 bytes limit" in issue.problem


# --------------------------------------------------------------------------------------------
# Unicode encodings other than UTF-8 (PowerShell 5's `aws … > f.json` writes UTF-16)
# --------------------------------------------------------------------------------------------
ENCODINGS = {
    "utf-8-bom": lambda t: codecs.BOM_UTF8 + t.encode(),
    "utf-16-le-bom": lambda t: t.encode("utf-16"),
    "utf-16-be-bom": lambda t: codecs.BOM_UTF16_BE + t.encode("utf-16-be"),
    "utf-16-le": lambda t: t.encode("utf-16-le"),
    "utf-32-bom": lambda t: t.encode("utf-32"),
}


@pytest.mark.parametrize("encoding", sorted(ENCODINGS))
@pytest.mark.parametrize("shape", ["log", "lookup", "ndjson"])
@pytest.mark.parametrize("gz", [False, True])
def test_a_file_in_another_unicode_encoding_reads_as_its_utf8_copy(
    tmp_path: Path, encoding: str, shape: str, gz: bool
) -> None:
    recs = records(INVICTUS[0])
    text = {
        "log": json.dumps({"Records": recs}, ensure_ascii=False),
        "lookup": json.dumps(lookup_export(recs), indent=2),
        "ndjson": "\n".join(json.dumps(r) for r in recs),
    }[shape]
    data = ENCODINGS[encoding](text)
    (tmp_path / "utf8").mkdir()
    (tmp_path / "other").mkdir()
    write = write_gz if gz else (lambda p, b: p.write_bytes(b))
    write(tmp_path / "utf8" / "f.json", text.encode())
    write(tmp_path / "other" / "f.json", data)
    want = load_logs(tmp_path / "utf8", progress=False)
    got = load_logs(tmp_path / "other", progress=False)
    assert got.issues == want.issues == []
    pd.testing.assert_frame_equal(
        got.frame.drop(columns="origin"), want.frame.drop(columns="origin")
    )
    keyed = load_logs(tmp_path / "other", access_keys=SUSPECT, progress=False)
    assert len(keyed.frame) == (want.frame["access_key_id"] == SUSPECT).sum()
