"""The one country conversion (sync transform and `riskbridge score`): real-world spellings to ISO alpha-2."""

from __future__ import annotations

import pytest

from connector.countries import COUNTRIES, to_iso2
from connector.transforms import TRANSFORMS, Unconvertible

# As people type them into CRMs and spreadsheets: English, German, French, Spanish, Chinese (simplified and
# traditional), ISO alpha-2 and alpha-3 codes, abbreviations, old names, odd case, accents and punctuation.
SPELLINGS: dict[str, str] = {
    "Germany": "DE", "germany": "DE", " GERMANY ": "DE", "Deutschland": "DE", "Allemagne": "DE", "Alemania": "DE",
    "德国": "DE", "德國": "DE", "DE": "DE", "de": "DE", "DEU": "DE", "GER": "DE",
    "United States": "US", "United States of America": "US", "USA": "US", "U.S.A.": "US", "U.S.": "US", "US": "US",
    "America": "US", "Vereinigte Staaten": "US", "États-Unis": "US", "Etats-Unis": "US", "Estados Unidos": "US",
    "EE.UU.": "US", "美国": "US", "美國": "US",
    "United Kingdom": "GB", "UK": "GB", "U.K.": "GB", "Great Britain": "GB", "England": "GB", "GB": "GB",
    "Vereinigtes Königreich": "GB", "Royaume-Uni": "GB", "Reino Unido": "GB", "英国": "GB",
    "China": "CN", "PRC": "CN", "People's Republic of China": "CN", "中国": "CN", "中华人民共和国": "CN",
    "Chine": "CN", "中國": "CN",
    "France": "FR", "Frankreich": "FR", "Francia": "FR", "法国": "FR",
    "Spain": "ES", "España": "ES", "Espana": "ES", "Spanien": "ES", "Espagne": "ES", "西班牙": "ES",
    "Netherlands": "NL", "The Netherlands": "NL", "Holland": "NL", "Niederlande": "NL", "Pays-Bas": "NL",
    "Países Bajos": "NL", "荷兰": "NL",
    "Switzerland": "CH", "Schweiz": "CH", "Suisse": "CH", "Suiza": "CH", "瑞士": "CH",
    "Austria": "AT", "Österreich": "AT", "Autriche": "AT",
    "South Korea": "KR", "Korea": "KR", "Republic of Korea": "KR", "Korea, Republic of": "KR", "Südkorea": "KR",
    "Corée du Sud": "KR", "Corea del Sur": "KR", "韩国": "KR", "南韓": "KR",
    "Japan": "JP", "Japon": "JP", "Japón": "JP", "日本": "JP",
    "Russia": "RU", "Russian Federation": "RU", "Russland": "RU", "Russie": "RU", "俄罗斯": "RU",
    "Czech Republic": "CZ", "Czechia": "CZ", "Tschechien": "CZ",
    "Turkey": "TR", "Türkiye": "TR", "Turkiye": "TR", "Türkei": "TR",
    "UAE": "AE", "United Arab Emirates": "AE", "Vereinigte Arabische Emirate": "AE",
    "Hong Kong": "HK", "Hong Kong SAR China": "HK", "香港": "HK",
    "Taiwan": "TW", "台湾": "TW", "臺灣": "TW",
    "Ivory Coast": "CI", "Côte d'Ivoire": "CI", "Cote d’Ivoire": "CI",
    "Burma": "MM", "Myanmar": "MM", "Vietnam": "VN", "Viet Nam": "VN", "越南": "VN",
    "Brazil": "BR", "Brasil": "BR", "Brésil": "BR", "Mexico": "MX", "México": "MX", "Mexiko": "MX",
    "India": "IN", "Indien": "IN", "Inde": "IN", "印度": "IN",
    "Saudi Arabia": "SA", "KSA": "SA", "Iran": "IR", "Bolivia": "BO", "Venezuela": "VE",
}


def test_at_least_sixty_real_world_spellings() -> None:
    assert len(SPELLINGS) >= 60


@pytest.mark.parametrize(("spelling", "code"), sorted(SPELLINGS.items()))
def test_a_real_world_spelling_converts(spelling: str, code: str) -> None:
    assert to_iso2(spelling) == code


@pytest.mark.parametrize("text", ["Atlantis", "Mars", "Europe", "EU", "Germany Inc", "", "   ", "123"])
def test_what_is_not_a_country_is_none(text: str) -> None:
    assert to_iso2(text) is None


def test_the_sync_transform_uses_the_same_conversion() -> None:
    country = TRANSFORMS["country"]
    assert country("Deutschland") == "DE" and country("中国") == "CN" and country("n/a") is None
    with pytest.raises(Unconvertible, match="Atlantis"):
        country("Atlantis")


def test_every_sandbox_market_and_its_aliases_convert() -> None:
    for c in COUNTRIES:
        assert to_iso2(c.name) == c.code, c.name
        for alias in c.aliases:
            assert to_iso2(alias) == c.code, alias
