"""`riskbridge check`: will this job work against this org? Reads config and metadata, changes nothing.

The offline part validates the config, mapping, scorecard and secret references without a network
call. The online part reads the CRM's own metadata (describe / `settings/fields`) and compares every
field the job touches with what it needs (`needs`, `fit`), plus the watchlist tag or topic, the API
allowance and who the integration user is. No record is read and no run is recorded.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from connector.admin.fit import Status, fit
from connector.admin.metadata import OrgAdmin, OrgMeta
from connector.admin.needs import FieldNeed, job_needs
from connector.config import Config, Job, SalesforceConnection, load_config
from connector.errors import ConfigError, ConfigProblem
from connector.mapping import Mapping

__all__ = ["CheckReport", "CheckRow", "check_offline", "check_online", "needed_objects"]

ORG = "org"  # the table of org-wide rows: authentication, allowance, user, watchlist


@dataclass(frozen=True)
class CheckRow:
    object: str
    canonical: str
    field: str
    status: Status
    hint: str = ""
    role: str = ""  # for field rows: input, override, output or task_key

    def to_json(self) -> dict[str, str]:
        return {"canonical": self.canonical, "field": self.field, "status": self.status, "hint": self.hint}


@dataclass
class CheckReport:
    """Everything `check` found; `exit_code` is 0 when the job will work, 2 when something must be fixed."""

    config: str
    job: str | None = None
    crm: str | None = None
    offline: bool = False
    problems: list[ConfigProblem] = field(default_factory=list)
    rows: list[CheckRow] = field(default_factory=list)
    api_calls: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems and not any(r.status in ("error", "missing") for r in self.rows)

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 2

    def tables(self) -> dict[str, list[CheckRow]]:
        """Rows grouped by object, org-wide rows first."""
        grouped: dict[str, list[CheckRow]] = {}
        for row in sorted(self.rows, key=lambda r: r.object != ORG):
            grouped.setdefault(row.object, []).append(row)
        return grouped

    def counts(self) -> dict[str, int]:
        out = {"ok": 0, "warning": 0, "error": 0, "missing": 0}
        for row in self.rows:
            out[row.status] += 1
        return out

    def next_steps(self) -> list[str]:
        """What to run next, once per kind of gap rather than on every row."""
        missing = [r for r in self.rows if r.status == "missing" and r.role]  # field rows, not the org summary
        inputs = sum(1 for r in missing if r.role == "input")
        created = len(missing) - inputs
        steps = []
        if created:
            steps.append(f"{created} field(s) riskbridge writes or reads for overrides and tasks are missing: "
                         "`riskbridge provision` shows the plan, `riskbridge provision --apply` creates them")
        if inputs:
            steps.append(f"{inputs} credit input(s) are missing: map your org's own fields with "
                         "`riskbridge mappings suggest`, or create them with `riskbridge provision --apply --inputs`")
        return steps

    def to_json(self) -> dict[str, Any]:
        return {
            "config": self.config, "job": self.job, "crm": self.crm, "offline": self.offline, "ok": self.ok,
            "exit_code": self.exit_code, "counts": self.counts(), "api_calls": self.api_calls,
            "next_steps": self.next_steps(),
            "problems": [{"file": p.file, "key": p.key, "message": p.message, "hint": p.hint} for p in self.problems],
            "objects": {obj: [r.to_json() for r in rows] for obj, rows in self.tables().items()},
        }


def check_offline(path: Path, job_name: str | None) -> tuple[CheckReport, Config | None, str | None]:
    """Config, mapping, scorecard and secret references; no network call. Returns the report, and the
    config and job name when they are usable."""
    report = CheckReport(config=str(path))
    try:
        config = load_config(path)
        name, job = config.job(job_name)
    except ConfigError as exc:
        report.problems = list(exc.problems)
        return report, None, None
    report.job, report.crm = name, config.connections[job.connection].crm
    if job.scorecard != "default":
        from scoring.scorecard import load_scorecard

        try:
            load_scorecard(job.scorecard)
        except ConfigError as exc:
            report.problems += exc.problems
    if not report.problems and config.jobs[name].sources:
        report.rows += _source_rows(config, name, databases=False)
    return report, (None if report.problems else config), name


def _source_rows(config: Config, job_name: str, *, databases: bool, files: bool = True) -> list[CheckRow]:
    """A job's outside sources: readable, duplicated keys, unreadable rows, match rate (`sources.checkup`)."""
    from connector.sources.checkup import check_sources

    return [CheckRow(f"source {c.source}", c.item, c.where, c.status, c.hint)  # type: ignore[arg-type]
            for c in check_sources(config, job_name, databases=databases, files=files)]


