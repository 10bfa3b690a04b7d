"""Exit lists cut exactly at the end of a line (a close-delimited download, a copy that stopped
early): nothing in the file shows the cut, so a single list naming far fewer IPv4 exits than the
list nearest it in time (tor.SHORT_SHARE) is taken as cut — its addresses are Tor, it never
rules Tor out —, and `tor refresh` never saves such a download (offline: a local HTTP server).
"""

from __future__ import annotations

import http.server
import io
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from torinvest import tor
from torinvest.case import sample_case
from torinvest.cli import main
from torinvest.cli.output import PARTIAL_MARK
from torinvest.errors import EXIT_COULD_NOT_LOOK
from torinvest.tor.parsers import cut_short

#: 1,200 exits (a real list's size), tested on 2025-01-10: after the bundled history.
EXITS = [f"45.{i // 200}.{i % 200}.7" for i in range(1200)]
WHEN = "2025-01-10 12:00:00"
AT = "2025-01-10T12:00Z"
KEPT = EXITS[10]  # in the first half: in every cut list
DROPPED = EXITS[1100]  # only in the part that was cut off
NOT_TOR = "8.8.4.7"  # in no list
URL = tor.EXIT_ADDRESSES_URL
BUNDLED_2024 = "bundled:collector-exit-lists/check.torproject.org_exit-addresses_2024-03-12"
ONE_DAY = pd.Timedelta(hours=24)


def _tordnsel(n: int = len(EXITS), when: str = WHEN) -> bytes:
    """The first ``n`` exits of :data:`EXITS` as a TorDNSEL list: whole entries, so a list of
    fewer is one cut exactly at the end of a line (after an ExitAddress line)."""
    lines = []
    for i, ip in enumerate(EXITS[:n]):
        lines += [f"ExitNode {i:040X}", f"Published {when}", f"LastStatus {when}"]
        lines.append(f"ExitAddress {ip} {when}")
    return ("\n".join(lines) + "\n").encode()


def _plain(n: int = len(EXITS)) -> bytes:
    return ("\n".join(EXITS[:n]) + "\n").encode()


#: name → (file name, whole list, the list cut at the end of a line after half its exits)
FORMATS = {
    "tordnsel": ("exit-addresses-2025-01-10", _tordnsel(), _tordnsel(600)),
    "plain": ("exits-2025-01-10.txt", _plain(), _plain(600)),
}


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    return main(list(argv), out=out, err=err), out.getvalue(), err.getvalue()


@pytest.fixture(autouse=True)
def _empty_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORINVEST_CACHE", str(tmp_path / "cache"))


def _status(ip: str, lists: tor.ExitLists) -> bool | None:
    return tor.ip_status(ip, pd.Timestamp(AT), lists, ONE_DAY)


# --------------------------------------------------------------------------------------------
# lists read from disk: a case's tor/, an --exit-list file, the cache
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", list(FORMATS))
def test_a_list_cut_at_a_line_end_does_not_rule_tor_out(tmp_path: Path, fmt: str) -> None:
    name, whole, cut = FORMATS[fmt]
    assert cut_short(cut, fmt) is None  # nothing in the file shows the cut
    (tmp_path / "whole").mkdir()
    (tmp_path / "whole" / name).write_bytes(whole)
    lists = tor.load_exit_lists(tmp_path / "whole" / name)
    assert (_status(NOT_TOR, lists), _status(DROPPED, lists)) == (False, True)
    assert lists.issues == []

    path = tmp_path / name
    path.write_bytes(cut)
    lists = tor.load_exit_lists(path)
    assert (_status(KEPT, lists), _status(DROPPED, lists), _status(NOT_TOR, lists)) == (
        True,
        None,
        None,
    )
    (source,) = [s for s in lists.sources if s.kind == "case"]
    assert (source.rules_out, source.short_of) == (False, BUNDLED_2024)
    (issue,) = lists.issues
    assert issue.source == str(path)
    assert issue.problem.startswith(
        f"it names 600 IPv4 exit(s), fewer than 60% of the 1,174 named by {BUNDLED_2024} "
        "(2024-03-12 14:28Z), the list nearest it in time: it is taken as cut short at the end "
        "of a line"
    )
    assert "download it again, or check the copy" in issue.problem
    assert "taken as cut at the end of a line" in lists.describe()


def test_the_events_of_a_list_cut_at_a_line_end_are_tor_or_unknown(tmp_path: Path) -> None:
    """The tor column investigate counts and the report shows: no call is 'not Tor'."""
    name, _, cut = FORMATS["tordnsel"]
    (tmp_path / name).write_bytes(cut)
    lists = tor.load_exit_lists(tmp_path)
    events = pd.DataFrame(
        {
            "event_time": pd.to_datetime([AT] * 4, utc=True),
            "source_ip": pd.Categorical([KEPT, DROPPED, NOT_TOR, "AWS Internal"]),
        }
    )
    events["tor"] = tor.tor_status(events, lists)
    assert events["tor"].tolist() == [True, pd.NA, pd.NA, False]
    assert tor.unknown_reasons(events, lists).tolist()[1:3] == ["time", "time"]


