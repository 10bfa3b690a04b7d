"""A local fake of the GuardDuty findings APIs, CloudTrail LookupEvents and Athena's query
APIs, spoken over HTTP.

Real boto3 clients talk to it through ``AWS_ENDPOINT_URL_GUARDDUTY`` / ``_CLOUDTRAIL`` /
``_ATHENA`` (or ``endpoint_url=fake.url``), so serialization, pagination, retries and throttling
run for real. Every request is routed, parsed and validated with botocore's own service models,
in the protocol the installed model names: the method and ``requestUri`` template (rest-json:
GuardDuty; Athena from botocore 1.44.18) or ``X-Amz-Target`` (json 1.1: CloudTrail; Athena
before 1.44.18) pick the operation, the input shape's ``location``/``locationName`` say where
each parameter is, and ``botocore.validate.ParamValidator`` plus the model's ``max``/``enum``
limits (which botocore itself does not check) decide whether the request is valid. Region and
service come from the SigV4 ``Authorization`` credential scope; the account is
:attr:`FakeAws.account_id`.

Served operations:

- GuardDuty: ListDetectors, ListFindings (FindingCriteria on any dotted finding field with
  Eq/Neq/Equals/NotEquals/Matches/NotMatches and Gt/Gte/Lt/Lte/GreaterThan.../LessThanOrEqual,
  timestamps compared in epoch milliseconds; SortCriteria; 50 per page), GetFindings,
  ArchiveFindings, UnarchiveFindings (50 IDs per call), CreateFilter (Name and Description
  checked against the character sets of GuardDuty's API reference, which botocore's model
  lacks), ListFilters, GetFilter, GetAdministratorAccount. Last pages carry ``nextToken: ""``, as GuardDuty sends.
- CloudTrail: LookupEvents over stored log *records*, newest first, one lookup attribute, time
  window, 50 per page, 2 requests/s per region (``ThrottlingException``, HTTP 400): requests are
  counted by the time they arrive, over a sliding second (accepted ones only), and can be
  answered after a set latency (``set_lookup_latency``), counted from that arrival.
  ListPublicKeys: the keys added (``add_public_key``) whose validity overlaps the range asked
  (the current key when none is given), ``PUBLIC_KEYS_PAGE`` a page.
  DescribeTrails (``add_trail``; none by default: an account without a trail; other regions'
  multi-region trails as shadows) and GetEventSelectors (by name in the home region, or ARN).
- Athena: StartQueryExecution (workgroup must exist; an output location from the request or the
  workgroup, else InvalidRequestException; ClientRequestToken idempotent), GetQueryExecution
  (QUEUED/RUNNING for the set number of polls, then SUCCEEDED or FAILED with StateChangeReason
  and AthenaError; Statistics.DataScannedInBytes), GetQueryResults (refused until SUCCEEDED;
  MaxResults/NextToken paging, 1000 rows a page; a SELECT's first row is the header row, as
  Athena sends it; ResultSetMetadata.ColumnInfo with types on every page), StopQueryExecution
  (QUEUED/RUNNING → CANCELLED), ListQueryExecutions (newest first, per workgroup),
  CreateWorkGroup, GetTableMetadata (the tables added with ``add_table``: their ``Parameters``,
  such as ``location`` and ``storage.location.template``; another: MetadataException).
  Invalid requests: InvalidRequestException (HTTP 400).
- EC2: DescribeRegions (query protocol, EC2's XML) answers :attr:`FakeAws.enabled_regions`
  (those in :attr:`FakeAws.opted_in_regions` ``opted-in``, the others ``opt-in-not-required``), the
  account's enabled regions (``["us-east-1"]`` after a reset), when no failure is injected for it.

State API (all methods thread-safe)::

    fake = FakeAws(account_id="123456789012").start()     # or: with FakeAws() as fake: ...
    fake.url                                            # http://127.0.0.1:PORT
    gd = fake.guardduty("us-east-1")
    detector_id = gd.add_detector()                     # or add_detector("d1e2...")
    gd.add_findings([raw_camel_case_finding, ...])      # into the region's only detector
    gd.set_administrator("111122223333")                # member account; None = standalone/admin
    gd.findings, gd.archived_ids, gd.filters
    fake.cloudtrail("us-east-1").add_records(log["Records"])
    athena = fake.athena("us-east-1")                   # workgroup "primary" has an output location
    athena.add_results([("source_ip", "varchar"), ("events", "bigint")],
                       [["198.51.100.7", "3"], [None, "1"]], scanned=3 << 30)  # the next query
    athena.add_answers(AthenaAnswer(columns, rows), ...)   # the next queries, one each, in order
    athena.add_results(columns, rows, match=r"AS untimed")  # every query whose SQL matches
    athena.add_failure("TABLE_NOT_FOUND: ...", error_type=1301)  # the next query ends FAILED
    athena.set_polls(queued=2, running=3)               # GetQueryExecution calls in each state
    athena.add_work_group("investigations", "s3://results/")  # or CreateWorkGroup
    athena.executions                                   # [AthenaExecution(query_id, sql, state…)]
    fake.fail("cloudtrail", "eu-west-1", "AccessDeniedException")   # every request there fails
    fake.fail("guardduty", "*", 500, operation="GetFindings", times=2)  # raw HTTP 500, twice
    fake.fail("guardduty", "us-west-2", DROP)           # close the connection without answering
    fake.fail("guardduty", "*", 200, body=HTML_PAGE, content_type="text/html")  # a proxy's page
    fake.fail("guardduty", "*", 404, body=JSON_NOT_FOUND, content_type="application/json")
    fake.fail("sts", "*", 200, body=HTML_PAGE, content_type="text/html")  # any service: point
                                                        # AWS_ENDPOINT_URL_STS (or _EC2…) here
    fake.fail("athena", "*", "TooManyRequestsException", operation="GetQueryResults", times=1)
    fake.loop_tokens("cloudtrail", "eu-west-1")         # every page's NextToken the same one;
                                                        # period=3: 3 in turn; None: never ending
    fake.expire_tokens("guardduty", "*", times=1)       # the next request sending a token finds
                                                        # it expired (the service's own error)
    fake.clear_failures()                               # failures, token loops and expiries
    fake.set_lookup_rate(2.0)                           # LookupEvents per second per region; None = off
    fake.set_lookup_latency(0.3, jitter=0.01)           # answer LookupEvents 0.3–0.31 s after arrival
    fake.throttle_share = 0.3                           # also throttle 30% of allowed LookupEvents
    fake.requests                                       # [LoggedRequest(service, region, operation,
                                                        #   params, status, at), ...] snapshot
    fake.calls("LookupEvents", region="us-east-1")      # the same, filtered
    fake.clear_requests()                               # forget the log only
    fake.archived_ids, fake.filters                     # across regions
    fake.reset()                                        # empty state, default limits, no failures
"""

from __future__ import annotations

import base64
import copy
import fnmatch
import functools
import json
import random
import re
import secrets
import threading
import time
import traceback
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple
from urllib.parse import parse_qs, unquote, urlsplit
from xml.sax.saxutils import escape as xml_escape

import botocore.exceptions
import botocore.session
from botocore.model import OperationModel, ServiceModel, Shape
from botocore.utils import parse_timestamp
from botocore.validate import ParamValidator

DEFAULT_ACCOUNT_ID = "123456789012"
#: The account's enabled regions after a reset (EC2 DescribeRegions): the tests' region.
DEFAULT_ENABLED_REGION = "us-east-1"
DEFAULT_LOOKUP_RATE = 2.0
#: ``fail()`` code that closes the connection without an answer.
DROP = "drop"
#: ``fail()`` code that answers a bare HTTP 500 (not an AWS error document).
HTTP_500 = 500
#: Bodies for ``fail(..., body=...)``: what a proxy, a captive portal or a wrong endpoint answers.
HTML_PAGE = (
    "<!DOCTYPE html><html><head><title>Sign in to the network</title></head>"
    "<body><h1>Please sign in</h1><p>This network requires authentication.</p></body></html>"
)
JSON_NOT_FOUND = '{"message": "Not Found"}'
JSON_SERVER_ERROR = '{"error": "internal", "status": 500}'
GARBLED = b'\x1f\x8b\x08\x00\xde\xad\xbe\xef{"Det'

#: What CreateFilter takes in Name and Description, as GuardDuty's API reference documents them
#: (botocore's model has only the lengths): Name: letters, digits, ``. _ -``; Description:
#: letters, digits, whitespace and ``- . : _ { } [ ] ( ) /``.
FILTER_TEXT_PATTERNS: dict[str, re.Pattern[str]] = {
    "Name": re.compile(r"[A-Za-z0-9_.-]+"),
    "Description": re.compile(r"[A-Za-z0-9 \t\n\x0b\x0c\r\-.:_{}\[\]()/]*"),
}
GUARDDUTY_INVALID_INPUT = (
    "The request is rejected because an invalid or out-of-range value is specified as an input "
    "parameter."
)
DETECTOR_NOT_OWNED = (
    "The request is rejected because the input detectorId is not owned by the current account."
)
MEMBER_CANNOT_ARCHIVE = (
    "The request is rejected because the current account cannot archive findings: it is a "
    "GuardDuty member account; archive from the administrator account."
)
GUARDDUTY_PAGE_SIZE = 50
CLOUDTRAIL_PAGE_SIZE = 50
#: Public keys a ListPublicKeys page holds (few: the tests' keys take more than one page).
PUBLIC_KEYS_PAGE = 2