def needed_objects(mapping: Mapping, job: Job, needs: list[FieldNeed]) -> list[str]:
    return list(dict.fromkeys([*(mapping.object(k).object for k in job.objects), *(n.object for n in needs)]))


def watch_tags(config: Config, job: Job) -> tuple[str, ...]:
    """The tag (Zoho) or topic (Salesforce, when enabled) the watchlist uses, if any."""
    conn = config.connections[job.connection]
    if not job.watchlist.enabled or (isinstance(conn, SalesforceConnection) and not job.watchlist.topic):
        return ()
    if conn.crm == "fxiaoke":  # no tag API: the watchlist is an Account output field
        return ()
    return (job.watchlist.tag,)


def check_online(report: CheckReport, config: Config, job_name: str,
                 open_admin: Callable[[], OrgAdmin]) -> CheckReport:
    """Read the org's metadata and fill `report.rows`. Raises `ConnectionFailed` (or `AuthError`, `Retriable`)
    when the CRM cannot be used at all."""
    job = config.jobs[job_name]
    mapping = config.mappings[job_name]
    conn = config.connections[job.connection]
    needs = job_needs(mapping, job)
    tags = watch_tags(config, job)
    admin = open_admin()
    try:
        org = admin.read(needed_objects(mapping, job, needs), tags=tags)
        report.api_calls = admin.api_calls
    finally:
        admin.close()
    rows = report.rows
    rows.append(CheckRow(ORG, "authentication", _host(conn), "ok", "logged in"))
    rows += _objects(mapping, job, org)
    for need in needs:
        obj = org.object(need.object)
        if not obj.exists:
            continue  # reported once per object above
        result = fit(need, obj.field(need.field))
        hint = result.hint
        if result.status == "missing" and need.creatable:
            # Short per row; the CLI says once which command fixes each kind (`next_steps`).
            hint = f"{need.role.replace('_', ' ')}; {result.hint}"
        rows.append(CheckRow(need.object, need.canonical, need.field, result.status, hint, need.role))
    accounts = org.object(mapping.accounts.object)
    for name in job.sources:  # the account field each source joins on must exist
        key = config.sources[name].key
        if key is not None and accounts.exists and key.crm_field != mapping.accounts.id_field:
            found = accounts.field(key.crm_field) is not None
            rows.append(CheckRow(f"source {name}", "key field", key.crm_field, "ok" if found else "missing",
                                 "the accounts are matched on it" if found else
                                 f"{mapping.accounts.object} has no field {key.crm_field}: fix sources.{name}.key"))
    if any(config.sources[n].is_database for n in job.sources):  # a network call, like the CRM's metadata
        rows[:] = [r for r in rows if not (r.object.startswith("source ") and r.hint.startswith("a database"))]
        rows += _source_rows(config, job_name, databases=True, files=False)
    rows += _watchlist(job, org, tags, mapping, rows)
    rows.append(_allowance(org, getattr(conn, "api_reserve", 0), conn.crm))
    rows.append(_user(org))
    rows += [CheckRow(ORG, "oauth scope", scope, "warning", hint) for scope, hint in org.scope_warnings.items()]
    return report


def _host(conn: Any) -> str:
    url = getattr(conn, "instance_url", None) or getattr(conn, "api_url", None) or getattr(conn, "host", None) or ""
    return str(url).split("//", 1)[-1].split("/", 1)[0]


