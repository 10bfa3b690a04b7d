"""Which lists can rule Tor out: small lists (IOC lists, hand-made case lists) are partial —
they mark IPs as Tor, never "not Tor" —; lists dated in the future are not used."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from tests.tor.archives import tar_xz
from torinvest import tor
from torinvest.errors import DataIssue

#: A GuardDuty finding's Tor caller; listed by the bundled history in 2018-2024.
TOR_IP = "185.220.101.34"
#: 2019-06-30: a gap in the bundled lists (no list within 24 h).
GAP = "2019-06-30T12:00:00Z"
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def at(ip: str, when: str, lists: tor.ExitLists) -> bool | None:
    return tor.ip_status(ip, pd.Timestamp(when), lists)


def _tordnsel(rows: list[tuple[str, str]]) -> str:
    lines = []
    for n, (ip, when) in enumerate(rows):
        lines += [f"ExitNode {n:040X}", f"Published {when}", f"LastStatus {when}"]
        lines.append(f"ExitAddress {ip} {when}")
    return "\n".join(lines) + "\n"


def _one_address_list(folder: Path, fmt: str) -> Path:
    """203.0.113.9 as the only address of a list, in each format the loader reads."""
    folder.mkdir()
    if fmt == "plain":
        (folder / "iocs-2019-06-30.txt").write_text("203.0.113.9\n")
    elif fmt == "tordnsel":
        (folder / "exits").write_text(_tordnsel([("203.0.113.9", "2019-06-30 11:00:00")]))
    elif fmt == "interval":
        (folder / "one.csv").write_text(
            "ip,first_seen_utc,last_seen_utc\n203.0.113.9,2000-01-01T00:00:00Z,2025-01-01T00:00:00Z\n"
        )
    else:
        member = _tordnsel([("203.0.113.9", "2019-06-30 11:00:00")]).encode()
        (folder / "exit-list-2019-06.tar.xz").write_bytes(tar_xz({"e/2019-06-30": member}))
    return folder


@pytest.mark.parametrize("fmt", ["plain", "tordnsel", "interval", "archive"])
def test_a_one_address_list_marks_tor_and_never_rules_it_out(tmp_path: Path, fmt: str) -> None:
    """Without case lists the gap is unknown; a one-address list keeps it unknown for every
    other IP (the finding's own Tor IP above all) and marks its address as Tor."""
    alone = tor.load_exit_lists(now=NOW)
    assert at(TOR_IP, GAP, alone) is None
    lists = tor.load_exit_lists(_one_address_list(tmp_path / "tor", fmt), now=NOW)
    assert at(TOR_IP, GAP, lists) is None
    assert at("8.8.4.7", GAP, lists) is None
    assert at("203.0.113.9", GAP, lists) is True
    # and it changes nothing where a real list vouches: 2023-10-14 (bulk list, 1,305 exits)
    assert at("8.8.4.7", "2023-10-14T12:00:00Z", lists) is False
    assert tor.coverage(lists) == tor.coverage(alone)
    assert [s.name for s in lists.partial_sources()] == [lists.sources[0].name]
    assert (
        lists.describe()
        .splitlines()[2]
        .startswith(
            "1 list taken as partial (1 address, fewer than 300 distinct exits in a file or a day: "
        )
    )
    assert lists.describe().splitlines()[2].endswith(": it can mark IPs as Tor, not rule Tor out")


def test_the_events_of_a_gap_day_with_an_ioc_list_are_tor_or_unknown(tmp_path: Path) -> None:
    """The tester's case: 30 calls from the finding's Tor IP, 10 from an IOC address."""
    lists = tor.load_exit_lists(_one_address_list(tmp_path / "tor", "plain"), now=NOW)
    frame = pd.DataFrame(
        {
            "event_time": pd.to_datetime([GAP] * 3, utc=True),
            "source_ip": pd.Categorical([TOR_IP, "203.0.113.9", "AWS Internal"]),
        }
    )
    status = tor.tor_status(frame, lists)
    assert status.tolist() == [pd.NA, True, False]  # AWS Internal is never an exit


def test_an_interval_list_vouches_only_for_days_with_enough_exits() -> None:
    """Archives and interval lists are counted day by day: False only on full days."""
    rows = ["ip,first_seen_utc,last_seen_utc"]
    rows += [f"192.0.2.{i},2020-01-01T00:00:00Z,2020-01-02T12:00:00Z" for i in range(1, 4)]
    rows.append("192.0.2.9,2020-01-05T00:00:00Z,2020-01-08T00:00:00Z")  # alone on days 5-8
    data = ("\n".join(rows) + "\n").encode()
    frame, problems = tor.parse_intervals(data, list_name="case:x.csv")
    assert problems == []
    source = tor.ListSource(
        "case:x.csv", "case", "interval", "x.csv", len(frame), 4,
        frame["first_seen"].min(), frame["last_seen"].max(),
    )  # fmt: skip
    lists = tor.ExitLists(observations=frame, sources=[source], min_exits=3)
    zero = {"tolerance": pd.Timedelta(0)}
    assert tor.ip_status("8.8.4.7", pd.Timestamp("2020-01-01T06:00Z"), lists, **zero) is False
    assert tor.ip_status("8.8.4.7", pd.Timestamp("2020-01-02T06:00Z"), lists, **zero) is False
    # day 2 is full but the list observes it only until 12:00
    assert tor.ip_status("8.8.4.7", pd.Timestamp("2020-01-02T13:00Z"), lists, **zero) is None
    assert tor.ip_status("8.8.4.7", pd.Timestamp("2020-01-06T00:00Z"), lists, **zero) is None
    assert tor.ip_status("192.0.2.9", pd.Timestamp("2020-01-06T00:00Z"), lists, **zero) is True
    assert tor.coverage(lists, tolerance=pd.Timedelta(0)) == [
        (pd.Timestamp("2020-01-01", tz="UTC"), pd.Timestamp("2020-01-02T12:00", tz="UTC"))
    ]
    assert lists.partial_sources() == []
    lists.min_exits = 4
    assert [s.name for s in lists.partial_sources()] == ["case:x.csv"]
    assert tor.coverage(lists) == []


# --------------------------------------------------------------------------------------------
# lists dated in the future
# --------------------------------------------------------------------------------------------
def test_a_list_dated_in_the_future_is_an_issue_and_not_used(tmp_path: Path) -> None:
    folder = tmp_path / "tor"
    folder.mkdir()
    (folder / "future-2099-01-01.txt").write_text("8.8.4.4\n")
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "exit-addresses").write_text(
        _tordnsel([("8.8.8.8", "2099-01-01 11:00:00"), ("192.0.2.1", "2025-12-31 23:00:00")])
    )
    lists = tor.load_exit_lists(folder, cache_dir=cache, bundled=False, now=NOW)
    assert at("8.8.4.4", "2099-01-01T12:00:00Z", lists) is None
    assert at("8.8.8.8", "2099-01-01T12:00:00Z", lists) is None
    assert at("192.0.2.1", "2025-12-31T23:00:00Z", lists) is True  # the rest of the file is used
    future = "observation(s) dated after now (the first 2099-01-01 {}Z, now 2026-01-01 00:00Z): "
    future += "not used (a list from the future: check the date in its file name, or the clock "
    future += "of what wrote it)"
    assert lists.issues == [
        DataIssue(str(folder / "future-2099-01-01.txt"), "1 " + future.format("00:00")),
        DataIssue(str(cache / "exit-addresses"), "1 " + future.format("11:00")),
    ]
    assert [s.name for s in lists.sources] == ["cache:exit-addresses"]
    assert lists.sources[0].last_seen == pd.Timestamp("2025-12-31T23:00:00Z")


