"""End to end on a real Dovecot and SMTP sink: consumer -> operator -> consumer, specialists, follow-ups,
forwarded-in mail, refusals and every e-mail command, with replies built from what the sink received."""

from __future__ import annotations

import json
import re
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from mailrobot.service.context import Services
from mailrobot.service.daemon import Robot
from tests.support.config import WriteConfig
from tests.support.daemon import run_mailrobot
from tests.support.dovecot import Dovecot, Mailbox
from tests.support.factories import mail, reply, text_of
from tests.support.routing_world import contact_center
from tests.support.smtp import ReceivedMail, SmtpSink

FEEDBACK = "feedback@skes.example.kz"
OP1, OP2, HEAD, GRID = (
    "op1@skes.example.kz",
    "op2@skes.example.kz",
    "head@skes.example.kz",
    "eng@grid.example.kz",
)
CONSUMER = "aigul@mail.ru"


class Center:
    """The robot with a contact center's config, the mailbox it reads and the sink its mail goes to."""

    def __init__(
        self, tmp_path: Path, dovecot: Dovecot, mailbox: Mailbox, sink: SmtpSink, config: Path
    ) -> None:
        self.dovecot, self.mailbox, self.sink, self.config = dovecot, mailbox, sink, config
        self.seen = 0

    def send(self, *raws: bytes) -> None:
        for raw in raws:
            self.dovecot.append(self.mailbox.username, raw)

    def run(self, expect: int) -> list[ReceivedMail]:
        """One pass of the robot; the `expect` mails it sent, in the order the sink got them."""
        robot = Robot(Services.load(self.config))
        try:
            summary = robot.run_once()  # its outbox sender (threads here) stopped at its end
        finally:
            robot.db.dispose()
        assert summary.send_failures == 0
        got = self.sink.wait_for(self.seen + expect)[self.seen :]
        self.seen += len(got)
        return got

    def cli(self, *args: str) -> str:
        return run_mailrobot(self.config, *args, check=True, timeout=120).stdout


def to(mails: list[ReceivedMail], address: str) -> list[ReceivedMail]:
    return [m for m in mails if address in m.rcpt_tos]


def one(mails: list[ReceivedMail], address: str) -> ReceivedMail:
    found = to(mails, address)
    assert len(found) == 1, [(m.rcpt_tos, m.subject) for m in mails]
    return found[0]


def message(received: ReceivedMail) -> EmailMessage:
    return message_from_bytes(received.raw, policy=policy.default)  # type: ignore[return-value]


@pytest.fixture
def center(
    tmp_path: Path, dovecot: Dovecot, mailbox: Mailbox, smtp_sink: SmtpSink, write_config: WriteConfig
) -> Center:
    sections: dict[str, Any] = contact_center()
    sections["people"] = {"head": [HEAD]}
    sections["groups"]["operators"]["members"] = [OP1, OP2]
    sections["groups"]["operators"]["assign"] = "round_robin"
    sections["groups"]["grid"]["members"] = [GRID]
    config = write_config(tmp_path, mailbox, smtp_sink, **sections)
    return Center(tmp_path, dovecot, mailbox, smtp_sink, config)


def case_json(center: Center, number: str) -> dict[str, Any]:
    return json.loads(center.cli("cases", "show", number, "--json"))


