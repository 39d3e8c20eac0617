"""Each e-mail command through the intake pipeline on the database: what it changes on the case and whom
it tells (how commands are read and decided: tests/unit/test_commands.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailrobot.regulation.workdays import WorkCalendar
from tests.support.factories import reply, text_of
from tests.support.routing_world import (
    CONSUMER,
    GRID,
    HEAD,
    OP1,
    OP2,
    ORGANIZATIONS,
    World,
    make_routing_settings,
    open_case,
)


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
    assert case.state == "reopened" and case.closed_at is None and case.reopened_at is not None
    assert "снова открыто" in confirmation(world, OP2)
    assert [k for k in world.kinds(number) if k in ("closed", "reopened")] == ["closed", "reopened"]


def test_ask_an_address(tmp_path: Path) -> None:
    # Inside an organization's domains: #ask sends the consumer's data to no other address (issue 9).
    university = {"name": "КазНУ", "domains": ["univer.kz"]}
    world = World(make_routing_settings(tmp_path, organizations={**ORGANIZATIONS, "univer": university}))
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
    number, _fwd = open_case(world, body="Нет света с утра.")  # the grid company is asked at once
    fwd = world.last("ask", GRID)
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
