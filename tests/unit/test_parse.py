"""parse_message and the text helpers behind it, on small hand-made messages."""

from __future__ import annotations

import base64
import contextlib
import random
from datetime import UTC, datetime

import pytest

from mailrobot.mail.parse import Attachment, Parsed, Unparseable, parse_message
from mailrobot.mail.text import clean, decode_header_value, decode_text, header_safe, html_to_text
from tests.support.factories import assert_all_clean


def mail(*header_lines: str, body: bytes | str = b"Hello\r\n") -> bytes:
    head = "\r\n".join(header_lines).encode("utf-8")
    if isinstance(body, str):
        body = body.encode("utf-8")
    return head + b"\r\n\r\n" + body


def parse(raw: bytes, **kwargs: int) -> Parsed:
    parsed = parse_message(raw, **kwargs)
    assert_all_clean(parsed)
    return parsed


# --- headers --------------------------------------------------------------------------------------


def test_plain_message_fields() -> None:
    parsed = parse(
        mail(
            "Return-Path: <Aigul@Mail.RU>",
            "Delivered-To: feedback@energo.kz",
            "X-Original-To: Info@Energo.KZ",
            "From: =?UTF-8?B?0JDQudCz0YPQu9GMINCh0LXRgNC40LrQvtCy0LA=?= <Aigul@Mail.RU>",
            "To: Feedback <Feedback@Energo.kz>, other@example.com",
            "Cc: boss@energo.kz",
            "Reply-To: aigul.home@mail.ru",
            "Subject: =?UTF-8?B?0J3QtdGCINGB0LLQtdGC0LA=?=",
            "Date: Mon, 13 Jan 2025 09:30:00 +0500",
            "Message-ID: <abc.123@mail.ru>",
            "In-Reply-To: <mr.2025-1.notice.x@energo.kz>",
            "References: <root@x.kz>\r\n <mr.2025-1.notice.x@energo.kz>",
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=utf-8",
            "Content-Transfer-Encoding: 8bit",
            body="Здравствуйте! В доме нет света.\r\n",
        )
    )
    assert parsed.from_addr == "aigul@mail.ru"
    assert parsed.from_name == "Айгуль Серикова"
    assert parsed.to == ("feedback@energo.kz", "other@example.com")
    assert parsed.cc == ("boss@energo.kz",)
    assert parsed.reply_to == ("aigul.home@mail.ru",)
    assert parsed.delivered_to == ("feedback@energo.kz", "info@energo.kz")
    assert parsed.return_path == "aigul@mail.ru"
    assert parsed.subject == "Нет света"
    assert parsed.date == datetime(2025, 1, 13, 4, 30, tzinfo=UTC)
    assert parsed.date.tzinfo is not None
    assert parsed.message_id == "abc.123@mail.ru"
    assert parsed.in_reply_to == ("mr.2025-1.notice.x@energo.kz",)
    assert parsed.references == ("root@x.kz", "mr.2025-1.notice.x@energo.kz")
    assert parsed.text == "Здравствуйте! В доме нет света."
    assert parsed.html is None
    assert parsed.content_type == "text/plain"
    assert parsed.report_type is None
    assert parsed.attachments == () and parsed.attached_messages == ()


def test_missing_and_broken_sender() -> None:
    assert parse(mail("Subject: x")).from_addr == ""
    broken = parse(mail('From: "', "Subject: x"))
    assert broken.from_addr == "" and broken.from_name == ""
    assert parse(mail("From: undisclosed-recipients:;", "Subject: x")).from_addr == ""


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("Return-Path: <>", ""),
        ("Return-Path: < >", ""),
        ("Return-Path: <Bounce@X.kz>", "bounce@x.kz"),
    ],
)
def test_return_path(header: str | None, expected: str | None) -> None:
    lines = ["From: a@b.kz"] + ([header] if header else [])
    assert parse(mail(*lines)).return_path == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("<a@b>", "a@b"),
        ("  <a.b.c@host.kz> (comment)", "a.b.c@host.kz"),
        ("bare-id@host.kz", "bare-id@host.kz"),  # no brackets: accepted, with a defect
        ("<>", None),
        ("garbage", None),
        ("", None),
    ],
)
def test_message_id_is_read_raw(value: str, expected: str | None) -> None:
    assert parse(mail("From: a@b.kz", f"Message-ID: {value}")).message_id == expected


