"""Rich renderables for run summaries, dry-run plans and run history. Builds them; cli.py prints them.

Every value that comes from the CRM, the state store or a file passes through `safe()`: Rich would read
``[/oops]`` in an account name as markup (and raise), ``[link=…]`` as a hyperlink, and an ANSI escape or a
bidi override would reach the terminal as a control sequence.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from connector.outcome import RunReport
from connector.state import AssessmentRow, RunRow
from scoring.catalogue import text, tier_name

__all__ = ["Advance", "failures_table", "first_run_line", "plan_summary_table", "plan_table", "progress_bar",
           "riskiest_table", "run_detail", "run_reason", "runs_table", "safe", "select_plan", "skipped_table", "summary_table"]

_STATUS_STYLE = {"success": "green", "partial": "yellow", "failed": "red", "running": "cyan"}
# C0 and C1 controls (but tab and newline), DEL, and the invisible bidi and line/paragraph separators that
# can reorder or hide what a terminal shows.
UNSAFE_CHARS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069"
                     "\ufeff]")
MAX_CELL = 200


def safe(value: object, width: int = MAX_CELL) -> str:
    """`value` as literal text for Rich: markup escaped, control and bidi characters shown as \\uXXXX,
    cut to `width` characters."""
    text = "" if value is None else str(value)
    if len(text) > width:
        text = text[: width - 1] + "…"
    text = UNSAFE_CHARS.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
    if any(unicodedata.category(ch) == "Cs" for ch in text):  # lone surrogates cannot be encoded
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return escape(text)


def _object_name(kind: Any, lang: str) -> str:
    """"accounts"/"deals" in the reader's language; anything else as stored, made safe."""
    return text(f"plan.object_{kind}", lang) if kind in ("accounts", "deals") else safe(kind)


_COUNTS = ("extracted", "unchanged", "mapped", "skipped", "scored", "changed", "written", "failed")


def _status(status: str, lang: str) -> str:
    return text(f"run.status_{status}", lang) if status in _STATUS_STYLE else status


def _styled_status(status: str, lang: str) -> str:
    return f"[{_STATUS_STYLE.get(status, '')}]{safe(_status(status, lang))}[/]"


def summary_table(report: RunReport, lang: str = "en") -> Table:
    """The run's counts per object, with tasks, tags, API use and, while it matters, the first-run tasks."""
    status = _styled_status(report.status, lang) + (f" · {text('run.dry_run', lang)}" if report.dry_run else "")
    table = Table(title=text("run.title", lang, id=report.run_id, job=safe(report.job), status=status),
                  title_justify="left", caption_justify="left")
    table.add_column(text("run.object", lang))
    for name in _COUNTS:
        table.add_column(text(f"run.{name}", lang), justify="right")
    for kind, counts in report.objects.items():
        c = vars(counts)
        table.add_row(text(f"plan.object_{kind}", lang), *(f"{c[k]:,}" for k in _COUNTS))
    parts = [text("run.tasks_planned" if report.dry_run else "run.tasks_created", lang, n=report.tasks_created),
             text("run.tags", lang, added=report.tags_added, removed=report.tags_removed)]
    if report.resent:
        parts.append(text("run.resent", lang, n=report.resent))
    parts.append(text("run.api_calls", lang, n=report.api_calls) + (
        " " + text("run.api_usage", lang, used=f"{report.api_usage[0]:,}", limit=f"{report.api_usage[1]:,}")
        if report.api_usage else ""))
    parts.append(f"{report.duration_s:.1f}s")
    if report.stopped:
        parts.append(text("run.stopped", lang, why=safe(report.stopped)))
    caption = " · ".join(parts)
    if report.first_run is not None:
        caption += "\n" + safe(first_run_line(report.first_run, lang, report.dry_run), 1000)
    caption += "".join(f"\n[bold red]{text('run.mapping_wrong', lang)}[/] {safe(w['message'], 400)}"
                       for w in report.mapping_warnings)
    table.caption = caption
    return table


