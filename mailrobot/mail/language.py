"""Which language a consumer wrote in: Russian, Kazakh or English, from the script and Kazakh letters."""

from __future__ import annotations

import re

# Letters only Kazakh has among the Cyrillic alphabets our consumers use.
_KAZAKH_ONLY = re.compile("[әғқңөұүһӘҒҚҢӨҰҮҺ]")
# і is Kazakh too, but also Ukrainian and Belarusian: counted only when their own letters are absent.
_KAZAKH_I = re.compile("[іІ]")
_UKRAINIAN_BELARUSIAN = re.compile("[їєґўЇЄҐЎ]")
# Kazakh typed on a Russian keyboard often borrows the Latin i for і, inside Cyrillic words.
_LATIN_I_IN_CYRILLIC = re.compile("(?<=[\u0400-\u04ff])[iI]|[iI](?=[\u0400-\u04ff])")
# Common Kazakh words, also as typed without the Kazakh letters (ә->а, і->и, қ->к, ү->у, ң->н).
_KAZAKH_WORDS = re.compile(
    r"(?<![\w-])(?:"
    r"және|жане|мен|үшін|ушин|ушін|бойынша|туралы|керек|емес|жоқ|жок|бар ма|рахмет|рақмет|сәлем|салем"
    r"|сәлеметсіз|салеметсиз|салеметсіз|қайырлы|кайырлы|біз|биз|бізде|бизде|біздің|биздин|сіз|сиз"
    r"|сізге|сизге|жарық|жарык|есептегіш|есептегиш|төлем|толем|пәтер|патер|шот|күн|кун|үй|уй|жылу|су жоқ"
    r")(?![\w-])",
    re.IGNORECASE,
)
_CYRILLIC = re.compile("[\u0400-\u04ff]")
_LATIN = re.compile("[A-Za-z]")
# Addresses and links are Latin in every language: they must not outvote the words around them.
_LINKS = re.compile(r"(?:https?://|www\.)\S+|\S+@\S+", re.IGNORECASE)
_QUOTED_LINES = re.compile(r"^>.*$", re.MULTILINE)
_SAMPLE = 4000  # characters read: the sender's own words come first, quoted history after


def detect_language(text: str, default: str = "ru") -> str:
    """Decide the language of a consumer's mail (subject + body): "kk" when Kazakh letters or words pass a
    small threshold, "ru" when it is mostly Cyrillic, "en" when it is Latin with at most a stray Cyrillic
    word, `default` when there is too little text or the scripts are mixed."""
    sample = _LINKS.sub(" ", text[:_SAMPLE])
    own_words = _QUOTED_LINES.sub(" ", sample)
    if own_words.strip():
        sample = own_words  # quoted history ("> ...") is someone else's language, unless it is all there is
    cyrillic = len(_CYRILLIC.findall(sample))
    latin = len(_LATIN.findall(sample))
    if cyrillic + latin < 3:
        return default
    if cyrillic:
        kazakh = len(_KAZAKH_ONLY.findall(sample)) + 2 * len(_KAZAKH_WORDS.findall(sample))
        if not _UKRAINIAN_BELARUSIAN.search(sample):
            kazakh += len(_KAZAKH_I.findall(sample)) + len(_LATIN_I_IN_CYRILLIC.findall(sample))
        # A Kazakh street or company name in a Russian mail gives one or two letters in a hundred;
        # Kazakh text has about one in ten, and short Kazakh mails still have two or three.
        share = cyrillic / (cyrillic + latin)
        if kazakh >= 3 and kazakh >= 0.04 * cyrillic and share >= 0.3:
            return "kk"
        if share >= 0.3:
            return "ru"
        if share >= 0.1:
            return default
    return "en"
