"""The head's #publish: the monthly report, as it was mailed to the head, goes to people.pr (4.3.11).

The report mail the head got is read back from the outbox (its text, HTML, CSV and FAQ draft); the FAQ
draft that goes is the file the head attached, else the text between the markers of the head's reply,
else the original.  A report is published once (a notification row per month, kind report_published);
the text above the `#publish` note is what PR reads, the note and the markers are the head's alone.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mailrobot.casework.mailer import Mailer
from mailrobot.mail.compose import Attachment
from mailrobot.mail.parse import file_bytes
from mailrobot.mail.render import Rendered
from mailrobot.regulation.decide import is_mailable
from mailrobot.regulation.publish import FAQ_BEGIN, FAQ_END, PUBLISH_NOTE, PublishReport, report_thread
from mailrobot.regulation.states import EventKind, MailKind
from mailrobot.store.models import Notification, Outbox

log = logging.getLogger(__name__)

DRAFT = "faq.html"  # the FAQ draft in the report's language (jobs.tasks.send_report); faq-kk.html: others


def published_key(period: str) -> str:
    return f"published:{period}"


# What the head is told, in the head's language (the row's reason keeps the English one).
TOLD = {
    "ru": {
        "published": "Отчёт за {period} отправлен: {to}. Черновик FAQ: {chosen}.",
        "no_pr": "Отчёт не отправлен: в настройках не указан отдел по связям с общественностью (people.pr).",
        "missing": "Отчёт за {period} не отправлен: письма с отчётом больше нет (срок хранения истёк?); "
        "сформируйте его заново: mailrobot report monthly --month {period} --send.",
        "again": "Отчёт за {period} уже был отправлен; повторно он не отправляется.",
    },
    "kk": {
        "published": "{period} есебі жіберілді: {to}. FAQ жобасы: {chosen}.",
        "no_pr": "Есеп жіберілмеді: баптауларда қоғаммен байланыс бөлімі көрсетілмеген (people.pr).",
        "missing": "{period} есебі жіберілмеді: есеп хаты енді жоқ (сақтау мерзімі өтті ме?); оны қайта "
        "жасаңыз: mailrobot report monthly --month {period} --send.",
        "again": "{period} есебі бұрын жіберілген; қайта жіберілмейді.",
    },
    "en": {
        "published": "The report for {period} was sent to {to}. FAQ draft: {chosen}.",
        "no_pr": "The report was not sent: no PR department is configured (people.pr).",
        "missing": "The report for {period} was not sent: its mail is gone (retention?); make it again: "
        "mailrobot report monthly --month {period} --send.",
        "again": "The report for {period} was sent before; it is not sent again.",
    },
}
CHOSEN = {
    "ru": {"file": "Ваш файл {name}", "text": "текст между метками из Вашего ответа", "original": "исходный"},
    "kk": {
        "file": "Сіздің {name} файлыңыз",
        "text": "жауабыңыздағы белгілер арасындағы мәтін",
        "original": "бастапқы",
    },
    "en": {
        "file": "your file {name}",
        "text": "the text between the markers of your reply",
        "original": "the original",
    },
}


def publish_report(session: Session, mailer: Mailer, effect: PublishReport, now: datetime) -> str:
    """Queue the report to people.pr with the FAQ draft the head chose, and tell the head what happened;
    returns what happened, for the message row."""
    outcome, message, params = _publish(session, mailer, effect, now)
    language = mailer.language_for(effect.by)
    catalogue = TOLD.get(language, TOLD["ru"])
    if "chosen" in params:
        kind, name = params["chosen"]
        params["chosen"] = CHOSEN.get(language, CHOSEN["ru"])[kind].format(name=name)
    detail = catalogue[message].format(period=effect.period, **params)
    ok = message == "published"
    context = {
        "case_number": "",
        "command": "#publish",
        "ok": ok,
        "detail": detail,
        "results": [{"command": "#publish", "ok": ok, "detail": detail}],
    }
    rendered = mailer.renderer.render(MailKind.COMMAND_REPLY, language, context)
    thread = f"{report_thread(effect.period)}-told"
    envelope = mailer.staff_envelope(None, effect.by, "command", thread=thread, reply_to=False)
    mailer.queue(session, None, MailKind.COMMAND_REPLY, envelope, rendered, now)
    return outcome


def _publish(
    session: Session, mailer: Mailer, effect: PublishReport, now: datetime
) -> tuple[str, str, dict[str, Any]]:
    pr = [a for a in mailer.settings.people.pr if is_mailable(a)]
    if not pr:
        return "not published: no people.pr in the config", "no_pr", {}
    thread = report_thread(effect.period)
    row = session.scalar(
        select(Outbox)
        .where(Outbox.kind == MailKind.REPORT, Outbox.message_id.like(f"<mr.{thread}.report.%"))
        .order_by(Outbox.id.desc())
        .limit(1)
    )
    if row is None or row.raw is None:
        outcome = (
            f"not published: the report for {effect.period} is not in the outbox (purged, or never sent)"
        )
        return outcome, "missing", {}
    try:
        with session.begin_nested():  # once per month, whoever publishes and however often
            session.add(
                Notification(
                    key=published_key(effect.period), kind=EventKind.REPORT_PUBLISHED, created_at=now
                )
            )
    except IntegrityError:
        return f"not published: the report for {effect.period} was published already", "again", {}
    original = message_from_bytes(row.raw, policy=policy.default)
    assert isinstance(original, EmailMessage)
    rendered, files, chosen = _for_pr(original, effect)
    for person in pr:
        envelope = mailer.staff_envelope(None, person, MailKind.REPORT, thread=f"{thread}-pr", reply_to=False)
        mailer.queue(session, None, MailKind.REPORT, envelope, rendered, now, files)
    log.info("report %s published to %s by %s (FAQ: %s)", effect.period, ", ".join(pr), effect.by, chosen)
    kind = "file" if chosen.startswith("the head's file") else "text" if "markers" in chosen else "original"
    name = effect.faq_file.filename if effect.faq_file else ""
    params = {"to": ", ".join(pr), "chosen": (kind, name)}
    return f"published to {', '.join(pr)} (FAQ draft: {chosen})", "published", params


def _for_pr(original: EmailMessage, effect: PublishReport) -> tuple[Rendered, list[Attachment], str]:
    plain = original.get_body(("plain",))
    text = str(plain.get_content()) if plain is not None else ""
    html_part = original.get_body(("html",))
    html = str(html_part.get_content()) if html_part is not None else None
    files = [
        Attachment(
            part.get_filename() or "attachment", part.get_content_type(), part.get_payload(decode=True)
        )
        for part in original.iter_attachments()
    ]
    kept = text.split(PUBLISH_NOTE, 1)[0].rstrip()
    original_faq = text.split(FAQ_BEGIN, 1)[1].split("\n", 1)[1] if FAQ_BEGIN in text else ""
    faq_data = file_bytes(effect.faq_file) if effect.faq_file is not None else None
    if effect.faq_file is not None and faq_data is not None:
        # It replaces the draft of its name (faq-kk.html), else the report language's (faq.html).
        name = effect.faq_file.filename
        replaced = name if any(f.filename == name for f in files) else DRAFT
        faq = Attachment(name, effect.faq_file.content_type, faq_data)
        files = [f for f in files if f.filename != replaced] + [faq]
        chosen = f"the head's file {name}"
    elif effect.faq_text is not None:
        # A BOM: the part can carry no charset parameter (compose), and editors and browsers read UTF-8 so.
        text_file = Attachment("faq.txt", "text/plain", ("\ufeff" + effect.faq_text + "\n").encode("utf-8"))
        files = [f for f in files if f.filename != DRAFT] + [text_file]
        kept = f"{kept}\n\n{effect.faq_text}"
        chosen = "the text between the markers of the head's reply"
    else:
        kept = f"{kept}\n\n{original_faq.split(FAQ_END, 1)[0].strip()}".rstrip()
        chosen = "the original"
    subject = str(original["Subject"] or "")
    return replace(Rendered(subject, kept + "\n"), html=html), files, chosen
