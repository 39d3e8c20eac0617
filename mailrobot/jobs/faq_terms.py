"""What a question or an answer is about, as terms the grouping can compare.

A term is a word stem ("свет"), a concept of the glossary ("~power", shared by "света", "жарық" and
"power"), or in an answer an anchor that reads the same in every language: the company's web address,
e-mail, telephone or document number ("#87152501050", "@www.sevkaz.kz").  Names and streets (capitalised
words inside a sentence) are no terms: they tell who asked, not what.  An answer's shingles (pairs of
consecutive normalised words) recognise one canned text however it was personalised.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter

from mailrobot.jobs import faq
from mailrobot.jobs.concepts import concept

_WORD = re.compile(r"[^\W\d_]+(?:\.[a-z]{2,3}\b)?|\d+(?:[ \t().,-]{0,2}\d+)*")
_LINK = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+|(?:https?://|www\.)[^\s,;)»]+|\b[\w-]+\.kz\b", re.I)
# Brands keep their concept even capitalised inside a sentence; any other capitalised word may be a name.
_BRANDS = frozenset({"kaspi"})
_MIN_ANCHOR_DIGITS = 3


def _is_name_like(text: str, word: str, position: int) -> bool:
    """A capitalised word inside a sentence that is not an acronym: a name, a street, a town."""
    if not word[0].isupper() or (word.isupper() and len(word) > 1):
        return False
    return not faq.starts_sentence(text, position)


def question_terms(text: str) -> Counter[str]:
    """The terms of a consumer's question: stems and concepts, without names, contacts and numbers."""
    return _terms(_LINK.sub(" ", text), anchors=False)


def answer_terms(text: str) -> Counter[str]:
    """The terms of an operator's answer: stems, concepts, and the anchors that repeat in every language."""
    terms = Counter(f"@{m.group().lower().rstrip('.')}" for m in _LINK.finditer(text))
    terms.update(_terms(_LINK.sub(" ", text), anchors=True))
    return terms


def _terms(text: str, anchors: bool) -> Counter[str]:
    terms: Counter[str] = Counter()
    for match in _WORD.finditer(text):
        word = match.group()
        if word[0].isdigit():
            digits = re.sub(r"\D", "", word)
            if anchors and len(digits) >= _MIN_ANCHOR_DIGITS:
                terms[f"#{digits}"] += 1
            continue
        lower = word.lower().replace("ё", "е")
        named = _is_name_like(text, word, match.start())
        meaning = concept(lower)
        if meaning and (not named or lower.split(".")[0] in _BRANDS):
            terms[f"~{meaning}"] += 1
        if named or len(word) < 3 or lower in faq.STOPWORDS:
            continue
        terms[faq.stem(lower.split(".")[0])] += 1
    return terms


def answer_shingles(text: str) -> frozenset[str]:
    """Pairs of consecutive words of an answer, names and numbers made alike: one canned text personalised
    for many consumers keeps most of its pairs."""
    words: list[str] = []
    for match in _WORD.finditer(_LINK.sub(" L ", text)):
        word = match.group()
        if word[0].isdigit():
            words.append("0")
        elif _is_name_like(text, word, match.start()):
            if not words or words[-1] != "N":
                words.append("N")
        else:
            words.append(faq.stem(word))
    return frozenset(f"{a} {b}" for a, b in itertools.pairwise(words))
