"""E-mail commands: how they are read and what each decides (each one through the pipeline:
tests/db/test_case_commands.py)."""

from __future__ import annotations

import pytest

from mailrobot.regulation.caseview import CaseView, PendingExtension
from mailrobot.regulation.commands import Command, decide_staff_reply, read_commands, starts_with_command
from mailrobot.regulation.effects import AddEvent, CommandReply, ExtendDeadline, RelayAnswer, RequestExtension
from mailrobot.regulation.staff import Staff
from tests.support.routing_world import CONSUMER, HEAD, OP1, make_routing_settings


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
    [refusal] = decide_staff_reply(role, HEAD if role == "head" else OP1, CASE, text, staff)
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
