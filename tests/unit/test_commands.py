"""E-mail commands: how they are read and what each decides (each one through the pipeline:
tests/db/test_case_commands.py)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from mailrobot.regulation.caseview import CaseView, PendingExtension
from mailrobot.regulation.commands import Command, decide_staff_reply, read_commands, starts_with_command
from mailrobot.regulation.effects import AddEvent, CommandReply, ExtendDeadline, RelayAnswer, RequestExtension
from mailrobot.regulation.staff import Staff
from tests.support.routing_world import CONSUMER, HEAD, OP1, OP2, make_routing_settings


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


# -- issue 12: interim answers, one voice, away, reopening, extension approvers ------------------------


def test_interim_is_relayed_as_interim_and_one_voice_holds_a_second_author(staff: Staff) -> None:
    from mailrobot.regulation.caseview import HeldAnswer
    from mailrobot.regulation.effects import HoldAnswer

    assert decide_staff_reply("operator", OP1, CASE, "#interim Ждём данные.", staff) == [
        RelayAnswer("Ждём данные.", OP1, interim=True)
    ]
    mine = replace(CASE, assignee=OP1)
    assert decide_staff_reply("operator", OP1, mine, "Готово.", staff) == [RelayAnswer("Готово.", OP1)]
    assert decide_staff_reply("operator", OP2, mine, "Иначе.", staff) == [HoldAnswer("Иначе.", OP2, OP1)]
    assert decide_staff_reply("head", HEAD, mine, "Решено.", staff) == [HoldAnswer("Решено.", HEAD, OP1)]
    away = replace(mine, assignee_away=True)
    assert decide_staff_reply("operator", OP2, away, "Иначе.", staff) == [RelayAnswer("Иначе.", OP2)]
    held = replace(mine, held=(HeldAnswer(OP2, "Иначе.", False),))
    assert decide_staff_reply("operator", OP2, held, "#send", staff)[0] == RelayAnswer("Иначе.", OP2)
    [refusal] = decide_staff_reply("operator", OP1, held, "#send", staff)
    assert isinstance(refusal, CommandReply) and refusal.message == "nothing_held"


def test_assign_me_away_until_and_reopen_an_answered_case(staff: Staff) -> None:
    from datetime import date

    from mailrobot.regulation.effects import Assign, ReopenCase, SetAway

    assert decide_staff_reply("operator", OP2, CASE, "#assign me", staff)[0] == Assign(OP2, OP2)
    assert decide_staff_reply("operator", OP2, CASE, "#away until 2026-12-15", staff)[0] == SetAway(
        OP2, date(2026, 12, 15)
    )
    [bad] = decide_staff_reply("operator", OP2, CASE, "#away someday", staff)
    assert isinstance(bad, CommandReply) and bad.message == "away_date"
    answered = replace(CASE, state="answered")
    assert decide_staff_reply("operator", OP1, answered, "#reopen", staff)[0] == ReopenCase(OP1)
    [late] = decide_staff_reply("operator", OP1, answered, "#interim Ещё проверяем.", staff)
    assert isinstance(late, CommandReply) and late.message == "interim_done"


def test_only_extension_approvers_extend(tmp_path: Path) -> None:
    director = "director@skes.example.kz"
    settings = make_routing_settings(tmp_path, people={"head": [HEAD], "extension_approvers": [director]})
    staff = Staff.from_settings(settings)
    effects = decide_staff_reply("head", HEAD, CASE, "#extend Нужна проверка.", staff)
    assert isinstance(effects[0], RequestExtension) and effects[0].heads == (director,)
    assert isinstance(decide_staff_reply("head", director, CASE, "#extend Нужна.", staff)[0], ExtendDeadline)
    pending = replace(CASE, pending_extension=PendingExtension("Нужна.", OP1))
    [refusal] = decide_staff_reply("head", HEAD, pending, "#grant", staff)
    assert isinstance(refusal, CommandReply) and refusal.message == "not_approver"
