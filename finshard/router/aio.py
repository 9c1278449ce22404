"""The router on asyncio: ``AsyncRouter``, the same routing, retries, replica reads and topology
as ``Router``, over psycopg's ``AsyncConnection`` and psycopg_pool's ``AsyncConnectionPool``.

    from finshard import AsyncRouter
    async with await AsyncRouter.connect(dsn) as r:
        await r.transfer(from_account_id=1, to_account_id=2, amount=Decimal("10.00"), idempotency_key="k1")

Argument checks, routing and the retry policy are ``_RouterCore``'s, shared with ``Router``; this
module holds only the I/O. The topology is read by the same code as the sync router's, in a thread:
it is read once and again only after a failure.
"""

from __future__ import annotations

import asyncio
import select
import time
from typing import TYPE_CHECKING, Any, Sequence

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import set_json_loads
from psycopg_pool import AsyncConnectionPool

from finshard import db
from finshard.errors import FinshardError, TopologyError, TransientError, translate
from finshard.router._methods import AsyncRouterMethods
from finshard.router import (_BY_NAME, _Call, _check_token, _execute_prepare, _json_loads, _quiet_close,
                             _read_topology, _result, _RouterCore, log)
from finshard.router.topology import NodeAddr, Topology

__all__ = ["AsyncRouter", "AsyncSessionRouter"]


