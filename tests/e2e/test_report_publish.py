"""End to end on a real Dovecot and SMTP sink (issue 12 items 7 and 8): the labelled month of
tests/data/faq_month goes through the mail path (consumers write, operators answer by reply), then
`report monthly --json` shows each top question with all its cases, the report goes to the head alone, and
the head's `#publish` sends it to PR with the FAQ draft as the head edited it.  New questions' forwards show
how colleagues answered the same question; the share whose first suggestion is of the same topic is
printed and checked."""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from mailrobot.regulation.publish import FAQ_BEGIN, FAQ_END
from tests.e2e.test_routing import Center, message, one
from tests.support.config import WriteConfig
from tests.support.dovecot import Dovecot, Mailbox
from tests.support.factories import mail, reply
from tests.support.routing_world import contact_center
from tests.support.smtp import SmtpSink

DATA = Path(__file__).resolve().parents[1] / "data" / "faq_month"
MONTH: list[dict[str, Any]] = json.loads((DATA / "month.json").read_text(encoding="utf-8"))
NEW_QUESTIONS: list[dict[str, Any]] = json.loads((DATA / "new_questions.json").read_text(encoding="utf-8"))
OP1, OP2, HEAD, PR = (
    "op1@skes.example.kz",
    "op2@skes.example.kz",
    "head@skes.example.kz",
    "pr@skes.example.kz",
)
NUMBER = re.compile(r"\[(SKES-\d{4}-\d{6})\]")


def number_of(subject: str) -> str:
    found = NUMBER.search(subject)
    assert found, subject
    return found.group(1)


@pytest.fixture
def month_center(
    tmp_path: Path, dovecot: Dovecot, mailbox: Mailbox, smtp_sink: SmtpSink, write_config: WriteConfig
) -> tuple[Center, dict[str, str]]:
    """The labelled month through the mail path; returns the center and each case number's topic."""
    sections = contact_center(operators_assign="round_robin")
    sections["people"] = {"head": [HEAD], "pr": [PR]}
    config = write_config(tmp_path, mailbox, smtp_sink, **sections)
    center = Center(tmp_path, dovecot, mailbox, smtp_sink, config)
    center.send(
        *(
            mail(f"consumer{i}@mail.kz", item["question"], "Обращение", name=item["requester"] or "")
            for i, item in enumerate(MONTH)
        )
    )
    first = center.run(expect=2 * len(MONTH))
    forwards = [m for m in first if m.rcpt_tos[0] in (OP1, OP2)]
    topic_of: dict[str, str] = {}
    answers = []
    for forward in forwards:
        consumer = re.search(r"consumer(\d+)@mail\.kz", forward.text())
        assert consumer, forward.text()[:300]
        item = MONTH[int(consumer.group(1))]
        topic_of[number_of(forward.subject)] = item["topic"]
        answers.append(reply(message(forward), forward.rcpt_tos[0], item["answer"]))
    center.send(*answers)
    relayed = center.run(expect=len(MONTH))
    assert all(m.rcpt_tos[0].startswith("consumer") for m in relayed)
    return center, topic_of


