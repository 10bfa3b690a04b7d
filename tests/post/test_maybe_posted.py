"""A request that makes something (a comment, a work note, an attachment, an issue) and fails in
a way that may come after the server did it (5xx, the connection dropped unanswered) is sent
again only when the earlier attempt is not there: the ticket never gets it twice. The fakes
make the comment (checked against the contract as usual) and then answer 5xx or close the
connection."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fake_tickets import FakeJira, FakeServiceNow
from tests.post.conftest import SYS_ID, make_report, variables
from torinvest.post import post_report


def post(report: Path, dests: list[str], env: dict[str, str], ledger: Path, **kw):  # type: ignore[no-untyped-def]
    return post_report(report, dests, env=env, ledger=ledger, backoff=0, **kw)


@pytest.mark.parametrize(
    "failure",
    [
        {"status": 503, "after": True},
        {"status": 502, "after": True, "body": "<html>Bad gateway</html>"},
        {"status": 0, "drop": True},
    ],
    ids=["made-then-503", "made-then-proxy-502", "made-then-connection-closed"],
)
def test_a_jira_comment_made_then_failed_is_found_not_made_twice(
    jira: FakeJira, report_dir: Path, ledger: Path, failure: dict
) -> None:
    jira.fail("comment", times=1, **failure)
    (o,) = post(report_dir, ["jira:SEC-1"], variables(jira), ledger).outcomes

    assert o.status == "posted", o.line
    (comment,) = jira.issues["SEC-1"]["comments"]
    assert o.remote["note"]["comment_id"] == comment["id"]
    assert len(jira.calls("comment")) == 1  # looked for, not sent again
    assert len(jira.calls("list_comments")) == 1
    assert jira.violations == []


def test_a_jira_comment_that_failed_before_being_made_is_sent_again(
    jira: FakeJira, report_dir: Path, ledger: Path
) -> None:
    jira.fail("comment", 503, times=1)  # refused: nothing made
    (o,) = post(report_dir, ["jira:SEC-1"], variables(jira), ledger).outcomes

    assert o.status == "posted", o.line
    assert len(jira.issues["SEC-1"]["comments"]) == 1
    assert [r.status for r in jira.calls("comment")] == [503, 201]
    assert jira.violations == []


def test_the_comment_carries_the_marker_it_is_found_by(
    jira_dc: FakeJira, report_dir: Path, ledger: Path
) -> None:
    jira_dc.fail("comment", 504, times=1, after=True)
    (o,) = post(report_dir, ["jira:SEC-1"], variables(jira_dc), ledger).outcomes

    assert o.status == "posted", o.line
    (comment,) = jira_dc.issues["SEC-1"]["comments"]
    last = comment["body"].rstrip().splitlines()[-2]  # Data Center: inside {noformat}
    assert last.startswith("torinvest-post: ") and len(last) == len("torinvest-post: ") + 20
    assert jira_dc.violations == []


def test_an_attachment_made_then_failed_is_not_attached_twice(
    jira: FakeJira, report_dir: Path, ledger: Path
) -> None:
    jira.fail("attach", 503, times=1, after=True)
    (o,) = post(report_dir, ["jira:SEC-1"], variables(jira), ledger).outcomes

    assert o.status == "posted", o.line
    names = [a["filename"] for a in jira.issues["SEC-1"]["attachments"]]
    assert len(names) == 2 and len(set(names)) == 2
    assert jira.violations == []


def test_a_jira_new_issue_made_then_failed_is_found_by_its_label(
    jira: FakeJira, report_dir: Path, ledger: Path
) -> None:
    jira.fail("create_issue", 0, times=1, drop=True)
    (o,) = post(report_dir, ["jira-new:SEC"], variables(jira), ledger).outcomes

    assert o.status == "posted", o.line
    assert len([k for k in jira.issues if k != "SEC-1"]) == 1
    assert len(jira.calls("create_issue")) == 1
    assert jira.violations == []


@pytest.mark.parametrize(
    "failure",
    [{"status": 504, "after": True}, {"status": 0, "drop": True}],
    ids=["made-then-proxy-504", "made-then-connection-closed"],
)
def test_a_jira_cloud_issue_the_lagging_search_does_not_show_yet_is_not_made_twice(
    jira: FakeJira, report_dir: Path, ledger: Path, failure: dict
) -> None:
    """Jira Cloud's search/jql is eventually consistent: an issue made seconds ago may not be
    found by its label. The create's answer lost, a search that finds nothing then is not "not
    there" (was: the create sent again, a second issue for the finding): "may have been posted"
    (exit 6), and a later post looks again — once the search shows it, it is used, not made
    again."""
    jira.search_lag = True
    jira.fail("create_issue", times=1, **failure)
    (o,) = post(report_dir, ["jira-new:SEC"], variables(jira), ledger).outcomes

    made = [k for k in jira.issues if k != "SEC-1"]
    assert len(made) == 1 and len(jira.calls("create_issue")) == 1, made
    assert o.status == "failed" and o.error is not None
    assert o.error.exit_status == 6
    assert "it may have been posted: check SEC for an issue labelled" in o.line
    assert "Jira Cloud's search can take minutes" in o.line
    (entry,) = _posts(report_dir)
    assert entry["maybe_posted"] == {"step": "prepare"} and entry["maybe_posted_at"]

    # a post run again at once: the search still lags — still not made again
    (again,) = post(report_dir, ["jira-new:SEC"], variables(jira), ledger).outcomes
    assert again.status == "failed" and "it may have been posted" in again.line
    assert len(jira.calls("create_issue")) == 1
    assert _posts(report_dir)[0]["maybe_posted_at"] == entry["maybe_posted_at"]

    jira.index()  # the search caught up
    (done,) = post(report_dir, ["jira-new:SEC"], variables(jira), ledger).outcomes
    assert done.status == "posted", done.line
    assert [k for k in jira.issues if k != "SEC-1"] == made
    assert len(jira.calls("create_issue")) == 1
    assert done.remote["prepare"]["issue"] == made[0]
    assert jira.violations == []


def test_a_jira_cloud_issue_still_not_found_once_the_search_had_time_is_made(
    jira: FakeJira, report_dir: Path, ledger: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lag bounded: an unsure create whose issue the search does not show long after it
    was sent was not made; the post that looks then makes it (once)."""
    jira.fail("create_issue", 504, times=1)  # refused by a proxy before Jira made anything
    jira.search_lag = True
    (o,) = post(report_dir, ["jira-new:SEC"], variables(jira), ledger).outcomes
    assert "it may have been posted" in o.line and not [k for k in jira.issues if k != "SEC-1"]
    path = report_dir / "posts.json"
    doc = json.loads(path.read_text())
    doc["posts"][0]["maybe_posted_at"] = "2020-01-01T00:00:00.000Z"  # long ago
    path.write_text(json.dumps(doc))

    (again,) = post(report_dir, ["jira-new:SEC"], variables(jira), ledger).outcomes

    assert again.status == "posted", again.line
    assert len([k for k in jira.issues if k != "SEC-1"]) == 1
    assert [r.status for r in jira.calls("create_issue")] == [504, 201]


