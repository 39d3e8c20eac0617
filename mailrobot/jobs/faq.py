"""The most frequent questions of a month (regulation 4.3.11): near-identical wordings grouped together.

Consumers ask the same thing in many words ("нет света", "отключили свет", "света нет третий день"), so
counting subjects would fragment the top list.  Each question becomes a set of crude word stems (lower
case, ё = е, common endings cut, greetings and filler dropped); questions whose sets are similar enough
(Jaccard) join the cluster of the first, most frequent wording.  Candidates come from MinHash buckets
(locality-sensitive hashing) rather than from comparing every pair, so a month of a hundred thousand cases
clusters in seconds; only the standard library is used.
"""

from __future__ import annotations

import functools
import hashlib
import re
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field

_WORD = re.compile(r"[^\W\d_]+")


def _words(text: str) -> list[str]:
    """Word lists written as text: long lists of short words read better that way."""
    return text.split()


_STEM_LENGTH = 6
# Endings cut before truncation, longest first, so "света"/"свет" and "счетчика"/"счетчик" meet.  Per
# script: a Kazakh ending such as -та would cut Russian words ("света") differently from their other forms.
_RU_ENDINGS = _words(
    "ами ями ого его ому ему ыми ими иях ой ей ом ем ам ям ах ях ов ев ий ый ая яя ое ее ые ие ую юю ия ии "
    "а я ы и у ю е о ь"
)
_KK_ENDINGS = _words(
    "ның нің дың дің тың тің ғы гі қы кі ға ге қа ке да де та те ды ді ты ті ны ні сы сі ым ім ың ің"
)
_EN_ENDINGS = _words("ing ed es s")
_KAZAKH_LETTERS = frozenset("әғқңөұүһі")
_BY_LENGTH = {
    "en": sorted(_EN_ENDINGS, key=len, reverse=True),
    "ru": sorted(_RU_ENDINGS, key=len, reverse=True),
    "kk": sorted(_KK_ENDINGS, key=len, reverse=True),
}


def _endings(word: str) -> list[str]:
    if word.isascii():
        return _BY_LENGTH["en"]
    return _BY_LENGTH["kk"] if _KAZAKH_LETTERS & set(word) else _BY_LENGTH["ru"]


STOPWORDS = frozenset(
    _words(
        """
    здравствуйте добрый доброе день вечер утро уважаемые уважаемый уважаемая прошу просим пожалуйста
    спасибо заранее благодарю уважением вопрос вопросу вопросы обращение обращения жалоба жалобу тема
    это как так что чтобы где когда или для при про над под без все всё уже еще ещё нет был была было
    были быть есть мне меня мой моя мое моё наш наша нам нас вам вас ваш ваша они она оно его ее её
    который которая которые также тоже только очень будет будут если даже него нее ней можно нужно
    зовут имя фамилия тел телефон номер лицевой адрес адресу проживаю
    сәлеметсіз сәлем менің атым есімім рахмет құрметпен және мен сіз біз бұл осы сол үшін бойынша
    туралы ма ме ба бе
    hello dear please thank thanks regards the and for with that this are was were have has you your
    our from not but can could would will
    """
    )
)
# Greeting and filler lines at the start of a consumer's text; quoted history and signatures at its end.
_GREETING = re.compile(
    r"^\s*(?:здравствуйте|добрый\s+(?:день|вечер)|доброе\s+утро|доброго\s+времени\s+суток|привет|"
    r"сәлеметсіз\s*бе|сәлем|армысыз|қайырлы\s+күн|hello|hi|good\s+(?:morning|afternoon|evening)|dear\s+\w+)"
    r"[\s,!.]*",
    re.IGNORECASE,
)
# A first line that greets one person: "Здравствуйте, Айгүл!", "Уважаемый потребитель!", "Dear Mr Smith,".
_ADDRESSED = re.compile(
    r"^\s*(?:здравствуйте|добрый\s+(?:день|вечер)|доброе\s+утро|уважаем\w+|сәлеметсіз\s*бе|құрметті|"
    r"hello|hi|dear|good\s+(?:morning|afternoon|evening))\b[^\n]{0,60}[!,.]?\s*$"
    # "Жанибек, здравствуйте!", "Нина Ивановна, добрый день!": the name first.
    r"|^\s*[^\W\d_]+(?:\s+[^\W\d_]+){0,2},\s*(?:здравствуйте|добрый\s+(?:день|вечер)|доброе\s+утро|"
    r"сәлеметсіз\s*бе|hello|good\s+(?:morning|afternoon|evening))\b[^\n]{0,20}$",
    re.IGNORECASE,
)
_TAIL = re.compile(
    r"(?im)^[ \t]*(?:с\s+уважением|с\s+наилучшими|заранее\s+спасибо|құрметпен|алдын\s+ала\s+рахмет|"
    r"best\s+regards|kind\s+regards|regards|sincerely|--\s*$|-{3,}|>|on\s.+wrote:|.+\s(?:пишет|написал|жазды):)"
)
_SENTENCE = re.compile(r"(?<=[.!?])\s+")
_ADDRESSES = re.compile(r"\S+@\S+|https?://\S+|www\.\S+", re.IGNORECASE)


