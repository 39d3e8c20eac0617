"""What was answered before, in the forward of a new case and in `mailrobot cases similar` (issue 12 item 8).

When a case gets its final answer, `summarize_case` stores a redacted one-line question and answer on it
(jobs.similar.summarize: the FAQ draft's redaction).  A new case's forward then compares its question
with those stored lines only: nothing is redacted at forward time, and the index of the summaries is kept
in memory and rebuilt only when an answer was given since, so a forward costs milliseconds.
Standard library only (jobs.similar): this runs in the daemon's intake.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailrobot.jobs.similar import Summary, SummaryIndex, summarize
from mailrobot.store.models import Case

SHOWN = 3  # earlier answered cases shown in a forward
HORIZON = 5000  # the most recently answered summaries searched


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
    """The stored summaries, indexed once and again only after new answers; thread-safe."""

    def __init__(self, shown: int = SHOWN, horizon: int = HORIZON) -> None:
        self.shown = shown
        self.horizon = horizon
        self._lock = threading.Lock()
        self._key: tuple[int, int] | None = None
        self._index: SummaryIndex | None = None

    def __call__(self, session: Session, case: Case) -> list[dict[str, str]]:
        """The forward's view: up to `shown` earlier answered cases most like `case`."""
        return [
            s.as_dict() for s in self.similar(session, case.subject, case.body or "", exclude=case.number)
        ]

    def similar(
        self, session: Session, subject: str, body: str, exclude: str | None = None
    ) -> list[Suggested]:
        """The answered cases (other than `exclude`) most like a question, the most alike first."""
        index = self._current(session)
        question = f"{subject}\n{body}" if len(body.strip()) < 10 else body
        found = index.similar(question, self.shown + 1)
        return [
            Suggested(s.summary.number, s.summary.question, s.summary.answer, round(s.score, 3))
            for s in found
            if s.summary.number != exclude
        ][: self.shown]

    def _current(self, session: Session) -> SummaryIndex:
        # The count and the newest answer's id change with every summary written.
        key_row = session.execute(
            select(func.count(), func.max(Case.id)).where(Case.summary_question.is_not(None))
        ).one()
        key = (key_row[0] or 0, key_row[1] or 0)
        with self._lock:
            if self._index is not None and key == self._key:
                return self._index
        rows = session.execute(
            select(Case.number, Case.summary_question, Case.summary_answer, Case.summary_language)
            .where(Case.summary_question.is_not(None))
            .order_by(Case.answered_at.desc())
            .limit(self.horizon)
        ).all()
        index = SummaryIndex([Summary(n, q or "", a or "", lang or "ru") for n, q, a, lang in rows])
        with self._lock:
            self._index, self._key = index, key
        return index
