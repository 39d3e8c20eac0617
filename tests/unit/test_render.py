"""Mail templates: every mail in every language, dates in Almaty time, escaping, the sandbox, fallback."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from jinja2 import UndefinedError
from jinja2.exceptions import SecurityError

from mailrobot.mail.render import (
    KAZAKH_LETTERS,
    OPTIONAL_KEYS,
    Rendered,
    Renderer,
    default_templates_dir,
    mail_names,
    plural,
    sample_context,
    shorten,
)

LANGUAGES = ("ru", "kk", "en")
MAILS = tuple(mail_names())
# Consumer mail has an HTML part; staff mail is plain text.
CONSUMER_MAILS = ("notice", "answer", "extension", "interim")
HTML_MAILS = (*CONSUMER_MAILS, "monthly_report")  # and the monthly report, for its chart


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer()


def _write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("name", MAILS)
def test_every_mail_renders_in_every_language(renderer: Renderer, name: str, language: str) -> None:
    assert renderer.resolve_language(name, language) == language  # no silent fallback for shipped mails
    rendered = renderer.render(name, language, sample_context(name))
    assert rendered.subject and "\n" not in rendered.subject
    assert rendered.subject == rendered.subject.strip()
    assert rendered.text.strip() and rendered.text.endswith("\n")
    if name in HTML_MAILS:
        assert rendered.html is not None
        assert rendered.html.startswith("<!DOCTYPE html>")
        assert f'<html lang="{language}">' in rendered.html
    else:
        assert rendered.html is None


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("name", MAILS)
def test_optional_keys_may_be_left_out(renderer: Renderer, name: str, language: str) -> None:
    context = {k: v for k, v in sample_context(name).items() if k not in OPTIONAL_KEYS.get(name, ())}
    renderer.render(name, language, context)


@pytest.mark.parametrize("language", LANGUAGES)
def test_missing_required_key_is_an_error(renderer: Renderer, language: str) -> None:
    context = sample_context("notice")
    del context["due_at"]
    with pytest.raises(UndefinedError):
        renderer.render("notice", language, context)


def test_shipped_templates_pass_the_check(renderer: Renderer) -> None:
    assert renderer.check_templates() == []
    assert renderer.languages()[0] == "ru"
    assert set(LANGUAGES) <= set(renderer.languages())
    assert set(MAILS) <= set(renderer.template_names())


def test_notice_shows_number_and_dates_in_almaty(renderer: Renderer) -> None:
    context = sample_context("notice") | {
        "received_at": datetime(2026, 3, 19, 23, 30, tzinfo=UTC),  # already Friday 20 March in Almaty
        "due_at": datetime(2026, 3, 30, 19, 30, tzinfo=UTC),  # already 31 March in Almaty
    }
    for language in LANGUAGES:
        rendered = renderer.render("notice", language, context)
        assert rendered.subject.startswith("[SKES-2026-000123] ")
        for part in (rendered.text, rendered.html):
            assert part is not None
            assert "SKES-2026-000123" in part
            assert "20.03.2026" in part and "19.03.2026" not in part
            assert "31.03.2026" in part and "30.03.2026" not in part
    ru = renderer.render("notice", "ru", context)
    assert ru.subject == "[SKES-2026-000123] Ваше обращение зарегистрировано"
    assert "Здравствуйте, Айгүл Серікқызы!" in ru.text
    assert "в течение 3 рабочих дней" in ru.text
    assert "ТОО «Севказэнергосбыт»" in ru.text
    assert "автоматически" in ru.text


def test_notice_without_name_or_subject(renderer: Renderer) -> None:
    context = sample_context("notice") | {"requester_name": "", "subject": ""}
    assert renderer.render("notice", "ru", context).text.startswith("Здравствуйте!\n")
    assert renderer.render("notice", "kk", context).text.startswith("Құрметті тұтынушы!\n")
    assert renderer.render("notice", "en", context).text.startswith("Dear customer,\n")


def test_russian_plural_of_answer_days(renderer: Renderer) -> None:
    context = sample_context("notice") | {"answer_days": 1}
    assert "в течение 1 рабочего дня" in renderer.render("notice", "ru", context).text
    assert "within 1 working day," in renderer.render("notice", "en", context).text


def test_html_escapes_consumer_subject_but_text_does_not(renderer: Renderer) -> None:
    context = sample_context("notice") | {"subject": "<script>alert(1)</script>"}
    rendered = renderer.render("notice", "ru", context)
    assert rendered.html is not None
    assert "<script>" not in rendered.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in rendered.html
    assert "<script>alert(1)</script>" in rendered.text


def test_html_answer_keeps_line_breaks_and_escapes(renderer: Renderer) -> None:
    context = sample_context("answer") | {"answer_text": "Строка <1>\nСтрока 2"}
    html = renderer.render("answer", "ru", context).html
    assert html is not None
    assert "Строка &lt;1&gt;<br>\nСтрока 2" in html


def test_subject_stays_one_line(renderer: Renderer) -> None:
    context = sample_context("forward") | {"subject": "Первая строка\r\nBcc: evil@example.com"}
    subject = renderer.render("forward", "ru", context).subject
    assert "\n" not in subject and "\r" not in subject
    assert subject.startswith("[SKES-2026-000123] Новое обращение: Первая строка")


def test_sandbox_refuses_unsafe_attributes(renderer: Renderer) -> None:
    with pytest.raises(SecurityError):
        renderer.environment.from_string("{{ ''.__class__.__mro__ }}").render()
    with pytest.raises(SecurityError):
        renderer.environment.from_string("{{ ''.__class__ }}").render()


def test_sandbox_applies_to_template_files(tmp_path: Path) -> None:
    custom = _write(tmp_path, {
        "ru/evil.subject.j2": "x",
        "ru/evil.txt.j2": "{{ case_number.__class__.__mro__[1].__subclasses__() }}",
    })
    with pytest.raises(SecurityError):
        Renderer(custom).render("evil", "ru", {"case_number": "1"})


def test_unknown_language_falls_back_to_russian(renderer: Renderer) -> None:
    context = sample_context("notice")
    expected = renderer.render("notice", "ru", context)
    assert renderer.render("notice", "de", context) == expected
    assert renderer.render("notice", "", context) == expected
    assert renderer.render("notice", "../../etc", context) == expected


def test_language_tags_are_normalised(renderer: Renderer) -> None:
    assert renderer.resolve_language("notice", "kk-KZ") == "kk"
    assert renderer.resolve_language("notice", "KK_kz") == "kk"
    assert renderer.resolve_language("notice", "en") == "en"


def test_mail_missing_in_a_language_falls_back(tmp_path: Path) -> None:
    custom = _write(tmp_path, {"ru/custom.subject.j2": "Тема", "ru/custom.txt.j2": "Текст {{ lang }}"})
    rendered = Renderer(custom).render("custom", "kk", {})
    assert rendered == Rendered(subject="Тема", text="Текст ru\n", html=None)


def test_custom_dir_overrides_one_file_and_keeps_the_rest(tmp_path: Path) -> None:
    custom = _write(tmp_path, {"ru/notice.subject.j2": "[{{ case_number }}] Принято"})
    renderer = Renderer(custom)
    rendered = renderer.render("notice", "ru", sample_context("notice"))
    assert rendered.subject == "[SKES-2026-000123] Принято"
    assert "зарегистрировано" in rendered.text  # the shipped text part
    assert renderer.search_path == (custom, default_templates_dir())


def test_missing_templates_dir_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="does not exist"):
        Renderer(tmp_path / "no-such-dir")


def test_check_templates_reports_problems(tmp_path: Path) -> None:
    custom = _write(tmp_path, {
        "ru/broken.subject.j2": "{{ no_such_key }}",
        "ru/broken.txt.j2": "text",
        "kk/halfdone.subject.j2": "Тақырып",
        "kk/notice.txt.j2": "Russian only {{ case_number }} {{ due_at|date }}",
        "ru/notice.text.j2": "typo in the part name",
    })
    problems = "\n".join(Renderer(custom).check_templates())
    assert "ru/broken: UndefinedError" in problems
    assert "kk/halfdone: missing in the default language" not in problems  # kk is not the default
    assert "ru/halfdone: missing in the default language" in problems
    assert "kk/halfdone.txt.j2" in problems
    assert "kk/notice: the Kazakh text has no Kazakh letters" in problems
    assert "ru/notice.text.j2: unexpected file name" in problems


def test_kazakh_templates_are_kazakh(renderer: Renderer) -> None:
    for path in sorted((default_templates_dir() / "kk").glob("*.j2")):
        assert KAZAKH_LETTERS & set(path.read_text(encoding="utf-8")), path.name
    for name in MAILS:
        text = renderer.render(name, "kk", sample_context(name)).text
        assert KAZAKH_LETTERS & set(text), name


def test_date_filters(renderer: Renderer) -> None:
    env = renderer.environment
    moment = datetime(2026, 12, 31, 19, 5, tzinfo=UTC)  # 1 January 2027, 00:05 in Almaty
    assert env.from_string("{{ m|date }} {{ m|datetime }}").render(m=moment) == "01.01.2027 01.01.2027 00:05"
    assert env.from_string("{{ d|date }}").render(d=date(2026, 3, 8)) == "08.03.2026"
    assert env.from_string("[{{ n|date }}]").render(n=None) == "[]"
    with pytest.raises(ValueError, match="aware"):
        env.from_string("{{ m|datetime }}").render(m=datetime(2026, 3, 20, 10))


def test_renderer_timezone_is_configurable() -> None:
    env = Renderer(timezone="UTC").environment
    assert env.from_string("{{ m|datetime }}").render(m=datetime(2026, 3, 19, 23, 30, tzinfo=UTC)) == (
        "19.03.2026 23:30"
    )


def test_shorten() -> None:
    assert shorten("  short\n text ") == "short text"
    assert shorten("a" * 100, 10) == "a" * 9 + "…"
    assert shorten("Перерасчёт за электроэнергию в марте", 20) == "Перерасчёт за…"
    assert len(shorten("word " * 50, 30)) <= 30


def test_plural() -> None:
    forms = ("рабочий день", "рабочих дня", "рабочих дней")
    assert [plural(n, *forms) for n in (1, 2, 5, 11, 12, 21, 22, 25, 111)] == [
        forms[0], forms[1], forms[2], forms[2], forms[2], forms[0], forms[1], forms[2], forms[2],
    ]
    assert plural(1, "day", "days") == "day"
    assert plural(14, "day", "days") == "days"


def test_rendered_is_frozen() -> None:
    rendered = Rendered(subject="s", text="t\n")
    with pytest.raises(dataclasses.FrozenInstanceError):
        rendered.subject = "x"  # type: ignore[misc]
