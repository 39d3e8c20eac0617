"""Issue 9 item 8, the robot's own files and endpoints: the SQLite database and exports readable by their
owner alone, root-owned -wal/-shm refused with the fix, a clear error for an export into a dangling link,
only /metrics and /healthz answered, and no token or raw mail in the log."""

from __future__ import annotations

import logging
import os
import stat
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from mailrobot.cli import main
from mailrobot.jobs.export import ExportError, export_case
from mailrobot.logs import setup_logging
from mailrobot.mail.tokens import make_message_id, reply_address
from mailrobot.outside.metrics import Metrics
from mailrobot.store.db import Database, DatabaseFilesRefused, prepare_sqlite_file
from tests.support.config import settings_dict, write_toml
from tests.support.factories import mail_with_attachment
from tests.support.pipeline import NOW, make_register

NOBODY = 65534


@contextmanager
def umask(mask: int) -> Iterator[None]:
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_sqlite_database_is_readable_by_its_owner_alone_whatever_the_umask(tmp_path: Path) -> None:
    path = tmp_path / "db" / "mailrobot.db"
    with umask(0o022):
        db = Database(f"sqlite:///{path}")
        db.upgrade()
        with db.transaction() as session:
            session.execute(text("SELECT 1"))
        assert mode(path) == 0o600
        assert mode(path.with_name("mailrobot.db-wal")) == 0o600
        db.dispose()
    path.chmod(0o644)  # left so by an older version
    prepare_sqlite_file(path)
    assert mode(path) == 0o600


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root: chown")
def test_root_owned_wal_and_shm_are_refused_with_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "mailrobot.db"
    prepare_sqlite_file(path)
    wal = path.with_name("mailrobot.db-wal")
    wal.write_bytes(b"")
    os.chown(wal, NOBODY, NOBODY)  # a -wal of another owner than the database's
    with pytest.raises(DatabaseFilesRefused, match=r"Fix: chown root: .*mailrobot\.db-wal"):
        Database(f"sqlite:///{path}")
    wal.unlink()
    os.chown(path, NOBODY, NOBODY)  # the service's database, and root at the keyboard
    with pytest.raises(DatabaseFilesRefused, match="runuser -u nobody -- mailrobot"):
        Database(f"sqlite:///{path}")


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root: chown")
def test_the_cli_says_the_fix_without_a_traceback(tmp_path: Path) -> None:
    data = settings_dict(tmp_path)
    data["database"]["url"] = f"sqlite:///{tmp_path / 'service.db'}"
    config = write_toml(tmp_path / "config.toml", data)
    prepare_sqlite_file(tmp_path / "service.db")
    os.chown(tmp_path / "service.db", NOBODY, NOBODY)
    result = CliRunner().invoke(main, ["cases", "list", "--config", str(config)])
    assert result.exit_code == 1 and "runuser -u nobody -- mailrobot" in result.output
    assert "Traceback" not in result.output


def test_an_export_is_readable_by_its_owner_alone(tmp_path: Path) -> None:
    _settings, db, register = make_register(tmp_path)
    register(NOW, [mail_with_attachment(1)])
    out = tmp_path / "export"
    with umask(0o022):
        export_case(db, "SKES-2026-000001", out)
    assert mode(out) == 0o700
    for path in out.rglob("*"):
        assert mode(path) == (0o700 if path.is_dir() else 0o600), path


def test_an_export_into_a_dangling_symlink_is_a_clear_error(tmp_path: Path) -> None:
    _settings, db, register = make_register(tmp_path)
    register(NOW, [mail_with_attachment(1)])
    link = tmp_path / "out"
    link.symlink_to(tmp_path / "gone" / "nowhere")
    with pytest.raises(ExportError, match=r"symbolic link to .*nowhere, which does not exist"):
        export_case(db, "SKES-2026-000001", link)
    config = write_toml(tmp_path / "config.toml", settings_dict(tmp_path))
    result = CliRunner().invoke(
        main, ["cases", "export", "SKES-2026-000001", "--out", str(link), "--config", str(config)]
    )
    assert result.exit_code == 1 and "which does not exist" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_the_metrics_endpoint_answers_only_metrics_and_healthz(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'm.db'}")
    db.upgrade()
    metrics = Metrics(db)
    port = metrics.serve("127.0.0.1", 0)
    try:

        def get(path: str) -> tuple[int, str]:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as answer:
                    return answer.status, answer.read().decode()
            except urllib.error.HTTPError as error:
                return error.code, ""

        status, body = get("/metrics")
        assert status == 200 and "mailrobot_cases_open" in body
        assert get("/healthz") == (200, "ok\n")
        for path in ("/", "/anything", "/metrics/../secret", "/metricsx", "/healthz/x"):
            assert get(path)[0] == 404, path
    finally:
        metrics.close()
        db.dispose()


def test_no_reply_token_or_signed_message_id_reaches_the_log(capsys: pytest.CaptureFixture[str]) -> None:
    secret = "a-secret-for-this-test-0123456789"
    address = reply_address(secret, "feedback@skes.example.kz", "SKES-2026-000001")
    mid = make_message_id(secret, "skes.example.kz", "SKES-2026-000001", "forward")
    signature, mid_signature = address.split("@")[0].rsplit(".", 1)[1], mid.split("@")[0].rsplit(".", 1)[1]
    setup_logging("DEBUG")
    try:
        log = logging.getLogger("mailrobot.test")
        log.warning("refused: reply address %s used by x@evil.example (%s)", address.lower(), mid)
        try:
            raise ValueError(f"token {address}")
        except ValueError:
            log.exception("failed")
        logging.getLogger("imapclient.imaplib").debug("< * 1 FETCH (BODY[] {42} From: a secret body)")
    finally:
        logging.getLogger().handlers.clear()
    err = capsys.readouterr().err
    assert "feedback+skes-2026-000001.…@" in err and "forward." in err
    assert signature not in err.lower() and mid_signature not in err
    assert "a secret body" not in err
