"""The tier as people read it, wherever it is shown: an override says so, the computed tier stays visible.

    tier_line("medium", "en", computed="high", override_reason="Parent company guarantee on file",
              override_until=date(2027, 1, 31))
    # 'tier medium (override: Parent company guarantee on file, until 2027-01-31; computed: high)'

The CRM reasons field, tasks, `explain`, the demo and the sandbox view all use this one helper, so an
overridden tier reads the same everywhere, in English and Chinese. The override's reason is shown here,
with the tier, and never as a risk reason.
"""

from __future__ import annotations

from datetime import date

from scoring.catalogue import text, tier_name
from scoring.plaintext import plain_text

__all__ = ["tier_line"]

_REASON_CHARS = 120  # the reason is a person's note; the CRM field it lands in is short


def tier_line(tier: str, lang: str = "en", *, computed: str | None = None, overridden: bool = False,
              override_reason: str | None = None, override_until: date | str | None = None) -> str:
    """`tier {tier}`, or with an active override: who/why, until when, and the computed tier."""
    shown = tier_name(tier, lang)
    if not overridden:
        return text("tier_line.plain", lang, tier=shown)
    until = override_until.isoformat() if isinstance(override_until, date) else (override_until or "?")
    was = tier_name(computed, lang) if computed else "?"
    reason = plain_text(override_reason or "")[:_REASON_CHARS].strip()
    if reason:
        return text("tier_line.override_reason", lang, tier=shown, reason=reason, until=until, computed=was)
    return text("tier_line.override", lang, tier=shown, until=until, computed=was)
