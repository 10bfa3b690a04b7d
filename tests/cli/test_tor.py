"""`torinvest tor check` and `torinvest tor refresh` (offline: the network is the dead proxy)."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import pytest

from torinvest.cli import main
from torinvest.errors import EXIT_COULD_NOT_LOOK


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    return main(list(argv), out=out, err=err), out.getvalue(), err.getvalue()


def test_check_at_event_time_years_before_and_uncovered() -> None:
    ip = "185.220.101.34"  # listed by the bundled history on 2023-07-10
    code, out, _ = run("tor", "check", ip, "--at", "2023-07-10T12:00:00Z")
    assert code == 0
    assert out.splitlines()[0] == f"{ip} at 2023-07-10 12:00Z (±24 h): a listed Tor exit"
    _, out, _ = run("tor", "check", ip, "--at", "2016-09-20T10:00:00Z")
    assert "not a listed Tor exit" in out.splitlines()[0]
    _, out, _ = run("tor", "check", ip, "--at", "2030-01-01T00:00:00Z")
    assert "unknown: no loaded list covers that time" in out


def test_check_near_a_snapshot_that_tested_its_exits_days_apart_is_never_not_tor() -> None:
    """The bundled 2024-03-12 TorDNSEL list names 192.42.116.19 (tested 2024-03-12 13:18) and
    tested a few exits on 2024-03-09: no time is within 24 h of all its tests, so it never says
    "not Tor" — a day before that exit's test is unknown, not "not a listed Tor exit"."""
    _, out, _ = run("tor", "check", "192.42.116.19", "--at", "2024-03-11T12:00Z")
    assert out.splitlines()[0].endswith("unknown: no loaded list covers that time")
    _, out, _ = run("tor", "check", "192.42.116.19", "--at", "2024-03-12T12:00Z")
    assert out.splitlines()[0].endswith(": a listed Tor exit")
    _, out, _ = run("tor", "check", "8.8.4.7", "--at", "2024-03-10T12:00Z")
    assert "not a listed Tor exit" not in out


def test_check_an_ipv6_source_against_lists_of_ipv4_exits_is_unknown() -> None:
    _, out, _ = run("tor", "check", "2001:620:20d0::19", "--at", "2024-03-12T12:00Z")
    assert out.splitlines()[0] == (
        "2001:620:20d0::19 at 2024-03-12 12:00Z (±24 h): "
        "unknown: no loaded list that names IPv6 exits covers that time"
    )
    # the bundled dan.me.uk intervals name IPv6 exits on some days: there it can rule Tor out
    # (by OR address only: the verdict says so)
    _, out, _ = run("tor", "check", "2001:db9::1", "--at", "2019-12-08T12:00Z")
    assert ": not a listed Tor exit — not listed by an OR-address list" in out.splitlines()[0]


def test_check_refuses_a_non_ip() -> None:
    code, _, err = run("tor", "check", "not-an-ip")
    assert code == 2  # a usage error: the value of an argument
    assert "not an IP address" in err


def test_refresh_without_network_says_so() -> None:
    code, out, err = run("tor", "refresh")
    assert (code, out) == (EXIT_COULD_NOT_LOOK, "")  # an error, on stderr, as in every command
    assert err.startswith("torinvest: error: could not reach https://check.torproject.org/")
    assert "bundled lists" in err


def test_check_with_a_one_address_case_list_never_says_not_tor(tmp_path: Path) -> None:
    """2019-06-30 is a gap of the bundled lists: a one-address IOC list can make its address
    Tor, but not rule Tor out for the finding's Tor IP; the lists are named one a line."""
    (tmp_path / "tor").mkdir()
    (tmp_path / "tor" / "iocs-2019-06-30.txt").write_text("203.0.113.9\n")
    code, out, err = run(
        "tor", "check", "185.220.101.34", "--at", "2019-06-30T12:00Z", "--case", str(tmp_path)
    )
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].endswith(": unknown: no loaded list covers that time")
    assert "\\n" not in out
    assert lines[2].startswith(
        "  lists: case: 1 list(s), all of relays' OR addresses (dan.me.uk-style, not measured "
        "exit addresses), 1 observations, 2019-06-30 00:00"
    )
    assert lines[3].startswith("         bundled: 9 list(s)")
    assert lines[4] == (
        "         1 list taken as partial (1 address, fewer than 300 distinct exits in a file or "
        "a day: case:iocs-2019-06-30.txt): it can mark IPs as Tor, not rule Tor out"
    )
    _, out, _ = run(
        "tor", "check", "203.0.113.9", "--at", "2019-06-30T12:00Z", "--case", str(tmp_path)
    )
    assert out.splitlines()[0].endswith(": a listed Tor exit")