def first_run_line(first: dict[str, Any], lang: str, dry_run: bool = False) -> str:
    """What the run did (or, dry, would do) with first-run tasks, and why: the caps keep an install from
    flooding anyone."""
    tiers = "/".join(tier_name(t, lang) for t in first.get("tiers", []))
    values = {"created": first.get("created", 0), "held": first.get("held", 0), "per_run": first.get("cap"),
              "per_owner": first.get("cap_per_owner")}
    dry = "_dry" if dry_run else ""
    if first.get("first_run"):
        return text(f"first_run.summary{dry}", lang, tiers=tiers, **values) + " " + text("first_run.why", lang,
                                                                                      tiers=tiers)
    return text(f"first_run.backlog{dry}", lang, **values)


def failures_table(report: RunReport, limit: int = 50, lang: str = "en") -> Table:
    table = Table(title=text("run.failures_title", lang, count=f"{report.failures.total:,}"), title_justify="left")
    for col in ("plan.column_object", "plan.column_record", "plan.column_operation", "runs.column_reason"):
        table.add_column(text(col, lang))
    for f in report.failures[:limit]:
        table.add_row(_object_name(f["object"], lang), safe(f["id"]), safe(f.get("op", "")), safe(f["reason"], 400))
    if report.failures.total > limit:
        table.caption = text("run.more", lang, count=f"{report.failures.total - limit:,}")
    return table


def skipped_table(report: RunReport, limit: int = 20, lang: str = "en") -> Table:
    advice = text("run.skipped_advice_mapping" if report.mapping_warnings else "run.skipped_advice_crm", lang)
    table = Table(title=text("run.skipped_title", lang, count=f"{report.skipped.total:,}", advice=advice),
                  title_justify="left")
    for col in ("plan.column_object", "plan.column_record", "runs.column_reason"):
        table.add_column(text(col, lang))
    for item in report.skipped[:limit]:
        table.add_row(_object_name(item["object"], lang), safe(item["id"]), safe(item["reason"], 400))
    if report.skipped.total > limit:
        table.caption = text("run.more", lang, count=f"{report.skipped.total - limit:,}")
    return table


# --- the dry-run plan ------------------------------------------------------------------------------

def plan_summary_table(report: RunReport, lang: str = "en") -> Table:
    """The summary a credit manager approves: tier moves, watchlist, tasks, tags, fields changed by object."""
    from connector.plan_review import summary

    s = summary(report.plan, report.tier_moves, report.watch_moves, report.first_run)
    table = Table(title=text("plan.summary_title", lang), title_justify="left", show_header=False,
                  caption_justify="left")
    table.add_column(style="bold")
    table.add_column()
    moves = [text("plan.tier_move" if m["object"] == "accounts" else "plan.tier_move_deals", lang,
                  count=f"{m['count']:,}", before=tier_name(m["before"], lang) if m["before"] else text("plan.new", lang),
                  after=tier_name(m["after"], lang)) for m in s["tier_moves"]]
    table.add_row(text("plan.tier_moves", lang), "\n".join(moves) or text("plan.none", lang))
    table.add_row(text("plan.watchlist_entries", lang), _names(report, report.watch_moves.get("entries", []), lang))
    table.add_row(text("plan.watchlist_exits", lang), _names(report, report.watch_moves.get("exits", []), lang))
    table.add_row(text("plan.tasks_to_create", lang), f"{s['tasks']:,}")
    if report.first_run is not None:
        table.add_row(text("plan.tasks_held_back", lang), f"{s['tasks_held_back']:,}")
    table.add_row(text("plan.tags", lang), text("plan.tags_line", lang, add=s["tags"]["add"],
                                                remove=s["tags"]["remove"]))
    fields = [text("plan.fields_changed_by_object", lang, object=text(f"plan.object_{kind}", lang),
                   count=f"{sum(f['fields'].values()):,}", records=f"{f['records']:,}")
              + " (" + ", ".join(f"{safe(name)} {n:,}" for name, n in f["fields"].items()) + ")"
              for kind, f in s["fields"].items()]
    table.add_row(text("plan.fields_changed", lang), "\n".join(fields) or text("plan.none", lang))
    return table


