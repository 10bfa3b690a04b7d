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
import logging
import os
import re
from pathlib import Path

import pytest

from tests.fake_aws.security import FakeSecurityServices
from tests.fake_tickets import FakeJira, FakeServiceNow
from tests.post.conftest import *  # noqa: F403  (the fixtures: fakes, report folders)
from tests.post.conftest import (
    CASE_ID,
    FINDING_ID,
    REGION,
    SYS_ID,
    make_report,
    summary_data,
    variables,
)
from torinvest.errors import InputError, TorinvestError
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
    ("variable", "dest"),
    [("JIRA_URL", "jira:SEC-1"), ("SERVICENOW_URL", f"servicenow:incident:{SYS_ID}")],
)
@pytest.mark.parametrize("tail", ["/?token=s3cret-in-url", "/#s3cret-in-url", "/api?", "/x#"])
def test_a_site_url_with_a_query_or_fragment_is_refused_without_showing_it(
    variable: str, dest: str, tail: str, tmp_path: Path, ledger: Path, no_real_http: list[str]
) -> None:
    """A token in a site URL's query or fragment would be sent and recorded in posts.json as the
    site: every site variable is refused like one with credentials, naming the variable only."""
    env = {
        "JIRA_URL": "https://jira.example.com",
        "JIRA_EMAIL": "a@example.com",
        "JIRA_API_TOKEN": "tok-1234",
        "SERVICENOW_URL": "https://sn.example.com",
        "SERVICENOW_TOKEN": "tok-5678",
    }
    env[variable] += tail
    folder = make_report(tmp_path / "f")
    with pytest.raises(PostConfigError) as e:
        post_report(folder, [dest], env=env, ledger=ledger)
    said = f"{e.value} {e.value.hint}"
    assert f"{variable} has a query or a fragment" in said
    assert "s3cret" not in said and tail not in said
    assert no_real_http == []
    assert not (folder / "posts.json").exists()


@pytest.mark.parametrize(
    ("system", "operation", "body", "said"),
    [
        ("jira", "attach", [{"id": None, "filename": "x"}], "no attachment ID"),
        ("jira", "attach", [{"id": "", "filename": "x"}], "no attachment ID"),
        ("jira", "attach", [{"id": "   "}], "unusable (str) attachment ID"),
        ("jira", "attach", [{"filename": "x"}], "no attachment ID"),
        ("jira", "attach", [{"id": {"x": 1}}], "unusable (dict) attachment ID"),
        ("jira", "comment", {"id": None}, "no comment ID"),
        ("jira", "comment", {"id": ""}, "no comment ID"),
        ("jira", "get_issue", {"key": None}, "no issue key"),
        ("servicenow", "attach", {"result": {"sys_id": ""}}, "no attachment sys_id"),
        ("servicenow", "attach", {"result": {"sys_id": None}}, "no attachment sys_id"),
    ],
)
def test_an_answer_without_the_id_it_promises_is_not_posted(
    system: str, operation: str, body: object, said: str,
    jira: FakeJira, servicenow: FakeServiceNow, tmp_path: Path, ledger: Path,
) -> None:  # fmt: skip
    """Every ID read from a service's answer (issue key, comment and attachment IDs, sys_ids)
    must be a non-empty string or a number: an answer with an empty or null one is a failure
    naming what is missing, never "posted" with an ID "None" in posts.json."""
    fake = jira if system == "jira" else servicenow
    dest = "jira:SEC-1" if system == "jira" else f"servicenow:incident:{SYS_ID}"
    fake.fail(operation, 200, body=json.dumps(body))
    folder = make_report(tmp_path / "f")
    env = variables(jira) if system == "jira" else variables(servicenow=servicenow)
    (o,) = post_report(folder, [dest], env=env, ledger=ledger, backoff=0).outcomes
    assert o.status in ("failed", "partial"), o.line  # never "posted"
    assert said in o.line and "which the API always returns" in o.line
    posts = json.loads((folder / "posts.json").read_text())["posts"]
    assert all(v not in ("None", "", "null") for v in _remote_ids(posts))