def _objects(mapping: Mapping, job: Job, org: OrgMeta) -> list[CheckRow]:
    rows = []
    for kind in job.objects:
        obj = mapping.object(kind)
        meta = org.object(obj.object)
        if not meta.exists:
            rows.append(CheckRow(obj.object, kind, obj.object, "error",
                                 f"no object {obj.object!r} visible to the integration user: check "
                                 f"{kind}.object in {mapping.source}"))
            continue
        for role, name in (("cursor", obj.cursor_field), ("parent", obj.parent_field)):
            if name is None:
                continue
            found = meta.field(name)
            if found is None:
                rows.append(CheckRow(obj.object, role, name, "error", f"no such field: check {kind}.{role}_field"))
            elif role == "cursor" and found.kind != "datetime":
                rows.append(CheckRow(obj.object, role, name, "error", f"a {found.crm_type} field; the cursor must "
                                     "be the last-modified datetime"))
    task_objects = {"Task", "Tasks"}
    for name, meta in org.objects.items():
        if name in task_objects and not meta.exists and job.tasks.enabled:
            rows.append(CheckRow(name, "tasks", name, "error", "the task object is not visible: grant access or "
                                 "set tasks.enabled = false"))
    return rows


def _watchlist(job: Job, org: OrgMeta, tags: tuple[str, ...], mapping: Mapping,
               rows: list[CheckRow]) -> list[CheckRow]:
    if not job.watchlist.enabled:
        return [CheckRow(ORG, "watchlist", "", "ok", "disabled in the job")]
    if not tags:
        checkbox = mapping.accounts.outputs.get("watchlist")
        if checkbox is None:
            return [CheckRow(ORG, "watchlist", "", "ok", "tier only: no watchlist output is mapped")]
        # The checkbox is an Account output: its row above decides, so the two tables never disagree.
        field_row = next((r for r in rows if r.object == mapping.accounts.object and r.field == checkbox), None)
        status = field_row.status if field_row is not None else "ok"
        return [CheckRow(ORG, "watchlist", checkbox, status,
                         "checkbox output" if status == "ok" else f"checkbox output: see {mapping.accounts.object}")]
    defined = set().union(*org.tags.values()) if org.tags else set()
    noun = "tag" if mapping.crm == "zoho" else "topic"
    if tags[0] in defined:
        return [CheckRow(ORG, "watchlist", tags[0], "ok", f"{noun} exists")]
    return [CheckRow(ORG, "watchlist", tags[0], "warning",
                     f"{noun} not defined yet: the first sync defines it, or run `riskbridge provision --apply`")]


def _allowance(org: OrgMeta, reserve: int, crm: str = "zoho") -> CheckRow:
    if org.api_limit is not None and org.api_used is not None:
        left = org.api_limit - org.api_used
        if left <= reserve:
            return CheckRow(ORG, "api allowance", f"{left} of {org.api_limit} left", "error",
                            f"at or below the reserve of {reserve} kept for other integrations: a sync would stop")
        return CheckRow(ORG, "api allowance", f"{left} of {org.api_limit} left", "ok")
    if org.credits_remaining is not None:
        return CheckRow(ORG, "api allowance", f"{org.credits_remaining} credits left", "ok")
    if crm == "fxiaoke":
        return CheckRow(ORG, "api allowance", "not reported", "ok",
                        "Fxiaoke never reports the packs left; a run stops cleanly at 30002 (or at daily_quota)")
    return CheckRow(ORG, "api allowance", "not reported", "ok",
                    "Zoho reports credits only once half the day's allowance is spent")


def _user(org: OrgMeta) -> CheckRow:
    who = org.user_name or org.user_id or "unknown"
    detail = f"profile {org.profile}" if org.profile else "field access shown per field above"
    return CheckRow(ORG, "integration user", who, "ok" if org.user_id else "warning",
                    detail if org.user_id else "the API did not say who we are")
