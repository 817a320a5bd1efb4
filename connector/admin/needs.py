"""What a job needs from the org: every field it reads or writes, with the type, size and values it must have.

One `FieldNeed` per CRM field: mapped inputs (checked against their transform), outputs and override
fields (riskbridge creates them), and the task key. `provision` creates the missing ones from these
specs, `check` compares existing fields with them, and `sfdx` renders them as Salesforce metadata.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from connector.admin.metadata import FieldKind
from connector.config import Job
from connector.mapping import Mapping

__all__ = ["INPUT_TYPES", "OUTPUT_TYPES", "TASK_KEY", "TIERS", "FieldNeed", "TypeSpec", "job_needs"]

TIERS = ("low", "medium", "high", "critical")
AUDIT_OPINIONS = ("unqualified", "qualified", "adverse", "disclaimer")
# The task-key field each CRM's client upserts tasks on (connector.crm.sf_write / connector.crm.zoho).
TASK_KEY: dict[str, tuple[str, str]] = {"salesforce": ("Task", "Riskbridge_Key__c"), "zoho": ("Tasks", "Riskbridge_Key"),
            "fxiaoke": ("ActiveRecordObj", "risk_alert_key__c")}
Role = Literal["input", "output", "override", "task_key"]


@dataclass(frozen=True)
class TypeSpec:
    """The field riskbridge would create for a canonical name."""

    kind: FieldKind
    label: str
    help: str
    length: int = 0
    precision: int = 0
    scale: int = 0
    picklist: tuple[str, ...] = ()
    transform: str = "text"  # how an input of this type is read


def _n(label: str, help_: str, precision: int, scale: int = 0, transform: str = "number") -> TypeSpec:
    return TypeSpec("number", label, help_, precision=precision, scale=scale, transform=transform)


def _money(label: str, help_: str) -> TypeSpec:
    return TypeSpec("currency", label, help_, precision=16, scale=2, transform="number")


OUTPUT_TYPES: dict[str, TypeSpec] = {
    "risk_score": _n("Risk Score", "Credit risk 0-100, higher is riskier. Written by riskbridge.", 5, 1),
    "risk_tier": TypeSpec("picklist", "Risk Tier", "low, medium, high or critical. Written by riskbridge.",
                          picklist=TIERS),
    "reasons": TypeSpec("textarea", "Risk Reasons", "The main reasons for the risk score. Written by riskbridge.",
                        length=1000),
    "recommended_terms_days": _n("Risk Recommended Terms", "Recommended payment terms in days. Written by "
                                 "riskbridge.", 3),
    "recommended_credit_limit": _money("Risk Credit Limit", "Recommended credit limit. Written by riskbridge."),
    "watchlist": TypeSpec("boolean", "Risk Watchlist", "On the credit watchlist. Written by riskbridge."),
    "flags": TypeSpec("text", "Risk Flags", "Deal flags such as amount above remaining credit. Written by "
                      "riskbridge.", length=255),
    "scored_at": TypeSpec("datetime", "Risk Scored At", "When riskbridge last scored this record."),
    "model_version": TypeSpec("text", "Risk Model Version", "The scorecard version behind the score.", length=40),
}

INPUT_TYPES: dict[str, TypeSpec] = {
    "bureau_score": _n("Bureau Score", "Credit bureau score 0-100, higher is safer.", 5, 1),
    "bureau_rating": TypeSpec("text", "Bureau Rating", "Credit bureau letter grade, A is best.", length=5,
                              transform="rating"),
    "internal_rating": _n("Internal Rating", "Internal credit rating, 1 best to 10 worst.", 2,
                          transform="integer"),
    "credit_limit": _money("Credit Limit", "The credit limit granted to the customer."),
    "payment_terms_days": _n("Payment Terms Days", "Agreed payment terms in days.", 3, transform="integer"),
    "current_assets": _money("Current Assets", "From the latest financial statement."),
    "current_liabilities": _money("Current Liabilities", "From the latest financial statement."),
    "inventory": _money("Inventory", "From the latest financial statement."),
    "total_assets": _money("Total Assets", "From the latest financial statement."),
    "total_liabilities": _money("Total Liabilities", "From the latest financial statement."),
    "net_income": _money("Net Income", "From the latest financial statement."),
    "operating_cash_flow": _money("Operating Cash Flow", "From the latest financial statement."),
    "audit_opinion": TypeSpec("picklist", "Audit Opinion", "The auditor's opinion on the latest statement.",
                              picklist=AUDIT_OPINIONS, transform="lower"),
    "statement_date": TypeSpec("date", "Statement Date", "Date of the latest financial statement.",
                               transform="date"),
    "open_receivables": _money("Open Receivables", "Invoices issued and not yet paid."),
    "overdue_amount": _money("Overdue Amount", "Invoices past their due date."),
    "max_days_past_due": _n("Max Days Past Due", "Days the oldest unpaid invoice is past due.", 4,
                            transform="integer"),
    "avg_days_late": _n("Avg Days Late", "Average days invoices were paid late.", 5, 1),
    "disputes_12m": _n("Disputes 12m", "Invoice disputes in the last 12 months.", 3, transform="integer"),
    "complaints_12m": _n("Complaints 12m", "Complaints in the last 12 months.", 3, transform="integer"),
    "customer_since": TypeSpec("date", "Customer Since", "Date of the first order.", transform="date"),
    "sanctions_hit": TypeSpec("boolean", "Sanctions Hit", "A sanctions or AML screening hit.", transform="bool"),
    "insolvency": TypeSpec("boolean", "Insolvency", "Insolvency proceedings are open.", transform="bool"),
    "override_tier": TypeSpec("picklist", "Risk Override Tier", "A credit manager's tier; wins until "
                              "Risk Override Until.", picklist=TIERS, transform="lower"),
    "override_reason": TypeSpec("text", "Risk Override Reason", "Why the tier was overridden.", length=255),
    "override_until": TypeSpec("date", "Risk Override Until", "The override expires after this date.",
                               transform="date"),
}
OVERRIDES = ("override_tier", "override_reason", "override_until")
TASK_KEY_TYPE = TypeSpec("text", "Riskbridge Key", "riskbridge's idempotency key for the tasks it creates.",
                         length=120)


@dataclass(frozen=True)
class FieldNeed:
    """One CRM field a job reads or writes, and the field riskbridge would create for it."""

    section: str  # "accounts", "deals" or "tasks"
    object: str  # the CRM object or module
    canonical: str  # canonical name, or "task_key"
    field: str  # the CRM field's API name (a dotted input path is cut to its first part)
    role: Role
    kind: FieldKind
    label: str
    help: str = ""
    length: int = 0
    precision: int = 0
    scale: int = 0
    picklist: tuple[str, ...] = ()
    transform: str | None = None  # inputs: the mapped transform
    external_id: bool = False
    unique: bool = False

    @property
    def creatable(self) -> bool:
        """Whether provision may create it: outputs, overrides, the task key, and (asked for) credit inputs."""
        return self.role != "input" or self.canonical in INPUT_TYPES

    def describe_type(self) -> str:
        """The type in words, as the admin would pick it in the CRM's setup ("Number(5, 1)")."""
        if self.kind in ("text", "textarea"):
            return f"{'Long text' if self.kind == 'textarea' else 'Text'}({self.length})"
        if self.kind in ("number", "currency"):
            return f"{self.kind.capitalize()}({self.precision}, {self.scale})"
        if self.kind == "picklist":
            return f"Picklist({', '.join(self.picklist)})"
        return {"boolean": "Checkbox", "date": "Date", "datetime": "Date/Time"}.get(self.kind, self.kind)


