"""The fault matrix: every fault kind the sandbox offers x every stage of a run x transient or persistent,
per CRM, with the status and exit code each case must give.

A stage is located on the wire by the path (and method) of its calls. The scenario before each fault
run: a complete baseline, then a new sanctioned account and a sanctions hit on an existing one, so the
faulted run has field writes, tasks and watchlist additions to make.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

KINDS = ("rate_limit", "error_500", "error_503", "drop", "session_expiry", "quota", "record_error")
STAGES = ("extract", "fields", "bulk", "tasks", "tags")
MODES = ("transient", "persistent")

# Where each stage's calls go. Salesforce field updates and task upserts share `composite/sobjects`.
WHERE: dict[str, dict[str, dict[str, str]]] = {
    "salesforce": {
        "extract": {"path": "/query", "method": "GET"},
        "fields": {"path": "composite/sobjects", "method": "PATCH", "exclude": "/Task"},
        "bulk": {"path": "/jobs/ingest"},
        "tasks": {"path": "composite/sobjects/Task"},
        "tags": {"path": "composite/sobjects", "method": "POST"},  # TopicAssignment creates
    },
    "zoho": {
        "extract": {"path": "/crm/v8/Deals", "method": "GET"},
        "fields": {"path": "/crm/v8/", "method": "PUT"},
        "tasks": {"path": "/Tasks/upsert"},
        "tags": {"path": "/actions/add_tags"},
    },
    # Fxiaoke: one update per record, follow-ups by create; the watchlist is a field, written with the others.
    "fxiaoke": {
        "extract": {"path": "data/query"},
        "fields": {"path": "data/update"},
        "tasks": {"path": "data/create"},
    },
}


@dataclass(frozen=True)
class Case:
    crm: str
    kind: str
    stage: str
    mode: str

    @property
    def id(self) -> str:
        return f"{self.crm}-{self.stage}-{self.kind}-{self.mode}"

    def job(self) -> dict[str, Any]:
        """Job settings that route the scenario's writes through this stage."""
        if self.stage == "bulk":
            return {"bulk_threshold": 1}
        if self.stage == "tags" and self.crm == "salesforce":
            return {"watchlist.topic": True}
        return {}

    def faults(self, targets: dict[str, str]) -> dict[str, Any]:
        """The sandbox fault spec; `targets` names the record ids and task key a per-record error hits."""
        if self.kind == "record_error":
            code = "UNABLE_TO_LOCK_ROW" if self.crm == "salesforce" else "INVALID_DATA"
            target = targets["task_key"] if self.stage == "tasks" else targets["account"]
            return {"record_errors": {target: code}}
        trigger: dict[str, Any] = {"every": 1, **WHERE[self.crm][self.stage]}
        if self.mode == "transient":
            trigger["times"] = 1
        return {self.kind: trigger}

    def recovery_after_s(self) -> float:
        """How long the CRM keeps refusing after the fault clears. Zoho: tokens dying at every write spend
        the refresh token's 10 mints in 10 minutes (two faulted runs of three attempts each), and a mint
        refused is honestly exit 3 ("retry in 10 minutes"); the next scheduled run comes after that window."""
        if self.crm == "zoho" and self.kind == "session_expiry" and self.mode == "persistent":
            from connector.sandbox.zoho_auth import MINT_WINDOW_S

            return MINT_WINDOW_S + 1
        return 0.0

    def expected(self) -> tuple[str, int]:
        """(status, exit code) of the run the fault hits."""
        if self.kind in ("quota", "record_error"):
            return "partial", 1  # a clean stop with the cursor kept, or failed records listed and retried
        if self.mode == "transient":
            return "success", 0  # retried within the run
        if self.kind == "rate_limit" and self.crm == "zoho":
            return "partial", 1  # Zoho: a 429 that never lifts means the credits are gone, a clean stop
        if self.crm == "fxiaoke" and self.stage == "tasks" and self.kind == "drop":
            return "success", 0  # the create happened: the lookup before any second create finds it
        return "failed", 3  # the CRM kept failing: exit 3, nothing recorded as done


def applicable(crm: str, kind: str, stage: str, mode: str) -> bool:
    if stage not in WHERE[crm]:
        return False  # Zoho and Fxiaoke have no Bulk write path; Fxiaoke has no tag calls
    if kind == "quota" and mode == "transient":
        return False  # an exhausted allowance lasts until it is reset: only the persistent form exists
    if kind == "record_error":
        # Per-record errors exist only on writes; Salesforce TopicAssignment creates have no record id yet.
        return stage in ("fields", "bulk", "tasks") or (stage == "tags" and crm == "zoho")
    return True


def cases() -> list[Case]:
    return [Case(crm, kind, stage, mode) for crm in WHERE for stage in STAGES for kind in KINDS
            for mode in MODES if applicable(crm, kind, stage, mode)]


# A handful for the default suite: one per stage and CRM, spread over the kinds; the rest are slow.
# Bulk cases are all slow: simple-salesforce polls a Bulk job with real sleeps.
FAST = {
    "salesforce-extract-error_503-persistent", "salesforce-fields-drop-transient",
    "salesforce-tasks-error_500-persistent", "salesforce-tags-rate_limit-persistent",
    "zoho-extract-rate_limit-transient", "zoho-fields-error_500-persistent", "zoho-tasks-record_error-persistent",
    "zoho-tags-session_expiry-persistent",
    "fxiaoke-extract-rate_limit-transient", "fxiaoke-fields-error_500-persistent",
    "fxiaoke-tasks-drop-transient",
}
