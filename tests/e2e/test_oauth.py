"""OAuth2 for IMAP and SMTP: XOAUTH2/OAUTHBEARER against Dovecot's oauth2 passdb and an SMTP sink.

A small token server plays the identity provider: it issues tokens (what a token command or Microsoft's
token endpoint would hand out) and answers Dovecot's RFC 7662 introspection requests, so a token it has
expired is refused by Dovecot exactly as a real server refuses an expired token.  (Token commands and the
config, without servers: tests/unit/test_oauth.py.)
"""

from __future__ import annotations

import json
import secrets
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import imapclient
import pytest

from mailrobot.config import load_settings
from mailrobot.outside.imap import open_client
from mailrobot.outside.oauth import (
    M365TokenSource,
    TokenError,
)
from mailrobot.outside.sender import SmtpConnection
from tests.support.config import robot_config, write_toml
from tests.support.daemon import run_mailrobot
from tests.support.dovecot import Dovecot
from tests.support.factories import consumer_mail
from tests.support.net import LOCALHOST
from tests.support.pg import database_url
from tests.support.smtp import SmtpSink


class TokenServer:
    """Issues bearer tokens per user (POST /token?user=U) and introspects them (POST /introspect)."""

    def __init__(self) -> None:
        self.valid: dict[str, str] = {}  # token -> user
        self.issued: list[str] = []
        self.refused: list[str] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                url = urlparse(self.path)
                if url.path == "/token":
                    user = parse_qs(url.query)["user"][0]
                    answer: dict[str, Any] = {"access_token": server.issue(user), "expires_in": 3600}
                else:
                    token = parse_qs(body).get("token", [""])[0]
                    user = server.check(token)
                    answer = {"active": True, "username": user} if user else {"active": False}
                data = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer((LOCALHOST, 0), Handler)
        self.url = f"http://{LOCALHOST}:{self.httpd.server_port}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()

    def issue(self, user: str) -> str:
        token = f"tok-{secrets.token_urlsafe(12)}"
        with self._lock:
            self.valid[token] = user
            self.issued.append(token)
        return token

    def check(self, token: str) -> str | None:
        with self._lock:
            user = self.valid.get(token)
            if user is None:
                self.refused.append(token)
            return user

    def accepts(self, user: str, token: str) -> bool:
        """For the SMTP sink: the same rule as the introspection."""
        return self.check(token) == user

    def expire(self, token: str) -> None:
        with self._lock:
            self.valid.pop(token, None)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def token_server() -> Iterator[TokenServer]:
    server = TokenServer()
    yield server
    server.close()


@pytest.fixture(scope="module")
def oauth_dovecot(token_server: TokenServer) -> Iterator[Dovecot]:
    """A Dovecot of its own whose oauth2 passdb asks the token server (the session's Dovecot stays plain)."""
    with Dovecot(oauth2_introspection_url=f"{token_server.url}/introspect") as server:
        yield server


@pytest.fixture
def user(oauth_dovecot: Dovecot, request: pytest.FixtureRequest) -> str:
    name = f"oauth-{request.node.name[5:30].replace('_', '-')}-{secrets.token_hex(2)}"
    oauth_dovecot.add_user(name)
    return name


@pytest.fixture
def oauth_sink(token_server: TokenServer) -> Iterator[SmtpSink]:
    with SmtpSink(require_auth=True, oauth2=token_server.accepts) as sink:
        yield sink


def token_command(tmp_path: Path, token_server: TokenServer, user: str) -> str:
    """A token command as an admin would write one: asks the provider, prints its JSON answer."""
    script = tmp_path / "get-token.py"
    script.write_text(
        "import sys, urllib.request\n"
        "print(urllib.request.urlopen(sys.argv[1], data=b'', timeout=10).read().decode())\n",
        encoding="utf-8",
    )
    return f"{sys.executable} {script} {token_server.url}/token?user={user}"


def oauth_config(
    tmp_path: Path, dovecot: Dovecot, user: str, sink: SmtpSink, command: str, **imap: Any
) -> Path:
    data = robot_config(
        dovecot,
        (user, "unused"),
        sink,
        database_url(tmp_path),
        imap={"auth": "oauth2", "token_command": command, "password": None, **imap},
        smtp={"auth": "oauth2", "token_command": command, "username": user, "password": None},
    )
    return write_toml(tmp_path / "config.toml", data)


# -- end to end ------------------------------------------------------------------------------------------


