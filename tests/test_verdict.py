"""Verdicts and the ledger: concurrent writers never lose or interleave a record."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import orjson
import pandas as pd
import pytest

from tests.verdict_writer import write_verdicts
from torinvest import verdict as vd
from torinvest.errors import InputError

FID = "6dde0a8f8d46f6acad893b30f905e97c"
OTHER = "a" * 32


def test_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.jsonl"
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=write_verdicts, args=(str(ledger), w, 40)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    records, issues = vd.read_ledger(ledger)
    assert issues == []  # every line whole, and the hash chain unbroken (each linked in order)
    assert vd.read_ledger_chain(ledger).chain.start == 1
    assert len(records) == 160
    seen = {(r["analyst"], r["rationale"].split()[1]) for r in records}
    assert len(seen) == 160
    for line in ledger.read_bytes().splitlines():
        orjson.loads(line)  # every line is whole


def test_default_location_and_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORINVEST_LEDGER", str(tmp_path / "l.jsonl"))
    assert vd.default_ledger_path() == tmp_path / "l.jsonl"
    monkeypatch.delenv("TORINVEST_LEDGER")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert vd.default_ledger_path() == tmp_path / "torinvest" / "ledger.jsonl"


def test_verdict_needs_analyst_and_rationale() -> None:
    with pytest.raises(InputError, match="needs an analyst and a rationale"):
        vd.make_verdict(FID, status="malicious", analyst="", rationale="")
    with pytest.raises(InputError, match="invalid verdict status"):
        vd.make_verdict(FID, status="guilty", analyst="a", rationale="r")
    assert vd.make_verdict(FID, status="pending", analyst="", rationale="").status == "pending"


def test_frame_latest_and_bad_lines(tmp_path: Path) -> None:
    ledger = tmp_path / "l.jsonl"
    t0 = pd.Timestamp("2023-07-10T13:00:00Z")
    for i, status in enumerate(["pending", "malicious"]):
        v = vd.make_verdict(
            FID, status=status, analyst="ana", rationale="r", now=t0 + pd.Timedelta(minutes=i)
        )
        vd.record_verdict(v, ledger)
    with open(ledger, "ab") as fh:
        fh.write(b"{torn\n")
    records, issues = vd.read_ledger(ledger)
    assert [i.source for i in issues] == [f"{ledger}:3"]
    assert vd.latest_verdict(records, FID)["status"] == "malicious"
    frame = vd.verdicts_frame(records)
    assert list(frame["status"]) == ["malicious", "pending"]
    assert frame["recorded_at"].iloc[0] == t0 + pd.Timedelta(minutes=1)


def _record(status: str, minute: int | None, finding: str = FID) -> dict:
    when = "garbage" if minute is None else f"2024-01-01T00:{minute:02d}:00Z"
    return {
        "kind": "verdict",
        "finding_id": finding,
        "status": status,
        "recorded_at": when,
        "analyst": "ana" if status != "pending" else "",
        "rationale": "r" if status != "pending" else "",
    }


@pytest.mark.parametrize(
    ("history", "current", "decided"),
    [
        ([], None, None),
        ([("pending", 1)], "pending", None),
        ([("malicious", 1), ("pending", 2)], "malicious", "malicious"),
        ([("legitimate", 1), ("malicious", 2), ("pending", 3)], "malicious", "malicious"),
        ([("malicious", 2), ("legitimate", 1)], "legitimate", "legitimate"),  # line, not time
        ([("malicious", 1), ("inconclusive", 1)], "inconclusive", "inconclusive"),
        ([("pending", 5), ("legitimate", 1)], "legitimate", "legitimate"),
        ([("malicious", None), ("legitimate", 1)], "legitimate", "legitimate"),
        # a time that cannot be read: a malformed record, not a decision (the legitimate stands)
        ([("legitimate", 1), ("malicious", None)], "legitimate", "legitimate"),
    ],
)
def test_pending_never_hides_a_decided_verdict(
    history: list[tuple[str, int | None]], current: str | None, decided: str | None
) -> None:
    records = [_record(s, m) for s, m in history] + [_record("malicious", 9, finding="other")]
    records.insert(0, {"kind": "action", "finding_id": FID, "phase": "start"})
    got = vd.latest_verdict(records, FID)
    assert (got["status"] if got else None) == current
    got = vd.latest_decided_verdict(records, FID)
    assert (got["status"] if got else None) == decided
    assert [r["status"] for r in vd.verdict_history(records, FID)] == [s for s, _ in history]


# --------------------------------------------------------------------------------------------
# recording once, superseding, the current verdict
# --------------------------------------------------------------------------------------------
def _decide(ledger: Path, status: str, analyst: str = "ana", rationale: str = "r", minute: int = 0):
    v = vd.make_verdict(
        FID,
        status=status,
        analyst=analyst,
        rationale=rationale,
        now=pd.Timestamp("2024-01-01T00:00:00Z") + pd.Timedelta(minutes=minute),
    )
    return vd.record_decision(v, ledger)


def test_the_same_verdict_again_adds_no_record_a_different_one_supersedes(tmp_path: Path) -> None:
    ledger = tmp_path / "l.jsonl"
    first = _decide(ledger, "malicious", minute=1)
    assert (first.added, first.superseded) == (True, None)
    again = _decide(ledger, "malicious", rationale=" r ", minute=2)  # blanks do not count
    assert again.added is False
    assert again.record["recorded_at"] == first.record["recorded_at"]  # the one already there
    other = _decide(ledger, "legitimate", analyst="bob", rationale="red team", minute=3)
    assert other.added and other.superseded["status"] == "malicious"
    back = _decide(ledger, "malicious", minute=4)  # the first again: it supersedes legitimate
    assert back.added and back.superseded["analyst"] == "bob"
    by_someone_else = _decide(ledger, "malicious", analyst="carl", minute=5)
    assert by_someone_else.added  # another analyst's decision is a record of its own
    records, _ = vd.read_ledger(ledger)
    assert [(r["status"], r["analyst"]) for r in records] == [
        ("malicious", "ana"),
        ("legitimate", "bob"),
        ("malicious", "ana"),
        ("malicious", "carl"),
    ]
    assert vd.latest_verdict(records, FID)["analyst"] == "carl"


def test_current_verdicts_and_states(tmp_path: Path) -> None:
    records = [
        {**_record("malicious", 1), "analyst": "ana"},
        {**_record("pending", 2)},
        {**_record("legitimate", 3), "analyst": "bob"},
        {**_record("pending", 1, finding=OTHER)},
        {"kind": "action", "finding_id": FID},
    ]
    current = vd.current_verdicts(records)
    assert [(r["finding_id"], r["status"]) for r in current] == [  # the last appended first
        (OTHER, "pending"),
        (FID, "legitimate"),
    ]
    states = vd.verdict_states(records)
    assert [(r["finding_id"], r["status"], r["state"]) for r in states] == [
        (OTHER, "pending", "current"),
        (FID, "legitimate", "current"),
        (FID, "pending", "not a decision"),
        (FID, "malicious", "superseded"),
    ]


def test_a_later_verdict_from_a_host_whose_clock_is_behind_is_current(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """malicious on a host with a right clock, then legitimate from a host 10 min behind (one
    shared ledger): legitimate is current everywhere — the listing, the actions gate, the
    report, the post — because it was appended after; the clock is flagged, not trusted."""
    from tests.post.conftest import summary_data
    from torinvest.cli import main
    from torinvest.errors import RefusedError
    from torinvest.investigation import decide
    from torinvest.post.answer import build_answer
    from torinvest.runner import require_verdict

    ledger = tmp_path / "l.jsonl"
    ahead = pd.Timestamp.now(tz="UTC") + pd.Timedelta(minutes=10)  # the other host's clock
    vd.record_decision(
        vd.make_verdict(FID, status="malicious", analyst="ana", rationale="tor", now=ahead),
        ledger,
    )
    argv = ["verdict", FID, "--status", "legitimate", "--analyst", "bob", "--rationale", "red"]
    assert main([*argv, "--ledger", str(ledger), "--supersede"]) == 0
    out, err = capsys.readouterr()
    assert "supersedes: malicious by ana" in out
    assert "recorded with a clock behind the previous record by 10 min" in err

    records, _ = vd.read_ledger(ledger)
    assert vd.latest_verdict(records, FID)["status"] == "legitimate"
    # the gate follows bob's (recorded without a source: a verdict without evidence, which no
    # archive follows — the refusal names it)
    with pytest.raises(RefusedError, match=f"legitimate verdict on {FID} of bob .* without evid"):
        require_verdict(FID, "archive", ledger=ledger)
    with pytest.raises(RefusedError, match="latest decided verdict is legitimate"):
        require_verdict(FID, "remediate", ledger=ledger)
    shown = decide(None, finding_id=FID, ledger=ledger)  # the notebook's pending run
    assert shown["status"] == "legitimate"
    summary = summary_data()
    summary["finding"]["id"] = FID
    summary["verdict"] = {
        k: records[0][k] for k in ("status", "analyst", "rationale", "recorded_at")
    }
    answer = build_answer(summary, records)  # a report made while malicious was current
    assert answer.verdict["status"] == "legitimate" and answer.workflow == "SUPPRESSED"

    assert main(["verdicts", "--ledger", str(ledger)]) == 0
    out, _ = capsys.readouterr()
    assert "legitimate" in out.splitlines()[2] and "malicious" not in out
    assert main(["verdicts", "--history", "--ledger", str(ledger)]) == 0
    out, _ = capsys.readouterr()
    rows = out.splitlines()
    assert "legitimate" in rows[2] and "current" in rows[2]
    assert "malicious" in rows[3] and "superseded" in rows[3]
    assert f"note: legitimate on {FID} at " in out
    assert "recorded with a clock behind the previous record by 10 min" in out
    assert main(["verdicts", "--history", "--json", "--ledger", str(ledger)]) == 0
    rows = orjson.loads(capsys.readouterr().out)
    assert [(r["status"], r["state"]) for r in rows] == [
        ("legitimate", "current"),
        ("malicious", "superseded"),
    ]
    assert rows[0]["clock"].endswith("by 10 min") and rows[1]["clock"] is None


def test_default_analyst(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORINVEST_ANALYST", "  ana  ")
    assert vd.default_analyst() == "ana"
    monkeypatch.delenv("TORINVEST_ANALYST")
    monkeypatch.setenv("LOGNAME", "login-name")
    assert vd.default_analyst() == "login-name"


def test_ledger_lines_that_are_not_objects_are_counted_as_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Grouped issues of FILE:LINE sources (a ledger's, a findings file's) count lines, not
    files."""
    from torinvest.cli import main
    from torinvest.errors import DataIssue, group_issues

    ledger = tmp_path / "l.jsonl"
    vd.record_verdict(vd.make_verdict(FID, status="malicious", analyst="a", rationale="r"), ledger)
    with open(ledger, "ab") as fh:
        fh.write(b"10\n[11]\n")
    assert main(["verdicts", "--ledger", str(ledger)]) == 0
    err = capsys.readouterr().err
    assert f"torinvest: issue: {ledger}:…: 2 lines: not a JSON object" in err
    assert "e.g. 2, 3" in err and "files" not in err
    found = [DataIssue(f"/case/findings/{n}.jsonl:{n}", "not a finding") for n in (4, 9)]
    (grouped,) = group_issues(found)
    assert grouped.problem.startswith("2 lines: not a finding")
    files = [DataIssue(f"/logs/{n}.json.gz", "not CloudTrail") for n in (4, 9)]
    assert group_issues(files)[0].problem.startswith("2 files: ")


