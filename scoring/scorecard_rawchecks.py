"""Rules for raw-column characteristics (`column = "..."`), each broken rule with its key path and a hint.

A raw column has no catalogue entry to check against, so the card itself must say everything: how the
column is binned (`kind`), a bin for empty cells, intervals covering the number line or disjoint level
groups, and, for levels, the bin of any level the card does not list (`unseen`). With `higher` a
numeric column's points must move one way, as a canonical feature's do.
"""

from __future__ import annotations

from collections.abc import Mapping

from connector.errors import ConfigProblem
from scoring.features import FEATURES
from scoring.fields import ACCOUNT_FIELDS
from scoring.rawcolumns import NUMERIC_FIELDS, TEXT_FIELDS, raw_feature_spec
from scoring.scorecard_checks import Problems, _check_intervals, key_path
from scoring.scorecard_spec import Bin, Characteristic

__all__ = ["check_raw_characteristics"]


def _check_field(p: Problems, base: str, column: str, kind: str) -> None:
    """A canonical field named as a raw column must hold that kind of value."""
    field = ACCOUNT_FIELDS.get(column)
    if field is None:
        return
    wanted = NUMERIC_FIELDS if kind == "numeric" else TEXT_FIELDS
    if field not in wanted:
        p.add(f"{base}.kind", f"{column} is a canonical {field.value} field; it cannot be binned as {kind}",
              "numeric takes number or yes/no fields, categorical takes text or picklist fields")


def _check_states(p: Problems, base: str, kind: str, bins: list[tuple[int, Bin]]) -> None:
    allowed = ("missing", "invalid") if kind == "numeric" else ("missing",)
    seen: dict[str, int] = {}
    for i, b in bins:
        if b.state not in allowed:
            p.add(f"{base}.bins[{i}].state", f"a raw {kind} column has no state {b.state!r}",
                  f"valid here: {', '.join(allowed)}" + ("" if kind == "numeric" else
                                                         "; unseen levels go to the bin named by `unseen`"))
        elif b.state in seen:
            p.add(f"{base}.bins[{i}].state", f"state {b.state!r} already has bins[{seen[b.state]}]")
        else:
            seen[str(b.state)] = i
    if "missing" not in seen:
        p.add(f"{base}.bins", "no bin for empty cells", 'add { label = "missing", state = "missing", points = ... }')


def _check_levels(p: Problems, base: str, ch: Characteristic, bins: list[tuple[int, Bin]]) -> None:
    seen: dict[str, int] = {}
    for i, b in bins:
        for c in b.categories or []:
            if c in seen:
                p.add(f"{base}.bins[{i}].categories", f"level {c!r} is already in bins[{seen[c]}]")
            seen[c] = i
        if not b.categories and b.label != ch.unseen:
            p.add(f"{base}.bins[{i}].categories", "no levels", "list the levels this bin holds; only the "
                  "`unseen` bin may hold none")
    labels = [b.label for b in ch.bins]
    if ch.unseen is None:
        p.add(f"{base}.unseen", "no bin declared for levels the card does not list (unseen in training)",
              'add unseen = "<bin label>", naming the bin such a level scores in (e.g. the missing bin)')
    elif ch.unseen not in labels:
        p.add(f"{base}.unseen", f"no bin is labelled {ch.unseen!r}", f"labels: {', '.join(labels)}")


def _check_raw(p: Problems, name: str, ch: Characteristic) -> None:
    base = key_path(("characteristics", name))
    column = ch.column or ""
    if name in FEATURES:
        p.add(base, f"{name} is a canonical feature; a raw-column characteristic needs a name of its own",
              f"rename it, e.g. characteristics.{name}_raw")
    if ch.kind is None:
        p.add(f"{base}.kind", f"raw column {column!r} needs kind = \"numeric\" or \"categorical\"")
        return
    _check_field(p, base, column, ch.kind)
    states = [(i, b) for i, b in enumerate(ch.bins) if b.kind == "state"]
    intervals = [(i, b) for i, b in enumerate(ch.bins) if b.kind == "interval"]
    levels = [(i, b) for i, b in enumerate(ch.bins) if b.kind == "categories"]
    labels: dict[str, int] = {}
    for i, b in enumerate(ch.bins):
        if b.label in labels:
            p.add(f"{base}.bins[{i}].label", f"label {b.label!r} is already used by bins[{labels[b.label]}]")
        labels[b.label] = i
        shapes = [b.state is not None, b.categories is not None, b.lower is not None or b.upper is not None]
        if sum(shapes) > 1:
            p.add(f"{base}.bins[{i}]", "a bin is a state, a list of levels or an interval, never more than one")
    _check_states(p, base, ch.kind, states)
    if ch.kind == "numeric":
        for i, _ in levels:
            p.add(f"{base}.bins[{i}].categories", f"{column} is binned as numeric; use lower/upper intervals")
        if ch.unseen is not None:
            p.add(f"{base}.unseen", "only a categorical column has unseen levels", "remove `unseen`")
        _check_intervals(p, base, raw_feature_spec(name, column, "numeric", ch.higher), intervals)
    else:
        for i, _ in intervals:
            p.add(f"{base}.bins[{i}]", f"{column} is binned as categorical; give `categories` or a `state`")
        if ch.higher is not None:
            p.add(f"{base}.higher", "levels have no order; `higher` is for numeric columns", "remove `higher`")
        _check_levels(p, base, ch, levels)


def check_raw_characteristics(file: str, sections: Mapping[str, object]) -> list[ConfigProblem]:
    """Every problem of the raw-column characteristics among the sections that passed type validation."""
    p = Problems(file)
    chars = sections.get("characteristics")
    if isinstance(chars, dict):
        for name, ch in chars.items():
            if isinstance(ch, Characteristic) and ch.column is not None:
                _check_raw(p, name, ch)
    return p.items
