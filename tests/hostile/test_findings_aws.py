"""Hostile inputs and faults: findings and AWS answers (docs/hostile-inputs.md, "Findings and AWS
answers").

Each test is one input or fault. It asserts the outcome a user sees — a clean one-line error, or
a flagged partial result naming what is missing — and that nothing valid beside it was lost.
"Not found" is said only where the search answered; "could not look" never reads as "nothing
there"; no traceback reaches the user.
"""

from __future__ import annotations

import copy
import gzip
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nbformat
import orjson
import pandas as pd
import pytest

from tests.cli_run import run
from tests.fake_aws import (
    DROP,
    GARBLED,
    HTML_PAGE,
    JSON_NOT_FOUND,
    JSON_SERVER_ERROR,
    FakeAws,
)
from torinvest import display, investigation, report
from torinvest.aws import Aws, AwsConfig, parse_regions
from torinvest.case import sample_case
from torinvest.cli import BROKEN_PIPE_STATUS
from torinvest.errors import (
    EXIT_COULD_NOT_LOOK,
    EXIT_NOT_FOUND,
    AwsError,
    CouldNotLookError,
    EndpointError,
    FindingFileError,
    FindingNotFoundError,
    FindingsNotReadError,
    InputError,
    InvalidRegionError,
    RegionsNotSearchedError,
    TorinvestError,
)
from torinvest.findings import fetch_findings, locate_key, read_findings
from torinvest.verdict import read_ledger

ROOT = Path(__file__).resolve().parents[2]
SHAPES = ROOT / "tests" / "fixtures" / "guardduty" / "shapes"
NOTEBOOKS = ROOT / "notebooks"
BASE: dict[str, Any] = json.loads((SHAPES / "single_raw.json").read_text())
FINDING = BASE["id"]  # 6dde0a8f…, key AKIATFQR7NSCUXC3DDDP
KEY = BASE["resource"]["accessKeyDetails"]["accessKeyId"]
OTHER = "0123456789abcdef0123456789abcdef"
ROLE = "arn:aws:iam::210987654321:role/torinvest-investigator"


def errors(err: str) -> list[str]:
    return [ln for ln in err.splitlines() if ln.startswith("torinvest: error:")]


def one_error(err: str) -> str:
    assert "Traceback" not in err, err
    (line,) = errors(err)
    return line


def finding(fid: str, *, region: str = "us-east-1", key: str = KEY, **top: Any) -> dict:
    f = copy.deepcopy(BASE)
    f["id"] = fid
    f["region"] = region
    f["resource"]["accessKeyDetails"]["accessKeyId"] = key
    f.update(top)
    return f


def fid(n: int) -> str:
    return f"{n:032x}"


@pytest.fixture
def gd(fake_aws: FakeAws, monkeypatch: pytest.MonkeyPatch) -> FakeAws:
    """The fake with GuardDuty detectors in us-east-1 and eu-west-1, one retry at most."""
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    for region in ("us-east-1", "eu-west-1"):
        fake_aws.guardduty(region).add_detector()
    return fake_aws


@pytest.fixture
def no_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")


# --------------------------------------------------------------------------------------------
# 1. "not found" only where the search answered
# --------------------------------------------------------------------------------------------
@pytest.mark.usefixtures("no_credentials")
@pytest.mark.parametrize(
    "argv",
    [
        ["findings"],  # every region: fails at DescribeRegions, before any region
        ["findings", "--regions", "us-east-1,eu-west-1"],
        ["verdict", FINDING, "--status", "malicious", "--analyst", "ana", "--rationale", "tor",
         "--regions", "us-east-1"],
        ["actions", FINDING, "--plan", "archive", "--regions", "us-east-1"],
    ],
    ids=["findings-all", "findings-regions", "verdict", "actions"],
)  # fmt: skip
def test_no_credentials_is_could_not_look_not_not_found(argv: list[str], fake_aws: FakeAws) -> None:
    code, _, err = run(*argv)
    assert code == EXIT_COULD_NOT_LOOK
    line = one_error(err)
    assert "no region could be searched" in line and "no AWS credentials found" in line
    assert "not found" not in line and "0 findings" not in line
    assert read_ledger(os.environ["TORINVEST_LEDGER"])[0] == []  # no verdict recorded


def test_access_denied_everywhere_stops_investigate_as_could_not_look(
    gd: FakeAws, tmp_path: Path
) -> None:
    gd.fail("guardduty", "*", "AccessDeniedException")
    code, _, err = run(
        "investigate", FINDING, "--regions", "us-east-1,eu-west-1", "--out", str(tmp_path / "o")
    )
    assert code == EXIT_COULD_NOT_LOOK
    line = one_error(err)
    assert "no region could be searched (2 of 2" in line
    assert "guardduty:ListDetectors" in line
    assert "not found" not in line
    assert not (tmp_path / "o").exists()  # the finding is looked up before a kernel starts
    # run without that check (the library), the notebook says it in its card, not a traceback
    options = report.RunOptions(regions="us-east-1,eu-west-1")
    with pytest.raises(TorinvestError):
        report.run_report(FINDING, tmp_path / "lib", options)
    html = (tmp_path / "lib" / "report.html").read_text()
    assert "Could not look: nothing was searched" in html


def test_not_found_suggests_archived_findings_only_when_they_were_left_out(gd: FakeAws) -> None:
    """``fetch_findings`` asked for open findings only: a finding not there may be an archived
    one, and the hint says so; asked for archived ones too (what every command does), it does
    not suggest an option that would change nothing."""
    gd.guardduty("us-east-1").add_findings([finding(fid(1))])
    with pytest.raises(FindingNotFoundError) as caught:
        fetch_findings(Aws(), ["us-east-1"]).tor_only().get(OTHER)
    assert "archived findings were left out" in caught.value.hint
    with pytest.raises(FindingNotFoundError) as caught:
        fetch_findings(Aws(), ["us-east-1"], include_archived=True).tor_only().get(OTHER)
    assert "archived" not in caught.value.hint
    assert "not among the 1 searched (us-east-1): name its region with --regions" in (
        caught.value.hint
    )