# --------------------------------------------------------------------------------------------
# compare-and-append: a stale base or another analyst's later decision is never overridden
# --------------------------------------------------------------------------------------------
def _verdict(status: str, analyst: str = "ana", rationale: str = "r") -> vd.Verdict:
    return vd.make_verdict(FID, status=status, analyst=analyst, rationale=rationale)


def test_a_verdict_based_on_a_verdict_no_longer_current_is_not_recorded(tmp_path: Path) -> None:
    ledger = tmp_path / "l.jsonl"
    shown = _decide(ledger, "malicious", minute=1).record  # what the form showed
    bob = _decide(ledger, "legitimate", analyst="bob", rationale="pentest", minute=2)
    stale = vd.record_decision(_verdict("inconclusive"), ledger, expected=shown)
    assert (stale.added, stale.record["analyst"], stale.refused["status"]) == (
        False,
        "bob",
        "inconclusive",
    )
    assert "changed" in stale.why and "legitimate by bob" in stale.why
    assert vd.record_decision(_verdict("malicious"), ledger, expected=None).added is False
    based = vd.record_decision(_verdict("inconclusive"), ledger, expected=bob.record)
    assert based.added and based.superseded["analyst"] == "bob"
    records, _ = vd.read_ledger(ledger)
    assert [r["status"] for r in records] == ["malicious", "legitimate", "inconclusive"]


