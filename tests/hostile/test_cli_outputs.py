"""The AWS CLI's other output formats, and other non-JSON text saved as an export.

``aws guardduty get-findings … --output yaml`` (or a profile's ``output = yaml``/``text``,
PowerShell's ``>``) writes the same answer as YAML, text or a table. Saved in a case folder
beside JSON exports, it was passed over by its name (``tor.yaml``) and the answer read whole:
``no Tor findings``, ``finding … not found … every one of 1 file(s) searched`` (exit 4) for a
finding the YAML held. Named like JSON, it read as ``invalid JSON …; the file may be truncated``
(and, for a CloudTrail export, an issue about numbers "JSON has no word for" found in YAML).
Now each is an issue naming the format and the command to export again, the answer partial,
"not found" is "may be there"; an XML or HTML document saved instead of a file is named so.
"""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cli_run import run
from torinvest.case import sample_case
from torinvest.errors import EXIT_COULD_NOT_LOOK, EXIT_NOT_FOUND
from torinvest.sniff import CLI_TABLE, CLI_TEXT, CLI_YAML, not_json, sniff

SAMPLE = sample_case().root
TOR = "6dde0a8f8d46f6acad893b30f905e97c"
KEY = "AKIATFQR7NSCUXC3DDDP"
LOGS = sorted((SAMPLE / "cloudtrail").rglob("*.json.gz"))


def _findings() -> dict[str, Any]:
    return json.loads((SAMPLE / "findings" / "get-findings.json").read_text())


def _yaml(doc: Any) -> str:
    return yaml.safe_dump(doc, sort_keys=False)


def _text(doc: dict[str, Any]) -> str:
    """The AWS CLI's text output of a list answer, as it writes it: each item a line, the list's
    key in upper case, then the item's scalar values, tab-separated."""
    ((key, items),) = ((k, v) for k, v in doc.items() if isinstance(v, list))
    lines = []
    for item in items:
        scalars = [str(v) for v in item.values() if not isinstance(v, (dict, list))]
        lines.append("\t".join([key.upper(), *scalars]))
    return "\n".join(lines) + "\n"


def _table(title: str, doc: dict[str, Any]) -> str:
    rows = [f"||  {k}  |  {v}  ||" for item in next(iter(doc.values())) for k, v in item.items()]
    return "\n".join(["-" * 40, f"|{title:^38}|", "+" + "-" * 38 + "+", *rows]) + "\n"


FORMATS = {
    "yaml": (CLI_YAML, lambda title, doc: _yaml(doc)),
    "yaml-stream": (CLI_YAML, lambda title, doc: _yaml([doc])),
    "text": (CLI_TEXT, lambda title, doc: _text(doc)),
    "table": (CLI_TABLE, _table),
    "yaml-utf16": (CLI_YAML, lambda title, doc: "\ufeff" + _yaml(doc)),  # PowerShell 5's `>`
}


def _write(path: Path, fmt: str, title: str, doc: dict[str, Any]) -> None:
    text = FORMATS[fmt][1](title, doc)
    path.write_bytes(text.encode("utf-16-le") if fmt.endswith("utf16") else text.encode())


@pytest.fixture(autouse=True)
def _env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORINVEST_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)


def _case(tmp_path: Path) -> Path:
    case = tmp_path / "case"
    shutil.copytree(SAMPLE, case)
    return case


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_findings_saved_as_cli_text_beside_json_make_not_found_may_be_there(
    tmp_path: Path, fmt: str
) -> None:
    case = _case(tmp_path)
    findings = _findings()
    (tor,) = [f for f in findings["Findings"] if f["Id"] == TOR]
    others = [f for f in findings["Findings"] if f["Id"] != TOR]
    (case / "findings" / "get-findings.json").write_text(json.dumps({"Findings": others}))
    (case / "findings" / "eventbridge-recon.json").unlink()
    _write(case / "findings" / "tor.out", fmt, "GetFindings", {"Findings": [tor]})

    code, out, err = run("findings", "--case", str(case))
    assert code == 0, err
    assert "no Tor findings where torinvest could look (partial result" in out
    assert "torinvest: note: partial result: " in err
    assert f"tor.out: {FORMATS[fmt][0]}: not read, so the findings in it were not read" in err
    assert "--output json" in err

    code, _out, err = run("investigate", TOR, "--case", str(case), "--out", "r")
    assert code == EXIT_COULD_NOT_LOOK != EXIT_NOT_FOUND, err
    assert "so it may be there" in err and "tor.out" in err
    assert not (tmp_path / "r" / "summary.json").exists()


def test_findings_yaml_named_json_says_yaml_not_invalid_json(tmp_path: Path) -> None:
    case = _case(tmp_path)
    (case / "findings" / "get-findings.json").write_text(_yaml(_findings()))
    code, _out, err = run("investigate", TOR, "--case", str(case), "--out", "r")
    assert code == EXIT_COULD_NOT_LOOK, err
    assert f"get-findings.json ({CLI_YAML}: not read" in err and "so it may be there" in err
    assert "invalid JSON" not in err and "truncated" not in err


