"""The exit-status contract (README "Exit codes"): every command driven into each outcome it
can have, through ``main(argv, out=, err=)`` and the local endpoints (tests/fake_aws, the fake
Jira/ServiceNow), asserting the exit status and the marker that tells the outcomes apart:

- 0 and no ``torinvest: note: partial result:`` line: a complete answer (or nothing to do);
- 0 and at least one such line: a partial answer (what is missing is said on it);
- one status per class of failure, the same in every command (torinvest.errors' ``EXIT_*``):
  3 could not look, 4 not found, 5 refused, 6 a run that failed, 7 busy, 1 anything else (an
  internal error) — each with one ``torinvest: error:`` line saying which and never a
  partial-result line;
- 2 a usage error; 130 interrupted; 143 terminated (SIGTERM).
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fake_aws import FakeAws
from tests.fake_aws.server import DROP
from tests.fake_tickets import FakeJira, FakeServiceNow
from tests.offline_regions import SAMPLE_REGIONS
from tests.post.conftest import SYS_ID, make_report, variables
from tests.sample_window import COVERED_FLAGS
from torinvest import cli
from torinvest.case import sample_case
from torinvest.children import Terminated
from torinvest.cli import main
from torinvest.cli.output import PARTIAL_MARK
from torinvest.errors import (
    EXIT_BUSY,
    EXIT_COULD_NOT_LOOK,
    EXIT_ERROR,
    EXIT_FAILED,
    EXIT_NOT_FOUND,
    EXIT_REFUSED,
    EXIT_USAGE,
    AccessDeniedError,
    CouldNotCheckError,
    CouldNotLookError,
    DataIssue,
    EndpointError,
    FindingNotFoundError,
    FindingsNotReadError,
    InputError,
    OptionsError,
    RefusedError,
    RegionsNotSearchedError,
    ReportError,
    RunFailedError,
    TorinvestError,
)
from torinvest.post.base import (
    NothingPostedError,
    PostConfigError,
    PostDeclinedError,
    PostError,
    PostRefusedError,
    PostUnreachableError,
)
from torinvest.post.http import MaybePostedError
from torinvest.post.state import StateBusyError
from torinvest.report.folders import FolderBusyError
from torinvest.report.kernel import CellFailure
from torinvest.report.run import NotebookError, ReportRun
from torinvest.verdict import make_verdict, record_verdict

FINDING = "6dde0a8f8d46f6acad893b30f905e97c"
OTHER = "7f176d541deef88b1ad653b9ed646f29"
KEY = "AKIATFQR7NSCUXC3DDDP"
UNKNOWN = "0123456789abcdef0123456789abcdef"
GD = Path(__file__).parent / "fixtures" / "guardduty"
CASE = str(sample_case().root)
#: the regions the sample trail has a folder for
SAMPLE_TRAIL_REGIONS = ",".join(SAMPLE_REGIONS)
ERROR = "torinvest: error: "


@dataclass
class Ctx:
    """What a scenario builds its arguments from: a scratch folder, the AWS fake, the ticket
    fakes it starts (stopped at the end)."""

    tmp: Path
    aws: FakeAws
    stack: ExitStack
    request: pytest.FixtureRequest
    jira: FakeJira | None = None  # post_args' Jira

    @property
    def ledger(self) -> str:
        return str(self.tmp / "ledger.jsonl")

    def region_denied(self, region: str = "eu-west-1") -> None:
        self.aws.guardduty("us-east-1").add_detector()
        self.aws.fail("guardduty", region, "AccessDeniedException")

    def investigate(self, *args: str, case: str = CASE, out: str = "r") -> list[str]:
        """``investigate ARGS --case CASE --out TMP/OUT --ledger LEDGER`` (``case=""``: none)."""
        where = ["--case", case] if case else []
        return ["investigate", *args, *where, "--out", str(self.tmp / out), "--ledger", self.ledger]

    def verdict_args(
        self, *args: str, status: str = "malicious", analyst: str = "ana", case: str = CASE
    ) -> list[str]:
        """``verdict ARGS --status S --analyst A --rationale r --case CASE --ledger LEDGER``."""
        where = ["--case", case] if case else []
        said = ["--status", status, "--analyst", analyst, "--rationale", "r"]
        return ["verdict", *args, *said, *where, "--ledger", self.ledger]

    def verdict(self, analyst: str = "ana", status: str = "malicious") -> None:
        args = self.verdict_args(FINDING, status=status, analyst=analyst, case="")
        assert main(args, out=io.StringIO(), err=io.StringIO()) == 0

    def torn_ledger(self) -> None:
        self.verdict()
        with open(self.ledger, "ab") as fh:  # a later verdict torn by a crash
            fh.write(b'{"kind":"verdict","finding_id":"' + FINDING.encode() + b'","status":"le')

    def other_account_case(self) -> str:
        """The sample case with its findings (and their key) in account 999988887777: its log
        files are 123837392027's, so no activity source of the key can be read (could not
        look)."""
        case = self.tmp / "other-account"
        shutil.copytree(CASE, case)
        for path in (case / "findings").iterdir():  # another account's finding, key and all
            text = path.read_text().replace("123837392027", "999988887777")
            path.write_text(text.replace(KEY, "AKIAZZZZZZZZZZZZZZZZ"))
        return str(case)

    def archived_case(self) -> str:
        case = self.tmp / "archived"
        shutil.copytree(CASE, case)
        for path in (case / "findings").iterdir():  # camelCase and GetFindings' PascalCase
            text = path.read_text().replace('"archived": false', '"archived": true')
            path.write_text(text.replace('"Archived": false', '"Archived": true'))
        return str(case)

    def one_open_case(self) -> str:
        case = self.tmp / "one-open"
        shutil.copytree(CASE, case)
        path = case / "findings" / "eventbridge-recon.json"
        doc = json.loads(path.read_text())
        doc["detail"]["service"]["archived"] = True
        path.write_text(json.dumps(doc))
        return str(case)

    def case_with(self, *files: Path) -> str:
        case = self.tmp / "files"
        (case / "findings").mkdir(parents=True)
        for f in files:
            shutil.copy(f, case / "findings")
        return str(case)

    def post_args(self, *, jira_ok: bool = True, servicenow: bool = False) -> list[str]:
        report = self.tmp / "report"
        if not report.exists():
            make_report(report)
        jira = self.stack.enter_context(FakeJira(cloud=True))
        jira.add_issue("SEC-1")
        self.jira = jira
        sn = self.stack.enter_context(FakeServiceNow()) if servicenow else None
        if sn is not None:
            sn.add_record("incident", SYS_ID)
        env = variables(jira, sn)
        if not jira_ok:
            env["JIRA_API_TOKEN"] = "wrong"
        path = self.tmp / "post.env"
        path.write_text("".join(f"{k}={v}\n" for k, v in env.items()))
        path.chmod(0o600)
        dest = ["--to", "jira:SEC-1"] + (["--to", f"servicenow:incident:{SYS_ID}"] if sn else [])
        return [str(report), *dest, "--env-file", str(path), "--ledger", self.ledger]

    def proxy_answers_for_jira(self) -> None:
        """Every request to post_args' Jira answered by a proxy's sign-in page (HTTP 200)."""
        assert self.jira is not None
        self.jira.fail("*", 200, body="<html>sign in</html>", content_type="text/html")

    def archive_execute(self, *, sts: bool) -> list[str]:
        """The finding in the fake GuardDuty (us-east-1), a legitimate verdict on it, and
        ``actions FINDING --plan archive --execute``. ``sts``: moto answers STS as the finding's
        account; else STS's endpoint closes the connection without an answer."""
        raw = json.loads((GD / "shapes" / "single_raw.json").read_text())
        gd = self.aws.guardduty("us-east-1")
        gd.add_findings([raw], detector_id=gd.add_detector(raw["service"]["detectorId"]))
        said = {"analyst": "ana", "rationale": "read it", "evidence": {"reading": "complete"}}
        record_verdict(make_verdict(FINDING, status="legitimate", **said), self.ledger)
        if sts:
            self.request.getfixturevalue("moto")  # AWS_ENDPOINT_URL: moto (STS)
            monkeypatch = self.request.getfixturevalue("monkeypatch")
            monkeypatch.setenv("MOTO_ACCOUNT_ID", raw["accountId"])
        else:
            self.request.getfixturevalue("monkeypatch").setenv("AWS_ENDPOINT_URL_STS", self.aws.url)
            self.aws.fail("sts", "*", DROP)
        return [
            "actions", FINDING, "--plan", "archive", "--regions", "us-east-1", "--execute",
            "--ledger", self.ledger,
        ]  # fmt: skip

    def tor_case(self) -> str:
        case = self.tmp / "tor-case"
        (case / "tor").mkdir(parents=True)
        rows = [f"ExitAddress 45.0.{i // 200}.{i % 200} 2025-01-10 12:00:00" for i in range(400)]
        (case / "tor" / "exit-addresses-2025-01-10.txt").write_text(
            "<html>not a list line</html>\n" + "\n".join(rows) + "\n"
        )
        return str(case)


