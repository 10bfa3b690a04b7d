"""Answers checked before and after botocore parses them: :func:`check_answer` (a proxy's HTML
page, a garbled body, a JSON document that is not an AWS error), :func:`repair_answer` (text
no writer can write — a lone surrogate escape — made valid before it is parsed, and said:
:func:`answer_repairs`, :func:`repair_issue`) and :func:`answer` (a field the API promises, or
an error naming the operation).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from typing import Any
from xml.sax.saxutils import escape as xml_escape

from botocore.parsers import ResponseParserError

from torinvest.errors import DataIssue, EndpointError
from torinvest.jsonread import JsonRepairs, repair_surrogates

#: How much of an unparsable answer an error message quotes.
_BODY_QUOTE_CHARS = 120
#: Key :func:`check_answer` adds to an error answer that is not an AWS error document.
NOT_AWS_KEY = "TorinvestNotAnAwsAnswer"
_XML_PROTOCOLS = frozenset({"query", "ec2", "rest-xml"})
_JSON_PROTOCOLS = frozenset({"json", "rest-json", "smithy-rpc-v2-cbor"})
_FIRST_TAG = re.compile(
    rb"^\s*(?:<\?xml[^>]*\?>\s*)?(?:<!--.*?-->\s*)*<!?([A-Za-z_][\w.:-]*)", re.S
)


#: Key :func:`repair_answer` adds to a parsed answer whose text it repaired: its
#: :class:`~torinvest.jsonread.JsonRepairs` (read it with :func:`answer_repairs`).
REPAIRED_KEY = "TorinvestRepairedText"
#: The protocols whose answers botocore reads with Python's ``json`` (which takes ``"\\ud800"``).
_JSON_TEXT_PROTOCOLS = frozenset({"json", "rest-json"})

log = logging.getLogger(__name__)


class NotAnAwsAnswer(ResponseParserError):
    """An answer that is not an AWS answer (HTML, garbled, wrong document): see check_answer."""


def check_answer(
    operation_model: Any, response_dict: dict[str, Any], customized_response_dict: dict, **_: Any
) -> None:
    """botocore ``before-parse`` hook: refuse an answer that is not shaped like an AWS answer.

    A success (2xx) whose body is not the protocol's document (HTML from a proxy or captive
    portal, garbled bytes, a JSON array, XML of another operation) raises :class:`NotAnAwsAnswer`
    instead of parsing to an empty dict or crashing inside botocore. An error answer that is not
    an AWS error document is marked (:data:`NOT_AWS_KEY` in the parsed error) and its body emptied,
    so botocore still raises a ClientError (and retries a 5xx as usual) and
    :func:`translate_error` says the endpoint is not AWS. Streaming and payload answers (S3
    GetObject…) are not looked at.
    """
    body = response_dict.get("body")
    if not isinstance(body, bytes | bytearray) or not body.strip():
        return
    if operation_model.has_streaming_output:
        return
    output = operation_model.output_shape
    status = int(response_dict.get("status_code") or 0)
    if status < 300 and output is not None and output.serialization.get("payload"):
        return
    service_model = operation_model.service_model
    protocol = getattr(service_model, "resolved_protocol", None) or service_model.protocol
    headers = response_dict.get("headers") or {}
    problem = _answer_problem(
        protocol,
        status,
        bytes(body),
        headers,
        operation_model.name,
        has_output=bool(output is not None and output.members),
    )
    if problem is None:
        return
    content_type = headers.get("content-type") or "no content type"
    what = (
        f"HTTP {status} with {problem} ({content_type}), not an AWS answer: {_quote(bytes(body))}"
    )
    if status < 300:
        raise NotAnAwsAnswer(what)
    # botocore still raises its ClientError (and retries a 5xx as usual), with this code
    customized_response_dict[NOT_AWS_KEY] = what
    response_dict["body"] = _error_document(protocol, what)


def repair_answer(
    operation_model: Any, response_dict: dict[str, Any], customized_response_dict: dict, **_: Any
) -> None:
    """botocore ``before-parse`` hook (after :func:`check_answer`): a JSON answer's escapes of
    a lone UTF-16 surrogate (``"\\ud800"``) replaced by ``\\ufffd`` before botocore parses it.

    botocore reads JSON answers with Python's ``json``, which turns such an escape — legal
    JSON, written by a service that echoes text an attacker chose (a finding's user agent, a
    user or resource name, a CloudTrail event's fields) — into a ``str`` that no UTF-8 writer
    takes: orjson, ``str.encode``, a CSV, an HTML page, a terminal, an HTTP body all refuse it.
    Made valid here, once for every client torinvest builds, nothing downstream can hold one;
    the value is kept (U+FFFD in place of the half character, as :mod:`torinvest.jsonread`
    does for files) and the parsed answer carries what was replaced under
    :data:`REPAIRED_KEY`, so that the caller names the finding or record that holds it
    (:func:`repair_issue`). A pair (``\\ud83d\\ude00``) is text and kept; an answer without
    such an escape is left untouched (one search of its bytes). Streaming and payload answers
    are not looked at."""
    body = response_dict.get("body")
    if not isinstance(body, bytes | bytearray) or operation_model.has_streaming_output:
        return
    service_model = operation_model.service_model
    protocol = getattr(service_model, "resolved_protocol", None) or service_model.protocol
    if protocol not in _JSON_TEXT_PROTOCOLS:
        return  # XML cannot hold one (its parser refuses the character reference)
    output = operation_model.output_shape
    status = int(response_dict.get("status_code") or 0)
    if status < 300 and output is not None and output.serialization.get("payload"):
        return
    fixed, repairs = repair_surrogates(bytes(body))
    if not repairs:
        return
    response_dict["body"] = fixed
    customized_response_dict[REPAIRED_KEY] = repairs
    log.info(
        "%s %s: %s",
        service_model.service_name,
        operation_model.name,
        repairs.describe(),
    )


def answer_repairs(response: Any) -> JsonRepairs:
    """What :func:`repair_answer` replaced in ``response`` (a parsed answer; empty: nothing)."""
    found = response.get(REPAIRED_KEY) if isinstance(response, Mapping) else None
    return found if isinstance(found, JsonRepairs) else JsonRepairs()


def repair_issue(
    source: str, what: str, repairs: JsonRepairs, values: Any, names: Any
) -> DataIssue | None:
    """The data issue of an answer :func:`repair_answer` repaired (None when it was not):
    ``what`` names the answer (``GetFindings' answer``), ``values`` the records read from it
    and ``names`` theirs (``finding ID``), of which those holding U+FFFD are named."""
    if not repairs:
        return None
    return DataIssue(source, f"{what}: {repairs.issue_text(list(values), list(names))}")


def _error_document(protocol: str, message: str) -> bytes:
    """An AWS error document of ``protocol`` with the code ``NotAnAwsAnswer``."""
    text = xml_escape(message)
    if protocol == "ec2":
        return (
            "<Response><Errors><Error><Code>NotAnAwsAnswer</Code>"
            f"<Message>{text}</Message></Error></Errors></Response>"
        ).encode()
    if protocol == "query":
        return (
            "<ErrorResponse><Error><Code>NotAnAwsAnswer</Code>"
            f"<Message>{text}</Message></Error></ErrorResponse>"
        ).encode()
    if protocol == "rest-xml":
        return f"<Error><Code>NotAnAwsAnswer</Code><Message>{text}</Message></Error>".encode()
    return json.dumps({"__type": "NotAnAwsAnswer", "message": message}).encode()


def _answer_problem(
    protocol: str,
    status: int,
    body: bytes,
    headers: Mapping[str, str],
    operation: str,
    *,
    has_output: bool = False,
) -> str | None:
    """Why ``body`` is not an AWS answer of ``protocol``, or None when it may be one."""
    head = body.lstrip()[:1]
    tag = _FIRST_TAG.match(body[:2048])
    name = tag.group(1).decode("ascii", "replace").lower() if tag else ""
    if name in ("html", "doctype") or (head == b"<" and b"<html" in body[:2048].lower()):
        return "an HTML page"
    if protocol in _JSON_PROTOCOLS and protocol != "smithy-rpc-v2-cbor":
        if status < 300:  # cheap: botocore parses it next (a broken object has no fields)
            try:
                body.decode("utf-8")
            except UnicodeDecodeError:
                return "a body that is not JSON"
            if head == b"[":
                return "a JSON list"
            return None if head == b"{" else "a body that is not JSON"
        try:
            doc = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return "a body that is not JSON"
        if not isinstance(doc, dict):
            return f"a JSON {type(doc).__name__}"
        if not (headers.get("x-amzn-errortype") or doc.get("__type") or doc.get("code")):
            return "a JSON document without an AWS error code"
        return None
    if protocol in _XML_PROTOCOLS:
        if head != b"<" or not tag:
            return "a body that is not XML"
        if status < 300 and protocol in ("query", "ec2") and name != f"{operation}Response".lower():
            return f"XML <{tag.group(1).decode('ascii', 'replace')}> instead of {operation}Response"
        wrapper = f"<{operation}Result".encode()
        if status < 300 and protocol == "query" and has_output and wrapper not in body:
            return f"XML without {operation}Result"
    return None


def _quote(body: bytes) -> str:
    """The start of a body, on one line, printable."""
    text = body[: _BODY_QUOTE_CHARS * 4].decode("utf-8", "replace")
    text = " ".join(text.split())
    text = "".join(c if c.isprintable() else "\ufffd" for c in text)
    return text[: _BODY_QUOTE_CHARS - 1] + "…" if len(text) > _BODY_QUOTE_CHARS else text


def answer(
    response: Any,
    key: str,
    kind: type | tuple[type, ...] = object,
    *,
    service: str,
    operation: str,
    region: str | None = None,
) -> Any:
    """``response[key]``, checked: a missing field (or one of another type than ``kind``) is an
    :class:`~torinvest.errors.EndpointError` naming the operation, never an empty result.

    >>> answer({"DetectorIds": []}, "DetectorIds", list, service="guardduty", operation="ListDetectors")
    []
    """
    where = f"{service} in {region}" if region else service
    if not isinstance(response, Mapping) or key not in response:
        raise EndpointError(
            f"{operation} on {where}: the answer has no {key}, which the API always returns",
            hint="a proxy or a wrong AWS_ENDPOINT_URL may be answering instead of AWS; check "
            "the network and the endpoint settings",
            service=service,
            region=region,
            operation=operation,
            code="IncompleteResponse",
        )
    value = response[key]
    if not isinstance(value, kind):
        raise EndpointError(
            f"{operation} on {where}: {key} in the answer is a {type(value).__name__}, "
            "not what the API returns",
            hint="a proxy or a wrong AWS_ENDPOINT_URL may be answering instead of AWS",
            service=service,
            region=region,
            operation=operation,
            code="IncompleteResponse",
        )
    return value
