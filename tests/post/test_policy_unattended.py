"""policies/torinvest-unattended.json — the unattended role (scheduled investigations that post)
— allows every AWS call those runs make and nothing else: the flows run against the local
endpoints while each botocore call is recorded (tests/test_policies.py's approach)."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import botocore.client
import pandas as pd
import pytest

from tests.fake_aws.security import FakeSecurityServices
from tests.post.conftest import CASE_ID, FINDING, REGION
from tests.test_policies import ACTIONS, READONLY, allowed
from torinvest.aws import Aws, iam_action
from torinvest.case import sample_case
from torinvest.findings import fetch_findings
from torinvest.post import post_report
from torinvest.sources import lookup as lk
from torinvest.sources.logs import load_logs

ROOT = Path(__file__).parent.parent.parent
UNATTENDED = allowed("torinvest-unattended.json")
POSTING = {
    "security-ir:GetCaseAttachmentUploadUrl",
    "security-ir:CreateCaseComment",
    "securityhub:BatchUpdateFindings",
}


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    seen: list[str] = []
    original = botocore.client.BaseClient._make_api_call

    def record(self: botocore.client.BaseClient, operation_name: str, api_params: dict) -> dict:
        seen.append(iam_action(self.meta.service_model.service_name, operation_name))
        return original(self, operation_name, api_params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", record)
    return seen


def test_the_policy_is_least_privilege() -> None:
    doc = json.loads((ROOT / "policies" / "torinvest-unattended.json").read_text())
    # reads are the investigation's; writes are posting only: no remediation, no archive
    assert UNATTENDED - POSTING <= READONLY
    assert not (UNATTENDED & ACTIONS)
    assert POSTING <= UNATTENDED
    scoped = {a: st["Resource"] for st in doc["Statement"] for a in st["Action"] if a in POSTING}
    assert (
        scoped["security-ir:CreateCaseComment"]
        == "arn:aws:security-ir:*:REPLACE-WITH-ACCOUNT-ID:case/*"
    )
    assert scoped["securityhub:BatchUpdateFindings"].endswith(":hub/default")


def test_an_unattended_run_calls_only_what_the_policy_allows(
    recorded: list[str],
    security: FakeSecurityServices,
    moto: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tests.post.conftest import make_report

    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    monkeypatch.setenv("AWS_ENDPOINT_URL_CLOUDTRAIL", security.url)
    security.set_lookup_rate(None)
    lk._PACERS.clear()
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="trail")
    for f in list(sample_case().cloudtrail.rglob("*.json.gz"))[:2]:
        s3.put_object(
            Bucket="trail", Key=str(f.relative_to(sample_case().cloudtrail)), Body=f.read_bytes()
        )
    recorded.clear()
    aws = Aws()
    aws.regions("guardduty")
    found = fetch_findings(aws, [REGION])
    assert FINDING["id"] in set(found.frame()["id"])
    lk.lookup_events(
        aws, "AKIATFQR7NSCUXC3DDDP", start=pd.Timestamp("2023-07-10", tz="UTC"),
        end=pd.Timestamp("2023-07-11", tz="UTC"), regions=[REGION], cache_dir=False, rate=100.0,
        now=pd.Timestamp("2023-07-12", tz="UTC"),
    )  # fmt: skip
    load_logs("s3://trail/AWSLogs/", aws=aws)
    result = post_report(
        make_report(tmp_path / "r"),
        [f"security-ir:{CASE_ID}", "securityhub"],
        env={},
        ledger=tmp_path / "ledger.jsonl",
        backoff=0,
    )
    assert [o.status for o in result.outcomes] == ["posted", "posted"]
    used = set(recorded)
    assert used - UNATTENDED == set()
    assert POSTING | {"guardduty:ListDetectors", "guardduty:GetFindings"} <= used