@dataclass(frozen=True)
class Outcome:
    code: int
    #: "complete", "partial", or, for a failure's status, a phrase the error line says
    marker: str = "complete"
    #: also said (stdout or stderr), when given
    said: str | None = None


Build = Callable[[Ctx], list[str]]
SLOW = pytest.mark.slow  # runs the report notebook in a kernel

SCENARIOS: list[tuple[str, Build, Outcome] | pytest.param] = [
    # findings
    ("findings-complete", lambda c: ["findings", "--case", CASE], Outcome(0)),
    (
        "findings-partial-files",
        lambda c: [
            "findings",
            "--case",
            c.case_with(GD / "bad" / "invalid.json", GD / "shapes" / "single_raw.json"),
        ],
        Outcome(0, "partial", KEY),
    ),
    (
        "findings-partial-no-key",  # a Tor finding whose key cannot be located: not listed
        lambda c: ["findings", "--case", c.case_with(GD / "bad" / "no_access_key_details.json")],
        Outcome(0, "partial", "no Tor findings where torinvest could look"),
    ),
    (
        "findings-partial-region",
        lambda c: (c.region_denied(), ["findings", "--regions", "us-east-1,eu-west-1"])[1],
        Outcome(0, "partial", "1 region(s) could not be searched"),
    ),
    (
        "findings-nothing",
        lambda c: (
            c.aws.guardduty("us-east-1").add_detector(),
            ["findings", "--regions", "us-east-1"],
        )[1],
        Outcome(0, "complete", "no Tor findings"),
    ),
    (
        "findings-could-not-look",
        lambda c: (c.region_denied(), ["findings", "--regions", "eu-west-1"])[1],
        Outcome(EXIT_COULD_NOT_LOOK, "no region could be searched"),
    ),
    (
        "findings-usage",
        lambda c: ["findings", "--case", CASE, "--start", "2023-07-11", "--end", "2023-07-10"],
        Outcome(2),
    ),
    # demo
    ("demo-complete", lambda c: ["demo"], Outcome(0, "complete", FINDING)),
    # events
    (
        "events-complete",  # the sample trail's three regions named: nothing else is missing
        lambda c: [
            "events",
            "--case",
            CASE,
            "--access-key",
            KEY,
            "--regions",
            SAMPLE_TRAIL_REGIONS,
            "--out",
            str(c.tmp / "e.csv"),
        ],
        Outcome(0, "complete", "64 events"),
    ),
    (
        "events-no-window-missing-regions",  # read whole: its regions are still judged
        lambda c: ["events", "--case", CASE, "--access-key", KEY, "--out", str(c.tmp / "e.csv")],
        Outcome(0, "partial", "no folder for region(s) ap-northeast-1, "),
    ),
    (
        "events-partial",  # two of the window's three days have no log file
        lambda c: [
            "events",
            "--case",
            CASE,
            "--access-key",
            KEY,
            "--start",
            "2023-07-09",
            "--end",
            "2023-07-11",
            "--out",
            str(c.tmp / "e.csv"),
        ],
        Outcome(0, "partial", "no log file for 2023-07-09"),
    ),
    (
        "events-no-events",
        lambda c: [
            "events",
            "--case",
            CASE,
            "--access-key",
            "AKIAAAAAAAAAAAAAAAAA",
            "--regions",
            SAMPLE_TRAIL_REGIONS,
            "--out",
            str(c.tmp / "e.csv"),
        ],
        Outcome(0, "complete", "not an access problem"),
    ),
    (
        # a mistyped key, no window, over a trail missing regions: not "hold no event" alone
        "events-no-events-missing-regions",
        lambda c: [
            "events",
            "--case",
            CASE,
            "--access-key",
            "AKIAAAAAAAAAAAAAAAAA",
            "--out",
            str(c.tmp / "e.csv"),
        ],
        Outcome(0, "partial", "no event of AKIAAAAAAAAAAAAAAAAA in what could be read"),
    ),
    (
        "events-could-not-look",
        lambda c: (
            (c.tmp / "empty").mkdir(),
            ["events", "--logs", str(c.tmp / "empty"), "--out", str(c.tmp / "e.csv")],
        )[1],
        Outcome(EXIT_COULD_NOT_LOOK, "No CloudTrail log files"),
    ),
    (
        "events-usage",
        lambda c: ["events", "--case", CASE, "--no-cache", "--out", str(c.tmp / "e.csv")],
        Outcome(2),
    ),
    # investigate
    pytest.param(
        "investigate-complete",
        lambda c: c.investigate(FINDING, *COVERED_FLAGS),
        Outcome(0, "complete", "report:"),
        marks=SLOW,
    ),
    pytest.param(
        # the sample case's logs hold one day of the default window, and (every region, a
        # case folder) no folder for the partition's other regions
        "investigate-partial",
        lambda c: c.investigate(FINDING),
        Outcome(0, "partial", "INCOMPLETE: 2 DATA ISSUE(S)"),
        marks=SLOW,
    ),
    pytest.param(
        "investigate-could-not-look",
        lambda c: c.investigate(FINDING, case=c.other_account_case()),
        Outcome(EXIT_COULD_NOT_LOOK, "could not look in account 999988887777"),
        marks=SLOW,
    ),
    pytest.param(
        "investigate-refused",  # another analyst's verdict is current
        lambda c: (
            c.verdict("ana"),
            c.investigate(
                FINDING,
                "--verdict",
                "legitimate",
                "--analyst",
                "bob",
                "--rationale",
                "ok",
                *COVERED_FLAGS,
            ),
        )[1],
        Outcome(EXIT_REFUSED, "verdict NOT RECORDED"),
        marks=SLOW,
    ),
    (
        "investigate-not-found",
        lambda c: ["investigate", UNKNOWN, "--case", CASE, "--out", str(c.tmp / "r")],
        Outcome(EXIT_NOT_FOUND, f"finding {UNKNOWN} not found among 2 findings"),
    ),
    (
        "investigate-not-found-everywhere-asked",  # a region could not be searched: may be there
        lambda c: (
            c.region_denied(),
            ["investigate", UNKNOWN, "--regions", "us-east-1,eu-west-1", "--out", str(c.tmp / "r")],
        )[1],
        Outcome(EXIT_COULD_NOT_LOOK, "so it may be there"),
    ),
    ("investigate-usage", lambda c: ["investigate", "--out", str(c.tmp / "r")], Outcome(2)),
    # investigate --all-open
    (
        "all-open-nothing",
        lambda c: c.investigate("--all-open", out="b", case=c.archived_case()),
        Outcome(0, "complete", "no open Tor finding"),
    ),
    (
        "all-open-partial-nothing",
        lambda c: (
            c.region_denied(),
            c.investigate("--all-open", "--regions", "us-east-1,eu-west-1", out="b", case=""),
        )[1],
        Outcome(0, "partial", "no open Tor finding where torinvest could look"),
    ),
    (
        "all-open-could-not-look",
        lambda c: (
            c.region_denied(),
            c.investigate("--all-open", "--regions", "eu-west-1", out="b", case=""),
        )[1],
        Outcome(EXIT_COULD_NOT_LOOK, "no region could be searched"),
    ),
    pytest.param(
        "all-open-partial-reports",  # its one report read one day of the window
        lambda c: c.investigate("--all-open", out="b", case=c.one_open_case()),
        Outcome(0, "partial", "1 of 1 report(s) read their key's activity in part"),
        marks=SLOW,
    ),
    # notebook
    (
        "notebook-complete",
        lambda c: ["notebook", FINDING, "--case", CASE, "--out", str(c.tmp / "nb")],
        Outcome(0, "complete", "investigate.ipynb"),
    ),
    (
        "notebook-not-found",
        lambda c: ["notebook", UNKNOWN, "--case", CASE, "--out", str(c.tmp / "nb")],
        Outcome(EXIT_NOT_FOUND, "not found among 2 findings"),
    ),
    (
        "notebook-could-not-look",
        lambda c: (c.region_denied(), ["notebook", FINDING, "--regions", "eu-west-1"])[1],
        Outcome(EXIT_COULD_NOT_LOOK, "no region could be searched"),
    ),
    (
        "notebook-usage",
        lambda c: ["notebook", FINDING, "--triage", "--case", CASE, "--out", str(c.tmp / "nb")],
        Outcome(2),
    ),
    # verdict
    (
        "verdict-complete",
        lambda c: c.verdict_args(FINDING, *COVERED_FLAGS),
        Outcome(0, "complete", "recorded: malicious"),
    ),
    (
        "verdict-partial-evidence",
        lambda c: c.verdict_args(FINDING),
        Outcome(0, "partial", "INCOMPLETE: this verdict's evidence"),
    ),
    (
        "verdict-could-not-look-evidence",  # recorded (exit 0), its evidence read nothing
        lambda c: c.verdict_args(FINDING, case=c.other_account_case()),
        Outcome(0, "partial", "COULD NOT LOOK: this verdict's evidence read none"),
    ),
    (
        "verdict-not-found",
        lambda c: c.verdict_args(UNKNOWN),
        Outcome(EXIT_NOT_FOUND, "not found among 2 findings"),
    ),
    (
        "verdict-refused",  # another analyst's verdict is current
        lambda c: (
            c.verdict("ana"),
            c.verdict_args(FINDING, status="legitimate", analyst="bob", case=""),
        )[1],
        Outcome(EXIT_REFUSED, "verdict NOT recorded: it would supersede another analyst's verdict"),
    ),
    (
        "verdict-could-not-look",
        lambda c: (c.region_denied(), c.verdict_args(FINDING, "--regions", "eu-west-1", case=""))[
            1
        ],
        Outcome(EXIT_COULD_NOT_LOOK, "no region could be searched"),
    ),
    (
        "verdict-nothing",
        lambda c: ["verdict", FINDING, "--status", "pending", "--ledger", c.ledger],
        Outcome(0, "complete", "nothing recorded"),
    ),
    (
        "verdict-usage",
        lambda c: ["verdict", FINDING, "--status", "malicious", "--ledger", c.ledger],
        Outcome(2),
    ),
    # verdicts
    (
        "verdicts-complete",
        lambda c: (c.verdict(), ["verdicts", "--ledger", c.ledger])[1],
        Outcome(0, "complete", FINDING),
    ),
    (
        "verdicts-partial",
        lambda c: (c.torn_ledger(), ["verdicts", "--ledger", c.ledger])[1],
        Outcome(0, "partial", "incomplete record"),
    ),
    (
        "verdicts-nothing",
        lambda c: ["verdicts", "--ledger", c.ledger],
        Outcome(0, "complete", "no verdicts"),
    ),
    ("verdicts-usage", lambda c: ["verdicts", "--finding", FINDING.upper()], Outcome(2)),
    # actions
    (
        "actions-dry-run-complete",
        lambda c: [
            "actions",
            FINDING,
            "--case",
            CASE,
            "--plan",
            "remediate",
            *COVERED_FLAGS,
            "--ledger",
            c.ledger,
        ],
        Outcome(0, "complete", "DRY RUN"),
    ),
    (
        "actions-archive-dry-run-complete",
        lambda c: ["actions", FINDING, "--case", CASE, "--plan", "archive", "--ledger", c.ledger],
        Outcome(0, "complete", "archive-findings"),
    ),
    (
        "actions-dry-run-partial-evidence",
        lambda c: ["actions", FINDING, "--case", CASE, "--plan", "remediate", "--ledger", c.ledger],
        Outcome(0, "partial", "built from incomplete evidence"),
    ),
    (
        "actions-dry-run-partial-ledger",
        lambda c: (
            c.torn_ledger(),
            ["actions", FINDING, "--case", CASE, "--plan", "archive", "--ledger", c.ledger],
        )[1],
        Outcome(0, "partial", "ledger issue(s)"),
    ),
    (
        "actions-dry-run-could-not-look",
        lambda c: [
            "actions",
            FINDING,
            "--case",
            c.other_account_case(),
            "--plan",
            "remediate",
            "--ledger",
            c.ledger,
        ],
        Outcome(0, "partial", "COULD NOT LOOK at the key's activity"),
    ),
    (
        "actions-not-found",
        lambda c: ["actions", UNKNOWN, "--case", CASE, "--plan", "archive", "--ledger", c.ledger],
        Outcome(EXIT_NOT_FOUND, "not found among 2 findings"),
    ),
    (
        "actions-execute-refused",  # no verdict to follow
        lambda c: [
            "actions",
            FINDING,
            "--case",
            CASE,
            "--plan",
            "archive",
            "--execute",
            "--ledger",
            c.ledger,
        ],
        Outcome(EXIT_REFUSED, "refused: --plan archive --execute follows a legitimate verdict"),
    ),
    (
        "actions-could-not-look",
        lambda c: (
            c.region_denied(),
            ["actions", FINDING, "--plan", "archive", "--regions", "eu-west-1"],
        )[1],
        Outcome(EXIT_COULD_NOT_LOOK, "no region could be searched"),
    ),
    (
        "actions-execute-could-not-check",  # STS does not answer: nothing changed, retry later
        lambda c: c.archive_execute(sts=False),
        Outcome(EXIT_COULD_NOT_LOOK, "refused: could not tell whose credentials these are"),
    ),
    (
        "actions-execute-failed",  # GuardDuty refused the archive: the change failed
        lambda c: (
            args := c.archive_execute(sts=True),
            c.aws.fail(
                "guardduty", "us-east-1", "AccessDeniedException", operation="ArchiveFindings"
            ),
            args,
        )[2],
        Outcome(EXIT_FAILED, "1 of 1 change(s) failed"),
    ),
    (
        "actions-execute-complete",  # the same run, answered: 0
        lambda c: c.archive_execute(sts=True),
        Outcome(0, "complete", "1 change(s) done"),
    ),
    (
        "actions-usage",
        lambda c: ["actions", FINDING, "--case", CASE, "--plan", "archive", "--suppress"],
        Outcome(2),
    ),
    # post
    ("post-complete", lambda c: ["post", *c.post_args()], Outcome(0, "complete", "posted to")),
    (
        "post-nothing",  # the same report to the same destination again
        lambda c: (
            args := c.post_args(),
            main(["post", *args], out=io.StringIO(), err=io.StringIO()),
            ["post", *args],
        )[2],
        Outcome(0, "complete", "already posted to jira:SEC-1"),
    ),
    (
        "post-partial",
        lambda c: ["post", *c.post_args(jira_ok=False, servicenow=True)],
        Outcome(0, "partial", "1 of 2 destination(s) not posted"),
    ),
    (
        "post-refused-by-destination",  # Jira refused the token (HTTP 401): a human must fix it
        lambda c: ["post", *c.post_args(jira_ok=False)],
        Outcome(EXIT_REFUSED, "nothing posted: 1 of 1 destination(s) failed"),
    ),
    (
        "post-refused-incomplete-report",
        lambda c: (
            args := c.post_args(),
            (c.tmp / "report" / "summary.json").unlink(),
            ["post", *args],
        )[2],
        Outcome(EXIT_REFUSED, "summary.json is missing"),
    ),
    (
        "post-could-not-reach",  # a proxy's page answers for Jira: retry later
        lambda c: (
            args := c.post_args(),
            c.proxy_answers_for_jira(),
            ["post", *args],
        )[2],
        Outcome(EXIT_COULD_NOT_LOOK, "nothing posted: 1 of 1 destination(s) failed"),
    ),
    ("post-usage", lambda c: ["post", str(c.tmp), "--to", "jira:sec"], Outcome(2)),
    # athena-ddl
    (
        "athena-ddl-complete",
        lambda c: ["athena-ddl", "--bucket", "trail-bucket", "--accounts", "123456789012"],
        Outcome(0, "complete", "CREATE EXTERNAL TABLE"),
    ),
    (
        "athena-ddl-usage",
        lambda c: ["athena-ddl", "--bucket", "Trail_Bucket", "--accounts", "123456789012"],
        Outcome(2),
    ),
    # tor
    (
        "tor-check-complete",
        lambda c: ["tor", "check", "185.220.101.34", "--at", "2023-07-10T12:00:00Z"],
        Outcome(0, "complete", ": a listed Tor exit"),
    ),
    (
        "tor-check-unknown",  # the answer is "unknown", said on stdout: complete
        lambda c: ["tor", "check", "185.220.101.34", "--at", "2030-01-01T00:00:00Z"],
        Outcome(0, "complete", "unknown: no loaded list covers that time"),
    ),
    (
        "tor-check-partial",  # a line of a case list could not be read
        lambda c: ["tor", "check", "45.0.0.7", "--at", "2025-01-10T12:00Z", "--case", c.tor_case()],
        Outcome(0, "partial", "1 file(s) could not be read"),
    ),
    ("tor-check-usage", lambda c: ["tor", "check", "not-an-ip"], Outcome(2)),
    (
        "tor-refresh-could-not",  # offline: the network is the dead proxy
        lambda c: ["tor", "refresh"],
        Outcome(EXIT_COULD_NOT_LOOK, "could not reach https://check.torproject.org/exit-addresses"),
    ),
    ("tor-refresh-usage", lambda c: ["tor", "refresh", "--month", "2999-01"], Outcome(2)),
]


