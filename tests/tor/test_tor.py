"""Tor exit lists: every format, the bundled history, refresh (fake opener), and the status rule."""

from __future__ import annotations

import gzip
import hashlib
import io
import itertools
import lzma
import os
import shutil
import urllib.error
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tests.tor.archives import tar_xz
from torinvest import tor
from torinvest.addresses import canonical_ip
from torinvest.case import sample_case
from torinvest.errors import DataIssue, InputError, OptionsError
from torinvest.geo import ip_kind, parse_ip

FIXTURES = Path(__file__).parent.parent / "fixtures" / "tor"
BUNDLED = tor.bundled_dir()
COLLECTOR = BUNDLED / "collector-exit-lists"
HOURLY = sorted((COLLECTOR / "stem_exit-list-2018-11").rglob("2018-11-*"))
LIST_2016 = COLLECTOR / "collector_2016-09-20-13-02-00"
LIST_2018_11_01 = COLLECTOR / "stem_exit-list-2018-11" / "01" / "2018-11-01-00-02-01"
CHECK_2024 = COLLECTOR / "check.torproject.org_exit-addresses_2024-03-12"
BULK_2022 = BUNDLED / "bulkexitlist" / "torbulkexitlist_noMoreTor_2022-08-17.txt"
INTERVALS = BUNDLED / "secops-danmeuk" / "exit_ip_intervals.csv.gz"

#: In the 2018-11-01 00:02 CollecTor list (ExitAddress 2018-10-31 12:04:41), not in the 2016 one.
IP_2018 = "103.234.220.195"
#: In the 2016-09-20 CollecTor list (ExitAddress 2016-09-20 08:09:39), not in the 2018-11 ones.
IP_2016 = "162.247.72.201"


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC").as_unit("us")


def events(*rows: tuple[str | None, str | None], index: list[Any] | None = None) -> pd.DataFrame:
    """An events frame with the two columns tor_status reads, typed as in EVENTS_COLUMNS."""
    times = pd.Series(
        [pd.NaT if t is None else utc(t) for t, _ in rows], dtype="datetime64[us, UTC]"
    )
    ips = pd.Series([ip for _, ip in rows], dtype="string").astype("category")
    frame = pd.DataFrame({"event_time": times, "source_ip": ips})
    if index is not None:
        frame.index = index
    return frame


def status(frame: pd.DataFrame, lists: tor.ExitLists, **kw: Any) -> list[bool | None]:
    result = tor.tor_status(frame, lists, **kw)
    assert result.dtype == "boolean"
    assert result.name == "tor"
    assert result.index.equals(frame.index)
    return [None if pd.isna(v) else bool(v) for v in result]


def observations(rows: list[tuple[str, str, str, str]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "ip": pd.array([r[0] for r in rows], dtype="string"),
            "first_seen": pd.Series([utc(r[1]) for r in rows], dtype="datetime64[us, UTC]"),
            "last_seen": pd.Series([utc(r[2]) for r in rows], dtype="datetime64[us, UTC]"),
            "list": pd.array([r[3] for r in rows], dtype="string"),
        }
    )


def source_tuple(s: tor.ListSource) -> tuple[Any, ...]:
    return (s.name, s.kind, s.format, s.observations, s.ips, s.first_seen, s.last_seen)


@pytest.fixture(scope="module")
def bundled() -> tor.ExitLists:
    return tor.load_exit_lists()


# --------------------------------------------------------------------------------------------
# the status rule
# --------------------------------------------------------------------------------------------
def test_listed_exit_is_tor_that_day_and_not_in_2016() -> None:
    lists = tor.load_exit_lists(LIST_2018_11_01, LIST_2016, bundled=False)
    # each snapshot rules Tor out only from its oldest to its newest observation (2018:
    # 2018-10-31 00:05:25 → 22:15:59; 2016: 2016-09-19 14:03:12 → 2016-09-20 11:35:05)
    frame = events(
        ("2018-11-01T06:00:00Z", IP_2018),  # 17 h 55 min after its observation
        ("2018-11-01T12:04:41Z", IP_2018),  # exactly 24 h after: still within
        ("2018-11-01T12:04:42Z", IP_2018),  # 24 h 1 s after, and after the list's newest
        ("2016-09-20T10:00:00Z", IP_2018),  # the 2016 list covers this and does not list it
        ("2016-09-20T12:00:00Z", IP_2016),
        ("2018-10-31T18:00:00Z", IP_2016),  # an exit in 2016 is not Tor in 2018
        ("2017-07-01T00:00:00Z", IP_2018),  # no list covers 2017
        ("2018-10-31T22:15:59Z", "8.8.4.7"),  # last covered instant: the newest observation
        ("2018-10-31T22:16:00Z", "8.8.4.7"),  # exits tested then are still Tor, others unknown
        ("2018-10-31T00:05:25Z", "8.8.4.7"),  # first covered instant: the oldest observation
        ("2018-10-31T00:05:24Z", "8.8.4.7"),
    )
    assert status(frame, lists) == [
        *(True, True, None, False, True, False, None, False, None, False, None)
    ]


def test_bundled_history_answers_2016_and_2018(bundled: tor.ExitLists) -> None:
    frame = events(
        ("2018-11-01T12:00:00Z", IP_2018),
        ("2016-09-20T10:00:00Z", IP_2018),
        ("2016-09-20T12:00:00Z", IP_2016),
        ("2017-07-01T00:00:00Z", IP_2018),
        ("2023-07-10T10:00:00Z", "185.220.101.34"),  # the sample case's actor
        ("2023-07-10T10:00:00Z", "167.99.201.43"),  # the sample case's non-Tor IP
        ("2024-06-01T00:00:00Z", "185.220.101.34"),  # after every bundled list
    )
    assert status(frame, bundled) == [True, False, True, None, True, False, None]


def test_one_ip_at_one_time_is_the_rule_of_the_events_frame(bundled: tor.ExitLists) -> None:
    """`torinvest tor check`'s answer: True, False, or None when no list covers the time."""
    assert tor.ip_status(IP_2016, utc("2016-09-20T12:00:00Z"), bundled) is True
    assert tor.ip_status(IP_2018, utc("2016-09-20T10:00:00Z"), bundled) is False
    assert tor.ip_status(IP_2018, utc("2017-07-01T00:00:00Z"), bundled) is None
    lists = tor.load_exit_lists(LIST_2018_11_01, bundled=False)
    at = utc("2018-10-31T22:00:00Z")
    assert tor.ip_status("8.8.4.7", at, lists) is False
    assert tor.ip_status("8.8.4.7", at, lists, tolerance=pd.Timedelta(hours=1)) is None
    assert tor.ip_status(IP_2018, at, lists, tolerance=pd.Timedelta(hours=10)) is True


#: Source values that hold no address a list could name: unknown (NA) even at a covered time.
UNREADABLE_SOURCES = (
    "185.220.101.34:443",
    "185.220.101.034",
    "185.220.101.34.",
    "3118228770",
    "0xb9.0xdc.0x65.0x22",
    "185.220.101.34%eth0",
    "not an address",
    "example.com",
)


