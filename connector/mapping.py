"""Mappings: which CRM field feeds each canonical input, and which CRM field receives each output.

A mapping is data (`mappings/<crm>.toml`), validated into `Mapping` before any network call. Applying
it turns raw CRM rows into `Account`/`Deal` values; a value that cannot be converted makes that
record a `RecordIssue` (skipped this run, retried next run) and the run goes on.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from connector.errors import ConfigProblem, MappingError
from connector.model import ACCOUNT_FIELDS, DEAL_FIELDS, Account, Deal, ObjectKind
from connector.transforms import TRANSFORMS, Unconvertible, parse_datetime

__all__ = ["MAPPINGS_DIR", "OUTPUT_FIELDS", "Mapping", "ObjectMapping", "RecordIssue", "load_mapping"]

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
            raise ValueError(f"unknown transform {value!r}; valid: {', '.join(sorted(TRANSFORMS))}")
        return value


class ObjectMapping(BaseModel):
    model_config = ConfigDict(extra="forbid")

    object: str = Field(min_length=1)
    id_field: str = "Id"
    cursor_field: str
    parent_field: str | None = None
    inputs: dict[str, Input | str]
    outputs: dict[str, str] = Field(default_factory=dict)

    def input(self, name: str) -> Input | None:
        spec = self.inputs.get(name)
        return Input(field=spec) if isinstance(spec, str) else spec

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
    def _names(self) -> Mapping:
        for kind in ("accounts", "deals"):
            obj: ObjectMapping | None = getattr(self, kind)
            if obj is None:
                continue
            unknown = [n for n in obj.inputs if n not in _CANONICAL[kind]]
            if unknown:
                raise ValueError(f"{kind}.inputs: unknown canonical name(s) {unknown}; "
                                 f"valid: {', '.join(_CANONICAL[kind])}")
            unknown = [n for n in obj.outputs if n not in OUTPUT_FIELDS[kind]]
            if unknown:
                raise ValueError(f"{kind}.outputs: unknown output name(s) {unknown}; "
                                 f"valid: {', '.join(OUTPUT_FIELDS[kind])}")
            if "id" in obj.inputs:
                raise ValueError(f"{kind}.inputs: 'id' comes from id_field, do not map it")
            read = {obj.id_field.lower(), obj.cursor_field.lower()} | {
                (spec.field if isinstance(spec, Input) else spec).split(".", 1)[0].lower() for spec in obj.inputs.values()}
            clash = sorted(f for f in obj.outputs.values() if f.lower() in read)
            if clash:
                raise ValueError(f"{kind}.outputs: {clash} are also read as inputs; riskbridge would overwrite the "
                                 "data it scores (or a credit manager's override) with its own results")
        if self.deals is not None and "account_id" not in self.deals.inputs:
            raise ValueError("deals.inputs: 'account_id' is required to link deals to accounts")
        return self

    def object(self, kind: ObjectKind) -> ObjectMapping:
        obj = self.accounts if kind == "accounts" else self.deals
        if obj is None:
            raise MappingError([ConfigProblem(self.source, kind, "this mapping has no such section")])
        return obj

    @property
    def kinds(self) -> list[ObjectKind]:
        return ["accounts", "deals"] if self.deals is not None else ["accounts"]


@dataclass(frozen=True)
class RecordIssue:
    """Why one CRM record was skipped this run."""

    object: ObjectKind
    record_id: str
    reason: str


def _dig(row: dict[str, Any], path: str) -> Any:
    value: Any = row
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def map_rows(mapping: Mapping, kind: ObjectKind, rows: list[dict[str, Any]]) -> tuple[list[Account | Deal], list[RecordIssue]]:
    """Turn raw CRM rows into canonical records; unconvertible rows become issues."""
    obj = mapping.object(kind)
    specs = {name: obj.input(name) for name in obj.inputs}
    records: list[Account | Deal] = []
    issues: list[RecordIssue] = []
    for row in rows:
        record_id = str(row.get(obj.id_field) or "")
        if not record_id:
            continue
        values: dict[str, Any] = {"id": record_id}
        problems: list[str] = []
        for name, spec in specs.items():
            assert spec is not None
            try:
                values[name] = TRANSFORMS[spec.transform](_dig(row, spec.field))
            except Unconvertible as exc:
                problems.append(f"{spec.field} -> {name}: {exc}")
        try:
            modstamp: datetime | None = parse_datetime(row[obj.cursor_field]) if row.get(obj.cursor_field) else None
        except Unconvertible as exc:
            problems.append(f"{obj.cursor_field}: {exc}")
            modstamp = None
        if problems:
            issues.append(RecordIssue(kind, record_id, "; ".join(problems)))
            continue
        current = {name: row.get(crm_field) for name, crm_field in obj.outputs.items()}
        if kind == "accounts":
            tags = frozenset(t.get("name", "") for t in row.get("Tag") or [] if isinstance(t, dict))
            records.append(Account(record_id, modstamp, values, current, tags))
        else:
            records.append(Deal(record_id, modstamp, values, current))
    return records, issues


def _problems(exc: ValidationError, source: str) -> list[ConfigProblem]:
    problems = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"] if not (isinstance(p, str) and p in ("Input", "str")))
        problems.append(ConfigProblem(source, key, err["msg"], _hint(err["type"])))
    return problems


def _hint(error_type: str) -> str:
    return {
        "extra_forbidden": "remove this key or check its spelling",
        "missing": "add this key",
        "literal_error": "use one of the listed values",
    }.get(error_type, "")


def load_mapping(path: str | Path) -> Mapping:
    """Read and validate a mapping file; every problem is listed in one `MappingError`."""
    source = str(path)
    try:
        raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MappingError([ConfigProblem(source, "", "file not found",
                                          f"default mappings live in {MAPPINGS_DIR}")]) from None
    except tomllib.TOMLDecodeError as exc:
        raise MappingError([ConfigProblem(source, "", f"not valid TOML: {exc}")]) from None
    try:
        return Mapping.model_validate({**raw, "source": source})
    except ValidationError as exc:
        raise MappingError(_problems(exc, source)) from None
