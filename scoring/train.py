"""Train a scorecard on the customer's own outcomes: optimal monotone bins, WoE, logistic regression, points.

    result = train_scorecard(table, target="status", bad="default", as_of=date(2026, 6, 30))
    Path("trained.toml").write_text(result.card_text)

The pipeline is the field's standard: optbinning's `BinningProcess` bins every characteristic with
the event rate monotone in the direction the feature's definition says (a higher bureau score is
never riskier), drops characteristics whose information value is below `WEAK_IV`, and turns values
into weight of evidence; scikit-learn's logistic regression weighs them. Each bin's points are the
regression's contribution scaled with the default card's base points, base odds and PDO, so the
card's pd equals the pipeline's `predict_proba` (to float rounding). Needs the `riskbridge[train]` extra.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
import tomllib
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np

from connector.errors import ConfigError, ConfigProblem
from scoring.binshares import bin_counts
from scoring.csvfile import CsvTable
from scoring.engine import assess
from scoring.features import FEATURES
from scoring.intervals import edge_keys, intervals, label_apart
from scoring.scorecard import DEFAULT_SCORECARD, Scorecard, parse_scorecard
from scoring.scorecard_spec import TIERS
from scoring.tomlwriter import dumps
from scoring.trainmatrix import HUGE, TRAINABLE, state_stand_in, training_frame
from scoring.trainraw import RawColumn, raw_candidates, raw_characteristic, reason_code, taken_codes, to_object
from scoring.validation import WEAK_IV, Validation, auc, calibration, ks, psi, tier_table, warnings_for

__all__ = ["EXTRA", "TrainResult", "missing_extra", "train_scorecard"]

logger = logging.getLogger(__name__)
EXTRA = "train"  # pip install 'riskbridge[train]'


@contextmanager
def _quiet_libraries() -> Iterator[None]:
    """optbinning calls pandas and scikit-learn APIs those libraries deprecate; that is theirs to fix, not ours."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        yield


def missing_extra() -> str | None:
    """The first package of the `train` extra that is not installed, or None."""
    for module in ("optbinning", "sklearn"):
        try:
            __import__(module)
        except ImportError:
            return module
    return None


@dataclass
class TrainResult:
    card_text: str
    scorecard: Scorecard
    validation: Validation
    pipeline: Any  # sklearn Pipeline: BinningProcess then LogisticRegression
    candidates: tuple[str, ...]
    selected: tuple[str, ...]
    fit_seconds: float
    agreement: float  # largest |pd(card) - pd(pipeline)| on the holdout
    holdout: np.ndarray  # row indices of the holdout
    raw: dict[str, RawColumn] = field(default_factory=dict)  # the raw columns among the candidates

    def frame(self, table: CsvTable, as_of: date) -> Any:
        """The pipeline's input for every row of `table` (a pandas DataFrame)."""
        return training_frame(table.accounts, self.scorecard.lookups, self.candidates, self.raw, as_of=as_of)

    def pipeline_pd(self, table: CsvTable, as_of: date) -> np.ndarray:
        """The training pipeline's own predicted pd for every row of `table`."""
        with _quiet_libraries():
            return np.asarray(self.pipeline.predict_proba(self.frame(table, as_of))[:, 1], dtype=np.float64)


