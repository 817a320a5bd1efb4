"""Mappings: which CRM field feeds each canonical input, and which CRM field receives each output.

A mapping is data (`mappings/<crm>.toml`), validated into `Mapping` before any network call. Applying
it turns raw CRM rows into `Account`/`Deal` values; a value that cannot be converted makes that
record a `RecordIssue` (skipped this run, retried next run) and the run goes on.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from connector.errors import ConfigProblem, MappingError
from connector.model import ACCOUNT_FIELDS, DEAL_FIELDS, Account, Deal, ObjectKind
from connector.problems import did_you_mean, field_names, from_validation_error, read_text
from connector.transforms import TRANSFORMS, Unconvertible, parse_datetime

__all__ = ["MAPPINGS_DIR", "OUTPUT_FIELDS", "Mapping", "MappingSuspect", "ObjectMapping", "RecordIssue", "load_mapping",
           "mapping_problems", "suspect_mappings"]

# When one input fails the same way on at least this share of a batch of at least SUSPECT_MIN_ROWS rows, the
# data is not what is wrong: the mapping points the input at the wrong field or gives it the wrong transform.
SUSPECT_SHARE = 0.5
SUSPECT_MIN_ROWS = 20

# The default mappings: `mappings/` in a checkout, the data package `connector.mappings` when installed.
_HERE = Path(__file__).resolve().parent
MAPPINGS_DIR = _HERE / "mappings" if (_HERE / "mappings").is_dir() else _HERE.parent / "mappings"

OUTPUT_FIELDS: dict[str, tuple[str, ...]] = {
    "accounts": ("risk_score", "risk_tier", "reasons", "recommended_terms_days", "recommended_credit_limit",
                 "watchlist", "scored_at", "model_version"),
    "deals": ("risk_score", "risk_tier", "reasons", "recommended_terms_days", "flags", "scored_at", "model_version"),
}
_CANONICAL: dict[str, tuple[str, ...]] = {"accounts": ACCOUNT_FIELDS, "deals": DEAL_FIELDS}


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid")

    field: str = Field(min_length=1)
    transform: str = "text"

    @field_validator("transform")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in TRANSFORMS:
            raise ValueError(f"unknown transform {value!r}{did_you_mean(value, TRANSFORMS)}; "
                             f"valid: {', '.join(sorted(TRANSFORMS))}")
        return value


class ObjectMapping(BaseModel):
    model_config = ConfigDict(extra="forbid")

    object: str = Field(min_length=1)
    id_field: str = "Id"
    cursor_field: str
    parent_field: str | None = None
    inputs: dict[str, Input]
    outputs: dict[str, str] = Field(default_factory=dict)

    @field_validator("inputs", mode="before")
    @classmethod
    def _plain_field(cls, value: Any) -> Any:
        """``name = "Field"`` is short for ``name = { field = "Field" }`` (read as text)."""
        if isinstance(value, dict):
            return {k: {"field": v} if isinstance(v, str) else v for k, v in value.items()}
        return value

    @field_validator("outputs")
    @classmethod
    def _output_names(cls, value: dict[str, str]) -> dict[str, str]:
        if empty := [k for k, v in value.items() if not v.strip()]:
            raise ValueError(f"output(s) {empty} are mapped to an empty field name")
        return value

    def input(self, name: str) -> Input | None:
        return self.inputs.get(name)

    def read_fields(self) -> tuple[str, ...]:
        """CRM fields to read: id, cursor, every input's top-level field and every output (for diffing)."""
        names = [self.id_field, self.cursor_field]
        for name in self.inputs:
            spec = self.input(name)
            assert spec is not None
            names.append(spec.field.split(".", 1)[0])
        names += list(self.outputs.values())
        return tuple(dict.fromkeys(names))


class Mapping(BaseModel):
    """A validated mapping file."""

    model_config = ConfigDict(extra="forbid")

    crm: Literal["salesforce", "zoho", "fxiaoke"]
    accounts: ObjectMapping
    deals: ObjectMapping | None = None
    source: str = ""

    @model_validator(mode="after")
    def _names(self, info: ValidationInfo) -> Mapping:
        if info.context and info.context.get("problems") is not None:
            info.context["problems"] += mapping_problems(self, self.source)  # load_mapping lists each one
            return self
        problems = mapping_problems(self, self.source)
        if problems:
            raise ValueError("; ".join(f"{p.key}: {p.message}" for p in problems))
        return self

    def object(self, kind: ObjectKind) -> ObjectMapping:
        obj = self.accounts if kind == "accounts" else self.deals
        if obj is None:
            raise MappingError([ConfigProblem(self.source, kind, "this mapping has no such section")])
        return obj

    @property
    def kinds(self) -> list[ObjectKind]:
        return ["accounts", "deals"] if self.deals is not None else ["accounts"]


