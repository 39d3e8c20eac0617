"""Classification of mail about cases, check by check: signed tokens, participants, hints, forwards, forms."""

from __future__ import annotations

from dataclasses import replace

import pytest

from mailrobot.mail.forwarded import Forwarded
from mailrobot.mail.parse import Parsed
from mailrobot.mail.tokens import case_number_pattern, make_message_id, reply_address
from mailrobot.regulation.caseview import CaseView, ParticipantView
from mailrobot.regulation.classify import CHECKS, Facts, Kind, classify
from mailrobot.regulation.staff import Staff
from mailrobot.regulation.trust import find_reference
from tests.support.config import SECRET
from tests.support.factories import FEEDBACK, make_parsed
from tests.support.routing_world import CONSUMER, GRID, HEAD, OP1, make_routing_settings

NUMBER = "SKES-2026-000007"
PATTERN = case_number_pattern("SKES-{year}-{seq:06d}")
REPLY_TO = reply_address(SECRET, FEEDBACK, NUMBER)
FORWARD_ID = make_message_id(SECRET, "example.kz", NUMBER, "forward").strip("<>")
NOTICE_ID = make_message_id(SECRET, "example.kz", NUMBER, "notice").strip("<>")
CASE = CaseView(
    id=7,
    number=NUMBER,
    requester=CONSUMER,
    participants=(
        ParticipantView(OP1, "operator", "skes"),
        ParticipantView("expert@univer.kz", "specialist", None, asked_by=OP1),
    ),
)


@pytest.fixture(scope="module")
def staff(tmp_path_factory: pytest.TempPathFactory) -> Staff:
    return Staff.from_settings(make_routing_settings(tmp_path_factory.mktemp("cfg")))


def verdict(parsed: Parsed, staff: Staff, case: CaseView | None = CASE, **facts: object):
    refs = find_reference(parsed, SECRET, FEEDBACK, PATTERN)
    base = Facts(
        frozenset({FEEDBACK}),
        reference=refs.found,
        forged_token=refs.forged,
        token_flood=refs.flood,
        case=case if refs.found else None,
        staff=staff,
    )
    return classify(parsed, replace(base, **facts))


def test_the_checks_are_named_and_ordered() -> None:
    names = [c.name for c in CHECKS]
    assert names == [
        "bounced",
        "automatic",
        "no-sender",
        "token-flood",
        "forged-token",
        "report-reply",
        "signed-reply",
        "subject-hint",
        "spam",
        "staff-mail",
        "employee-forward",
        "web-form",
    ]
    assert all(c.description for c in CHECKS)


@pytest.mark.parametrize(
    ("sender", "kind"),
    [
        (OP1, Kind.OPERATOR_REPLY),
        (GRID, Kind.SPECIALIST_REPLY),
        (HEAD, Kind.HEAD_REPLY),
        ("expert@univer.kz", Kind.SPECIALIST_REPLY),
    ],
)
def test_signed_reply_address_and_an_allowed_sender_is_a_staff_reply(
    staff: Staff, sender: str, kind: Kind
) -> None:
    v = verdict(make_parsed(from_addr=sender, to=(REPLY_TO,)), staff)
    assert v.kind is kind and f"from {sender} (reply address {REPLY_TO})" in v.reason


def test_our_message_id_in_in_reply_to_is_a_token_too(staff: Staff) -> None:
    v = verdict(make_parsed(from_addr=OP1, in_reply_to=(FORWARD_ID,)), staff)
    assert v.kind is Kind.OPERATOR_REPLY and "(forward)" in v.reason
    v = verdict(make_parsed(from_addr=OP1, references=("x@y", FORWARD_ID)), staff)
    assert v.kind is Kind.OPERATOR_REPLY


def test_a_token_from_a_stranger_is_refused(staff: Staff) -> None:
    v = verdict(make_parsed(from_addr="mallory@evil.example", to=(REPLY_TO,)), staff)
    assert v.kind is Kind.REFUSED
    assert v.reason.startswith("signed-reply:") and "not a participant" in v.reason


def test_a_token_naming_a_case_that_does_not_exist_is_refused(staff: Staff) -> None:
    v = verdict(make_parsed(from_addr=OP1, to=(REPLY_TO,)), staff, case=None)
    assert v.kind is Kind.REFUSED and "which does not exist" in v.reason


def test_a_forged_token_is_refused(staff: Staff) -> None:
    forged = f"feedback+{NUMBER}.aaaaaaaaaaaa@example.kz"
    v = verdict(make_parsed(from_addr=OP1, to=(forged,)), staff)
    assert v.kind is Kind.REFUSED and v.reason.startswith("forged-token:") and forged in v.reason
    other_case = reply_address(SECRET, FEEDBACK, "SKES-2026-000008").replace("000008", "000007")
    assert verdict(make_parsed(from_addr=OP1, to=(other_case,)), staff).kind is Kind.REFUSED
    bad_id = FORWARD_ID.replace(".forward.", ".answer.")
    assert verdict(make_parsed(from_addr=OP1, in_reply_to=(bad_id,)), staff).kind is Kind.REFUSED