def test_check_prints_each_list_issue_and_counts_unreadable_files_apart(tmp_path: Path) -> None:
    tor_dir = tmp_path / "tor"
    tor_dir.mkdir()
    (tor_dir / "ports-2023-07-10.txt").write_text("1.2.3.4:443\n192.0.2.1\n")  # read, 1 skipped
    (tor_dir / "empty-2023-07-10.txt").write_text("")
    (tor_dir / "\x1b[31mred-2023-07-10.txt").write_text("<html>\n")
    (tor_dir / "future-2099-01-01.txt").write_text("8.8.4.4\n")
    code, out, err = run(
        "tor", "check", "8.8.4.4", "--at", "2099-01-01T12:00Z", "--case", str(tmp_path)
    )
    assert code == 0
    assert out.splitlines()[0].endswith(": unknown: no loaded list covers that time")
    assert "         3 file(s) could not be read" in out.splitlines()
    assert "         1 file(s) read with issues (some lines or observations not used)" in out
    assert ".issues" not in out
    issues = [line for line in err.splitlines() if line.startswith("torinvest: issue: ")]
    assert len(issues) == 4, err
    assert "\x1b" not in err
    assert any("future-2099-01-01.txt: 1 observation(s) dated after now" in i for i in issues)
    assert any("ports-2023-07-10.txt: 1 of 2 lines skipped" in i for i in issues)


def test_refresh_refuses_a_month_that_has_not_happened() -> None:
    code, out, err = run("tor", "refresh", "--month", "2099-01")
    assert code == 2
    month = datetime.now(UTC).strftime("%Y-%m")
    assert err.strip() == (
        "torinvest: error: month 2099-01 has not happened yet "
        f"(pass a month up to the current one, {month} in UTC)"
    )
    assert out == ""
    code, _, err = run("tor", "refresh", "--month", "2018-13")
    assert code == 2
    assert "invalid month '2018-13'" in err


def test_refresh_into_a_cache_that_is_a_file_names_torinvest_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "afile").write_text("x")
    monkeypatch.setenv("TORINVEST_CACHE", str(tmp_path / "afile"))
    code, _, err = run("tor", "refresh")
    assert code == 1
    assert "cannot create the Tor list cache" in err
    assert "TORINVEST_CACHE" in err
    assert "cache_dir" not in err


@pytest.mark.parametrize("command", ["investigate", "notebook"])
def test_a_missing_exit_list_is_a_usage_error_before_any_work(command: str, tmp_path: Path) -> None:
    """`--exit-list` naming nothing is refused (exit 2) before a kernel starts or a folder is
    made, as a bad `--geoip` is: never a whole report whose calls the list was meant to cover."""
    from torinvest.case import sample_case

    missing = tmp_path / "nonexist"
    out = tmp_path / "out"
    code, _, err = run(
        command, "6dde0a8f8d46f6acad893b30f905e97c", "--case", str(sample_case().root),
        "--exit-list", str(missing), "--out", str(out),
    )  # fmt: skip
    assert code == 2, err
    (line,) = [x for x in err.splitlines() if x.startswith("torinvest: error:")]
    assert f"--exit-list / exit_lists: {missing}: no such file or folder" in line
    assert not out.exists()


def test_the_notebook_parameter_exit_lists_is_checked_before_anything_is_read(
    tmp_path: Path,
) -> None:
    from torinvest.case import sample_case
    from torinvest.errors import OptionsError
    from torinvest.parameters import sources_from_parameters

    case = str(sample_case().root)
    with pytest.raises(OptionsError, match="no such file or folder"):
        sources_from_parameters(case_dir=case, exit_lists=str(tmp_path / "nonexist"))
    (tmp_path / "lists").mkdir()
    (tmp_path / "lists" / "exits-2023-07-10.txt").write_text("185.220.101.34\n")
    both = f"{tmp_path / 'lists'},{tmp_path / 'lists' / 'exits-2023-07-10.txt'}"
    sources = sources_from_parameters(case_dir=case, exit_lists=both)
    assert len(sources.exit_lists) == 2
