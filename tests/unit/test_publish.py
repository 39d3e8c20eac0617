"""The head's #publish (issue 12 item 7): which FAQ draft goes to PR, and who may publish."""

from __future__ import annotations

from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

from mailrobot.casework.publish import _for_pr as for_pr
from mailrobot.mail.parse import Attachment
from mailrobot.regulation.classify import Facts, Kind, classify
from mailrobot.regulation.decide import Policy, decide
from mailrobot.regulation.publish import (
    FAQ_BEGIN,
    FAQ_END,
    PublishReport,
    edited_faq_file,
    faq_between_markers,
    report_period,
    report_thread,
)
from mailrobot.regulation.staff import Staff
from tests.support.factories import make_parsed
from tests.support.routing_world import HEAD, OP1, make_routing_settings

REPORT = (
    f"Отчёт.\n----- #publish -----\nОтветьте #publish.\n\n{FAQ_BEGIN}\nВопрос 1.\nОтвет: да.\n{FAQ_END}\n"
)


def test_the_report_thread_names_its_month() -> None:
    assert report_thread("2026-10") == "report-2026-10" and report_period("report-2026-10") == "2026-10"
    assert report_period("SKES-2026-000001") is None


def test_the_text_between_the_markers_as_the_reply_has_it() -> None:
    quoted = "\n".join(
        f"> {line}" for line in REPORT.replace("Ответ: да.", "Ответ: да, с 1 декабря.").split("\n")
    )
    assert faq_between_markers(f"#publish\n\n{quoted}") == "Вопрос 1.\nОтвет: да, с 1 декабря."
    assert faq_between_markers("#publish") is None  # the head cut the quote: the original goes
    assert faq_between_markers(f"{FAQ_BEGIN}\nно без конца") is None


def test_an_attached_file_wins_and_only_one_that_can_be_the_draft() -> None:
    faq = Attachment("faq.html", "text/html", 10, b"<p>edited</p>")
    photo = Attachment("photo.jpg", "image/jpeg", 3, b"jpg")
    assert edited_faq_file((photo, faq)) == faq
    only_text = Attachment("черновик.html", "text/html", 3, b"<p>")
    assert edited_faq_file((photo, only_text)) == only_text
    assert edited_faq_file((photo,)) is None


def test_only_the_head_publishes(tmp_path: Path) -> None:
    staff = Staff.from_settings(make_routing_settings(tmp_path))
    facts = Facts(own_addresses=frozenset(), staff=staff, report_period="2026-10")
    faq = Attachment("faq.html", "text/html", 10, b"<p>edited</p>")
    head = make_parsed(
        from_addr=HEAD, text=f"#publish\n\n> {FAQ_BEGIN}\n> Правка\n> {FAQ_END}", attachments=(faq,)
    )
    verdict = classify(head, facts)
    assert verdict.kind == Kind.REPORT_REPLY
    effects = decide(verdict, head, facts, Policy())
    assert effects[-1] == PublishReport("2026-10", HEAD, faq, "Правка")
    thanks = make_parsed(from_addr=HEAD, text="Спасибо")
    assert not any(
        isinstance(e, PublishReport) for e in decide(classify(thanks, facts), thanks, facts, Policy())
    )
    operator = make_parsed(from_addr=OP1, text="#publish")
    assert classify(operator, facts).kind == Kind.REFUSED


def _report_mail() -> EmailMessage:
    original = EmailMessage()
    original["Subject"] = "Отчёт за октябрь 2026 г."
    original.set_content(REPORT)
    for name, ctype, data in (
        ("report.csv", "text/csv", b"a;b"),
        ("faq.html", "text/html", b"<p>ru</p>"),
        ("faq-kk.html", "text/html", b"<p>kk</p>"),
    ):
        maintype, subtype = ctype.split("/")
        original.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return message_from_bytes(original.as_bytes(), policy=policy.default)  # type: ignore[return-value]


def test_what_pr_gets_a_file_else_the_text_else_the_original() -> None:
    def files(effect: PublishReport) -> dict[str, bytes]:
        rendered, attached, _chosen = for_pr(_report_mail(), effect)
        assert "#publish" not in rendered.text and rendered.text.startswith("Отчёт.")
        return {a.filename: a.data for a in attached}

    kk = Attachment("faq-kk.html", "text/html", 9, b"<p>kk2</p>")
    assert files(PublishReport("2026-10", HEAD, kk, "правка"))["faq-kk.html"] == b"<p>kk2</p>"
    other = Attachment("черновик.html", "text/html", 9, b"<p>ru2</p>")
    assert set(files(PublishReport("2026-10", HEAD, other, None))) == {
        "report.csv",
        "faq-kk.html",
        "черновик.html",
    }
    text = files(PublishReport("2026-10", HEAD, None, "Вопрос 1.\nОтвет: нет."))
    assert set(text) == {"report.csv", "faq-kk.html", "faq.txt"}
    assert text["faq.txt"].decode("utf-8-sig").startswith("Вопрос 1.\nОтвет: нет.")
    rendered, _files, chosen = for_pr(_report_mail(), PublishReport("2026-10", HEAD, None, None))
    assert chosen == "the original" and "Ответ: да." in rendered.text