def test_when_the_look_up_fails_it_is_not_sent_again_and_says_where_to_check(
    jira: FakeJira, report_dir: Path, ledger: Path
) -> None:
    jira.fail("comment", 503, times=1, after=True)
    jira.fail("list_comments", 403, body='{"errorMessages": ["no"], "errors": {}}')
    (o,) = post(report_dir, ["jira:SEC-1"], variables(jira), ledger).outcomes

    assert o.status == "partial"
    assert "it may have been posted: check the comments of SEC-1 for one ending" in o.line
    assert o.error is not None and "if it is there, leave it" in (o.error.hint or "")
    assert len(jira.issues["SEC-1"]["comments"]) == 1
    assert len(jira.calls("comment")) == 1


def test_a_servicenow_work_note_made_then_failed_is_found_in_the_journal(
    servicenow: FakeServiceNow, report_dir: Path, ledger: Path
) -> None:
    servicenow.fail("update_record", 502, times=1, after=True)
    servicenow.fail("attach", 0, times=1, drop=True)
    (o,) = post(
        report_dir, [f"servicenow:incident:{SYS_ID}"], variables(servicenow=servicenow), ledger
    ).outcomes

    assert o.status == "posted", o.line
    record = servicenow.records[("incident", SYS_ID)]
    assert len(record["work_notes"]) == 1
    assert len(record["attachments"]) == 2
    assert len(servicenow.calls("update_record")) == 1
    assert len(servicenow.calls("query_journal")) == 1
    assert len(servicenow.calls("list_attachments")) == 1
    assert servicenow.violations == []


