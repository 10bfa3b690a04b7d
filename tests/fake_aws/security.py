"""AWS Security Incident Response and Security Hub for tests, on top of :class:`FakeAws` (whose
GuardDuty finds a finding's ARN): requests are routed, parsed and validated with botocore's
service models exactly as ``server.py`` does, plus the limits the models leave to the
documentation:

* ``security-ir`` ``CreateCaseComment`` (``body`` ≤ 12,000 characters; the same ``clientToken``
  gives the same comment, once) and ``GetCaseAttachmentUploadUrl`` (``fileName`` made only of
  ``[a-zA-Z0-9._-]``, ``contentLength`` 1 … 104,857,600; the same ``clientToken`` gives the same
  URL); an unknown case is ``ResourceNotFoundException`` (404). The URL it returns is served here:
  an HTTP ``PUT`` of exactly ``contentLength`` bytes, with no ``Authorization`` header (a
  presigned request carries its signature in the query; S3 refuses both), before it expires,
  stores the file on the case and answers 200 with an ``ETag``.
* ``securityhub`` ``BatchUpdateFindings``: 1 … 100 ``FindingIdentifiers``, ``Note.Text`` and
  ``Note.UpdatedBy`` ≤ 512 characters (``InvalidInputException`` otherwise), the model's enums for
  ``Workflow.Status`` and ``VerificationState``; a finding it does not hold (by ``Id`` and
  ``ProductArn`` in the request's region) comes back in ``UnprocessedFindings`` with
  ``FindingNotFound``, a duplicate with ``DuplicatedFindingIdentifier``.

State API (besides :class:`FakeAws`'s)::

    fake = FakeSecurityServices().start()
    case = fake.security_ir("us-east-1").add_case("1234567890")   # comments, attachments
    hub = fake.securityhub("us-east-1").add_guardduty_finding(arn)  # Workflow NEW
    hub.findings[arn]                                             # Note, Workflow, history
    hub.answer_nothing = True                                     # updates answered with [] and []
    fake.expire_upload_urls()                                     # URLs already handed out fail (403)
    fake.expire_upload_urls(after=1)                              # … every URL after the first
    fake.upload_urls, fake.puts                                   # URLs handed out, PUTs served
"""

from __future__ import annotations

import copy
import hashlib
import re
import secrets
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from botocore.model import OperationModel

from tests.fake_aws.server import (
    ApiError,
    FakeAws,
    LoggedRequest,
    NotImplementedByFake,
    _HttpResponse,
    _Routes,
    validation_problems,
)

SECURITY_IR_MAX_COMMENT = 12_000
SECURITY_IR_MAX_BYTES = 104_857_600
SECURITY_HUB_MAX_FINDINGS = 100
SECURITY_HUB_NOTE_MAX = 512
_FILE_NAME = re.compile(r"[a-zA-Z0-9._-]+")
_CASE_ID = re.compile(r"\d{10,32}")
_STATUS = {
    ("security-ir", "ResourceNotFoundException"): 404,
    ("security-ir", "AccessDeniedException"): 403,
    ("security-ir", "ValidationException"): 400,
    ("security-ir", "ConflictException"): 409,
    ("security-ir", "InternalServerException"): 500,
    ("security-ir", "ThrottlingException"): 429,
    ("securityhub", "InvalidInputException"): 400,
    ("securityhub", "InvalidAccessException"): 401,
    ("securityhub", "AccessDeniedException"): 403,
    ("securityhub", "InternalException"): 500,
    ("securityhub", "LimitExceededException"): 429,
}
_PRESIGNED_PATH = "/_presigned/"


@dataclass(slots=True)
class Case:
    case_id: str
    comments: list[dict[str, Any]] = field(default_factory=list)
    attachments: list[dict[str, Any]] = field(default_factory=list)


class SecurityIrRegion:
    def __init__(self, region: str, lock: threading.RLock) -> None:
        self.region = region
        self._lock = lock
        self.cases: dict[str, Case] = {}

    def add_case(self, case_id: str) -> Case:
        with self._lock:
            case = Case(case_id)
            self.cases[case_id] = case
            return case