# Abbreviations before a name or a number: "ул. Абая", "г. Петропавловск", "т. Иванова", "им. Абая".
_ABBREVIATIONS = frozenset(
    _words("г ул д кв пр просп пер мкр пос п с обл р-н корп стр им т тел моб ст ср б-р наб ш пл св гр уч")
)


@functools.lru_cache(maxsize=1 << 16)  # a month's questions repeat the same few thousand words
def stem(word: str) -> str:
    """A crude stem: lower case, ё = е, one common ending cut (keeping three letters), six letters at most."""
    word = word.lower().replace("ё", "е")
    for ending in _endings(word):
        if word.endswith(ending) and len(word) - len(ending) >= 3:
            word = word[: -len(ending)]
            break
    return word[:_STEM_LENGTH]


def tokens(text: str) -> frozenset[str]:
    """The stems that carry a question's meaning: no filler, no words shorter than three letters, and no
    capitalised words inside a sentence (names, streets: what makes a question personal, not its topic)."""
    text = _ADDRESSES.sub(" ", text)
    found = set()
    for match in _WORD.finditer(text):
        word = match.group()
        if len(word) < 3 or word.lower().replace("ё", "е") in STOPWORDS:
            continue
        if word[0].isupper() and not starts_sentence(text, match.start()):
            continue
        found.add(stem(word))
    return frozenset(found)


def starts_sentence(text: str, position: int) -> bool:
    """Whether the word at `position` begins a sentence (after a full stop, a line break, or at the start)."""
    before = text[max(0, position - 40) : position].rstrip(' \t«"(')
    if not before or before[-1] in "\n!?:;":
        return True
    if before[-1] != ".":
        return False
    # "ул. Абая", "г. Петропавловск": an abbreviation ends no sentence.
    abbreviation = re.search(r"(?:^|[\s(])([^\W\d_]{1,4})\.$", before)
    return not (abbreviation and abbreviation.group(1) in _ABBREVIATIONS)


# A web form's mail: "ФИО: ...", "Адрес: ...", "Текст обращения: ..." one a line.
_FORM_LINE = re.compile(r"(?m)^[ \t]*([^\W\d_][^:\n]{0,30}?)[ \t]*:[ \t]*(.*)$")
_FORM_MESSAGE = re.compile(
    r"(?i)^(?:текст(?:\s+обращения)?|сообщение|вопрос|обращение|суть\s+обращения|хабарлама|мәтін|"
    r"өтініш(?:\s+мәтіні)?|сұрақ|message|question|text)$"
)


def _form_message(text: str) -> str:
    """The message field of a web form's mail (and what follows it); any other text as it is."""
    fields = list(_FORM_LINE.finditer(text))
    if len(fields) < 2:
        return text
    for field_match in fields:
        if _FORM_MESSAGE.match(field_match.group(1).strip()):
            return text[field_match.start(2) :]
    return text


def question_text(subject: str, body: str, limit: int = 300) -> str:
    """The question itself: the body without greeting, quoted history and signature, cut at a sentence
    near `limit` characters; the subject when the body says nothing."""
    text = _form_message(body.replace("\r\n", "\n"))
    tail = _TAIL.search(text)
    if tail:
        text = text[: tail.start()]
    text = " ".join(text.split())
    previous = None
    while previous != text:  # "Здравствуйте! Добрый день." - greetings come in pairs
        previous, text = text, _GREETING.sub("", text, count=1)
    if len(text) < 10:
        text = " ".join(subject.split())
    if len(text) <= limit:
        return text
    cut = ""
    for sentence in _SENTENCE.split(text):
        if cut and len(cut) + len(sentence) + 1 > limit:
            break
        cut = f"{cut} {sentence}".strip()
    if len(cut) > limit:
        cut = cut[: limit - 1].rsplit(" ", 1)[0] + "…"
    return cut


