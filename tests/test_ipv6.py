"""IP addresses matched as addresses, not text: an IPv6 address written exploded, in upper
case or compressed is one address, and an IPv4 address written as IPv6 (``::ffff:…``) is the
IPv4 one — in the log filter (both read paths), the IP pivot (files and DuckDB), related
findings from files and from GuardDuty (its ``ipAddressV6`` criteria)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.campaign_case import (
    BY_IP,
    OTHER_KEY,
    OTHER_PRINCIPAL,
    OTHER_USER,
    _api_call,
    _finding,
    _key_resource,
    other_principal_records,
    trail_of,
)
from tests.fake_aws.server import FakeAws
from torinvest.aws import Aws, AwsConfig
from torinvest.events import EngineOptions
from torinvest.findings.related import (
    IP_V6_CRITERIA,
    fetch_related,
    make_subject,
    read_related,
)
from torinvest.pivot import LOOKED, ip_calls, load_ip_pivot
from torinvest.sources.logs import load_logs

V6 = "2001:470:1:908::9001"
V6_EXPLODED = "2001:0470:0001:0908:0000:0000:0000:9001"
SPELLINGS = [V6, V6_EXPLODED.upper(), "2001:470:1:908::9002", "::ffff:185.220.101.34"]


def _logs(tmp_path: Path, compact: bool) -> Path:
    """One log file: the other principal's four calls, each from one of :data:`SPELLINGS`."""
    records = other_principal_records()
    for r, ip in zip(records, SPELLINGS, strict=True):
        r["sourceIPAddress"] = ip
    return trail_of(tmp_path, records, compact=compact)


@pytest.mark.parametrize("compact", [True, False], ids=["prefiltered", "parsed-whole"])
def test_the_log_filter_matches_every_spelling_of_an_address(tmp_path: Path, compact: bool) -> None:
    logs = str(_logs(tmp_path, compact))
    v6 = load_logs(logs, source_ips=[V6_EXPLODED]).frame
    assert sorted(v6["source_ip"]) == sorted([V6, V6_EXPLODED.upper()])
    v4 = load_logs(logs, source_ips=["185.220.101.34"]).frame
    assert list(v4["source_ip"]) == ["::ffff:185.220.101.34"]


@pytest.mark.parametrize("engine", ["files", "duckdb"])
def test_the_ip_pivot_counts_one_address_however_written(tmp_path: Path, engine: str) -> None:
    logs = [str(_logs(tmp_path, compact=True))]
    pivot = load_ip_pivot(  # the trail's one region named: no other region is missing
        [V6_EXPLODED], logs=logs, engine=EngineOptions(kind=engine), regions=["us-east-1"]
    )
    assert pivot.status == LOOKED
    (row,) = pivot.table.to_dict("records")
    assert (row["access_key_id"], row["source_ips"], row["calls"]) == (OTHER_KEY, [V6], 2)


def test_ip_calls_group_spellings_as_one_address() -> None:
    events = pd.DataFrame(
        {
            "access_key_id": ["K", "K", "K"],
            "user_name": ["u"] * 3,
            "arn": ["a"] * 3,
            "account_id": ["1"] * 3,
            "source_ip": pd.Categorical([V6, V6_EXPLODED, "2001:db8::1"]),
            "error_code": [None, "AccessDenied", None],
            "event_time": pd.to_datetime(["2023-07-10T12:00Z"] * 3, utc=True),
        }
    )
    (row,) = ip_calls(events, [V6.upper()]).to_dict("records")
    assert (row["source_ip"], row["calls"], row["failed"]) == (V6, 2, 1)


def _v6_finding(ip: str) -> dict[str, Any]:
    f = _finding(
        BY_IP,
        "UnauthorizedAccess:IAMUser/MaliciousIPCaller.Custom",
        resource=_key_resource(OTHER_KEY, OTHER_PRINCIPAL, OTHER_USER),
        service=_api_call(ip),
    )
    remote = f["service"]["action"]["awsApiCallAction"]["remoteIpDetails"]
    remote["ipAddressV6"] = remote.pop("ipAddressV4")
    return f


def test_related_findings_from_files_match_an_ipv6_address_however_written(
    tmp_path: Path,
) -> None:
    (tmp_path / "related.json").write_text(json.dumps([_v6_finding(V6_EXPLODED)]))
    got = read_related(tmp_path, make_subject(["AKIAEXAMPLEKEY000000"], ips=[V6]))
    assert [(r["id"], r["link"]) for r in got.findings] == [(BY_IP, ["ip"])]


def test_related_findings_from_guardduty_ask_for_ipv6_addresses(fake_aws: FakeAws) -> None:
    gd = fake_aws.guardduty("us-east-1")
    gd.add_detector()
    gd.add_findings([_v6_finding(V6), copy.deepcopy(_v6_finding(V6)) | {"id": "5" * 32}])
    got = fetch_related(
        Aws(AwsConfig()), ["us-east-1"], make_subject(["AKIAEXAMPLEKEY000000"], ips=[V6_EXPLODED])
    )
    assert {r["id"] for r in got.findings} == {BY_IP, "5" * 32}
    asked = {
        name
        for c in fake_aws.calls("ListFindings", region="us-east-1")
        for name in c.params["FindingCriteria"]["Criterion"]
    }
    assert set(IP_V6_CRITERIA) <= asked
    assert all(c.status == 200 for c in fake_aws.calls("ListFindings"))


#: 185.220.101.34 written as an IPv4-mapped IPv6 address in hex, in every case a writer may use.
MAPPED_HEX = [
    "::ffff:b9dc:6522",
    "::FFFF:B9DC:6522",
    "::FfFf:b9DC:6522",
    "0:0:0:0:0:fFFf:b9dc:6522",
]


@pytest.mark.parametrize("compact", [True, False], ids=["prefiltered", "parsed-whole"])
@pytest.mark.parametrize("written", MAPPED_HEX)
def test_the_log_filter_finds_an_ipv4_address_written_in_hex_in_any_case(
    tmp_path: Path, compact: bool, written: str
) -> None:
    records = other_principal_records()
    records[0]["sourceIPAddress"] = written
    logs = str(trail_of(tmp_path, records, compact=compact))
    frame = load_logs(logs, source_ips=["185.220.101.34"]).frame
    assert written in list(frame["source_ip"])