def test_reference_lists_tolerate_junk_and_repeats() -> None:
    parsed = parse(
        mail(
            "From: a@b.kz",
            "In-Reply-To: <one@x> (from Ivan's mail of 12 Jan)",
            "References: <root@x> junk <one@x>\t<one@x> <not closed",
        )
    )
    assert parsed.in_reply_to == ("one@x",)
    assert parsed.references == ("root@x", "one@x")


def test_classification_headers_lowercased_joined_and_clean() -> None:
    parsed = parse(
        mail(
            "From: a@b.kz",
            "AUTO-SUBMITTED: auto-replied",
            "X-Loop: one@x.kz",
            "X-Loop: two@x.kz",
            "List-Id: =?utf-8?q?=D0=A1=D0=BF=D0=B8=D1=81=D0=BE=D0=BA?= <list.x.kz>",
            "X-Unrelated: dropped",
        )
    )
    assert parsed.headers["auto-submitted"] == "auto-replied"
    assert parsed.headers["x-loop"] == "one@x.kz, two@x.kz"
    assert parsed.headers["list-id"] == "Список <list.x.kz>"
    assert "x-unrelated" not in parsed.headers


@pytest.mark.parametrize(
    ("raw_subject", "expected"),
    [
        (b"=?windows-1251?B?zeXyIPHi5fLg?=", "Нет света"),
        (b"=?koi8-r?Q?=EE=C5=D4_=D3=D7=C5=D4=C1?=", "Нет света"),
        # one character split over two encoded words (a common mailer bug): decoded together
        (b"=?UTF-8?B?0J3Q?= =?UTF-8?B?tdGC?=", "Нет"),
        (b"=?UTF-8?B?0J3QtdGC?=  =?UTF-8?B?INGB0LLQtdGC0LA=?=", "Нет света"),
        (b"=?utf-8?B?0J3QtdGC?= and =?utf-8?Q?=D1=81=D0=B2=D0=B5=D1=82=D0=B0?=", "Нет and света"),
        (b"=?UTF-8?B?0J3QtdGCINGB0LLQtdGC0LA?=", "Нет света"),  # padding missing
        (b"=?x-unknown?Q?=CD=E5=F2?=", "Нет"),  # unknown charset: guessed
        (b"=?utf-8?Q?no end", "=?utf-8?Q?no end"),  # not an encoded word: left as written
        ("Нет света".encode("cp1251"), "Нет света"),  # raw 8-bit windows-1251
        ("Нет света".encode(), "Нет света"),  # raw 8-bit UTF-8
        ("Жарық жоқ".encode(), "Жарық жоқ"),
        (b"Re: =?utf-8?B?0J3QtdGC?=\r\n =?utf-8?B?INGB0LLQtdGC0LA=?=", "Re: Нет света"),
    ],
)
def test_subject_decoding(raw_subject: bytes, expected: str) -> None:
    raw = b"From: a@b.kz\r\nSubject: " + raw_subject + b"\r\n\r\nbody\r\n"
    assert parse(raw).subject == expected


def test_raw_8bit_display_name_and_quoted_encoded_words() -> None:
    raw = (
        b'From: "=?utf-8?B?0JDQudCz0YPQu9GM?=" <a@b.kz>\r\nTo: '
        + "Ерлан".encode("cp1251")
        + b" <e@b.kz>\r\n\r\nx"
    )
    parsed = parse(raw)
    assert parsed.from_name == "Айгуль"
    assert parsed.to == ("e@b.kz",)
    raw = b"From: " + "Ерлан Ахметов".encode("cp1251") + b" <e@b.kz>\r\n\r\nx"
    assert parse(raw).from_name == "Ерлан Ахметов"


