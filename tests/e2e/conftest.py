"""Fixtures of the end-to-end tests (the servers themselves come from tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.config import WriteConfig
from tests.support.dovecot import Dovecot, Mailbox
from tests.support.site import Site
from tests.support.smtp import SmtpSink
from tests.support.systemd import NotifySocket


@pytest.fixture
def site(
    tmp_path: Path, dovecot: Dovecot, mailbox: Mailbox, smtp_sink: SmtpSink, write_config: WriteConfig
) -> Iterator[Site]:
    """This test's mailbox, SMTP sink and config writer, with systemd's notify socket and a daemon starter;
    any daemon still running at the end is killed."""
    site = Site(tmp_path, dovecot, mailbox, smtp_sink, NotifySocket(), write_config)
    try:
        yield site
    finally:
        site.close()
