"""Exit lists cut short (a download or a copy that stopped early): the addresses they keep are
Tor, but they never rule Tor out — where only cut lists cover a time, the answer is unknown;
and `tor refresh` never keeps a cut download (offline: a fake opener)."""

from __future__ import annotations

import io
import lzma
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.tor.archives import tar_xz
from torinvest import tor
from torinvest.cli import main
from torinvest.errors import EXIT_COULD_NOT_LOOK

#: 1,200 exits (a real list's size: one naming far fewer than the bundled lists is taken as cut
#: at a line end, tor.SHORT_SHARE), listed on 2025-01-10: after the bundled history.
EXITS = [f"45.{i // 200}.{i % 200}.7" for i in range(1200)]
WHEN = "2025-01-10 12:00:00"
#: A TorDNSEL list tests its exits at different times: the even ones at WHEN, the odd ones an
#: hour later; a whole list rules Tor out only between its oldest and newest test (12:00–13:00).
LATER = "2025-01-10 13:00:00"
AT = "2025-01-10T12:30Z"
KEPT = EXITS[10]  # in the first part of every cut list
DROPPED = EXITS[1190]  # only in the part that was cut off
NOT_TOR = "8.8.4.7"  # in no list


def _tordnsel(when: str = WHEN, later: str = LATER) -> str:
    """Every exit of :data:`EXITS`, the even ones tested at ``when``, the odd ones at ``later``."""
    lines = []
    for n, ip in enumerate(EXITS):
        tested = later if n % 2 else when
        lines += [f"ExitNode {n:040X}", f"Published {WHEN}", f"LastStatus {tested}"]
        lines.append(f"ExitAddress {ip} {tested}")
    return "\n".join(lines) + "\n"


def _interval() -> str:
    rows = [f"{ip},2025-01-10T00:00:00Z,2025-01-10T23:00:00Z,12" for ip in EXITS]
    return "ip,first_seen_utc,last_seen_utc,n_snapshots\n" + "\n".join(rows) + "\n"


