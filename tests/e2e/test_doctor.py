"""`mailrobot doctor` against the real servers: all ✔ when the set-up works, a ✘ naming each problem."""

from __future__ import annotations

import struct
import subprocess
from pathlib import Path

from mailrobot.config import load_settings
from mailrobot.store.db import Database
from tests.support.config import WriteConfig
from tests.support.daemon import run_mailrobot
from tests.support.dovecot import Dovecot, Mailbox
from tests.support.smtp import SmtpSink


def doctor(config: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return run_mailrobot(config, "doctor", timeout=120, env=env)


def lines(result: subprocess.CompletedProcess[str], mark: str) -> list[str]:
    return [line for line in result.stdout.splitlines() if line.startswith(mark)]


def upgraded(config: Path) -> Path:
    """The database as the service leaves it (doctor checks it, it does not create it)."""
    db = Database(load_settings(config).database.url)
    db.upgrade()
    db.dispose()
    return config


def test_all_checks_pass_against_working_servers(
    tmp_path: Path, dovecot: Dovecot, mailbox: Mailbox, write_config: WriteConfig
) -> None:
    with SmtpSink(require_auth=True) as sink:
        config = upgraded(write_config(tmp_path, mailbox, sink, imap={"create_folders": True}))
        result = doctor(config)
        assert sink.messages == []  # the SMTP login sent nothing
    assert result.returncode == 0, result.stdout + result.stderr
    assert lines(result, "✘") == []
    passed = "\n".join(lines(result, "✔"))
    for name in (
        "config",
        "time zone",
        "templates (ru)",
        "templates (kk)",
        "templates (en)",
        "database",
        "IMAP login",
        "IMAP folders",
        "IMAP IDLE",
        "IMAP MOVE",
        "SMTP login",
    ):
        assert f"✔ {name}:" in passed, result.stdout
    # The calendar is ✔, or "!" when no day transfers for this year are known yet (a reminder, not a fault).
    assert any(line.startswith(("✔ calendar", "! calendar")) for line in result.stdout.splitlines())
    assert "created 'Processed'" in passed  # a new mailbox: doctor creates the folder, as the robot would
    assert "all checks passed" in result.stdout


def test_wrong_passwords_are_named(
    tmp_path: Path, mailbox: Mailbox, smtp_sink: SmtpSink, write_config: WriteConfig
) -> None:
    with SmtpSink(require_auth=True, password="the-right-one") as sink:
        config = upgraded(
            write_config(tmp_path, mailbox, sink, imap={"password": "wrong"}, smtp={"password": "wrong-too"})
        )
        result = doctor(config)
    assert result.returncode == 1
    failed = "\n".join(lines(result, "✘"))
    assert "✘ IMAP login" in failed and "refused" in failed
    assert "✘ SMTP login" in failed and "535" in failed
    assert "check imap.username and the password" in result.stdout
    assert "check smtp.username and its password" in result.stdout
    assert "2 problem(s) found" in result.stdout


def test_missing_processed_folder_is_named_when_it_may_not_be_created(
    tmp_path: Path, mailbox: Mailbox, smtp_sink: SmtpSink, write_config: WriteConfig
) -> None:
    config = upgraded(
        write_config(tmp_path, mailbox, smtp_sink, imap={"processed_folder": "Done", "create_folders": False})
    )
    result = doctor(config)
    assert result.returncode == 1
    [failed] = lines(result, "✘")
    assert failed.startswith("✘ IMAP folders") and "'Done' does not exist" in failed
    assert "set imap.create_folders = true" in result.stdout


def test_database_not_yet_migrated_is_named(
    tmp_path: Path, mailbox: Mailbox, smtp_sink: SmtpSink, write_config: WriteConfig
) -> None:
    config = write_config(tmp_path, mailbox, smtp_sink)
    db = Database(load_settings(config).database.url)
    try:
        with db.engine.begin() as conn:  # an empty database: nothing migrated yet
            conn.exec_driver_sql("CREATE TABLE unrelated (id INTEGER)")
    finally:
        db.dispose()
    result = doctor(config)
    assert result.returncode == 1
    [failed] = lines(result, "✘")
    assert failed.startswith("✘ database") and "schema at nothing" in failed
    assert "mailrobot db upgrade" in result.stdout


def _stale_tz_database(directory: Path) -> Path:
    """A tz database whose Asia/Almaty is still UTC+6 (as before tzdata 2024a): one TZif file."""

    def block() -> bytes:
        chars = b"+06\0"
        header = b"TZif2" + b"\0" * 15 + struct.pack(">6l", 0, 0, 0, 0, 1, len(chars))
        return header + struct.pack(">lbB", 6 * 3600, 0, 0) + chars

    zone = directory / "Asia" / "Almaty"
    zone.parent.mkdir(parents=True)
    zone.write_bytes(block() + block() + b"\n<+06>-6\n")
    return directory


def test_stale_time_zone_database_is_named(
    tmp_path: Path, mailbox: Mailbox, smtp_sink: SmtpSink, write_config: WriteConfig
) -> None:
    config = upgraded(write_config(tmp_path, mailbox, smtp_sink))
    result = doctor(config, env={"PYTHONTZPATH": str(_stale_tz_database(tmp_path / "zoneinfo"))})
    assert result.returncode == 1
    [failed] = lines(result, "✘")
    assert failed.startswith("✘ time zone") and "Asia/Almaty is UTC+6" in failed
    assert "update the time zone database" in result.stdout


def test_a_broken_config_is_named_and_nothing_else_runs(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[imap]\nhost = "imap.example.kz"\n', encoding="utf-8")
    result = doctor(config)
    assert result.returncode == 1
    assert result.stdout.startswith("✘ config:")
    assert "imap.username: required key is missing" in result.stdout
    assert "IMAP login" not in result.stdout