def _need(section: str, obj: str, canonical: str, field: str, role: Role, spec: TypeSpec,
          transform: str | None = None) -> FieldNeed:
    return FieldNeed(section, obj, canonical, field, role, spec.kind, spec.label, spec.help, spec.length,
                     spec.precision, spec.scale, spec.picklist, transform)


def job_needs(mapping: Mapping, job: Job) -> list[FieldNeed]:
    """Every field the job touches, in mapping order: inputs, overrides, outputs, then the task key."""
    needs: list[FieldNeed] = []
    for section in job.objects:
        obj = mapping.object(section)
        for name in obj.inputs:
            spec = obj.input(name)
            assert spec is not None
            field = spec.field.split(".", 1)[0]
            role: Role = "override" if name in OVERRIDES else "input"
            typed = INPUT_TYPES.get(name)
            if typed is None:
                needs.append(FieldNeed(section, obj.object, name, field, role, "other", name, transform=spec.transform))
            else:
                needs.append(_need(section, obj.object, name, field, role, typed, spec.transform))
        for name, field in obj.outputs.items():
            needs.append(_need(section, obj.object, name, field, "output", OUTPUT_TYPES[name]))
    if job.tasks.enabled:
        task_object, task_field = TASK_KEY[mapping.crm]
        needs.append(FieldNeed("tasks", task_object, "task_key", task_field, "task_key", TASK_KEY_TYPE.kind,
                               TASK_KEY_TYPE.label, TASK_KEY_TYPE.help, TASK_KEY_TYPE.length,
                               external_id=True, unique=True))
    return needs
