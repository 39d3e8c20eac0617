"""One bundle for the end-to-end tests of a daemon process: what the daemon runs against, and systemd's end.

Instead of the same seven fixtures in every such test (tmp_path, dovecot, mailbox, smtp_sink, write_config,
a notify socket, a daemon starter), a test takes `site` (tests/e2e/conftest.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.config import WriteConfig
from tests.support.daemon import DaemonProcess
from tests.support.dovecot import Dovecot, Mailbox
from tests.support.smtp import SmtpSink
from tests.support.systemd import NotifySocket


@dataclass
class Site:
    """A fresh mailbox on the session's Dovecot, this test's SMTP sink, its config, and the systemd end of
    $NOTIFY_SOCKET.  Daemons started here are killed when the test ends, whatever happened."""

    tmp_path: Path
    dovecot: Dovecot
    mailbox: Mailbox
    smtp_sink: SmtpSink
    notify: NotifySocket
    writer: WriteConfig
    daemons: list[DaemonProcess] = field(default_factory=list)

    def write_config(self, **overrides: Any) -> Path:
        """tmp_path/config.toml for this mailbox and sink (overrides as for the `write_config` fixture)."""
        return self.writer(self.tmp_path, self.mailbox, self.smtp_sink, **overrides)

    def append(self, raw: bytes) -> int:
        """A mail into this mailbox's INBOX; its UID."""
        return self.dovecot.append(self.mailbox.username, raw)

    def start_daemon(self, config: Path, watchdog_usec: int | None = None) -> DaemonProcess:
        """`mailrobot run` on `config`, telling this site's notify socket what it does."""
        daemon = DaemonProcess(config, notify_socket=self.notify.address, watchdog_usec=watchdog_usec)
        self.daemons.append(daemon)
        return daemon

    def close(self) -> None:
        for daemon in self.daemons:
            daemon.kill()
        self.notify.close()
