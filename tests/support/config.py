"""Robot configs for tests, bench/ and demo/: a config.toml wired to the test servers, or settings without
a file for tests that need no server.  Both sign with SECRET, so a test can read the robot's tokens."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import tomli_w

from mailrobot.config import Settings, parse_settings
from tests.support.dovecot import Dovecot
from tests.support.pg import database_url
from tests.support.smtp import SmtpSink

# A fixed signing secret for test configs: 32 characters, so robot.secret validation passes.
SECRET = "test-secret-0123456789abcdef0123"


def merge(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge `overrides` into a copy of `base`; a None value removes the key (to test a missing key)."""
    merged = dict(base)
    for key, value in overrides.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def robot_config(
    dovecot: Dovecot,
    mailbox: tuple[str, str],
    smtp: SmtpSink,
    database_url: str,
    /,  # positional-only, so the section overrides may be called imap=, smtp=, database=...
    **overrides: Any,
) -> dict[str, Any]:
    """A mailrobot config (mailrobot/config.py) wired to these servers.

    `overrides` are top-level keys of the config: section dicts merged into the defaults (imap=, smtp=,
    robot=, ...) or whole values such as routes=[...].
    """
    username, password = mailbox
    base: dict[str, Any] = {
        "imap": {
            "host": dovecot.host,
            "port": dovecot.port,
            "security": "none",
            "username": username,
            "password": password,
            "poll_interval": 0.2,
            "timeout": 10.0,
        },
        "smtp": {
            "host": smtp.host,
            "port": smtp.port,
            "security": "none",
            "from_address": "feedback@skes.example.kz",
            "from_name": "SKES Contact Center",
            "timeout": 10.0,
            "retry_base_seconds": 0.2,
        },
        "database": {"url": database_url},
        "robot": {"secret": SECRET},
        "calendar": {},
        "logging": {"level": "DEBUG"},
    }
    if smtp.require_auth:
        base["smtp"] |= {"username": smtp.username, "password": smtp.password}
    return merge(base, overrides)


def write_toml(path: Path, data: Mapping[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(tomli_w.dumps(data), encoding="utf-8")
    return path


class WriteConfig(Protocol):
    """The `write_config` fixture: `write_config(tmp_path, mailbox, smtp_sink, **overrides) -> Path`."""

    def __call__(
        self, tmp_path: Path, mailbox: tuple[str, str], smtp_sink: SmtpSink, /, **overrides: Any
    ) -> Path: ...


def settings_dict(tmp_path: Path, **sections: dict[str, Any]) -> dict[str, Any]:
    """A config as a dict, for tests without servers: nothing listens on port 1; the database is the
    test's (tests.support.pg.database_url).  `sections` are merged into the sections of the same name."""
    data: dict[str, Any] = {
        "imap": {
            "host": "127.0.0.1",
            "port": 1,
            "security": "none",
            "username": "feedback@example.kz",
            "password": "pw",
        },
        "smtp": {
            "host": "127.0.0.1",
            "port": 1,
            "security": "none",
            "from_address": "feedback@example.kz",
            "from_name": "ТОО «Севказэнергосбыт»",
        },
        "database": {"url": database_url(tmp_path)},
        "robot": {"secret": SECRET},
    }
    for name, values in sections.items():
        data.setdefault(name, {}).update(values)
    return data


def make_settings(tmp_path: Path, **sections: dict[str, Any]) -> Settings:
    """`settings_dict` parsed and checked as the robot does."""
    return parse_settings(settings_dict(tmp_path, **sections))