def test_an_interval_still_open_ends_now(tmp_path: Path) -> None:
    path = tmp_path / "open.csv"
    path.write_text("ip,first_seen_utc,last_seen_utc\n9.9.9.1,2025-01-01,2100-01-01\n")
    lists = tor.read_exit_list(path, now=NOW)
    assert lists.issues == []
    assert lists.observations["last_seen"].tolist() == [pd.Timestamp("2026-01-01T01:00Z")]
    assert at("9.9.9.1", "2099-06-01T00:00:00Z", lists) is None


def test_the_findings_tor_ip_called_not_tor_is_a_contradiction() -> None:
    frame = pd.DataFrame(
        {
            "source_ip": pd.Categorical([TOR_IP, TOR_IP, "::ffff:185.220.101.34", "192.0.2.1"]),
            "tor": pd.array([False, True, False, False], dtype="boolean"),
        }
    )
    issue = tor.finding_ip_contradiction(frame, TOR_IP, "f1")
    assert issue == DataIssue(
        "finding f1",
        f"2 call(s) from {TOR_IP}, the finding's Tor IP, are 'not Tor' by the loaded exit lists: "
        "the lists and GuardDuty disagree (check the lists of those dates, or widen the "
        "tolerance)",
    )
    counted = frame.assign(calls=[5, 1, 2, 9])
    assert tor.finding_ip_contradiction(counted, TOR_IP, "f1").problem.startswith("7 call(s)")
    frame["tor"] = pd.array([pd.NA, True, pd.NA, False], dtype="boolean")
    assert tor.finding_ip_contradiction(frame, TOR_IP, "f1") is None
    assert tor.finding_ip_contradiction(frame, None, "f1") is None