def test_aws_services_are_not_tor_and_unreadable_sources_are_unknown() -> None:
    lists = tor.load_exit_lists(LIST_2016, bundled=False)
    covered = "2016-09-20T10:00:00Z"
    frame = events(
        (covered, "AWS Internal"),
        (covered, "iam.amazonaws.com"),
        (covered, None),  # no source address: unknown
        (covered, ""),
        (None, IP_2016),  # no time: unknown
        ("2020-01-01T00:00:00Z", "not an address"),  # not covered
        *[(covered, v) for v in UNREADABLE_SOURCES],  # covered, but not an address: unknown
        (covered, "2002:b9dc:6522::1"),  # a 6to4 address is another address
        (covered, "[162.247.72.201]"),  # an address in another notation
        (covered, IP_2016),
        (covered, "9.9.9.1"),
    )
    assert status(frame, lists) == [
        *(False, False, None, None, None, None),
        *[None] * len(UNREADABLE_SOURCES),
        *(None, True, True, False),  # no list names IPv6 exits: the 6to4 address is unknown
    ]


#: An IPv6 exit of the bundled interval file (listed 2019-08-09 04:26 → 2020-03-20), at a time
#: that file names enough IPv6 exits to rule Tor out for IPv6 sources.
V6_EXIT = "2001:470:1:19::179"
V6_COVERED = "2019-08-09T12:00:00Z"


def test_an_address_however_written_is_one_address_to_the_tor_status_its_kind_and_groups(
    bundled: tor.ExitLists,
) -> None:
    """A listed exit written with an IPv6 zone (``%eth0``) was "not Tor" — the Tor status kept
    the zone and matched no list, while its kind and country dropped it. Every reading of an
    address is now one (:func:`torinvest.addresses.parse_address`): the Tor status, the
    per-IP groups (``canonical_ip``), the kind and the country (``geo.parse_ip``)."""
    spellings = [V6_EXIT, V6_EXIT.upper(), f"[{V6_EXIT}]", f"{V6_EXIT}%eth0", f" {V6_EXIT}%25 "]
    frame = events(*[(V6_COVERED, v) for v in spellings], (V6_COVERED, "2001:470:1:19::178"))
    assert status(frame, bundled) == [True] * len(spellings) + [False]
    for value in spellings:
        assert tor.normalize_ip(value) == canonical_ip(value) == str(parse_ip(value)) == V6_EXIT
        assert ip_kind(value) == "public"
        assert tor.ip_status(value, utc(V6_COVERED), bundled) is True
    # IPv4 has no zones: not an address to any of them (the Tor status: unknown, see above)
    for value in ("185.220.101.34%eth0", "185.220.101.34%1"):
        assert tor.normalize_ip(value) is canonical_ip(value) is parse_ip(value) is None
        assert ip_kind(value) == "unparsable"


#: A Tor exit in dan.me.uk's list (the bundled intervals: 2018-11-17 12:00 → 15:00) with a
#: Teredo address (2001::/32): not "global" to IANA nor to ipaddress, yet on the internet.
TEREDO_EXIT = "2001:0:53aa:64c:81e:609d:e07b:7434"


def test_a_tunnelled_address_can_be_an_exit_and_is_unknown_where_no_list_covers(
    bundled: tor.ExitLists,
) -> None:
    """A Teredo address was taken as one that cannot be an exit (``ip_kind`` ``private``):
    "not Tor" at any time, even where no list covers, though real lists name Tor exits there."""
    assert ip_kind(TEREDO_EXIT) == "public"
    assert not tor.cannot_be_exit(TEREDO_EXIT)
    frame = events(
        ("2018-11-17T13:00:00Z", TEREDO_EXIT),  # listed
        ("2018-11-20T00:00:00Z", TEREDO_EXIT),  # no list names enough IPv6 exits then
        ("2025-01-01T00:00:00Z", TEREDO_EXIT),  # no list at all
        (V6_COVERED, TEREDO_EXIT),  # the lists rule Tor out for IPv6 sources then
        ("2025-01-01T00:00:00Z", "2001:db8::1"),  # documentation: cannot be an exit
    )
    assert status(frame, bundled) == [True, None, None, False, False]


NEVER_EXITS = (
    "10.248.16.43",  # private (an AWS VPC address)
    "192.168.10.20",
    "172.16.0.1",
    "127.0.0.1",  # loopback
    "169.254.169.254",  # link-local
    "100.64.0.1",  # shared (carrier-grade NAT)
    "240.0.0.1",  # reserved
    "192.0.2.1",  # documentation
    "198.51.100.7",
    "203.0.113.9",
    "::1",
    "fd00::1",  # IPv6 unique local
    "fe80::1",
    "2001:db8::1",
    "::ffff:10.0.0.1",  # IPv4-mapped private
    "AWS Internal",
    "ec2.amazonaws.com",
)


@pytest.mark.parametrize("when", ["2016-09-20T12:00:00Z", "2020-01-01T00:00:00Z", None])
def test_sources_that_cannot_be_exits_are_not_tor_whatever_the_lists_cover(
    when: str | None,
) -> None:
    """A private, reserved or documentation address, or an AWS service, is never a Tor exit:
    False even at a time no list covers (2020), or with no time at all — never 'unknown'."""
    lists = tor.load_exit_lists(LIST_2016, bundled=False)
    frame = events(*[(when, ip) for ip in NEVER_EXITS], ("2020-01-01T00:00:00Z", IP_2016))
    assert status(frame, lists) == [False] * len(NEVER_EXITS) + [None]
    assert all(tor.cannot_be_exit(ip) for ip in NEVER_EXITS)
    assert not tor.cannot_be_exit(IP_2016) and not tor.cannot_be_exit("not an address")
    empty = tor.load_exit_lists(bundled=False)
    assert tor.ip_status("10.248.16.43", utc("2025-07-10T12:00:00Z"), empty) is False


def test_tolerance_is_configurable() -> None:
    lists = tor.load_exit_lists(LIST_2018_11_01, bundled=False)
    frame = events(
        ("2018-10-31T12:34:41Z", IP_2018),  # 30 min after its 12:04:41 observation
        ("2018-10-31T13:04:41Z", IP_2018),  # 1 h after
        ("2018-10-31T13:04:42Z", IP_2018),  # 1 h 1 s after
        ("2018-11-01T06:00:00Z", IP_2018),  # 18 h after
        ("2018-11-01T00:00:00Z", IP_2018),  # 11 h 55 min after; list's last observation: 22:15:59
        ("2018-11-01T12:00:00Z", IP_2018),  # 23 h 55 min after
        ("2018-10-31T06:00:00Z", "8.8.4.7"),  # the list's addresses were tested 00:05 → 22:15
    )
    assert status(frame, lists) == [True, True, True, True, True, True, False]
    # within 1 h or 2 h of every one of its tests at once: never, so Tor is never ruled out
    assert status(frame, lists, tolerance=pd.Timedelta(hours=1)) == [
        *(True, True, None, None, None, None, None)
    ]
    assert status(frame, lists, tolerance=timedelta(hours=2)) == [
        *(True, True, True, None, None, None, None)
    ]
    # 18 h: from 22:15:59 - 18 h to 00:05:25 + 18 h
    assert status(frame, lists, tolerance="18h") == [True, True, True, True, True, None, False]
    for bad in (pd.Timedelta(hours=-1), "soon", None):
        with pytest.raises(InputError, match="invalid tolerance"):
            tor.tor_status(frame, lists, tolerance=bad)  # type: ignore[arg-type]


