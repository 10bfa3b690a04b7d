"""`torinvest investigate`, `verdict` and `verdicts`: exit codes, one-line errors, the batch's
skip/force. (`torinvest actions` is tested in tests/actions/test_actions.py.)"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import nbformat
import orjson
import pandas as pd
import pytest

from tests.cli_run import run
from tests.fake_aws import FakeAws
from tests.mmdb import asn_database
from tests.offline_regions import SAMPLE_REGIONS, offline_unfolded
from tests.sample_window import COVERED_FLAGS
from torinvest import actions, investigation, report
from torinvest.case import sample_case
from torinvest.errors import EXIT_COULD_NOT_LOOK, EXIT_FAILED, EXIT_NOT_FOUND, EXIT_REFUSED
from torinvest.verdict import read_ledger

FINDING = "6dde0a8f8d46f6acad893b30f905e97c"
OTHER_FINDING = "7f176d541deef88b1ad653b9ed646f29"
KEY = "AKIATFQR7NSCUXC3DDDP"
SHAPES = Path(__file__).parent.parent / "fixtures" / "guardduty" / "shapes"
ROOT = Path(__file__).resolve().parents[2]


def errors(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("torinvest: error:")]


def _case() -> str:
    return str(sample_case().root)


# --------------------------------------------------------------------------------------------
# investigate
# --------------------------------------------------------------------------------------------
def test_investigate_as_a_real_command(tmp_path: Path) -> None:
    out = tmp_path / "report"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "torinvest.cli",
            "investigate",
            FINDING,
            "--case",
            _case(),
            "--out",
            str(out),
            "--ledger",
            str(tmp_path / "ledger.jsonl"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=tmp_path,
        env=os.environ.copy(),
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "WARNING" not in proc.stderr  # no kernel or tqdm noise
    lines = proc.stdout.splitlines()
    assert lines[0].startswith(f"finding {FINDING}: key {KEY} (long-term, benjamin), 71 events")
    assert lines[-1] == f"report:   {out / 'report.html'}"
    for name in ("report.ipynb", "report.html", "summary.json", "events.csv", "per_ip.csv"):
        assert (out / name).is_file()
    assert report.check_summary(out / "summary.json")["verdict"]["status"] == "pending"


def test_unknown_finding_fails_in_one_line_naming_the_known_ones(tmp_path: Path) -> None:
    unknown = "0123456789abcdef0123456789abcdef"
    code, out, err = run(
        "investigate", unknown, "--case", _case(), "--out", str(tmp_path / "o"),
        "--ledger", str(tmp_path / "l.jsonl"),
    )  # fmt: skip
    assert code == EXIT_NOT_FOUND
    assert out == ""
    (line,) = errors(err)
    assert f"finding {unknown} not found among 2 findings" in line
    assert FINDING in line and OTHER_FINDING in line
    # the hint names what applies to a case folder: no region, no option investigate lacks
    assert "check the ID" in line and "--include-archived" not in line and "region" not in line
    assert not (tmp_path / "o").exists()  # checked before a kernel starts: nothing written
    assert "investigating" not in err and "Traceback" not in err


def test_a_finding_of_another_type_is_said_as_such_before_a_kernel(tmp_path: Path) -> None:
    other = "ad9a0d95f206f5fc6188f6c4ffeebe82"  # the sample case's PrivilegeEscalation finding
    code, out, err = run("investigate", other, "--case", _case(), "--out", str(tmp_path / "o"))
    assert (code, out) == (1, "")
    (line,) = errors(err)
    assert line == (
        f"torinvest: error: finding {other} is a "
        "PrivilegeEscalation:IAMUser/AdministrativePermissions finding, not a Tor finding "
        "(torinvest investigates UnauthorizedAccess:IAMUser/TorIPCaller and "
        "Recon:IAMUser/TorIPCaller findings only)"
    )
    assert "not found" not in err and "investigating" not in err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    "command", [["investigate", FINDING], ["notebook", FINDING], ["investigate", "--all-open"]]
)
def test_a_case_folder_without_its_logs_is_said_before_a_kernel(
    tmp_path: Path, command: list[str]
) -> None:
    """A case folder half-copied (findings/, no cloudtrail/ yet): one line naming the folder to
    fill, exit 1, nothing written (was: a kernel started — one per finding with --all-open —,
    its cell 10 failed, exit 6 and a report whose banner said it)."""
    case = tmp_path / "case"
    shutil.copytree(sample_case().findings, case / "findings")
    code, stdout, err = run(*command, "--case", str(case), "--out", str(tmp_path / "o"))
    assert (code, stdout) == (1, ""), err
    (line,) = errors(err)
    assert f"case folder {case} has no cloudtrail/ folder" in line
    assert (
        f"copy the CloudTrail log files (or a lookup-events export) into {case}/cloudtrail" in line
    )
    assert "investigating" not in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (["investigate", "not-an-id!", "--case", "CASE"], 2, "invalid finding id"),
        (["investigate", FINDING, "--case", "/no/such/case"], 1, "does not exist"),
        (["investigate", "--case", "CASE"], 2, "give a FINDING_ID"),
        (["investigate", FINDING, "--all-open", "--case", "CASE"], 2, "not both"),
        (["investigate", FINDING, "--force", "--case", "CASE"], 2, "--force goes with"),
        (
            ["investigate", "--all-open", "--verdict", "malicious", "--analyst", "a",
             "--rationale", "r", "--case", "CASE"],
            2,
            "per ",
        ),
        (["investigate", FINDING, "--verdict", "malicious", "--case", "CASE"], 2, "--analyst"),
        (["investigate", FINDING, "--suppress", "--case", "CASE"], 2, "--suppress goes"),
    ],
)  # fmt: skip
def test_investigate_rejects_bad_input_before_any_kernel(
    tmp_path: Path, argv: list[str], code: int, message: str
) -> None:
    argv = [a.replace("CASE", _case()) for a in argv]
    if "--out" not in argv:
        argv += ["--out", str(tmp_path / "out")]
    got, _out, err = run(*argv)
    assert got == code, err
    (line,) = errors(err)
    assert message in line
    assert not (tmp_path / "out" / "report.ipynb").exists()


def tor_fetches(fake_aws: FakeAws, region: str = "us-east-1") -> list[str]:
    """The ListFindings/GetFindings requests of the Tor findings fetch in ``region`` (not the
    related findings' searches, whose criteria name a key, principal, IP or time)."""
    asked, out = "", []
    for r in fake_aws.calls(service="guardduty", region=region):
        if r.operation == "ListFindings":
            criterion = r.params["FindingCriteria"]["Criterion"]
            asked = "tor" if set(criterion) == {"type"} else "related"
        if r.operation in ("ListFindings", "GetFindings") and asked == "tor":
            out.append(r.operation)
    return out


def recent_finding(fake_aws: FakeAws, account: str | None = None) -> dict[str, Any]:
    """The sample Tor finding, seen 50 to 40 minutes ago (LookupEvents' days), in the fake
    GuardDuty of us-east-1 (``account``: its accountId instead of the sample's)."""
    now = pd.Timestamp.now(tz="UTC").floor("s")

    def ago(minutes: int) -> str:
        return (now - pd.Timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")

    raw = json.loads((SHAPES / "single_raw.json").read_text())
    raw["service"].update(eventFirstSeen=ago(50), eventLastSeen=ago(40))
    raw.update(createdAt=ago(30), updatedAt=ago(30))
    if account is not None:
        raw["accountId"] = account
    gd = fake_aws.guardduty("us-east-1")
    gd.add_findings([raw], detector_id=gd.add_detector(raw["service"]["detectorId"]))
    return raw


def test_notebook_copy_reads_the_findings_the_command_fetched(
    fake_aws: FakeAws, moto: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`torinvest notebook FINDING` with AWS fetches the findings once, to check the finding;
    the copy reads what was checked from the file beside it (GuardDuty's shape), and a kept
    copy keeps its file."""
    monkeypatch.setenv("TORINVEST_CACHE", str(tmp_path / "cache"))
    fake_aws.set_lookup_rate(None)
    raw = recent_finding(fake_aws)
    argv = ["notebook", raw["id"], "--regions", "us-east-1", "--out", str(tmp_path / "nb")]
    code, out, err = run(*argv)
    assert code == 0, err
    copy = Path(out.splitlines()[-1])
    (kept,) = copy.parent.glob("findings-*.json")
    assert json.loads(kept.read_text())["findings"][0]["finding"]["Id"] == raw["id"]
    injected = next(
        c.source
        for c in nbformat.read(copy, as_version=4).cells
        if "injected-parameters" in c.metadata.get("tags", [])
    )
    assert f'fetched_findings = "{kept}"' in injected
    failure = report.execute(copy, tmp_path / "ran.ipynb", {}, cwd=copy.parent)
    assert failure is None, failure
    assert tor_fetches(fake_aws) == ["ListFindings", "GetFindings"]  # the command's only
    code, out, err = run(*argv)  # again: the copy is kept, and so is its file
    assert code == 0 and "kept" in out and "other parameters" not in err, err
    assert list(copy.parent.glob("findings-*.json")) == [kept]


def test_investigate_from_aws_runs_the_notebook_against_the_apis(
    fake_aws: FakeAws, moto: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """AWS flags instead of --case: the kernel finds the finding in GuardDuty and the key's
    calls with LookupEvents (the fakes; the kernel inherits their endpoints and the guard)."""
    monkeypatch.setenv("TORINVEST_CACHE", str(tmp_path / "cache"))
    # the credentials are the finding's account's: LookupEvents asked in another account holds
    # that account's calls only, which is "could not look" in the finding's
    # (tests/test_finding_account.py)
    monkeypatch.setenv("MOTO_ACCOUNT_ID", "123837392027")
    now = pd.Timestamp.now(tz="UTC").floor("s")

    def ago(minutes: int) -> str:
        return (now - pd.Timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")

    raw = json.loads((SHAPES / "single_raw.json").read_text())
    raw["service"].update(eventFirstSeen=ago(50), eventLastSeen=ago(40))
    raw.update(createdAt=ago(30), updatedAt=ago(30))
    gd = fake_aws.guardduty("us-east-1")
    gd.add_detector(raw["service"]["detectorId"])
    gd.add_findings([raw])
    identity = {"type": "IAMUser", "accessKeyId": KEY, "userName": "benjamin"}
    records = [
        {
            "eventVersion": "1.08",
            "eventID": f"aws-{i}",
            "eventTime": ago(50 - i),
            "eventName": name,
            "eventSource": "iam.amazonaws.com",
            "awsRegion": "us-east-1",
            "sourceIPAddress": "185.220.101.34",
            "userAgent": "aws-cli/2.13.0",
            "userIdentity": identity,
        }
        for i, name in enumerate(["ListUsers", "ListRoles", "CreateUser"])
    ]
    fake_aws.cloudtrail("us-east-1").add_records(records)
    fake_aws.set_lookup_rate(None)
    out = tmp_path / "o"
    code, _, err = run(
        "investigate", raw["id"], "--regions", "us-east-1", "--out", str(out),
        "--ledger", str(tmp_path / "l.jsonl"),
    )  # fmt: skip
    assert code == 0, err
    data = report.check_summary(out / "summary.json")
    assert data["finding"]["id"] == raw["id"]
    assert data["events"]["total"] == 3
    assert {e["event_name"] for e in data["sensitive_events"]} >= {"CreateUser"}
    assert fake_aws.calls("LookupEvents", region="us-east-1")
    # the Tor findings are fetched once: checked by the command, read by the notebook from
    # the file the command kept, in GuardDuty's own shape (the related findings ask apart)
    assert tor_fetches(fake_aws) == ["ListFindings", "GetFindings"]
    kept = json.loads((out / "findings.json").read_text())
    ((origin, finding),) = [(f["origin"], f["finding"]) for f in kept["findings"]]
    assert origin == "guardduty:us-east-1" and kept["sources"] == [origin]
    assert finding["Id"] == raw["id"] and finding["Resource"]["AccessKeyDetails"]["AccessKeyId"]
    assert "findings.json" in json.loads((out / "manifest.json").read_text())["files"]
    assert report.folder_state(out, raw["id"]).complete
    assert data["generated"]["sources"][0] == "AWS (us-east-1)"  # not a file the user gave
    # LookupEvents returns management events only: S3 object reads were never searched, said
    # in summary.json and on the terminal — a limit of the source, never a data issue
    assert data["data_events"]["state"] == "not searched"
    assert not any("data event" in i["problem"] for i in data["data_issues"])
    assert (
        "torinvest: note: data events not searched (LookupEvents returns management events "
        "only): S3 object reads/writes" in err
    )


def _case_with_one_open_finding(root: Path) -> Path:
    case = root / "case"
    shutil.copytree(sample_case().root, case)
    path = case / "findings" / "eventbridge-recon.json"
    doc = json.loads(path.read_text())
    doc["detail"]["service"]["archived"] = True
    path.write_text(json.dumps(doc))
    return case


def test_all_open_skips_what_it_has_and_forces_on_demand(tmp_path: Path) -> None:
    case = _case_with_one_open_finding(tmp_path)
    out = tmp_path / "reports"
    base = ["investigate", "--all-open", "--case", str(case), "--out", str(out)]
    base += ["--ledger", str(tmp_path / "l.jsonl")]
    summary = out / f"finding-{FINDING}" / "summary.json"

    code, stdout, err = run(*base)
    assert code == 0, err
    assert stdout.splitlines()[0].startswith(f"ok      {FINDING}  {KEY}")
    assert stdout.splitlines()[-1] == f"index: {out / 'index.html'}"
    index = orjson.loads((out / "index.json").read_bytes())
    assert [(f["finding_id"], f["status"]) for f in index["findings"]] == [(FINDING, "ok")]
    assert not (out / f"finding-{OTHER_FINDING}").exists()  # archived: not a report
    report.check_summary(summary)
    first = summary.stat().st_mtime_ns

    # the sample case holds one day of logs: the window's other days could not be read, so the
    # next scheduled run retries it (a report that read everything is skipped: see
    # tests/post/test_all_open_reading.py)
    # (and, read for every region, the partition's regions its trail has no folder for)
    gap = orjson.loads(summary.read_bytes())["activity_issues"]
    assert gap[0]["problem"] == offline_unfolded(SAMPLE_REGIONS)
    assert len(gap) == 2 and "no log file for" in gap[1]["problem"]
    code, stdout, err = run(*base)
    assert code == 0, err
    assert stdout.startswith(f"ok      {FINDING}")
    assert "retrying: the last run did not read the key's whole activity (" in err
    assert "(run 2 of 3)" in err
    assert "could not look" not in err  # days without log files: read in part, not "nothing"
    assert summary.stat().st_mtime_ns > first
    first = summary.stat().st_mtime_ns

    code, stdout, err = run(*base, "--force")
    assert code == 0, err
    assert stdout.startswith(f"ok      {FINDING}")
    assert summary.stat().st_mtime_ns > first
    page = (out / "index.html").read_text()
    assert f'href="finding-{FINDING}/report.html"' in page


# --------------------------------------------------------------------------------------------
# verdict, verdicts
# --------------------------------------------------------------------------------------------
def test_verdicts_are_recorded_and_listed_newest_first(tmp_path: Path) -> None:
    ledger = str(tmp_path / "ledger.jsonl")
    code, out, err = run(
        "verdict", OTHER_FINDING, "--status", "malicious", "--analyst", "ana",
        "--rationale", "recon from Tor \x1b[31mred\x1b[0m", "--ledger", ledger,
    )  # fmt: skip
    assert code == 0, err
    assert out.startswith(f"recorded: malicious for {OTHER_FINDING} by ana at ")
    assert "no source given" in err
    code, out, err = run(
        "verdict", FINDING, "--status", "legitimate", "--analyst", "bob",
        "--rationale", "red team exercise", "--ledger", ledger, "--case", _case(),
    )  # fmt: skip
    assert code == 0, err
    assert f"(key {KEY})" in out
    assert "Archive the finding" in out

    records, _ = read_ledger(ledger)
    with_evidence = next(r for r in records if r["finding_id"] == FINDING)
    assert with_evidence["evidence"]["derived_keys"] == [
        "AKIATFQR7NSCXLGMGTIH",
        "ASIATFQR7NSCNGEI5QNT",
    ]
    assert with_evidence["evidence"]["events"] == 71
    assert next(r for r in records if r["finding_id"] == OTHER_FINDING)["evidence"] == {}

    code, out, err = run("verdicts", "--ledger", ledger)
    assert code == 0
    rows = out.splitlines()
    assert rows[0].split()[:4] == ["recorded", "at", "finding", "access"]
    assert FINDING in rows[2] and "legitimate" in rows[2]  # newest first
    assert OTHER_FINDING in rows[3] and "malicious" in rows[3]
    assert "\x1b" not in out and "\\x1b[31mred" in out  # terminal-safe

    code, out, _ = run("verdicts", "--ledger", ledger, "--json")
    listed = json.loads(out)
    assert [v["finding_id"] for v in listed] == [FINDING, OTHER_FINDING]
    assert out.isascii()

    code, out, _ = run("verdicts", "--ledger", ledger, "--finding", OTHER_FINDING, "--json")
    assert [v["status"] for v in json.loads(out)] == ["malicious"]


def test_verdict_needs_an_analyst_and_a_rationale(tmp_path: Path) -> None:
    code, _, err = run(
        "verdict", FINDING, "--status", "malicious", "--ledger", str(tmp_path / "l.jsonl")
    )
    assert code == 2  # a usage error, as every bad argument
    (line,) = errors(err)
    assert "--status malicious needs --analyst and --rationale" in line
    assert not (tmp_path / "l.jsonl").exists()


def test_verdicts_of_an_empty_ledger(tmp_path: Path) -> None:
    code, out, err = run("verdicts", "--ledger", str(tmp_path / "none.jsonl"))
    assert code == 0
    assert out == "no verdicts\n"
    assert "no ledger" in err


# --------------------------------------------------------------------------------------------
# actions
# --------------------------------------------------------------------------------------------
def test_scopes_and_defaults_agree_with_the_package() -> None:
    from torinvest.cli import build_parser

    parser = build_parser()
    ns = parser.parse_args(["investigate", FINDING, "--out", "x"])
    assert ns.lookback_days == investigation.DEFAULT_LOOKBACK_DAYS
    assert ns.tolerance_hours == investigation.DEFAULT_TOLERANCE_HOURS
    ns = parser.parse_args(["actions", FINDING, "--plan", "archive", "--scope", "key"])
    assert ns.scope in actions.SUPPRESSION_SCOPES


def test_make_demo_target_runs_the_sample_report() -> None:
    makefile = (ROOT / "Makefile").read_text()
    demo = makefile.split("\ndemo:", 1)[1].split("\n\n", 1)[0]
    assert f"investigate {FINDING}" in demo and "--out out/demo" in demo


def test_verdict_again_adds_nothing_a_new_one_supersedes_and_verdicts_shows_the_current(
    tmp_path: Path,
) -> None:
    ledger = str(tmp_path / "ledger.jsonl")
    base = ("verdict", FINDING, "--ledger", ledger)
    code, out, _ = run(*base, "--status", "malicious", "--analyst", "ana", "--rationale", "Tor")
    assert code == 0 and out.startswith("recorded: malicious")
    code, out, err = run(*base, "--status", "malicious", "--analyst", "ana", "--rationale", "Tor")
    assert code == 0
    assert out.startswith("already recorded: malicious by ana at ")
    assert "(the same verdict: nothing added)" in out
    assert "no source given" not in err  # nothing was recorded, so nothing lacks evidence
    # another analyst's verdict is never replaced by one who has not seen it: refused, exit 1
    bob = ("--status", "legitimate", "--analyst", "bob", "--rationale", "drill")
    code, out, err = run(*base, *bob)
    assert code == EXIT_REFUSED and out == ""
    assert "verdict NOT recorded: it would supersede another analyst's verdict: malicious by " in (
        err
    )
    assert "it stays current" in err and "--supersede" in err and "Traceback" not in err
    assert len(read_ledger(ledger)[0]) == 1
    code, out, _ = run(*base, *bob, "--supersede")
    assert code == 0
    assert "\nsupersedes: malicious by ana at " in out and "(kept in the ledger)" in out
    assert len(read_ledger(ledger)[0]) == 2

    code, out, err = run("verdicts", "--ledger", ledger)
    rows = out.splitlines()
    assert len(rows) == 3 and "legitimate" in rows[2] and "bob" in rows[2]  # one per finding
    assert "1 earlier record(s) are history (--history lists every record)" in err
    code, out, _ = run("verdicts", "--ledger", ledger, "--history")
    rows = out.splitlines()
    assert rows[0].split()[:6] == ["recorded", "at", "finding", "access", "key", "status"]
    assert "state" in rows[0]
    assert "legitimate" in rows[2] and "current" in rows[2]
    assert "malicious" in rows[3] and "superseded" in rows[3]
    code, out, _ = run("verdicts", "--ledger", ledger, "--history", "--json")
    assert [(v["status"], v["state"]) for v in json.loads(out)] == [
        ("legitimate", "current"),
        ("malicious", "superseded"),
    ]
    code, out, _ = run("verdicts", "--ledger", ledger, "--json")
    assert [v["status"] for v in json.loads(out)] == ["legitimate"]


def test_notebook_prints_the_path_last_and_the_lab_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from torinvest import notebooks

    code, out, err = run("notebook", FINDING, "--case", _case(), "--out", str(tmp_path))
    assert code == 0, err
    lines = out.splitlines()
    path = tmp_path / f"finding-{FINDING}" / "investigate.ipynb"
    assert lines[-1] == str(path) and path.is_file()
    assert lines[0] == f"working notebook of finding {FINDING}: created"
    assert lines[1].startswith("open it: ") and lines[1].endswith(f" lab {path}")
    assert Path(lines[1].split()[2]).name == "jupyter"

    db = asn_database(tmp_path / "asn.mmdb")  # a database that opens (a bad one is refused)
    code, out, err = run(
        "notebook", FINDING, "--case", _case(), "--out", str(tmp_path / "g"), "--geoip", str(db)
    )
    assert code == 0, err
    geo = nbformat.read(Path(out.splitlines()[-1]), as_version=4)
    assert geo.metadata["papermill"]["parameters"]["geoip"] == [str(db.resolve())]

    opened: list[Path] = []
    monkeypatch.setattr(notebooks, "open_in_lab", lambda p: opened.append(p) or 0)
    code, out, err = run(
        "notebook", "--triage", "--case", _case(), "--out", str(tmp_path), "--open"
    )
    assert code == 0, err
    assert opened == [tmp_path / "triage.ipynb"]
    assert out.splitlines()[-1] == str(tmp_path / "triage.ipynb")
    nb = nbformat.read(tmp_path / "triage.ipynb", as_version=4)
    assert nb.metadata["papermill"]["parameters"] == {
        "case_dir": str(Path(_case()).resolve()),
        "notebooks_dir": str(tmp_path),
    }


def test_a_report_rerun_never_quietly_replaces_another_analysts_later_verdict(
    tmp_path: Path,
) -> None:
    """The parameter path: ana's re-run after bob's verdict records nothing (exit 1, the report
    and the CLI say so), so remediate's --execute gate still refuses; --supersede replaces it."""
    from torinvest import runner

    ledger = str(tmp_path / "ledger.jsonl")
    ana = ("--verdict", "malicious", "--analyst", "ana", "--rationale", "tor + CreateUser")
    report_run = ("investigate", FINDING, "--case", _case(), "--ledger", ledger, *ana)
    code, _, err = run(*report_run, "--out", str(tmp_path / "r1"))
    assert code == 0, err
    code, _, err = run(
        "verdict", FINDING, "--status", "legitimate", "--analyst", "bob",
        "--rationale", "owner confirmed: pentest", "--ledger", ledger, "--supersede",  # over ana's: bob read it
    )  # fmt: skip
    assert code == 0, err

    code, out, err = run(*report_run, "--out", str(tmp_path / "r2"))
    assert code == EXIT_REFUSED
    (line,) = errors(err)
    assert "verdict NOT RECORDED: malicious by ana" in line
    assert "another analyst's verdict: legitimate by bob" in line and "--supersede" in line
    assert "verdict legitimate (NOT RECORDED: malicious by ana" in out
    page = (tmp_path / "r2" / "report.html").read_text()
    assert "NOT RECORDED: malicious by ana" in page and "owner confirmed: pentest" in page
    summary = json.loads((tmp_path / "r2" / "summary.json").read_text())
    assert summary["verdict"]["status"] == "legitimate"
    assert summary["verdict"]["note"].startswith("NOT RECORDED")
    records = read_ledger(ledger)[0]
    assert [r["status"] for r in records] == ["malicious", "legitimate"]
    assert runner.verdict_gap(records, FINDING, "remediate", ledger) is not None  # refused

    code, out, err = run(*report_run, "--out", str(tmp_path / "r3"), "--supersede")
    assert code == 0, err
    assert "verdict malicious (supersedes legitimate by bob at " in out
    assert "supersedes legitimate by bob" in (tmp_path / "r3" / "report.html").read_text()
    records = read_ledger(ledger)[0]
    assert [r["analyst"] for r in records] == ["ana", "bob", "ana"]
    assert runner.verdict_gap(records, FINDING, "remediate", ledger) is None


def test_a_torn_ledger_line_is_a_data_issue_of_the_report_and_of_its_verdict(
    tmp_path: Path,
) -> None:
    ledger = tmp_path / "ledger.jsonl"
    code, _, err = run(
        "verdict", FINDING, "--status", "malicious", "--analyst", "ana", "--rationale", "tor",
        "--ledger", str(ledger),
    )  # fmt: skip
    assert code == 0, err
    with open(ledger, "ab") as fh:  # bob's later verdict, torn by a crash
        fh.write(b'{"kind":"verdict","finding_id":"' + FINDING.encode() + b'","status":"legit')
    out_dir = tmp_path / "rep"
    code, out, err = run(
        "investigate",
        FINDING,
        "--case",
        _case(),
        "--out",
        str(out_dir),
        "--ledger",
        str(ledger),
        *COVERED_FLAGS,
    )
    assert code == 0, err
    assert "1 DATA ISSUE(S)" in out  # the window and the regions the case covers: the ledger's
    page = (out_dir / "report.html").read_text()
    assert "no data issue" not in page.lower()
    assert f"{ledger}:2" in page and "Incomplete: 1 data issue(s)" in page
    assert "The verdict ledger has 1 unreadable line(s)" in page  # the data-issues card
    assert page.count("the verdict shown may not be the latest") >= 2  # answer and verdict card


def test_member_finding_read_from_another_account_is_could_not_look(
    fake_aws: FakeAws, moto: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A member account's finding read with another account's credentials (a GuardDuty
    administrator): LookupEvents answers in the credentials' account (moto's 123456789012),
    which cannot hold the member's calls — "could not look in account X", naming both and what
    to do, never "No events … not an access problem"; the triage is not scored as quiet."""
    from torinvest.post.answer import reading

    monkeypatch.setenv("TORINVEST_CACHE", str(tmp_path / "cache"))
    fake_aws.set_lookup_rate(None)
    raw = recent_finding(fake_aws, account="999988887777")  # a member account
    out = tmp_path / "o"
    code, _, err = run(
        "investigate", raw["id"], "--regions", "us-east-1", "--out", str(out),
        "--ledger", str(tmp_path / "l.jsonl"),
    )  # fmt: skip
    assert code == EXIT_COULD_NOT_LOOK, err
    assert "error: could not look in account 999988887777" in err
    assert "123456789012" in err and "--role-arn arn:aws:iam::999988887777:role/" in err
    assert fake_aws.calls("LookupEvents", region="us-east-1")  # it was asked, in 123456789012
    data = report.check_summary(out / "summary.json")
    assert data["events"]["total"] == 0
    first = data["data_issues"][0]
    assert first["source"] == investigation.NOTHING_READ_SOURCE
    assert "999988887777" in first["problem"] and "123456789012" in first["problem"]
    assert reading(data).startswith("COULD NOT LOOK: could not look in account 999988887777")
    assert any(s["name"] == "could_not_look" for s in data["signals"])
    page = (out / "report.html").read_text()
    assert "not an access problem" not in page and "No events:" not in page
    assert "not scored" in page and "0 / 100" not in page


@pytest.mark.parametrize(
    ("held", "left_out"),
    [(False, False), (True, False), (True, True)],
    ids=["other-accounts", "its-account", "its-account-one-region-left-out"],
)
def test_an_athena_table_of_other_accounts_is_could_not_look(
    fake_aws: FakeAws, moto: str, tmp_path: Path, held: bool, left_out: bool
) -> None:
    """`investigate --engine athena` of the sample finding (account 123837392027) over a table
    that reads other accounts' logs: its queries scan data and match no event, and it holds no
    record of 123837392027 in the window — "could not look in account 123837392027", naming
    the table and what to do, exit 1, not scored; never "No events" (was: a quiet key). The
    same table holding a record of that account is read (exit 0, no Athena issue) — in each of
    the account's enabled regions; one it holds none of (ap-south-1: its
    projection.region.values leaves it out) is an issue naming it (was: "No events",
    complete). Either reading is INCOMPLETE all the same: it holds none of the calls GuardDuty
    saw the key make (the finding's sightings), so it is never "no events" either."""
    from torinvest.post.answer import reading

    case = tmp_path / "case"
    shutil.copytree(sample_case().root / "findings", case / "findings")
    fake_aws.enabled_regions = ["ap-south-1", "us-east-1"]
    athena = fake_aws.athena("us-east-1")
    # the table's log files (on moto): none archived in S3 Glacier in its day folders
    athena.add_table("security", "cloudtrail_logs", {"location": "s3://trail/AWSLogs/"})
    boto3.client("s3", endpoint_url=moto, region_name="us-east-1").create_bucket(Bucket="trail")
    days = pd.date_range("2023-06-20", "2023-07-25", freq="D").strftime("%Y/%m/%d")
    regions = [
        [r, "", "1" if held else "0"] for r in ["us-east-1"] + ["ap-south-1"] * (not left_out)
    ]
    athena.add_results(
        [("region", "varchar"), ("day", "varchar"), ("records", "bigint")],
        [[None, day, "1" if held else "0"] for day in days] + regions,
        scanned=1 << 20,
        match=r"AS probe",
    )
    span = [(n, "varchar") for n in ("first", "last", "events", "untimed")]
    athena.add_results(span, [[None, None, "0", "0"]], scanned=5 << 20, match=r"AS untimed")
    athena.add_results([], scanned=5 << 20, match=r"")
    out = tmp_path / "o"
    code, _, err = run(
        "investigate", FINDING, "--case", str(case), "--engine", "athena",
        "--athena-database", "security", "--out", str(out),
        "--ledger", str(tmp_path / "l.jsonl"),
    )  # fmt: skip
    data = report.check_summary(out / "summary.json")
    assert data["events"]["total"] == 0
    page = (out / "report.html").read_text()
    if held:
        assert code == 0, err
        assert "could not look" not in err.lower() and "No events:" not in page
        assert reading(data).startswith("INCOMPLETE"), reading(data)
        *athena_issues, sightings = data["data_issues"]
        assert sightings["source"] == f"finding {FINDING}"
        assert sightings["problem"].startswith("GuardDuty saw key AKIATFQR7NSCUXC3DDDP called")
        if not left_out:
            assert athena_issues == []
            return
        (issue,) = athena_issues
        assert issue["source"] == "athena:security.cloudtrail_logs:ap-south-1"
        assert issue["problem"].startswith(
            "no record of account 123837392027 in region(s) ap-south-1 for days "
        )
        assert "were not read" in issue["problem"]
        return
    assert code == EXIT_COULD_NOT_LOOK, err
    assert "error: could not look in account 123837392027" in err
    assert "Athena table security.cloudtrail_logs holds no record of account 123837392027" in err
    assert "athena-ddl --accounts" in err
    first = data["data_issues"][0]
    assert first["source"] == investigation.NOTHING_READ_SOURCE
    assert reading(data).startswith("COULD NOT LOOK: could not look in account 123837392027")
    assert "No events:" not in page and "not scored" in page


def test_a_finding_older_than_lookupevents_keeps_is_could_not_look(
    fake_aws: FakeAws, moto: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A finding whose window ended more than 90 days ago, with LookupEvents the only source:
    a complete report that could not look (naming why and what to do), not a crashed cell and
    never "No events"; `events --lookup` over such a window stays a usage error."""
    from torinvest.post.answer import reading

    monkeypatch.setenv("TORINVEST_CACHE", str(tmp_path / "cache"))
    fake_aws.set_lookup_rate(None)
    old = (pd.Timestamp.now(tz="UTC") - pd.Timedelta(days=200)).strftime("%Y-%m-%dT%H:%M:%SZ")
    raw = json.loads((SHAPES / "single_raw.json").read_text())
    raw["service"].update(eventFirstSeen=old, eventLastSeen=old)
    raw.update(createdAt=old, updatedAt=old)
    gd = fake_aws.guardduty("us-east-1")
    gd.add_findings([raw], detector_id=gd.add_detector(raw["service"]["detectorId"]))
    out = tmp_path / "o"
    code, said, err = run(
        "investigate", raw["id"], "--regions", "us-east-1", "--out", str(out),
        "--ledger", str(tmp_path / "l.jsonl"), "--lookback-days", "1", "--lookahead-days", "1",
    )  # fmt: skip
    assert "Traceback" not in err and "raised" not in err, err
    assert not fake_aws.calls("LookupEvents")  # nothing it keeps could be asked
    data = report.check_summary(out / "summary.json")
    assert data["events"]["total"] == 0
    # its only source not asked: the reading's issue states it whole, said once
    (issue,) = [i for i in data["data_issues"] if "LookupEvents: not asked" in i["problem"]]
    assert issue["source"] == "activity", data["data_issues"]
    assert "more than 90 days ago" in issue["problem"] and "--logs" in issue["problem"]
    assert reading(data).startswith("COULD NOT LOOK")
    page = (out / "report.html").read_text()
    assert "No events:" not in page and "not an access problem" not in page
    assert "Could not look" in page
    assert code == EXIT_COULD_NOT_LOOK and "0 events" in said and (out / "report.html").is_file()
    assert err.count("LookupEvents: not asked: the window ends ") == 1, err


def test_a_region_that_could_not_be_read_never_scores_low(
    fake_aws: FakeAws, moto: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """LookupEvents denied in eu-west-1, where the key created a user and a key from Tor; one
    quiet call read in us-east-1. The score over what was read is 0, but it is a floor: every
    place that shows it (summary.json's signals, the answer, the report's tile and card) says
    "at least 0" and "incomplete", never "low"."""
    from torinvest.post.answer import build_answer

    monkeypatch.setenv("TORINVEST_CACHE", str(tmp_path / "cache"))
    fake_aws.set_lookup_rate(None)
    raw = recent_finding(fake_aws)
    fake_aws.guardduty("eu-west-1").add_detector()
    now = pd.Timestamp.now(tz="UTC").floor("s")
    identity = {"type": "IAMUser", "accessKeyId": KEY, "userName": "benjamin"}

    def call(i: int, name: str, ip: str, region: str) -> dict[str, Any]:
        return {
            "eventVersion": "1.08", "eventID": f"{region}-{i}", "eventName": name,
            "eventTime": (now - pd.Timedelta(minutes=50 - i)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "eventSource": "iam.amazonaws.com", "awsRegion": region, "sourceIPAddress": ip,
            "userAgent": "aws-cli/2.13.0", "userIdentity": identity,
            "recipientAccountId": raw["accountId"],
        }  # fmt: skip

    fake_aws.cloudtrail("us-east-1").add_records([call(0, "GetCallerIdentity", "203.0.113.9", "us-east-1")])  # fmt: skip
    names = ["ListUsers", "CreateUser", "CreateAccessKey", "AttachUserPolicy"]
    fake_aws.cloudtrail("eu-west-1").add_records(
        [call(i, n, "185.220.101.34", "eu-west-1") for i, n in enumerate(names, 1)]
    )
    fake_aws.fail("cloudtrail", "eu-west-1", "AccessDeniedException")
    out = tmp_path / "o"
    code, _, err = run(
        "investigate", raw["id"], "--regions", "us-east-1,eu-west-1", "--out", str(out),
        "--ledger", str(tmp_path / "l.jsonl"),
    )  # fmt: skip
    assert code == 0, err
    data = report.check_summary(out / "summary.json")
    assert data["events"]["total"] == 1
    # the activity's own gap (a scheduled run retries it), apart from structural issues
    assert [i["source"] for i in data["activity_issues"]] == ["lookup:eu-west-1"]
    assert any(i["source"] == "ip pivot" for i in data["data_issues"])
    (gap,) = [s for s in data["signals"] if s["name"] == "incomplete_evidence"]
    assert "lookup:eu-west-1" in gap["detail"] and "floor" in gap["detail"]
    (score,) = [line for line in build_answer(data).text.splitlines() if line.startswith("Score")]
    assert score.startswith("Score: at least 0/100 (incomplete) on incomplete evidence"), score
    assert "(low)" not in score
    page = (out / "report.html").read_text()
    assert "at least 0 / 100 · incomplete" in page  # the answer's tile
    assert "band: <b>incomplete</b>" in page  # the score card
    assert "not a low score" in page
    assert "· low" not in page and "band: <b>low</b>" not in page


def test_an_error_quoting_hostile_text_is_shown_escaped_on_the_page(
    fake_aws: FakeAws, tmp_path: Path
) -> None:
    """`investigate --engine athena` whose query fails with a reason quoting a table's data
    (markup, ESC sequences, an OSC 8 link, a bidi override): the page's one-line error under
    the failing cell shows them escaped, as its banner and card do — nbconvert dropped the ESC
    bytes only, leaving U+202E (which reorders the line) and the OSC link's text raw."""
    evil = "HIVE_BAD_DATA: <img src=x onerror=alert(1)> \x1b[2J\x1b]8;;http://e\x07link\u202eRTL"
    case = tmp_path / "case"
    shutil.copytree(sample_case().root / "findings", case / "findings")
    fake_aws.athena("us-east-1").add_failure(evil, match=r"")
    out = tmp_path / "o"
    code, _, err = run(
        "investigate", FINDING, "--case", str(case), "--engine", "athena",
        "--athena-database", "security", "--out", str(out),
        "--ledger", str(tmp_path / "l.jsonl"),
    )  # fmt: skip
    assert code == EXIT_FAILED, err  # the notebook stopped at Athena's error: a failed run
    page = (out / "report.html").read_text(encoding="utf-8")
    body = page[page.index("<body") :]
    for raw in ("\x1b", "\x07", "\u202e", "<img src=x"):
        assert raw not in body, repr(raw)
    (line,) = [p for p in body.split("<pre>")[1:] if "AwsError:" in p][:1]
    assert "\\u202eRTL" in line and "\\x1b]8;;http://e\\x07link" in line
    assert "(the full traceback is in report.ipynb)" in line


def test_all_open_asks_guardduty_for_the_findings_once(
    fake_aws: FakeAws, moto: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--all-open listed the open Tor findings, then each report's kernel fetched them all again
    (ListFindings in every region, GetFindings): the fake's request log showed two fetches for
    one finding. The listing's answer — every Tor finding, archived too, as a single
    `investigate` fetches them — is the one each report reads (kept as its findings.json)."""
    monkeypatch.setenv("TORINVEST_CACHE", str(tmp_path / "cache"))
    fake_aws.set_lookup_rate(None)
    raw = recent_finding(fake_aws)
    archived = {**json.loads(json.dumps(raw)), "id": "b" * 32}
    archived["service"]["archived"] = True
    fake_aws.guardduty("us-east-1").add_findings([archived])
    fake_aws.guardduty("eu-west-1").add_detector()
    out = tmp_path / "reports"
    code, stdout, err = run(
        "investigate", "--all-open", "--regions", "us-east-1,eu-west-1", "--out", str(out),
        "--ledger", str(tmp_path / "l.jsonl"),
    )  # fmt: skip
    assert code == 0, err
    assert [line.split()[:2] for line in stdout.splitlines()[:-1]] == [["ok", raw["id"]]]

    def tor_listing(criterion: dict[str, Any]) -> bool:  # not a related-findings search
        return set(criterion) <= {"type", "service.archived"}

    listed = [
        r.region
        for r in fake_aws.calls("ListFindings", service="guardduty")
        if tor_listing(r.params["FindingCriteria"]["Criterion"])
    ]
    assert sorted(listed) == ["eu-west-1", "us-east-1"]  # once per region, not twice
    asked, gets = "", 0  # GetFindings after a Tor listing (not a related-findings search)
    for r in fake_aws.calls(service="guardduty", region="us-east-1"):
        if r.operation == "ListFindings":
            asked = "tor" if tor_listing(r.params["FindingCriteria"]["Criterion"]) else ""
        gets += r.operation == "GetFindings" and asked == "tor"
    assert gets == 1
    kept = json.loads((out / f"finding-{raw['id']}" / "findings.json").read_text())
    assert {f["finding"]["Id"] for f in kept["findings"]} == {raw["id"], "b" * 32}
    assert not (out / f"finding-{'b' * 32}").exists()  # archived: listed, not investigated
