"""E-mail commands on the first lines of a staff reply, and what a staff reply decides.

    #note TEXT            an internal note on the case (never sent to the consumer)
    #ask ORG|ADDRESS TEXT a request to a specialist (regulation 4.3.7); the answer comes back to the asker
    #assign PERSON        a new responsible operator (address, or the part before @)
    #category NAME        the case's category (for the monthly report)
    #assign me            take the case (the sender becomes its assignee)
    #close / #reopen      #reopen opens an answered or closed case again, with a new deadline
    #extend REASON        operator: ask for an extension; an extension approver: extend now (4.3.9)
    #grant / #deny [WHY]  extension approvers: resolve an operator's extension request
    #interim TEXT         an interim message to the consumer: the case stays open, the deadline runs
    #send                 send the answer held for one voice (see below) unchanged
    #away until DATE      no new cases until DATE (YYYY-MM-DD), colleagues' answers are not held

A reply without commands is the final answer: to the consumer from an operator or the head, to the
case's operators from a specialist (4.3.8).  One voice to the consumer: once a case has an assignee,
another operator's (or the head's) answer is held and mailed back to its author, unless the assignee is
away.  A reply whose first line starts with "#word" is never relayed to the consumer, even when the word
is misspelt: an internal remark must not reach the consumer by a typo; #interim and #send are the only
commands whose text reaches the consumer.
Pure: the effects are carried out by apply.py; each command is confirmed or refused by a short mail.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date

from mailrobot.regulation.caseview import CaseView
from mailrobot.regulation.effects import (
    AddEvent,
    AskSpecialists,
    Assign,
    CaseEffect,
    CloseCase,
    CommandReply,
    ExtendDeadline,
    HoldAnswer,
    RelayAnswer,
    RelaySpecialistAnswer,
    ReopenCase,
    RequestExtension,
    SetAway,
    SetCategory,
)
from mailrobot.regulation.staff import Staff

STAFF = frozenset({"operator", "head"})
ALLOWED: dict[str, frozenset[str]] = {
    "note": frozenset({"operator", "head", "specialist"}),
    "ask": STAFF,
    "assign": STAFF,
    "category": STAFF,
    "close": STAFF,
    "reopen": STAFF,
    "extend": STAFF,
    "grant": frozenset({"head"}),
    "deny": frozenset({"head"}),
    "interim": STAFF,
    "send": STAFF,
    "away": STAFF,
}
COMMANDS = tuple(ALLOWED)
# Commands whose argument is free text: lines after the command block belong to the last of them.
TEXT_COMMANDS = frozenset({"note", "ask", "extend", "deny", "interim"})
# Mail that asks staff for a decision, not for an answer: a plain reply to it is kept as a note, never sent to
# the consumer (the head's "agreed" to an extension request must not become the consumer's answer).
DECISION_MAIL_KINDS = frozenset({"extreq", "command"})
# Commands run from one mail (routing.max_commands_per_mail): 1,000 lines must not send 1,000 mails.
MAX_COMMANDS = 10
_COMMAND_LINE = re.compile(r"^\s*#(?P<name>[A-Za-z]+)\b[ \t]*(?P<arg>.*?)\s*$")


@dataclass(frozen=True)
class Command:
    name: str  # lower-case, as written (may be unknown)
    argument: str

    @property
    def label(self) -> str:
        return f"#{self.name}"


def read_commands(text: str) -> tuple[list[Command], str]:
    """The commands on the first lines of `text` and the text after them."""
    lines = text.strip().split("\n")
    commands: list[Command] = []
    i = 0
    while i < len(lines):
        if not lines[i].strip():
            i += 1
            continue
        match = _COMMAND_LINE.match(lines[i])
        if not match:
            break
        commands.append(Command(match["name"].lower(), match["arg"]))
        i += 1
    rest = "\n".join(lines[i:]).strip() if commands else text.strip()
    return commands, rest


def starts_with_command(text: str) -> bool:
    """Whether the text opens with a known command (a consumer's "#1 …" is not one)."""
    commands, _ = read_commands(text)
    return bool(commands) and commands[0].name in ALLOWED


def decide_staff_reply(
    role: str,
    sender: str,
    case: CaseView,
    text: str,
    staff: Staff,
    replied_to: str | None = None,
    max_commands: int = MAX_COMMANDS,
) -> list[CaseEffect]:
    """The effects of a verified staff reply: its commands, or the answer it carries.  `replied_to` is
    the kind of the robot's mail it answers, when its In-Reply-To says.  At most `max_commands` commands
    run (routing.max_commands_per_mail); the rest are refused, in the same one confirmation."""
    commands, rest = read_commands(text)
    commands, flood = commands[:max_commands], commands[max_commands:]
    if not commands:
        if not rest:
            return [
                AddEvent("empty_reply", "no text left after removing quotes and signature", sender),
                CommandReply(sender, "answer", False, "empty_reply"),
            ]
        if replied_to in DECISION_MAIL_KINDS:
            return [AddEvent("note", rest, sender), CommandReply(sender, "answer", False, "not_an_answer")]
        if role == "specialist":
            to = specialist_answer_recipients(case, sender, staff)
            return [RelaySpecialistAnswer(rest, sender, to)]
        return [answer_or_hold(case, rest, sender)]
    takers = [i for i, c in enumerate(commands) if c.name in TEXT_COMMANDS]
    if rest and takers:
        last = commands[takers[-1]]
        commands[takers[-1]] = replace(last, argument=f"{last.argument}\n{rest}".strip())
    effects: list[CaseEffect] = []
    for command in commands:
        effects += decide_command(command, role, sender, case, staff)
    if rest and not takers:
        effects += [AddEvent("note", rest, sender), CommandReply(sender, "#note", True, "rest_as_note")]
    if flood:
        params = {"limit": max_commands, "count": len(flood)}
        effects.append(CommandReply(sender, _flood_label(flood), False, "too_many_commands", params))
    return effects


def answer_or_hold(case: CaseView, text: str, sender: str, interim: bool = False) -> CaseEffect:
    """One voice to the consumer: the answer goes out, unless the case has another assignee who is not
    away; then it is held and goes back to its author (the first answer makes its author the assignee)."""
    assignee = case.assignee
    if assignee and assignee != sender.lower() and not case.assignee_away:
        return HoldAnswer(text, sender, assignee, interim)
    return RelayAnswer(text, sender, interim)


def specialist_answer_recipients(case: CaseView, specialist: str, staff: Staff) -> tuple[str, ...]:
    """Who gets a specialist's answer: always the case's operators (4.3.8), never the consumer or the
    head: the operator who asked; else the responsible operator; else the case's operators; else the
    operators of its group; else every operator (the head only when no operator is configured)."""
    participant = case.participant(specialist)
    if participant is not None and participant.asked_by:
        return (participant.asked_by,)
    operators = case.operators()
    if case.assignee and case.assignee != specialist and staff.role_of(case.assignee) == "operator":
        return (case.assignee,)
    if operators:
        return operators
    group = staff.groups.get(case.group or "")
    if group is not None and group.role == "operator" and group.members:
        return group.members
    return staff.operator_members() or staff.heads


def decide_command(
    command: Command, role: str, sender: str, case: CaseView, staff: Staff
) -> list[CaseEffect]:
    """The effects of one command, always ending with the confirmation or refusal mailed back."""

    def reply(ok: bool, message: str, **params: object) -> CommandReply:
        return CommandReply(sender, command.label, ok, message, params)

    name, arg = command.name, command.argument
    if name not in ALLOWED:
        return [reply(False, "unknown_command", commands=", ".join(f"#{c}" for c in COMMANDS))]
    if role not in ALLOWED[name]:
        return [reply(False, "not_allowed", role=role)]
    if name in TEXT_COMMANDS - {"deny", "extend"} and not arg:
        return [reply(False, "text_required")]
    match name:
        case "note":
            return [AddEvent("note", arg, sender), reply(True, "noted")]
        case "ask":
            target_text, question = (*arg.split(None, 1), "")[:2]
            target = staff.resolve_ask_target(target_text)
            if target is None and "@" in target_text and staff.outside(target_text.strip("<>")):
                domains = ", ".join(staff.domains) or "-"
                return [reply(False, "ask_outside", target=target_text, domains=domains)]
            if target is None:
                return [reply(False, "ask_target_unknown", target=target_text, organizations=_orgs(staff))]
            if not question:
                return [reply(False, "text_required")]
            label = target.address or staff.organization_name(target.organization)
            return [AskSpecialists(target, question, sender), reply(True, "asked", target=label)]
        case "assign":
            person = sender.lower() if arg.strip().lower() in SELF else staff.resolve_person(arg)
            if person is None:
                return [reply(False, "person_unknown", person=arg)]
            return [Assign(person, sender), reply(True, "assigned", person=person)]
        case "category":
            if not arg:
                return [reply(False, "text_required")]
            category = " ".join(arg.split())[:64]
            return [SetCategory(category, sender), reply(True, "categorized", category=category)]
        case "close":
            if case.is_closed:
                return [reply(False, "already_closed")]
            return [CloseCase(sender), reply(True, "closed")]
        case "reopen":
            if not case.is_done:
                return [reply(False, "not_closed")]
            return [ReopenCase(sender), reply(True, "reopened")]
        case "interim":
            if case.is_done:
                return [reply(False, "interim_done")]
            return [answer_or_hold(case, arg, sender, interim=True)]
        case "send":
            held = case.held_answer(sender)
            if held is None:
                return [reply(False, "nothing_held")]
            return [RelayAnswer(held.text, sender, held.interim)]
        case "away":
            until = _away_until(arg)
            if until is None:
                return [reply(False, "away_date")]
            return [SetAway(sender.lower(), until), reply(True, "away", until=until.strftime("%d.%m.%Y"))]
        case "extend":
            return _extend(command, role, sender, case, staff, reply)
        case "grant":
            pending = case.pending_extension
            if not staff.may_extend(sender):
                return [reply(False, "not_approver")]
            if case.extension_refused:
                return [reply(False, "cannot_extend", why=case.extension_refused)]
            if pending is None:
                return [reply(False, "no_pending_extension")]
            return [
                ExtendDeadline(pending.reason, sender, pending.by),
                reply(True, "extended", due_at=case.extended_due_at),
                CommandReply(pending.by, "#extend", True, "extended", {"due_at": case.extended_due_at}),
            ]
        case "deny":
            pending = case.pending_extension
            if not staff.may_extend(sender):
                return [reply(False, "not_approver")]
            if pending is None:
                return [reply(False, "no_pending_extension")]
            return [
                AddEvent("extension_denied", arg, sender),
                reply(True, "extension_denied", reason=arg),
                CommandReply(pending.by, "#extend", False, "extension_denied", {"reason": arg}),
            ]
    raise AssertionError(f"command {name} has no decision")  # ALLOWED and the match above disagree


def _extend(
    command: Command,
    role: str,
    sender: str,
    case: CaseView,
    staff: Staff,
    reply: Callable[..., CommandReply],
) -> list[CaseEffect]:
    if case.extension_refused:
        return [reply(False, "cannot_extend", why=case.extension_refused)]
    if not command.argument:
        return [reply(False, "text_required")]  # the reason is recorded and shown to the consumer
    if role == "head" and staff.may_extend(sender):
        extended = reply(True, "extended", due_at=case.extended_due_at)
        return [ExtendDeadline(command.argument, sender), extended]
    if case.pending_extension is not None:
        return [reply(False, "extension_pending")]
    approvers = staff.approvers or staff.heads
    if not approvers:
        return [reply(False, "no_head")]
    return [
        RequestExtension(command.argument, sender, approvers),
        reply(True, "extension_requested"),
    ]


_AWAY = re.compile(r"^(?:until|до|дейін)?\s*(\d{4})-(\d{2})-(\d{2})\s*(?:дейін)?$", re.IGNORECASE)
SELF = frozenset({"me", "я", "мен", "меня"})  # `#assign me`


def _away_until(text: str) -> date | None:
    """ "until 2026-12-15" -> that date; None when there is no valid date."""
    match = _AWAY.match(text.strip())
    if not match:
        return None
    try:
        return date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        return None


def _orgs(staff: Staff) -> str:
    return ", ".join(staff.organizations) or "-"


def _flood_label(flood: list[Command]) -> str:
    """The commands refused past the limit, counted by name: "#note ×990, #ask ×2"."""
    counts = Counter(c.name for c in flood)
    names = [f"#{name}" + (f" ×{n}" if n > 1 else "") for name, n in counts.most_common(5)]
    return ", ".join(names) + (", …" if len(counts) > 5 else "")
