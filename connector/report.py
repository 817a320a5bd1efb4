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

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from connector.outcome import RunReport
from connector.state import RunRow

__all__ = ["failures_table", "plan_table", "progress_bar", "runs_table", "safe", "skipped_table", "summary_table"]

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


def summary_table(report: RunReport) -> Table:
    title = (f"run {report.run_id} · job {safe(report.job)} · [{_STATUS_STYLE.get(report.status, '')}]"
             f"{safe(report.status)}[/]"
             + (" · dry run" if report.dry_run else ""))
    table = Table(title=title, title_justify="left")
    table.add_column("object")
    columns = ("extracted", "unchanged", "mapped", "skipped", "scored", "changed", "written", "failed")
    for name in columns:
        table.add_column(name, justify="right")
    for kind, counts in report.objects.items():
        c = vars(counts)
        table.add_row(kind, *(str(c[k]) for k in columns))
    verb = "planned" if report.dry_run else "created"
    table.caption = (f"tasks {verb} {report.tasks_created} · tags added {report.tags_added} · removed "
                     f"{report.tags_removed} · API calls {report.api_calls}"
                     + (f" (org usage {report.api_usage[0]:,}/{report.api_usage[1]:,} today)" if report.api_usage else "")
                     + f" · {report.duration_s:.1f}s"
                     + (f" · stopped: {safe(report.stopped)}" if report.stopped else "")
                     + "".join(f"\n[bold red]the mapping is probably wrong:[/] {safe(w['message'], 400)}"
                               for w in report.mapping_warnings))
    return table


def failures_table(report: RunReport, limit: int = 50) -> Table:
    table = Table(title=f"{len(report.failures)} failed write(s), retried next run", title_justify="left")
    for col in ("object", "id", "op", "reason"):
        table.add_column(col)
    for f in report.failures[:limit]:
        table.add_row(safe(f["object"]), safe(f["id"]), safe(f.get("op", "")), safe(f["reason"], 400))
    return table


def skipped_table(report: RunReport, limit: int = 20) -> Table:
    advice = ("the mapping is probably wrong (see the summary): fix it, not the CRM" if report.mapping_warnings
              else "fix it in the CRM")
    table = Table(title=f"{len(report.skipped)} record(s) skipped: a value could not be read; {advice} "
                        "(they are retried every run)", title_justify="left")
    for col in ("object", "id", "reason"):
        table.add_column(col)
    for item in report.skipped[:limit]:
        table.add_row(safe(item["object"]), safe(item["id"]), safe(item["reason"], 400))
    if len(report.skipped) > limit:
        table.caption = f"… and {len(report.skipped) - limit} more (use --json for all)"
    return table


def plan_table(report: RunReport, limit: int = 200) -> Table:
    table = Table(title=f"dry run: {len(report.plan)} write(s) planned, none made", title_justify="left")
    for col in ("op", "object", "id", "what"):
        table.add_column(col)
    for item in report.plan[:limit]:
        if item["op"] == "update":
            what = "; ".join(f"{k}: {_short(o)} → {_short(n)}" for k, (o, n) in item["changes"].items())
        elif item["op"] == "task":
            what = f"{item['subject']} (owner {item['owner']}, due {item['due']}, {item['priority']})"
        else:
            what = str(item["tag"])
        table.add_row(safe(item["op"]), safe(item["object"]), safe(item["id"]), safe(what, 1000))
    if len(report.plan) > limit:
        table.caption = f"… and {len(report.plan) - limit} more (use --json for all)"
    return table


def runs_table(rows: list[RunRow]) -> Table:
    table = Table(title="runs, newest first", title_justify="left")
    for col in ("run", "job", "started (UTC)", "status", "accounts written", "deals written", "failed", "tasks",
                "API calls"):
        table.add_column(col)
    for r in rows:
        objects: dict[str, Any] = r.summary.get("objects", {}) if r.summary else {}
        acc, deals = objects.get("accounts", {}), objects.get("deals", {})
        status = f"[{_STATUS_STYLE.get(r.status, '')}]{safe(r.status)}[/]" + (" (dry)" if r.dry_run else "")
        table.add_row(str(r.id), safe(r.job), r.started_at.strftime("%Y-%m-%d %H:%M:%S"), status,
                      safe(acc.get("written", "")), safe(deals.get("written", "")),
                      safe(acc.get("failed", 0) + deals.get("failed", 0)) if objects else "",
                      safe(r.summary.get("tasks_created", "")) if r.summary else "", str(r.api_calls))
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


@contextmanager
def progress_bar(enabled: bool, console: Console) -> Iterator[Callable[[str, int], None]]:
    """A progress callback for the engine: a Rich bar on a TTY, nothing otherwise (logs carry counts)."""
    if not enabled:
        yield lambda _stage, _n: None
        return
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}"),
                  TimeElapsedColumn(), console=console, transient=True) as progress:
        tasks: dict[str, Any] = {}

        def advance(stage: str, n: int) -> None:
            if stage not in tasks:
                tasks[stage] = progress.add_task(stage, total=None)
            progress.advance(tasks[stage], n)

        yield advance
