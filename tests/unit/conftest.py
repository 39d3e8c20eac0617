"""Unit tests use no database: whatever the backend of the run, a config built here names a SQLite file in
tmp_path that nothing opens (so the PostgreSQL pass makes no database for them)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def postgres_server() -> None:
    """No PostgreSQL server for unit tests (overrides tests/conftest.py's)."""
    return None