# --- bodies ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("charset", "encoding"),
    [("windows-1251", "cp1251"), ("koi8-r", "koi8-r"), ("utf-8", "utf-8"), ("win-1251", "cp1251")],
)
def test_cyrillic_bodies(charset: str, encoding: str) -> None:
    text = "Прошу пересчитать счёт за электроэнергию: счётчик номер 12345 заменён 3 марта."
    raw = mail("From: a@b.kz", f"Content-Type: text/plain; charset={charset}", body=text.encode(encoding))
    assert parse(raw).text == text


@pytest.mark.parametrize("encoding", ["cp1251", "koi8-r", "utf-8"])
def test_undeclared_or_wrong_charset_is_guessed(encoding: str) -> None:
    text = "Добрый день. Третий день нет горячей воды в доме по улице Абая, прошу разобраться."
    undeclared = parse(mail("From: a@b.kz", body=text.encode(encoding)))
    assert undeclared.text == text
    assert any("charset" in d for d in undeclared.defects)
    wrong = "koi8-r" if encoding == "cp1251" else "windows-1251"
    mislabelled = mail(
        "From: a@b.kz", f"Content-Type: text/plain; charset={wrong}", body=text.encode(encoding)
    )
    assert parse(mislabelled).text == text


def test_quoted_printable_and_base64_parts() -> None:
    body = (
        "--b\r\nContent-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
        "=D0=9D=D0=B5=D1=82 =D1=81=D0=B2=D0=B5=D1=82=D0=B0=\r\n"
        ", =D0=BF=D0=BE=D0=BC=D0=BE=D0=B3=D0=B8=D1=82=D0=B5\r\n"
        "--b\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + base64.encodebytes("<p>Нет света, помогите</p>".encode()).decode()
        + "--b--\r\n"
    )
    parsed = parse(mail("From: a@b.kz", 'Content-Type: multipart/alternative; boundary="b"', body=body))
    assert parsed.text == "Нет света, помогите"
    assert parsed.html == "<p>Нет света, помогите</p>"


def test_html_only_mail_gets_readable_text() -> None:
    html = (
        "<html><head><style>p {color: red}</style><title>t</title></head><body>"
        "<p>Здравствуйте,&nbsp;у&nbsp;нас <b>нет</b> света &amp; воды.</p><div>Улица Абая, 10</div>"
        "<script>alert(1)</script>"
        "<div>Ср, 15 янв. 2025 г. в 10:00, Энергосбыт &lt;feedback@energo.kz&gt;:</div>"
        "<blockquote><div>Ваше обращение зарегистрировано</div><blockquote>старое</blockquote></blockquote>"
        "</body></html>"
    )
    parsed = parse(mail("From: a@b.kz", "Content-Type: text/html; charset=utf-8", body=html))
    assert parsed.html == html
    assert parsed.text == (
        "Здравствуйте, у нас нет света & воды.\nУлица Абая, 10\n"
        "Ср, 15 янв. 2025 г. в 10:00, Энергосбыт <feedback@energo.kz>:\n"
        "> Ваше обращение зарегистрировано\n> > старое"
    )


def test_html_line_breaks_like_webmail_writes_them() -> None:
    html = (
        "<div>Добрый день!</div><div><br></div><div>Счёт&nbsp;неверный.<br>Лицевой счёт 123</div>"
        "<ul><li>раз<li>два</ul>"
    )
    assert html_to_text(html) == "Добрый день!\n\nСчёт неверный.\nЛицевой счёт 123\n- раз\n- два"


def test_empty_plain_alternative_falls_back_to_html() -> None:
    body = (
        "--b\r\nContent-Type: text/plain\r\n\r\n\r\n"
        "--b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>Счёт</p>\r\n--b--\r\n"
    )
    assert (
        parse(mail("From: a@b.kz", "Content-Type: multipart/alternative; boundary=b", body=body)).text
        == "Счёт"
    )


def test_control_characters_and_nul_are_removed() -> None:
    parsed = parse(mail("From: a@b.kz", "Subject: a\x01b\x7f", body=b"line\x00one\r\nline\x1btwo\r\n"))
    assert parsed.subject == "ab"
    assert parsed.text == "lineone\nlinetwo"


# --- attachments and attached messages ------------------------------------------------------------

_PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


