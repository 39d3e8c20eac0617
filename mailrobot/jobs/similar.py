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
from mailrobot.jobs.faq_groups import MIN_SHARED_CONCEPTS, Side
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


Postings = dict[str, list[tuple[int, float]]]  # term -> [(summary, its weight there)]


class SummaryIndex:
    """Stored summaries, ready to be searched by a new question.  The cosines are summed term by term over
    postings (term -> the summaries with it, and its weight there), so that only the summaries sharing a
    term with the question cost anything; the result is `alike`'s, in words or in concepts."""

    def __init__(self, summaries: Sequence[Summary]) -> None:
        self.summaries: list[Summary] = []
        self._sides: list[tuple[Side, Side]] = []
        self._position: dict[str, int] = {}
        # Per side (0: the question, 1: the answer): term -> [(summary, weight)], in words and in concepts.
        self._words: tuple[Postings, ...] = (defaultdict(list), defaultdict(list))
        self._concepts: tuple[Postings, ...] = (defaultdict(list), defaultdict(list))
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
        else:  # a reopened case answered again: its new summary stands
            self._unpost(index, self._sides[index])
            self.summaries[index], self._sides[index] = summary, side
        for k, one in enumerate(side):
            if not one.full:
                continue
            for term, weight in one.full.items():
                self._words[k][term].append((index, weight))
            for term, weight in (one.neutral or {}).items():
                self._concepts[k][term].append((index, weight))

    def _unpost(self, index: int, side: tuple[Side, Side]) -> None:
        for k, one in enumerate(side):
            for postings, vector in ((self._words[k], one.full), (self._concepts[k], one.neutral)):
                for term in vector or ():
                    postings[term] = [(i, w) for i, w in postings[term] if i != index]

    def _alike(self, k: int, query: Side) -> dict[int, float]:
        """`alike(query, side k of each summary)` for every summary sharing a term with the query."""
        if not query.full:
            return {}
        words: dict[int, float] = defaultdict(float)
        for term, weight in query.full.items():
            for index, stored in self._words[k].get(term, ()):
                words[index] += weight * stored
        if query.neutral:
            concepts: dict[int, float] = defaultdict(float)
            shared: Counter[int] = Counter()
            for term, weight in query.neutral.items():
                for index, stored in self._concepts[k].get(term, ()):
                    concepts[index] += weight * stored
                    shared[index] += 1
            for index, count in shared.items():
                if count >= MIN_SHARED_CONCEPTS and concepts[index] > words[index]:
                    words[index] = concepts[index]
        return words

    def similar(self, question: str, limit: int = 3) -> list[Suggestion]:
        """The `limit` summaries most like `question`, the most alike first."""
        terms = question_terms(faq.question_text("", question))
        as_question = self._alike(0, Side.of(_tfidf(terms, self._q_idf)))
        as_answer = self._alike(1, Side.of(_tfidf(terms, self._a_idf)))
        scored = []
        for index in as_question.keys() | as_answer.keys():
            score = QUESTION_WEIGHT * as_question.get(index, 0.0) + (1 - QUESTION_WEIGHT) * as_answer.get(
                index, 0.0
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
