"""Personal data out of consumers' and operators' texts, before they go into the public FAQ draft (4.3.1).

The FAQ draft is published on the website, so whatever identifies a person is replaced by a placeholder in
the text's language: e-mail addresses, phone numbers, personal account (and IIN, meter) numbers, street
addresses, and names (introductions, salutations, signatures, "Surname I.I.", and the names the case itself
knows).  It errs on the side of removing too much: the PR department reads the draft before publishing it,
and a lost meter reading costs less than a published phone number.

Rules, not a named-entity recogniser: natasha's Russian NER (the one that ships its model in its package)
was measured on the labelled month (tests/data/faq_month): it found 43 of 55 name mentions, missed most
Kazakh names, tagged sentence-initial Kazakh words and "Перерасчёт" as persons, and would bring about
100 MB of packages and 200 MB of memory to the report; these rules leave none of the month's personal data.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable

from mailrobot.jobs.faq import starts_sentence

PLACEHOLDERS: dict[str, dict[str, str]] = {
    "ru": {
        "name": "[имя]",
        "address": "[адрес]",
        "number": "[номер]",
        "phone": "[телефон]",
        "email": "[e-mail]",
    },
    "kk": {
        "name": "[есімі]",
        "address": "[мекенжай]",
        "number": "[нөмір]",
        "phone": "[телефон]",
        "email": "[e-mail]",
    },
    "en": {
        "name": "[name]",
        "address": "[address]",
        "number": "[number]",
        "phone": "[phone]",
        "email": "[e-mail]",
    },
}

_UP = "А-ЯЁӘҒҚҢӨҰҮҺІA-Z"
_LOW = "а-яёәғқңөұүһіa-z"
# Capitalised words that start sentences far more often than they are names.
_NOT_NAMES = (
    "Я|Мы|Мой|Моя|Мое|Моё|Мне|Меня|Наш|Наша|Вы|Ваш|Ваша|В|На|По|Прошу|Ответ|Спасибо|Здравствуйте|"
    "Мен|Менің|Біз|Сіз|Сіздің|Рахмет|I|My|We|Our|The|You|Your|Please|Thanks|Hello|"
    "Здравствуйте|Добрый|Доброе|Уважаемый|Уважаемая|Уважаемые|Сәлеметсіз|Құрметті|Dear|Hi"
)
# A capitalised word (Айгүл, Serikova, Жамбыла-Жабаева) or an initial (А. / A.).
_NAME_WORD = rf"(?:(?!(?:{_NOT_NAMES})\b)[{_UP}][{_LOW}]+(?:-[{_UP}]?[{_LOW}]+)?|[{_UP}]\.)"
_NAME = rf"{_NAME_WORD}(?:[ \t]+{_NAME_WORD}){{0,2}}"

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", re.UNICODE)

# +7 / 8 and ten digits in any grouping: +7 777 123 45 67, 8 (7152) 46-12-34, 87771234567.
_PHONE_KZ = re.compile(r"(?<![\w+])(?:\+\s?7|8)(?:[\s().-]{0,3}\d){10}(?!\d)")
# Other international numbers: a plus and at least eight digits.
_PHONE_INTL = re.compile(r"(?<![\w+])\+\d(?:[\s().-]{0,3}\d){7,14}(?!\d)")
# City numbers written 46-12-34 or 461-234, and any digits after a phone keyword.
_PHONE_CITY = re.compile(r"(?<![\d-])\d{2,3}-\d{2}-\d{2}(?![\d-])")
_PHONE_KEYWORD = re.compile(
    r"(?i)\b(тел\.?|телефон\w*|моб\.?|мобильн\w*|сот\.?|сотов\w*|whatsapp|phone|mobile|tel\.?|ұялы)"
    r"(\s*(?:номер\w*|нөмір\w*|number|no\.?|№)?\s*[:№#]?\s*)(\+?\d[\d\s().-]{4,}\d)"
)

# Personal account, IIN, meter and contract numbers after their keyword; the keyword stays for the reader.
_NUMBER_KEYWORD = re.compile(
    r"(?i)(лицев\w*\s+сч[её]т\w*|л\s*/\s*сч?\.?|\bл\.\s?с\.|\bЛС\b|дербес\s+шот\w*|есепшот\w*|"
    r"\bиин\b|\bжсн\b|\biin\b|account(?:\s+(?:number|no\.?|#))?|\bсч[её]т\w*\s+№|"
    r"договор\w*|шарт\w*|contract|сч[её]тчик\w*\s+№|есептеуіш\w*\s+№|meter(?:\s+(?:number|no\.?))?)"
    r"(\s*(?:№|#|No\.?|номер\w*|нөмірі?)?\s*[:№#]?\s*)(\d[\d\s-]{2,}\d|\d{3,})"
)
# Any other run of five or more digits (account, IIN, meter numbers without their keyword).
_LONG_NUMBER = re.compile(r"(?<![\d\[])\d{5,}(?!\d)")

# Address parts that name their kind before the value (Russian, English "Apt 5") ...
_ADDR_BEFORE = (
    r"(?i:ул\.|улиц[аеуы]|пр-т\.?|пр\.|проспект\w*|пер\.|переул\w*|б-р|бульвар\w*|мкр\.?|микрорайон\w*|"
    r"ш\.|шоссе|пл\.|наб\.|набережн\w*)"
)
_ADDR_NUMBER_BEFORE = (
    r"(?i:д\.|дом[ау]?|кв\.|квартир[аеуы]|корп\.|корпус\w*|стр\.|apt\.?|apartment|flat|house)"
)
_HOUSE = rf"\d+(?:[{_LOW}](?![{_LOW}]))?(?:\s?[/-]\s?\d+)?"  # 12, 12а, 12/3, 45-12
# ... and Kazakh ones that put the kind after the value (Абай көшесі, 12 үй, 5 пәтер), English "12 Main St".
_ADDR_AFTER = (
    r"(?i:көшесі\w*|даңғылы\w*|шағын\s+аудан\w*|ықшам\s+аудан\w*|street|st\.|avenue|ave\.|road|rd\.|lane)"
)
_ADDR_NUMBER_AFTER = r"(?i:үй\w*|пәтер\w*)"
_ADDR_PART = (
    rf"(?:{_ADDR_BEFORE}\s*(?:{_NAME}(?:\s*,?\s*{_HOUSE})?|{_HOUSE})"
    rf"|{_ADDR_NUMBER_BEFORE}\s*№?\s*{_HOUSE}"
    rf"|(?:{_HOUSE}\s+)?(?:{_NAME}|\d+)\s+{_ADDR_AFTER}"
    rf"|{_HOUSE}\s*{_ADDR_NUMBER_AFTER}"
    rf"|(?:{_NAME}\s+)?{_HOUSE}(?=\s*,\s*(?:{_ADDR_NUMBER_BEFORE}|\d+\s*{_ADDR_NUMBER_AFTER}))"
    # "Интернациональная 5-12", "Жамбыла 200-15": a street and house-flat without the word "улица".
    rf"|{_NAME}\s+\d+[{_LOW}]?\s?[-/]\s?\d+(?![\d.,:]\d))"
)
# Case-sensitive on purpose: a name is a capitalised word ("на улице нет света" names no street).
_ADDRESS = re.compile(rf"(?<![{_LOW}{_UP}]){_ADDR_PART}(?:[\s,]+{_ADDR_PART})*")
# "по адресу: г. Петропавловск, ул. ..." / "мекенжайы: ..." / "address: ...": the rest of the clause.
_ADDR_WORD = (
    r"(?:г|с|п|пос|ул|д|кв|пр|мкр|корп|стр|обл|р-н|пер|б-р|наб|ш|пл|apt|st|ave)\.|улиц\w*|дом\w*|квартир\w*|"
    r"микрорайон\w*|проспект\w*|переул\w*|көше\w*|үй\w*|пәтер\w*|ауыл\w*|street|flat|house"
)
_ADDR_TOKEN = rf"(?:{_ADDR_WORD}|(?-i:[{_UP}][{_LOW}{_UP}-]*)|\d+[{_LOW}]?(?:\s?[-/]\s?\d+)?|№)"
# "по адресу: г. Петропавловск, ул. Абая, д. 1" / "мекенжайы: ..." / "address: ...": the address-shaped
# words after it (names, numbers, "ул.", "кв."), up to the first ordinary word.
_ADDRESS_LEAD = re.compile(
    r"(?i)(\bпо\s+адресу|\bадрес[уеа]?\b|\bмекенжай\w*|\baddress\b|\blive\s+at|\bтұрамын)(\s*:?\s*)"
    rf"({_ADDR_TOKEN}(?:[\s,]{{1,3}}{_ADDR_TOKEN}){{0,8}})"
)

# "Меня зовут Иван Петров", "Менің атым Айгүл", "My name is John Smith", "ФИО: ...", "Я, Иванов И.И., ..."
_INTRO = re.compile(
    rf"(?i:(меня\s+зовут|мо[её]\s+имя|моя\s+фамилия|менің\s+атым|менің\s+есімім|атым|есімім|"
    rf"my\s+name\s+is|this\s+is|i\s+am|фио|ф\.и\.о\.|аты-жөні|абонент|потребитель|тұтынушы)"
    rf"(\s*[:,—–-]?\s*))({_NAME})"
)
_I_COMMA = re.compile(rf"(\b[ЯI],?\s+)({_NAME})(?=\s*,)")
# Salutations keep their word and lose the name: "Уважаемая Айгүл Серікқызы!" -> "Уважаемая [имя]!".
_SALUTATION = re.compile(
    rf"(?i:(уважаем\w+|здравствуйте|добрый\s+день|құрметті|сәлеметсіз\s+бе|dear|hello|hi)(,?\s+))"
    rf"(?:(?i:mr\.?|mrs\.?|ms\.?|господин|госпожа)\s+)?({_NAME})(?=\s*[,!.]|\s*$)",
    re.MULTILINE,
)
# "Иванов И.И.", "И.И. Иванов", "оператор Иванова А."
_SURNAME_INITIALS = re.compile(
    rf"\b[{_UP}][{_LOW}]+\s+[{_UP}]\.\s?(?:[{_UP}]\.)?|\b[{_UP}]\.\s?[{_UP}]\.\s?[{_UP}][{_LOW}]+"
)
_STAFF = re.compile(rf"(?i:(оператор|специалист|инженер|маман|operator|specialist))(\s+)({_NAME})")
# A sign-off line; the short lines after it are the signature.
_SIGN_OFF = re.compile(
    r"(?im)^[ \t]*(с\s+уважением|с\s+наилучшими\s+пожеланиями|спасибо|заранее\s+спасибо|благодарю|"
    r"құрметпен|рахмет|алдын\s+ала\s+рахмет|best\s+regards|kind\s+regards|regards|sincerely|thanks|"
    r"thank\s+you|cheers|--)\b[^\n]*$"
)
_SIGNATURE_LINE = re.compile(rf"^[ \t]*{_NAME}[ \t]*[.,]?[ \t]*$")
# A line that is nothing but two or three name words: a signature wherever it stands ("Анна Иванова").
_NAME_LINE = re.compile(rf"^[ \t]*{_NAME_WORD}(?:[ \t]+{_NAME_WORD}){{1,2}}[ \t]*[.,]?[ \t]*$")


# A web form's personal fields, one a line ("ФИО: ...", "Адрес: ...", "Телефон: ..."): the whole value goes.
_FORM_FIELDS = {
    "name": r"ф\.?\s?и\.?\s?о\.?|фамилия(?:,?\s+имя)?(?:,?\s+отчество)?|имя|отчество|аты-жөні|аты-жөніңіз|"
    r"тегі|name|full\s+name",
    "address": r"адрес(?:\s+проживания)?|мекенжай\w*|address",
    "phone": r"телефон|тел\.?|моб\.?|мобильный|контактный\s+телефон|ұялы\s+телефон|phone",
    "email": r"e-?mail|эл\.?\s?почта|электронная\s+почта|почта",
    "number": r"иин|жсн|iin|лицевой\s+сч[её]т|л/с|дербес\s+шот|account",
}
_FORM_FIELD = re.compile(
    r"(?im)^([ \t]*(?:" + "|".join(f"(?P<{k}>{v})" for k, v in _FORM_FIELDS.items()) + r")[ \t]*[:=][ \t]*)"
    r"(\S[^\n]*)"
)
# Two or three capitalised words in a row, anywhere: a full name ("Кенжебаев Марат", "Anna Schmidt").
_NAME_RUN = re.compile(
    rf"(?<![{_UP}{_LOW}\ue000-\uf8ff])(?:(?!(?:{_NOT_NAMES})\b)[{_UP}][{_LOW}]+(?:-[{_UP}]?[{_LOW}]+)?)"
    rf"(?:[ \t]+(?!(?:{_NOT_NAMES})\b)[{_UP}][{_LOW}]+(?:-[{_UP}]?[{_LOW}]+)?){{1,2}}(?![{_UP}{_LOW}])"
)
_CAPITALISED = re.compile(rf"(?<![{_UP}{_LOW}\w])[{_UP}][{_LOW}]+(?:-[{_UP}]?[{_LOW}]+)?(?![{_LOW}\w])")
# "Жанибек, здравствуйте!": a name before the greeting.
_NAME_GREETING = re.compile(
    rf"(?im)^([ \t]*{_NAME})(,?[ \t]+(?:здравствуйте|добрый\s+(?:день|вечер)|доброе\s+утро|сәлеметсіз\s+бе|"
    r"hello|good\s+(?:morning|afternoon|evening))\b)"
)
# Capitalised words that are nobody's: the company's partners and brands, places, institutions, months.
PUBLIC_WORDS = (
    "Kaspi.kz", "Kaspi Gold", "Kaspi Red", "Kaspi QR", "Kaspi", "Каспи Голд", "Каспи", "Halyk", "Халык",
    "eGov.kz", "eGov", "WhatsApp", "Telegram", "Instagram", "Homebank",
)  # fmt: skip
_COMMON_TEXT = """петропавл астан алмат казахстан қазақстан kazakhstan шымкент караганд қарағанд кокшет көкшет
    павлодар костана қостана актоб ақтөб атыра тараз семей оскемен өскемен кызылорд қызылорд уральск орал
    туркест түркіст экибастуз росси ресей russia северо-казахстан солтүстік north
    департамент комитет табиғи министерств акимат әкімдік правительств үкімет республик закон кодекс приказ
    january february march april may june july august september october november december
    monday tuesday wednesday thursday friday saturday sunday