def _param(s: tuple[str, Build, Outcome] | pytest.param) -> pytest.param:
    if hasattr(s, "marks"):  # a pytest.param already: its id is its name
        return pytest.param(*s.values, id=s.values[0], marks=s.marks)
    return pytest.param(*s, id=s[0])


#: One error of each class (built in the test's folder) and the exit status it carries
#: (torinvest.errors' EXIT_*), whichever command it stops.
DENIED = DataIssue("guardduty:eu-west-1", "AccessDeniedException")


def _posts(*failures: PostError) -> NothingPostedError:
    return NothingPostedError(f"nothing posted: {len(failures)} destination(s) failed", failures)


ERROR_CLASSES: list[tuple[str, Callable[[Path], TorinvestError], int]] = [
    ("could-not-look", lambda t: CouldNotLookError("no source could be read"), EXIT_COULD_NOT_LOOK),
    (
        "regions-not-searched",
        lambda t: RegionsNotSearchedError("no region could be searched", issues=(DENIED,)),
        EXIT_COULD_NOT_LOOK,
    ),
    (
        "findings-not-read",
        lambda t: FindingsNotReadError("no finding could be read"),
        EXIT_COULD_NOT_LOOK,
    ),
    ("aws-denied", lambda t: AccessDeniedError("AccessDeniedException"), EXIT_COULD_NOT_LOOK),
    ("aws-unreachable", lambda t: EndpointError("could not connect"), EXIT_COULD_NOT_LOOK),
    (
        "guard-could-not-check",
        lambda t: CouldNotCheckError("refused: could not tell whose credentials these are"),
        EXIT_COULD_NOT_LOOK,
    ),
    (
        "not-found",
        lambda t: FindingNotFoundError(f"finding {UNKNOWN} not found among 2 findings"),
        EXIT_NOT_FOUND,
    ),
    (
        "not-found-where-searched",  # some places could not be searched: it may be there
        lambda t: FindingNotFoundError("… so it may be there", unsearched=(DENIED,)),
        EXIT_COULD_NOT_LOOK,
    ),
    (
        "not-found-where-not-looked",  # a region without a detector: it may be there
        lambda t: FindingNotFoundError(
            "… no detector in eu-west-1: not looked at, so it may be there",
            not_looked=(DataIssue("guardduty:eu-west-1", "no detector in eu-west-1"),),
        ),
        EXIT_COULD_NOT_LOOK,
    ),
    ("refused", lambda t: RefusedError("refused: no verdict"), EXIT_REFUSED),
    ("post-refused", lambda t: PostRefusedError("not a complete report"), EXIT_REFUSED),
    ("post-config", lambda t: PostConfigError("JIRA_URL is not set"), EXIT_REFUSED),
    (
        "posts-declined",
        lambda t: _posts(PostDeclinedError("jira:SEC-1", "HTTP 401")),
        EXIT_REFUSED,
    ),
    (
        "posts-unreachable",
        lambda t: _posts(
            PostUnreachableError("jira:SEC-1", "could not reach"),
            PostUnreachableError("servicenow:incident:x", "HTTP 503"),
        ),
        EXIT_COULD_NOT_LOOK,
    ),
    (
        "posts-unreachable-and-declined",  # retrying later is not enough
        lambda t: _posts(
            PostUnreachableError("jira:SEC-1", "could not reach"),
            PostDeclinedError("servicenow:incident:x", "HTTP 403"),
        ),
        EXIT_REFUSED,
    ),
    (
        "posts-maybe-posted",  # someone must look before posting again
        lambda t: _posts(
            PostDeclinedError("jira:SEC-1", "HTTP 401"),
            MaybePostedError("servicenow:incident:x", "no answer: it may have been posted"),
        ),
        EXIT_FAILED,
    ),
    (
        "posts-failed",
        lambda t: _posts(PostError("jira:SEC-1", "the answer has no id")),
        EXIT_FAILED,
    ),
    ("changes-failed", lambda t: RunFailedError("1 of 2 change(s) failed"), EXIT_FAILED),
    ("report-failed", lambda t: ReportError("cannot write the report"), EXIT_FAILED),
    (
        "notebook-failed",
        lambda t: NotebookError(
            ReportRun(FINDING, t, "failed", failure=CellFailure("ValueError", "boom"))
        ),
        EXIT_FAILED,
    ),
    ("folder-busy", lambda t: FolderBusyError("another run holds r"), EXIT_BUSY),
    ("state-busy", lambda t: StateBusyError("another run holds b"), EXIT_BUSY),
    ("input", lambda t: InputError("findings.json: not JSON"), EXIT_ERROR),
    ("options", lambda t: OptionsError("--a goes with --b"), EXIT_USAGE),
]

