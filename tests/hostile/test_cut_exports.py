"""Saved AWS CLI answers that say they are cut (a ``NextToken``): never "none here" as "none".

The AWS CLI reads every page of an answer by itself; one exported with ``--max-items``,
``--max-results`` or ``--no-paginate`` holds the first page(s) and the token for the next. A
findings export cut so (``aws securityhub get-findings --max-items 1``) read as whole said
``no Tor findings`` and ``finding … not found`` (exit 4) for a finding on the next page; a
``lookup-events`` export cut so said ``the sources were read and hold no event of KEY (this is
not an access problem)`` for a key whose calls were older than the page kept.
"""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.cli_run import run
from tests.lookup_export import lookup_event
from torinvest.case import sample_case
from torinvest.errors import EXIT_COULD_NOT_LOOK, EXIT_NOT_FOUND
from torinvest.sources.records.documents import lookup_cut

SHAPES = Path(__file__).parent.parent / "fixtures" / "guardduty" / "shapes"
KEPT = "7f176d541deef88b1ad653b9ed646f29"  # on the page exported
CUT = "6dde0a8f8d46f6acad893b30f905e97c"  # on the page after it
KEY = "AKIATFQR7NSCUXC3DDDP"
TOKEN = "eyJOZXh0VG9rZW4iOiBudWxsLCAiYm90b190cnVuY2F0ZV9hbW91bnQiOiAxfQ=="


def _first_page(doc: dict[str, Any], keep: str, token: Any) -> dict[str, Any]:
    """``doc``'s findings export as the CLI writes one page of it: the finding ``keep`` only."""
    page = {"Findings": [f for f in doc["Findings"] if str(f["Id"]).endswith(keep)]}
    assert len(page["Findings"]) == 1
    if token is not ...:
        page["NextToken"] = token
    return page


def _case(tmp_path: Path, findings: dict[str, Any]) -> Path:
    case = tmp_path / "case"
    shutil.copytree(sample_case().root / "cloudtrail", case / "cloudtrail")
    (case / "findings").mkdir()
    (case / "findings" / "export.json").write_text(json.dumps(findings))
    return case


@pytest.fixture(autouse=True)
def _env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORINVEST_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("TORINVEST_LEDGER", str(tmp_path / "ledger.jsonl"))
    monkeypatch.chdir(tmp_path)


@pytest.mark.parametrize("shape", ["asff.json", "get_findings_pascal.json"])
def test_a_cut_findings_export_is_a_partial_list_and_could_not_look(
    tmp_path: Path, shape: str
) -> None:
    doc = json.loads((SHAPES / shape).read_text())
    case = _case(tmp_path, _first_page(doc, KEPT, TOKEN))

    code, out, err = run("findings", "--case", str(case), "--json")
    assert code == 0
    assert [r["id"] for r in json.loads(out)] == [KEPT]
    assert "export.json: the export is cut: it holds the first 1 of its Findings" in err
    assert "partial result" in err

    code, out, err = run("investigate", CUT, "--case", str(case), "--out", "r")
    assert code == EXIT_COULD_NOT_LOOK, err
    assert f"finding {CUT} is not in the 1 file(s) that were read" in err
    assert "the export is cut" in err and "so it may be there" in err
    assert "re-export what could not be read" in err
    assert "not found among" not in err
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("token", [..., None, ""])
def test_a_whole_findings_export_still_says_not_found(tmp_path: Path, token: Any) -> None:
    """No token (or the null / empty one of a last page): the export is whole, and a finding
    not in it is not found (exit 4) — the cut check must not make every "not found" vague."""
    doc = json.loads((SHAPES / "asff.json").read_text())
    case = _case(tmp_path, _first_page(doc, KEPT, token))
    code, _out, err = run("investigate", CUT, "--case", str(case), "--out", "r")
    assert code == EXIT_NOT_FOUND, err
    assert "not found among 1 findings (every one of 1 file(s) searched)" in err
    assert "export is cut" not in err


def test_any_unread_finding_record_makes_not_found_could_not_look(tmp_path: Path) -> None:
    """The class: a record of a file read that could not be read (here an item of the list
    that is no finding: a finding damaged in the export) may be the one sought."""
    doc = json.loads((SHAPES / "get_findings_pascal.json").read_text())
    page = _first_page(doc, KEPT, ...)
    page["Findings"].append({"Id": CUT, "Type": "UnauthorizedAccess:IAMUser/TorIPCaller"})
    case = _case(tmp_path, page)
    code, _out, err = run("investigate", CUT, "--case", str(case), "--out", "r")
    assert code == EXIT_COULD_NOT_LOOK, err
    assert "1 finding record(s) could not be read" in err
    assert "so it may be there" in err


def _lookup_export(tmp_path: Path, newest: int, token: Any) -> Path:
    """The sample case's records as ``aws cloudtrail lookup-events`` output (newest first), the
    ``newest`` most recent only, with ``token`` as its NextToken (``...``: none)."""
    records = []
    for path in (sample_case().root / "cloudtrail").rglob("*.json.gz"):
        records += json.loads(gzip.decompress(path.read_bytes()))["Records"]
    records.sort(key=lambda r: r["eventTime"], reverse=True)
    events = [lookup_event(r) for r in records[:newest]]
    doc: dict[str, Any] = {"Events": events}
    if token is not ...:
        doc["NextToken"] = token
    folder = tmp_path / "lookup"
    folder.mkdir()
    (folder / "lookup-events.json").write_text(json.dumps(doc))
    return folder


