"""The month's frequent questions as the FAQ shows them: one wording and one answer per language, redacted.

Pure: the report reads the cases and their answers from the database and hands them here as `Entry`s.
A topic's answer in a language is its most canned answer there (the one sharing most word pairs with the
others: the standard text, not an operator's one-off), its question the clearest typical wording (one
that needs the fewest placeholders).  Whatever the company tells every consumer (its telephone, office,
e-mail: see redact.public_spans) stays in the answers.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from mailrobot.jobs.faq_groups import Asked, group_questions
from mailrobot.jobs.faq_terms import answer_shingles
from mailrobot.jobs.redact import PLACEHOLDERS, public_spans, redact

WORDINGS_CONSIDERED = 10  # a topic's most typical questions, per language, considered for its wording
GOOD_LENGTH = (20, 220)  # characters of a wording that reads as a question, not a word or a letter
_ALL_PLACEHOLDERS = tuple({v for values in PLACEHOLDERS.values() for v in values.values()})


@dataclass(frozen=True)
class Entry:
    """One case of the month: its question (without greeting and history) and the answer given."""

    key: int
    number: str
    question: str
    answer: str = ""  # the operator's text without greeting and signature; "" when none was found
    language: str = "ru"  # of the question
    answer_language: str = ""  # of the answer; the question's when empty
    category: str = ""
    names: tuple[str, ...] = ()  # names the case knows (the requester's), removed wherever they appear


@dataclass(frozen=True)
class Topic:
    """A frequent question: its cases (the most typical first) and, per language, its wording and answer."""

    keys: tuple[int, ...]
    numbers: tuple[str, ...]
    questions: dict[str, str] = field(default_factory=dict)
    answers: dict[str, str] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return len(self.keys)


def draft_topics(entries: Iterable[Entry], top: int = 10, min_size: int = 2) -> list[Topic]:
    """The `top` largest groups of at least `min_size` cases, each worded and answered per language."""
    cases = {e.key: e for e in entries}
    groups = group_questions(
        Asked(e.key, e.question, e.answer, e.category, e.language) for e in cases.values()
    )
    keep = public_spans(
        (e.names[0] if e.names and e.names[0] else e.number, e.answer) for e in cases.values() if e.answer
    )
    topics = []
    for group in groups:
        if group.size < min_size or len(topics) >= top:
            continue
        members = [cases[k] for k in group.members]
        topics.append(
            Topic(
                keys=tuple(group.members),
                numbers=tuple(e.number for e in members),
                questions=_wordings(members),
                answers=_answers(members, keep),
            )
        )
    return topics


def _wordings(members: Sequence[Entry]) -> dict[str, str]:
    """Per language, the typical question that reads best once redacted."""
    by_language: dict[str, list[Entry]] = {}
    for entry in members:
        by_language.setdefault(entry.language, []).append(entry)
    wordings = {}
    for language, entries in by_language.items():
        candidates = []
        for rank, entry in enumerate(entries[:WORDINGS_CONSIDERED]):
            text = redact(entry.question, language, names=entry.names)
            text = text[:1].upper() + text[1:]  # "Текст обращения: пропало электричество ..."
            holes = sum(text.count(p) for p in _ALL_PLACEHOLDERS)
            short, long = GOOD_LENGTH
            candidates.append((not short <= len(text) <= long, holes, rank, text))
        wordings[language] = min(candidates)[3]
    return wordings


def _answers(members: Sequence[Entry], keep: set[str]) -> dict[str, str]:
    """Per language, the answer most like the others in that language (the canned text), redacted."""
    by_language: dict[str, list[Entry]] = {}
    for entry in members:
        if entry.answer:
            by_language.setdefault(entry.answer_language or entry.language, []).append(entry)
    answers = {}
    for language, entries in by_language.items():
        shingles = [answer_shingles(e.answer) for e in entries]

        def shared(i: int, shingles: list[frozenset[str]] = shingles) -> int:
            return sum(len(shingles[i] & other) for j, other in enumerate(shingles) if j != i)

        best = min(range(len(entries)), key=lambda i: (-shared(i), i))
        entry = entries[best]
        answers[language] = redact(entry.answer, language, names=entry.names, keep=keep)
    return answers
