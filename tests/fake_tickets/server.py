"""A small local HTTP service that checks each request against a documented contract and records
it: the base of :class:`~tests.fake_tickets.jira.FakeJira` and
:class:`~tests.fake_tickets.servicenow.FakeServiceNow`.

Each subclass routes ``(method, path)`` to an operation, checks authentication, the headers and
the body the API documents, and answers as the real service does. A request that breaks the
contract (a missing ``X-Atlassian-Token``, a multipart body where a raw one is expected, a
comment that is not Atlassian Document Format…) is answered the way the service answers it (400,
403, 415) *and* listed in :attr:`FakeHttpService.violations`, which tests assert is empty.

State API::

    with FakeJira() as jira: ...             # serves on 127.0.0.1:<free port>
    jira.url                                 # http://127.0.0.1:PORT
    jira.requests                            # [Recorded(operation, method, path, query, headers,
                                             #   body, status, parts)] snapshot
    jira.calls("attach")                     # filtered by operation
    jira.fail("attach", 503, times=2)        # the next 2 attach requests answer 503
    jira.fail("*", 200, body=HTML, content_type="text/html")   # a proxy's sign-in page
    jira.fail("comment", 503, after=True)    # the comment is made, then 503 is answered
    jira.fail("comment", 0, drop=True)       # made, then the connection closes unanswered
    jira.fail("attach", 503, skip=1)         # the first attach is answered, then 503s
    jira.violations                          # contract problems seen (should stay empty)
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

HTML_SIGN_IN = (
    "<!DOCTYPE html><html><head><title>Sign in</title></head><body><form>"
    "<input name='password'></form></body></html>"
)


@dataclass(frozen=True, slots=True)
class Part:
    """One part of a multipart/form-data body."""

    name: str | None
    filename: str | None
    content_type: str | None
    data: bytes


@dataclass(frozen=True, slots=True)
class Recorded:
    """One request the fake answered."""

    operation: str
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    status: int
    parts: tuple[Part, ...] = ()

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(slots=True)
class Answer:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    #: close the connection without answering (a proxy or server that died after the work)
    drop: bool = False


def json_answer(status: int, doc: Any, **headers: str) -> Answer:
    return Answer(status, json.dumps(doc).encode(), "application/json", dict(headers))


class ContractError(Exception):
    """A request that breaks the API's contract: answered with ``answer``, and recorded."""

    def __init__(self, problem: str, answer: Answer) -> None:
        super().__init__(problem)
        self.problem = problem
        self.answer = answer


@dataclass(slots=True)
class _Failure:
    status: int
    remaining: int | None
    body: bytes | None
    content_type: str
    headers: dict[str, str]
    after: bool = False
    drop: bool = False
    #: requests of the operation let through (answered as usual) before the failure starts
    skip: int = 0