def test_without_supersede_another_analysts_verdict_stays_an_own_one_is_replaced(
    tmp_path: Path,
) -> None:
    ledger = tmp_path / "l.jsonl"
    vd.record_decision(_verdict("malicious"), ledger, supersede=False)  # the first: recorded
    own = vd.record_decision(_verdict("legitimate", " ANA "), ledger, supersede=False)
    assert own.added and own.superseded["status"] == "malicious"  # the same analyst
    bob = vd.record_decision(_verdict("malicious", "bob"), ledger, supersede=False)
    assert not bob.added and bob.refused["analyst"] == "bob"
    assert "another analyst's verdict: legitimate by  ANA " in bob.why
    assert bob.record["status"] == "legitimate"  # what stays current
    assert vd.record_decision(_verdict("malicious", "bob"), ledger).added  # explicit: recorded
    records, _ = vd.read_ledger(ledger)
    assert [r["analyst"] for r in records] == ["ana", " ANA ", "bob"]


def test_recording_reports_the_ledgers_unreadable_lines(tmp_path: Path) -> None:
    ledger = tmp_path / "l.jsonl"
    _decide(ledger, "malicious")
    with open(ledger, "ab") as fh:
        fh.write(b'{"kind":"verdict","finding_id":"' + FID.encode() + b'","status":"legit')
    done = vd.record_decision(_verdict("malicious", rationale="r2"), ledger)
    assert [i.source for i in done.issues] == [f"{ledger}:2"]


