"""Retention: raw mail and attachments past the period are purged; cases, timelines and hashes stay."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import tomli_w
from click.testing import CliRunner
from sqlalchemy import func, select, update

from mailrobot.cli import main
from mailrobot.config import Settings
from mailrobot.jobs.retention import purge_raw
from mailrobot.mail.render import Renderer
from mailrobot.regulation.workdays import WorkCalendar
from mailrobot.store.chunks import chunk_count
from mailrobot.store.db import Database
from mailrobot.store.models import Attachment, Case, Event, Message, Outbox
from tests.support.config import settings_dict
from tests.support.factories import mail_with_attachment
from tests.support.pipeline import NOW, OLD, count, make_register


@pytest.fixture
def robot(tmp_path: Path) -> tuple[Settings, Database]:
    """Two cases from 2022 whose notices went out, one of 2022 still waiting to leave, one case of 2026."""
    settings, db, register = make_register(tmp_path)
    register(OLD, [mail_with_attachment(1), mail_with_attachment(2)])
    with db.transaction() as s:
        s.execute(update(Outbox).values(state="sent", sent_at=OLD))
    register(OLD, [mail_with_attachment(3)])
    register(NOW, [mail_with_attachment(4)])
    return settings, db


def test_purge_nulls_old_raw_mail_and_attachments_and_keeps_the_cases(
    robot: tuple[Settings, Database],
) -> None:
    settings, db = robot
    before = {"cases": count(db, Case), "events": count(db, Event), "messages": count(db, Message)}
    with db.sessions() as s:
        hashes = dict(s.execute(select(Message.id, Message.sha256)).all())

    dry = purge_raw(db, settings, NOW, dry_run=True)
    assert (dry.messages, dry.attachments, dry.outbox) == (3, 3, 2)
    assert dry.message_bytes > 0 and dry.outbox_bytes > 0 and dry.attachment_bytes > 0
    assert "would purge raw mail of 3 message(s)" in dry.summary()
    assert count(db, Message, Message.raw.is_(None)) == 0  # a dry run changes nothing

    done = purge_raw(db, settings, NOW)
    assert (done.messages, done.attachments, done.outbox) == (3, 3, 2)
    assert done.message_bytes == dry.message_bytes and not done.dry_run
    assert done.raw_before == datetime(2023, 3, 21, 6, 0, tzinfo=UTC)  # 1095 days

    with db.sessions() as s:
        rows = {m.subject: m for m in s.scalars(select(Message))}
        assert rows["Счёт за электроэнергию 4"].raw is not None  # this year's mail stays
        assert all(rows[f"Счёт за электроэнергию {n}"].raw is None for n in (1, 2, 3))
        kept = s.scalars(select(Attachment.id).where(Attachment.kept.is_(True))).all()
        assert len(kept) == 1 and chunk_count(s) == chunk_count(s, kept) > 0  # purged files: no chunk left
        # The unsent 2022 notice is not purged (it would go out empty), nor is this year's.
        assert s.scalar(select(func.count()).select_from(Outbox).where(Outbox.raw.is_not(None))) == 2
        assert dict(s.execute(select(Message.id, Message.sha256)).all()) == hashes
    assert before == {"cases": count(db, Case), "events": count(db, Event), "messages": count(db, Message)}

    again = purge_raw(db, settings, NOW)
    assert (again.messages, again.attachments, again.outbox) == (0, 0, 0)


def test_attachments_may_go_sooner_than_raw_mail(tmp_path: Path) -> None:
    settings, db, register = make_register(tmp_path, retention={"raw_days": 3650, "attachments_days": 30})
    register(datetime(2026, 1, 5, 6, 0, tzinfo=UTC), [mail_with_attachment(1)])
    register(NOW, [mail_with_attachment(2)])
    done = purge_raw(db, settings, NOW)
    assert (done.messages, done.outbox, done.attachments) == (0, 0, 1)
    assert count(db, Attachment, Attachment.kept.is_(False)) == 1
    with db.sessions() as s:
        kept = s.scalars(select(Attachment.id).where(Attachment.kept.is_(True))).all()
        assert len(kept) == 1 and chunk_count(s) == chunk_count(s, kept) > 0
    assert count(db, Message, Message.raw.is_(None)) == 0


def test_zero_days_keeps_everything(tmp_path: Path) -> None:
    settings, db, register = make_register(tmp_path, retention={"raw_days": 0})
    register(OLD, [mail_with_attachment(1)])
    done = purge_raw(db, settings, NOW)
    assert (done.raw_before, done.attachments_before) == (None, None)
    assert "keeps raw mail and attachments forever" in done.summary()
    assert count(db, Message, Message.raw.is_(None)) == 0


def test_purge_in_chunks(robot: tuple[Settings, Database], monkeypatch: pytest.MonkeyPatch) -> None:
    from mailrobot.jobs import retention

    monkeypatch.setattr(retention, "CHUNK", 2)  # 3 old messages: two transactions
    settings, db = robot
    assert purge_raw(db, settings, NOW).messages == 3
    assert count(db, Message, Message.raw.is_(None)) == 3


def test_cli_retention_purge(tmp_path: Path, robot: tuple[Settings, Database]) -> None:
    config = tmp_path / "config.toml"
    # Purging "now" with a period that reaches back past the 2022 mail and not to this year's.
    days = (datetime.now(UTC) - datetime(2024, 1, 1, tzinfo=UTC)).days
    config.write_text(tomli_w.dumps(settings_dict(tmp_path, retention={"raw_days": days})), "utf-8")
    runner = CliRunner()

    dry = runner.invoke(main, ["retention", "purge", "--dry-run", "--config", str(config)])
    assert dry.exit_code == 0, dry.output
    assert "would purge raw mail of 3 message(s)" in dry.output

    done = runner.invoke(main, ["retention", "purge", "--config", str(config)])
    assert done.exit_code == 0, done.output
    assert "purged raw mail of 3 message(s)" in done.output and "3 attachment(s)" in done.output
    _settings, db = robot
    assert count(db, Message, Message.raw.is_(None)) == 3


def test_the_daemons_scheduler_runs_the_purge(robot: tuple[Settings, Database]) -> None:
    from mailrobot.jobs.scheduler import JobScheduler
    from mailrobot.jobs.tasks import Jobs

    settings, db = robot
    jobs = Jobs(db, settings, WorkCalendar.from_settings(settings), Renderer.from_settings(settings))
    scheduler = JobScheduler(jobs, clock=lambda: NOW)
    scheduler.start()
    try:
        job = scheduler.scheduler.get_job("retention_purge")
        assert job is not None and str(job.trigger.timezone) == "Asia/Almaty"
        assert str(job.trigger) == "cron[month='*', day='*', day_of_week='*', hour='3', minute='30']"
        job.func()  # what the scheduler calls at 03:30
    finally:
        scheduler.shutdown()
    assert count(db, Message, Message.raw.is_(None)) == 3


def test_an_empty_schedule_leaves_the_purge_to_the_admin(tmp_path: Path) -> None:
    from mailrobot.jobs.scheduler import JobScheduler
    from mailrobot.jobs.tasks import Jobs

    settings, db, _register = make_register(tmp_path, retention={"schedule": ""}, jobs={"catch_up": False})
    jobs = Jobs(db, settings, WorkCalendar.from_settings(settings), Renderer.from_settings(settings))
    scheduler = JobScheduler(jobs)
    scheduler.start()
    try:
        assert scheduler.scheduler.get_job("retention_purge") is None
    finally:
        scheduler.shutdown()
