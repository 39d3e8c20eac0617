"""What was answered before, in the forward of a new case and in `mailrobot cases similar` (issue 12 item 8).

When a case gets its final answer, `summarize_case` stores a redacted one-line question and answer on it
(jobs.similar.summarize: the FAQ draft's redaction).  A new case's forward then compares its question
with those stored lines only: nothing is redacted at forward time, and the index of the summaries is kept
in memory and rebuilt only when an answer was given since, so a forward costs milliseconds.
Standard library only (jobs.similar): this runs in the daemon's intake.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailrobot.jobs.similar import Summary, SummaryIndex, summarize
from mailrobot.store.models import Case

SHOWN = 3  # earlier answered cases shown in a forward
HORIZON = 1000  # the most recently answered summaries searched: recent answers, and a forward in ms


def summarize_case(case: Case, answer: str) -> tuple[str, str]:
    """The redacted (question, answer) line of a case just answered, stored on it."""
    names = tuple(n for n in (case.requester_name,) if n)
    summary = summarize(case.number, case.subject, case.body or "", answer, case.language, names=names)
    return summary.question, summary.answer


@dataclass(frozen=True)
class Suggested:
    number: str
    question: str
    answer: str
    score: float

    def as_dict(self) -> dict[str, str]:
        return {"number": self.number, "question": self.question, "answer": self.answer}


class Suggestions:
    """The stored summaries, indexed in memory; thread-safe.  New answers are added to the index as they
    come (a query for the summaries answered since the last look); the whole index is built again only
    when it has grown by a fifth since it was built, or an hour has passed, so that a forward costs
    milliseconds however busy the contact center is."""

    def __init__(self, shown: int = SHOWN, horizon: int = HORIZON, rebuild_seconds: float = 3600) -> None:
        self.shown = shown
        self.horizon = horizon
        self.rebuild_seconds = rebuild_seconds
        self._lock = threading.Lock()
        self._index: SummaryIndex | None = None
        self._built_size = 0
        self._built_at = 0.0
        self._newest: datetime | None = None  # answered_at of the newest summary indexed

    def __call__(self, session: Session, case: Case) -> list[dict[str, str]]:
        """The forward's view: up to `shown` earlier answered cases most like `case`."""
        found = self.similar(session, case.subject, case.body or "", exclude=case.number)
        return [s.as_dict() for s in found]

    def similar(
        self, session: Session, subject: str, body: str, exclude: str | None = None
    ) -> list[Suggested]:
        """The answered cases (other than `exclude`) most like a question, the most alike first."""
        question = f"{subject}\n{body}" if len(body.strip()) < 10 else body
        # No autoflush: the intake's batch is flushed once, later; the new cases have no summary anyway.
        with self._lock, session.no_autoflush:
            index = self._current(session)
            found = index.similar(question, self.shown + 1)
        return [
            Suggested(s.summary.number, s.summary.question, s.summary.answer, round(s.score, 3))
            for s in found
            if s.summary.number != exclude
        ][: self.shown]

    def _current(self, session: Session) -> SummaryIndex:
        newest = session.scalar(select(func.max(Case.answered_at)).where(Case.summary_question.is_not(None)))
        if self._index is not None and newest == self._newest:
            return self._index
        stale = time.monotonic() - self._built_at > self.rebuild_seconds
        if self._index is None or stale or len(self._index.summaries) > 1.2 * max(self._built_size, 50):
            rows = self._rows(session, None)
            self._index = SummaryIndex([_summary(*r) for r in rows])
            self._built_size, self._built_at = len(rows), time.monotonic()
        else:
            self._index.add([_summary(*r) for r in self._rows(session, self._newest)])
        self._newest = newest
        return self._index

    def _rows(self, session: Session, since: datetime | None) -> list[Any]:
        query = select(Case.number, Case.summary_question, Case.summary_answer, Case.summary_language).where(
            Case.summary_question.is_not(None)
        )
        if since is not None:
            query = query.where(Case.answered_at > since)
        return list(session.execute(query.order_by(Case.answered_at.desc()).limit(self.horizon)).all())


def _summary(number: str, question: str | None, answer: str | None, language: str | None) -> Summary:
    return Summary(number, question or "", answer or "", language or "ru")
