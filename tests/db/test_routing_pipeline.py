"""Routing and answering through the real intake pipeline on the database (no IMAP, no SMTP): forwards,
answers, specialists, follow-ups, forwarded-in and web-form mail, and refusals."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from mailrobot.mail.tokens import read_message_id, read_reply_address
from tests.support.config import SECRET
from tests.support.factories import mail, read, reply, text_of
from tests.support.routing_world import (
    CONSUMER,
    GRID,
    HEAD,
    OP1,
    OP2,
    World,
    make_routing_settings,
    open_case,
)

ANSWER = "Добрый день!\n\nПоказания исправлены, перерасчёт будет в квитанции за ноябрь."
SIGNED = f"{ANSWER}\n\nС уважением,\nИванова Анна, оператор\n{OP1}\nтел. 8 (7152) 00-00-00"


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(make_routing_settings(tmp_path))


def test_a_new_case_is_forwarded_to_the_operators_with_a_signed_reply_address(world: World) -> None:
    raw = mail(
        CONSUMER,
        "Неверные показания.",
        "Показания",
        name="Айгуль",
        attachments=(("акт.pdf", "application/pdf", b"%PDF"),),
    )
    outcome = world.deliver_one(raw)
    number = outcome.case_number
    assert outcome.status == "case" and number
    forwards = world.mails("forward")
    assert sorted(m.recipient for m in forwards) == [OP1, OP2]  # type: ignore[attr-defined]
    fwd = forwards[0]
    assert read_reply_address(SECRET, str(fwd["Reply-To"].addresses[0].addr_spec)) == number
    ref = read_message_id(SECRET, str(fwd["Message-ID"]))
    assert ref is not None and (ref.case_number, ref.kind) == (number, "forward")
    assert f"[{number}]" in str(fwd["Subject"]) and "Показания" in str(fwd["Subject"])
    body = text_of(fwd)
    assert "Неверные показания." in body and "Срок ответа: 19.03.2026 18:00" in body and "#ask" in body
    assert [p.get_filename() for p in fwd.iter_attachments()] == ["акт.pdf"]  # the consumer's own name
    assert world.participants(number) == {OP1: ("operator", None), OP2: ("operator", None)}
    case = world.case(number)
    assert (case.group, case.organization, case.assignee) == ("operators", "skes", None)
    routed = [d for k, _a, d in world.events(number) if k == "routed"]
    assert routed == ["rule default -> group operators: no rule matched: routing.default_group"]


def test_a_rule_sends_an_outage_to_the_operators_and_asks_the_grid_company(world: World) -> None:
    number, fwd = open_case(world, body="Третий день нет света в доме.", subject="Электричество")
    assert fwd.recipient == OP1  # type: ignore[attr-defined]
    assert world.case(number).organization == "skes"
    assert world.participants(number) == {
        OP1: ("operator", None),
        OP2: ("operator", None),
        GRID: ("specialist", None),
    }
    ask = world.last("ask", GRID)
    assert "Третий день нет света" in ask.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert any(
        d.startswith("rule outage -> group operators: keyword 'нет света' in body")
        for _k, _a, d in world.events(number)
    )


def test_round_robin_and_least_open_assign_one_operator(tmp_path: Path) -> None:
    world = World(make_routing_settings(tmp_path, operators_assign="round_robin"))
    numbers = [open_case(world, body=f"Вопрос {i}", sender=f"c{i}@mail.ru")[0] for i in range(3)]
    assert [world.case(n).assignee for n in numbers] == [OP1, OP2, OP1]
    least = World(make_routing_settings(tmp_path / "2", operators_assign="least_open"))
    first = open_case(least, body="Один", sender="a@mail.ru")[0]
    second = open_case(least, body="Два", sender="b@mail.ru")[0]
    assert (least.case(first).assignee, least.case(second).assignee) == (OP1, OP2)


def test_the_head_is_copied_when_configured(tmp_path: Path) -> None:
    world = World(make_routing_settings(tmp_path, copy_head=True))
    number, _fwd = open_case(world)
    assert HEAD in [m.recipient for m in world.mails("forward")]  # type: ignore[attr-defined]
    assert world.participants(number)[HEAD] == ("head", None)


@pytest.mark.parametrize(
    "client",
    ["thunderbird-ru", "outlook-ru", "gmail-ru", "yandex", "mailru", "outlook-kk", "outlook-en", "gmail-en"],
)
def test_the_operators_answer_reaches_the_consumer_without_quotes_or_staff_addresses(
    world: World, client: str
) -> None:
    number, fwd = open_case(world)
    outcome = world.deliver_one(reply(fwd, OP1, SIGNED, quote=client, name="Иванова Анна"))
    assert (outcome.status, outcome.case_number) == ("reply", number)
    answer = world.last("answer")
    assert answer.recipient == CONSUMER  # type: ignore[attr-defined]
    assert "Севказэнергосбыт" in str(answer["From"]) and "feedback@example.kz" in str(answer["From"])
    body = text_of(answer)
    assert ANSWER in body and "Иванова Анна, оператор" in body
    raw = answer.as_string()
    assert OP1 not in raw and OP2 not in raw and "skes.example.kz" not in raw
    assert "Текст обращения" not in body and "Как действовать" not in body and ">" not in body
    assert str(answer["In-Reply-To"]).startswith("<m")  # threads on the consumer's own mail
    case = world.case(number)
    assert case.state == "answered" and case.answered_at is not None and case.assignee == OP1
    answer_events = [(a, d) for k, a, d in world.events(number) if k == "answer"]
    assert answer_events == [(OP1, SIGNED.replace(OP1, "feedback@example.kz"))]
    [queued] = [d for k, _a, d in world.events(number) if k == "answer_queued"]
    assert queued.startswith(f"to {CONSUMER} <mr.{number}.answer.") and ANSWER in queued  # for the reports
    assert len(world.mails("notice")) == 1


def test_an_operators_attachment_goes_to_the_consumer(world: World) -> None:
    _number, fwd = open_case(world)
    logo = ("image001.png", "image/png", b"\x89PNG")
    letter = ("ответ.pdf", "application/pdf", b"%PDF-1.4")
    world.deliver_one(reply(fwd, OP1, ANSWER, attachments=(logo, letter)))
    names = [p.get_filename() for p in world.last("answer").iter_attachments()]
    assert names == ["ответ.pdf"]  # the letter under its own name, not Outlook's signature image


def test_an_empty_reply_sends_nothing_to_the_consumer(world: World) -> None:
    number, fwd = open_case(world)
    world.deliver_one(reply(fwd, OP1, ""))
    assert world.mails("answer") == []
    refusal = world.last("command_reply", OP1)
    assert "не выполнена" in str(refusal["Subject"]) and "ничего не отправлено" in text_of(refusal)
    assert "empty_reply" in world.kinds(number)


def test_specialist_round_trip_goes_back_to_the_operator_who_asked(world: World) -> None:
    number, fwd = open_case(world)
    world.deliver_one(reply(fwd, OP2, "#ask grid Было ли плановое отключение на ул. Абая 12 ноября?"))
    ask = world.last("ask", GRID)
    assert read_reply_address(SECRET, ask["Reply-To"].addresses[0].addr_spec) == number
    assert "Было ли плановое отключение" in text_of(ask) and "Неверные показания" not in text_of(ask)
    assert "выполнена" in str(world.last("command_reply", OP2)["Subject"])
    assert world.participants(number)[GRID] == ("specialist", OP2)

    world.deliver_one(
        reply(ask, GRID, "Да, 12.11 с 10 до 16 по графику.\n\n--\nИнженер РЭС", quote="outlook-ru")
    )
    relayed = world.last("specialist_answer")
    assert relayed.recipient == OP2  # type: ignore[attr-defined]
    assert "Да, 12.11 с 10 до 16 по графику." in text_of(relayed) and "Инженер РЭС" not in text_of(relayed)
    assert world.mails("answer") == [] and [m.recipient for m in world.mails("notice")] == [CONSUMER]  # type: ignore[attr-defined]
    assert world.case(number).state == "new"
    assert ("specialist_answer", GRID, "Да, 12.11 с 10 до 16 по графику.") in world.events(number)

    # The operator consolidates and answers the consumer by replying to the specialist's answer.
    world.deliver_one(reply(relayed, OP2, "Плановое отключение было 12.11, перерасчёт не положен."))
    assert "Плановое отключение было 12.11" in text_of(world.last("answer", CONSUMER))


def test_a_consumers_follow_up_joins_the_case_and_the_operator_is_told(world: World) -> None:
    number, _fwd = open_case(world)
    notice = world.last("notice", CONSUMER)
    outcome = world.deliver_one(
        reply(notice, CONSUMER, "Забыла: лицевой счёт 123456.", quote="mailru", to="feedback@example.kz")
    )
    assert (outcome.status, outcome.case_number) == ("followup", number)
    assert ("followup", CONSUMER, "Забыла: лицевой счёт 123456.") in world.events(number)
    told = world.mails("followup")
    assert sorted(m.recipient for m in told) == [OP1, OP2]  # type: ignore[attr-defined]
    assert "Забыла: лицевой счёт 123456." in text_of(told[0]) and "зарегистрировано" not in text_of(told[0])
    assert len(world.mails("notice")) == 1  # no second registration notice

    # Only the subject tag, from the requester: still their case.  From someone else: a new case.
    hint = world.deliver_one(mail(CONSUMER, "И ещё фото.", subject=f"Re: [{number}] Ваше обращение"))
    assert (hint.status, hint.case_number) == ("followup", number)
    other = world.deliver_one(
        mail("neighbour@mail.ru", "У меня то же самое.", subject=f"[{number}] Показания")
    )
    assert other.status == "case" and other.case_number != number


def test_a_follow_up_long_after_closing_opens_a_linked_case(world: World) -> None:
    number, fwd = open_case(world)
    world.deliver_one(reply(fwd, OP1, "#close"))
    notice = world.last("notice", CONSUMER)
    world.now += timedelta(days=10)
    recent = world.deliver_one(reply(notice, CONSUMER, "Спасибо!", to="feedback@example.kz"))
    assert (recent.status, recent.case_number) == ("followup", number)
    assert world.case(number).state == "reopened"  # a follow-up to a closed case reopens it (issue 12.3)
    world.deliver_one(reply(fwd, OP1, "#close"))
    world.now += timedelta(days=31)
    late = world.deliver_one(reply(notice, CONSUMER, "Опять неверные показания.", to="feedback@example.kz"))
    assert late.status == "case" and late.case_number != number
    new = world.case(late.case_number)
    assert new.parent_case_id == world.case(number).id and new.body == "Опять неверные показания."
    assert world.last("notice", CONSUMER)["Subject"] and len(world.mails("notice")) == 2
    assert any(k == "followup_new_case" and late.case_number in d for k, _a, d in world.events(number))


def test_forwarded_in_by_attachment_registers_the_original_consumer(world: World) -> None:
    original = mail(
        "erzhan@mail.ru",
        "Оплатил 15 ноября, оплата не отражена.",
        "Оплата",
        name="Ержан",
        message_id="<pay-1@mail.ru>",
    )
    outcome = world.deliver_one(mail(OP1, "Пришло мне, пересылаю.", "Fw: Оплата", attached_message=original))
    assert outcome.status == "case"
    case = world.case(outcome.case_number)
    assert (case.requester, case.requester_name, case.channel, case.forwarded_by) == (
        "erzhan@mail.ru",
        "Ержан",
        "forwarded",
        OP1,
    )
    assert case.subject == "Оплата" and case.body == "Оплатил 15 ноября, оплата не отражена."
    notice = world.last("notice")
    assert notice.recipient == "erzhan@mail.ru" and str(notice["In-Reply-To"]) == "<pay-1@mail.ru>"  # type: ignore[attr-defined]
    assert world.mails("notice", OP1) == []
    assert "forwarded in by op1@skes.example.kz" in world.events(case.number)[0][2]
    assert {m.recipient for m in world.mails("forward")} == {OP1, OP2}  # type: ignore[attr-defined]


def test_forwarded_in_inline_routes_on_the_original(world: World) -> None:
    forward = (
        "Коллеги, это потребитель написал мне.\n\n-------- Пересылаемое сообщение --------\n"
        "От кого: Ержан <erzhan@mail.ru>\nКому: op1@skes.example.kz\n"
        "Дата: Пятница, 20 ноября 2026, 10:00 +05:00\n"
        "Тема: Свет\n\nВторой день отключили свет на ул. Абая.\n"
    )
    outcome = world.deliver_one(mail(OP1, forward, "Fwd: Свет"))
    case = world.case(outcome.case_number)
    assert (case.requester, case.forwarded_by, case.group) == ("erzhan@mail.ru", OP1, "operators")
    assert case.body == "Второй день отключили свет на ул. Абая."
    assert world.last("notice").recipient == "erzhan@mail.ru"  # type: ignore[attr-defined]


def test_web_form_mail_is_the_consumers_case(tmp_path: Path) -> None:
    world = World(make_routing_settings(tmp_path, routing={"webform_senders": ["form@skes.kz"]}))
    body = "Имя: Айгуль\nE-mail: aigul@mail.ru\nСообщение: неверный счёт"
    outcome = world.deliver_one(mail("form@skes.kz", body, "Обращение с сайта"))
    case = world.case(outcome.case_number)
    assert (case.requester, case.requester_name, case.channel) == ("aigul@mail.ru", "Айгуль", "webform")
    assert world.last("notice").recipient == "aigul@mail.ru"  # type: ignore[attr-defined]


def test_forged_sender_without_a_token_is_refused_and_reported(world: World) -> None:
    number, _fwd = open_case(world)
    forged = mail(OP1, "Ответ: вам ничего не положено.", subject=f"Re: [{number}] Новое обращение")
    outcome = world.deliver_one(forged)
    assert outcome.status == "refused" and outcome.reason.startswith("subject-hint:")
    assert world.mails("answer") == []
    report = world.last("refused_report", HEAD)
    assert "Письмо отклонено" in str(report["Subject"]) and outcome.reason in text_of(report)
    assert "refused" in world.kinds(number)
    plain = world.deliver_one(mail(HEAD, "Закройте все обращения."))
    assert plain.status == "refused" and plain.reason.startswith("staff-mail:")


def test_wrong_token_and_foreign_sender_are_refused(world: World) -> None:
    number, fwd = open_case(world)
    reply_to = fwd["Reply-To"].addresses[0].addr_spec
    wrong = reply_to[: reply_to.index(".") + 1] + "aaaaaaaaaaaa@example.kz"
    bad = world.deliver_one(mail(OP1, "Ответ", subject="Re: x", to=wrong))
    assert bad.status == "refused" and bad.reason.startswith("forged-token:")
    stranger = world.deliver_one(reply(fwd, "mallory@evil.example", "Ответ от чужого"))
    assert stranger.status == "refused" and "not a participant" in stranger.reason
    assert world.mails("answer") == [] and len(world.mails("refused_report")) == 2
    assert [k for k in world.kinds(number) if k == "refused"] == ["refused"]


def test_a_consumer_trying_a_command_is_refused(world: World) -> None:
    number, _fwd = open_case(world)
    notice = world.last("notice", CONSUMER)
    outcome = world.deliver_one(reply(notice, CONSUMER, "#close", to="feedback@example.kz"))
    assert outcome.status == "refused" and outcome.reason.startswith("consumer-command:")
    assert world.case(number).state == "new" and world.mails("followup") == []
    assert world.last("refused_report", HEAD)


def test_a_reply_and_the_case_it_answers_in_one_batch(world: World) -> None:
    # The whole batch is flushed once: a reply to a case registered in the same batch must still find it.
    number, fwd = open_case(world)
    first, second = world.deliver(
        mail("new@mail.ru", "Другой вопрос", "Другое"), reply(fwd, OP1, "Готово.", quote="gmail-en")
    )
    assert first.status == "case" and (second.status, second.case_number) == ("reply", number)
    assert read(world.mails("answer")[0].as_bytes())["To"]


def test_our_own_forward_pasted_under_the_answer_without_quotes_is_cut(world: World) -> None:
    # Some clients (and some operators) paste the mail they answer under the answer, with no "> ", no
    # attribution and no reply-above marker: only knowing what we sent tells it apart.
    _number, fwd = open_case(world)
    ours = [line for line in text_of(fwd).splitlines() if "---" not in line]
    pasted = "\n".join(ours[:8])
    assert pasted.strip()
    address = str(fwd["Reply-To"])
    world.deliver_one(mail(OP1, f"{ANSWER}\n\n{pasted}", subject="Re: x", to=address,
                           in_reply_to=str(fwd["Message-ID"])))  # fmt: skip
    body = text_of(world.last("answer"))
    assert ANSWER in body
    assert not any(line.strip() and line.strip() in body for line in ours[:8] if len(line.strip()) > 12)
