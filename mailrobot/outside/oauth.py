"""OAuth2 access tokens for IMAP and SMTP (XOAUTH2, OAUTHBEARER), which Microsoft 365 and Gmail require.

Two sources of tokens:
- `token_command`: any program the admin provides (a provider's CLI, a refresh-token script) prints the
  access token, or JSON `{"access_token": "...", "expires_in": 3599}`.  The token is kept until shortly
  before it expires (when the JSON says when) or until a server refuses it; then the command runs again.
- `[imap.m365]` / `[smtp.m365]`: Microsoft 365's client-credentials flow (an app registration with the
  IMAP.AccessAsApp / SMTP.SendAsApp permissions) through msal, an optional extra: `mailrobot[m365]`.

Either way a login that fails on its token is retried once with a fresh one (`with_fresh_token`).
"""

from __future__ import annotations

import json
import logging
import shlex
import subprocess
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    from mailrobot.config import ImapSettings, M365Settings, SmtpSettings

log = logging.getLogger(__name__)

T = TypeVar("T")

# Fetch a new token this long before the old one expires: a login started just before expiry must not be
# refused half-way through a reconnect.
EXPIRY_MARGIN = 60.0
COMMAND_TIMEOUT = 60.0


class TokenError(Exception):
    """No access token could be had; the message says from where and why."""


class TokenSource(Protocol):
    def token(self) -> str:
        """A current access token."""
        ...

    def invalidate(self, token: str) -> None:
        """A server refused `token`: the next `token()` must get a new one."""
        ...


