"""What a "not Tor" rests on: lists that name relays by their OR address (dan.me.uk's lists,
the bundled interval file derived from them) miss an exit whose traffic leaves from another
address (TorDNSEL's ``ExitAddress``), and an attacker can pick such exits. Where only such lists
rule Tor out at a time, "not Tor" stands (the counts do not move) and every surface says what
it rests on: ``tor check``'s line, the per-IP table and ``per_ip.csv`` (``tor_caveat``),
``summary.json`` (``source_ips[].tor_caveat``, optional to its contract; one reading note) and
the terminal's note; where a list of measured exit addresses covers the time too, nothing is
said."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from torinvest import display, report, tor
from torinvest.case import sample_case
from torinvest.cli import main
from torinvest.cli.investigate import say_reading
from torinvest.display.answer import _tor_tile
from torinvest.investigation import (
    Investigation,
    call_caveats,
    investigate,
    sources_from_parameters,
)
from torinvest.report.folders import PER_IP_CSV

FINDING = "6dde0a8f8d46f6acad893b30f905e97c"  # the sample case's TorIPCaller finding
#: The sample case's one public source that no list names on 2023-07-10 (its calls 11:42–12:33
#: UTC): "not Tor" by the case's dan.me.uk lists and the bundled interval file — OR addresses.
NOT_LISTED = "167.99.201.43"
CAVEAT = "or_addresses_only"


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    return main(list(argv), out=out, err=err), out.getvalue(), err.getvalue()


def _frame(rows: list[tuple[str, str]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "event_time": pd.to_datetime([t for t, _ in rows], utc=True),
            "source_ip": pd.Series([ip for _, ip in rows], dtype=object),
        }
    )


# --------------------------------------------------------------------------------------------
# which lists name what
# --------------------------------------------------------------------------------------------
def test_each_list_says_what_its_addresses_are() -> None:
    assert tor.names_of("tordnsel", "exit-addresses") == "exit_addresses"
    assert tor.names_of("archive", "exit-list-2023-07.tar.xz") == "exit_addresses"
    assert tor.names_of("plain", "torbulkexitlist-2023-07-10.txt") == "exit_addresses"
    # the content cannot tell dan.me.uk's list from another plain list: the weaker reading
    assert tor.names_of("plain", "danmeuk-exit-2023-07-10.txt") == "or_addresses"
    assert tor.names_of("plain", "iocs-2023-07-10.txt") == "or_addresses"
    assert tor.names_of("interval", "exit_ip_intervals.csv.gz") == "or_addresses"

    index = {e["path"]: e["names"] for e in tor.bundled_index()}
    assert set(index.values()) <= set(tor.records.LIST_NAMES)
    assert index["secops-danmeuk/exit_ip_intervals.csv.gz"] == "or_addresses"
    assert [p for p, n in index.items() if n == "or_addresses"] == [
        "secops-danmeuk/exit_ip_intervals.csv.gz"
    ]
    lists = tor.load_exit_lists(sample_case().tor)
    names = {s.name: s.names for s in lists.sources}
    assert names == {
        **{f"bundled:{p}": n for p, n in index.items()},
        **{f"case:danmeuk-exit-2023-07-{d}.txt": "or_addresses" for d in ("09", "10", "11")},
    }
    assert {s.to_dict()["names"] for s in lists.sources} == {"exit_addresses", "or_addresses"}


def test_the_lists_described_mark_those_of_or_addresses() -> None:
    """What ``tor status``, ``tor check`` and the report say of the lists used: each kind's
    line says how many of its lists name relays by OR address; a kind without one says nothing."""
    lines = tor.load_exit_lists(sample_case().tor).describe().splitlines()
    marked = "of relays' OR addresses (dan.me.uk-style, not measured exit addresses), "
    assert lines[0].startswith(f"case: 3 list(s), all {marked}6,309 observations")
    assert lines[1].startswith(f"bundled: 9 list(s), 1 {marked}121,167 observations")
    code, out, _ = run("tor", "check", "8.8.4.7", "--at", "2023-07-10T12:00Z")
    assert code == 0 and f"bundled: 9 list(s), 1 {marked}" in out
    measured = tor.load_exit_lists(tor.bundled_dir() / "collector-exit-lists", bundled=False)
    assert "OR address" not in measured.describe()


def test_not_tor_by_or_address_lists_only_is_marked_and_nothing_else() -> None:
    lists = tor.load_exit_lists()  # the bundled history
    frame = _frame(
        [
            ("2023-07-10T12:00Z", "8.8.4.7"),  # the interval file only: OR addresses
            ("2018-10-31T12:00Z", "8.8.4.7"),  # CollecTor's measured lists cover it too
            ("2023-07-10T12:00Z", "185.220.101.34"),  # listed: Tor
            ("2023-07-10T12:00Z", "10.0.0.1"),  # private: never an exit, whatever the lists
            ("2030-01-01T00:00Z", "8.8.4.7"),  # no list: unknown
            ("2019-12-08T12:00Z", "2001:db9::1"),  # the interval file's IPv6 exits only
        ]
    )
    frame["tor"] = tor.tor_status(frame, lists)
    assert frame["tor"].tolist() == [False, False, True, False, pd.NA, False]
    assert tor.or_only(frame, lists).tolist() == [True, False, False, False, False, True]
    # a time bucket: "not Tor" throughout it, by OR-address lists only
    hour = _frame([("2023-07-10T12:00Z", "8.8.4.7"), ("2018-10-31T12:00Z", "8.8.4.7")])
    hour["tor"] = tor.tor_status(hour, lists, span="1h")
    assert tor.or_only(hour, lists, span="1h").tolist() == [True, False]


def test_tor_check_says_what_its_not_tor_rests_on() -> None:
    code, out, err = run("tor", "check", "8.8.4.7", "--at", "2023-07-10T12:00Z")
    assert code == 0, err
    assert out.splitlines()[0] == (
        "8.8.4.7 at 2023-07-10 12:00Z (±24 h): not a listed Tor exit — not listed by an "
        "OR-address list (exits whose traffic leaves from another address are not in it); no "
        "list of measured exit addresses covers that time"
    )
    _, out, _ = run("tor", "check", "8.8.4.7", "--at", "2018-10-31T12:00Z")
    assert out.splitlines()[0].endswith("(±24 h): not a listed Tor exit")


# --------------------------------------------------------------------------------------------
# an investigation: the sample case
# --------------------------------------------------------------------------------------------
def _measured_list(case: Path) -> None:
    """A TorDNSEL list of 2023-07-10 in ``case``/tor/: the IPv4 exits dan.me.uk names that day
    (a real list's size), tested from 10:00 to 14:00 UTC — measured exit addresses covering
    the sample's calls; it does not name :data:`NOT_LISTED`."""
    exits = [
        ip
        for ip in (case / "tor" / "danmeuk-exit-2023-07-10.txt").read_text().split()
        if ":" not in ip
    ]
    assert NOT_LISTED not in exits and len(exits) > 1000
    lines = []
    for n, ip in enumerate(exits):
        tested = "2023-07-10 14:00:00" if n % 2 else "2023-07-10 10:00:00"
        lines += [f"ExitNode {n:040X}", "Published 2023-07-10 09:00:00", f"LastStatus {tested}"]
        lines.append(f"ExitAddress {ip} {tested}")
    (case / "tor" / "exit-addresses-2023-07-10").write_text("\n".join(lines) + "\n")


def _investigate(case: Path, **options: Any) -> Investigation:
    return investigate(FINDING, sources_from_parameters(case_dir=str(case), **options))


def _summary(inv: Investigation) -> dict[str, Any]:
    data = json.loads(json.dumps(report.summary_data(inv), default=str))
    return report.check_summary_data(data)


@pytest.mark.parametrize("engine", ["files", "duckdb-counted"])
def test_an_investigation_says_it_in_every_surface(tmp_path: Path, engine: str) -> None:
    options = {"duckdb-counted": {"engine": "duckdb", "max_rows": 10}}.get(engine, {})
    inv = _investigate(sample_case().root, **options)
    assert inv.counted is (engine == "duckdb-counted")
    assert inv.totals()["from_tor"] == 24  # the counts stand: "not Tor" is not "unknown"
    assert inv.tor_or_only == frozenset({NOT_LISTED})

    # the per-IP table and per_ip.csv
    shown = display.per_ip_frame(inv)
    cells = dict(zip(shown["source_ip"], shown["tor"], strict=True))
    assert cells[NOT_LISTED] == tor.OR_ONLY_LABEL
    assert cells["10.248.16.43"] == "not Tor"  # private: never an exit, no caveat
    assert cells["185.220.101.34"] == "Tor"
    report.export_tables(inv, tmp_path)
    with (tmp_path / PER_IP_CSV).open(newline="", encoding="utf-8") as f:
        caveats = {r["source_ip"]: (r["tor"], r["tor_caveat"]) for r in csv.DictReader(f)}
    assert caveats[NOT_LISTED] == ("false", CAVEAT)
    assert caveats["10.248.16.43"] == ("false", "")

    # summary.json: the field, one note (no data issue), valid to its contract
    data = _summary(inv)
    by_ip = {s["ip"]: s for s in data["source_ips"]}
    assert (by_ip[NOT_LISTED]["tor"], by_ip[NOT_LISTED]["tor_caveat"]) == (False, CAVEAT)
    assert {ip for ip, s in by_ip.items() if s["tor_caveat"]} == {NOT_LISTED}
    [note] = [n for n in data["reading_notes"] if "OR address" in n]
    assert note.startswith("1 source IP(s) are 'not Tor' only by lists that name relays by ")
    assert tor.OR_ONLY_TEXT in note
    assert not [i for i in data["data_issues"] if "OR address" in i["problem"]]

    # the terminal says the note; the answer's Tor tile too
    err = io.StringIO()
    say_reading(data, err)
    assert f"torinvest: note: {note}" in err.getvalue().splitlines()
    tile = _tor_tile(inv, "counted" if inv.counted else "events")
    assert "1 source IP(s) 'not Tor' by OR-address lists only" in tile

    # a sensitive call: its own caveat (the sample's calls from that IP are not sensitive:
    # the private address's GetAccountAuthorizationDetails is made its)
    sensitive = inv.sensitive.copy()
    first = sensitive.index[0]
    assert not sensitive.loc[first, "tor"]
    sensitive["source_ip"] = sensitive["source_ip"].astype(object)
    sensitive.loc[first, "source_ip"] = NOT_LISTED
    inv.sensitive = sensitive.assign(tor_caveat=call_caveats(sensitive, inv.lists))
    assert inv.sensitive["tor_caveat"].fillna("").tolist() == [CAVEAT] + [""] * (len(sensitive) - 1)
    assert "not Tor (OR-address lists only)" in display.sensitive_table(inv).data
    calls = [c for c in _summary(inv)["sensitive_events"] if c["source_ip"] == NOT_LISTED]
    assert [(c["tor"], c["tor_caveat"]) for c in calls] == [(False, CAVEAT)]


def test_a_measured_list_of_the_day_takes_the_caveat_away(tmp_path: Path) -> None:
    case = tmp_path / "case"
    shutil.copytree(sample_case().root, case)
    _measured_list(case)
    inv = _investigate(case)
    assert not inv.lists.issues  # not taken as cut short: it names as many exits as dan.me.uk
    assert inv.totals()["from_tor"] == 24
    assert inv.tor_or_only == frozenset()
    data = _summary(inv)
    by_ip = {s["ip"]: s for s in data["source_ips"]}
    assert (by_ip[NOT_LISTED]["tor"], by_ip[NOT_LISTED]["tor_caveat"]) == (False, None)
    assert not [n for n in data["reading_notes"] if "OR address" in n]
    shown = display.per_ip_frame(inv)
    assert shown.loc[shown["source_ip"] == NOT_LISTED, "tor"].tolist() == ["not Tor"]
    assert "OR-address" not in _tor_tile(inv, "events")


def test_a_summary_written_before_the_caveat_still_conforms() -> None:
    """``tor_caveat`` is optional: a summary of an earlier torinvest has none."""
    inv = _investigate(sample_case().root)
    data = _summary(inv)
    for entry in data["source_ips"]:
        del entry["tor_caveat"]
    assert report.summary_problems(data) == []