@pytest.mark.parametrize(
    ("where", "failed", "reason"),
    [
        ("file/ledger.jsonl", "file", "not a directory"),
        ("file/sub/ledger.jsonl", "file", "not a directory"),
    ],
)
def test_an_unwritable_ledger_names_the_path_that_failed_and_why(
    tmp_path: Path, where: str, failed: str, reason: str
) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError) as e:
        _decide(tmp_path / where, "malicious")
    assert f"cannot write the ledger {tmp_path / where}: {tmp_path / failed}: " in e.value.message
    assert reason in e.value.message and "File exists" not in e.value.message
    with pytest.raises(InputError) as e:
        vd.append(tmp_path / where, {"kind": "action"})
    assert f"{tmp_path / failed}: " in e.value.message and reason in e.value.message


@pytest.mark.skipif(not Path("/proc/version").is_file(), reason="needs Linux's /proc")
def test_a_ledger_whose_lock_cannot_be_made_names_the_lock() -> None:
    with pytest.raises(InputError) as e:
        _decide(Path("/proc/version"), "malicious")
    assert e.value.message.startswith(
        "cannot write the ledger /proc/version: its lock file /proc/version.lock cannot be created"
    )


# --------------------------------------------------------------------------------------------
# a ledger path that is not a file
# --------------------------------------------------------------------------------------------
def _cli(*argv: str) -> tuple[int, str, str]:
    import io

    from torinvest.cli import main

    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_a_ledger_that_is_a_fifo_or_a_device_is_refused_never_waited_on(
    tmp_path: Path, kind: str
) -> None:
    """``--ledger`` naming a FIFO (or ``/dev/null``): reading it waited for a writer for ever
    (``verdict``, ``verdicts``, ``actions --execute`` hung); writing put the record into a pipe
    or nowhere. Every reader and writer refuses it at once, naming the ledger and what it is."""
    import os

    from tests.bounded import bounded
    from torinvest.runner import require_verdict

    if kind == "fifo":
        path = tmp_path / "ledger.jsonl"
        os.mkfifo(path)
        said = "it is a FIFO (named pipe), not a file"
    else:
        path, said = Path(os.devnull), "it is a device, not a file"
    verdict = vd.make_verdict(FID, status="malicious", analyst="ana", rationale="r")
    for call in (
        lambda: vd.read_ledger(path),
        lambda: vd.append(path, verdict.to_dict()),
        lambda: vd.record_decision(verdict, path),
        lambda: require_verdict(FID, "remediate", ledger=path),
    ):
        with pytest.raises(InputError) as e:
            bounded(call, seconds=20)
        assert str(path) in str(e.value) and said in str(e.value)
    for argv in (
        ("verdicts", "--ledger", str(path)),
        ("verdict", FID, "--status", "malicious", "--analyst", "a", "--rationale", "r",
         "--ledger", str(path)),
        ("actions", FID, "--plan", "remediate", "--execute", "--regions", "us-east-1",
         "--ledger", str(path)),
    ):  # fmt: skip
        code, out, err = bounded(lambda argv=argv: _cli(*argv), seconds=20)
        assert code == 1 and f"cannot read the ledger {path}: {said}" in err, err
        assert "recorded:" not in out and "Traceback" not in err