"""
_COMMON_BEGINNINGS = tuple(_COMMON_TEXT.split())


def _is_common(word: str) -> bool:
    return word.lower().startswith(_COMMON_BEGINNINGS)


def placeholders(language: str | None) -> dict[str, str]:
    """The placeholders of `language` (Russian for any language without its own)."""
    return PLACEHOLDERS.get((language or "ru")[:2].lower(), PLACEHOLDERS["ru"])


def redact(
    text: str,
    language: str | None = "ru",
    names: Iterable[str] = (),
    keep: Iterable[str] = (),
) -> str:
    """`text` with e-mail addresses, phone numbers, account numbers, addresses and names replaced.

    `names` are names the caller knows belong to the case (the requester's, the operator's): every word of
    them is removed wherever it appears, in any grammatical form that starts with it.  `keep` are the
    company's own words and numbers (its telephone, its office's address) that stay, as do PUBLIC_WORDS.
    """
    ph = placeholders(language)
    protected = sorted({*PUBLIC_WORDS, *(k for k in keep if k.strip())}, key=len, reverse=True)
    kept: list[str] = []
    for value in protected:
        if value in text:
            text = text.replace(value, chr(0xE000 + len(kept)))
            kept.append(value)
    text = _FORM_FIELD.sub(lambda m: m[1] + ph[next(k for k in _FORM_FIELDS if m[k])], text)
    text = _EMAIL.sub(ph["email"], text)
    text = _PHONE_KEYWORD.sub(lambda m: m[1] + m[2] + ph["phone"], text)
    text = _PHONE_KZ.sub(ph["phone"], text)
    text = _PHONE_INTL.sub(ph["phone"], text)
    text = _PHONE_CITY.sub(ph["phone"], text)
    text = _NUMBER_KEYWORD.sub(lambda m: m[1] + m[2] + ph["number"], text)
    text = _ADDRESS_LEAD.sub(lambda m: m[1] + m[2] + ph["address"], text)
    text = _ADDRESS.sub(lambda m: _keep_trailing_space(m[0], ph["address"]), text)
    text = _LONG_NUMBER.sub(ph["number"], text)
    text = _signatures(text, ph["name"])
    text = _INTRO.sub(lambda m: m[1] + m[2] + ph["name"], text)
    text = _I_COMMA.sub(lambda m: m[1] + ph["name"], text)
    text = _SALUTATION.sub(lambda m: m[1] + m[2] + ph["name"], text)
    text = _STAFF.sub(lambda m: m[1] + m[2] + ph["name"], text)
    text = _SURNAME_INITIALS.sub(ph["name"], text)
    text = _known_names(text, names, ph["name"])
    text = _NAME_GREETING.sub(lambda m: ph["name"] + m[2], text)
    text = _NAME_RUN.sub(lambda m: m[0] if all(map(_is_common, m[0].split())) else ph["name"], text)
    text = _capitalised_words(text, ph["name"])
    for index, value in enumerate(kept):
        text = text.replace(chr(0xE000 + index), value)
    return _merge_repeats(text, ph)


def _capitalised_words(text: str, placeholder: str) -> str:
    """A capitalised word inside a sentence is a name or a street unless it is a known place or institution,
    or stands in quotes (an organization: «Рассвет»)."""

    def replace(match: re.Match[str]) -> str:
        word = match.group()
        if starts_sentence(text, match.start()) or _is_common(word) or _quoted(text, match.start()):
            return word
        return placeholder

    return _CAPITALISED.sub(replace, text)


def _quoted(text: str, position: int) -> bool:
    before = text[max(0, position - 60) : position]
    return before.count("«") > before.count("»") or before.count('"') % 2 == 1


def public_spans(answers: Iterable[tuple[str, str]], min_consumers: int = 3) -> set[str]:
    """What the rules would remove from answers but that the company tells everyone: the e-mail addresses,
    telephones, numbers and addresses (never a lone name) found in the answers to at least `min_consumers`
    different consumers (`answers` are (consumer, text) pairs).  A canned text's office address and
    telephone are public; one consumer's address is in the answers to that consumer only."""
    consumers: dict[str, set[str]] = defaultdict(set)
    patterns = (_EMAIL, _PHONE_KZ, _PHONE_INTL, _PHONE_CITY, _LONG_NUMBER, _ADDRESS)
    for consumer, text in answers:
        for pattern in patterns:
            for match in pattern.finditer(text):
                consumers[match.group().strip(" ,\t")].add(consumer)
    return {span for span, who in consumers.items() if len(who) >= min_consumers and len(span) >= 3}


