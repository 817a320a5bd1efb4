"""`riskbridge explain` as Rich renderables, every word from the text catalogue in the explanation's language.

cli.py prints what `explanation_view` returns; the CSV form (`explain --input`) and a live record
(`explain --id` on a job) share it, so both show the same table and the same lines.
"""

from __future__ import annotations

from rich.console import RenderableType
from rich.table import Table

from connector.report import safe
from scoring.catalogue import catalogue, text, tier_name
from scoring.explain import Explanation

__all__ = ["explanation_view"]


def _factor(name: str, lang: str) -> str:
    return catalogue(lang).get(f"factor.{name}", name)


def _override_line(e: Explanation, lang: str) -> str | None:
    """The override's state; None when it is active, since the tier line above already says so."""
    o = e.override
    if o is None:
        return text("explain.override_none", lang)
    until = o.until.isoformat() if o.until else "?"
    if o.state == "active":
        return None
    if o.state == "expired":
        state = text("explain.override_expired", lang, tier=tier_name(o.tier, lang) if o.tier else "?", until=until)
    else:
        state = text("explain.override_ignored", lang)
    return text("explain.override", lang, text=state)


def explanation_view(e: Explanation, provenance: dict[str, str] | None = None) -> list[RenderableType]:
    """The points table, then score, tier (an override says so), probability of default, reasons, advice.

    With `provenance` (canonical input -> where its value came from: an outside source or the CRM), a
    column says where each characteristic's inputs came from, and a line per source lists its inputs."""
    lang = e.lang
    table = Table(title=safe(text("explain.title", lang, name=e.name or e.record_id, id=e.record_id,
                                  version=e.model_version)), title_justify="left",
                  caption=safe(text("explain.caption", lang)), caption_justify="left")
    for key in ("characteristic", "value", "bin", "points", "maximum", "shortfall"):
        table.add_column(text(f"explain.{key}", lang), justify="right" if key in ("points", "maximum", "shortfall")
                         else "left", no_wrap=key == "characteristic")
    if provenance is not None:
        from connector.sources.provenance import field_origin
        from scoring.features import FEATURES

        table.add_column(text("explain.column_from", lang))
    for r in e.rows:
        cells = [safe(_factor(r.characteristic, lang)), safe(r.value), safe(r.bin), f"{r.points:g}",
                 f"{r.maximum:g}", f"[red]{r.shortfall:g}[/]" if r.shortfall else "0"]
        if provenance is not None:
            spec = FEATURES.get(r.characteristic)
            cells.append(safe(field_origin(spec.inputs if spec else (), provenance)))
        table.add_row(*cells)
    table.add_row(text("explain.total", lang), "", "", f"{e.score:g}", f"{e.max_score:g}",
                  f"{e.max_score - e.score:g}", style="bold")
    nothing = text("reasons.nothing", lang)
    sep = text("explain.separator", lang)
    reasons = sep.join(r.text for r in e.reasons) or text("reasons.none", lang)
    knockouts = sep.join(k.text for k in e.knockouts) or nothing
    a = e.action
    limit = f"{a.credit_limit:,.0f}" if a.credit_limit is not None else text("explain.limit_none", lang)
    lines = [
        text("explain.risk_score", lang, score=e.risk_score),
        text("explain.tier", lang, tier_line=e.tier_text),
        text("explain.pd", lang, pd=f"{e.pd:.1%}"),
        text("explain.line", lang, label=text("reasons.label", lang), text=reasons),
        text("explain.line", lang, label=text("reasons.knockouts", lang), text=knockouts),
        *filter(None, [_override_line(e, lang)]),
        text("explain.action", lang, terms=a.terms_days, limit=limit, rationale=a.limit_rationale,
             prepay=f"{a.prepayment_share:.0%}", monitoring=a.monitoring),
    ]
    if a.advice:
        advice = "\n".join(f"  - {line}" for line in a.advice)
        lines.append(text("explain.line", lang, label=text("explain.advice", lang), text="\n" + advice))
    if a.task is not None:
        lines.append(text("explain.task", lang, subject=a.task.subject))
    by_source: dict[str, list[str]] = {}
    for name, origin in sorted((provenance or {}).items()):
        by_source.setdefault(origin, []).append(name)
    lines += [text("explain.values_from", lang, origin=origin, names=", ".join(names))
              for origin, names in sorted(by_source.items())]
    # CRM and file values (names, override reasons) are shown literally: markup escaped, controls visible.
    return [table, *("\n".join(safe(part, 4000) for part in line.split("\n")) for line in lines)]
