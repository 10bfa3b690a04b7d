"""A key without a baseline (no call before the finding's first sighting) in the report, its
summary.json and the batch index: the score is a floor, said apart from data issues; a baseline
read in part says its "new" signals may be wrong."""

from __future__ import annotations

import dataclasses
import gzip
import re
import shutil
from pathlib import Path

import orjson
import pytest

from tests.offline_regions import SAMPLE_REGIONS
from tests.sample_window import COVERED
from torinvest import analysis as an
from torinvest import display, investigation, report
from torinvest.case import sample_case
from torinvest.investigation import Investigation, report_dir_name
from torinvest.schema import iso_utc

FINDING = "6dde0a8f8d46f6acad893b30f905e97c"
OTHER_FINDING = "7f176d541deef88b1ad653b9ed646f29"
KEY = "AKIATFQR7NSCUXC3DDDP"
TOR_IP = "185.220.101.34"


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def _tor_only_case(tmp: Path) -> Path:
    """The sample case's findings, and a trail whose only calls of the key come from a Tor exit
    after the finding's first sighting (and before its last): no baseline, nothing unread."""
    case = tmp / "case"
    shutil.copytree(sample_case().root / "findings", case / "findings")
    (case / "cloudtrail").mkdir(parents=True)
    identity = {"type": "IAMUser", "accessKeyId": KEY, "userName": "benjamin"}
    records = [
        {
            "eventVersion": "1.08",
            "eventID": f"tor-{i}",
            "eventTime": f"2023-07-10T12:1{i}:30Z",
            "eventName": "GetCallerIdentity",
            "eventSource": "sts.amazonaws.com",
            "awsRegion": "us-east-1",
            "sourceIPAddress": TOR_IP,
            "userAgent": "aws-cli/2.13.0",
            "userIdentity": identity,
            "recipientAccountId": "123837392027",
        }
        for i in range(2, 5)
    ]
    # an export's name: a flat folder of CloudTrail-named files is judged by region and day
    name = "tor-calls.json.gz"
    (case / "cloudtrail" / name).write_bytes(gzip.compress(orjson.dumps({"Records": records})))
    return case


@pytest.fixture(scope="module")
def tor_only(tmp_path_factory: pytest.TempPathFactory) -> Investigation:
    case = _tor_only_case(tmp_path_factory.mktemp("baseline"))
    sources = investigation.sources_from_parameters(case_dir=str(case))
    return investigation.investigate(FINDING, sources, **COVERED)


def test_a_tor_only_key_without_a_baseline_is_a_floor_everywhere(
    tor_only: Investigation, tmp_path: Path
) -> None:
    """The probe: Tor use alone (20) with no call before the first sighting read "20 / 100 ·
    low" and the index "complete". Now: "at least 20" with the highest it could be, in the
    triage card and the answer; summary.json's ``baseline`` says none (documented, checked by
    the contract); the index's reading says it beside "complete" — and no data issue is made."""
    inv = tor_only
    assert inv.data_issues == [] and inv.totals()["from_tor"] == 3
    assert (inv.score.score, inv.score.band) == (20, an.NO_BASELINE)
    assert inv.score.shown() == "at least 20 / 100 · no baseline"
    (sig,) = [s for s in inv.signals if s.name == an.NO_BASELINE_SIGNAL]
    split = an.window_of(inv.findings)
    assert split is not None
    assert (
        f"from the window start {iso_utc(inv.window[0])} to the finding's first sighting "
        f"{iso_utc(split[0])}" in sig.detail
    )
    for shown in (
        _text(display.score_card(inv).data),
        _text(display.answer_html(inv, {"status": "pending"})),
    ):
        assert "at least 20 / 100" in shown and "at most 50 / 100" in shown
        assert "Nothing failed to be read" in shown
        assert "· low" not in shown and "band: low" not in shown

    summary = investigation.summary(inv)
    assert report.summary_problems(summary) == []
    base = summary["baseline"]
    assert base["status"] == "none" and base["history_start"] is None
    assert (base["from"], base["to"]) == (iso_utc(inv.window[0]), iso_utc(split[0]))
    assert "no call of the key" in base["why"]
    assert summary["data_issues"] == []
    assert investigation.evidence(inv)["baseline"] == "none"

    # the batch index over that summary: "complete", and the missing baseline beside it
    out = tmp_path / "reports"
    for fid in (FINDING, OTHER_FINDING):
        folder = out / report_dir_name(fid)
        folder.mkdir(parents=True)
        for name in report.REPORT_FILES:
            (folder / name).write_text(f"{name} of {fid}")
        if fid == FINDING:
            (folder / "summary.json").write_bytes(orjson.dumps(summary))
        report.write_manifest(folder, fid)
    case = str(sample_case().root)
    batch = report.run_batch(out, report.RunOptions(case_dir=case), echo=lambda _: None)
    (entry,) = [e for e in batch.entries if e.finding_id == FINDING]
    assert entry.reading == "complete" and entry.baseline is not None
    assert entry.baseline.startswith("no baseline") and "score is a floor" in entry.baseline
    assert "no baseline" in entry.reading_note()
    index = orjson.loads((out / "index.json").read_bytes())
    (row,) = [f for f in index["findings"] if f["finding_id"] == FINDING]
    assert row["baseline"] == entry.baseline
    page = (out / "index.html").read_text()
    cell = re.search(rf"<tr>(?:(?!</tr>).)*{FINDING}(?:(?!</tr>).)*</tr>", page)
    assert cell is not None
    assert "complete<br><b>no baseline (no call of the key before the first sighting" in (
        cell.group(0)
    )


def test_a_baseline_read_in_part_says_its_new_signals_may_be_wrong() -> None:
    """The sample case over the default window (14 days back, where it holds no log file):
    a baseline exists, read in part — ``new_source_ip`` may have fired for an IP used in the
    days not read. summary.json's ``baseline`` is partial, a partial_baseline signal names the
    signals, and the triage card says the score without them. Over the days the files cover
    the baseline is compared, with no such warning. Read for the case's regions
    (Sources.regions), so the days are all that is not read."""
    sources = investigation.sources_from_parameters(case_dir=str(sample_case().root))
    sources = dataclasses.replace(sources, regions=list(SAMPLE_REGIONS))
    gappy = investigation.investigate(FINDING, sources)
    (partial,) = [s for s in gappy.signals if s.name == an.PARTIAL_BASELINE_SIGNAL]
    assert "new_source_ip (+10)" in partial.detail
    base = investigation.summary(gappy)["baseline"]
    assert base["status"] == "partial" and base["why"] == partial.detail
    assert base["history_start"] is not None
    # the data issues it counts are those the reading counts (grouped: 3 folders are 1 issue)
    reading = investigation.summary(gappy)["reading"]["text"]
    n = int(re.search(r"(\d+) data issue\(s\)", reading).group(1))
    assert f"({n} data issue(s) about reading it)" in base["why"], (reading, base["why"])
    card = _text(display.score_card(gappy).data)
    assert "compare(s) with a history read in part" in card and "without them it would be" in card
    covered = investigation.investigate(FINDING, sources, **COVERED)
    assert investigation.summary(covered)["baseline"]["status"] == "compared"
    assert an.PARTIAL_BASELINE_SIGNAL not in {s.name for s in covered.signals}
    assert "history read in part" not in covered.score.note