class SecurityHubRegion:
    def __init__(self, region: str, lock: threading.RLock) -> None:
        self.region = region
        self._lock = lock
        self.findings: dict[str, dict[str, Any]] = {}
        #: Answer every BatchUpdateFindings with both lists empty, changing nothing (a stand-in
        #: endpoint or a proxy that swallows the update).
        self.answer_nothing = False

    def add_guardduty_finding(self, arn: str, *, partition: str = "aws") -> dict[str, Any]:
        """Security Hub's copy of a GuardDuty finding (Id: its ARN), workflow NEW."""
        with self._lock:
            finding = {
                "Id": arn,
                "ProductArn": f"arn:{partition}:securityhub:{self.region}::product/aws/guardduty",
                "Workflow": {"Status": "NEW"},
                "VerificationState": "UNKNOWN",
                "Note": None,
                "history": [],
            }
            self.findings[arn] = finding
            return finding


@dataclass(slots=True)
class _Upload:
    region: str
    case_id: str
    file_name: str
    length: int
    token: str
    expired: bool = False
    done: bool = False
    url: str = ""


class FakeSecurityServices(FakeAws):
    """:class:`FakeAws` plus ``security-ir`` and ``securityhub`` (module docstring)."""

    _MINE = ("security-ir", "securityhub")

    def __init__(self, account_id: str = "123837392027") -> None:
        super().__init__(account_id=account_id)
        for service in self._MINE:
            self._routes[service] = _Routes.load(service)

    def reset(self) -> None:
        super().reset()
        self._ir: dict[str, SecurityIrRegion] = {}
        self._hub: dict[str, SecurityHubRegion] = {}
        self._uploads: dict[str, _Upload] = {}
        self._ir_tokens: dict[tuple[str, str], Any] = {}
        self._expire_after: int | None = None
        #: Where upload URLs point (None: this server). A proxy or a wrong endpoint may hand
        #: out plain-HTTP URLs elsewhere.
        self.upload_url_base: str | None = None
        self.puts: list[dict[str, Any]] = []

    def security_ir(self, region: str) -> SecurityIrRegion:
        with self._lock:
            return self._ir.setdefault(region, SecurityIrRegion(region, self._lock))

    def securityhub(self, region: str) -> SecurityHubRegion:
        with self._lock:
            return self._hub.setdefault(region, SecurityHubRegion(region, self._lock))

    def expire_upload_urls(self, *, after: int | None = None) -> None:
        """URLs handed out so far expire; with ``after``, instead every URL handed out after
        the first ``after`` is expired by the time it is used (a slow upload)."""
        with self._lock:
            if after is not None:
                self._expire_after = after
                return
            for u in self._uploads.values():
                u.expired = True

    @property
    def upload_urls(self) -> list[str]:
        """Every presigned URL handed out (they hold a signature and a session token)."""
        with self._lock:
            return [u.url for u in self._uploads.values()]

    def reset_expiry(self) -> None:
        """New URLs are valid again (those already expired stay so)."""
        with self._lock:
            self._expire_after = None

    # ---- HTTP
    def handle(
        self,
        method: str,
        raw_path: str,
        headers: Mapping[str, str],
        body: bytes,
        arrived: float | None = None,
    ) -> _HttpResponse | None:
        if urlsplit(raw_path).path.startswith(_PRESIGNED_PATH):
            return self._presigned_put(method, raw_path, headers, body)
        return super().handle(method, raw_path, headers, body, arrived)

    def _presigned_put(
        self, method: str, raw_path: str, headers: Mapping[str, str], body: bytes
    ) -> _HttpResponse:
        split = urlsplit(raw_path)
        query = parse_qs(split.query)
        upload_id = split.path[len(_PRESIGNED_PATH) :].split("/", 1)[0]
        with self._lock:
            upload = self._uploads.get(upload_id)
            problem = None
            status = 403
            if method != "PUT":
                problem, status = "MethodNotAllowed", 405
            elif upload is None or (query.get("X-Amz-Signature") or [""])[0] != upload.token:
                problem = "SignatureDoesNotMatch"
            elif "authorization" in headers:
                problem, status = "InvalidArgument: Only one auth mechanism allowed", 400
            elif upload.expired:
                problem = "AccessDenied: Request has expired"
            elif (
                len(body) != upload.length
                or int(headers.get("content-length") or -1) != upload.length
            ):
                problem = "SignatureDoesNotMatch: Content-Length differs from the signed one"
            if problem is not None:
                self._record(
                    LoggedRequest("s3", upload.region if upload else "", "PresignedPut", {}, status)
                )
                code, _, message = problem.partition(": ")
                xml = f"<Error><Code>{code}</Code><Message>{message or code}</Message></Error>"
                return _HttpResponse(status, {"Content-Type": "application/xml"}, xml.encode())
            assert upload is not None
            upload.done = True
            etag = hashlib.md5(body, usedforsecurity=False).hexdigest()
            case = self.security_ir(upload.region).cases[upload.case_id]
            case.attachments.append(
                {
                    "attachmentId": str(uuid.uuid4()),
                    "fileName": upload.file_name,
                    "bytes": len(body),
                    "sha256": hashlib.sha256(body).hexdigest(),
                }
            )
            self.puts.append({"file_name": upload.file_name, "headers": dict(headers)})
            self._record(
                LoggedRequest(
                    "s3", upload.region, "PresignedPut", {"fileName": upload.file_name}, 200
                )
            )
            return _HttpResponse(200, {"ETag": f'"{etag}"'}, b"")

    def _answer(
        self,
        service: str,
        region: str,
        operation: str,
        params: dict[str, Any],
        arrived: float | None = None,
    ) -> _HttpResponse | None:
        if service not in self._MINE:
            return super()._answer(service, region, operation, params, arrived)
        failure = self._take_failure(service, region, operation)
        if failure is not None:
            return (
                None
                if failure.code == "drop"
                else self._failure_response(service, operation, failure)
            )
        op = self._routes[service].model.operation_model(operation)
        handler = {
            ("security-ir", "CreateCaseComment"): self._ir_comment,
            ("security-ir", "GetCaseAttachmentUploadUrl"): self._ir_upload_url,
            ("securityhub", "BatchUpdateFindings"): self._hub_update,
        }.get((service, operation))
        if handler is None:
            raise NotImplementedByFake(service, operation)
        problems = validation_problems(params, op.input_shape)
        if problems:
            code = "ValidationException" if service == "security-ir" else "InvalidInputException"
            raise ApiError(code, "; ".join(problems), status=400)
        with self._lock:
            result = handler(region, op, params)
        members = op.output_shape.members if op.output_shape is not None else {}
        wire = {
            members[name].serialization.get("name", name): value
            for name, value in result.items()
            if value is not None
        }
        import json

        status = int(op.http.get("responseCode") or 200)
        headers = {"Content-Type": "application/json", "x-amzn-RequestId": str(uuid.uuid4())}
        return _HttpResponse(status, headers, json.dumps(wire).encode())

    def _error_response(self, service: str, error: ApiError) -> _HttpResponse:
        if service not in self._MINE:
            return super()._error_response(service, error)
        import json

        status = error.status if error.status != 400 else _STATUS.get((service, error.code), 400)
        headers = {
            "Content-Type": "application/json",
            "x-amzn-RequestId": str(uuid.uuid4()),
            "x-amzn-ErrorType": error.code,
        }
        doc: dict[str, Any] = {"message": error.message}
        if service == "securityhub":
            doc = {"Message": error.message, "Code": error.code}
        elif error.code == "ValidationException":
            doc["reason"] = "fieldValidationFailed"
        return _HttpResponse(status, headers, json.dumps(doc).encode())

    # ---- security-ir
    def _case(self, region: str, case_id: str) -> Case:
        if not _CASE_ID.fullmatch(case_id):
            raise ApiError("ValidationException", f"caseId {case_id!r} does not match \\d{{10,32}}")
        case = self.security_ir(region).cases.get(case_id)
        if case is None:
            raise ApiError("ResourceNotFoundException", f"Case {case_id} not found", status=404)
        return case

    def _idempotent(self, operation: str, params: Mapping[str, Any]) -> tuple[tuple[str, str], Any]:
        token = params.get("clientToken")
        key = (operation, str(token))
        if token and key in self._ir_tokens:
            before_params, before = self._ir_tokens[key]
            if before_params != {k: v for k, v in params.items() if k != "clientToken"}:
                raise ApiError(
                    "ConflictException", "clientToken reused with other parameters", status=409
                )
            return key, before
        return key, None

    def _ir_comment(
        self, region: str, op: OperationModel, params: dict[str, Any]
    ) -> dict[str, Any]:
        case = self._case(region, params["caseId"])
        if len(params["body"]) > SECURITY_IR_MAX_COMMENT:
            raise ApiError(
                "ValidationException", f"body is over {SECURITY_IR_MAX_COMMENT} characters"
            )
        key, before = self._idempotent(op.name, params)
        if before is not None:
            return copy.deepcopy(before)
        comment_id = f"{len(case.comments) + 100001:06d}"
        case.comments.append({"commentId": comment_id, "body": params["body"]})
        result = {"commentId": comment_id}
        if params.get("clientToken"):
            self._ir_tokens[key] = ({k: v for k, v in params.items() if k != "clientToken"}, result)
        return result

    def _ir_upload_url(
        self, region: str, op: OperationModel, params: dict[str, Any]
    ) -> dict[str, Any]:
        self._case(region, params["caseId"])
        name = params["fileName"]
        if not _FILE_NAME.fullmatch(name):
            raise ApiError("ValidationException", f"fileName {name!r} must match [a-zA-Z0-9._-]+")
        if not 1 <= params["contentLength"] <= SECURITY_IR_MAX_BYTES:
            raise ApiError("ValidationException", "contentLength must be between 1 and 104857600")
        key, before = self._idempotent(op.name, params)
        if before is not None:
            return copy.deepcopy(before)
        upload_id = uuid.uuid4().hex
        token = secrets.token_hex(32)
        expired = self._expire_after is not None and len(self._uploads) >= self._expire_after
        self._uploads[upload_id] = _Upload(
            region, params["caseId"], name, params["contentLength"], token, expired=expired
        )
        url = (
            f"{self.upload_url_base or self.url}{_PRESIGNED_PATH}{upload_id}/{name}"
            "?X-Amz-Algorithm=AWS4-HMAC-SHA256"
            f"&X-Amz-Credential=ASIAFAKECREDENTIAL%2F20240101%2F{region}%2Fs3%2Faws4_request"
            f"&X-Amz-Date=20240101T000000Z&X-Amz-Expires=300&X-Amz-SignedHeaders=content-length%3Bhost"
            f"&X-Amz-Security-Token=FwoGZXIvYXdzEFAKE{secrets.token_hex(24)}&X-Amz-Signature={token}"
        )
        self._uploads[upload_id].url = url
        result = {"attachmentPresignedUrl": url}
        if params.get("clientToken"):
            self._ir_tokens[key] = ({k: v for k, v in params.items() if k != "clientToken"}, result)
        return result

    # ---- securityhub
    def _hub_update(
        self, region: str, op: OperationModel, params: dict[str, Any]
    ) -> dict[str, Any]:
        idents = params["FindingIdentifiers"]
        if not 1 <= len(idents) <= SECURITY_HUB_MAX_FINDINGS:
            raise ApiError(
                "InvalidInputException",
                f"FindingIdentifiers must hold 1 to 100 findings, not {len(idents)}",
            )
        note = params.get("Note")
        if note is not None:
            for k in ("Text", "UpdatedBy"):
                if len(note[k]) > SECURITY_HUB_NOTE_MAX:
                    raise ApiError(
                        "InvalidInputException",
                        f"Note.{k} is over {SECURITY_HUB_NOTE_MAX} characters",
                    )
        if not any(
            k in params
            for k in (
                "Note",
                "Workflow",
                "VerificationState",
                "Severity",
                "Confidence",
                "Criticality",
                "Types",
                "UserDefinedFields",
                "RelatedFindings",
            )
        ):
            raise ApiError("InvalidInputException", "nothing to update")
        hub = self.securityhub(region)
        if hub.answer_nothing:
            return {"ProcessedFindings": [], "UnprocessedFindings": []}
        processed, unprocessed, seen = [], [], set()
        for ident in idents:
            pair = (ident["Id"], ident["ProductArn"])
            if pair in seen:
                unprocessed.append(
                    {
                        "FindingIdentifier": ident,
                        "ErrorCode": "DuplicatedFindingIdentifier",
                        "ErrorMessage": "Finding Identifier is duplicated",
                    }
                )
                continue
            seen.add(pair)
            finding = hub.findings.get(ident["Id"])
            if finding is None or finding["ProductArn"] != ident["ProductArn"]:
                unprocessed.append(
                    {
                        "FindingIdentifier": ident,
                        "ErrorCode": "FindingNotFound",
                        "ErrorMessage": "Finding Not Found",
                    }
                )
                continue
            change = {
                k: copy.deepcopy(params[k])
                for k in ("Note", "Workflow", "VerificationState")
                if k in params
            }
            finding.update(change)
            finding["history"].append(change)
            processed.append(ident)
        return {"ProcessedFindings": processed, "UnprocessedFindings": unprocessed}
