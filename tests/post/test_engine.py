"""post_report as a whole: only complete reports, every destination on its own, every post
recorded in the folder and the ledger, and no secret anywhere it writes or says."""

from __future__ import annotations

import argparse
import base64
import io
import json
import logging
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, quote, quote_plus, urlsplit

import pytest

from tests.fake_aws.security import FakeSecurityServices
from tests.fake_tickets import FakeJira, FakeServiceNow
from tests.post.conftest import CASE_ID, SYS_ID, make_report, variables
from tests.tls import https_server
from torinvest.errors import EXIT_COULD_NOT_LOOK, EXIT_REFUSED, InputError
from torinvest.post import PostRefusedError, post_report
from torinvest.post import command as post_command
from torinvest.post.base import PostConfigError
from torinvest.post.env import Redactor, scrubbed_logs
from torinvest.post.record import PostsFile


def test_an_incomplete_report_is_refused_and_nothing_is_sent(
    jira: FakeJira, report_dir: Path, ledger: Path
) -> None:
    (report_dir / "manifest.json").unlink()  # a run stopped before its end
    with pytest.raises(
        PostRefusedError,
        match=r"is not a complete report \(no manifest: the run did not finish\): nothing posted",
    ):
        post_report(report_dir, ["jira:SEC-1"], env=variables(jira), ledger=ledger)
    assert jira.requests == []
    assert not (report_dir / "posts.json").exists()
    assert not ledger.exists() or "post" not in ledger.read_text()


def test_a_report_changed_after_its_run_is_refused(
    jira: FakeJira, report_dir: Path, ledger: Path
) -> None:
    (report_dir / "report.html").write_text("<html>edited by hand</html>")
    with pytest.raises(PostRefusedError, match=r"report\.html changed after the run"):
        post_report(report_dir, ["jira:SEC-1"], env=variables(jira), ledger=ledger)
    assert jira.requests == []


def test_one_failing_destination_does_not_stop_the_others(
    jira: FakeJira, servicenow: FakeServiceNow, security: FakeSecurityServices,
    report_dir: Path, ledger: Path,
) -> None:  # fmt: skip
    env = variables(jira, servicenow) | {"JIRA_API_TOKEN": "wrong-token-xyz"}
    result = post_report(
        report_dir,
        ["jira:SEC-1", f"servicenow:incident:{SYS_ID}", f"security-ir:{CASE_ID}", "securityhub"],
        env=env,
        ledger=ledger,
        backoff=0,
    )
    status = {o.destination: o.status for o in result.outcomes}
    assert status == {
        "jira:SEC-1": "failed",
        f"servicenow:incident:{SYS_ID}": "posted",
        f"security-ir:{CASE_ID}": "posted",
        "securityhub": "posted",
    }
    assert [o.destination for o in result.failed] == ["jira:SEC-1"]
    entries = [json.loads(x) for x in ledger.read_text().splitlines()]
    assert [(e["destination"], e["status"]) for e in entries] == [
        ("jira:SEC-1", "failed"),
        (f"servicenow:incident:{SYS_ID}", "complete"),
        (f"security-ir:{CASE_ID}", "complete"),
        ("securityhub", "complete"),
    ]
    assert entries[0]["error"].startswith("jira:SEC-1: look up issue SEC-1: authentication refused")
    assert all(e["kind"] == "post" and e["finding_id"] == result.finding_id for e in entries)
    files = entries[1]["files"]
    assert [f["name"] for f in files] == ["report.html", "summary.json"] and all(
        len(f["sha256"]) == 64 for f in files
    )
    sn = servicenow.records[("incident", SYS_ID)]
    assert {f["attachment_sys_id"] for f in entries[1]["remote"]["files"]} == {
        a["sys_id"] for a in sn["attachments"]
    }
    # the Security Hub note names the tickets that hold the report
    note = security.securityhub("us-east-1").findings[
        next(iter(security.securityhub("us-east-1").findings))
    ]["Note"]["Text"]
    assert note.endswith(f"Report: servicenow:incident:{SYS_ID}, security-ir:{CASE_ID}")

    # posting again: only the failed destination is tried, with the right token now
    fixed = post_report(
        report_dir,
        ["jira:SEC-1", f"servicenow:incident:{SYS_ID}", f"security-ir:{CASE_ID}"],
        env=variables(jira, servicenow),
        ledger=ledger,
        backoff=0,
    )
    assert [o.status for o in fixed.outcomes] == ["posted", "already-posted", "already-posted"]