@pytest.mark.parametrize("kind", ["fifo", "socket", "device"])
def test_a_decision_lock_that_is_not_a_file_is_refused_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    """``<ledger>.lock`` that is a FIFO, a socket or a device (a symlink to ``/dev/null``): the
    ledger itself is refused when it is one, its lock was opened as it was (a FIFO's open may
    wait for a writer; a device serializes nothing). Refused, naming the lock; nothing
    recorded."""
    import os
    import socket

    from tests.bounded import bounded

    monkeypatch.chdir(tmp_path)  # a socket's path must be short
    ledger = Path("ledger.jsonl")
    lock = Path("ledger.jsonl.lock")
    if kind == "fifo":
        os.mkfifo(lock)
        said = "a FIFO (named pipe)"
    elif kind == "socket":
        server = socket.socket(socket.AF_UNIX)
        server.bind(str(lock))
        said = "a socket"
    else:
        lock.symlink_to(os.devnull)
        said = "a device"
    verdict = vd.make_verdict(FID, status="malicious", analyst="ana", rationale="r")
    with pytest.raises(InputError) as e:
        bounded(lambda: vd.record_decision(verdict, ledger), seconds=20)
    assert e.value.message == (
        f"cannot write the ledger {ledger}: its lock file {lock} is {said}, not a file"
    )
    argv = ("verdict", FID, "--status", "malicious", "--analyst", "a", "--rationale", "r")
    code, out, err = bounded(lambda: _cli(*argv, "--ledger", str(ledger)), seconds=20)
    assert code == 1 and f"its lock file {lock} is {said}, not a file" in err, err
    assert "recorded:" not in out and "Traceback" not in err
    assert not ledger.exists()  # nothing recorded
    if kind == "socket":
        server.close()


