"""A per-IP list keeps the most frequent values, never silently: an IP used with more user
agents and keys than :data:`torinvest.schema.MAX_LIST_ITEMS` (a Tor exit shared by many
attackers, a botnet IP used with many keys) has ``n_regions``, ``n_user_agents`` and
``n_access_keys`` counting every distinct value — the same from the files, from DuckDB's per-IP
query and from DuckDB's counts, with the address written one way or two — exported in
``per_ip.csv``, parquet, JSON lines and ``summary.json``, and the report's per-IP table marks a
list it cuts ("[5 of 60; per_ip.csv: the 50 most frequent]")."""

from __future__ import annotations

import copy
import csv
import json
import uuid
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.campaign_case import KEY, extend_case, sample_records, trail_of
from torinvest import display, report
from torinvest.analysis import MAX_LIST_ITEMS, per_ip
from torinvest.export import write_frame
from torinvest.investigation import investigate, sources_from_parameters
from torinvest.report.folders import PER_IP_CSV
from torinvest.sources.logs import load_logs
from torinvest.sources.sql import DuckDBEngine, aggregate_sql, per_ip_sql

FINDING = "6dde0a8f8d46f6acad893b30f905e97c"
IP = "203.0.113.9"
AGENTS = 60
KEYS = 55
REGIONS = ("us-east-1", "eu-west-1", "ap-south-1")


def _base() -> dict[str, Any]:
    return next(
        r
        for r in sample_records()
        if r.get("eventName") == "ListUsers" and r["userIdentity"].get("accessKeyId") == KEY
    )


def busy_ip_records(*, keys: int, spellings: bool) -> list[dict[str, Any]]:
    """Calls from :data:`IP` with :data:`AGENTS` user agents (the first ten twice: the 50 most
    frequent are not the first 50 by name) and ``keys`` access keys (the first key ``KEY``),
    in three regions; with ``spellings`` every other call writes the IP as ``::ffff:…``."""
    base = _base()
    out = []
    calls = AGENTS + 10
    for n in range(calls):
        r = copy.deepcopy(base)
        r["eventID"] = str(uuid.UUID(int=0xABC000 + n))
        r["requestID"] = str(uuid.UUID(int=0xDEF000 + n))
        r["eventTime"] = f"2023-07-10T12:{20 + n // 60:02d}:{n % 60:02d}Z"
        r["sourceIPAddress"] = f"::ffff:{IP}" if spellings and n % 2 else IP
        r["userAgent"] = f"agent-{(AGENTS - 1 - n) % AGENTS:03d}"  # agent-059 … first
        r["awsRegion"] = REGIONS[n % len(REGIONS)]
        if keys > 1:
            r["userIdentity"]["accessKeyId"] = KEY if n % keys == 0 else f"AKIABUSY{n % keys:012d}"
        out.append(r)
    return out


def _row(table: pd.DataFrame) -> pd.Series:
    rows = table[table["source_ip"] == IP]
    assert len(rows) == 1, table["source_ip"].tolist()
    return rows.iloc[0]


def _counts(row: pd.Series) -> tuple[int, int, int]:
    return int(row["n_regions"]), int(row["n_user_agents"]), int(row["n_access_keys"])


@pytest.mark.parametrize("spellings", [False, True], ids=["one-spelling", "two-spellings"])
def test_every_engine_counts_all_the_values_of_a_cut_list(tmp_path: Path, spellings: bool) -> None:
    folder = trail_of(tmp_path, busy_ip_records(keys=KEYS, spellings=spellings), compact=True)
    files = per_ip(load_logs(folder).frame)
    with DuckDBEngine(folder) as engine:
        queried = per_ip_sql(engine).frame
        counted = aggregate_sql(engine).aggregates
    assert counted is not None
    for table in (files, queried, counted.per_ip):
        row = _row(table)
        assert _counts(row) == (len(REGIONS), AGENTS, KEYS)
        assert len(row["user_agents"]) == len(row["access_keys"]) == MAX_LIST_ITEMS
        assert len(row["regions"]) == len(REGIONS)
        # the ten agents called twice are among the most frequent kept
        assert {f"agent-{a:03d}" for a in range(50, 60)} <= set(row["user_agents"])
        for col in ("n_regions", "n_user_agents", "n_access_keys"):
            assert str(table[col].dtype) == "Int64"
    for other in (queried, counted.per_ip):
        for col in ("n_regions", "n_user_agents", "n_access_keys", "user_agents", "access_keys"):
            assert other[col].tolist() == files[col].tolist(), col


