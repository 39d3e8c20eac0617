"""Answers given to consumers, read back from a case's timeline or its outgoing mail (for the FAQ).

The operator's text is kept on the timeline when the answer is relayed (an event of an answer kind whose
detail is the text); failing that, it is cut out of the answer mail in the outbox by locating the frame
of the `answer` template around it.  Whatever is found is the raw text: the caller redacts it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from email import policy
from email.parser import BytesParser

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailrobot.config import Settings
from mailrobot.mail.render import Renderer
from mailrobot.regulation.states import MailKind
from mailrobot.store.models import Case, Event, Outbox

# Timeline kinds that may carry an answer's text in their detail, the most specific first.
ANSWER_EVENT_KINDS = ("answer", "answered", "answer_relayed", "answer_sent", "answer_queued")
# What store.queue.queue_mail writes as the detail of "<kind>_queued": an address and a Message-ID, no text.
_MAIL_RECORD = re.compile(r"^to \S+ <[^>]*>$")
_MIN_LENGTH = 15
_MARK = "\u2063ANSWER\u2063"  # invisible separator: cannot occur in a rendered frame by accident


@dataclass(frozen=True)
class FoundAnswer:
    text: str
    language: str
    names: tuple[str, ...]  # names the case knows (the requester's), for redaction


def find_answers(
    session: Session, settings: Settings, renderer: Renderer, case_ids: Sequence[int]
) -> dict[int, FoundAnswer]:
    """The latest answer text of each of `case_ids` that has one."""
    if not case_ids:
        return {}
    cases = {c.id: c for c in session.scalars(select(Case).where(Case.id.in_(case_ids)))}
    found: dict[int, FoundAnswer] = {}
    rank = {kind: i for i, kind in enumerate(ANSWER_EVENT_KINDS)}
    best: dict[int, tuple[int, int, str]] = {}
    for case_id, kind, event_id, detail in session.execute(
        select(Event.case_id, Event.kind, Event.id, Event.detail).where(
            Event.case_id.in_(case_ids), Event.kind.in_(ANSWER_EVENT_KINDS)
        )
    ):
        text = (detail or "").strip()
        if len(text) < _MIN_LENGTH or _MAIL_RECORD.match(text):
            continue
        key = (rank[kind], -event_id)
        if case_id not in best or key < best[case_id][:2]:
            best[case_id] = (*key, text)
    for case_id, (_rank, _id, text) in best.items():
        found[case_id] = _found(cases[case_id], text)

    missing = [i for i in case_ids if i not in found and i in cases]
    if missing:
        mails = session.execute(
            select(Outbox.case_id, Outbox.raw)
            .where(Outbox.case_id.in_(missing), Outbox.kind == MailKind.ANSWER)
            .order_by(Outbox.id.desc())
        )
        for case_id, raw in mails:
            if case_id in found:
                continue
            text = answer_from_mail(raw, renderer, settings, cases[case_id])
            if len(text) >= _MIN_LENGTH:
                found[case_id] = _found(cases[case_id], text)
    return found


def _found(case: Case, text: str) -> FoundAnswer:
    return FoundAnswer(text=text, language=case.language, names=(case.requester_name,))


def answer_from_mail(raw: bytes, renderer: Renderer, settings: Settings, case: Case) -> str:
    """The operator's text inside an answer mail: the plain part without the template's frame.

    When the frame cannot be located (an admin changed the template since), the whole plain part.
    """
    message = BytesParser(policy=policy.default).parsebytes(raw)
    part = message.get_body(preferencelist=("plain",))
    if part is None:
        return ""
    content = part.get_content()
    text = (content if isinstance(content, str) else content.decode("utf-8", "replace")).replace("\r\n", "\n")
    try:
        frame = renderer.render(
            "answer",
            case.language,
            {
                "case_number": case.number,
                "answer_text": _MARK,
                "company_name": settings.company_name(case.language),
                "requester_name": case.requester_name,
                "subject": case.subject,
            },
        ).text
    except Exception:  # no usable answer template: the whole text is still an answer
        return text.strip()
    before, _, after = frame.partition(_MARK)
    head = [line for line in before.splitlines() if line.strip()]
    tail = [line for line in after.splitlines() if line.strip()]
    start = text.find(head[-1]) + len(head[-1]) if head and head[-1] in text else 0
    end = text.rfind(tail[0]) if tail and tail[0] in text[start:] else len(text)
    return text[start:end].strip()