def mapping_problems(mapping: Mapping, source: str) -> list[ConfigProblem]:
    """What is wrong with a structurally valid mapping, each problem under its own key."""
    problems: list[ConfigProblem] = []
    for kind in ("accounts", "deals"):
        obj: ObjectMapping | None = getattr(mapping, kind)
        if obj is None:
            continue
        canonical = [n for n in _CANONICAL[kind] if n != "id"]
        for name in obj.inputs:
            if name == "id":
                problems.append(ConfigProblem(source, f"{kind}.inputs.id", "'id' comes from id_field",
                                              "remove this line; set id_field instead"))
            elif name not in _CANONICAL[kind]:
                problems.append(ConfigProblem(source, f"{kind}.inputs.{name}", f"unknown canonical field "
                                              f"{name!r}{did_you_mean(name, canonical)}",
                                              f"valid: {', '.join(canonical)}"))
        for name in obj.outputs:
            if name not in OUTPUT_FIELDS[kind]:
                problems.append(ConfigProblem(source, f"{kind}.outputs.{name}", f"unknown output {name!r}"
                                              f"{did_you_mean(name, OUTPUT_FIELDS[kind])}",
                                              f"valid: {', '.join(OUTPUT_FIELDS[kind])}"))
        by_field: dict[str, list[str]] = {}
        for name, crm_field in obj.outputs.items():
            by_field.setdefault(crm_field.lower(), []).append(name)
        for names in by_field.values():
            if len(names) > 1:
                spelled = " and ".join(f"{n} -> {obj.outputs[n]}" for n in names)
                problems.append(ConfigProblem(source, f"{kind}.outputs", f"{spelled}: one CRM field can hold only "
                                              "one output; each write would overwrite the other",
                                              "give each output its own field, or remove one of these lines"))
        read = {obj.id_field.lower(), obj.cursor_field.lower()} | {
            spec.field.split(".", 1)[0].lower() for spec in obj.inputs.values()}
        clash = sorted(f for f in obj.outputs.values() if f.lower() in read)
        if clash:
            problems.append(ConfigProblem(source, f"{kind}.outputs", f"{clash} are also read as inputs; riskbridge "
                                          "would overwrite the data it scores (or a credit manager's override) "
                                          "with its own results", "map each output to a field of its own"))
    if mapping.deals is not None and "account_id" not in mapping.deals.inputs:
        problems.append(ConfigProblem(source, "deals.inputs", "'account_id' is required to link deals to accounts",
                                      'add account_id = "<the lookup field to the account>"'))
    return problems


@dataclass(frozen=True)
class RecordIssue:
    """Why one CRM record was skipped this run."""

    object: ObjectKind
    record_id: str
    reason: str
    failed: tuple[tuple[str, str], ...] = ()  # (canonical input, the CRM value it could not read), per input


@dataclass(frozen=True)
class MappingSuspect:
    """One input that failed on most rows of a batch: probably a mapping mistake, not bad data."""

    object: ObjectKind
    canonical: str
    field: str
    transform: str
    failed: int
    rows: int
    sample: str

    @property
    def message(self) -> str:
        return (f"{self.object}.inputs.{self.canonical} reads {self.field} with transform {self.transform!r}, which "
                f"failed on {self.failed} of {self.rows} rows (e.g. {self.sample}); check that field and transform "
                "in the mapping")


def suspect_mappings(mapping: Mapping, kind: ObjectKind, rows: int, issues: list[RecordIssue]) -> list[MappingSuspect]:
    """Inputs that failed on at least half of a batch of at least 20 rows (see SUSPECT_SHARE)."""
    if rows < SUSPECT_MIN_ROWS:
        return []
    counts: dict[str, int] = {}
    samples: dict[str, str] = {}
    for issue in issues:
        for name, sample in issue.failed:
            counts[name] = counts.get(name, 0) + 1
            samples.setdefault(name, sample)
    obj = mapping.object(kind)
    suspects = []
    for name, count in counts.items():
        spec = obj.input(name)
        if spec is not None and count >= SUSPECT_SHARE * rows:
            suspects.append(MappingSuspect(kind, name, spec.field, spec.transform, count, rows, samples[name]))
    return suspects