def _remote_ids(obj: object, key: str = "") -> list[str]:
    """Every remote ID a posting record holds (…_id, …_sys_id, issue keys), as text."""
    if isinstance(obj, dict):
        return [v for k, x in obj.items() for v in _remote_ids(x, str(k))]
    if isinstance(obj, list):
        return [v for x in obj for v in _remote_ids(x, key)]
    named = key.endswith(("_id", "sys_id")) or key in ("issue", "record")
    return [str(obj)] if named and key != "finding_id" else []


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


#: Markdown an attacker can write in a user name or a target: a link, an image fetched when the
#: comment is shown, raw HTML, emphasis, a heading, a fence of its own (to close ours).
HOSTILE_MARKDOWN = (
    "[click](http://evil.example/x) ![x](http://evil.example/beacon.png) <img src=x "
    "onerror=alert(1)> **b** `````\n# h <http://evil.example/auto>"
)


def test_attacker_markdown_stays_text_in_a_security_ir_comment(
    security: FakeSecurityServices, tmp_path: Path, ledger: Path
) -> None:
    """A case comment is Markdown to whatever shows it: the answer is one fenced code block, so
    a user name ``![x](http://…)`` is never an image fetched when the case is opened, nor a
    link, nor HTML — also with a fence of backticks in it (was: the answer sent as it was)."""
    from markdown_it import MarkdownIt

    data = summary_data()
    data["key"]["user_name"] = HOSTILE_MARKDOWN
    data["sensitive_events"][2]["target"] = "user ```" + HOSTILE_MARKDOWN
    folder = make_report(tmp_path / "f", summary=data)
    (o,) = post_report(folder, [f"security-ir:{CASE_ID}"], env={}, ledger=ledger).outcomes
    assert o.status == "posted"
    comment = security.security_ir(REGION).cases[CASE_ID].comments[0]["body"]
    assert len(comment) <= 12_000
    tokens = MarkdownIt("commonmark").parse(comment)
    assert [t.type for t in tokens] == ["fence"]  # one code block, nothing outside it
    shown = tokens[0].content
    assert shown.startswith("torinvest: ") and "Files:" in shown
    assert "[click](http://evil.example/x) ![x](http://evil.example/beacon.png)" in shown
    page = MarkdownIt("commonmark").render(comment)
    assert "<a " not in page and "<img" not in page and "<strong>" not in page


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
    assert "the answer gives no attachment sys_id" in lines[1]
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


# --------------------------------------------------------------------------------------------
# each destination's refusals and server errors, with a healthy destination beside it
# --------------------------------------------------------------------------------------------
_JIRA_BODY = json.dumps({"errorMessages": ["nope"], "errors": {}})
_SN_BODY = json.dumps({"error": {"message": "nope", "detail": ""}, "status": "failure"})


