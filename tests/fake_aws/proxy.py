"""A fault-injecting HTTP proxy in front of local AWS endpoints, counting every request.

boto3 clients talk to the proxy (``AWS_ENDPOINT_URL`` / ``AWS_ENDPOINT_URL_<SERVICE>`` set to
:attr:`FaultProxy.url`); it forwards each request unchanged to the upstream of its service (moto's
server for IAM/STS, tests/fake_aws for GuardDuty) and returns the answer unchanged — unless a fault
was set for that operation, in which case the upstream never sees the request and the client gets:

- ``HTML_500``: HTTP 500 with an HTML error page (a load balancer or proxy in the way);
- ``HTML_200``: HTTP 200 with a well-formed HTML page (a captive portal): botocore's query parser
  raises ``KeyError`` for operations with an output, and returns ``{}`` for those without one;
- ``GARBAGE``: HTTP 200 with bytes that are neither XML nor JSON;
- ``DROP``: the connection is closed without an answer;
- ``LOST``: the request is forwarded (the upstream applies it), then the connection is closed
  without its answer — an answer lost after AWS made the change;
- ``DENIED``: HTTP 403 with an IAM/STS (query protocol) ``AccessDenied`` error document — for a
  JSON-protocol request (``X-Amz-Target``: CloudTrail), HTTP 400 with ``AccessDeniedException``;
- ``THROTTLED``: HTTP 400 with a query-protocol ``Throttling`` error (botocore retries it).

``proxy.fault_sequence(operation, [LOST, DENIED])`` answers the next calls of ``operation`` with
those faults in turn (a call and botocore's retry of it, for instance).

The service comes from the SigV4 credential scope, the operation from ``Action=`` (query
protocol: IAM, STS), ``X-Amz-Target`` (JSON protocol) or the method and ``requestUri`` of the
service's botocore model (REST protocols: GuardDuty). Every request is logged, faulted or not::

    with FaultProxy({"iam": moto_url, "sts": moto_url, "guardduty": fake.url}) as proxy:
        proxy.fault("UpdateAccessKey", HTML_500)            # every UpdateAccessKey, or times=1
        proxy.fault("*", GARBAGE, service="iam")            # every IAM call
        ...
        proxy.calls()                                        # [ProxiedRequest(service, operation, status)]
        proxy.calls(service="iam")                           # filtered
"""

from __future__ import annotations

import http.client
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple
from urllib.parse import parse_qs, urlsplit

import botocore.session

HTML_500 = "html-500"
HTML_200 = "html-200"
GARBAGE = "garbage"
DROP = "drop"
LOST = "lost"
DENIED = "denied"
THROTTLED = "throttled"
#: forwarded (the change is made), then no answer until :meth:`FaultProxy.release` (or 60 s),
#: then the connection dropped: a call the client is still waiting on when it is interrupted
HANG = "hang"
FAULTS = (HTML_500, HTML_200, GARBAGE, DROP, LOST, DENIED, THROTTLED, HANG)


def _query_error(code: str, message: str) -> bytes:
    return (
        '<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><Error><Type>Sender'
        f"</Type><Code>{code}</Code><Message>{message}</Message></Error>"
        f"<RequestId>{code.lower()}-by-the-fault-proxy</RequestId></ErrorResponse>"
    ).encode()


_DENIED_BODY = _query_error("AccessDenied", "User is not authorized to perform this action")
#: The same refusal in the JSON protocol (CloudTrail, GuardDuty's JSON cousins): a request
#: with ``X-Amz-Target`` gets it.
_DENIED_JSON = (
    b'{"__type":"AccessDeniedException","message":"User is not authorized to perform this action"}'
)
_THROTTLED_BODY = _query_error("Throttling", "Rate exceeded")

_SCOPE_RE = re.compile(r"Credential=[^/,\s]+/\d{8}/([^/]+)/([^/]+)/aws4_request")
_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "host"}
)
_HTML_500_BODY = (
    b"<html><head><title>500 Internal Server Error</title></head><body>"
    b"<center><h1>500 Internal Server Error</h1></center><hr><center>nginx</center>"
    b"</body></html>"
)
_HTML_200_BODY = (
    b"<html><body><h1>Welcome to the guest network</h1><p>Accept the terms to continue.</p>"
    b"</body></html>"
)
_GARBAGE_BODY = b"\x00\xff\xfe garbled {{{ <<<\x1b[2J"


