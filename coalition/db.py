"""The declarative base, shared column types and database-level settings."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from flask import has_request_context, request
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.sql.functions import FunctionElement

# Stable constraint names, so that Alembic migrations read the same on
# SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(sa.types.TypeDecorator):
    """A timezone-aware UTC datetime on every database.

    PostgreSQL keeps ``timestamp with time zone``; SQLite has no time zones,
    so the value is stored as naive UTC and made aware again on the way out.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where UTC is required")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def enum_column(enum_cls, length: int = 32, name: str | None = None) -> sa.Enum:
    """A portable enum stored as its values in a VARCHAR with a CHECK constraint.

    The constraint is named after the enum; a table with two columns of one
    enum must give each its own ``name``.
    """
    return sa.Enum(
        enum_cls,
        native_enum=False,
        create_constraint=True,
        length=length,
        values_callable=lambda e: [m.value for m in e],
        validate_strings=True,
        name=name or enum_cls.__name__.lower(),
    )


SQLITE_CACHE_KIB = 32 * 1024


class rarely_true(FunctionElement):
    """A condition that holds for few rows, said so to SQLite's query planner.

    A text search (``LIKE '%word%'``) reads every row whatever happens; told
    it is rare, SQLite scans the table once and sorts the few matches, instead
    of walking the name index row by row to save that sort. Other databases
    get the plain condition.
    """

    # No Boolean type: SQLite would then compare the function's result "= 1",
    # and the planner reads a likelihood only when it is the whole term.
    type = sa.types.NullType()
    inherit_cache = True
    name = "rarely_true"


@compiles(rarely_true)
def _plain_condition(element, compiler, **kw):
    # In parentheses: the condition may hold an OR, and it sits among ANDs.
    return f"({compiler.process(element.clauses, **kw)})"


@compiles(rarely_true, "sqlite")
def _likelihood(element, compiler, **kw):
    return f"likelihood({compiler.process(element.clauses, **kw)}, 0.01)"


def configure_sqlite(engine: Engine, busy_timeout_ms: int) -> None:
    """WAL, a busy timeout and foreign keys on every SQLite connection (S33).

    pysqlite's own transaction handling is switched off so that SQLAlchemy
    emits BEGIN itself: savepoints then work, and a write request takes the
    write lock at its start (BEGIN IMMEDIATE) instead of failing half-way
    when another writer got there first.
    """
    if engine.dialect.name != "sqlite":
        return
    from coalition.private_files import create_private_file, sqlite_path

    database_file = sqlite_path(engine.url.database)
    if database_file is not None:

        @event.listens_for(engine, "do_connect")
        def _private_database(_dialect, _record, _cargs, _cparams):
            # SQLite would create the file 0644 less the umask; made first, it is
            # 0600, and its -wal and -shm files copy the database file's mode.
            create_private_file(database_file)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        # Room for the register's tables in SQLite's own page cache (the default
        # is 2 MiB); it fills only as pages are read.
        cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection):
        if has_request_context() and request.method in ("GET", "HEAD", "OPTIONS"):
            connection.exec_driver_sql("BEGIN")
        else:
            connection.exec_driver_sql("BEGIN IMMEDIATE")


def sync_rows(rows: list, wanted, *, key: str, make) -> None:
    """Make a collection of one-value rows (countries, focus areas) hold exactly ``wanted``.

    Rows already there stay (no needless delete and insert); the others are
    removed or added with ``make(value)``.
    """
    wanted = set(wanted)
    for row in list(rows):
        if getattr(row, key) not in wanted:
            rows.remove(row)
    have = {getattr(row, key) for row in rows}
    for value in sorted(wanted - have):
        rows.append(make(value))