@pytest.mark.parametrize(
    ("kind", "operation", "status", "said"),
    [
        ("jira", "get_issue", 401, "authentication refused (HTTP 401)"),
        ("jira", "get_issue", 403, "not allowed (HTTP 403)"),
        ("jira", "get_issue", 404, "not found (HTTP 404)"),
        ("jira", "attach", 413, "too large for the server"),
        ("jira", "comment", 503, "HTTP 503"),
        ("servicenow", "get_record", 401, "authentication refused (HTTP 401)"),
        ("servicenow", "get_record", 403, "not allowed (HTTP 403)"),
        ("servicenow", "get_record", 404, "not found (HTTP 404)"),
        ("servicenow", "attach", 413, "too large for the server"),
        ("servicenow", "update_record", 502, "HTTP 502"),
    ],
)
def test_a_ticket_system_refusing_or_failing_is_one_line_and_the_aws_case_is_posted(
    kind: str, operation: str, status: int, said: str,
    jira: FakeJira, servicenow: FakeServiceNow, security: FakeSecurityServices,
    report_dir: Path, ledger: Path,
) -> None:  # fmt: skip
    fake = jira if kind == "jira" else servicenow
    fake.fail(operation, status, body=_JIRA_BODY if kind == "jira" else _SN_BODY)
    dest = "jira:SEC-1" if kind == "jira" else f"servicenow:incident:{SYS_ID}"
    waits: list[float] = []
    report = post_report(
        report_dir, [dest, f"security-ir:{CASE_ID}"], env=variables(jira, servicenow),
        ledger=ledger, attempts=3, backoff=0.5, sleep=waits.append,
    )  # fmt: skip
    bad, good = report.outcomes
    assert bad.status in ("failed", "partial") and good.status == "posted"
    assert bad.line.startswith(f"{dest}: ") and said in bad.line and "\n" not in bad.line
    assert bad.error is not None and bad.error.hint
    tries = len(fake.calls(operation, status=status))
    assert tries == (3 if status >= 500 else 1)  # 5xx retried (bounded), 4xx never
    assert waits == ([0.5, 1.0] if status >= 500 else [])
    assert len(security.security_ir(REGION).cases[CASE_ID].comments) == 1
    posts = json.loads((report_dir / "posts.json").read_text())["posts"]
    assert {p["destination"]: p["status"] for p in posts} == {
        dest: bad.status,
        f"security-ir:{CASE_ID}": "complete",
    }
    ledger_lines = [json.loads(line) for line in ledger.read_text().splitlines()]
    assert len(ledger_lines) == 2  # both recorded, the failure as one


@pytest.mark.parametrize(
    ("service", "code", "status", "operation", "said"),
    [
        ("security-ir", "AccessDeniedException", 403, None, "access denied"),
        ("security-ir", "ResourceNotFoundException", 404, None, "ResourceNotFoundException"),
        ("security-ir", "InternalServerException", 500, "CreateCaseComment", "InternalServer"),
        ("securityhub", "AccessDeniedException", 403, None, "access denied"),
        ("securityhub", "InternalException", 500, None, "InternalException"),
    ],
)
def test_an_aws_destination_refusing_or_failing_is_one_line_and_the_ticket_is_posted(
    service: str, code: str, status: int, operation: str | None, said: str,
    jira: FakeJira, security: FakeSecurityServices, report_dir: Path, ledger: Path,
) -> None:  # fmt: skip
    security.fail(service, "*", code, status=status, operation=operation)
    dest = f"security-ir:{CASE_ID}" if service == "security-ir" else "securityhub"
    report = post_report(
        report_dir, [dest, "jira:SEC-1"], env=variables(jira), ledger=ledger, backoff=0
    )
    by = {o.destination: o for o in report.outcomes}
    assert by["jira:SEC-1"].status == "posted"
    bad = by[dest]
    assert bad.status in ("failed", "partial")
    assert bad.line.startswith(f"{dest}: ") and said in bad.line and "\n" not in bad.line
    if status >= 500:  # botocore retried it (AWS_MAX_ATTEMPTS=2 in the fixture)
        assert len([c for c in security.calls(operation or "BatchUpdateFindings")]) == 2
    assert len(jira.issues["SEC-1"]["comments"]) == 1


def test_an_expired_upload_url_is_one_line_and_no_comment_names_missing_files(
    security: FakeSecurityServices, report_dir: Path, ledger: Path
) -> None:
    security.expire_upload_urls(after=0)  # every URL handed out is expired
    (o,) = post_report(report_dir, [f"security-ir:{CASE_ID}"], env={}, ledger=ledger).outcomes
    assert o.status == "failed" and "HTTP 403" in o.line and "X-Amz-Signature" not in o.line
    assert security.security_ir(REGION).cases[CASE_ID].comments == []


