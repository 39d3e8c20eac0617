"""OAuth2 tokens without servers: a token command's output, its lifetime, a refused token renewed once, and
the config's one-token-source rule (logins against Dovecot and an SMTP sink: tests/e2e/test_oauth.py)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from mailrobot.config import ConfigError, parse_settings
from mailrobot.outside.oauth import CommandTokenSource, TokenError, parse_token_output, with_fresh_token
from tests.support.config import settings_dict


def counting_command(tmp_path: Path, output: str = '{{"access_token": "t{n}", "expires_in": 600}}') -> str:
    """A command that prints token number n (1, 2, ...) on its n-th run."""
    script = tmp_path / "count.py"
    script.write_text(
        "import pathlib, sys\n"
        f"counter = pathlib.Path({str(tmp_path / 'n')!r})\n"
        "n = int(counter.read_text()) + 1 if counter.exists() else 1\n"
        "counter.write_text(str(n))\n"
        f"print({output!r}.format(n=n))\n",
        encoding="utf-8",
    )
    return f"{sys.executable} {script}"


def test_command_token_is_kept_until_shortly_before_it_expires(tmp_path: Path) -> None:
    now = [1000.0]
    source = CommandTokenSource(counting_command(tmp_path), clock=lambda: now[0])
    assert source.token() == "t1"
    now[0] += 500  # 600 s lifetime, renewed in the last minute
    assert source.token() == "t1"
    now[0] += 50
    assert source.token() == "t2"
    source.invalidate("t1")  # an old token refused: nothing to do, t2 is current
    assert source.token() == "t2"
    source.invalidate("t2")
    assert source.token() == "t3"


def test_a_bare_token_is_kept_until_refused(tmp_path: Path) -> None:
    source = CommandTokenSource(counting_command(tmp_path, "bare-{n}"), clock=lambda: 0.0)
    assert source.token() == source.token() == "bare-1"
    source.invalidate("bare-1")
    assert source.token() == "bare-2"


def test_token_command_failures_say_what_went_wrong(tmp_path: Path) -> None:
    failing = CommandTokenSource(f"{sys.executable} -c \"import sys; sys.exit('tenant not found')\"")
    with pytest.raises(TokenError, match="exited with 1: tenant not found"):
        failing.token()
    with pytest.raises(TokenError, match="not found"):
        CommandTokenSource(str(tmp_path / "no-such-program")).token()
    with pytest.raises(TokenError, match="alone"):
        parse_token_output("Enter your password:\n")
    with pytest.raises(TokenError, match="access_token"):
        parse_token_output('{"token": "x"}')
    assert parse_token_output('{"access_token": "abc", "expires_in": "3599"}') == ("abc", 3599.0)
    assert parse_token_output("  abc.def \n") == ("abc.def", None)


def test_with_fresh_token_retries_once_and_only_on_refusal() -> None:
    class Source:
        def __init__(self) -> None:
            self.tokens, self.dropped = iter(["old", "new"]), []

        def token(self) -> str:
            return next(self.tokens)

        def invalidate(self, token: str) -> None:
            self.dropped.append(token)

    source = Source()

    def login(token: str) -> str:
        if token == "old":
            raise PermissionError("refused")
        return token

    assert with_fresh_token(source, login, lambda exc: isinstance(exc, PermissionError)) == "new"
    assert source.dropped == ["old"]
    with pytest.raises(ConnectionError):
        with_fresh_token(Source(), lambda _t: (_ for _ in ()).throw(ConnectionError()), lambda _e: False)


def test_config_requires_one_token_source(tmp_path: Path) -> None:
    def config(**imap: Any) -> None:
        parse_settings(settings_dict(tmp_path, imap={"password": None, "auth": "oauth2", **imap}))

    with pytest.raises(ConfigError, match=r"exactly one of imap.token_command"):
        config()
    with pytest.raises(ConfigError, match=r"exactly one of imap.token_command"):
        config(token_command="x", m365={"tenant": "t", "client_id": "c", "client_secret": "s"})
    config(token_command="get-token")  # no password needed
    with pytest.raises(ConfigError, match=r"m365.client_secret"):
        config(m365={"tenant": "t", "client_id": "c"})
    data = settings_dict(tmp_path, smtp={"auth": "oauth2", "token_command": "x"})
    with pytest.raises(ConfigError, match=r"needs smtp.username"):
        parse_settings(data)
