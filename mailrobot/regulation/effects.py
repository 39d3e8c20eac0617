"""Effects on cases beyond registration: routing, relaying answers, staff commands, refusals.

Plain values produced by the pure decisions (decide.py, commands.py) and carried out by apply.py.  The
registration effects (RecordMessage, RegisterCase, QueueNotice, SkipNotice) live in decide.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from mailrobot.regulation.staff import AskTarget


@dataclass(frozen=True)
class OnCase:
    """The effects that follow concern this existing case; the message joins it."""

    case_id: int
    number: str


@dataclass(frozen=True)
class RouteCase:
    """Forward the case just registered to the group a routing rule chose (and the head, if copied)."""

    rule: str
    group: str | None
    why: str
    copy_head: bool = False
    ask: tuple[str, ...] = ()  # specialists asked at once in the operators' name (routes.ask)
    open_cases: tuple[tuple[str, str | None], ...] = ()  # the consumer's open cases: (number, assignee)
    # "mail": forward it; past routing.forwards_per_sender_per_hour, "summary": one summary of the
    # sender's flood instead (once an hour), "none": routed without any mail.
    forward: str = "mail"
    flood: int = 0  # the sender's cases in the last hour, this one included (for the summary)


@dataclass(frozen=True)
class AddEvent:
    kind: str
    detail: str
    actor: str = "robot"


@dataclass(frozen=True)
class RelayAnswer:
    """The answer of an operator (or the head) to the consumer, under the company's name; an interim one
    (#interim) leaves the case open with its deadline running."""

    text: str
    author: str
    interim: bool = False


@dataclass(frozen=True)
class HoldAnswer:
    """One voice to the consumer: another operator's answer to a case with an assignee is not relayed; it
    goes back to its author with the answer already sent (#send sends it, #assign me takes the case)."""

    text: str
    author: str
    assignee: str
    interim: bool = False


@dataclass(frozen=True)
class SetAway:
    """`#away until DATE`: no new cases for `address` until the end of that day (a past day: back)."""

    address: str
    until: date


@dataclass(frozen=True)
class RelaySpecialistAnswer:
    """A specialist's answer, back to the operator(s) who asked (regulation 4.3.8), never to the consumer."""

    text: str
    author: str
    to: tuple[str, ...]


@dataclass(frozen=True)
class TellStaff:
    """A consumer's follow-up, forwarded to the staff working on the case."""

    text: str
    author: str
    to: tuple[str, ...]


@dataclass(frozen=True)
class AskSpecialists:
    target: AskTarget
    question: str
    asked_by: str | None  # None: a route asked in the name of the case's operators (routes.ask)


@dataclass(frozen=True)
class Assign:
    address: str
    by: str


@dataclass(frozen=True)
class SetCategory:
    name: str
    by: str


@dataclass(frozen=True)
class CloseCase:
    by: str


@dataclass(frozen=True)
class ReopenCase:
    """Open an answered or closed case again (a consumer's follow-up, or #reopen): state reopened, a new
    deadline of robot.answer_days working days from now."""

    by: str


@dataclass(frozen=True)
class RequestExtension:
    """An operator asks the head to extend the deadline (regulation 4.3.9: by the head's resolution)."""

    reason: str
    by: str
    heads: tuple[str, ...]


@dataclass(frozen=True)
class ExtendDeadline:
    """The head's resolution: the deadline moves to extended_days from registration; the consumer is told."""

    reason: str
    by: str
    requested_by: str | None = None


@dataclass(frozen=True)
class CommandReply:
    """A short mail confirming or refusing one command; `message` is a key of command_results.toml."""

    to: str
    command: str
    ok: bool
    message: str
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ReportRefusal:
    """Tell the head about mail that was refused (forged sender, foreign token, consumer's command)."""

    to: tuple[str, ...]
    reason: str


@dataclass(frozen=True)
class MarkBounced:
    """A mail of ours came back (a DSN names it): its outbox row is `bounced`, the case's timeline says so,
    and `tell` (the case's operators, for a consumer's answer or notice) get a short mail."""

    outbox_id: int
    status: str
    diagnostic: str
    tell: tuple[str, ...] = ()


CaseEffect = (
    OnCase
    | RouteCase
    | AddEvent
    | RelayAnswer
    | HoldAnswer
    | SetAway
    | RelaySpecialistAnswer
    | TellStaff
    | AskSpecialists
    | Assign
    | SetCategory
    | CloseCase
    | ReopenCase
    | RequestExtension
    | ExtendDeadline
    | CommandReply
    | ReportRefusal
    | MarkBounced
)