def test_the_consumer_replying_to_a_notice_is_a_follow_up(staff: Staff) -> None:
    v = verdict(make_parsed(from_addr=CONSUMER, in_reply_to=(NOTICE_ID,)), staff)
    assert v.kind is Kind.FOLLOWUP and "by its requester" in v.reason


def test_staff_using_a_token_from_consumer_mail_is_refused(staff: Staff) -> None:
    v = verdict(make_parsed(from_addr=OP1, in_reply_to=(NOTICE_ID,)), staff)
    assert v.kind is Kind.REFUSED and "a token from mail to the consumer" in v.reason


def test_the_subject_tag_is_a_hint_for_the_requester_only(staff: Staff) -> None:
    subject = f"Re: [{NUMBER}] Ваше обращение зарегистрировано"
    assert verdict(make_parsed(from_addr=CONSUMER, subject=subject), staff).kind is Kind.FOLLOWUP
    forged_from = verdict(make_parsed(from_addr=OP1, subject=subject), staff)
    assert forged_from.kind is Kind.REFUSED and forged_from.reason.startswith("subject-hint:")
    stranger = verdict(make_parsed(from_addr="other@mail.ru", subject=subject), staff)
    assert stranger.kind is Kind.NEW_CASE


def test_staff_mail_without_a_token_is_refused_unless_it_is_a_forward(staff: Staff) -> None:
    v = verdict(make_parsed(from_addr=HEAD, subject="Закрыть обращение"), staff)
    assert v.kind is Kind.REFUSED and v.reason.startswith("staff-mail:")
    original = Forwarded("erzhan@mail.ru", "Ержан", "Счёт", "Текст", "", None, (), "", "inline forward (x)")
    fwd = verdict(make_parsed(from_addr=OP1, subject="Fwd: Счёт"), staff, forwarded=original)
    assert fwd.kind is Kind.FORWARDED_IN and "original sender erzhan@mail.ru" in fwd.reason


def test_web_form_mail(staff: Staff) -> None:
    form = frozenset({"form@skes.kz"})
    v = verdict(make_parsed(from_addr="form@skes.kz"), staff, webform_senders=form, webform=("a@mail.ru", ""))
    assert v.kind is Kind.WEBFORM
    no_address = verdict(make_parsed(from_addr="form@skes.kz"), staff, webform_senders=form)
    assert no_address.kind is Kind.NO_SENDER and "without the consumer's address" in no_address.reason


def test_a_consumer_sending_a_command_is_refused(staff: Staff) -> None:
    v = verdict(make_parsed(from_addr=CONSUMER, in_reply_to=(NOTICE_ID,), text="#close\nспасибо"), staff)
    assert v.kind is Kind.REFUSED and v.reason.startswith("consumer-command:")
    hashtag = verdict(
        make_parsed(from_addr=CONSUMER, in_reply_to=(NOTICE_ID,), text="#1 вопрос: когда?"), staff
    )
    assert hashtag.kind is Kind.FOLLOWUP


def test_automatic_mail_is_still_first(staff: Staff) -> None:
    ooo = make_parsed(from_addr=OP1, to=(REPLY_TO,), headers={"auto-submitted": "auto-replied"})
    assert verdict(ooo, staff).kind is Kind.AUTOMATIC


def test_plain_consumer_mail_is_a_new_case(staff: Staff) -> None:
    assert verdict(make_parsed(), staff).kind is Kind.NEW_CASE


def test_find_reference_prefers_the_reply_address_then_the_newest_reference() -> None:
    other = make_message_id(SECRET, "example.kz", "SKES-2026-000009", "ask").strip("<>")
    parsed = make_parsed(to=(REPLY_TO,), references=(FORWARD_ID, other), subject="[SKES-2026-000001]")
    assert find_reference(parsed, SECRET, FEEDBACK, PATTERN).found.number == NUMBER  # type: ignore[union-attr]
    by_refs = find_reference(replace(parsed, to=()), SECRET, FEEDBACK, PATTERN).found
    assert by_refs is not None and by_refs.number == "SKES-2026-000009" and by_refs.staff_token
    hint = find_reference(make_parsed(subject="Re: [SKES-2026-000001] x"), SECRET, FEEDBACK, PATTERN).found
    assert hint is not None and not hint.signed and hint.number == "SKES-2026-000001"


def test_a_mail_guessing_tokens_with_many_reply_addresses_is_refused(staff: Staff) -> None:
    # One real token among 31 guesses: the flood is refused whatever it holds, so guessing gains nothing.
    guesses = tuple(f"feedback+{NUMBER}.{c}@example.kz" for c in "abcdefghijklmnopqrstuvwxyz234567")
    v = verdict(make_parsed(from_addr=OP1, to=(*guesses[:31], REPLY_TO)), staff)
    assert v.kind is Kind.REFUSED and v.reason.startswith("token-flood:")
    three = verdict(make_parsed(from_addr=OP1, to=(REPLY_TO, *guesses[:2])), staff)
    assert three.kind is Kind.OPERATOR_REPLY
