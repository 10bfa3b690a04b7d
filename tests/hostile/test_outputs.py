"""Hostile exit lists, ledgers, outputs and interrupted runs (catalogue: docs/hostile-inputs.md,
section "Exit lists, ledgers, outputs and interrupted runs").

Each test asserts the outcome a user relies on — the valid records kept and the bad ones named
in one data issue, or a clear one-line error with the right exit status — and that no valid
record was lost. Tests run as root, so chmod does not stop a write: unwritable places are a
path under a file (real) or ``os.open``/``os.replace``/``os.write`` raising EACCES, ENOSPC or
EROFS at the real call sites, for the target paths only.
"""

from __future__ import annotations

import csv
import errno
import gzip
import io
import json
import multiprocessing
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import time
import unicodedata
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pandas as pd
import pytest

from tests.cli_run import run
from tests.hostile.appender import append_many
from tests.signals import as_from_a_terminal
from torinvest import export, investigation, report, tor, verdict
from torinvest.case import sample_case
from torinvest.errors import EXIT_COULD_NOT_LOOK, EXIT_FAILED, InputError
from torinvest.safety import (
    csv_escape,
    csv_safe,
    csv_unescape,
    csv_unguard,
    csv_value,
    visible_text,
)

FINDING = "6dde0a8f8d46f6acad893b30f905e97c"
OTHER_FINDING = "7f176d541deef88b1ad653b9ed646f29"
KEY = "AKIATFQR7NSCUXC3DDDP"
CASE = sample_case()
ROOT = Path(__file__).resolve().parents[2]
TOR_DATA = ROOT / "torinvest" / "data" / "tor"
BULK = TOR_DATA / "bulkexitlist" / "torbulkexitlist_capNcook_2023-10-14.txt"
EXIT_ADDRESSES = (
    TOR_DATA / "collector-exit-lists" / "check.torproject.org_exit-addresses_2024-03-12"
)
INTERVALS = TOR_DATA / "secops-danmeuk" / "exit_ip_intervals.csv.gz"
HOURLY = sorted((TOR_DATA / "collector-exit-lists" / "stem_exit-list-2018-11").rglob("2018-*"))


def one_error(err: str) -> str:
    """The one error line of a failed command (and no traceback)."""
    assert "Traceback" not in err, err
    lines = [ln for ln in err.splitlines() if ln.startswith("torinvest: error:")]
    assert len(lines) == 1, err
    return lines[0]


def issues_of(lists: tor.ExitLists) -> list[str]:
    return [i.problem for i in lists.issues]


def read_list(folder: Path, data: bytes, name: str) -> tor.ExitLists:
    """``data`` saved as ``folder/name`` and read as an exit list."""
    path = folder / name
    path.write_bytes(data)
    return tor.read_exit_list(path)


# --------------------------------------------------------------------------------------------
# exit lists: a bad line anywhere is skipped and counted; the rest loads
# --------------------------------------------------------------------------------------------
def _bulk_ips() -> list[str]:
    return [ln.strip() for ln in BULK.read_text().splitlines() if ln.strip()]


def test_plain_list_with_a_bad_first_line(tmp_path: Path) -> None:
    path = tmp_path / "torbulkexitlist_2023-10-14.txt"
    path.write_bytes(b"<html><body>502 Bad Gateway</body></html>\n" + BULK.read_bytes())
    lists = tor.read_exit_list(path)
    assert sorted(lists.observations["ip"]) == sorted(_bulk_ips())  # 1,305: none lost
    assert issues_of(lists) == [
        "1 of 1,306 lines skipped (not an IP address): line 1; "
        "first: '<html><body>502 Bad Gateway</body></html>'"
    ]


def test_plain_list_with_bad_lines_anywhere_gzipped(tmp_path: Path) -> None:
    ips = _bulk_ips()
    lines = ["garbage", *ips[:500], "1.2.3.999", *ips[500:], "", "# a comment", "tail junk"]
    path = tmp_path / "bulk-2023-10-14.txt.gz"
    path.write_bytes(gzip.compress("\n".join(lines).encode()))
    lists = tor.read_exit_list(path)
    assert len(lists.observations) == len(ips)
    skipped, cut = issues_of(lists)
    assert skipped == (
        "3 of 1,308 lines skipped (not an IP address): lines 1, 502, 1310; first: 'garbage'"
    )
    # its last line is incomplete and has no newline: the list may be cut, so it rules nothing out
    assert cut.startswith("the file is cut short (its last line ('tail junk') is incomplete")


def test_tordnsel_with_a_bad_first_line(tmp_path: Path) -> None:
    data = EXIT_ADDRESSES.read_bytes()
    good = tor.read_exit_list(EXIT_ADDRESSES)
    lists = read_list(tmp_path, b"<!DOCTYPE html>\n" + data, "exit-addresses")
    pd.testing.assert_frame_equal(
        lists.observations.drop(columns="list"), good.observations.drop(columns="list")
    )
    assert len(lists.observations) == 2378
    (problem,) = issues_of(lists)
    assert problem.startswith("1 of 9,495 lines skipped (not a TorDNSEL line, or an unreadable")
    assert problem.endswith("line 1; first: '<!DOCTYPE html>'")


@pytest.mark.parametrize(
    ("broken", "why"),
    [
        (b"ExitAddress 194.26.192.64", "no time: stem cannot read the file"),
        (b"ExitAddress 194.26.192.64 yesterday", "unreadable time"),
        (b"ExitAddress 999.26.192.64 2024-03-12 13:03:14", "unreadable address"),
    ],
    ids=["no-time", "bad-time", "bad-address"],
)
def test_tordnsel_with_a_bad_exit_address_line(broken: bytes, why: str, tmp_path: Path) -> None:
    line = b"ExitAddress 194.26.192.64 2024-03-12 13:03:14"
    data = EXIT_ADDRESSES.read_bytes()
    assert data.count(line) == 1
    lists = read_list(tmp_path, data.replace(line, broken), "exit-addresses")
    assert len(lists.observations) == 2377, why  # only that line lost
    assert issues_of(lists) == [
        "1 of 9,494 lines skipped (not a TorDNSEL line, or an unreadable address or time): "
        f"line 8; first: {broken.decode()!r}"
    ]


def test_interval_csv_with_junk_before_the_header_and_ragged_rows(tmp_path: Path) -> None:
    rows = gzip.decompress(INTERVALS.read_bytes()).decode().splitlines()
    body = [
        "exported by a spreadsheet",  # line 1: before the header
        rows[0],  # the header
        *rows[1:100],
        "1.2.3.4",  # too few cells
        "5.6.7.8,2019-01-01T00:00:00Z,2019-01-02T00:00:00Z,1,extra,cells",  # more: still an IP
        *rows[100:],
    ]
    lists = read_list(tmp_path, "\n".join(body).encode(), "intervals.csv")
    good = tor.read_exit_list(INTERVALS)
    assert len(lists.observations) == len(good.observations) + 1  # none lost, the ragged one kept
    assert set(good.observations["ip"]) <= set(lists.observations["ip"])
    (problem,) = issues_of(lists)
    assert problem.startswith("2 of 111,217 rows skipped (not a row of ip, first and last seen")
    assert "lines 1, 102; first: 'exported by a spreadsheet'" in problem


