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
    from finshard.router import Router
    from finshard.router.aio import AsyncRouter

__all__ = ["__version__", "errors", "FinshardError", "Router", "AsyncRouter"]


def __getattr__(name: str) -> Any:  # pragma: no cover - lazy import keeps `finshard --help` fast
    if name == "Router":
        from finshard.router import Router

        return Router
    if name == "AsyncRouter":
        from finshard.router.aio import AsyncRouter

        return AsyncRouter
    raise AttributeError(name)
