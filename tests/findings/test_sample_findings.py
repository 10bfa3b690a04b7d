"""GuardDuty's sample findings are no Tor finding to investigate.

``CreateSampleFindings`` (the console's "Generate sample findings") makes a TorIPCaller finding
whose key is ``GeneratedFindingAccessKeyId``, its user ``GeneratedFindingUserName``, its IP
198.51.100.0, marked ``service.additionalInfo.sample: true``. ``findings`` listed it as a Tor
finding of key kind "other", the triage notebook offered to investigate it, and ``investigate``
stopped in the report's second cell with ``access_key: 'GeneratedFindingAccessKeyId' is not an
access key ID (access key IDs are upper case: GENERATEDFINDINGACCESSKEYID?)``. Now every listing
leaves it out and says so, and naming it says what it is, in one line (exit 1).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from tests.cli_run import run
from tests.fake_aws import FakeAws
from torinvest import display
from torinvest.errors import EXIT_ERROR, SampleFindingError
from torinvest.findings import FindingsResult, extract_findings, locate_key, normalize_findings
from torinvest.findings.fetched import read_fetched, write_fetched

GD = Path(__file__).parent.parent / "fixtures" / "guardduty"
SAMPLE = json.loads((GD / "raw_TorIPCaller_sample_finding.json").read_text())
REAL = json.loads((GD / "shapes" / "single_raw.json").read_text())  # the sample case's finding


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def case(tmp_path: Path) -> Path:
    """A case folder holding a GuardDuty sample finding beside a real Tor finding."""
    (tmp_path / "findings").mkdir()
    (tmp_path / "findings" / "get-findings.json").write_text(
        json.dumps({"Findings": [SAMPLE, REAL]})
    )
    return tmp_path


def _said(text: str) -> None:
    assert "GuardDuty sample finding" in text, text
    assert "CreateSampleFindings" in text and "placeholders" in text, text


def test_a_sample_finding_is_left_out_and_naming_it_says_what_it_is() -> None:
    found, issues = extract_findings([SAMPLE, REAL], "f.json")
    assert not issues
    result = FindingsResult(findings=found).tor_only()
    assert [f.id for f in result.findings] == [REAL["id"]]
    assert result.samples == {SAMPLE["id"]: SAMPLE["type"]}
    assert result.skipped == {}  # not "a finding of another type"
    with pytest.raises(SampleFindingError) as err:
        result.get(SAMPLE["id"])
    _said(str(err.value))
    assert SAMPLE["id"] in str(err.value) and "archive-findings" in err.value.hint


@pytest.mark.parametrize("shape", ["dict", "frame row"])
def test_locate_key_refuses_a_sample_finding(shape: str) -> None:
    given: Any = SAMPLE
    if shape == "frame row":
        found, _ = extract_findings([SAMPLE], "f.json")
        given = normalize_findings(found).iloc[0]
    with pytest.raises(SampleFindingError, match=SAMPLE["id"]):
        locate_key(given)
    real = copy.deepcopy(SAMPLE)
    real["service"]["additionalInfo"]["sample"] = False
    assert locate_key(real).access_key_id == "GeneratedFindingAccessKeyId"


def test_findings_lists_the_real_one_and_says_the_sample_was_left_out(case: Path) -> None:
    code, out, err = run("findings", "--case", str(case))
    assert code == 0, err
    assert REAL["id"] in out and SAMPLE["id"] not in out.split("\n", 2)[-1]
    (note,) = [x for x in err.splitlines() if "sample finding" in x]
    assert note.startswith("torinvest: note: 1 GuardDuty sample finding(s) left out (")
    assert note.endswith(f"): {SAMPLE['id']}")
    _said(note)
    assert "partial result" not in err and "issue:" not in err


def test_investigating_a_sample_finding_is_one_line_saying_what_it_is(case: Path) -> None:
    code, out, err = run("investigate", SAMPLE["id"], "--case", str(case), "--out", "r")
    assert code == EXIT_ERROR and out == ""
    assert err.count("\n") == 1 and err.startswith("torinvest: error: finding "), err
    _said(err)
    assert "Traceback" not in err and not Path("r").exists()


def test_a_batch_of_only_sample_findings_says_so(tmp_path: Path) -> None:
    (tmp_path / "findings").mkdir()
    (tmp_path / "findings" / "f.json").write_text(json.dumps(SAMPLE))
    code, out, err = run("investigate", "--all-open", "--case", str(tmp_path), "--out", "b")
    assert code == 0, err
    said = out + err
    assert "1 GuardDuty sample finding(s) left out" in said and SAMPLE["id"] in said
    assert "no open Tor finding" in err


def test_from_guardduty_the_sample_is_left_out_and_kept_so_in_a_fetch(
    fake_aws: FakeAws, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    fake_aws.guardduty("us-west-2").add_detector()
    fake_aws.guardduty("us-west-2").add_findings([SAMPLE, {**REAL, "region": "us-west-2"}])
    code, out, err = run("findings", "--regions", "us-west-2", "--json")
    assert code == 0, err
    assert [r["id"] for r in json.loads(out)] == [REAL["id"]]
    _said(err)
    from torinvest.aws import Aws
    from torinvest.findings import fetch_findings

    fetched = fetch_findings(Aws(), ["us-west-2"]).tor_only()
    again = read_fetched(write_fetched(fetched, tmp_path / "fetched.json"))
    with pytest.raises(SampleFindingError):
        again.get(SAMPLE["id"])


def test_the_triage_card_says_the_samples_left_out_as_text() -> None:
    html = display.findings_issues([], {}, samples={SAMPLE["id"]: SAMPLE["type"]}).data
    assert "1 GuardDuty sample finding(s) left out" in html and SAMPLE["id"] in html
    assert "&quot;Generate sample findings&quot;" in html  # escaped, as every text there


def test_a_security_hub_copy_of_a_sample_finding_is_one_too(tmp_path: Path) -> None:
    """ASFF (``aws securityhub get-findings``) says it in ``Sample``."""
    asff = json.loads((GD / "shapes" / "asff.json").read_text())
    asff["Findings"] = asff["Findings"][:1]
    asff["Findings"][0]["Sample"] = True
    (tmp_path / "findings").mkdir()
    (tmp_path / "findings" / "asff.json").write_text(json.dumps(asff))
    code, out, err = run("findings", "--case", str(tmp_path))
    assert code == 0 and out.startswith("no Tor findings"), (out, err)
    assert "1 GuardDuty sample finding(s) left out" in err
