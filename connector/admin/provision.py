"""`riskbridge provision`: create what the job needs and the org lacks, and nothing else.

The plan comes from the org's metadata and the job's needs: each missing output, override and task-key
field (and, with ``--inputs``, each missing credit input) is created with its type, size, picklist and
help text; the watchlist tag or topic is defined; on Salesforce the Riskbridge_Integration permission
set grants the integration user read on the inputs and edit on the outputs. An existing field is never
changed or deleted: one that does not fit is reported as a conflict. A second apply writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from connector.admin.check import needed_objects, watch_tags
from connector.admin.fit import fit
from connector.admin.metadata import OrgAdmin, OrgMeta
from connector.admin.needs import FieldNeed, job_needs
from connector.config import Config
from connector.errors import Fatal

__all__ = ["ProvisionPlan", "ProvisionStep", "apply_plan", "plan_provision", "read_org"]

Action = Literal["create", "exists", "conflict", "cannot", "define", "skip"]


@dataclass(frozen=True)
class ProvisionStep:
    action: Action
    object: str
    field: str
    detail: str
    need: FieldNeed | None = None

    def to_json(self) -> dict[str, str]:
        return {"action": self.action, "object": self.object, "field": self.field, "detail": self.detail}


@dataclass
class ProvisionPlan:
    crm: str
    steps: list[ProvisionStep] = field(default_factory=list)
    reads: list[tuple[str, str]] = field(default_factory=list)  # fields the integration user must read
    edits: list[tuple[str, str]] = field(default_factory=list)  # fields it must edit
    writes: int = 0  # write calls made by `apply_plan`
    applied: bool = False

    @property
    def todo(self) -> list[ProvisionStep]:
        return [s for s in self.steps if s.action in ("create", "define")]

    @property
    def blocked(self) -> list[ProvisionStep]:
        return [s for s in self.steps if s.action in ("conflict", "cannot")]

    @property
    def exit_code(self) -> int:
        return 2 if self.blocked else 0

    def to_json(self) -> dict[str, Any]:
        return {"crm": self.crm, "applied": self.applied, "writes": self.writes, "exit_code": self.exit_code,
                "steps": [s.to_json() for s in self.steps]}


def _creatable_name(crm: str, name: str) -> bool:
    return name.lower().endswith("__c") if crm == "salesforce" else True


def plan_provision(config: Config, job_name: str, org: OrgMeta, *, inputs: bool = False) -> ProvisionPlan:
    """What to create in `org` for the job; reads nothing more from the CRM."""
    job, mapping = config.jobs[job_name], config.mappings[job_name]
    plan = ProvisionPlan(crm=mapping.crm)
    seen: set[tuple[str, str]] = set()
    for need in job_needs(mapping, job):
        key = (need.object, need.field.lower())
        if key in seen:
            continue
        seen.add(key)
        (plan.edits if need.role in ("output", "task_key") else plan.reads).append((need.object, need.field))
        obj = org.object(need.object)
        if not obj.exists:
            plan.steps.append(ProvisionStep("cannot", need.object, need.field,
                                            f"no object {need.object!r}: fix the mapping's object name", need))
            continue
        result = fit(need, obj.field(need.field))
        wanted = need.role != "input" or (inputs and need.creatable)
        if result.status == "missing":
            if not wanted:
                plan.steps.append(ProvisionStep("skip", need.object, need.field, "input field missing: fix the "
                                                "mapping, or pass --inputs to create it", need))
            elif not _creatable_name(mapping.crm, need.field):
                plan.steps.append(ProvisionStep("cannot", need.object, need.field, "a custom field's API name ends "
                                                "in __c: rename it in the mapping", need))
            else:
                plan.steps.append(ProvisionStep("create", need.object, need.field, _type_text(config, job_name, need),
                                                need))
        elif result.status == "error":
            plan.steps.append(ProvisionStep("conflict", need.object, need.field,
                                            f"exists but does not fit ({result.hint}); left untouched", need))
        else:
            plan.steps.append(ProvisionStep("exists", need.object, need.field, result.hint or "fits", need))
    for tag in watch_tags(config, job):
        target = mapping.accounts.object
        defined = set().union(*org.tags.values()) if org.tags else set()
        noun = "tag" if mapping.crm == "zoho" else "topic"
        plan.steps.append(ProvisionStep("exists" if tag in defined else "define", target, tag, f"watchlist {noun}"))
    return plan


def _type_text(config: Config, job_name: str, need: FieldNeed) -> str:
    conn = config.connections[config.jobs[job_name].connection]
    if conn.crm == "fxiaoke":  # no field API: the admin creates it in the console, with these exact types
        from connector.crm.fxiaoke_admin import console_type

        return console_type(need, need.object, conn)
    return need.describe_type()


def apply_plan(plan: ProvisionPlan, admin: OrgAdmin) -> ProvisionPlan:
    """Create every field and tag the plan lists, then grant access; counts the write calls.

    Fxiaoke has no field-creation API: its plan is the admin's to-do list and stays as it is."""
    if admin.crm == "fxiaoke":
        plan.applied = True
        return plan
    for index, step in enumerate(plan.steps):
        if step.action == "create" and step.need is not None:
            try:
                name = admin.create_field(step.object, step.need)
            except Fatal as exc:  # this field was refused; the others may still be created
                plan.writes += 1
                plan.steps[index] = ProvisionStep("cannot", step.object, step.field, f"refused: {exc}", step.need)
                continue
            plan.writes += 1
            if name.lower() != step.field.lower():  # Zoho numbers a label whose API name is taken: Risk_Score1
                plan.steps[index] = ProvisionStep("conflict", step.object, step.field, f"the CRM created it as "
                                                  f"{name}: point the mapping at {name}, or rename the other field",
                                                  step.need)
        elif step.action == "define":
            admin.create_tag(step.object, step.field)
            plan.writes += 1
    # Field permissions only for fields that now exist: Salesforce refuses them for any other name.
    present = {(s.object, s.field.lower()) for s in plan.steps if s.action in ("exists", "create")}
    reads = [r for r in plan.reads if (r[0], r[1].lower()) in present]
    edits = [e for e in plan.edits if (e[0], e[1].lower()) in present]
    try:
        plan.writes += admin.grant(reads, edits)
    except Fatal as exc:
        plan.steps.append(ProvisionStep("cannot", "permissions", "Riskbridge_Integration", f"refused: {exc}"))
    plan.applied = True
    return plan


def read_org(config: Config, job_name: str, admin: OrgAdmin) -> OrgMeta:
    """The metadata `plan_provision` needs, read in one pass."""
    job, mapping = config.jobs[job_name], config.mappings[job_name]
    return admin.read(needed_objects(mapping, job, job_needs(mapping, job)), tags=watch_tags(config, job))

