"""Personal data removed from texts before they reach the public FAQ draft: Russian, Kazakh, English."""

from __future__ import annotations

import pytest

from mailrobot.jobs.redact import placeholders, redact


def gone(text: str, *secrets: str, language: str = "ru", names: tuple[str, ...] = ()) -> str:
    out = redact(text, language, names)
    for secret in secrets:
        assert secret not in out, f"{secret!r} survived in {out!r}"
    return out


# -- e-mail addresses and phone numbers ---------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "Пишите на ivanov.ivan@mail.ru или IVANOV+skes@Gmail.COM",
        "Менің поштам: aigul_s@inbox.kz",
        "Contact me at john.smith@example.co.uk.",
    ],
)
def test_email_addresses(text: str) -> None:
    out = gone(text, "@")
    assert "[e-mail]" in out


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("Мой телефон +7 777 123 45 67.", "777 123"),
        ("Звоните: 8 (7152) 46-12-34", "46-12-34"),
        ("тел. 87771234567", "87771234567"),
        ("моб.: +7(705)123-45-67, спасибо", "123-45-67"),
        ("Ұялы телефон: 8 701 555 44 33", "555 44 33"),
        ("Call me on +44 20 7946 0958 after six", "7946"),
        ("городской 46-12-34, добавочный нет", "46-12-34"),
        ("WhatsApp 87015554433", "87015554433"),
    ],
)
def test_phone_numbers(text: str, secret: str) -> None:
    assert "[телефон]" in gone(text, secret) or "[phone]" in redact(text, "en")


def test_dates_sums_and_readings_are_not_phones() -> None:
    text = "Оплатил 15.11.2026 сумму 12 450 тг, показания 3 210 кВт·ч, в 2026 году."
    assert redact(text) == text


# -- account and other numbers ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("Лицевой счёт 1234567, прошу проверить", "Лицевой счёт [номер]"),
        ("лицевой счет № 00123", "лицевой счет № [номер]"),
        ("л/с 7654321", "л/с [номер]"),
        ("ИИН 900101300123", "ИИН [номер]"),
        ("счётчик № 0012345", "счётчик № [номер]"),
        ("Договор № 45-1234", "Договор № [номер]"),
    ],
)
def test_account_numbers_keep_their_keyword(text: str, kept: str) -> None:
    assert kept in redact(text)


def test_kazakh_and_english_account_numbers() -> None:
    assert "Дербес шот [нөмір]" in redact("Дербес шот 123456 бойынша", "kk")
    assert "ЖСН [нөмір]" in redact("ЖСН 850505400123", "kk")
    assert "account number [number]" in redact("My account number 99887766 is wrong", "en")


def test_long_digit_runs_without_a_keyword() -> None:
    assert redact("Номер 123456789 указан в квитанции") == "Номер [номер] указан в квитанции"


# -- addresses ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("Нет света по ул. Абая, д. 12, кв. 5 уже третий день", "Абая"),
        ("проживаю по адресу: г. Петропавловск, ул. Ленина 5-12.", "Ленина"),
        ("Адрес: мкр. Жас Оркен 3-15", "Жас Оркен"),
        ("в доме 45 по улице Жамбыла нет отопления", "Жамбыла"),
        ("проспект Назарбаева 10, квартира 7", "Назарбаева"),
    ],
)
def test_russian_addresses(text: str, secret: str) -> None:
    assert "[адрес]" in gone(text, secret)


def test_russian_address_keeps_the_sentence() -> None:
    out = redact(
        "Добрый день. Третий день нет отопления в квартире по ул. Абая 12, кв. 5. Когда дадут тепло?"
    )
    assert out == "Добрый день. Третий день нет отопления в квартире по [адрес]. Когда дадут тепло?"


def test_words_that_only_look_like_addresses_stay() -> None:
    for text in (
        "На улице нет света уже третий день.",
        "Площадь 50 кв. м, прошу пересчитать.",
        "В доме нет воды.",
    ):
        assert redact(text) == text


