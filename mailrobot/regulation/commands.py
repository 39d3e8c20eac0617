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


# -- what the confirmations say, in the staff's language ----------------------------------------------------

MESSAGES: dict[str, dict[str, str]] = {
    "ru": {
        "reopened_by_answer": "Обращение было закрыто: Ваш ответ снова открыл его и отправлен потребителю.",
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
        "interim_done": "На обращение уже дан окончательный ответ или оно закрыто: промежуточный ответ "
        "не отправлен.",
        "nothing_held": "Нет Вашего задержанного ответа по этому обращению.",
        "away_date": "Укажите дату: #away until ГГГГ-ММ-ДД.",
        "away": "До {until} включительно новые обращения Вам не назначаются, ответы коллег по Вашим "
        "обращениям не задерживаются.",
        "not_approver": "Продлевать срок могут только лица из people.extension_approvers "
        "(по резолюции руководителя предприятия); напишите #extend ПРИЧИНА, чтобы запросить продление.",
        "empty_reply": "В письме не найден текст ответа (после удаления цитаты и подписи): "
        "потребителю ничего не отправлено.",
        "rest_as_note": "Текст после команд сохранён как заметка; потребителю он не отправлен.",
        "not_an_answer": "Ответ на это письмо не отправлен потребителю, он сохранён как заметка. "
        "Чтобы ответить потребителю, ответьте на письмо с обращением; "
        "решение пишется командой (#grant, #deny).",
    },
    "kk": {
        "reopened_by_answer": "Өтініш жабық болған: Сіздің жауабыңыз оны қайта ашты және тұтынушыға "
        "жіберілді.",
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
        "interim_done": "Өтінішке түпкілікті жауап берілген немесе ол жабылған: аралық жауап жіберілмеді.",
        "nothing_held": "Бұл өтініш бойынша Сіздің тоқтатылған жауабыңыз жоқ.",
        "away_date": "Күнді көрсетіңіз: #away until ЖЖЖЖ-АА-КК.",
        "away": "{until} қоса алғанда Сізге жаңа өтініштер тағайындалмайды, әріптестердің Сіздің "
        "өтініштеріңіз бойынша жауаптары тоқтатылмайды.",
        "not_approver": "Мерзімді тек people.extension_approvers тізіміндегілер ұзарта алады "
        "(кәсіпорын басшысының шешімімен); ұзартуды сұрау үшін #extend СЕБЕБІ деп жазыңыз.",
        "empty_reply": "Хатта жауап мәтіні табылмады (дәйексөз бен қолтаңба алынғаннан кейін): "
        "тұтынушыға ештеңе жіберілмеді.",
        "rest_as_note": "Пәрмендерден кейінгі мәтін ескертпе ретінде сақталды; тұтынушыға жіберілмеді.",
        "not_an_answer": "Бұл хатқа жауап тұтынушыға жіберілмеді, ескертпе ретінде сақталды. "
        "Тұтынушыға жауап беру үшін өтініш хатына жауап беріңіз; шешім пәрменмен жазылады (#grant, #deny).",
    },
    "en": {
        "reopened_by_answer": "The case was closed: your answer reopened it and was sent to the consumer.",
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
        "interim_done": "The case is already answered or closed: no interim message was sent.",
        "nothing_held": "There is no held answer of yours on this case.",
        "away_date": "Give a date: #away until YYYY-MM-DD.",
        "away": "Until {until} inclusive no new cases are assigned to you, and colleagues' answers to your "
        "cases are not held.",
        "not_approver": "Only people.extension_approvers extend a deadline (by the enterprise head's "
        "resolution); write #extend REASON to ask for an extension.",
        "empty_reply": "No answer text was found in the mail (after removing the quote and signature): "
        "nothing was sent to the consumer.",
        "rest_as_note": "The text after the commands was kept as a note; it was not sent to the consumer.",
        "not_an_answer": "A reply to this mail is not sent to the consumer; it was kept as a note. "
        "To answer the consumer, reply to the mail with the case; a decision is a command (#grant, #deny).",
    },
}
