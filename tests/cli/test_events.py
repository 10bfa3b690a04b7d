"""`torinvest events`: the options that name a key or a user, and what reaches the terminal."""

from __future__ import annotations

import argparse
import copy
import gzip
import io
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from torinvest.case import sample_case
from torinvest.cli import main
from torinvest.errors import EXIT_COULD_NOT_LOOK, InputError
from torinvest.events import load_activity

SUSPECT = "AKIATFQR7NSCUXC3DDDP"
BACKDOOR = "AKIATFQR7NSCXLGMGTIH"  # the key the suspect key created (CreateAccessKey)
MINTING_FILE = "218007301253_CloudTrail_us-east-1_20230710T1225Z_aPhkJW0R8HSyp9vV.json.gz"


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    return main(list(argv), out=out, err=err), out.getvalue(), err.getvalue()


def refused(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """What argparse says of a refused option value (exit status 2)."""
    with pytest.raises(SystemExit) as exited:
        run(*argv)
    assert exited.value.code == 2
    return capsys.readouterr().err


def case_copy(tmp_path: Path) -> Path:
    case = tmp_path / "case"
    shutil.copytree(sample_case().root, case)
    return case


@pytest.mark.parametrize(
    ("value", "hint"),
    [
        ("akiaexamplekey000001", "access key IDs are upper case: AKIAEXAMPLEKEY000001?"),
        ("AKIA_EXAMPLE_KEY_01", "upper-case letters and digits"),
        ("AKIA123", "16–128"),
        ("AKIA\x1b[2JEXAMPLEKEY0", "upper-case letters and digits"),
    ],
)
def test_a_value_that_is_not_an_access_key_id_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str, hint: str
) -> None:
    err = refused(
        capsys, "events", "--case", str(sample_case().root), "--access-key", value,
        "--out", str(tmp_path / "x.parquet"),
    )  # fmt: skip
    assert not (tmp_path / "x.parquet").exists()
    assert "--access-key" in err and "is not an access key ID" in err and hint in err
    assert "\x1b" not in err


def test_the_library_refuses_it_too() -> None:
    with pytest.raises(InputError, match="upper case: AKIAEXAMPLEKEY000001"):
        load_activity(logs=[sample_case().cloudtrail], access_key="akiaexamplekey000001")


@pytest.mark.parametrize("engine", ["files", "duckdb"])
def test_a_derived_key_that_is_not_a_key_is_an_issue_never_followed_nor_printed_raw(
    tmp_path: Path, engine: str
) -> None:
    case = case_copy(tmp_path)
    (path,) = case.rglob(MINTING_FILE)
    doc = json.loads(gzip.decompress(path.read_bytes()))
    (minting,) = [r for r in doc["Records"] if r["eventName"] == "GetSessionToken"]
    minting["responseElements"]["credentials"]["accessKeyId"] = "ASIA\x1b[31mBAD"
    other = copy.deepcopy(minting)
    other["eventID"] = "00000000-0000-4000-8000-000000000012"
    other["responseElements"]["credentials"]["accessKeyId"] = "12345"
    by_12345 = copy.deepcopy(minting)
    by_12345["eventID"] = "00000000-0000-4000-8000-000000000013"
    by_12345["eventName"] = "ListBuckets"
    by_12345["userIdentity"]["accessKeyId"] = "12345"
    doc["Records"] += [other, by_12345]
    path.write_bytes(gzip.compress(json.dumps(doc).encode()))
    out_file = tmp_path / "x.parquet"
    code, out, err = run(
        "events", "--case", str(case), "--access-key", SUSPECT, "--follow-derived",
        "--engine", engine, "--out", str(out_file),
    )  # fmt: skip
    assert code == 0
    assert "\x1b" not in out + err
    followed = [ln for ln in err.splitlines() if "note: derived key" in ln]
    assert len(followed) == 1 and BACKDOOR in followed[0]  # neither value was followed
    frame = pd.read_parquet(out_file)
    assert set(frame["access_key_id"]) == {SUSPECT, BACKDOOR}
    issues = [ln for ln in err.splitlines() if "is not an access key ID: not followed" in ln]
    assert len(issues) == 2, err
    assert any(minting["eventID"] in ln and "ASIA\\x1b[31mBAD" in ln for ln in issues)
    assert any(other["eventID"] in ln and "'12345'" in ln for ln in issues)


def test_the_user_name_is_inert_in_the_summary(tmp_path: Path) -> None:
    """A user name holding control characters is a usage error (no engine searches for it),
    whose message shows them escaped."""
    code, out, err = run(
        "events", "--case", str(sample_case().root), "--username", "bob\x1b]8;;http://x\x07",
        "--out", str(tmp_path / "x.parquet"),
    )  # fmt: skip
    assert code == 2
    assert "\x1b" not in out + err and "\x07" not in out + err
    assert "invalid --username 'bob\\x1b]8;;http://x\\x07'" in err


def test_no_event_exported_as_json_lines_is_an_empty_file(tmp_path: Path) -> None:
    """0 events in a .jsonl export: an empty file (no line), not one empty line, which a
    JSON-lines reader takes for a record that is not JSON."""
    out = tmp_path / "none.jsonl"
    code, said, err = run(
        "events",
        "--case",
        str(sample_case().root),
        "--access-key",
        "AKIAIOSFODNN7EXAMPLE",
        "--out",
        str(out),
    )
    assert code == 0, err
    assert said.startswith("0 events")
    assert out.read_bytes() == b""


