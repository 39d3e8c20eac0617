"""MailboxSource.wait against a scripted IMAP client: mail that the server announces only in its reply to
DONE (Dovecot does, for mail that landed just before IDLE began) ends the wait at once."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import pytest

from mailrobot.config import ImapSettings
from mailrobot.outside.imap import MailboxSource


class ScriptedClient:
    """Answers IDLE, DONE and NOOP as a server would; records the commands."""

    def __init__(self, done_replies: list[list[Any]]) -> None:
        self.done_replies = done_replies
        self.commands: list[str] = []

    def idle(self) -> None:
        self.commands.append("IDLE")

    def idle_check(self, timeout: float) -> list[Any]:
        time.sleep(min(timeout, 0.01))
        return []

    def idle_done(self) -> tuple[bytes, list[Any]]:
        self.commands.append("DONE")
        return b"Idle terminated", self.done_replies.pop(0) if self.done_replies else []

    def noop(self) -> tuple[bytes, list[Any]]:
        self.commands.append("NOOP")
        return b"NOOP completed", []


def _source(client: ScriptedClient) -> MailboxSource:
    settings = ImapSettings(host="127.0.0.1", username="feedback@example.kz", password="pw", idle_restart=30)
    source = MailboxSource(settings)
    source.client, source.can_idle = client, True  # type: ignore[assignment]
    return source


def test_mail_announced_in_the_reply_to_done_ends_the_wait(caplog: pytest.LogCaptureFixture) -> None:
    client = ScriptedClient([[(1, b"EXISTS")]])
    with caplog.at_level(logging.DEBUG, logger="mailrobot.outside.imap"):
        _source(client).wait(threading.Event())
    assert client.commands == ["IDLE", "DONE"]  # no NOOP, no 30 s round: the mail is fetched now
    # bench/intake.py --burst reads when the daemon heard of a MOVE from this line's timestamp.
    assert [r.getMessage() for r in caplog.records] == ["the server announced new mail"]


def test_without_an_announcement_the_long_round_follows(caplog: pytest.LogCaptureFixture) -> None:
    client = ScriptedClient([[], []])
    stop = threading.Event()
    threading.Timer(3.0, stop.set).start()
    with caplog.at_level(logging.DEBUG, logger="mailrobot.outside.imap"):
        _source(client).wait(stop)
    assert client.commands == ["IDLE", "DONE", "NOOP", "IDLE", "DONE"]
    assert "the server announced new mail" not in caplog.text
