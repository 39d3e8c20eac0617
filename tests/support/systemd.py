"""The systemd end of the notify protocol, for tests of a daemon process: what it says, and when."""

from __future__ import annotations

import os
import secrets
import socket
import threading
import time
from collections.abc import Callable

Notice = tuple[float, dict[str, str]]


def is_ready(fields: dict[str, str]) -> bool:
    return fields.get("READY") == "1"


class NotifySocket:
    """The systemd end of sd_notify: collects each datagram as (arrival time, {KEY: value})."""

    def __init__(self) -> None:
        # Abstract namespace: no path-length limit, nothing to clean up.
        self.address = f"@mailrobot-test-{os.getpid()}-{secrets.token_hex(4)}"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(b"\0" + self.address[1:].encode())
        self.sock.settimeout(0.2)
        self.notices: list[Notice] = []
        self._cond = threading.Condition()
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._closed.is_set():
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            fields = dict(line.split("=", 1) for line in data.decode().splitlines() if "=" in line)
            with self._cond:
                self.notices.append((time.monotonic(), fields))
                self._cond.notify_all()

    def wait_for(
        self, predicate: Callable[[dict[str, str]], bool], timeout: float, after: float = 0.0
    ) -> Notice:
        """The first notice (arrived after `after`) that `predicate` accepts; fails with what came."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for notice in self.notices:
                    if notice[0] > after and predicate(notice[1]):
                        return notice
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    got = [n[1] for n in self.notices]
                    raise AssertionError(f"no such notice within {timeout} s; got {got}")
                self._cond.wait(remaining)

    def pings(self, after: float = 0.0) -> list[float]:
        with self._cond:
            return [at for at, fields in self.notices if fields.get("WATCHDOG") == "1" and at > after]

    def seen(self, key: str, value: str = "1") -> bool:
        with self._cond:
            return any(fields.get(key) == value for _at, fields in self.notices)

    def statuses(self) -> list[str]:
        with self._cond:
            return [fields["STATUS"] for _at, fields in self.notices if "STATUS" in fields]

    def close(self) -> None:
        self._closed.set()
        self._thread.join()
        self.sock.close()
