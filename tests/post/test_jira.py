"""Posting to Jira Cloud and Data Center: the requests follow Atlassian's contract, a post is
made once, a changed report is a new version, and each HTTP failure is one line."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import orjson
import pytest

from tests.fake_tickets import HTML_SIGN_IN, FakeJira
from tests.post.conftest import (
    FINDING_ID,
    UNKNOWN_TOR_LINE,
    could_not_look_summary,
    incomplete_quiet_summary,
    make_report,
    summary_data,
    unknown_tor_summary,
    variables,
)
from torinvest.post import post_report
from torinvest.post.base import PostConfigError


def post(report: Path, dests: list[str], env: dict[str, str], ledger: Path, **kw):  # type: ignore[no-untyped-def]
    kw.setdefault("backoff", 0)
    return post_report(report, dests, env=env, ledger=ledger, **kw)


def test_cloud_post_attaches_the_report_and_comments_the_answer(
    jira: FakeJira, report_dir: Path, ledger: Path
) -> None:
    result = post(report_dir, ["jira:sec-1"], variables(jira), ledger)

    assert [o.status for o in result.outcomes] == ["posted"]
    assert jira.violations == []
    issue = jira.issues["SEC-1"]
    names = [a["filename"] for a in issue["attachments"]]
    assert names == [
        f"torinvest-{FINDING_ID}-report-{_sha8(report_dir / 'report.html')}.html",
        f"torinvest-{FINDING_ID}-summary-{_sha8(report_dir / 'summary.json')}.json",
    ]
    assert issue["attachments"][0]["data"] == (report_dir / "report.html").read_bytes()
    # the requests: Cloud is REST API 3 with basic auth; attachments multipart "file" + no-check
    attach = jira.calls("attach")
    assert len(attach) == 2
    for r in attach:
        assert r.path == "/rest/api/3/issue/SEC-1/attachments"
        assert r.headers["x-atlassian-token"] == "no-check"
        assert r.headers["content-type"].startswith("multipart/form-data; boundary=")
        assert [p.name for p in r.parts] == ["file"]
        token = base64.b64encode(f"{jira.email}:{jira.api_token}".encode()).decode()
        assert r.headers["authorization"] == f"Basic {token}"
    (comment,) = issue["comments"]
    block = comment["body"]["content"][0]
    assert comment["body"]["type"] == "doc" and block["type"] == "codeBlock"
    text = block["content"][0]["text"]
    assert "Key: AKIATFQR7NSCUXC3DDDP (long-term) of benjamin (IAMUser)" in text
    assert "Tor: 24 of 69 call(s) from Tor exits" in text
    assert "Verdict: pending" in text
    assert names[0] in text
    # the lookup came first: nothing is attached to an issue that is not there
    assert [r.operation for r in jira.requests] == ["get_issue", "attach", "attach", "comment"]


def test_the_comment_counts_calls_of_unknown_tor_status(
    jira: FakeJira, tmp_path: Path, ledger: Path
) -> None:
    folder = make_report(tmp_path / "f", summary=unknown_tor_summary())
    (o,) = post(folder, ["jira:SEC-1"], variables(jira), ledger).outcomes
    assert o.status == "posted", o.line
    (comment,) = jira.issues["SEC-1"]["comments"]
    assert UNKNOWN_TOR_LINE in comment["body"]["content"][0]["content"][0]["text"]


def test_two_posts_make_one_set_of_remote_objects(
    jira: FakeJira, report_dir: Path, ledger: Path
) -> None:
    env = variables(jira)
    first = post(report_dir, ["jira:SEC-1"], env, ledger)
    before = len(jira.requests)
    second = post(report_dir, ["jira:SEC-1"], env, ledger)

    assert first.outcomes[0].status == "posted"
    assert second.outcomes[0].status == "already-posted"
    assert "nothing to do" in second.outcomes[0].line
    assert len(jira.requests) == before  # not even a lookup
    issue = jira.issues["SEC-1"]
    assert (len(issue["attachments"]), len(issue["comments"])) == (2, 1)
    record = orjson.loads((report_dir / "posts.json").read_bytes())
    assert [p["status"] for p in record["posts"]] == ["complete"]
    posts = [json.loads(x) for x in ledger.read_text().splitlines()]
    assert [(p["kind"], p["destination"], p["status"]) for p in posts] == [
        ("post", "jira:SEC-1", "complete")
    ]
    assert {f["attachment_id"] for f in posts[0]["remote"]["files"]} == {
        a["id"] for a in issue["attachments"]
    }
    assert posts[0]["remote"]["note"]["comment_id"] == issue["comments"][0]["id"]


def test_force_posts_again(jira: FakeJira, report_dir: Path, ledger: Path) -> None:
    env = variables(jira)
    post(report_dir, ["jira:SEC-1"], env, ledger)
    again = post(report_dir, ["jira:SEC-1"], env, ledger, force=True)
    assert again.outcomes[0].status == "posted"
    issue = jira.issues["SEC-1"]
    assert (len(issue["attachments"]), len(issue["comments"])) == (4, 2)


def test_a_changed_report_posts_a_new_version_with_only_what_changed(
    jira: FakeJira, tmp_path: Path, ledger: Path
) -> None:
    env = variables(jira)
    folder = make_report(tmp_path / "f")
    post(folder, ["jira:SEC-1"], env, ledger)
    changed = summary_data()
    changed["verdict"] = {
        "status": "malicious",
        "analyst": "ana",
        "rationale": "persistence from Tor",
        "recorded_at": "2023-07-11T09:00:00Z",
    }
    make_report(folder, summary=changed)  # the same report.html, a new summary.json
    result = post(folder, ["jira:SEC-1"], env, ledger)

    assert result.outcomes[0].status == "posted"
    issue = jira.issues["SEC-1"]
    assert len(issue["attachments"]) == 3  # the new summary only: report.html was there
    assert issue["attachments"][-1]["filename"].startswith(f"torinvest-{FINDING_ID}-summary-")
    assert len(issue["comments"]) == 2
    assert (
        "Verdict: malicious by ana"
        in issue["comments"][1]["body"]["content"][0]["content"][0]["text"]
    )
    assert "1 unchanged file(s) already there" in result.outcomes[0].line
    versions = orjson.loads((folder / "posts.json").read_bytes())["posts"]
    assert len({p["version"] for p in versions}) == 2


def test_data_center_uses_api_2_a_bearer_pat_and_noformat(
    jira_dc: FakeJira, report_dir: Path, ledger: Path
) -> None:
    result = post(report_dir, ["jira:SEC-1"], variables(jira_dc), ledger)

    assert result.outcomes[0].status == "posted", result.outcomes[0].line
    assert jira_dc.violations == []
    assert all(r.path.startswith("/rest/api/2/") for r in jira_dc.requests)
    assert all(r.headers["authorization"] == f"Bearer {jira_dc.pat}" for r in jira_dc.requests)
    body = jira_dc.issues["SEC-1"]["comments"][0]["body"]
    assert body.startswith("{noformat}\n") and body.endswith("\n{noformat}")


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (401, "authentication refused (HTTP 401)"),
        (403, "not allowed (HTTP 403)"),
        (404, "not found (HTTP 404)"),
    ],
)
def test_refusals_are_one_line_naming_the_destination(
    jira: FakeJira, report_dir: Path, ledger: Path, status: int, expected: str
) -> None:
    jira.fail("get_issue", status, body=json.dumps({"errorMessages": ["nope"], "errors": {}}))
    result = post(report_dir, ["jira:SEC-1"], variables(jira), ledger)

    (o,) = result.outcomes
    assert o.status == "failed"
    assert o.line.startswith("jira:SEC-1: look up issue SEC-1: ") and expected in o.line
    assert "\n" not in o.line and ": nope" in o.line
    assert o.error is not None and o.error.hint
    assert jira.issues["SEC-1"]["attachments"] == []


def test_wrong_credentials_name_the_variables(
    jira: FakeJira, report_dir: Path, ledger: Path
) -> None:
    env = variables(jira) | {"JIRA_API_TOKEN": "not-the-token"}
    (o,) = post(report_dir, ["jira:SEC-1"], env, ledger).outcomes
    assert "HTTP 401" in o.line
    assert o.error is not None and "JIRA_EMAIL and JIRA_API_TOKEN" in str(o.error.hint)


def test_an_unknown_issue_is_not_found(jira: FakeJira, report_dir: Path, ledger: Path) -> None:
    (o,) = post(report_dir, ["jira:SEC-999"], variables(jira), ledger).outcomes
    assert o.status == "failed"
    assert "not found (HTTP 404): Issue does not exist" in o.line


def test_413_names_the_file_and_its_size_and_the_post_resumes(
    jira: FakeJira, tmp_path: Path, ledger: Path
) -> None:
    folder = make_report(tmp_path / "f", html="<html>" + "x" * 30_000 + "</html>")
    jira.max_attachment_bytes = 20_000
    env = variables(jira)
    (o,) = post(folder, ["jira:SEC-1"], env, ledger).outcomes
    assert o.status == "failed"
    assert "attach report.html to SEC-1: too large for the server (0.0 MB) (HTTP 413)" in o.line
    assert o.error is not None and "attachment size limit" in str(o.error.hint)

    jira.max_attachment_bytes = 10 * 1024 * 1024  # the admin raised it
    (again,) = post(folder, ["jira:SEC-1"], env, ledger).outcomes
    assert again.status == "posted"
    issue = jira.issues["SEC-1"]
    assert (len(issue["attachments"]), len(issue["comments"])) == (2, 1)


def test_5xx_is_retried_with_backoff_then_posted(
    jira: FakeJira, report_dir: Path, ledger: Path
) -> None:
    waits: list[float] = []
    jira.fail("attach", 503, times=2, body="")
    (o,) = post(
        report_dir, ["jira:SEC-1"], variables(jira), ledger, backoff=0.5, sleep=waits.append
    ).outcomes
    assert o.status == "posted"
    assert waits == [0.5, 1.0]
    assert len(jira.calls("attach", status=503)) == 2
    assert len(jira.issues["SEC-1"]["attachments"]) == 2


def test_5xx_that_persists_fails_after_bounded_attempts_and_resumes_later(
    jira: FakeJira, report_dir: Path, ledger: Path
) -> None:
    jira.fail(
        "comment", 502, body="<html><body>Bad gateway</body></html>", content_type="text/html"
    )
    env = variables(jira)
    (o,) = post(report_dir, ["jira:SEC-1"], env, ledger, attempts=3).outcomes
    assert o.status == "partial"
    assert "comment on SEC-1: the server failed (HTTP 502) after 3 attempts: an HTML page" in o.line
    assert "posting again resumes" in o.line
    assert len(jira.calls("comment")) == 3

    jira.clear_failures()
    (again,) = post(report_dir, ["jira:SEC-1"], env, ledger).outcomes
    assert again.status == "posted"
    issue = jira.issues["SEC-1"]
    assert (len(issue["attachments"]), len(issue["comments"])) == (2, 1)  # nothing twice
    assert "no file attached, 2 unchanged file(s) already there" in again.line


def test_a_sign_in_page_answered_with_200_is_a_failure(
    jira: FakeJira, report_dir: Path, ledger: Path
) -> None:
    jira.fail("*", 200, body=HTML_SIGN_IN, content_type="text/html")
    (o,) = post(report_dir, ["jira:SEC-1"], variables(jira), ledger).outcomes
    assert o.status == "failed"
    assert "HTTP 200 with an HTML page (text/html), not the service's answer" in o.line


def test_a_sign_in_page_answered_to_a_step_whose_answer_is_not_read_is_a_failure(
    jira: FakeJira, report_dir: Path, ledger: Path
) -> None:
    """Editing an issue answers 204 (no body): the step does not read the answer — a proxy's
    sign-in page answered with 200 to it was recorded as "description updated" and the post
    as posted. An HTML page is no API's answer, whichever step gets it."""
    jira.fail("edit_issue", 200, body=HTML_SIGN_IN, content_type="text/html")
    (o,) = post(report_dir, ["jira-new:SEC"], variables(jira), ledger).outcomes
    assert o.status == "partial", o.line
    assert "update the description of SEC-100: HTTP 200 with an HTML page (text/html)" in o.line
    assert o.error is not None and o.error.exit_status == 3
    posts = json.loads((report_dir / "posts.json").read_text())["posts"]
    assert [s["step"] for s in posts[0]["steps"]] == ["prepare", "upload", "upload"]

    jira.clear_failures()
    (again,) = post(report_dir, ["jira-new:SEC"], variables(jira), ledger).outcomes
    assert again.status == "posted", again.line
    assert [r.status for r in jira.calls("edit_issue")] == [200, 204]  # the edit made now
    assert jira.violations == []