# --------------------------------------------------------------------------------------------
# configuration: missing or partial secrets, env files
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("dest", "env", "said"),
    [
        ("jira:SEC-1", {"JIRA_URL": "https://x.atlassian.net"}, "no Jira credentials"),
        (
            "jira:SEC-1",
            {"JIRA_URL": "https://x.atlassian.net", "JIRA_EMAIL": "a@example.com"},
            "JIRA_API_TOKEN",
        ),
        ("jira:SEC-1", {"JIRA_API_TOKEN": "tok-Aq1", "JIRA_EMAIL": "a@b.c"}, "JIRA_URL not set"),
        (
            f"servicenow:incident:{SYS_ID}",
            {"SERVICENOW_URL": "https://x.service-now.com", "SERVICENOW_USER": "bot"},
            "SERVICENOW_PASSWORD",
        ),
        (f"servicenow:incident:{SYS_ID}", {"SERVICENOW_TOKEN": "tok-Aq1"}, "SERVICENOW_URL"),
    ],
)
def test_missing_or_partial_secrets_refuse_every_destination_before_any_request(
    dest: str, env: dict[str, str], said: str,
    jira: FakeJira, report_dir: Path, ledger: Path,
) -> None:  # fmt: skip
    """One destination's configuration incomplete: nothing is posted anywhere (a complete one
    beside it included), the variable is named, no value shown."""
    with pytest.raises(PostConfigError) as e:
        post_report(report_dir, [dest, "jira:SEC-2"] if dest != "jira:SEC-1" else [dest],
                    env={**variables(jira), **env} if "servicenow" in dest else env,
                    ledger=ledger)  # fmt: skip
    assert said in str(e.value) and dest in str(e.value)
    assert "tok-Aq1" not in str(e.value) and "tok-Aq1" not in str(e.value.hint)
    assert jira.requests == [] and not (report_dir / "posts.json").exists()


def test_an_env_file_that_is_missing_a_folder_or_unreadable_is_one_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(InputError, match=f"cannot read the env file {tmp_path / 'none.env'}"):
        read_env_file(tmp_path / "none.env")
    with pytest.raises(InputError, match=f"cannot read the env file {tmp_path}"):
        read_env_file(tmp_path)
    locked = tmp_path / "locked.env"
    locked.write_text("JIRA_PAT=p\n")
    real_open = Path.open

    def denied(self: Path, *args, **kw):  # type: ignore[no-untyped-def]
        if self == locked:
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return real_open(self, *args, **kw)

    monkeypatch.setattr(Path, "open", denied)
    monkeypatch.setattr(Path, "read_bytes", lambda self: denied(self).read())
    monkeypatch.setattr(Path, "read_text", lambda self, *a, **k: denied(self).read())
    with pytest.raises(InputError, match="Permission denied"):
        read_env_file(locked)


@pytest.mark.parametrize(
    "text",
    [
        b"JIRA_PAT=abc\x00def\n",  # a NUL
        b"\xff\xfeJ\x00I\x00R\x00A\x00",  # UTF-16
        b"=value-without-a-name\n",
        b"1JIRA=x\n",
    ],
    ids=["nul", "utf16", "no-name", "bad-name"],
)
def test_an_env_file_with_a_bad_line_or_encoding_is_one_error_without_values(
    text: bytes, tmp_path: Path
) -> None:
    path = tmp_path / "post.env"
    path.write_bytes(text)
    with pytest.raises(InputError) as e:
        read_env_file(path)
    assert str(path) in str(e.value) and "\n" not in str(e.value)
    assert "abc" not in str(e.value) and "value-without" not in str(e.value)


# --------------------------------------------------------------------------------------------
# the report folder: incomplete, changed after its run, changed after posting
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("damage", "why"),
    [
        (lambda f: (f / "manifest.json").unlink(), "no manifest"),
        (lambda f: (f / "report.html").unlink(), "report.html is missing"),
        (lambda f: (f / "summary.json").write_text("{}"), "summary.json changed after the run"),
        (lambda f: (f / "manifest.json").write_text("{"), "manifest"),
    ],
    ids=["no-manifest", "no-html", "summary-changed", "manifest-truncated"],
)
def test_an_incomplete_report_folder_is_refused_and_nothing_is_sent(
    damage: object, why: str, jira: FakeJira, report_dir: Path, ledger: Path
) -> None:
    damage(report_dir)  # type: ignore[operator]
    with pytest.raises(PostRefusedError) as e:
        post_report(report_dir, ["jira:SEC-1"], env=variables(jira), ledger=ledger)
    assert "is not a complete report" in str(e.value) and why in str(e.value)
    assert jira.requests == [] and not ledger.exists()