def _problems(table: CsvTable, target: str, bad: str, characteristics: Sequence[str] | None,
              exclude: Sequence[str], test_size: float) -> tuple[tuple[str, ...], np.ndarray, dict[str, RawColumn]]:
    """The candidate characteristics, the bad flag and the raw columns among the candidates, or
    ConfigError with every problem at once."""
    file = str(table.path)
    problems: list[ConfigProblem] = []
    if target not in table.header:
        problems.append(ConfigProblem(file, "--target", f"no column {target!r} in the data",
                                      f"columns: {', '.join(table.header)}"))
    asked = list(characteristics) if characteristics else []
    for name in [*asked, *exclude]:
        if name == target:
            problems.append(ConfigProblem(file, "--characteristics", f"{name} is the outcome column",
                                          "a card cannot score with the outcome it predicts"))
        elif name in table.header and name not in FEATURES:
            continue  # a raw column of the data
        elif name not in FEATURES:
            problems.append(ConfigProblem(file, "--characteristics", f"unknown characteristic {name!r}",
                                          f"trainable: {', '.join(TRAINABLE)}, or a column of the data"))
        elif name not in TRAINABLE:
            problems.append(ConfigProblem(file, "--characteristics", f"{name} is categorical; only numeric "
                                          "canonical characteristics are trained", "train its input column as "
                                          f"a raw column instead, e.g. {', '.join(FEATURES[name].inputs)}"))
    if not 0.05 <= test_size <= 0.5:
        problems.append(ConfigProblem(file, "--test-size", f"must be between 0.05 and 0.5, not {test_size:g}"))
    raw = raw_candidates(table, target, asked, exclude, problems)
    present = [n for n in TRAINABLE if any(i in table.header for i in FEATURES[n].inputs)]
    candidates = tuple(n for n in (asked or [*present, *raw])
                       if (n in TRAINABLE or n in raw) and n not in exclude)
    if not candidates and not problems:
        problems.append(ConfigProblem(file, "--characteristics", "no characteristic to train on",
                                      f"the data needs input columns of: {', '.join(TRAINABLE)}"))
    flag = np.array([row.get(target, "").strip() == bad for row in table.rows], dtype=bool)
    if target in table.header and not flag.any():
        problems.append(ConfigProblem(file, "--bad", f"no row has {target} = {bad!r}",
                                      f"values seen: {', '.join(sorted({r[target] for r in table.rows})[:10])}"))
    if target in table.header and flag.all():
        problems.append(ConfigProblem(file, "--bad", f"every row has {target} = {bad!r}; nothing to compare"))
    if problems:
        raise ConfigError(problems)
    return candidates, flag, raw


def _trend(name: str, raw: dict[str, RawColumn]) -> dict[str, str]:
    if name in raw:
        # A raw number has no known safer end: its bad rate may move either way, but one way only.
        return {"monotonic_trend": "auto_asc_desc"} if raw[name].kind == "numeric" else {}
    # Event = bad: a feature that is safer when higher must have a falling bad rate.
    return {"monotonic_trend": "descending" if FEATURES[name].direction > 0 else "ascending"}


def _fit(x: Any, y: np.ndarray, names: tuple[str, ...], raw: dict[str, RawColumn]) -> Any:
    from optbinning import BinningProcess
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    params = {n: _trend(n, raw) for n in names}
    categorical = [n for n in names if n in raw and raw[n].kind == "categorical"]
    binning = BinningProcess(list(names), binning_fit_params=params, categorical_variables=categorical or None,
                             selection_criteria={"iv": {"min": WEAK_IV}})
    pipeline = Pipeline([("binning", binning), ("regression", LogisticRegression(max_iter=1000))])
    with _quiet_libraries():
        pipeline.fit(x, y)
    return pipeline


def _bins(pipeline: Any, name: str, coefficient: float, share: float, factor: float) -> list[dict[str, Any]]:
    """The scorecard bins of one characteristic: its special states, then its intervals."""
    optb = pipeline.named_steps["binning"].get_binned_variable(name)
    spec = FEATURES[name]
    splits = [float(s) for s in optb.splits]

    def points(value: float) -> float:
        with _quiet_libraries():
            woe = float(optb.transform(np.array([value]), metric="woe")[0])
        return share - factor * coefficient * woe

    default = _default_raw()["characteristics"].get(name, {})
    state_texts = {b["state"]: b for b in default.get("bins", []) if "state" in b}
    out: list[dict[str, Any]] = []
    for state in spec.states:
        b: dict[str, Any] = {"label": state.replace("_", " "), "state": state,
                             "points": points(state_stand_in(spec, state))}
        for key in ("reason_code", "reason"):
            if key in state_texts.get(state, {}):
                b[key] = state_texts[state][key]
        out.append(b)
    for iv in intervals(splits):
        out.append({"label": iv.label, "points": points(float(np.clip(iv.stand_in, -HUGE, HUGE))), **edge_keys(iv)})
    return label_apart(out)


def _against_direction(bins: list[dict[str, Any]], name: str) -> bool:
    pts = [b["points"] for b in bins if "state" not in b]
    direction = FEATURES[name].direction
    return any((b - a) * direction < -1e-9 for a, b in zip(pts, pts[1:], strict=False))


def _default_raw() -> dict[str, Any]:
    return tomllib.loads(DEFAULT_SCORECARD.read_text(encoding="utf-8"))


def _raw_entry(pipeline: Any, column: RawColumn, coefficient: float, share: float, factor: float,
               code: str) -> dict[str, Any]:
    optb = pipeline.named_steps["binning"].get_binned_variable(column.column)

    def points(value: Any) -> float:
        x = to_object(value) if column.kind == "categorical" else np.array([value], dtype=np.float64)
        with _quiet_libraries():
            woe = float(optb.transform(x, metric="woe")[0])
        return share - factor * coefficient * woe

    return raw_characteristic(optb, column, points, code)


