"""The text catalogues: every language has every key with the same placeholders."""

from __future__ import annotations

import pytest

from scoring.catalogue import LANGS, catalogue, placeholders, text, tier_name


@pytest.mark.parametrize("lang", [lang for lang in LANGS if lang != "en"])
def test_every_language_has_the_same_keys_as_english(lang: str) -> None:
    en, other = set(catalogue("en")), set(catalogue(lang))
    assert sorted(en - other) == [], f"missing in {lang}.toml"
    assert sorted(other - en) == [], f"only in {lang}.toml, not in en.toml"


@pytest.mark.parametrize("lang", [lang for lang in LANGS if lang != "en"])
def test_placeholders_agree_between_languages(lang: str) -> None:
    en, other = catalogue("en"), catalogue(lang)
    differing = {k: (sorted(placeholders(en[k])), sorted(placeholders(other[k]))) for k in en
                 if k in other and placeholders(en[k]) != placeholders(other[k])}
    assert differing == {}


def test_chinese_texts_are_chinese() -> None:
    # A Chinese text that is pure ASCII is an untranslated copy of the English one.
    en = catalogue("en")
    untranslated = [k for k, v in catalogue("zh").items() if v == en[k] and any(c.isalpha() for c in v)]
    assert untranslated == []


def test_text_fills_values_and_unknown_keys_fail() -> None:
    assert text("plan.tier_move", "en", count=37, before="medium", after="high") == "37 accounts medium → high"
    assert text("plan.tier_move", "zh", count=37, before="中", after="高") == "37 个客户 中 → 高"
    assert tier_name("critical", "zh") == "极高"
    with pytest.raises(KeyError):
        text("no.such.key", "en")
    with pytest.raises(KeyError):
        text("tier.low", "fr")
