"""`torinvest tor check` and `torinvest tor refresh` (offline: the network is the dead proxy)."""

from __future__ import annotations

import io

from torinvest.cli import main


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    return main(list(argv), out=out, err=err), out.getvalue(), err.getvalue()


def test_check_at_event_time_years_before_and_uncovered() -> None:
    ip = "185.220.101.34"  # listed by the bundled history on 2023-07-10
    code, out, _ = run("tor", "check", ip, "--at", "2023-07-10T12:00:00Z")
    assert code == 0
    assert out.splitlines()[0] == f"{ip} at 2023-07-10 12:00Z (±24 h): a listed Tor exit"
    _, out, _ = run("tor", "check", ip, "--at", "2016-09-20T12:00:00Z")
    assert "not a listed Tor exit" in out.splitlines()[0]
    _, out, _ = run("tor", "check", ip, "--at", "2030-01-01T00:00:00Z")
    assert "unknown: no loaded list covers that time" in out


def test_check_refuses_a_non_ip() -> None:
    code, _, err = run("tor", "check", "not-an-ip")
    assert code == 1
    assert "not an IP address" in err


def test_refresh_without_network_says_so() -> None:
    code, out, _ = run("tor", "refresh")
    assert code == 1
    assert "could not reach https://check.torproject.org/exit-addresses" in out
    assert "bundled lists" in out