# -- a later post resumes a step that "may have been posted": it looks first ----------------


def _posts(report: Path) -> list[dict]:
    return json.loads((report / "posts.json").read_text())["posts"]


@pytest.mark.parametrize("made", [True, False], ids=["it-was-made", "it-was-not"])
def test_resuming_a_jira_comment_that_may_have_been_posted_looks_for_its_marker_first(
    jira: FakeJira, report_dir: Path, ledger: Path, made: bool
) -> None:
    """The comment fails in a way that may come after Jira made it, and the comment list
    cannot be read: "may have been posted". The next post of the folder looks for the marker
    first (was: sent at once, a second comment): found, it is recorded as posted and nothing
    is sent; not there, it is sent once."""
    jira.fail("comment", 503, times=1, after=made)
    jira.fail("list_comments", 403, body='{"errorMessages": ["no"], "errors": {}}')
    (first,) = post(report_dir, ["jira:SEC-1"], variables(jira), ledger).outcomes
    assert first.status == "partial" and "it may have been posted" in first.line
    (entry,) = _posts(report_dir)
    assert entry["maybe_posted"] == {"step": "note"}
    jira.clear_failures()
    comments_sent = len(jira.calls("comment"))
    looked = len(jira.calls("list_comments"))

    (again,) = post(report_dir, ["jira:SEC-1"], variables(jira), ledger).outcomes

    assert again.status == "posted", again.line
    (comment,) = jira.issues["SEC-1"]["comments"]  # one comment, whichever way
    assert len(jira.calls("list_comments")) == looked + 1  # looked for first
    assert len(jira.calls("comment")) == comments_sent + (0 if made else 1)
    (entry,) = _posts(report_dir)
    assert entry["status"] == "complete" and "maybe_posted" not in entry
    (note,) = [s for s in entry["steps"] if s["step"] == "note"]
    assert note["remote"]["comment_id"] == comment["id"]
    assert jira.violations == []


def test_resuming_a_servicenow_work_note_that_may_have_been_posted_reads_the_journal_first(
    servicenow: FakeServiceNow, report_dir: Path, ledger: Path
) -> None:
    dest = [f"servicenow:incident:{SYS_ID}"]
    servicenow.fail("update_record", 502, times=1, after=True)
    servicenow.fail("query_journal", 403, body='{"error": {"message": "no"}}')
    (first,) = post(report_dir, dest, variables(servicenow=servicenow), ledger).outcomes
    assert first.status == "partial" and "it may have been posted" in first.line
    servicenow.clear_failures()

    (again,) = post(report_dir, dest, variables(servicenow=servicenow), ledger).outcomes

    assert again.status == "posted", again.line
    record = servicenow.records[("incident", SYS_ID)]
    assert len(record["work_notes"]) == 1  # was 2: the resume sent it again
    assert len(servicenow.calls("update_record")) == 1
    (entry,) = _posts(report_dir)
    (note,) = [s for s in entry["steps"] if s["step"] == "note"]
    assert note["remote"]["journal_entry"]
    assert servicenow.violations == []


def test_resuming_an_attachment_that_may_have_been_posted_lists_the_attachments_first(
    servicenow: FakeServiceNow, report_dir: Path, ledger: Path
) -> None:
    dest = [f"servicenow:incident:{SYS_ID}"]
    servicenow.fail("attach", 0, times=1, drop=True)
    servicenow.fail("list_attachments", 403, body='{"error": {"message": "no"}}')
    (first,) = post(report_dir, dest, variables(servicenow=servicenow), ledger).outcomes
    assert "it may have been posted" in first.line
    (entry,) = _posts(report_dir)
    assert entry["maybe_posted"]["step"] == "upload"
    assert entry["maybe_posted"]["file"] == "report.html"
    servicenow.clear_failures()

    (again,) = post(report_dir, dest, variables(servicenow=servicenow), ledger).outcomes

    assert again.status == "posted", again.line
    names = [a["file_name"] for a in servicenow.records[("incident", SYS_ID)]["attachments"]]
    assert len(names) == 2 and len(set(names)) == 2  # report.html once
    assert len(servicenow.calls("attach")) == 2  # report.html once, summary.json once
    assert servicenow.violations == []


