"""Reading a source into columns: files through pyarrow (CSV, Parquet) or openpyxl (Excel), databases
through SQLAlchemy, read-only, with a statement timeout and in chunks.

Every reader returns a `Frame`: the columns the source names, as pyarrow arrays, plus the rows it
could not read at all (a CSV line with the wrong number of fields) with their reason.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

from connector.errors import ConfigError, ConfigProblem
from connector.sources.spec import SourceSpec

__all__ = ["Frame", "SourceReadError", "content_hash", "read_database", "read_file"]

log = logging.getLogger(__name__)

_DRIVER_HINTS = {
    "postgresql": "pip install 'riskbridge[db]' (psycopg) and use postgresql+psycopg://",
    "mysql": "pip install 'riskbridge[db]' (PyMySQL) and use mysql+pymysql://",
    "mariadb": "pip install 'riskbridge[db]' (PyMySQL) and use mariadb+pymysql://",
    "mssql": "pip install 'riskbridge[mssql]' (pyodbc, plus Microsoft's ODBC driver) and use mssql+pyodbc://",
}


class SourceReadError(ConfigError):
    """A source cannot be read at all (missing file, bad query, unreachable database): the run stops
    before it scores anything with half the data."""


@dataclass
class Frame:
    """The columns of one source read, by source column name, and the lines that could not be read."""

    columns: dict[str, pa.Array]
    rows: int
    bad: list[tuple[int, str]] = field(default_factory=list)  # (line or row number, reason)

    def column(self, name: str) -> pa.Array:
        return self.columns[name]


def content_hash(path: Path) -> str:
    """SHA-256 of a file's bytes: a source file is read again only when this changes."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _problem(name: str, message: str, hint: str = "") -> SourceReadError:
    return SourceReadError([ConfigProblem(f"source {name}", f"sources.{name}", message, hint)])


def read_file(name: str, spec: SourceSpec, path: Path, wanted: list[str]) -> Frame:
    """Read the `wanted` columns of a CSV, Parquet or Excel file."""
    if not path.is_file():
        raise _problem(name, f"{path}: file not found", f"fix sources.{name}.path (relative to the config file)")
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        try:
            table = pq.read_table(path)
        except (pa.ArrowException, OSError) as exc:
            raise _problem(name, f"{path}: not a readable Parquet file: {exc}") from None
        frame = Frame({}, table.num_rows)
        return _pick(name, frame, {n: table.column(n).combine_chunks() for n in table.column_names}, wanted, path)
    if suffix in (".xlsx", ".xlsm"):
        return _read_excel(name, spec, path, wanted)
    return _read_csv(name, spec, path, wanted)


def _pick(name: str, frame: Frame, columns: dict[str, pa.Array], wanted: list[str], where: Path | str) -> Frame:
    missing = [c for c in wanted if c not in columns]
    if missing:
        raise _problem(name, f"{where}: no column(s) {', '.join(missing)}",
                       f"columns found: {', '.join(list(columns)[:30])}")
    frame.columns = {c: columns[c] for c in wanted}
    return frame


def _sniff(path: Path, encoding: str) -> str:
    with path.open("r", encoding=encoding, errors="replace", newline="") as fh:
        head = fh.read(64 * 1024)
    try:
        return csv.Sniffer().sniff(head.splitlines()[0] if head else ",", delimiters=",;\t|").delimiter
    except csv.Error:
        return ","


