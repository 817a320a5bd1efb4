"""The subset of Zoho's COQL the sandbox understands, with the real error codes.

    select id, Account_Name, Modified_Time from Accounts
    where (Modified_Time > '2024-01-03T00:00:00+00:00' and Risk_Tier in ('high', 'critical')) or id = '41…'
    order by Modified_Time asc, id asc limit 0, 2000

Supported: a field list (lookup sub-fields as `Account_Name.id`), one module, a mandatory WHERE with
`= != <> > >= < <=`, `[not] in (…)`, `[not] like '%x%'`, `is [not] null`, `between … and …`, `and`/`or`
with more than two criteria bracketed in pairs, as Zoho requires (`(A and (B and C))`; `A and B and C`
is a SYNTAX_ERROR); `id` (bigint) compared and sorted as a number; ORDER BY up to 10 fields; `limit n`, `limit offset, n` or `limit n offset m` (n ≤ 2,000,
offset + n ≤ 100,000). Limits from Zoho's COQL page: ≤ 50 selected fields, ≤ 25 criteria, ≤ 50 values
in `in`. Lookups come back as `{"id": …}` and every row carries `id`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from connector.sandbox.zoho_fields import FieldDef, parse_dt

__all__ = ["CoqlError", "Query", "parse", "run"]

_TOKEN = re.compile(r"""\s*(?:(?P<str>'(?:[^'\\]|\\.|'')*')|(?P<num>-?\d+(?:\.\d+)?)(?![\w.])|"""
                    r"""(?P<op>>=|<=|!=|<>|=|>|<|\(|\)|,)|(?P<word>[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)?))""")
_KEYWORDS = {"select", "from", "where", "and", "or", "order", "by", "asc", "desc", "limit", "offset", "in", "not",
             "like", "is", "null", "between", "true", "false"}
_ORDERED = {"integer", "double", "currency", "percent", "date", "datetime", "bigint"}
MAX_LIMIT, MAX_ROWS, MAX_FIELDS, MAX_CRITERIA, MAX_IN, DEFAULT_LIMIT = 2000, 100_000, 50, 25, 50, 200