def test_a_resume_that_still_cannot_look_is_not_sent_and_says_so_again(
    jira: FakeJira, report_dir: Path, ledger: Path
) -> None:
    jira.fail("comment", 503, times=1, after=True)
    jira.fail("list_comments", 403, body='{"errorMessages": ["no"], "errors": {}}')
    post(report_dir, ["jira:SEC-1"], variables(jira), ledger)
    sent = len(jira.calls("comment"))

    (again,) = post(report_dir, ["jira:SEC-1"], variables(jira), ledger).outcomes

    assert again.status == "partial"
    assert "it may have been posted: check the comments of SEC-1" in again.line
    assert "looking for it failed" in again.line
    assert len(jira.calls("comment")) == sent  # not sent blind
    assert _posts(report_dir)[0]["maybe_posted"] == {"step": "note"}


# -- a post stopped between sending a step and recording it (killed, the machine asleep) ------


class Killed(BaseException):
    """The process ending where it stands (as SIGKILL would): nothing after it runs."""


def _kill_when_recording(monkeypatch: pytest.MonkeyPatch, step: str) -> None:
    """The recorder of a done step raises: the destination made it, posts.json never says so
    (as when the process is killed between the answer and the record)."""
    import torinvest.post.engine as engine

    real = engine._step

    def recorder(posts, steps, name, remote, redactor, **kw):  # type: ignore[no-untyped-def]
        if name == step:
            raise Killed(name)
        return real(posts, steps, name, remote, redactor, **kw)

    monkeypatch.setattr(engine, "_step", recorder)


def _kill_before_request(monkeypatch: pytest.MonkeyPatch, operation: str) -> None:
    """The process stops after the step is recorded "sending", before its request leaves."""
    import torinvest.post.http as http

    real = http.Http._send

    def send(self, method, url, **kw):  # type: ignore[no-untyped-def]
        if method.upper() == "POST" and operation in str(url):
            raise Killed(url)
        return real(self, method, url, **kw)

    monkeypatch.setattr(http.Http, "_send", send)