def _attachment_mail(*parts: str) -> bytes:
    body = "".join(f"--b\r\n{p}\r\n" for p in parts) + "--b--\r\n"
    return mail("From: a@b.kz", "Subject: files", 'Content-Type: multipart/mixed; boundary="b"', body=body)


def test_attachments_names_sizes_and_limit() -> None:
    png = base64.encodebytes(_PNG).decode()
    raw = _attachment_mail(
        "Content-Type: text/plain; charset=utf-8\r\n\r\nСм. вложение",
        "Content-Type: application/pdf\r\nContent-Disposition: attachment;"
        " filename*=utf-8''%D0%A1%D1%87%D1%91%D1%82%20%E2%84%96%201.pdf\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\n" + base64.encodebytes(b"%PDF-1.4 tiny").decode(),
        'Content-Type: image/png; name="=?UTF-8?B?0YTQvtGC0L4ucG5n?="\r\n'
        "Content-Transfer-Encoding: base64\r\n\r\n"
        + png,
        "Content-Type: image/png\r\nContent-ID: <image001.png@01D9>\r\nContent-Disposition: inline\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\n" + png,
        "Content-Type: application/octet-stream\r\n"
        'Content-Disposition: attachment; filename="C:\\\\fakepath\\\\x.bin"'
        "\r\n\r\nabc",
    )
    parsed = parse(raw, max_attachment_bytes=100)
    assert parsed.text == "См. вложение"
    assert parsed.attachments == (
        Attachment("Счёт № 1.pdf", "application/pdf", 13, b"%PDF-1.4 tiny"),
        Attachment("фото.png", "image/png", len(_PNG), None),  # over the limit: recorded, not kept
        Attachment("image001.png", "image/png", len(_PNG), None),  # inline image counts
        # a path: its separators replaced, nothing else changed (issue 11.1)
        Attachment("C:_fakepath_x.bin", "application/octet-stream", 3, b"abc"),
    )
    assert any("over the limit" in d for d in parsed.defects)


def test_raw_8bit_attachment_filename() -> None:
    raw = (
        b'From: a@b.kz\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
        b'Content-Type: application/octet-stream; name="' + "Акт сверки.xlsx".encode("cp1251") + b'"\r\n'
        b"Content-Disposition: attachment\r\n\r\nxx\r\n--b--\r\n"
    )
    assert parse(raw).attachments[0].filename == "Акт сверки.xlsx"


def test_forwarded_message_is_kept_whole_not_mixed_into_the_body() -> None:
    inner = mail(
        "From: Neighbour <n@x.kz>",
        "Subject: inner",
        'Content-Type: multipart/mixed; boundary="i"',
        body="--i\r\nContent-Type: text/plain\r\n\r\nInner text\r\n--i\r\nContent-Type: application/pdf\r\n"
        "Content-Disposition: attachment; filename=inner.pdf\r\n\r\n%PDF\r\n--i--\r\n",
    ).decode()
    raw = _attachment_mail(
        "Content-Type: text/plain; charset=utf-8\r\n\r\nПересылаю письмо соседа",
        "Content-Type: message/rfc822\r\nContent-Disposition: attachment; filename=fwd.eml\r\n\r\n" + inner,
    )
    parsed = parse(raw)
    assert parsed.text == "Пересылаю письмо соседа"
    assert parsed.attachments == ()  # inner.pdf is not lifted
    assert len(parsed.attached_messages) == 1
    again = parse(parsed.attached_messages[0])
    assert (again.from_addr, again.subject, again.text) == ("n@x.kz", "inner", "Inner text")
    assert again.attachments[0].filename == "inner.pdf"
    assert parsed.part_types == ("multipart/mixed", "text/plain", "message/rfc822")


