"""Per-request statements run straight on the DBAPI cursor of a SQLAlchemy connection.

A few statements run on every request: the session lookup, the tenant binding, the membership and
the permissions of the request context. Through SQLAlchemy Core each one costs some 50 us of Python
(cache key, execution context, result object) on top of the driver; here that is a few us.

A :class:`DirectStatement` wraps a Core statement. Once per dialect it is compiled by SQLAlchemy
(the very SQL Core would send, with its parameter order and paramstyle) and the type processors of
its parameters and result columns are looked up; each execution then converts the parameters,
runs the SQL on the connection's DBAPI cursor inside the connection's transaction, and converts
the rows (SQLite's text timestamps and UUIDs come back as ``datetime`` and ``UUID``, as with Core).
DBAPI errors are raised as SQLAlchemy's exceptions, and a lost connection is invalidated.

What the shortcut leaves out is only what nobody is watching: when the connection has cursor
execution listeners (tracing, statement counters), ``handle_error`` listeners or echo/logging
turned on, the same SQL and parameters go through :meth:`Connection.exec_driver_sql` instead, so
those observers see these statements like any other.

The statements are not ORM statements, so the automatic ORM tenant filter does not apply to them:
each one filters by tenant and user itself (on PostgreSQL, Row Level Security applies as usual).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.elements import ClauseElement

Processor = Callable[[Any], Any]
Row = tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class CompiledDirect:
    """A statement compiled for one dialect, ready to run on a DBAPI cursor."""

    sql: str
    #: Placeholder order for positional paramstyles (SQLite's ``?``); ``None`` for named ones.
    order: tuple[str, ...] | None
    #: The statement's own literal values, already converted for the driver.
    fixed: Mapping[str, Any]
    #: Parameters the caller supplies: (key in the caller's mapping, name in the SQL, converter).
    given: tuple[tuple[str, str, Processor | None], ...]
    #: Result columns that need converting: (position, converter).
    results: tuple[tuple[int, Processor], ...]

    def arguments(self, params: Mapping[str, Any]) -> dict[str, Any] | tuple[Any, ...]:
        """The DBAPI parameters for ``params`` (keyed by bind name)."""
        values = dict(self.fixed)
        for key, name, process in self.given:
            value = params[key]
            values[name] = value if process is None else process(value)
        if self.order is None:
            return values
        return tuple(values[name] for name in self.order)

    def convert(self, rows: list[Any]) -> list[Row]:
        """``rows`` with each column converted as Core would."""
        if not self.results:
            return rows if not rows or type(rows[0]) is tuple else [tuple(r) for r in rows]
        converted: list[Row] = []
        for row in rows:
            values = list(row)
            for index, process in self.results:
                values[index] = process(values[index])
            converted.append(tuple(values))
        return converted


class DirectStatement:
    """A Core statement executed on the DBAPI cursor of the connection it is given.

    ``untyped`` names result columns to return exactly as the driver does (e.g. an enum column
    compared with a ``StrEnum`` member anyway, where converting every row would be wasted work).
    """

    __slots__ = ("_by_dialect", "_last", "_untyped", "statement")

    def __init__(self, statement: ClauseElement, *, untyped: Collection[str] = ()) -> None:
        self.statement = statement
        self._untyped = frozenset(untyped)
        self._by_dialect: dict[tuple[type[Dialect], str], CompiledDirect] = {}
        self._last: tuple[Dialect, CompiledDirect] | None = None

    def compiled(self, dialect: Dialect) -> CompiledDirect:
        """The statement compiled for ``dialect`` (cached per dialect class and paramstyle)."""
        last = self._last  # one engine serves most processes: its dialect, remembered
        if last is not None and last[0] is dialect:
            return last[1]
        key = (type(dialect), dialect.paramstyle)
        found = self._by_dialect.get(key)
        if found is None:
            found = self._by_dialect[key] = self._compile(dialect)
        self._last = (dialect, found)
        return found

    def _compile(self, dialect: Dialect) -> CompiledDirect:
        compiled: Any = self.statement.compile(dialect=dialect)
        if compiled.post_compile_params or compiled.literal_execute_params:
            raise ValueError("expanding and literal-execute parameters are not supported here")
        if getattr(compiled, "insert_prefetch", ()) or getattr(compiled, "update_prefetch", ()):
            # Core computes these per execution (e.g. an onupdate timestamp): name the value.
            raise ValueError("column defaults computed in Python are not supported here")
        escaped: Mapping[str, str] = compiled.escaped_bind_names or {}
        fixed: dict[str, Any] = {}
        given: list[tuple[str, str, Processor | None]] = []
        for bind, name in compiled.bind_names.items():
            name = escaped.get(name, name)
            if name in fixed or any(name == n for _k, n, _p in given):
                continue  # one name, one value: a parameter used in several places
            if bind.callable is not None:
                raise ValueError("parameters with callable values are not supported here")
            process = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if bind.required:
                given.append((bind.key, name, process))
            else:
                fixed[name] = process(bind.value) if process is not None else bind.value
        results: list[tuple[int, Processor]] = []
        columns = getattr(self.statement, "selected_columns", ())
        for index, column in enumerate(columns):
            if column.key in self._untyped:
                continue
            process = column.type.dialect_impl(dialect).result_processor(dialect, None)
            if process is not None:
                results.append((index, process))
        order = None
        if compiled.positional:
            order = tuple(escaped.get(n, n) for n in compiled.positiontup)
        return CompiledDirect(
            sql=compiled.string,
            order=order,
            fixed=fixed,
            given=tuple(given),
            results=tuple(results),
        )

    def all(self, connection: Connection, params: Mapping[str, Any]) -> list[Row]:
        """Every row the statement returns."""
        with DirectCursor(connection) as cursor:
            return cursor.all(self, params)

    def first(self, connection: Connection, params: Mapping[str, Any]) -> Row | None:
        """The first row, or ``None``."""
        with DirectCursor(connection) as cursor:
            return cursor.first(self, params)

    def run(self, connection: Connection, params: Mapping[str, Any]) -> None:
        """Execute a statement whose rows, if any, are not wanted."""
        with DirectCursor(connection) as cursor:
            cursor.run(self, params)


class DirectCursor:
    """Runs :class:`DirectStatement` s on one connection through one DBAPI cursor.

    For a few statements in a row (the request context): whether anything observes the
    connection is checked once, and one cursor serves them all. Use it as a context manager.
    """

    __slots__ = ("_cursor", "_dialect", "_observed", "connection")

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self._dialect = connection.dialect
        self._observed = observed(connection)
        self._cursor: Any = None

    def __enter__(self) -> DirectCursor:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the DBAPI cursor, if one was opened."""
        cursor, self._cursor = self._cursor, None
        if cursor is not None:
            cursor.close()

    def all(self, statement: DirectStatement, params: Mapping[str, Any]) -> list[Row]:
        """Every row ``statement`` returns."""
        compiled = statement.compiled(self._dialect)
        return compiled.convert(self._execute(compiled, params, fetch=True))

    def first(self, statement: DirectStatement, params: Mapping[str, Any]) -> Row | None:
        """The first row ``statement`` returns, or ``None``."""
        rows = self.all(statement, params)
        return rows[0] if rows else None

    def run(self, statement: DirectStatement, params: Mapping[str, Any]) -> None:
        """Execute ``statement``; its rows, if any, are not wanted."""
        self._execute(statement.compiled(self._dialect), params, fetch=False)

    def _execute(
        self, compiled: CompiledDirect, params: Mapping[str, Any], *, fetch: bool
    ) -> list[Any]:
        arguments = compiled.arguments(params)
        if self._observed:
            result = self.connection.exec_driver_sql(compiled.sql, arguments)
            return list(result.fetchall()) if fetch else []
        cursor = self._cursor
        try:
            if cursor is None:
                dbapi_connection = self.connection.connection.dbapi_connection
                assert dbapi_connection is not None  # a live Connection always holds one
                cursor = self._cursor = dbapi_connection.cursor()
            cursor.execute(compiled.sql, arguments)
            return cursor.fetchall() if fetch else []
        except self._dialect.loaded_dbapi.Error as err:
            raise _wrapped(self.connection, compiled.sql, arguments, err, cursor) from err