def test_a_json_answer_quoting_html_is_not_taken_for_a_sign_in_page(
    jira: FakeJira, tmp_path: Path, ledger: Path
) -> None:
    """Jira answers a comment with the comment: report text (attacker-written) quoting
    ``<html>`` is in that JSON — a success, not a proxy's page (a failure there would send
    the comment again next time)."""
    data = summary_data()
    data["key"]["user_name"] = "<!DOCTYPE html><html>evil</html>"
    folder = make_report(tmp_path / "f", summary=data)
    (o,) = post(folder, ["jira:SEC-1"], variables(jira), ledger).outcomes
    assert o.status == "posted", o.line
    assert b"<html>evil" in jira.calls("comment")[0].body
    assert len(jira.issues["SEC-1"]["comments"]) == 1


def test_retry_after_is_honoured_and_one_longer_than_a_post_waits_is_not_cut_short(
    jira: FakeJira, report_dir: Path, ledger: Path
) -> None:
    """429 with ``Retry-After: 7``: waited 7 s, then retried. ``Retry-After: 3600`` was cut to
    60 s and retried three times (each refused again, three minutes spent): now not retried,
    and the line says how long the server asked and when to post again (exit 3)."""
    waits: list[float] = []
    busy = '{"errorMessages": ["Rate limit exceeded."]}'
    jira.fail("comment", 429, times=1, body=busy, headers={"Retry-After": "7"})
    (o,) = post(report_dir, ["jira:SEC-1"], variables(jira), ledger, sleep=waits.append).outcomes
    assert o.status == "posted", o.line
    assert waits == [7.0] and [r.status for r in jira.calls("comment")] == [429, 201]

    waits.clear()
    jira.fail("comment", 429, body=busy, headers={"Retry-After": "3600"})
    (o,) = post(
        report_dir, ["jira:SEC-1"], variables(jira), ledger, sleep=waits.append, force=True
    ).outcomes
    assert o.status == "partial" and o.error is not None and o.error.exit_status == 3
    assert "rate limited (HTTP 429): Rate limit exceeded." in o.line
    assert "the server asks to wait 3600 s (Retry-After), longer than the 60 s a post" in o.line
    assert "post again after " in (o.error.hint or "")
    assert waits == [] and [r.status for r in jira.calls("comment")] == [429, 201, 429]
    assert len(jira.issues["SEC-1"]["comments"]) == 1


