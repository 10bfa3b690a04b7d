"""moto's server for the tests, keeping its HTTP connections alive.

moto's ``ThreadedMotoServer`` serves with werkzeug's development server, whose request handler
answers every request with ``Connection: close`` (werkzeug 3: "keep-alive connections aren't
handled well by Python's http.server because it doesn't know how to drain the stream before the
next request line"). So every boto3 request of the tests opened a new TCP connection and the
server started a new thread for it.

:class:`KeepAliveHandler` does what werkzeug says is missing: it reads each request's whole body
(``Content-Length`` bytes, or the chunks of ``Transfer-Encoding: chunked``) before moto sees it,
so the connection always stands at the next request line, whatever moto read of the body. It
then leaves out werkzeug's ``Connection: close`` and werkzeug's drain of unread input (which,
on a kept connection, would swallow the client's next request). Everything else is werkzeug's
and moto's own: the WSGI environ (moto's underscore-header handling), ``100 Continue``, chunked
responses, errors. The connection still closes when the client asks (``Connection: close``), when
a request's body is cut short, or when werkzeug closes it after an error in a chunked response.
The server never closes an idle connection itself, so a client never sends on a socket the
server is closing (botocore's pool drops a connection the server did close before reusing it).

Only the tests' server (tests/conftest.py ``moto_server``) uses this; torinvest never does.
"""

from __future__ import annotations

import io
from typing import Any

from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server

#: How much of a request body is read at a time (an S3 object of the tests is far smaller).
_CHUNK = 1 << 20


class KeepAliveHandler(MotoRequestHandler):
    """moto's request handler, serving many requests on one HTTP/1.1 connection (module doc)."""

    protocol_version = "HTTP/1.1"
    #: werkzeug writes a response's head and body apart: with Nagle's algorithm on, the body
    #: waits for the client's (delayed) ACK of the head, ~40 ms a request on a kept connection.
    disable_nagle_algorithm = True

    def make_environ(self) -> dict[str, Any]:
        """moto's environ, with the request's whole body read from the connection first."""
        environ = super().make_environ()
        source = environ["wsgi.input"]  # the connection, or werkzeug's de-chunking reader of it
        if environ.get("wsgi.input_terminated"):  # chunked: the reader ends at the last chunk
            body = source.read()
        else:
            length = _content_length(environ.get("CONTENT_LENGTH"))
            body = _read_exactly(source, length) if length else b""
            if len(body) < length:  # cut short: nothing after it can be trusted
                self.close_connection = True
        environ["wsgi.input"] = io.BytesIO(body)
        # werkzeug drains "unread input" from self.rfile once the response is sent (run_wsgi):
        # there is none now, and on a kept connection that drain would eat the next request.
        self._connection_reader = self.rfile
        self.rfile = io.BytesIO()
        return environ

    def run_wsgi(self) -> None:
        """werkzeug's, then the connection's reader back for the next request."""
        try:
            super().run_wsgi()
        finally:
            reader = self.__dict__.pop("_connection_reader", None)
            if reader is not None:
                self.rfile = reader

    def send_header(self, keyword: str, value: str) -> None:
        """Every header but werkzeug's unconditional ``Connection: close``."""
        if (
            keyword.lower() == "connection"
            and value.lower() == "close"
            and not self.close_connection
        ):
            return
        super().send_header(keyword, value)


def _content_length(value: str | None) -> int:
    try:
        return max(int(value or 0), 0)
    except ValueError:
        return 0


def _read_exactly(source: Any, length: int) -> bytes:
    parts: list[bytes] = []
    left = length
    while left > 0:
        part = source.read(min(left, _CHUNK))
        if not part:
            break
        parts.append(part)
        left -= len(part)
    return b"".join(parts)


class KeepAliveMotoServer(ThreadedMotoServer):
    """moto's ``ThreadedMotoServer`` with :class:`KeepAliveHandler` as its request handler."""

    def _server_entry(self) -> None:  # moto's, with the handler swapped
        app = DomainDispatcherApplication(create_backend_app)
        self._server = make_server(
            self._ip_address, self._port, app, True, request_handler=KeepAliveHandler
        )
        self._server_ready_event.set()
        self._server.serve_forever()
