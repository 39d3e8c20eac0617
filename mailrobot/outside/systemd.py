"""systemd's notify protocol (sd_notify): READY, STATUS, WATCHDOG, RELOADING and STOPPING.

The protocol is one datagram of `KEY=value` lines to the unix socket named by $NOTIFY_SOCKET, so the
standard library does it in a few lines; a binding (python-systemd, sdnotify) would add a dependency and a
C build for nothing.  Outside systemd (no $NOTIFY_SOCKET) every call is a no-op.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping

log = logging.getLogger(__name__)


class Notifier:
    """Tells systemd what the robot is doing.

    `watchdog()` belongs in the loop it vouches for, right after that loop heard from its server: a ping
    from anywhere else (a timer thread) would keep a hung daemon alive.
    """

    def __init__(
        self, environ: Mapping[str, str] | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        env = os.environ if environ is None else environ
        self.address = _socket_address(env.get("NOTIFY_SOCKET", ""))
        self.watchdog_usec = _watchdog_usec(env)
        self._clock = clock
        self._socket: socket.socket | None = None
        self._lock = threading.Lock()
        self._last_ping: float | None = None
        self._last_status: str | None = None

    @property
    def enabled(self) -> bool:
        return self.address is not None

    @property
    def watchdog_interval(self) -> float | None:
        """Seconds between watchdog pings (half the timeout, as sd_watchdog_enabled(3) advises), or None."""
        return self.watchdog_usec / 2_000_000 if self.watchdog_usec else None

    def notify(self, *fields: str) -> bool:
        """Send `KEY=value` fields in one datagram; False when there is no socket or the send failed."""
        if self.address is None:
            return False
        payload = "\n".join(fields).encode("utf-8", "replace")
        with self._lock:
            try:
                if self._socket is None:
                    self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
                self._socket.sendto(payload, self.address)
            except OSError as exc:
                # systemd gone or the socket path wrong: the robot's work does not depend on it.
                log.debug("sd_notify to %r failed: %s", self.address, exc)
                return False
        return True

    def ready(self, status: str | None = None) -> None:
        """The service is up (sent again after a reload, as the protocol wants)."""
        fields = ["READY=1"]
        if status is not None:
            fields.append(f"STATUS={status}")
            self._last_status = status
        self.notify(*fields)

    def status(self, text: str) -> None:
        """A one-line status for `systemctl status`; repeats of the same line are not sent."""
        if text != self._last_status:
            self._last_status = text
            self.notify(f"STATUS={text}")

    def watchdog(self) -> None:
        """Ping the watchdog, at most every half interval (callers may call it far more often)."""
        interval = self.watchdog_interval
        if interval is None:
            return
        now = self._clock()
        if self._last_ping is not None and now - self._last_ping < interval / 2:
            return
        self._last_ping = now
        self.notify("WATCHDOG=1")

    def reloading(self) -> None:
        # MONOTONIC_USEC lets systemd >= 253 (Type=notify-reload) match this to the reload it asked for.
        self.notify("RELOADING=1", f"MONOTONIC_USEC={time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000}")

    def stopping(self, status: str = "stopping") -> None:
        self._last_status = status
        self.notify("STOPPING=1", f"STATUS={status}")

    def close(self) -> None:
        with self._lock:
            if self._socket is not None:
                self._socket.close()
                self._socket = None


def _socket_address(value: str) -> str | bytes | None:
    if not value:
        return None
    if value.startswith("@"):  # abstract namespace
        return b"\0" + value[1:].encode()
    if value.startswith("/"):
        return value
    # vsock addresses (systemd >= 254, for VMs) are not a thing on Debian 12's systemd 252.
    log.warning("NOTIFY_SOCKET=%r is not a unix socket path; not notifying systemd", value)
    return None


def _watchdog_usec(env: Mapping[str, str]) -> int | None:
    """WATCHDOG_USEC when it is meant for this process (WATCHDOG_PID, when set, must be ours)."""
    try:
        usec = int(env.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    pid = env.get("WATCHDOG_PID")
    if pid and pid != str(os.getpid()):
        return None
    return usec if usec > 0 else None