def _keep_trailing_space(matched: str, placeholder: str) -> str:
    # The address pattern may swallow the separator before the next word; give it back.
    trailing = matched[len(matched.rstrip(" ,\t")) :]
    return placeholder + trailing


def _signatures(text: str, placeholder: str) -> str:
    """Name lines after a sign-off, and lines that are only a full name, become the placeholder."""
    lines = text.split("\n")
    for index, line in enumerate(lines):
        if _NAME_LINE.match(line):
            lines[index] = placeholder
            continue
        if not _SIGN_OFF.match(line):
            continue
        for follow in range(index + 1, min(index + 4, len(lines))):
            if not lines[follow].strip():
                continue
            if _SIGNATURE_LINE.match(lines[follow]) or _SURNAME_INITIALS.fullmatch(lines[follow].strip()):
                lines[follow] = placeholder
            else:
                break
    return "\n".join(lines)


def _known_names(text: str, names: Iterable[str], placeholder: str) -> str:
    words = {w for name in names for w in re.findall(rf"[{_UP}{_LOW}]+", name, re.IGNORECASE) if len(w) >= 3}
    for word in sorted(words, key=len, reverse=True):
        # Names decline (Айгуль, Айгули, Айгулью): drop the last letter of longer names as the stem.
        stem = word[:-1] if len(word) >= 5 else word
        pattern = rf"(?<![{_UP}{_LOW}]){re.escape(stem)}[{_LOW}]{{0,3}}(?![{_UP}{_LOW}])"
        text = re.sub(pattern, placeholder, text, flags=re.IGNORECASE)
    return text


# "[имя] [имя]" -> "[имя]": several replaced words of one name read as one.
_REPEATS = {
    value: re.compile(rf"{re.escape(value)}(?:[ \t]+{re.escape(value)})+")
    for values in PLACEHOLDERS.values()
    for value in values.values()
}


def _merge_repeats(text: str, ph: dict[str, str]) -> str:
    for value in set(ph.values()):
        if value in text:
            text = _REPEATS[value].sub(value, text)
    return text
