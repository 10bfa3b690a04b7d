"""Fixtures for posting: complete report folders, local Jira / ServiceNow servers, the local AWS
endpoint for Security Incident Response, Security Hub and GuardDuty, and the variables pointing
at them. No request leaves the machine: besides the autouse AWS guard of tests/conftest.py, an
autouse guard here refuses any httpx request to a non-loopback host.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.fake_aws.security import FakeSecurityServices
from tests.fake_tickets import FakeJira, FakeServiceNow
from torinvest.report import REPORT_FILES, write_manifest

FIXTURES = Path(__file__).parent.parent / "fixtures"
SUMMARY = FIXTURES / "post" / "summary.json"
FINDING = json.loads((FIXTURES / "guardduty" / "shapes" / "single_raw.json").read_text())
FINDING_ID = FINDING["id"]
FINDING_ARN = FINDING["arn"]
CASE_ID = "1234567890"
SYS_ID = "46d44a5ddb3b2010e9d8f6e5ca9619c9"
REGION = "us-east-1"
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


@pytest.fixture(autouse=True)
def no_real_http(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """httpx may reach loopback servers only."""
    blocked: list[str] = []
    original = httpx.HTTPTransport.handle_request

    def guarded(self: httpx.HTTPTransport, request: httpx.Request) -> httpx.Response:
        if request.url.host not in LOOPBACK:
            blocked.append(str(request.url))
            raise AssertionError(f"test tried to reach {request.url.host}")
        return original(self, request)

    monkeypatch.setattr(httpx.HTTPTransport, "handle_request", guarded)
    return blocked


def make_report(
    folder: Path,
    *,
    summary: dict[str, Any] | None = None,
    html: str = "<!DOCTYPE html><html><body><h1>report</h1></body></html>",
    finding_id: str = FINDING_ID,
) -> Path:
    """A complete report folder: the summary.json of a real run (or ``summary``), small
    report files, and the manifest written as ``torinvest investigate`` writes it."""
    folder.mkdir(parents=True, exist_ok=True)
    data = summary if summary is not None else json.loads(SUMMARY.read_text())
    data["finding"]["id"] = finding_id
    (folder / "summary.json").write_text(json.dumps(data, indent=2))
    (folder / "report.html").write_text(html)
    (folder / "report.ipynb").write_text('{"cells": [], "nbformat": 4, "nbformat_minor": 5}')
    (folder / "events.csv").write_text(
        "event_time,event_name\r\n2023-07-10T12:13:10Z,CreateUser\r\n"
    )
    (folder / "per_ip.csv").write_text("source_ip,events\r\n185.220.101.34,12\r\n")
    assert all((folder / n).is_file() for n in REPORT_FILES)
    write_manifest(folder, finding_id)
    return folder


def summary_data() -> dict[str, Any]:
    return json.loads(SUMMARY.read_text())


#: The Tor line of :func:`unknown_tor_summary`'s answer.
UNKNOWN_TOR_LINE = (
    "Tor: 0 of 69 call(s) from Tor exits, 69 of unknown Tor status "
    "(no loaded exit list can rule Tor out for them: the data issues say why); 10 failed; 5 IP(s) of unknown Tor status"
)


def unknown_tor_summary() -> dict[str, Any]:
    """The summary of a run no exit list covered: every call and IP of unknown Tor status."""
    data = summary_data()
    data["events"] |= {"from_tor": 0, "tor_unknown": data["events"]["total"]}
    for item in [*data["source_ips"], *data["sensitive_events"]]:
        item["tor"] = None
    return data


@pytest.fixture
def report_dir(tmp_path: Path) -> Path:
    return make_report(tmp_path / "finding")


@pytest.fixture
def ledger(tmp_path: Path) -> Path:
    return tmp_path / "ledger.jsonl"


@pytest.fixture
def jira() -> Iterator[FakeJira]:
    with FakeJira(cloud=True) as fake:
        fake.add_issue("SEC-1")
        yield fake  # type: ignore[misc]


@pytest.fixture
def jira_dc() -> Iterator[FakeJira]:
    with FakeJira(cloud=False) as fake:
        fake.add_issue("SEC-1")
        yield fake  # type: ignore[misc]


@pytest.fixture
def servicenow() -> Iterator[FakeServiceNow]:
    with FakeServiceNow() as fake:
        fake.add_record("incident", SYS_ID)
        yield fake  # type: ignore[misc]


@pytest.fixture(scope="session")
def security_server() -> Iterator[FakeSecurityServices]:
    with FakeSecurityServices() as fake:
        yield fake  # type: ignore[misc]


@pytest.fixture
def security(
    security_server: FakeSecurityServices, monkeypatch: pytest.MonkeyPatch
) -> FakeSecurityServices:
    """Security IR (case CASE_ID), Security Hub (the finding's copy) and GuardDuty (the
    finding, so that its ARN can be read), reset, with the endpoint variables set."""
    security_server.reset()
    for service in ("SECURITY_IR", "SECURITYHUB", "GUARDDUTY"):
        monkeypatch.setenv(f"AWS_ENDPOINT_URL_{service}", security_server.url)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")
    gd = security_server.guardduty(REGION)
    gd.add_detector(FINDING_ARN.split("/")[1])
    gd.add_findings([FINDING])
    security_server.security_ir(REGION).add_case(CASE_ID)
    security_server.securityhub(REGION).add_guardduty_finding(FINDING_ARN)
    return security_server


def variables(
    jira: FakeJira | None = None,
    servicenow: FakeServiceNow | None = None,
    *,
    sn_token: bool = False,
) -> dict[str, str]:
    """The variables a post reads, pointing at the fakes (with their credentials)."""
    env: dict[str, str] = {}
    if jira is not None:
        env["JIRA_URL"] = jira.url
        if jira.cloud:
            env |= {"JIRA_EMAIL": jira.email, "JIRA_API_TOKEN": jira.api_token}
        else:
            env["JIRA_PAT"] = jira.pat
    if servicenow is not None:
        env["SERVICENOW_URL"] = servicenow.url
        if sn_token:
            env["SERVICENOW_TOKEN"] = servicenow.token
        else:
            env |= {"SERVICENOW_USER": servicenow.user, "SERVICENOW_PASSWORD": servicenow.password}
    return env


def host(url: str) -> str:
    return urlsplit(url).netloc


def copy_report(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def could_not_look_summary() -> dict[str, Any]:
    """The summary of a run that could read no activity source (as the investigation writes
    it: no events, the ``could_not_look`` signal, the ``activity`` data issue)."""
    data = summary_data()
    data["events"] = {"total": 0, "failed": 0, "from_tor": 0}
    data["source_ips"], data["sensitive_events"], data["derived_keys"] = [], [], []
    data["signals"] = [
        {"name": "could_not_look", "detail": "CloudTrail LookupEvents: AccessDenied", "weight": 0}
    ]
    data["data_issues"] = [
        {"source": "cloudtrail", "problem": "LookupEvents: AccessDenied"},
        {"source": "activity", "problem": "No activity source could be read."},
    ]
    return data


def incomplete_quiet_summary() -> dict[str, Any]:
    """The summary of a run that read part of the activity and saw no sensitive call in it."""
    data = summary_data()
    data["sensitive_events"] = []
    data["derived_keys"] = []
    data["derived_keys_search"] = {"status": "partial", "why": "ASIAX… minted past the limit"}
    data["signals"] = [
        {"name": "tor_use", "detail": "2 calls from 1 Tor exit(s)", "weight": 5},
        {"name": "incomplete_evidence", "detail": "3 log files unread", "weight": 0},
    ]
    data["data_issues"] = [{"source": "s3://trail/AWSLogs", "problem": "AccessDenied on 3 files"}]
    return data
