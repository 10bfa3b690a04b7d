"""Hostile inputs and faults of posting (catalogue: docs/hostile-inputs.md, section "Posting
reports").

Each test asserts the outcome — a clear one-line refusal before anything is sent, or one
destination's one-line failure with the others posted — and that nothing valid was lost or
posted where it should not be. Tests run as root: an unwritable folder is ``os.open`` raising
EROFS at the real call site, for the target path only.
"""

from __future__ import annotations

import errno
import io
import json
import os
from pathlib import Path

import pytest

from tests.fake_aws.security import FakeSecurityServices
from tests.fake_tickets import FakeJira, FakeServiceNow
from tests.post.conftest import *  # noqa: F403  (the fixtures: fakes, report folders)
from tests.post.conftest import CASE_ID, FINDING_ID, SYS_ID, make_report, summary_data, variables
from torinvest.errors import InputError
from torinvest.post import PostRefusedError, post_report
from torinvest.post import command as post_command
from torinvest.post.answer import MAX_ANSWER_CHARS, NOTE_MAX_CHARS
from torinvest.post.base import PostConfigError, parse_destination
from torinvest.post.env import read_env_file
from torinvest.report import write_manifest

HOSTILE_USER = "\x1b[2J\x1b]0;pwned\x07{noformat}{html}<script>alert(1)</script>[code]<b>x</b>[/code]\u202eevil"


def test_an_env_file_line_that_is_not_key_value_is_named_without_its_secret(tmp_path: Path) -> None:
    path = tmp_path / "post.env"
    path.write_text("JIRA_URL=https://x.atlassian.net\nJIRA_API_TOKEN: s3cr3t-token-value\n")
    with pytest.raises(InputError) as e:
        read_env_file(path)
    assert str(e.value).startswith(f"{path}:2: not a KEY=VALUE line (the line is not shown")
    assert "s3cr3t-token-value" not in str(e.value)


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("http://jira.example.com", "JIRA_URL is a plain-HTTP URL"),
        ("https://bob:hunter2-pass@jira.example.com", "JIRA_URL holds credentials"),
        ("jira.example.com", "JIRA_URL is not an http(s) URL"),
    ],
)
def test_an_unsafe_jira_url_is_refused_before_any_request(
    url: str, said: str, report_dir: Path, ledger: Path, no_real_http: list[str]
) -> None:
    env = {"JIRA_URL": url, "JIRA_EMAIL": "a@example.com", "JIRA_API_TOKEN": "tok-1234"}
    with pytest.raises(PostConfigError) as e:
        post_report(report_dir, ["jira:SEC-1"], env=env, ledger=ledger)
    assert said in str(e.value) and "hunter2" not in str(e.value)
    assert no_real_http == []
    assert not (report_dir / "posts.json").exists()


@pytest.mark.parametrize(
    "dest",
    [
        "jira:SEC-1/../../rest/api/3/myself",
        "jira:SEC-1?x=1",
        "servicenow:incident:../../api/now/table/sys_user",
        "servicenow:sys_user;drop:46d44a5ddb3b2010e9d8f6e5ca9619c9",
        "security-ir:123/../456",
        "securityhub:arn:aws:guardduty:us-east-1:1:detector/x/finding/../../y",
        'jira-new:SEC" OR project = "HR',
    ],
)
def test_a_destination_that_would_reach_another_path_is_a_usage_error(dest: str) -> None:
    from torinvest.errors import OptionsError

    with pytest.raises(OptionsError):
        parse_destination(dest)


def test_attacker_text_stays_text_in_every_destination(
    jira_dc: FakeJira, servicenow: FakeServiceNow, security: FakeSecurityServices,
    tmp_path: Path, ledger: Path,
) -> None:  # fmt: skip
    data = summary_data()
    data["key"]["user_name"] = HOSTILE_USER
    data["sensitive_events"][2]["target"] = "user {noformat}" + HOSTILE_USER
    folder = make_report(tmp_path / "f", summary=data)
    args = [f"servicenow:incident:{SYS_ID}", "jira:SEC-1", f"security-ir:{CASE_ID}"]
    out, err = io.StringIO(), io.StringIO()
    report = post_report(folder, args, env=variables(jira_dc, servicenow), ledger=ledger, backoff=0)
    post_command.print_report(report, out, err)

    assert [o.status for o in report.outcomes] == ["posted"] * 3
    body = jira_dc.issues["SEC-1"]["comments"][0]["body"]
    assert body.count("{noformat}") == 2 and body.startswith("{noformat}\n")  # one block only
    (note,) = servicenow.records[("incident", SYS_ID)]["work_notes"]
    assert "[code]" not in note.lower()
    comment = security.security_ir("us-east-1").cases[CASE_ID].comments[0]["body"]
    for text in (body, note, comment):
        assert "\\x1b[2J" in text and "\\u202eevil" in text  # shown, escaped
    for text in (body, note, comment, out.getvalue(), err.getvalue()):
        assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text