class CoqlError(Exception):
    """A query the real COQL endpoint rejects with HTTP 400."""

    def __init__(self, code: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.details = code, message, details or {}

    def body(self) -> dict[str, Any]:
        return {"code": self.code, "details": self.details, "message": self.message, "status": "error"}


@dataclass(frozen=True)
class Cond:
    column: str
    op: str  # = != > >= < <= in not in like not like is null is not null between
    values: tuple[Any, ...] = ()


@dataclass(frozen=True)
class Bool:
    op: str  # and / or
    parts: tuple[Cond | Bool, ...]
    bracketed: bool = False


@dataclass
class Query:
    columns: list[str]
    module: str
    where: Cond | Bool
    order: list[tuple[str, bool]] = field(default_factory=list)  # (column, descending)
    offset: int = 0
    limit: int = DEFAULT_LIMIT


def _syntax(near: str) -> CoqlError:
    return CoqlError("SYNTAX_ERROR", "error occured while parsing the query", {"near": near})


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    text = text.strip().rstrip(";")
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise _syntax(text[pos:pos + 20].strip())
        kind = m.lastgroup or ""
        value = m.group(kind)
        if kind == "word" and value.lower() in _KEYWORDS:
            kind, value = "kw", value.lower()
        out.append((kind, value))
        pos = m.end()
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.toks, self.i, self.criteria = _tokens(text), 0, 0

    def peek(self, kind: str, value: str | None = None) -> bool:
        if self.i >= len(self.toks):
            return False
        k, v = self.toks[self.i]
        return k == kind and (value is None or v == value)

    def take(self, kind: str, value: str | None = None) -> str:
        if not self.peek(kind, value):
            raise _syntax(self.toks[self.i][1] if self.i < len(self.toks) else (value or kind))
        self.i += 1
        return self.toks[self.i - 1][1]

    def query(self) -> Query:
        self.take("kw", "select")
        columns = [self.take("word")]
        while self.peek("op", ","):
            self.take("op")
            columns.append(self.take("word"))
        self.take("kw", "from")
        module = self.take("word")
        if not self.peek("kw", "where"):
            if self.i < len(self.toks) and not self.peek("kw", "order") and not self.peek("kw", "limit"):
                raise _syntax(self.toks[self.i][1])
            raise CoqlError("SYNTAX_ERROR", "missing clause", {"clause": "where"})
        self.take("kw", "where")
        where = self.expr()
        q = Query(columns, module, where)
        if self.peek("kw", "order"):
            self.take("kw", "order")
            self.take("kw", "by")
            while True:
                col = self.take("word")
                desc = False
                if self.peek("kw", "asc") or self.peek("kw", "desc"):
                    desc = self.take("kw") == "desc"
                q.order.append((col, desc))
                if not self.peek("op", ","):
                    break
                self.take("op")
        if self.peek("kw", "limit"):
            self.take("kw", "limit")
            first = self._int("limit")
            if self.peek("op", ","):
                self.take("op")
                q.offset, q.limit = first, self._int("limit")
            elif self.peek("kw", "offset"):
                self.take("kw")
                q.limit, q.offset = first, self._int("offset")
            else:
                q.limit = first
        if self.i < len(self.toks):
            raise _syntax(self.toks[self.i][1])
        return q

    def _int(self, clause: str) -> int:
        if self.i < len(self.toks) and self.toks[self.i][0] == "num" and "." not in self.toks[self.i][1]:
            return int(self.take("num"))
        bad = self.toks[self.i][1] if self.i < len(self.toks) else ""
        raise CoqlError("INVALID_QUERY", f"{clause} given seems to be invalid", {clause: bad})

    def expr(self) -> Cond | Bool:
        parts = [self.term()]
        while self.peek("kw", "or"):
            self.take("kw")
            parts.append(self.term())
        return self._pair("or", parts)

    def term(self) -> Cond | Bool:
        parts = [self.factor()]
        while self.peek("kw", "and"):
            self.take("kw")
            parts.append(self.factor())
        return self._pair("and", parts)

    @staticmethod
    def _pair(op: str, parts: list[Cond | Bool]) -> Cond | Bool:
        """Zoho wants more than two criteria bracketed in pairs: ``(A and (B and C))``, not ``A and B and C``."""
        if len(parts) > 2 or (len(parts) == 2 and any(isinstance(p, Bool) and not p.bracketed for p in parts)):
            raise CoqlError("SYNTAX_ERROR", "error occured while parsing the query", {"clause": "where"})
        return parts[0] if len(parts) == 1 else Bool(op, tuple(parts))

    def factor(self) -> Cond | Bool:
        if self.peek("op", "("):
            self.take("op")
            inner = self.expr()
            self.take("op", ")")
            return Bool(inner.op, inner.parts, bracketed=True) if isinstance(inner, Bool) else inner
        self.criteria += 1
        col = self.take("word")
        if self.peek("kw", "is"):
            self.take("kw")
            negate = self.peek("kw", "not") and bool(self.take("kw"))
            self.take("kw", "null")
            return Cond(col, "is not null" if negate else "is null")
        negate = self.peek("kw", "not") and bool(self.take("kw"))
        if self.peek("kw", "in"):
            self.take("kw")
            self.take("op", "(")
            values = [self.value()]
            while self.peek("op", ","):
                self.take("op")
                values.append(self.value())
            self.take("op", ")")
            if len(values) > MAX_IN:
                raise CoqlError("LIMIT_EXCEEDED", "limit exceeded", {"operator": "in", "limit": MAX_IN})
            return Cond(col, "not in" if negate else "in", tuple(values))
        if self.peek("kw", "like"):
            self.take("kw")
            return Cond(col, "not like" if negate else "like", (self.value(),))
        if negate:
            raise _syntax("not")
        if self.peek("kw", "between"):
            self.take("kw")
            low = self.value()
            self.take("kw", "and")
            return Cond(col, "between", (low, self.value()))
        op = self.take("op")
        if op not in ("=", "!=", "<>", ">", ">=", "<", "<="):
            raise _syntax(op)
        return Cond(col, "!=" if op == "<>" else op, (self.value(),))

    def value(self) -> Any:
        if self.peek("str"):
            raw = self.take("str")[1:-1]
            return raw.replace("\\'", "'").replace("''", "'")
        if self.peek("num"):
            text = self.take("num")
            return float(text) if "." in text else int(text)
        if self.peek("kw", "true") or self.peek("kw", "false"):
            return self.take("kw") == "true"
        if self.peek("kw", "null"):
            self.take("kw")
            return None
        raise _syntax(self.toks[self.i][1] if self.i < len(self.toks) else "")


def parse(text: str) -> Query:
    """Parse a COQL SELECT, or raise `CoqlError` with the code Zoho gives."""
    parser = _Parser(text)
    q = parser.query()
    if len(q.columns) > MAX_FIELDS:
        raise CoqlError("LIMIT_EXCEEDED", "limit exceeded", {"clause": "select", "limit": MAX_FIELDS})
    if parser.criteria > MAX_CRITERIA:
        raise CoqlError("LIMIT_EXCEEDED", "limit exceeded", {"clause": "where", "limit": MAX_CRITERIA})
    if len(q.order) > 10:
        raise CoqlError("LIMIT_EXCEEDED", "limit exceeded", {"clause": "order by", "limit": 10})
    if q.limit <= 0:
        raise CoqlError("INVALID_DATA", "limit should be greater than 0")
    if q.limit > MAX_LIMIT or q.offset + q.limit > MAX_ROWS:
        raise CoqlError("LIMIT_EXCEEDED", "limit exceeded", {"limit": MAX_LIMIT if q.limit > MAX_LIMIT else MAX_ROWS})
    return q


Resolver = Callable[[FieldDef, dict[str, Any], str], Any]  # (lookup field, lookup value, sub-field) -> value


def run(q: Query, records: list[dict[str, Any]], fields: dict[str, FieldDef], resolve: Resolver,
        template: dict[str, Any]) -> tuple[list[dict[str, Any]], bool]:
    """Rows for one page of the query and whether more rows match beyond it."""
    id_def = FieldDef("id", "Record Id", "bigint")

    def column(name: str, clause: str) -> tuple[FieldDef, str | None]:
        base, _, sub = name.partition(".")
        fd = id_def if base == "id" else fields.get(base)
        if fd is None or (sub and fd.data_type not in ("lookup", "ownerlookup", "userlookup")) or \
                fd.json_type == "jsonarray":
            raise CoqlError("INVALID_QUERY", "invalid column given", {"column_name": name, "clause": clause})
        return fd, sub or None

    def value_of(rec: dict[str, Any], fd: FieldDef, sub: str | None) -> Any:
        raw = rec.get(fd.api_name, template.get(fd.api_name)) if fd is not id_def else rec["id"]
        if sub is not None:
            return None if raw is None else resolve(fd, raw, sub)
        if isinstance(raw, dict) and fd.json_type == "jsonobject":
            return raw.get("id")
        return raw

    selected = [(name, *column(name, "select")) for name in q.columns]
    ordering = [(column(name, "order by"), desc) for name, desc in q.order] or [((id_def, None), False)]
    test = _compile(q.where, column, value_of)
    matches = [rec for rec in records if test(rec)]
    def sort_key(fd: FieldDef, sub: str | None) -> Callable[[dict[str, Any]], tuple[int, Any]]:
        if fd.data_type == "bigint" and sub is None:  # ids are 19-digit numbers sent as strings
            return lambda rec: _sort_key(_bigint(value_of(rec, fd, sub)))
        return lambda rec: _sort_key(value_of(rec, fd, sub))

    for (fd, sub), desc in reversed(ordering):
        matches.sort(key=sort_key(fd, sub), reverse=desc)
    rows = []
    for rec in matches[q.offset:q.offset + q.limit]:
        row: dict[str, Any] = {}
        for name, fd, sub in selected:
            value = value_of(rec, fd, sub)
            lookup = sub is None and fd.json_type == "jsonobject" and value is not None
            row[name] = {"id": value} if lookup else value
        row["id"] = rec["id"]
        rows.append(row)
    return rows, q.offset + q.limit < len(matches)


def _bigint(value: Any) -> Any:
    text = str(value).strip() if value is not None else ""
    return int(text) if text.isdigit() else value


def _sort_key(value: Any) -> tuple[int, Any]:
    if value is None:
        return (0, "")
    if isinstance(value, bool | int | float):
        return (1, float(value))
    return (2, str(value))


def _coerce(fd: FieldDef, literal: Any, column: str, op: str) -> Any:
    if literal is None:
        return None
    dt = fd.data_type
    if dt == "bigint":  # compared as numbers: float() would blur 19-digit ids
        value = _bigint(literal)
        if not isinstance(value, int) or isinstance(value, bool):
            raise CoqlError("INVALID_QUERY", "Invalid query formed",
                            {"reason": "invalid value given", "column_name": column, "operator": op})
        return value
    if dt == "datetime":
        moment = parse_dt(str(literal))
        if moment is None:
            raise CoqlError("INVALID_QUERY", "Invalid query formed",
                            {"reason": "invalid value given", "column_name": column, "operator": op})
        return moment
    if fd.json_type in ("integer", "double") and not isinstance(literal, bool):
        try:
            return float(literal)
        except (TypeError, ValueError):
            raise CoqlError("INVALID_QUERY", "Invalid query formed",
                            {"reason": "invalid value given", "column_name": column, "operator": op}) from None
    if dt == "boolean":
        return literal if isinstance(literal, bool) else str(literal).lower() == "true"
    return str(literal)


def _compile(node: Cond | Bool, column: Callable[[str, str], tuple[FieldDef, str | None]],
             value_of: Callable[[dict[str, Any], FieldDef, str | None], Any]) -> Callable[[dict[str, Any]], bool]:
    if isinstance(node, Bool):
        tests = [_compile(p, column, value_of) for p in node.parts]
        if node.op == "and":
            return lambda rec: all(t(rec) for t in tests)
        return lambda rec: any(t(rec) for t in tests)
    fd, sub = column(node.column, "where")
    op = node.op
    ordered = sub is None and (fd.data_type in _ORDERED)
    if op in (">", ">=", "<", "<=", "between") and not ordered:
        raise CoqlError("INVALID_QUERY", "Invalid query formed",
                        {"reason": "invalid operator found", "column_name": node.column, "operator": op})
    key_def = FieldDef(fd.api_name, fd.label, "text") if sub is not None else fd
    values = [_coerce(key_def, v, node.column, op) for v in node.values]
    is_dt = key_def.data_type == "datetime"
    is_num = key_def.json_type in ("integer", "double")
    is_big = key_def.data_type == "bigint"

    def norm(raw: Any) -> Any:
        if raw is None:
            return None
        if is_big:
            return _bigint(raw)
        if is_dt:
            return parse_dt(str(raw))
        if is_num:
            return float(raw)
        return raw if isinstance(raw, bool) else str(raw)

    if op in ("is null", "is not null"):
        want_null = op == "is null"
        return lambda rec: (value_of(rec, fd, sub) in (None, "")) == want_null
    if op in ("like", "not like"):
        pattern = re.compile("^" + ".*".join(re.escape(p) for p in str(values[0]).split("%")) + "$", re.I | re.S)
        positive = op == "like"
        return lambda rec: (norm(value_of(rec, fd, sub)) is not None
                            and bool(pattern.match(str(value_of(rec, fd, sub))))) == positive
    compare: dict[str, Callable[[Any, Any], bool]] = {
        "=": lambda a, b: a == b, "!=": lambda a, b: a != b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b,
        "<": lambda a, b: a < b, "<=": lambda a, b: a <= b,
    }

    def test(rec: dict[str, Any]) -> bool:
        got = norm(value_of(rec, fd, sub))
        if op == "in":
            return got is not None and got in values
        if op == "not in":
            return got is not None and got not in values
        if op == "between":
            return got is not None and values[0] <= got <= values[1]
        if got is None or values[0] is None:
            return op == "!=" and (got is None) != (values[0] is None)
        if isinstance(got, datetime) != isinstance(values[0], datetime):
            return False
        return compare[op](got, values[0])

    return test