def _card(pipeline: Any, names: list[str], raw_columns: dict[str, RawColumn]) -> tuple[dict[str, Any], list[str]]:
    """The scorecard as data, and the characteristics whose weight came out against their direction."""
    raw = _default_raw()
    taken = taken_codes(raw)
    scaling = raw["scaling"]
    regression = pipeline.named_steps["regression"]
    factor = scaling["pdo"] / math.log(2.0)
    # score = base_points + factor * (ln(good/bad) - ln(base_odds)), ln(good/bad) = -(intercept + sum c*woe)
    share = (scaling["base_points"] - factor * (float(regression.intercept_[0]) + math.log(scaling["base_odds"])))
    share /= len(names)
    chars: dict[str, Any] = {}
    wrong = []
    for name, coefficient in zip(names, regression.coef_[0].tolist(), strict=True):
        if name in raw_columns:
            chars[name] = _raw_entry(pipeline, raw_columns[name], float(coefficient), share, factor,
                                     code := reason_code(name, taken))
            taken.append(code)
            continue
        bins = _bins(pipeline, name, float(coefficient), share, factor)
        if _against_direction(bins, name):
            wrong.append(name)
        default = raw["characteristics"].get(name, {})
        chars[name] = {"group": default["group"], "reason_code": default["reason_code"],
                       "reason": default["reason"], "bins": bins}
    raw["characteristics"] = chars
    for ko in raw.get("knockouts", []):
        if ko.get("supersedes") not in (None, *chars):
            del ko["supersedes"]  # the characteristic it would repeat is not on this card
    return raw, wrong


def _psi_scores(train_pd: np.ndarray, holdout_pd: np.ndarray) -> float:
    edges = np.unique(np.quantile(train_pd, np.linspace(0, 1, 11)[1:-1]))
    return psi(np.bincount(np.searchsorted(edges, train_pd, side="right"), minlength=len(edges) + 1),
               np.bincount(np.searchsorted(edges, holdout_pd, side="right"), minlength=len(edges) + 1))


