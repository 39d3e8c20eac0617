"""detect_language on short consumer mails as they are written in Kazakhstan."""

from __future__ import annotations

import pytest

from mailrobot.mail.language import detect_language

RUSSIAN = [
    "Нет света\nДобрый день! В доме по ул. Абая 150 с утра нет электричества. Когда дадут?",
    "Перерасчёт\nПрошу сделать перерасчёт за декабрь, счётчик заменили 5 числа, показания 012345.",
    "Здравствуйте, пришла квитанция на 48 000 тенге, это ошибка, у нас однокомнатная квартира.",
    "Жалоба\nТретий раз за неделю отключают воду без предупреждения!!! Сколько можно?",
    # Kazakh names of places and companies inside Russian text stay Russian
    "Адрес: г. Алматы, мкр. Әуезов, дом 12, кв. 5. Не работает домофон и нет отопления второй день.",
    "Прошу проверить начисление по лицевому счёту 1002003, ЖК «Көктөбе», подъезд 2.",
    "СРОЧНО! НЕТ СВЕТА ВО ВСЁМ ПОДЪЕЗДЕ, ЛИФТ СТОИТ, ЛЮДИ ЗАСТРЯЛИ",
    "Спасибо",
    # Russian reply over quoted English
    "Спасибо, вопрос решён.\n\n> On Mon, 13 Jan 2025 at 10:00, Support <support@energo.kz> wrote:\n"
    "> Your request has been registered under number 2025-17 and will be answered within 15 working days.\n"
    "> Please do not reply to this automatic message unless you have new information.",
    # links and addresses are Latin in every language
    "Оплатил через https://kaspi.kz/pay/utility?account=1002003&period=2025-01 но платёж не отразился, "
    "чек отправил на aigul.serikova@mail.ru",
    "Re: [2025-17] Нет света\nСвет так и не дали.",
    "Hello, добрый день, please проверьте my счёт",  # mixed, but mostly Cyrillic
]

KAZAKH = [
    "Жарық жоқ\nСәлеметсіз бе! Біздің үйде үш күн бойы жарық жоқ. Қашан қосасыздар?",
    "Есептегіш көрсеткішін жібердім, бірақ шот дұрыс емес. Қайта есептеуді сұраймын.",
    "Ыстық су жоқ",
    "Рахмет, мәселе шешілді.",
    # typed on a Russian keyboard: few or none of the Kazakh letters
    "Салеметсиз бе, бизде уш кун бойы жарык жок. Тез арада шешулерiнiзди сураймын.",
    "Сәлеметсіз бе, бизде жарык жок",
    "Салеметсиз бе! Шот бойынша сурак бар, толем отпей тур.",
    # the Latin i for і, inside Cyrillic words
    "Бiздiн уйде су жок, кешке дейiн бермеди",
    # Kazakh complaint quoting our Russian notice
    "Жауап әлі жоқ, өтініш тіркелгеніне екі апта болды.\n\n"
    "> Ваше обращение зарегистрировано под номером 2025-17.",
]

ENGLISH = [
    "Power outage\nHello, there has been no electricity in our building since this morning. Please help.",
    "Wrong bill\nMy bill for January is 48,000 KZT, three times the usual amount. Meter reading 012345.",
    "Thanks",
    # a stray Russian word in English: still English
    "Please check the water meter at Abay street 150, apt 12. The plumber Иван said it was broken.",
    # English reply over quoted Russian
    "Still no answer, please help.\n> Ваше обращение зарегистрировано под номером 2025-17.",
]


@pytest.mark.parametrize("text", RUSSIAN)
def test_russian(text: str) -> None:
    assert detect_language(text, default="en") == "ru"


@pytest.mark.parametrize("text", KAZAKH)
def test_kazakh(text: str) -> None:
    assert detect_language(text) == "kk"


@pytest.mark.parametrize("text", ENGLISH)
def test_english(text: str) -> None:
    assert detect_language(text) == "en"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   \n\t",
        "12345 / 2025-01-13 +7 777 123 45 67",
        "?!",
        "https://kaspi.kz/pay aigul@mail.ru",
        "代开各地增值税发票",
        # mostly English with a Russian word: neither clearly
        "Hello, the meter reading for January is wrong, see the attached photo. Спасибо",
    ],
)
def test_unclear_gives_the_default(text: str) -> None:
    assert detect_language(text, default="kk") == "kk"
    assert detect_language(text) == "ru"


def test_ukrainian_i_is_not_kazakh() -> None:
    assert (
        detect_language("Добрий день, у нашому будинку немає світла вже третій день, їдемо до сусідів")
        == "ru"
    )


def test_a_long_text_is_judged_on_a_bounded_sample() -> None:
    # A 600,000-character mail costs what its beginning costs: the tail cannot change the verdict.
    text = "Добрый день! В доме нет света. " * 20_000
    tail = " Сәлеметсіз бе, жарық жоқ, үйде жарық өшті." * 20_000
    assert detect_language(text) == detect_language(text + tail) == "ru"