class CommandTokenSource:
    """Runs the admin's `token_command` and keeps its token until it expires or is refused."""

    def __init__(
        self,
        command: str,
        timeout: float = COMMAND_TIMEOUT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.argv = shlex.split(command)
        if not self.argv:
            raise TokenError("token_command is empty")
        self.timeout = timeout
        self.clock = clock
        self._lock = threading.Lock()  # the SMTP sender logs in from several threads at once
        self._token: str | None = None
        self._expires: float | None = None

    def token(self) -> str:
        with self._lock:
            if self._token is not None and (
                self._expires is None or self.clock() < self._expires - EXPIRY_MARGIN
            ):
                return self._token
            self._token, lifetime = self._run()
            self._expires = self.clock() + lifetime if lifetime is not None else None
            log.info(
                "new OAuth2 access token from %s%s",
                self.argv[0],
                f" (expires in {lifetime:.0f} s)" if lifetime is not None else "",
            )
            return self._token

    def invalidate(self, token: str) -> None:
        with self._lock:
            if self._token == token:
                self._token = None

    def _run(self) -> tuple[str, float | None]:
        # No shell: the command is split like a shell would, but `|`, `$VAR` and globs are not interpreted
        # (wrap it in `sh -c '...'` for those).  The token never reaches our log; stderr does, for the admin.
        try:
            done = subprocess.run(
                self.argv, capture_output=True, text=True, timeout=self.timeout, stdin=subprocess.DEVNULL
            )
        except FileNotFoundError:
            raise TokenError(f"token_command: {self.argv[0]} not found") from None
        except subprocess.TimeoutExpired:
            raise TokenError(
                f"token_command: {self.argv[0]} did not finish within {self.timeout:.0f} s"
            ) from None
        except OSError as exc:
            raise TokenError(f"token_command: cannot run {self.argv[0]}: {exc.strerror}") from None
        if done.returncode != 0:
            detail = done.stderr.strip().splitlines()[-1:] or ["no message on stderr"]
            raise TokenError(f"token_command: {self.argv[0]} exited with {done.returncode}: {detail[0]}")
        return parse_token_output(done.stdout)


def parse_token_output(output: str) -> tuple[str, float | None]:
    """(token, seconds it lives or None) from a token command's stdout: a bare token or a JSON object."""
    text = output.strip()
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise TokenError(f"token_command printed invalid JSON: {exc}") from None
        token = data.get("access_token")
        if not isinstance(token, str) or not token.strip():
            raise TokenError("token_command printed JSON without a string access_token")
        lifetime = data.get("expires_in")
        try:
            return token.strip(), float(lifetime) if lifetime is not None else None
        except (TypeError, ValueError):
            raise TokenError(f"token_command: expires_in is not a number: {lifetime!r}") from None
    if not text or len(text.split()) != 1:
        raise TokenError("token_command must print the access token alone (or JSON with access_token)")
    return text, None


class M365TokenSource:
    """Microsoft 365 client credentials (app-only) through msal, which caches the token and renews it
    before it expires."""

    def __init__(
        self,
        tenant: str,
        client_id: str,
        client_secret: str,
        scope: str,
        authority: str | None = None,
        http_client: Any = None,
    ) -> None:
        try:
            import msal
        except ImportError:
            raise TokenError("the Microsoft 365 sign-in needs msal: pip install 'mailrobot[m365]'") from None
        self.scope = scope
        self._lock = threading.Lock()
        self._app = msal.ConfidentialClientApplication(
            client_id,
            client_credential=client_secret,
            authority=authority or f"https://login.microsoftonline.com/{tenant}",
            # Tests (and proxies that need a session of their own) pass an HTTP client; None is requests.
            http_client=http_client,
        )

    def token(self) -> str:
        with self._lock:
            try:
                result = self._app.acquire_token_for_client(scopes=[self.scope])
            except Exception as exc:  # msal raises on network and discovery errors
                raise TokenError(f"Microsoft 365 sign-in failed: {type(exc).__name__}: {exc}") from None
        if not isinstance(result, dict):
            result = {}
        token = result.get("access_token")
        if not token:
            error = result.get("error_description") or result.get("error")
            raise TokenError(f"Microsoft 365 sign-in failed: {error or 'no access token in the answer'}")
        if result.get("token_source") == "identity_provider":
            log.info("new OAuth2 access token from Microsoft 365 (expires in %s s)", result.get("expires_in"))
        return token

    def invalidate(self, token: str) -> None:
        # msal would serve the refused token from its cache until it expires: drop it.
        with self._lock:
            cache = self._app.token_cache
            for entry in list(cache.search(cache.CredentialType.ACCESS_TOKEN)):
                if entry.get("secret") == token:
                    cache.remove_at(entry)


_sources: dict[tuple[Any, ...], TokenSource] = {}
_sources_lock = threading.Lock()


def token_source(settings: ImapSettings | SmtpSettings) -> TokenSource:
    """The token source the section describes, shared by every connection (and by IMAP and SMTP when
    they name the same command or app), so a token is fetched once and refreshed once."""
    m365: M365Settings | None = settings.m365
    key: tuple[Any, ...]
    if m365 is not None:
        key = ("m365", m365.tenant, m365.client_id, m365.client_secret, m365.scope, m365.authority)
    elif settings.token_command:
        key = ("command", settings.token_command)
    else:
        raise TokenError('auth = "oauth2" needs token_command or an m365 section')
    with _sources_lock:
        source = _sources.get(key)
        if source is None:
            if m365 is not None:
                assert m365.client_secret is not None  # the config refuses an m365 section without one
                source = M365TokenSource(
                    m365.tenant, m365.client_id, m365.client_secret, m365.scope, m365.authority
                )
            else:
                assert settings.token_command is not None
                source = CommandTokenSource(settings.token_command)
            _sources[key] = source
        return source


def with_fresh_token(
    source: TokenSource, login: Callable[[str], T], refused: Callable[[Exception], bool]
) -> T:
    """Call `login(token)`; when the server refuses the token, get a new one and try once more."""
    token = source.token()
    try:
        return login(token)
    except Exception as exc:
        if not refused(exc):
            raise
        log.info("the server refused the OAuth2 token (%s); fetching a new one", exc)
        source.invalidate(token)
    return login(source.token())


def xoauth2(user: str, token: str) -> str:
    """The XOAUTH2 initial client response (before base64), as Google and Microsoft define it."""
    return f"user={user}\x01auth=Bearer {token}\x01\x01"