def test_tor_check_with_a_case_list_cut_at_a_line_end_says_unknown(tmp_path: Path) -> None:
    name, _, cut = FORMATS["tordnsel"]
    (tmp_path / "tor").mkdir()
    (tmp_path / "tor" / name).write_bytes(cut)
    code, out, err = run("tor", "check", DROPPED, "--at", AT, "--case", str(tmp_path))
    assert code == 0
    assert out.splitlines()[0].endswith(": unknown: no loaded list covers that time")
    assert (
        f"1 list taken as cut at the end of a line (far fewer exits than the list nearest in "
        f"time: case:{name}, vs {BUNDLED_2024}): it can mark IPs as Tor, not rule Tor out"
    ) in out
    assert f"torinvest: issue: {tmp_path / 'tor' / name}: it names 600 IPv4 exit(s)" in err
    assert any(line.startswith(PARTIAL_MARK) for line in err.splitlines())
    code, out, err = run("tor", "check", NOT_TOR, "--at", AT, "--case", str(tmp_path))
    assert out.splitlines()[0].endswith(": unknown: no loaded list covers that time")
    code, out, err = run("tor", "check", KEPT, "--at", AT, "--case", str(tmp_path))
    assert out.splitlines()[0].endswith(": a listed Tor exit")


def test_a_cached_download_is_compared_with_the_previous_one(tmp_path: Path) -> None:
    """A whole download on 2025-01-09 and one cut at a line end on 2025-01-10 (an earlier
    version saved it): the cut one no longer rules Tor out; the whole ones still do."""
    cache = tmp_path / "cache" / "tor"
    cache.mkdir(parents=True)
    (cache / "exit-addresses-2025-01-09T120000Z").write_bytes(_tordnsel(when="2025-01-09 12:00:00"))
    (cache / "exit-addresses-2025-01-10T120000Z").write_bytes(_tordnsel(700))
    (cache / "exit-addresses-2025-01-11T120000Z").write_bytes(_tordnsel(when="2025-01-11 12:00:00"))
    lists = tor.load_exit_lists(cache_dir=cache)
    assert {s.name: s.short_of for s in lists.sources if s.kind == "cache"} == {
        "cache:exit-addresses-2025-01-09T120000Z": None,
        "cache:exit-addresses-2025-01-10T120000Z": "cache:exit-addresses-2025-01-09T120000Z",
        "cache:exit-addresses-2025-01-11T120000Z": None,
    }
    hour = pd.Timedelta(hours=1)  # the whole lists of the days before and after are not near
    at = pd.Timestamp(AT)
    assert [tor.ip_status(ip, at, lists, hour) for ip in (KEPT, DROPPED, NOT_TOR)] == [
        True,
        None,
        None,
    ]
    day_before = pd.Timestamp("2025-01-09T12:00Z")
    assert tor.ip_status(NOT_TOR, day_before, lists, hour) is False
    _, out, err = run("tor", "check", NOT_TOR, "--at", AT, "--tolerance-hours", "1")
    assert out.splitlines()[0].endswith(": unknown: no loaded list covers that time")
    assert "cache/tor/exit-addresses-2025-01-10T120000Z: it names 700 IPv4 exit(s), " in err
    assert "of the 1,200 named by cache:exit-addresses-2025-01-09T120000Z" in err


@pytest.mark.parametrize(("kept", "short"), [(780, False), (720, False), (719, True)])
def test_the_threshold_is_a_share_of_the_nearest_list(
    tmp_path: Path, kept: int, short: bool
) -> None:
    """60 % of the previous list's 1,200 exits: 720 still vouch (a real list never drops below
    0.70 of an earlier one), 719 are taken as cut."""
    (tmp_path / "exits-2025-01-09.txt").write_bytes(_plain())
    (tmp_path / "exits-2025-01-10.txt").write_bytes(_plain(kept))
    lists = tor.load_exit_lists(tmp_path, bundled=False)
    assert [s.name for s in lists.sources if not s.rules_out] == (
        ["case:exits-2025-01-10.txt"] if short else []
    )


def test_real_lists_are_never_taken_as_cut(tmp_path: Path) -> None:
    """The bundled single lists (2016 → 2024, TorDNSEL and bulk), the sample case's dan.me.uk
    lists and the dan.me.uk fixtures of 2018-11: real lists of several sources side by side."""
    fixtures = Path(__file__).parent.parent / "fixtures" / "tor" / "danmeuk-daily"
    lists = tor.load_exit_lists(sample_case().tor, fixtures)
    assert [s.name for s in lists.sources if s.short_of] == []
    assert [i for i in lists.issues if "IPv4 exit(s)" in i.problem] == []
    assert tor.short_lists(lists) == {}