def parse_multipart(content_type: str, body: bytes) -> list[Part]:
    """The parts of a multipart/form-data body (stdlib email parser)."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    if not message.is_multipart():
        return []
    parts = []
    for part in message.iter_parts():
        disposition = part.get("Content-Disposition", "")
        params = dict(part.get_params(header="content-disposition") or [])
        if "form-data" not in disposition:
            continue
        parts.append(
            Part(
                name=params.get("name"),
                filename=part.get_filename(),
                content_type=part.get_content_type() if part.get("Content-Type") else None,
                data=part.get_payload(decode=True) or b"",
            )
        )
    return parts


class FakeHttpService:
    """Base of the fakes: a threaded loopback server, the request log, failure injection."""

    name = "service"

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        self.requests_log: list[Recorded] = []
        self.violations: list[str] = []
        self._failures: dict[str, _Failure] = {}

    # -- lifecycle
    def start(self) -> FakeHttpService:
        server = _Server(self)
        self._server = server
        threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeHttpService:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None, "not started"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # -- state
    @property
    def requests(self) -> list[Recorded]:
        with self._lock:
            return list(self.requests_log)

    def calls(self, operation: str | None = None, *, status: int | None = None) -> list[Recorded]:
        return [
            r
            for r in self.requests
            if (operation is None or r.operation == operation)
            and (status is None or r.status == status)
        ]

    def fail(
        self,
        operation: str,
        status: int,
        *,
        times: int | None = None,
        body: str | bytes | None = None,
        content_type: str = "application/json",
        headers: Mapping[str, str] | None = None,
        after: bool = False,
        drop: bool = False,
        skip: int = 0,
    ) -> None:
        """Answer ``operation`` (``"*"``: every one) with ``status`` (and ``body``), ``times``
        times (None: until :meth:`clear_failures`). ``after``: the request is done first (checked
        and applied as usual), then answered with the failure — a server that made the comment
        and failed before it said so. ``drop``: done first too, then the connection is closed
        without an answer (a reset after the request was sent). ``skip``: the first ``skip``
        requests of ``operation`` are answered as usual (the second attachment fails, not the
        first)."""
        data = body.encode() if isinstance(body, str) else body
        with self._lock:
            self._failures[operation] = _Failure(
                status, times, data, content_type, dict(headers or {}), after or drop, drop, skip
            )

    def clear_failures(self) -> None:
        with self._lock:
            self._failures.clear()

    def _take_failure(self, operation: str) -> _Failure | None:
        with self._lock:
            for key in (operation, "*"):
                f = self._failures.get(key)
                if f is None:
                    continue
                if f.skip > 0:
                    f.skip -= 1
                    return None
                if f.remaining is not None:
                    f.remaining -= 1
                    if f.remaining <= 0:
                        del self._failures[key]
                return f
        return None

    # -- to implement
    def route(self, method: str, path: str) -> tuple[str, dict[str, str]] | None:
        """(operation, path parameters) for a request, or None (404)."""
        raise NotImplementedError

    def authenticate(self, headers: Mapping[str, str], operation: str) -> Answer | None:
        """None when the request's credentials are accepted; else the 401 answer."""
        raise NotImplementedError

    def answer(
        self,
        operation: str,
        params: dict[str, str],
        query: dict[str, list[str]],
        headers: Mapping[str, str],
        body: bytes,
        parts: list[Part],
    ) -> Answer:
        raise NotImplementedError

    def not_found(self, method: str, path: str) -> Answer:
        return json_answer(404, {"error": f"no {self.name} resource {method} {path}"})

    # -- one request
    def handle(self, method: str, raw_path: str, headers: dict[str, str], body: bytes) -> Answer:
        split = urlsplit(raw_path)
        query = parse_qs(split.query, keep_blank_values=True)
        routed = self.route(method, split.path)
        parts: list[Part] = []
        if routed is None:
            operation, answer = "unknown", self.not_found(method, split.path)
        else:
            operation, params = routed
            ctype = headers.get("content-type", "")
            if ctype.startswith("multipart/"):
                parts = parse_multipart(ctype, body)
            failure = self._take_failure(operation)
            if failure is None or failure.after:
                answer = self.authenticate(headers, operation) or self._answer(
                    operation, params, query, headers, body, parts
                )
            if failure is not None:
                answer = Answer(
                    failure.status,
                    failure.body if failure.body is not None else b"",
                    failure.content_type,
                    failure.headers,
                    failure.drop,
                )
        with self._lock:
            self.requests_log.append(
                Recorded(
                    operation, method, split.path, query, headers, body, answer.status, tuple(parts)
                )
            )
        return answer

    def _answer(
        self,
        operation: str,
        params: dict[str, str],
        query: dict[str, list[str]],
        headers: Mapping[str, str],
        body: bytes,
        parts: list[Part],
    ) -> Answer:
        try:
            with self._lock:
                return self.answer(operation, params, query, headers, body, parts)
        except ContractError as e:
            with self._lock:
                self.violations.append(f"{operation}: {e.problem}")
            return e.answer


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, fake: FakeHttpService) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.fake = fake


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _Server

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        answer = self.server.fake.handle(self.command, self.path, headers, body)
        if answer.drop:
            self.close_connection = True
            return
        self.send_response(answer.status)
        if answer.body or answer.status not in (204, 304):
            self.send_header("Content-Type", answer.content_type)
        for k, v in answer.headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(answer.body)))
        self.end_headers()
        if answer.body:
            self.wfile.write(answer.body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the log is ``requests``."""