def test_consumer_operator_consumer(center: Center) -> None:
    center.send(
        mail(CONSUMER, "Здравствуйте! В квитанции за октябрь неверные показания.", "Показания", name="Айгуль")
    )
    first = center.run(expect=2)
    notice, forward = one(first, CONSUMER), one(first, OP1)
    number = re.search(r"\[(SKES-\d{4}-\d{6})\]", forward.subject).group(1)  # type: ignore[union-attr]
    assert number in notice.subject and "Срок ответа" in forward.text()
    reply_to = message(forward)["Reply-To"].addresses[0].addr_spec
    assert reply_to.startswith(f"feedback+{number}.") and reply_to.endswith("@skes.example.kz")

    answer_text = "Добрый день!\n\nПоказания исправлены, перерасчёт будет в квитанции за ноябрь."
    signature = f"\n\nС уважением,\nИванова Анна\nоператор контакт-центра\n{OP1}"
    center.send(
        reply(message(forward), OP1, answer_text + signature, quote="outlook-ru", name="Иванова Анна")
    )
    [answer] = center.run(expect=1)
    assert answer.rcpt_tos == (CONSUMER,)
    assert answer_text in answer.text() and "Иванова Анна" in answer.text()
    assert OP1 not in answer.raw.decode("ascii", "replace") and OP1 not in answer.text()
    assert "Текст обращения" not in answer.text() and "Отправлено:" not in answer.text()
    assert str(answer.message["From"]).endswith(f"<{FEEDBACK}>") and number in answer.subject

    shown = case_json(center, number)
    assert shown["state"] == "answered" and shown["assignee"] == OP1
    kinds = [e["kind"] for e in shown["timeline"]]
    for kind in (
        "registered",
        "routed",
        "forward_queued",
        "forward_sent",
        "answer",
        "answer_queued",
        "answer_sent",
    ):
        assert kind in kinds
    assert "participant:    op1@skes.example.kz (operator)" in center.cli("cases", "show", number)


def test_corpus_replies_become_answers_without_their_history(center: Center, corpus_dir: Path) -> None:
    replies = corpus_dir / "reply-bodies" / "email-reply-parser"
    cases = {
        "email_2_2.txt": "Outlook with a reply directly above line",
        "email_gmail.txt": "This is a test for inbox replying to a github message.",
        "email_headers_no_delimiter.txt": "And another reply!",
        "email_BlackBerry.txt": "Here is another email",
    }
    consumers = [f"c{i}@mail.ru" for i in range(len(cases))]
    center.send(*(mail(c, f"Question {i}", f"Question {i}") for i, c in enumerate(consumers)))
    forwards = [m for m in center.run(expect=2 * len(cases)) if m.rcpt_tos[0] in (OP1, OP2)]
    by_consumer = {re.search(r"c\d@mail\.ru", f.text()).group(0): f for f in forwards}  # type: ignore[union-attr]
    for consumer, name in zip(consumers, cases, strict=True):
        forward = by_consumer[consumer]
        body = (replies / name).read_text(encoding="utf-8")
        raw = mail(
            forward.rcpt_tos[0],
            body,
            subject=f"RE: {forward.subject}",
            to=message(forward)["Reply-To"].addresses[0].addr_spec,
            in_reply_to=str(forward.message["Message-ID"]),
        )
        center.send(raw)
    answers = center.run(expect=len(cases))
    for consumer, name in zip(consumers, cases, strict=True):
        text = one(answers, consumer).text()
        assert cases[name] in text, (name, text)
        assert "From:" not in text and "wrote:" not in text and "Sent from my" not in text


def test_specialist_round_trip(center: Center) -> None:
    center.send(mail(CONSUMER, "Прошу пересчитать начисления за ноябрь.", "Перерасчёт"))
    forward = one(center.run(expect=2), OP1)
    center.send(reply(message(forward), OP1, "#ask grid Было ли отключение на ул. Абая 12 ноября?"))
    step = center.run(expect=2)
    ask, confirmation = one(step, GRID), one(step, OP1)
    assert "Было ли отключение" in ask.text() and "выполнена" in confirmation.subject
    center.send(reply(message(ask), GRID, "Да, с 10:00 до 16:00 по графику ремонта.", quote="gmail-ru"))
    [relayed] = center.run(expect=1)
    assert relayed.rcpt_tos == (OP1,) and "с 10:00 до 16:00" in relayed.text()
    assert "Было ли отключение" not in relayed.text().split("Потребителю")[0]
    center.send(reply(message(relayed), OP1, "Отключение было плановым, перерасчёт будет сделан."))
    [answer] = center.run(expect=1)
    assert answer.rcpt_tos == (CONSUMER,) and "перерасчёт будет сделан" in answer.text()
    assert GRID not in answer.raw.decode("ascii", "replace") and "с 10:00 до 16:00" not in answer.text()


