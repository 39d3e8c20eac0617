"""[logging], [metrics], [jobs], [retention] and [spam]: how the service runs."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from mailrobot.config.base import Section


class LoggingSettings(Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    json_format: bool = Field(default=False, alias="json")


class MetricsSettings(Section):
    """The Prometheus endpoint (http://address:port/metrics), off unless enabled."""

    enabled: bool = False
    # Loopback by default: the metrics name no person, but they are nobody else's business either; put a
    # reverse proxy or the Prometheus host's tunnel in front rather than opening the port.
    address: str = "127.0.0.1"
    port: int = Field(default=9468, ge=0, le=65535)


# One crontab field: numbers, names (mon, jan), ranges, lists and steps.  The full check (ranges of each
# field) is the scheduler's, which owns APScheduler: `mailrobot.jobs.scheduler.check_schedules`.
_CRON_FIELD = re.compile(r"^(\*|[0-9a-z]+(-[0-9a-z]+)?)(/[0-9]+)?(,(\*|[0-9a-z]+(-[0-9a-z]+)?)(/[0-9]+)?)*$")


def _crontab(value: str) -> str:
    """A five-field crontab line, or "" (the job is off)."""
    value = " ".join(value.lower().split())
    fields = value.split(" ") if value else []
    if fields and (len(fields) != 5 or not all(_CRON_FIELD.match(f) for f in fields)):
        raise ValueError(
            "not a crontab schedule: want five fields 'minute hour day month day_of_week', "
            "e.g. '30 9 * * *', or \"\" to turn the job off"
        )
    return value


class JobsSettings(Section):
    """Scheduled jobs (regulation 4.3.9 deadlines, 4.3.11 monthly report), in robot.timezone.

    A schedule says when a job looks for work; the job itself decides with the working-day calendar
    (reminders and digests on working days, mail to people within working hours), so the defaults fire
    every day and a decreed working Saturday is handled like any working day.
    """

    enabled: bool = True
    overdue_scan: str = "*/15 * * * *"
    reminders: str = "30 9 * * *"
    digest: str = "0 9 * * *"
    monthly_report: str = "0 10 * * *"
    misfire_grace_seconds: int = Field(default=6 * 3600, ge=1)
    catch_up: bool = True
    report_top_questions: int = Field(default=10, ge=1, le=100)
    report_similarity: float = Field(default=0.5, gt=0, le=1)

    _check = field_validator("overdue_scan", "reminders", "digest", "monthly_report")(
        classmethod(lambda cls, v: _crontab(v))
    )


class RetentionSettings(Section):
    """How long raw mail and attachments (personal data) are kept; cases and timelines are kept regardless.

    0 days keeps them forever.  attachments_days defaults to raw_days.
    """

    raw_days: int = Field(default=1095, ge=0)
    attachments_days: int | None = Field(default=None, ge=0)
    # When the purge job runs (crontab, robot.timezone), "" for never: `mailrobot retention purge` then.
    schedule: str = "30 3 * * *"

    _check = field_validator("schedule")(classmethod(lambda cls, v: _crontab(v)))


class SpamSettings(Section):
    """The verdict of the mail server's filter in front of the mailbox (issue 11.7): spam gets no notice and
    reaches no operator; the head sees the count in the digest and `mailrobot messages release ID` undoes it.

    X-Spam-Flag/X-Spam-Status (SpamAssassin) and X-Spam-Action/X-Spam (rspamd) are always honoured.
    """

    score_header: str = ""  # e.g. "X-Spam-Score" or "X-Rspamd-Score": its first number is the score
    threshold: float | None = None  # spam from this score on (with score_header)
    # Authentication-Results (RFC 8601) are read only from these authserv-ids (our own mail servers):
    # anyone can write that header.  Empty: they are ignored.
    trusted_authserv_ids: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _score(self) -> SpamSettings:
        if bool(self.score_header) != (self.threshold is not None):
            raise ValueError("spam.score_header and spam.threshold go together: set both, or neither")
        if self.score_header and not re.fullmatch(r"[!-9;-~]+", self.score_header):
            raise ValueError(f"spam.score_header {self.score_header!r} is not a header name")
        return self