def test_missing_credentials_refuse_before_any_request(
    jira: FakeJira, report_dir: Path, ledger: Path
) -> None:
    env = {"JIRA_URL": jira.url, "JIRA_EMAIL": jira.email}
    with pytest.raises(PostConfigError, match=r"jira:SEC-1: JIRA_API_TOKEN not set"):
        post(report_dir, ["jira:SEC-1"], env, ledger)
    assert jira.requests == []
    assert not (report_dir / "posts.json").exists()


def _sha8(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()[:8]


@pytest.mark.parametrize("cloud", [True, False], ids=["cloud", "data-center"])
def test_a_ticket_never_counts_what_could_not_be_read(
    cloud: bool, tmp_path: Path, ledger: Path
) -> None:
    """A report that could read no activity: the comment says "not known" for the Tor calls,
    the sensitive calls, the derived keys and the score — never "0 of 0", "no sensitive call"
    or "0/100"; one that read part says "in what was read"."""
    with FakeJira(cloud=cloud) as jira:
        jira.add_issue("SEC-1")
        blind = make_report(tmp_path / "blind", summary=could_not_look_summary())
        part = make_report(tmp_path / "part", summary=incomplete_quiet_summary())
        for folder in (blind, part):
            (o,) = post(folder, ["jira:SEC-1"], variables(jira), ledger).outcomes
            assert o.status == "posted", o.line
        texts = [_comment_text(c["body"]) for c in jira.issues["SEC-1"]["comments"]]
    blind_text, part_text = texts
    assert "Reading: COULD NOT LOOK" in blind_text
    for said in ("Tor: not known", "What mattered: not known", "Derived keys: not known"):
        assert said in blind_text
    assert "Score: not scored" in blind_text
    for wrong in ("0 of 0", "no sensitive call", "0/100", "0 failed"):
        assert wrong not in blind_text
    assert "What mattered: no sensitive call in what was read" in part_text
    assert "Derived keys: none found — the search was partial" in part_text
    assert "Score: at least 5/100" in part_text


def _comment_text(body: object) -> str:
    """The answer in a comment body: an ADF code block (Cloud) or a {noformat} string (DC)."""
    if isinstance(body, dict):
        return str(body["content"][0]["content"][0]["text"])
    return str(body)


@pytest.mark.parametrize(
    "body",
    ['{"issues": null}', '{"issues": {"SEC-9": {}}}', '{"issues": ["SEC-9"]}'],
    ids=["null", "object", "strings"],
)
def test_a_label_search_answer_that_cannot_be_read_makes_no_second_issue(
    jira: FakeJira, report_dir: Path, ledger: Path, body: str
) -> None:
    """The finding's issue is looked for by its label before one is made: an answer whose
    ``issues`` is not a list of issues is a failure, not "none found" (a duplicate issue)."""
    jira.fail("search", 200, body=body, times=1)
    (o,) = post(report_dir, ["jira-new:SEC"], variables(jira), ledger).outcomes
    assert o.status == "failed" and "not a list of issues" in o.line, o.line
    assert [r.operation for r in jira.requests] == ["search"]
    (o,) = post(report_dir, ["jira-new:SEC"], variables(jira), ledger).outcomes
    assert o.status == "posted", o.line
    assert len([k for k in jira.issues if k != "SEC-1"]) == 1
