"""`mailrobot cases export`: a case, its timeline and its mail as files an auditor can check."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import tomli_w
from click.testing import CliRunner
from sqlalchemy import select, update
from sqlalchemy.orm import undefer

from mailrobot.cli import main
from mailrobot.config import Settings
from mailrobot.jobs.export import ExportError, export_case, safe_filename
from mailrobot.jobs.retention import purge_raw
from mailrobot.store.chunks import read_file
from mailrobot.store.db import Database
from mailrobot.store.models import Attachment, Message, Outbox
from tests.support.config import settings_dict
from tests.support.factories import mail_with_attachment
from tests.support.pipeline import NOW, OLD, make_register

NUMBER = "SKES-2026-000001"


@pytest.fixture
def robot(tmp_path: Path) -> tuple[Settings, Database]:
    settings, db, register = make_register(tmp_path)
    register(NOW, [mail_with_attachment(1, filename="../../etc/passwd"), mail_with_attachment(2)])
    with db.transaction() as s:
        s.execute(update(Outbox).values(state="sent", sent_at=NOW))
    return settings, db


def sha256sums_hold(directory: Path) -> list[str]:
    """The files SHA256SUMS names, after checking each one's hash (what `sha256sum -c` does)."""
    names = []
    for line in (directory / "SHA256SUMS").read_text("utf-8").splitlines():
        digest, name = line.split("  ", 1)
        assert hashlib.sha256((directory / name).read_bytes()).hexdigest() == digest, name
        names.append(name)
    return names


def test_export_writes_the_case_its_timeline_and_every_mail(
    tmp_path: Path, robot: tuple[Settings, Database]
) -> None:
    _settings, db = robot
    out = tmp_path / "court-request"
    done = export_case(db, NUMBER, out)
    assert (done.messages, done.outbox, done.attachments, done.purged) == (1, 1, 1, 0)

    doc = json.loads((out / "case.json").read_text("utf-8"))
    assert doc["case"]["number"] == NUMBER and doc["case"]["requester"] == "consumer1@mail.kz"
    assert doc["case"]["received_at"] == NOW.isoformat()
    assert [e["kind"] for e in doc["timeline"]][:2] == ["registered", "notice_queued"]
    assert doc["timeline"][0]["message_file"] == doc["messages"][0]["raw"]
    assert doc["timeline"][1]["outbox_file"] == doc["outbox"][0]["raw"]

    with db.sessions() as s:
        message = s.scalar(
            select(Message).where(Message.case_id.is_not(None)).options(undefer(Message.raw_inline))
        )
        notice = s.scalar(
            select(Outbox).where(Outbox.case_id == message.case_id).options(undefer(Outbox.raw_inline))
        )
        attachment = s.scalar(select(Attachment).where(Attachment.message_row_id == message.id))
        attachment_data = read_file(s, attachment.id)
    [entry] = doc["messages"]
    assert (out / entry["raw"]).read_bytes() == message.raw  # byte for byte as received
    assert entry["sha256"] == hashlib.sha256(message.raw).hexdigest()
    assert (out / doc["outbox"][0]["raw"]).read_bytes() == notice.raw
    assert doc["outbox"][0]["state"] == "sent" and doc["outbox"][0]["raw"].startswith(
        "outbox/0001-notice-sent-"
    )
    [item] = entry["attachments"]
    saved = out / item["data"]
    assert saved.read_bytes() == attachment_data
    assert saved.parent == out / "attachments" / f"message-{message.id}"  # "../../etc/passwd" stayed inside
    assert "passwd" in saved.name and ".." not in saved.name

    assert sorted(sha256sums_hold(out)) == sorted(
        ["case.json", entry["raw"], doc["outbox"][0]["raw"], item["data"]]
    )


def test_export_after_retention_lists_purged_mail_without_files(tmp_path: Path) -> None:
    settings, db, register = make_register(tmp_path)
    register(OLD, [mail_with_attachment(1)])
    with db.transaction() as s:
        s.execute(update(Outbox).values(state="sent", sent_at=OLD))
    purge_raw(db, settings, NOW)
    out = tmp_path / "old-case"
    done = export_case(db, "SKES-2022-000001", out)
    assert done.purged == 2  # the message and the notice
    doc = json.loads((out / "case.json").read_text("utf-8"))
    assert doc["messages"][0]["raw"] == "purged" and doc["outbox"][0]["raw"] == "purged"
    assert doc["messages"][0]["attachments"][0]["data"].startswith("missing:")
    assert len(doc["messages"][0]["sha256"]) == 64  # what was received can still be matched
    assert sha256sums_hold(out) == ["case.json"]


def test_export_refuses_an_unknown_case_and_a_used_directory(
    tmp_path: Path, robot: tuple[Settings, Database]
) -> None:
    _settings, db = robot
    with pytest.raises(ExportError, match="no case SKES-2026-999999"):
        export_case(db, "SKES-2026-999999", tmp_path / "x")
    used = tmp_path / "used"
    used.mkdir()
    (used / "other-case.json").write_text("{}")
    with pytest.raises(ExportError, match="not an empty directory"):
        export_case(db, NUMBER, used)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("квитанция.pdf", "квитанция.pdf"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\a\\scan 1.jpg", "scan 1.jpg"),
        (".htaccess", "htaccess"),
        ("a\x00b\nc.txt", "a_b_c.txt"),
        ("", "attachment"),
        ("..", "attachment"),
        ("x" * 300 + ".pdf", "x" * 96 + ".pdf"),
    ],
)
def test_safe_filename(name: str, expected: str) -> None:
    assert safe_filename(name) == expected


def test_cli_cases_export(tmp_path: Path, robot: tuple[Settings, Database]) -> None:
    config = tmp_path / "config.toml"
    config.write_text(tomli_w.dumps(settings_dict(tmp_path)), "utf-8")
    out = tmp_path / "export"
    result = CliRunner().invoke(main, ["cases", "export", NUMBER, "--out", str(out), "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert f"case {NUMBER}: 1 message(s), 1 mail(s) sent, 1 attachment(s)" in result.output
    assert (out / "case.json").exists()
    again = CliRunner().invoke(main, ["cases", "export", NUMBER, "--out", str(out), "--config", str(config)])
    assert again.exit_code == 1 and "not an empty directory" in again.output
    missing = CliRunner().invoke(
        main, ["cases", "export", "NOPE-1", "--out", str(tmp_path / "n"), "--config", str(config)]
    )
    assert missing.exit_code == 1 and "no case NOPE-1" in missing.output
