"""E-mail commands: how they are read, what each decides, and each one end to end through the pipeline."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailrobot.regulation.caseview import CaseView, PendingExtension
from mailrobot.regulation.commands import Command, decide_staff_reply, read_commands, starts_with_command
from mailrobot.regulation.effects import AddEvent, CommandReply, ExtendDeadline, RelayAnswer, RequestExtension
from mailrobot.regulation.staff import Staff
from mailrobot.regulation.workdays import WorkCalendar
from tests.routing_world import (
    CONSUMER,
    GRID,
    HEAD,
    OP1,
    OP2,
    World,
    make_routing_settings,
    open_case,
    reply,
    text_of,
)


def test_commands_are_read_from_the_first_lines() -> None:
    commands, rest = read_commands("\n#category оплата\n#NOTE звонила, не дозвонилась\n\nтекст после")
    assert commands == [Command("category", "оплата"), Command("note", "звонила, не дозвонилась")]
    assert rest == "текст после"
    assert read_commands("Добрый день!\n#note не команда в середине") == (
        [],
        "Добрый день!\n#note не команда в середине",
    )
    assert starts_with_command("#close") and not starts_with_command("#1 вопрос")


@pytest.fixture(scope="module")
def staff(tmp_path_factory: pytest.TempPathFactory) -> Staff:
    return Staff.from_settings(make_routing_settings(tmp_path_factory.mktemp("cfg")))


CASE = CaseView(id=1, number="SKES-2026-000001", requester=CONSUMER)


def test_a_reply_without_commands_is_the_answer(staff: Staff) -> None:
    assert decide_staff_reply("operator", OP1, CASE, "Готово.", staff) == [RelayAnswer("Готово.", OP1)]


def test_text_after_commands_goes_with_the_last_text_command_never_to_the_consumer(staff: Staff) -> None:
    effects = decide_staff_reply("operator", OP1, CASE, "#close\n#note звонила\nпотребитель доволен", staff)
    assert AddEvent("note", "звонила\nпотребитель доволен", OP1) in effects
    assert not any(isinstance(e, RelayAnswer) for e in effects)
    rest = decide_staff_reply("operator", OP1, CASE, "#close\nспасибо", staff)
    assert AddEvent("note", "спасибо", OP1) in rest


def test_a_misspelt_command_is_refused_not_relayed(staff: Staff) -> None:
    [refusal] = decide_staff_reply("operator", OP1, CASE, "#clsoe\nПотребителю не показывать", staff)[:1]
    assert isinstance(refusal, CommandReply) and not refusal.ok and refusal.message == "unknown_command"


@pytest.mark.parametrize(
    ("role", "text", "message"),
    [
        ("specialist", "#close", "not_allowed"),
        ("operator", "#grant", "not_allowed"),
        ("operator", "#deny", "not_allowed"),
        ("operator", "#note", "text_required"),
        ("operator", "#ask grid", "text_required"),
        ("operator", "#ask nowhere вопрос", "ask_target_unknown"),
        ("operator", "#assign stranger@mail.ru", "person_unknown"),
        ("operator", "#reopen", "not_closed"),
        ("operator", "#extend", "text_required"),
        ("head", "#grant", "no_pending_extension"),
    ],
)
def test_refusals(staff: Staff, role: str, text: str, message: str) -> None:
    [refusal] = decide_staff_reply(role, OP1, CASE, text, staff)
    assert isinstance(refusal, CommandReply) and not refusal.ok and refusal.message == message


def test_extension_decisions(staff: Staff) -> None:
    request = decide_staff_reply("operator", OP1, CASE, "#extend нужен ответ РЭС", staff)
    assert request[0] == RequestExtension("нужен ответ РЭС", OP1, (HEAD,))
    pending = CaseView(
        id=1, number="X", requester=CONSUMER, pending_extension=PendingExtension("нужен ответ", OP1)
    )
    grant = decide_staff_reply("head", HEAD, pending, "#grant", staff)
    assert grant[0] == ExtendDeadline("нужен ответ", HEAD, OP1)
    assert {(r.to, r.ok) for r in grant if isinstance(r, CommandReply)} == {(HEAD, True), (OP1, True)}
    answered = CaseView(
        id=1, number="X", requester=CONSUMER, extension_refused="the case is already answered"
    )
    [refusal] = decide_staff_reply("head", HEAD, answered, "#extend причина", staff)
    assert isinstance(refusal, CommandReply) and refusal.message == "cannot_extend"


# -- each command through the pipeline ---------------------------------------------------------------------


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(make_routing_settings(tmp_path))


def confirmation(world: World, to: str) -> str:
    msg = world.last("command_reply", to)
    return f"{msg['Subject']}\n{text_of(msg)}"


def test_note(world: World) -> None:
    number, fwd = open_case(world)
    world.deliver_one(reply(fwd, OP1, "#note Позвонила потребителю, уточнила адрес."))
    assert ("note", OP1, "Позвонила потребителю, уточнила адрес.") in world.events(number)
    assert "Заметка добавлена" in confirmation(world, OP1)
    assert world.mails("answer") == []


def test_assign(world: World) -> None:
    number, fwd = open_case(world)
    world.deliver_one(reply(fwd, OP1, "#assign op2"))
    assert world.case(number).assignee == OP2
    assert f"Ответственный: {OP2}" in confirmation(world, OP1)
    assert len(world.mails("forward", OP2)) == 2  # the routing forward, and one on being assigned
    assert ("assigned", OP1, f"- -> {OP2}") in world.events(number)


def test_category(world: World) -> None:
    number, fwd = open_case(world)
    world.deliver_one(reply(fwd, OP1, "#category  Показания   счётчика"))
    assert world.case(number).category == "Показания счётчика"
    assert "Категория: Показания счётчика." in confirmation(world, OP1)


def test_close_and_reopen(world: World) -> None:
    number, fwd = open_case(world)
    world.deliver_one(reply(fwd, OP1, "#close"))
    case = world.case(number)
    assert case.state == "closed" and case.closed_at is not None
    world.deliver_one(reply(fwd, OP1, "#close"))
    assert "уже закрыто" in confirmation(world, OP1)
    world.deliver_one(reply(fwd, OP2, "#reopen"))
    case = world.case(number)
    assert case.state == "new" and case.closed_at is None
    assert "снова открыто" in confirmation(world, OP2)
    assert [k for k in world.kinds(number) if k in ("closed", "reopened")] == ["closed", "reopened"]


def test_ask_an_address(world: World) -> None:
    number, fwd = open_case(world)
    world.deliver_one(reply(fwd, OP1, "#ask expert@univer.kz\nКак считается норматив на одного человека?"))
    ask = world.last("ask", "expert@univer.kz")
    assert "Как считается норматив" in text_of(ask)
    assert world.participants(number)["expert@univer.kz"] == ("specialist", OP1)
    world.deliver_one(reply(ask, "expert@univer.kz", "По приказу № 12."))
    assert world.last("specialist_answer").recipient == OP1  # type: ignore[attr-defined]


def test_extend_by_request_and_grant(world: World) -> None:
    number, fwd = open_case(world)
    due = world.case(number).due_at
    world.deliver_one(reply(fwd, OP1, "#extend Нужна справка из АО «СКРЭК»."))
    request = world.last("extension_request", HEAD)
    assert "Нужна справка из АО «СКРЭК»." in text_of(request) and "#grant" in text_of(request)
    assert "отправлен руководителю" in confirmation(world, OP1)
    world.deliver_one(reply(fwd, OP1, "#extend ещё раз"))
    assert "уже ждёт решения" in confirmation(world, OP1)

    world.deliver_one(reply(request, HEAD, "#grant"))
    case = world.case(number)
    calendar = WorkCalendar.from_settings(world.settings)
    assert case.extended_at is not None and case.due_at == calendar.due_at(case.received_at, 14) > due
    shown = calendar.local_date(case.due_at).strftime("%d.%m.%Y")
    assert shown == "08.04.2026"  # 14 working days from Monday 16.03, Nauryz (23-25.03) off
    assert shown in text_of(world.last("extension", CONSUMER))
    assert f"продлён до {shown}" in confirmation(world, HEAD)
    assert f"продлён до {shown}" in confirmation(world, OP1)
    assert {"extension_requested", "extended", "extension_granted"} <= set(world.kinds(number))
    world.deliver_one(reply(request, HEAD, "#grant"))
    assert "нельзя продлить" in confirmation(world, HEAD)


def test_deny(world: World) -> None:
    number, fwd = open_case(world)
    world.deliver_one(reply(fwd, OP1, "#extend Нужна справка."))
    request = world.last("extension_request", HEAD)
    world.deliver_one(reply(request, HEAD, "#deny Справка не нужна, отвечайте по тарифу."))
    assert world.case(number).extended_at is None
    assert "отказано" in confirmation(world, OP1) and "отвечайте по тарифу" in confirmation(world, OP1)
    assert ("extension_denied", HEAD, "Справка не нужна, отвечайте по тарифу.") in world.events(number)
    assert world.mails("extension") == []


def test_the_heads_own_extend(world: World) -> None:
    number, fwd = open_case(world)
    head_copy = reply(fwd, HEAD, "#extend Проверка с выездом на место.")  # the head is staff: any staff token
    world.deliver_one(head_copy)
    case = world.case(number)
    assert case.extended_at is not None and case.extension_reason == "Проверка с выездом на место."
    assert world.last("extension", CONSUMER)


def test_specialist_may_only_note(world: World) -> None:
    number, _fwd = open_case(world, body="Нет света с утра.")  # routed to the grid company
    fwd = world.last("forward", GRID)
    world.deliver_one(reply(fwd, GRID, "#close"))
    assert world.case(number).state == "new"
    assert "недоступна для роли «specialist»" in confirmation(world, GRID)
    world.deliver_one(reply(fwd, GRID, "#note Бригада выехала."))
    assert ("note", GRID, "Бригада выехала.") in world.events(number)


def test_a_plain_reply_to_an_extension_request_is_a_note_not_an_answer(world: World) -> None:
    number, fwd = open_case(world)
    world.deliver_one(reply(fwd, OP1, "#extend Нужна справка."))
    request = world.last("extension_request", HEAD)
    world.deliver_one(reply(request, HEAD, "Согласен, но поторопитесь."))
    assert world.mails("answer") == [] and world.case(number).extended_at is None
    assert ("note", HEAD, "Согласен, но поторопитесь.") in world.events(number)
    assert "не отправлен потребителю" in confirmation(world, HEAD)
    # A plain reply to a command's confirmation is kept back as well.
    world.deliver_one(reply(world.last("command_reply", HEAD), HEAD, "Понятно."))
    assert world.mails("answer") == []
