"""A real `mailrobot run` process for end-to-end tests: started, logged to a file, stopped with SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


@dataclass
class RunningDaemon:
    process: subprocess.Popen[bytes]
    log_path: Path
    exit_code: int | None = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def assert_alive(self) -> None:
        assert self.process.poll() is None, f"daemon exited with {self.process.returncode}:\n{self.log()}"

    def wait_for_log(self, needle: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if needle in self.log():
                return
            self.assert_alive()
            time.sleep(0.05)
        raise AssertionError(f"{needle!r} not logged within {timeout} s:\n{self.log()}")


@contextmanager
def running_daemon(config: Path, log_path: Path) -> Iterator[RunningDaemon]:
    """The daemon on `config`; on leaving, SIGTERM and `exit_code` set (waits up to 15 s)."""
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "mailrobot", "run", "--config", str(config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPO,
            env=os.environ.copy(),
        )
        daemon = RunningDaemon(process, log_path)
        try:
            yield daemon
        finally:
            process.send_signal(signal.SIGTERM)
            daemon.exit_code = process.wait(timeout=15)
