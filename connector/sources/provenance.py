"""Where a value, and so a reason, came from: an outside source or the CRM.

A sync records, per account, the canonical fields each source supplied (`SourceJoin.explain`, kept in the
assessment's detail as ``sources``). A reason code leads back to the inputs of its characteristic (or the
field of its knockout rule), and those to their sources.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from scoring.features import FEATURES
from scoring.scorecard import Scorecard

__all__ = ["NO_DATA", "field_origin", "reason_origins"]

NO_DATA = "no data"


def _code_inputs(scorecard: Scorecard) -> dict[str, tuple[str, ...]]:
    spec = scorecard.spec
    out: dict[str, tuple[str, ...]] = {}
    for name, ch in spec.characteristics.items():
        inputs = FEATURES[name].inputs if name in FEATURES else ()
        for b in ch.bins:
            out.setdefault(b.reason_code or ch.reason_code, inputs)
    for ko in spec.knockouts:
        out.setdefault(ko.code, (str(ko.field),))
    return out


def field_origin(inputs: Iterable[str], provenance: Mapping[str, str]) -> str:
    """Where some inputs' values came from ("erp_invoices", "bureau + CRM"); "no data" when none had one."""
    names = dict.fromkeys(provenance[i] for i in inputs if i in provenance)
    return " + ".join(names) or NO_DATA


def reason_origins(codes: Iterable[str], scorecard: Scorecard, provenance: Mapping[str, str]) -> list[str]:
    """Per reason code, the sources its inputs came from."""
    inputs = _code_inputs(scorecard)
    return [field_origin(inputs.get(code, ()), provenance) for code in codes]
