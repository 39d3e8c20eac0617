"""A big message fetched in pieces comes back as the buffer it was read into (no copy into bytes), exactly
as long as what the server sent, whether RFC822.SIZE announced more or less (issue 13)."""

from __future__ import annotations

import random
import re
from typing import Any

import pytest

from mailrobot.config import ImapSettings
from mailrobot.outside import imap
from mailrobot.outside.imap import MailboxSource

MESSAGE = random.Random(5).randbytes(10_000)


class PiecesServer:
    """Answers BODY.PEEK[]<start.length> from MESSAGE, as Dovecot does."""

    def fetch(self, uids: list[int], items: list[bytes]) -> dict[int, dict[bytes, Any]]:
        start, length = map(int, re.search(rb"<(\d+)\.(\d+)>", items[0]).groups())  # type: ignore[union-attr]
        return {uids[0]: {b"BODY[]<%d>" % start: MESSAGE[start : start + length]}}


@pytest.mark.parametrize("announced", [len(MESSAGE), len(MESSAGE) - 999, len(MESSAGE) + 999])
def test_the_pieces_fill_one_buffer_of_the_message_s_length(
    announced: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(imap, "PIECE", 1000)
    source = MailboxSource(ImapSettings(host="127.0.0.1", username="feedback@example.kz", password="pw"))
    source.client = PiecesServer()  # type: ignore[assignment]
    [(uid, raw, _arrived)] = source.fetch([7], {7: announced})
    assert uid == 7 and isinstance(raw, bytearray) and raw == MESSAGE
