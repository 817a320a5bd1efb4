"""riskbridge scoring: canonical accounts and deals in, explainable credit-risk assessments out.

The package knows nothing about CRMs. The sync engine calls:

    scorecard = load_scorecard(path_or_None)               # raises ConfigError listing every problem
    result = assess(accounts, scorecard, as_of=run_date,   # AssessmentBatch: numpy columns, input order
                    deals=deals, scored_at=run_started, watchlist_tier="high")
    for a in result.assessments(lang="en"):                # or result[i] / result.assessment(i, "zh")
        a.outputs()   # risk_score, risk_tier, pd, points, reasons, recommended_terms_days,
                      # recommended_credit_limit, watchlist, model_version, scored_at
        a.tier_text, a.reasons_text, a.advice  # what people read (`tier_line`, the CRM reasons field, advice)
    deal_result = assess_deals(deals, result)             # DealAssessmentBatch; .unmatched_ids()
    for d in deal_result.assessments(): d.outputs()

`accounts` and `deals` may be lists of canonical dicts (DESIGN.md §4 names; values of mixed quality
are read tolerantly: whatever cannot be read lands in an `invalid` bin and nothing raises), dicts of
numpy columns, or a `Batch`. Whole-batch arrays (`result.tier`, `result.risk_score`, `result.watchlist`,
`result.reason_ids`, ...) serve bulk diffing; `Assessment` objects carry texts and the policy advice.

Risk Score = round(100 * (max points - points) / (max points - min points)), 0 safest, 100 riskiest;
tiers cut it at the scorecard's `[tiers]`; knockouts lift score and tier; an active override sets the tier
(shown as such by `tier_line`, never as a risk reason). Texts people read come from `scoring.catalogue`
(`scoring/texts/<lang>.toml`) and, for reasons and advice, from the scorecard.

Offline: `read_accounts_csv` / `write_scored_csv` and `explain` back `riskbridge score` and `riskbridge explain`.
"""

from scoring.assessment import OUTPUT_FIELDS, Assessment, AssessmentBatch, Override, Reason, inputs_hash
from scoring.batch import Batch, accounts_batch, deals_batch
from scoring.csvfile import (
    SCORED_COLUMNS,
    CsvTable,
    InputFileError,
    SkippedCell,
    read_accounts_csv,
    write_scored_csv,
)
from scoring.deals import DealAssessment, DealAssessmentBatch, assess_deals
from scoring.engine import assess, default_scorecard
from scoring.explain import Explanation, ExplanationRow, explain
from scoring.fields import ACCOUNT_FIELDS, DEAL_FIELDS
from scoring.policy import Action, Task
from scoring.scorecard import DEFAULT_SCORECARD, Scorecard, load_scorecard
from scoring.scorecard_spec import TIERS
from scoring.tierline import tier_line

__all__ = [
    "ACCOUNT_FIELDS",
    "DEAL_FIELDS",
    "DEFAULT_SCORECARD",
    "OUTPUT_FIELDS",
    "SCORED_COLUMNS",
    "TIERS",
    "Action",
    "Assessment",
    "AssessmentBatch",
    "Batch",
    "CsvTable",
    "DealAssessment",
    "DealAssessmentBatch",
    "Explanation",
    "ExplanationRow",
    "InputFileError",
    "Override",
    "Reason",
    "Scorecard",
    "SkippedCell",
    "Task",
    "accounts_batch",
    "assess",
    "assess_deals",
    "deals_batch",
    "default_scorecard",
    "explain",
    "inputs_hash",
    "load_scorecard",
    "read_accounts_csv",
    "tier_line",
    "write_scored_csv",
]
