"""AWS Security Incident Response: ``security-ir:CASE_ID`` — the files uploaded to the case, the
answer as a case comment.

Credentials, region and endpoint come from boto3's chain (``AWS_PROFILE``, ``AWS_REGION``,
``AWS_ENDPOINT_URL_SECURITY_IR``…) through :class:`torinvest.aws.Aws`. Calls:

* ``GetCaseAttachmentUploadUrl`` (``fileName`` in ``[a-zA-Z0-9._-]``, ``contentLength`` ≤ 100 MB,
  a ``clientToken``), then an HTTP ``PUT`` of the file to the presigned URL it returns — no
  credentials sent, the URL never printed or recorded (its query holds a signature and a
  session token);
* ``CreateCaseComment`` (``body`` ≤ 12,000 characters, a ``clientToken``: a resumed post repeats
  the token, so the case gets the comment once). The body is read as Markdown: the answer goes
  in one fenced code block (:func:`torinvest.safety.markdown_code_block`), so attacker text in
  it is never a link, an image or markup.

IAM: ``security-ir:GetCaseAttachmentUploadUrl`` and ``security-ir:CreateCaseComment`` on the case
(``policies/torinvest-post.json``).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from torinvest.aws import AWS_CALL_ERRORS, answer, translate_error
from torinvest.post.base import (
    Bundle,
    Context,
    DestinationSpec,
    PostError,
    PostFile,
    aws_post_error,
    remote_id,
)
from torinvest.post.http import Http, where
from torinvest.post.jira import comment_text
from torinvest.safety import markdown_block_overhead, markdown_code_block

SERVICE = "security-ir"
#: GetCaseAttachmentUploadUrl's limit on ``contentLength``.
MAX_ATTACHMENT_BYTES = 104_857_600
#: CreateCaseComment's limit on ``body``.
MAX_COMMENT_CHARS = 12_000
#: What follows a comment cut to :data:`MAX_COMMENT_CHARS` (after its code block).
_CUT = "\n… (cut: see the attached report)"
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


class SecurityIrCase:
    """``security-ir:CASE_ID``."""

    takes_files = True

    def __init__(self, spec: DestinationSpec, ctx: Context) -> None:
        self.spec = spec.text
        self.case_id = spec.args[0]
        self.ctx = ctx
        self.region = ctx.aws.home_region
        self.site = f"aws:{self.region}"
        self._client: Any = None
        self.put = Http(
            self.spec,
            redactor=ctx.redactor,
            attempts=ctx.attempts,
            backoff=ctx.backoff,
            sleep=ctx.sleep,
            hints={
                403: "the upload URL was refused (expired or not for this file): post again "
                "for a new one",
                413: "the file is over the case's attachment size limit (100 MB)",
            },
        )

    def close(self) -> None:
        self.put.close()

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = self.ctx.aws.client(SERVICE, self.region)
        return self._client

    def _call(self, operation: str, **params: Any) -> Any:
        try:
            return getattr(self.client, _snake(operation))(**params)
        except AWS_CALL_ERRORS as e:
            err = translate_error(e, service=SERVICE, region=self.region, operation=operation)
            hint = err.hint
            if err.code == "ResourceNotFoundException":
                hint = f"check the case ID; is the case in {self.region} (AWS_REGION)?"
            elif err.code == "SecurityIncidentResponseNotActiveException":
                hint = f"Security Incident Response has no active membership in {self.region}"
            raise aws_post_error(
                self.spec,
                err,
                self.ctx.redactor(f"case {self.case_id}: {err.message}"),
                hint=hint,
            ) from None

    def content(self, bundle: Bundle) -> str:
        """The case comment: the answer and its files as one Markdown code block — a comment
        is text any Markdown renderer may show (the console, an integration reading the case),
        where a user name ``![x](http://…/beacon.png)`` would be an image fetched when the case
        is opened and ``[x](http://…)`` a link — cut to :data:`MAX_COMMENT_CHARS` with the
        fences and a note after the block."""
        text = comment_text(bundle, bundle.files)
        room = MAX_COMMENT_CHARS - markdown_block_overhead(text)
        if len(text) <= room:
            return markdown_code_block(text)
        return markdown_code_block(text[: room - len(_CUT)]) + _CUT

    def prepare(self, bundle: Bundle, memory: Mapping[str, Any]) -> dict[str, Any]:
        return {}

    def upload(self, bundle: Bundle, file: PostFile, token: str) -> dict[str, Any]:
        if file.size > MAX_ATTACHMENT_BYTES:
            raise PostError(
                self.spec,
                f"{file.name} is {file.size / 1e6:.1f} MB: over the 100 MB a case attachment "
                "may be",
                hint="post without --with-csv, or attach it another way",
            )
        if file.size == 0:
            raise PostError(self.spec, f"{file.name} is empty: a case attachment cannot be")
        got = self._call(
            "GetCaseAttachmentUploadUrl",
            caseId=self.case_id,
            fileName=file.posted_as,
            contentLength=file.size,
            # a fresh token: a URL is harmless twice, and a resumed post needs a URL that has
            # not expired (the same token would give back the same URL)
            clientToken=uuid.uuid4().hex,
        )
        url = answer(
            got,
            "attachmentPresignedUrl",
            str,
            service=SERVICE,
            operation="GetCaseAttachmentUploadUrl",
            region=self.region,
        )
        self.ctx.redactor.add(urlsplit(url).query)
        parts = urlsplit(url)
        if parts.scheme != "https" and parts.hostname not in _LOOPBACK:
            raise PostError(
                self.spec,
                f"the upload URL for {file.name} is not https ({where(url)}): not sent",
                hint="a proxy or a wrong AWS_ENDPOINT_URL may be answering instead of AWS",
            )
        try:
            data = file.read()
        except OSError as e:
            raise PostError(self.spec, f"cannot read {file.path}: {e.strerror or e}") from None
        response = self.put.request(
            "PUT",
            url,
            what=f"upload {file.name} to case {self.case_id}",
            ok=(200, 201, 204),
            size=file.size,
            content=data,
        )
        etag = response.headers.get("etag", "").strip('"') or None
        return {"file_name": file.posted_as, "etag": etag}

    def note(self, bundle: Bundle, files: list[dict[str, Any]], token: str) -> dict[str, Any]:
        got = self._call(
            "CreateCaseComment",
            caseId=self.case_id,
            body=self.content(bundle),
            clientToken=token[:255],
        )
        comment = answer(
            got,
            "commentId",
            str,
            service=SERVICE,
            operation="CreateCaseComment",
            region=self.region,
        )
        what = f"comment on case {self.case_id}"
        return {
            "case": self.case_id,
            "comment_id": remote_id(self.spec, comment, what, "commentId"),
        }


def _snake(operation: str) -> str:
    from botocore import xform_name

    return xform_name(operation)
