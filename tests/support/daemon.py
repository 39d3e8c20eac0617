"""`mailrobot` as its own process, as an admin or systemd runs it: one command, or the daemon with its log.

The one way tests, bench/ and demo/ start the robot in a process of its own.  A daemon is stopped with
SIGTERM (then killed if it will not go), so no test leaves one running.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from tests.support.paths import REPO

COMMAND = (sys.executable, "-m", "mailrobot")
# What systemd gives a service; never inherited from whatever started the tests.
SYSTEMD_ENV = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")


def run_mailrobot(
    config: Path,
    *args: str,
    check: bool = False,
    timeout: float = 300,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """`mailrobot ARGS --config CONFIG` in a new process, its output captured; with `check`, a failure is an
    AssertionError that shows its stderr.  `env` is added to this process's environment."""
    done = subprocess.run(
        [*COMMAND, *args, "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
        env={**os.environ, **(env or {})},
    )
    if check and done.returncode:
        raise AssertionError(f"mailrobot {' '.join(args)} exited with {done.returncode}:\n{done.stderr}")
    return done


class DaemonProcess:
    """`mailrobot run --config CONFIG` as systemd starts it: its own process, stdout and stderr in a log file.

    `notify_socket` and `watchdog_usec` are what systemd would put in $NOTIFY_SOCKET and $WATCHDOG_USEC.
    """

    def __init__(
        self,
        config: Path,
        log_path: Path | None = None,
        *,
        notify_socket: str | None = None,
        watchdog_usec: int | None = None,
    ) -> None:
        env = {k: v for k, v in os.environ.items() if k not in SYSTEMD_ENV}
        if notify_socket is not None:
            env["NOTIFY_SOCKET"] = notify_socket
        if watchdog_usec is not None:
            env["WATCHDOG_USEC"] = str(watchdog_usec)
        self.log_path = log_path or config.with_name("daemon.log")
        self.exit_code: int | None = None
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                [*COMMAND, "run", "--config", str(config)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=REPO,
            )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def assert_alive(self) -> None:
        if self.proc.poll() is not None:
            raise AssertionError(f"the daemon exited with {self.proc.returncode}:\n{self.log()[-4000:]}")

    def wait_for_log(self, needle: str, timeout: float = 30) -> None:
        """Return once `needle` is in the log; fail with the log if the daemon exits or time runs out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if needle in self.log():
                return
            self.assert_alive()
            time.sleep(0.05)
        raise AssertionError(f"{needle!r} not logged within {timeout} s:\n{self.log()[-4000:]}")

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def wait(self, timeout: float) -> int:
        """The exit status, once the daemon exits within `timeout` seconds; else fail with its log."""
        try:
            self.exit_code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"the daemon did not exit within {timeout} s; its log:\n{self.log()[-4000:]}"
            ) from None
        return self.exit_code

    def stop(self, timeout: float = 15) -> int:
        """SIGTERM, as systemd stops it; killed if still running after `timeout` s.  The exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self.exit_code = self.proc.returncode
        return self.exit_code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@contextmanager
def running_daemon(
    config: Path,
    log_path: Path | None = None,
    *,
    notify_socket: str | None = None,
    watchdog_usec: int | None = None,
) -> Iterator[DaemonProcess]:
    """The daemon on `config` for the `with` block; on leaving, stopped (`exit_code` set)."""
    daemon = DaemonProcess(config, log_path, notify_socket=notify_socket, watchdog_usec=watchdog_usec)
    try:
        yield daemon
    finally:
        daemon.stop()
