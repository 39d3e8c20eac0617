"""parse_message and the automatic-mail rules on the real mails in tests/data/corpus/messages (its README
names each source and license).

Each file is parsed once per test session; every test below reads those results.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from email import message_from_bytes

import pytest

from mailrobot.mail.parse import Parsed, Unparseable, parse_message
from mailrobot.regulation.rules import automatic_reason
from tests.support.factories import assert_all_clean
from tests.support.paths import corpus_dir

MESSAGES = corpus_dir() / "messages"
OWN = frozenset({"feedback@energo.kz"})

FILES = sorted(
    p.relative_to(MESSAGES).as_posix() for p in MESSAGES.rglob("*") if p.is_file() and p.suffix != ".md"
)

# Mail a person wrote: none of it may be taken for automatic mail.
NORMAL = [
    "flanker/text-only.eml",
    "flanker/russian-attachment-yahoo.eml",
    "django-helpdesk/quoted_printable.eml",
    "django-helpdesk/forwarded-message.eml",
    "django-helpdesk/blank-body-with-attachment.eml",
    "flanker/bilingual-simple.eml",
    "flanker/enclosed.eml",
    "flanker/encoded-header.eml",
    "flanker/iphone.eml",
    "flanker/long-links.eml",  # sent from a postmaster@ address, but not a bounce
    "flanker/mailgun-pic.eml",
    "flanker/8bitmime.eml",
    "mail-parser/mail_test_1",
]
UNPARSEABLE = {"mail-parser/mail_outlook_1": "no header section"}  # an Outlook .msg file, not RFC 822


@dataclass(frozen=True)
class Outcome:
    parsed: Parsed | None
    error: Unparseable | None
    seconds: float
    size: int


@pytest.fixture(scope="session")
def outcomes() -> dict[str, Outcome]:
    logging.getLogger("mailparser").setLevel(logging.CRITICAL)  # it warns about every DSN part it skips
    results = {}
    for name in FILES:
        raw = (MESSAGES / name).read_bytes()
        started = time.perf_counter()
        try:
            parsed, error = parse_message(raw), None
        except Unparseable as exc:  # anything else fails the test that asks
            parsed, error = None, exc
        results[name] = Outcome(parsed, error, time.perf_counter() - started, len(raw))
    return results


def parsed(outcomes: dict[str, Outcome], name: str) -> Parsed:
    result = outcomes[name].parsed
    assert result is not None, f"{name}: {outcomes[name].error}"
    return result


def test_the_corpus_is_there() -> None:
    assert len(FILES) > 70
    assert any(name.startswith("flanker/bounce/") for name in FILES)


@pytest.mark.parametrize("name", FILES)
def test_every_message_parses_or_is_unparseable_with_a_reason(
    outcomes: dict[str, Outcome], name: str
) -> None:
    outcome = outcomes[name]
    if name in UNPARSEABLE:
        assert outcome.error is not None and UNPARSEABLE[name] in str(outcome.error)
        return
    assert outcome.error is None, f"{name}: {outcome.error}"
    assert_all_clean(parsed(outcomes, name))


@pytest.mark.parametrize("name", [n for n in FILES if n.startswith("flanker/bounce/")])
def test_bounces_are_detected(outcomes: dict[str, Outcome], name: str) -> None:
    reason = automatic_reason(parsed(outcomes, name), OWN)
    assert reason is not None and reason.startswith("bounce: ") and len(reason) > len("bounce: ")


@pytest.mark.parametrize("name", [n for n in FILES if n.startswith("flanker/complaints/")])
def test_complaints_are_detected(outcomes: dict[str, Outcome], name: str) -> None:
    reason = automatic_reason(parsed(outcomes, name), OWN)
    assert reason == "complaint: multipart/report; report-type=feedback-report"


def test_other_reports_in_the_corpus(outcomes: dict[str, Outcome]) -> None:
    assert automatic_reason(parsed(outcomes, "mail-parser/mail_malformed_2"), OWN).startswith("bounce: ")
    receipt = automatic_reason(parsed(outcomes, "flanker/disposition-notification.eml"), OWN)
    assert receipt == "read-receipt: multipart/report; report-type=disposition-notification"


@pytest.mark.parametrize("name", NORMAL)
def test_mail_written_by_people_is_not_flagged(outcomes: dict[str, Outcome], name: str) -> None:
    assert automatic_reason(parsed(outcomes, name), OWN) is None


def test_encoded_headers_are_decoded(outcomes: dict[str, Outcome]) -> None:
    encoded_from = parsed(outcomes, "flanker/encoded-header.eml")
    assert (encoded_from.from_name, encoded_from.from_addr) == ("Foo, Bar", "foo.bar@example.com")
    assert encoded_from.message_id == "1234567890-1234-4567@example.com"
    czech = parsed(outcomes, "django-helpdesk/quoted_printable.eml")
    assert czech.subject == "Český test"
    assert czech.text == "Tohle je test českých písmen odeslaných z gmailu."
    russian = parsed(outcomes, "mail-parser/mail_test_1")
    assert (russian.subject, russian.from_name) == ("письмо уведом-е", "служба ФНС Даниил Суворов")
    # a 210 KB subject of 3,300 encoded words, cut to a storable length
    long_subject = parsed(outcomes, "flanker/long-header.eml")
    assert long_subject.subject.startswith(
        "Die heiße Zypernsonne quälte Max und Victoria ja böse auf dem Weg"
    )
    assert len(long_subject.subject) == 1000


def test_russian_attachment_names(outcomes: dict[str, Outcome]) -> None:
    yahoo = parsed(outcomes, "flanker/russian-attachment-yahoo.eml")
    [picture] = yahoo.attachments
    # the name was cut mid-character by the sending client: the rest must still decode
    assert picture.filename.startswith("Картинка с очень, очень длинным предлинным именем преименем таким чт")
    assert (picture.content_type, picture.size) == ("image/png", 178213)
    assert picture.data is not None and picture.data.startswith(b"\x89PNG")
    assert yahoo.text == "Hello"
    [archive] = parsed(outcomes, "mail-parser/mail_test_1").attachments
    assert archive.filename == "ФНС_РФ558.zip"


def test_html_only_mail_has_text(outcomes: dict[str, Outcome]) -> None:
    russian = parsed(outcomes, "mail-parser/mail_test_6")
    assert russian.html is not None and "<" in russian.html
    assert russian.text.startswith("Профиль Сообщения Контакты Сообщества\nПрофессионалы.ru")
    assert "<" not in russian.text.split("\n")[0]
    assert parsed(outcomes, "mail-parser/mail_test_4").text.startswith("Dear All,\nWe have made the payment")
    assert parsed(outcomes, "flanker/long-links.eml").text.startswith("http://www.longurlmaker.com/view/")


def test_forwarded_messages_stay_out_of_the_body(outcomes: dict[str, Outcome]) -> None:
    for name in ("flanker/enclosed.eml", "flanker/enclosed-broken.eml", "flanker/enclosed-endless.eml"):
        outer = parsed(outcomes, name)
        assert outer.text == "Hello", name
        assert outer.attachments == () and len(outer.attached_messages) == 1, name
    inner = message_from_bytes(parsed(outcomes, "flanker/enclosed.eml").attached_messages[0])
    assert (inner["Subject"], inner["From"]) == ("Thanks!", "Kirk Douglas <dan@example.com>")
    assert len(parsed(outcomes, "flanker/torture.eml").attached_messages) == 8


def test_delivery_status_is_read(outcomes: dict[str, Outcome]) -> None:
    zed = parsed(outcomes, "flanker/bounce/zed.eml")
    assert zed.report_type == "delivery-status"
    assert zed.delivery_status is not None and "Action: failed" in zed.delivery_status
    assert zed.return_path == ""
    broken = parsed(outcomes, "flanker/bounce/delayed-broken.eml")  # a bare DSN part, no From
    assert broken.content_type == "message/delivery-status" and broken.from_addr == ""
    assert "Status: 4.2.2" in (broken.delivery_status or "")
    assert "Feedback-Type: abuse" in (parsed(outcomes, "flanker/complaints/yahoo.eml").feedback_report or "")


def test_broken_headers_are_recovered(outcomes: dict[str, Outcome]) -> None:
    broken = parsed(outcomes, "flanker/mailformed-headers.eml")  # raw 8-bit UTF-8 name with a stray byte
    assert broken.from_addr == "headers@gmail.com"
    assert broken.from_name.startswith("Юникод запрещен")
    assert broken.defects


def test_throughput(outcomes: dict[str, Outcome]) -> None:
    """Reports parse speed over the corpus (run with -s to see it); targets belong to bench/, not here."""
    timed = [o for o in outcomes.values() if o.parsed is not None]
    typical = [o for o in timed if o.size < 20_000]  # the torture tests and big attachments left out
    total = sum(o.seconds for o in timed)
    print(
        f"\nparse_message: {len(timed)} corpus messages in {total:.3f} s = {len(timed) / total:.0f} msg/s; "
        f"{len(typical)} under 20 KB at {len(typical) / sum(o.seconds for o in typical):.0f} msg/s"
    )
    assert total > 0
