"""Countries as CRMs hold them (free text) and as riskbridge scores them (ISO 3166 alpha-2)."""

from __future__ import annotations

import unicodedata
from typing import NamedTuple

__all__ = ["COUNTRIES", "Country", "to_iso2"]


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
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold().strip().rstrip(".")


_INDEX: dict[str, str] = {}
for _c in COUNTRIES:
    for _name in (_c.code, _c.name, *_c.aliases):
        _INDEX[_fold(_name)] = _c.code


def to_iso2(text: str) -> str | None:
    """The ISO alpha-2 code for a country as people type it ("Germany", "de", "Deutschland"), or None."""
    return _INDEX.get(_fold(text))