def test_a_cut_lookup_events_export_is_not_no_events(tmp_path: Path) -> None:
    folder = _lookup_export(tmp_path, 50, TOKEN)
    code, out, err = run("events", "--logs", str(folder), "--access-key", KEY, "--out", "ev.csv")
    assert code == 0
    assert "(1 read with issues: 1 the export is cut)" in out
    assert "lookup-events.json: the export is cut: it holds the first 50 of its Events" in err
    assert "so the events before 2023-07-10T12:29:43Z (the oldest here) are the ones missing" in err
    assert "hold no event of" not in err and "not an access problem" not in err
    assert "no event of AKIATFQR7NSCUXC3DDDP in what could be read" in err


def test_a_whole_lookup_events_export_without_the_key_says_so(tmp_path: Path) -> None:
    folder = _lookup_export(tmp_path, 50, None)
    args = ("events", "--logs", str(folder), "--access-key", KEY, "--out", "ev.csv")
    code, _out, err = run(*args, "--regions", "us-east-1")  # the region it was exported in
    assert code == 0
    assert "export is cut" not in err
    assert "hold no event of AKIATFQR7NSCUXC3DDDP (this is not an access problem)" in err
    # for every region: the other regions were not exported (tests/hostile/test_lookup_regions)
    code, _out, err = run(*args)
    assert code == 0 and "hold no event of" not in err
    assert "no event of AKIATFQR7NSCUXC3DDDP in what could be read" in err


def _pages_as_lines(doc: dict[str, Any], key: str, last_token: Any) -> str:
    """``doc``'s ``key`` list saved a page a line, one item a page, as a loop over
    ``--starting-token`` writes it: each page but the last with the NextToken of the next."""
    items = doc[key]
    pages = []
    for i, item in enumerate(items):
        page: dict[str, Any] = {key: [item]}
        token = f"page-{i + 1}" if i < len(items) - 1 else last_token
        if token is not ...:
            page["NextToken"] = token
        pages.append(json.dumps(page))
    return "\n".join(pages) + "\n"


@pytest.mark.parametrize("last_token", [..., None, TOKEN])
def test_findings_pages_saved_a_line_each_are_cut_only_by_the_last(
    tmp_path: Path, last_token: Any
) -> None:
    doc = json.loads((SHAPES / "asff.json").read_text())
    doc["Findings"].sort(key=lambda f: not str(f["Id"]).endswith(CUT))  # CUT on page 1
    case = _case(tmp_path, {})
    (case / "findings" / "export.json").unlink()
    (case / "findings" / "pages.jsonl").write_text(_pages_as_lines(doc, "Findings", last_token))
    code, out, err = run("findings", "--case", str(case), "--json")
    assert code == 0
    assert sorted(r["id"] for r in json.loads(out)) == sorted([CUT, KEPT])
    if last_token == TOKEN:
        assert f"pages.jsonl:{len(doc['Findings'])}: the export is cut" in err
        assert "partial result" in err
    else:
        assert "export is cut" not in err and "partial result" not in err


@pytest.mark.parametrize("last_token", [..., TOKEN])
def test_lookup_events_pages_saved_a_line_each_are_cut_only_by_the_last(
    tmp_path: Path, last_token: Any
) -> None:
    folder = _lookup_export(tmp_path, 5, ...)
    doc = json.loads((folder / "lookup-events.json").read_text())
    (folder / "lookup-events.json").unlink()
    (folder / "pages.jsonl").write_text(_pages_as_lines(doc, "Events", last_token))
    code, out, err = run(
        "events", "--logs", str(folder), "--out", "ev.csv", "--start", "2023-07-10"
    )
    assert code == 0, err
    assert out.startswith("5 events from 1 ")
    if last_token == TOKEN:
        assert "pages.jsonl:5: line 5: the export is cut: it holds the first 1 of its Events" in err
    else:
        assert "export is cut" not in err


def test_a_cut_export_names_its_oldest_time_compared_as_times() -> None:
    """The time before which a cut export's events are missing is its oldest record's, compared
    as times: as text, ``…T11:00:00-02:00`` (13:00Z) and ``…T12:00:00.5Z`` sort before
    ``…T12:00:00Z``; a time no engine reads is not one of them."""
    records = [
        {"eventTime": "2023-07-10T12:00:00.5Z"},
        {"eventTime": "2023-07-10T12:00:00Z"},
        {"eventTime": "2023-07-10T11:00:00-02:00"},
        {"eventTime": "2023-07-10T00:00:60Z"},
        {"eventTime": "not a time"},
    ]
    said = lookup_cut({"Events": [{}] * len(records), "NextToken": TOKEN}, records)
    assert said is not None
    assert "the events before 2023-07-10T12:00:00Z (the oldest here)" in said
