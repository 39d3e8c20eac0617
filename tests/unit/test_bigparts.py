"""Big base64 parts set aside during the MIME parse (mail.bigparts): the same Parsed as parse_message, for a
fraction of the memory (bench/memory.py measures that; these tests pin down that nothing else changes)."""

from __future__ import annotations

import base64
import dataclasses
import random
from email.message import EmailMessage

from mailrobot.mail.bigparts import MIN_BYTES, parse_big
from mailrobot.mail.parse import parse_message

MB = 1 << 20


def scan_mail(*sizes: int, text: str = "Прилагаю сканы квитанций.") -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "aigul@mail.ru", "feedback@example.kz", "Сканы"
    msg["Message-ID"] = "<scans@mail.ru>"
    msg.set_content(text)
    rng = random.Random(13)
    for n, size in enumerate(sizes):
        data = rng.randbytes(size)
        msg.add_attachment(data, maintype="application", subtype="pdf", filename=f"скан{n}.pdf")
    return msg.as_bytes().replace(b"\n", b"\r\n")


def same(a: object, b: object) -> bool:
    return dataclasses.asdict(a) == dataclasses.asdict(b)  # type: ignore[call-overload]


def test_big_attachments_come_out_as_the_full_parse_gives_them() -> None:
    raw = scan_mail(2 * MB, 10_000, MB)
    assert same(parse_big(raw, 10 * MB), parse_message(raw, 10 * MB))
    assert [a.size for a in parse_big(raw, 10 * MB).attachments] == [2 * MB, 10_000, MB]


def test_an_attachment_over_the_limit_is_recorded_without_its_data() -> None:
    raw = scan_mail(2 * MB)
    big, full = parse_big(raw, MB), parse_message(raw, MB)
    assert big.attachments == full.attachments and big.attachments[0].data is None
    assert set(big.defects) == set(full.defects)


def test_a_big_base64_text_part_is_parsed_whole() -> None:
    # base64-looking runs that are not an attachment's body: the shortcut steps aside.
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "a@mail.ru", "feedback@example.kz", "Длинный текст"
    body = "\n".join(base64.b64encode(random.Random(1).randbytes(57)).decode() for _ in range(8000))
    msg.set_content(body)
    raw = msg.as_bytes()
    assert len(raw) > MIN_BYTES
    assert same(parse_big(raw, 10 * MB), parse_message(raw, 10 * MB))


def test_a_big_part_with_broken_padding_is_decoded_as_the_full_parse_does() -> None:
    # Found by bench/drills/fuzz.py: a run of base64 lines whose length is no multiple of 4 made
    # binascii raise "Incorrect padding", an exception out of the parser.
    raw = scan_mail(MB)
    at = raw.index(b"\r\n", len(raw) // 2) - 10
    broken = raw[:at] + raw[at + 1 :]  # one base64 character less in the middle of the big part
    assert same(parse_big(broken, 10 * MB), parse_message(broken, 10 * MB))
