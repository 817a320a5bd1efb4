"""Rich renderables for run summaries, dry-run plans and run history. Builds them; cli.py prints them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from connector.outcome import RunReport
from connector.state import RunRow

__all__ = ["failures_table", "plan_table", "progress_bar", "runs_table", "skipped_table", "summary_table"]

_STATUS_STYLE = {"success": "green", "partial": "yellow", "failed": "red", "running": "cyan"}


def summary_table(report: RunReport) -> Table:
    title = (f"run {report.run_id} · job {report.job} · [{_STATUS_STYLE.get(report.status, '')}]{report.status}[/]"
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
                     + (f" · stopped: {report.stopped}" if report.stopped else ""))
    return table


def failures_table(report: RunReport, limit: int = 50) -> Table:
    table = Table(title=f"{len(report.failures)} failed write(s), retried next run", title_justify="left")
    for col in ("object", "id", "op", "reason"):
        table.add_column(col)
    for f in report.failures[:limit]:
        table.add_row(f["object"], f["id"], f.get("op", ""), f["reason"])
    return table


def skipped_table(report: RunReport, limit: int = 20) -> Table:
    table = Table(title=f"{len(report.skipped)} record(s) skipped: a value could not be read; fix it in the CRM "
                        "(they are retried every run)", title_justify="left")
    for col in ("object", "id", "reason"):
        table.add_column(col)
    for item in report.skipped[:limit]:
        table.add_row(item["object"], item["id"], item["reason"])
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
            what = item["tag"]
        table.add_row(item["op"], item["object"], item["id"], what)
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
        status = f"[{_STATUS_STYLE.get(r.status, '')}]{r.status}[/]" + (" (dry)" if r.dry_run else "")
        table.add_row(str(r.id), r.job, r.started_at.strftime("%Y-%m-%d %H:%M:%S"), status,
                      str(acc.get("written", "")), str(deals.get("written", "")),
                      str(acc.get("failed", 0) + deals.get("failed", 0)) if objects else "",
                      str(r.summary.get("tasks_created", "")) if r.summary else "", str(r.api_calls))
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