@pytest.mark.parametrize("engine", ["files", "duckdb"])
def test_a_window_reaching_now_says_the_log_files_may_not_hold_the_latest_calls(
    tmp_path: Path, engine: str
) -> None:
    """The trail's log files arrive minutes after the calls: a window ending in the last
    minutes says so (its "no event" is not "none happened"); one that ended earlier does not."""
    now = pd.Timestamp.now(tz="UTC").floor("s")
    note = "the window reaches the last 20 minutes: CloudTrail delivers a call's log file"
    for end, said in ((now, True), (now - pd.Timedelta(hours=2), False)):
        code, _, err = run(
            "events", "--logs", str(sample_case().cloudtrail), "--access-key", SUSPECT,
            "--engine", engine, "--start", (end - pd.Timedelta(hours=1)).isoformat(),
            "--end", end.isoformat(), "--out", str(tmp_path / f"{engine}-{said}.csv"),
        )  # fmt: skip
        assert code == EXIT_COULD_NOT_LOOK and "no log file matched the window" in err, (
            err
        )  # 2023's logs only
        assert (note in err) == said, err


def test_case_folders_are_repeatable_and_each_is_read(tmp_path: Path) -> None:
    """`events --case A --case B` (the README: `--case`/`--logs` repeatable) reads both case
    folders: the first was dropped without a word, its events missing from a result that
    looked whole."""
    other = tmp_path / "other"
    (other / "cloudtrail").mkdir(parents=True)
    record = {
        "eventVersion": "1.08", "eventID": "11111111-2222-3333-4444-555555555555",
        "eventTime": "2023-07-10T13:00:00Z", "eventName": "ListBuckets",
        "eventSource": "s3.amazonaws.com", "awsRegion": "us-east-1",
        "sourceIPAddress": "185.220.101.34", "userAgent": "aws-cli/2",
        "userIdentity": {"type": "IAMUser", "accessKeyId": "AKIATFQR7NSCUXC3DDDP",
                         "accountId": "123837392027", "userName": "benjamin"},
        "recipientAccountId": "123837392027", "eventType": "AwsApiCall",
    }  # fmt: skip
    (other / "cloudtrail" / "extra.json").write_text(json.dumps({"Records": [record]}))
    out = tmp_path / "ev.jsonl"
    for first, second in ((other, sample_case().root), (sample_case().root, other)):
        code, stdout, err = run(
            "events", "--case", str(first), "--case", str(second),
            "--access-key", "AKIATFQR7NSCUXC3DDDP", "--out", str(out),
        )  # fmt: skip
        assert code == 0, err
        assert stdout.startswith("65 events from 63 log file(s)"), stdout
        ids = [json.loads(line)["event_id"] for line in out.read_text().splitlines()]
        assert record["eventID"] in ids


@pytest.mark.parametrize(
    ("argv", "option"),
    [
        (["findings", "--case", "A", "--case", "B"], "--case"),
        (["investigate", "0" * 32, "--case", "A", "--out", "o", "--case", "B"], "--case"),
        (["events", "--logs", "x", "--access-key", "AKIATFQR7NSCUXC3DDDP", "--out", "a.csv",
          "--out=b.csv"], "--out"),
        (["findings", "--regions", "us-east-1", "--regions", "eu-west-1"], "--regions"),
    ],
)  # fmt: skip
def test_an_option_that_takes_one_value_given_twice_is_refused(
    argv: list[str], option: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A single-valued option given twice was the last one silently (a second case folder or
    region list replaced the first): a usage error naming it, before anything runs."""
    with pytest.raises(SystemExit) as stopped:
        main(argv)
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert f"{option} given more than once" in err


def _long_options() -> list[tuple[argparse.ArgumentParser, str]]:
    """Every command's (and subcommand's) parser with each of its long options; nothing
    required, so that a parser answers for one option alone."""
    from torinvest.cli import build_parser

    found: list[tuple[argparse.ArgumentParser, str]] = []

    def walk(parser: argparse.ArgumentParser) -> None:
        for group in parser._mutually_exclusive_groups:
            group.required = False
        for action in parser._actions:
            action.required = False
            if isinstance(action, argparse._SubParsersAction):
                for child in action.choices.values():
                    walk(child)
            found.extend((parser, o) for o in action.option_strings if o.startswith("--"))

    walk(build_parser())
    return found


def test_an_option_is_taken_only_as_spelled_in_full() -> None:
    """argparse took any unambiguous prefix: ``investigate --finding ID --verdict malicious``
    read as ``--finding-changed-ok`` (a safety check off) beside the ID. Every long option of
    every command, cut one character short, is now left unrecognized."""
    options = _long_options()
    assert len(options) > 100  # every command's options were found
    for parser, option in options:
        if option in ("--help", "--version"):
            continue
        _, extras = parser.parse_known_args([option[:-1]])
        assert extras == [option[:-1]], (parser.prog, option)


def test_finding_given_as_an_option_is_refused_not_read_as_finding_changed_ok(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["investigate", "--case", str(sample_case().root), "--out", "o", "--verdict", "malicious",
            "--finding", "6dde0a8f8d46f6acad893b30f905e97c"]  # fmt: skip
    with pytest.raises(SystemExit) as stopped:
        main(argv)
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert "unrecognized arguments: --finding" in err
    assert "finding-changed-ok" not in err