def test_a_jira_comment_made_then_the_post_killed_before_recording_it_is_not_made_twice(
    jira: FakeJira, report_dir: Path, ledger: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Was: nothing recorded the comment, so the next post sent it again (two comments)."""
    with monkeypatch.context() as m:
        _kill_when_recording(m, "note")
        with pytest.raises(Killed):
            post(report_dir, ["jira:SEC-1"], variables(jira), ledger)
    assert len(jira.issues["SEC-1"]["comments"]) == 1
    (entry,) = _posts(report_dir)
    assert entry["status"] == "partial" and entry["sending"] == {"step": "note"}
    looked = len(jira.calls("list_comments"))

    (again,) = post(report_dir, ["jira:SEC-1"], variables(jira), ledger).outcomes

    assert again.status == "posted", again.line
    (comment,) = jira.issues["SEC-1"]["comments"]  # exactly one
    assert len(jira.calls("comment")) == 1  # found by its marker, not sent again
    assert len(jira.calls("list_comments")) == looked + 1
    (entry,) = _posts(report_dir)
    assert entry["status"] == "complete" and "sending" not in entry
    (note,) = [s for s in entry["steps"] if s["step"] == "note"]
    assert note["remote"]["comment_id"] == comment["id"]
    assert jira.violations == []


def test_a_servicenow_work_note_and_attachment_made_then_killed_are_not_made_twice(
    servicenow: FakeServiceNow, report_dir: Path, ledger: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dest = [f"servicenow:incident:{SYS_ID}"]
    for step in ("upload", "note"):  # killed after the first attachment, then after the note
        with monkeypatch.context() as m:
            _kill_when_recording(m, step)
            with pytest.raises(Killed):
                post(report_dir, dest, variables(servicenow=servicenow), ledger)
        assert _posts(report_dir)[0]["sending"]["step"] == step

    (again,) = post(report_dir, dest, variables(servicenow=servicenow), ledger).outcomes

    assert again.status == "posted", again.line
    record = servicenow.records[("incident", SYS_ID)]
    assert len(record["work_notes"]) == 1
    names = [a["file_name"] for a in record["attachments"]]
    assert len(names) == 2 and len(set(names)) == 2
    assert len(servicenow.calls("update_record")) == 1
    assert len(servicenow.calls("attach")) == 2
    assert "sending" not in _posts(report_dir)[0]
    assert servicenow.violations == []


def test_a_step_recorded_sending_that_never_reached_the_server_is_sent_once(
    jira: FakeJira, report_dir: Path, ledger: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as m:
        _kill_before_request(m, "/comment")
        with pytest.raises(Killed):
            post(report_dir, ["jira:SEC-1"], variables(jira), ledger)
    assert jira.issues["SEC-1"]["comments"] == [] and jira.calls("comment") == []
    assert _posts(report_dir)[0]["sending"] == {"step": "note"}

    (again,) = post(report_dir, ["jira:SEC-1"], variables(jira), ledger).outcomes

    assert again.status == "posted", again.line
    assert len(jira.issues["SEC-1"]["comments"]) == 1
    assert len(jira.calls("comment")) == 1
    assert len(jira.calls("list_comments")) == 1  # looked for first: not there, sent
    assert "sending" not in _posts(report_dir)[0]
    assert jira.violations == []


def test_a_refused_step_is_not_left_sending(jira: FakeJira, report_dir: Path, ledger: Path) -> None:
    """A failure that says what happened (refused: nothing made) is not "sending": the next post
    sends it without a look-up."""
    jira.fail("comment", 403, body='{"errorMessages": ["no"], "errors": {}}')
    (first,) = post(report_dir, ["jira:SEC-1"], variables(jira), ledger).outcomes
    assert first.status == "partial"
    assert "sending" not in _posts(report_dir)[0]


# -- ServiceNow's read ACLs leave rows out silently: an empty look-up may be blind ------------


def _new_version(report: Path) -> None:
    """The report investigated again into its folder: another report.html (a new version to
    post, its file a new name), its posts.json kept."""
    make_report(report, html="<!DOCTYPE html><html><body><h1>report, again</h1></body></html>")


def _sn(servicenow: FakeServiceNow, report: Path, ledger: Path, **kw):  # type: ignore[no-untyped-def]
    (o,) = post(
        report, [f"servicenow:incident:{SYS_ID}"], variables(servicenow=servicenow), ledger, **kw
    ).outcomes
    return o


def test_a_work_note_whose_journal_the_acls_hide_is_not_sent_again_on_an_empty_look_up(
    servicenow: FakeServiceNow, report_dir: Path, ledger: Path
) -> None:
    """The journal answers 200 ``[]`` (the account may not read sys_journal_field) but counts
    the row it left out (X-Total-Count). Was: read as "not there", the note sent again — two
    notes. Now: "cannot tell whether it was posted" (exit 6), one note."""
    servicenow.acl_hidden = {"sys_journal_field"}
    servicenow.fail("update_record", 502, times=1, after=True)

    o = _sn(servicenow, report_dir, ledger)

    assert len(servicenow.records[("incident", SYS_ID)]["work_notes"]) == 1
    assert len(servicenow.calls("update_record")) == 1
    assert o.status == "partial" and o.error is not None and o.error.exit_status == 6, o.line
    assert "it may have been posted" in o.line
    assert "counts 1 (X-Total-Count)" in o.line and "read ACLs" in o.line
    assert _posts(report_dir)[0]["maybe_posted"] == {"step": "note"}
    assert servicenow.violations == []


def test_a_blind_look_up_says_the_way_out_and_force_takes_it(
    servicenow: FakeServiceNow, report_dir: Path, ledger: Path
) -> None:
    """The note was not made (503 before any work) but the journal is blind (it does not show
    the note of the earlier post): "cannot tell", again on every post. The line says the way
    out: read access, or --force once a person has seen it is not there — which sends it once,
    without looking."""
    assert _sn(servicenow, report_dir, ledger).status == "posted"
    servicenow.acl_hidden, servicenow.total_count = {"sys_journal_field"}, None
    servicenow.fail("update_record", 503, times=1)
    _new_version(report_dir)
    first = _sn(servicenow, report_dir, ledger)
    assert first.status == "partial" and "it cannot tell whether it is there" in first.line
    assert "give the account read access to the work notes and attachments of incident" in (
        first.line
    )
    assert "--force posts it without looking" in first.line
    assert _sn(servicenow, report_dir, ledger).status == "partial"  # blind again: not sent
    assert len(servicenow.records[("incident", SYS_ID)]["work_notes"]) == 1  # the first post's

    forced = _sn(servicenow, report_dir, ledger, force=True)

    assert forced.status == "posted", forced.line
    assert len(servicenow.records[("incident", SYS_ID)]["work_notes"]) == 2


@pytest.mark.parametrize("count", ["after-acl", None], ids=["counted-after-acl", "no-count"])
def test_a_journal_that_does_not_show_the_kits_own_earlier_note_is_blind(
    servicenow: FakeServiceNow, report_dir: Path, ledger: Path, count: str | None
) -> None:
    """No X-Total-Count to tell (or one counted after the ACLs): the journal must still show
    the work note an earlier post of this report wrote (posts.json). It does not: the look-up
    is blind — the note is not sent a second time on its empty answer."""
    assert _sn(servicenow, report_dir, ledger).status == "posted"
    servicenow.acl_hidden, servicenow.total_count = {"sys_journal_field"}, count
    servicenow.fail("update_record", 502, times=1, after=True)

    _new_version(report_dir)
    o = _sn(servicenow, report_dir, ledger)

    assert len(servicenow.records[("incident", SYS_ID)]["work_notes"]) == 2  # was 3
    assert len(servicenow.calls("update_record")) == 2
    assert o.status == "partial" and o.error is not None and o.error.exit_status == 6, o.line
    assert "the journal does not show the work note torinvest wrote to it at 20" in o.line
    assert servicenow.violations == []


def test_attachments_the_acls_hide_are_not_attached_again_on_an_empty_look_up(
    servicenow: FakeServiceNow, report_dir: Path, ledger: Path
) -> None:
    """The attachment an earlier post made (its sys_id in posts.json) is not shown by the
    attachment list: the list is blind, an empty answer for the new file says nothing."""
    assert _sn(servicenow, report_dir, ledger).status == "posted"
    servicenow.acl_hidden, servicenow.total_count = {"sys_attachment"}, None
    servicenow.fail("attach", 0, times=1, drop=True)

    _new_version(report_dir)
    o = _sn(servicenow, report_dir, ledger)

    assert len(servicenow.records[("incident", SYS_ID)]["attachments"]) == 3  # was 4
    assert len(servicenow.calls("attach")) == 3  # the new report.html once
    assert o.status == "failed" and o.error is not None and o.error.exit_status == 6, o.line
    assert "the attachment torinvest made on the record" in o.line
    assert servicenow.violations == []


def test_an_attachment_list_that_does_not_show_the_file_attached_a_moment_ago_is_blind(
    servicenow: FakeServiceNow, report_dir: Path, ledger: Path
) -> None:
    """A first post: report.html is attached (its sys_id known), summary.json's answer is lost
    and the ACL'd list shows nothing — not even report.html: blind, not attached twice."""
    servicenow.acl_hidden, servicenow.total_count = {"sys_attachment"}, None
    servicenow.fail("attach", 0, times=1, drop=True, skip=1)

    o = _sn(servicenow, report_dir, ledger)

    assert len(servicenow.records[("incident", SYS_ID)]["attachments"]) == 2  # was 3
    assert len(servicenow.calls("attach")) == 2
    assert o.status == "partial" and o.error is not None and o.error.exit_status == 6, o.line
    assert "no torinvest-" in o.line and "-summary-" in o.line
    assert "the attachment torinvest made on the record" in o.line


@pytest.mark.parametrize("operation", ["update_record", "attach"])
def test_a_look_up_that_sees_what_the_kit_made_is_believed_and_the_step_sent(
    servicenow: FakeServiceNow, report_dir: Path, ledger: Path, operation: str
) -> None:
    """The check costs nothing when the look-up can see: refused before anything was made
    (503), the look-up finds nothing but does show the kit's own earlier note/attachment, so
    "not there" stands and the step is sent once more."""
    assert _sn(servicenow, report_dir, ledger).status == "posted"
    servicenow.total_count = None
    servicenow.fail(operation, 503, times=1)

    _new_version(report_dir)
    o = _sn(servicenow, report_dir, ledger)

    assert o.status == "posted", o.line
    record = servicenow.records[("incident", SYS_ID)]
    assert len(record["work_notes"]) == 2 and len(record["attachments"]) == 3  # a new report.html
    # the step's look-up (nothing) and the check that it sees what the kit made (it does)
    looked = "query_journal" if operation == "update_record" else "list_attachments"
    assert len(servicenow.calls(looked)) == 2
    assert [r.status for r in servicenow.calls(operation)][-2:] == [
        503,
        200 if looked == "query_journal" else 201,
    ]
    assert servicenow.violations == []
