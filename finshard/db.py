"""The one module that opens psycopg connections: operations, the local lab, the CLI and the
benchmarks connect through it, and so do the router's one-off connections (its pools open their
own, with the router's settings).

Modules that only need the driver's names (a connection's type, its errors, conninfo helpers,
SQL composition) take them from here too, so that psycopg is imported where connections are
made. The router package imports psycopg's types itself.
"""

from __future__ import annotations

from typing import Any, Sequence

import psycopg
from psycopg import AsyncConnection, Connection, Error, OperationalError, sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

__all__ = ["connect", "connect_async", "scalar", "execute", "rows", "Connection", "AsyncConnection", "Error",
           "OperationalError", "sql", "conninfo_to_dict", "make_conninfo"]


def connect(dsn: str, *, autocommit: bool = True, connect_timeout: int = 10, **kwargs: Any) -> Connection[Any]:
    """A connection to ``dsn``, in autocommit unless asked otherwise. Raises OperationalError when
    the server cannot be reached within ``connect_timeout`` seconds."""
    return psycopg.connect(dsn, autocommit=autocommit, connect_timeout=connect_timeout, **kwargs)


async def connect_async(dsn: str, *, autocommit: bool = True, connect_timeout: int = 10,
                        **kwargs: Any) -> AsyncConnection[Any]:
    """connect() for asyncio."""
    return await AsyncConnection.connect(dsn, autocommit=autocommit, connect_timeout=connect_timeout, **kwargs)


def scalar(dsn: str, query: str, params: Sequence[Any] | None = None) -> Any:
    """The first column of the first row of one statement on a connection of its own (None when no row)."""
    with connect(dsn) as conn:
        row = conn.execute(query, params).fetchone()
        return row[0] if row else None


def execute(dsn: str, query: str, params: Sequence[Any] | None = None) -> None:
    """Run one statement on a connection of its own."""
    with connect(dsn) as conn:
        conn.execute(query, params)


def rows(dsn: str, query: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
    """Every row of one statement, on a connection of its own."""
    with connect(dsn) as conn:
        return conn.execute(query, params).fetchall()
