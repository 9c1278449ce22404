"""The shard-aware router: applications call finshard's SQL functions through it.

    from finshard import Router
    with Router.connect(dsn) as r:
        r.transfer(from_account_id=1, to_account_id=2, amount=Decimal("10.00"), idempotency_key="k1")
        r.shard_for(1)

Each account-scoped call goes straight to the node holding the account's shard (Citus workers
carry metadata and run the delegated function locally), through a per-node pool in autocommit,
with explicit casts. Everything else goes to the coordinator. Business logic stays in PL/pgSQL.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import random
import select
import time
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Iterator, Sequence

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb, set_json_loads
from psycopg_pool import ConnectionPool

from finshard import db
from finshard.errors import FinshardError, TopologyError, TransientError, by_sqlstate, translate
from finshard.router._methods import RouterMethods
from finshard.router.procedures import BY_NAME, PROCEDURES, Proc
from finshard.router.routing import Route, route
from finshard.router.topology import NodeAddr, ShardLocation, Topology

__all__ = ["Router", "SessionRouter", "Route", "ShardLocation", "NodeAddr", "Topology", "PROCEDURES"]

log = logging.getLogger("finshard.router")


@dataclass
class _Call:
    """One prepared call: what runs where, whether a retry is safe, whether a standby may serve it."""

    proc: Proc
    args: dict[str, Any]
    sql: str
    params: list[Any]
    safe_to_retry: bool
    to_replica: bool


class _RouterCore:
    """What Router and AsyncRouter share: arguments, routing, retry policy. No I/O here."""

    def __init__(self, dsn: str, *, pool_size: int = 4, retries: int = 200, backoff: float = 0.05,
                 retry_budget: float = 60.0, node_dsns: dict[str, str] | None = None, connect_timeout: int = 5,
                 prepare: bool | None = None, reads: str = "primary", max_lag: float = 5.0) -> None:
        if reads not in ("primary", "replica"):
            raise ValueError(f"reads must be 'primary' or 'replica', not {reads!r}")
        self.dsn = dsn
        self.pool_size = pool_size
        self.retries = retries
        self.backoff = backoff
        self.retry_budget = retry_budget
        self.reads = reads
        self.max_lag = max_lag
        # The node that served the last call (diagnostics: which replica or primary answered).
        self.last_node: NodeAddr | None = None
        self._lag_cache: dict[NodeAddr, tuple[float, float]] = {}
        self.node_dsns = dict(node_dsns or {})
        self.connect_timeout = connect_timeout
        self.prepare = prepare
        info = conninfo_to_dict(dsn)
        # A DSN may list several hosts (every member of an --ha coordinator group, with
        # target_session_attrs=read-write): the first names the coordinator's pool, and libpq
        # connects it to whichever member is the primary.
        host = str(info.get("host") or "localhost").split(",")[0]
        port = str(info.get("port") or "5432").split(",")[0] or "5432"
        self._coordinator = NodeAddr(host, int(port))
        self._down: dict[NodeAddr, float] = {}
        self._standby_down: dict[NodeAddr, float] = {}
        self.topology: Topology

    def shard_for(self, account_id: int) -> ShardLocation:
        """Which shard and node hold ``account_id`` (hash, shard id and range, node)."""
        _check_id("account_id", account_id)
        return self.topology.locate(account_id)

    def node_dsn(self, node: NodeAddr, *, standby: bool = False) -> str:
        """The DSN of a node's primary, or with standby=True of the standby at that address."""
        if standby:
            return make_conninfo(self.dsn, host=node.host, port=str(node.port), target_session_attrs="standby")
        override = self.node_dsns.get(str(node))
        if override:
            return override
        if node == self._coordinator:
            return self.dsn
        return make_conninfo(self.dsn, host=node.host, port=str(node.port))

    def explain_route(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> Route:
        """Where ``execute`` would run ``sql``, and why. Raises UnparsableSQL when it cannot tell."""
        return route(sql, params, self.topology)

    def _connect_kwargs(self) -> dict[str, Any]:
        # Keepalives and a TCP user timeout: a node whose machine vanished (no RST, no FIN) is
        # noticed within about 15 s, not the kernel's 15 minutes, and the call is retried.
        kwargs: dict[str, Any] = {"autocommit": True, "connect_timeout": self.connect_timeout,
                                  "keepalives": 1, "keepalives_idle": 5, "keepalives_interval": 2,
                                  "keepalives_count": 3, "tcp_user_timeout": 15000}
        if self.prepare is False:
            kwargs["prepare_threshold"] = None
        return kwargs

    def _prepare(self, proc_name: str, reads: str | None, kwargs: dict[str, Any]) -> _Call:
        proc = _BY_NAME.get(proc_name)
        if proc is None:
            raise FinshardError(f"finshard has no public function {proc_name}")
        if reads not in (None, "primary", "replica"):
            raise ValueError(f"reads must be 'primary' or 'replica', not {reads!r}")
        to_replica = (reads or self.reads) == "replica" and not proc.writes
        # Python keywords as parameter names: pass from_=..., the SQL parameter is p_from.
        kwargs = {k.rstrip("_"): v for k, v in kwargs.items()}
        allowed = {p for p, _t in proc.params}
        unknown = set(kwargs) - allowed
        if unknown:
            raise TypeError(f"{proc_name}() got unexpected arguments: {', '.join(sorted(unknown))}")
        # None leaves a parameter with a default to its default; one without is sent as NULL, so
        # the function says which (FS001) rather than PostgreSQL finding no such function.
        required = {p for p, _t in proc.params[:proc.required]}
        args = {k: v for k, v in kwargs.items() if v is not None or k in required}
        for name, sql_type in proc.params:
            value = args.get(name)
            if sql_type == "bigint" and value is not None:
                _check_id(name, value)
            elif isinstance(value, bool) and sql_type != "boolean":
                raise by_sqlstate["FS005"](f"{name} is a {sql_type}, not {value!r}", sqlstate="FS005")
        # A retry must not apply a write twice: give idempotent calls a key when the caller did not.
        if proc.idempotent_key and args.get(proc.idempotent_key) is None:
            args[proc.idempotent_key] = f"router-{uuid.uuid4()}"
        params = [_adapt(args[p]) for p, _t in proc.params if p in args]
        for value in params:
            if isinstance(value, str):
                try:
                    value.encode("utf-8")
                except UnicodeEncodeError:
                    raise by_sqlstate["FS005"](f"{proc_name}: a text argument is not valid Unicode ({value!r:.40})",
                                               sqlstate="FS005") from None
        safe = not proc.writes or proc.idempotent_key is not None
        return _Call(proc, args, _sql(proc, args), params, safe, to_replica)

    def _node_for(self, proc: Proc, args: dict[str, Any]) -> NodeAddr:
        if proc.route_by is None or args.get(proc.route_by) is None:
            return self.topology.coordinator
        node = self.topology.node_for_account(args[proc.route_by])
        # A node that failed recently: use the coordinator, which can reach every shard.
        if node in self._down and time.monotonic() - self._down[node] < 5.0:
            return self.topology.coordinator
        return node

    def _replicas_to_try(self, node: NodeAddr) -> list[NodeAddr]:
        return [r for r in self.topology.secondaries.get(node, [])
                if not (r in self._standby_down and time.monotonic() - self._standby_down[r] < 5.0)]

    def _lag_known(self, replica: NodeAddr) -> float | None:
        """A standby's lag read within the last second, or None when it must be read again."""
        cached = self._lag_cache.get(replica)
        return cached[1] if cached is not None and time.monotonic() - cached[0] <= 1.0 else None

    def _retry_pause(self, call: _Call, attempt: int, started: float) -> float | None:
        """How long to wait before the next attempt, or None when the call must not be retried."""
        # Exponential backoff with jitter, at most a second apart, so a failover is noticed soon.
        pause = min(1.0, self.backoff * float(2 ** min(attempt - 1, 10))) * (0.5 + random.random())
        if not call.safe_to_retry or attempt > self.retries or time.monotonic() - started + pause > self.retry_budget:
            return None
        return pause

    def _failure(self, node: NodeAddr, exc: FinshardError) -> str | None:
        """What a failed call says of its node: "down" (drop its pools, re-read the topology),
        "refresh" (re-read the topology only) or None."""
        log.warning("finshard router: %s on %s; retrying", exc, node)
        # 25006: a write reached a node that is now a standby (its group failed over).
        if exc.sqlstate is None or exc.sqlstate[:2] in ("08", "57") or exc.sqlstate == "25006":
            self._down[node] = time.monotonic()
            return "down"
        if exc.sqlstate == "XX000":
            # Citus relayed a lost connection to another node: this node is fine, the other may
            # have failed over, and Citus' metadata (read by refresh) names its new primary.
            return "refresh"
        return None


class Router(RouterMethods, _RouterCore):
    """Routes finshard calls to the right node. Create with ``Router.connect(dsn)``; close() or use ``with``."""

    def __init__(self, dsn: str, *, pool_size: int = 4, retries: int = 200, backoff: float = 0.05,
                 retry_budget: float = 60.0, node_dsns: dict[str, str] | None = None, connect_timeout: int = 5,
                 prepare: bool | None = None, reads: str = "primary", max_lag: float = 5.0) -> None:
        """dsn: the coordinator (or single node); with --ha, every member of its group and
        target_session_attrs=read-write (``finshard cluster dsn`` prints it). node_dsns maps
        "host:port" of a node, as Citus names it, to the DSN to reach it by (e.g. its pgbouncer).
        prepare=False disables server-side prepared statements (needed behind pgbouncer in
        transaction pooling).

        A call that is safe to retry (a read, or a write with an idempotency key) is retried on a
        lost connection or a failing-over node, with backoff, for up to ``retry_budget`` seconds
        (and ``retries`` attempts): an outage shorter than that is a pause, not an error.
        reads="replica" sends read-only calls to a standby of the node that would serve them,
        when its replay lag is at most ``max_lag`` seconds; otherwise to the primary. A call
        takes ``reads=`` too."""
        super().__init__(dsn, pool_size=pool_size, retries=retries, backoff=backoff, retry_budget=retry_budget,
                         node_dsns=node_dsns, connect_timeout=connect_timeout, prepare=prepare, reads=reads,
                         max_lag=max_lag)
        # (node, standby): a standby's pool is its own, even where its address was the primary's.
        self._pools: dict[tuple[NodeAddr, bool], ConnectionPool] = {}
        self.topology = _read_topology(self.dsn, self._coordinator, self.connect_timeout)

    # -- lifecycle -----------------------------------------------------------------------------
    @classmethod
    def connect(cls, dsn: str, **kwargs: Any) -> "Router":
        """Connect to the coordinator, read the topology (Citus or a single node) and return a Router."""
        return cls(dsn, **kwargs)

    def close(self) -> None:
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()

    def __enter__(self) -> "Router":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def refresh(self) -> Topology:
        """Read the topology again (after a shard move, a split, a node change)."""
        self.topology = _read_topology(self.dsn, self._coordinator, self.connect_timeout)
        return self.topology

    # -- pools -----------------------------------------------------------------------------------
    def _replica_for(self, node: NodeAddr) -> NodeAddr | None:
        """A standby of ``node`` whose replay lag is within max_lag (checked at most once a second)."""
        for replica in self._replicas_to_try(node):
            lag = self._lag_known(replica)
            if lag is None:
                # The primary's LSN first: a standby that stopped receiving is not caught up just
                # because it replayed what it had. Without it (the primary is unreachable), the
                # standby's own view, which is Infinity once its WAL receiver has lost the primary.
                lsn = None
                try:
                    with self._pool(node).connection() as conn:
                        lsn = conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()[0]  # type: ignore[index]
                except Exception:  # noqa: BLE001
                    pass
                try:
                    with self._pool(replica, standby=True).connection() as conn:
                        row = conn.execute("SELECT finshard.replica_lag(%s::pg_lsn)", (lsn,)).fetchone()
                except Exception as exc:  # noqa: BLE001 - an unreachable standby: the primary serves
                    log.info("finshard router: standby %s not usable (%s)", replica, exc)
                    self._standby_down[replica] = time.monotonic()
                    continue
                lag = float("inf") if row is None or row[0] is None else float(row[0])
                self._lag_cache[replica] = (time.monotonic(), lag)
            if lag <= self.max_lag:
                return replica
        return None

    def _pool(self, node: NodeAddr, *, standby: bool = False) -> ConnectionPool:
        pool = self._pools.get((node, standby))
        if pool is None:
            kwargs = self._connect_kwargs()
            # One direct connection first: a node that refuses connections fails now, not after the
            # pool's wait, so the call falls back to the coordinator at once.
            try:
                db.connect(self.node_dsn(node, standby=standby), **kwargs).close()
            except psycopg.Error as exc:
                raise TransientError(f"{node} unreachable: {str(exc).strip().splitlines()[0]}") from None
            # The pool opens its connections itself (psycopg_pool), with the same kwargs as the probe.
            pool = ConnectionPool(self.node_dsn(node, standby=standby), min_size=1, max_size=self.pool_size, kwargs=kwargs,
                                  open=True, timeout=10, name=f"finshard-{node}",
                                  check=_check_idle, configure=_decimal_json)
            self._pools[(node, standby)] = pool
        return pool

    def _drop_pools(self, node: NodeAddr, standbys: tuple[bool, ...] = (False, True)) -> None:
        for standby in standbys:
            pool = self._pools.pop((node, standby), None)
            if pool is not None:
                with _quiet_close():
                    pool.close(timeout=0)

    # -- calls -----------------------------------------------------------------------------------
    def call(self, proc_name: str, /, reads: str | None = None, **kwargs: Any) -> Any:
        """Call finshard.<name> with keyword arguments (names without p_; from_ for p_from).

        Money and quantities are Decimal (a float is refused). Raises finshard.errors classes.
        reads="replica" (or the router's default) lets a read-only call go to a standby.
        """
        call = self._prepare(proc_name, reads, kwargs)
        attempt = 0
        started = time.monotonic()
        while True:
            node = self._node_for(call.proc, call.args)
            if call.to_replica:
                replica = self._replica_for(node)
                if replica is not None:
                    try:
                        result = self._execute_proc(replica, call, standby=True)
                        self.last_node = replica
                        return result
                    except TransientError as exc:
                        # A standby that failed, was promoted or cannot run the call: the primary serves it.
                        log.info("finshard router: %s on standby %s; reading from the primary", exc, replica)
                        self._standby_down[replica] = time.monotonic()
                        self._drop_pools(replica, (True,))
            try:
                result = self._execute_proc(node, call)
                self.last_node = node
                return result
            except TransientError as exc:
                attempt += 1
                self._note_failure(node, exc)
                pause = self._retry_pause(call, attempt, started)
                if pause is None:
                    raise
                time.sleep(pause)

    def _execute_proc(self, node: NodeAddr, call: _Call, *, standby: bool = False) -> Any:
        pool = self._pool(node, standby=standby)
        try:
            with pool.connection() as conn:
                if call.proc.returns in ("rows", "row"):
                    with conn.cursor(row_factory=dict_row) as cur:
                        cur.execute(call.sql, call.params)
                        return _result(call.proc, cur.fetchall())
                return _result(call.proc, conn.execute(call.sql, call.params).fetchone())
        except psycopg.Error as exc:
            raise translate(exc) from None
        except Exception as exc:  # pool timeouts, OS errors: the node is unreachable
            if type(exc).__name__ in {"PoolTimeout", "TooManyRequests"} or isinstance(exc, OSError):
                raise TransientError(f"{node} unreachable: {exc}") from None
            raise

    def _note_failure(self, node: NodeAddr, exc: FinshardError) -> None:
        kind = self._failure(node, exc)
        if kind == "down":
            self._drop_pools(node)
        if kind is not None:
            try:
                self.refresh()
            except TopologyError:
                pass

    # -- sessions ------------------------------------------------------------------------------------
    def session(self, token: str) -> "SessionRouter":
        """This router acting for the end user of ``token`` (from ``login``): every call that takes a
        session carries it, and the database checks it on the node that runs the call."""
        _check_token(token)
        return SessionRouter(self, token)

    # -- SQL routing -------------------------------------------------------------------------------
    def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Run one statement on the node its route names (autocommit); returns rows as dicts."""
        decision = self.explain_route(sql, params)
        try:
            with self._pool(decision.node).connection() as conn:
                with conn.cursor(row_factory=dict_row) as cur:
                    cur.execute(sql, params, prepare=_execute_prepare(self.topology))
                    return cur.fetchall() if cur.description else []
        except psycopg.Error as exc:
            raise translate(exc) from None


class SessionRouter(RouterMethods):
    """A Router bound to one end user's session: ``router.session(token)``. Methods are the Router's,
    typed the same; those of functions that act for an end user pass ``session=token`` unless the
    call names another."""

    def __init__(self, router: Router, token: str) -> None:
        self.router = router
        self.token = token

    def call(self, proc_name: str, /, reads: str | None = None, **kwargs: Any) -> Any:
        proc = _BY_NAME.get(proc_name)
        if proc is not None and any(p == "session" for p, _t in proc.params) and kwargs.get("session") is None:
            kwargs["session"] = self.token
        return self.router.call(proc_name, reads=reads, **kwargs)

    if not TYPE_CHECKING:
        # The rest of the router (shard_for, topology, ...) at run time; hidden from type checkers,
        # so that a misspelt method is an error there.
        def __getattr__(self, name: str) -> Any:
            return getattr(self.router, name)


def _read_topology(dsn: str, coordinator: NodeAddr, connect_timeout: int) -> Topology:
    """The topology, read from the coordinator (both routers use this; the async one in a thread)."""
    try:
        with db.connect(dsn, connect_timeout=connect_timeout) as conn:
            topo = Topology.read(conn, coordinator)
            if not topo.citus:
                # One node with standbys (--ha without Citus): the DSN's other hosts.
                info = conninfo_to_dict(dsn)
                hosts = str(info.get("host") or "").split(",")
                ports = str(info.get("port") or "").split(",")
                if len(hosts) > 1:
                    ports = ports if len(ports) == len(hosts) else [ports[0]] * len(hosts)
                    current = (str(conn.info.host), int(conn.info.port))
                    topo.secondaries[coordinator] = [NodeAddr(h, int(p)) for h, p in zip(hosts, ports)
                                                     if (h, int(p)) != current]
            return topo
    except psycopg.Error as exc:
        raise TopologyError(f"cannot read the topology from {coordinator}: {translate(exc)}") from None


def _result(proc: Proc, fetched: Any) -> Any:
    """A call's result from what its statement fetched: rows, one row, a scalar or nothing."""
    if proc.returns == "rows":
        return fetched
    if proc.returns == "row":
        return fetched[0] if fetched else None
    return None if proc.returns == "void" or fetched is None else fetched[0]


def _execute_prepare(topology: Topology) -> bool | None:
    # Not prepared on Citus: Citus 13.2 keeps one more local plan per execution of a prepared
    # single-shard statement on the node holding the shard (Citus pull request 8824); measured
    # 27 kB per execution, for as long as the pooled connection lives.
    return False if topology.citus else None


def _check_token(token: Any) -> None:
    if not isinstance(token, str) or not token:
        raise TypeError("a session token is a non-empty str (the token finshard.login returned)")


def _check_id(name: str, value: Any) -> None:
    # An id is an integer: the SQL cast would round 26.6 to 27, and routing would truncate it to 26.
    if isinstance(value, bool) or not isinstance(value, int):
        raise by_sqlstate["FS005"](f"{name} must be an integer id, not {value!r}", sqlstate="FS005")
    if not -(2**63) <= value < 2**63:
        raise by_sqlstate["FS005"](f"{name} {value} is outside bigint", sqlstate="FS005")


class _NoStopWarning(logging.Filter):
    """A dropped pool is closed without waiting (timeout=0), on purpose: psycopg_pool's warning
    that its threads (or, async, its tasks) did not stop within 0 seconds says nothing then."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(("couldn't stop thread", "couldn't stop task"))


@contextlib.contextmanager
def _quiet_close() -> Iterator[None]:
    pool_log = logging.getLogger("psycopg.pool")
    quiet = _NoStopWarning()
    pool_log.addFilter(quiet)
    try:
        yield
    finally:
        pool_log.removeFilter(quiet)


_json_loads = functools.partial(json.loads, parse_float=Decimal)


def _decimal_json(conn: psycopg.Connection[Any]) -> None:
    """Numbers in jsonb results (user_analytics' sums, replays) as Decimal: money never passes
    through a float."""
    set_json_loads(_json_loads, conn)


def _check_idle(conn: psycopg.Connection[Any]) -> None:
    """The pool's check on checkout, without a round trip for a healthy connection.

    An idle autocommit connection receives nothing unless its server ended it (terminated
    backend, shutdown, crash: an error message or EOF is waiting on the socket). So only a
    readable socket costs a round trip (psycopg_pool's check_connection), which raises when the
    connection is dead and the pool replaces it. A silently lost network path is not seen here;
    the call then fails with a connection error, retried when the call is safe to retry.
    poll(), not select(): select() refuses descriptors above 1023, which busy applications reach.
    """
    if conn.closed or conn.broken:
        raise psycopg.OperationalError("the connection is closed")
    poller = select.poll()
    poller.register(conn.fileno(), select.POLLIN | select.POLLPRI)
    if poller.poll(0):
        ConnectionPool.check_connection(conn)


def _sql(proc: Proc, args: dict[str, Any]) -> str:
    # Named notation so SQL defaults apply; explicit casts so psycopg's int2/numeric guesses
    # never pick another overload. SELECT * FROM f(...) is delegated by Citus like SELECT f(...).
    named = ", ".join(f"p_{p} => %s::{t}" for p, t in proc.params if p in args)
    if proc.returns in ("rows", "row"):
        return f"SELECT * FROM finshard.{proc.name}({named})"
    return f"SELECT finshard.{proc.name}({named})"


def _adapt(value: Any) -> Any:
    if isinstance(value, float):
        # Money is exact: a float would carry binary noise into numeric.
        raise TypeError(f"pass money and quantities as Decimal or str, not float ({value!r})")
    if isinstance(value, (dict, list)):
        return Jsonb(value)
    return value


_BY_NAME = BY_NAME
