"""The per-IP grouping by address, not text: the sample case with each source IP written
several ways (an IPv4 address as itself, as ``::ffff:185.220.101.34`` and in hex as
``::FFFF:B9DC:6522``; an IPv6 one exploded and in upper case) gives the per-IP table, the
summary's source IPs, the charts' bars and the baseline's "new" flags of the case as it is —
read from files, by DuckDB, and counted in DuckDB — while the events keep the text as written.
The source-IP filter of a log load finds the hex spelling too."""

from __future__ import annotations

import gzip
import ipaddress
import json
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.campaign_case import OTHER_KEY, other_principal_records, trail_of
from torinvest import charts
from torinvest.analysis import per_ip
from torinvest.case import sample_case
from torinvest.events import EngineOptions
from torinvest.investigation import Investigation, investigate, sources_from_parameters, summary
from torinvest.pivot import LOOKED, load_ip_pivot
from torinvest.sources.logs import load_logs
from torinvest.sources.sql import DuckDBEngine, per_ip_sql

FINDING = "6dde0a8f8d46f6acad893b30f905e97c"
KEY = "AKIATFQR7NSCUXC3DDDP"
HEX = "::ffff:b9dc:6522"  # 185.220.101.34


def _respelled(ip: str, n: int) -> str:
    """The ``n``-th of an address's spellings (other text as it is)."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if address.version == 6:
        return [address.exploded, address.compressed.upper()][n % 2]
    hexed = ipaddress.IPv6Address(f"::ffff:{ip}").compressed  # ::ffff:b9dc:6522
    return [ip, f"::ffff:{ip}", hexed.upper()][n % 3]


@pytest.fixture(scope="module")
def respelled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the sample case whose records write each source IP one of several ways in
    turn (compact log files, as CloudTrail writes them)."""
    root = tmp_path_factory.mktemp("respelled") / "case"
    shutil.copytree(sample_case().root, root)
    n = 0
    for path in sorted((root / "cloudtrail").rglob("*.json.gz")):
        doc = json.loads(gzip.decompress(path.read_bytes()))
        for record in doc["Records"]:
            if isinstance(record.get("sourceIPAddress"), str):
                record["sourceIPAddress"] = _respelled(record["sourceIPAddress"], n)
                n += 1
        path.write_bytes(gzip.compress(json.dumps(doc, separators=(",", ":")).encode()))
    return root


@pytest.fixture(scope="module")
def as_written() -> Investigation:
    return investigate(FINDING, sources_from_parameters(case_dir=str(sample_case().root)))


ENGINES: dict[str, dict[str, Any]] = {
    "files": {},
    "duckdb": {"engine": "duckdb", "max_rows": None},
    "duckdb-counted": {"engine": "duckdb", "max_rows": 10},
}


@pytest.mark.parametrize("engine", list(ENGINES))
def test_one_address_in_several_spellings_is_one_per_ip_row(
    respelled: Path, as_written: Investigation, engine: str
) -> None:
    inv = investigate(FINDING, sources_from_parameters(case_dir=str(respelled), **ENGINES[engine]))
    assert inv.counted == (engine == "duckdb-counted")
    if not inv.counted:  # the events keep each record's text
        assert {"185.220.101.34", "::ffff:185.220.101.34", HEX.upper()} <= set(
            inv.events["source_ip"].astype(str)
        )
    pd.testing.assert_frame_equal(inv.per_ip, as_written.per_ip)
    tor = inv.per_ip.set_index("source_ip").loc["185.220.101.34"]
    assert (tor["events"], tor["new"], tor["tor"]) == (17, True, True)
    assert summary(inv)["source_ips"] == summary(as_written)["source_ips"]
    frame = inv.events if not inv.counted else inv.by_time
    bars = charts.calls_per_ip(frame).data[0]
    assert sorted(bars.y) == sorted(charts.calls_per_ip(as_written.events).data[0].y)


def test_per_ip_sql_groups_spellings_as_the_rows_do(respelled: Path) -> None:
    logs = str(respelled / "cloudtrail")
    counted = per_ip_sql(DuckDBEngine(logs), access_keys=KEY).frame
    rows = per_ip(load_logs(logs, access_keys=[KEY]).frame)
    columns = ["source_ip", "events", "failed", "first_seen", "last_seen", "regions"]
    columns += ["user_agents", "event_names", "access_keys"]
    pd.testing.assert_frame_equal(counted[columns], rows[columns])
    assert counted["source_ip"].is_unique and "::ffff:185.220.101.34" not in set(
        counted["source_ip"]
    )


def test_an_address_seen_before_under_another_spelling_is_not_new() -> None:
    times = pd.to_datetime(["2023-07-09T10:00Z", "2023-07-10T12:00Z", "2023-07-10T12:05Z"])
    events = pd.DataFrame(
        {
            "event_time": times.tz_convert("UTC"),
            "event_name": ["ListUsers"] * 3,
            "event_source": ["iam.amazonaws.com"] * 3,
            "aws_region": ["us-east-1"] * 3,
            "source_ip": pd.Categorical(["185.220.101.34", HEX, "2001:db8::1"]),
            "user_agent": ["ua"] * 3,
            "access_key_id": [KEY] * 3,
            "error_code": [None] * 3,
        }
    )
    table = per_ip(events, window_start="2023-07-10T00:00Z")
    assert table[["source_ip", "events", "new"]].to_dict("records") == [
        {"source_ip": "185.220.101.34", "events": 2, "new": False},
        {"source_ip": "2001:db8::1", "events": 1, "new": True},
    ]
    assert list(events["source_ip"]) == ["185.220.101.34", HEX, "2001:db8::1"]


def _hex_logs(tmp_path: Path, compact: bool) -> Path:
    """The other principal's calls, one written as ``::ffff:b9dc:6522`` (185.220.101.34)."""
    records = other_principal_records()
    records[1]["sourceIPAddress"] = HEX
    return trail_of(tmp_path, records, compact=compact)


@pytest.mark.parametrize("compact", [True, False], ids=["prefiltered", "parsed-whole"])
def test_the_log_filter_finds_an_ipv4_address_written_in_hex(tmp_path: Path, compact: bool) -> None:
    logs = str(_hex_logs(tmp_path, compact))
    got = load_logs(logs, source_ips=["185.220.101.34"]).frame
    assert sorted(got["source_ip"].astype(str)) == ["185.220.101.34", "185.220.101.34", HEX]


@pytest.mark.parametrize("engine", ["files", "duckdb"])
def test_the_ip_pivot_counts_an_ipv4_address_written_in_hex(tmp_path: Path, engine: str) -> None:
    logs = [str(_hex_logs(tmp_path, compact=True))]
    pivot = load_ip_pivot(  # the trail's one region named: no other region is missing
        ["185.220.101.34"], logs=logs, engine=EngineOptions(kind=engine), regions=["us-east-1"]
    )
    assert pivot.status == LOOKED
    (row,) = pivot.table.to_dict("records")
    assert (row["access_key_id"], row["source_ips"], row["calls"]) == (
        OTHER_KEY,
        ["185.220.101.34"],
        3,
    )
