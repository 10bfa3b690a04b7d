"""Why a Tor status is unknown, at the investigation level: the sample case moved to
2024-03-12, where the only list of the time is the bundled TorDNSEL list of that day (it tested
some exits days before others, so it never rules Tor out: each row is Tor or unknown), with one
call from an IPv6 address (no loaded list names IPv6 exits) and two whose source is not an
address. summary.json's counts and data issues say so, and no such row is "not Tor"."""

from __future__ import annotations

import gzip
import json
import re
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from torinvest import tor
from torinvest.case import sample_case
from torinvest.geo import ip_kind
from torinvest.investigation import Investigation, investigate, sources_from_parameters, summary

FINDING = "6dde0a8f8d46f6acad893b30f905e97c"
KEY = "AKIATFQR7NSCUXC3DDDP"
#: The sample's days, moved: its calls fall on 2024-03-12 12:00–12:40Z.
DAYS = {"2023-07-09": "2024-03-11", "2023-07-10": "2024-03-12"}
SHIFT = pd.Timestamp("2024-03-12") - pd.Timestamp("2023-07-10")
IPV6 = "2a0b:f4c2:2::1"  # public (a Tor operator's range), in no loaded list
NOT_ADDRESSES = ("185.220.101.34:443", "<img src=x onerror=alert(1)>")
#: The key's calls from 167.99.201.43 (in no list) become the IPv6 call and the first value
#: that is not an address; its first call from 10.248.16.43 (private) the second.
RESPELL = {("167.99.201.43", 0): IPV6, ("167.99.201.43", 1): NOT_ADDRESSES[0]}
RESPELL[("10.248.16.43", 0)] = NOT_ADDRESSES[1]


def _moved(text: str) -> str:
    for old, new in DAYS.items():
        text = text.replace(old, new).replace(old.replace("-", ""), new.replace("-", ""))
    return text


def _respell(records: list[dict[str, Any]], seen: dict[str, int]) -> None:
    for r in records:
        ip = r.get("sourceIPAddress")
        if (r.get("userIdentity") or {}).get("accessKeyId") != KEY or not isinstance(ip, str):
            continue
        n = seen.get(ip, 0)
        seen[ip] = n + 1
        r["sourceIPAddress"] = RESPELL.get((ip, n), ip)


