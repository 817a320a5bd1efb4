"""`riskbridge mappings suggest`: a mapping for an org, from its field metadata.

For each canonical input the best field is chosen by API name and label (`synonyms`: English, German,
Chinese) and by whether its type suits the input's transform; every field serves one input at most
(the strongest matches are assigned first). The default mapping's field wins outright when the org has
it with a fitting type. Outputs and override fields keep the default names, which `provision` creates.
The TOML it renders loads with `load_mapping` unchanged.
"""

from __future__ import annotations

import difflib
import json
import re
import unicodedata
from dataclasses import dataclass, field

from connector.admin.fit import fit
from connector.admin.metadata import FieldMeta, ObjectMeta
from connector.admin.needs import INPUT_TYPES, OVERRIDES, TASK_KEY, FieldNeed
from connector.admin.synonyms import SYNONYMS
from connector.mapping import Input, Mapping, ObjectMapping
from connector.model import ObjectKind

__all__ = ["Candidate", "Suggestion", "normalise", "render_toml", "reserved_fields", "score_field", "suggest_object"]

THRESHOLD = 0.5  # below it a candidate is only mentioned in a comment
_CJK = re.compile(r"[\u3400-\u9fff]")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_FOLD = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss"})


@dataclass(frozen=True)
class Candidate:
    field: str  # the mapping's field path (a Zoho lookup gets ".id")
    label: str
    crm_type: str
    score: float
    transform: str


@dataclass
class Suggestion:
    canonical: str
    best: Candidate | None = None
    others: list[Candidate] = field(default_factory=list)
    fixed: str = ""  # why the field was not matched (an override or output riskbridge creates)


def normalise(text: str) -> str:
    """Lower-case words of a name or label: ``Credit_Limit_EUR__c`` -> ``credit limit eur``."""
    text = re.sub(r"__c$", "", text.strip(), flags=re.IGNORECASE)
    text = _CAMEL.sub(" ", text).lower().translate(_FOLD)
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c))
    return " ".join(re.sub(r"[^0-9a-z\u3400-\u9fff]+", " ", text).split())


def _phrase(phrase: str, text: str) -> float:
    if not text:
        return 0.0
    if text == phrase:
        return 1.0
    if _CJK.search(phrase):
        return 0.9 if phrase in text else 0.0
    words, tokens = phrase.split(), text.split()
    for start in range(len(tokens) - len(words) + 1):
        if tokens[start:start + len(words)] == words:
            return max(0.6, 0.88 - 0.06 * (len(tokens) - len(words)))
    ratio = difflib.SequenceMatcher(None, phrase, text).ratio()
    return ratio * 0.8 if ratio >= 0.82 else 0.0


def score_field(canonical: str, meta: FieldMeta) -> float:
    """How much a field's name and label sound like the canonical input (0 to 1), ignoring type."""
    name, label = normalise(meta.name), normalise(meta.label)
    best = 0.0
    for rank, phrase in enumerate(SYNONYMS.get(canonical, (canonical.replace("_", " "),))):
        weight = 1.0 if rank == 0 else 0.97
        best = max(best, weight * _phrase(phrase, name), weight * _phrase(phrase, label))
    return best


def _transform(default: str, meta: FieldMeta) -> str:
    """The transform for a field of this type, starting from what the canonical input usually needs."""
    if default in ("number", "integer"):
        return "integer" if meta.kind == "integer" else default
    if default == "text" and meta.kind in ("number", "currency", "percent"):
        return "number"
    return default


def _path(canonical: str, meta: FieldMeta, crm: str) -> str:
    lookup = crm == "zoho" and meta.kind == "reference" and canonical in ("owner_id", "account_id")
    return f"{meta.name}.id" if lookup else meta.name


def _judge(kind: ObjectKind, obj: str, canonical: str, meta: FieldMeta, transform: str) -> float:
    need = FieldNeed(kind, obj, canonical, meta.name, "input", "other", canonical, transform=transform)
    status = fit(need, meta).status
    return {"ok": 1.0, "warning": 0.7}.get(status, 0.2)


