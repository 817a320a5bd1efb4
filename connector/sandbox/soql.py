"""The SOQL subset the Salesforce sandbox answers, parsed and compiled against the org's schema.

Supported: ``SELECT f1, f2, Parent.Field | COUNT() | COUNT(f) FROM X [WHERE …] [ORDER BY f [ASC|DESC]
[NULLS FIRST|LAST], …] [LIMIT n] [OFFSET n]``. WHERE takes ``AND``/``OR``/``NOT`` with parentheses (mixing
``AND`` and ``OR`` without them is an error, as in SOQL), ``= != <> < <= > >=``, ``[NOT] IN (…)`` and
``LIKE``. Literals: 'strings' with backslash escapes, numbers, ``true``/``false``/``null``, unquoted dates
and datetimes. Errors carry Salesforce's codes and its ``ERROR at Row:1:Column:N`` message layout.
Outside the subset (answered with ``MALFORMED_QUERY``): date literals such as ``TODAY``, semi-joins,
child subqueries, ``GROUP BY`` and aggregates other than ``COUNT``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from connector.sandbox.sf_describe import FieldSpec, ObjectSchema
from connector.sandbox.sf_query import (
    Compiled,
    Lookup,
    Predicate,
    Record,
    Selected,
    comparable,
    compare,
    like_pattern,
)
from connector.sandbox.sf_values import fmt_datetime, normalize_id, parse_datetime

__all__ = ["Compiled", "Selected", "SoqlError", "compile_query"]

_TOKEN = re.compile(r"""
  (?P<ws>\s+)
