"""An SMTP sink for end-to-end tests and the demo: aiosmtpd in a thread, keeping every mail it accepts.

A real SMTP server on 127.0.0.1, with AUTH (PLAIN/LOGIN, and XOAUTH2 when asked) and temporary failures on
demand, so retry and backoff are tested against a server as the robot meets it.
"""

from __future__ import annotations

import base64
import contextlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from types import TracebackType
from typing import Any, Self

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from tests.support.net import LOCALHOST, free_port


@dataclass(frozen=True)
class ReceivedMail:
    """One message the sink accepted, as the SMTP server saw it."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    raw: bytes
    message: EmailMessage
    authenticated_as: str | None = None
    received_at: float = field(default_factory=time.time)

    @property
    def subject(self) -> str:
        return str(self.message.get("Subject", ""))

    @property
    def to(self) -> str:
        return str(self.message.get("To", ""))

    def text(self) -> str:
        """The decoded text/plain body with \n line ends ("" if the message has none)."""
        return self._body("plain") or ""

    def html(self) -> str | None:
        """The decoded text/html body with \n line ends, or None."""
        return self._body("html")

    def _body(self, subtype: str) -> str | None:
        part = self.message.get_body(preferencelist=(subtype,))
        if part is None:
            return None
        content = part.get_content()
        text = content if isinstance(content, str) else content.decode("utf-8", "replace")
        # SMTP delivers CRLF; tests compare with Python strings.
        return text.replace("\r\n", "\n")


class _SinkHandler:
    """aiosmtpd handler: called on the server's thread, so state is shared through the sink's lock."""

    def __init__(self, sink: SmtpSink) -> None:
        self._sink = sink

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        return self._sink._deliver(session, envelope)


class _OAuth2SinkHandler(_SinkHandler):
    """Adds AUTH XOAUTH2 (aiosmtpd offers every `auth_<MECHANISM>` method of the handler)."""

    async def auth_XOAUTH2(self, server: SMTP, args: list[str]) -> AuthResult:
        fields: dict[str, str] = {}
        with contextlib.suppress(ValueError):
            decoded = base64.b64decode(args[1], validate=True).decode("utf-8") if len(args) > 1 else ""
            fields = dict(part.split("=", 1) for part in decoded.split("\x01") if "=" in part)
        user, token = fields.get("user", ""), fields.get("auth", "").removeprefix("Bearer ")
        check = self._sink.oauth2
        if check is not None and user and check(user, token):
            return AuthResult(success=True, auth_data=user)
        # As Gmail and Microsoft do: a 334 challenge with a JSON error; the client's empty answer gets 535.
        await server.challenge_auth(json.dumps({"status": "401", "schemes": "bearer"}))
        return AuthResult(success=False, handled=False)


class SmtpSink:
    """An SMTP server on 127.0.0.1 (aiosmtpd in a thread) that keeps every message it accepts.

    `require_auth=True` demands AUTH PLAIN/LOGIN with `username`/`password` (over plain TCP, as the robot
    does with smtp.security = "none"); `fail_next(n)` makes the next n deliveries fail with a 451 so retry
    and backoff can be tested against a real server.
    """

    def __init__(
        self,
        *,
        host: str = LOCALHOST,
        port: int = 0,
        require_auth: bool = False,
        username: str = "robot",
        password: str = "robot-password",
        oauth2: Callable[[str, str], bool] | None = None,
    ) -> None:
        self.host = host
        self.port = port  # 0: a free port at each start; else this one (to come back where clients look)
        self.require_auth = require_auth
        # When set, AUTH XOAUTH2 is offered and accepted for (user, token) pairs this returns True for.
        self.oauth2 = oauth2
        self.username = username
        self.password = password
        self._controller: Controller | None = None
        self._cond = threading.Condition()
        self._messages: list[ReceivedMail] = []
        self._fail_remaining = 0
        self._fail_reply = ""
        self.refused = 0  # deliveries answered with a fail_next() reply

    # -- lifecycle -----------------------------------------------------------------------------------------

    def start(self) -> Self:
        if self._controller is not None:
            return self
        last_error: OSError | None = None
        for _attempt in range(5):
            port = self.port or free_port(self.host)
            controller = Controller(
                _OAuth2SinkHandler(self) if self.oauth2 else _SinkHandler(self),
                hostname=self.host,
                port=port,
                ready_timeout=10.0,
                server_hostname="sink.test",
                enable_SMTPUTF8=True,
                authenticator=self._authenticate,
                auth_required=self.require_auth,
                auth_require_tls=False,
            )
            try:
                controller.start()
            except OSError as exc:  # the port was taken between free_port() and bind()
                last_error = exc
                continue
            self._controller, self.port = controller, port
            return self
        if self.port:
            raise RuntimeError(f"SMTP sink could not bind {self.host}:{self.port}: {last_error}")
        raise RuntimeError(f"SMTP sink could not bind a port on {self.host}: {last_error}")

    def stop(self) -> None:
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- behaviour -----------------------------------------------------------------------------------------

    def fail_next(self, count: int, reply: str = "451 4.3.0 Temporary failure, try again later") -> None:
        """Answer the next `count` deliveries (at end of DATA) with `reply` instead of accepting them."""
        with self._cond:
            self._fail_remaining = count
            self._fail_reply = reply

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode("utf-8", "replace") == self.username
            and auth_data.password.decode("utf-8", "replace") == self.password
        ):
            return AuthResult(success=True, auth_data=self.username)
        return AuthResult(success=False, handled=False)

    def _deliver(self, session: Session, envelope: Envelope) -> str:
        with self._cond:
            if self._fail_remaining > 0:
                self._fail_remaining -= 1
                self.refused += 1
                return self._fail_reply
        raw = envelope.original_content or b""
        if isinstance(envelope.content, bytes) and not raw:
            raw = envelope.content
        message = BytesParser(policy=policy.default).parsebytes(raw)
        assert isinstance(message, EmailMessage)
        login = session.auth_data if session.authenticated and isinstance(session.auth_data, str) else None
        mail = ReceivedMail(
            mail_from=envelope.mail_from or "",
            rcpt_tos=tuple(envelope.rcpt_tos),
            raw=raw,
            message=message,
            authenticated_as=login,
        )
        with self._cond:
            self._messages.append(mail)
            self._cond.notify_all()
        return "250 2.0.0 OK: queued"

    # -- inspection ----------------------------------------------------------------------------------------

    @property
    def messages(self) -> list[ReceivedMail]:
        """A snapshot of what has been accepted so far, in arrival order."""
        with self._cond:
            return list(self._messages)

    def clear(self) -> None:
        with self._cond:
            self._messages.clear()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[ReceivedMail]:
        """Wait until at least `count` messages arrived and return them all; TimeoutError lists what came."""
        with self._cond:
            if self._cond.wait_for(lambda: len(self._messages) >= count, timeout=timeout):
                return list(self._messages)
            got = [f"{m.rcpt_tos} {m.subject!r}" for m in self._messages]
        raise TimeoutError(f"SMTP sink: expected {count} message(s) within {timeout}s, got {len(got)}: {got}")