def test_delivery_status_report() -> None:
    raw = mail(
        "From: Mail Delivery System <MAILER-DAEMON@mx.energo.kz>",
        "Subject: Undelivered Mail Returned to Sender",
        'Content-Type: multipart/report; report-type="Delivery-Status"; boundary="r"',
        body="--r\r\nContent-Type: text/plain\r\n\r\nI'm sorry to have to inform you\r\n"
        "--r\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.energo.kz\r\n\r\n"
        "Final-Recipient: rfc822; nobody@mail.ru\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        "--r\r\nContent-Type: message/rfc822\r\n\r\nFrom: feedback@energo.kz\r\nSubject: notice\r\n\r\nhi\r\n"
        "--r--\r\n",
    )
    parsed = parse(raw)
    assert parsed.content_type == "multipart/report"
    assert parsed.report_type == "delivery-status"
    assert parsed.text == "I'm sorry to have to inform you"
    assert parsed.delivery_status is not None
    assert "Final-Recipient: rfc822; nobody@mail.ru\nAction: failed\nStatus: 5.1.1" in parsed.delivery_status
    assert len(parsed.attached_messages) == 1
    assert "message/delivery-status" in parsed.part_types


# --- bad input ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"  \r\n\r\n \t",
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(range(256)) * 20,  # an Outlook .msg, not a mail
        b"just some words, no header at all\r\nand a second line",
    ],
)
def test_unparseable(raw: bytes) -> None:
    with pytest.raises(Unparseable):
        parse_message(raw)


def test_mail_parser_failure_falls_back_to_the_stdlib() -> None:
    # mail-parser 4.8 raises HeaderParseError on a one-character base64 encoded word in From
    parsed = parse(
        mail("From: =?utf-8?B?a?= <A@B.kz>", "To: x@y.kz", "Date: Mon, 13 Jan 2025 09:30:00 +0500")
    )
    assert (parsed.from_addr, parsed.to, parsed.text) == ("a@b.kz", ("x@y.kz",), "Hello")
    assert parsed.date == datetime(2025, 1, 13, 4, 30, tzinfo=UTC)
    assert any("mail-parser failed" in d for d in parsed.defects)


def test_leading_blank_line_is_forgiven() -> None:
    parsed = parse(b"\r\n" + mail("From: a@b.kz", "Subject: hi"))
    assert (parsed.from_addr, parsed.subject) == ("a@b.kz", "hi")
    assert any("blank lines" in d for d in parsed.defects)


def _nested(levels: int) -> bytes:
    body = b"Content-Type: text/plain\r\n\r\ninnermost\r\n"
    for i in range(levels):
        body = (
            f'Content-Type: multipart/mixed; boundary="b{i}"\r\n\r\n--b{i}\r\n'.encode()
            + body
            + f"\r\n--b{i}--\r\n".encode()
        )
    return b"From: Deep <deep@x.kz>\r\nSubject: deep\r\nMIME-Version: 1.0\r\n" + body


def test_deep_nesting_beyond_the_walk_cap() -> None:
    parsed = parse(_nested(60))
    assert parsed.from_addr == "deep@x.kz"
    assert parsed.text == ""
    assert any("nesting deeper than" in d for d in parsed.defects)


def test_nesting_that_defeats_the_stdlib_keeps_the_headers() -> None:
    parsed = parse(_nested(3000))
    assert (parsed.from_addr, parsed.subject) == ("deep@x.kz", "deep")
    assert any("nested too deeply" in d for d in parsed.defects)


def test_huge_header_section_is_cut() -> None:
    raw = b"From: a@b.kz\r\nSubject: big\r\nX-Junk: " + b"x" * (3 << 20) + b"\r\n\r\nbody\r\n"
    parsed = parse(raw)
    assert (parsed.from_addr, parsed.subject, parsed.text) == ("a@b.kz", "big", "body")
    assert any("header section over" in d for d in parsed.defects)


def test_many_headers_and_long_subject() -> None:
    raw = (
        b"From: a@b.kz\r\n"
        + b"".join(b"X-H%d: v\r\n" % i for i in range(50_000))
        + b"Subject: "
        + b"=?utf-8?q?=D0=96?= " * 20_000
        + b"\r\n\r\nbody"
    )
    parsed = parse(raw)
    assert len(parsed.subject) == 1000 and parsed.subject.endswith("…")
    assert parsed.text == "body"


