"""Posting to ServiceNow: the record is looked up first, files go to the Attachment API as raw
bodies, the answer is a work note; failures are one line."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from tests.fake_tickets import FakeServiceNow
from tests.post.conftest import (
    SYS_ID,
    UNKNOWN_TOR_LINE,
    make_report,
    summary_data,
    unknown_tor_summary,
    variables,
)
from torinvest.errors import EXIT_REFUSED
from torinvest.post import post_report
from torinvest.post.base import PostConfigError


def post(report: Path, dests: list[str], env: dict[str, str], ledger: Path, **kw):  # type: ignore[no-untyped-def]
    return post_report(report, dests, env=env, ledger=ledger, backoff=0, **kw)


def test_attachments_are_raw_bodies_and_the_answer_is_a_work_note(
    servicenow: FakeServiceNow, report_dir: Path, ledger: Path
) -> None:
    result = post(
        report_dir,
        [f"servicenow:incident:{SYS_ID.upper()}"],
        variables(servicenow=servicenow),
        ledger,
        with_csv=True,
    )

    (o,) = result.outcomes
    assert o.status == "posted", o.line
    assert o.destination == f"servicenow:incident:{SYS_ID}"  # sys_ids are lower case
    assert servicenow.violations == []
    record = servicenow.records[("incident", SYS_ID)]
    stems = [a["file_name"].rsplit("-", 2)[1] for a in record["attachments"]]
    assert stems == ["report", "summary", "events", "per_ip"]
    by_type = {a["file_name"].rsplit(".", 1)[1]: a["content_type"] for a in record["attachments"]}
    assert by_type == {"html": "text/html", "json": "application/json", "csv": "text/csv"}
    assert record["attachments"][0]["data"] == (report_dir / "report.html").read_bytes()
    attach = servicenow.calls("attach")
    assert all(
        r.query["table_name"] == ["incident"] and r.query["table_sys_id"] == [SYS_ID]
        for r in attach
    )
    basic = base64.b64encode(f"{servicenow.user}:{servicenow.password}".encode()).decode()
    assert all(r.headers["authorization"] == f"Basic {basic}" for r in servicenow.requests)
    (note,) = record["work_notes"]
    assert "Tor: 24 of 69 call(s) from Tor exits" in note
    assert [r.operation for r in servicenow.requests] == ["get_record"] + ["attach"] * 4 + [
        "update_record"
    ]
    assert f"number {record['number']}" in o.line


def test_an_oauth_token_is_sent_as_bearer(
    servicenow: FakeServiceNow, report_dir: Path, ledger: Path
) -> None:
    env = variables(servicenow=servicenow, sn_token=True)
    (o,) = post(report_dir, [f"servicenow:incident:{SYS_ID}"], env, ledger).outcomes
    assert o.status == "posted"
    assert all(
        r.headers["authorization"] == f"Bearer {servicenow.token}" for r in servicenow.requests
    )


def test_a_missing_record_attaches_nothing(
    servicenow: FakeServiceNow, report_dir: Path, ledger: Path
) -> None:
    other = "0" * 32
    (o,) = post(
        report_dir, [f"servicenow:incident:{other}"], variables(servicenow=servicenow), ledger
    ).outcomes
    assert o.status == "failed"
    assert (
        "look up incident record 0000" in o.line
        and "not found (HTTP 404): No Record found" in o.line
    )
    assert servicenow.orphans == []  # the Attachment API would have taken it
    assert servicenow.calls("attach") == []


def test_413_is_one_line_with_the_instance_setting(
    servicenow: FakeServiceNow, tmp_path: Path, ledger: Path
) -> None:
    folder = make_report(tmp_path / "f", html="<html>" + "y" * 5000 + "</html>")
    servicenow.max_attachment_bytes = 1000
    (o,) = post(
        folder, [f"servicenow:incident:{SYS_ID}"], variables(servicenow=servicenow), ledger
    ).outcomes
    assert o.status == "failed"
    assert "too large for the server" in o.line and "HTTP 413" in o.line
    assert o.error is not None and "com.glide.attachment.max_size" in str(o.error.hint)


def test_code_tags_in_report_text_stay_text(
    servicenow: FakeServiceNow, tmp_path: Path, ledger: Path
) -> None:
    data = summary_data()
    data["key"]["user_name"] = "[code]<img src=x onerror=alert(1)>[/code]"
    folder = make_report(tmp_path / "f", summary=data)
    post(folder, [f"servicenow:incident:{SYS_ID}"], variables(servicenow=servicenow), ledger)
    (note,) = servicenow.records[("incident", SYS_ID)]["work_notes"]
    assert "[code]" not in note.lower() and "[/code]" not in note.lower()
    assert "[ code]<img src=x onerror=alert(1)>[/ code]" in note


def test_the_work_note_counts_calls_of_unknown_tor_status(
    servicenow: FakeServiceNow, tmp_path: Path, ledger: Path
) -> None:
    folder = make_report(tmp_path / "f", summary=unknown_tor_summary())
    post(folder, [f"servicenow:incident:{SYS_ID}"], variables(servicenow=servicenow), ledger)
    (note,) = servicenow.records[("incident", SYS_ID)]["work_notes"]
    assert UNKNOWN_TOR_LINE in note


def test_user_and_token_together_are_refused(
    servicenow: FakeServiceNow, report_dir: Path, ledger: Path
) -> None:
    env = variables(servicenow=servicenow) | {"SERVICENOW_TOKEN": "t0ken-abc"}
    with pytest.raises(PostConfigError, match="both SERVICENOW_TOKEN and SERVICENOW_PASSWORD"):
        post(report_dir, [f"servicenow:incident:{SYS_ID}"], env, ledger)
    assert servicenow.requests == []


@pytest.mark.parametrize(
    "body",
    ['{"result": {}}', '{"result": []}', '{"result": null}', '{"result": {"sys_id": "0" }}'],
    ids=["empty", "list", "null", "another-record"],
)
def test_a_work_note_answered_without_the_record_is_not_posted(
    servicenow: FakeServiceNow, report_dir: Path, ledger: Path, body: str
) -> None:
    """A 200 to the work note that does not name the record (a proxy, a stub, an ACL'd
    answer) says nothing about the note: a failure resumed by the next post, never "posted"."""
    servicenow.fail("update_record", 200, body=body, times=1)
    dest = f"servicenow:incident:{SYS_ID}"
    (o,) = post(report_dir, [dest], variables(servicenow=servicenow), ledger).outcomes
    assert o.status == "partial", o.line  # the files are there; the note is not
    assert f"add a work note to incident {SYS_ID}: the answer" in o.line
    (o,) = post(report_dir, [dest], variables(servicenow=servicenow), ledger).outcomes
    assert o.status == "posted", o.line
    assert [r.operation for r in servicenow.requests].count("attach") == 2  # not again
    assert len(servicenow.records[("incident", SYS_ID)]["work_notes"]) == 1


def test_a_lookup_answered_without_the_record_attaches_nothing(
    servicenow: FakeServiceNow, report_dir: Path, ledger: Path
) -> None:
    servicenow.fail("get_record", 200, body='{"result": {}}')
    dest = f"servicenow:incident:{SYS_ID}"
    (o,) = post(report_dir, [dest], variables(servicenow=servicenow), ledger).outcomes
    assert o.status == "failed" and "no record sys_id" in o.line, o.line
    assert [r.operation for r in servicenow.requests] == ["get_record"]


def test_a_work_note_a_write_acl_drops_is_not_posted(
    servicenow: FakeServiceNow, report_dir: Path, ledger: Path
) -> None:
    """ServiceNow drops a field the account may not write and answers 200 with the record
    (sys_id and all). Was: "posted" — no note on the incident, and none ever again (the post is
    recorded complete). Now: the record's sys_mod_count did not move, so nothing was written:
    refused, and the next post (once the ACL is fixed) writes the note."""
    servicenow.write_denied = {"work_notes"}
    dest = f"servicenow:incident:{SYS_ID}"

    (o,) = post(report_dir, [dest], variables(servicenow=servicenow), ledger).outcomes

    assert servicenow.records[("incident", SYS_ID)]["work_notes"] == []
    assert o.status == "partial" and o.error is not None, o.line  # the files are there
    assert o.error.exit_status == EXIT_REFUSED
    assert (
        "ServiceNow answered 200 but wrote nothing (the record's sys_mod_count is still 0)"
        in o.line
    )
    assert "incident.work_notes" in str(o.error.hint)

    servicenow.write_denied = set()
    (again,) = post(report_dir, [dest], variables(servicenow=servicenow), ledger).outcomes
    assert again.status == "posted", again.line
    assert len(servicenow.records[("incident", SYS_ID)]["work_notes"]) == 1
    assert len(servicenow.calls("attach")) == 2  # not attached again
    assert servicenow.violations == []