def suggest_object(kind: ObjectKind, template: ObjectMapping, meta: ObjectMeta, crm: str,
                   reserved: set[str]) -> list[Suggestion]:
    """One `Suggestion` per canonical input of the template, in its order. `reserved` are field names
    riskbridge writes (never proposed as inputs)."""
    suggestions: dict[str, Suggestion] = {}
    scored: list[tuple[float, str, Candidate]] = []
    for canonical in template.inputs:
        spec = template.input(canonical)
        assert spec is not None
        suggestions[canonical] = Suggestion(canonical)
        if canonical in OVERRIDES:
            suggestions[canonical].fixed = "override field: `riskbridge provision` creates it"
            suggestions[canonical].best = Candidate(spec.field, "", "", 1.0, spec.transform)
            continue
        default = meta.field(spec.field.split(".", 1)[0])
        if default is not None and _judge(kind, meta.name, canonical, default, spec.transform) == 1.0:
            scored.append((2.0, canonical, Candidate(spec.field, default.label, default.crm_type, 1.0,
                                                     spec.transform)))
            continue
        typed = INPUT_TYPES.get(canonical)
        base = typed.transform if typed is not None else spec.transform
        for field_meta in meta.fields.values():
            if field_meta.name.lower() in reserved:
                continue
            similarity = score_field(canonical, field_meta)
            if similarity < 0.3:
                continue
            transform = _transform(base, field_meta)
            score = round(similarity * _judge(kind, meta.name, canonical, field_meta, transform), 2)
            scored.append((score, canonical, Candidate(_path(canonical, field_meta, crm), field_meta.label,
                                                       field_meta.crm_type, score, transform)))
    used: set[str] = set()
    for score, canonical, candidate in sorted(scored, key=lambda s: (-s[0], s[1], s[2].field)):
        target = suggestions[canonical]
        top = candidate.field.split(".", 1)[0].lower()
        # Default fields come first and may share a field (Zoho reads is_closed and is_won from Stage)
        if target.best is None and score >= THRESHOLD and (score >= 2.0 or top not in used):
            target.best = candidate
            used.add(top)
        elif target.best is not candidate and len(target.others) < 3 and score >= 0.15 and \
                all(o.field != candidate.field for o in target.others) and \
                (target.best is None or target.best.field != candidate.field):
            target.others.append(candidate)
    return list(suggestions.values())


def reserved_fields(template: Mapping) -> set[str]:
    """Lower-cased names riskbridge writes or owns (outputs, overrides, the task key): never proposed as inputs."""
    reserved = {TASK_KEY[template.crm][1].lower()}
    for kind in template.kinds:
        obj = template.object(kind)
        reserved |= {f.lower() for f in obj.outputs.values()}
        for name in OVERRIDES:
            spec = obj.input(name)
            if spec is not None:
                reserved.add(spec.field.lower())
    return reserved


def _q(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def _input_line(canonical: str, path: str, transform: str) -> str:
    return f"{canonical} = {{ field = {_q(path)}, transform = {_q(transform)} }}"


def render_toml(crm: str, template: Mapping, objects: dict[ObjectKind, ObjectMapping],
                suggestions: dict[ObjectKind, list[Suggestion]], source: str) -> str:
    """The mapping file: chosen inputs with their confidence, weaker candidates and misses as comments."""
    lines = [f"# riskbridge mapping for {crm}, suggested by `riskbridge mappings suggest` from {source}.",
             "# Review it: confidence 1.00 is the default field, 0.97 a known name or label, about 0.8 a name that",
             "# contains one, below 0.70 a guess; a field whose type does not suit the input scores low.",
             "# Outputs and overrides use the names `riskbridge provision` creates.",
             f"crm = {_q(crm)}", ""]
    for kind, obj in objects.items():
        default = template.object(kind)
        lines += [f"[{kind}]", f"object = {_q(obj.object)}", f"id_field = {_q(obj.id_field)}",
                  f"cursor_field = {_q(obj.cursor_field)}"]
        if obj.parent_field:
            lines.append(f"parent_field = {_q(obj.parent_field)}")
        lines += ["", f"[{kind}.inputs]"]
        for s in suggestions[kind]:
            spec = default.input(s.canonical) or Input(field=s.canonical)
            if s.best is not None and s.fixed:
                lines.append(f"{_input_line(s.canonical, s.best.field, s.best.transform)}  # {s.fixed}")
            elif s.best is not None:
                label = f" {_q(s.best.label)}" if s.best.label else ""
                lines.append(f"{_input_line(s.canonical, s.best.field, s.best.transform)}  # confidence "
                             f"{min(s.best.score, 1.0):.2f}{label} {s.best.crm_type}".rstrip())
            else:
                create = (f", or uncomment this line and create {spec.field} with `riskbridge provision --inputs`"
                          if s.canonical in INPUT_TYPES else "")
                lines.append(f"# {s.canonical}: no matching field; map it by hand{create}")
                lines.append(f"# {_input_line(s.canonical, spec.field, spec.transform)}")
            if s.others:
                lines.append("#   weaker: " + ", ".join(f"{o.field} ({o.score:.2f}{' ' + _q(o.label) if o.label else ''})"
                                                       for o in s.others))
        lines += ["", f"[{kind}.outputs]"]
        lines += [f"{name} = {_q(field_name)}" for name, field_name in default.outputs.items()]
        lines.append("")
    return "\n".join(lines)
