"""What was answered before: a redacted one-line summary of each answered case, and the summaries most like
a new question (issue 12 item 8: the forward of a new case shows how colleagues answered the same question).

A summary is computed once, when the case is answered, with the same redaction as the FAQ draft, so a
forward only compares short texts.  Likeness is the FAQ grouping's: TF-IDF cosines of stems, and of the
glossary's concepts across languages; a stored answer counts too, since it names the question's topic in
the company's own words.  Only the standard library is used: this may run in the daemon.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from mailrobot.jobs import faq
from mailrobot.jobs.faq_groups import Side, alike
from mailrobot.jobs.faq_terms import answer_terms, question_terms
from mailrobot.jobs.redact import redact

QUESTION_CHARS = 160
ANSWER_CHARS = 200
QUESTION_WEIGHT = 0.6  # the rest is the stored answer's likeness to the new question
MIN_SCORE = 0.1  # below this a summary is no suggestion at all


@dataclass(frozen=True)
class Summary:
    """One answered case in a line: its number, the question and the final answer, shortened, redacted."""

    number: str
    question: str
    answer: str
    language: str = "ru"

    @property
    def line(self) -> str:
        return f"{self.question} — {self.answer}" if self.answer else self.question


def summarize(
    number: str,
    subject: str,
    body: str,
    answer: str,
    language: str = "ru",
    names: Iterable[str] = (),
    keep: Iterable[str] = (),
) -> Summary:
    """The summary of an answered case: its question without greeting and history, and the answer without
    greeting and signature, each one line, shortened, with no personal data of anyone."""
    names = tuple(n for n in names if n)
    question = redact(faq.question_text(subject, body, limit=QUESTION_CHARS), language, names=names)
    reply = redact(faq.answer_text(answer), language, names=names, keep=keep)
    return Summary(number, _one_line(question, QUESTION_CHARS), _one_line(reply, ANSWER_CHARS), language)


def _one_line(text: str, limit: int) -> str:
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    return text[: limit - 1].rsplit(" ", 1)[0] + "…"


@dataclass(frozen=True)
class Suggestion:
    summary: Summary
    score: float


class SummaryIndex:
    """Stored summaries, ready to be searched by a new question.  Only the summaries that share a term with
    the question (in their question or their answer) are scored: a likeness is a cosine, zero without a
    common term, so the others cannot be among the most alike."""

    def __init__(self, summaries: Sequence[Summary]) -> None:
        self.summaries: list[Summary] = []
        self._sides: list[tuple[Side, Side]] = []
        self._position: dict[str, int] = {}
        self._postings: dict[str, set[int]] = defaultdict(set)  # term -> summaries with it in either side
        q_terms = [question_terms(s.question) for s in summaries]
        a_terms = [answer_terms(s.answer) for s in summaries]
        self._q_idf, self._a_idf = _idf(q_terms), _idf(a_terms)
        for summary, q, a in zip(summaries, q_terms, a_terms, strict=True):
            self._put(summary, (Side.of(_tfidf(q, self._q_idf)), Side.of(_tfidf(a, self._a_idf))))

    def add(self, summaries: Sequence[Summary]) -> None:
        """More summaries, weighed with the term weights of the summaries indexed so far (a term none of them
        had weighs as a rare one); a number indexed before is replaced."""
        for summary in summaries:
            q_terms, a_terms = question_terms(summary.question), answer_terms(summary.answer)
            rare = math.log((1 + len(self.summaries) + 1) / 2) + 1
            for terms, idf in ((q_terms, self._q_idf), (a_terms, self._a_idf)):
                for term in terms:
                    idf.setdefault(term, rare)
            side = (Side.of(_tfidf(q_terms, self._q_idf)), Side.of(_tfidf(a_terms, self._a_idf)))
            self._put(summary, side)

    def _put(self, summary: Summary, side: tuple[Side, Side]) -> None:
        index = self._position.get(summary.number)
        if index is None:
            index = self._position[summary.number] = len(self.summaries)
            self.summaries.append(summary)
            self._sides.append(side)
        else:  # a reopened case answered again: its new summary stands (old postings only cost a score)
            self.summaries[index], self._sides[index] = summary, side
        for vector in (side[0].full, side[1].full):
            for term in vector or ():
                self._postings[term].add(index)

    def similar(self, question: str, limit: int = 3) -> list[Suggestion]:
        """The `limit` summaries most like `question`, the most alike first."""
        terms = question_terms(faq.question_text("", question))
        as_question = Side.of(_tfidf(terms, self._q_idf))
        as_answer = Side.of(_tfidf(terms, self._a_idf))
        candidates: set[int] = set()
        for vector in (as_question.full, as_answer.full):
            for term in vector or ():
                candidates |= self._postings.get(term, set())
        scored = []
        for index in candidates:
            stored_question, stored_answer = self._sides[index]
            score = QUESTION_WEIGHT * alike(as_question, stored_question) + (1 - QUESTION_WEIGHT) * alike(
                as_answer, stored_answer
            )
            if score >= MIN_SCORE:
                scored.append((-score, index))
        return [Suggestion(self.summaries[i], -s) for s, i in sorted(scored)[:limit]]


def similar(question: str, summaries: Sequence[Summary], limit: int = 3) -> list[Suggestion]:
    """The `limit` stored summaries most like a new question, the most alike first."""
    return SummaryIndex(summaries).similar(question, limit)


def _idf(documents: Sequence[Counter[str]]) -> dict[str, float]:
    df: Counter[str] = Counter()
    for terms in documents:
        df.update(terms.keys())
    return {t: math.log((1 + len(documents)) / (1 + n)) + 1 for t, n in df.items()}


def _tfidf(counts: Counter[str], idf: dict[str, float]) -> dict[str, float]:
    return {t: (1 + math.log(n)) * idf[t] for t, n in counts.items() if t in idf}
