"""The named automatic-mail rules on small hand-made messages, and the order automatic_reason asks them."""

from __future__ import annotations

import pytest

from mailrobot.mail.parse import Parsed, parse_message
from mailrobot.regulation.rules import (
    AUTO_REPLY,
    BOUNCE,
    COMPLAINT,
    MAILING_LIST,
    NO_SENDER,
    NULL_SENDER,
    READ_RECEIPT,
    OwnMail,
    automatic_reason,
    automatic_rules,
)

OWN = frozenset({"feedback@energo.kz"})


def message(*headers: str, body: str = "Здравствуйте, нет света третий день.\r\n") -> Parsed:
    lines = list(headers)
    if not any(h.lower().startswith("from:") for h in lines):
        lines.insert(0, "From: Айгуль <aigul@mail.ru>")
    if not any(h.lower().startswith("content-type:") for h in lines):
        lines.append("Content-Type: text/plain; charset=utf-8")
    return parse_message(("\r\n".join(lines) + "\r\n\r\n" + body).encode())


def report(report_type: str, part_type: str, *headers: str) -> Parsed:
    body = (
        "--r\r\nContent-Type: text/plain\r\n\r\nreport\r\n"
        f"--r\r\nContent-Type: {part_type}\r\n\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n"
        "--r\r\nContent-Type: message/rfc822\r\n\r\n"
        "From: feedback@energo.kz\r\nSubject: x\r\n\r\nx\r\n--r--\r\n"
    )
    return message(
        *headers, f'Content-Type: multipart/report; report-type={report_type}; boundary="r"', body=body
    )


def test_a_consumer_mail_is_not_automatic() -> None:
    parsed = message("Subject: Нет света", "X-Mailer: Microsoft Outlook 16.0", "Return-Path: <aigul@mail.ru>")
    assert automatic_reason(parsed, OWN) is None
    for rule in automatic_rules(OWN):
        assert rule.check(parsed) is None, rule.name


def test_every_rule_is_named_and_described() -> None:
    rules = (*automatic_rules(OWN), NO_SENDER)
    assert [r.name for r in rules] == [
        "own-mail",
        "complaint",
        "read-receipt",
        "bounce",
        "auto-reply",
        "mailing-list",
        "null-sender",
        "no-sender",
    ]
    assert all(len(r.description) > 20 for r in rules)


# --- own mail -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        (("X-Mailrobot: notice 2025-17",), "own-mail: X-Mailrobot: notice 2025-17"),
        (("X-Loop: Feedback@Energo.kz",), "own-mail: X-Loop: Feedback@Energo.kz"),
        (("From: Энергосбыт <feedback@energo.kz>",), "own-mail: From: feedback@energo.kz is our own address"),
        # a reply address with the case in its sub-address is still ours
        (
            ("From: feedback+2025-17.k3j4@energo.kz",),
            "own-mail: From: feedback+2025-17.k3j4@energo.kz is our own address",
        ),
    ],
)
def test_own_mail(headers: tuple[str, ...], expected: str) -> None:
    assert OwnMail(OWN).check(message(*headers)) == expected


def test_someone_elses_loop_is_not_ours() -> None:
    assert OwnMail(OWN).check(message("X-Loop: helpdesk@other.kz")) is None
    assert OwnMail(frozenset()).check(message("X-Loop: feedback@energo.kz")) is None


# --- complaints, read receipts, bounces -----------------------------------------------------------


def test_complaint() -> None:
    parsed = report('"feedback-report"', "message/feedback-report", "From: scomp@aol.net")
    assert COMPLAINT.check(parsed) == "complaint: multipart/report; report-type=feedback-report"
    # a feedback report wrapped without the report-type parameter
    parsed = report("x", "message/feedback-report")
    assert COMPLAINT.check(parsed) == "complaint: message/feedback-report part"


def test_read_receipt() -> None:
    parsed = report("disposition-notification", "message/disposition-notification", "Return-Path: <>")
    assert (
        READ_RECEIPT.check(parsed) == "read-receipt: multipart/report; report-type=disposition-notification"
    )
    assert automatic_reason(parsed, OWN) == READ_RECEIPT.check(parsed)  # not "null-sender"


@pytest.mark.parametrize(
    ("parsed", "expected"),
    [
        (
            report("delivery-status", "message/delivery-status", "From: MAILER-DAEMON@mx.kz"),
            "bounce: multipart/report; report-type=delivery-status (Action: failed, Status: 5.1.1)",
        ),
        (
            report("", "message/delivery-status", "From: someone@mx.kz"),
            "bounce: message/delivery-status part (Action: failed, Status: 5.1.1)",
        ),
        (
            message(
                "From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>", "X-Failed-Recipients: x@y.kz"
            ),
            "bounce: X-Failed-Recipients: x@y.kz",
        ),
        (message("From: MAILER-DAEMON@mail.ru", "Subject: hello"), "bounce: From: mailer-daemon@mail.ru"),
        (
            message("From: postmaster@mail.kz", "Subject: Недоставленное сообщение"),
            "bounce: From: postmaster@mail.kz, Subject: Недоставленное сообщение",
        ),
        (
            message("From: Postmaster <postmaster@corp.kz>", "Subject: Undeliverable: Счёт за март"),
            "bounce: From: postmaster@corp.kz, Subject: Undeliverable: Счёт за март",
        ),
    ],
)
def test_bounce(parsed: Parsed, expected: str) -> None:
    assert BOUNCE.check(parsed) == expected
    assert automatic_reason(parsed, OWN) == expected


