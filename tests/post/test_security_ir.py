"""Posting to an AWS Security Incident Response case: files through upload URLs (a PUT without
credentials), the answer as a case comment, each once; errors one line."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tests.fake_aws.security import FakeSecurityServices
from tests.post.conftest import CASE_ID, REGION, UNKNOWN_TOR_LINE, make_report, unknown_tor_summary
from torinvest.post import post_report
from torinvest.post.base import Bundle, Context, PostError, PostFile, parse_destination
from torinvest.post.env import Redactor
from torinvest.post.security_ir import MAX_ATTACHMENT_BYTES, SecurityIrCase


def post(report: Path, ledger: Path, dest: str = f"security-ir:{CASE_ID}", **kw):  # type: ignore[no-untyped-def]
    return post_report(report, [dest], env={}, ledger=ledger, backoff=0, **kw)


def test_files_go_through_upload_urls_and_the_answer_is_a_comment(
    security: FakeSecurityServices, report_dir: Path, ledger: Path
) -> None:
    (o,) = post(report_dir, ledger).outcomes

    assert o.status == "posted", o.line
    case = security.security_ir(REGION).cases[CASE_ID]
    assert [a["sha256"] for a in case.attachments] == [
        hashlib.sha256((report_dir / n).read_bytes()).hexdigest()
        for n in ("report.html", "summary.json")
    ]
    names = [a["fileName"] for a in case.attachments]
    assert all(
        set(n) <= set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
        for n in names
    )
    (comment,) = case.comments
    assert "Key: AKIATFQR7NSCUXC3DDDP" in comment["body"] and names[0] in comment["body"]
    assert len(comment["body"]) <= 12_000
    ops = [r.operation for r in security.requests]
    assert ops == [
        "GetCaseAttachmentUploadUrl",
        "PresignedPut",
        "GetCaseAttachmentUploadUrl",
        "PresignedPut",
        "CreateCaseComment",
    ]
    assert all("authorization" not in p["headers"] for p in security.puts)
    calls = security.calls("GetCaseAttachmentUploadUrl")
    assert all(c.params["clientToken"] and c.params["contentLength"] > 0 for c in calls)
    assert security.calls("CreateCaseComment")[0].params["clientToken"]
    # the presigned URL is a credential: never in the record or the line
    record = (report_dir / "posts.json").read_text() + ledger.read_text() + o.line
    assert "X-Amz-Signature" not in record and "Security-Token" not in record
    assert o.remote["note"]["comment_id"] == comment["commentId"]


def test_the_comment_counts_calls_of_unknown_tor_status(
    security: FakeSecurityServices, tmp_path: Path, ledger: Path
) -> None:
    folder = make_report(tmp_path / "f", summary=unknown_tor_summary())
    (o,) = post(folder, ledger).outcomes
    assert o.status == "posted", o.line
    (comment,) = security.security_ir(REGION).cases[CASE_ID].comments
    assert UNKNOWN_TOR_LINE in comment["body"]


def test_posted_once(security: FakeSecurityServices, report_dir: Path, ledger: Path) -> None:
    post(report_dir, ledger)
    before = len(security.requests)
    (o,) = post(report_dir, ledger).outcomes
    assert o.status == "already-posted"
    assert len(security.requests) == before
    case = security.security_ir(REGION).cases[CASE_ID]
    assert (len(case.attachments), len(case.comments)) == (2, 1)


def test_an_expired_upload_url_stops_the_post_and_the_next_resumes(
    security: FakeSecurityServices, report_dir: Path, ledger: Path
) -> None:
    security.expire_upload_urls(after=1)
    (o,) = post(report_dir, ledger).outcomes
    assert o.status == "partial"
    assert "upload summary.json to case 1234567890: not allowed (HTTP 403)" in o.line
    assert "posting again resumes" in o.line
    assert "X-Amz-Signature" not in o.line and "Security-Token" not in o.line

    security.reset_expiry()
    (again,) = post(report_dir, ledger).outcomes
    assert again.status == "posted", again.line
    case = security.security_ir(REGION).cases[CASE_ID]
    assert [a["fileName"].rsplit("-", 2)[1] for a in case.attachments] == ["report", "summary"]
    assert len(case.comments) == 1
    # the report was not uploaded twice: one URL asked for it, two for the summary
    asked = [
        c.params["fileName"].rsplit("-", 2)[1] for c in security.calls("GetCaseAttachmentUploadUrl")
    ]
    assert asked == ["report", "summary", "summary"]


def test_an_unknown_case_is_one_line(
    security: FakeSecurityServices, report_dir: Path, ledger: Path
) -> None:
    (o,) = post(report_dir, ledger, dest="security-ir:9999999999").outcomes
    assert o.status == "failed"
    assert o.line.startswith("security-ir:9999999999: case 9999999999: ")
    assert "ResourceNotFoundException" in o.line and "\n" not in o.line
    assert o.error is not None and "AWS_REGION" in str(o.error.hint)


def test_access_denied_names_the_action(
    security: FakeSecurityServices, report_dir: Path, ledger: Path
) -> None:
    security.fail("security-ir", "*", "AccessDeniedException", status=403)
    (o,) = post(report_dir, ledger).outcomes
    assert o.status == "failed" and "access denied: GetCaseAttachmentUploadUrl" in o.line
    assert o.error is not None and "security-ir:GetCaseAttachmentUploadUrl" in str(o.error.hint)


def test_a_5xx_is_retried_by_botocore_then_a_failure(
    security: FakeSecurityServices, report_dir: Path, ledger: Path
) -> None:
    security.fail(
        "security-ir", "*", "InternalServerException", status=500, operation="CreateCaseComment"
    )
    (o,) = post(report_dir, ledger).outcomes
    assert o.status == "partial" and "InternalServerException" in o.line
    assert len(security.calls("CreateCaseComment")) == 2  # AWS_MAX_ATTEMPTS=2 in the fixture
    security.clear_failures()
    (again,) = post(report_dir, ledger).outcomes
    assert again.status == "posted"
    assert len(security.security_ir(REGION).cases[CASE_ID].comments) == 1


def test_a_file_over_100_mb_is_refused_before_asking(
    security: FakeSecurityServices, report_dir: Path
) -> None:
    ctx = Context(
        env={}, redactor=Redactor(), aws_factory=_aws, attempts=1, backoff=0, sleep=lambda s: None
    )
    dest = SecurityIrCase(parse_destination(f"security-ir:{CASE_ID}"), ctx)
    big = PostFile(
        "events.csv",
        report_dir / "events.csv",
        MAX_ATTACHMENT_BYTES + 1,
        "0" * 64,
        "text/csv",
        "x.csv",
    )
    with pytest.raises(PostError, match=r"events.csv is 104.9 MB: over the 100 MB"):
        dest.upload(Bundle(report_dir, "x", {}, [], None), big, "t")  # type: ignore[arg-type]
    assert security.requests == []


def test_changed_report_posts_the_changed_file_and_a_new_comment(
    security: FakeSecurityServices, tmp_path: Path, ledger: Path
) -> None:
    folder = make_report(tmp_path / "f")
    post(folder, ledger)
    make_report(folder, html="<html>version two</html>")
    (o,) = post(folder, ledger).outcomes
    assert o.status == "posted"
    case = security.security_ir(REGION).cases[CASE_ID]
    assert len(case.attachments) == 3 and len(case.comments) == 2


def _aws():  # type: ignore[no-untyped-def]
    from torinvest.aws import Aws

    return Aws()