def _read_csv(name: str, spec: SourceSpec, path: Path, wanted: list[str]) -> Frame:
    try:
        "".encode(spec.encoding)
    except LookupError:
        raise _problem(name, f"unknown encoding {spec.encoding!r}", "e.g. utf-8, gbk, gb18030, latin-1") from None
    delimiter = spec.delimiter or _sniff(path, spec.encoding)
    bad: list[tuple[int, str]] = []

    def skip(row: Any) -> str:
        bad.append((int(row.number or 0), f"expected {row.expected_columns} fields, found {row.actual_columns}"))
        return "skip"

    key = spec.key.column if spec.key is not None else None
    try:
        table = pacsv.read_csv(
            path, read_options=pacsv.ReadOptions(encoding=spec.encoding, block_size=8 << 20),
            parse_options=pacsv.ParseOptions(delimiter=delimiter, invalid_row_handler=skip),
            convert_options=pacsv.ConvertOptions(
                include_columns=wanted, include_missing_columns=False,
                # keys stay text: 0010042 must not become the number 10042 before normalisation decides
                column_types={key: pa.string()} if key else {}, strings_can_be_null=True))
    except (pa.ArrowInvalid, pa.ArrowKeyError) as exc:
        message = str(exc).splitlines()[0]
        if "include_columns" in message or "not found" in message.lower():
            header = _header(path, spec.encoding, delimiter)
            return _pick(name, Frame({}, 0), dict.fromkeys(header, pa.array([])), wanted, path)
        raise _problem(name, f"{path}: cannot read the CSV: {message}",
                       f"check encoding ({spec.encoding}) and delimiter ({delimiter!r})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise _problem(name, f"{path}: cannot read the CSV: {exc}") from None
    columns = {n: table.column(n).combine_chunks() for n in table.column_names}
    return _pick(name, Frame({}, table.num_rows, bad), columns, wanted, path)


def _header(path: Path, encoding: str, delimiter: str) -> list[str]:
    with path.open("r", encoding=encoding, errors="replace", newline="") as fh:
        return next(csv.reader(io.StringIO(fh.readline()), delimiter=delimiter), [])


def _read_excel(name: str, spec: SourceSpec, path: Path, wanted: list[str]) -> Frame:
    try:
        from openpyxl import load_workbook
    except ImportError:
        raise _problem(name, f"{path}: reading Excel needs openpyxl", "pip install 'riskbridge[excel]'") from None
    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a damaged or foreign file
        raise _problem(name, f"{path}: not a readable Excel workbook: {type(exc).__name__}: {exc}") from None
    try:
        if spec.sheet is not None and spec.sheet not in book.sheetnames:
            raise _problem(name, f"{path}: no sheet {spec.sheet!r}", f"sheets: {', '.join(book.sheetnames)}")
        sheet = book[spec.sheet] if spec.sheet else book.worksheets[0]
        rows = sheet.iter_rows(values_only=True)
        header = [str(h).strip() if h is not None else "" for h in next(rows, ())]
        values: dict[str, list[Any]] = {h: [] for h in header if h}
        count = 0
        for row in rows:
            if row is None or all(v is None for v in row):
                continue
            count += 1
            for h, v in zip(header, row, strict=False):
                if h:
                    values[h].append(v)
            for h in header[len(row):]:
                if h:
                    values[h].append(None)
    finally:
        book.close()
    return _pick(name, Frame({}, count), {h: _loose_array(v) for h, v in values.items()}, wanted, path)


def _loose_array(values: list[Any]) -> pa.Array:
    """A column of mixed Python values: typed when they agree, text when they do not."""
    try:
        return pa.array(values, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array([None if v is None else str(v) for v in values], pa.string())


# --- databases ---------------------------------------------------------------------------------------

def _engine(name: str, url: str, timeout_s: float) -> Engine:
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise _problem(name, "url is not a database URL", "e.g. postgresql+psycopg://reader@host/finance") from None
    backend = parsed.get_backend_name()
    connect_args: dict[str, Any] = {}
    if backend in ("mysql", "mariadb"):
        connect_args = {"read_timeout": int(timeout_s) + 5, "connect_timeout": min(int(timeout_s), 30)}
    elif backend == "postgresql":
        connect_args = {"connect_timeout": min(int(timeout_s), 30)}
    elif backend == "mssql":
        connect_args = {"timeout": int(timeout_s)}
    try:
        engine = create_engine(parsed, connect_args=connect_args, pool_pre_ping=False)
    except (NoSuchModuleError, ImportError) as exc:
        hint = _DRIVER_HINTS.get(backend, "install the SQLAlchemy driver for this URL")
        raise _problem(name, f"no driver for {parsed.drivername}: {exc}", hint) from None
    if backend == "sqlite":
        event.listen(engine, "connect", _sqlite_read_only)
    return engine


def _sqlite_read_only(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.execute("PRAGMA query_only = ON")


def _read_only(conn: Connection, backend: str, timeout_s: float) -> None:
    """Make the session read-only and bound each statement; a query that writes fails, one that hangs stops."""
    ms = int(timeout_s * 1000)
    if backend == "postgresql":
        conn.execute(text("SET TRANSACTION READ ONLY"))
        conn.execute(text(f"SET LOCAL statement_timeout = {ms}"))
    elif backend in ("mysql", "mariadb"):
        conn.execute(text("SET SESSION TRANSACTION READ ONLY"))
        version = str(conn.execute(text("SELECT VERSION()")).scalar() or "")
        if "mariadb" in version.lower():
            conn.execute(text(f"SET SESSION max_statement_time = {timeout_s:g}"))
        else:
            conn.execute(text(f"SET SESSION max_execution_time = {ms}"))
        conn.execute(text("START TRANSACTION READ ONLY"))
    elif backend == "sqlite":
        import time

        deadline = time.monotonic() + timeout_s
        raw = conn.connection.dbapi_connection
        if raw is not None:
            raw.set_progress_handler(lambda: int(time.monotonic() > deadline), 10_000)


def read_database(name: str, spec: SourceSpec, url: str, wanted: list[str],
                  since: Any = None) -> tuple[Frame, Any]:
    """Run the source's query read-only, fetching `chunk_rows` at a time; with `changed_column` and a
    `since` watermark only rows changed after it. Returns the frame and the new watermark."""
    assert spec.query is not None
    engine = _engine(name, url, spec.timeout_s)
    backend = engine.dialect.name
    query, params = spec.query.strip().rstrip(";"), {}
    if spec.changed_column and since is not None:
        column = engine.dialect.identifier_preparer.quote(spec.changed_column)
        query, params = f"SELECT * FROM ({query}) riskbridge_src WHERE riskbridge_src.{column} > :since", {"since": since}
    values: dict[str, list[Any]] = {}
    count, watermark = 0, since
    try:
        with engine.connect() as conn:
            _read_only(conn, backend, spec.timeout_s)
            result = conn.execution_options(stream_results=True, yield_per=spec.chunk_rows).execute(text(query), params)
            names = list(result.keys())
            missing = [c for c in wanted if c not in names]
            if missing:
                raise _problem(name, f"the query returns no column(s) {', '.join(missing)}",
                               f"columns returned: {', '.join(names)}")
            values = {c: [] for c in wanted}
            at = {c: names.index(c) for c in wanted}
            mark = names.index(spec.changed_column) if spec.changed_column in names else None
            for chunk in result.partitions(spec.chunk_rows):
                for row in chunk:
                    for c, i in at.items():
                        values[c].append(row[i])
                    if mark is not None and row[mark] is not None and (watermark is None or row[mark] > watermark):
                        watermark = row[mark]
                count += len(chunk)
            if spec.changed_column and mark is None:
                raise _problem(name, f"changed_column {spec.changed_column!r} is not a column of the query",
                               f"columns returned: {', '.join(names)}")
            conn.rollback()
    except SourceReadError:
        raise
    except (SQLAlchemyError, OSError) as exc:
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0][:300]
        raise _problem(name, f"{make_url(url).render_as_string(hide_password=True)}: the query failed: "
                       f"{type(exc).__name__}: {reason}", "check the query, the grants and the timeout") from None
    finally:
        engine.dispose()
    log.info("source %s: %d rows read from the database", name, count)
    return Frame({c: _loose_array(v) for c, v in values.items()}, count), watermark
