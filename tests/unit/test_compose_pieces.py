"""A file composed from its pieces (a stored file's chunks, a big part of the raw mail) is the same mail as
the file composed whole (issue 13: compose never holds a big file's encodings whole)."""

from __future__ import annotations

import base64
import random
from datetime import UTC, datetime
from email import message_from_bytes, policy

import pytest

from mailrobot.mail import compose as compose_module
from mailrobot.mail.compose import Attachment, Envelope, compose
from mailrobot.mail.render import Rendered

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
ENVELOPE, RENDERED = Envelope("r@x.kz", "", "o@x.kz", "<m@x>"), Rendered("S", "T")


@pytest.mark.parametrize("size", [0, 1, 57, 58, 1000, compose_module._BLOCK + 1, 3 * (1 << 20) + 7])
def test_a_file_in_pieces_composes_as_the_whole_file(size: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(compose_module.secrets, "token_hex", lambda n: "b" * n)  # the same boundaries
    data = random.Random(size).randbytes(size)
    cuts = sorted(random.Random(size + 1).sample(range(size + 1), min(size + 1, 5)))
    pieces = [data[a:b] for a, b in zip([0, *cuts], [*cuts, size], strict=True)]
    held = Attachment("a.pdf", "application/pdf", data)
    streamed = Attachment("a.pdf", "application/pdf", b"", pieces=lambda: iter(pieces))
    sized = Attachment("a.pdf", "application/pdf", b"", pieces=lambda: iter(pieces), size=size)
    raw = compose(RENDERED, ENVELOPE, NOW, [streamed])
    assert raw == compose(RENDERED, ENVELOPE, NOW, [held])
    # With its size known, the mail is written into one buffer of exactly its length.
    into_buffer = compose(RENDERED, ENVELOPE, NOW, [sized, held])
    assert isinstance(into_buffer, bytearray)
    assert into_buffer == compose(RENDERED, ENVELOPE, NOW, [held, held])
    # What it always wrote: base64 lines of 76 characters ended by CRLF.
    assert base64.encodebytes(data).replace(b"\n", b"\r\n") in raw
    [part] = message_from_bytes(raw, policy=policy.default).iter_attachments()  # type: ignore[attr-defined]
    assert part.get_content() == data


def test_a_file_that_gives_other_bytes_than_its_size_is_composed_all_the_same() -> None:
    for size in (300, 1):  # more or fewer than it gives
        wrong = Attachment("a.pdf", "application/pdf", b"", pieces=lambda: iter([b"abc"]), size=size)
        raw = compose(RENDERED, ENVELOPE, NOW, [wrong])
        [part] = message_from_bytes(raw, policy=policy.default).iter_attachments()  # type: ignore[attr-defined]
        assert part.get_content() == b"abc"
