"""E-mail commands on the first lines of a staff reply, and what a staff reply decides.

    #note TEXT            an internal note on the case (never sent to the consumer)
    #ask ORG|ADDRESS TEXT a request to a specialist (regulation 4.3.7); the answer comes back to the asker
    #assign PERSON        a new responsible operator (address, or the part before @)
    #category NAME        the case's category (for the monthly report)
    #close / #reopen
    #extend REASON        operator: ask the head for an extension; head: extend now (4.3.9)
    #grant / #deny [WHY]  head: resolve an operator's extension request

A reply without commands is the answer: to the consumer from an operator or the head, to the operator who
asked from a specialist (4.3.8).  A reply whose first line starts with "#word" is never relayed to the
consumer, even when the word is misspelt: an internal remark must not reach the consumer by a typo.
Pure: the effects are carried out by apply.py; each command is confirmed or refused by a short mail.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace

from mailrobot.regulation.caseview import CaseView
from mailrobot.regulation.effects import (
    AddEvent,
    AskSpecialists,
    Assign,
    CaseEffect,
    CloseCase,
    CommandReply,
    ExtendDeadline,
    RelayAnswer,
    RelaySpecialistAnswer,
    ReopenCase,
    RequestExtension,
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
}
COMMANDS = tuple(ALLOWED)
# Commands whose argument is free text: lines after the command block belong to the last of them.
TEXT_COMMANDS = frozenset({"note", "ask", "extend", "deny"})
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
        return [RelayAnswer(rest, sender)]
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


def specialist_answer_recipients(case: CaseView, specialist: str, staff: Staff) -> tuple[str, ...]:
    """Who gets a specialist's answer: the operator who asked; else the responsible operator; else the
    case's operators; else the head."""
    participant = case.participant(specialist)
    if participant is not None and participant.asked_by:
        return (participant.asked_by,)
    if case.assignee and case.assignee != specialist:
        return (case.assignee,)
    return case.operators() or staff.heads


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
            person = staff.resolve_person(arg)
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
            if not case.is_closed:
                return [reply(False, "not_closed")]
            return [ReopenCase(sender), reply(True, "reopened")]
        case "extend":
            return _extend(command, role, sender, case, staff, reply)
        case "grant":
            pending = case.pending_extension
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
    if role == "head":
        extended = reply(True, "extended", due_at=case.extended_due_at)
        return [ExtendDeadline(command.argument, sender), extended]
    if case.pending_extension is not None:
        return [reply(False, "extension_pending")]
    if not staff.heads:
        return [reply(False, "no_head")]
    return [
        RequestExtension(command.argument, sender, staff.heads),
        reply(True, "extension_requested"),
    ]


def _orgs(staff: Staff) -> str:
    return ", ".join(staff.organizations) or "-"


def _flood_label(flood: list[Command]) -> str:
    """The commands refused past the limit, counted by name: "#note ×990, #ask ×2"."""
    counts = Counter(c.name for c in flood)
    names = [f"#{name}" + (f" ×{n}" if n > 1 else "") for name, n in counts.most_common(5)]
    return ", ".join(names) + (", …" if len(counts) > 5 else "")


# -- what the confirmations say, in the staff's language ----------------------------------------------------

