"""Quote stripping on replies as each client writes them (tests/data/replies, see its README): no line of the
quoted history reaches the consumer, no word of the author is lost, and nearly every reply comes out exactly
as its author wrote it.  `python -m tests.unit.test_quotes_clients` prints the score per client."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from mailrobot.mail.quotes import REPLY_ABOVE, is_reply_above_marker, reply_above_marker, strip_reply
from mailrobot.mail.text import html_to_text

REPLIES = Path(__file__).resolve().parents[1] / "data" / "replies"
TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
_SECTION = re.compile(r"^======== (reply|expected|sent|may keep)\r?$", re.MULTILINE)
_WORD = re.compile(r"\w+")
EXACT_TARGET = 0.95


@dataclass(frozen=True)
class Sample:
    """One reply as a client wrote it, with what its author wrote."""

    name: str
    meta: dict[str, str]
    reply: str
    expected: str
    sent: str | None = None
    may_keep: tuple[str, ...] = ()

    @property
    def client(self) -> str:
        return self.meta["client"]

    def text(self) -> str:
        """The reply's text as the parser hands it over (HTML-only mail through html_to_text)."""
        return html_to_text(self.reply) if self.meta.get("format") == "html" else self.reply


@dataclass
class Result:
    sample: Sample
    output: str
    leaked: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)

    @property
    def exact(self) -> bool:
        return self.output == self.sample.expected


def _read(path: Path) -> Sample:
    raw = path.read_bytes().decode("utf-8")
    parts = _SECTION.split(raw)
    meta = dict(line.split(": ", 1) for line in parts[0].strip().splitlines())
    sections = {parts[i]: parts[i + 1] for i in range(1, len(parts), 2)}

    def section(name: str) -> str:
        value = sections.get(name, "")
        return value[1:] if value.startswith("\n") else value

    may_keep = section("may keep").strip("\n")
    return Sample(
        name=f"{path.parent.name}/{path.stem}",
        meta=meta,
        reply=section("reply").removesuffix("\n"),
        expected=section("expected").strip("\n"),
        sent=section("sent").strip("\n") or None,
        may_keep=tuple(may_keep.split("\n")) if may_keep else (),
    )


def load_samples() -> list[Sample]:
    return [_read(path) for path in sorted(REPLIES.glob("*/*.txt"))]


def _lines(text: str) -> Counter[str]:
    return Counter(line.strip() for line in text.split("\n") if line.strip())


def measure(sample: Sample) -> Result:
    """Strip one reply; what leaked (lines that are neither the author's nor an allowed signature) and what
    was lost (the author's words missing)."""
    output = strip_reply(sample.text(), sent=sample.sent)
    extra = _lines(output) - _lines(sample.expected) - _lines("\n".join(sample.may_keep))
    lost = Counter(_WORD.findall(sample.expected.casefold())) - Counter(_WORD.findall(output.casefold()))
    return Result(sample, output, sorted(extra.elements()), sorted(lost.elements()))


SAMPLES = load_samples()


def test_there_are_enough_samples_from_every_kind_of_source() -> None:
    assert len(SAMPLES) >= 60
    sources = Counter(s.name.split("/")[0] for s in SAMPLES)
    assert sources["ours"] >= 40 and sources["discourse"] >= 30, sources
    languages = {s.meta["header"] for s in SAMPLES}
    assert {"ru", "kk", "en", "it", "nl", "fr", "de", "sv"} <= languages


@pytest.mark.parametrize("sample", SAMPLES, ids=[s.name for s in SAMPLES])
def test_no_quoted_line_leaks_and_no_word_is_lost(sample: Sample) -> None:
    result = measure(sample)
    assert not result.leaked, f"leaked {result.leaked}\n--- output:\n{result.output}"
    assert not result.lost, f"lost {result.lost}\n--- output:\n{result.output}"


def score_table(results: list[Result]) -> str:
    """The score per client as a Markdown table (exact / leaks / lost words)."""
    by_client: dict[str, list[Result]] = {}
    for result in results:
        by_client.setdefault(result.sample.client, []).append(result)
    rows = [
        "| client | replies | exact | leaking | losing words |",
        "|---|---:|---:|---:|---:|",
    ]
    for client, group in sorted(by_client.items()):
        exact, leaking = sum(r.exact for r in group), sum(bool(r.leaked) for r in group)
        rows.append(f"| {client} | {len(group)} | {exact} | {leaking} | {sum(bool(r.lost) for r in group)} |")
    exact = sum(r.exact for r in results)
    rows.append(
        f"| **all** | {len(results)} | {exact} ({exact / len(results):.0%}) "
        f"| {sum(bool(r.leaked) for r in results)} | {sum(bool(r.lost) for r in results)} |"
    )
    return "\n".join(rows)


def test_nearly_every_reply_comes_out_exactly_as_written() -> None:
    results = [measure(sample) for sample in SAMPLES]
    print("\n" + score_table(results))
    inexact = [r.sample.name for r in results if not r.exact]
    assert sum(r.exact for r in results) >= EXACT_TARGET * len(results), inexact


# -- the reply-above marker -------------------------------------------------------------------------------


@pytest.mark.parametrize("language", sorted(REPLY_ABOVE))
@pytest.mark.parametrize("template", ["forward", "ask"])
def test_every_mail_to_staff_starts_with_the_marker_in_its_language(template: str, language: str) -> None:
    text = (TEMPLATES / language / f"{template}.txt.j2").read_text(encoding="utf-8")
    first = text.split("\n", 1)[0]
    assert first == reply_above_marker(language) and is_reply_above_marker(first)


@pytest.mark.parametrize(
    "line",
    [
        "--- Ответьте выше этой строки ---",
        "> --- Осы жолдың үстіне жауап жазыңыз ---",
        ">> ---  reply above  this line ---",
        "--- ответьте выше этой строки / осы жолдың үстіне жауап жазыңыз / reply above this line ---",
        "*--- Reply above this line ---*",
    ],
)
def test_the_marker_is_recognised_quoted_or_not(line: str) -> None:
    assert is_reply_above_marker(line)


@pytest.mark.parametrize(
    "line", ["Please reply above this line, as the robot says.", "--- Текст обращения ---", "", ">"]
)
def test_a_sentence_that_mentions_the_marker_is_no_marker(line: str) -> None:
    assert not is_reply_above_marker(line)


def test_the_marker_takes_what_is_below_it_and_the_header_above_it() -> None:
    text = (
        "Готово.\n\nOp vr 20 nov 2026 om 10:05 schreef Robot:\n"
        "--- Ответьте выше этой строки ---\nНовое обращение № 1\nОт: someone@example.com\n"
    )
    assert strip_reply(text) == "Готово."


def test_an_answer_below_a_quoted_marker_stays() -> None:
    text = "20.11.2026 10:05, Робот пишет:\n> --- Ответьте выше этой строки ---\n> Вопрос?\n\nОтвет."
    assert strip_reply(text) == "Ответ."


def test_our_own_mail_is_history_wherever_the_reply_repeats_it() -> None:
    sent = "--- Reply above this line ---\nNew request No. 7.\n\nFrom: a@example.kz\nHello, the meter is off."
    reply = "Fixed.\n\nNew request No. 7.\n\nFrom: a@example.kz\nHello, the meter\nis off.\n"
    assert strip_reply(reply, sent=sent) == "Fixed."
    assert strip_reply("Fixed.", sent=sent) == "Fixed."
    assert strip_reply(reply, sent="") == reply.strip()


if __name__ == "__main__":
    print(score_table([measure(sample) for sample in SAMPLES]))
