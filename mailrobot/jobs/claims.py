"""A job's run and each mail it sends, claimed once in the database (job_runs, notifications): a catch-up
run, a second run by hand or a second daemon finds the claim and stops."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mailrobot.store.models import JobRun, Notification

_CHUNK = 500  # keys per IN (...) list


@dataclass(frozen=True)
class JobResult:
    job: str
    status: str  # done | skipped | already_done
    detail: str
    period: str | None = None
    mails: int = 0

    def __str__(self) -> str:
        period = f" [{self.period}]" if self.period else ""
        return f"{self.job}{period}: {self.status}: {self.detail}"


def claim_run(session: Session, job: str, period: str, owner: str, now: datetime) -> JobRun | None:
    """This job's run for `period`, or None when it was already claimed (by us earlier, or another daemon)."""
    if session.scalar(select(JobRun.id).where(JobRun.job == job, JobRun.period == period)) is not None:
        return None
    run = JobRun(job=job, period=period, started_at=now, owner=owner)
    try:
        with session.begin_nested():  # the unique (job, period) decides a race; the savepoint keeps our work
            session.add(run)
    except IntegrityError:
        return None
    return run


def claim_notification(session: Session, key: str, kind: str, case_id: int | None, now: datetime) -> bool:
    """True the first time `key` is claimed: the mail it stands for may go."""
    try:
        with session.begin_nested():
            session.add(Notification(key=key, kind=kind, case_id=case_id, created_at=now))
    except IntegrityError:
        return False
    return True


def existing_keys(session: Session, keys: Iterable[str]) -> list[str]:
    keys = list(keys)
    found: list[str] = []
    for start in range(0, len(keys), _CHUNK):
        found += session.scalars(
            select(Notification.key).where(Notification.key.in_(keys[start : start + _CHUNK]))
        )
    return found