def _records() -> list[dict[str, Any]]:
    return [r for p in LOGS for r in json.loads(gzip.decompress(p.read_bytes()))["Records"]]


def _lookup_answer(records: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "Events": [
            {
                "EventId": r["eventID"],
                "EventName": r["eventName"],
                "ReadOnly": "true",
                "AccessKeyId": KEY,
                "EventTime": r["eventTime"],
                "EventSource": r["eventSource"],
                "Username": "benjamin",
                "Resources": [],
                "CloudTrailEvent": json.dumps(r),
            }
            for r in records
        ]
    }


def _csv_ids(path: Path) -> set[str]:
    lines = path.read_text().splitlines()
    col = lines[0].split(",").index("event_id")
    return {line.split(",")[col] for line in lines[1:]}


@pytest.mark.parametrize(
    ("fmt", "engine"),
    [
        ("yaml", "files"),
        ("text", "files"),
        ("table", "files"),
        ("yaml-utf16", "files"),
        ("yaml", "duckdb"),  # one format shows the DuckDB engine lists files the same way
    ],
)
def test_lookup_events_saved_as_cli_text_beside_log_files_is_an_issue(
    tmp_path: Path, fmt: str, engine: str
) -> None:
    folder = tmp_path / "logs"
    folder.mkdir()
    shutil.copy(LOGS[0], folder / LOGS[0].name)
    mine = [r for r in _records() if r.get("userIdentity", {}).get("accessKeyId") == KEY]
    _write(folder / "lookup.out", fmt, "LookupEvents", _lookup_answer(mine))

    code, _out, err = run("events", "--logs", str(folder), "--engine", engine, "--out", "ev.csv")
    assert code == 0, err  # a partial answer: the events that could be read are written
    assert "lookup.out): not read, so their events, if any, are missing" in err
    assert f"are {FORMATS[fmt][0]}" in err and "--output json" in err
    assert "partial result" in err
    want = {r["eventID"] for r in json.loads(gzip.decompress(LOGS[0].read_bytes()))["Records"]}
    assert _csv_ids(tmp_path / "ev.csv") == want  # the log file beside it is read whole


def test_lookup_yaml_named_json_is_one_issue_naming_yaml(tmp_path: Path) -> None:
    folder = tmp_path / "logs"
    folder.mkdir()
    shutil.copy(LOGS[0], folder / LOGS[0].name)
    (folder / "lookup.json").write_text(_yaml(_lookup_answer(_records()[:40])))
    code, _out, err = run("events", "--logs", str(folder), "--out", "ev.csv")
    assert code == 0 and "partial result" in err, err
    mine = f"torinvest: issue: {folder / 'lookup.json'}"  # beside the flat group's regions
    (issue,) = [line for line in err.splitlines() if line.startswith(mine)]
    assert issue.startswith(f"{mine}: {CLI_YAML}: not read")
    assert "JSON has no word for" not in err and "invalid JSON" not in err


@pytest.mark.parametrize(
    ("data", "said"),
    [
        (
            b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
            b"<Message>Request has expired</Message></Error>",
            "an XML document (AccessDenied), not JSON: an error answer saved instead",
        ),
        (b"<!DOCTYPE html>\n<html><head><title>Sign in</title>", "an HTML page, not JSON"),
        (b"Events:\n- EventId: x\n", CLI_YAML),
        (b"name: value\nother: 2\n", "YAML or a table (the AWS CLI's --output yaml or table?)"),
        (b'{"Records": [', None),
        (b"", None),
        (b"garbage that is not anything", None),
    ],
)
def test_not_json_names_what_was_saved_instead(data: bytes, said: str | None) -> None:
    got = not_json(data)
    assert (got is None) if said is None else (got is not None and got.startswith(said))


def test_a_cut_json_file_is_cut_short_a_damaged_one_damaged(tmp_path: Path) -> None:
    folder = tmp_path / "logs"
    folder.mkdir()
    whole = json.dumps({"Records": _records()[:5]})
    (folder / "cut.json").write_text(whole[: len(whole) // 2].rsplit('"', 1)[0])
    (folder / "damaged.json").write_text(whole.replace('"eventVersion"', '"eventVersion" x', 1))
    _code, _out, err = run("events", "--logs", str(folder), "--out", "ev.csv")
    assert "cut.json: " in err and "cut short" in err.split("cut.json: ", 1)[1].split("\n")[0]
    damaged = err.split("damaged.json: ", 1)[1].split("\n")[0]
    assert "damaged" in damaged and "cut short" not in damaged


def test_config_yaml_and_notes_say_nothing() -> None:
    assert sniff(b"name: my-case\nanalyst: me\n") is None
    assert sniff(b"# notes\nKEY: AKIA...\n") is None
    assert sniff(b"NOTES\tsome tab separated line\n") is None