#: One argv per command, for the outcomes main() gives every command alike.
EVERY_COMMAND: dict[str, list[str]] = {
    "findings": ["findings", "--case", CASE],
    "events": ["events", "--case", CASE, "--access-key", KEY, "--out", "x.csv"],
    "demo": ["demo"],
    "investigate": ["investigate", FINDING, "--case", CASE, "--out", "r"],
    "all-open": ["investigate", "--all-open", "--case", CASE, "--out", "b"],
    "notebook": ["notebook", FINDING, "--case", CASE],
    "verdict": ["verdict", FINDING, "--status", "malicious", "--analyst", "a", "--rationale", "r"],
    "verdicts": ["verdicts"],
    "actions": ["actions", FINDING, "--case", CASE, "--plan", "archive"],
    "actions-execute": ["actions", FINDING, "--case", CASE, "--plan", "archive", "--execute"],
    "post": ["post", "r", "--to", "jira:SEC-1"],
    "athena-ddl": ["athena-ddl", "--bucket", "trail-bucket", "--accounts", "123456789012"],
    "tor-refresh": ["tor", "refresh"],
    "tor-check": ["tor", "check", "185.220.101.34"],
}


@pytest.fixture
def ctx(
    tmp_path: Path,
    fake_aws: FakeAws,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> Iterator[Ctx]:
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    monkeypatch.setenv("TORINVEST_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("TORINVEST_LEDGER", str(tmp_path / "ledger.jsonl"))
    monkeypatch.chdir(tmp_path)
    with ExitStack() as stack:
        yield Ctx(tmp_path, fake_aws, stack, request)


@pytest.fixture(scope="module")
def built_parser() -> argparse.ArgumentParser:
    """The CLI's parser, built once for the module's tests of what ``main`` does with whatever
    stopped a command: a parse does not change its parser, and building it is most of their
    cost (hundreds of ``add_argument`` calls, each through gettext)."""
    return cli.build_parser()


@pytest.fixture
def one_parser(built_parser: argparse.ArgumentParser, monkeypatch: pytest.MonkeyPatch) -> None:
    """``main`` parses with :func:`built_parser`'s parser instead of building one of its own."""
    monkeypatch.setattr(cli, "build_parser", lambda: built_parser)


def _run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        code = main(argv, out=out, err=err)
    except SystemExit as e:  # argparse's own usage errors (the process exits with it)
        code = int(e.code or 0)
    return code, out.getvalue(), err.getvalue()


class TestExitCodes:
    @pytest.mark.parametrize(("name", "build", "outcome"), [_param(s) for s in SCENARIOS])
    def test_outcome_and_marker(self, name: str, build: Build, outcome: Outcome, ctx: Ctx) -> None:
        code, out, err = _run(build(ctx))
        lines = err.splitlines()
        partial = [ln for ln in lines if ln.startswith(PARTIAL_MARK)]
        errors = [ln for ln in lines if ln.startswith(ERROR)]
        assert code == outcome.code, err
        assert "Traceback" not in err
        if code == 0:
            assert errors == [], err
            assert bool(partial) == (outcome.marker == "partial"), err
        elif code != EXIT_USAGE:
            assert partial == [], err
            assert len(errors) == 1, err  # one line says why, naming the class
            assert outcome.marker in errors[0], err
        if outcome.said is not None:
            assert outcome.said in out + err

    @pytest.mark.parametrize(
        ("raised", "code", "said"),
        [
            (KeyboardInterrupt, 130, "torinvest: interrupted"),
            (Terminated, 143, "torinvest: terminated (SIGTERM)"),
            (
                RuntimeError("a bug"),
                EXIT_ERROR,
                "torinvest: error: internal error: RuntimeError: a bug",
            ),
        ],
        ids=["interrupted", "terminated", "internal-error"],
    )
    @pytest.mark.parametrize("command", list(EVERY_COMMAND))
    def test_stopped_or_a_bug_is_the_same_in_every_command(
        self,
        command: str,
        raised: BaseException | type[BaseException],
        code: int,
        said: str,
        ctx: Ctx,
        monkeypatch: pytest.MonkeyPatch,
        one_parser: None,
    ) -> None:
        def stop(args: object) -> None:
            raise raised

        monkeypatch.setattr(cli, "check_arguments", stop)
        got, _out, err = _run(EVERY_COMMAND[command])
        assert got == code
        assert said in err and "Traceback" not in err
        assert not any(ln.startswith(PARTIAL_MARK) for ln in err.splitlines())

    @pytest.mark.parametrize(
        ("make", "code"), [pytest.param(m, c, id=n) for n, m, c in ERROR_CLASSES]
    )
    @pytest.mark.parametrize("command", list(EVERY_COMMAND))
    def test_each_class_of_failure_has_its_status_in_every_command(
        self,
        command: str,
        make: Callable[[Path], TorinvestError],
        code: int,
        ctx: Ctx,
        monkeypatch: pytest.MonkeyPatch,
        one_parser: None,
    ) -> None:
        error = make(ctx.tmp)

        def stop(args: object) -> None:
            raise error

        monkeypatch.setattr(cli, "check_arguments", stop)
        got, _out, err = _run(EVERY_COMMAND[command])
        assert got == code == error.exit_status, err
        assert [ln for ln in err.splitlines() if ln.startswith(ERROR)] == [f"{ERROR}{error}"], err
        assert not any(ln.startswith(PARTIAL_MARK) for ln in err.splitlines())

    def test_the_statuses_are_distinct_and_clash_with_no_reserved_one(self) -> None:
        statuses = [
            EXIT_ERROR, EXIT_USAGE, EXIT_COULD_NOT_LOOK, EXIT_NOT_FOUND, EXIT_REFUSED,
            EXIT_FAILED, EXIT_BUSY,
        ]  # fmt: skip
        assert len(set(statuses)) == len(statuses)
        reserved = {0, 126, 127, 130, 141, 143} | set(range(128, 256))
        assert not reserved & set(statuses)