# --------------------------------------------------------------------------------------------
# records whose time or copy misleads
# --------------------------------------------------------------------------------------------
def test_a_record_dated_after_this_hosts_time_is_said_beside_it(tmp_path: Path) -> None:
    """A verdict whose ``recorded_at`` is 3 h after this host's time (a host whose clock is
    ahead, or a ledger edited by hand): ``verdicts`` said nothing (only a clock *behind* the
    previous record was noted). Said on stderr and in ``--json`` (``clock_ahead``), with the
    actions gate's slack: 2 min ahead is within it and says nothing."""
    ledger = tmp_path / "l.jsonl"
    now = pd.Timestamp.now(tz="UTC")
    vd.append(
        ledger,
        vd.make_verdict(
            OTHER, status="malicious", analyst="ana", rationale="r", now=now + pd.Timedelta("2min")
        ).to_dict(),
    )
    vd.append(
        ledger,
        vd.make_verdict(
            FID, status="legitimate", analyst="bob", rationale="r", now=now + pd.Timedelta("3h")
        ).to_dict(),
    )
    said = "recorded_at is 3.0 h after this host's time now (a clock ahead, or a ledger edited"
    for argv in ((), ("--history",)):
        code, out, err = _cli("verdicts", "--ledger", str(ledger), *argv)
        assert code == 0 and f"torinvest: note: legitimate on {FID} at " in err, err
        assert said in err and err.count("after this host's time") == 1, err  # not the 2 min
        assert "legitimate" in out.splitlines()[2]  # still the current verdict
        code, out, err = _cli("verdicts", "--json", "--ledger", str(ledger), *argv)
        rows = orjson.loads(out)
        assert [(r["finding_id"], r["state"]) for r in rows] == [
            (FID, "current"),
            (OTHER, "current"),
        ]
        assert rows[0]["clock_ahead"].startswith("recorded_at is 3.0 h after")
        assert rows[1]["clock_ahead"] is None
        assert said in err
    # the slack is the gate's: a clock given, the same record is said or not
    rec = vd.read_ledger(ledger)[0][1]
    at = pd.Timestamp(rec["recorded_at"])
    assert vd.clock_ahead(rec, at - vd.CLOCK_SLACK) is None
    assert vd.clock_ahead(rec, at - vd.CLOCK_SLACK - pd.Timedelta("2min")) is not None