def test_a_list_that_is_whole_counts_its_values(tmp_path: Path) -> None:
    folder = trail_of(tmp_path, busy_ip_records(keys=1, spellings=False), compact=True)
    table = per_ip(load_logs(folder).frame)
    row = _row(table)
    assert _counts(row) == (len(REGIONS), AGENTS, 1)
    assert row["access_keys"] == [KEY]
    empty = per_ip(load_logs(folder).frame.iloc[:0])
    assert {"n_regions", "n_user_agents", "n_access_keys"} <= set(empty.columns)


def test_the_exports_carry_the_counts(tmp_path: Path) -> None:
    folder = trail_of(tmp_path / "t", busy_ip_records(keys=KEYS, spellings=False), compact=True)
    table = per_ip(load_logs(folder).frame)
    write_frame(table, tmp_path / "per_ip.parquet")
    write_frame(table, tmp_path / "per_ip.jsonl")
    parquet = pd.read_parquet(tmp_path / "per_ip.parquet")
    assert _counts(_row(parquet)) == (len(REGIONS), AGENTS, KEYS)
    lines = [json.loads(x) for x in (tmp_path / "per_ip.jsonl").read_text().splitlines()]
    (line,) = [x for x in lines if x["source_ip"] == IP]
    assert (line["n_regions"], line["n_user_agents"], line["n_access_keys"]) == (3, AGENTS, KEYS)
    assert len(line["user_agents"]) == MAX_LIST_ITEMS


@pytest.fixture(scope="module")
def busy_case(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample case plus the key's calls from :data:`IP` with 60 user agents."""
    root = tmp_path_factory.mktemp("busy")
    return extend_case(root, records=busy_ip_records(keys=1, spellings=True), findings=[])


@pytest.mark.parametrize("engine", ["files", "duckdb", "duckdb-counted"])
def test_the_report_marks_the_cut_and_the_exports_say_of_how_many(
    busy_case: Path, tmp_path: Path, engine: str
) -> None:
    options: dict[str, Any] = {
        "files": {},
        "duckdb": {"engine": "duckdb", "max_rows": None},
        "duckdb-counted": {"engine": "duckdb", "max_rows": 10},
    }[engine]
    inv = investigate(FINDING, sources_from_parameters(case_dir=str(busy_case), **options))
    row = _row(inv.per_ip)
    assert int(row["n_user_agents"]) == AGENTS and len(row["user_agents"]) == MAX_LIST_ITEMS

    # the report's per-IP table: the cell says 5 of 60 and that per_ip.csv keeps 50
    shown = display.per_ip_frame(inv, max_items=display.TABLE_LIST_ITEMS)
    cell = shown.loc[shown["source_ip"] == IP, "user_agents"].iloc[0]
    assert cell.startswith(f"[5 of {AGENTS}; per_ip.csv: the {MAX_LIST_ITEMS} most frequent] ")
    assert cell.endswith(" | …")
    whole = display.per_ip_frame(inv)
    cell = whole.loc[whole["source_ip"] == IP, "user_agents"].iloc[0]
    assert cell.startswith(f"[{MAX_LIST_ITEMS} of {AGENTS}, the most frequent] ")
    html = display.per_ip_table(inv).data
    assert f"[5 of {AGENTS}; per_ip.csv: the {MAX_LIST_ITEMS} most frequent]" in html
    assert "all in per_ip.csv" not in html

    # per_ip.csv: the 50 and how many in all
    report.export_tables(inv, tmp_path)
    with (tmp_path / PER_IP_CSV).open(newline="", encoding="utf-8") as f:
        (line,) = [r for r in csv.DictReader(f) if r["source_ip"] == IP]
    assert len(json.loads(line["user_agents"])) == MAX_LIST_ITEMS
    assert line["n_user_agents"] == str(AGENTS)
    assert line["n_regions"] == str(len(REGIONS)) and line["n_access_keys"] == "1"

    # summary.json: the counts beside the list, valid to its contract
    data = report.check_summary_data(json.loads(json.dumps(report.summary_data(inv), default=str)))
    (ip,) = [s for s in data["source_ips"] if s["ip"] == IP]
    assert len(ip["user_agents"]) == MAX_LIST_ITEMS
    assert (ip["n_regions"], ip["n_user_agents"], ip["n_access_keys"]) == (3, AGENTS, 1)
