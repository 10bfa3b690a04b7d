"""Saved LookupEvents answers are of one region each: the regions not exported are not read.

Event history is kept per region: ``aws cloudtrail lookup-events`` (and the console's Event
history) answers for the one region it is asked in — the profile's, unless ``--region``. A
case folder holding the analyst's export of us-east-1 (AWS's own procedure: search the key in
Event history) read ``67 events``, complete, while the key's calls in eu-west-1 and
ap-southeast-1 were never exported. Now, when saved answers are all that was read, the regions
they cannot hold (those asked, else those enabled in every account and the finding's) are one
issue naming them and how to export each; answers of every region (an empty answer named by its
region) or log files beside them say nothing.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from tests.cli_run import run
from tests.lookup_export import lookup_event
from torinvest.aws import DEFAULT_REGIONS
from torinvest.case import sample_case
from torinvest.events import load_activity
from torinvest.options import EngineOptions
from torinvest.sources.logs import KnownRegions
from torinvest.sources.records import answer_regions

SAMPLE = sample_case().root
KEY = "AKIATFQR7NSCUXC3DDDP"
LOGS = sorted((SAMPLE / "cloudtrail").rglob("*.json.gz"))


def _records(region: str | None = None) -> list[dict[str, Any]]:
    out = [r for p in LOGS for r in json.loads(gzip.decompress(p.read_bytes()))["Records"]]
    return [r for r in out if region is None or r["awsRegion"] == region]


def _answer(path: Path, records: list[dict[str, Any]]) -> Path:
    newest_first = sorted(records, key=lambda r: r["eventTime"], reverse=True)
    path.write_text(json.dumps({"Events": [lookup_event(r) for r in newest_first]}))
    return path


@pytest.fixture(autouse=True)
def _env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORINVEST_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def one_region(tmp_path: Path) -> Path:
    """The us-east-1 Event history of the day, exported as the CLI writes it (no attributes)."""
    folder = tmp_path / "cloudtrail"
    folder.mkdir()
    _answer(folder / "lookup.json", _records("us-east-1"))
    return folder


def _issue(err: str) -> str:
    (line,) = [x for x in err.splitlines() if "saved LookupEvents answer(s) read hold" in x]
    return line


@pytest.mark.parametrize("engine", ["files", "duckdb"])
def test_answers_of_one_region_are_an_issue_naming_the_regions_not_exported(
    one_region: Path, engine: str
) -> None:
    code, out, err = run(
        "events", "--logs", str(one_region), "--access-key", KEY, "--engine", engine,
        "--out", "ev.csv",
    )  # fmt: skip
    assert code == 0 and "partial result" in err, err
    assert out.startswith("60 events")  # what was exported is read
    line = _issue(err)
    assert "hold region(s) us-east-1 only: Event history is kept per region" in line
    missing = sorted(DEFAULT_REGIONS["aws"] - {"us-east-1"})
    assert f"the key's calls in 16 of the regions enabled in every account — {missing[0]}" in line
    assert "and any opt-in region the account enabled: not known offline" in line
    assert "aws cloudtrail lookup-events --region REGION" in line


def test_every_region_exported_says_nothing(one_region: Path) -> None:
    for region in sorted(DEFAULT_REGIONS["aws"] - {"us-east-1"}):
        records = _records(region)  # most hold no call of the key: an empty answer
        _answer(one_region / f"lookup-{region}.json", [r for r in records if KEY in str(r)])
    code, out, err = run("events", "--logs", str(one_region), "--access-key", KEY, "--out", "e.csv")
    assert code == 0 and "saved LookupEvents answer(s) read hold" not in err, err
    assert out.startswith("64 events")  # eu-west-1's and ap-southeast-1's calls too


def test_the_regions_asked_are_the_regions_expected(one_region: Path) -> None:
    code, _out, err = run(
        "events", "--logs", str(one_region), "--access-key", KEY, "--regions", "us-east-1",
        "--out", "ev.csv",
    )  # fmt: skip
    assert code == 0 and "LookupEvents answer(s) read hold" not in err, err
    code, _out, err = run(
        "events", "--logs", str(one_region), "--access-key", KEY, "--regions",
        "us-east-1,eu-west-1", "--out", "ev.csv",
    )  # fmt: skip
    assert "the key's calls in 1 of the regions asked — eu-west-1 —" in _issue(err)


def test_log_files_beside_the_answers_say_nothing(one_region: Path) -> None:
    for path in LOGS:
        target = one_region / path.relative_to(SAMPLE / "cloudtrail")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(path.read_bytes())
    _code, _out, err = run(
        "events", "--logs", str(one_region), "--access-key", KEY, "--out", "e.csv"
    )
    assert "LookupEvents answer(s) read hold" not in err  # the folders' coverage says the rest


def test_the_findings_region_is_named_among_those_not_exported(one_region: Path) -> None:
    known = KnownRegions((("eu-south-1", "the finding's region: GuardDuty saw the calls there"),))
    act = load_activity(
        logs=[one_region], access_key=KEY, known_regions=known, engine=EngineOptions()
    )
    (issue,) = [i for i in act.issues if "LookupEvents answer(s) read hold" in i.problem]
    assert issue.unread
    assert "among them eu-south-1 (the finding's region: GuardDuty saw the calls there)" in (
        issue.problem
    )
    assert "17 of the regions enabled in every account" in issue.problem  # and the opt-in one


def test_answer_regions_reads_the_region_inside_each_cloudtrail_event() -> None:
    records = [*_records("eu-west-1")[:2], *_records("us-east-1")[:2]]
    data = json.dumps({"Events": [lookup_event(r) for r in records]}).encode()
    assert answer_regions(data) == {"eu-west-1", "us-east-1"}
    assert answer_regions(b'{"Events": []}') == frozenset()