def test_run_once_logs_in_to_imap_and_smtp_with_xoauth2(
    tmp_path: Path, oauth_dovecot: Dovecot, user: str, oauth_sink: SmtpSink, token_server: TokenServer
) -> None:
    config = oauth_config(
        tmp_path, oauth_dovecot, user, oauth_sink, token_command(tmp_path, token_server, user)
    )
    oauth_dovecot.append(user, consumer_mail("aigul@mail.ru", "Счёт", message_id="<oauth-1@mail.ru>"))
    issued_before = len(token_server.issued)

    result = run_mailrobot(config, "run", "--once", timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "processed 1 messages" in result.stdout
    [notice] = oauth_sink.wait_for(1)
    assert notice.authenticated_as == user and notice.rcpt_tos == ("aigul@mail.ru",)
    assert f"user=<{user}>, method=XOAUTH2" in oauth_dovecot.log_path.read_text(errors="replace")
    # IMAP and SMTP name the same command: one token serves both.
    assert len(token_server.issued) == issued_before + 1


def test_an_expired_token_is_replaced_and_the_login_retried(
    tmp_path: Path, oauth_dovecot: Dovecot, user: str, oauth_sink: SmtpSink, token_server: TokenServer
) -> None:
    command = token_command(tmp_path, token_server, user)
    settings = load_settings(oauth_config(tmp_path, oauth_dovecot, user, oauth_sink, command))

    open_client(settings.imap).logout()
    first = token_server.issued[-1]
    token_server.expire(first)  # the provider ends it before the robot thinks it expires

    client = open_client(settings.imap)  # refused with the cached token, then logged in with a new one
    client.logout()
    second = token_server.issued[-1]
    assert second != first and first in token_server.refused

    token_server.expire(second)
    connection = SmtpConnection(settings.smtp)
    connection.send(settings.smtp.from_address, "erzhan@mail.ru", consumer_mail(message_id="<oauth-2@x>"))
    connection.close()
    assert second in token_server.refused and token_server.issued[-1] not in (first, second)
    [mail] = oauth_sink.wait_for(1)
    assert mail.authenticated_as == user


def test_oauthbearer_login(
    tmp_path: Path, oauth_dovecot: Dovecot, user: str, oauth_sink: SmtpSink, token_server: TokenServer
) -> None:
    command = token_command(tmp_path, token_server, user)
    config = oauth_config(tmp_path, oauth_dovecot, user, oauth_sink, command, oauth2_mechanism="OAUTHBEARER")
    open_client(load_settings(config).imap).logout()
    assert f"user=<{user}>, method=OAUTHBEARER" in oauth_dovecot.log_path.read_text(errors="replace")


class FakeMicrosoft:
    """msal's HTTP client: Microsoft's discovery document and token endpoint, tokens from the token server."""

    BASE = "https://login.microsoftonline.com/contoso.onmicrosoft.com"

    def __init__(self, token_server: TokenServer, user: str, error: str | None = None) -> None:
        self.token_server, self.user, self.error = token_server, user, error
        self.token_requests: list[dict[str, Any]] = []

    class Response:
        def __init__(self, data: dict[str, Any], status: int = 200) -> None:
            self.status_code, self.text = status, json.dumps(data)
            self.headers = {"Content-Type": "application/json"}

        def raise_for_status(self) -> None:
            if self.status_code >= 400:
                raise RuntimeError(f"HTTP {self.status_code}")

    def get(self, url: str, **_: Any) -> Response:
        if url.startswith("https://login.microsoftonline.com/common/discovery/instance"):
            # msal asks this after an error answer (is the authority known?)
            discovery = f"{self.BASE}/v2.0/.well-known/openid-configuration"
            return self.Response({"tenant_discovery_endpoint": discovery, "metadata": []})
        assert url == f"{self.BASE}/v2.0/.well-known/openid-configuration", url
        return self.Response(
            {
                "token_endpoint": f"{self.BASE}/oauth2/v2.0/token",
                "authorization_endpoint": f"{self.BASE}/oauth2/v2.0/authorize",
                "issuer": "https://login.microsoftonline.com/0000/v2.0",
            }
        )

    def post(self, url: str, data: dict[str, Any] | None = None, **_: Any) -> Response:
        assert url == f"{self.BASE}/oauth2/v2.0/token", url
        self.token_requests.append(dict(data or {}))
        if self.error:
            return self.Response({"error": "invalid_client", "error_description": self.error}, status=401)
        token = self.token_server.issue(self.user)
        return self.Response({"access_token": token, "expires_in": 3599, "token_type": "Bearer"})

    def close(self) -> None:
        pass


def test_microsoft_365_client_credentials_token_logs_in(
    oauth_dovecot: Dovecot, user: str, token_server: TokenServer
) -> None:
    microsoft = FakeMicrosoft(token_server, user)
    source = M365TokenSource(
        "contoso.onmicrosoft.com",
        "app-id",
        "app-secret",
        "https://outlook.office365.com/.default",
        http_client=microsoft,
    )
    token = source.token()
    assert source.token() == token  # msal's cache: one request while the token lives
    [request] = microsoft.token_requests
    assert request["grant_type"] == "client_credentials" and request["client_id"] == "app-id"
    assert request["scope"] == "https://outlook.office365.com/.default"

    client = imapclient.IMAPClient(oauth_dovecot.host, oauth_dovecot.port, ssl=False, timeout=10)
    client.oauth2_login(user, token)
    client.logout()

    source.invalidate(token)
    assert source.token() != token and len(microsoft.token_requests) == 2


def test_microsoft_365_refusal_is_reported(token_server: TokenServer) -> None:
    microsoft = FakeMicrosoft(token_server, "nobody", error="AADSTS7000215: Invalid client secret provided.")
    source = M365TokenSource(
        "contoso.onmicrosoft.com", "app-id", "wrong", "s/.default", http_client=microsoft
    )
    with pytest.raises(TokenError, match="AADSTS7000215"):
        source.token()