def test_kazakh_addresses() -> None:
    out = gone("Абай көшесі, 12 үй, 5 пәтер бойынша жарық жоқ", "Абай", "12 үй", "5 пәтер", language="kk")
    assert out.startswith("[мекенжай]") and "жарық жоқ" in out
    assert "[мекенжай]" in gone("Мекенжайым: Жамбыл даңғылы 45", "Жамбыл", language="kk")


def test_english_addresses() -> None:
    out = gone("I live at 12 Main Street, Apt 5. The lights are off.", "Main", "Apt 5", language="en")
    assert "[address]" in out and "The lights are off." in out


# -- names --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "secret", "language"),
    [
        ("Здравствуйте! Меня зовут Иванов Иван Иванович, прошу помочь.", "Иванов", "ru"),
        ("Я, Петров Сергей, прошу сделать перерасчёт.", "Петров", "ru"),
        ("ФИО: Сидорова Анна Петровна", "Сидорова", "ru"),
        ("Менің атым Айгүл Серікқызы, көмектесіңізші.", "Айгүл", "kk"),
        ("Hello, my name is John Smith and I have a question.", "Smith", "en"),
    ],
)
def test_introductions(text: str, secret: str, language: str) -> None:
    out = gone(text, secret, language=language)
    assert placeholders(language)["name"] in out


@pytest.mark.parametrize(
    ("text", "kept", "language"),
    [
        ("Уважаемая Айгүл Серікқызы!\nПерерасчёт выполнен.", "Уважаемая [имя]!", "ru"),
        ("Здравствуйте, Иван Петрович!", "Здравствуйте, [имя]!", "ru"),
        ("Құрметті Данияр!\nТөлем түсті.", "Құрметті [есімі]!", "kk"),
        ("Dear Mr. Brown,\nYour payment was received.", "Dear [name],", "en"),
    ],
)
def test_salutations_keep_their_word(text: str, kept: str, language: str) -> None:
    assert kept in redact(text, language)


@pytest.mark.parametrize(
    ("text", "secret", "language"),
    [
        ("Перерасчёт выполнен.\n\nС уважением,\nоператор Иванова А.", "Иванова", "ru"),
        ("Жду ответа.\nС уважением,\nСергей Петров", "Петров", "ru"),
        ("Ответ готов.\n\nОператор контакт-центра\nАнна Иванова\nтел. 46-12-34", "Анна", "ru"),
        ("Рахмет.\nҚұрметпен,\nАйгүл Серікқызы", "Серікқызы", "kk"),
        ("Thanks.\nBest regards,\nJohn Smith", "John", "en"),
        ("Прошу разобраться.\nИ.И. Иванов", "Иванов", "ru"),
    ],
)
def test_signatures(text: str, secret: str, language: str) -> None:
    gone(text, secret, language=language)


def test_names_the_case_knows_in_any_form() -> None:
    text = "Айгуль просит пересчитать. Ответ для Айгули Сериковой готов."
    out = gone(text, "Айгул", "Серико", names=("Айгуль Серикова",))
    assert out.count("[имя]") == 2


def test_ordinary_text_is_left_alone() -> None:
    for text, language in (
        ("В квитанции за октябрь неверные показания счётчика. Прошу исправить.", "ru"),
        ("Қараша айындағы төлем есепшотқа түспеді. Тексеріп беріңізші.", "kk"),
        ("My payment is not shown in my account. Please check.", "en"),
        ("ТОО «Севказэнергосбыт» и АО «СКРЭК» ответят в течение 3 рабочих дней.", "ru"),
    ):
        assert redact(text, language) == text


def test_everything_at_once() -> None:
    text = (
        "Здравствуйте! Меня зовут Иванов Иван, проживаю по адресу: г. Петропавловск, ул. Абая, д. 12, кв. 5. "
        "Лицевой счёт 1234567. Телефон +7 777 123 45 67, почта ivanov@mail.ru.\n"
        "В квитанции за октябрь неверные показания.\nС уважением,\nИванов И.И."
    )
    out = gone(text, "Иванов", "Абая", "1234567", "777", "ivanov@", "кв. 5")
    assert "В квитанции за октябрь неверные показания." in out
    assert out.count("[имя]") == 2


def test_unknown_language_uses_russian_placeholders() -> None:
    assert redact("ivan@mail.ru", "de") == "[e-mail]"
