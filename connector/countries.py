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
    Country("MX", "Mexico", "MXN", ("México",)),
    Country("BR", "Brazil", "BRL", ("Brasil", "巴西")),
    Country("AR", "Argentina", "ARS", ()),
    Country("CL", "Chile", "CLP", ()),
    Country("CO", "Colombia", "COP", ()),
    Country("GB", "United Kingdom", "GBP", ("UK", "U.K.", "Great Britain", "England", "英国")),
    Country("IE", "Ireland", "EUR", ()),
    Country("DE", "Germany", "EUR", ("Deutschland", "德国")),
    Country("FR", "France", "EUR", ("法国",)),
    Country("NL", "Netherlands", "EUR", ("The Netherlands", "Holland")),
    Country("BE", "Belgium", "EUR", ()),
    Country("ES", "Spain", "EUR", ("España",)),
    Country("IT", "Italy", "EUR", ("Italia",)),
    Country("PT", "Portugal", "EUR", ()),
    Country("AT", "Austria", "EUR", ("Österreich",)),
    Country("CH", "Switzerland", "CHF", ("Schweiz", "Suisse")),
    Country("SE", "Sweden", "SEK", ("Sverige",)),
    Country("NO", "Norway", "NOK", ("Norge",)),
    Country("DK", "Denmark", "DKK", ("Danmark",)),
    Country("FI", "Finland", "EUR", ("Suomi",)),
    Country("PL", "Poland", "PLN", ("Polska",)),
    Country("CZ", "Czechia", "CZK", ("Czech Republic",)),
    Country("HU", "Hungary", "HUF", ()),
    Country("RO", "Romania", "RON", ()),
    Country("GR", "Greece", "EUR", ()),
    Country("TR", "Turkey", "TRY", ("Türkiye",)),
    Country("RU", "Russia", "RUB", ("Russian Federation",)),
    Country("UA", "Ukraine", "UAH", ()),
    Country("IL", "Israel", "ILS", ()),
    Country("AE", "United Arab Emirates", "AED", ("UAE",)),
    Country("SA", "Saudi Arabia", "SAR", ()),
    Country("EG", "Egypt", "EGP", ()),
    Country("NG", "Nigeria", "NGN", ()),
    Country("KE", "Kenya", "KES", ()),
    Country("ZA", "South Africa", "ZAR", ()),
    Country("IN", "India", "INR", ("印度",)),
    Country("PK", "Pakistan", "PKR", ()),
    Country("CN", "China", "CNY", ("PRC", "People's Republic of China", "中国", "中华人民共和国")),
    Country("HK", "Hong Kong", "HKD", ("香港",)),
    Country("TW", "Taiwan", "TWD", ("台湾",)),
    Country("JP", "Japan", "JPY", ("日本",)),
    Country("KR", "South Korea", "KRW", ("Korea", "Republic of Korea", "韩国")),
    Country("SG", "Singapore", "SGD", ("新加坡",)),
    Country("MY", "Malaysia", "MYR", ()),
    Country("TH", "Thailand", "THB", ()),
    Country("VN", "Vietnam", "VND", ("Viet Nam", "越南")),
    Country("ID", "Indonesia", "IDR", ()),
    Country("PH", "Philippines", "PHP", ()),
    Country("AU", "Australia", "AUD", ("澳大利亚",)),
    Country("NZ", "New Zealand", "NZD", ()),
    Country("VE", "Venezuela", "VES", ()),
    Country("IR", "Iran", "IRR", ()),
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