def test_notebook_and_investigate_look_the_finding_up_in_aws_first(
    gd: FakeAws, tmp_path: Path
) -> None:
    """A working copy or a kernel only for a Tor finding that is there; "may be there" when a
    region could not be searched; the finding's type when it is another one."""
    other = _set(finding(fid(4)), ("type",), "Recon:IAMUser/UserPermissions")
    gd.guardduty("us-east-1").add_findings([finding(fid(1)), other])
    regions = ["--regions", "us-east-1,eu-west-1"]
    code, out, err = run("notebook", fid(1), *regions, "--out", str(tmp_path / "nb"))
    assert code == 0, err
    assert out.startswith(f"working notebook of finding {fid(1)}: created")
    for command in ("notebook", "investigate"):
        code, out, err = run(command, fid(4), *regions, "--out", str(tmp_path / command))
        assert (code, out) == (1, "")
        assert f"finding {fid(4)} is a Recon:IAMUser/UserPermissions finding, not a Tor" in (
            one_error(err)
        )
        code, _, err = run(command, OTHER, *regions, "--out", str(tmp_path / command))
        assert (
            code == EXIT_NOT_FOUND
            and f"finding {OTHER} not found among 1 findings" in one_error(err)
        )
        # archived findings are searched (no --include-archived to suggest); the regions are
        # named, since one not asked may hold it
        assert "--include-archived" not in one_error(err)
        assert "not among the 2 searched (us-east-1, eu-west-1): name its region with" in (
            one_error(err)
        )
        assert not (tmp_path / command).exists()
    gd.fail("guardduty", "eu-west-1", "AccessDeniedException")
    for command in ("notebook", "investigate"):
        code, _, err = run(command, OTHER, *regions, "--out", str(tmp_path / command))
        line = one_error(err)
        assert code == EXIT_COULD_NOT_LOOK and "not in the 1 region(s) that answered" in line
        assert "so it may be there" in line and "not found" not in line
        assert not (tmp_path / command).exists()


def test_partial_search_says_the_finding_may_be_where_it_could_not_look(gd: FakeAws) -> None:
    gd.guardduty("us-east-1").add_findings([finding(fid(1))])
    gd.fail("guardduty", "eu-west-1", "AccessDeniedException")
    sources = investigation.Sources(aws=Aws(), regions=["us-east-1", "eu-west-1"])
    found = investigation.load_findings(sources)
    assert [f.id for f in found.findings] == [fid(1)]  # the answering region's finding kept
    assert found.failed == ["guardduty:eu-west-1"] and not found.complete
    with pytest.raises(FindingNotFoundError) as caught:
        investigation.locate(found, OTHER)
    message = str(caught.value)
    assert "not in the 1 region(s) that answered (us-east-1)" in message
    assert "1 region(s) could not be searched: eu-west-1" in message
    assert "so it may be there" in message and "guardduty:ListDetectors" in message
    assert [i.source for i in caught.value.unsearched] == ["guardduty:eu-west-1"]
    _, key = investigation.locate(found, fid(1))  # present: found despite the gap
    assert key.access_key_id == KEY


def test_partial_search_through_actions_is_not_a_plain_not_found(gd: FakeAws) -> None:
    gd.fail("guardduty", "eu-west-1", "AccessDeniedException")
    code, _, err = run("actions", OTHER, "--plan", "archive", "--regions", "us-east-1,eu-west-1")
    assert code == EXIT_COULD_NOT_LOOK
    line = one_error(err)
    assert "not in the 1 region(s) that answered" in line and "so it may be there" in line


def test_complete_search_still_says_not_found(gd: FakeAws) -> None:
    gd.guardduty("us-east-1").add_findings([finding(fid(1))])
    found = fetch_findings(Aws(), ["us-east-1", "eu-west-1"]).tor_only()
    assert found.complete
    with pytest.raises(FindingNotFoundError, match="every one of 2 region"):
        found.get(OTHER)


def test_region_without_detector_is_not_looked_at(fake_aws: FakeAws) -> None:
    fake_aws.guardduty("us-east-1").add_detector()
    fake_aws.guardduty("us-east-1").add_findings([finding(fid(1))])
    found = fetch_findings(Aws(), ["us-east-1", "eu-central-1"]).tor_only()
    # GuardDuty off in eu-central-1 for these credentials: nothing was looked at there (a
    # member's own detector is not seen) — not a region that answered "0 findings"
    assert not found.complete and found.answered == ["guardduty:us-east-1"]
    assert found.not_looked == ["guardduty:eu-central-1"] and found.failed == []
    assert any("no detector in eu-central-1: not looked at" in i.problem for i in found.issues)
    assert [f.id for f in found.findings] == [fid(1)]


def test_all_open_when_no_region_answers_exits_1(gd: FakeAws, tmp_path: Path) -> None:
    gd.fail("guardduty", "*", DROP)
    code, out, err = run(
        "investigate", "--all-open", "--regions", "us-east-1,eu-west-1", "--out", str(tmp_path)
    )
    assert code == EXIT_COULD_NOT_LOOK
    line = one_error(err)
    assert "no region could be searched (2 of 2 failed)" in line and "could not reach" in line
    assert "no open Tor finding" not in err
    assert out == ""


def test_all_open_partial_is_a_flagged_partial_result(gd: FakeAws, tmp_path: Path) -> None:
    gd.fail("guardduty", "eu-west-1", "AccessDeniedException")
    code, _, err = run(
        "investigate", "--all-open", "--regions", "us-east-1,eu-west-1", "--out", str(tmp_path)
    )
    assert code == 0
    assert "Traceback" not in err
    assert "torinvest: issue: guardduty:eu-west-1: access denied" in err
    assert "partial result: 1 region(s) could not be searched: eu-west-1" in err
    assert "no open Tor finding where torinvest could look" in err
    index = orjson.loads((tmp_path / "index.json").read_bytes())
    assert [i["source"] for i in index["data_issues"]] == ["guardduty:eu-west-1"]


def test_findings_folder_where_every_file_failed(tmp_path: Path) -> None:
    folder = tmp_path / "findings"
    folder.mkdir()
    (folder / "empty.json").write_text("")
    (folder / "cut.json").write_text('{"Findings": [{"Id": "6dde0a8f')
    (folder / "trail.json").write_text('{"Records": []}')
    code, out, err = run("findings", "--case", str(tmp_path))
    assert code == EXIT_COULD_NOT_LOOK
    line = one_error(err)
    assert "no finding could be read (3 of 3 file(s) failed)" in line
    assert "no Tor findings" not in out
    with pytest.raises(FindingsNotReadError) as caught:
        investigation.load_findings(investigation.sources_from_parameters(case_dir=str(tmp_path)))
    assert len(caught.value.issues) == 3 and isinstance(caught.value, CouldNotLookError)
    assert line.count("re-export") == 1  # what to do is said once, in the hint
    assert "2 more failed, see the issues" in line
    assert len([ln for ln in err.splitlines() if ln.startswith("torinvest: issue:")]) == 3