def test_follow_up_threading(center: Center) -> None:
    center.send(mail(CONSUMER, "Нет квитанции за ноябрь.", "Квитанция", message_id="<first@mail.ru>"))
    first = center.run(expect=2)
    notice = one(first, CONSUMER)
    assert "Квитанция" in one(first, OP1).subject
    assert str(notice.message["In-Reply-To"]) == "<first@mail.ru>"
    center.send(reply(message(notice), CONSUMER, "Лицевой счёт 123456.", quote="mailru", to=FEEDBACK))
    [told] = center.run(expect=1)
    assert told.rcpt_tos == (OP1,) and "Лицевой счёт 123456." in told.text() and "Квитанция" in told.subject
    center.send(reply(message(told), OP1, "Квитанция отправлена повторно."))
    [answer] = center.run(expect=1)
    assert answer.rcpt_tos == (CONSUMER,)
    references = str(answer.message["References"])
    assert "<first@mail.ru>" in references and str(notice.message["Message-ID"]) in references
    center.send(reply(message(answer), CONSUMER, "Получила, спасибо!", quote="gmail-ru", to=FEEDBACK))
    [thanks] = center.run(expect=1)
    assert thanks.rcpt_tos == (OP1,) and "Получила, спасибо!" in thanks.text()
    assert len(to(center.sink.messages, CONSUMER)) == 2  # the notice and the answer: no second notice
    number = re.search(r"\[(SKES-\d{4}-\d{6})\]", notice.subject).group(1)  # type: ignore[union-attr]
    followups = [e["detail"] for e in case_json(center, number)["timeline"] if e["kind"] == "followup"]
    assert followups == ["Лицевой счёт 123456.", "Получила, спасибо!"]


def test_forwarded_in_attached_and_inline(center: Center, corpus_dir: Path) -> None:
    enclosed = (corpus_dir / "messages" / "flanker" / "enclosed.eml").read_bytes()
    attached = re.sub(rb"(?m)^From: .*$", f"From: Op One <{OP1}>".encode(), enclosed, count=1)
    english = (corpus_dir / "messages" / "django-helpdesk" / "forwarded-message.eml").read_bytes()
    english = english.replace(b"From: The Sender <sender@domain.tld>", f"From: <{OP2}>".encode())
    russian = mail(
        OP1,
        "Пересылаю, пришло на мой адрес.\n\n-------- Пересылаемое сообщение --------\n"
        "От кого: Ержан Ахметов <erzhan@mail.ru>\nКому: op1@skes.example.kz\n"
        "Дата: Пятница, 20 ноября 2026, 10:00 +05:00\nТема: Оплата не зачислена\n\n"
        "Оплатил 15 ноября через Kaspi, оплата не отражена.\n",
        subject="Fwd: Оплата не зачислена",
    )
    center.send(attached, english, russian)
    sent = center.run(expect=6)  # three notices to the original senders, three forwards
    notices = {a: one(sent, a).subject for a in ("dan@example.com", "noreply@github.com", "erzhan@mail.ru")}
    assert "зарегистрировано" in notices["erzhan@mail.ru"]  # in the consumer's language
    assert "has been registered" in notices["noreply@github.com"] and "[SKES-" in notices["dan@example.com"]
    staff_mail = to(sent, OP1) + to(sent, OP2)
    assert staff_mail and all("Новое обращение" in m.subject for m in staff_mail)  # forwards, never notices
    cases = {c["requester"]: c for c in json.loads(center.cli("cases", "list", "--json"))}
    assert (
        cases["erzhan@mail.ru"]["subject"] == "Оплата не зачислена"
        and cases["erzhan@mail.ru"]["channel"] == "forwarded"
    )
    assert cases["noreply@github.com"]["channel"] == "forwarded"
    shown = case_json(center, cases["erzhan@mail.ru"]["number"])
    assert (
        shown["forwarded_by"] == OP1 and shown["body"] == "Оплатил 15 ноября через Kaspi, оплата не отражена."
    )


