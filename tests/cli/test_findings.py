"""`torinvest findings` and `torinvest demo`: what the analyst and the automation see."""

from __future__ import annotations

import codecs
import copy
import json
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.cli_run import run
from tests.fake_aws import FakeAws
from torinvest.case import sample_case
from torinvest.cli import FINDING_JSON_KEYS, build_parser
from torinvest.errors import EXIT_COULD_NOT_LOOK

GD = Path(__file__).parent.parent / "fixtures" / "guardduty"
SHAPES = GD / "shapes"
STORY = json.loads((sample_case().root / "STORY.json").read_text())


def test_json_of_the_sample_case_locates_every_key() -> None:
    code, out, err = run("findings", "--case", str(sample_case().root), "--json")
    assert code == 0
    records = json.loads(out)
    assert [list(r) for r in records] == [list(FINDING_JSON_KEYS)] * 2
    by_id = {r["id"]: r for r in records}
    unauth = by_id["6dde0a8f8d46f6acad893b30f905e97c"]
    assert unauth == {
        "id": "6dde0a8f8d46f6acad893b30f905e97c",
        "type": "UnauthorizedAccess:IAMUser/TorIPCaller",
        "account_id": "123837392027",
        "region": "us-east-1",
        "severity": 5.0,
        "access_key_id": "AKIATFQR7NSCUXC3DDDP",
        "key_kind": "long-term",
        "principal_id": "AIDATFQR7NSC5U6Q3TMDR",
        "user_name": "benjamin",
        "user_type": "IAMUser",
        "tor_ip": "109.70.100.66",
        "first_seen": "2023-07-10T12:17:08Z",
        "last_seen": "2023-07-10T12:20:04Z",
        "count": 6,
        "archived": False,
    }
    assert by_id["7f176d541deef88b1ad653b9ed646f29"]["type"] == "Recon:IAMUser/TorIPCaller"
    assert "skipped 1 finding(s) of other types" in err
    assert "PrivilegeEscalation:IAMUser/AdministrativePermissions: 1" in err


def test_table_is_readable_and_newest_first() -> None:
    code, out, _ = run("findings", "--case", str(sample_case().root))
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["finding", "type", "region"]
    assert lines[2].startswith("6dde0a8f8d46f6acad893b30f905e97c")  # updated last
    assert "AKIATFQR7NSCUXC3DDDP" in lines[2] and "109.70.100.66" in lines[2]


def test_bad_files_are_one_line_each_and_the_rest_is_listed(tmp_path: Path) -> None:
    shutil.copytree(GD / "bad", tmp_path / "findings")
    shutil.copy(GD / "shapes" / "eventbridge.json", tmp_path / "findings" / "good.json")
    code, out, err = run("findings", "--case", str(tmp_path), "--json")
    assert code == 0
    assert [r["id"] for r in json.loads(out)] == ["6dde0a8f8d46f6acad893b30f905e97c"]
    assert "Traceback" not in err
    lines = err.splitlines()
    for name in (
        "empty.json",
        "invalid.json",
        "not_a_finding.json",
        "invalid_id.json",
        "invalid_region.json",
    ):
        assert sum(name in ln for ln in lines) == 1, (name, err)
    assert "skipped 1 finding(s) of other types" in err


def test_tor_finding_without_key_details_is_named(tmp_path: Path) -> None:
    (tmp_path / "findings").mkdir()
    shutil.copy(GD / "bad" / "no_access_key_details.json", tmp_path / "findings")
    code, out, err = run("findings", "--case", str(tmp_path), "--json")
    assert code == 0
    assert json.loads(out) == []
    (line,) = [ln for ln in err.splitlines() if "accessKeyDetails" in ln]
    assert "6dde0a8f8d46f6acad893b30f905e97c" in line and "no_access_key_details.json" in line


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["findings", "--case", "/nonexistent/case"], "does not exist"),
        (["findings", "--file", "/nonexistent.json"], "no such file"),
    ],
)
def test_errors_are_one_clear_line(argv: list[str], needle: str) -> None:
    code, out, err = run(*argv)
    assert code == 1
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("torinvest: error:") and needle in err


def test_empty_case_folder_says_what_to_do(tmp_path: Path) -> None:
    (tmp_path / "findings").mkdir()
    code, _, err = run("findings", "--case", str(tmp_path))
    assert code == 1
    assert "no findings files" in err and "get-findings" in err


