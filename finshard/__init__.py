"""finshard: a sharded PostgreSQL (Citus) layer for fintech ledgers and trading.

The business logic is PL/pgSQL in schema ``finshard``; this package installs it, runs local
clusters, and routes application calls to the node that holds each account.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.2.0"

from finshard import errors  # noqa: E402
from finshard.errors import FinshardError  # noqa: E402

if TYPE_CHECKING:  # the lazy import below hides them from type checkers otherwise
    from finshard.router import AsyncRouter, Router

__all__ = ["__version__", "errors", "FinshardError", "Router", "AsyncRouter"]


def __getattr__(name: str) -> Any:  # pragma: no cover - lazy import keeps `finshard --help` fast
    if name in ("Router", "AsyncRouter"):
        from finshard import router

        return getattr(router, name)
    raise AttributeError(name)
