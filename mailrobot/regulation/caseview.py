"""What classification and decisions know about an existing case: an immutable snapshot of its row,
participants and pending extension request, read by lookup.py."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from mailrobot.regulation.states import DONE_STATES, CaseState


@dataclass(frozen=True)
class ParticipantView:
    address: str
    role: str  # operator | specialist | head
    organization: str | None = None
    asked_by: str | None = None


@dataclass(frozen=True)
class PendingExtension:
    """An operator's `#extend` that the head has neither granted nor denied yet."""

    reason: str
    by: str


@dataclass(frozen=True)
class HeldAnswer:
    """An answer held for one voice to the consumer, waiting for its author's #send."""

    author: str
    text: str
    interim: bool = False


@dataclass(frozen=True)
class CaseView:
    id: int
    number: str
    requester: str
    requester_name: str = ""
    subject: str = ""
    language: str = "ru"
    state: str = CaseState.NEW
    received_at: datetime | None = None
    due_at: datetime | None = None
    extended_at: datetime | None = None
    answered_at: datetime | None = None
    closed_at: datetime | None = None
    assignee: str | None = None
    group: str | None = None
    organization: str | None = None
    participants: tuple[ParticipantView, ...] = ()
    pending_extension: PendingExtension | None = None
    extended_due_at: datetime | None = None  # what the deadline becomes if the head extends it
    extension_refused: str | None = None  # why it cannot be extended (deadlines.extension_refusal)
    assignee_away: bool = False  # the assignee is away (people.away, #away): nobody's answer is held
    held: tuple[HeldAnswer, ...] = ()  # answers held for one voice and not sent since (#send sends them)
    relayed: tuple[tuple[str, str], ...] = ()  # (author, text) of every answer relayed to the consumer

    @property
    def is_closed(self) -> bool:
        return self.state == CaseState.CLOSED

    @property
    def is_done(self) -> bool:
        """Answered or closed: no answer is awaited, no deadline runs."""
        return self.state in DONE_STATES

    def held_answer(self, author: str) -> HeldAnswer | None:
        author = author.lower()
        return next((h for h in reversed(self.held) if h.author == author), None)

    def participant(self, address: str) -> ParticipantView | None:
        address = address.lower()
        return next((p for p in self.participants if p.address == address), None)

    def operators(self) -> tuple[str, ...]:
        return tuple(p.address for p in self.participants if p.role == "operator")

    def heads(self) -> tuple[str, ...]:
        return tuple(p.address for p in self.participants if p.role == "head")