@pytest.mark.parametrize("files", [1, 3], ids=["one-file", "three-files"])
def test_findings_folder_of_empty_files_says_what_to_do_once(tmp_path: Path, files: int) -> None:
    folder = tmp_path / "findings"
    folder.mkdir()
    for i in range(files):
        (folder / f"empty-{i}.json").write_text("")
    code, _, err = run("findings", "--case", str(tmp_path))
    assert code == EXIT_COULD_NOT_LOOK
    line = one_error(err)
    assert line.count("re-export the findings") == 1, line
    assert "the file is empty" in line and "empty-0.json" in line
    if files > 1:  # one problem, said once for all: no issue lines, no "see the issues"
        assert f"({files} of {files} file(s) failed): every one failed the same way" in line
        assert "see the issues" not in line
    assert "torinvest: issue:" not in err


def test_findings_folder_with_one_good_file_among_bad_ones(tmp_path: Path) -> None:
    folder = tmp_path / "findings"
    folder.mkdir()
    (folder / "empty.json").write_text("")
    (folder / "good.json").write_text(json.dumps(finding(fid(1))))
    found = read_findings(folder)
    assert [f.id for f in found.findings] == [fid(1)]
    assert found.failed == [str(folder / "empty.json")]
    with pytest.raises(FindingNotFoundError, match=r"not in the 1 file\(s\) that were read"):
        found.get(OTHER)


# --------------------------------------------------------------------------------------------
# 2. arguments: --start after --end, --regions ''
# --------------------------------------------------------------------------------------------
def test_findings_start_after_end_is_refused(fake_aws: FakeAws) -> None:
    code, _, err = run(
        "findings", "--regions", "us-east-1", "--start", "2023-07-11", "--end", "2023-07-10"
    )
    assert code == 2
    assert "--start 2023-07-11T00:00:00Z is after --end 2023-07-10T23:59:59.999999Z" in one_error(
        err
    )
    assert fake_aws.requests == []  # refused before any call
    code, _, err = run(
        "findings", "--case", str(sample_case().root), "--start", "2023-07-11T00:00:01Z",
        "--end", "2023-07-11T00:00:00Z",
    )  # fmt: skip
    assert code == 2 and "is after --end" in one_error(err)