def test_frames_asked_of_the_same_lists_are_answered_as_if_each_were_asked_alone() -> None:
    """What the lists are matched against is built once per lists and tolerance, then kept:
    each frame, tolerance and observations frame gets its own answer all the same."""
    rows = [
        ("2018-10-31T12:34:41Z", IP_2018),
        ("2018-10-31T13:04:42Z", IP_2018),
        ("2018-11-01T06:00:00Z", "8.8.4.7"),
    ]
    kept = tor.load_exit_lists(LIST_2018_11_01, bundled=False)
    for frame, kw in [
        (events(*rows), {}),
        (events(*rows[1:]), {"tolerance": pd.Timedelta(hours=1)}),
        (events(rows[2], rows[0]), {}),
        (events(*rows), {"tolerance": "2h"}),
    ]:
        fresh = tor.load_exit_lists(LIST_2018_11_01, bundled=False)
        assert status(frame, kept, **kw) == status(frame, fresh, **kw)
    # other observations in the same lists: matched against those
    kept.observations = kept.observations[kept.observations["ip"] != IP_2018].reset_index(drop=True)
    assert status(events(rows[0]), kept) == [False]


def test_ipv6_is_normalized_on_both_sides() -> None:
    # The sample case's dan.me.uk lists write IPv6 in full: 2001:0470:0001:0908:0000:0000:0000:9001
    lists = tor.load_exit_lists(sample_case().tor, bundled=False)
    frame = events(
        ("2023-07-10T10:00:00Z", "2001:470:1:908::9001"),
        ("2023-07-10T10:00:00Z", "2001:0470:0001:0908:0000:0000:0000:9001"),
        ("2023-07-10T10:00:00Z", "2001:470:1:908:0:0:0:9001".upper()),
        ("2023-07-10T10:00:00Z", "2001:470:1:908::9002"),
        ("2023-07-10T10:00:00Z", "::ffff:185.220.101.34"),  # IPv4-mapped: the IPv4 exit
    )
    assert status(frame, lists) == [True, True, True, False, True]
    rows = lists.observations_for("2001:0470:0001:0908:0000:0000:0000:9001")
    pd.testing.assert_frame_equal(
        rows,
        observations(
            [
                (
                    "2001:470:1:908::9001",
                    f"2023-07-{d}T00:00:00",
                    f"2023-07-{d}T23:59:59.999999",
                    f"case:danmeuk-exit-2023-07-{d}.txt",
                )
                for d in ("09", "10", "11")
            ]
        ),
    )


def test_interval_observations_match_throughout_with_tolerance() -> None:
    lists = tor.read_exit_list(FIXTURES / "intervals" / "exit_ip_intervals_EXCERPT.csv")
    lists.min_exits = 1  # an excerpt (5 rows) standing for the whole list: taken as vouching
    frame = events(
        ("2018-03-12T10:00:06Z", IP_2018),  # run 1 starts 2018-03-13 10:00:06: first - 24 h
        ("2018-03-12T10:00:05Z", IP_2018),  # before any coverage
        ("2018-05-01T00:00:00Z", IP_2018),  # inside run 1
        ("2018-06-16T16:00:06Z", IP_2018),  # run 1 ends 2018-06-15 16:00:06: last + 24 h
        ("2018-06-16T16:00:07Z", IP_2018),  # between the runs, not covered by either
        ("2018-06-17T11:00:16Z", "9.9.9.1"),  # run 2 starts 2018-06-18 11:00:16: first - 24 h
        ("2018-06-17T11:00:16Z", IP_2018),
        ("2018-11-06T20:00:05Z", IP_2018),  # run 2 ends 2018-11-05 20:00:05: last + 24 h
        ("2018-11-06T20:00:06Z", IP_2018),
        ("2018-06-18T11:00:16Z", "9.9.9.1"),  # what the list observes rules Tor out, unpadded
        ("2018-11-05T20:00:05Z", "9.9.9.1"),
        ("2018-11-05T20:00:06Z", "9.9.9.1"),
    )
    assert status(frame, lists) == [
        *(True, None, True, True, None, None, True, True, None, False, False, None)
    ]


def test_empty_lists_answer_na() -> None:
    lists = tor.load_exit_lists(bundled=False)
    assert len(lists) == 0
    assert lists.describe() == "no Tor exit list loaded: every tor status will be NA"
    assert status(events(("2018-11-01T00:00:00Z", IP_2018)), lists) == [None]
    assert tor.coverage(lists) == []


def test_keeps_the_events_index_and_accepts_plain_string_columns() -> None:
    lists = tor.load_exit_lists(LIST_2016, bundled=False)
    frame = events(
        ("2016-09-20T10:00:00Z", IP_2016),
        ("2016-09-20T10:00:00Z", "9.9.9.1"),
        index=["b", "a"],
    )
    assert status(frame, lists) == [True, False]
    frame["source_ip"] = frame["source_ip"].astype(object)
    frame["event_time"] = frame["event_time"].astype("datetime64[ns, UTC]")
    assert status(frame, lists) == [True, False]
    with pytest.raises(InputError, match="events frame lacks source_ip"):
        tor.tor_status(frame[["event_time"]], lists)


