"""`GET /crm/v8/{module}/search`: records by `criteria`, `email`, `phone` or `word`, as the v8 API answers.

Only the first parameter present counts, in the order criteria, email, phone, word; none gives 400
`EXPECTED_PARAM_MISSING`. `criteria` is `((Field:operator:value) and/or (…))` with at most 10
conditions; operators by field type as the v8 page lists them (`equals`, `not_equal`, `starts_with`,
`in`, `greater_than`, `greater_equal`, `less_than`, `less_equal`, `between`). `equals` on a text field
matches a value that *contains* the words searched for ("ABC" finds "ABC Inc."), on a picklist only the
exact value. `\\(`, `\\)`, `\\,` and `\\\\` escape those characters in a value. A field the module does not
have, an operator its type does not take or a value of the wrong type is 400 `INVALID_QUERY`. Pages
hold at most 200 records and a search reaches the first 2,000 (`LIMIT_REACHED`); no match is 204.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from connector.sandbox.http import Request, Response, json_response
from connector.sandbox.zoho_fields import SYSTEM_KEYS, FieldDef, parse_dt
from connector.sandbox.zoho_read import error
from connector.sandbox.zoho_store import ZohoStore

__all__ = ["search_records"]

MAX_CONDITIONS, MAX_IN, MAX_REACH, MAX_PER_PAGE = 10, 100, 2000, 200
_NUMERIC = {"integer", "double", "currency", "percent", "bigint"}
_ORDERED_OPS = ("equals", "not_equal", "greater_equal", "greater_than", "less_equal", "less_than", "between", "in")
_OPERATORS: dict[str, tuple[str, ...]] = {
    **{t: _ORDERED_OPS for t in (*_NUMERIC, "date", "datetime")},
    "boolean": ("equals", "not_equal"), "textarea": ("equals", "not_equal", "starts_with"),
    "lookup": ("equals", "not_equal", "in"), "ownerlookup": ("equals", "not_equal", "in"),
    "userlookup": ("equals", "not_equal", "in"), "picklist": ("equals", "not_equal", "in"),
    "multiselectpicklist": ("equals", "not_equal", "in", "starts_with"),
    **{t: ("equals", "not_equal", "starts_with", "in") for t in ("text", "email", "phone", "website")},
}
_TEXTUAL = ("text", "textarea", "email", "phone", "website", "picklist")
_PHONE = re.compile(r"^[+]?[0-9\s\-().]+$")
_WORD = re.compile(r"\w+")
_ID = FieldDef("id", "Record Id", "bigint")


class SearchError(Exception):
    def __init__(self, code: str, message: str, details: dict[str, Any]) -> None:
        super().__init__(message)
        self.response = error(400, code, message, details)


@dataclass(frozen=True)
class _Cond:
    field: FieldDef
    op: str
    values: tuple[Any, ...]


@dataclass(frozen=True)
class _Bool:
    op: str
    parts: tuple[_Cond | _Bool, ...]


def _invalid(reason: str, **details: Any) -> SearchError:
    return SearchError("INVALID_QUERY", "Invalid query formed", {"reason": reason, **details})


class _CriteriaParser:
    """Recursive descent over the raw criteria text; escapes are resolved inside values only."""

    def __init__(self, text: str, layout: dict[str, FieldDef]) -> None:
        self.text, self.pos, self.layout, self.count = text, 0, layout, 0

    def parse(self) -> _Cond | _Bool:
        node = self._expr()
        self._space()
        if self.pos != len(self.text):
            raise _invalid("criteria is not in the expected format", near=self.text[self.pos:self.pos + 20])
        if self.count > MAX_CONDITIONS:
            raise SearchError("CRITERIA_LIMIT_EXCEEDED",
                              f"no of criterium that can be given exceed the limit {MAX_CONDITIONS}", {})
        return node

    def _space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def _keyword(self) -> str | None:
        self._space()
        match = re.match(r"(and|or)\b", self.text[self.pos:], re.I)
        if match is None:
            return None
        self.pos += match.end()
        return match.group(1).lower()

    def _expr(self) -> _Cond | _Bool:
        ors: list[_Cond | _Bool] = []
        ands = [self._group()]
        while (word := self._keyword()) is not None:
            if word == "or":
                ors.append(ands[0] if len(ands) == 1 else _Bool("and", tuple(ands)))
                ands = []
            ands.append(self._group())
        ors.append(ands[0] if len(ands) == 1 else _Bool("and", tuple(ands)))
        return ors[0] if len(ors) == 1 else _Bool("or", tuple(ors))

    def _group(self) -> _Cond | _Bool:
        self._space()
        if not self.text.startswith("(", self.pos):
            raise _invalid("criteria is not in the expected format", near=self.text[self.pos:self.pos + 20])
        self.pos += 1
        self._space()
        if self.text.startswith("(", self.pos):
            node = self._expr()
            self._space()
            if not self.text.startswith(")", self.pos):
                raise _invalid("criteria is not in the expected format", near=self.text[self.pos:self.pos + 20])
            self.pos += 1
            return node
        return self._condition()

    def _condition(self) -> _Cond:
        start, raw = self.pos, []
        while self.pos < len(self.text) and self.text[self.pos] != ")":
            if self.text[self.pos] == "\\" and self.pos + 1 < len(self.text):
                raw.append(self.text[self.pos:self.pos + 2])
                self.pos += 2
                continue
            raw.append(self.text[self.pos])
            self.pos += 1
        if self.pos >= len(self.text):
            raise _invalid("criteria is not in the expected format", near=self.text[start:start + 20])
        self.pos += 1
        self.count += 1
        name, op, value = (*"".join(raw).split(":", 2), "", "")[:3]
        name, op = name.strip(), op.strip().lower()
        fd = _ID if name == "id" else self.layout.get(name)
        if fd is None or fd.json_type == "jsonarray":
            raise _invalid("invalid field api name given", api_name=name)
        allowed = _ORDERED_OPS if fd is _ID else _OPERATORS.get(fd.data_type, ())
        if op not in allowed:
            raise _invalid("invalid operator found", operator=op, api_name=name)
        parts = _split(value) if op in ("in", "between") else [_unescape(value)]
        if op == "between" and len(parts) != 2:
            raise _invalid("between needs two values", api_name=name, operator=op)
        if op == "in" and len(parts) > MAX_IN:
            raise SearchError("INVALID_QUERY", 'Only 100 values are allowed in "IN" criteria', {"param_name": name})
        return _Cond(fd, op, tuple(_coerce(fd, p) for p in parts))


def _split(value: str) -> list[str]:
    parts, current, i = [], [], 0
    while i < len(value):
        if value[i] == "\\" and i + 1 < len(value):
            current.append(value[i:i + 2])
            i += 2
            continue
        if value[i] == ",":
            parts.append(_unescape("".join(current)))
            current = []
        else:
            current.append(value[i])
        i += 1
    parts.append(_unescape("".join(current)))
    return parts


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", r"\1", value).strip()


def _coerce(fd: FieldDef, text: str) -> Any:
    dt = fd.data_type
    try:
        if fd is _ID:
            return text
        if dt in _NUMERIC:
            return float(text)
        if dt == "date":
            return date.fromisoformat(text)
        if dt == "datetime":
            moment = parse_dt(text)
            if moment is None:
                raise ValueError(text)
            return moment
    except ValueError:
        raise _invalid("invalid value given", expected_data_type=dt, api_name=fd.api_name) from None
    if dt == "boolean":
        if text.lower() not in ("true", "false"):
            raise _invalid("invalid value given", expected_data_type=dt, api_name=fd.api_name)
        return text.lower() == "true"
    return text


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _contains_words(haystack: str, needle: str) -> bool:
    hay, words = _words(haystack), _words(needle)
    if not words:
        return haystack.strip().lower() == needle.strip().lower()
    return any(hay[i:i + len(words)] == words for i in range(len(hay) - len(words) + 1))


def _comparable(fd: FieldDef, raw: Any) -> Any:
    if raw is None or raw == "":
        return None
    dt = fd.data_type
    if dt in _NUMERIC and fd is not _ID:
        return float(raw)
    if dt == "date":
        return date.fromisoformat(str(raw))
    if dt == "datetime":
        return parse_dt(str(raw))
    return raw


def _matches(cond: _Cond, raw: Any) -> bool:
    fd, op, values = cond.field, cond.op, cond.values
    value = _comparable(fd, raw)
    if value is None:
        return False
    if isinstance(value, dict):  # lookups: by id, or by the name they show
        ref_id, name = str(value.get("id", "")), str(value.get("name") or "")
        hit = any(v == ref_id or (op != "in" and _contains_words(name, v)) or name.lower() == str(v).lower()
                  for v in values)
        return hit if op in ("equals", "in") else not hit
    if op == "starts_with":
        return str(value).lower().startswith(str(values[0]).lower())
    if fd.data_type in _TEXTUAL or fd.data_type == "multiselectpicklist":
        items = value if isinstance(value, list) else [value]
        if op == "in" or fd.data_type in ("picklist", "multiselectpicklist"):
            hit = any(str(i).lower() == str(v).lower() for i in items for v in values)
        else:  # equals on text finds the words anywhere in the value, as Zoho's index does
            hit = any(_contains_words(str(i), str(values[0])) for i in items)
        return hit if op in ("equals", "in") else not hit
    compare: dict[str, Callable[[Any], bool]] = {
        "equals": lambda v: value == v, "not_equal": lambda v: value != v, "greater_than": lambda v: value > v,
        "greater_equal": lambda v: value >= v, "less_than": lambda v: value < v, "less_equal": lambda v: value <= v,
        "in": lambda v: value == v,
    }
    if isinstance(value, datetime) != isinstance(values[0], datetime):
        return False
    if op == "between":
        return bool(values[0] <= value <= values[1])
    test = compare[op]
    return any(test(v) for v in values) if op == "in" else test(values[0])


def _evaluate(node: _Cond | _Bool, rec: dict[str, Any], template: dict[str, Any]) -> bool:
    if isinstance(node, _Bool):
        results = (_evaluate(p, rec, template) for p in node.parts)
        return all(results) if node.op == "and" else any(results)
    name = node.field.api_name
    return _matches(node, rec["id"] if name == "id" else rec.get(name, template.get(name)))


def _text_search(layout: dict[str, FieldDef], types: tuple[str, ...], needle: str,
                 normalise: Callable[[str], str]) -> Callable[[dict[str, Any], dict[str, Any]], bool]:
    names = [fd.api_name for fd in layout.values() if fd.data_type in types]
    wanted = normalise(needle)

    def test(rec: dict[str, Any], template: dict[str, Any]) -> bool:
        return any(isinstance(v := rec.get(n, template.get(n)), str) and wanted in normalise(v) for n in names)
    return test


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def _matcher(request: Request, layout: dict[str, FieldDef]) -> Callable[[dict[str, Any], dict[str, Any]], bool]:
    criteria, email, phone, word = (request.arg(k) for k in ("criteria", "email", "phone", "word"))
    if criteria:
        tree = _CriteriaParser(criteria, layout).parse()
        return lambda rec, template: _evaluate(tree, rec, template)
    if email:
        return _text_search(layout, ("email",), email, str.lower)
    if phone:
        if len(phone.strip()) < 3 or not _PHONE.match(phone.strip()):
            raise SearchError("INVALID_DATA", "invalid data", {"param_name": "phone"})
        return _text_search(layout, ("phone",), phone, _digits)
    if word:
        if len(word.strip()) < 2:
            raise SearchError("INVALID_DATA", "invalid data", {"param_name": "word", "minimum_length": 2})
        return _text_search(layout, _TEXTUAL, word.strip(), str.lower)
    raise SearchError("EXPECTED_PARAM_MISSING", "One of the expected parameter is missing",
                      {"param_names": ["criteria", "email", "phone", "word"]})


def _number(request: Request, name: str, default: int, high: int | None) -> int:
    raw = request.arg(name)
    if raw in (None, ""):
        return default
    try:
        value = int(str(raw))
    except ValueError:
        raise SearchError("INVALID_DATA", "invalid data", {"param_name": name, "expected_data_type": "integer"}) \
            from None
    if value < 1 or (high is not None and value > high):
        raise SearchError("INVALID_DATA", "invalid data", {"param_name": name})
    return value


def _sort_key(value: Any) -> tuple[int, Any]:
    if value is None or value == "":
        return (0, "")
    if isinstance(value, dict):
        return (2, str(value.get("name") or ""))
    if isinstance(value, bool | int | float):
        return (1, float(value))
    return (2, str(value))


def search_records(store: ZohoStore, module: str, request: Request) -> Response:
    """Answer one search request over the org's records of `module`."""
    layout = store.schema.fields[module]
    try:
        test = _matcher(request, layout)
        page = _number(request, "page", 1, None)
        per_page = _number(request, "per_page", MAX_PER_PAGE, MAX_PER_PAGE)
        sort_by, sort_order = request.arg("sort_by") or "id", request.arg("sort_order") or "desc"
        if sort_by != "id" and sort_by not in layout:
            raise SearchError("INVALID_DATA", "invalid data", {"param_name": "sort_by"})
        if sort_order not in ("asc", "desc"):
            raise SearchError("INVALID_DATA", "invalid data", {"param_name": "sort_order",
                                                               "supported_values": ["asc", "desc"]})
        names = [n.strip() for n in (request.arg("fields") or "").split(",") if n.strip()]
        known = layout.keys() | SYSTEM_KEYS[module].keys() | {"id"}
        if bad := next((n for n in names if n not in known), None):
            raise SearchError("INVALID_DATA", "the field api name given seems to be invalid",
                              {"param_name": "fields", "api_name": bad})
    except SearchError as exc:
        return exc.response
    offset = (page - 1) * per_page
    if offset + per_page > MAX_REACH:
        return error(400, "LIMIT_REACHED", "maximum response iteration limit reached", {"limit": str(MAX_REACH)})
    with store.lock:
        template = store.schema.template(module)
        found = [rec for rec in store.records[module].values() if test(rec, template)]
        # ties on the sort field fall back to the id, so pages never overlap or skip between calls
        found.sort(key=lambda r: (_sort_key(None if sort_by == "id" else r.get(sort_by, template.get(sort_by))),
                                  r["id"]), reverse=sort_order == "desc")
        chunk = found[offset:offset + per_page]
        data = [store.project(module, r, [n for n in names if n != "id"]) if names else store.full(module, r)
                for r in chunk]
    if not data:
        return Response(204, b"", {})
    return json_response(200, {"data": data, "info": {
        "per_page": per_page, "count": len(data), "page": page, "sort_by": sort_by, "sort_order": sort_order,
        "more_records": offset + per_page < len(found)}})