def test_random_damage_never_raises_anything_but_unparseable() -> None:
    rng = random.Random(20250113)
    seeds = [
        _attachment_mail("Content-Type: text/plain; charset=koi8-r\r\n\r\n" + "x" * 50),
        mail(
            "From: =?utf-8?B?0JDQudCz?= <a@b.kz>",
            "Subject: =?koi8-r?B?7sXU?=",
            body="Нет света".encode("cp1251"),
        ),
        _nested(8),
    ]
    for _ in range(400):
        raw = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 20)):
            if not raw:
                break
            position = rng.randrange(len(raw))
            action = rng.random()
            if action < 0.4:
                raw[position] = rng.randrange(256)
            elif action < 0.7:
                del raw[position : position + rng.randint(1, 40)]
            else:
                raw[position:position] = rng.choice(
                    [b"\r\n", b"--b\r\n", b"=?", b"\x00", b"<", b'"', b"\xff\xfe"]
                )
        with contextlib.suppress(Unparseable):
            parse(bytes(raw))
    for _ in range(100):
        garbage = bytes(rng.randrange(256) for _ in range(rng.randint(0, 600)))
        with contextlib.suppress(Unparseable):
            parse(garbage)


# --- text helpers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", ""),
        ("a\r\nb\rc", "a\nb\nc"),
        ("tab\tkept\x00\x07\x1b\x7f\x85", "tab\tkept"),
        ("Ingo L\udcfctkebohle", "Ingo Lьtkebohle"),  # a lone 8-bit byte: windows-1251, as our mail mostly is
        ("\udcd0\udca1\udcd1\udc87\udcd0\udcb5\udcd1\udc82", "Счет"),  # escaped UTF-8
        ("\udccd\udce5\udcf2", "Нет"),  # escaped windows-1251
        ("ok \ud800 end", "ok \ufffd end"),  # a surrogate no codec should have made
    ],
)
def test_clean(value: str, expected: str) -> None:
    assert clean(value) == expected


@pytest.mark.parametrize(
    ("value", "limit", "expected"),
    [
        ("Re:\r\n  Нет\tсвета\n", 200, "Re: Нет света"),
        ("Bcc: x\r\nInjected: yes", 200, "Bcc: x Injected: yes"),
        ("абвгдежзик", 5, "абвг…"),
        ("abc", 3, "abc"),
        ("a\u2028b\u0085c", 200, "a bc"),
    ],
)
def test_header_safe(value: str, limit: int, expected: str) -> None:
    result = header_safe(value, limit)
    assert result == expected
    assert len(result) <= limit and "\n" not in result and "\r" not in result


def test_decode_text_reports_what_it_guessed() -> None:
    assert decode_text(b"plain", None) == ("plain", None)
    assert decode_text("Нет".encode(), "utf-8") == ("Нет", None)
    text, note = decode_text("Нет света".encode("cp1251"), "us-ascii")
    assert text == "Нет света" and note is not None
    assert decode_text(b"+BB0ENQRC-", "utf-7") == ("Нет", None)
    assert decode_text("Нет".encode(), "unicode_escape")[0] == "Нет"  # not a charset we accept


def test_decode_header_value_plain_passthrough() -> None:
    assert decode_header_value("Re: hello\r\n world") == "Re: hello world"


def test_html_to_text_survives_broken_html() -> None:
    assert (
        html_to_text("<p>unclosed <b>bold <![if !supportLists]>1.<![endif]> item") == "unclosed bold 1. item"
    )
    assert (
        html_to_text("<head><title>t</title><p>no closing head, still text") == "no closing head, still text"
    )
    assert html_to_text("") == ""


def test_outlooks_empty_paragraphs_stay_blank_lines() -> None:
    # Word HTML writes a blank line as <p class=MsoNormal>&nbsp;<o:p></o:p></p>; the operator's paragraphs
    # must reach the consumer as paragraphs, not run together.
    html = (
        "<p class=MsoNormal>Здравствуйте!<o:p></o:p></p><p class=MsoNormal>&nbsp;<o:p></o:p></p>"
        "<p class=MsoNormal>Свет включён.<o:p></o:p></p><p class=MsoNormal>Причина: авария.<o:p></o:p></p>"
        "<p class=MsoNormal>&nbsp;</p><p class=MsoNormal>&nbsp;</p><p class=MsoNormal>Оператор</p>"
    )
    assert html_to_text(html) == "Здравствуйте!\n\nСвет включён.\nПричина: авария.\n\nОператор"
