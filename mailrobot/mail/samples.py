"""Sample values for every mail the robot sends: the contract of each template's context.

`mailrobot doctor` and the template tests render every template with these, so a template that uses a value
no caller passes fails there, not in front of a consumer.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

# -- sample values: the contract of each mail's context -----------------------------------------------------

_RECEIVED = datetime(2026, 3, 19, 23, 30, tzinfo=UTC)  # 20.03.2026 04:30 in Almaty
_DUE = datetime(2026, 3, 30, 13, 0, tzinfo=UTC)  # 30.03.2026 18:00 in Almaty


def _sample_cases() -> list[dict[str, Any]]:
    return [
        # interim: an interim message went to the consumer (#interim); the final answer is still due.
        {
            "number": "SKES-2026-000123",
            "subject": "Перерасчёт за электроэнергию",
            "assignee": "Иванова А.",
            "due_at": _DUE,
            "interim": True,
        },
        {
            "number": "SKES-2026-000124",
            "subject": "",
            "assignee": "",
            "due_at": _DUE + timedelta(days=1),
            "interim": False,
        },
    ]


_STAFF_CASE: dict[str, Any] = {
    "case_number": "SKES-2026-000123",
    "requester": "consumer@example.kz",
    "requester_name": "Айгүл Серікқызы",
    "subject": "Перерасчёт за электроэнергию",
    "body": "Прошу сделать перерасчёт за март.\nЛицевой счёт 123456.",
    "due_at": _DUE,
    "commands_help": "Ответьте на это письмо, чтобы ответить потребителю.",
}

_SAMPLES: dict[str, dict[str, Any]] = {
    "notice": {
        "case_number": "SKES-2026-000123",
        "received_at": _RECEIVED,
        "due_at": _DUE,
        "requester_name": "Айгүл Серікқызы",
        "subject": "Перерасчёт за электроэнергию",
        "company_name": "ТОО «Севказэнергосбыт»",
        "answer_days": 3,
    },
    "answer": {
        "case_number": "SKES-2026-000123",
        "answer_text": "Здравствуйте!\n\nПерерасчёт выполнен.\n\nС уважением,\nоператор Иванова А.",
        "company_name": "ТОО «Севказэнергосбыт»",
        "requester_name": "",  # optional
        "subject": "",  # optional: the consumer's subject
    },
    "extension": {
        "case_number": "SKES-2026-000123",
        "new_due_at": datetime(2026, 4, 14, 13, 0, tzinfo=UTC),
        "reason": "требуется информация от АО «СКРЭК»",
        "company_name": "ТОО «Севказэнергосбыт»",
        "requester_name": "",  # optional
        "extended_days": 14,  # optional, 14 by default
    },
    # A case as staff get it: the fields every staff mail has, the consumer's other open cases, and up to
    # three earlier answered cases most like it (redacted summaries: jobs.similar).
    "forward": {
        **_STAFF_CASE,
        "forwarded_by": "buhgalter@skes.example.kz",  # optional: the employee who forwarded the mail in
        # optional: attachments over robot.max_attachment_bytes, not kept
        "files_not_kept": [{"name": "Видео счётчика.mp4", "size": 52_428_800, "limit": 10_485_760}],
        "open_cases": [{"number": "SKES-2026-000101", "assignee": "operator@skes.example.kz"}],
        "similar": [
            {
                "number": "SKES-2026-000087",
                "question": "Прошу сделать перерасчёт за февраль.",
                "answer": "Перерасчёт выполнен, сумма будет в квитанции за март.",
            },
        ],
    },
    "interim": {
        "case_number": "SKES-2026-000123",
        "answer_text": "Здравствуйте! Запросили данные у АО «СКРЭК», ответим после их получения.",
        "company_name": "ТОО «Севказэнергосбыт»",
        "due_at": _DUE,  # the deadline still running
        "requester_name": "",  # optional
        "subject": "",  # optional: the consumer's subject
    },
    "answer_held": {
        "case_number": "SKES-2026-000123",
        "assignee": "operator@skes.example.kz",  # who answers for the case
        "held_text": "Перерасчёт будет сделан в апреле.",
        "sent_text": "Перерасчёт выполнен, сумма будет в квитанции за март.",  # "" when none was sent yet
        "sent_at": _RECEIVED,  # None when none was sent yet
    },
    "reminder": {
        "cases": _sample_cases(),
        "operator_name": "",  # optional
    },
    "overdue": {
        "case_number": "SKES-2026-000123",
        "assignee": "Иванова А.",
        "due_at": _DUE,
        "late_by": 2,  # whole working days past the deadline (0: it passed today); a string is shown as is
    },
    "digest": {
        "date": date(2026, 3, 30),
        "open": _sample_cases(),
        "due_today": _sample_cases()[:1],
        "overdue": [],
        # The lists may be cut short in a large contact center; the counts are always complete.
        "counts": {"open": 3, "due_today": 1, "overdue": 0},
        "by_operator": {"Иванова А.": 2, "Петров Б.": 1, "": 1},  # "": nobody assigned
        "by_organization": {"ТОО «Севказэнергосбыт»": 2, "": 1},  # "": not routed yet
        "quarantined": {"new": 1, "total": 3},  # since the previous digest / waiting for an admin
        "spam": 4,  # mail filed as spam since the previous digest (no notice, no forward)
        # Where notices were stopped by a cap since the previous digest (cases still registered): an
        # address without its +tag, or "@domain" for robot.notices_per_domain_per_hour; the most first.
        "notices_stopped": [
            {"to": "helpdesk@vendor.example", "count": 38},
            {"to": "@vendor.example", "count": 5},
        ],
        # Mail the SMTP server refused for good (the list may be cut short; the total is complete).
        "failed": {
            "total": 1,
            "mails": [
                {
                    "case": "SKES-2026-000123",
                    "kind": "answer",
                    "recipient": "consumer@example.kz",
                    "error": "RCPT TO: 550 5.1.1 mailbox unavailable",
                },
            ],
        },
    },
    "delivery_failed": {
        "case_number": "SKES-2026-000123",
        "outbox_id": 42,
        "mail_kind": "answer",  # notice | answer | extension | forward | ask | ...
        "recipient": "consumer@example.kz",
        "created_at": _RECEIVED,
        "error": "RCPT TO: 550 5.1.1 mailbox unavailable",
    },
    "monthly_report": {
        "month": date(2026, 10, 1),
        "company_name": "ТОО «Севказэнергосбыт»",
        "totals": {
            "received": 30,
            "answered": 26,
            "on_time": 24,
            "late": 3,
            "pending": 1,
            "extended_late": 1,  # extended after the deadline: counted in "late" (4.3.9)
            "reopened": 2,  # opened again by a follow-up or #reopen
            "interim": 4,  # got an interim message (#interim), which is not an answer
            "on_time_rate": 89,  # percent, None when no case has a known outcome
            "median_hours": 26.5,  # None when nothing was answered
            "median_working_days": 1,
        },
        "status_widths": {"on_time": 86, "late": 11, "pending": 3},  # percent of the bar
        "by_category": [
            {"label": "оплата", "count": 12, "share": 40, "width": 100},
            {"label": "", "count": 18, "share": 60, "width": 67},  # "": no category
        ],
        "by_organization": [{"label": "ТОО «Севказэнергосбыт»", "count": 30, "share": 100, "width": 100}],
        "top_questions": [
            {
                "rank": 1,
                "count": 7,
                "share": 23,
                "width": 100,
                "question": "В квитанции за октябрь неверные показания счётчика.",
                "answer": "Показания исправлены, перерасчёт будет в ноябрьской квитанции.",
                "case_numbers": ["SKES-2026-000123", "SKES-2026-000124"],
            },
            {
                "rank": 2,
                "count": 3,
                "share": 10,
                "width": 43,
                "question": "Нет света третий день.",
                "answer": "",
                "case_numbers": ["SKES-2026-000125"],
            },  # "": no answer found
        ],
        "late_cases": [
            {
                "number": "SKES-2026-000126",
                "subject": "Перерасчёт",
                "assignee": "",
                "due_at": _DUE,
                "answered_at": None,
                "late_by": 2,
                "extended_late": True,
            },
        ],
        "late_total": 3,
        "faq_title": "Черновик раздела «Вопросы и ответы» за октябрь 2026 г.",
        # The head's part (regulation.publish): how to publish, and the FAQ text between marker lines.
        "faq_text": "Вопрос 1. В квитанции неверные показания.\nОтвет: Показания исправлены.",
        "publish_note": "----- #publish -----",
        "faq_begin": "=====FAQ BEGIN=====",
        "faq_end": "=====FAQ END=====",
    },
    # One sender's flood of cases, once an hour, instead of a forward each (forwards_per_sender_per_hour).
    "forward_summary": {
        "sender": "robot@vendor.example",
        "count": 21,  # the sender's cases in the last hour, this one included
        "limit": 20,
        "case_numbers": ["SKES-2026-000101", "SKES-2026-000121"],
    },
    "command_reply": {
        "case_number": "SKES-2026-000123",
        "command": "#extend, #note",  # every command of the mail, each once
        "ok": False,  # all of them done
        "detail": "Новый срок ответа: 14.04.2026.\nПосле команды нужен текст.",
        # Each command's result, in order (one mail confirms every command of one staff mail).
        "results": [
            {"command": "#extend", "ok": True, "detail": "Новый срок ответа: 14.04.2026."},
            {"command": "#note", "ok": False, "detail": "После команды нужен текст."},
        ],
    },
    # Mail to staff about a case (routing, casework.py): the case's fields plus each mail's own.
    "ask": {
        **_STAFF_CASE,
        "question": "Был ли плановый ремонт сетей на ул. Абая 12 ноября?",
        "asked_by": "operator@skes.example.kz",
        "organization": "АО «СКРЭК»",
    },
    "specialist_answer": {
        **_STAFF_CASE,
        "specialist": "engineer@grid.example.kz",
        "organization": "АО «СКРЭК»",
        "answer_text": "Да, 12.11 с 10:00 до 16:00 по графику ремонта.",
    },
    # reopened: this follow-up reopened an answered or closed case (due_at is its new deadline).
    "followup": {**_STAFF_CASE, "followup_text": "Прилагаю фото квитанции.", "reopened": True},
    "extension_request": {
        **_STAFF_CASE,
        "operator": "operator@skes.example.kz",
        "reason": "требуется информация от АО «СКРЭК»",
        "new_due_at": datetime(2026, 4, 14, 13, 0, tzinfo=UTC),
        "extended_days": 14,
    },
    "refused": {
        "case_number": "SKES-2026-000123",  # "" when the mail named no case
        "sender": "someone@example.com",
        "subject": "Re: [SKES-2026-000123] Новое обращение",
        "reason": "signed-reply: token for SKES-2026-000123 used by someone@example.com, not a participant",
        "message_id": "abc@example.com",
        "excerpt": "#close",
        # The hour's summary: refused mail keeps coming, later refusals this hour are not reported one by one.
        "limited": False,
        "refused_last_hour": 0,
    },
}

# Keys a caller may leave out (the templates use `default`); the rest of each sample is required.
OPTIONAL_KEYS: dict[str, frozenset[str]] = {
    "answer": frozenset({"requester_name", "subject"}),
    "interim": frozenset({"requester_name", "subject"}),
    "forward": frozenset({"open_cases", "similar", "forwarded_by", "files_not_kept"}),
    "extension": frozenset({"requester_name", "extended_days"}),
    "reminder": frozenset({"operator_name"}),
}


def sample_context(name: str) -> dict[str, Any]:
    """Sample values for mail `name`, every key its templates may use; for an unknown (admin's own) mail,
    the values of all mails together."""
    if name in _SAMPLES:
        return dict(_SAMPLES[name])
    merged: dict[str, Any] = {}
    for values in _SAMPLES.values():
        merged.update(values)
    return merged


def mail_names() -> tuple[str, ...]:
    """The mails the robot sends."""
    return tuple(_SAMPLES)
