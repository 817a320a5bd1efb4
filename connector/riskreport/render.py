"""The report as one self-contained HTML file: Jinja2 (autoescaped) around inline SVG charts.

A strict Content-Security-Policy (no scripts, no outside source at all) makes "works offline" checkable:
a browser that opened the file could not have fetched anything."""

from __future__ import annotations

from datetime import date, datetime
from importlib.resources import files

from babel.dates import format_date, format_datetime
from babel.numbers import format_compact_decimal, format_currency, format_decimal
from jinja2 import Environment, StrictUndefined, select_autoescape
from markupsafe import Markup

from connector.riskreport import charts
from connector.riskreport.data import NEW, TIERS, ReportData
from scoring.catalogue import catalogue, tier_name

__all__ = ["LOCALES", "render"]

LOCALES = {"en": "en_US", "zh": "zh_CN"}


def _texts(lang: str) -> dict[str, str]:
    prefix = "report."
    return {k[len(prefix):]: v for k, v in catalogue(lang).items() if k.startswith(prefix)}


def render(data: ReportData, lang: str = "en") -> str:
    """The whole report in `lang` (`en` or `zh`)."""
    locale = LOCALES[lang]
    t = _texts(lang)

    def number(value: float, digits: int = 0) -> str:
        return format_decimal(round(value, digits), format="#,##0" + ("." + "0" * digits if digits else ""),
                              locale=locale)

    def money(value: float, currency: str | None = None) -> str:
        code = data.currency if currency is None else currency
        if code and len(code) == 3:
            return format_currency(value, code, format="¤#,##0", locale=locale, currency_digits=False)
        return number(value)

    def day(value: date | datetime) -> str:
        if isinstance(value, datetime):
            return format_datetime(value, format="short", locale=locale, tzinfo=None)
        return format_date(value, format="medium", locale=locale)

    def tier(value: str) -> str:
        return t["new"] if value == NEW else tier_name(value, lang)

    def tick(value: float) -> str:
        return str(format_compact_decimal(value, locale=locale, fraction_digits=1))

    tier_labels = [tier(x) for x in TIERS]
    svg = {
        "tiers": charts.grouped_bars(t["chart_tiers"], tier_labels, {
            t["period_start"]: [data.tiers_start[x] for x in TIERS], t["now"]: [data.tiers_now[x] for x in TIERS]}, tick=tick),
        "exposure_tier": charts.bars(t["chart_exposure_tier"].format(currency=data.currency), tier_labels,
                                     [data.exposure_by_tier.get(x, 0.0) for x in TIERS],
                                     [charts.TIER_COLOURS[x] for x in TIERS], tick=tick),
        "exposure_owner": charts.bars(t["chart_exposure_owner"].format(currency=data.currency), [o for o, _ in data.exposure_by_owner],
                                      [v for _, v in data.exposure_by_owner], horizontal=True, tick=tick),
        "reasons": charts.bars(t["chart_reasons"], [_short(r) for r, _, _ in data.reasons],
                               [n for _, n, _ in data.reasons], horizontal=True, tick=tick),
        "api": charts.line(t["chart_api"], [f"#{r.id}" for r in data.runs], [r.api_calls for r in data.runs], tick=tick),
    }
    env = Environment(autoescape=select_autoescape(default=True, default_for_string=True),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    template = env.from_string(files("connector.riskreport").joinpath("report.html.j2").read_text(encoding="utf-8"))
    return template.render(d=data, t=t, lang=lang, tiers=TIERS, svg={k: Markup(v) for k, v in svg.items()},
                           number=number, money=money, day=day, tier=tier, colours=charts.TIER_COLOURS,
                           migration_rows=[k for k in (*TIERS, NEW) if k in data.migration])


def _short(text: str, width: int = 48) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
