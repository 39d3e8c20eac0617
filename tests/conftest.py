"""Fixtures for every test folder: the database backend, one real Dovecot per session, a fresh mail user and
SMTP sink per test, robot configs, the corpus.  The servers and builders themselves live in tests/support."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import paths, pg
from tests.support.config import WriteConfig, robot_config, write_toml
from tests.support.dovecot import Dovecot, Mailbox
from tests.support.smtp import SmtpSink

E2E = paths.REPO / "tests" / "e2e"
SERVER_FIXTURES = frozenset({"dovecot", "mailbox", "smtp_sink", "write_config"})

_user_numbers = itertools.count(1)


def pytest_configure(config: pytest.Config) -> None:
    # SmtpSink(require_auth=True) offers AUTH without TLS on purpose (the robot's smtp.security = "none"
    # case); aiosmtpd warns about that on every connection.
    config.addinivalue_line("filterwarnings", "ignore:Requiring AUTH while not requiring TLS:UserWarning")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Whatever needs the real servers is an integration test, so `pytest -m "not integration"` runs the
    # other tests alone without anyone remembering to mark them: everything in tests/e2e, and any test
    # elsewhere that asks for a server.
    for item in items:
        if item.path.is_relative_to(E2E) or SERVER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)


def pytest_report_header() -> str:
    return f"mailrobot database backend: {pg.backend()} (set {pg.BACKEND_ENV}=postgresql for PostgreSQL)"


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[pg.PostgresServer | None]:
    """The PostgreSQL server of this run (its cluster starts on first use), or None on the SQLite backend."""
    server = pg.PostgresServer() if pg.backend() == "postgresql" else None
    yield server
    if server is not None:
        server.stop()


@pytest.fixture(autouse=True)
def _test_databases(postgres_server: pg.PostgresServer | None) -> Iterator[None]:
    # Binds tests.support.pg.database_url() to this test, so plain helpers (config.settings_dict) get the
    # backend's database without a fixture argument; the test's PostgreSQL databases are emptied after it.
    databases = pg.TestDatabases(postgres_server)
    pg.bind(databases)
    try:
        yield
    finally:
        pg.bind(None)
        databases.release_all()


@pytest.fixture
def postgres_url(postgres_server: pg.PostgresServer | None, tmp_path: Path) -> str:
    """A fresh PostgreSQL database for a PostgreSQL-only test; skipped in the SQLite pass of the suite."""
    if postgres_server is None:
        pytest.skip(f"PostgreSQL only: runs with {pg.BACKEND_ENV}=postgresql (CI runs both backends)")
    return pg.database_url(tmp_path)


@pytest.fixture(scope="session")
def dovecot() -> Iterator[Dovecot]:
    """The session's private Dovecot (started once: about 0.3 s).  Use `mailbox` for a user of your own."""
    with Dovecot() as server:
        yield server


@pytest.fixture
def mailbox(dovecot: Dovecot, request: pytest.FixtureRequest) -> Mailbox:
    """A new, empty Dovecot user for this test: no other test sees its mail."""
    slug = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:40] or "test"
    username = f"u{next(_user_numbers):04d}-{slug}"
    return Mailbox(username, dovecot.add_user(username))


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    """An SMTP server for this test that keeps what it receives (see SmtpSink for AUTH and failures)."""
    with SmtpSink() as sink:
        yield sink


@pytest.fixture
def write_config(dovecot: Dovecot) -> WriteConfig:
    """Factory: `write_config(tmp_path, mailbox, smtp_sink, **overrides) -> Path` of a robot config.toml.

    Overrides are per-section dicts merged into the defaults, e.g. `imap={"use_idle": False}`; a None
    value deletes a key, e.g. `robot={"secret": None}`.  The database is `pg.database_url(tmp_path)`:
    SQLite in tmp_path, or a fresh PostgreSQL database in the PostgreSQL pass.
    """

    def write(tmp_path: Path, mailbox: tuple[str, str], smtp_sink: SmtpSink, **overrides: Any) -> Path:
        data = robot_config(dovecot, mailbox, smtp_sink, pg.database_url(tmp_path), **overrides)
        return write_toml(tmp_path / "config.toml", data)

    return write


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    """The corpus of real-world messages vendored in tests/data/corpus (its README names each source and
    license); $MAILROBOT_CORPUS points at another copy."""
    return paths.corpus_dir()