def test_archive_member_with_bad_lines_is_one_issue_for_the_archive(tmp_path: Path) -> None:
    members = {f"exit-list-2018-11/{p.parent.name}/{p.name}": p.read_bytes() for p in HOURLY}
    clean = tmp_path / "clean.tar.xz"
    _tar(clean, members)
    first = next(iter(members))
    total = sum(m.count(b"\n") for m in members.values()) + 2
    last_line = members[first].count(b"\n") + 2  # after the junk line and the original lines
    members[first] = b"@@ junk @@\n" + members[first] + b"ExitAddress 1.2.3.4 2018-13-45 99:00:00\n"
    broken = tmp_path / "exit-list-2018-11.tar.xz"
    _tar(broken, members)
    lists, good = tor.read_exit_list(broken), tor.read_exit_list(clean)
    pd.testing.assert_frame_equal(
        lists.observations.drop(columns="list"), good.observations.drop(columns="list")
    )
    (issue,) = lists.issues
    assert issue.source == str(broken)
    assert f"2 of {total:,} lines skipped" in issue.problem
    assert f"lines {first}:1, {first}:{last_line}; first: '@@ junk @@'" in issue.problem


def _tar(path: Path, members: dict[str, bytes]) -> None:
    with tarfile.open(path, "w:xz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


@pytest.mark.parametrize(
    "data",
    [
        b"<html><body>Sign in to the Wi-Fi</body></html>\n",
        b"ExitNode 0011BD2485AD45D984EC4159C88FC066E5E3300E\nExitAddress 162.247.72.201\n",
        b"ip,first_seen_utc,last_seen_utc\nnot-an-ip,x,y\n",
        b"hello\nworld\n",
    ],
    ids=["html", "tordnsel-no-exit-address", "interval-no-good-row", "plain-no-ip"],
)
def test_a_list_without_any_valid_line_is_not_a_tor_exit_list(data: bytes, tmp_path: Path) -> None:
    lists = read_list(tmp_path, data, "list-2023-10-14.txt")
    assert len(lists.observations) == 0
    (problem,) = issues_of(lists)
    assert problem.startswith("not a Tor exit list")


# --------------------------------------------------------------------------------------------
# ledger: a torn last line never swallows the next record
# --------------------------------------------------------------------------------------------
def _torn_ledger(path: Path) -> None:
    """A ledger with one whole verdict and a second one torn by a crash (no line end)."""
    v = verdict.make_verdict(OTHER_FINDING, status="malicious", analyst="ana", rationale="recon")
    line = orjson.dumps(v.to_dict())
    path.write_bytes(line + b"\n" + line[:57])


def test_verdict_after_a_torn_line_is_recorded_and_listed(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.jsonl"
    _torn_ledger(ledger)
    code, out, err = run(
        "verdict", FINDING, "--status", "legitimate", "--analyst", "bob",
        "--rationale", "red team", "--ledger", str(ledger),
    )  # fmt: skip
    assert code == 0, err
    assert out.startswith(f"recorded: legitimate for {FINDING}")
    code, out, err = run("verdicts", "--json", "--ledger", str(ledger))
    assert code == 0
    assert {(r["finding_id"], r["status"]) for r in json.loads(out)} == {
        (FINDING, "legitimate"),
        (OTHER_FINDING, "malicious"),
    }
    assert f"torinvest: issue: {ledger}:2: unreadable ledger line (an interrupted write?)" in err
    assert ledger.read_bytes().count(b"\n") == 3  # the torn line kept as it was, on its own


def test_torn_last_line_is_an_issue_when_read(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.jsonl"
    _torn_ledger(ledger)
    records, issues = verdict.read_ledger(ledger)
    assert [r["finding_id"] for r in records] == [OTHER_FINDING]
    assert [(i.source, i.problem.split(":")[0]) for i in issues] == [
        (f"{ledger}:2", "the last line is an incomplete record (an interrupted write)")
    ]


def test_a_verdict_glued_onto_a_torn_line_by_an_older_version_is_kept(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.jsonl"
    _torn_ledger(ledger)
    glued = verdict.make_verdict(FINDING, status="legitimate", analyst="bob", rationale="ok")
    with open(ledger, "ab") as fh:  # as appends were written before: glued onto the torn line
        fh.write(orjson.dumps(glued.to_dict()) + b"\n")
    records, issues = verdict.read_ledger(ledger)
    assert [r["finding_id"] for r in records] == [OTHER_FINDING, FINDING]
    assert len(issues) == 1 and "the torn part is lost" in issues[0].problem


def test_concurrent_appends_after_a_torn_line_lose_nothing(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.jsonl"
    _torn_ledger(ledger)
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=append_many, args=(str(ledger), w, 40)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    records, issues = verdict.read_ledger(ledger)
    actions = {(r["who"], r["n"]) for r in records if r.get("kind") == "action"}
    assert actions == {(w, n) for w in range(4) for n in range(40)}  # 160: none lost or glued
    assert [i.source for i in issues] == [f"{ledger}:2"]  # only the torn line


def test_actions_and_reports_show_the_torn_ledger_line(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.jsonl"
    _torn_ledger(ledger)
    code, _, err = run(
        "actions", FINDING, "--case", str(CASE.root), "--plan", "archive", "--ledger", str(ledger)
    )
    assert code == 0, err
    assert f"torinvest: issue: {ledger}:2: the last line is an incomplete record" in err
    inv = _sample_investigation()
    data = report.summary_data(inv, {"status": "pending", "ledger": str(ledger)})
    assert {"source": f"{ledger}:2"}.items() <= data["data_issues"][0].items()


@pytest.mark.parametrize("code_name", ["ENOSPC", "EROFS", "EACCES"])
def test_ledger_that_cannot_be_written(
    code_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger = tmp_path / "ledger.jsonl"
    _torn_ledger(ledger)
    before = ledger.read_bytes()
    # the ledger reads (it is opened read-only first, to compare); opening it to write fails
    real_open = os.open
    code_no = getattr(errno, code_name)

    def open_to_write_fails(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if str(path) == str(ledger) and flags & (os.O_WRONLY | os.O_RDWR | os.O_APPEND):
            raise OSError(code_no, os.strerror(code_no), str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", open_to_write_fails)
    code, out, err = run(
        "verdict", FINDING, "--status", "legitimate", "--analyst", "bob",
        "--rationale", "ok", "--ledger", str(ledger),
    )  # fmt: skip
    assert code == 1 and "recorded" not in out
    assert f"cannot write the ledger {ledger}: {os.strerror(getattr(errno, code_name))}" in (
        one_error(err)
    )
    assert ledger.read_bytes() == before


def test_ledger_under_a_file(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x")
    ledger = tmp_path / "afile" / "ledger.jsonl"
    code, out, err = run(
        "verdict", FINDING, "--status", "malicious", "--analyst", "a", "--rationale", "r",
        "--ledger", str(ledger),
    )  # fmt: skip
    assert code == 1 and "recorded" not in out
    assert f"cannot write the ledger {ledger}" in one_error(err)


# --------------------------------------------------------------------------------------------
# outputs that cannot be written: one line naming the path, exit 1
# --------------------------------------------------------------------------------------------
def fail_on(monkeypatch: pytest.MonkeyPatch, name: str, under: Path, code: int) -> None:
    """``os.<name>`` raises OSError(code) for paths at or under ``under``; the rest works."""
    real: Callable[..., Any] = getattr(os, name)
    target = str(under)

    def hit(path: Any) -> bool:
        text = str(path)
        return text == target or text.startswith(target.rstrip("/") + "/")

    def failing(path: Any, *args: Any, **kwargs: Any) -> Any:
        if hit(path) or (name == "replace" and args and hit(args[0])):
            raise OSError(code, os.strerror(code), str(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(os, name, failing)


def _events_args(out: Path) -> list[str]:
    return ["events", "--case", str(CASE.root), "--access-key", KEY, "--out", str(out)]


def test_events_out_under_a_file(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x")
    out = tmp_path / "afile" / "ev.csv"
    code, stdout, err = run(*_events_args(out))
    assert code == 1 and stdout == ""
    assert one_error(err).startswith(
        f"torinvest: error: cannot write {out}: {tmp_path / 'afile'} is a file, not a folder"
    )


@pytest.mark.parametrize("code_name", ["EACCES", "EROFS"])
def test_events_out_in_a_folder_that_refuses_writes(
    code_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "readonly"
    folder.mkdir()
    fail_on(monkeypatch, "open", folder, getattr(errno, code_name))
    code, stdout, err = run(*_events_args(folder / "ev.parquet"))
    assert code == 1 and stdout == ""  # checked before loading anything
    assert f"cannot write {folder / 'ev.parquet'}: {os.strerror(getattr(errno, code_name))}" in (
        one_error(err)
    )
    assert list(folder.iterdir()) == []


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_events_out_disk_full_at_the_rename(
    suffix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / f"ev{suffix}"
    out.write_text("the previous export")
    fail_on(monkeypatch, "replace", tmp_path, errno.ENOSPC)
    code, _, err = run(*_events_args(out))
    assert code == 1
    assert f"cannot write {out}: No space left on device" in one_error(err)
    assert out.read_text() == "the previous export"  # never half a file under the name
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]  # no temporary left


@pytest.mark.parametrize(
    ("why", "status"),
    [
        ("nothing read", 1),  # a --logs path that does not exist: input it cannot use
        ("no file in the window", EXIT_COULD_NOT_LOOK),
        ("no such case folder", 1),  # before the load: the case, the profile, the options
        ("unknown profile", 1),
        ("options that do not go together", 2),
    ],
)
def test_events_that_fail_say_an_earlier_export_under_out_is_not_theirs(
    why: str, status: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An earlier export left under ``--out`` by a failed run is never taken for its result —
    whatever stopped the run, before the load (a mistyped case folder) or during it."""
    out = tmp_path / "ev.csv"
    out.write_text("an earlier export")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    argv = {
        "nothing read": ["events", "--logs", str(tmp_path / "missing"), "--access-key", KEY],
        "no file in the window": [
            *_events_args(out)[:-2], "--start", "2020-01-01", "--end", "2020-01-02"
        ],
        "no such case folder": ["events", "--case", str(tmp_path / "cas"), "--access-key", KEY],
        "unknown profile": ["events", "--lookup", "--profile", "audit", "--access-key", KEY],
        "options that do not go together": [*_events_args(out)[:-2], "--no-cache"],
    }[why]  # fmt: skip
    code, stdout, err = run(*argv, "--out", str(out))
    assert code == status and stdout == ""
    one_error(err)
    assert (
        f"torinvest: note: {out} was not written: the file there is an earlier export, not this "
        "run's" in err
    )
    assert out.read_text() == "an earlier export"
    out.unlink()  # no file there: nothing to say about it
    code, _, err = run(*argv, "--out", str(out))
    assert code == status and "was not written" not in err and not out.exists()


def test_investigate_out_under_a_file(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x")
    out = tmp_path / "afile" / "report"
    code, _, err = run("investigate", FINDING, "--case", str(CASE.root), "--out", str(out))
    assert code == 1
    assert "is a file, not a folder" in one_error(err)


@pytest.mark.parametrize(
    ("name", "doc"),
    [
        ("manifest.json", {"finding_id": OTHER_FINDING, "files": {}}),
        ("summary.json", {"finding": {"id": OTHER_FINDING}}),
        ("summary.failed.json", {"finding": {"id": OTHER_FINDING}}),
    ],
)
def test_investigate_into_the_report_folder_of_another_finding_is_refused(
    name: str, doc: dict[str, Any], tmp_path: Path
) -> None:
    """Another finding's report (its CSVs, its posts) is never replaced without a word."""
    out = tmp_path / "report"
    out.mkdir()
    (out / name).write_text(json.dumps(doc))
    (out / "events.csv").write_text("the other finding's events")
    code, stdout, err = run("investigate", FINDING, "--case", str(CASE.root), "--out", str(out))
    assert code == 1 and stdout == ""
    assert one_error(err).startswith(
        f"torinvest: error: --out {out} holds the report of finding {OTHER_FINDING}: a report "
        f"of {FINDING} there would replace it"
    )
    assert sorted(p.name for p in out.iterdir()) == sorted([name, "events.csv"])
    assert (out / "events.csv").read_text() == "the other finding's events"


@pytest.mark.parametrize("all_open", [False, True], ids=["single", "all-open"])
def test_investigate_out_folder_refusing_writes(
    all_open: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "reports"
    out.mkdir()
    fail_on(monkeypatch, "open", out, errno.EACCES)
    which = ["--all-open"] if all_open else [FINDING]
    started = time.monotonic()
    code, _, err = run("investigate", *which, "--case", str(CASE.root), "--out", str(out))
    assert code == 1
    assert f"cannot write the report folder {out}: Permission denied" in one_error(err)
    assert time.monotonic() - started < 10  # before any kernel starts


def test_investigate_with_a_verdict_and_an_unwritable_ledger_fails_before_running(
    tmp_path: Path,
) -> None:
    (tmp_path / "afile").write_text("x")
    code, _, err = run(
        "investigate", FINDING, "--case", str(CASE.root), "--out", str(tmp_path / "r"),
        "--verdict", "malicious", "--analyst", "a", "--rationale", "r",
        "--ledger", str(tmp_path / "afile" / "l.jsonl"),
    )  # fmt: skip
    assert code == 1
    assert "cannot write the ledger" in one_error(err)
    assert not (tmp_path / "r" / "report.ipynb").exists()


def test_report_file_that_cannot_be_written_mid_run(
    done: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "r"
    _fake_kernel(monkeypatch, done)
    fail_on(monkeypatch, "replace", out / "report.html", errno.ENOSPC)
    with pytest.raises(report.ReportError, match="No space left on device"):
        report.run_report(FINDING, out, report.RunOptions(case_dir=str(CASE.root)))
    assert report.folder_state(out, FINDING).state == "incomplete"


def test_tor_refresh_into_an_unwritable_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "afile").write_text("x")
    monkeypatch.setenv("TORINVEST_CACHE", str(tmp_path / "afile" / "cache"))
    code, _, err = run("tor", "refresh")
    assert code == 1
    assert "cannot create the Tor list cache" in one_error(err)


def test_tor_refresh_disk_full_while_downloading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    payload = EXIT_ADDRESSES.read_bytes()

    class Response(io.BytesIO):
        def __enter__(self) -> Response:
            return self

    class FullDisk(io.FileIO):
        def write(self, data: Any) -> int:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    real_fdopen = os.fdopen

    def fdopen(fd: int, *args: Any, **kwargs: Any) -> Any:
        if os.path.dirname(os.readlink(f"/proc/self/fd/{fd}")) == str(tmp_path):
            return FullDisk(fd, "wb")
        return real_fdopen(fd, *args, **kwargs)

    monkeypatch.setattr(os, "fdopen", fdopen)
    with pytest.raises(InputError, match=r"cannot write the Tor list cache .*No space left"):
        tor.refresh(tmp_path, opener=lambda request, timeout: Response(payload))
    assert list(tmp_path.iterdir()) == []  # the partial download removed


# --------------------------------------------------------------------------------------------
# CSV: no cell a spreadsheet would run; one convention for every export
# --------------------------------------------------------------------------------------------
HOSTILE_CELLS = [
    "\r=1+1",
    '\n=HYPERLINK("http://x","y")',
    "\t@SUM(1)",
    "  =1+1",
    "\u3000\uff1d1+1",  # ideographic space, full-width equals
    "\uff0bcmd|' /C calc'!A0",  # full-width plus
    "\u200b-2+3",  # zero-width space
    "\ufeff@x",
    "\x00=1",
    "\x1b[31m=red",
    "-10",
    "+1",
    "@user",
    "=cmd|' /C calc'!A0",
]
#: A line break inside a cell: it must stay one cell (quoted), starting with "ok".
INNER_BREAK = "ok\r\n=split"
FORMULA_START = ("=", "+", "-", "@", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def spreadsheet_view(cell: str) -> str:
    """A cell as a spreadsheet may read it: leading whitespace, control and invisible
    characters skipped."""
    i = 0
    while i < len(cell) and (cell[i].isspace() or unicodedata.category(cell[i]) in ("Cc", "Cf")):
        i += 1
    return cell[i:]


def assert_no_formula(path: Path, rows: int) -> list[dict[str, str]]:
    """Read ``path`` with Python's csv module: ``rows`` rows (no cell split a row), and no cell
    that starts a formula once a spreadsheet skips leading whitespace and control characters."""
    with open(path, newline="", encoding="utf-8") as fh:
        read = list(csv.DictReader(fh))
    assert len(read) == rows
    for row in read:
        for cell in row.values():
            assert not spreadsheet_view(cell).startswith(FORMULA_START), repr(cell)
    return read


def test_csv_safe_on_every_hostile_start() -> None:
    for cell in HOSTILE_CELLS:
        assert csv_safe(cell) == "'" + cell
    assert csv_safe(INNER_BREAK) == INNER_BREAK
    assert csv_safe("benjamin") == "benjamin"
    assert csv_safe("a=b") == "a=b"


#: Attacker values that already start with the guard's own ``'``: each must read back as itself,
#: never as a guarded formula (``'=1`` is not ``=1`` neutralized).
GUARD_LOOKALIKES = ["'=1+1", "''=1", "'", "''", "'plain", "'+1", "'\t@x", "'\uff1d1"]


def test_the_formula_guard_can_always_be_undone() -> None:
    """One rule, reversible: a cell starting with ``'`` had one ``'`` put before it; any other
    is the text itself. A value that already starts with ``'`` is guarded too."""
    values = [*HOSTILE_CELLS, INNER_BREAK, *GUARD_LOOKALIKES, "benjamin", "a=b", "x'y", "é"]
    for value in values:
        cell = csv_safe(value)
        assert csv_unguard(cell) == value, repr(value)
    assert csv_safe("'=1+1") == "''=1+1"
    assert csv_safe("=1+1") == "'=1+1"
    assert csv_safe("'=1+1") != csv_safe("=1+1")


def test_hostile_cells_round_trip_through_a_csv_file(tmp_path: Path) -> None:
    """Read back with Python's csv module and the documented reverse (:func:`csv_unguard`, then
    :func:`csv_unescape`: :func:`csv_value`), every cell gives the value exactly, and no cell
    starts a formula — = + - @, tab, CR, a leading ``'``, full-width and small forms."""
    values = [*HOSTILE_CELLS, INNER_BREAK, *GUARD_LOOKALIKES, "\ufe62x", "\uff20x", "plain"]
    frame = pd.DataFrame(
        {"event_id": [f"id-{i}" for i in range(len(values))], "user_agent": values}
    )
    out = export.write_frame(frame, tmp_path / "ev.csv")
    read = assert_no_formula(out, len(values))
    assert [csv_value(r["user_agent"]) for r in read] == values
    exact = [v for v in values if csv_escape(v) == v]  # nothing escaped: the text itself
    assert len(exact) > len(GUARD_LOOKALIKES)
    back = {r["event_id"]: csv_unguard(r["user_agent"]) for r in read}
    assert [back[f"id-{values.index(v)}"] for v in exact] == exact


#: Values that start with CSV's own quote before a trigger (after spaces, too).
QUOTED_TRIGGERS = ['"=1+1', ' "=1+1', '"  =1+1', '""=1', '"@SUM(1)']


def test_a_value_starting_with_a_quote_is_no_formula_after_csv_quoting(tmp_path: Path) -> None:
    """``"=1+1`` is written with its quote doubled inside quotes; a reader undoes CSV's
    quoting to ``"=1+1``, which starts with a quote — text, never a formula, in a spreadsheet
    that reads CSV as RFC 4180 says. Leading spaces before ``=`` are guarded (:data:`HOSTILE_CELLS`); spaces before the
    quote leave it text as well."""
    frame = pd.DataFrame({"event_id": ["a"] * len(QUOTED_TRIGGERS), "user_agent": QUOTED_TRIGGERS})
    out = export.write_frame(frame, tmp_path / "q.csv")
    read = assert_no_formula(out, len(QUOTED_TRIGGERS))
    assert [r["user_agent"] for r in read] == QUOTED_TRIGGERS  # no guard needed, none added
    assert all(spreadsheet_view(r["user_agent"]).startswith('"') for r in read)
    assert '"""=1+1"' in out.read_text(encoding="utf-8")  # the quote doubled inside quotes


#: Values whose escaped forms the old escaping (control characters only) wrote alike: a
#: control character and the text of its escape; backslashes before what reads as an escape.
ESCAPE_LOOKALIKES = [
    "\x1b[31m",  # ESC
    "\\x1b[31m",  # the four characters \x1b (was written as ESC is)
    "\\\x1b",  # a backslash, then ESC (was written as the text \\x1b is)
    "\\\\x1b",  # two backslashes, then x1b
    "\r",
    "\\r",
    "\u202e",
    "\\u202e",
    "\U000e0041",
    "\\U000e0041",
    "\\",
    "\\\\",
    "ends with \\",
    "\\\x00",
    "\x00\\",
    "C:\\Temp\\x",
    "C:\\Users\\u",
    '{"policyDocument":"{\\"Version\\":\\"2012-10-17\\"}","n":"a\\nb\\\\c"}',
    "\\xZZ \\u12 \\U0001 \\q",  # not escapes as written
]


def test_events_csv_with_hostile_cells(tmp_path: Path) -> None:
    frame = _hostile_events()
    out = export.write_frame(frame, tmp_path / "ev.csv")
    read = assert_no_formula(out, len(frame))
    cells = [*HOSTILE_CELLS, INNER_BREAK]
    # nothing lost: each cell as the report shows it (controls escaped), then formula-safe
    assert [r["user_agent"] for r in read] == [csv_safe(csv_escape(c)) for c in cells]
    assert [csv_value(r["user_agent"]) for r in read] == cells
    assert [r["event_id"] for r in read] == list(frame["event_id"])


def test_csv_cells_show_control_bidi_and_zero_width_characters_escaped(tmp_path: Path) -> None:
    """``cat ev.csv`` on a terminal: an attacker's user agent cannot erase the rows above it
    (ESC [1A ESC [2K), overwrite its own row (CR), make a link (OSC 8) or reorder a cell (bidi
    override); a spreadsheet shows the same escapes. Parquet and JSON lines keep the values."""
    erase = "x\x1b[1A\x1b[2K\x1b[1A\x1b[2K\rGetCallerIdentity only"
    cells = [erase, *UNSEEN_TEXT, "ok\r\n=split", "nul\x00"]
    frame = pd.DataFrame(
        {
            "event_name": [f"Call{i}" for i in range(len(cells))],
            "user_agent": pd.Categorical(cells),
            "error_message": pd.array(cells, dtype="string"),
        }
    )
    out = export.write_frame(frame, tmp_path / "ev.csv")
    text = out.read_bytes().decode("utf-8").replace("\r\n", "\n")  # the rows' separator
    assert RAW_UNSEEN.findall(text) == []
    read = assert_no_formula(out, len(cells))
    assert read[0]["user_agent"] == "x\\x1b[1A\\x1b[2K\\x1b[1A\\x1b[2K\\rGetCallerIdentity only"
    assert read[1]["error_message"] == "admin\\u202etxt.exe"
    assert [r["user_agent"] for r in read] == [csv_safe(csv_escape(c)) for c in cells]
    assert [csv_value(r["user_agent"]) for r in read] == cells
    assert [r["event_name"] for r in read] == list(frame["event_name"])


def test_investigate_csvs_with_hostile_cells(tmp_path: Path) -> None:
    inv = _sample_investigation()
    n = len(inv.events)
    agents = [HOSTILE_CELLS[i % len(HOSTILE_CELLS)] for i in range(n)]
    inv.events["user_agent"] = pd.Categorical(agents)
    inv.per_ip["user_agents"] = [HOSTILE_CELLS[: i + 2] for i in range(len(inv.per_ip))]
    inv.per_ip["country"] = pd.array(["=evil()"] * len(inv.per_ip), dtype="string")
    written = report.export_tables(inv, tmp_path)
    events = assert_no_formula(written["events.csv"], n)
    assert [r["user_agent"] for r in events] == [csv_safe(csv_escape(a)) for a in agents]
    assert [csv_value(r["user_agent"]) for r in events] == agents
    per_ip = assert_no_formula(written["per_ip.csv"], len(inv.per_ip))
    # a list is one JSON array per cell: every item exactly as written
    assert [json.loads(csv_value(r["user_agents"])) for r in per_ip] == list(
        inv.per_ip["user_agents"]
    )


def test_a_list_item_holding_the_old_separator_stays_one_item(tmp_path: Path) -> None:
    """A user agent that holds `` | `` (or ``", "``) cannot pass for two in ``per_ip.csv``: the
    list is a JSON array, each item exactly as written (was: items joined with `` | ``)."""
    inv = _sample_investigation()
    two_in_one = "aws-cli/2.13.0 | Boto3/1.28.0"
    lists = [[two_in_one], ["aws-cli/2.13.0", "Boto3/1.28.0"], ['a", "b', "'=1"], []]
    inv.per_ip["user_agents"] = [lists[i % len(lists)] for i in range(len(inv.per_ip))]
    inv.per_ip["event_names"] = [{"Get | Put": 2, "List": 1}] * len(inv.per_ip)
    written = report.export_tables(inv, tmp_path)
    per_ip = assert_no_formula(written["per_ip.csv"], len(inv.per_ip))
    cells = [r["user_agents"] for r in per_ip]
    assert cells[0] == '["aws-cli/2.13.0 | Boto3/1.28.0"]'
    assert cells[1] == '["aws-cli/2.13.0", "Boto3/1.28.0"]'
    assert len({cells[0], cells[1]}) == 2  # one item is never read as two
    assert [json.loads(c) for c in cells] == list(inv.per_ip["user_agents"])
    assert json.loads(per_ip[0]["event_names"]) == {"Get | Put": 2, "List": 1}


def test_investigate_events_csv_names_each_call(tmp_path: Path) -> None:
    """events.csv (attached to tickets with --with-csv) keeps what finds a call in CloudTrail and
    says who made it and why it failed — not only the report table's columns."""
    inv = _sample_investigation()
    written = report.export_tables(inv, tmp_path)
    with open(written["events.csv"], newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(inv.events)
    assert [r["event_id"] for r in rows] == list(inv.events["event_id"])
    assert {"error_message", "user_name", "arn"} <= set(rows[0])
    failed = inv.events["error_message"].notna()
    assert failed.any()
    assert [r["error_message"] != "" for r in rows] == list(failed)


def test_every_export_follows_one_convention(tmp_path: Path) -> None:
    """The same frame through events' writer and investigate's: empty cells for missing values,
    times ISO 8601 UTC with Z, true/false — in CSV; null, Z, true/false in JSON lines."""
    inv = _sample_investigation()
    written = report.export_tables(inv, tmp_path / "investigate")
    cols = pd.read_csv(written["events.csv"], nrows=0).columns.tolist()
    by_events = export.write_frame(inv.events[cols], tmp_path / "events" / "ev.csv")
    assert by_events.read_bytes() == written["events.csv"].read_bytes()
    for path in (written["events.csv"], written["per_ip.csv"]):
        with open(path, newline="") as fh:
            rows = list(csv.DictReader(fh))
        cells = [v for r in rows for v in r.values()]
        assert not {"nan", "NaN", "NaT", "None", "<NA>", "True", "False"} & set(cells)
        for r in rows:
            for name in ("event_time", "first_seen", "last_seen"):
                if r.get(name):
                    assert r[name].endswith("Z") and "T" in r[name], r[name]
            for name in ("tor", "derived", "new"):
                if name in r:
                    assert r[name] in ("true", "false", ""), r[name]
    with open(written["events.csv"], newline="") as fh:
        assert any(r["error_code"] == "" for r in csv.DictReader(fh))
    jsonl = export.write_frame(inv.events[cols], tmp_path / "events" / "ev.jsonl")
    records = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert len(records) == len(inv.events)
    assert all(r["event_time"].endswith("Z") for r in records)
    assert {type(r["tor"]) for r in records} <= {bool, type(None)}
    assert any(r["error_code"] is None for r in records)
    with open(written["events.csv"], newline="") as fh:
        first = next(csv.DictReader(fh))
    assert first["event_time"] == records[0]["event_time"]


def test_events_command_csv_follows_the_convention(tmp_path: Path) -> None:
    out = tmp_path / "ev.csv"
    code, _, err = run(*_events_args(out))
    assert code == 0, err
    assert out.read_bytes().count(b"\r\n") == 65  # RFC 4180: header + 64 rows
    with open(out, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows[0]["event_time"] == "2023-07-10T11:42:18Z"
    assert rows[0]["read_only"] == "true" and rows[0]["mfa_authenticated"] == ""


#: Text that acts on a terminal or hides or reorders what follows, as attacker-written values.
UNSEEN_TEXT = [
    "admin\u202etxt.exe",  # a bidi override
    "zero\u200bwidth",
    "line\u2028sep\u2029",
    "csi\x9b31m c1",  # a C1 control (CSI)
    "del\x7f",
    "\x1b]8;;http://evil\x1b\\click\x1b]8;;\x1b\\",  # an OSC 8 hyperlink
    "bom\ufeff",
    "tag\U000e0069\U000e0067\U000e006e\U000e006f\U000e0072\U000e0065 hidden",  # tags: "ignore"
    "soft\u00adhyphen\ufff9annotated\ufffb",
]
#: What must not be raw in a JSON file or JSON printed on a terminal (C0 controls besides the
#: newline between lines, DEL, C1 controls, bidi, zero-width and separator characters).
RAW_UNSEEN = re.compile(
    "[\x00-\x09\x0b-\x1f\x7f-\x9f\u00ad\u061c\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff"
    "\ufff9-\ufffb\U000e0000-\U000e007f]"
)


#: Hostile strings of every kind: controls (NUL, ESC, CR/LF, tabs), backslashes and escape
#: lookalikes, formula starts, bidi overrides and invisible characters, the guard itself.
ROUND_TRIP = [
    *HOSTILE_CELLS,
    *GUARD_LOOKALIKES,
    *ESCAPE_LOOKALIKES,
    *UNSEEN_TEXT,
    INNER_BREAK,
    "\x00",
    "nul\x00inside",
    "\t\ttabs\t",
    "cr\rlf\nboth\r\n",
    "\r\n=HYPERLINK(1)",
    "'\\x1b",
    "=\\x1b",
    "\u202e=1+1",
    "\\\u202e'",
    "é\U0001f600\x85\xa0",
    "",
]


def test_every_hostile_value_round_trips_through_csv(tmp_path: Path) -> None:
    """Every value, read back from the CSV file with the documented reverse, is itself; two
    different values are never written alike (was: ESC and the text ``\\x1b`` read the same);
    no raw control, bidi or invisible character reaches the file; no cell starts a formula."""
    values = [v for v in ROUND_TRIP if v]  # an empty text is a missing value (an empty cell)
    assert len(set(values)) == len(values)
    for value in values:
        assert csv_unescape(csv_escape(value)) == value, repr(value)
        assert csv_value(csv_safe(csv_escape(value))) == value, repr(value)
    assert len({csv_safe(csv_escape(v)) for v in values}) == len(values)
    frame = pd.DataFrame(
        {
            "event_id": [f"id-{i}" for i in range(len(values))],
            "user_agent": pd.Categorical(values),
            "error_message": pd.array(values[::-1], dtype="string"),
            "request_parameters": values,
        }
    )
    out = export.write_frame(frame, tmp_path / "ev.csv")
    text = out.read_bytes().decode("utf-8").replace("\r\n", "\n")  # the rows' separator
    assert RAW_UNSEEN.findall(text.replace("\t", "")) == []  # tabs are kept
    read = assert_no_formula(out, len(values))
    assert [csv_value(r["user_agent"]) for r in read] == values
    assert [csv_value(r["error_message"]) for r in read] == values[::-1]
    assert [csv_value(r["request_parameters"]) for r in read] == values


def test_csv_escapes_are_written_as_documented() -> None:
    """The examples of the README: an ESC and its text differ; JSON's own escapes stay."""
    assert csv_escape("\x1b[2K") == "\\x1b[2K"
    assert csv_escape("\\x1b[2K") == "\\\\x1b[2K"
    assert csv_escape("a\rb") == "a\\rb"
    assert csv_escape("admin\u202etxt.exe") == "admin\\u202etxt.exe"
    assert csv_escape('{"a":"x\\"y\\n"}') == '{"a":"x\\"y\\n"}'
    assert csv_escape("C:\\Temp") == "C:\\Temp"
    assert csv_escape("tab\tnew\nline") == "tab\tnew\nline"
    assert csv_value("'\\\\x1b") == "\\x1b" and csv_value("\\x1b") == "\x1b"


def test_json_lines_export_keeps_unseen_characters_as_escapes(tmp_path: Path) -> None:
    """``cat ev.jsonl`` cannot reorder, hide or colour a line; a JSON reader gets every value
    back exactly."""
    n = len(UNSEEN_TEXT)
    frame = pd.DataFrame(
        {
            "event_id": [f"id-{i}" for i in range(n)],
            "user_agent": pd.Categorical(UNSEEN_TEXT),
            "error_message": pd.array(UNSEEN_TEXT[::-1], dtype="string"),
        }
    )
    out = export.write_frame(frame, tmp_path / "ev.jsonl")
    text = out.read_text(encoding="utf-8")
    assert RAW_UNSEEN.findall(text) == []
    records = [json.loads(line) for line in text.splitlines()]
    assert [r["user_agent"] for r in records] == UNSEEN_TEXT
    assert [r["error_message"] for r in records] == UNSEEN_TEXT[::-1]


def test_summary_json_keeps_unseen_characters_as_escapes(tmp_path: Path) -> None:
    inv = _sample_investigation()
    inv.per_ip["user_agents"] = [list(UNSEEN_TEXT) for _ in range(len(inv.per_ip))]
    path = report.write_summary(inv, None, tmp_path / "summary.json")
    assert path is not None
    text = path.read_text(encoding="utf-8")
    assert RAW_UNSEEN.findall(text.replace("\n", "")) == []
    assert set(UNSEEN_TEXT) <= _strings(json.loads(text))  # every value kept


@pytest.mark.parametrize("where", ["under a file", "a folder", "no such parent"])
def test_an_output_parameter_that_cannot_be_written_is_named(tmp_path: Path, where: str) -> None:
    """The notebook's summary_path and export_dir cells, given a path that cannot be written:
    summary_path raised the OS's error (``FileNotFoundError``, ``IsADirectoryError: … '/.tmp.…'
    -> '/tmp'``) as a traceback; export_dir named the file but said "choose another --out", an
    option the notebook does not have. Each names its parameter and what to do."""
    inv = _sample_investigation()
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    summary, tables = {
        "under a file": (a_file / "summary.json", a_file / "tables"),
        "a folder": (tmp_path, a_file),
        "no such parent": (a_file / "x" / "summary.json", a_file / "x"),
    }[where]
    with pytest.raises(InputError) as summary_error:
        report.write_summary(inv, None, summary)
    assert str(summary_error.value).startswith("summary_path")
    assert "summary_path" in str(summary_error.value.hint) or where == "a folder"
    assert "--out" not in str(summary_error.value.message)
    with pytest.raises(InputError) as tables_error:
        report.export_tables(inv, tables)
    assert str(tables_error.value).startswith("export_dir: cannot write ")
    assert "set export_dir to a folder" in str(tables_error.value.hint)
    assert not list(tmp_path.glob(".*.tmp"))  # nothing half written left


def _strings(value: Any) -> set[str]:
    if isinstance(value, str):
        return {value}
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else []
    return set().union(*(_strings(v) for v in items)) if items else set()


def test_findings_json_on_the_terminal_shows_unseen_characters_escaped(tmp_path: Path) -> None:
    """``findings --json``: a user name with a bidi override, an OSC 8 link and a C1 CSI prints
    as JSON escapes (inert) and decodes to the name as written."""
    name = "ben\u202ejamin\x1b]8;;http://evil\x1b\\X\x1b]8;;\x1b\\\x9b31m\u200b"
    doc = json.loads((CASE.root / "findings" / "eventbridge-recon.json").read_text())
    doc["detail"]["resource"]["accessKeyDetails"]["userName"] = name
    (tmp_path / "findings").mkdir()
    (tmp_path / "findings" / "evil.json").write_text(json.dumps(doc))
    code, stdout, err = run("findings", "--case", str(tmp_path), "--json")
    assert code == 0, err
    assert RAW_UNSEEN.findall(stdout) == []
    assert [r["user_name"] for r in json.loads(stdout)] == [name]


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_events_out_never_writes_through_a_link_at_a_temporary_name(
    suffix: str, tmp_path: Path
) -> None:
    """A link planted beside ``--out`` (a shared folder) under the name the temporary file had
    cannot send the export into another file: the temporary file is always a new one."""
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    shared = tmp_path / "shared"
    shared.mkdir()
    out = shared / f"ev{suffix}"
    for name in (f".{out.name}.tmp", f".{out.name}.{os.getpid()}.tmp"):
        (shared / name).symlink_to(victim)
    code, _, err = run(*_events_args(out))
    assert code == 0, err
    assert victim.read_text() == "precious"
    assert out.is_file() and not out.is_symlink()
    assert out.stat().st_size > 0


def test_write_atomic_never_writes_through_a_planted_link(tmp_path: Path) -> None:
    """Every JSON file of a report folder (summary.json, manifest.json, index.json, the
    post records) is written this way."""
    from torinvest.paths import write_atomic

    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    out = tmp_path / "summary.json"
    (tmp_path / f".{out.name}.{os.getpid()}.tmp").symlink_to(victim)
    write_atomic(out, b"{}\n")
    assert victim.read_text() == "precious"
    assert out.read_bytes() == b"{}\n" and not out.is_symlink()


def _hostile_events() -> pd.DataFrame:
    cells = [*HOSTILE_CELLS, INNER_BREAK]
    n = len(cells)
    return pd.DataFrame(
        {
            "event_time": pd.date_range("2023-07-10T12:00Z", periods=n, freq="s"),
            "event_id": [f"id-{i}" for i in range(n)],
            "user_agent": pd.Categorical(cells),
            "request_parameters": pd.array(cells[::-1], dtype="string"),
            "read_only": pd.array([True, None] * (n // 2) + [False] * (n % 2), dtype="boolean"),
        }
    )


# --------------------------------------------------------------------------------------------
# interrupted runs: a report folder is complete only when its manifest is written, last
# --------------------------------------------------------------------------------------------
_INV: list[investigation.Investigation] = []


def _sample_investigation() -> investigation.Investigation:
    if not _INV:
        sources = investigation.sources_from_parameters(case_dir=str(CASE.root))
        _INV.append(investigation.investigate(FINDING, sources))
    inv = _INV[0]
    fields = {name: getattr(inv, name) for name in investigation.Investigation.__dataclass_fields__}
    return investigation.Investigation(
        **{k: v.copy() if isinstance(v, pd.DataFrame) else v for k, v in fields.items()}
    )


@pytest.fixture(scope="module")
def done(sample_report: Path) -> Path:
    """A complete report of the sample finding, made once by a real run (a kernel): the
    session's (tests/conftest.py), read only — the tests copy it."""
    return sample_report


def _fake_kernel(monkeypatch: pytest.MonkeyPatch, done: Path) -> list[Path]:
    """``report.execute`` replaced by what the kernel of ``done``'s run wrote (the notebook,
    summary.json, the CSVs), copied into the new folder: every other step runs for real."""
    calls: list[Path] = []

    def execute(notebook: Path, output: Path, params: dict, **_: Any) -> None:
        calls.append(output)
        shutil.copy(done / "report.ipynb", output)
        folder = Path(params["export_dir"])
        for name in ("summary.json", "events.csv", "per_ip.csv"):
            shutil.copy(done / name, folder / name)

    monkeypatch.setattr("torinvest.report.run.execute", execute)
    return calls


def _case_with_one_open_finding(root: Path) -> Path:
    case = root / "case"
    shutil.copytree(CASE.root, case)
    path = case / "findings" / "eventbridge-recon.json"
    doc = json.loads(path.read_text())
    doc["detail"]["service"]["archived"] = True
    path.write_text(json.dumps(doc))
    return case


def _interrupt(*_: Any, **__: Any) -> None:
    raise KeyboardInterrupt


@pytest.mark.parametrize(
    "step", ["begin", "execute", "export_html", "check_summary", "write_manifest"]
)
def test_interrupted_at_each_step_is_incomplete_and_all_open_finishes_it(
    step: str, done: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = _case_with_one_open_finding(tmp_path)
    root = tmp_path / "reports"
    folder = root / f"finding-{FINDING}"
    options = report.RunOptions(case_dir=str(case), ledger=str(tmp_path / "l.jsonl"))
    _fake_kernel(monkeypatch, done)
    with monkeypatch.context() as m:
        m.setattr(f"torinvest.report.run.{step}", _interrupt)
        with pytest.raises(KeyboardInterrupt):
            report.run_report(FINDING, folder, options)
    state = report.folder_state(folder, FINDING)
    assert state.state in ("incomplete", "missing") and not state.complete
    assert not (folder / "report.html").exists() or step in ("check_summary", "write_manifest")
    assert not list(folder.glob(".*partial*"))  # no temporary left behind

    said: list[str] = []
    batch = report.run_batch(root, options, echo=said.append)  # no --force
    (entry,) = batch.entries
    assert entry.status == "ok" and entry.complete
    if state.state == "incomplete":
        assert entry.note and "incomplete" in entry.note
        assert any("again" in s and "incomplete" in s for s in said)
    assert report.folder_state(folder, FINDING).complete
    index = orjson.loads((root / "index.json").read_bytes())
    linked = index["findings"][0]["report"]
    assert set(linked) == {"html", "notebook", "summary", "events", "per_ip", "manifest"}
    assert all((root / p).is_file() for p in linked.values())


def test_the_index_links_the_report_a_failed_run_kept_and_failures_never_replace_it(
    done: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A complete report, then `--all-open --force` runs that fail (a summary that breaks its
    contract) twice: the complete report is kept as report.previous.html, the index links it
    (it linked only the failed run's page), and the second failure does not replace it with
    the first failure's page (it did: the last complete report was lost)."""
    case = _case_with_one_open_finding(tmp_path)
    root = tmp_path / "reports"
    folder = root / f"finding-{FINDING}"
    options = report.RunOptions(case_dir=str(case), ledger=str(tmp_path / "l.jsonl"))
    _fake_kernel(monkeypatch, done)
    report.run_batch(root, options, echo=lambda _: None)
    good = (folder / "report.html").read_bytes()

    def broken(*_: Any, **__: Any) -> None:
        (folder / "report.html").write_text("the page of a run that failed")
        raise report.ReportError("summary.json breaks its contract")

    monkeypatch.setattr("torinvest.report.run.check_summary", broken)
    for attempt in range(2):
        batch = report.run_batch(root, options, force=True, echo=lambda _: None)
        assert [e.status for e in batch.entries] == ["failed"], attempt
        assert (folder / "report.previous.html").read_bytes() == good, attempt
        entry = orjson.loads((root / "index.json").read_bytes())["findings"][0]
        assert entry["report"]["previous"] == f"{folder.name}/report.previous.html"
        page = (root / "index.html").read_text()
        assert f'<a href="{folder.name}/report.previous.html">previous report</a>' in page


def test_summary_and_csvs_without_html_are_run_again(
    done: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The folder the issue saw: summary.json and CSVs, no report.html (Ctrl-C, or an older
    version): never skipped as done, and its index never links the missing HTML."""
    case = _case_with_one_open_finding(tmp_path)
    root = tmp_path / "reports"
    folder = root / f"finding-{FINDING}"
    folder.mkdir(parents=True)
    for name in ("summary.json", "events.csv", "per_ip.csv"):
        shutil.copy(done / name, folder / name)
    state = report.folder_state(folder, FINDING)
    assert (state.state, state.why) == ("incomplete", "no manifest: the run did not finish")
    # the index of that folder as it is: no link to a report.html that does not exist
    entry = report.BatchEntry(FINDING, "interrupted", report={"html": f"{folder.name}/report.html"})
    sources = investigation.sources_from_parameters(case_dir=str(case))
    report.write_index(root, [entry], [], sources)
    page = (root / "index.html").read_text()
    assert "report.html" not in page and "<b>incomplete</b>" in page
    assert orjson.loads((root / "index.json").read_bytes())["findings"][0]["report"] == {}

    calls = _fake_kernel(monkeypatch, done)
    options = report.RunOptions(case_dir=str(case), ledger=str(tmp_path / "l.jsonl"))
    batch = report.run_batch(root, options, echo=lambda _: None)
    assert [e.status for e in batch.entries] == ["ok"] and len(calls) == 1
    assert report.folder_state(folder, FINDING).complete


def test_a_file_changed_after_the_run_makes_the_folder_incomplete(
    done: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "copy"
    shutil.copytree(done, folder)
    assert report.folder_state(folder, FINDING).complete
    (folder / "events.csv").write_text("event_time\n")
    assert report.folder_state(folder, FINDING).why == "events.csv changed after the run"
    (folder / "report.html").unlink()
    assert report.folder_state(folder, FINDING).why == "report.html is missing"
    assert report.folder_state(done, OTHER_FINDING).why == "the manifest is of another finding"


def test_a_batch_interrupted_mid_way_writes_an_index_of_what_is_there(
    done: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "reports"
    _fake_kernel(monkeypatch, done)
    monkeypatch.setattr("torinvest.report.run.export_html", _interrupt)
    with pytest.raises(KeyboardInterrupt):
        report.run_batch(root, report.RunOptions(case_dir=str(CASE.root)), echo=lambda _: None)
    index = orjson.loads((root / "index.json").read_bytes())
    assert [(f["status"], f["complete"]) for f in index["findings"]] == [
        ("interrupted", False),
        ("not run", False),
    ]
    for f in index["findings"]:
        assert "html" not in f["report"]
        assert all((root / p).is_file() for p in f["report"].values())
    assert "<b>incomplete</b>" in (root / "index.html").read_text()


def test_index_that_cannot_be_written(
    done: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = _case_with_one_open_finding(tmp_path)
    root = tmp_path / "reports"
    shutil.copytree(done, root / f"finding-{FINDING}")  # complete
    # the sample case's window is read in part, so the report is retried: what its kernel
    # wrote is copied (every other step runs for real), the index is what this test is about
    _fake_kernel(monkeypatch, done)
    fail_on(monkeypatch, "replace", root / "index.json", errno.EROFS)
    code, _, err = run("investigate", "--all-open", "--case", str(case), "--out", str(root))
    assert code == EXIT_FAILED
    assert f"cannot write the index {root / 'index.json'}: Read-only file system" in one_error(err)


SLOW_EXPORT = """
import shutil, sys, time
from pathlib import Path
from torinvest.report import run as report
from torinvest.cli import main
done = Path(sys.argv.pop(1))
def execute(notebook, output, params, **kwargs):  # what done's kernel wrote (_fake_kernel)
    shutil.copy(done / "report.ipynb", output)
    for name in ("summary.json", "events.csv", "per_ip.csv"):
        shutil.copy(done / name, Path(params["export_dir"]) / name)
report.execute = execute
real = report.export_html
def slow(*args, **kwargs):
    time.sleep(30)  # the window in which the analyst presses Ctrl-C
    return real(*args, **kwargs)
report.export_html = slow
sys.exit(main())
"""


def test_a_real_sigint_after_summary_json(done: Path, tmp_path: Path) -> None:
    """Ctrl-C (SIGINT) after the kernel wrote summary.json: exit 130 with one line, and the
    folder is incomplete — summary.json alone never passes for a report. (The kernel's files
    are ``done``'s, copied: the signal comes after the kernel, and the command is real.)"""
    out = tmp_path / "report"
    args = ["investigate", FINDING, "--case", str(CASE.root), "--out", str(out)]
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            SLOW_EXPORT,
            str(done),
            *args,
            "--ledger",
            str(tmp_path / "l.jsonl"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        preexec_fn=as_from_a_terminal,
    )
    try:
        deadline = time.monotonic() + 300
        while not (out / "summary.json").exists() or not (out / "report.ipynb").exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "torinvest: interrupted" in err and "Traceback" not in err
    assert (
        f"torinvest: note: the report in {out} was not finished (no manifest: the run did "
        "not finish): nothing reads it as a report; run the command again to make it"
    ) in err
    state = report.folder_state(out, FINDING)
    assert (state.state, state.why) == ("incomplete", "no manifest: the run did not finish")
    assert not (out / "report.html").exists()


@pytest.fixture(autouse=True)
def _no_leftover_probes(tmp_path: Path) -> Iterator[None]:
    yield
    assert not list(tmp_path.rglob(".write-probe-*")), "a write probe was left behind"


def test_reports_and_posts_flag_a_malformed_ledger_verdict_never_follow_it(
    tmp_path: Path,
) -> None:
    """A malicious record with no analyst and no rationale (the CLI never writes one): the
    report's data_issues name its line; the report and the post answer do not take it as the
    finding's verdict."""
    from tests.post.conftest import summary_data
    from torinvest.post.answer import build_answer

    ledger = tmp_path / "ledger.jsonl"
    fixture = Path(__file__).parents[1] / "fixtures" / "ledger-malicious-no-analyst.jsonl"
    shutil.copy(fixture, ledger)
    fid = json.loads(fixture.read_text())["finding_id"]
    shown = investigation.decide(None, finding_id=fid, ledger=ledger)  # a pending run
    assert shown["status"] == "pending" and shown["recorded_at"] is None
    inv = _sample_investigation()
    data = report.summary_data(inv, {"status": "pending", "ledger": str(ledger)})
    (issue,) = [i for i in data["data_issues"] if i["source"] == f"{ledger}:1"]
    assert issue["problem"].startswith("a verdict record with no analyst and no rationale")
    summary = summary_data()
    summary["finding"]["id"] = fid
    answer = build_answer(summary, verdict.read_ledger(ledger)[0])
    assert answer.verdict["status"] == "pending" and answer.workflow is None


@pytest.mark.parametrize("text", UNSEEN_TEXT)
def test_terminal_and_page_text_show_every_unseen_character_escaped(text: str) -> None:
    """The tag characters (U+E0000–E007F: invisible letters a reader never sees but a program
    reads), the soft hyphen and interlinear annotation marks are shown escaped like bidi
    overrides, in the terminal and on a page, as in the exports above."""
    from torinvest.safety import html_text, term_safe

    for shown in (term_safe(text), html_text(text), visible_text(text)):
        assert RAW_UNSEEN.findall(shown) == [], shown
