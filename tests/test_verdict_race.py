"""Two analysts recording verdicts on one finding at the same moment: the finding's re-read,
the comparison with the ledger's current verdict and the append are one critical section (the
ledger's decision lock), whatever name each gives the ledger — the second is refused as when
it comes later ("it would supersede another analyst's verdict"), never recorded silently.

Deterministic: the first writer pauses inside its critical section until the second has either
finished (no lock: the race) or is waiting for the lock (``verdict._waiting``, the hook the
lock calls before it waits)."""

from __future__ import annotations

import errno
import fcntl
import io
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from torinvest import investigation
from torinvest import verdict as vd
from torinvest.errors import EXIT_REFUSED
from torinvest.findings.recheck import FindingCheck, not_reread

FID = "6dde0a8f8d46f6acad893b30f905e97c"


def _cli(*argv: str) -> tuple[int, str, str]:
    from torinvest.cli import main

    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def _verdict(analyst: str, status: str) -> vd.Verdict:
    return vd.make_verdict(FID, status=status, analyst=analyst, rationale=f"{analyst}'s reading")


class Race:
    """The first writer (thread ``first``) pauses at :meth:`pause` until the second has finished
    or waits for the decision lock."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.first_inside = threading.Event()
        self.second_on = threading.Event()  # the second finished, or waits for the lock
        self.second_waited = False
        self.errors: list[BaseException] = []

        def waiting(path: Path, lock: Path) -> None:
            if threading.current_thread().name == "second":
                self.second_waited = True
                self.second_on.set()

        monkeypatch.setattr(vd, "_waiting", waiting, raising=False)

    def pause(self) -> None:
        if threading.current_thread().name == "first":
            self.first_inside.set()
            assert self.second_on.wait(60), "the second writer neither finished nor waited"

    def run(self, first: Callable[[], Any], second: Callable[[], Any]) -> dict[str, Any]:
        got: dict[str, Any] = {}

        def go(name: str, call: Callable[[], Any]) -> None:
            try:
                if name == "second":
                    assert self.first_inside.wait(60), "the first writer never got inside"
                got[name] = call()
            except BaseException as e:  # reported by the test
                self.errors.append(e)
            finally:
                (self.second_on if name == "second" else self.first_inside).set()

        threads = [
            threading.Thread(target=go, args=(n, c), name=n)
            for n, c in (("first", first), ("second", second))
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)  # a bound on a hang, not a timing assertion
            assert not t.is_alive(), "a writer hung"
        assert not self.errors, self.errors
        return got


def test_a_second_analyst_naming_the_ledger_through_a_symlink_is_refused_not_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ana records legitimate in the team's ledger; bob, at the same moment, records malicious
    through his own name for it (``~/.local/share/torinvest/ledger.jsonl`` a symlink to the
    team's file). The decision lock was ``<name>.lock`` beside each *name*: two locks, both read
    a ledger without a verdict, both appended — bob's silently superseded ana's, which
    ``torinvest verdict`` refuses without --supersede. Now the lock is beside the file itself:
    bob waits, then is refused, naming ana's verdict."""
    team = tmp_path / "team" / "ledger.jsonl"
    team.parent.mkdir()
    team.touch()
    mine = tmp_path / "home" / "ledger.jsonl"
    mine.parent.mkdir()
    mine.symlink_to(team)
    race = Race(monkeypatch)
    real_read = vd.read_ledger

    def read(path: Any = None) -> Any:
        out = real_read(path)  # ana has read: no verdict yet
        race.pause()
        return out

    monkeypatch.setattr(vd, "read_ledger", read)
    got = race.run(
        lambda: vd.record_decision(_verdict("ana", "legitimate"), team, supersede=False),
        lambda: vd.record_decision(_verdict("bob", "malicious"), mine, supersede=False),
    )
    records, issues = real_read(team)
    assert issues == [] and [(r["analyst"], r["status"]) for r in records] == [
        ("ana", "legitimate")
    ]
    assert got["first"].added and not got["second"].added
    assert got["second"].why.startswith("it would supersede another analyst's verdict: legitimate")
    assert race.second_waited  # bob waited for ana's critical section
    assert vd.latest_decided_verdict(records, FID)["analyst"] == "ana"
    assert not (mine.parent / "ledger.jsonl.lock").exists()  # one lock, beside the file


def _assert_locked(ledger: Path) -> None:
    """The ledger's decision lock is held (by this thread's critical section): another open
    file description cannot take it."""
    fd = os.open(vd._lock_path(ledger), os.O_RDWR)
    try:
        with pytest.raises(BlockingIOError) as e:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert e.value.errno in (errno.EWOULDBLOCK, errno.EAGAIN)
    finally:
        os.close(fd)


def test_torinvest_verdict_reads_the_finding_again_inside_the_critical_section(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ana's ``torinvest verdict`` is reading the finding again (GetFindings) when bob's
    arrives. The re-read was outside the lock: bob's verdict was recorded between ana's re-read
    and her append, and ana's — the one that had read the finding first — was refused. Now
    bob's waits until ana's is appended, reads the finding again after it, and is refused
    naming ana's verdict (as a second verdict is when it comes later): exit 1, nothing of his
    recorded."""
    ledger = tmp_path / "ledger.jsonl"
    race = Race(monkeypatch)
    reread: list[str] = []

    def recheck(inv: Any) -> FindingCheck:
        reread.append(threading.current_thread().name)
        race.pause()  # ana: GetFindings in flight
        return not_reread("no source option was given (test)")

    monkeypatch.setattr(investigation, "recheck", recheck)
    common = ("--ledger", str(ledger), "--rationale", "r")
    got = race.run(
        lambda: _cli("verdict", FID, "--status", "legitimate", "--analyst", "ana", *common),
        lambda: _cli("verdict", FID, "--status", "malicious", "--analyst", "bob", *common),
    )
    code, out, err = got["first"]
    assert code == 0 and f"recorded: legitimate for {FID}" in out, err
    code, out, err = got["second"]
    assert (
        code == EXIT_REFUSED and "verdict NOT recorded: it would supersede another analyst's" in err
    )
    assert "legitimate by ana" in err and "recorded:" not in out
    records, _ = vd.read_ledger(ledger)
    assert [(r["analyst"], r["status"]) for r in records] == [("ana", "legitimate")]
    assert race.second_waited and reread == ["first", "second"]


def test_every_recording_path_reads_the_finding_again_under_the_decision_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``investigate --verdict``, the notebook's parameters and its form record through
    :func:`investigation.decide`: its re-read is inside the critical section too."""
    ledger = tmp_path / "ledger.jsonl"
    seen: list[bool] = []

    def recheck(inv: Any) -> FindingCheck:
        _assert_locked(ledger)
        seen.append(True)
        return not_reread("no source option was given (test)")

    monkeypatch.setattr(investigation, "recheck", recheck)
    done = investigation.decide(
        None, finding_id=FID, status="malicious", analyst="ana", rationale="r", ledger=ledger
    )
    assert seen == [True] and done["added"] and done["status"] == "malicious"
    # the lock is re-entrant in its thread (record_decision inside it), and released after
    fd = os.open(vd._lock_path(ledger), os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        os.close(fd)
