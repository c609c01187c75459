"""A small HTTP server for tests that answer as a hostile or broken endpoint would (a fake Patroni
REST API): routes of (method, path) to handlers, every request recorded, on a loopback port the
kernel picks when it binds (port 0: nothing to collide with). Handlers that stream or drip are
bounded in time and stop when the test ends."""

from __future__ import annotations

import contextlib
import json
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

Handler = Callable[[BaseHTTPRequestHandler], None]


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class FakeEndpoint:
    routes: dict[tuple[str, str], Handler] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    tls: ssl.SSLContext | None = None  # serve HTTPS with this server context

    def __post_init__(self) -> None:
        endpoint = self

        class _Handler(BaseHTTPRequestHandler):
            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                endpoint.seen.append(Seen(self.command, self.path, dict(self.headers.items()), body))
                self.body = body  # for handlers that read the request (a form, a document)
                handler = endpoint.routes.get((self.command, self.path.split("?")[0]))
                if handler is None:
                    send_json(self, {"error": "no such route"}, status=404)
                    return
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client gave up: as tested
                    handler(self)

            do_GET = do_POST = do_PATCH = _any

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        if self.tls is not None:
            self.server.socket = self.tls.wrap_socket(self.server.socket, server_side=True)
        self.server.daemon_threads = True
        # shutdown() waits up to one poll interval: 0.5 s by default, per test
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.stop.set()
        self.server.shutdown()
        self.server.server_close()


def send_json(h: BaseHTTPRequestHandler, doc: Any, status: int = 200) -> None:
    send_bytes(h, json.dumps(doc).encode(), status)


def send_bytes(h: BaseHTTPRequestHandler, body: bytes, status: int = 200, length: int | None = None) -> None:
    h.send_response(status)
    h.send_header("Content-Type", "application/json")
    h.send_header("Content-Length", str(len(body) if length is None else length))
    h.end_headers()
    h.wfile.write(body)


def redirect(to: str, status: int = 307) -> Handler:
    def handle(h: BaseHTTPRequestHandler) -> None:
        h.send_response(status)
        h.send_header("Location", to)
        h.send_header("Content-Length", "0")
        h.end_headers()

    return handle


def endless(stop: threading.Event, seconds: float = 60) -> Handler:
    """An answer that never ends: JSON-looking members, 64 kB at a time, until the client hangs up."""

    def handle(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.end_headers()  # no Content-Length: the body ends when the connection does (HTTP/1.0)
        h.wfile.write(b'{"members": [')
        chunk = b'{"name": "n", "role": "replica", "state": "running"},' * 1200
        deadline = threading.Event()
        timer = threading.Timer(seconds, deadline.set)
        timer.start()
        try:
            while not (stop.is_set() or deadline.is_set()):
                h.wfile.write(chunk)
        finally:
            timer.cancel()

    return handle


def drip(stop: threading.Event, every: float = 0.2, seconds: float = 30) -> Handler:
    """An answer that promises 100 kB and sends one byte every `every` seconds."""

    def handle(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", "100000")
        h.end_headers()
        for _ in range(int(seconds / every)):
            h.wfile.write(b" ")
            h.wfile.flush()
            if stop.wait(every):  # the drip's pace is what is under test, not a wait for a state
                return

    return handle


def tls_pair(directory: Path) -> tuple[ssl.SSLContext, Path]:
    """A private CA and a server certificate it signed for 127.0.0.1: the server's context, and the
    CA bundle a client must be given to trust it (what a Patroni REST API with its own CA looks like)."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pgtune test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    import ipaddress

    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_file, cert_file, key_file = directory / "ca.pem", directory / "server.pem", directory / "server.key"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    return context, ca_file
