"""Bounces find their mail (issue 11.5): the VERP envelope sender, the DSN fields, the original Message-ID."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailrobot.mail.dsn import read_dsn
from mailrobot.mail.parse import parse_message
from mailrobot.mail.tokens import (
    bounce_address,
    case_number_pattern,
    is_bounce_address,
    make_message_id,
    read_bounce_address,
)
from mailrobot.regulation.classify import BounceFacts, Facts, Kind, classify
from mailrobot.regulation.decide import Policy, decide
from mailrobot.regulation.effects import MarkBounced
from mailrobot.regulation.trust import find_reference
from tests.support.factories import consumer_mail

SECRET = "s" * 32
FEEDBACK = "feedback@skes.kz"


def test_verp_address_round_trip_and_forgery() -> None:
    address = bounce_address(SECRET, FEEDBACK, 4711)
    assert address.startswith("feedback+b.4711.") and address.endswith("@skes.kz")
    assert read_bounce_address(SECRET, address) == 4711
    assert read_bounce_address((SECRET,), address.upper()) == 4711  # a relay may change the letter case
    assert read_bounce_address(SECRET, address.replace("b.4711.", "b.4712.")) is None
    assert read_bounce_address("t" * 32, address) is None
    assert is_bounce_address(address.replace("b.4711.", "b.4712."))


def test_the_verp_address_is_no_forged_reply_token() -> None:
    raw = consumer_mail("mailer-daemon@mx.mail.ru", "Undelivered", "x", "<d@x>")
    raw = raw.replace(b"To: feedback@example.kz", f"To: {bounce_address(SECRET, FEEDBACK, 1)}".encode())
    refs = find_reference(parse_message(raw), SECRET, FEEDBACK, case_number_pattern("SKES-{year}-{seq:06d}"))
    assert refs.forged is None and refs.found is None and refs.flood is None


DSN = (
    b"From: MAILER-DAEMON@mx.mail.ru\r\nTo: feedback@skes.kz\r\nSubject: Undelivered Mail\r\n"
    b"MIME-Version: 1.0\r\n"
    b'Content-Type: multipart/report; report-type=delivery-status; boundary="r"\r\n\r\n'
    b"--r\r\nContent-Type: text/plain\r\n\r\nNot delivered.\r\n"
    b"--r\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.mail.ru\r\n\r\n"
    b"Final-Recipient: rfc822; aigul@mail.ru\r\nAction: failed\r\nStatus: 5.1.1\r\n"
    b"Diagnostic-Code: smtp; 550 5.1.1 User unknown\r\n"
    b"--r\r\nContent-Type: text/rfc822-headers\r\n\r\nFrom: feedback@skes.kz\r\nMessage-ID: MID\r\n"
    b"--r--\r\n"
)


def test_read_dsn() -> None:
    mid = make_message_id(SECRET, "skes.kz", "SKES-2026-000001", "notice")
    dsn = read_dsn(parse_message(DSN.replace(b"MID", mid.encode())))
    assert (dsn.status, dsn.recipient) == ("5.1.1", "aigul@mail.ru")
    assert dsn.diagnostic == "smtp; 550 5.1.1 User unknown"
    assert dsn.original_message_ids[0] == mid.strip("<>")


@pytest.mark.parametrize(
    "raw",
    [b"From: MAILER-DAEMON@x\r\nSubject: failure notice\r\n\r\nno original\r\n", b"\x00" * 10 + b"\r\n\r\n"],
)
def test_a_dsn_with_nothing_in_it_gives_empty_fields(raw: bytes) -> None:
    try:
        parsed = parse_message(raw)
    except Exception:
        return
    dsn = read_dsn(parsed)
    assert dsn.original_message_ids == () and dsn.status == ""


def test_corpus_bounces_are_read_without_a_crash(corpus_dir: Path) -> None:
    for path in sorted((corpus_dir / "messages" / "flanker" / "bounce").glob("*.eml")):
        read_dsn(parse_message(path.read_bytes()))


def test_a_bounce_of_a_notice_tells_the_operators_and_marks_the_row() -> None:
    parsed = parse_message(DSN)
    bounce = BounceFacts(7, "notice", "aigul@mail.ru", "VERP address x", "5.1.1", "smtp; 550 User unknown")
    facts = Facts(frozenset({FEEDBACK}), bounce=bounce)
    verdict = classify(parsed, facts)
    assert verdict.kind == Kind.BOUNCE and "notice #7" in verdict.reason
    effects = decide(verdict, parsed, facts, Policy())
    assert effects[-1] == MarkBounced(7, "5.1.1", "smtp; 550 User unknown", ())


def test_an_auto_reply_stays_ignored() -> None:
    parsed = parse_message(consumer_mail(headers={"Auto-Submitted": "auto-replied"}))
    assert classify(parsed, Facts(frozenset({FEEDBACK}))).kind == Kind.AUTOMATIC


REAL = Path(__file__).parents[1] / "data" / "dsn" / "sisimai"  # sisimai/set-of-emails, BSD-2 (README.md)
GMAIL_ID = "CAByYQsF5qdTf_h-1AAVPW0RgR1YN+LE=+0Uv9LpQ4aA_myPtCw@mail.gmail.com"
EXPECTED = {
    "lhost-googleworkspace-01.eml": ("", GMAIL_ID),
    "lhost-postfix-01.eml": ("5.1.1", None),
    "lhost-exim-01.eml": ("", "hogeuoiuadogalhg.dg9i09@example.jp"),
    "rhost-outlook-01.eml": ("5.2.2", "BLU436-SMTP6645ECA6E7FEFFE86D040BBA770@phx.gbl"),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_real_bounces_are_read(name: str) -> None:
    raw = (REAL / name).read_bytes()
    parsed = parse_message(raw)
    dsn = read_dsn(parsed)
    status, original = EXPECTED[name]
    assert dsn.status == status
    if original is not None:
        assert original in dsn.original_message_ids
        # The same bounce of one of our mails names it by its signed Message-ID (smtp.verp = false).
        ours = make_message_id(SECRET, "skes.kz", "SKES-2026-000001", "answer").strip("<>")
        dsn = read_dsn(parse_message(raw.replace(original.encode(), ours.encode())))
        assert ours in dsn.original_message_ids
