"""No personal data reaches the FAQ draft (issue 12 item 7), measured on the labelled month: every name,
address, IIN, phone, account, meter number and e-mail written in its questions and answers is listed in
tests/data/faq_month/month.json; the company's own words and numbers (public.json) must stay."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from typing import cast

import pytest

from mailrobot.config import Settings
from mailrobot.jobs.faq import answer_text, question_text
from mailrobot.jobs.faq_draft import draft_topics
from mailrobot.jobs.redact import public_spans, redact
from mailrobot.jobs.report_mail import faq_context, faq_languages, report_context, report_json
from mailrobot.jobs.reports import MonthlyReport, top_questions
from mailrobot.jobs.similar import summarize
from mailrobot.mail.render import Renderer
from tests.unit.test_faq_grouping import DATA, MONTH, entries

PUBLIC: list[str] = json.loads((DATA / "public.json").read_text(encoding="utf-8"))["must_stay"]
_SEPARATORS = re.compile(r"[\s()\-.]")
_STREET_WORDS = {"көшесі", "пәтер", "Flat", "avenue"}


def leaks(text: str, personal: list[dict[str, str]]) -> list[str]:
    """The personal data items still found in `text`: a name's words of three letters and more, an
    address's street and house-flat, a number's digits however they are grouped."""
    found = []
    digits = _SEPARATORS.sub("", text)
    for item in personal:
        kind, value = item["kind"], item["text"]
        if value in text:
            found.append(value)
        elif kind == "name":
            found += [w for w in re.findall(r"\w{3,}", value) if re.search(rf"(?<!\w){re.escape(w)}", text)]
        elif kind == "address":
            found += [w for w in re.findall(r"[^\W\d_]{4,}", value) if w not in _STREET_WORDS and w in text]
            found += [n for n in re.findall(r"\d+-\d+", value) if n in text]
        elif kind != "email" and re.sub(r"\D", "", value) in digits:
            found.append(value)
    return found


@pytest.mark.parametrize("names_known", [True, False], ids=["requester known", "requester unknown"])
def test_nothing_personal_survives_in_any_question_or_answer(names_known: bool) -> None:
    keep = public_spans((c["requester"] or c["case"], answer_text(c["answer"])) for c in MONTH)
    survived = {}
    for case in MONTH:
        names = [case["requester"]] if names_known and case["requester"] else []
        question = redact(question_text("", case["question"]), case["language"], names=names)
        answer = redact(answer_text(case["answer"]), case["answer_language"], names=names, keep=keep)
        found = leaks(question, case["personal"]) + leaks(answer, case["personal"])
        if found:
            survived[case["case"]] = found
    assert survived == {}
    assert sum(len(c["personal"]) for c in MONTH) >= 150  # there was plenty to remove


def test_summaries_for_the_forward_carry_no_personal_data() -> None:
    for case in MONTH:
        summary = summarize(case["case"], "", case["question"], case["answer"], case["answer_language"])
        assert leaks(summary.line, case["personal"]) == [], case["case"]


def _report() -> MonthlyReport:
    topics = draft_topics(entries(), top=10)
    report = MonthlyReport(month=date(2026, 10, 1), generated_at=datetime(2026, 11, 2, 5, tzinfo=UTC))
    report.received = len(MONTH)
    report.top_questions = top_questions(topics, report.received, "ru")
    return report


class _Company:
    """All the FAQ templates ask of the settings."""

    def company_name(self, language: str) -> str:
        return "ТОО «Севказэнергосбыт»"


@pytest.fixture(scope="module")
def drafts() -> dict[str, str]:
    """The FAQ draft as the report renders it, text and HTML, in each language the answers exist in."""
    report = _report()
    settings = cast(Settings, _Company())
    renderer = Renderer()
    rendered = {}
    for language in faq_languages(report, "ru"):
        context = (report_context if language == "ru" else faq_context)(report, settings, language)
        draft = renderer.render("faq", language, context)
        rendered[language] = f"{draft.subject}\n{draft.text}\n{draft.html or ''}"
    return rendered


def test_the_draft_comes_in_russian_and_kazakh(drafts: dict[str, str]) -> None:
    assert sorted(drafts) == ["kk", "ru"]
    assert "Kaspi.kz арқылы төлемдер" in drafts["kk"] and "Платежи через Kaspi.kz" in drafts["ru"]
    assert drafts["kk"].count('<div class="faq-item">') == 9  # hot water was answered in Russian only
    assert drafts["ru"].count('<div class="faq-item">') == 10


def test_the_draft_has_no_personal_data_and_keeps_the_company_words(drafts: dict[str, str]) -> None:
    everything = [item for case in MONTH for item in case["personal"]]
    for language, draft in drafts.items():
        assert leaks(draft, everything) == [], language
    for word in PUBLIC:
        assert word in drafts["ru"], word
    assert "Kaspi" in drafts["kk"] and "8 (7152) 50-10-50" in drafts["kk"]


def test_json_gives_each_top_question_its_count_and_all_its_cases() -> None:
    figures = report_json(_report())
    assert len(figures["top_questions"]) == 10
    for question in figures["top_questions"]:
        assert question["count"] == len(question["case_numbers"]) == len(set(question["case_numbers"]))
        assert question["questions"]["ru"] and question["answers"]["ru"]
    numbers = [n for q in figures["top_questions"] for n in q["case_numbers"]]
    assert len(numbers) == sum(1 for c in MONTH if not c["topic"].startswith("once:"))
    json.dumps(figures, ensure_ascii=False)


def test_the_company_numbers_are_learned_from_answers_to_many_consumers() -> None:
    answers = [
        ("a", "Звоните в диспетчерскую 8 (7152) 50-10-50. По адресу Интернациональная 5-12 авария."),
        ("b", "Звоните в диспетчерскую 8 (7152) 50-10-50, пишите на info@sevkaz.kz."),
        ("c", "Звоните в диспетчерскую 8 (7152) 50-10-50 или пишите на info@sevkaz.kz."),
        ("c", "По адресу Интернациональная 5-12 пишите на info@sevkaz.kz."),
        ("a", "Пишите на info@sevkaz.kz, абонент Кенжебаев, Кенжебаев, Кенжебаев."),
    ]
    keep = public_spans(answers)
    assert {"8 (7152) 50-10-50", "info@sevkaz.kz"} <= keep
    assert not [span for span in keep if "Интернациональная" in span or "Кенжебаев" in span]
    text = redact("Звонил на 8 (7152) 50-10-50 с 8 701 555 12 34, живу Интернациональная 5-12", keep=keep)
    assert text == "Звонил на 8 (7152) 50-10-50 с [телефон], живу [адрес]"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "ФИО: Смагулов Нуржан Болатович\nАдрес: г. Петропавловск, ул. Жамбыла 45, кв 3\n"
            "Телефон: 87051234567\nE-mail: n.smagulov@mail.kz\nИИН: 850315300456",
            "ФИО: [имя]\nАдрес: [адрес]\nТелефон: [телефон]\nE-mail: [e-mail]\nИИН: [номер]",
        ),
        ("Аты-жөні: Әбенова Айгүл\nМекенжайы: Абай көшесі 12", "Аты-жөні: [есімі]\nМекенжайы: [мекенжай]"),
    ],
)
def test_web_form_fields_lose_their_values(text: str, expected: str) -> None:
    language = "kk" if "Аты-жөні" in text else "ru"
    assert redact(text, language) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Оплатил через Kaspi Gold, деньги не пришли.", "Оплатил через Kaspi Gold, деньги не пришли."),
        ("Живём в Петропавловске, свет отключают каждый день.", None),
        ("Прежний хозяин Иванов не переоформил договор.", "Прежний хозяин [имя] не переоформил договор."),
        ("Нет света. Кенжебаев Марат, Интернациональная 5-12", "Нет света. [имя], [адрес]"),
        ("Hello, no power since Monday. Anna Schmidt", "Hello, no power since Monday. [name]"),
    ],
)
def test_names_and_streets_go_places_and_brands_stay(text: str, expected: str | None) -> None:
    language = "en" if text.startswith("Hello") else "ru"
    assert redact(text, language) == (expected or text)