@pytest.mark.parametrize("value", ["", " ", ",", " , ,"], ids=["empty", "space", "comma", "mix"])
@pytest.mark.parametrize(
    "argv",
    [
        ["findings"],
        ["findings", "--case", "CASE"],
        ["events", "--lookup", "--access-key", KEY, "--out", "OUT/e.parquet"],
        ["investigate", FINDING, "--out", "OUT/r"],
        ["investigate", FINDING, "--case", "CASE", "--out", "OUT/r"],
        ["verdict", FINDING, "--status", "pending"],
        ["actions", FINDING, "--plan", "archive"],
        ["athena-ddl", "--bucket", "trail-bucket", "--accounts", "123456789012"],
    ],
    ids=["findings", "findings-case", "events", "investigate", "investigate-case", "verdict",
         "actions", "athena-ddl"],
)  # fmt: skip
def test_empty_regions_is_refused_everywhere(
    argv: list[str],
    value: str,
    fake_aws: FakeAws,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A usage error (exit 2) naming the option, before anything is asked or written."""
    argv = [str(sample_case().root) if a == "CASE" else a for a in argv]
    argv = [a.replace("OUT", str(tmp_path)) for a in argv]
    with pytest.raises(SystemExit) as exited:
        run(*argv, "--regions", value)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    (line,) = [ln for ln in err.splitlines() if "error:" in ln]
    assert "argument --regions: no region named in --regions" in line
    assert fake_aws.requests == []
    assert not (tmp_path / "r").exists() and not (tmp_path / "e.parquet").exists()


@pytest.mark.parametrize("value", ["", "  ", ",,", []])
def test_notebook_regions_parameter_empty_is_refused(value: object, tmp_path: Path) -> None:
    with pytest.raises(InvalidRegionError):
        investigation.sources_from_parameters(regions=value)  # type: ignore[arg-type]
    with pytest.raises(InvalidRegionError):
        parse_regions(value)  # type: ignore[arg-type]
    with pytest.raises(InvalidRegionError):
        report.validate(FINDING, tmp_path / "r", report.RunOptions(regions=str(value)))
    assert investigation.sources_from_parameters(regions="all").regions is None  # default


# --------------------------------------------------------------------------------------------
# 3. answers that are not AWS answers
# --------------------------------------------------------------------------------------------
NOT_AWS = {
    "html-200": (200, HTML_PAGE, "text/html", "HTTP 200 with an HTML page"),
    "html-403": (403, HTML_PAGE, "text/html", "HTTP 403 with an HTML page"),
    "html-404": (404, HTML_PAGE, "text/html", "HTTP 404 with an HTML page"),
    "html-500": (500, HTML_PAGE, "text/html", "HTTP 500 with an HTML page"),
    "json-404": (404, JSON_NOT_FOUND, "application/json", "without an AWS error code"),
    "json-500": (500, JSON_SERVER_ERROR, "application/json", "without an AWS error code"),
    "garbled-200": (200, GARBLED, "application/octet-stream", "a body that is not JSON"),
    "json-list-200": (200, "[1, 2]", "application/json", "a JSON list"),
    "empty-object-200": (200, "{}", "application/json", "has no DetectorIds"),
}


@pytest.mark.parametrize("case", list(NOT_AWS), ids=list(NOT_AWS))
def test_guardduty_answer_that_is_not_aws_in_one_region(case: str, gd: FakeAws) -> None:
    status, body, content_type, said = NOT_AWS[case]
    gd.guardduty("us-east-1").add_findings([finding(fid(1))])
    gd.fail("guardduty", "eu-west-1", status, body=body, content_type=content_type)
    code, out, err = run("findings", "--regions", "us-east-1,eu-west-1", "--json")
    assert code == 0  # a flagged partial result
    assert "Traceback" not in err
    assert [r["id"] for r in json.loads(out)] == [fid(1)]  # the answering region is kept
    (issue,) = [ln for ln in err.splitlines() if ln.startswith("torinvest: issue:")]
    assert issue.startswith("torinvest: issue: guardduty:eu-west-1: ListDetectors on guardduty")
    assert said in issue and "access denied" not in issue
    assert "partial result: 1 region(s) could not be searched" in err


@pytest.mark.parametrize(
    ("operation", "body"),
    [
        ("ListFindings", '{"NextToken": ""}'),
        ("GetFindings", '{"Findings": "none"}'),
        ("GetFindings", '{"Findings": [42]}'),
    ],
    ids=["list-without-ids", "get-findings-text", "get-findings-number"],
)
def test_guardduty_answer_without_the_promised_fields(
    operation: str, body: str, gd: FakeAws
) -> None:
    gd.guardduty("us-east-1").add_findings([finding(fid(1))])
    gd.guardduty("eu-west-1").add_findings([finding(fid(2), region="eu-west-1")])
    gd.fail("guardduty", "eu-west-1", 200, body=body, content_type="application/json",
            operation=operation)  # fmt: skip
    code, out, err = run("findings", "--regions", "us-east-1,eu-west-1", "--json")
    assert code == 0 and "Traceback" not in err
    assert fid(1) in [r["id"] for r in json.loads(out)]
    assert "guardduty:eu-west-1" in err
    assert f"{operation} on guardduty in eu-west-1" in err


def test_guardduty_not_aws_everywhere_exits_1(gd: FakeAws) -> None:
    gd.fail("guardduty", "*", 200, body=HTML_PAGE, content_type="text/html")
    code, out, err = run("findings", "--regions", "us-east-1,eu-west-1")
    assert code == EXIT_COULD_NOT_LOOK and out == ""
    line = one_error(err)
    assert "no region could be searched (2 of 2 failed)" in line
    assert "HTML page" in line and "proxy" in line


@pytest.mark.parametrize("case", ["html-200", "empty-object-200", "json-500", "drop"])
def test_cloudtrail_answer_that_is_not_aws(
    case: str, moto: str, fake_aws: FakeAws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from torinvest.sources.lookup import fetch as lk_fetch

    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    # LookupEvents' own retries of a 500 (8, backed off from 0.5 s: a minute) in milliseconds
    monkeypatch.setattr(lk_fetch, "BACKOFF_BASE", 0.001)
    if case == "drop":
        fake_aws.fail("cloudtrail", "*", DROP)
    else:
        status, body, content_type, _ = NOT_AWS[case]
        fake_aws.fail("cloudtrail", "*", status, body=body, content_type=content_type)
    now = pd.Timestamp.now(tz="UTC")
    code, out, err = run(
        "events", "--lookup", "--regions", "us-east-1", "--access-key", KEY, "--no-cache",
        "--start", f"{now - pd.Timedelta(days=2):%Y-%m-%dT%H:%MZ}",
        "--end", f"{now - pd.Timedelta(days=1):%Y-%m-%dT%H:%MZ}",
        "--out", str(tmp_path / "e.parquet"),
    )  # fmt: skip
    assert code == EXIT_COULD_NOT_LOOK and out == ""
    assert "Traceback" not in err
    assert "hold no event" not in err  # never "the sources were read and hold no event"
    # the one region asked, the one source: the error says its issue, said once (no issue line)
    assert "nothing could be loaded: lookup:us-east-1: " in err
    assert "torinvest: issue: lookup:us-east-1: " not in err
    assert "LookupEvents on cloudtrail in us-east-1" in err or "could not reach" in err
    assert not (tmp_path / "e.parquet").exists()


def test_sts_html_answer_is_an_endpoint_error(
    fake_aws: FakeAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 200 HTML page made botocore's query parser raise KeyError inside botocore."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", fake_aws.url)
    fake_aws.fail("sts", "*", 200, body=HTML_PAGE, content_type="text/html")
    with pytest.raises(EndpointError, match=r"GetCallerIdentity on sts: .*HTML page"):
        Aws().account_id()
    fake_aws.fail("sts", "*", 200, body="<GetCallerIdentityResponse/>", content_type="text/xml")
    with pytest.raises(EndpointError, match="XML without GetCallerIdentityResult"):
        Aws().account_id()
    empty = "<GetCallerIdentityResponse><GetCallerIdentityResult/></GetCallerIdentityResponse>"
    fake_aws.fail("sts", "*", 200, body=empty, content_type="text/xml")
    with pytest.raises(EndpointError, match="the answer has no Account"):
        Aws().account_id()


@pytest.mark.parametrize(
    ("status", "body", "content_type"),
    [
        (200, HTML_PAGE, "text/html"),
        (200, "<DescribeRegionsResponse/>", "text/xml"),
        (200, "<?xml version='1.0'?><Foo/>", "text/xml"),
        (404, JSON_NOT_FOUND, "application/json"),
    ],
    ids=["html", "no-regions", "wrong-root", "json-404"],
)
def test_ec2_describe_regions_not_aws_falls_back_with_a_note(
    status: int, body: str, content_type: str, fake_aws: FakeAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_EC2", fake_aws.url)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    fake_aws.fail("ec2", "*", status, body=body, content_type=content_type)
    regions = Aws().regions("guardduty")
    assert regions.source == "partition" and "us-east-1" in regions.names
    assert "DescribeRegions on ec2" in (regions.note or "")


# --------------------------------------------------------------------------------------------
# 4. wrong-typed finding fields
# --------------------------------------------------------------------------------------------
ESSENTIAL = {
    "key-number": (("resource", "accessKeyDetails", "accessKeyId"), 12345),
    "key-list": (("resource", "accessKeyDetails", "accessKeyId"), ["AKIA1", "AKIA2"]),
    "key-object": (("resource", "accessKeyDetails", "accessKeyId"), {"id": "AKIA"}),
    "details-text": (("resource", "accessKeyDetails"), "AKIATFQR7NSCUXC3DDDP"),
    "resource-list": (("resource",), []),
    "id-number": (("id",), 12345678901234567890),
    "id-list": (("id",), [FINDING]),
    "type-number": (("type",), 7),
    "region-number": (("region",), 1),
    "region-object": (("region",), {"name": "us-east-1"}),
}
OPTIONAL = {
    "severity-text": (("severity",), "high", "severity"),
    "severity-true": (("severity",), True, "severity"),
    "count-list": (("service", "count"), [6], "service.count"),
    "count-fraction": (("service", "count"), 6.5, "service.count"),
    "archived-maybe": (("service", "archived"), "maybe", "service.archived"),
    "updated-number": (("updatedAt",), 1688991991, "updatedAt"),
    "last-seen-words": (("service", "eventLastSeen"), "yesterday", "service.eventLastSeen"),
    "remote-list": (
        ("service", "action", "awsApiCallAction", "remoteIpDetails"),
        [],
        "service.action.awsApiCallAction.remoteIpDetails",
    ),
    "ip-number": (
        ("service", "action", "awsApiCallAction", "remoteIpDetails", "ipAddressV4"),
        1845913666,
        "remoteIpDetails.ipAddressV4",
    ),
    "country-text": (
        ("service", "action", "awsApiCallAction", "remoteIpDetails", "country"),
        "Austria",
        "remoteIpDetails.country",
    ),
    "service-list": (("service",), [], "service"),
    "account-number": (("accountId",), 123837392027, "accountId"),
    "principal-object": (("resource", "accessKeyDetails", "principalId"), {}, "principalId"),
    "user-list": (("resource", "accessKeyDetails", "userName"), ["a"], "userName"),
}


def _set(doc: dict, path: tuple[str, ...], value: Any) -> dict:
    doc = copy.deepcopy(doc)
    node = doc
    for p in path[:-1]:
        node = node[p]
    node[path[-1]] = value
    return doc


def _write_three(tmp_path: Path, bad: dict) -> Path:
    """A list of three findings, the middle one damaged."""
    path = tmp_path / "findings.json"
    path.write_text(json.dumps([finding(fid(1)), bad, finding(fid(3), key="AKIAEXAMPLEKEY000003")]))
    return path


@pytest.mark.parametrize("case", list(ESSENTIAL), ids=list(ESSENTIAL))
def test_wrong_typed_essential_field_is_that_findings_issue(case: str, tmp_path: Path) -> None:
    path, value = ESSENTIAL[case]
    file = _write_three(tmp_path, _set(finding(fid(2)), path, value))
    code, out, err = run("findings", "--file", str(file), "--json")
    assert code == 0 and "Traceback" not in err
    assert sorted(r["id"] for r in json.loads(out)) == [fid(1), fid(3)]  # the others loaded
    (issue,) = [ln for ln in err.splitlines() if "issue:" in ln]
    assert f"{file}[1]" in issue and "skipped" in issue
    assert path[-1] in issue and ("not text" in issue or "not an object" in issue)


@pytest.mark.parametrize("case", list(OPTIONAL), ids=list(OPTIONAL))
def test_wrong_typed_optional_field_is_dropped_with_an_issue(case: str, tmp_path: Path) -> None:
    path, value, named = OPTIONAL[case]
    file = _write_three(tmp_path, _set(finding(fid(2)), path, value))
    code, out, err = run("findings", "--file", str(file), "--json")
    assert code == 0 and "Traceback" not in err
    records = {r["id"]: r for r in json.loads(out)}
    assert set(records) == {fid(1), fid(2), fid(3)}  # the damaged one is kept too
    assert records[fid(2)]["access_key_id"] == KEY
    (issue,) = [ln for ln in err.splitlines() if "issue:" in ln]
    assert f"{file}[1]" in issue and named in issue and "dropped" in issue
    frame = read_findings(file).frame()  # the frame builds: no crash in normalize
    assert len(frame) == 3


@pytest.mark.parametrize("missing", ["null", "absent"])
def test_a_tor_finding_without_its_service_section_is_listed_with_one_issue(
    missing: str, tmp_path: Path
) -> None:
    """No Tor IP, sighting times or count: the row's blanks are said, naming the finding."""
    bare = copy.deepcopy(finding(fid(2)))
    if missing == "null":
        bare["service"] = None
    else:
        del bare["service"]
    other = _set(finding(fid(4)), ("type",), "Recon:IAMUser/UserPermissions")
    other["service"] = None  # left out as another type: its missing section is not an issue
    path = tmp_path / "findings.json"
    path.write_text(json.dumps([finding(fid(1)), bare, other]))
    code, out, err = run("findings", "--file", str(path), "--json")
    assert code == 0 and "Traceback" not in err
    records = {r["id"]: r for r in json.loads(out)}
    assert set(records) == {fid(1), fid(2)}
    assert records[fid(2)]["tor_ip"] is None and records[fid(2)]["count"] is None
    issues = [ln for ln in err.splitlines() if "issue:" in ln]
    assert issues == [
        f"torinvest: issue: {path}[1]: finding {fid(2)}: has no service section: no Tor IP, "
        "sighting times or count"
    ]


def test_rejected_finding_is_named_not_not_found(tmp_path: Path) -> None:
    bad = _set(finding(fid(2)), ("resource", "accessKeyDetails", "accessKeyId"), 12345)
    found = read_findings(_write_three(tmp_path, bad)).tor_only()
    with pytest.raises(FindingFileError, match=r"finding 0+2 was read but cannot be used: .*"
                       r"accessKeyId is a number \(12345\), not text"):  # fmt: skip
        found.get(fid(2))


def test_get_findings_pascal_case_with_wrong_types(tmp_path: Path) -> None:
    doc = json.loads((SHAPES / "get_findings_pascal.json").read_text())
    good = doc["Findings"][0]
    bad = copy.deepcopy(good)
    bad["Id"] = fid(2)
    bad["Resource"]["AccessKeyDetails"]["AccessKeyId"] = 42
    odd = copy.deepcopy(good)
    odd["Id"] = fid(3)
    odd["Service"]["Count"] = {"n": 6}
    doc["Findings"] = [good, bad, odd]
    path = tmp_path / "gf.json"
    path.write_text(json.dumps(doc))
    found = read_findings(path)
    assert sorted(f.id for f in found.findings) == [fid(3), FINDING]
    problems = [i.problem for i in found.issues]
    assert any("accessKeyId is a number (42)" in p for p in problems)
    assert any("service.count is an object" in p for p in problems)


def test_eventbridge_with_wrong_types_and_a_numeric_detail_type(tmp_path: Path) -> None:
    event = json.loads((SHAPES / "eventbridge.json").read_text())
    bad = copy.deepcopy(event)
    bad["detail"]["id"] = fid(2)
    bad["detail"]["resource"]["accessKeyDetails"]["accessKeyId"] = [KEY]
    weird = copy.deepcopy(event)
    weird["detail-type"] = 42
    path = tmp_path / "eb.jsonl"
    path.write_text("\n".join(json.dumps(e) for e in (event, bad, weird)) + "\n")
    found = read_findings(path)
    assert [f.id for f in found.findings] == [FINDING]
    sources = [i.source for i in found.issues]
    assert f"{path}:2" in sources and f"{path}:3" in sources


def _asff() -> dict:
    return json.loads((SHAPES / "asff.json").read_text())["Findings"][0]


@pytest.mark.parametrize(
    ("change", "said"),
    [
        (lambda a: a.update(Resources="AKIATFQR7NSCUXC3DDDP"), "Resources is text, not a list"),
        (lambda a: a["Resources"][0].update(Id=12345), "accessKeyId is a number"),
        (lambda a: a.update(ProductFields=["x"]), "ProductFields is a list, not an object"),
        (lambda a: a.update(Types="TTPs"), "Types is text, not a list"),
        (lambda a: a.update(Severity="MEDIUM"), "Severity is text, not an object"),
        (lambda a: a.update(Action=[]), "Action is a list, not an object"),
    ],
    ids=["resources-text", "resource-id-number", "product-fields-list", "types-text",
         "severity-text", "action-list"],
)  # fmt: skip
def test_asff_with_wrong_types(change: Callable[[dict], None], said: str, tmp_path: Path) -> None:
    good = _asff()
    bad = _asff()
    bad["Id"] = bad["Id"].replace(FINDING, fid(2))
    bad["ProductFields"].pop("aws/guardduty/service/findingId", None)
    change(bad)
    path = tmp_path / "asff.json"
    path.write_text(json.dumps({"Findings": [good, bad]}))
    code, out, err = run("findings", "--file", str(path), "--json")
    assert code == 0 and "Traceback" not in err
    assert FINDING in [r["id"] for r in json.loads(out)]  # the good ASFF finding loads
    assert said in err and f"{path}[1]" in err


def test_asff_values_are_trimmed(tmp_path: Path) -> None:
    asff = _asff()
    asff["Id"] = f"  {asff['Id']}\n"
    asff["AwsAccountId"] = " 123837392027 "
    asff["Region"] = "us-east-1 "
    asff["Types"] = [f" {t} " for t in asff["Types"]]
    asff["Resources"][0]["Id"] = " AWS::IAM::AccessKey:AKIATFQR7NSCUXC3DDDP\t"
    asff["Resources"][0]["Details"]["AwsIamAccessKey"]["PrincipalName"] = " benjamin "
    path = tmp_path / "asff.json"
    path.write_text(json.dumps(asff))
    found = read_findings(path)
    assert found.issues == []
    (f,) = found.findings
    key = locate_key(f)
    assert (f.id, f.type) == (FINDING, "UnauthorizedAccess:IAMUser/TorIPCaller")
    assert (key.access_key_id, key.account_id, key.region, key.user_name) == (
        KEY,
        "123837392027",
        "us-east-1",
        "benjamin",
    )


def test_wrong_typed_finding_from_the_api(gd: FakeAws) -> None:
    bad = _set(finding(fid(2)), ("resource", "accessKeyDetails", "accessKeyId"), 12345)
    odd = _set(finding(fid(3)), ("title",), 42)
    unparsable = _set(finding(fid(4)), ("severity",), "critical")  # botocore cannot parse it
    gd.guardduty("us-east-1").add_findings([finding(fid(1)), bad, odd, unparsable])
    code, out, err = run("findings", "--regions", "us-east-1", "--json")
    assert code == 0 and "Traceback" not in err
    assert sorted(r["id"] for r in json.loads(out)) == [fid(1), fid(3)]  # nothing valid lost
    assert f"guardduty:us-east-1: skipped: guardduty:us-east-1: finding {fid(2)}" in err
    assert "accessKeyId is a number (12345)" in err
    assert "title is a number (42), not text: dropped" in err
    assert f"skipped: finding {fid(4)}: GuardDuty's answer for it has a field" in err
    found = fetch_findings(Aws(), ["us-east-1"])
    with pytest.raises(FindingFileError, match="could not convert string to float"):
        found.get(fid(4))


def test_locate_key_of_a_raw_dict_with_a_numeric_key() -> None:
    bad = _set(finding(fid(2)), ("resource", "accessKeyDetails", "accessKeyId"), 12345)
    with pytest.raises(InputError, match="accessKeyId is a number"):
        locate_key(bad)


def test_gzipped_jsonl_with_one_wrong_typed_line(tmp_path: Path) -> None:
    lines = [
        finding(fid(1)),
        _set(finding(fid(2)), ("id",), 2),
        finding(fid(3), key="AKIAEXAMPLEKEY000003"),
    ]
    path = tmp_path / "export.jsonl.gz"
    path.write_bytes(gzip.compress(b"\n".join(orjson.dumps(x) for x in lines)))
    found = read_findings(path)
    assert sorted(f.id for f in found.findings) == [fid(1), fid(3)]
    (issue,) = found.issues
    assert issue.source == f"{path}:2" and "id is a number (2), not text" in issue.problem


# --------------------------------------------------------------------------------------------
# 5. AssumeRole and profiles
# --------------------------------------------------------------------------------------------
DENIED_ASSUME = (
    "User: arn:aws:iam::123456789012:user/ana is not authorized to perform: sts:AssumeRole on "
    f"resource: {ROLE}"
)


@pytest.fixture
def denied_role(gd: FakeAws, monkeypatch: pytest.MonkeyPatch) -> FakeAws:
    for service in ("STS", "EC2"):
        monkeypatch.setenv(f"AWS_ENDPOINT_URL_{service}", gd.url)
    gd.fail("sts", "*", "AccessDenied", operation="AssumeRole", message=DENIED_ASSUME)
    return gd


@pytest.mark.parametrize(
    "argv",
    [
        ["findings"],
        ["findings", "--regions", "us-east-1,eu-west-1"],
        ["actions", FINDING, "--plan", "archive", "--regions", "us-east-1"],
        ["verdict", FINDING, "--status", "malicious", "--analyst", "ana", "--rationale", "tor",
         "--regions", "us-east-1"],
        ["events", "--lookup", "--regions", "us-east-1", "--access-key", KEY, "--no-cache",
         "--out", "OUT"],
    ],
    ids=["findings-all", "findings-regions", "actions", "verdict", "events-lookup"],
)  # fmt: skip
def test_denied_assume_role_names_sts_assume_role(
    argv: list[str], denied_role: FakeAws, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    argv = [str(tmp_path / "e.parquet") if a == "OUT" else a for a in argv]
    code, _, err = run(*argv, "--role-arn", ROLE)
    assert code == EXIT_COULD_NOT_LOOK
    assert "Traceback" not in err and "Refreshing temporary credentials" not in err
    line = errors(err)[-1]
    assert f"sts:AssumeRole on {ROLE}" in line and "trust policy" in line
    assert "guardduty:ListDetectors" not in err and "ListDetectors" not in line
    assert not any(r.exc_info for r in caplog.records if r.name.startswith("botocore"))
    assert len(denied_role.calls("AssumeRole")) == 1  # refused once, remembered


def test_denied_role_of_a_profile_names_sts_assume_role(
    denied_role: FakeAws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "config"
    config.write_text(
        f"[profile member]\nrole_arn = {ROLE}\nsource_profile = base\n\n[profile base]\n"
        "aws_access_key_id = testing\naws_secret_access_key = testing\n"
    )
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    code, _, err = run("findings", "--profile", "member", "--regions", "us-east-1")
    assert code == EXIT_COULD_NOT_LOOK and "Traceback" not in err
    line = one_error(err)
    assert f"sts:AssumeRole on {ROLE}" in line and "trust policy" in line


def test_assume_role_answered_by_a_proxy_page(denied_role: FakeAws) -> None:
    denied_role.fail(
        "sts", "*", 200, body=HTML_PAGE, content_type="text/html", operation="AssumeRole"
    )
    code, _, err = run("findings", "--regions", "us-east-1", "--role-arn", ROLE)
    assert code == EXIT_COULD_NOT_LOOK
    line = one_error(err)
    assert f"could not assume {ROLE} (sts:AssumeRole)" in line and "HTML page" in line


@pytest.mark.parametrize(
    "argv",
    [
        ["findings"],
        ["findings", "--case", "CASE"],
        ["events", "--lookup", "--access-key", KEY, "--out", "OUT"],
        ["investigate", FINDING, "--out", "OUT"],
        ["investigate", FINDING, "--case", "CASE", "--out", "OUT"],
        ["verdict", FINDING, "--status", "pending"],
        ["actions", FINDING, "--plan", "archive", "--case", "CASE"],
    ],
    ids=["findings", "findings-case", "events", "investigate", "investigate-case", "verdict",
         "actions-case"],
)  # fmt: skip
def test_unknown_profile_fails_at_once(argv: list[str], fake_aws: FakeAws, tmp_path: Path) -> None:
    argv = [{"CASE": str(sample_case().root), "OUT": str(tmp_path / "o")}.get(a, a) for a in argv]
    code, out, err = run(*argv, "--profile", "nosuchprofile")
    assert code == 1 and out == ""
    assert "AWS profile 'nosuchprofile' not found" in one_error(err)
    assert fake_aws.requests == [] and not (tmp_path / "o").exists()


def test_unknown_profile_in_the_python_api() -> None:
    with pytest.raises(InputError, match="profile 'nosuchprofile' not found"):
        Aws(AwsConfig(profile="nosuchprofile"))
    with pytest.raises(InputError, match="profile 'nosuchprofile' not found"):
        investigation.sources_from_parameters(profile="nosuchprofile")


# --------------------------------------------------------------------------------------------
# 6. no traceback reaches a user
# --------------------------------------------------------------------------------------------
def test_unexpected_exception_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*_: Any) -> int:
        raise KeyError("DetectorIds")

    monkeypatch.setattr("torinvest.cli.demo.cmd_demo", boom)
    code, _, err = run("demo")
    assert code == 1
    assert err == (
        "torinvest: error: internal error: KeyError: 'DetectorIds' (this is a bug; run with -v "
        "to see the traceback)\n"
    )
    code, _, err = run("-v", "demo")
    assert code == 1
    assert err.startswith("Traceback (most recent call last):") and "KeyError" in err
    assert err.splitlines()[-1].startswith("torinvest: error: internal error: KeyError")


def _closed_reader(*argv: str) -> subprocess.CompletedProcess[str]:
    """Run torinvest with its stdout a pipe whose reader is already gone."""
    read, write = os.pipe()
    os.close(read)
    try:
        return subprocess.run(
            [sys.executable, "-m", "torinvest.cli", *argv],
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
            check=False,
            env=os.environ.copy(),
        )
    finally:
        os.close(write)


@pytest.mark.parametrize(
    "argv",
    [
        ("tor", "check", "185.220.101.34", "--at", "2023-07-10T12:00Z"),
        ("findings", "--case", str(sample_case().root)),
        ("findings", "--case", str(sample_case().root), "--json"),
    ],
    ids=["tor-check", "findings", "findings-json"],
)
def test_closed_pipe_exits_quietly(argv: tuple[str, ...]) -> None:
    proc = _closed_reader(*argv)
    assert proc.returncode == BROKEN_PIPE_STATUS == 141
    assert proc.stderr == "" or "Traceback" not in proc.stderr
    assert "BrokenPipe" not in proc.stderr and "Exception ignored" not in proc.stderr


def test_pipe_into_head_with_a_long_output(tmp_path: Path) -> None:
    """A real shell pipe: head takes one line of a table longer than the pipe's buffer."""
    folder = tmp_path / "findings"
    folder.mkdir()
    many = [finding(fid(i), key=f"AKIAEXAMPLE{i:09d}") for i in range(1, 1500)]
    (folder / "many.json").write_text(json.dumps(many))
    cmd = f"{sys.executable} -m torinvest.cli findings --case {tmp_path} | head -1"
    proc = subprocess.run(
        ["bash", "-c", f"set -o pipefail; {cmd}"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=os.environ.copy(),
    )
    assert proc.stdout.split()[:3] == ["finding", "type", "region"]
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr
    assert proc.returncode in (0, BROKEN_PIPE_STATUS)


# --------------------------------------------------------------------------------------------
# notebooks: the triage card and the error card
# --------------------------------------------------------------------------------------------
def _triage(tmp_path: Path, **params: object) -> tuple[str, Any]:
    out = tmp_path / "triage-out.ipynb"
    failure = report.execute(NOTEBOOKS / "triage.ipynb", out, params, cwd=tmp_path)
    nb = nbformat.read(out, as_version=4)
    text = "\n".join(json.dumps(o) for c in nb.cells for o in c.get("outputs", []))
    return text, failure


def test_triage_notebook_when_no_region_answers(gd: FakeAws, tmp_path: Path) -> None:
    gd.fail("guardduty", "*", "AccessDeniedException")
    text, failure = _triage(tmp_path, regions="us-east-1,eu-west-1")
    assert failure is not None and failure.ename == "RegionsNotSearchedError"
    assert "Could not look: nothing was searched" in text and "ti-danger" in text
    assert "guardduty:ListDetectors" in text
    assert "Nothing to triage" not in text


def test_triage_notebook_partial_search(gd: FakeAws, tmp_path: Path) -> None:
    gd.fail("guardduty", "eu-west-1", "AccessDeniedException")
    text, failure = _triage(tmp_path, regions="us-east-1,eu-west-1")
    assert failure is None
    assert "No open Tor finding where torinvest could look" in text and "ti-warn" in text
    assert "1 region(s) could not be searched: eu-west-1" in text
    assert "Nothing to triage" not in text


def test_triage_card_and_error_card_say_could_not_look(gd: FakeAws) -> None:
    gd.guardduty("us-east-1").add_findings([finding(fid(1))])
    gd.fail("guardduty", "eu-west-1", "AccessDeniedException")
    partial = fetch_findings(Aws(), ["us-east-1", "eu-west-1"]).tor_only()
    html = display.triage_table(report.triage_frame(partial), partial).data
    assert "Partial list" in html and fid(1) in html
    nothing = fetch_findings(Aws(), ["eu-west-1"]).tor_only()
    html = display.triage_table(report.triage_frame(nothing), nothing).data
    assert "Could not look" in html and "Nothing to triage" not in html
    with pytest.raises(RegionsNotSearchedError) as caught:
        nothing.require_looked()
    assert isinstance(caught.value, AwsError | CouldNotLookError)
    card = display.error_card(caught.value).data
    assert "Could not look: nothing was searched" in card and "guardduty:eu-west-1" in card
    with pytest.raises(FindingNotFoundError) as missing:
        partial.get(OTHER)
    card = display.error_card(missing.value).data
    assert "Not found where torinvest could look" in card and "guardduty:eu-west-1" in card


def test_a_tor_finding_that_could_not_be_read_is_never_nothing_to_triage(tmp_path: Path) -> None:
    """A findings file read whole, but whose only Tor finding could not be (its ID is a
    number) beside a finding of another type: `findings`, `investigate --all-open` and the
    triage notebook say the list is partial, naming FILE[index] — never "No open Tor finding"
    as a complete answer, "Nothing to triage" or a green card."""
    case = tmp_path / "case"
    (case / "findings").mkdir(parents=True)
    other = finding(fid(2), type="PrivilegeEscalation:IAMUser/AdministrativePermissions")
    tor = finding(fid(1))
    tor["id"] = 12345
    (case / "findings" / "f.json").write_text(json.dumps([other, tor]))
    where = f"{case}/findings/f.json[1]"
    code, _, err = run("findings", "--case", str(case))
    assert code == 0
    assert "note: partial result: 1 finding record(s) could not be read" in err
    code, _, err = run(
        "investigate", "--all-open", "--case", str(case), "--out", str(tmp_path / "o")
    )
    assert code == 0, err
    assert f"partial result: 1 finding record(s) could not be read: {where}" in err
    assert "no open Tor finding where torinvest could look" in err
    text, failure = _triage(tmp_path, case_dir=str(case))
    assert failure is None
    assert "No open Tor finding where torinvest could look" in text and "ti-warn" in text
    assert where in text
    assert "<p>Nothing to triage.</p>" not in text


def test_a_tor_finding_guardduty_answers_unreadably_makes_the_list_partial(
    gd: FakeAws, tmp_path: Path
) -> None:
    """GuardDuty lists a Tor finding whose answer botocore cannot parse (a severity that is
    text) or whose ID is unusable: each is skipped, and the list it was read for is partial
    — `findings` says so, the triage card is amber and names the region, never "Nothing to
    triage" — and stays partial when the fetch is kept for a working copy (findings-….json)
    and read back."""
    from torinvest.findings.fetched import fetched_name, read_fetched, write_fetched

    unparsable = finding(fid(4), severity="critical")
    gd.guardduty("us-east-1").add_findings([unparsable])
    code, out, err = run("findings", "--regions", "us-east-1", "--json")
    assert code == 0 and json.loads(out) == [] and "Traceback" not in err
    assert "note: partial result: 1 finding record(s) could not be read" in err
    found = fetch_findings(Aws(), ["us-east-1"]).tor_only()
    assert found.gap().startswith(
        f"1 finding record(s) could not be read: us-east-1 (skipped: finding {fid(4)}"
    )
    html = display.triage_table(report.triage_frame(found), found).data
    assert "No open Tor finding where torinvest could look" in html and "ti-warn" in html
    assert fid(4) in html and "Nothing to triage" not in html
    back = read_fetched(write_fetched(found, tmp_path / fetched_name(found)))
    assert back.gap() == found.gap()

    gd.guardduty("us-east-1").add_findings([finding(fid(1)), finding("bad-id", key=KEY)])
    found = fetch_findings(Aws(), ["us-east-1"]).tor_only()
    assert [f.id for f in found.findings] == [fid(1)]  # nothing valid lost
    assert found.gap().startswith("2 finding record(s) could not be read: us-east-1")
    html = display.triage_table(report.triage_frame(found), found).data
    assert "Partial list" in html and fid(1) in html


def test_a_finding_without_a_usable_last_sighting_is_not_put_last_in_triage(
    tmp_path: Path,
) -> None:
    """Triage lists newest first: a finding whose eventLastSeen is not a time (dropped, with
    an issue) is placed by its last update — GuardDuty updated it after the others —, not
    put at the bottom as if it were the oldest."""
    case = tmp_path / "case"
    (case / "findings").mkdir(parents=True)
    old, recent, unusable = finding(fid(1)), finding(fid(2)), finding(fid(3))
    recent["service"]["eventLastSeen"] = "2024-01-01T00:00:00Z"
    recent["updatedAt"] = "2024-01-01T00:05:00Z"
    unusable["service"]["eventLastSeen"] = "garbage"
    unusable["updatedAt"] = "2024-06-01T00:00:00+02:00"
    (case / "findings" / "f.json").write_text(json.dumps([old, recent, unusable]))
    found = report.open_findings(investigation.sources_from_parameters(case_dir=str(case)))
    assert any("eventLastSeen" in i.problem for i in found.issues)
    frame = report.triage_frame(found, case_dir=str(case))
    assert list(frame["id"]) == [fid(3), fid(2), fid(1)]