@pytest.fixture(scope="module")
def moved_case(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample case on 2024-03-11/12 (log paths, file names, record and finding times)."""
    root = tmp_path_factory.mktemp("moved") / "case"
    shutil.copytree(sample_case().root, root)
    seen: dict[str, int] = {}
    for path in sorted((root / "cloudtrail").rglob("*.json.gz")):
        doc = json.loads(_moved(gzip.decompress(path.read_bytes()).decode()))
        _respell(doc["Records"], seen)
        target = Path(_moved(str(path)).replace("2023/07/10", "2024/03/12"))
        target.parent.mkdir(parents=True, exist_ok=True)
        path.unlink()
        target.write_bytes(gzip.compress(json.dumps(doc).encode()))
    for path in (root / "findings").glob("*.json"):
        text = _moved(path.read_text(encoding="utf-8"))
        for seconds in sorted(set(re.findall(r'"(?:first|last)Seen": (\d{10})', text))):
            text = text.replace(seconds, str(int(seconds) + int(SHIFT.total_seconds())))
        path.write_text(text, encoding="utf-8")
    assert seen["167.99.201.43"] == 2 and seen["10.248.16.43"] > 1
    return root


ENGINES: dict[str, dict[str, Any]] = {
    "files": {},
    "duckdb-counted": {"engine": "duckdb", "max_rows": 10},
}


@pytest.fixture(scope="module")
def with_day_list(moved_case: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The moved case plus a dated list of that day's IPv4 exits (the bundled list's addresses
    as a bulk list: it rules Tor out for IPv4 sources all of 2024-03-12, not for IPv6 ones)."""
    root = tmp_path_factory.mktemp("daylist") / "case"
    shutil.copytree(moved_case, root)
    obs = tor.load_exit_lists().observations
    day = obs[obs["list"].str.endswith("exit-addresses_2024-03-12")]["ip"]
    assert not day.str.contains(":").any() and day.nunique() > tor.MIN_EXITS
    text = "\n".join(sorted(set(day))) + "\n"
    (root / "tor" / "torbulkexitlist-2024-03-12.txt").write_text(text, encoding="utf-8")
    return root


def _investigate(case: Path, engine: str) -> Investigation:
    return investigate(FINDING, sources_from_parameters(case_dir=str(case), **ENGINES[engine]))


def _calls(inv: Investigation) -> dict[str, dict[object, int]]:
    """Source as written → Tor status (True, False, None) → calls."""
    frame = inv.by_time if inv.counted else inv.events
    assert frame is not None
    weight = frame["calls"] if inv.counted else pd.Series(1, index=frame.index)
    status = frame["tor"].astype(object).where(frame["tor"].notna(), None)
    table = pd.DataFrame({"ip": frame["source_ip"].astype(str), "tor": status, "n": weight})
    out: dict[str, dict[object, int]] = {}
    for (ip, tor_value), n in table.groupby(["ip", "tor"], dropna=False)["n"].sum().items():
        out.setdefault(ip, {})[None if pd.isna(tor_value) else bool(tor_value)] = int(n)
    return out


def ip_is_public(value: str) -> bool:
    return ip_kind(value) in ("public", "unparsable")


PUBLIC = ("185.220.101.34", "109.70.100.66", "199.249.230.87", "167.99.201.43", IPV6)


@pytest.mark.parametrize("engine", list(ENGINES))
def test_a_day_only_a_snapshot_list_spans_is_tor_or_unknown_never_not_tor(
    moved_case: Path, engine: str
) -> None:
    inv = _investigate(moved_case, engine)
    calls = _calls(inv)
    assert {ip: calls[ip] for ip in [*PUBLIC, *NOT_ADDRESSES]} == {
        "185.220.101.34": {True: 17},  # listed on 2024-03-12 13:22 (within 24 h)
        "109.70.100.66": {True: 2},
        "199.249.230.87": {None: 5},  # the derived key's calls: in no list of that day
        "167.99.201.43": {None: 2},  # the non-Tor actor: unknown, not "not Tor"
        IPV6: {None: 1},
        NOT_ADDRESSES[0]: {None: 1},
        NOT_ADDRESSES[1]: {None: 1},
    }
    # only private addresses and AWS service names are "not Tor" (whatever the lists say)
    assert not [ip for ip, by in calls.items() if False in by and ip_is_public(ip)]
    data = summary(inv)
    assert (data["events"]["from_tor"], data["events"]["tor_unknown"]) == (19, 10)
    tor_issues = [i["problem"] for i in data["data_issues"] if i["source"] == "tor"]
    assert tor_issues == [
        "2 event(s) whose source is not an IP address ('185.220.101.34:443', "
        "'<img src=x onerror=alert(1)>'): their Tor status is unknown (an exit list names "
        "addresses; look at those values in the events)",
        "8 event(s) at times no loaded exit list covers (rules Tor out at: a snapshot only from "
        "its oldest to its newest test, within the tolerance of each): their Tor status is "
        "unknown (add exit lists for those dates to CASE/tor/, e.g. a month of hourly lists: "
        "torinvest tor refresh --month YYYY-MM)",
    ]
    assert not [i for i in data["data_issues"] if "GuardDuty disagree" in i["problem"]]


@pytest.mark.parametrize("engine", list(ENGINES))
def test_ipv6_and_unreadable_sources_stay_unknown_where_ipv4_ones_are_ruled_out(
    with_day_list: Path, engine: str
) -> None:
    inv = _investigate(with_day_list, engine)
    calls = _calls(inv)
    assert {ip: calls[ip] for ip in [*PUBLIC, *NOT_ADDRESSES]} == {
        "185.220.101.34": {True: 17},
        "109.70.100.66": {True: 2},
        "199.249.230.87": {False: 5},
        "167.99.201.43": {False: 2},
        IPV6: {None: 1},
        NOT_ADDRESSES[0]: {None: 1},
        NOT_ADDRESSES[1]: {None: 1},
    }
    data = summary(inv)
    assert (data["events"]["from_tor"], data["events"]["tor_unknown"]) == (19, 3)
    tor_issues = [i["problem"] for i in data["data_issues"] if i["source"] == "tor"]
    assert tor_issues == [
        "2 event(s) whose source is not an IP address ('185.220.101.34:443', "
        "'<img src=x onerror=alert(1)>'): their Tor status is unknown (an exit list names "
        "addresses; look at those values in the events)",
        "1 event(s) from IPv6 addresses at times the loaded exit lists rule Tor out for IPv4 "
        "addresses only (no list names enough IPv6 exits then): their Tor status is unknown "
        "(add a list that names IPv6 exits for those dates to CASE/tor/)",
    ]


def test_unknown_reasons_per_row(tmp_path: Path) -> None:
    """No time or no source first, then a value that is not an address, an IPv6 address at a
    time the lists rule Tor out for IPv4 only, else the time; NA where the status is known."""
    exits = [f"45.{i // 200}.{i % 200}.7" for i in range(1200)]  # a real list's size
    (tmp_path / "exits-2024-03-12.txt").write_text("\n".join(exits) + "\n", encoding="utf-8")
    lists = tor.load_exit_lists(tmp_path)
    day, later = "2024-03-12T12:00Z", "2025-06-01T12:00Z"  # ruled out for IPv4 / by no list
    rows = [
        ("203.0.113.9", day, None),  # documentation address: never an exit
        ("8.8.4.4", day, None),  # in no list of a day ruled out: not Tor
        (exits[3], day, None),  # listed: Tor
        ("8.8.4.4", None, "no_time_or_source"),
        (None, day, "no_time_or_source"),
        ("1.2.3.4:80", day, "not_an_address"),
        ("<b>x</b>", later, "not_an_address"),
        (IPV6, day, "ipv6"),
        (IPV6, later, "time"),
        ("8.8.4.4", later, "time"),
        ("AWS Internal", None, None),
    ]
    events = pd.DataFrame(
        {
            "event_time": pd.to_datetime([r[1] for r in rows], utc=True),
            "source_ip": pd.Categorical([r[0] for r in rows]),
        }
    )
    events["tor"] = tor.tor_status(events, lists)
    assert events["tor"].astype(object).where(events["tor"].notna(), None).tolist()[:3] == [
        False,
        False,
        True,
    ]
    reasons = tor.unknown_reasons(events, lists)
    assert reasons.astype(object).where(reasons.notna(), None).tolist() == [r[2] for r in rows]