def test_missing_variables_of_any_destination_refuse_the_whole_post(
    jira: FakeJira, servicenow: FakeServiceNow, report_dir: Path, ledger: Path
) -> None:
    env = variables(jira)  # no SERVICENOW_*
    with pytest.raises(PostConfigError) as e:
        post_report(
            report_dir, ["jira:SEC-1", f"servicenow:incident:{SYS_ID}"], env=env, ledger=ledger
        )
    assert "SERVICENOW_URL not set" in str(e.value)
    assert jira.requests == [] and servicenow.requests == []


def test_an_unwritable_ledger_is_refused_before_posting(
    jira: FakeJira, report_dir: Path, tmp_path: Path
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(InputError, match="cannot write the ledger"):
        post_report(
            report_dir, ["jira:SEC-1"], env=variables(jira), ledger=blocker / "ledger.jsonl"
        )
    assert jira.requests == []


def test_a_second_post_of_the_same_folder_waits_for_nothing(
    jira: FakeJira, report_dir: Path, ledger: Path
) -> None:
    posts = PostsFile(report_dir, "x")
    entered = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with posts.locked():
            entered.set()
            release.wait(10)

    t = threading.Thread(target=hold)
    t.start()
    entered.wait(10)
    try:
        with pytest.raises(PostRefusedError, match=r"another torinvest post of .* is running"):
            post_report(report_dir, ["jira:SEC-1"], env=variables(jira), ledger=ledger)
    finally:
        release.set()
        t.join()
    assert jira.calls("attach") == []


def test_a_damaged_posting_record_is_refused(
    jira: FakeJira, report_dir: Path, ledger: Path
) -> None:
    (report_dir / "posts.json").write_text('{"posts": [')
    with pytest.raises(PostRefusedError, match="cannot read the posting record"):
        post_report(report_dir, ["jira:SEC-1"], env=variables(jira), ledger=ledger)
    assert jira.calls("attach") == []


def test_secrets_are_absent_from_every_output_and_file(
    jira: FakeJira, servicenow: FakeServiceNow, security: FakeSecurityServices,
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """Every secret (and the base64 of each basic-auth pair, and the presigned URL's signature
    and session token) is searched in stdout, stderr, every log record at DEBUG (httpx,
    botocore included), and every file under tmp_path — after successes, failures and a retry."""
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "aws-secret-key-Jf72Kq")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "aws-session-token-Pw93Ld")
    folder = make_report(tmp_path / "report")
    env_file = tmp_path / "post.env"
    env_file.write_text(
        f"JIRA_URL={jira.url}\nJIRA_EMAIL={jira.email}\nJIRA_API_TOKEN='{jira.api_token}'\n"
        f'SERVICENOW_URL={servicenow.url}\nSERVICENOW_USER={servicenow.user}\nSERVICENOW_PASSWORD="{servicenow.password}"\n'
    )
    env_file.chmod(0o600)
    parser = argparse.ArgumentParser()
    post_command.add_arguments(parser)
    dests = [
        "--to",
        "jira:SEC-1",
        "--to",
        f"servicenow:incident:{SYS_ID}",
        "--to",
        f"security-ir:{CASE_ID}",
        "--to",
        "securityhub",
    ]
    caplog.set_level(logging.DEBUG)
    out, err = io.StringIO(), io.StringIO()
    jira.fail("attach", 503, times=1, body='{"errorMessages": ["busy"]}')
    servicenow.fail(
        "update_record", 401, body=json.dumps({"error": {"message": "User Not Authenticated"}})
    )
    args = parser.parse_args(
        [
            str(folder),
            *dests,
            "--env-file",
            str(env_file),
            "--ledger",
            str(tmp_path / "ledger.jsonl"),
        ]
    )
    monkeypatch.setattr("torinvest.post.http.DEFAULT_BACKOFF", 0)
    code = post_command.run(args, out, err)
    servicenow.clear_failures()
    code2 = post_command.run(args, out, err)

    assert (code, code2) == (0, 0)
    assert "posted to jira:SEC-1" in out.getvalue()
    assert "torinvest: issue: servicenow:incident:" in err.getvalue()
    assert security.puts, "the presigned uploads ran"
    secrets = {
        jira.api_token,
        servicenow.password,
        base64.b64encode(f"{jira.email}:{jira.api_token}".encode()).decode(),
        base64.b64encode(f"{servicenow.user}:{servicenow.password}".encode()).decode(),
        "aws-secret-key-Jf72Kq",
        "aws-session-token-Pw93Ld",
    }
    for url in security.upload_urls:
        query = parse_qs(urlsplit(url).query)
        secrets |= {query["X-Amz-Signature"][0], query["X-Amz-Security-Token"][0]}
    said = (
        out.getvalue()
        + err.getvalue()
        + "\n".join(f"{r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    )
    written = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file() and p != env_file}
    for secret in secrets:
        assert secret not in said, secret
        for path, data in written.items():
            assert secret.encode() not in data, (secret, path)


def test_a_session_cookie_the_service_sets_is_not_in_the_debug_log(
    servicenow: FakeServiceNow, report_dir: Path, ledger: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """ServiceNow answers basic auth with a session cookie (``JSESSIONID``,
    ``glide_session_store``): it acts as the account until it expires. With ``-v -v`` (DEBUG),
    httpcore logs every response's headers — the cookie was written to stderr (and the journal
    of a scheduled run) as it came."""
    session = "glide-session-Hk38Vd0Q"
    servicenow.fail(
        "get_record",
        404,
        times=1,
        body=json.dumps({"error": {"message": "No Record found"}}),
        headers={"Set-Cookie": f"JSESSIONID={session}; Path=/; HttpOnly; Secure"},
    )
    caplog.set_level(logging.DEBUG)
    (o,) = post_report(
        report_dir, [f"servicenow:incident:{SYS_ID}"], env=variables(servicenow=servicenow),
        ledger=ledger, backoff=0,
    ).outcomes  # fmt: skip
    assert o.status == "failed"
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "receive_response_headers" in logged  # httpcore's debug log ran
    assert "Set-Cookie" in logged and session not in logged


def test_secrets_are_redacted_from_messages_a_server_echoes(
    jira: FakeJira, report_dir: Path, ledger: Path
) -> None:
    echoed = json.dumps({"errorMessages": [f"bad token {jira.api_token}"], "errors": {}})
    jira.fail("get_issue", 400, body=echoed)
    (o,) = post_report(report_dir, ["jira:SEC-1"], env=variables(jira), ledger=ledger).outcomes
    assert jira.api_token not in o.line and "bad token [REDACTED]" in o.line
    assert jira.api_token not in ledger.read_text()
    assert jira.api_token not in (report_dir / "posts.json").read_text()


#: A secret with every character URL-encoding changes (``+ / = %`` and a space).
ODD_SECRET = "pw+7/Zq=x%41 end"


@pytest.mark.parametrize(
    "encode",
    [
        lambda s: quote(s, safe=""),
        lambda s: quote(s),
        lambda s: quote_plus(s),
        lambda s: re.sub(r"%[0-9A-F]{2}", lambda m: m.group().lower(), quote(s, safe="")),
    ],
    ids=["quote", "quote-path", "quote-plus", "lower-case-escapes"],
)
def test_a_secret_echoed_url_encoded_is_redacted_everywhere(
    encode, tmp_path: Path, ledger: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A server (or a proxy) that quotes the request's URL or form body in its error: the
    password appears URL-encoded, and is redacted in the line, posts.json, the ledger and the
    log (a logged exception too)."""
    folder = make_report(tmp_path / "f")
    encoded = encode(ODD_SECRET)
    assert encoded != ODD_SECRET and ODD_SECRET not in encoded
    caplog.set_level(logging.DEBUG)
    with FakeServiceNow(password=ODD_SECRET) as sn:
        echoed = json.dumps({"error": {"message": f"bad request ?password={encoded}&x=1"}})
        sn.fail("*", 400, body=echoed)
        env = variables(servicenow=sn)
        with scrubbed_logs(Redactor(env)):
            (o,) = post_report(
                folder, [f"servicenow:incident:{SYS_ID}"], env=env, ledger=ledger, backoff=0
            ).outcomes
            try:
                raise RuntimeError(f"wrapped: {encoded}")
            except RuntimeError:
                logging.getLogger("torinvest.test").exception("failed")
    assert o.status == "failed" and "?password=[REDACTED]&x=1" in o.line, o.line
    logged = "\n".join(f"{r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    assert "wrapped: [REDACTED]" in logged
    for text in (o.line, ledger.read_text(), (folder / "posts.json").read_text(), logged):
        assert encoded not in text


@pytest.mark.parametrize(
    ("sn", "user", "secret"),
    [(False, "JIRA_EMAIL", "JIRA_API_TOKEN"), (True, "SERVICENOW_USER", "SERVICENOW_PASSWORD")],
    ids=["jira", "servicenow"],
)
def test_the_basic_auth_sent_is_redacted_when_the_values_were_padded(
    sn: bool, user: str, secret: str, tmp_path: Path, ledger: Path
) -> None:
    """An env file with quoted, space-padded values: the destinations strip them before use,
    so the Authorization header sent is the base64 of the stripped pair — a server echoing it
    finds it redacted in the line, posts.json and the ledger."""
    folder = make_report(tmp_path / "f")
    with FakeServiceNow() if sn else FakeJira() as fake:
        env = variables(None, fake) if sn else variables(fake)  # type: ignore[arg-type]
        sent = base64.b64encode(f"{env[user]}:{env[secret]}".encode()).decode()
        env |= {user: f" {env[user]} ", secret: f"{env[secret]} "}
        echoed = json.dumps({"error": {"message": f"rejected credentials {sent}"}})
        fake.fail("*", 400, body=echoed)
        dest = f"servicenow:incident:{SYS_ID}" if sn else "jira:SEC-1"
        (o,) = post_report(folder, [dest], env=env, ledger=ledger, backoff=0).outcomes
        assert fake.requests[0].headers["authorization"] == f"Basic {sent}"
    assert o.status == "failed" and "rejected credentials [REDACTED]" in o.line, o.line
    for path in (ledger, folder / "posts.json"):
        assert sent not in path.read_text()


def test_redirects_are_not_followed(jira: FakeJira, report_dir: Path, ledger: Path) -> None:
    jira.fail("get_issue", 302, body="", headers={"Location": "http://127.0.0.1:9/steal"})
    (o,) = post_report(report_dir, ["jira:SEC-1"], env=variables(jira), ledger=ledger).outcomes
    assert o.status == "failed", o.line
    assert "redirected (HTTP 302) to http://127.0.0.1:9/steal; not followed" in o.line
    assert o.error is not None and "set JIRA_URL to it" in str(o.error.hint)
    assert [r.operation for r in jira.requests] == ["get_issue"]


_SSO = [
    ("https://login.microsoftonline.com/tenant/saml2?SAMLRequest=fZJdT8Iw&RelayState=tok3n", ""),
    ("https://idp.example.com/app/sso/saml?token=s3cr3t-T0ken#frag", ""),
    ("/login.do?sysparm_goto_url=%2Fapi&glide_sso_id=s3cr3t-T0ken", "{url}/login.do"),
    ("https://user:pa55word@sso.example.com/signin?x=1", "https://sso.example.com/signin"),
]


@pytest.mark.parametrize("kind", ["jira", "servicenow"])
@pytest.mark.parametrize(
    ("location", "shown"), _SSO, ids=["azure-saml", "idp", "relative", "userinfo"]
)
def test_a_redirect_to_a_sign_in_page_names_where_and_what_it_means(
    jira: FakeJira,
    servicenow: FakeServiceNow,
    report_dir: Path,
    ledger: Path,
    kind: str,
    location: str,
    shown: str,
) -> None:
    """Single sign-on in front of the site answers a 302 to its sign-in page. Was: "refused
    (HTTP 302)", nothing more. Now the line names where it leads (scheme, host, path — never the
    query or fragment, which may hold a token or a SAML request, never a user:password) and what
    it means; exit status: refused (a human must fix the address or the credentials)."""
    fake = jira if kind == "jira" else servicenow
    fake.fail(
        "*",
        302,
        body="<html>moved</html>",
        content_type="text/html",
        headers={"Location": location},
    )
    dest = "jira:SEC-1" if kind == "jira" else f"servicenow:incident:{SYS_ID}"
    (o,) = post_report(report_dir, [dest], env=variables(jira, servicenow), ledger=ledger).outcomes

    target = (shown or location.split("?")[0].split("#")[0]).format(url=fake.url)
    assert o.status == "failed" and o.error is not None and o.error.exit_status == EXIT_REFUSED, (
        o.line
    )
    assert f"redirected (HTTP 302) to {target}, a sign-in page: single sign-on" in o.line, o.line
    assert "the credentials are not used by the API" in o.line
    variable = "JIRA_URL" if kind == "jira" else "SERVICENOW_URL"
    assert variable in str(o.error.hint) and "not behind the sign-in" in str(o.error.hint)
    said = o.line + str(o.error.hint) + (report_dir / "posts.json").read_text()
    for secret in ("SAMLRequest", "tok3n", "s3cr3t-T0ken", "pa55word", "frag", "sysparm_goto"):
        assert secret not in said
    assert len(fake.requests) == 1  # not followed, not retried


def test_a_post_while_a_run_holds_the_report_folder_is_refused(
    jira: FakeJira, report_dir: Path, ledger: Path
) -> None:
    """An investigation writing the folder (it holds its lock): the post would read a report
    being replaced. Refused before anything is sent."""
    from torinvest.report.folders import hold

    held, done = threading.Event(), threading.Event()

    def investigation() -> None:
        with hold(report_dir):
            held.set()
            done.wait(30)

    t = threading.Thread(target=investigation)
    t.start()
    try:
        assert held.wait(30)
        with pytest.raises(
            PostRefusedError, match="another torinvest run is writing the report folder"
        ):
            post_report(report_dir, ["jira:SEC-1"], env=variables(jira), ledger=ledger)
    finally:
        done.set()
        t.join()
    assert jira.requests == []
    (o,) = post_report(report_dir, ["jira:SEC-1"], env=variables(jira), ledger=ledger).outcomes
    assert o.status == "posted"


def test_investigate_posts_while_it_still_holds_the_folder_it_wrote(
    jira: FakeJira, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``investigate ID --post DEST``: from the run to the last file posted, no other run can
    take the report folder (before, the run's lock was released, then the folder posted)."""
    import types

    from torinvest import report
    from torinvest.cli import main
    from torinvest.post import engine
    from torinvest.report.folders import FolderBusyError, hold

    folder = tmp_path / "out"
    folder.mkdir()

    def run_report(finding_id: str, out: object, options: object, **_: object) -> object:
        with hold(folder):  # as the real one: the folder locked for the run
            make_report(folder)
        data = json.loads((folder / "summary.json").read_text())
        return types.SimpleNamespace(
            summary_data=data,
            warnings=[],
            notebook=folder / "report.ipynb",
            summary=folder / "summary.json",
            html=folder / "report.html",
        )

    monkeypatch.setattr(report, "check_run", lambda *a, **k: (folder, None))
    monkeypatch.setattr(report, "run_report", run_report)
    seen: list[str] = []
    real = engine._post_one

    def post_one(*a: object, **k: object):  # type: ignore[no-untyped-def]
        def another_run() -> None:
            try:
                with hold(folder):
                    seen.append("free")
            except FolderBusyError:
                seen.append("held")

        t = threading.Thread(target=another_run)
        t.start()
        t.join()
        return real(*a, **k)  # type: ignore[arg-type]

    monkeypatch.setattr(engine, "_post_one", post_one)
    env = tmp_path / "post.env"
    env.write_text("".join(f"{k}={v}\n" for k, v in variables(jira).items()))
    env.chmod(0o600)
    out, err = io.StringIO(), io.StringIO()
    code = main(
        [
            "investigate",
            "6dde0a8f8d46f6acad893b30f905e97c",
            "--out",
            str(folder),
            "--post",
            "jira:SEC-1",
            "--env-file",
            str(env),
            "--ledger",
            str(tmp_path / "l.jsonl"),
        ],
        out=out,
        err=err,
    )
    assert code == 0, err.getvalue()
    assert "posted to jira:SEC-1" in out.getvalue()
    assert seen == ["held"]


@pytest.fixture
def untrusted_tls(tmp_path: Path) -> Iterator[str]:
    """An https server on loopback whose certificate (self-signed) no CA vouches for — a
    TLS-inspecting proxy's, as a client without the organisation's CA bundle sees it."""
    with https_server(tmp_path, "inspecting-proxy") as (url, _):
        yield url


@pytest.mark.parametrize("kind", ["jira", "servicenow"])
def test_an_untrusted_tls_certificate_is_said_and_not_retried(
    jira: FakeJira,
    servicenow: FakeServiceNow,
    report_dir: Path,
    ledger: Path,
    untrusted_tls: str,
    kind: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A certificate the client does not trust (a TLS-inspecting proxy without its CA bundle
    set, an expired or self-signed one) is no passing outage. Was: retried 4 times, then "could
    not reach …: ConnectError: [SSL: CERTIFICATE_VERIFY_FAILED] …" with a hint about proxies.
    Now: one attempt, naming the certificate's trouble and the variables that fix it (exit 3,
    as an AWS endpoint whose certificate is not trusted)."""
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    env = variables(jira, servicenow) | {"JIRA_URL": untrusted_tls, "SERVICENOW_URL": untrusted_tls}
    dest = "jira:SEC-1" if kind == "jira" else f"servicenow:incident:{SYS_ID}"
    slept: list[float] = []

    (o,) = post_report(
        report_dir, [dest], env=env, ledger=ledger, backoff=1, sleep=slept.append
    ).outcomes

    assert o.status == "failed" and o.error is not None, o.line
    assert o.error.exit_status == EXIT_COULD_NOT_LOOK, o.line
    assert (
        f"the TLS certificate of {untrusted_tls.removeprefix('https://')} is not trusted ("
        in o.line
    )
    assert "self-signed certificate" in o.line and "not retried" in o.line
    assert "SSL_CERT_FILE" in str(o.error.hint)
    assert slept == []  # one attempt


@pytest.fixture
def refusing_proxy() -> Iterator[tuple[str, list[int]]]:
    """A proxy that answers every CONNECT with the status in the list (407 first)."""
    import socketserver

    status = [407]

    class Handler(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            while self.rfile.readline().strip():  # the CONNECT line and its headers
                pass
            reason = {407: "Proxy Authentication Required", 403: "Forbidden"}.get(
                status[0], "Bad Gateway"
            )
            self.wfile.write(
                f"HTTP/1.1 {status[0]} {reason}\r\nProxy-Authenticate: Basic realm=corp\r\n"
                "Content-Length: 0\r\nConnection: close\r\n\r\n".encode()
            )

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    ).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", status
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    ("status", "said"),
    [
        (407, "(407 Proxy Authentication Required): it asks for credentials"),
        (403, "(403 Forbidden): its policy does not allow the site"),
        (502, "(502 Bad Gateway)"),
    ],
)
def test_a_proxy_that_refuses_the_tunnel_is_said_as_the_proxy(
    jira: FakeJira,
    report_dir: Path,
    ledger: Path,
    refusing_proxy: tuple[str, list[int]],
    monkeypatch: pytest.MonkeyPatch,
    status: int,
    said: str,
) -> None:
    """The environment's proxy refuses the tunnel. Was: "the request failed: ProxyError: 407
    …", hint "check the address and the network". Now the proxy is named as the one that
    refused, and for 407 and 403 what to set (its credentials, NO_PROXY)."""
    proxy, answer = refusing_proxy
    answer[0] = status
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", proxy)
    env = variables(jira) | {"JIRA_URL": "https://127.0.0.1:9"}

    (o,) = post_report(report_dir, ["jira:SEC-1"], env=env, ledger=ledger, backoff=0).outcomes

    assert o.status == "failed" and o.error is not None, o.line
    assert f"look up issue SEC-1: the proxy refused to connect to 127.0.0.1:9 {said}" in o.line
    assert o.error.exit_status == EXIT_COULD_NOT_LOOK
    assert "HTTPS_PROXY" in str(o.error.hint) or "NO_PROXY" in str(o.error.hint)