class ProxiedRequest(NamedTuple):
    """One request the proxy received: service, operation, and the status returned (0: dropped)."""

    service: str
    operation: str
    status: int


@dataclass(slots=True)
class _Fault:
    kind: str
    remaining: int | None


def _template_regex(template: str) -> re.Pattern[str]:
    parts = re.split(r"\{(\w+\+?)\}", template)
    regex = "".join(
        re.escape(p) if i % 2 == 0 else ("(.+)" if p.endswith("+") else "([^/]+)")
        for i, p in enumerate(parts)
    )
    return re.compile(f"{regex}$")


class _Router:
    """The operation of a request, from botocore's model of its service."""

    def __init__(self) -> None:
        self._session = botocore.session.get_session()
        self._rest: dict[str, list[tuple[int, str, re.Pattern[str], str]]] = {}
        self._lock = threading.Lock()

    def operation(
        self, service: str, method: str, path: str, headers: Mapping[str, str], body: bytes
    ) -> str:
        target = headers.get("x-amz-target")
        if target:
            return target.rsplit(".", 1)[-1]
        if body.startswith(b"Action=") or b"&Action=" in body:
            form = parse_qs(body.decode("utf-8", "replace"))
            return (form.get("Action") or ["Unknown"])[0]
        for _, route_method, regex, name in self._routes(service):
            if route_method == method and regex.match(urlsplit(path).path):
                return name
        return "Unknown"

    def _routes(self, service: str) -> list[tuple[int, str, re.Pattern[str], str]]:
        with self._lock:
            if service not in self._rest:
                try:
                    model = self._session.get_service_model(service)
                except Exception:  # an unknown service: no routes
                    self._rest[service] = []
                    return []
                routes = []
                for name in model.operation_names:
                    http_spec = model.operation_model(name).http
                    template = http_spec.get("requestUri", "/").split("?", 1)[0]
                    literal = len(re.sub(r"\{[^}]*\}", "", template))
                    routes.append((literal, http_spec["method"], _template_regex(template), name))
                routes.sort(key=lambda r: -r[0])
                self._rest[service] = routes
            return self._rest[service]


def _header(headers: Mapping[str, str], name: str) -> str | None:
    return next((v for k, v in headers.items() if k.lower() == name), None)


