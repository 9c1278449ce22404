"""Small synchronous helpers around psycopg for the installer, the cluster manager and the CLI.

The router has its own pools (finshard.router); this module is for one-off administrative calls.
"""

from __future__ import annotations

from typing import Any, Sequence

import psycopg

__all__ = ["connect", "scalar", "execute", "rows"]


def connect(dsn: str, *, autocommit: bool = True, **kwargs: Any) -> psycopg.Connection[Any]:
    return psycopg.connect(dsn, autocommit=autocommit, connect_timeout=10, **kwargs)


def scalar(dsn: str, sql: str, params: Sequence[Any] | None = None) -> Any:
    with connect(dsn) as conn:
        row = conn.execute(sql, params).fetchone()
        return row[0] if row else None


def execute(dsn: str, sql: str, params: Sequence[Any] | None = None) -> None:
    with connect(dsn) as conn:
        conn.execute(sql, params)


def rows(dsn: str, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
    with connect(dsn) as conn:
        return conn.execute(sql, params).fetchall()