def test_from_guardduty_across_regions(fake_aws: FakeAws, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    finding = json.loads((GD / "shapes" / "single_raw.json").read_text())
    fake_aws.guardduty("us-east-1").add_detector()
    fake_aws.guardduty("us-east-1").add_findings([finding])
    fake_aws.fail("guardduty", "eu-west-1", "AccessDeniedException")
    code, out, err = run("findings", "--regions", "us-east-1,eu-west-1", "--json")
    assert code == 0
    assert [r["access_key_id"] for r in json.loads(out)] == ["AKIATFQR7NSCUXC3DDDP"]
    assert "guardduty:eu-west-1" in err and "guardduty:ListDetectors" in err


def test_no_region_searchable_is_an_error(
    fake_aws: FakeAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    fake_aws.fail("guardduty", "*", "AccessDeniedException")
    code, _out, err = run("findings", "--regions", "us-east-1,eu-west-1")
    assert code == EXIT_COULD_NOT_LOOK
    assert "no region could be searched" in err and "guardduty:ListDetectors" in err


def test_attacker_text_is_inert_in_the_table(tmp_path: Path) -> None:
    finding = json.loads((GD / "shapes" / "single_raw.json").read_text())
    evil = copy.deepcopy(finding)
    evil["resource"]["accessKeyDetails"]["userName"] = "bob\x1b]8;;http://x\x07\x1b[2Jroot"
    (tmp_path / "f.json").write_text(json.dumps(evil))
    code, out, _ = run("findings", "--file", str(tmp_path / "f.json"))
    assert code == 0
    assert "\x1b" not in out and "\x07" not in out
    assert "bob\\x1b]8;;http://x\\x07" in out


def test_demo_prints_the_located_keys() -> None:
    code, out, _ = run("demo")
    assert code == 0
    assert "AKIATFQR7NSCUXC3DDDP" in out and "185.220.101.34" in out


def test_demo_says_the_commands_that_investigate_a_finding() -> None:
    """Each printed next step parses as printed (the case path quoted for the shell) and names
    a Tor finding of the sample case, which it reads from the case folder."""
    code, out, _ = run("demo")
    assert code == 0
    steps = [shlex.split(x) for x in out.splitlines() if x.startswith("  torinvest ")]
    assert [s[1] for s in steps] == ["investigate", "notebook"]
    for argv in steps:
        args = build_parser().parse_args(argv[1:])
        assert args.finding_id == "6dde0a8f8d46f6acad893b30f905e97c"
        assert Path(args.case) == sample_case().root


def test_installed_command_runs_without_traceback(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "torinvest.cli", "findings", "--case", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert "is not a case folder" in proc.stderr


# --------------------------------------------------------------------------------------------
# filters: what they leave out is said, never an empty list that reads as complete
# --------------------------------------------------------------------------------------------
def refused(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """What argparse says of a refused option value (exit status 2)."""
    with pytest.raises(SystemExit) as exited:
        run(*argv)
    assert exited.value.code == 2
    return capsys.readouterr().err


def test_a_bad_region_is_a_usage_error_naming_the_option(
    capsys: pytest.CaptureFixture[str],
) -> None:
    err = refused(capsys, "findings", "--regions", "moon-base-1x")
    assert "argument --regions: invalid region name 'moon-base-1x'" in err


def test_an_account_id_with_spaces_around_it_is_the_account() -> None:
    code, out, _ = run("findings", "--case", str(sample_case().root), "--account", " 123837392027 ")
    assert code == 0
    assert "6dde0a8f8d46f6acad893b30f905e97c" in out


@pytest.mark.parametrize("value", ["abc", "12383739202", "1238373920271", "123-837-392-027"])
def test_a_value_that_is_not_an_account_id_is_refused(
    capsys: pytest.CaptureFixture[str], value: str
) -> None:
    for source in (["--case", str(sample_case().root)], ["--regions", "us-east-1"]):
        err = refused(capsys, "findings", *source, "--account", value)
        assert f"--account: {value!r} is not an account ID" in err and "12 digits" in err


def test_fetch_refuses_a_malformed_account_before_any_call() -> None:
    from torinvest.aws import Aws
    from torinvest.errors import InputError
    from torinvest.findings import fetch_findings

    with pytest.raises(InputError, match="'abc' is not an account ID"):
        fetch_findings(Aws(), ["us-east-1"], account_ids=["abc"])


@pytest.mark.parametrize(
    ("argv", "note"),
    [
        (["--start", "2024-01-01"], "2 Tor finding(s) left out by --start/--end"),
        (["--end", "2023-07-01"], "2 Tor finding(s) left out by --start/--end"),
        (["--account", "111111111111"], "2 Tor finding(s) left out by --account"),
    ],
)
def test_findings_left_out_by_a_filter_are_counted(argv: list[str], note: str) -> None:
    code, out, err = run("findings", "--case", str(sample_case().root), *argv)
    assert code == 0
    assert out.strip() == "no Tor findings"
    assert f"torinvest: note: {note}\n" in err


@pytest.mark.parametrize("updated", [None, "yesterday", 1688991584])
def test_a_finding_without_a_usable_update_time_is_kept_and_named(
    tmp_path: Path, updated: object
) -> None:
    finding = json.loads((GD / "shapes" / "single_raw.json").read_text())
    finding["updatedAt"] = updated
    (tmp_path / "f.json").write_text(json.dumps(finding))
    code, out, err = run(
        "findings", "--file", str(tmp_path / "f.json"), "--start", "2023-07-01", "--json"
    )
    assert code == 0
    assert [r["id"] for r in json.loads(out)] == [finding["id"]]
    (line,) = [ln for ln in err.splitlines() if "no usable updatedAt: listed" in ln]
    assert line.startswith("torinvest: issue: ") and finding["id"] in line and "f.json" in line


@pytest.mark.parametrize(
    "encode",
    [
        lambda t: codecs.BOM_UTF8 + t.encode(),
        lambda t: t.encode("utf-16"),  # PowerShell 5's `aws guardduty get-findings … > f.json`
        lambda t: t.encode("utf-16-le"),
        lambda t: codecs.BOM_UTF16_BE + t.encode("utf-16-be"),
        lambda t: t.encode("utf-32"),
    ],
    ids=["utf-8-bom", "utf-16", "utf-16-le", "utf-16-be-bom", "utf-32"],
)
def test_a_findings_file_in_another_unicode_encoding_is_read(
    tmp_path: Path, encode: Callable[[str], bytes]
) -> None:
    text = (sample_case().root / "findings" / "get-findings.json").read_text()
    (tmp_path / "f.json").write_bytes(encode(text))
    code, out, err = run("findings", "--file", str(tmp_path / "f.json"), "--json")
    assert code == 0, err
    assert "issue" not in err
    assert {r["id"] for r in json.loads(out)} == {"6dde0a8f8d46f6acad893b30f905e97c"}


def test_notes_say_archived_findings_as_such_and_never_a_zero(tmp_path: Path) -> None:
    code, _, err = run("findings", "--case", str(sample_case().root))
    assert code == 0
    notes = [ln for ln in err.splitlines() if ln.startswith("torinvest: note:")]
    assert notes == [
        "torinvest: note: skipped 1 finding(s) of other types "
        "(PrivilegeEscalation:IAMUser/AdministrativePermissions: 1)"
    ]
    shutil.copytree(sample_case().root / "findings", tmp_path / "findings")
    path = tmp_path / "findings" / "eventbridge-recon.json"
    event = json.loads(path.read_text())
    event["detail"]["service"]["archived"] = True
    path.write_text(json.dumps(event))
    code, out, err = run("findings", "--case", str(tmp_path), "--end", "2000-01-01")
    assert code == 0 and out.strip() == "no Tor findings"
    assert "torinvest: note: 1 archived finding(s) left out (--include-archived lists them)" in err
    assert "torinvest: note: 1 Tor finding(s) left out by --start/--end" in err
    assert not any(" 0 " in ln for ln in err.splitlines())
    assert "of type archived" not in err and "archived: " not in err


def test_an_asff_record_security_hub_archived_is_not_listed_open(tmp_path: Path) -> None:
    """GuardDuty does not update the Security Hub copy when it archives: an ASFF record whose
    RecordState is ARCHIVED is archived whatever its stale ProductFields say."""
    data = json.loads((SHAPES / "asff.json").read_text())
    for finding in data["Findings"]:
        assert finding["ProductFields"]["aws/guardduty/service/archived"] == "false"
        finding["RecordState"] = "ARCHIVED"
    (tmp_path / "asff.json").write_text(json.dumps(data))
    code, out, err = run("findings", "--file", str(tmp_path / "asff.json"))
    assert code == 0 and out.strip() == "no Tor findings", out
    assert "archived finding(s) left out (--include-archived lists them)" in err
    code, out, _ = run("findings", "--file", str(tmp_path / "asff.json"), "--include-archived")
    assert code == 0 and "no Tor findings" not in out


def test_an_empty_table_of_a_partial_search_never_reads_as_none(
    fake_aws: FakeAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One region answered with nothing, one refused: stdout said "no Tor findings" — what an
    automation or a quick look keeps — while the findings of the refused region are unknown."""
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    fake_aws.guardduty("us-east-1").add_detector()
    fake_aws.fail("guardduty", "eu-west-1", "AccessDeniedException")
    code, out, err = run("findings", "--regions", "us-east-1,eu-west-1")
    assert code == 0
    assert (
        out.strip() == "no Tor findings where torinvest could look (partial result: see the notes)"
    )
    assert "partial result: 1 region(s) could not be searched" in err


def test_the_table_names_each_findings_account(
    fake_aws: FakeAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A delegated administrator's list holds its members' findings: the table says whose each
    one is (the account to investigate it with), not only --json."""
    finding = json.loads((GD / "shapes" / "single_raw.json").read_text())
    member = {**copy.deepcopy(finding), "id": "1" * 32, "accountId": "210987654321"}
    fake_aws.guardduty("us-east-1").add_detector()
    fake_aws.guardduty("us-east-1").add_findings([finding, member])
    code, out, _ = run("findings", "--regions", "us-east-1")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:4] == ["finding", "type", "region", "account"]
    by_id = {line.split()[0]: line.split()[3] for line in lines[2:]}
    assert by_id == {finding["id"]: finding["accountId"], "1" * 32: "210987654321"}


def test_table_sorts_by_the_last_seen_it_shows_as_the_triage_does(tmp_path: Path) -> None:
    """The table's column is "last seen" (``service.eventLastSeen``): the rows are in that
    order, newest first — not in ``updatedAt``'s, which GuardDuty also moves when it only
    changes a finding's severity or archives it. A finding without a usable last sighting is
    placed by its last update (never last for want of a time), as in the triage notebook and
    the index of ``--all-open``: every list uses one order."""
    from torinvest import report
    from torinvest.findings import read_findings

    base = json.loads((SHAPES / "single_raw.json").read_text())

    def finding(n: int, updated: str, last_seen: str | None) -> dict[str, object]:
        f = copy.deepcopy(base)
        f["id"] = f"{n:032x}"
        f["updatedAt"] = updated
        if last_seen is None:
            f["service"].pop("eventLastSeen", None)
        else:
            f["service"]["eventLastSeen"] = last_seen
        return f

    findings = [
        finding(1, "2024-05-09T00:00:00Z", "2024-05-01T00:00:00Z"),  # updated last, seen first
        finding(2, "2024-05-03T00:00:00Z", "2024-05-03T00:00:00Z"),
        finding(3, "2024-05-02T00:00:00Z", "2024-05-02T12:00:00Z"),
        finding(4, "2024-05-02T18:00:00Z", None),  # placed by its update
    ]
    (tmp_path / "findings").mkdir()
    (tmp_path / "findings" / "f.json").write_text(json.dumps(findings))
    newest_seen_first = [f"{n:032x}" for n in (2, 4, 3, 1)]
    code, out, err = run("findings", "--case", str(tmp_path))
    assert code == 0, err
    assert "last seen" in out.splitlines()[0]
    assert [line.split()[0] for line in out.splitlines()[2:]] == newest_seen_first
    code, out, err = run("findings", "--case", str(tmp_path), "--json")
    assert [r["id"] for r in json.loads(out)] == newest_seen_first
    found = read_findings(tmp_path / "findings").tor_only()
    assert list(report.triage_frame(found)["id"]) == newest_seen_first  # notebook, index


def test_a_region_without_a_detector_is_not_looked_at_never_answered(
    fake_aws: FakeAws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GuardDuty without a detector in eu-west-1 (for these credentials): nothing was looked at
    there. It counted among the regions that answered: "not found … (every one of 2 region(s)
    searched)", "no Tor findings" when no region had a detector, and no partial note. Now it is
    "no detector in eu-west-1: not looked at" in the findings, not-found and --all-open
    readings, and never among the regions answered."""
    from tests.post.conftest import make_report
    from torinvest.aws import Aws, AwsConfig
    from torinvest.findings import fetch_findings
    from torinvest.findings.related import PARTIAL, fetch_related, make_subject
    from torinvest.post import batch as post_batch

    finding = json.loads((SHAPES / "single_raw.json").read_text())
    fake_aws.guardduty("us-east-1").add_detector()
    fake_aws.guardduty("us-east-1").add_findings([finding])
    regions = "us-east-1,eu-west-1"

    result = fetch_findings(Aws(AwsConfig()), regions.split(","))
    assert result.answered == ["guardduty:us-east-1"] and not result.complete
    assert result.not_looked == ["guardduty:eu-west-1"] and result.failed == []
    assert result.gap() == "no detector in eu-west-1: not looked at"

    code, out, err = run("findings", "--regions", regions)
    assert code == 0 and finding["id"] in out
    assert "guardduty:eu-west-1: GuardDuty has no detector in eu-west-1: not looked at" in err
    assert "partial result: 1 region(s) not looked at (no detector)" in err

    code, out, err = run(
        "investigate", "a" * 32, "--regions", regions, "--out", str(tmp_path / "x")
    )
    assert code == EXIT_COULD_NOT_LOOK
    assert "is not in the 1 region(s) that answered (us-east-1); no detector in eu-west-1: " in err
    assert "not looked at, so it may be there" in err and "every one" not in err

    # related findings: a region without a detector is not searched, and said so
    subject = make_subject([finding["resource"]["accessKeyDetails"]["accessKeyId"]])
    related = fetch_related(Aws(AwsConfig()), regions.split(","), subject)
    assert related.status == PARTIAL and related.no_detector == ["guardduty:eu-west-1"]
    assert "no detector in eu-west-1: not looked at" in related.describe()

    # --all-open: the batch says which region it did not look at (exit 0, one report)
    monkeypatch.setattr(
        post_batch, "_investigate", lambda fid, folder, **_: make_report(folder, finding_id=fid)
    )
    out_dir = tmp_path / "reports"
    code, out, err = run("investigate", "--all-open", "--regions", regions, "--out", str(out_dir))
    assert code == 0, err
    assert out.startswith(f"ok      {finding['id']}")
    assert "partial result: no detector in eu-west-1: not looked at; open findings there" in err

    # no region with a detector: nothing was looked at — never "no Tor findings"
    for argv in (
        ["findings", "--regions", "eu-west-1,eu-central-1"],
        ["investigate", "--all-open", "--regions", "eu-west-1,eu-central-1", "--out", str(out_dir)],
    ):
        code, out, err = run(*argv)
        assert code == EXIT_COULD_NOT_LOOK and "no Tor findings" not in out + err
        assert "no open Tor finding" not in err
        assert "no region could be looked at: GuardDuty has no detector in any of the 2 " in err


def test_credentials_that_expire_on_page_2_list_page_1_and_say_the_region_read_in_part(
    fake_aws: FakeAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ListFindings answered ExpiredToken on page 2 of a region: its first page's findings were
    thrown away and the region read "could not be searched"; they are listed, and the region
    is said read in part (which page stopped, why, what to do)."""
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    base = json.loads((SHAPES / "single_raw.json").read_text())
    found = []
    for i in range(60):
        f = copy.deepcopy(base)
        f["id"] = f"a{i:031x}"
        f["updatedAt"] = f"2023-07-10T12:{i % 60:02d}:00.000Z"
        found.append(f)
    fake_aws.guardduty("us-east-1").add_detector()
    fake_aws.guardduty("us-east-1").add_findings(found)
    fake_aws.fail(
        "guardduty", "us-east-1", "ExpiredTokenException", operation="ListFindings",
        message="The security token included in the request is expired", after=1,
    )  # fmt: skip
    code, out, err = run("findings", "--regions", "us-east-1", "--json")
    assert code == 0, err
    assert len(json.loads(out)) == 50
    assert "could not be searched" not in err
    assert "guardduty:us-east-1: read in part: 50 finding(s) from 1 page(s)" in err
    assert "then ListFindings page 2 stopped" in err and "ExpiredTokenException" in err
    assert (
        "partial result: 1 region(s) read in part (see the issues); findings there that were "
        "not read are not listed"
    ) in err
