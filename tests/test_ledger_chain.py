"""Tamper evidence: each ledger record carries the SHA-256 of the line before it and of its own
line (a hash chain). A past line edited (``legitimate`` made ``malicious``), removed (the record
of an archive), pasted or added by hand breaks the chain there: ``verdicts`` names the line and
the actions' gate follows no verdict of the ledger. Ledgers written before the chain read as
they did ("unchained"), and the chain starts at their first chained line."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import orjson
import pandas as pd
import pytest

from torinvest import verdict as vd
from torinvest.errors import RefusedError
from torinvest.runner import require_verdict

FID = "6dde0a8f8d46f6acad893b30f905e97c"
OTHER = "a" * 32


def _cli(*argv: str) -> tuple[int, str, str]:
    from torinvest.cli import main

    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def _verdict(ledger: Path, status: str, finding: str = FID, minute: int = 0) -> None:
    """A verdict an archive may follow (its evidence read the activity; the finding's state)."""
    vd.record_verdict(
        vd.make_verdict(
            finding,
            status=status,
            analyst="ana",
            rationale="read the activity",
            evidence={"reading": "complete"},
            now=pd.Timestamp("2024-01-01T00:00:00Z") + pd.Timedelta(minutes=minute),
        ),
        ledger,
    )


def _action(ledger: Path, operation: str) -> None:
    vd.append(
        ledger,
        {"kind": "action", "phase": "outcome", "status": "done", "finding_id": FID,
         "action": {"operation": operation}, "at": "2024-01-01T00:05:00Z"},
    )  # fmt: skip


def _lines(ledger: Path) -> list[bytes]:
    return ledger.read_bytes().splitlines()


def _breaks(ledger: Path) -> list[int]:
    return [b.line for b in vd.read_ledger_chain(ledger).chain.breaks]


def test_each_record_links_to_the_line_before_it_and_seals_its_own(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.jsonl"
    _verdict(ledger, "malicious")
    _action(ledger, "UpdateAccessKey")
    _verdict(ledger, "legitimate", OTHER)
    lines = _lines(ledger)
    recs = [orjson.loads(line) for line in lines]
    assert recs[0]["prev_sha256"] == vd.GENESIS == hashlib.sha256(b"").hexdigest()
    for before, rec in zip(lines, recs[1:], strict=False):
        assert rec["prev_sha256"] == hashlib.sha256(before).hexdigest()
    for line, rec in zip(lines, recs, strict=True):  # the last field: its own line's SHA-256
        assert line.endswith(b',"sha256":"' + rec["sha256"].encode() + b'"}')
        zeroed = line.replace(rec["sha256"].encode(), b"0" * 64)
        assert hashlib.sha256(zeroed).hexdigest() == rec["sha256"]
    read = vd.read_ledger_chain(ledger)
    assert read.issues == [] and read.chain.start == 1 and read.chain.breaks == ()
    assert read.chain.unchained == ()
    assert require_verdict(FID, "remediate", ledger=ledger)["status"] == "malicious"


@pytest.mark.parametrize("edit", ["status", "reordered"])
def test_a_past_verdict_edited_breaks_the_chain_and_no_action_follows_it(
    tmp_path: Path, edit: str
) -> None:
    """ana's legitimate made malicious in place (or the line re-serialized by an editor): every
    reader trusted it. ``verdicts`` names the line; ``actions --execute`` refuses, naming the
    ledger and the line and what to do; a verdict recorded after the edit is refused too."""
    ledger = tmp_path / "ledger.jsonl"
    _verdict(ledger, "legitimate")
    _verdict(ledger, "inconclusive", OTHER)
    lines = _lines(ledger)
    if edit == "status":
        lines[0] = lines[0].replace(b'"legitimate"', b'"malicious"')
    else:
        lines[0] = json.dumps(json.loads(lines[0]), indent=None).encode()
    ledger.write_bytes(b"\n".join(lines) + b"\n")
    assert _breaks(ledger) == [1]  # said once: the line after it links to a changed line
    code, _out, err = _cli("verdicts", "--ledger", str(ledger))
    assert code == 0
    assert (
        f"torinvest: issue: {ledger}:1: hash chain broken: ledger line 1 changed after it " in err
    )
    assert (
        f"torinvest: warning: the ledger {ledger} was changed after it was written: its hash "
        "chain breaks at line(s) 1" in err
    )
    for kind in ("remediate", "archive"):
        want = "malicious" if kind == "remediate" else "legitimate"
        if edit == "reordered" and kind == "remediate":
            continue  # the reordered line still says legitimate
        if edit == "status" and kind == "archive":
            _verdict(ledger, "legitimate", minute=1)  # recorded again after the edit
        with pytest.raises(RefusedError) as e:
            require_verdict(FID, kind, ledger=ledger)
        message = e.value.message
        assert message.startswith(f"refused: --plan {kind} --execute does not follow the {want} ")
        assert (
            f"the ledger {ledger} was changed after it was written: its hash chain breaks "
            "at line 1 (ledger line 1 changed after it was written" in message
        )
        assert "at or after the break" in message and "nothing was called" in message
        assert "restore the line as it was written, or move the ledger aside" in e.value.hint
    argv = ("verdict", FID, "--status", "malicious", "--analyst", "bob", "--rationale", "r")
    code, out, err = _cli(*argv, "--supersede", "--ledger", str(ledger))
    assert code == 0 and "recorded: malicious" in out  # recorded, and said not to be followed
    assert (
        f"torinvest: warning: the ledger {ledger} was changed after it was written (its "
        "hash chain is broken, above): `actions --execute` follows no verdict of it" in err
    )


def test_a_removed_line_breaks_the_chain_after_it_and_the_verdict_before_is_not_followed(
    tmp_path: Path,
) -> None:
    """bob's malicious (line 2) removed: ana's legitimate (line 1) becomes the current verdict
    again — and the archive would follow it. The line after the removed one does not follow
    line 1 as written; the gate follows no verdict of the ledger, before the break too."""
    ledger = tmp_path / "ledger.jsonl"
    _verdict(ledger, "legitimate")
    _verdict(ledger, "malicious", minute=1)
    _action(ledger, "UpdateAccessKey")
    lines = _lines(ledger)
    ledger.write_bytes(lines[0] + b"\n" + lines[2] + b"\n")
    read = vd.read_ledger_chain(ledger)
    assert [b.line for b in read.chain.breaks] == [2]
    assert read.chain.breaks[0].what == (
        "ledger line 2 does not follow line 1 as that was written: line 1 changed, or a line "
        "between them removed or added, after line 2 was written"
    )
    assert vd.latest_decided_verdict([r for _, r in read.lines], FID)["status"] == "legitimate"
    with pytest.raises(RefusedError) as e:
        require_verdict(FID, "archive", ledger=ledger)
    assert "its hash chain breaks at line 2" in e.value.message
    assert (
        "the verdict followed is on line 1, before the break, but a line changed or removed "
        "after it may have been a later verdict on the finding" in e.value.message
    )


def test_the_record_of_an_archive_removed_breaks_the_chain(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.jsonl"
    _verdict(ledger, "legitimate")
    _action(ledger, "ArchiveFindings")
    _verdict(ledger, "inconclusive", OTHER)
    lines = _lines(ledger)
    del lines[1]
    ledger.write_bytes(b"\n".join(lines) + b"\n")
    assert _breaks(ledger) == [2]
    lines = _lines(ledger)  # the first line removed: the chain's first does not start it
    ledger.write_bytes(b"\n".join(lines[1:]) + b"\n")
    assert (
        vd.read_ledger_chain(ledger)
        .chain.breaks[0]
        .what.startswith("ledger line 1, the first, was not the first line when it was written")
    )


def test_a_line_added_by_hand_after_the_chain_began_breaks_it(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.jsonl"
    _verdict(ledger, "malicious")
    forged = {"kind": "verdict", "finding_id": FID, "status": "legitimate", "analyst": "ana",
              "rationale": "r", "recorded_at": "2024-01-01T00:09:00Z",
              "evidence": {"reading": "complete"}}  # fmt: skip
    with ledger.open("ab") as fh:
        fh.write(orjson.dumps(forged) + b"\n")
    read = vd.read_ledger_chain(ledger)
    assert [b.line for b in read.chain.breaks] == [2]
    assert "carries no chain link although the chain starts at line 1" in read.issues[0].problem
    with pytest.raises(RefusedError, match="its hash chain breaks at line 2"):
        require_verdict(FID, "archive", ledger=ledger)


def test_an_old_ledger_reads_unchained_and_the_chain_starts_at_its_first_chained_line(
    tmp_path: Path,
) -> None:
    """A ledger written before the chain: read and followed as before, its lines said
    "unchained" (a note, not an error); the next record starts the chain, linked to the last
    old line — an edit of that one afterwards breaks the chain there."""
    ledger = tmp_path / "ledger.jsonl"
    old = [
        {"kind": "verdict", "finding_id": FID, "status": "legitimate", "analyst": "ana",
         "rationale": "vpn", "recorded_at": f"2023-07-10T1{i}:00:00Z",
         "evidence": {"reading": "complete"}, "torinvest_version": "0.1.0"}
        for i in range(2)
    ]  # fmt: skip
    ledger.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in old))
    read = vd.read_ledger_chain(ledger)
    assert read.issues == [] and read.chain.unchained == (1, 2) and read.chain.start is None
    assert require_verdict(FID, "archive", ledger=ledger)["recorded_at"] == old[1]["recorded_at"]
    code, out, err = _cli("verdicts", "--ledger", str(ledger))
    assert code == 0 and "legitimate" in out
    assert (
        f"torinvest: note: lines 1–2 of the ledger {ledger} are unchained (written before "
        "torinvest chained its ledger records, or by another tool)" in err
    )
    assert "the next record torinvest appends starts the chain" in err
    assert "warning" not in err and "issue" not in err

    _verdict(ledger, "inconclusive", OTHER)
    read = vd.read_ledger_chain(ledger)
    assert read.issues == [] and read.chain.start == 3 and read.chain.unchained == (1, 2)
    code, _, err = _cli("verdicts", "--ledger", str(ledger))
    assert "the chain starts at line 3, which links to the last of them" in err
    assert require_verdict(FID, "archive", ledger=ledger)["analyst"] == "ana"

    lines = _lines(ledger)
    lines[1] = lines[1].replace(b'"vpn"', b'"VPN"')
    ledger.write_bytes(b"\n".join(lines) + b"\n")
    assert _breaks(ledger) == [3]
    with pytest.raises(RefusedError, match="its hash chain breaks at line 3"):
        require_verdict(FID, "archive", ledger=ledger)


def test_a_line_torn_by_a_crash_is_no_break(tmp_path: Path) -> None:
    """A write torn by a crash (an issue of its own), then the next record: it links to the torn
    line's bytes, so the chain holds."""
    ledger = tmp_path / "ledger.jsonl"
    _verdict(ledger, "malicious")
    with ledger.open("ab") as fh:
        fh.write(b'{"kind": "verdict", "finding_id": "')
    _verdict(ledger, "malicious", OTHER)
    read = vd.read_ledger_chain(ledger)
    assert read.chain.breaks == ()
    assert [i.source for i in read.issues] == [f"{ledger}:2"]  # the torn line, as before
    assert require_verdict(FID, "remediate", ledger=ledger)["status"] == "malicious"


def test_a_record_holding_terminal_controls_is_written_inert_and_reads_back_exactly(
    tmp_path: Path,
) -> None:
    """A rationale quoting a user agent (a C1 CSI, DEL, a bidi override, a line separator, a
    zero-width space, a tag character) was written raw: ``cat`` or ``tail -f`` of the ledger let
    it act (reorder the line, colour the terminal). Now written as ``\\uXXXX`` escapes, as in
    every JSON file torinvest writes; the record reads back exactly and the chain holds."""
    hostile = "ua \x9b31m red \x7f del \u202eevil\u202c \u2028sep \u200bzw \U000e0041tag"
    ledger = tmp_path / "ledger.jsonl"
    vd.record_verdict(
        vd.make_verdict(
            FID, status="malicious", analyst="ana\u202e", rationale=hostile,
            evidence={"reading": "complete"}, now=pd.Timestamp("2024-01-01T00:00:00Z"),
        ),
        ledger,
    )  # fmt: skip
    _action(ledger, "UpdateAccessKey")
    text = ledger.read_bytes().decode("utf-8")
    for ch in "\x9b\x7f\u202e\u202c\u2028\u200b\U000e0041":
        assert ch not in text
    assert "\\u202eevil" in text and "\\u009b31m" in text
    read = vd.read_ledger_chain(ledger)
    assert read.issues == [] and read.chain.breaks == () and read.chain.unchained == ()
    (first, _) = [r for _, r in read.lines]
    assert first["rationale"] == hostile and first["analyst"] == "ana\u202e"
    assert require_verdict(FID, "remediate", ledger=ledger)["status"] == "malicious"