class FaultProxy:
    """The proxy and its state (thread-safe). ``upstreams`` maps a SigV4 service name to a URL;
    ``default`` serves every other service (None: answer 502); ``operations`` maps an
    operation to the URL that serves it, whatever its service's (CloudTrail's DescribeTrails
    from moto, its LookupEvents from tests/fake_aws)."""

    def __init__(
        self,
        upstreams: Mapping[str, str],
        *,
        default: str | None = None,
        operations: Mapping[str, str] | None = None,
    ) -> None:
        self.upstreams = dict(upstreams)
        self.default = default
        self.operations = dict(operations or {})
        self._lock = threading.Lock()
        self._faults: dict[tuple[str, str], _Fault] = {}
        self._sequences: dict[tuple[str, str], list[str]] = {}
        self._log: list[ProxiedRequest] = []
        self._router = _Router()
        self._server: ThreadingHTTPServer | None = None
        self._released = threading.Event()

    # ---- lifecycle
    def start(self) -> FaultProxy:
        server = _ProxyServer(self)
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

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("FaultProxy is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # ---- state
    def fault(
        self, operation: str, kind: str, *, service: str = "*", times: int | None = None
    ) -> None:
        """Answer ``operation`` of ``service`` (``"*"``: every one) with ``kind`` (one of
        :data:`FAULTS`), the next ``times`` times (None: until cleared)."""
        if kind not in FAULTS:
            raise ValueError(f"unknown fault {kind!r}; use one of {FAULTS}")
        with self._lock:
            self._faults[(service, operation)] = _Fault(kind, times)

    def fault_sequence(self, operation: str, kinds: list[str], *, service: str = "*") -> None:
        """Answer the next ``len(kinds)`` calls of ``operation`` with ``kinds``, in turn."""
        for kind in kinds:
            if kind not in FAULTS:
                raise ValueError(f"unknown fault {kind!r}; use one of {FAULTS}")
        with self._lock:
            self._sequences[(service, operation)] = list(kinds)

    def release(self) -> None:
        """End every :data:`HANG` held now and to come (their connections dropped)."""
        self._released.set()

    def clear(self) -> None:
        """No faults, an empty log."""
        with self._lock:
            self._faults.clear()
            self._sequences.clear()
            self._log.clear()

    def calls(
        self, operation: str | None = None, *, service: str | None = None
    ) -> list[ProxiedRequest]:
        with self._lock:
            log = list(self._log)
        return [
            r
            for r in log
            if (operation is None or r.operation == operation)
            and (service is None or r.service == service)
        ]

    # ---- handling
    def _take_fault(self, service: str, operation: str) -> str | None:
        keys = [(s, o) for s in (service, "*") for o in (operation, "*")]
        with self._lock:
            for key in keys:
                queued = self._sequences.get(key)
                if queued:
                    return queued.pop(0)
            for key in keys:
                fault = self._faults.get(key)
                if fault is None:
                    continue
                if fault.remaining is not None:
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        del self._faults[key]
                return fault.kind
        return None

    def _record(self, request: ProxiedRequest) -> None:
        with self._lock:
            self._log.append(request)

    def handle(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes] | None:
        """The answer to one request (None: drop the connection)."""
        scope = _SCOPE_RE.search(headers.get("authorization") or "")
        service = scope.group(2) if scope else ""
        operation = self._router.operation(service, method, path, headers, body)
        fault = self._take_fault(service, operation)
        answer: tuple[int, list[tuple[str, str]], bytes] | None
        if fault == DROP:
            answer = None
        elif fault == LOST:
            self._forward(service, operation, method, path, headers, body)
            answer = None
        elif fault == HANG:
            self._forward(service, operation, method, path, headers, body)
            self._released.wait(60)
            answer = None
        elif fault == DENIED and _header(headers, "x-amz-target"):
            answer = (400, [("Content-Type", "application/x-amz-json-1.1")], _DENIED_JSON)
        elif fault == DENIED:
            answer = (403, [("Content-Type", "text/xml")], _DENIED_BODY)
        elif fault == THROTTLED:
            answer = (400, [("Content-Type", "text/xml")], _THROTTLED_BODY)
        elif fault == HTML_500:
            answer = (500, [("Content-Type", "text/html")], _HTML_500_BODY)
        elif fault == HTML_200:
            answer = (200, [("Content-Type", "text/html")], _HTML_200_BODY)
        elif fault == GARBAGE:
            answer = (200, [("Content-Type", "application/octet-stream")], _GARBAGE_BODY)
        else:
            answer = self._forward(service, operation, method, path, headers, body)
        self._record(ProxiedRequest(service, operation, 0 if answer is None else answer[0]))
        return answer

    def _forward(
        self,
        service: str,
        operation: str,
        method: str,
        path: str,
        headers: Mapping[str, str],
        body: bytes,
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        upstream = self.operations.get(operation) or self.upstreams.get(service, self.default)
        if upstream is None:
            return 502, [("Content-Type", "text/plain")], f"no upstream for {service!r}".encode()
        parts = urlsplit(upstream)
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        try:
            out_headers = {k: v for k, v in headers.items() if k not in _HOP_BY_HOP}
            out_headers["host"] = parts.netloc
            conn.request(method, path, body=body, headers=out_headers)
            response = conn.getresponse()
            data = response.read()
            kept = [(k, v) for k, v in response.getheaders() if k.lower() not in _HOP_BY_HOP]
            kept = [(k, v) for k, v in kept if k.lower() != "content-length"]
            return response.status, kept, data
        finally:
            conn.close()


class _ProxyServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, proxy: FaultProxy) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.proxy = proxy


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _ProxyServer

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {name.lower(): value for name, value in self.headers.items()}
        answer = self.server.proxy.handle(self.command, self.path, headers, body)
        if answer is None:
            self.close_connection = True
            return
        status, response_headers, data = answer
        self.send_response(status)
        for name, value in response_headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _serve

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the proxy's log is ``FaultProxy.calls()``."""
