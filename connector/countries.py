"""Countries as CRMs and spreadsheets hold them (free text) and as riskbridge scores them (ISO 3166 alpha-2).

    to_iso2("Deutschland")      # "DE"
    to_iso2("U.S.A.")           # "US"
    to_iso2("中国")              # "CN"
    to_iso2("Atlantis")         # None: the caller reports it (once per distinct value, with COUNTRY_HINT)

One conversion for every path (the sync's `country` transform and `riskbridge score`'s CSV reader), built
from maintained data rather than a hand-kept list: ISO 3166 codes and names from `pycountry`, and CLDR
country names in English, German, French, Spanish and Chinese (simplified and traditional) from `babel`,
plus the abbreviations and old names people type (UK, USA, UAE, PRC, Holland, Burma...). Matching ignores
case, accents, punctuation and a leading "the".

`COUNTRIES` is the sandbox's list of sample markets (with their currencies), not the conversion's data.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from typing import NamedTuple

import pycountry
from babel import Locale

__all__ = ["COUNTRIES", "COUNTRY_HINT", "Country", "to_iso2"]

COUNTRY_HINT = "use an ISO code (DE, US, CN) or a country name in English, German, French, Spanish or Chinese"
_LOCALES = ("en", "de", "fr", "es", "zh", "zh_Hant")
# What people type that neither ISO nor CLDR spells: abbreviations, old names, parts for the whole.
_ABBREVIATIONS: dict[str, str] = {
    "UK": "GB", "U.K.": "GB", "Great Britain": "GB", "Britain": "GB", "England": "GB", "Scotland": "GB",
    "Wales": "GB", "Northern Ireland": "GB", "GBR": "GB", "Grossbritannien": "GB", "Großbritannien": "GB",
    "Angleterre": "GB", "Inglaterra": "GB", "Gran Bretaña": "GB", "Grande-Bretagne": "GB", "大不列颠": "GB",
    "USA": "US", "U.S.": "US", "U.S.A.": "US", "US of A": "US", "America": "US", "United States of America": "US",
    "EEUU": "US", "EE.UU.": "US", "EE. UU.": "US", "Vereinigte Staaten von Amerika": "US", "美利坚合众国": "US",
    "UAE": "AE", "U.A.E.": "AE", "Emirates": "AE", "VAE": "AE", "EAU": "AE", "阿联酋": "AE",
    "PRC": "CN", "P.R.C.": "CN", "P.R. China": "CN", "PR China": "CN", "Mainland China": "CN",
    "People's Republic of China": "CN", "中华人民共和国": "CN", "中国大陆": "CN", "VR China": "CN",
    "ROC": "TW", "Republic of China": "TW", "Chinese Taipei": "TW", "台灣": "TW", "臺灣": "TW",
    "ROK": "KR", "Korea": "KR", "Republic of Korea": "KR", "Korea, South": "KR", "大韩民国": "KR",
    "DPRK": "KP", "North Korea": "KP", "Korea, North": "KP", "朝鲜": "KP",
    "Hong Kong": "HK", "Hongkong": "HK", "HKSAR": "HK", "香港": "HK", "Macau": "MO", "Macao": "MO", "澳门": "MO",
    "Holland": "NL", "The Netherlands": "NL", "Nederland": "NL", "Czech Republic": "CZ", "Tschechien": "CZ",
    "Russia": "RU", "Russland": "RU", "Russie": "RU", "Rusia": "RU", "RF": "RU", "俄罗斯联邦": "RU",
    "Burma": "MM", "Turkey": "TR", "Türkei": "TR", "Turquie": "TR", "Turquía": "TR", "Ivory Coast": "CI",
    "Vietnam": "VN", "Viet Nam": "VN", "Swaziland": "SZ", "Macedonia": "MK", "Cape Verde": "CV",
    "KSA": "SA", "Saudi": "SA", "Schweiz": "CH", "Suisse": "CH", "Svizzera": "CH", "Österreich": "AT",
    "Brasil": "BR", "México": "MX", "Deutschland": "DE", "BRD": "DE", "GER": "DE", "Sverige": "SE",
    "Norge": "NO", "Danmark": "DK", "Suomi": "FI", "Polska": "PL", "Italia": "IT", "España": "ES",
    "Bolivia": "BO", "Venezuela": "VE", "Iran": "IR", "Syria": "SY", "Tanzania": "TZ", "Laos": "LA",
    "Moldova": "MD", "Palestine": "PS", "Vatican": "VA", "Holy See": "VA", "South Korea": "KR",
}
_PUNCTUATION = re.compile(r"[.,'’`´()\[\]{}\"/\\_·・。，（）-]+")


class Country(NamedTuple):
    code: str
    name: str
    currency: str
    aliases: tuple[str, ...] = ()


COUNTRIES: tuple[Country, ...] = (
    Country("US", "United States", "USD", ("USA", "U.S.A.", "U.S.", "United States of America", "美国")),
    Country("CA", "Canada", "CAD", ("加拿大",)),
    Country("MX", "Mexico", "MXN", ("México", "墨西哥",)),
    Country("BR", "Brazil", "BRL", ("Brasil", "巴西")),
    Country("AR", "Argentina", "ARS", ("阿根廷",)),
    Country("CL", "Chile", "CLP", ("智利",)),
    Country("CO", "Colombia", "COP", ("哥伦比亚",)),
    Country("GB", "United Kingdom", "GBP", ("UK", "U.K.", "Great Britain", "England", "英国")),
    Country("IE", "Ireland", "EUR", ("爱尔兰",)),
    Country("DE", "Germany", "EUR", ("Deutschland", "德国")),
    Country("FR", "France", "EUR", ("法国",)),
    Country("NL", "Netherlands", "EUR", ("The Netherlands", "Holland", "荷兰")),
    Country("BE", "Belgium", "EUR", ("比利时",)),
    Country("ES", "Spain", "EUR", ("España", "西班牙",)),
    Country("IT", "Italy", "EUR", ("Italia", "意大利",)),
    Country("PT", "Portugal", "EUR", ("葡萄牙",)),
    Country("AT", "Austria", "EUR", ("Österreich", "奥地利",)),
    Country("CH", "Switzerland", "CHF", ("Schweiz", "Suisse", "瑞士")),
    Country("SE", "Sweden", "SEK", ("Sverige", "瑞典",)),
    Country("NO", "Norway", "NOK", ("Norge", "挪威",)),
    Country("DK", "Denmark", "DKK", ("Danmark", "丹麦",)),
    Country("FI", "Finland", "EUR", ("Suomi", "芬兰",)),
    Country("PL", "Poland", "PLN", ("Polska", "波兰",)),
    Country("CZ", "Czechia", "CZK", ("Czech Republic", "捷克",)),
    Country("HU", "Hungary", "HUF", ("匈牙利",)),
    Country("RO", "Romania", "RON", ("罗马尼亚",)),
    Country("GR", "Greece", "EUR", ("希腊",)),
    Country("TR", "Turkey", "TRY", ("Türkiye", "土耳其",)),
    Country("RU", "Russia", "RUB", ("Russian Federation", "俄罗斯",)),
    Country("UA", "Ukraine", "UAH", ("乌克兰",)),
    Country("IL", "Israel", "ILS", ("以色列",)),
    Country("AE", "United Arab Emirates", "AED", ("UAE", "阿联酋",)),
    Country("SA", "Saudi Arabia", "SAR", ("沙特阿拉伯",)),
    Country("EG", "Egypt", "EGP", ("埃及",)),
    Country("NG", "Nigeria", "NGN", ("尼日利亚",)),
    Country("KE", "Kenya", "KES", ("肯尼亚",)),
    Country("ZA", "South Africa", "ZAR", ("南非",)),
    Country("IN", "India", "INR", ("印度",)),
    Country("PK", "Pakistan", "PKR", ("巴基斯坦",)),
    Country("CN", "China", "CNY", ("PRC", "People's Republic of China", "中国", "中华人民共和国")),
    Country("HK", "Hong Kong", "HKD", ("香港",)),
    Country("TW", "Taiwan", "TWD", ("台湾",)),
    Country("JP", "Japan", "JPY", ("日本",)),
    Country("KR", "South Korea", "KRW", ("Korea", "Republic of Korea", "韩国")),
    Country("SG", "Singapore", "SGD", ("新加坡",)),
    Country("MY", "Malaysia", "MYR", ("马来西亚",)),
    Country("TH", "Thailand", "THB", ("泰国",)),
    Country("VN", "Vietnam", "VND", ("Viet Nam", "越南")),
    Country("ID", "Indonesia", "IDR", ("印度尼西亚",)),
    Country("PH", "Philippines", "PHP", ("菲律宾",)),
    Country("AU", "Australia", "AUD", ("澳大利亚",)),
    Country("NZ", "New Zealand", "NZD", ("新西兰",)),
    Country("VE", "Venezuela", "VES", ("委内瑞拉",)),
    Country("IR", "Iran", "IRR", ("伊朗",)),
)


def _fold(text: str) -> str:
    """Case, accents, punctuation, a leading "the" and extra spaces do not matter."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    words = _PUNCTUATION.sub(" ", plain).split()
    if words[:1] == ["the"] and len(words) > 1:
        words = words[1:]
    return " ".join(words)


