"""The contact center's words across Russian, Kazakh and English: one concept for "свет", "жарық", "power".

A consumer asks "нет света" or "жарық жоқ"; no stemmer relates the two, and the models that would (word
embeddings across languages) must be fetched from a hub.  A utility's questions turn on a few dozen things
(electricity, payment, meter, reading, heating, tariff, account ...), so a hand-written glossary of their
words in the three languages is small, reviewable, and enough to bring paraphrases in different languages
together.  Each concept lists word beginnings (lower case, ё written е); an entry ending in "=" must match
the whole word ("су", "нет").  The longest matching beginning wins, so "счетчик" is a meter, "счет" a bill.
"""

from __future__ import annotations

import functools

_GLOSSARY: dict[str, str] = {
    "power": "свет свету света электр электроэнерг электричеств электроснабж энерги жарық жарығ "
    "power electric electricity light",
    "absent": "нет= жоқ= отключ пропа отсутствует= өшір өшіп өшті сөнд outage no= cut without= без=",
    "restore": "дадут включ восстанов қосасыз қосыл қосад restor back=",
    "payment": "оплат плат платеж заплат төле төлем pay paid payment деньг ақша перевод аудар",
    "kaspi": "kaspi каспи",
    "credited": "зачисл поступ отобража видно= дошл дош түспе түсті түспей көрін credit show",
    "debt": "долг задолж қарыз debt",
    "bill": "квитанц счет= счета= счете= счету= счетом= түбіртек bill invoice receipt",
    "charge": "начисл есептеп есептел charge",
    "meter": "счетчик электросчетчик прибор есептегіш meter",
    "reading": "показан көрсеткіш reading readings submit",
    "recalc": "перерасчет пересчит пересчет қайта recalculat",
    "away": "командиров уезжал уехал вахт жили= болмаған болмадым болдым тұрмады abroad away",
    "heating": "отоплен батаре радиатор теплоснаб тепл жылу жылы жылыт heating radiator heat стояк",
    "cold": "холод мерзн мерзл суық cold freez градус температур temperature",
    "hot": "горяч ыстық hot",
    "water": "вод су= суы= суды= water кран",
    "tariff": "тариф цена= цены= цену= ценой= цене= подорож дорог қымбат арзан tariff price стоимост",
    "increase": "вырос повыс повыш поднял поднима көтер өсті increase increased higher raise завыш больше= "
    "көп=",
    "account": "лицев дербес шот account",
    "contract": "договор шарт contract переоформ ресімде собственник меншік хозяин owner переписат",
    "wrong": "неправил неверн ошибк ошибоч қате дұрыс wrong incorrect error mistake чужой огромн",
    "documents": "документ справк құжат анықтам document certificate",
    "verification": "поверк verif calibrat",
    "replace": "замен менят поменя ауыстыр replace",
    "broken": "сломал неисправ ақау broken",
    "online": "кабинет сайт приложен қосымша website app online интернет",
}


def _index() -> tuple[dict[str, str], dict[str, str]]:
    whole: dict[str, str] = {}
    beginnings: dict[str, str] = {}
    for concept, words in _GLOSSARY.items():
        for word in words.split():
            if word.endswith("="):
                whole[word[:-1]] = concept
            else:
                beginnings[word] = concept
    return whole, beginnings


_WHOLE, _BEGINNINGS = _index()
_LONGEST = max(map(len, _BEGINNINGS))


@functools.lru_cache(maxsize=1 << 16)
def concept(word: str) -> str | None:
    """The concept a word stands for ("света" -> "power", "жарық" -> "power"), or None."""
    word = word.lower().replace("ё", "е")
    if word in _WHOLE:
        return _WHOLE[word]
    for length in range(min(len(word), _LONGEST), 2, -1):
        found = _BEGINNINGS.get(word[:length])
        if found:
            return found
    return None