_SCOPE_RE = re.compile(r"Credential=[^/,\s]+/\d{8}/([^/]+)/([^/]+)/aws4_request")
_TIME_FIELDS = frozenset(
    {"updatedAt", "createdAt", "service.eventFirstSeen", "service.eventLastSeen"}
)
_NUMERIC_OPS: dict[str, Callable[[float, float], bool]] = {
    "Gt": float.__gt__,
    "Gte": float.__ge__,
    "Lt": float.__lt__,
    "Lte": float.__le__,
    "GreaterThan": float.__gt__,
    "GreaterThanOrEqual": float.__ge__,
    "LessThan": float.__lt__,
    "LessThanOrEqual": float.__le__,
}
_ERROR_STATUS = {
    ("guardduty", "AccessDeniedException"): 403,
    ("guardduty", "UnrecognizedClientException"): 403,
    ("guardduty", "TooManyRequestsException"): 429,
    ("guardduty", "InternalServerErrorException"): 500,
    ("cloudtrail", "InternalFailure"): 500,
    ("cloudtrail", "ServiceUnavailable"): 503,
    ("athena", "InternalServerException"): 500,
    ("sts", "AccessDenied"): 403,
    ("ec2", "UnauthorizedOperation"): 403,
    ("iam", "AccessDenied"): 403,
}
ATHENA_PAGE_SIZE = 1000
ATHENA_LIST_PAGE_SIZE = 50


class LoggedRequest(NamedTuple):
    """One request the fake answered (or dropped: status 0); ``at``: when it arrived
    (``time.monotonic()``, the clock the LookupEvents limit counts with)."""

    service: str
    region: str
    operation: str
    params: dict[str, Any]
    status: int
    at: float = 0.0


class ApiError(Exception):
    """An AWS error answer: ``code`` is what botocore reports as ``Error.Code``."""

    def __init__(self, code: str, message: str, *, status: int = 400, wire_type: str = "") -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.wire_type = wire_type or code


class NotImplementedByFake(ApiError):
    """An operation that exists in the service model but that this fake does not serve."""

    def __init__(self, service: str, operation: str) -> None:
        super().__init__(
            "NotImplementedByFake",
            f"[fake_aws] {service} {operation} is not implemented by tests/fake_aws",
            status=501,
        )


@dataclass(frozen=True, slots=True)
class _HttpResponse:
    status: int
    headers: dict[str, str]
    body: bytes


@dataclass(slots=True)
class _Failure:
    code: str | int
    status: int | None
    message: str | None
    remaining: int | None
    body: bytes | None = None
    content_type: str | None = None
    #: matching requests answered as usual before the failure starts
    after: int = 0


# --------------------------------------------------------------------------- model helpers


def _from_wire(shape: Shape, value: Any) -> Any:
    """Wire JSON → botocore input params (member names; timestamps as datetimes)."""
    kind = shape.type_name
    if kind == "structure" and isinstance(value, dict):
        out = {}
        for name, member in shape.members.items():
            key = member.serialization.get("name", name)
            if "location" not in member.serialization and key in value:
                out[name] = _from_wire(member, value[key])
        return out
    if kind == "list" and isinstance(value, list):
        return [_from_wire(shape.member, v) for v in value]
    if kind == "map" and isinstance(value, dict):
        return {k: _from_wire(shape.value, v) for k, v in value.items()}
    if kind == "timestamp" and isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC)
    return value


def _additional_info_on_the_wire(finding: dict[str, Any]) -> dict[str, Any]:
    """``service.additionalInfo`` as GetFindings answers it (``ServiceAdditionalInfo``: its
    object as JSON text in ``value``, ``type`` "default"), where a finding was stored as an
    export holds it (the object itself: the console's and EventBridge's JSON)."""
    service = finding.get("service")
    info = service.get("additionalInfo") if isinstance(service, dict) else None
    if isinstance(info, dict) and not {"value", "type"} >= info.keys():
        service["additionalInfo"] = {"value": json.dumps(info), "type": "default"}
    return finding


def _to_wire(shape: Shape, value: Any) -> Any:
    """botocore params (member names) → wire JSON: the inverse of :func:`_from_wire`, for an
    answer that echoes a request's nested parameters (GetFilter's FindingCriteria)."""
    kind = shape.type_name
    if kind == "structure" and isinstance(value, dict):
        return {
            shape.members[k].serialization.get("name", k): _to_wire(shape.members[k], v)
            for k, v in value.items()
            if k in shape.members
        }
    if kind == "list" and isinstance(value, list):
        return [_to_wire(shape.member, v) for v in value]
    if kind == "map" and isinstance(value, dict):
        return {k: _to_wire(shape.value, v) for k, v in value.items()}
    if kind == "blob" and isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if kind == "timestamp" and isinstance(value, datetime):
        return value.timestamp()
    return value


def _from_query(shape: Shape, values: list[str]) -> Any:
    if shape.type_name == "list":
        return values
    value = values[-1]
    if shape.type_name in ("integer", "long"):
        try:
            return int(value)
        except ValueError:
            return value  # ParamValidator reports the type
    if shape.type_name == "boolean":
        return {"true": True, "false": False}.get(value, value)
    return value


def _limit_problems(value: Any, shape: Shape, path: str) -> Iterator[str]:
    """The model's ``max`` and ``enum`` constraints, which botocore's ParamValidator skips."""
    meta, kind = shape.metadata, shape.type_name
    if kind == "structure" and isinstance(value, dict):
        for name, member in shape.members.items():
            if name in value:
                yield from _limit_problems(value[name], member, f"{path}.{name}".lstrip("."))
        return
    size = None
    if kind in ("list", "map", "string") and isinstance(value, list | dict | str):
        size = len(value)
    elif kind in ("integer", "long") and isinstance(value, int):
        size = value
    if size is not None and "max" in meta and size > meta["max"]:
        what = "value" if kind in ("integer", "long") else "length"
        yield f"Invalid {what} for parameter {path}: {size}, valid max {what}: {meta['max']}"
    if kind == "string" and shape.enum and isinstance(value, str) and value not in shape.enum:
        yield f"Invalid value for parameter {path}: {value!r}, valid values: {shape.enum}"
    if kind == "list" and isinstance(value, list):
        for i, item in enumerate(value):
            yield from _limit_problems(item, shape.member, f"{path}[{i}]")
    if kind == "map" and isinstance(value, dict):
        for key, item in value.items():
            yield from _limit_problems(item, shape.value, f"{path}.{key}")


def validation_problems(params: Mapping[str, Any], shape: Shape | None) -> list[str]:
    """Everything wrong with ``params`` for ``shape``: ParamValidator's report plus max/enum."""
    if shape is None:
        return [] if not params else [f"unexpected parameters {sorted(params)}"]
    report = ParamValidator().validate(params, shape)
    problems = report.generate_report().splitlines() if report.has_errors() else []
    return problems + list(_limit_problems(params, shape, ""))


def _template_regex(template: str) -> re.Pattern[str]:
    parts = re.split(r"\{(\w+\+?)\}", template)
    regex = "".join(
        re.escape(p)
        if i % 2 == 0
        else (f"(?P<{p[:-1]}>.+)" if p.endswith("+") else f"(?P<{p}>[^/]+)")
        for i, p in enumerate(parts)
    )
    return re.compile(f"{regex}$")


def _epoch_ms(text: str) -> float:
    return datetime.fromisoformat(text).timestamp() * 1000


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


# --------------------------------------------------------------------------- GuardDuty state


def _field_values(node: Any, parts: list[str]) -> list[Any]:
    """Values at a dotted path of a finding; lists on the way are searched element by element."""
    if isinstance(node, list):
        return [v for item in node for v in _field_values(item, parts)]
    if not parts:
        return [] if node is None else [node]
    if not isinstance(node, dict) or parts[0] not in node:
        return []
    return _field_values(node[parts[0]], parts[1:])