def test_a_huge_rationale_is_cut_to_each_destinations_limit(
    security: FakeSecurityServices, tmp_path: Path, ledger: Path
) -> None:
    data = summary_data()
    data["verdict"] = {
        "status": "malicious",
        "analyst": "ana" * 50,
        "rationale": "r" * 200_000,
        "recorded_at": "2024-01-01T00:00:00Z",
    }
    folder = make_report(tmp_path / "f", summary=data)
    report = post_report(
        folder, [f"security-ir:{CASE_ID}", "securityhub"], env={}, ledger=ledger, backoff=0
    )
    assert [o.status for o in report.outcomes] == ["posted", "posted"]
    comment = security.security_ir("us-east-1").cases[CASE_ID].comments[0]["body"]
    assert len(comment) <= 12_000 and len(comment.split("\n\nFiles:")[0]) <= MAX_ANSWER_CHARS
    (finding,) = security.securityhub("us-east-1").findings.values()
    assert (
        len(finding["Note"]["Text"]) <= NOTE_MAX_CHARS and len(finding["Note"]["UpdatedBy"]) <= 512
    )


def test_a_finding_id_that_would_inject_jql_is_refused(
    jira: FakeJira, tmp_path: Path, ledger: Path
) -> None:
    folder = make_report(tmp_path / "f")
    bad = 'x" OR project = "HR'
    data = json.loads((folder / "summary.json").read_text())
    data["finding"]["id"] = bad
    (folder / "summary.json").write_text(json.dumps(data))
    write_manifest(folder, bad)  # a hand-made folder, consistent with itself
    with pytest.raises(PostRefusedError, match="invalid finding id"):
        post_report(folder, ["jira-new:SEC"], env=variables(jira), ledger=ledger)
    assert jira.requests == []


def test_a_summary_of_another_finding_than_the_manifest_is_refused(
    jira: FakeJira, tmp_path: Path, ledger: Path
) -> None:
    folder = make_report(tmp_path / "f")
    write_manifest(folder, "f" * 32)
    with pytest.raises(
        PostRefusedError, match=f"summary.json is of finding {FINDING_ID}, the manifest of f+"
    ):
        post_report(folder, ["jira:SEC-1"], env=variables(jira), ledger=ledger)
    assert jira.requests == []


@pytest.mark.parametrize(
    ("content", "said"),
    [
        ('{"posts": [', "cannot read the posting record"),
        ("[1, 2]", "is not a torinvest posting record"),
        ('{"finding_id": "' + "e" * 32 + '", "posts": []}', "records posts of finding eeee"),
    ],
)
def test_a_damaged_or_foreign_posting_record_is_refused(
    jira: FakeJira, report_dir: Path, ledger: Path, content: str, said: str
) -> None:
    (report_dir / "posts.json").write_text(content)
    with pytest.raises(PostRefusedError, match=said):
        post_report(report_dir, ["jira:SEC-1"], env=variables(jira), ledger=ledger)
    assert jira.calls("attach") == [] and (report_dir / "posts.json").read_text() == content


def test_a_read_only_report_folder_is_refused_before_posting(
    jira: FakeJira, report_dir: Path, ledger: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_open = os.open

    def read_only(path, flags, *args, **kw):  # type: ignore[no-untyped-def]
        if Path(path).parent == report_dir.resolve() and flags & os.O_CREAT:
            raise OSError(errno.EROFS, "Read-only file system", str(path))
        return real_open(path, flags, *args, **kw)

    monkeypatch.setattr(os, "open", read_only)
    with pytest.raises(
        PostRefusedError, match=r"cannot record posts in .*: Read-only file system: nothing posted"
    ):
        post_report(report_dir, ["jira:SEC-1"], env=variables(jira), ledger=ledger)
    assert jira.requests == []


def test_an_attachment_answer_without_the_attachment_is_a_failure(
    jira: FakeJira, servicenow: FakeServiceNow, report_dir: Path, ledger: Path
) -> None:
    jira.fail("attach", 200, body="[]")
    servicenow.fail("attach", 201, body='{"result": {}}')
    report = post_report(
        report_dir, ["jira:SEC-1", f"servicenow:incident:{SYS_ID}"],
        env=variables(jira, servicenow), ledger=ledger, backoff=0,
    )  # fmt: skip
    lines = [o.line for o in report.outcomes]
    assert "attach report.html to SEC-1: the answer lists no attachment" in lines[0]
    assert "the answer names no attachment sys_id" in lines[1]
    assert jira.issues["SEC-1"]["comments"] == []  # no comment pointing at files that are not there


def test_a_plain_http_upload_url_is_not_sent_to(
    security: FakeSecurityServices, report_dir: Path, ledger: Path, no_real_http: list[str]
) -> None:
    security.upload_url_base = "http://uploads.example.com"
    (o,) = post_report(report_dir, [f"security-ir:{CASE_ID}"], env={}, ledger=ledger).outcomes
    assert o.status == "failed"
    assert (
        "the upload URL for report.html is not https (http://uploads.example.com/_presigned/"
        in o.line
    )
    assert "X-Amz-Signature" not in o.line and no_real_http == []
    assert security.security_ir("us-east-1").cases[CASE_ID].comments == []


def test_a_connection_refused_is_retried_then_one_line(report_dir: Path, ledger: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
        url = f"http://127.0.0.1:{s.getsockname()[1]}"
        waits: list[float] = []
        env = {"JIRA_URL": url, "JIRA_EMAIL": "a@example.com", "JIRA_API_TOKEN": "tok-1234"}
        (o,) = post_report(
            report_dir,
            ["jira:SEC-1"],
            env=env,
            ledger=ledger,
            attempts=3,
            backoff=0.25,
            sleep=waits.append,
        ).outcomes
    assert o.status == "failed"
    assert o.line.startswith(
        f"jira:SEC-1: look up issue SEC-1: could not reach {url}/rest/api/3/issue/SEC-1 after 3 attempt(s): ConnectError"
    )
    assert waits == [0.25, 0.5]
