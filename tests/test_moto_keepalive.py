"""The tests' moto server keeps connections alive, and a kept connection stays in step.

tests/moto_keepalive.py: werkzeug closed every connection after one request; the tests' server
keeps it, reading each request's whole body itself. These tests pin both halves: one connection
serves many requests, and whatever the request's body (unread by moto, chunked, announced with
``Expect: 100-continue``), the next request on the connection is read from its first byte.
"""

from __future__ import annotations

import http.client
from collections.abc import Iterator
from urllib.parse import urlsplit

import boto3
import pytest
import urllib3.connection

BUCKET = "keepalive-bucket"
#: These raw requests are unsigned (anonymous): moto lets anyone read an object made public.
PUBLIC = {"x-amz-acl": "public-read"}


@pytest.fixture
def conn(moto: str) -> Iterator[http.client.HTTPConnection]:
    parts = urlsplit(moto)
    c = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=10)
    yield c
    c.close()


def _ask(
    c: http.client.HTTPConnection, method: str, path: str, body: object = None, **headers: str
) -> tuple[int, bytes, http.client.HTTPResponse]:
    c.request(method, path, body=body, headers=headers)  # type: ignore[arg-type]
    response = c.getresponse()
    return response.status, response.read(), response


def test_one_connection_serves_many_requests(conn: http.client.HTTPConnection) -> None:
    status, _, response = _ask(conn, "PUT", f"/{BUCKET}")
    assert status == 200
    assert response.getheader("Connection") is None and not response.will_close
    sock = conn.sock
    assert sock is not None  # kept open after the answer
    for n in range(3):
        status, _, response = _ask(conn, "PUT", f"/{BUCKET}/k{n}", body=b"v" * 10, **PUBLIC)
        assert status == 200 and not response.will_close
    status, body, _ = _ask(conn, "GET", f"/{BUCKET}/k2")
    assert (status, body) == (200, b"v" * 10)
    assert conn.sock is sock  # never reopened


@pytest.mark.parametrize(
    ("method", "path", "answer"),
    [
        ("GET", f"/{BUCKET}", 200),  # S3 ListObjects, with a body it does not need
        ("POST", "/moto-api/no-such-call", 404),  # answered by moto's router, body never read
    ],
)
def test_a_body_moto_does_not_use_is_not_read_as_the_next_request(
    conn: http.client.HTTPConnection, method: str, path: str, answer: int
) -> None:
    assert _ask(conn, "PUT", f"/{BUCKET}")[0] == 200
    sock = conn.sock
    assert sock is not None  # kept open after the answer
    # the body's bytes are a whole request of their own: read as one, it would delete the bucket
    junk = f"DELETE /{BUCKET} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n".encode()
    assert _ask(conn, method, path, body=junk)[0] == answer
    status, body, _ = _ask(conn, "GET", "/")  # ListBuckets: the bucket is still there
    assert status == 200 and BUCKET.encode() in body
    assert conn.sock is sock


def test_a_chunked_body_is_read_whole(conn: http.client.HTTPConnection) -> None:
    assert _ask(conn, "PUT", f"/{BUCKET}")[0] == 200
    sock = conn.sock
    assert sock is not None  # kept open after the answer
    # an iterable body of no given length: http.client sends it Transfer-Encoding: chunked
    parts = [b"a" * 1000, b"b" * 70000, b"c"]
    status, _, _ = _ask(conn, "PUT", f"/{BUCKET}/chunked", body=iter(parts), **PUBLIC)
    assert status == 200
    status, body, _ = _ask(conn, "GET", f"/{BUCKET}/chunked")
    assert (status, body) == (200, b"".join(parts))
    assert conn.sock is sock


def test_a_client_asking_to_close_is_answered_and_closed(conn: http.client.HTTPConnection) -> None:
    status, _, response = _ask(conn, "GET", "/", Connection="close")
    assert status == 200 and response.will_close


def test_boto3_clients_use_one_connection_each_for_many_calls(
    moto: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    connects: list[object] = []
    new_conn = urllib3.connection.HTTPConnection._new_conn

    def counted(self: urllib3.connection.HTTPConnection) -> object:
        connects.append(self)
        return new_conn(self)

    monkeypatch.setattr(urllib3.connection.HTTPConnection, "_new_conn", counted)
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    for n in range(5):  # botocore sends these with Expect: 100-continue
        s3.put_object(Bucket=BUCKET, Key=f"k{n}", Body=b"x" * 3000)
    assert s3.get_object(Bucket=BUCKET, Key="k4")["Body"].read() == b"x" * 3000
    assert s3.head_object(Bucket=BUCKET, Key="k1")["ContentLength"] == 3000
    iam = boto3.client("iam", region_name="us-east-1")
    for n in range(3):
        iam.create_user(UserName=f"user-{n}")
    assert len(iam.list_users()["Users"]) == 3
    assert len(connects) == 2  # one TCP connection per client, kept for all its calls
