"""outside.systemd.Notifier on its own: the datagrams, the watchdog's pace, and silence outside systemd."""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Iterator

import pytest

from mailrobot.outside.systemd import Notifier


@pytest.fixture
def receiver() -> Iterator[tuple[str, socket.socket]]:
    address = f"@mailrobot-notifier-{secrets.token_hex(4)}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(b"\0" + address[1:].encode())
    sock.settimeout(2)
    yield address, sock
    sock.close()


def received(sock: socket.socket) -> list[str]:
    messages = []
    sock.setblocking(False)
    try:
        while True:
            messages.append(sock.recv(4096).decode())
    except BlockingIOError:
        return messages
    finally:
        sock.setblocking(True)


def test_ready_status_reloading_and_stopping(receiver: tuple[str, socket.socket]) -> None:
    address, sock = receiver
    notifier = Notifier({"NOTIFY_SOCKET": address})
    notifier.ready("connected")
    notifier.status("connected")  # unchanged: not sent again
    notifier.status("idle, 0 in outbox")
    notifier.reloading()
    notifier.stopping()
    notifier.close()
    messages = received(sock)
    assert messages[0] == "READY=1\nSTATUS=connected"
    assert messages[1] == "STATUS=idle, 0 in outbox"
    assert messages[2].startswith("RELOADING=1\nMONOTONIC_USEC=")
    assert messages[3] == "STOPPING=1\nSTATUS=stopping"
    assert len(messages) == 4


def test_watchdog_pings_at_most_every_half_interval(receiver: tuple[str, socket.socket]) -> None:
    address, sock = receiver
    now = [0.0]
    notifier = Notifier({"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "4000000"}, clock=lambda: now[0])
    assert notifier.watchdog_interval == 2.0  # ping every half of the 4 s timeout
    for t in (0.0, 0.5, 0.9, 1.0, 1.5, 2.1):
        now[0] = t
        notifier.watchdog()
    assert received(sock) == ["WATCHDOG=1", "WATCHDOG=1", "WATCHDOG=1"]  # at 0.0, 1.0 and 2.1


def test_watchdog_for_another_process_is_ignored(receiver: tuple[str, socket.socket]) -> None:
    address, sock = receiver
    other = Notifier({"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "1"})
    mine = Notifier({"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "1000000", "WATCHDOG_PID": str(os.getpid())})
    assert other.watchdog_interval is None and mine.watchdog_interval == 0.5
    other.watchdog()
    assert received(sock) == []


def test_outside_systemd_nothing_is_sent() -> None:
    notifier = Notifier({})
    assert not notifier.enabled and notifier.watchdog_interval is None
    notifier.ready("x")
    notifier.watchdog()
    assert notifier.notify("STATUS=x") is False