def test_the_month_is_reported_to_the_head_who_publishes_it(
    month_center: tuple[Center, dict[str, str]],
) -> None:
    center, topic_of = month_center
    period = f"{datetime.now(ZoneInfo('Asia/Almaty')):%Y-%m}"  # the cases arrived just now

    # --json: each top question with its count and every case number, so a group can be checked.
    figures = json.loads(center.cli("report", "monthly", "--month", period, "--json"))
    assert figures["received"] == len(MONTH) and figures["answered"] == len(MONTH)
    groups = [q["case_numbers"] for q in figures["top_questions"]]
    assert all(
        len(numbers) == q["count"] for numbers, q in zip(groups, figures["top_questions"], strict=True)
    )
    sizes = Counter(t for t in topic_of.values() if not t.startswith("once:"))
    found = 0
    for topic, size in sizes.items():
        best = max((sum(topic_of[n] == topic for n in numbers) for numbers in groups), default=0)
        found += best >= 0.75 * size
    mixed = [numbers for numbers in groups if len({topic_of[n] for n in numbers}) > 1]
    print(
        f"\nlabelled month through the mail path: {found} of {len(sizes)} topics found as one group "
        f"of at least 3/4 of their questions; {len(mixed)} groups mix topics"
    )
    assert found == len(sizes) and not mixed

    # The report goes to the head alone, from its own signed reply address.
    result = center.cli("report", "monthly", "--month", period, "--send")
    assert "1 report mails queued" in result
    [report] = center.sink.wait_for(center.seen + 1)[center.seen :]
    center.seen += 1
    assert report.rcpt_tos == (HEAD,)
    assert message(report)["Reply-To"].addresses[0].addr_spec.startswith(f"feedback+report-{period}.")
    text = report.text()
    assert FAQ_BEGIN in text and FAQ_END in text and "#publish" in text
    draft = text.split(FAQ_BEGIN, 1)[1].split(FAQ_END, 1)[0]
    assert "Кенжебаев" not in draft and "+7 701" not in draft

    # A reply without #publish sends nothing; the head's #publish with the draft edited in the quote does.
    center.send(reply(message(report), HEAD, "Спасибо, посмотрю."))
    assert center.run(expect=0) == []
    edited = text.replace(FAQ_BEGIN, f"{FAQ_BEGIN}\nВопросы и ответы (правка руководителя)", 1)
    quoted = "\n".join(f"> {line}" for line in edited.split("\n"))
    publish = mail(
        HEAD,
        f"#publish\n\n{quoted}",
        subject=f"Re: {report.subject}",
        to=message(report)["Reply-To"].addresses[0].addr_spec,
        in_reply_to=str(message(report)["Message-ID"]),
    )
    center.send(publish)
    step = center.run(expect=2)
    published, told = one(step, PR), one(step, HEAD)
    assert "#publish" not in published.text()
    assert "выполнена" in told.subject and PR in told.text() and "текст между метками" in told.text()
    attached = {p.get_filename(): p for p in message(published).iter_attachments()}
    sent_to_head = {p.get_filename() for p in message(report).iter_attachments()}
    assert "faq-kk.html" in sent_to_head  # the draft in Kazakh too: the month has Kazakh answers
    assert set(attached) == sent_to_head - {"faq.html"} | {"faq.txt"}  # the edited text replaces faq.html
    faq = attached["faq.txt"].get_payload(decode=True).decode("utf-8-sig")
    assert faq.startswith("Вопросы и ответы (правка руководителя)") and "> " not in faq
    assert "Вопросы и ответы (правка руководителя)" in published.text()
    # Published once: a second #publish sends PR nothing; the head is told so.
    center.send(publish.replace(b"Message-ID: <", b"Message-ID: <again-"))
    [again] = center.run(expect=1)
    assert again.rcpt_tos == (HEAD,) and "уже был отправлен" in again.text()


def test_new_questions_see_how_colleagues_answered(month_center: tuple[Center, dict[str, str]]) -> None:
    center, topic_of = month_center
    center.send(*(mail(f"new{i}@mail.kz", n["question"], "Вопрос") for i, n in enumerate(NEW_QUESTIONS)))
    forwards = [m for m in center.run(expect=2 * len(NEW_QUESTIONS)) if m.rcpt_tos[0] in (OP1, OP2)]
    hits: dict[bool, int] = defaultdict(int)
    for forward in forwards:
        index = int(re.search(r"new(\d+)@mail\.kz", forward.text()).group(1))  # type: ignore[union-attr]
        text = forward.text()
        assert "Как коллеги отвечали на похожие вопросы" in text, text
        first = re.search(r"^- (SKES-\d{4}-\d{6}):", text, re.MULTILINE)
        assert first, text
        hits[topic_of[first.group(1)] == NEW_QUESTIONS[index]["topic"]] += 1
        listed = center.cli("cases", "similar", number_of(forward.subject))
        assert listed.splitlines()[0].startswith(first.group(1))
        for item in MONTH:  # nobody else's personal data
            for personal in item["personal"]:
                if personal["kind"] in ("phone", "iin", "account", "email") or len(personal["text"]) > 12:
                    assert personal["text"] not in text.split("Как коллеги", 1)[1], personal
    print(f"\nfirst suggestion of the same topic: {hits[True]} of {len(forwards)} new questions")
    assert hits[True] >= 0.75 * len(forwards)