def _mid_line(text: str, marker: str) -> str:
    """``text`` cut in the middle of the line holding the last ``marker`` before 3/4 of it."""
    at = text.rfind(marker, 0, len(text) * 3 // 4)
    return text[: at + len(marker)]


#: name → (file name, whole text, cut text): every format the kit reads, cut mid-line or
#: inside an entry.
CUTS = {
    "tordnsel mid-line": ("exit-addresses", _tordnsel(), _mid_line(_tordnsel(), "ExitNode 0")),
    "tordnsel mid-entry": (
        "exit-addresses",
        _tordnsel(),
        _mid_line(_tordnsel(), f"Published {WHEN}\n"),
    ),
    "plain mid-address": (
        "exits-2025-01-10.txt",
        "\n".join(EXITS) + "\n",
        _mid_line("\n".join(EXITS) + "\n", "\n45.1."),
    ),
    "interval mid-row": (
        "intervals.csv",
        _interval(),
        _mid_line(_interval(), ",2025-01-10T00:0"),
    ),
}


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    return main(list(argv), out=out, err=err), out.getvalue(), err.getvalue()


def check(ip: str, case: Path) -> tuple[str, str, str]:
    code, out, err = run("tor", "check", ip, "--at", AT, "--case", str(case))
    assert code == 0, err
    # the verdict, without what a "not Tor" rests on (a plain list is taken as naming relays
    # by OR address: " — not listed by an OR-address list …" follows)
    return out.splitlines()[0].split(": ", 1)[1].split(" — ")[0], out, err


def _case(tmp_path: Path, name: str, data: bytes) -> Path:
    (tmp_path / "tor").mkdir(parents=True)
    (tmp_path / "tor" / name).write_bytes(data)
    return tmp_path


@pytest.fixture(autouse=True)
def _empty_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORINVEST_CACHE", str(tmp_path / "cache"))


@pytest.mark.parametrize("how", list(CUTS))
def test_tor_check_with_a_cut_list_never_says_not_tor(tmp_path: Path, how: str) -> None:
    name, whole, cut = CUTS[how]
    assert DROPPED not in cut and KEPT in cut
    whole_case = _case(tmp_path / "whole", name, whole.encode())
    assert check(NOT_TOR, whole_case)[0] == "not a listed Tor exit"
    assert check(DROPPED, whole_case)[0] == "a listed Tor exit"

    cut_case = _case(tmp_path / "cut", name, cut.encode())
    verdict, out, err = check(NOT_TOR, cut_case)
    assert verdict == "unknown: no loaded list covers that time"
    assert check(DROPPED, cut_case)[0] == "unknown: no loaded list covers that time"
    assert check(KEPT, cut_case)[0] == "a listed Tor exit"
    assert f"1 list cut short (the end of the file is missing: case:{name}): it can mark " in out
    issue = f"torinvest: issue: {cut_case / 'tor' / name}: the file is cut short ("
    (line,) = [x for x in err.splitlines() if x.startswith(issue)]
    assert (
        "it does not rule Tor out (where only cut lists cover a time, the answer is unknown)"
        in line
    )


def test_a_cut_member_of_an_archive_rules_nothing_out_and_the_whole_ones_still_do(
    tmp_path: Path,
) -> None:
    """Two hourly lists of 2025-01-10: one whole at 12:00–13:00, one cut at 20:00–21:00 (a later
    time that only it covers with a 1-hour tolerance)."""
    late = _tordnsel("2025-01-10 20:00:00", "2025-01-10 21:00:00")
    members = {"e/2025-01-10-12": _tordnsel().encode(), "e/2025-01-10-20": late[:3000].encode()}
    path = tmp_path / "exit-list-2025-01.tar.xz"
    path.write_bytes(tar_xz(members))
    lists = tor.read_exit_list(path, now=datetime(2026, 1, 1, tzinfo=UTC))
    one_hour = pd.Timedelta(hours=1)
    assert tor.ip_status(NOT_TOR, pd.Timestamp(AT), lists, one_hour) is False
    assert tor.ip_status(NOT_TOR, pd.Timestamp("2025-01-10T20:00Z"), lists, one_hour) is None
    assert tor.ip_status(KEPT, pd.Timestamp("2025-01-10T20:00Z"), lists, one_hour) is True
    assert [(s.name, s.rules_out) for s in lists.sources] == [
        ("case:exit-list-2025-01.tar.xz", True),
        ("case:exit-list-2025-01.tar.xz (cut members)", False),
    ]
    assert [i.source for i in lists.issues if "cut short" in i.problem] == [
        f"{path}:e/2025-01-10-20"
    ]


def test_the_events_of_a_cut_list_s_day_are_tor_or_unknown_never_not_tor(tmp_path: Path) -> None:
    """The counts a report makes from the tor column: no call is 'not Tor' on a cut list."""
    name, _, cut = CUTS["tordnsel mid-line"]
    lists = tor.load_exit_lists(_case(tmp_path, name, cut.encode()) / "tor")
    events = pd.DataFrame(
        {
            "event_time": pd.to_datetime([AT] * 4, utc=True),
            "source_ip": pd.Categorical([KEPT, DROPPED, NOT_TOR, "AWS Internal"]),
        }
    )
    assert tor.tor_status(events, lists).tolist() == [True, pd.NA, pd.NA, False]


def test_a_whole_list_without_its_last_newline_is_not_cut(tmp_path: Path) -> None:
    """A hand-saved list may lack the final newline: its last line whole, it still vouches."""
    for how, (name, whole, _) in CUTS.items():
        case = _case(tmp_path / how.replace(" ", "-"), name, whole.rstrip("\n").encode())
        verdict, out, err = check(NOT_TOR, case)
        assert verdict == "not a listed Tor exit", (name, out, err)
        assert "cut short" not in out + err


# --------------------------------------------------------------------------------------------
# refresh
# --------------------------------------------------------------------------------------------
URL = "https://collector.torproject.org/archive/exit-lists/exit-list-2024-05.tar.xz"
ARCHIVE = tar_xz(
    {f"exit-list-2024-05/01/2024-05-01-{h:02d}-02-01": _tordnsel().encode() for h in range(24)}
)


class Response(io.BytesIO):
    """A response that ends early without an error (a proxy closing a length-less response),
    or whose Content-Length says more than it sends."""

    def __init__(self, body: bytes, length: int | None = None) -> None:
        super().__init__(body)
        self.headers = {"Content-Length": str(length)} if length is not None else {}


def _refresh(body: bytes, length: int | None = None) -> tuple[int, str]:
    from torinvest.cli import tor as cli_tor

    real = tor.refresh

    def fake(cache: Path, **kw: Any) -> tor.RefreshResult:
        return real(cache, opener=lambda req, timeout: Response(body, length), **kw)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(tor, "refresh", fake)
        code, out, err = run("tor", "refresh", "--month", "2024-05")
    assert cli_tor
    assert not (out and err)  # `ok:` on stdout (exit 0) or `error:` on stderr (exit 1)
    return code, out + err


def test_refresh_month_refuses_a_cut_archive_and_takes_the_whole_one_next(tmp_path: Path) -> None:
    cache = tmp_path / "cache" / "tor"
    code, out = _refresh(ARCHIVE[: len(ARCHIVE) // 3])
    assert code == EXIT_COULD_NOT_LOOK
    assert out.startswith(f"torinvest: error: {URL} did not return an exit list (it is cut short: ")
    assert not cache.exists() or list(cache.iterdir()) == []
    code, out = _refresh(ARCHIVE)
    assert (code, out) == (
        0,
        f"torinvest: ok: downloaded {URL} to {cache / 'exit-list-2024-05.tar.xz'}\n",
    )
    code, out = _refresh(b"")
    assert (code, out) == (
        0,
        "torinvest: ok: exit-list-2024-05.tar.xz already cached; not downloaded\n",
    )


def test_refresh_month_checks_the_content_length(tmp_path: Path) -> None:
    code, out = _refresh(ARCHIVE[:-100], length=len(ARCHIVE))
    assert code == EXIT_COULD_NOT_LOOK
    assert f"(it is cut short: {len(ARCHIVE) - 100:,} of {len(ARCHIVE):,} bytes)" in out


def test_a_damaged_cached_archive_is_downloaded_again(tmp_path: Path) -> None:
    cache = tmp_path / "cache" / "tor"
    cache.mkdir(parents=True)
    target = cache / "exit-list-2024-05.tar.xz"
    target.write_bytes(ARCHIVE[: len(ARCHIVE) // 2])  # an older version kept a cut download
    code, out = _refresh(ARCHIVE)
    assert code == 0
    assert out.startswith(f"torinvest: ok: downloaded {URL} to {target} (the cached ")
    assert "exit-list-2024-05.tar.xz was damaged (it is cut short: " in out
    assert target.read_bytes() == ARCHIVE
    code, out, err = run("tor", "check", NOT_TOR, "--at", AT)
    assert (code, out.splitlines()[0].split(": ", 1)[1]) == (0, "not a listed Tor exit")
    assert "damaged" not in err


def test_refresh_refuses_a_cut_exit_list(tmp_path: Path) -> None:
    cut = _mid_line(_tordnsel(), "ExitNode 0").encode()
    url = "https://check.torproject.org/exit-addresses"
    result = tor.refresh(tmp_path, opener=lambda req, timeout: Response(cut))
    assert not result.ok and list(tmp_path.iterdir()) == []
    assert result.note.startswith(f"{url} did not return an exit list (it is cut short: its last ")
    whole = lzma.compress(_tordnsel().encode())
    assert tor.refresh(tmp_path, opener=lambda req, timeout: Response(whole)).ok
