"""A real SMTP server on loopback (aiosmtpd) for the notification tests: it records the
envelope and the raw message of everything it accepts."""

from __future__ import annotations

import email
import email.policy
import socket
import ssl
import subprocess
import threading
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Received:
    def __init__(self, mail_from: str, rcpt_tos: list[str], data: bytes) -> None:
        self.mail_from = mail_from
        self.rcpt_tos = rcpt_tos
        self.data = data
        self.message = email.message_from_bytes(data, policy=email.policy.default)

    @property
    def text(self) -> str:
        return self.message.get_body(("plain",)).get_content().replace("\r\n", "\n")


class _Handler:
    def __init__(self, server: SMTPServer) -> None:
        self.server = server

    async def handle_DATA(self, smtp, session, envelope) -> str:
        with self.server.lock:
            self.server.received.append(
                Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content)
            )
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for localhost/127.0.0.1 (openssl CLI) and its key."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


class SMTPServer:
    """``mode``: "plain", "starttls" (required, with AUTH) or "tls" (implicit)."""

    def __init__(
        self,
        port: int | None = None,
        mode: str = "plain",
        cert: tuple[Path, Path] | None = None,
        login: tuple[str, str] | None = None,
    ) -> None:
        self.port = port or free_port()
        self.mode = mode
        self.cert = cert
        self.login = login
        self.received: list[Received] = []
        self.auths: list[str] = []
        self.lock = threading.Lock()
        self.controller: Controller | None = None

    def _authenticate(self, server, session, envelope, mechanism, data) -> AuthResult:
        if isinstance(data, LoginPassword) and self.login is not None:
            ok = (data.login.decode(), data.password.decode()) == self.login
            if ok:
                self.auths.append(data.login.decode())
            return AuthResult(success=ok)
        return AuthResult(success=False)

    def start(self) -> SMTPServer:
        kwargs: dict = {}
        context = None
        if self.cert is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(str(self.cert[0]), str(self.cert[1]))
        if self.mode == "starttls":
            kwargs.update(tls_context=context, require_starttls=True)
        elif self.mode == "tls":
            kwargs.update(ssl_context=context)
        if self.login is not None:
            kwargs.update(authenticator=self._authenticate, auth_required=True)
        self.controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port, **kwargs)
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None
