"""A recording, fault-injecting HTTP proxy in front of the local AWS endpoints (moto, FakeAws).

Point ``AWS_ENDPOINT_URL`` (and ``AWS_ENDPOINT_URL_<SERVICE>``) at :attr:`RecordingProxy.url`:
every request is forwarded to the endpoint of its service (read from the SigV4
``Authorization`` credential scope) and recorded as a :class:`Seen` — the service, the
operation (``X-Amz-Target``, the query protocol's ``Action``, a rest-json request's method and
``requestUri`` by botocore's model, or the S3 method and path), the
access key that signed it, the status — so that a test can check *as whom* each call was made.
A rule added with :meth:`RecordingProxy.fail` answers matching requests itself with an AWS
error document instead (``AccessDenied`` on some GetObject calls, a KMS denial…; ``extra``
elements of the error, such as S3's ``<AccessTier>``); one added with
:meth:`RecordingProxy.rewrite` edits the endpoint's answer to matching requests (an element
moto leaves out, such as ListObjectsV2's ``RestoreStatus``)::

    with RecordingProxy({"*": moto_url, "guardduty": fake.url}) as proxy:
        proxy.fail(lambda seen: seen.service == "s3" and seen.method == "GET"
                   and "/2023/07/10/" in seen.path, status=403, code="AccessDenied")
        ...
        proxy.keys("s3")          # {"ASIA…"}: every S3 request signed with that key
        proxy.assumed_keys()      # access keys STS AssumeRole handed out (from its answers)
"""

from __future__ import annotations

import http.client
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.fake_aws.server import model_operation

_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/\d{8}/([^/]+)/([^/]+)/aws4_request")
_HOP_HEADERS = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length"})


@dataclass(frozen=True, slots=True)
class Seen:
    """One request the proxy saw (and its status)."""

    service: str
    region: str
    access_key: str | None
    method: str
    path: str
    operation: str
    status: int
    body: bytes = b""
    answer: bytes = b""
    #: the request's headers, names in lower case
    headers: tuple[tuple[str, str], ...] = ()

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k == name.lower()), None)


@dataclass(slots=True)
class _Rule:
    match: Callable[[Seen], bool]
    status: int
    code: str
    message: str
    times: int | None
    extra: str = ""


class RecordingProxy:
    """The proxy (see the module docstring). ``routes`` maps a service name (or ``*``) to the
    endpoint URL requests of that service go to."""

    def __init__(self, routes: Mapping[str, str]) -> None:
        self.routes = dict(routes)
        self.seen: list[Seen] = []
        self._rules: list[_Rule] = []
        self._rewrites: list[tuple[Callable[[Seen], bool], Callable[[Seen, bytes], bytes]]] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> RecordingProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- rules and reading --------------------------------------------------------------------
    def fail(
        self,
        match: Callable[[Seen], bool],
        *,
        status: int = 403,
        code: str = "AccessDenied",
        message: str = "Access Denied",
        times: int | None = None,
        extra: str = "",
    ) -> None:
        """Answer requests that ``match`` with an AWS error (XML, as S3 and STS write them;
        ``extra``: more elements inside ``<Error>``)."""
        with self._lock:
            self._rules.append(_Rule(match, status, code, message, times, extra))

    def rewrite(self, match: Callable[[Seen], bool], edit: Callable[[Seen, bytes], bytes]) -> None:
        """Pass the endpoint's answer to requests that ``match`` through ``edit`` (the request
        seen, the answer's body → the body sent back)."""
        with self._lock:
            self._rewrites.append((match, edit))

    def requests(self, service: str | None = None) -> list[Seen]:
        with self._lock:
            return [s for s in self.seen if service is None or s.service == service]

    def keys(self, service: str) -> set[str | None]:
        """The access keys that signed the requests to ``service``."""
        return {s.access_key for s in self.requests(service)}

    def assumed_keys(self) -> list[str]:
        """The access keys STS AssumeRole answered with, in order."""
        return [
            m.group(1).decode()
            for s in self.requests("sts")
            if s.operation == "AssumeRole" and s.status == 200
            for m in [re.search(rb"<AccessKeyId>([^<]+)</AccessKeyId>", s.answer)]
            if m
        ]

    def clear(self) -> None:
        with self._lock:
            self.seen.clear()

    # -- serving ------------------------------------------------------------------------------
    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                auth = self.headers.get("Authorization") or ""
                m = _CREDENTIAL.search(auth)
                key, region, service = (m.group(1), m.group(2), m.group(3)) if m else (None, "", "")
                seen = Seen(
                    service=service,
                    region=region,
                    access_key=key,
                    method=self.command,
                    path=self.path,
                    operation=_operation(self.command, self.path, self.headers, body),
                    status=0,
                    body=body,
                    headers=tuple((k.lower(), v) for k, v in self.headers.items()),
                )
                rule = proxy._rule_for(seen)
                if rule is not None:
                    status, headers, answer = _error(rule)
                else:
                    status, headers, answer = proxy._forward(seen, self.headers, body)
                    for edit in proxy._rewrites_for(seen):
                        answer = edit(seen, answer)
                with proxy._lock:
                    proxy.seen.append(Seen(**{**_fields(seen), "status": status, "answer": answer}))
                self.send_response(status)
                for name, value in headers:
                    if name.lower() not in _HOP_HEADERS:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(answer)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _any

        return Handler

    def _rule_for(self, seen: Seen) -> _Rule | None:
        with self._lock:
            for rule in self._rules:
                if rule.times == 0 or not rule.match(seen):
                    continue
                if rule.times is not None:
                    rule.times -= 1
                return rule
        return None

    def _rewrites_for(self, seen: Seen) -> list[Callable[[Seen, bytes], bytes]]:
        with self._lock:
            rewrites = list(self._rewrites)
        return [edit for match, edit in rewrites if match(seen)]

    def _forward(
        self, seen: Seen, headers: Any, body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        target = urlsplit(self.routes.get(seen.service) or self.routes["*"])
        conn = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
        try:
            conn.request(
                seen.method,
                seen.path,
                body=body or None,
                headers={k: v for k, v in headers.items() if k.lower() not in _HOP_HEADERS},
            )
            resp = conn.getresponse()
            return resp.status, resp.getheaders(), resp.read()
        finally:
            conn.close()


def _fields(seen: Seen) -> dict[str, Any]:
    return {name: getattr(seen, name) for name in Seen.__dataclass_fields__}


def _operation(method: str, path: str, headers: Any, body: bytes) -> str:
    target = headers.get("X-Amz-Target")
    if target:
        return str(target).rsplit(".", 1)[-1]
    query = parse_qs(urlsplit(path).query)
    if "Action" in query:
        return query["Action"][0]
    if body[:7] == b"Action=":
        return parse_qs(body.decode(errors="replace")).get("Action", [""])[0]
    service = _CREDENTIAL.search(headers.get("Authorization") or "")
    if service is not None and service.group(3) != "s3":  # rest-json: Athena (botocore >= 1.44.18)
        name = model_operation(service.group(3), method, path)
        if name is not None:
            return name
    return f"{method} {urlsplit(path).path}"


def _error(rule: _Rule) -> tuple[int, list[tuple[str, str]], bytes]:
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{rule.code}</Code><Message>{rule.message}</Message>{rule.extra}"
        "<RequestId>0123456789ABCDEF</RequestId><HostId>proxy</HostId></Error>"
    ).encode()
    return rule.status, [("Content-Type", "application/xml")], xml