def answer_text(text: str) -> str:
    """An answer as the FAQ shows it: without the greeting addressed to one consumer and without the
    operator's sign-off and signature; paragraphs kept."""
    text = text.replace("\r\n", "\n").strip()
    tail = _TAIL.search(text)
    if tail:
        text = text[: tail.start()]
    lines = text.split("\n")
    while lines and (not lines[0].strip() or _ADDRESSED.match(lines[0])):
        lines.pop(0)
    return "\n".join(lines).strip()


@dataclass
class Cluster:
    """Questions worded alike: the leader's wording stands for them all."""

    leader: frozenset[str]
    members: list[int] = field(default_factory=list)  # the caller's keys (case ids), most typical first

    @property
    def size(self) -> int:
        return len(self.members)


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


# MinHash with locality-sensitive hashing finds the candidate clusters: 16 bands of 2 hashes each.  Two sets
# of Jaccard similarity J land in a common bucket with probability 1 - (1 - J^2)^16: 0.99 at J = 0.5,
# 0.79 at 0.3; each candidate is then checked exactly.  A bucket remembers its first (largest) clusters
# only, so the work per question stays bounded however many wordings a topic has.
_BANDS, _ROWS = 16, 2
_BUCKET_SIZE = 4


def _token_hashes(token: str) -> tuple[int, ...]:
    # blake2b, not hash(): Python salts str hashes per process, and the report must not change with it.
    data = token.encode()
    digest = (
        hashlib.blake2b(data, digest_size=64).digest()
        + hashlib.blake2b(data, digest_size=64, person=b"mr").digest()
    )
    return struct.unpack(f"<{_BANDS * _ROWS}I", digest[: 4 * _BANDS * _ROWS])


def cluster(items: Iterable[tuple[int, frozenset[str]]], threshold: float = 0.5) -> list[Cluster]:
    """Group (key, tokens) pairs whose token sets are at least `threshold` similar to a cluster's leader.

    Identical sets are merged first; the most frequent wording of a topic becomes its leader, and each
    other wording joins the most similar leader found, or leads a cluster of its own.  Items without
    tokens are left out.  Clusters come largest first; ties by their leader's tokens, so the result does
    not depend on the order of the items.
    """
    groups: dict[frozenset[str], list[int]] = {}
    for key, toks in items:
        if toks:
            groups.setdefault(toks, []).append(key)
    hashes: dict[str, tuple[int, ...]] = {}
    clusters: list[Cluster] = []
    buckets: dict[tuple[int, ...], list[int]] = {}
    for toks, keys in sorted(groups.items(), key=lambda g: (-len(g[1]), sorted(g[0]))):
        columns = [hashes.get(t) or hashes.setdefault(t, _token_hashes(t)) for t in toks]
        signature = tuple(map(min, zip(*columns, strict=True)))
        bands = [(band, *signature[band * _ROWS : (band + 1) * _ROWS]) for band in range(_BANDS)]
        best, best_score = -1, threshold
        size = len(toks)
        shortest, longest = threshold * size - 1e-9, size / threshold + 1e-9  # t-similar sizes
        candidates: set[int] = set()
        for band in bands:
            candidates.update(buckets.get(band, ()))
        for candidate in sorted(candidates):
            leader = clusters[candidate].leader
            if not shortest <= len(leader) <= longest:
                continue
            shared = len(toks & leader)
            score = shared / (size + len(leader) - shared)
            if score > best_score or (score == best_score and best < 0):  # ties: the older, larger cluster
                best, best_score = candidate, score
        if best < 0:
            best = len(clusters)
            clusters.append(Cluster(leader=toks))
        clusters[best].members.extend(keys)
        # Members register too: a wording close to this one (if less so to the leader) finds the cluster.
        for band in bands:
            found = buckets.setdefault(band, [])
            if best not in found and len(found) < _BUCKET_SIZE:
                found.append(best)
    return sorted(clusters, key=lambda c: (-c.size, sorted(c.leader)))
