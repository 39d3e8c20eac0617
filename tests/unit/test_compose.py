from datetime import UTC, datetime
from email import message_from_bytes, policy

from mailrobot.mail.compose import Envelope, compose
from mailrobot.mail.render import Rendered


def _compose(**envelope: object) -> bytes:
    base = {
        "from_address": "feedback@example.kz",
        "from_name": "ТОО «Севказэнергосбыт»",
        "to_address": "aigul@mail.ru",
        "message_id": "<mr.X.notice.1.abc@example.kz>",
    }
    base.update(envelope)
    rendered = Rendered(
        subject="[SKES-2026-000001] Обращение зарегистрировано", text="Текст", html="<p>Текст</p>"
    )
    return compose(rendered, Envelope(**base), datetime(2026, 11, 27, 10, 0, tzinfo=UTC))  # type: ignore[arg-type]


def test_headers_of_an_auto_reply() -> None:
    msg = message_from_bytes(
        _compose(in_reply_to="c1@mail.ru", references=("a@b",), case_number="SKES-1"), policy=policy.default
    )
    assert msg["Auto-Submitted"] == "auto-replied"
    assert msg["In-Reply-To"] == "<c1@mail.ru>"
    assert msg["References"] == "<a@b> <c1@mail.ru>"
    assert msg["X-Mailrobot"] == "SKES-1"
    assert str(msg["From"]) == "ТОО «Севказэнергосбыт» <feedback@example.kz>"
    assert msg.get_body(("plain",)).get_content().strip() == "Текст"
    assert msg.get_body(("html",)) is not None


def test_nothing_a_consumer_wrote_reaches_a_header_unescaped() -> None:
    raw = _compose(
        to_name='Evil\r\nBcc: victim@example.com\r\nX-Injected: 1 "',
        in_reply_to="x>\r\nBcc: v@e.com",
        references=("ok@id", "bad id with spaces"),
    )
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert b"\r\nBcc:" not in head and b"\r\nX-Injected" not in head
    msg = message_from_bytes(raw, policy=policy.default)
    assert msg["In-Reply-To"] is None
    assert msg["References"] == "<ok@id>"
    assert msg["To"].addresses[0].addr_spec == "aigul@mail.ru"


def test_round_trip_of_long_cyrillic_subject_body_and_attachment() -> None:
    from mailrobot.mail.compose import Attachment

    subject = "[SKES-2026-000001] " + "Ваше обращение зарегистрировано, ответ будет дан в срок " * 3
    text = "Здравствуйте!\nОбращение № SKES-2026-000001 зарегистрировано.\n" + "Строка текста. " * 40
    rendered = Rendered(subject=subject, text=text, html="<p>Здравствуйте!</p>")
    envelope = Envelope(from_address="feedback@example.kz", from_name="SKES", to_address="a@b.kz",
                        message_id="<mr.x@example.kz>")
    raw = compose(rendered, envelope, datetime(2026, 11, 27, tzinfo=UTC),
                  [Attachment("report.csv", "text/csv", b"a;b\n1;2\n")])
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))
    msg = message_from_bytes(raw, policy=policy.default)
    assert msg["Subject"] == subject.strip()
    assert msg.get_body(("plain",)).get_content().replace("\r\n", "\n").rstrip() == text.rstrip()
    assert msg.get_body(("html",)).get_content().strip() == "<p>Здравствуйте!</p>"
    [attachment] = list(msg.iter_attachments())
    assert attachment.get_filename() == "report.csv" and attachment.get_content() == "a;b\n1;2\n"
    assert not msg.defects