MESSAGES: dict[str, dict[str, str]] = {
    "ru": {
        "ask_outside": "Адрес «{target}» не входит в организации (домены: {domains}): запрос с данными "
        "потребителя отправляется только специалистам организаций (п. 4.3.7). Укажите организацию, группу "
        "или сотрудника.",
        "too_many_commands": "Не выполнены ({count}): в одном письме выполняются не больше {limit} команд; "
        "отправьте остальные отдельными письмами.",
        "answer": "ответ",
        "noted": "Заметка добавлена к обращению.",
        "text_required": "После команды нужен текст.",
        "not_allowed": "Эта команда недоступна для роли «{role}».",
        "unknown_command": "Неизвестная команда. Доступные команды: {commands}.",
        "asked": "Запрос отправлен: {target}. Ответ специалиста придёт Вам.",
        "ask_target_unknown": "Не найден адресат «{target}»: "
        "укажите организацию ({organizations}) или адрес.",
        "assigned": "Ответственный: {person}.",
        "person_unknown": "«{person}» нет в списке сотрудников.",
        "categorized": "Категория: {category}.",
        "closed": "Обращение закрыто.",
        "already_closed": "Обращение уже закрыто.",
        "reopened": "Обращение снова открыто.",
        "not_closed": "Обращение не закрыто.",
        "extension_requested": "Запрос на продление срока отправлен руководителю контакт-центра.",
        "extension_pending": "Запрос на продление срока уже ждёт решения руководителя.",
        "cannot_extend": "Срок нельзя продлить: {why}.",
        "no_head": "Руководитель контакт-центра не указан в настройках (people.head).",
        "extended": "Срок ответа продлён до {due_at}; потребитель уведомлён.",
        "no_pending_extension": "Нет запроса на продление, ожидающего решения. "
        "Чтобы продлить срок, напишите #extend ПРИЧИНА.",
        "extension_denied": "В продлении срока отказано. {reason}",
        "empty_reply": "В письме не найден текст ответа (после удаления цитаты и подписи): "
        "потребителю ничего не отправлено.",
        "rest_as_note": "Текст после команд сохранён как заметка; потребителю он не отправлен.",
        "not_an_answer": "Ответ на это письмо не отправлен потребителю, он сохранён как заметка. "
        "Чтобы ответить потребителю, ответьте на письмо с обращением; "
        "решение пишется командой (#grant, #deny).",
    },
    "kk": {
        "ask_outside": "«{target}» мекенжайы ұйымдарға жатпайды (домендер: {domains}): тұтынушы "
        "деректері бар сұрау тек ұйымдардың мамандарына жіберіледі (4.3.7-т.). Ұйымды, топты немесе "
        "қызметкерді көрсетіңіз.",
        "too_many_commands": "Орындалмады ({count}): бір хатта {limit} пәрменнен артық орындалмайды; "
        "қалғандарын бөлек хаттармен жіберіңіз.",
        "answer": "жауап",
        "noted": "Ескертпе өтінішке қосылды.",
        "text_required": "Пәрменнен кейін мәтін қажет.",
        "not_allowed": "Бұл пәрмен «{role}» рөлі үшін қолжетімсіз.",
        "unknown_command": "Белгісіз пәрмен. Қолжетімді пәрмендер: {commands}.",
        "asked": "Сұрау жіберілді: {target}. Маманның жауабы Сізге келеді.",
        "ask_target_unknown": "«{target}» алушысы табылмады: "
        "ұйымды ({organizations}) немесе мекенжайды көрсетіңіз.",
        "assigned": "Жауапты: {person}.",
        "person_unknown": "«{person}» қызметкерлер тізімінде жоқ.",
        "categorized": "Санат: {category}.",
        "closed": "Өтініш жабылды.",
        "already_closed": "Өтініш жабылып қойған.",
        "reopened": "Өтініш қайта ашылды.",
        "not_closed": "Өтініш жабылмаған.",
        "extension_requested": "Мерзімді ұзарту туралы сұрау байланыс орталығының басшысына жіберілді.",
        "extension_pending": "Мерзімді ұзарту туралы сұрау басшының шешімін күтуде.",
        "cannot_extend": "Мерзімді ұзарту мүмкін емес: {why}.",
        "no_head": "Байланыс орталығының басшысы баптауларда көрсетілмеген (people.head).",
        "extended": "Жауап беру мерзімі {due_at} дейін ұзартылды; тұтынушыға хабарланды.",
        "no_pending_extension": "Шешім күтіп тұрған ұзарту сұрауы жоқ. "
        "Мерзімді ұзарту үшін #extend СЕБЕБІ деп жазыңыз.",
        "extension_denied": "Мерзімді ұзартудан бас тартылды. {reason}",
        "empty_reply": "Хатта жауап мәтіні табылмады (дәйексөз бен қолтаңба алынғаннан кейін): "
        "тұтынушыға ештеңе жіберілмеді.",
        "rest_as_note": "Пәрмендерден кейінгі мәтін ескертпе ретінде сақталды; тұтынушыға жіберілмеді.",
        "not_an_answer": "Бұл хатқа жауап тұтынушыға жіберілмеді, ескертпе ретінде сақталды. "
        "Тұтынушыға жауап беру үшін өтініш хатына жауап беріңіз; шешім пәрменмен жазылады (#grant, #deny).",
    },
    "en": {
        "ask_outside": "The address {target} is outside the organizations (domains: {domains}): a request "
        "carries the consumer's data and goes only to the organizations' specialists (4.3.7). Name an "
        "organization, a group or a staff member.",
        "too_many_commands": "Not carried out ({count}): at most {limit} commands run from one mail; "
        "send the others in mails of their own.",
        "answer": "answer",
        "noted": "The note was added to the case.",
        "text_required": "The command needs a text after it.",
        "not_allowed": 'This command is not available to the role "{role}".',
        "unknown_command": "Unknown command. Known commands: {commands}.",
        "asked": "The request was sent to {target}. The specialist's answer will come to you.",
        "ask_target_unknown": 'No recipient "{target}": '
        "name an organization ({organizations}) or an address.",
        "assigned": "Assigned to {person}.",
        "person_unknown": '"{person}" is not on the staff list.',
        "categorized": "Category: {category}.",
        "closed": "The case is closed.",
        "already_closed": "The case is already closed.",
        "reopened": "The case is open again.",
        "not_closed": "The case is not closed.",
        "extension_requested": "The extension request was sent to the head of the contact center.",
        "extension_pending": "An extension request is already waiting for the head's decision.",
        "cannot_extend": "The deadline cannot be extended: {why}.",
        "no_head": "No head of the contact center is configured (people.head).",
        "extended": "The deadline is extended to {due_at}; the consumer has been told.",
        "no_pending_extension": "There is no extension request waiting for a decision. "
        "To extend the deadline, write #extend REASON.",
        "extension_denied": "The extension was denied. {reason}",
        "empty_reply": "No answer text was found in the mail (after removing the quote and signature): "
        "nothing was sent to the consumer.",
        "rest_as_note": "The text after the commands was kept as a note; it was not sent to the consumer.",
        "not_an_answer": "A reply to this mail is not sent to the consumer; it was kept as a note. "
        "To answer the consumer, reply to the mail with the case; a decision is a command (#grant, #deny).",
    },
}
