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
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold().strip().rstrip(".")


_INDEX: dict[str, str] = {}
for _c in COUNTRIES:
    for _name in (_c.code, _c.name, *_c.aliases):
        _INDEX[_fold(_name)] = _c.code


def to_iso2(text: str) -> str | None:
    """The ISO alpha-2 code for a country as people type it ("Germany", "de", "Deutschland"), or None."""
    return _INDEX.get(_fold(text))