class AsyncRouter(AsyncRouterMethods, _RouterCore):
    """Routes finshard calls to the right node, on asyncio. Create with ``await AsyncRouter.connect(dsn)``;
    ``await close()`` or use ``async with``. Takes the same arguments as ``Router``."""

    def __init__(self, dsn: str, **kwargs: Any) -> None:
        # Use connect(): the topology is read there, which needs a round trip.
        super().__init__(dsn, **kwargs)
        self._pools: dict[tuple[NodeAddr, bool], AsyncConnectionPool] = {}
        self._refreshing: asyncio.Lock | None = None

    # -- lifecycle -----------------------------------------------------------------------------
    @classmethod
    async def connect(cls, dsn: str, **kwargs: Any) -> "AsyncRouter":
        """Connect to the coordinator, read the topology (Citus or a single node) and return an AsyncRouter."""
        router = cls(dsn, **kwargs)
        await router.refresh()
        return router

    async def close(self) -> None:
        pools = list(self._pools.values())
        self._pools.clear()
        for pool in pools:
            await pool.close()

    async def __aenter__(self) -> "AsyncRouter":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def refresh(self) -> Topology:
        """Read the topology again (after a shard move, a split, a node change)."""
        self.topology = await asyncio.to_thread(_read_topology, self.dsn, self._coordinator, self.connect_timeout)
        return self.topology

    # -- pools -----------------------------------------------------------------------------------
    async def _pool(self, node: NodeAddr, *, standby: bool = False) -> AsyncConnectionPool:
        pool = self._pools.get((node, standby))
        if pool is None:
            kwargs = self._connect_kwargs()
            dsn = self.node_dsn(node, standby=standby)
            # One direct connection first: a node that refuses connections fails now, not after the
            # pool's wait, so the call falls back to the coordinator at once.
            try:
                await (await db.connect_async(dsn, **kwargs)).close()
            except psycopg.Error as exc:
                raise TransientError(f"{node} unreachable: {str(exc).strip().splitlines()[0]}") from None
            pool = self._pools.get((node, standby))
            if pool is None:  # another task may have made it meanwhile
                # The pool opens its connections itself (psycopg_pool), with the same kwargs as the probe.
                pool = AsyncConnectionPool(dsn, min_size=1, max_size=self.pool_size, kwargs=kwargs, open=False,
                                           timeout=10, name=f"finshard-async-{node}", check=_check_idle,
                                           configure=_decimal_json)
                self._pools[(node, standby)] = pool
                await pool.open()
        return pool

    async def _drop_pools(self, node: NodeAddr, standbys: tuple[bool, ...] = (False, True)) -> None:
        for standby in standbys:
            pool = self._pools.pop((node, standby), None)
            if pool is not None:
                with _quiet_close():
                    await pool.close(timeout=0)

    async def _replica_for(self, node: NodeAddr) -> NodeAddr | None:
        """A standby of ``node`` whose replay lag is within max_lag (checked at most once a second)."""
        for replica in self._replicas_to_try(node):
            lag = self._lag_known(replica)
            if lag is None:
                # The primary's LSN first (see Router._replica_for).
                lsn = None
                try:
                    async with (await self._pool(node)).connection() as conn:
                        row = await (await conn.execute("SELECT pg_current_wal_lsn()::text")).fetchone()
                        lsn = row[0] if row else None
                except Exception:  # noqa: BLE001
                    pass
                try:
                    async with (await self._pool(replica, standby=True)).connection() as conn:
                        row = await (await conn.execute("SELECT finshard.replica_lag(%s::pg_lsn)", (lsn,))).fetchone()
                except Exception as exc:  # noqa: BLE001 - an unreachable standby: the primary serves
                    log.info("finshard router: standby %s not usable (%s)", replica, exc)
                    self._standby_down[replica] = time.monotonic()
                    continue
                lag = float("inf") if row is None or row[0] is None else float(row[0])
                self._lag_cache[replica] = (time.monotonic(), lag)
            if lag <= self.max_lag:
                return replica
        return None

    # -- calls -----------------------------------------------------------------------------------
    async def call(self, proc_name: str, /, reads: str | None = None, **kwargs: Any) -> Any:
        """Call finshard.<name> with keyword arguments, as ``Router.call`` does."""
        call = self._prepare(proc_name, reads, kwargs)
        attempt = 0
        started = time.monotonic()
        while True:
            node = self._node_for(call.proc, call.args)
            if call.to_replica:
                replica = await self._replica_for(node)
                if replica is not None:
                    try:
                        result = await self._execute_proc(replica, call, standby=True)
                        self.last_node = replica
                        return result
                    except TransientError as exc:
                        log.info("finshard router: %s on standby %s; reading from the primary", exc, replica)
                        self._standby_down[replica] = time.monotonic()
                        await self._drop_pools(replica, (True,))
            try:
                result = await self._execute_proc(node, call)
                self.last_node = node
                return result
            except TransientError as exc:
                attempt += 1
                await self._note_failure(node, exc)
                pause = self._retry_pause(call, attempt, started)
                if pause is None:
                    raise
                await asyncio.sleep(pause)

    async def _execute_proc(self, node: NodeAddr, call: _Call, *, standby: bool = False) -> Any:
        pool = await self._pool(node, standby=standby)
        try:
            async with pool.connection() as conn:
                if call.proc.returns in ("rows", "row"):
                    async with conn.cursor(row_factory=dict_row) as cur:
                        await cur.execute(call.sql, call.params)
                        return _result(call.proc, await cur.fetchall())
                cursor = await conn.execute(call.sql, call.params)
                return _result(call.proc, await cursor.fetchone())
        except psycopg.Error as exc:
            raise translate(exc) from None
        except Exception as exc:  # pool timeouts, OS errors: the node is unreachable
            if type(exc).__name__ in {"PoolTimeout", "TooManyRequests"} or isinstance(exc, OSError):
                raise TransientError(f"{node} unreachable: {exc}") from None
            raise

    async def _note_failure(self, node: NodeAddr, exc: FinshardError) -> None:
        kind = self._failure(node, exc)
        if kind == "down":
            await self._drop_pools(node)
        if kind is not None:
            # Many tasks fail together in an outage: one of them re-reads the topology.
            if self._refreshing is None:
                self._refreshing = asyncio.Lock()
            if self._refreshing.locked():
                return
            async with self._refreshing:
                try:
                    await self.refresh()
                except TopologyError:
                    pass

    # -- sessions ------------------------------------------------------------------------------------
    def session(self, token: str) -> "AsyncSessionRouter":
        """This router acting for the end user of ``token`` (from ``login``)."""
        _check_token(token)
        return AsyncSessionRouter(self, token)

    # -- SQL routing -------------------------------------------------------------------------------
    async def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Run one statement on the node its route names (autocommit); returns rows as dicts."""
        decision = self.explain_route(sql, params)
        try:
            async with (await self._pool(decision.node)).connection() as conn:
                async with conn.cursor(row_factory=dict_row) as cur:
                    await cur.execute(sql, params, prepare=_execute_prepare(self.topology))
                    return await cur.fetchall() if cur.description else []
        except psycopg.Error as exc:
            raise translate(exc) from None


class AsyncSessionRouter(AsyncRouterMethods):
    """An AsyncRouter bound to one end user's session: ``router.session(token)``; methods typed as
    the AsyncRouter's."""

    def __init__(self, router: AsyncRouter, token: str) -> None:
        self.router = router
        self.token = token

    async def call(self, proc_name: str, /, reads: str | None = None, **kwargs: Any) -> Any:
        proc = _BY_NAME.get(proc_name)
        if proc is not None and any(p == "session" for p, _t in proc.params) and kwargs.get("session") is None:
            kwargs["session"] = self.token
        return await self.router.call(proc_name, reads=reads, **kwargs)

    if not TYPE_CHECKING:
        # The rest of the router (shard_for, topology, ...) at run time; hidden from type checkers,
        # so that a misspelt method is an error there.
        def __getattr__(self, name: str) -> Any:
            return getattr(self.router, name)


async def _decimal_json(conn: psycopg.AsyncConnection[Any]) -> None:
    """Numbers in jsonb results as Decimal (finshard.router._decimal_json)."""
    set_json_loads(_json_loads, conn)


async def _check_idle(conn: psycopg.AsyncConnection[Any]) -> None:
    """The pool's check on checkout: a round trip only when the idle socket is readable (see
    finshard.router._check_idle for why)."""
    if conn.closed or conn.broken:
        raise psycopg.OperationalError("the connection is closed")
    poller = select.poll()
    poller.register(conn.fileno(), select.POLLIN | select.POLLPRI)
    if poller.poll(0):
        await AsyncConnectionPool.check_connection(conn)
