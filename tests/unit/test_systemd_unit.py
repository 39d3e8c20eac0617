"""The shipped unit (contrib/systemd/mailrobot.service) is valid, notify-typed and hardened.

systemd-analyze works without a running systemd (a container, CI), offline on a unit file.  It comes with
Debian's `systemd` package, which scripts/test-deps.sh installs: when it is missing the tests fail and say
so, they do not skip, since a skipped check here would ship a broken unit unnoticed.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.paths import REPO

UNIT = REPO / "contrib" / "systemd" / "mailrobot.service"
MAX_EXPOSURE = 2.0


def _systemd_analyze() -> str:
    found = shutil.which("systemd-analyze")
    if found is None:
        pytest.fail("systemd-analyze is missing: run scripts/test-deps.sh (Debian package `systemd`)")
    return found


def _settings(text: str) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith(("#", ";", "[")) and "=" in line:
            key, value = line.split("=", 1)
            values.setdefault(key.strip(), []).append(value.strip())
    return values


@pytest.fixture
def installed_unit(tmp_path: Path) -> Path:
    """The shipped unit with ExecStart pointing at this environment's mailrobot (verify checks it exists)."""
    exe = Path(sys.executable).parent / "mailrobot"
    assert exe.exists(), f"{exe} is missing: install the project (scripts/test-deps.sh)"
    text = UNIT.read_text(encoding="utf-8")
    text, count = re.subn(r"(?m)^ExecStart=/opt/mailrobot/bin/mailrobot\b", f"ExecStart={exe}", text)
    assert count == 1, "ExecStart no longer runs /opt/mailrobot/bin/mailrobot: update README and this test"
    path = tmp_path / "mailrobot.service"
    path.write_text(text, encoding="utf-8")
    return path


def test_unit_passes_systemd_analyze_verify(installed_unit: Path) -> None:
    done = subprocess.run(
        [_systemd_analyze(), "verify", "--man=no", str(installed_unit)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    # verify prints warnings about the unit on stderr even when it exits 0: any line naming it is a finding.
    findings = [line for line in done.stderr.splitlines() if "mailrobot.service" in line]
    assert done.returncode == 0 and not findings, done.stderr


def test_unit_is_rated_ok_by_systemd_analyze_security(installed_unit: Path) -> None:
    done = subprocess.run(
        [_systemd_analyze(), "security", "--offline=yes", "--no-pager", str(installed_unit)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+) (\w+)", done.stdout)
    assert match, f"no rating in systemd-analyze's output:\n{done.stdout}\n{done.stderr}"
    exposure = float(match.group(1))
    assert exposure <= MAX_EXPOSURE, f"exposure {exposure} {match.group(2)} > {MAX_EXPOSURE}:\n{done.stdout}"


def test_unit_has_the_notify_watchdog_and_hardening_settings() -> None:
    settings = _settings(UNIT.read_text(encoding="utf-8"))
    expected = {
        "Type": "notify",
        "NotifyAccess": "main",
        "Restart": "on-failure",
        "StateDirectory": "mailrobot",
        "ProtectSystem": "strict",
        "NoNewPrivileges": "yes",
        "PrivateTmp": "yes",
        "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
        "ExecReload": "/bin/kill -HUP $MAINPID",
    }
    for key, value in expected.items():
        assert settings.get(key) == [value], f"{key}={value} expected, got {settings.get(key)}"
    assert settings.get("WatchdogSec") and settings["WatchdogSec"][0].endswith("s")
    assert settings.get("User") == ["mailrobot"] or settings.get("DynamicUser") == ["yes"]
    credentials = {value.split(":", 1)[0] for value in settings.get("LoadCredential", [])}
    assert {"imap-password", "smtp-password", "secret"} <= credentials
    assert settings["ExecStart"] == ["/opt/mailrobot/bin/mailrobot run --config /etc/mailrobot/config.toml"]