def observed(connection: Connection) -> bool:
    """True when something watches ``connection``'s statements (listeners, echo, logging)."""
    if connection._echo:
        return True
    # SQLAlchemy raises these flags when a listener is first added (and never lowers them):
    # without any, there is nothing to look for. With one, look at what is listening now.
    if not (
        getattr(connection, "_has_events", True)
        or getattr(connection.engine, "_has_events", True)
        or getattr(connection.dialect, "_has_events", True)
    ):
        return False
    dispatch = connection.dispatch
    return bool(
        dispatch.before_cursor_execute
        or dispatch.after_cursor_execute
        or connection.dialect.dispatch.handle_error
    )


def _wrapped(
    connection: Connection, sql: str, arguments: Any, err: Exception, cursor: Any
) -> BaseException:
    dialect = connection.dialect
    dbapi_error: Any = err
    disconnect = dialect.is_disconnect(dbapi_error, connection.connection.dbapi_connection, cursor)
    if disconnect:
        # As Core does: the connection is unusable, the pool must not hand it out again.
        connection.invalidate(err)
    return DBAPIError.instance(
        sql,
        arguments,
        err,
        dialect.loaded_dbapi.Error,
        hide_parameters=connection.engine.hide_parameters,
        connection_invalidated=disconnect,
        dialect=dialect,
    )