def test_a_report_changed_after_posting_is_refused_then_a_new_run_is_a_new_version(
    jira: FakeJira, tmp_path: Path, ledger: Path
) -> None:
    folder = make_report(tmp_path / "f")
    env = variables(jira)
    assert post_report(folder, ["jira:SEC-1"], env=env, ledger=ledger).outcomes[0].status == (
        "posted"
    )
    record = (folder / "posts.json").read_bytes()
    (folder / "report.html").write_text("<html>edited by hand</html>")
    with pytest.raises(PostRefusedError, match=r"report\.html changed after the run"):
        post_report(folder, ["jira:SEC-1"], env=env, ledger=ledger)
    assert (folder / "posts.json").read_bytes() == record  # the record of what was posted stays
    make_report(folder, html="<html>a new run</html>")  # the investigation run again
    (o,) = post_report(folder, ["jira:SEC-1"], env=env, ledger=ledger).outcomes
    assert o.status == "posted" and "1 file(s) attached" in o.line
    assert len(jira.issues["SEC-1"]["attachments"]) == 3  # report.html v1, v2; summary once


# --------------------------------------------------------------------------------------------
# attacker-written text in the Jira Cloud description (ADF) and the Security Hub note
# --------------------------------------------------------------------------------------------
def test_attacker_text_stays_text_in_jira_cloud_adf_new_issues_and_the_security_hub_note(
    jira: FakeJira, security: FakeSecurityServices, tmp_path: Path, ledger: Path
) -> None:
    data = summary_data()
    data["key"]["user_name"] = HOSTILE_USER
    data["verdict"] = {
        "status": "malicious",
        "analyst": "ana\x1b[31m<img src=x onerror=alert(1)>",
        "rationale": "UA: Mozilla/5.0 \x1b]8;;http://evil\x07click\x1b]8;;\x07 ${jndi:ldap://x}",
        "recorded_at": "2024-01-01T00:00:00Z",
    }
    folder = make_report(tmp_path / "f", summary=data)
    report = post_report(
        folder, ["jira:SEC-1", "jira-new:SEC", "securityhub"], env=variables(jira),
        ledger=ledger, backoff=0,
    )  # fmt: skip
    assert [o.status for o in report.outcomes] == ["posted"] * 3
    assert jira.violations == []
    comment = jira.issues["SEC-1"]["comments"][0]["body"]
    (new,) = [i for k, i in jira.issues.items() if k != "SEC-1"]

    def texts(node: object) -> list[str]:  # every text node of an ADF document
        if isinstance(node, dict):
            own = [node["text"]] if node.get("type") == "text" else []
            return own + [t for c in node.get("content") or [] for t in texts(c)]
        return []

    for doc in (comment, new["fields"]["description"]):
        assert doc["type"] == "doc" and [n["type"] for n in doc["content"]] == ["codeBlock"]
        assert all("marks" not in n for n in doc["content"][0]["content"])  # no link, no markup
        text = "".join(texts(doc))
        assert "\\x1b[2J" in text and "\x1b" not in text and "\x07" not in text
    assert "\x1b" not in new["fields"]["summary"] and "\n" not in new["fields"]["summary"]
    (finding,) = security.securityhub(REGION).findings.values()
    note = finding["Note"]
    for text in (note["Text"], note["UpdatedBy"]):
        assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text
    assert note["UpdatedBy"].startswith("torinvest (ana\\x1b[31m")