def test_forged_sender_and_wrong_token_are_refused(center: Center) -> None:
    center.send(mail(CONSUMER, "Неверный счёт.", "Счёт"))
    forward = one(center.run(expect=2), OP1)
    number = re.search(r"\[(SKES-\d{4}-\d{6})\]", forward.subject).group(1)  # type: ignore[union-attr]
    reply_to = message(forward)["Reply-To"].addresses[0].addr_spec
    forged_token = re.sub(r"\.[a-z2-7]{12}@", ".abcdefghijkl@", reply_to)
    center.send(
        mail(
            OP1, "Вам ничего не положено.", subject=f"Re: [{number}] Новое обращение"
        ),  # forged From, no token
        mail(OP1, "Вам ничего не положено.", subject="Re: x", to=forged_token),  # wrong token
        reply(
            message(forward), "mallory@evil.example", "Вам ничего не положено."
        ),  # token, not a participant
    )
    reports = center.run(expect=3)
    assert all(m.rcpt_tos == (HEAD,) and "отклонено" in m.subject for m in reports)
    assert not to(center.sink.messages[2:], CONSUMER)
    rows = json.loads(center.cli("messages", "list", "--status", "refused", "--json"))
    reasons = sorted(r["reason"].split(":")[0] for r in rows)
    assert reasons == ["forged-token", "signed-reply", "subject-hint"]
    assert [e["kind"] for e in case_json(center, number)["timeline"]].count("refused") == 2


def test_each_command(center: Center) -> None:
    center.send(
        mail(CONSUMER, "Неверные показания счётчика.", "Показания"), mail("b@mail.ru", "Вопрос", "Другое")
    )
    first = center.run(expect=4)
    fwd = message(one(first, OP1))  # round robin: the first case is op1's
    other = message(one(first, OP2))
    number = re.search(r"\[(SKES-\d{4}-\d{6})\]", str(fwd["Subject"])).group(1)  # type: ignore[union-attr]
    center.send(
        reply(fwd, OP1, "#note Позвонила, уточнила номер счётчика."),
        reply(fwd, OP1, "#category показания"),
        reply(fwd, OP1, "#assign op2"),
        reply(fwd, OP1, "#extend Нужна проверка счётчика с выездом."),
        reply(other, OP2, "#extend Ждём ответ РЭС."),
    )
    step = center.run(expect=8)  # 5 confirmations, the forward to op2, two requests to the head
    confirmations = [m for m in step if "Команда" in m.subject]
    assert len(confirmations) == 5 and all(
        "выполнена" in m.subject and "не " not in m.subject for m in confirmations
    )
    requests = to(step, HEAD)
    assert len(requests) == 2 and all("продление" in m.subject for m in requests)
    request = next(m for m in requests if number in m.subject)
    other_request = next(m for m in requests if number not in m.subject)
    center.send(
        reply(message(request), HEAD, "#grant"),
        reply(message(other_request), HEAD, "#deny Ответ РЭС не нужен."),
        reply(fwd, OP2, "#close"),
    )
    step = center.run(expect=6)  # grant: head + op1 + consumer's notice; deny: head + op2; close: op2
    assert "продлён" in one(step, CONSUMER).subject
    assert len(to(step, OP2)) == 2 and "отказано" in "".join(m.text() for m in to(step, OP2))
    center.send(reply(fwd, OP2, "#reopen"))
    [reopened] = center.run(expect=1)
    assert "снова открыто" in reopened.text()
    shown = case_json(center, number)
    assert (shown["state"], shown["assignee"], shown["category"]) == ("reopened", OP2, "показания")
    assert shown["extended_at"] and shown["due_at"] > shown["received_at"]
    kinds = [e["kind"] for e in shown["timeline"]]
    for kind in ("note", "categorized", "assigned", "extension_requested", "extended", "closed", "reopened"):
        assert kind in kinds
    assert text_of(message(reopened))
