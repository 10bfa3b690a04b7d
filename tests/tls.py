"""An HTTPS server on the loopback whose certificate (self-signed, for 127.0.0.1) no CA vouches
for — what a client without the right CA bundle sees of a TLS-inspecting proxy or of an endpoint
with a private certificate."""

from __future__ import annotations

import contextlib
import datetime as dt
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import ip_address
from pathlib import Path


def self_signed(folder: Path, common_name: str) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 valid from a day ago to a day ahead, written to
    ``folder``: its PEM file and its private key's."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_pem, key_pem = folder / "cert.pem", folder / "key.pem"
    cert_pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_pem, key_pem


@contextlib.contextmanager
def https_server(
    folder: Path, common_name: str, handler: type[BaseHTTPRequestHandler] = BaseHTTPRequestHandler
) -> Iterator[tuple[str, Path]]:
    """``handler`` served over HTTPS on a free loopback port with a :func:`self_signed`
    certificate made in ``folder``: the server's URL and the certificate's PEM file."""
    cert_pem, key_pem = self_signed(folder, common_name)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_pem, key_pem)
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}", cert_pem
    finally:
        server.shutdown()
        server.server_close()
