"""The dry-run plan as a credit manager reviews it: a summary to approve, then every operation with the
record's name and values formatted the way people read them.

The engine adds one JSON-able line per write op (`plan_line`) and tallies tier moves and watchlist moves
per batch (`tally`); `summary` derives the rest (tasks, tags, fields changed by object) from the lines, so
the summary and the operations can never disagree. `rows` flattens the lines into one row per field,
task or tag for the table and for `--out plan.csv`.
"""

from __future__ import annotations

import csv
import math
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from connector.model import FieldUpdate, WriteOp
from connector.outcome import describe_op
from connector.plan import Planned
from scoring.catalogue import text, tier_name

__all__ = ["CSV_COLUMNS", "format_value", "plan_line", "rows", "summary", "tally", "write_csv"]

CSV_COLUMNS = ("operation", "object", "record_id", "name", "field", "before", "after", "raw_before", "raw_after",
               "owner", "due", "priority", "owed", "first_run")
_MONEY = ("recommended_credit_limit", "amount", "credit_limit")


def plan_line(op: WriteOp, planned: dict[tuple[str, str], Planned], canonical: dict[str, dict[str, str]]
              ) -> dict[str, Any]:
    """`describe_op` plus what a reviewer needs: the record's name, each CRM field's canonical name, the
    account's currency and an active override (its tier is shown as an override, with the computed one)."""
    line = describe_op(op)
    p = planned.get((op.object, op.record_id))
    if p is not None:
        detail = p.assessment.detail
        line["name"] = detail.get("name")
        if detail.get("currency"):
            line["currency"] = detail["currency"]
        if detail.get("override"):
            line["override"] = detail["override"]
    if isinstance(op, FieldUpdate):
        line["canonical"] = {f: canonical.get(op.object, {}).get(f, f) for f in op.changes}
    return line


def tally(moves: dict[str, int], watch: dict[str, list[str]], planned: Iterable[Planned], watch_enabled: bool
          ) -> None:
    """Add one batch's tier moves ("accounts|medium|high" -> count; "" before = first assessment) and
    watchlist entries and exits (record ids) to the run's totals."""
    for p in planned:
        row = p.assessment
        if row.tier != p.previous_tier:
            key = f"{row.object}|{p.previous_tier or ''}|{row.tier}"
            moves[key] = moves.get(key, 0) + 1
        if watch_enabled and p.watch is not None and p.watch.on_list != p.was_on_list:
            watch.setdefault("entries" if p.watch.on_list else "exits", []).append(row.record_id)


def summary(lines: list[dict[str, Any]], moves: dict[str, int], watch: dict[str, list[str]],
            first_run: dict[str, Any] | None) -> dict[str, Any]:
    """The plan summary (JSON-able): tier moves, watchlist entries and exits, tasks, tags, fields by object."""
    fields: dict[str, Counter[str]] = {}
    records: dict[str, set[str]] = {}
    for line in lines:
        if line["op"] == "update":
            fields.setdefault(line["object"], Counter()).update(line["changes"].keys())
            records.setdefault(line["object"], set()).add(line["id"])
    ops = Counter(line["op"] for line in lines)
    return {
        "tier_moves": [{"object": k.split("|")[0], "before": k.split("|")[1] or None, "after": k.split("|")[2],
                        "count": n} for k, n in sorted(moves.items(), key=_move_order)],
        "watchlist": {"entries": len(watch.get("entries", [])), "exits": len(watch.get("exits", []))},
        "tasks": ops["task"], "tasks_held_back": (first_run or {}).get("held", 0),
        "tags": {"add": ops["tag_add"], "remove": ops["tag_remove"]},
        "fields": {kind: {"records": len(records[kind]), "fields": dict(sorted(c.items()))}
                   for kind, c in sorted(fields.items())},
        "operations": len(lines),
    }


def _move_order(item: tuple[str, int]) -> tuple[int, int, str]:
    kind, before, after = item[0].split("|")
    rank = {"low": 0, "medium": 1, "high": 2, "critical": 3}
    return (kind != "accounts", -rank.get(after, 0), before)


def format_value(name: str, value: Any, lang: str, currency: str | None = None) -> str:
    """A value as a person reads it: a score `47`, money `EUR 1,250,000`, a tier in `lang`, yes/no."""
    if value is None or value == "":
        return "∅"
    if name == "risk_tier" and str(value) in ("low", "medium", "high", "critical"):
        return tier_name(str(value), lang)
    if name == "watchlist" or isinstance(value, bool):
        truthy = value is True or str(value).strip().casefold() in ("true", "1")
        return text("plan.yes" if truthy else "plan.no", lang)
    number = _number(value)
    if number is not None and name == "risk_score":
        return f"{number:.0f}"
    if number is not None and name in _MONEY:
        return f"{currency} {number:,.0f}" if currency else f"{number:,.0f}"
    if number is not None and name.endswith("_days"):
        return text("plan.days", lang, n=f"{number:.0f}")
    if name == "scored_at":
        return str(value).replace("T", " ")[:16] + " UTC"
    return str(value)


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def rows(lines: list[dict[str, Any]], lang: str) -> list[dict[str, str]]:
    """One row per changed field, task or tag (the table and the CSV), values formatted for `lang`."""
    out: list[dict[str, str]] = []
    for line in lines:
        base = {"operation": text(f"plan.op_{line['op']}", lang), "object": line["object"], "record_id": line["id"],
                "name": str(line.get("name") or ""), "owed": "yes" if line.get("owed") else "",
                "first_run": "yes" if line.get("first_run") else ""}
        if line["op"] == "update":
            for crm_field, (old, new) in line["changes"].items():
                name = line.get("canonical", {}).get(crm_field, crm_field)
                after = format_value(name, new, lang, line.get("currency"))
                if name == "risk_tier" and line.get("override"):
                    after = _override_line(line["override"], lang)
                out.append({**base, "field": crm_field, "before": format_value(name, old, lang, line.get("currency")),
                            "after": after, "raw_before": _raw(old), "raw_after": _raw(new)})
        elif line["op"] == "task":
            out.append({**base, "field": text("plan.task", lang), "before": "", "after": str(line["subject"]),
                        "raw_before": "", "raw_after": str(line["subject"]), "owner": str(line.get("owner") or ""),
                        "due": str(line["due"]), "priority": str(line["priority"])})
        else:
            out.append({**base, "field": text("plan.tag", lang), "before": "", "after": str(line["tag"]),
                        "raw_before": "", "raw_after": str(line["tag"])})
    return out


def _override_line(override: dict[str, Any], lang: str) -> str:
    from scoring.tierline import tier_line

    return tier_line(str(override.get("tier")), lang, computed=override.get("computed"), overridden=True,
                     override_reason=override.get("reason"), override_until=override.get("until"))


def _raw(value: Any) -> str:
    return "" if value is None else str(value)


def write_csv(path: Path, lines: list[dict[str, Any]], lang: str) -> int:
    """Every operation of the plan as CSV (UTF-8 with a BOM, so Excel reads Chinese names); returns rows."""
    table = rows(lines, lang)
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows({k: _cell(v) for k, v in row.items()} for row in table)
    return len(table)


def _cell(value: str) -> str:
    """A CRM value a spreadsheet would run as a formula (``=HYPERLINK(…)``) is written as text."""
    if value[:1] in ("=", "+", "@", "\t", "\r") or (value[:1] == "-" and _number(value) is None):
        return "'" + value
    return value