def test_an_ipv6_list_and_small_lists_are_not_compared(tmp_path: Path) -> None:
    """A list of IPv6 exits names no IPv4 exit; a hand-made list is partial already."""
    v6 = [f"2001:db8:{i:x}::1" for i in range(400)]
    (tmp_path / "v6-2025-01-10.txt").write_text("\n".join(v6) + "\n")
    (tmp_path / "iocs-2025-01-10.txt").write_text(f"{KEPT}\n")
    lists = tor.load_exit_lists(tmp_path)
    assert [s.short_of for s in lists.sources if s.kind == "case"] == [None, None]
    assert lists.issues == []


# --------------------------------------------------------------------------------------------
# tor refresh: a local HTTP server
# --------------------------------------------------------------------------------------------
@dataclass
class Served:
    """What the server sends: ``body``, framed by ``framing``: ``close`` (no Content-Length,
    the end of the body is the end of the connection), ``length`` (a Content-Length that
    matches), ``chunked`` (whole chunks; ``cut`` stops without the last, empty one)."""

    body: bytes = b""
    framing: str = "close"
    cut: bool = False


@pytest.fixture
def server() -> Iterator[tuple[Served, str]]:
    served = Served()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            if served.framing == "length":
                self.send_header("Content-Length", str(len(served.body)))
            elif served.framing == "chunked":
                self.send_header("Transfer-Encoding", "chunked")
            else:
                self.send_header("Connection", "close")
            self.end_headers()
            if served.framing == "chunked":
                for at in range(0, len(served.body), 8192):
                    chunk = served.body[at : at + 8192]
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                if not served.cut:
                    self.wfile.write(b"0\r\n\r\n")
            else:
                self.wfile.write(served.body)
            self.wfile.flush()
            self.close_connection = True

        def log_message(self, *args: Any) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield served, f"http://127.0.0.1:{httpd.server_port}/exit-addresses"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def _opener(local: str) -> tor.Opener:
    """Opens ``local`` whatever the request's URL (the fixed https one), with urllib itself."""
    return lambda request, timeout: urllib.request.urlopen(local, timeout=timeout)


NOW = datetime(2025, 1, 10, 13, 0, tzinfo=UTC)


def test_refresh_refuses_a_close_delimited_download_cut_at_a_line_end(
    tmp_path: Path, server: tuple[Served, str]
) -> None:
    served, local = server
    cache = tmp_path / "tor"
    cache.mkdir()
    previous = cache / "exit-addresses-2025-01-10T080000Z"
    previous.write_bytes(_tordnsel(when="2025-01-10 08:00:00"))
    served.body = _tordnsel(600)
    result = tor.refresh(cache, opener=_opener(local), now=NOW)
    assert not result.ok and result.path is None
    assert sorted(p.name for p in cache.iterdir()) == [previous.name]  # the old one kept
    assert result.note.startswith(
        f"{URL} returned a suspect exit list (it names 600 IPv4 exit(s), fewer than 60% of the "
        f"1,200 named by {previous} (2025-01-10 08:00Z), the last list known for it: it is "
        "taken as cut short at the end of a line; the server sent neither a Content-Length nor "
        "a chunked body, so HTTP gives no way to tell whether the download is whole); not "
        "saved: using cached lists dated 2025-01-10 … 2025-01-10 and bundled lists"
    )
    served.body = _tordnsel(when="2025-01-10 12:00:00")  # the whole list: no word on HTTP
    result = tor.refresh(cache, opener=_opener(local), now=NOW)
    assert result.ok and result.path == cache / "exit-addresses-2025-01-10T130000Z"
    assert result.note == f"downloaded {URL} to {result.path}"


def test_refresh_compares_with_the_bundled_copy_when_nothing_is_cached(
    tmp_path: Path, server: tuple[Served, str]
) -> None:
    served, local = server
    served.body, served.framing = _tordnsel(600), "length"
    result = tor.refresh(tmp_path, opener=_opener(local), now=NOW)
    assert not result.ok and list(tmp_path.iterdir()) == []
    assert f"fewer than 60% of the 1,174 named by {BUNDLED_2024} (2024-03-12 14:28Z)" in result.note
    assert "HTTP says the download is whole: the server sent a short list" in result.note