def _names(report: RunReport, ids: list[str], lang: str, shown: int = 8) -> str:
    """A count, and the first few names (the operations, the CSV and --json have them all)."""
    if not ids:
        return "0"
    names = {line["id"]: line.get("name") or line["id"] for line in report.plan if line["object"] == "accounts"}
    listed = ", ".join(safe(names.get(i, i), 60) for i in ids[:shown])
    more = f" {text('plan.more', lang, count=len(ids) - shown)}" if len(ids) > shown else ""
    return f"{len(ids):,}: {listed}{more}"


def select_plan(report: RunReport, ids: list[str] | None = None) -> list[dict[str, Any]]:
    """The plan's operations on the records `ids` (every operation when None or empty)."""
    if not ids:
        return report.plan
    wanted = set(ids)
    return [line for line in report.plan if line["id"] in wanted]


def plan_table(report: RunReport, limit: int = 200, ids: list[str] | None = None, lang: str = "en") -> Table:
    """The operations, one row per field, task or tag: the record's name, before and after as people read
    them; the first `limit` operations (of those on `ids`, if given)."""
    from connector.plan_review import rows

    lines = select_plan(report, ids)
    shown = lines[:limit]
    if not report.plan:
        return Table(title=text("plan.nothing", lang), title_justify="left", show_header=False, box=None)
    table = Table(title=text("plan.title", lang, count=f"{len(report.plan):,}"), title_justify="left",
                  caption_justify="left")
    for col in ("operation", "object", "record", "name", "field", "before", "after"):
        table.add_column(text(f"plan.column_{col}", lang), overflow="fold")
    previous = None
    for row in rows(shown, lang):
        key = (row["operation"], row["object"], row["record_id"])
        first, previous = key != previous, key
        after = row["after"]
        if row.get("due"):
            after += " (" + text("plan.task_detail", lang, owner=row.get("owner") or "∅", due=row["due"],
                                 priority=row["priority"]) + ")"
        marks = [text(k, lang) for k, on in (("plan.owed", row["owed"]), ("plan.first_run", row["first_run"])) if on]
        lead = (row["operation"], text(f"plan.object_{row['object']}", lang), row["record_id"], row["name"])
        table.add_row(*(safe(v, 300) if first else "" for v in lead), safe(row["field"]), safe(row["before"], 300),
                      safe(after, 1000) + "".join(f" [dim]({safe(m)})[/]" for m in marks))
    if len(lines) > len(shown) or ids:
        table.caption = text("plan.operations_shown", lang, shown=f"{len(shown):,}", total=f"{len(report.plan):,}")
    return table


def riskiest_table(rows: list[AssessmentRow], lang: str = "en",
                   origins: Callable[[AssessmentRow], list[str]] | None = None) -> Table:
    """The riskiest accounts (the demo): score, tier and top reasons; an overridden tier says so, with who
    or why, until when and the computed tier, and its reason is never listed as a risk reason. `origins`
    names, per reason, where its data came from (outside sources or the CRM)."""
    table = Table(title=text("demo.riskiest_sources" if origins else "demo.riskiest", lang), title_justify="left")
    for col in ("account", "score", "tier", "reasons"):
        table.add_column(text(f"demo.column_{col}", lang))
    for row in rows:
        detail = row.detail
        override = detail.get("override")
        shown = detail.get("tier_text") if override else None
        if override and not shown:
            from scoring.tierline import tier_line

            shown = tier_line(row.tier, lang, computed=override.get("computed"), overridden=True,
                              override_reason=override.get("reason"), override_until=override.get("until"))
        reasons = list(detail.get("reasons", []))[:4]
        if origins is not None:
            reasons = [f"{reason} [{origin}]" for reason, origin in zip(reasons, origins(row), strict=False)]
        table.add_row(safe(detail.get("name") or row.record_id), f"{row.score:.0f}",
                      safe(shown or tier_name(row.tier, lang), 400), safe("\n".join(reasons), 1000))
    return table


# --- run history -----------------------------------------------------------------------------------

