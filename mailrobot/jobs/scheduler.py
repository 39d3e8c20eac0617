"""When the jobs run: APScheduler 3 in the daemon, cron schedules from [jobs] in robot.timezone.

Jobs are defined here in code and kept in memory (APScheduler cannot share a job store between processes);
what makes a job run once per period, with catch-up and with two daemons, is the job_runs table the jobs
claim themselves.  So a late or repeated call is always harmless, and the scheduler is set up for
"late is better than never":
- misfire_grace_time (jobs.misfire_grace_seconds, 6 hours by default): a run delayed by a stalled process
  or a suspended machine still happens when it wakes up; the job itself checks that it is still a working
  day within working hours.  A run later than that is dropped, the next fire time or the next start
  catches up.
- coalesce: runs missed while the process stalled collapse into one.
- max_instances 1: a long monthly report never overlaps itself.
- catch-up on start: each job whose fire time passed earlier in its period (today; for the monthly report,
  this month) runs once right away, so a daemon restarted at 11:00 still sends the 9:00 digest.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta, tzinfo

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger

from mailrobot.config import ConfigError, Settings
from mailrobot.jobs.retention import purge_raw
from mailrobot.jobs.tasks import JOB_NAMES, Jobs
from mailrobot.store.models import utcnow

log = logging.getLogger(__name__)


def check_schedules(settings: Settings) -> None:
    """Raise ConfigError naming the key of a schedule APScheduler cannot run (e.g. hour 25)."""
    keys = {f"jobs.{name}": getattr(settings.jobs, name) for name in JOB_NAMES}
    keys["retention.schedule"] = settings.retention.schedule
    for key, value in keys.items():
        if value:
            _trigger(key, value, None)


def _trigger(key: str, value: str, zone: tzinfo | None) -> CronTrigger:
    try:
        return CronTrigger.from_crontab(value, timezone=zone)
    except ValueError as exc:
        raise ConfigError(
            f"{key} = {value!r}: not a crontab schedule ({exc}); want five fields "
            "'minute hour day month day_of_week', e.g. '30 9 * * *', or \"\" to turn the job off"
        ) from None


def schedules(jobs: Jobs) -> dict[str, CronTrigger]:
    """The configured trigger of each job that is on (an empty schedule turns a job off)."""
    settings = jobs.settings.jobs
    zone = jobs.calendar.zone
    return {
        name: _trigger(f"jobs.{name}", getattr(settings, name), zone)
        for name in JOB_NAMES
        if getattr(settings, name)
    }


def missed(trigger: CronTrigger, since: datetime, now: datetime) -> bool:
    """True if `trigger` fired (would have fired) at some moment in [since, now]."""
    first = trigger.get_next_fire_time(None, since)
    return first is not None and first <= now


def catch_up_window(name: str, jobs: Jobs, now: datetime) -> datetime | None:
    """Since when a missed fire time still matters for job `name` (None: always run it on start)."""
    local = now.astimezone(jobs.calendar.zone)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    if name == "monthly_report":
        return midnight.replace(day=1)
    if name in ("reminders", "digest"):
        return midnight
    return None


class JobScheduler:
    """A background scheduler for the jobs; `on_mail` is called after a job queued mail (wakes the sender)."""

    def __init__(
        self,
        jobs: Jobs,
        on_mail: Callable[[], None] = lambda: None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.jobs = jobs
        self.on_mail = on_mail
        self.clock = clock
        self.triggers = schedules(jobs)
        self.scheduler = BackgroundScheduler(
            timezone=jobs.calendar.zone,
            job_defaults={
                "coalesce": True,
                "max_instances": 1,
                "misfire_grace_time": jobs.settings.jobs.misfire_grace_seconds,
            },
        )

    def run_job(self, name: str) -> None:
        """One run of job `name` at the current time; errors are logged, never raised into the scheduler."""
        try:
            result = self.jobs.run(name, self.clock())
        except Exception:
            log.exception("job %s failed; it runs again at its next fire time", name)
            return
        if result.mails:
            self.on_mail()

    def start(self) -> None:
        self._add_jobs()
        if self.jobs.settings.jobs.catch_up:
            due = self.catch_up_jobs(self.clock())
            if due:
                # A one-off run on the scheduler's own threads: the daemon's start does not wait for it.
                self.scheduler.add_job(
                    self._catch_up, "date", args=[due], id="catch-up", misfire_grace_time=None
                )
        self.scheduler.start()
        for job in self.scheduler.get_jobs():
            log.info("job %s scheduled, next run %s", job.id, getattr(job, "next_run_time", None))

    def reload(self, jobs: Jobs) -> None:
        """A reloaded config (SIGHUP): the jobs run with its settings, calendar and people from their next
        run on, and its schedules replace the old ones; a run in hand finishes with the old settings."""
        self.jobs = jobs
        self.triggers = schedules(jobs)
        for job in self.scheduler.get_jobs():
            if job.id != "catch-up":
                job.remove()
        self._add_jobs()
        for job in self.scheduler.get_jobs():
            log.info("job %s rescheduled, next run %s", job.id, getattr(job, "next_run_time", None))

    def _add_jobs(self) -> None:
        for name, trigger in self.triggers.items():
            self.scheduler.add_job(
                self.run_job,
                trigger,
                args=[name],
                id=name,
                name=name,
                replace_existing=True,
                misfire_grace_time=self.jobs.settings.jobs.misfire_grace_seconds,  # a reload may change it
            )
        retention = self.jobs.settings.retention.schedule
        if retention:
            # Purging is idempotent (it only nulls what is past its period), so it needs no job_runs claim
            # and no catch-up: a missed night is done by the next one.
            self.scheduler.add_job(
                self.purge_raw,
                _trigger("retention.schedule", retention, self.jobs.calendar.zone),
                id="retention_purge",
                name="retention_purge",
                replace_existing=True,
            )

    def purge_raw(self) -> None:
        """The retention job (mailrobot.retention): errors are logged, never raised into the scheduler."""
        try:
            purge_raw(self.jobs.db, self.jobs.settings, self.clock())
        except Exception:
            log.exception("retention purge failed; it runs again at its next fire time")

    def catch_up_jobs(self, now: datetime) -> list[str]:
        """The jobs to run once at start: those whose fire time passed earlier in their period."""
        due = []
        for name, trigger in self.triggers.items():
            window = catch_up_window(name, self.jobs, now)
            if window is None or missed(trigger, window, now):
                due.append(name)
        return due

    def _catch_up(self, names: list[str]) -> None:
        for name in names:
            log.info("catching up job %s", name)
            self.run_job(name)

    def shutdown(self, wait: bool = True) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=wait)

    def next_runs(self) -> dict[str, datetime | None]:
        """Each job's next fire time (for `mailrobot jobs list`), computed from the triggers."""
        now = self.clock().astimezone(self.jobs.calendar.zone)
        return {
            name: t.get_next_fire_time(None, now + timedelta(microseconds=1))
            for name, t in self.triggers.items()
        }
