"""Drill 7: mutations of the corpus through the whole intake (parse -> classify -> decide -> apply).

`mutations(corpus)` is a hypothesis strategy: a corpus message with a few byte-level and MIME-level changes
(bits flipped, bytes cut or doubled, the text cut short, tokens that parsers trip on put anywhere).  The
property: `Intake.process` returns one outcome per message, each a case, ignored, quarantined or a
duplicate of another input, and none is quarantined as an "internal error" (an exception that escaped
parse, classify or decide and was only caught by the intake's last safety net).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from hypothesis import strategies as st

from mailrobot.service.intake import Fetched, Intake, Outcome
from tests.support.paths import corpus_dir

ENDINGS = {"case", "ignored", "quarantined", "duplicate"}
# What MIME parsers trip on, put anywhere in a message.
TOKENS = [
    b"=?", b"?=", b"=?utf-8?b?", b"=?koi8-r?q?=FF=", b"=?x-unknown?B?AAAA?=", b"\x00", b"\xff\xfe", b"\r",
    b"\n", b"\r\n\r\n", b"--", b"; boundary=\"\"", b"; boundary=", b"; charset=\"x-no-such\"",
    b"Content-Type: multipart/mixed; boundary=x\r\n", b"Content-Transfer-Encoding: base64\r\n",
    b"Content-Transfer-Encoding: quoted-printable\r\n", b"Content-Type: message/rfc822\r\n",
    b"filename*0*=utf-8''%D0", b"%", b"<", b">", b"@", b"\"", b"\\", b"From: \r\n", b"Message-ID: <>\r\n",
    b"Date: 31 Feb 99999 25:61:61 +9999\r\n", b"Content-Disposition: attachment; filename=\r\n",
    b"\t", b" " * 1000, b"A" * 5000,
]  # fmt: skip


def corpus(max_bytes: int | None = None) -> list[bytes]:
    """The corpus messages (tests/data/corpus/messages), optionally only those up to `max_bytes`."""
    files = sorted(p for p in (corpus_dir() / "messages").rglob("*") if p.is_file() and p.suffix != ".md")
    return [p.read_bytes() for p in files if max_bytes is None or p.stat().st_size <= max_bytes]


@st.composite
def mutations(draw: st.DrawFn, messages: list[bytes]) -> bytes:
    raw = bytearray(draw(st.sampled_from(messages)))
    for _ in range(draw(st.integers(1, 6))):
        if not raw:
            break
        at = draw(st.integers(0, len(raw) - 1))
        kind = draw(st.sampled_from(["flip", "cut", "insert", "double", "truncate", "token"]))
        if kind == "flip":
            raw[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "cut":
            del raw[at : at + draw(st.integers(1, 200))]
        elif kind == "insert":
            raw[at:at] = draw(st.binary(min_size=1, max_size=40))
        elif kind == "double":
            raw[at:at] = raw[at : at + draw(st.integers(1, 400))]
        elif kind == "truncate":
            del raw[at:]
        else:
            raw[at:at] = draw(st.sampled_from(TOKENS))
    return bytes(raw)


class Judge:
    """Feeds inputs to one intake, each with its own UID, and says what is wrong with each outcome."""

    def __init__(self, intake: Intake) -> None:
        self.intake = intake
        self.uids: Iterator[int] = iter(range(1, 10**9))
        self.endings: dict[str, int] = dict.fromkeys(sorted(ENDINGS), 0)

    def problems(self, raw: bytes) -> list[str]:
        batch = [Fetched(next(self.uids), raw)]
        outcomes: list[Outcome] = self.intake.process("fuzz@127.0.0.1:143/INBOX", 7, batch)
        wrong = []
        if len(outcomes) != 1:
            wrong.append(f"{len(outcomes)} outcomes for one message")
        for o in outcomes:
            self.endings[o.status] = self.endings.get(o.status, 0) + 1
            if o.status not in ENDINGS:
                wrong.append(f"ended as {o.status!r}")
            if "internal error" in o.reason:
                wrong.append(f"an exception escaped: {o.reason[:300]}")
        return wrong


def save_failure(directory: Path, raw: bytes, problems: list[str]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"fuzz-{abs(hash(raw)) % 10**8}.eml"
    path.write_bytes(raw)
    path.with_suffix(".txt").write_text("\n".join(problems), encoding="utf-8")
    return path