def runs_table(rows: list[RunRow], lang: str = "en") -> Table:
    """Run history that fits 80 columns: counts in one cell, and why a run was not a success."""
    # No vertical rules and the counts in one cell: the reason gets the width a person needs to read it.
    table = Table(title=text("runs.list_title", lang), title_justify="left", caption=text("runs.hint_id", lang),
                  caption_justify="left", box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    table.add_column(text("runs.column_id", lang), justify="right", no_wrap=True)
    table.add_column(text("runs.column_job", lang), max_width=10, overflow="fold")
    table.add_column(text("runs.column_started", lang), no_wrap=True)
    table.add_column(text("runs.column_status", lang), max_width=9, overflow="fold")
    table.add_column(text("runs.column_counts", lang), justify="right", max_width=17, overflow="fold")
    table.add_column(text("runs.column_reason", lang), overflow="fold", ratio=1, min_width=16)
    for r in rows:
        objects: dict[str, Any] = (r.summary or {}).get("objects", {})
        read, written, failed = (sum(int(o.get(k, 0)) for o in objects.values())
                                 for k in ("extracted", "written", "failed"))
        status = _styled_status(r.status, lang) + (f" ({text('runs.dry', lang)})" if r.dry_run else "")
        table.add_row(str(r.id), safe(r.job), r.started_at.strftime("%m-%d %H:%M"), status,
                      f"{read:,}/{written:,}/{failed:,}" if objects else "", safe(run_reason(r, lang), 160))
    return table


def schedule_table(rows: list[dict[str, Any]]) -> Table:
    """`schedule list`: each job and monitor with its trigger, next run and last run."""
    table = Table(title="schedule (UTC)", title_justify="left")
    for col in ("entry", "trigger", "next run", "last run", "status", "reason"):
        table.add_column(col)
    for r in rows:
        last = r["last_run"] or {}
        status = last.get("status", "never run")
        table.add_row(safe(r["id"]), safe(r["trigger"]), safe((r["next_run"] or "")[:19].replace("T", " ")),
                      safe((last.get("started_at") or "")[:19].replace("T", " ")),
                      f"[{_STATUS_STYLE[status]}]{safe(status)}[/]" if status in _STATUS_STYLE else safe(status),
                      safe(last.get("reason") or "", 80))
    return table


def _short(value: Any, width: int = 40) -> str:
    text = "∅" if value is None or value == "" else str(value)
    return text if len(text) <= width else text[: width - 1] + "…"
def run_reason(r: RunRow, lang: str = "en") -> str:
    """Why a run failed or is partial, in one line ('' for a success)."""
    summary: dict[str, Any] = r.summary or {}
    if r.status == "failed":
        return str(r.error or summary.get("error") or "")
    if r.status != "partial":
        return ""
    parts = [str(summary["stopped"])] if summary.get("stopped") else []
    parts += [text("runs.reason_mapping", lang, message=w.get("message", ""))
              for w in summary.get("mapping_warnings", [])[:1]]
    failures = summary.get("failures", [])
    if failures:
        f = failures[0]
        parts.append(text("runs.reason_failures", lang, count=f"{int(summary.get('failures_total', len(failures))):,}",
                          first=f"{_object_name(f.get('object'), lang)} {f.get('id')}: {f.get('reason')}"))
    return "; ".join(parts)


def run_detail(r: RunRow, lang: str = "en") -> list[Table]:
    """One run in full: what it was, its counts, its failures, the records it skipped and its API usage."""
    summary: dict[str, Any] = r.summary or {}
    head = Table(title=text("runs.title", lang, id=r.id), title_justify="left", show_header=False,
                 caption_justify="left")
    head.add_column(style="bold", no_wrap=True)
    head.add_column(overflow="fold")
    mode = "mode_dry" if r.dry_run else ("mode_full" if r.full else "mode_incremental")
    items = [("runs.column_job", safe(r.job)), ("runs.detail_status", _styled_status(r.status, lang)),
             ("runs.detail_mode", text(f"runs.{mode}", lang)),
             ("runs.detail_started", r.started_at.strftime("%Y-%m-%d %H:%M:%S")),
             ("runs.detail_finished", r.finished_at.strftime("%Y-%m-%d %H:%M:%S") if r.finished_at else "")]
    if "duration_s" in summary:
        items.append(("runs.detail_duration", f"{summary['duration_s']:.1f}s"))
    items += [("runs.detail_tasks", str(summary.get("tasks_created", 0))),
              ("runs.detail_tags", f"{summary.get('tags_added', 0)} / {summary.get('tags_removed', 0)}"),
              ("runs.detail_resent", str(summary.get("resent", 0))),
              ("runs.detail_calls", f"{r.api_calls:,}")]
    usage = summary.get("api_usage")
    if usage:
        items.append(("runs.detail_usage", f"{usage['used']:,} / {usage['limit']:,}"))
    if summary.get("stopped"):
        items.append(("runs.detail_stopped", safe(summary["stopped"], 1000)))
    if r.error:
        items.append(("runs.detail_error", safe(r.error, 2000)))
    for key, value in items:
        head.add_row(text(key, lang), value)
    for w in summary.get("mapping_warnings", []):
        head.add_row(text("run.mapping_wrong", lang), safe(w.get("message"), 400))
    if summary.get("first_run"):
        head.add_row(text("runs.detail_first_run", lang), safe(first_run_line(summary["first_run"], lang, r.dry_run),
                                                               1000))
    tables = [head]
    objects: dict[str, Any] = summary.get("objects", {})
    if objects:
        counts = Table(title=text("runs.counts", lang), title_justify="left")
        counts.add_column(text("run.object", lang))
        for name in _COUNTS:
            counts.add_column(text(f"run.{name}", lang), justify="right")
        for kind, c in objects.items():
            label = _object_name(kind, lang)
            counts.add_row(label, *(f"{int(c.get(k, 0)):,}" for k in _COUNTS))
        tables.append(counts)
    for key, entries in (("runs.failures", summary.get("failures", [])), ("runs.skipped", summary.get("skipped", []))):
        if not entries:
            continue
        total = int(summary.get(f"{key[5:]}_total", len(entries)))  # a report lists the first LISTED
        table = Table(title=f"{text(key, lang)}: {total:,}", title_justify="left", caption_justify="left")
        if total > len(entries):
            table.caption = text("plan.more", lang, count=f"{total - len(entries):,}")
        # A record id is whole on one line, to be copied into `--ids`; a Fxiaoke id has 32 characters.
        id_width = max((len(safe(item.get("id"))) for item in entries), default=0)
        for col in ("plan.column_object", "plan.column_record", "plan.column_operation", "runs.column_reason"):
            if col == "plan.column_record":
                table.add_column(text(col, lang), no_wrap=True, min_width=min(id_width, 40))
            else:
                table.add_column(text(col, lang), overflow="fold")
        for item in entries:
            table.add_row(_object_name(item.get("object"), lang), safe(item.get("id")), safe(item.get("op", "")),
                          safe(item.get("reason"), 400))
        tables.append(table)
    return tables


# --- progress --------------------------------------------------------------------------------------

Advance = Callable[[str, int, int | None], None]


def _no_progress(_stage: str, _n: int, _total: int | None = None) -> None:
    return None


@contextmanager
def progress_bar(enabled: bool, console: Console, lang: str = "en") -> Iterator[Advance]:
    """A progress callback for the engine: one Rich bar per stage on a TTY (a total and an ETA once the
    engine knows the total), nothing otherwise (the logs carry the counts). `stage` is a key of the
    `progress` texts; `n` advances it; `total`, when given, is the stage's total so far."""
    if not enabled:
        yield _no_progress
        return
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TimeRemainingColumn(), console=console, transient=True) as progress:
        tasks: dict[str, Any] = {}

        def advance(stage: str, n: int, total: int | None = None) -> None:
            if stage not in tasks:
                tasks[stage] = progress.add_task(text(f"progress.{stage}", lang), total=None)
            if total is not None:
                progress.update(tasks[stage], total=total)
            progress.advance(tasks[stage], n)

        yield advance
