"""Mail the casework writes: one envelope for consumer mail, one for staff mail, and the queueing.

Consumer mail goes out under the company's name, in the thread of the consumer's own messages, and never
shows a staff address.  Staff mail carries a signed Reply-To (`feedback+<case>.<token>@…`), a signed
Message-ID and the case tag in the subject, so a reply from any client finds its case again (DESIGN.md,
"Trust").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from mailrobot.casework.records import consumer_thread
from mailrobot.config import Settings
from mailrobot.mail.compose import Attachment, Envelope, compose
from mailrobot.mail.render import Rendered, Renderer
from mailrobot.mail.tokens import make_message_id, reply_address
from mailrobot.regulation.workdays import WorkCalendar
from mailrobot.store.models import Case, Outbox
from mailrobot.store.queue import queue_mail


@dataclass(frozen=True)
class Mailer:
    """What every piece of casework needs to write mail: the settings, the calendar and the renderer."""

    settings: Settings
    calendar: WorkCalendar
    renderer: Renderer

    @property
    def staff_language(self) -> str:
        return self.settings.robot.default_language

    def language_for(self, address: str) -> str:
        """The language of staff mail to `address` ([people] languages, its group's, the default)."""
        return self.settings.staff_language(address)

    def message_id(self, thread: str, kind: str) -> str:
        return make_message_id(self.settings.robot.secret or "", self.settings.mail_domain, thread, kind)

    def consumer_envelope(
        self,
        session: Session,
        case: Case,
        kind: str,
        auto_submitted: str | None = "auto-generated",
        thread: bool = True,
        on_notice: bool = False,
    ) -> Envelope:
        """To the case's consumer, under the company's name, in the thread of their mail (`thread`; in
        reply to the registration notice when `on_notice`); `automatic` is False for a person's words
        relayed (an answer) is no automatic reply (`auto_submitted` None), a notice is "auto-replied"."""
        parent, references = consumer_thread(session, case, on_notice) if thread else (None, ())
        return self.to_consumer(case, kind, parent, references, auto_submitted)

    def to_consumer(
        self,
        case: Case,
        kind: str,
        in_reply_to: str | None,
        references: tuple[str, ...],
        auto_submitted: str | None = "auto-generated",
    ) -> Envelope:
        """consumer_envelope's, in the thread the caller names (the registration notice's: the mail that
        opened the case, not yet readable back from the session)."""
        return Envelope(
            from_address=self.settings.smtp.from_address,
            from_name=self.settings.company_name(case.language),
            to_address=case.requester,
            to_name=case.requester_name,
            message_id=self.message_id(case.number, kind),
            in_reply_to=in_reply_to,
            references=references,
            auto_submitted=auto_submitted,
            case_number=case.number,
        )

    def staff_envelope(
        self,
        case: Case | None,
        to: str,
        kind: str,
        parent: str | None = None,
        thread: str | None = None,
        reply_to: bool = True,
    ) -> Envelope:
        """To a member of staff.  `thread` is what the Message-ID names when it is not the case (a job's
        period, for mail about many cases: a "thanks" in reply must not become an answer to a consumer);
        `reply_to` adds the case's signed reply address."""
        settings = self.settings
        signed = case is not None and reply_to
        return Envelope(
            from_address=settings.smtp.from_address,
            from_name=settings.smtp.from_name or settings.company_name(self.staff_language),
            to_address=to,
            message_id=self.message_id(thread or (case.number if case else "robot"), kind),
            in_reply_to=parent,
            references=(parent,) if parent else (),
            reply_to=reply_address(settings.robot.secret or "", settings.smtp.from_address, case.number)
            if case is not None and signed
            else None,
            auto_submitted="auto-generated",
            case_number=case.number if case else None,
        )

    def render_for(self, template: str, person: str, context: dict[str, Any]) -> Rendered:
        """Staff mail in the recipient's language ([people] languages, their group's, the default)."""
        return self.renderer.render(template, self.settings.staff_language(person), context)

    def queue_staff(
        self,
        session: Session,
        case: Case | None,
        kind: str,
        recipient: str,
        rendered: Rendered,
        now: datetime,
        thread: str,
        attachments: Sequence[Attachment] = (),
        reply_to: bool = False,
    ) -> int:
        """Queue a job's mail to a member of staff; its outbox id.  `thread` names the case, or the job's
        period for mail about many cases (its replies then name no case: an operator's "thanks" to a
        reminder must not become an answer to a consumer)."""
        envelope = self.staff_envelope(case, recipient, kind, thread=thread, reply_to=reply_to)
        mail = self.queue(session, case, kind, envelope, rendered, now, attachments)
        session.flush()  # the id links the cases' timeline events to this mail
        return mail.id

    def queue(
        self,
        session: Session,
        case: Case | None,
        kind: str,
        envelope: Envelope,
        rendered: Rendered,
        now: datetime,
        attachments: Sequence[Attachment] = (),
        note: str = "",
    ) -> Outbox:
        """Compose the mail and put it in the outbox, on the case's timeline."""
        raw = compose(rendered, envelope, now, attachments)
        return queue_mail(session, case, kind, envelope, raw, now, note)