def train_scorecard(table: CsvTable, *, target: str, bad: str, as_of: date,
                    characteristics: Sequence[str] | None = None, exclude: Sequence[str] = (),
                    test_size: float = 0.3, seed: int = 0, trained_on: date | None = None) -> TrainResult:
    """Fit, scale, validate; raises ConfigError (every problem at once) before any fitting."""
    from sklearn.model_selection import train_test_split

    candidates, flag, raw_columns = _problems(table, target, bad, characteristics, exclude, test_size)
    lookups = parse_scorecard(DEFAULT_SCORECARD.read_bytes()).lookups
    x = training_frame(table.accounts, lookups, candidates, raw_columns, as_of=as_of)
    known = ~x.isna().all(axis=0).to_numpy()
    if characteristics and not known.all():
        raise ConfigError([ConfigProblem(str(table.path), "--characteristics", f"{name} has no value in any row",
                                         f"it is computed from: {', '.join(FEATURES[name].inputs)}")
                           for name, ok in zip(candidates, known, strict=True) if not ok])
    # Without values a characteristic cannot be binned: a feature some of whose inputs are absent.
    candidates = tuple(n for n, ok in zip(candidates, known, strict=True) if ok)
    x = x[list(candidates)]
    rows = np.arange(len(flag))
    train_rows, holdout_rows = train_test_split(rows, test_size=test_size, random_state=seed, stratify=flag)
    train_rows, holdout_rows = np.sort(train_rows), np.sort(holdout_rows)
    started = time.perf_counter()
    names = candidates
    while True:
        # Only the selected characteristics get weights; refit without any whose weight reverses its bins.
        pipeline = _fit(x.iloc[train_rows][list(names)], flag[train_rows].astype(int), names, raw_columns)
        selected = [names[i] for i in pipeline.named_steps["binning"].get_support(indices=True)]
        raw, wrong = _card(pipeline, selected, raw_columns) if selected else ({}, [])
        if not selected:
            raise ConfigError([ConfigProblem(str(table.path), "--characteristics",
                                             f"no characteristic reaches an information value of {WEAK_IV}",
                                             "the data does not separate bads from goods")])
        if not wrong:
            break
        logger.info("refitting without %s: its weight came out against its direction", ", ".join(wrong))
        names = tuple(n for n in names if n not in wrong)
    fit_seconds = time.perf_counter() - started
    ivs = _ivs(pipeline, names)
    final = _trained(pipeline, names)
    holdout_batch = table.accounts.take(holdout_rows)
    raw["description"] = f"riskbridge scorecard trained on {table.path.name}"
    digest = hashlib.sha256(table.path.read_bytes()).hexdigest()
    card_for_figures = parse_scorecard(dumps(raw).encode("utf-8"), source=str(table.path), name="trained")
    # The development distribution, per bin, for `riskbridge drift` to compare later runs with.
    train_batch = table.accounts.take(train_rows)
    for name, counts in bin_counts(card_for_figures, train_batch, as_of).items():
        for b, count in zip(raw["characteristics"][name]["bins"], counts.tolist(), strict=True):
            b["dev_share"] = count / len(train_rows)
    card_for_figures = parse_scorecard(dumps(raw).encode("utf-8"), source=str(table.path), name="trained")
    result = assess(holdout_batch, card_for_figures, as_of=as_of)
    train_result = assess(train_batch, card_for_figures, as_of=as_of)
    y_hold = flag[holdout_rows]
    pd_hold = np.asarray(result.pd, dtype=np.float64)
    holdout_auc = auc(y_hold, pd_hold)
    validation = Validation(
        auc=holdout_auc, gini=2 * holdout_auc - 1, ks=ks(y_hold, pd_hold), bads=int(flag.sum()),
        accounts=len(flag), tiers=tier_table(np.array(TIERS)[result.computed_tier].tolist(), y_hold, pd_hold, TIERS),
        calibration=calibration(y_hold, pd_hold), psi_train_holdout=_psi_scores(np.asarray(train_result.pd), pd_hold),
        iv=ivs, warnings=warnings_for(holdout_auc, ivs, int(flag.sum())))
    pipe_pd = final(x.iloc[holdout_rows])
    agreement = float(np.max(np.abs(pipe_pd - pd_hold))) if len(pd_hold) else 0.0
    header = _header(table, digest, len(flag), trained_on or as_of, as_of, target, bad, validation, fit_seconds,
                     list(names), selected)
    text = dumps(raw, header)
    card = parse_scorecard(text.encode("utf-8"), source=str(table.path), name="trained")
    return TrainResult(card_text=text, scorecard=card, validation=validation, pipeline=pipeline,
                       candidates=tuple(names), selected=tuple(selected), fit_seconds=fit_seconds,
                       agreement=agreement, holdout=holdout_rows,
                       raw={n: c for n, c in raw_columns.items() if n in names})


def _trained(pipeline: Any, names: tuple[str, ...]) -> Any:
    """The pipeline's pd on rows of the full candidate frame (it was fitted on the columns of `names`)."""

    def predict(rows: Any) -> np.ndarray:
        with _quiet_libraries():
            return np.asarray(pipeline.predict_proba(rows[list(names)])[:, 1], dtype=np.float64)

    return predict


def _ivs(pipeline: Any, names: tuple[str, ...]) -> dict[str, float]:
    with _quiet_libraries():
        summary = pipeline.named_steps["binning"].summary()
    by_name = dict(zip(summary["name"].tolist(), summary["iv"].tolist(), strict=True))
    return {n: float(by_name[n]) for n in names}


def _header(table: CsvTable, digest: str, rows: int, trained_on: date, as_of: date, target: str, bad: str,
            v: Validation, fit_seconds: float, candidates: list[str], selected: list[str]) -> str:
    lines = [
        "# riskbridge scorecard trained by `riskbridge train` (optbinning BinningProcess + logistic regression).",
        "# Knockouts, overrides, tiers, advice and credit policy are the default card's; edit them freely,",
        "# but retrain rather than hand-edit the points: they carry the fitted model.",
        f"# training data: {table.path.name}  sha256 {digest}",
        f"# rows: {rows}  bads: {v.bads}  target: {target} = {bad!r}  trained: {trained_on.isoformat()}"
        f"  features as of: {as_of.isoformat()}",
        f"# holdout: AUC {v.auc:.4f}  Gini {v.gini:.4f}  KS {v.ks:.4f}  PSI train/holdout {v.psi_train_holdout:.4f}"
        f"  fit {fit_seconds:.2f}s",
        f"# candidates: {', '.join(candidates)}",
        f"# selected (IV >= {WEAK_IV}): {', '.join(selected)}",
        "# information value: " + ", ".join(f"{n} {iv:.3f}" for n, iv in v.iv.items()),
    ]
    return "\n".join(lines) + "\n"
