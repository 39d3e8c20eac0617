"""The scheduler: cron schedules from the config, catch-up of missed periods on start, never twice."""

from __future__ import annotations

import threading
import time
from datetime import datetime
from pathlib import Path

import pytest
from apscheduler.triggers.cron import CronTrigger

from mailrobot.jobs.scheduler import JobScheduler, missed, schedules
from mailrobot.jobs.tasks import JobResult
from mailrobot.store.models import JobRun
from tests.support.jobs_world import ALMATY, World, at, due


def wait_for(predicate, timeout: float = 10.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def test_schedules_come_from_the_config(tmp_path: Path) -> None:
    world = World(tmp_path, jobs={"digest": "", "reminders": "45 8 * * mon-fri"})
    triggers = schedules(world.jobs())
    assert set(triggers) == {"overdue_scan", "reminders", "monthly_report"}  # "" turns the digest off
    reminders = triggers["reminders"]
    assert reminders.get_next_fire_time(None, at(2026, 11, 27, 9, 0)) == at(2026, 11, 30, 8, 45)
    assert str(reminders.timezone) == "Asia/Almaty"


def test_bad_schedule_is_a_config_error(tmp_path: Path) -> None:
    from mailrobot.config import ConfigError

    with pytest.raises(ConfigError, match=r"jobs\.digest: not a crontab schedule"):
        World(tmp_path, jobs={"digest": "every morning"})


def test_missed() -> None:
    trigger = CronTrigger.from_crontab("0 9 * * *", timezone=ALMATY)
    midnight = at(2026, 11, 27, 0, 0)
    assert not missed(trigger, midnight, at(2026, 11, 27, 8, 59))
    assert missed(trigger, midnight, at(2026, 11, 27, 9, 0))


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (at(2026, 11, 27, 8, 0), ["overdue_scan", "monthly_report"]),  # 10:00 fired on 1-26 November
        (at(2026, 11, 27, 9, 10), ["overdue_scan", "digest", "monthly_report"]),
        (at(2026, 11, 27, 11, 0), ["overdue_scan", "reminders", "digest", "monthly_report"]),
        (
            at(2026, 12, 1, 9, 45),
            ["overdue_scan", "reminders", "digest"],
        ),  # the report's first 10:00 is ahead
    ],
)
def test_catch_up_runs_what_was_missed_in_its_period(
    world: World, now: datetime, expected: list[str]
) -> None:
    assert JobScheduler(world.jobs()).catch_up_jobs(now) == expected


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


def test_start_catches_up_once_and_wakes_the_sender(world: World) -> None:
    late = world.case(due(2026, 11, 26))
    world.case(due(2026, 11, 30))  # due Monday: Friday's reminder
    woken = threading.Event()
    friday = at(2026, 11, 27, 11, 0)
    scheduler = JobScheduler(world.jobs(), on_mail=woken.set, clock=lambda: friday)
    scheduler.start()
    try:
        assert wait_for(lambda: world.count(JobRun) == 3)  # reminders, digest, monthly report (none due)
        assert woken.wait(5)
        jobs = {j.id: j for j in scheduler.scheduler.get_jobs()}
        assert set(jobs) >= {"overdue_scan", "reminders", "digest", "monthly_report"}
        assert jobs["digest"].misfire_grace_time == 6 * 3600 and jobs["digest"].coalesce
        assert jobs["digest"].max_instances == 1
    finally:
        scheduler.shutdown()
    assert world.get(late).state == "overdue"
    assert [kind for kind in ("reminder", "digest", "overdue") if world.outbox(kind)] == [
        "reminder",
        "digest",
        "overdue",
    ]

    # A restart the same day: the catch-up finds every period done.
    again = JobScheduler(world.jobs("restarted"), clock=lambda: friday)
    again.start()
    try:
        time.sleep(0.5)
    finally:
        again.shutdown()
    assert world.count(JobRun) == 3
    assert len(world.outbox("reminder")) == 1 and len(world.outbox("digest")) == 1
    assert len(world.outbox("overdue")) == 1


def test_a_failing_job_is_logged_not_raised(world: World, caplog: pytest.LogCaptureFixture) -> None:
    jobs = world.jobs()

    def broken(name: str, now: datetime) -> JobResult:
        raise RuntimeError("database on fire")

    jobs.run = broken  # type: ignore[method-assign]
    JobScheduler(jobs, clock=lambda: at(2026, 11, 27, 11)).run_job("digest")
    assert "job digest failed" in caplog.text and "database on fire" in caplog.text


def test_catch_up_can_be_turned_off(tmp_path: Path) -> None:
    world = World(tmp_path, jobs={"catch_up": False})
    scheduler = JobScheduler(world.jobs(), clock=lambda: at(2026, 11, 27, 11, 0))
    scheduler.start()
    try:
        time.sleep(0.3)
        assert "catch-up" not in {j.id for j in scheduler.scheduler.get_jobs()}
    finally:
        scheduler.shutdown()
    assert world.count(JobRun) == 0


def test_next_runs(world: World) -> None:
    runs = JobScheduler(world.jobs(), clock=lambda: at(2026, 11, 27, 9, 40)).next_runs()
    assert runs["reminders"] == at(2026, 11, 28, 9, 30)  # the job itself skips the Saturday
    assert runs["overdue_scan"] == at(2026, 11, 27, 9, 45)
