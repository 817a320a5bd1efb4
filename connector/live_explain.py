"""`riskbridge explain --config F --job J --id CRM_ID`: explain a live record, not a CSV row.

The inputs come from the record's latest assessment in the state store (the values as they were scored,
kept with it), or, with `refresh`, from the CRM read just now through the job's mapping. The points table
is the same one the CSV form prints. Nothing is written, neither to the CRM nor to the store.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from connector.config import Config
from connector.errors import ConfigError, ConfigProblem, RecordSkipped
from connector.state import AssessmentRow
from connector.sync import Sync
from scoring import Explanation, explain

__all__ = ["LiveExplanation", "explain_live"]


@dataclass(frozen=True)
class LiveExplanation:
    explanation: Explanation
    stored: AssessmentRow | None  # the latest recorded assessment, if there is one
    refreshed: bool  # True: the inputs were read from the CRM (and the job's sources) just now
    provenance: dict[str, str] | None = None  # with `refreshed`: where each input came from


def explain_live(config: Config, job: str | None, record_id: str, *, refresh: bool, lang: str,
                 as_of: date | None = None) -> LiveExplanation:
    """Explain one account of `job` from its stored assessment, or from the CRM with `refresh`."""
    sync = Sync(config, job)
    try:
        stored = sync.store.assessments(sync.job_name, "accounts", [record_id]).get(record_id)
        day: date
        provenance: dict[str, str] | None = None
        if refresh:
            inputs, provenance = _read(sync, record_id)
            day = as_of or date.today()
        else:
            if stored is None:
                raise ConfigError([ConfigProblem(
                    "command line", "--id", f"job {sync.job_name!r} has no assessment of account {record_id!r}",
                    "run `riskbridge sync` first, check the id, or add --refresh to read it from the CRM")])
            recorded = stored.detail.get("inputs")
            if not isinstance(recorded, dict):
                raise ConfigError([ConfigProblem(
                    "command line", "--id", f"the assessment of {record_id!r} predates stored inputs",
                    "add --refresh to read the account from the CRM, or let the next sync re-score it")])
            inputs = {**recorded, "id": record_id}
            day = as_of or stored.as_of or stored.scored_at.date()
        # The account's open deals as the last sync stored them: they are part of its exposure.
        deals = [d.values for d in sync.store.deals_for_accounts(sync.job_name, [record_id])] \
            if "deals" in sync.specs else []
        return LiveExplanation(explain(inputs, sync.scorecard, as_of=day, lang=lang, deals=deals), stored, refresh,
                               provenance if sync.job.sources else None)
    finally:
        sync.client.close()
        sync.store.close()


def _read(sync: Sync, record_id: str) -> tuple[dict[str, Any], dict[str, str]]:
    """The account's canonical inputs as the CRM and the job's sources hold them now (the job's mapping, one
    fetch by id), and where each came from."""
    try:
        values, provenance = sync.account_inputs(record_id)
    except RecordSkipped as exc:
        raise ConfigError([ConfigProblem(sync.mapping.source, "--id", f"account {record_id!r}: {exc.reason}",
                                         "check the id (it may have been deleted), or fix the value in the CRM "
                                         "or the mapping")]) from None
    return {**values, "id": record_id}, provenance