@pytest.mark.parametrize("copy", ["same bytes", "same decision and recorded_at"])
def test_a_line_pasted_twice_is_a_duplicate_and_never_current(tmp_path: Path, copy: str) -> None:
    """ana's malicious, then bob's legitimate, then ana's line pasted again (a ledger merged
    or edited by hand): the copy was listed as current — and followed by every gate — and the
    original as superseded, with no note. The copy is a duplicate (state, ``duplicate`` in
    --json, a note): bob's stays current everywhere; a copy of the current verdict changes
    nothing."""
    from torinvest.errors import RefusedError
    from torinvest.runner import require_verdict

    ledger = tmp_path / "l.jsonl"
    first = vd.make_verdict(FID, status="malicious", analyst="ana", rationale="tor exit")
    vd.append(ledger, first.to_dict())
    vd.append(
        ledger, vd.make_verdict(FID, status="legitimate", analyst="bob", rationale="vpn").to_dict()
    )
    line = ledger.read_bytes().splitlines()[0]
    if copy == "same bytes":
        pasted = line
    else:  # the same decision, another field order and an extra blank: not byte-for-byte
        rec = orjson.loads(line)
        pasted = orjson.dumps({**dict(reversed(list(rec.items()))), "analyst": " ana "})
    with ledger.open("ab") as fh:
        fh.write(pasted + b"\n")

    records, issues = vd.read_ledger(ledger)
    # the pasted line breaks the hash chain (tests/test_ledger_chain.py); read all the same
    assert [(i.source, i.problem.split(":")[0]) for i in issues] == [
        (f"{ledger}:3", "hash chain broken")
    ]
    assert len(records) == 3
    assert vd.latest_verdict(records, FID)["analyst"] == "bob"
    assert vd.latest_decided_verdict(records, FID)["status"] == "legitimate"
    with pytest.raises(RefusedError, match="latest decided verdict is legitimate"):
        require_verdict(FID, "remediate", ledger=ledger)
    assert [(r["status"], r["state"]) for r in vd.verdict_states(records)] == [
        ("malicious", "duplicate"),
        ("legitimate", "current"),
        ("malicious", "superseded"),
    ]
    said = f"a copy of an earlier record (malicious by ana at {first.recorded_at})"
    code, out, err = _cli("verdicts", "--history", "--ledger", str(ledger))
    rows = out.splitlines()
    assert code == 0 and "duplicate" in rows[2] and "current" in rows[3], out
    assert "superseded" in rows[4]
    assert f"torinvest: note: malicious on {FID} at {first.recorded_at}: {said}" in err, err
    code, out, err = _cli("verdicts", "--history", "--json", "--ledger", str(ledger))
    rows = orjson.loads(out)
    assert [r["state"] for r in rows] == ["duplicate", "current", "superseded"]
    assert rows[0]["duplicate"].startswith(said) and rows[1]["duplicate"] is None
    assert said in err
    # the current listing shows bob's, and the copy appended after it, flagged
    code, out, err = _cli("verdicts", "--json", "--ledger", str(ledger))
    assert [(r["analyst"].strip(), r["state"]) for r in orjson.loads(out)] == [
        ("ana", "duplicate"),
        ("bob", "current"),
    ]

    # a copy of the current verdict: it stays current, the copy is history
    ledger.write_bytes(line + b"\n" + pasted + b"\n")
    records, _ = vd.read_ledger(ledger)
    assert [r["state"] for r in vd.verdict_states(records)] == ["duplicate", "current"]
    assert vd.latest_verdict(records, FID) == records[0]
    code, out, err = _cli("verdicts", "--json", "--ledger", str(ledger))
    assert [r["state"] for r in orjson.loads(out)] == ["current"]


# --------------------------------------------------------------------------------------------
# verdicts --finding of an ID the ledger does not hold
# --------------------------------------------------------------------------------------------
def test_verdicts_of_a_finding_not_in_the_ledger_say_the_ledger_holds_others(
    tmp_path: Path,
) -> None:
    """A mistyped ``--finding`` printed "no verdicts" alone, as an empty ledger does: read as
    "nothing decided yet" while the finding meant has a verdict. The table stays "no verdicts"
    (nothing is on that ID); a note says the ledger holds verdicts on other findings."""
    ledger = tmp_path / "l.jsonl"
    vd.record_verdict(vd.make_verdict(FID, status="malicious", analyst="a", rationale="r"), ledger)
    typo = FID[:-1] + "d"
    code, out, err = _cli("verdicts", "--ledger", str(ledger), "--finding", typo)
    assert (code, out) == (0, "no verdicts\n")
    assert (
        f"torinvest: note: no verdict on finding {typo} in {ledger}: it holds verdicts on 1 "
        "other finding(s) (check the ID: torinvest verdicts without --finding lists them)"
    ) in err
    code, out, err = _cli("verdicts", "--ledger", str(ledger), "--finding", FID)
    assert code == 0 and FID in out and "no verdict on finding" not in err
    code, out, err = _cli("verdicts", "--ledger", str(tmp_path / "none.jsonl"), "--finding", FID)
    assert (code, out) == (0, "no verdicts\n") and "no verdict on finding" not in err
