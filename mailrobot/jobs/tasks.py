"""The scheduled jobs: overdue scan, operators' reminders, the head's digest, the monthly report.

The scheduler (scheduler.py) only decides when to call a job; the job decides from the calendar and `now`
whether there is work (reminders and digests on working days, mail to people within working hours), and
the database makes sure the work is done once:
- a job_runs row per job and period ("reminders", "2026-11-27"), inserted first in the job's transaction:
  a catch-up run, a second run by hand or a second daemon finds it and stops;
- a notifications row per mail that must go once (a reminder per case and deadline, an overdue alert per
  case and deadline, a digest per day, a report per month).
Mail goes through the outbox, written in the same transaction, like every other mail of the robot.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from sqlalchemy import String, cast, func, literal, select
from sqlalchemy.orm import Session

from mailrobot.casework.mailer import Mailer
from mailrobot.config import Settings
from mailrobot.jobs import report_mail as report_output
from mailrobot.jobs import reports
from mailrobot.jobs.case_lists import (
    OPEN,
    VIEW_COLUMNS,
    deadline_view,
    deadline_views,
    failed_mail,
    interim_answered,
    listed_case,
    notices_stopped,
    operators_of,
)
from mailrobot.jobs.claims import JobResult, claim_notification, claim_run, existing_keys
from mailrobot.mail.compose import Attachment
from mailrobot.mail.render import Renderer
from mailrobot.mail.tokens import reply_address
from mailrobot.regulation import deadlines
from mailrobot.regulation.deadlines import JOB_NAMES, OVERDUE
from mailrobot.regulation.decide import is_mailable
from mailrobot.regulation.publish import report_thread
from mailrobot.regulation.states import EventKind, MailKind, MessageStatus, OutboxState
from mailrobot.regulation.workdays import WorkCalendar
from mailrobot.store.db import Database
from mailrobot.store.models import (
    Case,
    Event,
    Message,
    Notification,
    Outbox,
)

log = logging.getLogger(__name__)

__all__ = ["JOB_NAMES", "JobResult", "Jobs", "claim_notification", "claim_run"]
DIGEST_LIST_LIMIT = 100  # cases listed per section of the digest; its counts are always complete
DELIVERY_FAILED = MailKind.DELIVERY_FAILED


class Jobs:
    """The jobs, callable directly with a given `now` (by the scheduler, `mailrobot jobs run`, and tests)."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        calendar: WorkCalendar,
        renderer: Renderer,
        owner: str | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.calendar = calendar
        self.renderer = renderer
        self.mailer = Mailer(settings, calendar, renderer)
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}"

    def run(self, name: str, now: datetime) -> JobResult:
        if name not in JOB_NAMES:
            raise ValueError(f"no job {name!r}; the jobs are: {', '.join(JOB_NAMES)}")
        result: JobResult = getattr(self, name)(now)
        log.info("job %s", result)
        return result

    # -- overdue ------------------------------------------------------------------------------------------

    def overdue_scan(self, now: datetime) -> JobResult:
        """Flag open cases past their deadline (any time), then alert the head once per case and deadline
        (within working hours only: an alert at 3 a.m. is read at 9 anyway, below a night's other mail).
        Also tells a case's operators, once per mail, that a mail of the case failed for good."""
        with self.db.transaction() as session:
            flagged = self._flag_overdue(session, now)
            working = self.calendar.is_working_time(now)
            alerts = self._queue_overdue_alerts(session, now) if working else 0
            failures = self._queue_failure_alerts(session, now)
        detail = f"{flagged} newly overdue, {alerts} alert mails queued, {failures} failed-mail alerts queued"
        if not working:
            detail += " (alerts wait for working hours)"
        return JobResult("overdue_scan", "done", detail, mails=alerts)

    def _flag_overdue(self, session: Session, now: datetime) -> int:
        candidates = session.scalars(
            select(Case)
            .options(VIEW_COLUMNS)
            .where(OPEN, Case.state != OVERDUE, Case.due_at < now)
            .order_by(Case.due_at, Case.id)
            .with_for_update(skip_locked=True)  # PostgreSQL: a second daemon skips rows in hand
        ).all()
        by_id = {c.id: c for c in candidates}
        flagged = deadlines.newly_overdue((deadline_view(c) for c in candidates), now)
        for view in flagged:
            case = by_id[view.id]
            session.add(
                Event(
                    case_id=case.id,
                    at=now,
                    kind=EventKind.OVERDUE,
                    detail=f"deadline {self._local(case.due_at)} passed (state was {case.state})",
                )
            )
            case.state, case.overdue_at = OVERDUE, now
            log.warning("case %s is overdue: due %s", case.number, case.due_at.isoformat())
        return len(flagged)

    def _queue_overdue_alerts(self, session: Session, now: datetime) -> int:
        heads = [a for a in self.settings.people.head if is_mailable(a)]
        if not heads:
            return 0
        # Only cases not alerted since they became overdue: the scan runs every few minutes, and the
        # overdue cases of a large contact center need not be read again each time.
        alerted = select(Notification.id).where(
            Notification.case_id == Case.id,
            Notification.kind == MailKind.OVERDUE,
            Notification.created_at >= Case.overdue_at,
        )
        cases = session.scalars(
            select(Case)
            .options(VIEW_COLUMNS)
            .where(Case.state == OVERDUE, ~alerted.exists())
            .order_by(Case.due_at, Case.id)
        ).all()
        keys = {c.id: deadlines.overdue_key(c.number, self.calendar.local_date(c.due_at)) for c in cases}
        sent = set(existing_keys(session, keys.values()))
        operators = operators_of(session, [c.id for c in cases if not c.assignee and keys[c.id] not in sent])
        mails = 0
        for case in cases:
            if keys[case.id] in sent or not claim_notification(
                session, keys[case.id], "overdue", case.id, now
            ):
                continue
            context = {
                "case_number": case.number,
                "assignee": case.assignee or ", ".join(operators.get(case.id, ())),
                "due_at": case.due_at,
                "late_by": deadlines.late_by(self.calendar, case.due_at, now),
            }
            for head in heads:
                rendered = self.mailer.render_for("overdue", head, context)
                # Reply-To the case's signed address: the head can answer the alert with a command (#grant).
                self.mailer.queue_staff(
                    session, case, "overdue", head, rendered, now, case.number, reply_to=True
                )
                mails += 1
        return mails

    def _queue_failure_alerts(self, session: Session, now: datetime) -> int:
        """A mail to the operators of each case whose mail failed for good and was not reported yet."""
        key = literal("failed:") + cast(Outbox.id, String)
        reported = select(Notification.id).where(Notification.key == key)
        rows = session.execute(
            select(Outbox.id, Outbox.kind, Outbox.recipient, Outbox.created_at, Outbox.last_error, Case)
            .join(Case, Case.id == Outbox.case_id)
            .where(Outbox.state == OutboxState.FAILED, Outbox.kind != DELIVERY_FAILED, ~reported.exists())
            .order_by(Outbox.id)
        ).all()
        operators = operators_of(session, sorted({r.Case.id for r in rows if not r.Case.assignee}))
        mails = 0
        for row in rows:
            case = row.Case
            if not claim_notification(session, f"failed:{row.id}", DELIVERY_FAILED, case.id, now):
                continue
            told = [case.assignee] if case.assignee else list(operators.get(case.id, ()))
            told = [a for a in told if a != row.recipient and is_mailable(a)]
            told = told or [a for a in self.settings.people.head if a != row.recipient and is_mailable(a)]
            context = {
                "case_number": case.number,
                "outbox_id": row.id,
                "mail_kind": row.kind,
                "recipient": row.recipient,
                "created_at": row.created_at,
                "error": row.last_error or "",
            }
            for person in told:
                rendered = self.mailer.render_for(DELIVERY_FAILED, person, context)
                # Threaded on the failed mail, not the case: a "thanks" in reply must not reach the consumer.
                self.mailer.queue_staff(
                    session, case, DELIVERY_FAILED, person, rendered, now, f"failed-{row.id}"
                )
                mails += 1
        return mails

    # -- reminders ----------------------------------------------------------------------------------------

    def reminders(self, now: datetime) -> JobResult:
        """One mail per operator listing their open cases due on the next working day."""
        day = deadlines.reminder_day(self.calendar, now)
        if day is None:
            return JobResult("reminders", "skipped", "not a working day")
        if not self.calendar.is_working_time(now):
            return JobResult("reminders", "skipped", "outside working hours")
        period = self.calendar.local_date(now).isoformat()
        with self.db.transaction() as session:
            run = claim_run(session, "reminders", period, self.owner, now)
            if run is None:
                return JobResult("reminders", "already_done", "already run today", period)
            start, end = deadlines.day_bounds(self.calendar, day)
            views = deadline_views(session, [OPEN, Case.due_at >= start, Case.due_at < end])
            plan = deadlines.plan_reminders(views, self.calendar, now)
            fresh = {
                case.id
                for case in {c.id: c for cases in plan.values() for c in cases}.values()
                if claim_notification(
                    session, deadlines.reminder_key(case.number, day), "reminder", case.id, now
                )
            }
            mails = 0
            for person, cases in sorted(plan.items()):
                cases = [c for c in cases if c.id in fresh]
                if not cases or not is_mailable(person):
                    continue
                rendered = self.mailer.render_for(
                    "reminder", person, {"cases": [listed_case(c) for c in cases]}
                )
                mail = self.mailer.queue_staff(
                    session, None, "reminder", person, rendered, now, f"reminder-{period}"
                )
                session.add_all(
                    Event(
                        case_id=c.id,
                        at=now,
                        kind=EventKind.REMINDER_QUEUED,
                        outbox_id=mail,
                        detail=f"to {person}",
                    )
                    for c in cases
                )
                mails += 1
            run.finished_at, run.detail = now, f"{len(fresh)} cases due {day}, {mails} mails"
        return JobResult("reminders", "done", run.detail, period, mails)

    # -- digest -------------------------------------------------------------------------------------------

    def digest(self, now: datetime) -> JobResult:
        """The head's morning summary: open, due today, overdue, by operator and organization, quarantine."""
        today = self.calendar.local_date(now)
        if not self.calendar.is_working_day(today):
            return JobResult("digest", "skipped", "not a working day")
        if not self.calendar.is_working_time(now):
            return JobResult("digest", "skipped", "outside working hours")
        heads = [a for a in self.settings.people.head if is_mailable(a)]
        if not heads:
            return JobResult("digest", "skipped", "no people.head in the config")
        period = today.isoformat()
        with self.db.transaction() as session:
            run = claim_run(session, "digest", period, self.owner, now)
            if run is None or not claim_notification(
                session, deadlines.digest_key(today), "digest", None, now
            ):
                return JobResult("digest", "already_done", "already sent today", period)
            # "New" quarantine: since the previous working day's digest time (Monday's covers the weekend).
            since = datetime.combine(
                self.calendar.previous_working_day(today),
                now.astimezone(self.calendar.zone).time(),
                tzinfo=self.calendar.zone,
            )
            quarantined = (
                select(func.count()).select_from(Message).where(Message.status == MessageStatus.QUARANTINED)
            )
            digest = deadlines.build_digest(
                deadline_views(session, [OPEN]),
                self.calendar,
                now,
                {code: org.name for code, org in self.settings.organizations.items()},
                quarantined_new=session.scalar(quarantined.where(Message.received_at >= since)) or 0,
                quarantined_total=session.scalar(quarantined) or 0,
            )
            failed = failed_mail(session, DIGEST_LIST_LIMIT)
            shown = {c.id for part in (digest.open, digest.overdue) for c in part[:DIGEST_LIST_LIMIT]}
            interim = interim_answered(session, sorted(shown))
            context = {
                "date": digest.day,
                "open": [listed_case(c, c.id in interim) for c in digest.open[:DIGEST_LIST_LIMIT]],
                "due_today": [listed_case(c, c.id in interim) for c in digest.due_today[:DIGEST_LIST_LIMIT]],
                "overdue": [listed_case(c, c.id in interim) for c in digest.overdue[:DIGEST_LIST_LIMIT]],
                "counts": {
                    "open": len(digest.open),
                    "due_today": len(digest.due_today),
                    "overdue": len(digest.overdue),
                },
                "by_operator": digest.by_operator,
                "by_organization": digest.by_organization,
                "quarantined": {"new": digest.quarantined_new, "total": digest.quarantined_total},
                # Mail the spam filter kept from the operators since the previous digest (issue 11.7).
                "spam": session.scalar(
                    select(func.count())
                    .select_from(Message)
                    .where(Message.status == MessageStatus.SPAM, Message.received_at >= since)
                )
                or 0,
                "failed": failed,
                "notices_stopped": notices_stopped(session, since),
            }
            for head in heads:
                rendered = self.mailer.render_for("digest", head, context)
                self.mailer.queue_staff(session, None, "digest", head, rendered, now, f"digest-{period}")
            run.finished_at = now
            run.detail = f"{len(digest.open)} open, {len(digest.overdue)} overdue, {len(heads)} mails"
        return JobResult("digest", "done", run.detail, period, len(heads))

    # -- monthly report -----------------------------------------------------------------------------------

    def monthly_report(self, now: datetime) -> JobResult:
        """The previous month's report to the head and PR, from the first working day of the month on."""
        today = self.calendar.local_date(now)
        month = reports.previous_month(today)
        due = reports.first_working_day(self.calendar, today.replace(day=1))
        period = f"{month:%Y-%m}"
        if today < due:
            return JobResult("monthly_report", "skipped", f"the report for {period} is due on {due}", period)
        if not self.calendar.is_working_time(now):
            return JobResult("monthly_report", "skipped", "outside working hours", period)
        recipients = self.report_recipients()
        if not recipients:
            return JobResult("monthly_report", "skipped", "no people.head or people.pr in the config", period)
        with self.db.transaction() as session:
            run = claim_run(session, "monthly_report", period, self.owner, now)
            if run is None or not claim_notification(
                session, deadlines.report_key(month), "report", None, now
            ):
                return JobResult("monthly_report", "already_done", "already sent", period)
            output = report_output.produce(session, self.settings, self.calendar, self.renderer, month, now)
            mails = self.send_report(session, output, recipients, now) if output.report.received else 0
            run.finished_at = now
            run.detail = f"{output.report.received} cases, {mails} mails"
        return JobResult("monthly_report", "done", run.detail, period, mails)

    def report_recipients(self) -> list[str]:
        """The head reviews the report and publishes it to PR with #publish (4.3.11); with no head
        configured, PR gets it directly."""
        people = self.settings.people
        return [a for a in dict.fromkeys(people.head or people.pr) if is_mailable(a)]

    def send_report(
        self, session: Session, output: report_output.ReportOutput, recipients: Sequence[str], now: datetime
    ) -> int:
        """Queue the report mail, with its CSV and FAQ draft(s) attached, to each of `recipients`, in their
        language, from the report's own signed reply address (the head's #publish comes back to it)."""
        attachments = [
            Attachment("report.csv", "text/csv", output.csv),
            Attachment("faq.html", "text/html", (output.faq.html or "").encode("utf-8")),
        ]
        default = self.settings.robot.default_language
        attachments += [
            Attachment(f"faq-{language}.html", "text/html", (faq.html or "").encode("utf-8"))
            for language, faq in output.faqs.items()
            if language != default
        ]
        thread = report_thread(output.report.period)
        robot = self.settings.robot
        signed = reply_address(robot.secret or "", self.settings.smtp.from_address, thread)
        for person in recipients:
            rendered = report_output.mail_in(
                output, self.settings, self.renderer, self.settings.staff_language(person)
            )
            envelope = self.mailer.staff_envelope(None, person, MailKind.REPORT, thread=thread)
            envelope = replace(envelope, reply_to=signed)
            mail = self.mailer.queue(session, None, MailKind.REPORT, envelope, rendered, now, attachments)
            session.flush()
            log.info("report %s queued to %s (outbox #%s)", output.report.period, person, mail.id)
        return len(recipients)

    # -- helpers ------------------------------------------------------------------------------------------

    def _local(self, moment: datetime) -> str:
        return f"{moment.astimezone(self.calendar.zone):%d.%m.%Y %H:%M}"
