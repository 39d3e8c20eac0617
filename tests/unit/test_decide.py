"""`decide` itself, one table row per clause of regulation 4.3 it decides: facts + parsed message -> effects.

Each row gives what the caller looked up (Facts), the mail (Parsed) and the kind classify names for them; the
effects are the whole list `decide` returns, in order.  A second test runs classify on every row, so the rows
are mail the daemon can meet, not combinations it never builds.  Through the database and the outbox the same
clauses are tested in tests/db/test_routing_pipeline.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import MappingProxyType

import pytest

from mailrobot.mail.forwarded import Forwarded
from mailrobot.mail.parse import Parsed
from mailrobot.regulation.caseview import CaseView, ParticipantView
from mailrobot.regulation.classify import Facts, Kind, Verdict, classify
from mailrobot.regulation.decide import (
    Effect,
    Policy,
    QueueNotice,
    RecordMessage,
    RegisterCase,
    SkipNotice,
    decide,
)
from mailrobot.regulation.effects import (
    AddEvent,
    OnCase,
    RelayAnswer,
    RelaySpecialistAnswer,
    ReportRefusal,
    RouteCase,
    TellStaff,
)
from mailrobot.regulation.routing import Routing, Rule
from mailrobot.regulation.staff import Group, Staff
from mailrobot.regulation.trust import CaseReference
from tests.support.factories import FEEDBACK, make_parsed

CONSUMER, NAME = "aigul@mail.ru", "Айгуль"
HEAD = "head@skes.example.kz"
OP1, OP2 = "op1@skes.example.kz", "op2@skes.example.kz"
GRID = "eng@grid.example.kz"
FORM = "form@skes.example.kz"
NUMBER = "SKES-2026-000007"
NOW = datetime(2026, 3, 16, 5, 0, tzinfo=UTC)
REASON = "the verdict's reason"  # decide stores it as given

STAFF = Staff(
    heads=(HEAD,),
    groups=MappingProxyType(
        {
            "operators": Group("operators", "skes", "operator", (OP1, OP2), "everyone"),
            "grid": Group("grid", "grid", "specialist", (GRID,), "everyone"),
        }
    ),
)
POLICY = Policy(
    default_language="ru",
    notices_per_sender_per_day=5,
    routing=Routing(
        rules=(Rule("outage", "grid", keywords=("нет света",)),),
        groups=STAFF.groups,
        default_group="operators",
        reopen_days=30,
    ),
)
CASE = CaseView(
    id=7,
    number=NUMBER,
    requester=CONSUMER,
    requester_name=NAME,
    subject="Показания счётчика",
    assignee=OP1,
    participants=(
        ParticipantView(OP1, "operator", "skes"),
        ParticipantView(GRID, "specialist", "grid", asked_by=OP2),
    ),
)
CLOSED_40_DAYS_AGO = CaseView(
    7, NUMBER, CONSUMER, NAME, "Показания", state="closed", closed_at=NOW - timedelta(days=40)
)
# A signed token in mail to the consumer (a notice), and in mail to staff (a forward).
TO_CONSUMER = CaseReference(NUMBER, f"reply to the notice of {NUMBER}", signed=True, staff_token=False)
TO_STAFF = CaseReference(NUMBER, f"reply address feedback+{NUMBER}", signed=True, staff_token=True)

QUESTION = "Здравствуйте! В квитанции за октябрь неверные показания счётчика."
OUTAGE = "Третий день нет света в доме по ул. Абая 12."
DEFAULT_ROUTE = RouteCase("default", "operators", "no rule matched: routing.default_group")
ORIGINAL = Forwarded(
    sender="erzhan@mail.ru",
    sender_name="Ержан",
    subject="Оплата",
    text="Оплатил 15 ноября, оплата не отражена.",
    date="20.11.2026 10:00",
    message_id="<pay-1@mail.ru>",
    attachments=(),
    comment="Пришло мне, пересылаю.",
    how="attached message",
)


def facts(**fields: object) -> Facts:
    return Facts(frozenset({FEEDBACK}), staff=STAFF, now=NOW, **fields)  # type: ignore[arg-type]


def new_case(requester: str = CONSUMER, body: str = QUESTION, **register: object) -> RegisterCase:
    fields: dict[str, object] = {"subject": "Неверные показания счётчика", "language": "ru"} | register
    return RegisterCase(requester, NAME, body=body, **fields)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Row:
    clause: str
    kind: Kind
    parsed: Parsed
    facts: Facts
    effects: list[Effect]


ROWS = [
    Row(
        "4.3.3 new mail: a case, the registration notice, and the route a rule chose",
        Kind.NEW_CASE,
        make_parsed(text=OUTAGE),
        facts(),
        [
            RecordMessage("case", REASON),
            new_case(body=OUTAGE),
            QueueNotice(),
            RouteCase("outage", "grid", "keyword 'нет света' in body"),
        ],
    ),
    Row(
        "4.3.3 new mail that no rule matches goes to the default group",
        Kind.NEW_CASE,
        make_parsed(),
        facts(),
        [RecordMessage("case", REASON), new_case(), QueueNotice(), DEFAULT_ROUTE],
    ),
    Row(
        "4.3.3 notice cap: the case is registered, the notice skipped",
        Kind.NEW_CASE,
        make_parsed(),
        facts(notices_to_sender_today=5),
        [
            RecordMessage("case", REASON),
            new_case(),
            SkipNotice(
                "notice cap reached: 5 notices to this sender in 24 h "
                "(robot.notices_per_sender_per_day = 5)"
            ),
            DEFAULT_ROUTE,
        ],
    ),
    Row(
        "4.3.3 a requester address that cannot be mailed gets no notice",
        Kind.NEW_CASE,
        make_parsed(from_addr="айгуль@mail.ru"),
        facts(),
        [
            RecordMessage("case", REASON),
            new_case("айгуль@mail.ru"),
            SkipNotice("requester address 'айгуль@mail.ru' cannot be mailed"),
            DEFAULT_ROUTE,
        ],
    ),
    Row(
        "4.3.2 web form: the case is the consumer's it names; the notice starts its own thread",
        Kind.WEBFORM,
        make_parsed(from_addr=FORM, from_name="Сайт", text=f"Имя: {NAME}\nE-mail: {CONSUMER}\n{QUESTION}"),
        facts(webform=(CONSUMER, NAME), webform_senders=frozenset({FORM})),
        [
            RecordMessage("case", REASON),
            new_case(body=f"Имя: {NAME}\nE-mail: {CONSUMER}\n{QUESTION}", channel="webform"),
            QueueNotice(thread_on_message=False),
            DEFAULT_ROUTE,
        ],
    ),
    Row(
        "4.3.10 forwarded in by staff: the original consumer's case, noticed on their own mail",
        Kind.FORWARDED_IN,
        make_parsed(from_addr=OP1, from_name="Иванова", subject="Fw: Оплата", text="Пришло мне, пересылаю."),
        facts(forwarded=ORIGINAL),
        [
            RecordMessage("case", REASON),
            RegisterCase(
                "erzhan@mail.ru",
                "Ержан",
                "Оплата",
                ORIGINAL.text,
                "ru",
                channel="forwarded",
                forwarded_by=OP1,
                attachments=(),
            ),
            QueueNotice(in_reply_to="<pay-1@mail.ru>", thread_on_message=False),
            DEFAULT_ROUTE,
        ],
    ),
    Row(
        "follow-up: the consumer's words join the case, and the responsible operator is told",
        Kind.FOLLOWUP,
        make_parsed(subject=f"Re: [{NUMBER}] Показания", text="Забыла: лицевой счёт 123456."),
        facts(reference=TO_CONSUMER, case=CASE),
        [
            RecordMessage("followup", REASON),
            OnCase(7, NUMBER),
            AddEvent("followup", "Забыла: лицевой счёт 123456.", CONSUMER),
            TellStaff("Забыла: лицевой счёт 123456.", CONSUMER, (OP1,)),
        ],
    ),
    Row(
        "follow-up long after the case was closed: a new case, linked to the old one",
        Kind.FOLLOWUP,
        make_parsed(subject="Re: Показания", text="Опять неверные показания."),
        facts(reference=TO_CONSUMER, case=CLOSED_40_DAYS_AGO),
        [
            RecordMessage("case", f"{REASON}; the case was closed more than 30 days ago: a new case"),
            new_case(body="Опять неверные показания.", subject="Показания", parent_case_id=7),
            QueueNotice(),
            DEFAULT_ROUTE,
        ],
    ),
    Row(
        "4.3.6 the operator's answer is relayed to the consumer",
        Kind.OPERATOR_REPLY,
        make_parsed(from_addr=OP1, to=(f"feedback+{NUMBER}@example.kz",), text="Показания исправлены."),
        facts(reference=TO_STAFF, case=CASE),
        [RecordMessage("reply", REASON), OnCase(7, NUMBER), RelayAnswer("Показания исправлены.", OP1)],
    ),
    Row(
        "4.3.8 a specialist's answer goes back to the operator who asked, never to the consumer",
        Kind.SPECIALIST_REPLY,
        make_parsed(from_addr=GRID, text="Плановое отключение 12.11 с 10 до 16."),
        facts(reference=TO_STAFF, case=CASE),
        [
            RecordMessage("reply", REASON),
            OnCase(7, NUMBER),
            RelaySpecialistAnswer("Плановое отключение 12.11 с 10 до 16.", GRID, (OP2,)),
        ],
    ),
    Row(
        "automatic mail (an auto-reply) is recorded and never answered",
        Kind.AUTOMATIC,
        make_parsed(headers={"auto-submitted": "auto-replied"}),
        facts(),
        [RecordMessage("ignored", REASON)],
    ),
    Row(
        "mail without a usable sender is quarantined for a human",
        Kind.NO_SENDER,
        make_parsed(from_addr=""),
        facts(),
        [RecordMessage("quarantined", REASON)],
    ),
    Row(
        "refused: staff mail without a token is not relayed, and the head is told",
        Kind.REFUSED,
        make_parsed(from_addr=HEAD, text="Закройте все обращения."),
        facts(),
        [RecordMessage("refused", REASON), ReportRefusal((HEAD,), REASON)],
    ),
    Row(
        "refused: a stranger using a case's token; the refusal joins the case's timeline",
        Kind.REFUSED,
        make_parsed(from_addr="mallory@evil.example", subject="Re: ответ", text="Вам ничего не положено."),
        facts(reference=TO_STAFF, case=CASE),
        [
            RecordMessage("refused", REASON),
            OnCase(7, NUMBER),
            AddEvent("refused", f"{REASON}; subject: Re: ответ", "mallory@evil.example"),
            ReportRefusal((HEAD,), REASON),
        ],
    ),
]


@pytest.mark.parametrize("row", ROWS, ids=lambda row: row.clause)
def test_decide(row: Row) -> None:
    assert decide(Verdict(row.kind, REASON), row.parsed, row.facts, POLICY) == row.effects


@pytest.mark.parametrize("row", ROWS, ids=lambda row: row.clause)
def test_each_row_is_what_classify_names(row: Row) -> None:
    verdict = classify(row.parsed, row.facts)
    assert verdict.kind == row.kind, verdict.reason


def test_without_routing_a_case_is_registered_and_noticed_not_forwarded() -> None:
    effects = decide(Verdict(Kind.NEW_CASE, REASON), make_parsed(), facts(), Policy())
    assert effects == [RecordMessage("case", REASON), new_case(), QueueNotice()]