# --------------------------------------------------------------------------------------------
# sizes and names
# --------------------------------------------------------------------------------------------
def test_files_over_a_ticket_systems_limit_are_one_line_each_and_the_rest_is_posted(
    jira: FakeJira, servicenow: FakeServiceNow, tmp_path: Path, ledger: Path
) -> None:
    folder = make_report(tmp_path / "f", html="<html>" + "x" * 40_000 + "</html>")
    jira.max_attachment_bytes = 20_000
    servicenow.max_attachment_bytes = 20_000
    report = post_report(
        folder, ["jira:SEC-1", f"servicenow:incident:{SYS_ID}"],
        env=variables(jira, servicenow), ledger=ledger, backoff=0,
    )  # fmt: skip
    for o in report.outcomes:
        assert o.status == "failed" and "report.html" in o.line and "HTTP 413" in o.line
    assert jira.issues["SEC-1"]["comments"] == []
    assert servicenow.records[("incident", SYS_ID)]["work_notes"] == []


def test_security_ir_file_names_follow_its_rule_whatever_the_finding_or_file(
    security: FakeSecurityServices, tmp_path: Path, report_dir: Path, ledger: Path
) -> None:
    from torinvest.post.base import post_file

    odd = tmp_path / "odd"
    odd.mkdir()
    (odd / "per ip (v2) é;rm -rf.csv").write_text("x")
    f = post_file(odd, "per ip (v2) é;rm -rf.csv", FINDING_ID)
    assert f.posted_as == f"torinvest-{FINDING_ID}-per_ip__v2____rm_-rf-{f.sha256[:8]}.csv"
    report = post_report(
        report_dir, [f"security-ir:{CASE_ID}"], env={}, ledger=ledger, with_csv=True
    )
    assert report.outcomes[0].status == "posted"
    names = [a["fileName"] for a in security.security_ir(REGION).cases[CASE_ID].attachments]
    assert len(names) == 4 and all(re.fullmatch(r"[A-Za-z0-9._-]{1,255}", n) for n in names)


# --------------------------------------------------------------------------------------------
# bearer secrets echoed by failing servers
# --------------------------------------------------------------------------------------------
def test_bearer_secrets_echoed_by_failing_servers_reach_no_output_log_or_file(
    jira_dc: FakeJira, servicenow: FakeServiceNow, tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    env = variables(jira_dc) | variables(servicenow=servicenow, sn_token=True)
    folder = make_report(tmp_path / "f")
    ledger = tmp_path / "ledger.jsonl"
    jira_dc.fail("attach", 401, body=json.dumps({"errorMessages": [f"Bearer {jira_dc.pat}"]}))
    servicenow.fail(
        "get_record", 500, body=json.dumps({"error": {"message": f"token {servicenow.token}"}})
    )
    caplog.set_level(logging.DEBUG)
    out, err = io.StringIO(), io.StringIO()
    report = post_report(
        folder, ["jira:SEC-1", f"servicenow:incident:{SYS_ID}"], env=env, ledger=ledger,
        attempts=2, backoff=0,
    )  # fmt: skip
    with pytest.raises(TorinvestError):
        post_command.print_report(report, out, err)  # both failed: an error
    said = out.getvalue() + err.getvalue() + "\n".join(r.getMessage() for r in caplog.records)
    said += " ".join(o.line for o in report.outcomes)
    files = b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())
    for secret in (jira_dc.pat, servicenow.token):
        assert secret not in said and secret.encode() not in files
    assert "[REDACTED]" in said


@pytest.mark.parametrize(
    "text",
    [
        "a\n```\n[x](http://evil.example/)",
        "a\n`````\n![x](http://evil.example/x.png)\n````````",
        "~~~\n<img src=x onerror=alert(1)>\n~~~",
        "",
    ],
)
def test_a_markdown_code_block_holds_any_text_whole(text: str) -> None:
    """No line of the text — a fence of backticks of any length, a tilde fence — closes the
    block early: the block's content is the text exactly."""
    from markdown_it import MarkdownIt

    from torinvest.safety import markdown_block_overhead, markdown_code_block

    block = markdown_code_block(text)
    tokens = MarkdownIt("commonmark").parse(block)
    assert [t.type for t in tokens] == ["fence"]
    assert tokens[0].content == text + "\n"
    assert len(block) == len(text) + markdown_block_overhead(text)
