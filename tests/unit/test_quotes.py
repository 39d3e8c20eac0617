"""Quote and signature stripping: the corpus's real replies, and Russian/Kazakh replies as clients
write them."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailrobot.mail.quotes import strip_reply
from mailrobot.mail.reply_headers import header_block

# What the author wrote, for each reply body in tests/data/corpus/reply-bodies/email-reply-parser.
CORPUS = {
    "correct_sig.txt": "this is an email with a correct -- signature.",
    "email_1_1.txt": "Hi folks\n\nWhat is the best way to clear a Riak bucket of all key, values after\n"
    "running a test?\nI am currently using the Java HTTP API.\n\n-Abhishek Kona",
    "email_1_3.txt": "Oh thanks.\n\nHaving the function would be great.\n\n-Abhishek Kona",
    "email_1_4.txt": "Awesome! I haven't had another problem with it.",
    "email_1_6.txt": "I get proper rendering as well.\n\nSent from a magnificent torch of pixels",
    "email_1_7.txt": ":+1:",
    "email_1_8.txt": "I will reply under this one\n\nand under this.",
    "email_2_1.txt": "Outlook with a reply",
    "email_2_2.txt": "Outlook with a reply directly above line",
    "email_2_3.txt": "Outlook with a reply above headers using unusual format",
    "email_BlackBerry.txt": "Here is another email",
    "email_gmail.txt": "This is a test for inbox replying to a github message.",
    "email_headers_no_delimiter.txt": "And another reply!",
    "email_iPhone.txt": "Here is another email",
    "email_multi_word_sent_from_my_mobile_device.txt": "Here is another email",
    "email_sent_from_my_not_signature.txt": "Here is another email\n\n"
    "Sent from my desk, is much easier then my mobile phone.",
    "email_sig_delimiter_in_middle_of_line.txt": "Hi there!\n\nStuff happened.\n\n"
    "And here is a fix -- this is not a signature.\n\nkthxbai",
    "pathological.txt": "I think you're onto something. I will try to fix the problem as soon as I\n"
    "get back to a computer.",
}


@pytest.fixture(scope="module")
def replies(corpus_dir: Path) -> Path:
    return corpus_dir / "reply-bodies" / "email-reply-parser"


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_corpus_replies_keep_only_the_authors_words(replies: Path, name: str) -> None:
    assert strip_reply((replies / name).read_text(encoding="utf-8")) == CORPUS[name]


def test_every_corpus_reply_is_handled(replies: Path) -> None:
    for path in sorted(replies.glob("*.txt")):
        text = strip_reply(path.read_text(encoding="utf-8"))
        assert text.strip(), path.name
        assert ">" not in text.split("\n")[0], path.name


def test_corpus_inline_answers_and_a_greeting_above_the_header_survive(replies: Path) -> None:
    text = strip_reply((replies / "email_1_2.txt").read_text(encoding="utf-8"))
    assert text.startswith("Hi,\n")
    assert "You can list the keys for the bucket" in text
    assert "Abhishek Kona wrote" not in text and "riak-users mailing list" not in text
    bullets = strip_reply((replies / "email_bullets.txt").read_text(encoding="utf-8"))
    assert bullets.endswith("   - how about bullets\n   - and another")
    assert "Joe Smith" not in bullets


@pytest.mark.parametrize("name", ["greedy_on.txt", "email_partial_quote_header.txt"])
def test_a_sentence_starting_with_on_is_not_a_reply_header(replies: Path, name: str) -> None:
    text = strip_reply((replies / name).read_text(encoding="utf-8"))
    assert text.startswith("On your remote host you can run:")
    assert "telnet 127.0.0.1 52698" in text and "George Plymale" not in text


ANSWER = (
    "Добрый день!\n\nПерерасчёт выполнен, сумма будет учтена в квитанции за ноябрь.\n\nС уважением,\nАнна"
)
ROBOT = (
    "Новое обращение № SKES-2026-000001.\n\nОт: Айгуль <aigul@mail.ru>\nТема: Счёт\n\n"
    "----- Текст обращения -----\nПрошу пересчитать.\n----- Конец текста обращения -----"
)
QUOTED = "\n".join("> " + line for line in ROBOT.split("\n"))

# Replies to the robot's forward, as the clients our operators and consumers use write them.
RUSSIAN_AND_KAZAKH = {
    "thunderbird-ru": f"{ANSWER}\n\n20.11.2026 10:05, Контакт-центр СКЭС пишет:\n{QUOTED}\n",
    "thunderbird-ru-address": f"{ANSWER}\n\n20.11.2026 10:05, Контакт-центр <feedback@skes.kz> пишет:\n"
    f"{QUOTED}",
    "thunderbird-kk": f"{ANSWER}\n\n20.11.2026 10:05, Байланыс орталығы жазды:\n{QUOTED}",
    "apple-mail-ru": f"{ANSWER}\n\n"
    f"> 20 нояб. 2026 г., в 10:05, Контакт-центр <feedback@skes.kz> написал(а):\n"
    f">\n{QUOTED}",
    "apple-mail-ru-unquoted-header": f"{ANSWER}\n\n20 нояб. 2026 г., в 10:05, Контакт-центр "
    f"<feedback@skes.kz> написал(а):\n\n{QUOTED}",
    "gmail-ru": f"{ANSWER}\n\nпт, 20 нояб. 2026 г. в 10:05, Контакт-центр <feedback@skes.kz>:\n\n{QUOTED}",
    "gmail-ru-wrapped": f"{ANSWER}\n\nпт, 20 нояб. 2026 г. в 10:05, Контакт-центр СКЭС <\n"
    f"feedback+SKES-2026-000001.abc@skes.kz>:\n\n{QUOTED}",
    "yandex": f'{ANSWER}\n\n20.11.2026, 10:05, "Контакт-центр" <feedback@skes.kz>:\n{QUOTED}',
    "mail-ru": f"{ANSWER}\n\n\nПятница, 20 ноября 2026, 10:05 +05:00 от Контакт-центр "
    f"<feedback@skes.kz>:\n\n{QUOTED}",
    "outlook-ru": f"{ANSWER}\n\n________________________________\nОт: Контакт-центр <feedback@skes.kz>\n"
    f"Отправлено: 20 ноября 2026 г. 10:05\nКому: Иванова Анна\nТема: [SKES-2026-000001] Счёт\n\n{ROBOT}",
    "outlook-ru-new": f"{ANSWER}\n\nОт: Контакт-центр <feedback@skes.kz>\n"
    f"Дата: пятница, 20 ноября 2026 г. 10:05\n"
    f"Кому: Иванова Анна <op1@skes.kz>\nКопия: head@skes.kz\nТема: [SKES-2026-000001] Счёт\n\n{ROBOT}",
    "outlook-ru-original-message": f"{ANSWER}\n\n-----Исходное сообщение-----\nОт: feedback@skes.kz\n"
    f"Отправлено: 20 ноября 2026 г. 10:05\nКому: op1@skes.kz\nТема: Счёт\n\n{ROBOT}",
    "outlook-en-original-message": f"{ANSWER}\n\n-----Original Message-----\nFrom: feedback@skes.kz\n"
    f"Sent: Friday, November 20, 2026 10:05 AM\nTo: op1@skes.kz\nSubject: Bill\n\n{ROBOT}",
    "outlook-en-bold": f"{ANSWER}\n\n*From:* Contact center [mailto:feedback@skes.kz]\n"
    f"*Sent:* Friday, November 20, 2026 10:05 AM\n*To:* op1@skes.kz\n*Subject:* Bill\n\n{ROBOT}",
    "outlook-kk": f"{ANSWER}\n\nКімнен: Байланыс орталығы <feedback@skes.kz>\n"
    f"Жіберілді: 20 қараша 2026 ж. 10:05\n"
    f"Кімге: Иванова Анна\nТақырып: [SKES-2026-000001] Есепшот\n\n{ROBOT}",
    "outlook-kk-sender": f"{ANSWER}\n\nЖіберуші: Байланыс орталығы <feedback@skes.kz>\n"
    f"Күні: 20.11.2026 10:05\n"
    f"Алушы: op1@skes.kz\nТақырыбы: Есепшот\n\n{ROBOT}",
    "html-blockquote": f"{ANSWER}\n\n20.11.2026 10:05, Контакт-центр пишет:\n\n{QUOTED}",
    "iphone-ru": f"{ANSWER}\n\nОтправлено с iPhone\n\n> 20 нояб. 2026 г., в 10:05, Контакт-центр "
    f"<feedback@skes.kz> написал(а):\n{QUOTED}",
    "mailru-mobile": f"{ANSWER}\n\n--\nОтправлено из мобильной Почты Mail.ru\n\n\nПятница, 20 ноября 2026, "
    f"10:05 +05:00 от Контакт-центр <feedback@skes.kz>:\n{QUOTED}",
    "yandex-mobile": f"{ANSWER}\n\nОтправлено из мобильной Яндекс Почты\n\n"
    f'20.11.2026, 10:05, "Контакт-центр" <feedback@skes.kz>:\n{QUOTED}',
    "iphone-kk": f"{ANSWER}\n\niPhone құрылғысынан жіберілді\n\n{QUOTED}",
    "signature-delimiter": f"{ANSWER}\n\n-- \nИванова Анна, оператор\nop1@skes.kz\nтел. 8 7152 00-00-00\n\n"
    f"20.11.2026 10:05, Контакт-центр пишет:\n{QUOTED}",
    "bottom-posting": f"20.11.2026 10:05, Контакт-центр пишет:\n{QUOTED}\n\n{ANSWER}",
}


@pytest.mark.parametrize("client", sorted(RUSSIAN_AND_KAZAKH))
def test_russian_and_kazakh_replies_lose_the_robots_forward(client: str) -> None:
    assert strip_reply(RUSSIAN_AND_KAZAKH[client]) == ANSWER


def test_inline_answers_between_quoted_lines_are_kept() -> None:
    text = (
        "20.11.2026 10:05, Айгуль пишет:\n> Сколько я должна за октябрь?\n\n4 500 тенге.\n\n"
        "> А за ноябрь?\n\nКвитанция за ноябрь будет 1 декабря.\n"
    )
    assert strip_reply(text) == "4 500 тенге.\n\nКвитанция за ноябрь будет 1 декабря."


def test_a_consumers_own_text_with_fields_and_dates_is_kept() -> None:
    text = (
        "Здравствуйте!\nТема: перерасчёт\nЛицевой счёт: 123456\n"
        "Звонила вам 20.11.2026 в 10:05, никто не ответил.\nАдрес: ул. Абая 1, кв. 5"
    )
    assert strip_reply(text) == text


def test_sent_from_a_phone_in_mid_text_is_not_a_signature() -> None:
    text = "Отправлено с iPhone, поэтому коротко: света нет с утра.\n\nЖдём."
    assert strip_reply(text) == text


def test_header_block_reads_the_fields_of_each_client() -> None:
    lines = [
        "Тема: \tСчёт",
        "Дата: \t20.11.2026 10:00",
        "От: \tАйгуль <aigul@mail.ru>",
        "Кому: \tfeedback@skes.kz",
    ]
    block = header_block(lines, 0)
    assert block is not None and block.end == 4
    assert block.get("from") == "Айгуль <aigul@mail.ru>" and block.get("subject") == "Счёт"
    assert header_block(["От: Айгуль", "Здравствуйте"], 0) is None  # one field is not a block


OUTLOOK_HTML = """<html><body><div>Добрый день!<br><br>Перерасчёт выполнен.</div><div><br></div>
<div style="border:none;border-top:solid #E1E1E1 1.0pt;padding:3.0pt 0cm 0cm 0cm">
<p class="MsoNormal"><b>От:</b> Контакт-центр &lt;feedback+SKES-2026-000001.abc@skes.kz&gt;<br>
<b>Отправлено:</b> 20 ноября 2026 г. 10:05<br><b>Кому:</b> Иванова Анна &lt;op1@skes.kz&gt;<br>
<b>Тема:</b> [SKES-2026-000001] Новое обращение: Счёт</p></div>
<p>Новое обращение № SKES-2026-000001.</p><p>----- Текст обращения -----</p></body></html>"""
GMAIL_HTML = """<div dir="ltr">Добрый день!<br><br>Перерасчёт выполнен.</div><br><div class="gmail_quote">
<div dir="ltr" class="gmail_attr">пт, 20 нояб. 2026 г. в 10:05, Контакт-центр &lt;<a href="mailto:f@skes.kz">
f@skes.kz</a>&gt;:<br></div><blockquote class="gmail_quote">Новое обращение № SKES-2026-000001.<br>Текст
</blockquote></div>"""


@pytest.mark.parametrize("html", [OUTLOOK_HTML, GMAIL_HTML], ids=["outlook", "gmail"])
def test_html_only_replies_after_the_parser_turned_them_into_text(html: str) -> None:
    from email.message import EmailMessage

    from mailrobot.mail.parse import parse_message

    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "op1@skes.kz", "feedback@skes.kz", "RE: [SKES-2026-000001]"
    msg.set_content(html, subtype="html")
    assert strip_reply(parse_message(msg.as_bytes()).text) == "Добрый день!\n\nПерерасчёт выполнен."
