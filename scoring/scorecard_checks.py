"""Rules a scorecard must meet beyond its types; every broken rule is reported, with its key path.

The monotone rules matter most: with them, worsening any single input can never lower the risk,
whatever points an admin chooses (DESIGN.md §5).
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable, Mapping

from connector.errors import ConfigProblem
from scoring.features import FEATURES, STATES, FeatureSpec
from scoring.fields import ACCOUNT_FIELDS, FieldKind
from scoring.scorecard_spec import (
    TIERS,
    Bin,
    Characteristic,
    DealFlags,
    Knockout,
    OverrideText,
    Policy,
    Strategies,
    Text,
    TierCutoffs,
)

__all__ = ["Problems", "check_sections", "key_path"]

_IDENT = re.compile(r"^[A-Za-z0-9_-]+$")


def key_path(parts: Iterable[str | int]) -> str:
    """Dotted TOML-style path: ``characteristics.current_ratio.bins[2].points``."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            text = part if _IDENT.match(part) else f'"{part}"'
            out += f".{text}" if out else text
    return out


class Problems:
    """Collects problems for one file."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.items: list[ConfigProblem] = []

    def add(self, key: str, message: str, hint: str = "") -> None:
        self.items.append(ConfigProblem(self.file, key, message, hint))


def _interval_points(intervals: list[Bin], value: float) -> float:
    """Points of the interval holding `value` (intervals already checked to cover the line)."""
    for b in intervals:
        if (b.lower is None or value >= b.lower) and (b.upper is None or value < b.upper):
            return b.points
    return intervals[-1].points


def _check_intervals(p: Problems, base: str, spec: FeatureSpec, bins: list[tuple[int, Bin]]) -> None:
    if not bins:
        p.add(f"{base}.bins", "no interval bins; a numeric characteristic needs intervals covering every value")
        return
    before = len(p.items)
    first_i, first = bins[0]
    if first.lower is not None:
        p.add(f"{base}.bins[{first_i}].lower", f"the first interval starts at {first.lower:g}; leave `lower` "
              "out so it covers every lower value")
    last_i, last = bins[-1]
    if last.upper is not None:
        p.add(f"{base}.bins[{last_i}].upper", f"the last interval ends at {last.upper:g}; leave `upper` out "
              "so it covers every higher value")
    for (_, prev), (i, cur) in zip(bins, bins[1:], strict=False):
        k = f"{base}.bins[{i}]"
        if prev.upper is None or cur.lower is None:
            p.add(f"{k}.lower", "only the first interval may be open below and only the last open above")
        elif cur.lower > prev.upper:
            p.add(f"{k}.lower", f"gap: values from {prev.upper:g} to {cur.lower:g} fall in no bin",
                  "make each interval's lower equal the previous interval's upper")
        elif cur.lower < prev.upper:
            p.add(f"{k}.lower", f"overlap: starts at {cur.lower:g}, below the previous interval's upper "
                  f"{prev.upper:g}", "list intervals in ascending order, each lower equal to the previous upper")
    for i, b in bins:
        if b.lower is not None and b.upper is not None and b.lower >= b.upper:
            p.add(f"{base}.bins[{i}]", f"lower {b.lower:g} is not below upper {b.upper:g}")
    if len(p.items) > before:
        return  # the monotone rules below need a well-formed number line
    _check_monotone(p, base, spec, bins)


def _check_monotone(p: Problems, base: str, spec: FeatureSpec, bins: list[tuple[int, Bin]]) -> None:
    better = "higher" if spec.direction > 0 else "lower"
    for (_, prev), (i, cur) in zip(bins, bins[1:], strict=False):
        if (cur.points - prev.points) * spec.direction < 0:
            p.add(f"{base}.bins[{i}].points", f"{cur.points:g} points after {prev.points:g}: a {better} "
                  f"{spec.name} is safer, so points must not move against it",
                  "worsening an input must never lower the risk")
    if spec.flat_below_zero:
        negative = [(i, b) for i, b in bins if b.lower is None or b.lower < 0]
        for i, b in negative[1:]:
            if b.points != negative[0][1].points:
                p.add(f"{base}.bins[{i}].points", f"every negative {spec.name} must score the same "
                      f"({negative[0][1].points:g}); a ratio of negative cash flow to debts is not ordered")


def _check_states(p: Problems, base: str, spec: FeatureSpec, ch: Characteristic) -> None:
    intervals = [b for b in ch.bins if b.kind == "interval"]
    states = {b.state: (i, b) for i, b in enumerate(ch.bins) if b.kind == "state"}
    if spec.kind != "numeric" or not intervals:
        return
    zero = states.get("zero_denominator")
    if zero is not None and spec.zero_between is not None:
        worse, better = spec.zero_between
        pts = zero[1].points
        if worse is not None and pts < (lo := _interval_points(intervals, worse)):
            p.add(f"{base}.bins[{zero[0]}].points", f"must be at least {lo:g}, the points for {spec.name} = "
                  f"{worse:g}, or worsening an input could lower the risk")
        if better is not None and pts > (hi := _interval_points(intervals, better)):
            p.add(f"{base}.bins[{zero[0]}].points", f"must be at most {hi:g}, the points for {spec.name} = "
                  f"{better:g}, or worsening an input could lower the risk")
    negative = states.get("negative_equity")
    if negative is not None and spec.negative_equity_at_most is not None:
        cap = _interval_points(intervals, spec.negative_equity_at_most)
        if zero is not None:
            cap = min(cap, zero[1].points)
        if negative[1].points > cap:
            p.add(f"{base}.bins[{negative[0]}].points", f"negative equity must not score more than {cap:g}, the "
                  f"points for {spec.name} = {spec.negative_equity_at_most:g} or an empty balance sheet")


def _check_categories(p: Problems, base: str, spec: FeatureSpec, bins: list[tuple[int, Bin]]) -> None:
    seen: dict[str, int] = {}
    points: dict[str, tuple[int, float]] = {}
    for i, b in bins:
        for c in b.categories or []:
            if c.lower() in seen:
                p.add(f"{base}.bins[{i}].categories", f"category {c!r} is already in bins[{seen[c.lower()]}]")
            seen[c.lower()] = i
            points[c] = (i, b.points)
            if spec.categories and c not in spec.categories:
                p.add(f"{base}.bins[{i}].categories", f"unknown category {c!r}",
                      f"valid categories: {', '.join(spec.categories)}")
    for c in spec.categories:
        if c not in points:
            p.add(f"{base}.bins", f"no bin for category {c!r}")
    for worse, (i, pts) in points.items():
        for better, (_, better_pts) in points.items():
            rank_w, rank_b = spec.category_rank.get(worse), spec.category_rank.get(better)
            if rank_w is not None and rank_b is not None and rank_w > rank_b and pts > better_pts:
                p.add(f"{base}.bins[{i}].points", f"{worse!r} scores {pts:g}, more than the better {better!r} "
                      f"({better_pts:g})")


def _check_characteristic(p: Problems, name: str, ch: Characteristic) -> None:
    base = key_path(("characteristics", name))
    if ch.column is not None:
        return  # a raw-column characteristic: `scorecard_rawchecks`
    spec = FEATURES.get(name)
    if spec is None:
        p.add(base, "unknown characteristic", f"valid names: {', '.join(FEATURES)}; or set `column` (and "
              "`kind`) to bin an input column as it stands")
        return
    for key in ("kind", "higher", "unseen"):
        if getattr(ch, key) is not None:
            p.add(f"{base}.{key}", f"only a raw-column characteristic takes `{key}`",
                  f"{name} is a canonical feature; remove `{key}`, or bin a raw column with `column`")
    before = len(p.items)
    labels: dict[str, int] = {}
    states: dict[str, int] = {}
    intervals: list[tuple[int, Bin]] = []
    categories: list[tuple[int, Bin]] = []
    for i, b in enumerate(ch.bins):
        k = f"{base}.bins[{i}]"
        if b.label in labels:
            p.add(f"{k}.label", f"label {b.label!r} is already used by bins[{labels[b.label]}]")
        labels[b.label] = i
        shapes = [b.state is not None, b.categories is not None, b.lower is not None or b.upper is not None]
        if sum(shapes) > 1:
            p.add(k, "a bin is a state, a list of categories or an interval, never more than one")
            continue
        if b.kind == "state":
            if b.state not in STATES[1:]:
                p.add(f"{k}.state", f"unknown state {b.state!r}", f"valid states: {', '.join(STATES[1:])}")
            elif b.state not in spec.states:
                p.add(f"{k}.state", f"{name} never produces state {b.state!r}",
                      f"it produces: {', '.join(spec.states)}")
            elif b.state in states:
                p.add(f"{k}.state", f"state {b.state!r} already has bins[{states[b.state]}]")
            else:
                states[b.state] = i
        elif b.kind == "categories":
            categories.append((i, b))
        else:
            intervals.append((i, b))
    for state in spec.states:
        if state not in states:
            p.add(f"{base}.bins", f"no bin for state {state!r}", "each special state needs a bin of its own")
    if spec.kind == "numeric":
        for i, _ in categories:
            p.add(f"{base}.bins[{i}].categories", f"{name} is numeric; use lower/upper intervals")
        _check_intervals(p, base, spec, intervals)
        if len(p.items) == before:  # the special-state rules read points off a well-formed number line
            _check_states(p, base, spec, ch)
    else:
        for i, _ in intervals:
            p.add(f"{base}.bins[{i}]", f"{name} is categorical; give `categories` or a `state`")
        _check_categories(p, base, spec, categories)


def _classes(chars: Mapping[str, Characteristic], name: str) -> set[str] | None:
    ch = chars.get(name)
    if ch is None:
        return None
    return {c for b in ch.bins for c in (b.categories or [])}


def _check_table(p: Problems, table: str, data: Mapping[str, str], classes: set[str] | None,
                 characteristic: str, key_rule: re.Pattern[str] | None = None) -> None:
    seen: dict[str, str] = {}
    for key, cls in data.items():
        k = key_path((table, key))
        if key_rule is not None and not key_rule.match(key):
            p.add(k, f"{key!r} is not an ISO 3166 alpha-2 code", "use two capital letters, e.g. DE")
        if key.lower() in seen:
            p.add(k, f"same entry as {seen[key.lower()]!r} (keys ignore case)")
        seen[key.lower()] = key
        if classes is not None and cls not in classes:
            p.add(k, f"class {cls!r} is not a category of characteristics.{characteristic}",
                  f"known classes: {', '.join(sorted(classes))}")


def _check_tiers(p: Problems, tiers: TierCutoffs) -> None:
    if not tiers.medium < tiers.high:
        p.add("tiers.high", f"{tiers.high:g} must be above tiers.medium ({tiers.medium:g})")
    if not tiers.high < tiers.critical:
        p.add("tiers.critical", f"{tiers.critical:g} must be above tiers.high ({tiers.high:g})")


def _check_knockouts(p: Problems, knockouts: list[Knockout], chars: Iterable[str] | None) -> None:
    for i, ko in enumerate(knockouts):
        k = f"knockouts[{i}]"
        kind = ACCOUNT_FIELDS.get(ko.field)
        if kind is None:
            p.add(f"{k}.field", f"unknown account field {ko.field!r}", "use a canonical account field name")
        elif ko.when == "true" and kind is not FieldKind.BOOL:
            p.add(f"{k}.when", f"'true' needs a yes/no field; {ko.field} is a {kind.value}")
        elif ko.when != "true" and kind is not FieldKind.NUMBER:
            p.add(f"{k}.when", f"{ko.when!r} needs a number field; {ko.field} is a {kind.value}")
        if ko.when == "true" and ko.value is not None:
            p.add(f"{k}.value", "a 'true' rule takes no value")
        if ko.when != "true" and ko.value is None:
            p.add(f"{k}.value", f"a {ko.when!r} rule needs a value")
        if ko.supersedes is not None and chars is not None and ko.supersedes not in set(chars):
            p.add(f"{k}.supersedes", f"{ko.supersedes!r} is not a characteristic of this scorecard")


_STRATEGY_VALUES = {"policy": {"terms", "limit", "prepay"}, "policy_prepay": {"limit", "prepay"},
                    "monitoring": {"monitoring"}, "legal": {"dpd", "overdue"}}


def _check_strategies(p: Problems, strategies: Strategies) -> None:
    for name in Strategies.model_fields:
        allowed = _STRATEGY_VALUES.get(name, set())
        value = getattr(strategies, name)
        if not isinstance(value, Text):
            continue
        for lang in ("en", "zh"):
            words = getattr(value, lang)
            try:
                used = {f for _, f, _, _ in string.Formatter().parse(words) if f is not None}
            except ValueError as exc:
                p.add(f"strategies.{name}.{lang}", f"unreadable placeholder: {exc}", "write a literal brace as {{ or }}")
                continue
            for field in sorted(used - allowed):
                p.add(f"strategies.{name}.{lang}", f"unknown placeholder {{{field}}}",
                      f"known here: {', '.join('{' + v + '}' for v in sorted(allowed)) or 'none'}")


def _check_codes(p: Problems, sections: Mapping[str, object]) -> None:
    owners: dict[str, str] = {}

    def claim(code: str, key: str) -> None:
        if code in owners:
            p.add(key, f"reason code {code} is already used by {owners[code]}")
        else:
            owners[code] = key

    chars = sections.get("characteristics")
    if isinstance(chars, dict):
        for name, ch in chars.items():
            claim(ch.reason_code, key_path(("characteristics", name, "reason_code")))
    knockouts = sections.get("knockouts")
    if isinstance(knockouts, list):
        for i, ko in enumerate(knockouts):
            claim(ko.code, f"knockouts[{i}].code")
    override = sections.get("override")
    if isinstance(override, OverrideText):
        claim(override.code, "override.code")
    flags = sections.get("deal_flags")
    if isinstance(flags, DealFlags):
        claim(flags.over_credit.code, "deal_flags.over_credit.code")
        claim(flags.terms_too_long.code, "deal_flags.terms_too_long.code")


def _check_policy(p: Problems, policy: Policy) -> None:
    bands = policy.exposure_bands
    if len(policy.band_names) != len(bands) + 1:
        p.add("policy.band_names", f"{len(policy.band_names)} names for {len(bands) + 1} bands",
              "one name per band: one more than exposure_bands")
    for i in range(1, len(bands)):
        if bands[i] <= bands[i - 1]:
            p.add(f"policy.exposure_bands[{i}]", f"{bands[i]:g} must be above {bands[i - 1]:g}")
    for tier in TIERS:
        tp = policy.for_tier(tier)
        for name in ("terms_days", "limit_factor", "prepayment_share"):
            if len(getattr(tp, name)) != len(bands) + 1:
                p.add(f"policy.{tier}.{name}", f"{len(getattr(tp, name))} entries for {len(bands) + 1} bands")
    for safer, riskier in zip(TIERS, TIERS[1:], strict=False):
        a, b = policy.for_tier(safer), policy.for_tier(riskier)
        rules = (("terms_days", -1, "longer terms"), ("limit_factor", -1, "a higher limit"),
                 ("prepayment_share", 1, "less prepayment"))
        for name, sign, what in rules:
            for j, (x, y) in enumerate(zip(getattr(a, name), getattr(b, name), strict=False)):
                if (y - x) * sign < 0:
                    p.add(f"policy.{riskier}.{name}[{j}]", f"{riskier} gets {what} than {safer} ({y:g} vs {x:g})",
                          "a riskier tier must never get a looser policy")
        if b.review_every_days > a.review_every_days:
            p.add(f"policy.{riskier}.review_every_days", f"{riskier} is reviewed less often than {safer}")


def _check_spread(p: Problems, chars: Mapping[str, Characteristic]) -> None:
    spread = sum(max(b.points for b in ch.bins) - min(b.points for b in ch.bins) for ch in chars.values())
    if spread <= 0:
        p.add("characteristics", "every bin of every characteristic scores the same; the score cannot rank anyone")


def check_sections(file: str, sections: Mapping[str, object], names: Iterable[str] | None = None
                   ) -> list[ConfigProblem]:
    """Cross-key rules for whichever sections (or characteristics) passed type validation.

    `names` are all characteristic names in the file, valid or not.
    """
    p = Problems(file)
    chars = sections.get("characteristics")
    if isinstance(chars, dict):
        for name, ch in chars.items():
            _check_characteristic(p, name, ch)
        _check_spread(p, chars)
    chars_ok = chars if isinstance(chars, dict) else None
    if isinstance(sections.get("tiers"), TierCutoffs):
        _check_tiers(p, sections["tiers"])  # type: ignore[arg-type]
    knockouts = sections.get("knockouts")
    if isinstance(knockouts, list):
        _check_knockouts(p, knockouts, names if names is not None else chars_ok)
    _check_codes(p, sections)
    strategies = sections.get("strategies")
    if isinstance(strategies, Strategies):
        _check_strategies(p, strategies)
    policy = sections.get("policy")
    if isinstance(policy, Policy):
        _check_policy(p, policy)
    countries = sections.get("countries")
    if isinstance(countries, dict):
        classes = _classes(chars_ok, "country_risk") if chars_ok is not None else None
        _check_table(p, "countries", countries, classes, "country_risk", re.compile(r"^[A-Z]{2}$"))
    industries = sections.get("industries")
    if isinstance(industries, dict):
        classes = _classes(chars_ok, "industry_risk") if chars_ok is not None else None
        _check_table(p, "industries", industries, classes, "industry_risk")
    ratings = sections.get("bureau_ratings")
    if isinstance(ratings, dict):
        seen: dict[str, str] = {}
        for key in ratings:
            norm = key.replace(" ", "").upper()
            if not norm:
                p.add(key_path(("bureau_ratings", key)), "empty rating")
            elif norm in seen:
                p.add(key_path(("bureau_ratings", key)), f"same rating as {seen[norm]!r} (case and spaces ignored)")
            seen[norm] = key
    return p.items
