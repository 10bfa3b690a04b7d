"""Every "N data issue(s)" an investigation says counts its issues as the report does: identical
problems of several sources are one issue (:func:`torinvest.errors.group_issues`), so the sample
case over its default window — 3 region folders without log files for the same days — is "1 data
issue(s)" in the answer, summary.json (the score's note, the baseline, the IP pivot), the verdict
recorded with it (its evidence, the `verdict` command's note) and the IP pivot card, never 1 in
one place and 3 in another."""

from __future__ import annotations

import dataclasses
import io
import re
from pathlib import Path

import orjson
import pytest

from tests.offline_regions import SAMPLE_REGIONS, offline_unfolded
from torinvest import campaign, display, investigation
from torinvest.case import sample_case
from torinvest.cli import main
from torinvest.investigation import Investigation

FINDING = "6dde0a8f8d46f6acad893b30f905e97c"
COUNT = re.compile(r"(\d[\d,]*) data issue\(s\)")


def _counts(text: str) -> set[int]:
    return {int(n.replace(",", "")) for n in COUNT.findall(text)}


@pytest.fixture(scope="module")
def gappy() -> Investigation:
    """The sample case over the default window: its 3 region folders hold no log file for the
    same 21 days (one grouped issue). Read for those regions (named on Sources:
    sources_from_parameters does not take them with a case folder), so that is the one."""
    sources = investigation.sources_from_parameters(case_dir=str(sample_case().root))
    sources = dataclasses.replace(sources, regions=list(SAMPLE_REGIONS))
    findings = investigation.load_findings(sources)
    inv = investigation.investigate(FINDING, sources)
    return campaign.look_around(inv, findings)


def test_the_case_has_several_sources_with_one_problem(gappy: Investigation) -> None:
    """The premise: more issues than the grouped count (else the test proves nothing)."""
    summary = investigation.summary(gappy)
    assert len(summary["data_issues"]) == 1
    assert len(gappy.data_issues) == 3


def test_every_count_in_summary_json_is_the_grouped_one(gappy: Investigation) -> None:
    summary = investigation.summary(gappy)
    text = orjson.dumps(summary).decode()
    assert summary["reading"]["text"] == "incomplete: 1 data issue(s)"
    assert _counts(text) == {1}, COUNT.findall(text)


def test_the_verdict_evidence_and_the_pivot_count_as_the_report(gappy: Investigation) -> None:
    assert investigation.evidence(gappy)["data_issues"] == 1
    assert _counts(gappy.pivot.describe()) == {1}
    card = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", display.ip_pivot(gappy).data))
    assert _counts(card) == {1}
    assert card.count("no log file for") == 1  # listed once, as the data issues card lists it


def test_the_verdict_command_says_the_count_it_printed(tmp_path: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    argv = ["verdict", FINDING, "--status", "malicious", "--analyst", "ana", "--rationale", "r"]
    argv += ["--case", str(sample_case().root), "--ledger", str(tmp_path / "ledger.jsonl")]
    assert main(argv, out=out, err=err) == 0
    printed = [line for line in err.getvalue().splitlines() if "torinvest: issue:" in line]
    # the days, grouped, and (no --regions: every region, offline) the
    # partition's regions the trail has no folder for
    assert len(printed) == 2
    assert printed[0].endswith(": " + offline_unfolded(SAMPLE_REGIONS))
    assert "INCOMPLETE: this verdict's evidence has 2 data issue(s) (above)" in err.getvalue()
    (record,) = [
        orjson.loads(line) for line in (tmp_path / "ledger.jsonl").read_bytes().splitlines()
    ]
    assert record["evidence"]["data_issues"] == 2