def test_bounce_subject_alone_or_postmaster_alone_is_not_a_bounce() -> None:
    # a consumer quoting a failure in the subject, and an admin writing from the role mailbox
    assert automatic_reason(message("Subject: Fwd: Undelivered Mail Returned to Sender"), OWN) is None
    assert automatic_reason(message("From: postmaster@akimat.kz", "Subject: Отключение воды"), OWN) is None


def test_bounce_wins_over_its_own_auto_submitted_header() -> None:
    parsed = report("delivery-status", "message/delivery-status", "Auto-Submitted: auto-replied")
    assert automatic_reason(parsed, OWN).startswith("bounce: ")


# --- auto-replies ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Auto-Submitted: auto-replied", "auto-reply: Auto-Submitted: auto-replied"),
        (
            "Auto-Submitted: auto-generated; owner-email=x@y.kz",
            "auto-reply: Auto-Submitted: auto-generated; owner-email=x@y.kz",
        ),
        ("X-Autoreply: yes", "auto-reply: X-Autoreply: yes"),
        ("X-Autorespond: Ваше письмо получено", "auto-reply: X-Autorespond: Ваше письмо получено"),
        ("X-AutoGenerated: Reply", "auto-reply: X-AutoGenerated: Reply"),
        ("X-Auto-Response-Suppress: All", "auto-reply: X-Auto-Response-Suppress: All"),
        (
            "X-Auto-Response-Suppress: DR, OOF, AutoReply",
            "auto-reply: X-Auto-Response-Suppress: DR, OOF, AutoReply",
        ),
        ("Precedence: bulk", "auto-reply: Precedence: bulk"),
        ("Precedence: junk", "auto-reply: Precedence: junk"),
        ("Precedence: list", "auto-reply: Precedence: list"),
        ("Precedence: auto_reply", "auto-reply: Precedence: auto_reply"),
        ("X-Precedence: auto_reply", "auto-reply: X-Precedence: auto_reply"),
    ],
)
def test_auto_reply(header: str, expected: str) -> None:
    assert AUTO_REPLY.check(message(header)) == expected
    assert automatic_reason(message(header), OWN) == expected


@pytest.mark.parametrize(
    "header",
    [
        "Auto-Submitted: no",
        "Auto-Submitted: No",
        "X-Auto-Response-Suppress: RN, NRN",  # only read receipts suppressed: Outlook sets this on plain mail
        "X-Autoreply: no",
        "Precedence: first-class",
    ],
)
def test_not_auto_reply(header: str) -> None:
    assert AUTO_REPLY.check(message(header)) is None


def test_outlook_out_of_office_in_russian() -> None:
    parsed = message(
        "From: Иванов Иван <ivanov@corp.kz>",
        "Subject: Автоматический ответ: Обращение №2025-17",
        "X-Auto-Response-Suppress: All",
        "Auto-Submitted: auto-generated",
        "Return-Path: <>",
        body="Я в отпуске до 20 января.",
    )
    assert automatic_reason(parsed, OWN) == "auto-reply: Auto-Submitted: auto-generated"


# --- lists, null sender, no sender ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (
            "List-Id: Жители ЖК <zhk.groups.example.kz>",
            "mailing-list: List-Id: Жители ЖК <zhk.groups.example.kz>",
        ),
        (
            "List-Unsubscribe: <mailto:unsub@news.kz>",
            "mailing-list: List-Unsubscribe: <mailto:unsub@news.kz>",
        ),
        ("List-Post: <mailto:zhk@groups.kz>", "mailing-list: List-Post: <mailto:zhk@groups.kz>"),
    ],
)
def test_mailing_list(header: str, expected: str) -> None:
    assert MAILING_LIST.check(message(header)) == expected
    assert automatic_reason(message(header), OWN) == expected


def test_null_sender_is_the_last_resort() -> None:
    parsed = message("Return-Path: <>")
    assert NULL_SENDER.check(parsed) == "null-sender: Return-Path: <>"
    assert automatic_reason(parsed, OWN) == "null-sender: Return-Path: <>"
    assert NULL_SENDER.check(message("Return-Path: <aigul@mail.ru>")) is None
    assert NULL_SENDER.check(message()) is None  # no Return-Path at all is not a null one


def test_no_sender_is_a_rule_but_not_automatic() -> None:
    parsed = message("From: undisclosed-recipients:;", "Subject: Жалоба")
    assert NO_SENDER.check(parsed) == "no-sender: no usable From address"
    # classify sends such mail to a human (quarantine) rather than ignoring it
    assert automatic_reason(parsed, OWN) is None
    assert NO_SENDER.check(message()) is None


def test_reasons_are_single_line_and_bounded() -> None:
    parsed = message("X-Autoreply: " + "очень длинное значение " * 50)
    reason = automatic_reason(parsed, OWN)
    assert reason is not None and "\n" not in reason and len(reason) < 200


def test_first_match_wins() -> None:
    # our own notice come back through a list: own-mail is the telling reason
    parsed = message("X-Mailrobot: notice", "List-Id: <x.kz>", "Precedence: list")
    assert automatic_reason(parsed, OWN) == "own-mail: X-Mailrobot: notice"
    # an ARF report delivered with Precedence: list (AOL does this) is a complaint
    parsed = report("feedback-report", "message/feedback-report", "Precedence: list")
    assert automatic_reason(parsed, OWN).startswith("complaint: ")
