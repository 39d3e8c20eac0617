"""Big base64 parts set aside during the MIME parse (mail.bigparts): the same Parsed as parse_message, for a
fraction of the memory (bench/memory.py measures that; these tests pin down that nothing else changes)."""

from __future__ import annotations

import base64
import binascii
import dataclasses
import random
from email.message import EmailMessage

import pytest

from mailrobot.mail import bigparts
from mailrobot.mail.bigparts import MIN_BYTES, Base64Run, parse_big
from mailrobot.mail.parse import Attachment, Parsed, Streamed, file_bytes, is_kept, parse_message

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


def same(a: Parsed, b: Parsed) -> bool:
    """The same Parsed, a Streamed file (decoded from the raw bytes when read) compared by its bytes."""
    return _held(a) == _held(b)


def _held(parsed: Parsed) -> dict[str, object]:
    files = tuple(Attachment(a.filename, a.content_type, a.size, file_bytes(a)) for a in parsed.attachments)
    return dataclasses.asdict(dataclasses.replace(parsed, attachments=files))


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


def test_a_big_part_is_streamed_from_the_raw_bytes_not_held() -> None:
    raw = scan_mail(3 * MB)
    [scan] = parse_big(raw, 10 * MB).attachments
    assert isinstance(scan, Streamed) and scan.data is None and is_kept(scan) and scan.size == 3 * MB
    pieces = list(scan.pieces())
    assert len(pieces) > 2 and max(map(len, pieces)) <= MB + 3  # a megabyte at a time, not the whole scan
    assert b"".join(pieces) == file_bytes(parse_message(raw, 10 * MB).attachments[0])


@pytest.mark.parametrize("step", [1, 77, 1000, 4096])
@pytest.mark.parametrize("width", [76, 64, 72, 100])
def test_a_run_decoded_step_by_step_is_the_run_decoded_whole(step: int, width: int) -> None:
    data = random.Random(width).randbytes(10_000 + step)
    encoded = base64.b64encode(data)
    lines = b"\r\n".join(encoded[i : i + width] for i in range(0, len(encoded), width)) + b"\r\n"
    raw = b"head\r\n" + lines + b"tail"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(bigparts, "STEP", step)
        assert b"".join(Base64Run(raw, 6, 6 + len(lines)).pieces()) == data


def test_padding_inside_a_run_is_decoded_whole_as_before() -> None:
    # Two base64 texts one after the other (padding in the middle): decoded whole, as a2b_base64 reads it.
    first, second = base64.b64encode(b"ab"), base64.b64encode(random.Random(1).randbytes(400_000))
    lines = first + b"\n" + b"\n".join(second[i : i + 76] for i in range(0, len(second), 76)) + b"\n"
    run = Base64Run(lines, 0, len(lines))
    attachment = Attachment("a.bin", "application/octet-stream", 0, b"marker")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(bigparts, "STEP", 1000)
        got = bigparts._streamed(attachment, run, 10 * MB)
    assert not isinstance(got, Streamed) and got.data == binascii.a2b_base64(lines)