def test_refresh_says_a_cut_chunked_body_is_cut_short(
    tmp_path: Path, server: tuple[Served, str]
) -> None:
    served, local = server
    served.body, served.framing, served.cut = _tordnsel(), "chunked", True
    result = tor.refresh(tmp_path, opener=_opener(local), now=NOW)
    assert not result.ok and list(tmp_path.iterdir()) == []
    assert result.note.startswith(
        f"{URL} did not return an exit list (it is cut short: the connection closed before the "
        "end of the response, IncompleteRead("
    )
    served.cut = False
    assert tor.refresh(tmp_path, opener=_opener(local), now=NOW).ok


def test_tor_refresh_keeps_the_cached_list_and_exits_1(
    tmp_path: Path, server: tuple[Served, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    served, local = server
    cache = tmp_path / "cache" / "tor"
    cache.mkdir(parents=True)
    previous = cache / "exit-addresses-2025-01-10T080000Z"
    previous.write_bytes(_tordnsel())
    served.body = _tordnsel(500)
    real = tor.refresh
    monkeypatch.setattr(tor, "refresh", lambda c, **kw: real(c, opener=_opener(local), **kw))
    code, out, err = run("tor", "refresh")
    assert (code, out) == (EXIT_COULD_NOT_LOOK, "")
    (line,) = err.splitlines()
    assert line.startswith(f"torinvest: error: {URL} returned a suspect exit list (it names 500 ")
    assert "HTTP gives no way to tell whether the download is whole); not saved: " in line
    assert sorted(p.name for p in cache.iterdir()) == [previous.name]
    code, out, err = run("tor", "check", DROPPED, "--at", AT)
    assert out.splitlines()[0].endswith(": a listed Tor exit")


def test_a_short_list_cached_earlier_never_blocks_a_whole_download(
    tmp_path: Path, server: tuple[Served, str]
) -> None:
    """An earlier version saved a download cut at a line end: the whole list is saved next, and
    the cut one no longer rules Tor out beside it."""
    served, local = server
    cache = tmp_path / "tor"
    cache.mkdir()
    (cache / "exit-addresses-2025-01-10T080000Z").write_bytes(_tordnsel(500, "2025-01-10 08:00:00"))
    served.body = _tordnsel(when="2025-01-10 12:00:00")
    result = tor.refresh(cache, opener=_opener(local), now=NOW)
    assert result.ok and result.note == f"downloaded {URL} to {result.path}"
    lists = tor.load_exit_lists(cache_dir=cache, now=NOW)
    assert {s.name: s.short_of for s in lists.sources if s.kind == "cache"} == {
        "cache:exit-addresses-2025-01-10T080000Z": "cache:exit-addresses-2025-01-10T130000Z",
        "cache:exit-addresses-2025-01-10T130000Z": None,
    }


def test_accept_short_saves_a_list_of_a_network_that_really_shrank(
    tmp_path: Path, server: tuple[Served, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Tor network loses half its exits: refresh refuses, `--accept-short` saves the list
    (still not ruling Tor out beside the larger one before it), and the next download of the
    same size is saved as it is and rules Tor out again — never stuck on the old size."""
    served, local = server
    cache = tmp_path / "cache" / "tor"
    cache.mkdir(parents=True)
    (cache / "exit-addresses-2025-01-10T080000Z").write_bytes(_tordnsel(when="2025-01-10 08:00:00"))
    real = tor.refresh
    clock = iter([NOW, NOW, NOW + timedelta(hours=1)])
    monkeypatch.setattr(
        tor, "refresh", lambda c, **kw: real(c, opener=_opener(local), now=next(clock), **kw)
    )
    served.body = _tordnsel(500, "2025-01-10 12:00:00")
    code, _out, err = run("tor", "refresh")
    assert (
        code == EXIT_COULD_NOT_LOOK
        and "(if the Tor network really shrank: `torinvest tor refresh " in err
    )
    code, out, err = run("tor", "refresh", "--accept-short")
    assert (code, err) == (0, "")
    assert out.startswith("torinvest: ok: downloaded ")
    assert "(saved with --accept-short though it names 500 IPv4 exit(s), fewer than 60%" in out
    lists = tor.load_exit_lists(cache_dir=cache, now=NOW)
    assert [s.short_of for s in lists.sources if s.kind == "cache"] == [
        None,
        "cache:exit-addresses-2025-01-10T080000Z",
    ]
    served.body = _tordnsel(500, "2025-01-10 13:00:00")
    code, out, err = run("tor", "refresh")
    assert (code, err) == (0, "") and "--accept-short" not in out
    lists = tor.load_exit_lists(cache_dir=cache, now=NOW + timedelta(hours=1))
    newest = max((s for s in lists.sources if s.kind == "cache"), key=lambda s: s.last_seen)
    assert newest.short_of is None and newest.rules_out
    code, _out, err = run("tor", "refresh", "--accept-short", "--month", "2024-12")
    assert code == 2 and "--accept-short applies to the current list" in err