def _dig(row: dict[str, Any], path: str) -> Any:
    value: Any = row
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def map_rows(mapping: Mapping, kind: ObjectKind, rows: list[dict[str, Any]]) -> tuple[list[Account | Deal], list[RecordIssue]]:
    """Turn raw CRM rows into canonical records; unconvertible rows become issues.

    Converted a column at a time: one transform over one input's values of the whole batch, a text that
    recurs (a country, a date, a stage) converted once. A record's problems are listed in input order, then
    its cursor field's, as a row-by-row pass would list them."""
    obj = mapping.object(kind)
    kept: list[dict[str, Any]] = []
    ids: list[str] = []
    for row in rows:
        record_id = str(row.get(obj.id_field) or "")
        if record_id:
            kept.append(row)
            ids.append(record_id)
    problems: dict[int, list[str]] = {}  # row index -> its problems
    failed: dict[int, list[tuple[str, str]]] = {}
    names = ["id"]
    columns: list[list[Any]] = [ids]
    for name in obj.inputs:
        spec = obj.input(name)
        assert spec is not None
        crm_field = spec.field
        raw = [_dig(r, crm_field) for r in kept] if "." in crm_field else [r.get(crm_field) for r in kept]
        names.append(name)
        columns.append(_convert(TRANSFORMS[spec.transform], spec.transform in _RECURRING, raw, crm_field, name,
                                problems, failed))
    modstamps: list[datetime | None] = []
    cursor_field = obj.cursor_field
    for i, row in enumerate(kept):
        stamp = row.get(cursor_field)
        try:
            modstamps.append(parse_datetime(row[cursor_field]) if stamp else None)
        except Unconvertible as exc:
            problems.setdefault(i, []).append(f"{cursor_field}: {exc}")
            modstamps.append(None)
    records: list[Account | Deal] = []
    issues: list[RecordIssue] = []
    outputs = list(obj.outputs.items())
    for i, (row, values) in enumerate(zip(kept, zip(*columns, strict=True), strict=True)):
        if i in problems:
            issues.append(RecordIssue(kind, ids[i], "; ".join(problems[i]), tuple(failed.get(i, ()))))
            continue
        record = dict(zip(names, values, strict=True))
        current = {name: row.get(crm_field) for name, crm_field in outputs}
        if kind == "accounts":
            tags = frozenset(t.get("name", "") for t in row.get("Tag") or [] if isinstance(t, dict))
            records.append(Account(ids[i], modstamps[i], record, current, tags))
        else:
            records.append(Deal(ids[i], modstamps[i], record, current))
    return records, issues


# Transforms whose texts recur across a batch and cost more than a dict look-up (a number sent as text, such
# as a bureau score, is parsed in about 8 µs): converted once per text.
_RECURRING = frozenset({"date", "country", "lower", "rating", "stage_closed", "stage_won", "status_closed",
                        "status_won", "bool", "number", "integer"})
_UNSET: Any = object()


def _convert(transform: Callable[[Any], Any], recurring: bool, raw: list[Any], crm_field: str, name: str,
             problems: dict[int, list[str]], failed: dict[int, list[tuple[str, str]]]) -> list[Any]:
    """`transform` over one column; a value it cannot read becomes its row's problem and None."""
    try:
        if not recurring:
            return [transform(v) for v in raw]
        seen: dict[str, Any] = {}

        def once(text: str) -> Any:
            result = seen.get(text, _UNSET)
            if result is _UNSET:
                result = seen[text] = transform(text)
            return result

        # Only texts are looked up: 1, 1.0 and True are equal keys but convert differently.
        return [once(v) if type(v) is str else transform(v) for v in raw]
    except Unconvertible:
        pass  # rare: convert again value by value, noting each failure
    out = []
    for i, v in enumerate(raw):
        try:
            out.append(transform(v))
        except Unconvertible as exc:
            problems.setdefault(i, []).append(f"{crm_field} -> {name}: {exc}")
            failed.setdefault(i, []).append((name, repr(v)[:60]))
            out.append(None)
    return out


_KNOWN_KEYS = field_names(Mapping)


def load_mapping(path: str | Path) -> Mapping:
    """Read and validate a mapping file; every problem is listed in one `MappingError`."""
    source = str(path)
    text, problem = read_text(Path(path), "mapping file")
    if problem is not None or text is None:
        if problem is not None and problem.message == "mapping file not found":
            problem = ConfigProblem(source, "", "file not found", f"default mappings live in {MAPPINGS_DIR}")
        raise MappingError([problem or ConfigProblem(source, "", "cannot read the mapping file")])
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise MappingError([ConfigProblem(source, "", f"not valid TOML: {exc}")]) from None
    problems: list[ConfigProblem] = []
    try:
        mapping = Mapping.model_validate({**raw, "source": source}, context={"problems": problems})
    except ValidationError as exc:
        raise MappingError(from_validation_error(exc, source, known=_KNOWN_KEYS)) from None
    if problems:
        raise MappingError(problems)
    return mapping