| (?P<str>'(?:\\.|[^'\\])*')
| (?P<dt>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2}))
| (?P<date>\d{4}-\d{2}-\d{2})
| (?P<num>[+-]?(?:\d+(?:\.\d*)?|\.\d+))
| (?P<ident>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
| (?P<op><=|>=|!=|<>|=|<|>)
| (?P<punct>[(),])
""", re.VERBOSE)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "'": "'", '"': '"', "\\": "\\",
            "_": "\\_", "%": "\\%"}
_KEYWORDS = frozenset({"select", "from", "where", "and", "or", "not", "in", "like", "order", "by", "asc",
                       "desc", "nulls", "first", "last", "limit", "offset", "true", "false", "null", "group"})
_NUMERIC = frozenset({"double", "currency", "percent", "int"})
_KIND_NAME = {"datetime": "dateTime", "date": "date", "boolean": "boolean", "double": "double",
              "currency": "double", "percent": "double", "int": "int"}


class SoqlError(Exception):
    """A query Salesforce would reject: `code` is its errorCode, `message` its text."""

    def __init__(self, code: str, detail: str, soql: str = "", pos: int | None = None) -> None:
        if pos is not None:
            row = soql.count("\n", 0, pos) + 1
            start = soql.rfind("\n", 0, pos) + 1
            end = soql.find("\n", pos)
            line = soql[start:] if end < 0 else soql[start:end]
            detail = f"\n{line}\n{' ' * (pos - start)}^\nERROR at Row:{row}:Column:{pos - start + 1}\n{detail}"
        super().__init__(detail)
        self.code = code
        self.message = detail


@dataclass(frozen=True)
class _Tok:
    kind: str
    text: str
    pos: int

    @property
    def word(self) -> str:
        return self.text.lower() if self.kind == "ident" else ""


class _Parser:
    def __init__(self, soql: str, schemas: dict[str, ObjectSchema], lookup: Lookup) -> None:
        self.soql, self.schemas, self.lookup = soql, schemas, lookup
        self.toks = self._lex(soql)
        self.i = 0
        self.obj: ObjectSchema | None = None

    def _lex(self, soql: str) -> list[_Tok]:
        out, pos = [], 0
        while pos < len(soql):
            m = _TOKEN.match(soql, pos)
            if m is None:
                raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{soql[pos]}'", soql, pos)
            if m.lastgroup != "ws":
                out.append(_Tok(str(m.lastgroup), m.group(), pos))
            pos = m.end()
        out.append(_Tok("eof", "", len(soql)))
        return out

    # -- token helpers -------------------------------------------------------------------------------
    def peek(self, ahead: int = 0) -> _Tok:
        return self.toks[min(self.i + ahead, len(self.toks) - 1)]

    def take(self) -> _Tok:
        tok = self.toks[self.i]
        self.i = min(self.i + 1, len(self.toks) - 1)
        return tok

    def fail(self, tok: _Tok | None = None) -> SoqlError:
        tok = tok or self.peek()
        shown = "<EOF>" if tok.kind == "eof" else tok.text
        return SoqlError("MALFORMED_QUERY", f"unexpected token: '{shown}'", self.soql, tok.pos)

    def expect_word(self, *words: str) -> _Tok:
        tok = self.take()
        if tok.word not in words:
            raise self.fail(tok)
        return tok

    def expect(self, text: str) -> _Tok:
        tok = self.take()
        if tok.text != text:
            raise self.fail(tok)
        return tok

    # -- grammar -------------------------------------------------------------------------------------
    def parse(self) -> Compiled:
        self.expect_word("select")
        items: list[_Tok | tuple[str, _Tok | None]] = []
        while True:
            tok = self.take()
            if tok.kind != "ident" or tok.word in _KEYWORDS:
                raise self.fail(tok)
            if tok.word == "count" and self.peek().text == "(":
                self.take()
                arg = self.take() if self.peek().kind == "ident" else None
                self.expect(")")
                items.append(("count", arg))
            else:
                items.append(tok)
            if self.peek().text != ",":
                break
            self.take()
        self.expect_word("from")
        obj_tok = self.take()
        if obj_tok.kind != "ident" or obj_tok.word in _KEYWORDS:
            raise self.fail(obj_tok)
        self.obj = next((s for n, s in self.schemas.items() if n.lower() == obj_tok.word), None)
        if self.obj is None:
            raise SoqlError("INVALID_TYPE", f"sObject type '{obj_tok.text}' is not supported. If you are attempting "
                            "to use a custom object, be sure to append the '__c' after the entity name. Please "
                            "reference your WSDL or the describe call for the appropriate names.",
                            self.soql, obj_tok.pos)
        q = Compiled(self.obj.name, [])
        self._select(q, items)
        if self.peek().word == "where":
            self.take()
            q.predicate, q.candidate_ids = self._where()
        if self.peek().word == "order":
            self.take()
            self.expect_word("by")
            q.order = self._order()
        for word in ("limit", "offset"):
            if self.peek().word == word:
                self.take()
                tok = self.take()
                if tok.kind != "num" or not tok.text.isdigit():
                    raise self.fail(tok)
                if word == "limit":
                    q.limit = int(tok.text)
                else:
                    q.offset = int(tok.text)
        if self.peek().kind != "eof":
            raise self.fail()
        return q

    def _select(self, q: Compiled, items: list[_Tok | tuple[str, _Tok | None]]) -> None:
        seen: set[str] = set()
        for item in items:
            if isinstance(item, tuple):
                if len(items) > 1 and item[1] is None:
                    raise SoqlError("MALFORMED_QUERY", "COUNT() must be the only element in the SELECT list",
                                    self.soql, self.toks[1].pos)
                q.count = True
                q.count_field = self._field(item[1]).spec.name if item[1] is not None else None
                continue
            sel = self._field(item)
            key = f"{sel.relationship}.{sel.spec.name}".lower() if sel.relationship else sel.spec.name.lower()
            if key in seen:
                raise SoqlError("MALFORMED_QUERY", f"duplicate field selected: {item.text}", self.soql, item.pos)
            seen.add(key)
            q.selected.append(sel)

    def _field(self, tok: _Tok) -> Selected:
        assert self.obj is not None
        parts = tok.text.split(".")
        if len(parts) > 1 and parts[0].lower() == self.obj.name.lower():
            parts = parts[1:]
        if len(parts) == 1 and (spec := self.obj.field(parts[0])) is not None:
            return Selected(spec)
        if len(parts) == 2 and (via := self.obj.relationships.get(parts[0].lower())) is not None:
            target = self.schemas.get(via.reference_to[0]) if via.reference_to else None
            spec = target.field(parts[1]) if target is not None else None
            if spec is not None and target is not None:
                return Selected(spec, via.relationship, via, target.name)
        shown = tok.text
        raise SoqlError("INVALID_FIELD", f"No such column '{shown}' on entity '{self.obj.name}'. If you are "
                        "attempting to use a custom field, be sure to append the '__c' after the custom field "
                        "name. Please reference your WSDL or the describe call for the appropriate names.",
                        self.soql, tok.pos)

    def _getter(self, sel: Selected) -> Callable[[Record], Any]:
        name = sel.spec.name
        if sel.via is None:
            return lambda r: r.get(name)
        via, lookup = sel.via.name, self.lookup

        def related(r: Record) -> Any:
            parent = lookup(r.get(via))
            return None if parent is None else parent.get(name)
        return related

    def _where(self) -> tuple[Predicate, list[str] | None]:
        pred, ids = self._disjunction()
        return pred, ids

    def _disjunction(self) -> tuple[Predicate, list[str] | None]:
        parts = [self._unary()]
        joiner = ""
        while self.peek().word in ("and", "or"):
            tok = self.take()
            if joiner and tok.word != joiner:
                raise self.fail(tok)  # SOQL needs parentheses to mix AND and OR
            joiner = tok.word
            parts.append(self._unary())
        if len(parts) == 1:
            return parts[0]
        preds = [p for p, _ in parts]
        if joiner == "or":
            return (lambda r: any(p(r) for p in preds)), None
        ids = next((i for _, i in parts if i is not None), None)
        return (lambda r: all(p(r) for p in preds)), ids

    def _unary(self) -> tuple[Predicate, list[str] | None]:
        if self.peek().word == "not":
            self.take()
            inner, _ = self._unary()
            return (lambda r: not inner(r)), None
        if self.peek().text == "(":
            self.take()
            result = self._disjunction()
            self.expect(")")
            return result
        return self._condition()

    def _condition(self) -> tuple[Predicate, list[str] | None]:
        ftok = self.take()
        if ftok.kind != "ident" or ftok.word in _KEYWORDS:
            raise self.fail(ftok)
        sel = self._field(ftok)
        spec = sel.spec
        if not spec.filterable:
            raise SoqlError("INVALID_FIELD", f"field '{spec.name}' can not be filtered in query call",
                            self.soql, ftok.pos)
        get = self._getter(sel)
        negate = False
        if self.peek().word == "not":
            self.take()
            negate = True
            if self.peek().word != "in":
                raise self.fail()
        op_tok = self.take()
        if op_tok.word == "in":
            self.expect("(")
            values = [self._literal(spec, self.take())]
            while self.peek().text == ",":
                self.take()
                values.append(self._literal(spec, self.take()))
            self.expect(")")
            wanted = {self._key(spec, v) for v in values}
            pins = spec.type == "id" and not negate and not sel.via
            ids = [v for v in values if isinstance(v, str)] if pins else None
            if negate:
                return (lambda r: self._key(spec, get(r)) not in wanted), None
            return (lambda r: self._key(spec, get(r)) in wanted), ids
        if op_tok.word == "like":
            pattern = self.take()
            if pattern.kind != "str":
                raise self.fail(pattern)
            rx = like_pattern(self._unquote(pattern.text))
            return (lambda r: isinstance(v := get(r), str) and rx.fullmatch(v) is not None), None
        if op_tok.kind != "op":
            raise self.fail(op_tok)
        value = self._literal(spec, self.take())
        pin = [value] if spec.type == "id" and op_tok.text == "=" and isinstance(value, str) and not sel.via else None
        return compare(get, op_tok.text, value, lambda v: self._key(spec, v)), pin

    def _sort_value(self, get: Callable[[Record], Any], spec: FieldSpec) -> Callable[[Record], Any]:
        return lambda r: self._key(spec, get(r))

    def _key(self, spec: FieldSpec, value: Any) -> Any:
        return comparable(spec, value)

    def _unquote(self, text: str) -> str:
        return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(1)), text[1:-1])

    def _literal(self, spec: FieldSpec, tok: _Tok) -> Any:
        if tok.word == "null":
            return None
        t = spec.type
        kind = _KIND_NAME.get(t)
        quoted = tok.kind == "str"
        if t == "datetime" and tok.kind == "dt":
            dt = parse_datetime(tok.text)
            if dt is not None:
                return fmt_datetime(dt)
        elif t == "date" and tok.kind == "date":
            return tok.text
        elif t in _NUMERIC and tok.kind == "num":
            return float(tok.text)
        elif t == "boolean" and tok.word in ("true", "false"):
            return tok.word == "true"
        elif kind is None and quoted:
            text = self._unquote(tok.text)
            if t in ("id", "reference"):
                ident = normalize_id(text)
                if ident is None:
                    raise SoqlError("INVALID_QUERY_FILTER_OPERATOR", f"invalid ID field: {text}", self.soql, tok.pos)
                return ident
            return text
        if tok.kind in ("eof", "punct", "op") or (tok.kind == "ident" and tok.word not in ("true", "false")):
            raise self.fail(tok)  # date literals (TODAY, LAST_N_DAYS:n) and semi-joins are outside the subset
        if kind is None:
            raise SoqlError("INVALID_QUERY_FILTER_OPERATOR", f"value of filter criterion for field '{spec.name}' "
                            "must be of type string and should be enclosed in quotes", self.soql, tok.pos)
        raise SoqlError("INVALID_QUERY_FILTER_OPERATOR", f"value of filter criterion for field '{spec.name}' must "
                        f"be of type {kind} and should not be enclosed in quotes", self.soql, tok.pos)

    def _order(self) -> list[tuple[Callable[[Record], Any], bool, bool]]:
        out: list[tuple[Callable[[Record], Any], bool, bool]] = []
        while True:
            tok = self.take()
            if tok.kind != "ident" or tok.word in _KEYWORDS:
                raise self.fail(tok)
            sel = self._field(tok)
            if not sel.spec.sortable:
                raise SoqlError("INVALID_FIELD", f"field '{sel.spec.name}' can not be sorted in a query call",
                                self.soql, tok.pos)
            get, spec = self._getter(sel), sel.spec
            desc = False
            if self.peek().word in ("asc", "desc"):
                desc = self.take().word == "desc"
            nulls_last = desc
            if self.peek().word == "nulls":
                self.take()
                nulls_last = self.expect_word("first", "last").word == "last"
            out.append((self._sort_value(get, spec), desc, nulls_last))
            if self.peek().text != ",":
                return out
            self.take()


def compile_query(soql: str, schemas: dict[str, ObjectSchema], lookup: Lookup) -> Compiled:
    """Parse `soql` and bind it to `schemas`; `lookup(id)` resolves parent records for ``Parent.Field``."""
    if not soql or not soql.strip():
        raise SoqlError("MALFORMED_QUERY", "unexpected token: <EOF>")
    return _Parser(soql, schemas, lookup).parse()
