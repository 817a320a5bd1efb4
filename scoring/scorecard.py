"""Load a scorecard file, report every problem in it at once, and compile it into lookup arrays.

    scorecard = load_scorecard()                 # the bundled scorecards/default.toml
    scorecard = load_scorecard("my_card.toml")   # an admin's own; raises ConfigError listing all problems

The version is ``<file stem>-<first 12 hex digits of the file's sha256>``: any edit makes a new version.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import tomllib
import types
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Union, get_args, get_origin

import numpy as np
from pydantic import BaseModel, TypeAdapter, ValidationError

from connector.errors import ConfigError, ConfigProblem
from scoring.features import (
    FEATURES,
    INVALID,
    MISSING,
    STATES,
    UNKNOWN,
    Feature,
    FeatureSpec,
    Lookups,
    fold_country,
    fold_industry,
    fold_rating,
)
from scoring.rawcolumns import raw_feature_spec
from scoring.scorecard_checks import check_sections, key_path
from scoring.scorecard_rawchecks import check_raw_characteristics
from scoring.scorecard_spec import AdviceRule, Bin, Characteristic, ScorecardSpec, Strategies, Text

__all__ = ["DEFAULT_SCORECARD", "CompiledCharacteristic", "Scorecard", "load_scorecard", "parse_scorecard"]

DEFAULT_SCORECARD = Path(__file__).parent / "scorecards" / "default.toml"


@dataclass(frozen=True, eq=False)
class CompiledCharacteristic:
    """One characteristic as arrays: bin lookup by interval edges, special state or category code."""

    name: str
    group: str
    feature: FeatureSpec
    bins: tuple[Bin, ...]
    points: np.ndarray  # per bin
    edges: np.ndarray  # lower bounds of the 2nd..last interval
    interval_bins: np.ndarray  # bin index of each interval
    state_bins: np.ndarray  # bin index per state code (-1 for `value`)
    category_bins: np.ndarray  # bin index per vocabulary code
    vocabulary: tuple[str, ...]
    column: str | None = None  # the input column of a raw-column characteristic (`scoring.rawcolumns`)

    @property
    def max_points(self) -> float:
        return float(self.points.max())

    @property
    def min_points(self) -> float:
        return float(self.points.min())

    def bin_of(self, feature: Feature) -> np.ndarray:
        """The bin index of every record, vectorised."""
        if self.feature.kind == "numeric":
            # Counting the edges at or below each value is searchsorted(side="right"), faster for few edges.
            position = np.zeros(feature.values.shape, dtype=np.intp)
            for edge in self.edges:
                position += feature.values >= edge
            by_value = self.interval_bins[position]
        else:
            by_value = self.category_bins[np.maximum(feature.values, 0)]
        return np.where(feature.state == 0, by_value, self.state_bins[feature.state])


@dataclass(frozen=True, eq=False)
class Scorecard:
    """A validated, compiled scorecard. Reason ids index `reason_codes` and `reason_texts`."""

    spec: ScorecardSpec
    version: str
    source: str
    characteristics: tuple[CompiledCharacteristic, ...]
    lookups: Lookups
    reason_offsets: np.ndarray  # first reason id of each characteristic's bins
    reason_codes: tuple[str, ...]
    reason_texts: dict[str, tuple[str, ...]]  # lang -> text per reason id
    knockout_reason_ids: tuple[int, ...]
    override_reason_id: int
    deal_flag_reason_ids: tuple[int, int]  # over_credit, terms_too_long
    cutoffs: np.ndarray  # lowest Risk Score of medium, high, critical
    strategies: Strategies  # the seed's strategies in words (the default scorecard's if the file has none)
    advice: tuple[AdviceRule, ...]  # advice by cause, in order
    # Per characteristic, the points it must lose against its best bin before it is named as a reason.
    reason_thresholds: tuple[float, ...]
    # Per characteristic, a sort key per bin: rank of the points shortfall * key_base + (key_base - 1 -
    # reason id). A larger key is a larger shortfall, ties going to the earlier characteristic;
    # a key below key_base means no shortfall.
    reason_keys: tuple[np.ndarray, ...]
    key_base: int
    # Reason codes that several characteristics can give (e.g. "no statements on file"): for each,
    # the characteristics and, per bin, whether that bin gives the code. Only the largest is kept.
    shared_codes: tuple[tuple[tuple[int, np.ndarray], ...], ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.characteristics)

    @property
    def max_total(self) -> float:
        return sum(c.max_points for c in self.characteristics)

    @property
    def min_total(self) -> float:
        return sum(c.min_points for c in self.characteristics)

    def reason_text(self, reason_id: int, lang: str = "en") -> str:
        return self.reason_texts["zh" if lang == "zh" else "en"][reason_id]

    @property
    def tier_floors(self) -> np.ndarray:
        """The lowest whole Risk Score of each tier, low first."""
        return np.ceil(np.concatenate([[0.0], self.cutoffs]))


def load_scorecard(path: str | Path | None = None) -> Scorecard:
    """Read, validate and compile a scorecard file (None means the bundled default)."""
    file = Path(path) if path is not None else DEFAULT_SCORECARD
    try:
        data = file.read_bytes()
    except FileNotFoundError:
        raise ConfigError([ConfigProblem(str(file), "", "scorecard file not found",
                                         "pass --scorecard with an existing file, or leave it out for the default")]
                          ) from None
    except OSError as exc:
        raise ConfigError([ConfigProblem(str(file), "", f"cannot read the scorecard: {exc.strerror}")]) from None
    return parse_scorecard(data, source=str(file), name=file.stem)


def parse_scorecard(data: bytes, *, source: str = "<scorecard>", name: str = "scorecard") -> Scorecard:
    """Validate and compile scorecard TOML bytes; raises ConfigError listing every problem."""
    try:
        raw = tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError([ConfigProblem(source, "", "the file is not UTF-8 text")]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([ConfigProblem(source, "", f"not valid TOML: {exc}")]) from None
    sections, problems = _validate_sections(raw, source)
    chars = raw.get("characteristics")
    problems += check_sections(source, sections, list(chars) if isinstance(chars, dict) else None)
    problems += check_raw_characteristics(source, sections)
    if problems:
        raise ConfigError(problems)
    spec = ScorecardSpec.model_validate(raw)
    version = f"{name}-{hashlib.sha256(data).hexdigest()[:12]}"
    return _compile(spec, version, source)


def _validate_sections(raw: dict[str, Any], source: str) -> tuple[dict[str, object], list[ConfigProblem]]:
    """Type-check the whole file, then re-read each section that was fine on its own for the cross checks."""
    try:
        spec = ScorecardSpec.model_validate(raw)
    except ValidationError as exc:
        problems = [_problem(source, err) for err in exc.errors(include_url=False)]
        broken = {err["loc"][0] for err in exc.errors() if err["loc"]}
        sections: dict[str, object] = {}
        for name, info in ScorecardSpec.model_fields.items():
            if name in raw and name not in broken:
                adapter: TypeAdapter[Any] = TypeAdapter(info.annotation if info.annotation is not None else Any)
                sections[name] = adapter.validate_python(raw[name])
        chars = raw.get("characteristics")
        if "characteristics" in broken and isinstance(chars, dict):
            # Keep the characteristics that are fine, so the checks that need them still run.
            sections["characteristics"] = {k: Characteristic.model_validate(v) for k, v in chars.items()
                                           if _valid(Characteristic, v)}
        return sections, problems
    return {name: getattr(spec, name) for name in ScorecardSpec.model_fields}, []


def _valid(model: type[BaseModel], data: object) -> bool:
    try:
        model.model_validate(data)
    except ValidationError:
        return False
    return True


def _problem(source: str, err: Any) -> ConfigProblem:
    loc = tuple(err["loc"])
    key = key_path(loc)
    if err["type"] == "extra_forbidden":
        known = _fields_at(loc[:-1])
        close = difflib.get_close_matches(str(loc[-1]), known, n=1)
        hint = f"did you mean {close[0]!r}?" if close else (f"valid keys: {', '.join(known)}" if known else "")
        return ConfigProblem(source, key, "unknown key", hint)
    if err["type"] == "missing":
        return ConfigProblem(source, key, "required key is missing")
    given = err.get("input")
    shown = f" (got {given!r})" if isinstance(given, str | int | float | bool) else ""
    return ConfigProblem(source, key, f"{err['msg']}{shown}")


def _unwrap(tp: Any) -> Any:
    while True:
        origin = get_origin(tp)
        if origin is Annotated:
            tp = get_args(tp)[0]
        elif origin in (Union, types.UnionType):
            tp = next(a for a in get_args(tp) if a is not type(None))
        else:
            return tp


def _fields_at(loc: tuple[Any, ...]) -> list[str]:
    """The keys allowed at a location of the file, for did-you-mean hints."""
    tp: Any = ScorecardSpec
    for part in loc:
        tp = _unwrap(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            info = tp.model_fields.get(str(part))
            if info is None:
                return []
            tp = info.annotation
        elif get_origin(tp) in (list, dict):
            tp = get_args(tp)[-1]
        else:
            return []
    tp = _unwrap(tp)
    return list(tp.model_fields) if isinstance(tp, type) and issubclass(tp, BaseModel) else []


def _compile_characteristic(name: str, ch: Characteristic, classes: tuple[str, ...]) -> CompiledCharacteristic:
    if ch.column is not None and ch.kind is not None:
        return _compile_raw(name, ch, ch.column, raw_feature_spec(name, ch.column, ch.kind, ch.higher))
    spec = FEATURES[name]
    bins = tuple(ch.bins)
    intervals = [i for i, b in enumerate(bins) if b.kind == "interval"]
    state_bins = np.full(len(STATES), -1, dtype=np.intp)
    for i, b in enumerate(bins):
        if b.state is not None:
            state_bins[STATES.index(b.state)] = i
    vocabulary = spec.categories or classes
    by_category = {c: i for i, b in enumerate(bins) for c in (b.categories or [])}
    fallback = state_bins[UNKNOWN] if state_bins[UNKNOWN] >= 0 else state_bins[MISSING]
    return CompiledCharacteristic(
        name=name,
        group=ch.group,
        feature=spec,
        bins=bins,
        points=np.array([b.points for b in bins], dtype=np.float64),
        edges=np.array([bins[i].lower for i in intervals[1:]], dtype=np.float64),
        interval_bins=np.array(intervals or [fallback], dtype=np.intp),
        state_bins=state_bins,
        category_bins=np.array([by_category.get(c, fallback) for c in vocabulary] or [fallback], dtype=np.intp),
        vocabulary=vocabulary,
    )


def _compile_raw(name: str, ch: Characteristic, column: str, spec: FeatureSpec) -> CompiledCharacteristic:
    """A raw-column characteristic: unreadable numbers score as missing unless the card has an `invalid`
    bin, and levels the card does not list score in its `unseen` bin."""
    bins = tuple(ch.bins)
    intervals = [i for i, b in enumerate(bins) if b.kind == "interval"]
    state_bins = np.full(len(STATES), -1, dtype=np.intp)
    for i, b in enumerate(bins):
        if b.state is not None:
            state_bins[STATES.index(b.state)] = i
    if state_bins[INVALID] < 0:
        state_bins[INVALID] = state_bins[MISSING]
    unseen = next((i for i, b in enumerate(bins) if b.label == ch.unseen), int(state_bins[MISSING]))
    state_bins[UNKNOWN] = unseen
    vocabulary = tuple(c for b in bins for c in (b.categories or []))
    by_category = {c: i for i, b in enumerate(bins) for c in (b.categories or [])}
    return CompiledCharacteristic(
        name=name, group=ch.group, feature=spec, bins=bins,
        points=np.array([b.points for b in bins], dtype=np.float64),
        edges=np.array([bins[i].lower for i in intervals[1:]], dtype=np.float64),
        interval_bins=np.array(intervals or [state_bins[MISSING]], dtype=np.intp),
        state_bins=state_bins,
        category_bins=np.array([by_category[c] for c in vocabulary] or [unseen], dtype=np.intp),
        vocabulary=vocabulary, column=column,
    )


def _class_table(table: dict[str, str], chars: dict[str, Characteristic], name: str,
                 fold: Callable[[str], str]) -> tuple[dict[str, int], tuple[str, ...]]:
    ch = chars.get(name)
    classes = tuple(c for b in ch.bins for c in (b.categories or [])) if ch else tuple(dict.fromkeys(table.values()))
    return {fold(k): classes.index(v) for k, v in table.items()}, classes


def _lookups(spec: ScorecardSpec) -> Lookups:
    countries, country_classes = _class_table(spec.countries, spec.characteristics, "country_risk", fold_country)
    industries, industry_classes = _class_table(spec.industries, spec.characteristics, "industry_risk",
                                                fold_industry)
    return Lookups(
        ratings={fold_rating(k): v for k, v in spec.bureau_ratings.items()},
        countries=countries, country_classes=country_classes,
        industries=industries, industry_classes=industry_classes,
    )


def _reason_keys(compiled: tuple[CompiledCharacteristic, ...], offsets: list[int], key_base: int,
                 thresholds: list[float]) -> tuple[np.ndarray, ...]:
    """Sort keys per bin: rank of the shortfall, then the earlier characteristic (see Scorecard).

    A bin that loses fewer points than its characteristic's threshold ranks as no shortfall: it is
    not a reason, and deciding it here costs the scoring nothing per record.
    """
    shortfalls = sorted({c.max_points - p for c in compiled for p in c.points.tolist()})
    rank = {value: r for r, value in enumerate(shortfalls)}  # rank 0 is a shortfall of zero

    def key(c: CompiledCharacteristic, offset: int, threshold: float, b: int, p: float) -> int:
        lost = c.max_points - p
        return (rank[lost] if lost > 0 and lost >= threshold else 0) * key_base + (key_base - 1 - (offset + b))

    return tuple(
        np.array([key(c, offset, threshold, b, p) for b, p in enumerate(c.points.tolist())], dtype=np.int32)
        for c, offset, threshold in zip(compiled, offsets, thresholds, strict=True)
    )


def _shared_codes(compiled: tuple[CompiledCharacteristic, ...], offsets: list[int], codes: list[str]
                  ) -> tuple[tuple[tuple[int, np.ndarray], ...], ...]:
    by_code: dict[str, list[tuple[int, np.ndarray]]] = {}
    for j, (c, offset) in enumerate(zip(compiled, offsets, strict=True)):
        bin_codes = [codes[offset + b] for b in range(len(c.bins))]
        for code in dict.fromkeys(bin_codes):
            by_code.setdefault(code, []).append((j, np.array([x == code for x in bin_codes])))
    return tuple(tuple(members) for members in by_code.values() if len(members) > 1)


@functools.cache
def _default_spec() -> ScorecardSpec:
    """The bundled scorecard's spec: an admin's own file without advice texts takes these."""
    return ScorecardSpec.model_validate(tomllib.loads(DEFAULT_SCORECARD.read_text(encoding="utf-8")))


def _compile(spec: ScorecardSpec, version: str, source: str) -> Scorecard:
    lookups = _lookups(spec)
    classes = {"countries": lookups.country_classes, "industries": lookups.industry_classes}
    compiled = tuple(
        _compile_characteristic(name, ch, () if ch.raw else classes.get(FEATURES[name].table or "", ()))
        for name, ch in spec.characteristics.items()
    )
    codes: list[str] = []
    texts: dict[str, list[str]] = {"en": [], "zh": []}

    def add(code: str, text: Text) -> int:
        codes.append(code)
        texts["en"].append(text.en)
        texts["zh"].append(text.zh)
        return len(codes) - 1

    offsets = []
    for ch in spec.characteristics.values():
        offsets.append(len(codes))
        for b in ch.bins:
            add(b.reason_code or ch.reason_code, b.reason or ch.reason)
    knockouts = tuple(add(ko.code, ko.text) for ko in spec.knockouts)
    override = add(spec.override.code, spec.override.text)
    fallback = _default_spec() if spec.strategies is None or spec.advice is None else spec
    strategies = spec.strategies if spec.strategies is not None else fallback.strategies
    advice = spec.advice if spec.advice is not None else fallback.advice
    assert strategies is not None and advice is not None  # the bundled scorecard has both
    thresholds = [spec.reasons.min_points_lost if ch.reason_min_points_lost is None else ch.reason_min_points_lost
                  for ch in spec.characteristics.values()]
    flags = (add(spec.deal_flags.over_credit.code, spec.deal_flags.over_credit.text),
             add(spec.deal_flags.terms_too_long.code, spec.deal_flags.terms_too_long.text))
    return Scorecard(
        spec=spec,
        reason_keys=_reason_keys(compiled, offsets, len(codes), thresholds),
        reason_thresholds=tuple(thresholds),
        strategies=strategies,
        advice=tuple(advice),
        key_base=len(codes),
        shared_codes=_shared_codes(compiled, offsets, codes),
        version=version,
        source=source,
        characteristics=compiled,
        lookups=lookups,
        reason_offsets=np.array(offsets, dtype=np.intp),
        reason_codes=tuple(codes),
        reason_texts={lang: tuple(t) for lang, t in texts.items()},
        knockout_reason_ids=knockouts,
        override_reason_id=override,
        deal_flag_reason_ids=flags,
        cutoffs=np.array([spec.tiers.medium, spec.tiers.high, spec.tiers.critical], dtype=np.float64),
    )
