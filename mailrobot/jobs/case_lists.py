"""What the jobs read of cases and mail: a case as the deadline decisions see it, as the reminder and digest
list it, and the digest's facts (interim answers, stopped notices, failed mail)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, bindparam, func, select
from sqlalchemy.orm import Session, load_only

from mailrobot.regulation.deadlines import DeadlineView
from mailrobot.regulation.states import DONE_STATES, EventKind, OutboxState
from mailrobot.store.models import Case, Event, Outbox, Participant
from mailrobot.store.queue import notice_keys

_CHUNK = 500  # ids per IN (...) list

# Repeats models.OPEN_STATES_SQL literally (not as bound parameters): only then do SQLite and PostgreSQL
# use the partial index ix_cases_open_due.
OPEN: ColumnElement[bool] = Case.state.not_in(
    bindparam("done_states", list(DONE_STATES), literal_execute=True)
)

# What the deadline decisions read of a case: not its body, which can be long.
VIEW_COLUMNS = load_only(
    Case.id, Case.number, Case.subject, Case.state, Case.received_at, Case.due_at, Case.assignee,
    Case.organization, Case.overdue_at,
)  # fmt: skip


def deadline_view(case: Case, operators: tuple[str, ...] = ()) -> DeadlineView:
    return DeadlineView(
        id=case.id,
        number=case.number,
        subject=case.subject,
        state=case.state,
        received_at=case.received_at,
        due_at=case.due_at,
        assignee=case.assignee,
        operators=operators,
        organization=case.organization,
        overdue_at=case.overdue_at,
    )


def listed_case(case: DeadlineView, interim: bool = False) -> dict[str, Any]:
    """A case as the reminder and digest templates list it; `interim`: an interim message went to the
    consumer (the case still waits for its final answer)."""
    return {
        "number": case.number,
        "subject": case.subject,
        "assignee": ", ".join(case.responsible),
        "due_at": case.due_at,
        "interim": interim,
    }


def interim_answered(session: Session, case_ids: Sequence[int]) -> set[int]:
    """Which of the cases got an interim message (#interim)."""
    found: set[int] = set()
    for start in range(0, len(case_ids), _CHUNK):
        found.update(
            session.scalars(
                select(Event.case_id).where(
                    Event.case_id.in_(case_ids[start : start + _CHUNK]),
                    Event.kind == EventKind.INTERIM_ANSWER,
                )
            )
        )
    return found


def notices_stopped(session: Session, since: datetime, limit: int = 20) -> list[dict[str, Any]]:
    """Where registration notices were stopped by a cap since `since` (a loop with an auto-responder, or a
    flood): per address without its +tag, or per domain for the domain cap; the most first.  The cases
    themselves were registered."""
    rows = session.execute(
        select(Case.requester, Event.detail)
        .join(Case, Case.id == Event.case_id)
        .where(
            Event.kind == EventKind.NOTICE_SKIPPED,
            Event.at >= since,
            Event.detail.startswith("notice cap reached"),
        )
        .limit(100_000)
    )
    counts: Counter[str] = Counter()
    for requester, detail in rows:
        base, domain = notice_keys(requester)
        counts[domain if " in 1 h " in detail else base] += 1
    return [{"to": to, "count": count} for to, count in counts.most_common(limit)]


def failed_mail(session: Session, limit: int) -> dict[str, Any]:
    """The mail the SMTP server refused for good, newest first: a total and up to `limit` of them."""
    total = (
        session.scalar(select(func.count()).select_from(Outbox).where(Outbox.state == OutboxState.FAILED))
        or 0
    )
    rows = session.execute(
        select(Outbox.kind, Outbox.recipient, Outbox.last_error, Case.number)
        .outerjoin(Case, Case.id == Outbox.case_id)
        .where(Outbox.state == OutboxState.FAILED)
        .order_by(Outbox.id.desc())
        .limit(limit)
    ).all()
    mails = [
        {"case": r.number, "kind": r.kind, "recipient": r.recipient, "error": r.last_error or ""}
        for r in rows
    ]
    return {"total": total, "mails": mails}


def operators_of(session: Session, case_ids: Sequence[int]) -> dict[int, tuple[str, ...]]:
    """The operators taking part in each of these cases, in the order they joined."""
    found: dict[int, list[str]] = {}
    for start in range(0, len(case_ids), _CHUNK):
        rows = session.execute(
            select(Participant.case_id, Participant.address)
            .where(Participant.case_id.in_(case_ids[start : start + _CHUNK]), Participant.role == "operator")
            .order_by(Participant.id)
        )
        for case_id, address in rows:
            found.setdefault(case_id, []).append(address)
    return {k: tuple(v) for k, v in found.items()}


def deadline_views(session: Session, where: list[Any]) -> list[DeadlineView]:
    """The cases matching `where` as the deadline decisions see them, with their operators."""
    cases = session.scalars(select(Case).options(VIEW_COLUMNS).where(*where)).all()
    operators = operators_of(session, [c.id for c in cases if not c.assignee])
    return [deadline_view(c, operators.get(c.id, ())) for c in cases]