def test_vectorized_on_200k_events_matches_a_row_by_row_reference(
    bundled: tor.ExitLists,
) -> None:
    rng = np.random.default_rng(7)
    obs = bundled.observations
    n = 200_000
    listed = obs["ip"].to_numpy(dtype=object)[rng.integers(0, len(obs), n // 2)]
    others = [f"8.8.4.{i}" for i in range(256)] + [f"2001:db9::{i}" for i in range(64)]
    others = np.array([*others, "AWS Internal", "8.8.4.4:443"], dtype=object)
    ips = np.concatenate([listed, others[rng.integers(0, len(others), n - len(listed))]])
    start = utc("2016-09-01").value // 1000
    span = utc("2024-04-01").value // 1000 - start
    times = start + rng.integers(0, span, n)
    frame = pd.DataFrame(
        {
            "event_time": tor._utc_from_us(times),
            "source_ip": pd.Categorical(ips),
        }
    )
    result = tor.tor_status(frame, bundled)
    assert result.notna().sum() > 0 and result.sum() > 0 and (~result.fillna(True)).sum() > 0

    tol = 86_400_000_000  # 24 h in µs
    codes, uniques = pd.factorize(obs["ip"])
    position = {ip: i for i, ip in enumerate(uniques)}
    first = obs["first_seen"].array.asi8
    last = obs["last_seen"].array.asi8
    v6 = obs["ip"].str.contains(":").to_numpy(dtype=bool)
    names = obs["list"].to_numpy(dtype=object)
    formats = {s.name: s.format for s in bundled.sources}

    def rules_out(t: int, ipv6: bool) -> bool:
        """The coverage rule, one list at a time (no archive among the bundled lists)."""
        for name, fmt in formats.items():
            rows = (names == name) & (v6 == ipv6)
            f, la, c = first[rows], last[rows], codes[rows]
            if fmt == "interval":  # its observations, on days it names enough exits
                d = t // tol
                on_day = (f // tol <= d) & (d <= la // tol)
                full = len(np.unique(c[on_day])) >= tor.MIN_EXITS
                if full and ((f <= t) & (t <= la)).any():
                    return True
            elif len(np.unique(c)) >= tor.MIN_EXITS and f.min() <= t <= la.max():
                near = (f - tol <= t) & (t <= la + tol)  # every address it names matches
                if len(np.unique(c[near])) == len(np.unique(c)):
                    return True
        return False

    for i in rng.choice(n, 300, replace=False):
        t = times[i]
        inside = (first - tol <= t) & (t <= last + tol)
        ip = tor.normalize_ip(ips[i])
        near = bool((inside & (codes == position.get(ip, -2))).any())
        covered = ip is not None and rules_out(t, ":" in ip)
        expected = True if near else (False if covered or tor.cannot_be_exit(ips[i]) else None)
        got = result.iloc[i]
        assert (None if pd.isna(got) else bool(got)) == expected, (t, ips[i])


# --------------------------------------------------------------------------------------------
# formats
# --------------------------------------------------------------------------------------------
EXCERPT_2016 = [
    ("162.247.72.201", "2016-09-20T08:09:39"),
    ("192.200.123.107", "2016-09-20T01:09:46"),
    ("1.234.89.222", "2016-09-20T10:10:06"),
    ("199.249.223.62", "2016-09-20T02:07:00"),
    ("109.236.89.202", "2016-09-20T10:10:11"),
    ("109.236.89.208", "2016-09-20T10:10:12"),
]


def test_tordnsel_with_header() -> None:
    lists = tor.read_exit_list(FIXTURES / "tordnsel" / "collector_2016-09-20-13-02-00_EXCERPT")
    name = "case:collector_2016-09-20-13-02-00_EXCERPT"
    assert lists.issues == []
    pd.testing.assert_frame_equal(
        lists.observations, observations([(ip, t, t, name) for ip, t in EXCERPT_2016])
    )
    assert [source_tuple(s) for s in lists.sources] == [
        (name, "case", "tordnsel", 6, 6, utc("2016-09-20T01:09:46"), utc("2016-09-20T10:10:12"))
    ]


def test_tordnsel_without_header(tmp_path: Path) -> None:
    text = (FIXTURES / "tordnsel" / "collector_2016-09-20-13-02-00_EXCERPT").read_text()
    body = "".join(text.splitlines(keepends=True)[2:])  # drop @type and Downloaded
    assert body.startswith("ExitNode 0011BD2485AD45D984EC4159C88FC066E5E3300E\n")
    (tmp_path / "exit-addresses").write_text(body)
    lists = tor.read_exit_list(tmp_path / "exit-addresses")
    assert lists.issues == []
    pd.testing.assert_frame_equal(
        lists.observations,
        observations([(ip, t, t, "case:exit-addresses") for ip, t in EXCERPT_2016]),
    )


EDGE_TORDNSEL = (
    b"@type tordnsel 1.0\n"
    b"ExitAddress 9.9.9.9 2018-10-31 12:00:00\n"  # before the first ExitNode: ignored
    b"ExitNode 0011BD2485AD45D984EC4159C88FC066E5E3300E\n"
    b"Published 2018-10-31 05:08:21\n"
    b"ExitAddress 1.2.3.4 2018-10-31 12:04:41\r\n"
    b"ExitAddress\t5.6.7.8\t2018-10-31 12:04:42\n"  # tab between address and time: unreadable
    b"ExitAddress 2001:DB8::1 2018-10-31 12:04:43  \n"
    b"ExitAddress 1.2.3.5 2018-02-30 00:00:00\n"  # no such day
    b"ExitAddress nonsense 2018-10-31 12:04:44\n"
    b"ExitNode 0077BCBA7244DB3E6A5ED2746E86170066684887\n"
    b"ExitAddress 1.2.3.6 2018-10-31 12:04:45"
)


@pytest.mark.parametrize(
    "data",
    [pytest.param(EDGE_TORDNSEL, id="edge-cases")]
    + [
        pytest.param(p.read_bytes(), id=p.name)
        for p in sorted(COLLECTOR.rglob("*"))
        if p.is_file() and not p.name.endswith((".md", ".txt"))
    ],
)
def test_archive_line_parser_keeps_what_stem_keeps(data: bytes) -> None:
    by_stem, _ = tor.parse_tordnsel(data, list_name="x")
    pairs, _ = tor._exit_address_pairs(data)
    by_lines, _ = tor._pairs_frame(set(pairs), "x")
    key = ["first_seen", "ip"]
    pd.testing.assert_frame_equal(
        by_lines, by_stem.drop_duplicates().sort_values(key).reset_index(drop=True)
    )


def test_tordnsel_edge_cases() -> None:
    frame, problems = tor.parse_tordnsel(EDGE_TORDNSEL, list_name="x")
    assert frame["ip"].tolist() == ["1.2.3.4", "2001:db8::1", "1.2.3.6"]
    assert problems == [
        "4 of 11 lines skipped (not a TorDNSEL line, or an unreadable address or time): "
        "lines 2, 6, 8, 9; first: 'ExitAddress 9.9.9.9 2018-10-31 12:00:00'"
    ]
    pairs, lines = tor._exit_address_pairs(EDGE_TORDNSEL)
    assert (len(pairs), lines) == (5, 6)
    assert tor._pairs_frame(pairs, "x")[1] == 2


def test_check_torproject_exit_addresses_has_no_header() -> None:
    assert not CHECK_2024.read_bytes().startswith(b"@type")
    lists = tor.read_exit_list(CHECK_2024, kind="bundled")
    assert [source_tuple(s) for s in lists.sources] == [
        (
            "bundled:check.torproject.org_exit-addresses_2024-03-12",
            "bundled",
            "tordnsel",
            2378,
            1174,
            utc("2024-03-09T04:06:44"),
            utc("2024-03-12T14:28:38"),
        )
    ]
    assert lists.observations.iloc[0].to_dict() == {
        "ip": "185.241.208.232",
        "first_seen": utc("2024-03-12T08:10:51"),
        "last_seen": utc("2024-03-12T08:10:51"),
        "list": "bundled:check.torproject.org_exit-addresses_2024-03-12",
    }


def test_bulk_list_dated_by_its_file_name() -> None:
    lists = tor.read_exit_list(BULK_2022)
    name = "case:torbulkexitlist_noMoreTor_2022-08-17.txt"
    day = (utc("2022-08-17T00:00:00"), utc("2022-08-17T23:59:59.999999"))
    assert lists.issues == []
    assert [source_tuple(s) for s in lists.sources] == [(name, "case", "plain", 1396, 1396, *day)]
    pd.testing.assert_frame_equal(
        lists.observations.head(3),
        observations(
            [
                (ip, str(day[0])[:-6], str(day[1])[:-6], name)
                for ip in ("93.95.230.253", "23.184.48.209", "185.244.195.103")
            ]
        ),
    )


NO_DATE = (
    "a plain IP list without a date (put the list's UTC date in its file name, "
    "e.g. exits-2023-07-10.txt)"
)


def test_plain_list_with_comments_and_an_explicit_date(tmp_path: Path) -> None:
    path = tmp_path / "exits.txt"
    path.write_bytes(
        b"\xef\xbb\xbf# saved from https://check.torproject.org/torbulkexitlist\r\n\r\n"
        b"93.95.230.253\r\n 23.184.48.209  # trailing comment\r\n2001:DB8:0:0::1\r\n"
    )
    undated = tor.read_exit_list(path)
    assert undated.sources == []
    assert undated.issues == [DataIssue(str(path), NO_DATE)]

    by_day = tor.read_exit_list(path, observed=date(2022, 8, 17))
    by_text = tor.read_exit_list(path, observed="2022-08-17")
    expected_day = observations(
        [
            (ip, "2022-08-17T00:00:00", "2022-08-17T23:59:59.999999", "case:exits.txt")
            for ip in ("93.95.230.253", "23.184.48.209", "2001:db8::1")
        ]
    )
    pd.testing.assert_frame_equal(by_day.observations, expected_day)
    pd.testing.assert_frame_equal(by_text.observations, expected_day)

    at = tor.read_exit_list(path, observed=datetime(2022, 8, 17, 16, 54))  # naive → UTC
    pd.testing.assert_frame_equal(
        at.observations,
        observations(
            [
                (ip, "2022-08-17T16:54:00", "2022-08-17T16:54:00", "case:exits.txt")
                for ip in ("93.95.230.253", "23.184.48.209", "2001:db8::1")
            ]
        ),
    )


def test_daily_folder_skips_provenance_and_licence() -> None:
    folder = sample_case().tor
    assert sorted(p.name for p in folder.iterdir()) == [
        "LICENSE.upstream.md",
        "PROVENANCE.md",
        "danmeuk-exit-2023-07-09.txt",
        "danmeuk-exit-2023-07-10.txt",
        "danmeuk-exit-2023-07-11.txt",
    ]
    lists = tor.load_exit_lists(folder, bundled=False)
    assert lists.issues == []
    assert [source_tuple(s) for s in lists.sources] == [
        (
            f"case:danmeuk-exit-2023-07-{d}.txt",
            "case",
            "plain",
            n,
            n,
            utc(f"2023-07-{d}T00:00:00"),
            utc(f"2023-07-{d}T23:59:59.999999"),
        )
        for d, n in (("09", 2107), ("10", 2109), ("11", 2093))
    ]
    assert (
        lists.describe()
        == "case: 3 list(s), all of relays' OR addresses (dan.me.uk-style, not measured exit "
        "addresses), 6,309 observations, 2023-07-09 00:00 → 2023-07-11 23:59"
    )


def test_gzipped_daily_lists() -> None:
    lists = tor.load_exit_lists(FIXTURES / "danmeuk-daily", bundled=False)
    assert lists.issues == []
    assert [source_tuple(s) for s in lists.sources] == [
        (
            f"case:2018-11-0{d}.txt.gz",
            "case",
            "plain",
            n,
            n,
            utc(f"2018-11-0{d}T00:00:00"),
            utc(f"2018-11-0{d}T23:59:59.999999"),
        )
        for d, n in ((1, 1084), (2, 1090))
    ]
    assert lists.observations["ip"].head(2).tolist() == ["103.234.220.195", "103.234.220.197"]


def _hourly_members() -> dict[str, bytes]:
    return {f"exit-list-2018-11/{p.parent.name}/{p.name}": p.read_bytes() for p in HOURLY}


def test_collector_monthly_archive(tmp_path: Path) -> None:
    members = _hourly_members()
    assert list(members) == [
        "exit-list-2018-11/01/2018-11-01-00-02-01",
        "exit-list-2018-11/01/2018-11-01-01-02-01",
        "exit-list-2018-11/02/2018-11-02-00-02-01",
        "exit-list-2018-11/02/2018-11-02-01-02-01",
    ]
    members["exit-list-2018-11/PROVENANCE.md"] = b"# not a list\n"
    members["exit-list-2018-11/02/2018-11-02-02-02-01"] = b"<html>502 Bad Gateway</html>\n"
    archive = tmp_path / "exit-list-2018-11.tar.xz"
    archive.write_bytes(tar_xz(members))

    lists = tor.read_exit_list(archive)
    # 3,726 ExitAddress lines in the four hourly lists; the same (address, time) repeats hourly
    assert [source_tuple(s) for s in lists.sources] == [
        (
            "case:exit-list-2018-11.tar.xz",
            "case",
            "archive",
            1976,
            912,
            utc("2018-10-31T00:05:25"),
            utc("2018-11-01T23:17:20"),
        )
    ]
    assert lists.issues == [
        DataIssue(
            f"{archive}:exit-list-2018-11/02/2018-11-02-02-02-01",
            "not a Tor exit list (no ExitNode/ExitAddress lines, not one IP address a line, "
            "not an ip,first_seen_utc,last_seen_utc CSV)",
        )
    ]
    assert lists.observations_for(IP_2018)[["first_seen", "last_seen"]].to_dict("list") == {
        "first_seen": [utc("2018-10-31T12:04:41"), utc("2018-11-01T06:07:27")],
        "last_seen": [utc("2018-10-31T12:04:41"), utc("2018-11-01T06:07:27")],
    }


def test_interval_csv() -> None:
    lists = tor.read_exit_list(FIXTURES / "intervals" / "exit_ip_intervals_EXCERPT.csv")
    name = "case:exit_ip_intervals_EXCERPT.csv"
    assert lists.issues == []
    pd.testing.assert_frame_equal(
        lists.observations,
        observations(
            [
                ("1.157.218.216", "2019-08-22T07:30:07", "2019-08-22T07:30:07", name),
                (IP_2018, "2018-03-13T10:00:06", "2018-06-15T16:00:06", name),
                (IP_2018, "2018-06-18T11:00:16", "2018-11-05T20:00:05", name),
                (
                    "2001:0:53aa:64c:81e:609d:e07b:7434",
                    "2018-11-17T12:00:04",
                    "2018-11-17T15:00:05",
                    name,
                ),
            ]
        ),
    )
    assert [source_tuple(s) for s in lists.sources] == [
        (name, "case", "interval", 4, 3, utc("2018-03-13T10:00:06"), utc("2019-08-22T07:30:07"))
    ]


def test_interval_csv_bad_rows_are_counted(tmp_path: Path) -> None:
    path = tmp_path / "intervals.csv.gz"
    path.write_bytes(
        gzip.compress(
            b"ip,first_seen_utc,last_seen_utc,n_snapshots\n"
            b"103.234.220.195,2018-03-13T10:00:06Z,2018-06-15T16:00:06Z,2029\n"
            b"not-an-ip,2018-03-13T10:00:06Z,2018-06-15T16:00:06Z,1\n"
            b"1.2.3.4,yesterday,2018-06-15T16:00:06Z,1\n"
            b"1.2.3.5,2018-06-15T16:00:06Z,2018-03-13T10:00:06Z,1\n"
        )
    )
    lists = tor.read_exit_list(path)
    assert lists.issues == [
        DataIssue(
            str(path),
            "3 of 4 rows skipped (bad address or times): lines 3, 4, 5; "
            "first: 'not-an-ip,2018-03-13T10:00:06Z,2018-06-15T16:00:06Z'",
        )
    ]
    assert lists.observations["ip"].tolist() == [IP_2018]


# --------------------------------------------------------------------------------------------
# bad files
# --------------------------------------------------------------------------------------------
def test_bad_files_become_issues_and_the_rest_loads(tmp_path: Path) -> None:
    folder = tmp_path / "tor"
    folder.mkdir()
    shutil.copy(LIST_2016, folder / "collector_2016-09-20-13-02-00")
    (folder / "empty-2018-11-01.txt").write_bytes(b"")
    (folder / "portal-2018-11-01.html").write_text("<html><body>Sign in</body></html>\n")
    (folder / "2018-11-03.txt.gz").write_bytes(b"\x1f\x8b\x08\x00garbage")
    (folder / "blob-2018-11-01.bin").write_bytes(bytes(range(256)))
    (folder / "mylist.txt").write_text("185.220.101.34\n")
    (folder / "broken_tordnsel").write_text(
        "ExitNode 0011BD2485AD45D984EC4159C88FC066E5E3300E\nExitAddress 162.247.72.201\n"
    )
    (folder / "mixed-2018-11-01.txt").write_text("185.220.101.34\nhello\n185.220.101.35\n")
    (folder / "exit-list-2018-12.tar.xz").write_bytes(tar_xz(_hourly_members())[:5000])
    (folder / "README.md").write_text("notes\n")
    (folder / ".hidden-2018-11-01.txt").write_text("not read\n")
    lists = tor.load_exit_lists(folder, tmp_path / "missing", bundled=False)

    assert [s.name for s in lists.sources] == [
        "case:collector_2016-09-20-13-02-00",
        "case:mixed-2018-11-01.txt",
    ]
    assert lists.sources[0].observations == 1148
    assert lists.observations_for("185.220.101.35")["list"].tolist() == [
        "case:mixed-2018-11-01.txt"
    ]
    problems = {Path(i.source).name: i.problem for i in lists.issues}
    assert problems.pop("exit-list-2018-12.tar.xz").startswith("damaged archive: ")
    assert problems.pop("2018-11-03.txt.gz").startswith("damaged compressed file: ")
    assert problems == {
        "blob-2018-11-01.bin": "not a Tor exit list (no ExitNode/ExitAddress lines, not one IP "
        "address a line, not an ip,first_seen_utc,last_seen_utc CSV)",
        "broken_tordnsel": "not a Tor exit list: no readable ExitAddress line "
        "(first bad line 2: 'ExitAddress 162.247.72.201')",
        "empty-2018-11-01.txt": "empty file",
        "missing": "no such file or folder",
        "mixed-2018-11-01.txt": "1 of 3 lines skipped (not an IP address): line 2; first: 'hello'",
        "mylist.txt": NO_DATE,
        "portal-2018-11-01.html": "not a Tor exit list (no ExitNode/ExitAddress lines, not one IP "
        "address a line, not an ip,first_seen_utc,last_seen_utc CSV)",
    }
    # files that could not be read apart from one read with issues (it loaded 2 addresses)
    assert lists.describe().splitlines()[-2:] == [
        "8 file(s) could not be read",
        "1 file(s) read with issues (some lines or observations not used)",
    ]


def test_observations_for_needs_an_ip(bundled: tor.ExitLists) -> None:
    with pytest.raises(InputError, match="'AWS Internal' is not an IP address"):
        bundled.observations_for("AWS Internal")


# --------------------------------------------------------------------------------------------
# bundled history
# --------------------------------------------------------------------------------------------
def test_bundled_index_describes_the_files(bundled: tor.ExitLists) -> None:
    index = tor.bundled_index()
    assert [e["path"] for e in index] == [
        "collector-exit-lists/collector_2016-09-20-13-02-00",
        "collector-exit-lists/stem_exit-list-2018-11/01/2018-11-01-00-02-01",
        "collector-exit-lists/stem_exit-list-2018-11/01/2018-11-01-01-02-01",
        "collector-exit-lists/stem_exit-list-2018-11/02/2018-11-02-00-02-01",
        "collector-exit-lists/stem_exit-list-2018-11/02/2018-11-02-01-02-01",
        "collector-exit-lists/check.torproject.org_exit-addresses_2024-03-12",
        "bulkexitlist/torbulkexitlist_noMoreTor_2022-08-17.txt",
        "bulkexitlist/torbulkexitlist_capNcook_2023-10-14.txt",
        "secops-danmeuk/exit_ip_intervals.csv.gz",
    ]
    total = 0
    for entry, source in zip(index, bundled.sources, strict=True):
        path = BUNDLED / entry["path"]
        data = path.read_bytes()
        total += len(data)
        assert (len(data), hashlib.sha256(data).hexdigest()) == (entry["bytes"], entry["sha256"])
        assert (
            source.name,
            source.format,
            source.observations,
            source.ips,
            source.first_seen.isoformat(),
            source.last_seen.isoformat(),
            source.upstream,
            source.licence,
        ) == (
            f"bundled:{entry['path']}",
            entry["format"],
            entry["observations"],
            entry["ips"],
            entry["first_observation"],
            entry["last_observation"],
            entry["upstream"],
            entry["licence"],
        ), entry["path"]
        assert entry["licence"] and entry["upstream"]
        folder = BUNDLED / entry["path"].split("/")[0]
        assert list(folder.glob("LICENSE*")), f"no licence next to {entry['path']}"
        assert (folder / "PROVENANCE.md").is_file()
    assert total < 3 * 1024 * 1024


def test_loader_says_which_lists_it_used(bundled: tor.ExitLists) -> None:
    assert bundled.issues == []
    assert [(s.kind, s.format, s.observations) for s in bundled.sources] == [
        ("bundled", "tordnsel", 1148),
        ("bundled", "tordnsel", 934),
        ("bundled", "tordnsel", 938),
        ("bundled", "tordnsel", 925),
        ("bundled", "tordnsel", 929),
        ("bundled", "tordnsel", 2378),
        ("bundled", "plain", 1396),
        ("bundled", "plain", 1305),
        ("bundled", "interval", 111214),
    ]
    assert bundled.sources[-1].licence.startswith("MIT")
    assert bundled.describe() == (
        "bundled: 9 list(s), 1 of relays' OR addresses (dan.me.uk-style, not measured exit "
        "addresses), 121,167 observations, 2016-09-19 14:03 → 2024-03-12 14:28"
    )
    frame = bundled.sources_frame()
    assert list(frame.columns) == [
        "kind",
        "name",
        "format",
        "observations",
        "ips",
        "first_seen",
        "last_seen",
        "upstream",
        "licence",
        "path",
    ]
    assert str(frame["first_seen"].dtype) == "datetime64[us, UTC]"
    assert list(bundled.observations.columns) == [c.name for c in tor.EXIT_OBSERVATIONS_COLUMNS]
    assert [str(t) for t in bundled.observations.dtypes] == [
        c.dtype for c in tor.EXIT_OBSERVATIONS_COLUMNS
    ]


def test_coverage_of_the_bundled_history(bundled: tor.ExitLists) -> None:
    ranges = tor.coverage(bundled)
    # a snapshot: from its oldest to its newest observation (all within 24 h of each other)
    assert ranges[0] == (utc("2016-09-19T14:03:12"), utc("2016-09-20T11:35:05"))
    # an interval list: its observations, unpadded
    assert ranges[1][0] == utc("2018-03-13T10:00:06")
    # the 2024-03-12 TorDNSEL list tested some exits 3 days before others: no time is within
    # 24 h of all its tests, so it never rules Tor out (its exits are still Tor near their tests)
    assert ranges[-1] == (utc("2024-02-24T11:50:21"), utc("2024-02-27T03:57:52"))
    assert (utc("2019-05-16T10:00:04"), utc("2019-08-09T04:26:24")) in [
        (a[1], b[0]) for a, b in itertools.pairwise(ranges)
    ]
    assert len(ranges) == 22


def test_the_bundled_lists_are_worked_through_once_per_process_and_only_as_loaded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every investigation's lists hold the bundled history (loaded once per process): what
    each of its lists rules out is worked out once, then reused — by that same list only, as
    loaded (the same rows), at the same floor, tolerance and family; a list made of some of
    its rows, or asked with another floor, is worked out afresh."""
    from torinvest.tor import records

    def fresh(lists: tor.ExitLists, **kw: Any) -> list[list[tuple[pd.Timestamp, pd.Timestamp]]]:
        """Coverage of both families, nothing kept from earlier lists."""
        kept = dict(records._PER_LIST)
        records._PER_LIST.clear()
        try:
            return [tor.coverage(lists, family=f, **kw) for f in (4, 6)]
        finally:
            records._PER_LIST.clear()
            records._PER_LIST.update(kept)

    first = tor.load_exit_lists()
    said = [tor.coverage(first, family=f) for f in (4, 6)]
    worked: list[int] = []
    at_least = records._at_least

    def counted(*args: Any) -> Any:
        worked.append(1)
        return at_least(*args)

    monkeypatch.setattr(records, "_at_least", counted)
    again = tor.load_exit_lists()
    assert again is not first and [tor.coverage(again, family=f) for f in (4, 6)] == said
    assert worked == []  # nothing worked out again
    assert said == fresh(again)
    # the same list objects over some of their rows: not what was kept for them
    obs = again.observations
    some = tor.ExitLists(observations=obs[::10].reset_index(drop=True), sources=again.sources)
    assert [tor.coverage(some, family=f) for f in (4, 6)] == fresh(some)
    assert worked
    # another floor, another tolerance
    floor = tor.ExitLists(observations=obs, sources=again.sources, min_exits=2_000)
    assert [tor.coverage(floor, family=f) for f in (4, 6)] == fresh(floor)
    assert [tor.coverage(again, family=f, tolerance="2h") for f in (4, 6)] == fresh(
        again, tolerance="2h"
    )


def test_coverage_with_tolerance() -> None:
    lists = tor.read_exit_list(BULK_2022)
    day = [(utc("2022-08-17T00:00:00"), utc("2022-08-17T23:59:59.999999"))]
    # a dated bulk list rules Tor out on its day, whatever the tolerance (which pads matches)
    assert tor.coverage(lists, tolerance="0s") == day
    assert lists.coverage() == day
    assert lists.coverage(tolerance="72h") == day
    snapshot = tor.read_exit_list(LIST_2018_11_01)  # tested 2018-10-31 00:05:25 → 22:15:59
    assert snapshot.coverage() == [(utc("2018-10-31T00:05:25"), utc("2018-10-31T22:15:59"))]
    assert snapshot.coverage(tolerance="12h") == [
        (utc("2018-10-31T10:15:59"), utc("2018-10-31T12:05:25"))
    ]
    assert snapshot.coverage(tolerance="1h") == []
    # lists of IPv4 exits say nothing about IPv6 sources
    assert snapshot.coverage(family=6) == lists.coverage(family=6) == []


# --------------------------------------------------------------------------------------------
# refresh (no network: a fake opener)
# --------------------------------------------------------------------------------------------
class FakeOpener:
    """Stands in for urllib.request.urlopen: answers with ``body`` or raises ``error``."""

    def __init__(self, body: bytes = b"", error: BaseException | None = None) -> None:
        self.body = body
        self.error = error
        self.calls: list[tuple[str, float, str | None]] = []

    def __call__(self, request: Any, *, timeout: float) -> io.BytesIO:
        self.calls.append((request.full_url, timeout, request.get_header("User-agent")))
        if self.error is not None:
            raise self.error
        return io.BytesIO(self.body)


class BrokenStream(io.BytesIO):
    def read(self, size: int | None = -1) -> bytes:
        raise TimeoutError("The read operation timed out")


NOW = datetime(2024, 3, 12, 15, 0, 0, tzinfo=UTC)


def test_refresh_saves_the_current_list_under_a_dated_name(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    opener = FakeOpener(CHECK_2024.read_bytes())
    result = tor.refresh(cache, opener=opener, now=NOW)
    target = cache / "exit-addresses-2024-03-12T150000Z"
    assert result == tor.RefreshResult(
        ok=True,
        url="https://check.torproject.org/exit-addresses",
        path=target,
        note=f"downloaded https://check.torproject.org/exit-addresses to {target}",
        downloaded=True,
    )
    assert opener.calls == [
        ("https://check.torproject.org/exit-addresses", 30.0, "torinvest/0.1.0")
    ]
    assert target.read_bytes() == CHECK_2024.read_bytes()
    assert sorted(p.name for p in cache.iterdir()) == [target.name]  # no temporary file left

    shutil.copy(LIST_2016, cache / "collector_2016-09-20-13-02-00")
    lists = tor.load_exit_lists(cache_dir=cache, refreshed=result, bundled=False)
    assert [(s.name, s.kind, s.observations) for s in lists.sources] == [
        ("refreshed:exit-addresses-2024-03-12T150000Z", "refreshed", 2378),
        ("cache:collector_2016-09-20-13-02-00", "cache", 1148),
    ]
    assert lists.describe() == (
        "refreshed: 1 list(s), 2,378 observations, 2024-03-09 04:06 → 2024-03-12 14:28\n"
        "cache: 1 list(s), 1,148 observations, 2016-09-19 14:03 → 2016-09-20 11:35\n"
        f"downloaded https://check.torproject.org/exit-addresses to {target}"
    )


@pytest.mark.parametrize(
    ("now", "said"),
    [
        (
            datetime(2024, 4, 11, 14, 28, tzinfo=UTC),
            "its newest test is 30 days before this computer's clock (2024-04-11 14:28 UTC): it "
            "does not say which addresses are exits now (a stale copy, or this computer's clock "
            "is ahead)",
        ),
        (
            datetime(2024, 3, 12, 10, 28, tzinfo=UTC),
            "its tests are dated up to 4 h after this computer's clock (2024-03-12 10:28 UTC): "
            "the clock is behind, and observations dated after it are not used",
        ),
    ],
    ids=["stale-or-clock-ahead", "clock-behind"],
)
def test_refresh_says_when_the_list_does_not_cover_now(
    tmp_path: Path, now: datetime, said: str
) -> None:
    """A current list whose newest test is days before the clock (a proxy's stale copy, or a
    clock that is ahead), or dated after it (a clock that is behind: those observations are
    not used), is saved, and the note says what it tested and that it does not cover now —
    it read as a plain "downloaded" whatever the list held."""
    result = tor.refresh(tmp_path, opener=FakeOpener(CHECK_2024.read_bytes()), now=now)
    assert result.ok and result.path is not None and result.path.is_file()
    assert result.note.endswith(
        " — it tested 1,174 exit(s) 2024-03-09 04:06 → 2024-03-12 14:28 UTC; " + said
    )


def test_refresh_says_a_list_of_few_exits_is_partial(tmp_path: Path) -> None:
    """A whole TorDNSEL list that names a handful of exits (a mirror's sample, a list cut
    exactly at a line's end) is saved, and the note says it is taken as partial."""
    one = (
        b"ExitNode 0011BD2485AD45D984EC4159C88FC066E5E3300E\n"
        b"Published 2024-03-12 01:01:01\nLastStatus 2024-03-12 02:00:00\n"
        b"ExitAddress 185.220.101.34 2024-03-12 14:01:01\n"
    )
    result = tor.refresh(tmp_path, opener=FakeOpener(one), now=NOW)
    assert result.ok
    assert result.note.endswith(
        " — it tested 1 exit(s) 2024-03-12 14:01 → 2024-03-12 14:01 UTC; it names 1 exit(s), "
        "fewer than 300: it is taken as partial (it can mark IPs as Tor, not rule Tor out)"
    )


def test_refresh_a_past_month_from_collector(tmp_path: Path) -> None:
    archive = tar_xz(_hourly_members())
    opener = FakeOpener(archive)
    result = tor.refresh(tmp_path, month="2018-11", opener=opener, timeout=5)
    url = "https://collector.torproject.org/archive/exit-lists/exit-list-2018-11.tar.xz"
    target = tmp_path / "exit-list-2018-11.tar.xz"
    assert result == tor.RefreshResult(
        True, url, target, f"downloaded {url} to {target}", downloaded=True
    )
    assert opener.calls == [(url, 5, "torinvest/0.1.0")]
    assert target.read_bytes() == archive

    again = tor.refresh(
        tmp_path, month=date(2018, 11, 1), opener=FakeOpener(error=AssertionError())
    )
    assert again == tor.RefreshResult(
        True, url, target, "exit-list-2018-11.tar.xz already cached; not downloaded"
    )
    lists = tor.load_exit_lists(cache_dir=tmp_path, refreshed=again, bundled=False)
    assert [(s.name, s.kind, s.format, s.observations) for s in lists.sources] == [
        ("cache:exit-list-2018-11.tar.xz", "cache", "archive", 1976)
    ]
    assert lists.notes == ["exit-list-2018-11.tar.xz already cached; not downloaded"]


def test_refresh_without_network_returns_a_note(tmp_path: Path) -> None:
    (tmp_path / "exit-addresses-2024-03-01T100000Z").write_bytes(CHECK_2024.read_bytes())
    (tmp_path / "exit-list-2018-11.tar.xz").write_bytes(b"")
    url = "https://check.torproject.org/exit-addresses"
    fallback = (
        "using cached lists dated 2018-11 … 2024-03-01 and bundled lists dated 2016-09-19 … "
        "2024-03-12"
    )
    cases = [
        (
            FakeOpener(
                error=urllib.error.URLError("[Errno -3] Temporary failure in name resolution")
            ),
            f"could not reach {url} ([Errno -3] Temporary failure in name resolution); {fallback}",
        ),
        (
            FakeOpener(error=TimeoutError("timed out")),
            f"could not reach {url} (TimeoutError: timed out); {fallback}",
        ),
        (
            lambda request, timeout: BrokenStream(b""),
            f"could not reach {url} (TimeoutError: The read operation timed out); {fallback}",
        ),
        (
            FakeOpener(b"<html><body>Please sign in to the hotel Wi-Fi</body></html>\n"),
            f"{url} did not return an exit list (not a Tor exit list: no readable ExitAddress "
            "line (first bad line 1: '<html><body>Please sign in to the hotel ')); "
            f"{fallback}",
        ),
    ]
    before = sorted(p.name for p in tmp_path.iterdir())
    for opener, note in cases:
        result = tor.refresh(tmp_path, opener=opener, now=NOW)
        assert result == tor.RefreshResult(False, url, None, note)
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_a_month_cached_before_it_ended_is_downloaded_again(tmp_path: Path) -> None:
    """The current month's archive grows hour by hour: a copy saved on the 15th holds half the
    month. It was kept for good ("already cached; not downloaded"), so the rest of the month
    stayed uncovered whatever the analyst ran; now a copy saved before its month ended is
    downloaded again, as a damaged one is, and the note says why."""
    archive = tar_xz(_hourly_members())
    url = "https://collector.torproject.org/archive/exit-lists/exit-list-2031-01.tar.xz"
    target = tmp_path / "exit-list-2031-01.tar.xz"
    first = tor.refresh(
        tmp_path, month="2031-01", opener=FakeOpener(archive), now=datetime(2031, 1, 15, tzinfo=UTC)
    )
    assert first.downloaded and first.path == target
    saved = datetime(2031, 1, 15, 12, 0, tzinfo=UTC).timestamp()
    os.utime(target, (saved, saved))
    opener = FakeOpener(archive)
    again = tor.refresh(
        tmp_path, month="2031-01", opener=opener, now=datetime(2031, 2, 3, tzinfo=UTC)
    )
    assert opener.calls == [(url, 30.0, "torinvest/0.1.0")]
    assert again.downloaded
    assert again.note == (
        f"downloaded {url} to {target} (the cached exit-list-2031-01.tar.xz was downloaded "
        "2031-01-15 12:00Z, before the month ended: it holds the lists up to then)"
    )
    # saved after the month ended (this download, on 2031-02-03): kept
    after = datetime(2031, 2, 3, tzinfo=UTC).timestamp()
    os.utime(target, (after, after))
    kept = tor.refresh(
        tmp_path,
        month="2031-01",
        opener=FakeOpener(error=AssertionError()),
        now=datetime(2031, 2, 4, tzinfo=UTC),
    )
    assert kept.note == "exit-list-2031-01.tar.xz already cached; not downloaded"


def test_refresh_month_not_published_and_empty_cache(tmp_path: Path) -> None:
    url = "https://collector.torproject.org/archive/exit-lists/exit-list-2031-01.tar.xz"
    error = urllib.error.HTTPError(url, 404, "Not Found", {}, None)  # type: ignore[arg-type]
    now = datetime(2031, 1, 15, tzinfo=UTC)  # the current month: not archived yet
    result = tor.refresh(tmp_path / "new", month="2031-01", opener=FakeOpener(error=error), now=now)
    assert result == tor.RefreshResult(
        False,
        url,
        None,
        f"could not reach {url} (HTTP 404 Not Found); "
        "using bundled lists dated 2016-09-19 … 2024-03-12",
    )
    assert list((tmp_path / "new").iterdir()) == []
    with pytest.raises(InputError, match="invalid month '2018-13'"):
        tor.refresh(tmp_path, month="2018-13", opener=FakeOpener())
    with pytest.raises(OptionsError, match="month 2031-02 has not happened yet") as caught:
        tor.refresh(tmp_path, month="2031-02", opener=FakeOpener(), now=now)
    assert caught.value.hint == "pass a month up to the current one, 2031-01 in UTC"


def test_refresh_rejects_an_archive_that_is_not_one(tmp_path: Path) -> None:
    url = "https://collector.torproject.org/archive/exit-lists/exit-list-2018-11.tar.xz"
    result = tor.refresh(tmp_path, month="2018-11", opener=FakeOpener(lzma.compress(b"x" * 10)))
    assert not result.ok and result.path is None
    assert result.note.startswith(f"{url} did not return an exit list (not a tar.xz archive")
    assert list(tmp_path.iterdir()) == []