def _variants(name: str) -> list[str]:
    """A CLDR name and its parts people also type: "Myanmar (Burma)" -> also "Myanmar" and "Burma"."""
    out = [name]
    match = re.fullmatch(r"\s*(.+?)\s*\((.+)\)\s*", name)
    if match:
        out += [match.group(1), match.group(2)]
    if "," in name:  # ISO's "Korea, Republic of" -> "Republic of Korea"
        head, _, tail = name.partition(",")
        out.append(f"{tail.strip()} {head.strip()}")
    return out


@functools.cache
def _index() -> dict[str, str]:
    """Folded spelling -> alpha-2, built once from pycountry and CLDR; earlier sources win a clash."""
    index: dict[str, str] = {}

    def add(name: str, code: str) -> None:
        for variant in _variants(name):
            key = _fold(variant)
            if key:
                index.setdefault(key, code)

    countries = list(pycountry.countries)
    for c in countries:
        add(c.alpha_2, c.alpha_2)
        add(c.alpha_3, c.alpha_2)
    for spelling, code in _ABBREVIATIONS.items():
        add(spelling, code)
    for c in countries:
        for attr in ("name", "common_name", "official_name"):
            value = getattr(c, attr, None)
            if value:
                add(value, c.alpha_2)
    codes = {c.alpha_2 for c in countries}
    for locale in _LOCALES:
        for code, name in Locale.parse(locale).territories.items():
            if code in codes:
                add(name, code)
    return index


def to_iso2(text: str) -> str | None:
    """The ISO alpha-2 code for a country as people type it ("Germany", "de", "Deutschland", "中国"), or None."""
    return _index().get(_fold(text))