def _comparable(name: str, value: Any) -> float | None:
    if name in _TIME_FIELDS and isinstance(value, str):
        return _epoch_ms(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def _matches_condition(finding: Mapping[str, Any], name: str, condition: Mapping[str, Any]) -> bool:
    values = _field_values(finding, name.split("."))
    texts = [_as_text(v) for v in values]
    for op, operand in condition.items():
        if op in ("Eq", "Equals") and not set(texts) & set(operand):
            return False
        if op in ("Neq", "NotEquals") and set(texts) & set(operand):
            return False
        if op == "Matches" and not any(fnmatch.fnmatchcase(t, p) for t in texts for p in operand):
            return False
        if op == "NotMatches" and any(fnmatch.fnmatchcase(t, p) for t in texts for p in operand):
            return False
        if op in _NUMERIC_OPS:
            numbers = [n for n in (_comparable(name, v) for v in values) if n is not None]
            if not any(_NUMERIC_OPS[op](n, float(operand)) for n in numbers):
                return False
    return True


class GuardDutyRegion:
    """GuardDuty in one region of the fake account: detectors, findings, filters, administrator."""

    def __init__(self, region: str, lock: threading.RLock) -> None:
        self.region = region
        self._lock = lock
        self._detectors: dict[str, dict[str, dict[str, Any]]] = {}
        self._filters: list[dict[str, Any]] = []
        self.administrator: dict[str, Any] | None = None

    def add_detector(self, detector_id: str | None = None) -> str:
        """Create a detector (a random 32-hex ID unless given) and return its ID."""
        detector_id = detector_id or uuid.uuid4().hex
        with self._lock:
            self._detectors.setdefault(detector_id, {})
        return detector_id

    def add_findings(
        self, findings: Iterable[Mapping[str, Any]], detector_id: str | None = None
    ) -> None:
        """Store raw (camelCase) findings, as copies, in ``detector_id`` or the only detector."""
        with self._lock:
            store = self._detectors[detector_id or self._only_detector()]
            for finding in findings:
                store[finding["id"]] = copy.deepcopy(dict(finding))

    def set_administrator(
        self,
        account_id: str | None,
        *,
        relationship_status: str = "Enabled",
        invitation_id: str = "84b097800250d17d1872b34c4daadcf5",
        invited_at: str = "2024-01-01T00:00:00.000Z",
    ) -> None:
        """Make the account a member of ``account_id``'s GuardDuty (None: standalone/admin)."""
        with self._lock:
            self.administrator = None
            if account_id is not None:
                self.administrator = {
                    "accountId": account_id,
                    "invitationId": invitation_id,
                    "relationshipStatus": relationship_status,
                    "invitedAt": invited_at,
                }

    @property
    def detector_ids(self) -> list[str]:
        with self._lock:
            return list(self._detectors)

    @property
    def findings(self) -> list[dict[str, Any]]:
        """Copies of every stored finding (archiving shows as ``service.archived``)."""
        with self._lock:
            return [copy.deepcopy(f) for d in self._detectors.values() for f in d.values()]

    @property
    def archived_ids(self) -> set[str]:
        return {f["id"] for f in self.findings if f.get("service", {}).get("archived")}

    @property
    def filters(self) -> list[dict[str, Any]]:
        """Parameters of each CreateFilter that succeeded, as boto3 was called (``Name``, ``Action``...)."""
        with self._lock:
            return copy.deepcopy(self._filters)

    def _only_detector(self) -> str:
        if len(self._detectors) != 1:
            raise ValueError(
                f"{self.region} has {len(self._detectors)} detectors: pass detector_id="
            )
        return next(iter(self._detectors))

    def _detector(self, detector_id: str) -> dict[str, dict[str, Any]]:
        if detector_id not in self._detectors:
            raise ApiError(
                "BadRequestException", DETECTOR_NOT_OWNED, wire_type="InvalidInputException"
            )
        return self._detectors[detector_id]

    def _check_may_archive(self) -> None:
        if self.administrator is not None:
            raise ApiError(
                "BadRequestException", MEMBER_CANNOT_ARCHIVE, wire_type="InvalidInputException"
            )


def _sort_findings(
    findings: list[dict[str, Any]], sort: Mapping[str, Any] | None
) -> list[dict[str, Any]]:
    if not sort or "AttributeName" not in sort:
        return findings
    name = sort["AttributeName"]

    def key(finding: dict[str, Any]) -> tuple[int, float, str]:
        values = _field_values(finding, name.split("."))
        if not values:
            return (1, 0.0, "")
        number = _comparable(name, values[0])
        return (0, number if number is not None else 0.0, _as_text(values[0]))

    present = [f for f in findings if key(f)[0] == 0]
    missing = [f for f in findings if key(f)[0] == 1]
    present.sort(key=key, reverse=sort.get("OrderBy", "ASC") == "DESC")
    return present + missing


# --------------------------------------------------------------------------- CloudTrail state


def _parse_event_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _username(identity: Mapping[str, Any]) -> str | None:
    if identity.get("userName"):
        return identity["userName"]
    if identity.get("type") == "AssumedRole" and identity.get("arn"):
        return identity["arn"].rsplit("/", 1)[-1]
    if identity.get("type") == "Root":
        return "root"
    return None


def lookup_event(record: Mapping[str, Any]) -> dict[str, Any]:
    """A CloudTrail log record as LookupEvents returns it (``Event`` shape, wire form)."""
    identity = record.get("userIdentity") or {}
    event: dict[str, Any] = {
        "EventId": record["eventID"],
        "EventName": record["eventName"],
        "ReadOnly": _as_text(bool(record.get("readOnly"))),
        "AccessKeyId": identity.get("accessKeyId"),
        "EventTime": _parse_event_time(record["eventTime"]).timestamp(),
        "EventSource": record["eventSource"],
        "Username": _username(identity),
        "Resources": [
            {"ResourceType": r.get("type"), "ResourceName": r.get("ARN") or r.get("ARNPrefix")}
            for r in record.get("resources") or []
        ]
        or None,
        "CloudTrailEvent": json.dumps(record, separators=(",", ":")),
    }
    return {k: v for k, v in event.items() if v is not None}


def _attribute_values(event: Mapping[str, Any], key: str) -> set[str]:
    if key in ("ResourceType", "ResourceName"):
        return {r[key] for r in event.get("Resources", []) if r.get(key)}
    return {event[key]} if key in event else set()


class CloudTrailRegion:
    """CloudTrail management events of one region, served by LookupEvents; the public keys of
    the region's digest signatures, served by ListPublicKeys."""

    def __init__(self, region: str, lock: threading.RLock) -> None:
        self.region = region
        self._lock = lock
        self._events: list[tuple[datetime, int, dict[str, Any]]] = []
        self.public_keys: list[dict[str, Any]] = []
        #: trails whose home is this region (:meth:`add_trail`), none by default: an account
        #: without a trail; GetEventSelectors' answers by trail ARN
        self.trails: list[dict[str, Any]] = []
        self.selectors: dict[str, dict[str, Any]] = {}

    def add_public_key(
        self, value: bytes, fingerprint: str, start: datetime, end: datetime
    ) -> None:
        """A public key (DER, PKCS #1) valid from ``start`` to ``end``."""
        with self._lock:
            self.public_keys.append(
                {
                    "Value": value,
                    "ValidityStartTime": start,
                    "ValidityEndTime": end,
                    "Fingerprint": fingerprint,
                }
            )

    def add_trail(
        self,
        trail: Mapping[str, Any],
        event_selectors: list[dict[str, Any]] | None = None,
        advanced_event_selectors: list[dict[str, Any]] | None = None,
    ) -> None:
        """A trail whose home is this region (DescribeTrails' ``Trail`` shape: ``Name``,
        ``TrailARN``, ``HomeRegion``, ``IsMultiRegionTrail``…) and its selectors, as
        GetEventSelectors answers them (basic, or advanced; none: management events only)."""
        with self._lock:
            self.trails.append(dict(trail))
            self.selectors[str(trail["TrailARN"])] = {
                "TrailARN": trail["TrailARN"],
                **({"EventSelectors": event_selectors} if event_selectors is not None else {}),
                **(
                    {"AdvancedEventSelectors": advanced_event_selectors}
                    if advanced_event_selectors is not None
                    else {}
                ),
            }

    def add_records(self, records: Iterable[Mapping[str, Any]]) -> None:
        """Store CloudTrail log records (the dicts of a log file's ``Records``)."""
        with self._lock:
            for record in records:
                event = lookup_event(record)
                self._events.append(
                    (_parse_event_time(record["eventTime"]), -len(self._events), event)
                )

    def lookup(
        self,
        attribute: tuple[str, str] | None,
        start: datetime | None,
        end: datetime | None,
    ) -> list[dict[str, Any]]:
        """Matching events, newest first."""
        with self._lock:
            rows = sorted(self._events, key=lambda row: row[:2], reverse=True)
        return [
            event
            for when, _, event in rows
            if (start is None or when >= start)
            and (end is None or when <= end)
            and (attribute is None or attribute[1] in _attribute_values(event, attribute[0]))
        ]


# --------------------------------------------------------------------------- Athena state


@dataclass(slots=True)
class AthenaAnswer:
    """What a query the fake runs ends with: ``columns`` ((name, Athena type) pairs) and
    ``rows`` of text values (None: NULL) — a SELECT's first page starts with the header row,
    as Athena sends it — and ``scanned`` bytes; or, with ``failure`` (the StateChangeReason),
    FAILED with that reason and ``error_type`` (AthenaError.ErrorType)."""

    columns: list[tuple[str, str]] = field(default_factory=list)
    rows: list[list[str | None]] = field(default_factory=list)
    scanned: int = 0
    failure: str | None = None
    error_type: int = 1301

    def wire_rows(self) -> list[dict[str, Any]]:
        """The ResultSet's rows: the header (a SELECT with columns), then the data rows."""
        header = [[name for name, _ in self.columns]] if self.columns else []
        return [
            {"Data": [{} if v is None else {"VarCharValue": v} for v in row]}
            for row in [*header, *self.rows]
        ]

    def column_info(self) -> list[dict[str, Any]]:
        return [
            {
                "CatalogName": "hive",
                "SchemaName": "",
                "TableName": "",
                "Name": name,
                "Label": name,
                "Type": kind,
                "Precision": 0,
                "Scale": 0,
                "Nullable": "UNKNOWN",
                "CaseSensitive": kind == "varchar",
            }
            for name, kind in self.columns
        ]


@dataclass(slots=True)
class AthenaExecution:
    """One query execution: what StartQueryExecution asked and where it stands."""

    query_id: str
    sql: str
    database: str | None
    workgroup: str
    output_location: str
    answer: AthenaAnswer
    submitted: float
    queued_polls: int
    running_polls: int
    polls: int = 0
    cancelled: bool = False
    completed: float | None = None

    @property
    def state(self) -> str:
        """QUEUED for the first ``queued_polls`` GetQueryExecution calls, RUNNING for the next
        ``running_polls``, then SUCCEEDED (or FAILED); CANCELLED once stopped."""
        if self.cancelled:
            return "CANCELLED"
        if self.polls < self.queued_polls:
            return "QUEUED"
        if self.polls < self.queued_polls + self.running_polls:
            return "RUNNING"
        return "FAILED" if self.answer.failure is not None else "SUCCEEDED"


class AthenaRegion:
    """Athena in one region of the fake account: workgroups, seeded answers, executions."""

    def __init__(self, region: str, account_id: str, lock: threading.RLock) -> None:
        self.region = region
        self._lock = lock
        #: workgroup → its output location (None: queries must name one); "primary" has one,
        #: as a console-made account's does
        self.workgroups: dict[str, str | None] = {
            "primary": f"s3://aws-athena-query-results-{account_id}-{region}/"
        }
        self._next: deque[AthenaAnswer] = deque()
        self._matching: list[tuple[re.Pattern[str], AthenaAnswer]] = []
        self._polls = (0, 0)
        self._executions: dict[str, AthenaExecution] = {}
        self._tokens: dict[str, str] = {}
        #: (database, table) → the table's parameters (GetTableMetadata)
        self.tables: dict[tuple[str, str], dict[str, str]] = {}
        #: (database, table) → its columns ((name, type) pairs) and partition keys
        self.table_columns: dict[tuple[str, str], tuple[list[tuple[str, str]], list[str]]] = {}

    def add_table(
        self,
        database: str,
        table: str,
        parameters: dict[str, str],
        *,
        columns: Iterable[tuple[str, str]] | None = None,
        partitions: Iterable[str] = ("account", "region", "date"),
    ) -> None:
        """A table of the AwsDataCatalog, as GetTableMetadata answers it: its ``parameters``
        (``location``, ``storage.location.template``, ``projection.*``…), ``columns`` ((name,
        Hive type) pairs; default: those of ``torinvest athena-ddl``'s table) and partition
        keys (strings)."""
        from torinvest.sources.sql.columns import CURRENT_TYPES

        listed = CURRENT_TYPES.items() if columns is None else columns
        with self._lock:
            self.tables[(database, table)] = dict(parameters)
            self.table_columns[(database, table)] = (
                [(n, "".join(t.split()).lower()) for n, t in listed],
                list(partitions),
            )

    def add_work_group(self, name: str, output_location: str | None = None) -> None:
        with self._lock:
            self.workgroups[name] = output_location

    def add_answers(self, *answers: AthenaAnswer) -> None:
        """What the next queries started answer, one each, in this order (after them, and
        without any: no row and no column, 0 bytes scanned)."""
        with self._lock:
            self._next.extend(answers)

    def answer_matching(self, pattern: str, answer: AthenaAnswer) -> None:
        """Every query whose SQL matches ``pattern`` (a regular expression, searched) answers
        ``answer``, before the queue of :meth:`add_answers` (first pattern added wins)."""
        with self._lock:
            self._matching.append((re.compile(pattern), answer))

    def add_results(
        self,
        columns: Iterable[tuple[str, str]],
        rows: Iterable[Iterable[str | None]] = (),
        *,
        scanned: int = 0,
        match: str | None = None,
    ) -> None:
        """Rows (text; None: NULL) of ``columns`` ((name, Athena type) pairs) for the next
        query, or with ``match`` for every query matching it."""
        answer = AthenaAnswer(list(columns), [list(r) for r in rows], scanned)
        if match is None:
            self.add_answers(answer)
        else:
            self.answer_matching(match, answer)

    def add_failure(
        self, reason: str, *, error_type: int = 1301, scanned: int = 0, match: str | None = None
    ) -> None:
        """The next query (or every query matching ``match``) ends FAILED with ``reason``."""
        answer = AthenaAnswer(scanned=scanned, failure=reason, error_type=error_type)
        if match is None:
            self.add_answers(answer)
        else:
            self.answer_matching(match, answer)

    def set_polls(self, *, queued: int = 0, running: int = 0) -> None:
        """How many GetQueryExecution calls queries started from now on stay QUEUED, then
        RUNNING, before they end (0 and 0, the default: done at the first look)."""
        with self._lock:
            self._polls = (queued, running)

    @property
    def executions(self) -> list[AthenaExecution]:
        """Every query started here, oldest first (copies)."""
        with self._lock:
            return [copy.deepcopy(e) for e in self._executions.values()]

    def _start(self, params: Mapping[str, Any]) -> AthenaExecution:
        token = params.get("ClientRequestToken")
        if token in self._tokens:  # an idempotent retry
            return self._executions[self._tokens[token]]
        workgroup = params.get("WorkGroup") or "primary"
        if workgroup not in self.workgroups:
            raise _athena_invalid(f"WorkGroup {workgroup} is not found.")
        output = (params.get("ResultConfiguration") or {}).get("OutputLocation")
        output = output or self.workgroups[workgroup]
        if not output:
            raise _athena_invalid(
                "No output location provided. An output location is required either through "
                "the Workgroup result configuration setting or as an API input."
            )
        sql = params["QueryString"]
        answer = next((a for p, a in self._matching if p.search(sql)), None)
        if answer is None:
            answer = self._next.popleft() if self._next else AthenaAnswer()
        query_id = str(uuid.uuid4())
        execution = AthenaExecution(
            query_id,
            sql,
            (params.get("QueryExecutionContext") or {}).get("Database"),
            workgroup,
            f"{output.rstrip('/')}/{query_id}.csv",
            answer,
            time.time(),
            *self._polls,
        )
        self._executions[query_id] = execution
        if token:
            self._tokens[token] = query_id
        return execution

    def _execution(self, query_id: str) -> AthenaExecution:
        if query_id not in self._executions:
            raise _athena_invalid(f"QueryExecution {query_id} was not found")
        return self._executions[query_id]


def _athena_invalid(message: str) -> ApiError:
    return ApiError("InvalidRequestException", message)


def _athena_execution(execution: AthenaExecution) -> dict[str, Any]:
    """GetQueryExecution's QueryExecution (wire form)."""
    state = execution.state
    status: dict[str, Any] = {"State": state, "SubmissionDateTime": execution.submitted}
    done = state in ("SUCCEEDED", "FAILED", "CANCELLED")
    if done:
        execution.completed = execution.completed or time.time()
        status["CompletionDateTime"] = execution.completed
    if state == "FAILED":
        status["StateChangeReason"] = execution.answer.failure
        status["AthenaError"] = {
            "ErrorCategory": 2,
            "ErrorType": execution.answer.error_type,
            "Retryable": False,
            "ErrorMessage": execution.answer.failure,
        }
    if state == "CANCELLED":
        status["StateChangeReason"] = "Query was cancelled by user"
    statistics: dict[str, Any] = {"QueryQueueTimeInMillis": 0}
    if done:
        millis = int(((execution.completed or 0) - execution.submitted) * 1000)
        scanned = 0 if state == "CANCELLED" else execution.answer.scanned
        statistics |= {
            "EngineExecutionTimeInMillis": millis,
            "TotalExecutionTimeInMillis": millis,
            "DataScannedInBytes": scanned,
        }
    answer: dict[str, Any] = {
        "QueryExecutionId": execution.query_id,
        "Query": execution.sql,
        "StatementType": "DML",
        "ResultConfiguration": {"OutputLocation": execution.output_location},
        "Status": status,
        "Statistics": statistics,
        "WorkGroup": execution.workgroup,
        "EngineVersion": {
            "SelectedEngineVersion": "AUTO",
            "EffectiveEngineVersion": "Athena engine version 3",
        },
    }
    if execution.database is not None:
        answer["QueryExecutionContext"] = {"Database": execution.database}
    return answer


# --------------------------------------------------------------------------- the fake


@dataclass
class _Routes:
    model: ServiceModel
    #: (literal characters of the requestUri, method, regex, operation), most literal first,
    #: so that /detector/{DetectorId}/filter/{FilterName} never shadows .../filter
    rest: list[tuple[int, str, re.Pattern[str], str]] = field(default_factory=list)

    @property
    def content_type(self) -> str:
        """What the service answers in: JSON 1.x (``X-Amz-Target``) or REST-JSON."""
        if self.model.protocol == "json":
            return f"application/x-amz-json-{self.model.metadata.get('jsonVersion', '1.1')}"
        return "application/json"

    @classmethod
    def load(cls, service: str) -> _Routes:
        model = botocore.session.get_session().get_service_model(service)
        routes = cls(model)
        for name in model.operation_names:
            http = model.operation_model(name).http
            template = http.get("requestUri", "/").split("?", 1)[0]
            literal = len(re.sub(r"\{[^}]*\}", "", template))
            routes.rest.append((literal, http["method"], _template_regex(template), name))
        routes.rest.sort(key=lambda route: -route[0])
        return routes


@functools.cache
def _routes_of(service: str) -> _Routes | None:
    try:
        return _Routes.load(service)
    except botocore.exceptions.UnknownServiceError:
        return None


def model_operation(service: str, method: str, raw_path: str) -> str | None:
    """The operation of a rest-json/rest-xml request (method and ``requestUri``) by botocore's
    model of ``service``; None when no operation matches (or the model routes by header)."""
    routes = _routes_of(service)
    if routes is None or routes.model.protocol == "json":
        return None
    path = urlsplit(raw_path).path
    return next(
        (name for _, m, regex, name in routes.rest if m == method and regex.match(path)), None
    )


class FakeAws:
    """The fake endpoint and its state. See the module docstring for the API."""

    def __init__(self, account_id: str = DEFAULT_ACCOUNT_ID) -> None:
        self._default_account_id = account_id
        self._lock = threading.RLock()
        self._routes = {
            "guardduty": _Routes.load("guardduty"),
            "cloudtrail": _Routes.load("cloudtrail"),
            "athena": _Routes.load("athena"),
        }
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.reset()

    # ---- lifecycle

    def start(self) -> FakeAws:
        """Serve on 127.0.0.1 (a free port) in a daemon thread."""
        server = _FakeHttpServer(self)
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeAws:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("FakeAws is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # ---- state API

    def reset(self) -> None:
        """Forget all state; restore the default account, rate limit and throttle share."""
        with self._lock:
            self.account_id = self._default_account_id
            #: what EC2 DescribeRegions answers: the account's enabled regions
            self.enabled_regions: list[str] = [DEFAULT_ENABLED_REGION]
            #: of those, the ones the account opted in to (OptInStatus ``opted-in``)
            self.opted_in_regions: list[str] = []
            self.throttle_share = 0.0
            self._rng = random.Random(0)
            self._lookup_rate: float | None = DEFAULT_LOOKUP_RATE
            self._lookup_latency = (0.0, 0.0)
            self._lookup_windows: dict[str, deque[float]] = {}
            self._guardduty: dict[str, GuardDutyRegion] = {}
            self._cloudtrail: dict[str, CloudTrailRegion] = {}
            self._athena: dict[str, AthenaRegion] = {}
            self._failures: dict[tuple[str, str, str | None], _Failure] = {}
            self._tokens: dict[str, tuple[str, int]] = {}
            self._token_loops: dict[tuple[str, str, str | None], int | None] = {}
            self._expiring: dict[tuple[str, str, str | None], int | None] = {}
            self._loop_tokens: dict[tuple[str, int], str] = {}
            self._log: list[LoggedRequest] = []

    def guardduty(self, region: str) -> GuardDutyRegion:
        with self._lock:
            return self._guardduty.setdefault(region, GuardDutyRegion(region, self._lock))

    def cloudtrail(self, region: str) -> CloudTrailRegion:
        with self._lock:
            return self._cloudtrail.setdefault(region, CloudTrailRegion(region, self._lock))

    def athena(self, region: str) -> AthenaRegion:
        with self._lock:
            if region not in self._athena:
                self._athena[region] = AthenaRegion(region, self.account_id, self._lock)
            return self._athena[region]

    def fail(
        self,
        service: str,
        region: str,
        code: str | int,
        *,
        operation: str | None = None,
        status: int | None = None,
        message: str | None = None,
        times: int | None = None,
        body: str | bytes | None = None,
        content_type: str | None = None,
        after: int = 0,
    ) -> None:
        """Answer requests to ``service`` in ``region`` (``"*"``: every region) with an error.

        ``code`` is an AWS error code (``AccessDeniedException``, ``UnrecognizedClientException``,
        ``ThrottlingException``...), an ``int`` such as :data:`HTTP_500` for a bare HTTP answer
        with that status (no AWS error document), or :data:`DROP` to close the connection.
        ``operation`` limits it to one operation, ``times`` to the next ``times`` matching
        requests. The HTTP status defaults to what the service sends.

        ``body`` (with an ``int`` code: the HTTP status, 200 included) answers exactly these
        bytes with ``content_type`` (default ``text/html``): a proxy's HTML page
        (:data:`HTML_PAGE`), a JSON 404/500 that is not an AWS error (:data:`JSON_NOT_FOUND`,
        :data:`JSON_SERVER_ERROR`), a garbled body (:data:`GARBLED`). Services the fake does not
        serve (``sts``, ``ec2``, ``iam``…) can be failed too: point their
        ``AWS_ENDPOINT_URL_<SERVICE>`` at :attr:`url`; the operation is the query ``Action``.
        ``after``: the first ``after`` matching requests are answered as usual (credentials
        that expire on page 3: ``after=2``).
        """
        if body is not None and not isinstance(code, int):
            raise ValueError("body= goes with an int HTTP status as code")
        data = body.encode() if isinstance(body, str) else body
        with self._lock:
            self._failures[(service, region, operation)] = _Failure(
                code, status, message, times, data, content_type, after
            )

    def clear_failures(self) -> None:
        with self._lock:
            self._failures.clear()
            self._token_loops.clear()
            self._expiring.clear()

    def expire_tokens(
        self,
        service: str,
        region: str,
        *,
        operation: str | None = None,
        times: int | None = 1,
    ) -> None:
        """The next ``times`` requests to ``service`` in ``region`` (``"*"``: every region;
        ``operation``: only that one; None: every one until :meth:`clear_failures`) that send
        back a next token find it expired: answered with the error the service gives a token it
        does not accept (CloudTrail InvalidNextTokenException, GuardDuty BadRequestException,
        Athena InvalidRequestException), as after a long pause between pages. Requests without
        a token are served as usual."""
        with self._lock:
            self._expiring[(service, region, operation)] = times

    def loop_tokens(
        self, service: str, region: str, *, period: int | None = 1, operation: str | None = None
    ) -> None:
        """Make paging of ``service`` in ``region`` (``"*"``: every region; ``operation``: only
        that one) never end, as a broken endpoint or proxy does: every page carries a next token,
        a valid one (bound to its query, accepted when sent back).

        ``period=1``: the same token on every page, each serving the first page again;
        ``period=k``: k tokens in turn, each serving the first page; ``None``: a fresh token on
        every page, never repeated (empty pages once the items run out). Cleared by
        :meth:`clear_failures`.
        """
        if period is not None and period < 1:
            raise ValueError("period is a number of tokens >= 1, or None (never repeating)")
        with self._lock:
            self._token_loops[(service, region, operation)] = period

    def set_lookup_rate(self, rate: float | None) -> None:
        """LookupEvents accepted per sliding second per region (default 2); None: unlimited."""
        with self._lock:
            self._lookup_rate = rate
            self._lookup_windows.clear()

    def set_lookup_latency(self, seconds: float, *, jitter: float = 0.0) -> None:
        """Answer each LookupEvents request (accepted or throttled) ``seconds`` after it arrived,
        plus a uniform random ``jitter`` (seeded); the arrival is what the limit counts. Other
        requests never wait. 0 (the default): as soon as the answer is ready."""
        if seconds < 0 or jitter < 0:
            raise ValueError("latency and jitter are seconds >= 0")
        with self._lock:
            self._lookup_latency = (seconds, jitter)

    def clear_requests(self) -> None:
        """Forget the request log (state, limits and failures stay)."""
        with self._lock:
            self._log.clear()

    @property
    def requests(self) -> list[LoggedRequest]:
        with self._lock:
            return list(self._log)

    def calls(
        self,
        operation: str | None = None,
        *,
        service: str | None = None,
        region: str | None = None,
        status: int | None = None,
    ) -> list[LoggedRequest]:
        """Logged requests, filtered by whichever of the arguments are given."""
        wanted = {"operation": operation, "service": service, "region": region, "status": status}
        return [
            r
            for r in self.requests
            if all(v is None or getattr(r, k) == v for k, v in wanted.items())
        ]

    @property
    def archived_ids(self) -> set[str]:
        with self._lock:
            return {i for gd in self._guardduty.values() for i in gd.archived_ids}

    @property
    def filters(self) -> list[dict[str, Any]]:
        with self._lock:
            return [f for gd in self._guardduty.values() for f in gd.filters]

    # ---- request handling

    def handle(
        self,
        method: str,
        raw_path: str,
        headers: Mapping[str, str],
        body: bytes,
        arrived: float | None = None,
    ) -> _HttpResponse | None:
        """Answer one HTTP request (``headers`` with lower-case names); None: drop the connection.
        ``arrived``: when it arrived (``time.monotonic()``; default: now)."""
        arrived = time.monotonic() if arrived is None else arrived
        scope = _SCOPE_RE.search(headers.get("authorization") or "")
        region, service = scope.groups() if scope else ("", "")
        if service not in self._routes and scope is not None:
            answered = self._answer_unserved(service, region, raw_path, body)
            if answered is not False:
                return answered
        if service not in self._routes:
            error = ApiError(
                "MissingAuthenticationTokenException"
                if scope is None
                else "UnknownServiceException",
                f"[fake_aws] serves SigV4-signed {', '.join(self._routes)} requests, not {service!r}",
                status=403 if scope is None else 400,
            )
            response = self._error_response("guardduty", error)
            self._record(LoggedRequest(service, region, "Unknown", {}, response.status, arrived))
            return response
        operation, params = "Unknown", {}
        response: _HttpResponse | None
        try:
            operation, path_params = self._route(service, method, raw_path, headers)
            params = self._parse(service, operation, raw_path, path_params, body)
            response = self._answer(service, region, operation, params, arrived)
        except ApiError as error:
            response = self._error_response(service, error)
        except Exception as error:  # a bug in the fake: say so, with a code no client retries
            detail = f"[fake_aws] {type(error).__name__}: {error}\n{traceback.format_exc()}"
            response = self._error_response(service, ApiError("FakeAwsInternalError", detail))
        status = 0 if response is None else response.status
        self._record(LoggedRequest(service, region, operation, params, status, arrived))
        if (service, operation) == ("cloudtrail", "LookupEvents"):
            self._wait_latency(arrived)
        return response

    def _wait_latency(self, arrived: float) -> None:
        """Hold a LookupEvents answer until its latency has passed (outside the lock)."""
        with self._lock:
            latency, jitter = self._lookup_latency
            if jitter:
                latency += self._rng.uniform(0, jitter)
        delay = arrived + latency - time.monotonic()
        if delay > 0:
            time.sleep(delay)

    def _answer_unserved(
        self, service: str, region: str, raw_path: str, body: bytes
    ) -> _HttpResponse | bool | None:
        """A failure injected for a service the fake does not serve (sts, ec2, iam…), or False."""
        form = parse_qs(body.decode("utf-8", "replace")) if body else {}
        query = parse_qs(urlsplit(raw_path).query)
        operation = (form.get("Action") or query.get("Action") or ["Unknown"])[0]
        failure = self._take_failure(service, region, operation)
        if failure is None and (service, operation) == ("ec2", "DescribeRegions"):
            response = self._describe_regions()
            self._record(LoggedRequest(service, region, operation, {}, response.status))
            return response
        if failure is None:
            return False
        response = (
            None if failure.code == DROP else self._failure_response(service, operation, failure)
        )
        self._record(
            LoggedRequest(
                service, region, operation, {}, 0 if response is None else response.status
            )
        )
        return response

    def _describe_regions(self) -> _HttpResponse:
        """EC2 DescribeRegions' answer (its XML, as EC2 sends it): :attr:`enabled_regions`,
        each ``opt-in-not-required`` or, in :attr:`opted_in_regions`, ``opted-in``."""
        request_id = str(uuid.uuid4())
        with self._lock:
            names = list(self.enabled_regions)
            opted = set(self.opted_in_regions)
        items = "".join(
            f"<item><regionName>{xml_escape(n)}</regionName><regionEndpoint>ec2."
            f"{xml_escape(n)}.amazonaws.com</regionEndpoint><optInStatus>"
            f"{'opted-in' if n in opted else 'opt-in-not-required'}</optInStatus></item>"
            for n in names
        )
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n<DescribeRegionsResponse '
            'xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">'
            f"<requestId>{request_id}</requestId><regionInfo>{items}</regionInfo>"
            "</DescribeRegionsResponse>"
        )
        headers = {"Content-Type": "text/xml;charset=UTF-8", "x-amzn-RequestId": request_id}
        return _HttpResponse(200, headers, body.encode())

    def _record(self, request: LoggedRequest) -> None:
        with self._lock:
            self._log.append(request)

    def _route(
        self, service: str, method: str, raw_path: str, headers: Mapping[str, str]
    ) -> tuple[str, dict[str, str]]:
        routes = self._routes[service]
        if routes.model.protocol == "json":
            target = headers.get("x-amz-target") or ""
            prefix = routes.model.metadata["targetPrefix"] + "."
            name = target.removeprefix(prefix)
            if method != "POST" or target == name or name not in routes.model.operation_names:
                raise ApiError("UnknownOperationException", f"unknown operation {target!r}")
            return name, {}
        path = urlsplit(raw_path).path
        for _, route_method, regex, name in routes.rest:
            match = regex.match(path)
            if route_method == method and match:
                return name, {k: unquote(v) for k, v in match.groupdict().items()}
        raise ApiError(
            "UnknownOperationException",
            f"[fake_aws] no {service} operation for {method} {path}",
            status=404,
        )

    def _parse(
        self, service: str, operation: str, raw_path: str, path_params: dict[str, str], body: bytes
    ) -> dict[str, Any]:
        shape = self._routes[service].model.operation_model(operation).input_shape
        try:
            document = json.loads(body) if body.strip() else {}
        except ValueError as e:
            code = "BadRequestException" if service == "guardduty" else "SerializationException"
            raise ApiError(code, f"request body is not JSON: {e}") from e
        if shape is None:
            return {}
        params = _from_wire(shape, document) if isinstance(document, dict) else {}
        query = parse_qs(urlsplit(raw_path).query, keep_blank_values=True)
        for name, member in shape.members.items():
            location = member.serialization.get("location")
            key = member.serialization.get("name", name)
            if location == "uri" and key in path_params:
                params[name] = path_params[key]
            elif location == "querystring" and key in query:
                params[name] = _from_query(member, query[key])
        return params

    def _answer(
        self,
        service: str,
        region: str,
        operation: str,
        params: dict[str, Any],
        arrived: float | None = None,
    ) -> _HttpResponse | None:
        failure = self._take_failure(service, region, operation)
        if failure is not None:
            return (
                None
                if failure.code == DROP
                else self._failure_response(service, operation, failure)
            )
        if (service, operation) == ("cloudtrail", "LookupEvents") and not self._admit_lookup(
            region, arrived
        ):
            raise ApiError("ThrottlingException", "Rate exceeded")
        handler = getattr(self, f"_{service}_{operation}", None)
        if handler is None:
            raise NotImplementedByFake(service, operation)
        op = self._routes[service].model.operation_model(operation)
        with self._lock:
            result = handler(region, op, params)
        members = op.output_shape.members if op.output_shape is not None else {}
        wire = {
            members[name].serialization.get("name", name): value
            for name, value in result.items()
            if value is not None
        }
        headers = {
            "Content-Type": self._routes[service].content_type,
            "x-amzn-RequestId": str(uuid.uuid4()),
        }
        return _HttpResponse(200, headers, json.dumps(wire).encode())

    def _take_failure(self, service: str, region: str, operation: str) -> _Failure | None:
        keys = [(service, r, o) for r in (region, "*") for o in (operation, None)]
        with self._lock:
            for key in keys:
                failure = self._failures.get(key)
                if failure is None:
                    continue
                if failure.after > 0:  # answered as usual for now
                    failure.after -= 1
                    return None
                if failure.remaining is not None:
                    failure.remaining -= 1
                    if failure.remaining <= 0:
                        del self._failures[key]
                return failure
        return None

    def _failure_response(self, service: str, operation: str, failure: _Failure) -> _HttpResponse:
        if isinstance(failure.code, int) and failure.body is not None:
            headers = {"Content-Type": failure.content_type or "text/html"}
            return _HttpResponse(failure.code, headers, failure.body)
        if isinstance(failure.code, int):
            body = f"<html><body><h1>{failure.code} Server Error</h1></body></html>".encode()
            return _HttpResponse(failure.code, {"Content-Type": "text/html"}, body)
        code = failure.code
        action = f"{service}:{operation}"
        default_messages = {
            "AccessDeniedException": (
                f"User: arn:aws:sts::{self.account_id}:assumed-role/fake-role/testing is not "
                f"authorized to perform: {action} because no identity-based policy allows the "
                f"{action} action"
            ),
            "UnrecognizedClientException": "The security token included in the request is invalid.",
            "ThrottlingException": "Rate exceeded",
        }
        error = ApiError(
            code,
            failure.message or default_messages.get(code, f"[fake_aws] injected {code}"),
            status=failure.status or _ERROR_STATUS.get((service, code), 400),
        )
        return self._error_response(service, error)

    def _error_response(self, service: str, error: ApiError) -> _HttpResponse:
        if service not in self._routes:  # sts, iam (query) and ec2: an XML error document
            return _xml_error_response(service, error)
        headers = {
            "Content-Type": self._routes[service].content_type,
            "x-amzn-RequestId": str(uuid.uuid4()),
        }
        if (
            service == "guardduty"
        ):  # API Gateway style: the code in a header, a detail type in the body
            headers["x-amzn-ErrorType"] = error.code
            document = {"message": error.message, "__type": error.wire_type}
        elif service == "athena":  # the modelled members of InvalidRequestException
            headers["x-amzn-ErrorType"] = error.code
            document = {"__type": error.code, "Message": error.message}
        else:
            document = {"__type": error.code, "message": error.message}
        return _HttpResponse(error.status, headers, json.dumps(document).encode())

    def _admit_lookup(self, region: str, arrived: float | None = None) -> bool:
        """The sliding-window limit of accepted LookupEvents per region, counted by arrival time
        (``arrived``, default now), then ``throttle_share``."""
        now = time.monotonic() if arrived is None else arrived
        with self._lock:
            window = self._lookup_windows.setdefault(region, deque())
            while window and now - window[0] >= 1.0:
                window.popleft()
            if self._lookup_rate is not None and len(window) >= self._lookup_rate:
                return False
            if self.throttle_share and self._rng.random() < self.throttle_share:
                return False
            window.append(now)
            return True

    def _page(
        self,
        where: tuple[str, str, str],
        params: Mapping[str, Any],
        items: list[Any],
        *,
        size: int,
        last_token: str | None,
    ) -> tuple[list[Any], str | None]:
        """One page of ``items``; tokens are opaque and bound to the query they came from."""
        query_params = {k: v for k, v in params.items() if k not in ("NextToken", "MaxResults")}
        query = json.dumps([*where, query_params], sort_keys=True, default=str)
        offset = 0
        if token := params.get("NextToken"):
            self._expire(where)
            saved = self._tokens.get(token)
            if saved is None or saved[0] != query:
                raise _invalid_token(where[0])
            offset = saved[1]
        end = offset + size
        service, region, operation = where
        loops = self._token_loops
        keys = [(service, r, o) for r in (region, "*") for o in (operation, None)]
        key = next((k for k in keys if k in loops), None)
        if key is not None:
            return self._looping_page(query, token, offset, items, size, loops[key])
        if end >= len(items):
            return items[offset:], last_token
        token = secrets.token_urlsafe(32)
        self._tokens[token] = (query, end)
        return items[offset:end], token

    def _expire(self, where: tuple[str, str, str]) -> None:
        """Raise the service's invalid-token error when :meth:`expire_tokens` says so."""
        service, region, operation = where
        keys = [(service, r, o) for r in (region, "*") for o in (operation, None)]
        key = next((k for k in keys if k in self._expiring), None)
        if key is None:
            return
        left = self._expiring[key]
        if left is not None:
            if left <= 1:
                del self._expiring[key]
            else:
                self._expiring[key] = left - 1
        raise _invalid_token(service)

    def _looping_page(
        self,
        query: str,
        token: str | None,
        offset: int,
        items: list[Any],
        size: int,
        period: int | None,
    ) -> tuple[list[Any], str | None]:
        """A page under :meth:`loop_tokens`: always a next token (see there)."""
        if period is None:
            end = min(offset + size, len(items))
            fresh = secrets.token_urlsafe(32)
            self._tokens[fresh] = (query, end)
            return items[offset:end], fresh
        turn = next((i for (q, i), t in self._loop_tokens.items() if q == query and t == token), -1)
        turn = (turn + 1) % period
        following = self._loop_tokens.setdefault((query, turn), secrets.token_urlsafe(32))
        self._tokens[following] = (query, 0)
        return items[:size], following

    # ---- GuardDuty operations: (region, operation model, params) → output members

    def _gd_validated(
        self, region: str, op: OperationModel, params: dict[str, Any]
    ) -> GuardDutyRegion:
        problems = validation_problems(params, op.input_shape)
        if problems:
            raise ApiError(
                "BadRequestException",
                f"{GUARDDUTY_INVALID_INPUT} [fake_aws] {'; '.join(problems)}",
                wire_type="InvalidInputException",
            )
        return self.guardduty(region)

    def _gd_page(
        self, region: str, op: OperationModel, params: dict[str, Any], items: list[Any]
    ) -> tuple[list[Any], str | None]:
        size = params.get("MaxResults") or GUARDDUTY_PAGE_SIZE
        return self._page(("guardduty", region, op.name), params, items, size=size, last_token="")

    def _guardduty_ListDetectors(
        self, region: str, op: OperationModel, params: dict[str, Any]
    ) -> dict[str, Any]:
        gd = self._gd_validated(region, op, params)
        ids, token = self._gd_page(region, op, params, gd.detector_ids)
        return {"DetectorIds": ids, "NextToken": token}

    def _guardduty_ListFindings(
        self, region: str, op: OperationModel, params: dict[str, Any]
    ) -> dict[str, Any]:
        gd = self._gd_validated(region, op, params)
        criteria = (params.get("FindingCriteria") or {}).get("Criterion") or {}
        findings = [
            f
            for f in gd._detector(params["DetectorId"]).values()
            if all(_matches_condition(f, name, cond) for name, cond in criteria.items())
        ]
        findings = _sort_findings(findings, params.get("SortCriteria"))
        ids, token = self._gd_page(region, op, params, [f["id"] for f in findings])
        return {"FindingIds": ids, "NextToken": token}

    def _guardduty_GetFindings(
        self, region: str, op: OperationModel, params: dict[str, Any]
    ) -> dict[str, Any]:
        store = self._gd_validated(region, op, params)._detector(params["DetectorId"])
        found = [store[i] for i in dict.fromkeys(params["FindingIds"]) if i in store]
        answer = copy.deepcopy(_sort_findings(found, params.get("SortCriteria")))
        return {"Findings": [_additional_info_on_the_wire(f) for f in answer]}

    def _set_archived(self, region: str, op: OperationModel, params: dict[str, Any]) -> None:
        gd = self._gd_validated(region, op, params)
        store = gd._detector(params["DetectorId"])
        gd._check_may_archive()
        for finding_id in params["FindingIds"]:
            if finding_id in store:
                store[finding_id].setdefault("service", {})["archived"] = (
                    op.name == "ArchiveFindings"
                )

    def _guardduty_ArchiveFindings(
        self, region: str, op: OperationModel, params: dict[str, Any]
    ) -> dict[str, Any]:
        self._set_archived(region, op, params)
        return {}

    _guardduty_UnarchiveFindings = _guardduty_ArchiveFindings

    def _guardduty_CreateFilter(
        self, region: str, op: OperationModel, params: dict[str, Any]
    ) -> dict[str, Any]:
        gd = self._gd_validated(region, op, params)
        bad = [
            f"{field} {params[field]!r} has characters GuardDuty does not take"
            for field, pattern in FILTER_TEXT_PATTERNS.items()
            if field in params and not pattern.fullmatch(str(params[field]))
        ]
        if bad:
            raise ApiError(
                "BadRequestException",
                f"{GUARDDUTY_INVALID_INPUT} [fake_aws] {'; '.join(bad)}",
                wire_type="InvalidInputException",
            )
        gd._detector(params["DetectorId"])
        if params.get("Action") == "ARCHIVE":
            gd._check_may_archive()
        for existing in gd._filters:
            same = (existing["DetectorId"], existing["Name"]) == (
                params["DetectorId"],
                params["Name"],
            )
            if same and existing.get("ClientToken") == params.get("ClientToken"):
                return {"Name": params["Name"]}  # an idempotent retry
            if same:
                raise ApiError(
                    "BadRequestException",
                    f"The request is rejected because a filter named {params['Name']} already exists.",
                    wire_type="InvalidInputException",
                )
        gd._filters.append(copy.deepcopy(params))
        return {"Name": params["Name"]}

    def _guardduty_ListFilters(
        self, region: str, op: OperationModel, params: dict[str, Any]
    ) -> dict[str, Any]:
        gd = self._gd_validated(region, op, params)
        gd._detector(params["DetectorId"])
        names = [f["Name"] for f in gd._filters if f["DetectorId"] == params["DetectorId"]]
        names, token = self._gd_page(region, op, params, names)
        return {"FilterNames": names, "NextToken": token}

    def _guardduty_GetFilter(
        self, region: str, op: OperationModel, params: dict[str, Any]
    ) -> dict[str, Any]:
        gd = self._gd_validated(region, op, params)
        gd._detector(params["DetectorId"])
        for f in gd._filters:
            if (f["DetectorId"], f["Name"]) == (params["DetectorId"], params["FilterName"]):
                members = op.output_shape.members
                answer = {"Action": "NOOP", **copy.deepcopy(f)}
                return {  # nested parameters go back in their wire names
                    k: _to_wire(members[k], v) for k, v in answer.items() if k in members
                }
        raise ApiError(
            "BadRequestException",
            "The request is rejected since no such resource found.",
            wire_type="InvalidInputException",
        )

    def _guardduty_GetAdministratorAccount(
        self, region: str, op: OperationModel, params: dict[str, Any]
    ) -> dict[str, Any]:
        gd = self._gd_validated(region, op, params)
        gd._detector(params["DetectorId"])
        return {"Administrator": copy.deepcopy(gd.administrator)}

    # ---- Athena operations

    def _athena_validated(
        self, region: str, op: OperationModel, params: dict[str, Any]
    ) -> AthenaRegion:
        problems = validation_problems(params, op.input_shape)
        if problems:
            raise _athena_invalid(f"[fake_aws] {'; '.join(problems)}")
        return self.athena(region)

    def _athena_StartQueryExecution(
        self, region: str, op: OperationModel, params: dict[str, Any]
    ) -> dict[str, Any]:
        execution = self._athena_validated(region, op, params)._start(params)
        return {"QueryExecutionId": execution.query_id}

    def _athena_GetQueryExecution(
        self, region: str, op: OperationModel, params: dict[str, Any]
    ) -> dict[str, Any]:
        execution = self._athena_validated(region, op, params)._execution(
            params["QueryExecutionId"]
        )
        answer = _athena_execution(execution)
        execution.polls += 1
        return {"QueryExecution": answer}

    def _athena_GetQueryResults(
        self, region: str, op: OperationModel, params: dict[str, Any]
    ) -> dict[str, Any]:
        execution = self._athena_validated(region, op, params)._execution(
            params["QueryExecutionId"]
        )
        state = execution.state
        if state == "FAILED":
            raise _athena_invalid(f"{execution.answer.failure}")
        if state != "SUCCEEDED":
            raise _athena_invalid(f"Query has not yet finished. Current state: {state}")
        answer = execution.answer
        size = params.get("MaxResults") or ATHENA_PAGE_SIZE
        rows, token = self._page(
            ("athena", region, op.name), params, answer.wire_rows(), size=size, last_token=None
        )
        result = {"Rows": rows, "ResultSetMetadata": {"ColumnInfo": answer.column_info()}}
        return {"ResultSet": result, "UpdateCount": 0, "NextToken": token}

    def _athena_GetTableMetadata(
        self, region: str, op: OperationModel, params: dict[str, Any]
    ) -> dict[str, Any]:
        athena = self._athena_validated(region, op, params)
        key = (params["DatabaseName"], params["TableName"])
        if params["CatalogName"] != "AwsDataCatalog" or key not in athena.tables:
            raise ApiError(
                "MetadataException",
                f"Table {key[1]} not found in database {key[0]} of {params['CatalogName']}",
            )
        columns, partitions = athena.table_columns[key]
        table = {
            "Name": key[1],
            "TableType": "EXTERNAL_TABLE",
            "Columns": [{"Name": n, "Type": t} for n, t in columns],
            "PartitionKeys": [{"Name": p, "Type": "string"} for p in partitions],
            "Parameters": dict(athena.tables[key]),
        }
        return {"TableMetadata": table}

    def _athena_StopQueryExecution(
        self, region: str, op: OperationModel, params: dict[str, Any]
    ) -> dict[str, Any]:
        execution = self._athena_validated(region, op, params)._execution(
            params["QueryExecutionId"]
        )
        if execution.state in ("QUEUED", "RUNNING"):
            execution.cancelled = True
            execution.completed = time.time()
        return {}

    def _athena_ListQueryExecutions(
        self, region: str, op: OperationModel, params: dict[str, Any]
    ) -> dict[str, Any]:
        athena = self._athena_validated(region, op, params)
        workgroup = params.get("WorkGroup") or "primary"
        if workgroup not in athena.workgroups:
            raise _athena_invalid(f"WorkGroup {workgroup} is not found.")
        ids = [e.query_id for e in athena._executions.values() if e.workgroup == workgroup]
        size = params.get("MaxResults") or ATHENA_LIST_PAGE_SIZE
        page, token = self._page(
            ("athena", region, op.name), params, ids[::-1], size=size, last_token=None
        )
        return {"QueryExecutionIds": page, "NextToken": token}

    def _athena_CreateWorkGroup(
        self, region: str, op: OperationModel, params: dict[str, Any]
    ) -> dict[str, Any]:
        athena = self._athena_validated(region, op, params)
        if params["Name"] in athena.workgroups:
            raise _athena_invalid("WorkGroup is already created")
        configuration = params.get("Configuration") or {}
        output = (configuration.get("ResultConfiguration") or {}).get("OutputLocation")
        athena.add_work_group(params["Name"], output)
        return {}

    # ---- CloudTrail operations

    def _cloudtrail_LookupEvents(
        self, region: str, op: OperationModel, params: dict[str, Any]
    ) -> dict[str, Any]:
        _check_lookup_params(params, op)
        problems = validation_problems(params, op.input_shape)
        if problems:
            raise ApiError("ValidationException", "; ".join(problems))
        start, end = _as_datetime(params.get("StartTime")), _as_datetime(params.get("EndTime"))
        if start is not None and end is not None and start > end:
            raise ApiError(
                "InvalidTimeRangeException",
                "Occurs if the timestamp values are not valid. Either the start time occurs after "
                "the end time, or the time range is outside the range of possible values.",
            )
        attributes = params.get("LookupAttributes") or []
        attribute = (
            (attributes[0]["AttributeKey"], attributes[0]["AttributeValue"]) if attributes else None
        )
        events = (
            []
            if params.get("EventCategory") == "insight"
            else self.cloudtrail(region).lookup(attribute, start, end)
        )
        size = params.get("MaxResults") or CLOUDTRAIL_PAGE_SIZE
        page, token = self._page(
            ("cloudtrail", region, op.name), params, events, size=size, last_token=None
        )
        return {"Events": page, "NextToken": token}

    def _cloudtrail_DescribeTrails(
        self, region: str, op: OperationModel, params: dict[str, Any]
    ) -> dict[str, Any]:
        """This region's trails and, unless ``includeShadowTrails`` is false, the multi-region
        trails of other regions (their shadows here); ``trailNameList`` names or ARNs."""
        problems = validation_problems(params, op.input_shape)
        if problems:
            raise ApiError("ValidationException", "; ".join(problems))
        with self._lock:
            regions = list(self._cloudtrail.values())
        shadows = params.get("includeShadowTrails", True)
        trails = [
            t
            for r in regions
            for t in r.trails
            if r.region == region or (shadows and t.get("IsMultiRegionTrail"))
        ]
        names = params.get("trailNameList")
        if names:
            trails = [t for t in trails if t["Name"] in names or t["TrailARN"] in names]
        return {"trailList": trails}

    def _cloudtrail_GetEventSelectors(
        self, region: str, op: OperationModel, params: dict[str, Any]
    ) -> dict[str, Any]:
        """A trail's selectors, asked in its home region by name or ARN (by ARN elsewhere)."""
        problems = validation_problems(params, op.input_shape)
        if problems:
            raise ApiError("ValidationException", "; ".join(problems))
        name = params["TrailName"]
        with self._lock:
            regions = list(self._cloudtrail.values())
        for r in regions:
            for t in r.trails:
                if name == t["TrailARN"] or (name == t["Name"] and r.region == region):
                    return dict(r.selectors[t["TrailARN"]])
        raise ApiError("TrailNotFoundException", f"Unknown trail: {name} for the user")

    def _cloudtrail_ListPublicKeys(
        self, region: str, op: OperationModel, params: dict[str, Any]
    ) -> dict[str, Any]:
        return _public_keys_answer(self, region, op, params)


def _public_keys_answer(
    fake: FakeAws, region: str, op: OperationModel, params: dict[str, Any]
) -> dict[str, Any]:
    """ListPublicKeys: the keys valid in the range asked (now, when none), a page at a time."""
    problems = validation_problems(params, op.input_shape)
    if problems:
        raise ApiError("ValidationException", "; ".join(problems))
    now = datetime.now(UTC)
    start = _as_datetime(params.get("StartTime")) or now
    end = _as_datetime(params.get("EndTime")) or now
    if start > end:
        raise ApiError(
            "InvalidTimeRangeException",
            "Occurs if the timestamp values are not valid. Either the start time occurs after "
            "the end time, or the time range is outside the range of possible values.",
        )
    keys = [
        k
        for k in fake.cloudtrail(region).public_keys
        if k["ValidityStartTime"] <= end and k["ValidityEndTime"] >= start
    ]
    page, token = fake._page(
        ("cloudtrail", region, op.name), params, keys, size=PUBLIC_KEYS_PAGE, last_token=None
    )
    members = op.output_shape.members
    wire = [_to_wire(members["PublicKeyList"].member, k) for k in page]
    problems = validation_problems({"PublicKeyList": page}, op.output_shape)
    if problems:  # pragma: no cover - a key added in another shape
        raise AssertionError(f"ListPublicKeys answer not in botocore's shape: {problems}")
    return {"PublicKeyList": wire, "NextToken": token}


def _xml_error_response(service: str, error: ApiError) -> _HttpResponse:
    """An error of a query-protocol service (sts, iam…) or of EC2, as those services send it."""
    request_id = str(uuid.uuid4())
    code = xml_escape(error.code)
    message = xml_escape(error.message)
    if service == "ec2":
        body = (
            f"<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error>"
            f"</Errors><RequestID>{request_id}</RequestID></Response>"
        )
    else:
        body = (
            f'<ErrorResponse xmlns="https://{service}.amazonaws.com/doc/"><Error><Type>Sender'
            f"</Type><Code>{code}</Code><Message>{message}</Message></Error>"
            f"<RequestId>{request_id}</RequestId></ErrorResponse>"
        )
    headers = {"Content-Type": "text/xml", "x-amzn-RequestId": request_id}
    return _HttpResponse(error.status, headers, body.encode())


def _check_lookup_params(params: Mapping[str, Any], op: OperationModel) -> None:
    """LookupEvents' own errors, checked before the model's generic ones (as CloudTrail does)."""
    count = params.get("MaxResults")
    if count is not None and (type(count) is not int or not 1 <= count <= CLOUDTRAIL_PAGE_SIZE):
        raise ApiError(
            "InvalidMaxResultsException",
            f"Value {count!r} for MaxResults is invalid: it must be between 1 and 50.",
        )
    attributes = params.get("LookupAttributes")
    if attributes is not None:
        keys = op.input_shape.members["LookupAttributes"].member.members["AttributeKey"].enum
        if not isinstance(attributes, list) or len(attributes) > 1:
            raise ApiError(
                "InvalidLookupAttributesException",
                "You can specify at most one lookup attribute (LookupAttributes holds "
                f"{len(attributes) if isinstance(attributes, list) else attributes!r}).",
            )
        for attribute in attributes:
            if (
                not isinstance(attribute, dict)
                or attribute.get("AttributeKey") not in keys
                or not isinstance(attribute.get("AttributeValue"), str)
                or not attribute["AttributeValue"]
            ):
                raise ApiError(
                    "InvalidLookupAttributesException",
                    f"Invalid lookup attribute {attribute!r}: AttributeKey must be one of "
                    f"{sorted(keys)} and AttributeValue a non-empty string.",
                )
    category = params.get("EventCategory")
    if category is not None and category != "insight":
        raise ApiError("InvalidEventCategoryException", f"Invalid EventCategory {category!r}.")


def _as_datetime(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return parse_timestamp(value)


def _invalid_token(service: str) -> ApiError:
    if service == "athena":
        return _athena_invalid("The NextToken provided is invalid.")
    if service == "cloudtrail":
        return ApiError(
            "InvalidNextTokenException",
            "Invalid NextToken: it was not returned by an earlier call with the same parameters.",
        )
    return ApiError(
        "BadRequestException",
        "The request is rejected because the input nextToken is not valid.",
        wire_type="InvalidInputException",
    )


class _FakeHttpServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, fake: FakeAws) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.fake = fake


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as botocore's connection pool expects
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms stalls
    server: _FakeHttpServer

    def _serve(self) -> None:
        arrived = time.monotonic()  # the request line and headers are in
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {name.lower(): value for name, value in self.headers.items()}
        response = self.server.fake.handle(self.command, self.path, headers, body, arrived)
        if response is None:
            self.close_connection = True
            return
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        self.wfile.write(response.body)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the fake's request log is ``FakeAws.requests``."""
