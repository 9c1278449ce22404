"""Benchmarks: ratios measured side by side in one run (absolute numbers drift on shared machines).

Throughput comparisons use pgbench for both sides (same C client, same protocol, same clients and
duration), alternating A B A B so that drift hits both. Router comparisons use the same Python
harness on both sides. Nothing here asserts on time.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import re
import statistics
import subprocess
import tempfile
import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from finshard.local.postgres import find_pg_bin

__all__ = ["run", "format_result", "pgbench", "make_accounts", "transfer_vs_pgbench", "same_vs_cross_node",
           "router_overhead", "direct_vs_coordinator", "orders_vs_transfers", "quote_fill_cost"]

_TPS = re.compile(r"tps = ([0-9.]+) \(without initial connection time\)")


def libpq_env(dsn: str) -> dict[str, str]:
    """The environment for a libpq program given host and port apart: the DSN's TLS and password file."""
    info = conninfo_to_dict(dsn)
    env = dict(os.environ)
    for key, var in (("sslmode", "PGSSLMODE"), ("sslrootcert", "PGSSLROOTCERT"), ("passfile", "PGPASSFILE"),
                     ("password", "PGPASSWORD")):
        if info.get(key):
            env[var] = str(info[key])
    return env


def pgbench(dsn: str, scripts: list[str] | None, *, clients: int, seconds: float, builtin: str | None = None,
            variables: dict[str, Any] | None = None, protocol: str = "simple") -> float:
    """Run pgbench for ``seconds`` and return its tps (excluding connection time)."""
    info = conninfo_to_dict(dsn)
    cmd = [str(find_pg_bin() / "pgbench"), "-n", "-c", str(clients), "-j", str(min(clients, 2)), "-T", str(max(1, int(seconds))),
           "-h", str(info.get("host", "127.0.0.1")), "-p", str(info.get("port", 5432)), "-U", str(info.get("user", "postgres")),
           "-M", protocol, str(info.get("dbname", "finshard"))]
    if builtin:
        cmd += ["-b", builtin]
    with tempfile.TemporaryDirectory() as tmp:
        for i, text in enumerate(scripts or []):
            path = Path(tmp) / f"s{i}.sql"
            path.write_text(text)
            cmd += ["-f", str(path)]
        for k, v in (variables or {}).items():
            cmd += ["-D", f"{k}={v}"]
        res = subprocess.run(cmd, capture_output=True, text=True, env=libpq_env(dsn))
    match = _TPS.search(res.stdout)
    if res.returncode != 0 or not match:
        raise RuntimeError(f"pgbench failed: {(res.stderr or res.stdout).strip()[-400:]}")
    return float(match.group(1))


def make_accounts(dsn: str, count: int, *, deposit: str = "1000000000.00", currency: str = "USD") -> list[int]:
    """``count`` funded accounts with consecutive ids (one session, one sequence), created server-side."""
    tag = uuid.uuid4().hex[:10]
    with psycopg.connect(dsn, autocommit=True) as conn:
        ids = [r[0] for r in conn.execute(
            "SELECT finshard.open_account(finshard.create_user('bench' || %s || i, 'bench' || %s || i || '@example.com', 'benchmark-pw'), %s) "
            "FROM generate_series(1, %s) i", (tag, tag, currency, count)).fetchall()]
        for acc in ids:
            conn.execute("SELECT finshard.deposit(%s::bigint, %s::numeric)", (acc, Decimal(deposit)))
    return sorted(ids)


def _alternate(a: Callable[[], float], b: Callable[[], float], rounds: int = 2) -> tuple[float, float]:
    xs, ys = [], []
    for _ in range(rounds):
        xs.append(a())
        ys.append(b())
    return statistics.mean(xs), statistics.mean(ys)


def transfer_vs_pgbench(dsn: str, *, clients: int = 8, seconds: float = 10, accounts: int = 1000, scale: int = 10,
                        rounds: int = 3) -> dict[str, Any]:
    """finshard.transfer vs pgbench's built-in tpcb-like on the same server, clients and duration.

    tpcb-like runs in its own database on the same server (scale ``scale``: that many branches, so
    its branch-row contention is that of a real bank, not of one row); finshard's transfers pick two
    random accounts of ``accounts`` with pgbench's own random(), in autocommit. Both finshard runs
    use the default notification delivery (auto). Each round runs tpcb-like, then transfers with no
    dispatcher (every transfer sends its notifications at commit), then transfers with a registered
    dispatcher running alongside (they queue them; its cost is counted).
    """
    info = conninfo_to_dict(dsn)
    admin = make_conninfo(dsn, dbname="postgres")
    cmp_dsn = make_conninfo(dsn, dbname="finshard_pgbench")
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = 'finshard_pgbench'").fetchone():
            conn.execute("CREATE DATABASE finshard_pgbench")
    subprocess.run([str(find_pg_bin() / "pgbench"), "-i", "-q", "-s", str(scale), "-h", str(info.get("host", "127.0.0.1")),
                    "-p", str(info.get("port", 5432)), "-U", str(info.get("user", "postgres")), "finshard_pgbench"],
                   check=True, capture_output=True, env=libpq_env(dsn))
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT finshard.set_notify_delivery('auto')")
        conn.execute("SELECT finshard.dispatch_notifications(1000000)")
    ids = make_accounts(dsn, accounts)
    base, span = ids[0], len(ids)
    if ids[-1] - ids[0] + 1 != span:
        raise RuntimeError("bench accounts are not consecutive; run on a quiet database")
    script = ("\\set f random(0, :n - 1)\n\\set d random(1, :n - 1)\n\\set src :base + :f\n\\set dst :base + ((:f + :d) % :n)\n"
              "SELECT finshard.transfer(:src::bigint, :dst::bigint, 0.01);\n")

    def finshard_run() -> float:
        return pgbench(dsn, [script], clients=clients, seconds=seconds, variables={"n": span, "base": base})

    def dispatcher_run() -> float:
        # The default delivery (auto) queues while a dispatcher is registered on the node.
        with _dispatcher(dsn):
            return finshard_run()

    tpcb, alone, queued = [], [], []
    for _ in range(rounds):
        tpcb.append(pgbench(cmp_dsn, None, clients=clients, seconds=seconds, builtin="tpcb-like"))
        alone.append(finshard_run())
        queued.append(dispatcher_run())
    t = statistics.mean(tpcb)
    return {"benchmark": "transfer vs pgbench tpcb-like", "clients": clients, "seconds_each": seconds, "rounds": rounds,
            "pgbench_scale": scale, "accounts": span, "tpcb_like_tps": round(t, 1),
            "finshard_transfer_no_dispatcher_tps": round(statistics.mean(alone), 1),
            "ratio_no_dispatcher": round(statistics.mean(alone) / t, 3),
            "finshard_transfer_with_dispatcher_tps": round(statistics.mean(queued), 1),
            "ratio_with_dispatcher": round(statistics.mean(queued) / t, 3),
            "ratio_with_dispatcher_per_round": [round(d / x, 3) for d, x in zip(queued, tpcb)],
            "target": ">= 1.0"}


class _dispatcher:
    """The product's dispatcher (finshard.ops.dispatcher.follow, as ``finshard notifications dispatch
    --follow`` runs it, with its default interval) in a thread while the block runs."""

    def __init__(self, dsn: str) -> None:
        import threading

        from finshard.ops import dispatcher

        self.stop = threading.Event()
        self.states: list[str] = []
        self.ready = threading.Event()

        def report(message: str) -> None:
            self.states.append(message)
            if message.startswith(("registered ", "another dispatcher ")):
                self.ready.set()

        self.thread = threading.Thread(target=dispatcher.follow, args=(dsn,),
                                       kwargs={"stop": self.stop, "report": report}, daemon=True)

    def __enter__(self) -> "_dispatcher":
        self.thread.start()
        if not self.ready.wait(10) or self.states[-1] != "registered as this node's dispatcher":
            self.__exit__()
            raise RuntimeError(f"the notification dispatcher did not register: {self.states}")
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()


def session_cost(dsn: str, *, clients: int = 8, seconds: float = 8, accounts: int = 1000, rounds: int = 3,
                 baseline_dsn: str | None = None) -> dict[str, Any]:
    """transfer acting for an end user (a finshard_app login passing p_session) vs the same transfer
    by a superuser acting as itself (no session), on the same accounts, server and clients, in
    alternating rounds, with the node's dispatcher running (the documented way under load); in
    pgbench's simple and prepared protocols. With ``baseline_dsn`` (another database on the same
    server holding an earlier finshard), its transfer runs in the same rounds, with its own dispatcher."""
    ids = make_accounts(dsn, accounts)
    base_ids = make_accounts(baseline_dsn, accounts) if baseline_dsn else []
    base, span = ids[0], len(ids)
    if ids[-1] - ids[0] + 1 != span:
        raise RuntimeError("bench accounts are not consecutive; run on a quiet database")
    tag = uuid.uuid4().hex[:8]
    login = f"bench_app_{tag}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        # One owner for every bench account, so that one session may debit any of them.
        owner = conn.execute("SELECT finshard.create_user(%s, %s, 'benchmark-pw')", (f"bench{tag}", f"bench{tag}@example.com")).fetchone()[0]  # type: ignore[index]
        conn.execute("UPDATE finshard.accounts SET user_id = %s WHERE account_id = ANY (%s)", (owner, ids))
        conn.execute(f'CREATE ROLE "{login}" LOGIN IN ROLE finshard_app')
        conn.execute(f'SET ROLE "{login}"')
        token = conn.execute("SELECT token FROM finshard.login(%s, 'benchmark-pw', interval '1 day')", (f"bench{tag}",)).fetchone()[0]  # type: ignore[index]
    pick = "\\set f random(0, :n - 1)\n\\set d random(1, :n - 1)\n\\set src :base + :f\n\\set dst :base + ((:f + :d) % :n)\n"
    without = pick + "SELECT finshard.transfer(:src::bigint, :dst::bigint, 0.01);\n"
    # pgbench puts a variable's text in place in the simple protocol, and sends it as a parameter in the prepared one.
    with_session = {"simple": pick + "SELECT finshard.transfer(:src::bigint, :dst::bigint, 0.01, p_session => ':tok');\n",
                    "prepared": pick + "SELECT finshard.transfer(:src::bigint, :dst::bigint, 0.01, p_session => :tok::text);\n"}
    app_dsn = make_conninfo(dsn, user=login)
    out: dict[str, Any] = {"benchmark": "transfer with an end user's session vs without", "clients": clients,
                           "seconds_each": seconds, "rounds": rounds, "accounts": span, "dispatcher": "running"}
    variables = {"n": span, "base": base, "tok": token}
    from contextlib import nullcontext
    try:
        with _dispatcher(dsn), (_dispatcher(baseline_dsn) if baseline_dsn else nullcontext()):
            for protocol in ("simple", "prepared"):
                plain_tps, session_tps, base_tps = [], [], []
                for _ in range(rounds):
                    if baseline_dsn:
                        base_tps.append(pgbench(baseline_dsn, [without], clients=clients, seconds=seconds, protocol=protocol,
                                                variables={"n": len(base_ids), "base": base_ids[0]}))
                    plain_tps.append(pgbench(dsn, [without], clients=clients, seconds=seconds, variables=variables, protocol=protocol))
                    session_tps.append(pgbench(app_dsn, [with_session[protocol]], clients=clients, seconds=seconds,
                                               variables=variables, protocol=protocol))
                a, b = statistics.mean(plain_tps), statistics.mean(session_tps)
                out[protocol] = {"without_session_tps": round(a, 1), "with_session_tps": round(b, 1), "ratio": round(b / a, 3),
                                 "ratio_per_round": [round(y / x, 3) for x, y in zip(plain_tps, session_tps)]}
                if baseline_dsn:
                    c = statistics.mean(base_tps)
                    out[protocol].update({"baseline_tps": round(c, 1), "with_session_vs_baseline": round(b / c, 3),
                                          "without_session_vs_baseline": round(a / c, 3)})
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'DROP OWNED BY "{login}"')
            conn.execute(f'DROP ROLE "{login}"')
    out["target"] = ">= 0.95"
    return out


def _accounts_by_node(dsn: str, ids: list[int]) -> dict[str, list[int]]:
    from finshard.router import Router

    with Router.connect(dsn) as r:
        groups: dict[str, list[int]] = {}
        for acc in ids:
            groups.setdefault(str(r.shard_for(acc).node), []).append(acc)
    return groups


def _pair_scripts(pairs: list[tuple[int, int]]) -> list[str]:
    return [f"SELECT finshard.transfer({a}::bigint, {b}::bigint, 0.01);\n" for a, b in pairs]


def _pgbench_on_nodes(dsn: str, scripts_by_node: dict[str, list[str]], clients: int, seconds: float) -> float:
    """pgbench on each node at once, its clients connected to that node (the router's path), the
    ``clients`` split evenly; returns the summed tps."""
    import threading

    results: dict[str, float] = {}
    errors: list[BaseException] = []
    share = max(1, clients // len(scripts_by_node))

    def one(node: str) -> None:
        host, port = node.rsplit(":", 1)
        try:
            results[node] = pgbench(make_conninfo(dsn, host=host, port=port), scripts_by_node[node], clients=share,
                                    seconds=seconds)
        except BaseException as exc:  # re-raised below, in the caller's thread
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(node,)) for node in scripts_by_node]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return sum(results.values())


def same_vs_cross_node(dsn: str, *, clients: int = 8, seconds: float = 10, accounts: int = 400, scripts: int = 64,
                       paths: tuple[str, ...] = ("direct", "coordinator")) -> dict[str, Any]:
    """On Citus: transfers whose two accounts share a worker vs transfers across workers (2PC),
    measured on two paths with the same clients and pairs.

    direct: each session is on the worker holding the source account, as the router connects.
    via coordinator: every session on the coordinator, which delegates the call to that worker.
    Citus does not cache connections in a backend serving another node's connection, so there a
    cross-node transfer opens a new worker-to-worker connection (and a new backend) every time,
    unless the nodes reach each other through pgbouncer (pg_dist_poolinfo; see finshard.local.pgbouncer).
    """
    import random

    groups = _accounts_by_node(dsn, make_accounts(dsn, accounts))
    nodes = sorted(groups)
    if len(nodes) < 2:
        raise RuntimeError("same vs cross node needs at least two worker nodes (a Citus cluster)")
    rng = random.Random(1)
    same: dict[str, list[tuple[int, int]]] = {n: [] for n in nodes}
    cross: dict[str, list[tuple[int, int]]] = {n: [] for n in nodes}
    for i in range(scripts):
        a, b = nodes[i % len(nodes)], nodes[(i + 1) % len(nodes)]
        same[a].append(tuple(rng.sample(groups[a], 2)))  # type: ignore[arg-type]
        cross[a].append((rng.choice(groups[a]), rng.choice(groups[b])))

    def direct(pairs: dict[str, list[tuple[int, int]]]) -> Callable[[], float]:
        return lambda: _pgbench_on_nodes(dsn, {n: _pair_scripts(p) for n, p in pairs.items()}, clients, seconds)

    def coordinator(pairs: dict[str, list[tuple[int, int]]]) -> Callable[[], float]:
        return lambda: pgbench(dsn, _pair_scripts([x for p in pairs.values() for x in p]), clients=clients, seconds=seconds)

    out: dict[str, Any] = {"benchmark": "same-node vs cross-node transfers (Citus)", "clients": clients,
                           "seconds_each": seconds}
    if "direct" in paths:
        s, c = _alternate(direct(same), direct(cross))
        out.update(direct_same_node_tps=round(s, 1), direct_cross_node_tps=round(c, 1), ratio=round(c / s, 3))
    if "coordinator" in paths:
        cs, cc = _alternate(coordinator(same), coordinator(cross))
        out.update(via_coordinator_same_node_tps=round(cs, 1), via_coordinator_cross_node_tps=round(cc, 1),
                   ratio_via_coordinator=round(cc / cs, 3))
    out["target"] = ">= 0.5"
    return out


def orders_vs_transfers(dsn: str, *, clients: int = 8, seconds: float = 10, accounts: int = 400) -> dict[str, Any]:
    """place_order (immediately filled market buys) vs transfer, same server, clients, duration."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT finshard.set_notify_delivery('auto')")
        conn.execute("SELECT finshard.dispatch_notifications(1000000)")
    ids = make_accounts(dsn, accounts)
    base, span = ids[0], len(ids)
    with psycopg.connect(dsn, autocommit=True) as conn:
        sym = "B" + uuid.uuid4().hex[:8].upper()
        iid = conn.execute("SELECT finshard.create_instrument(%s, 'Bench Corp')", (sym,)).fetchone()[0]  # type: ignore[index]
        conn.execute("SELECT finshard.update_quote(%s::bigint, 99.99, 1e9, 100.01, 1e9)", (iid,))
    order = ("\\set f random(0, :n - 1)\n\\set acc :base + :f\n"
             f"SELECT finshard.place_order(:acc::bigint, {iid}::bigint, 'market', 'buy', 1);\n")
    transfer = ("\\set f random(0, :n - 1)\n\\set d random(1, :n - 1)\n\\set src :base + :f\n\\set dst :base + ((:f + :d) % :n)\n"
                "SELECT finshard.transfer(:src::bigint, :dst::bigint, 0.01);\n")
    v = {"n": span, "base": base}
    t, o = _alternate(lambda: pgbench(dsn, [transfer], clients=clients, seconds=seconds, variables=v),
                      lambda: pgbench(dsn, [order], clients=clients, seconds=seconds, variables=v))
    return {"benchmark": "place_order (filled market buy) vs transfer", "clients": clients, "seconds_each": seconds,
            "transfer_tps": round(t, 1), "place_order_tps": round(o, 1), "ratio": round(o / t, 3), "target": ">= 0.8"}


def quote_fill_cost(dsn: str, *, sizes: tuple[int, ...] = (10, 100, 1000)) -> dict[str, Any]:
    """Time of one update_quote that fills N resting limit orders spread over every shard."""
    out: dict[str, Any] = {"benchmark": "update_quote filling N resting orders", "results": []}
    baseline_ms = None
    for n in sizes:
        ids = make_accounts(dsn, n, deposit="100000.00")
        with psycopg.connect(dsn, autocommit=True) as conn:
            sym = "R" + uuid.uuid4().hex[:8].upper()
            iid = conn.execute("SELECT finshard.create_instrument(%s, 'Resting Corp')", (sym,)).fetchone()[0]  # type: ignore[index]
            conn.execute("SELECT finshard.update_quote(%s::bigint, 99.00, 1e6, 101.00, 1e6)", (iid,))
            for acc in ids:
                conn.execute("SELECT finshard.place_order(%s::bigint, %s::bigint, 'limit', 'buy', 1, 100.00)", (acc, iid))
            if baseline_ms is None:
                start = time.perf_counter()
                conn.execute("SELECT finshard.update_quote(%s::bigint, 99.00, 1e6, 101.00, 1e6)", (iid,))
                baseline_ms = (time.perf_counter() - start) * 1000
            start = time.perf_counter()
            filled = conn.execute("SELECT finshard.update_quote(%s::bigint, 99.50, 1e6, 99.90, 1e6)", (iid,)).fetchone()[0]  # type: ignore[index]
            ms = (time.perf_counter() - start) * 1000
        out["results"].append({"n": n, "filled": filled, "ms": round(ms, 1), "ms_per_order": round(ms / max(filled, 1), 2)})
    out["no_fill_update_quote_ms"] = round(baseline_ms or 0, 1)
    return out


def _router_worker(args: tuple[str, dict[str, str] | None, list[int], float, bool, Any]) -> int:
    dsn, node_dsns, ids, seconds, prepare_off, start_evt = args
    import random

    from finshard.router import Router

    rng = random.Random()
    count = 0
    kwargs: dict[str, Any] = {"node_dsns": node_dsns}
    if prepare_off:
        kwargs["prepare"] = False
    with Router.connect(dsn, pool_size=1, **kwargs) as r:
        start_evt.wait()
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            a, b = rng.sample(ids, 2)
            r.transfer(from_account_id=a, to_account_id=b, amount=Decimal("0.01"), idempotency_key=uuid.uuid4().hex)
            count += 1
    return count


def _router_tps(dsn: str, node_dsns: dict[str, str] | None, ids: list[int], clients: int, seconds: float, prepare_off: bool = False) -> float:
    ctx = mp.get_context("spawn")
    with ctx.Manager() as manager:
        evt = manager.Event()
        with ctx.Pool(clients) as pool:
            result = pool.map_async(_router_worker, [(dsn, node_dsns, ids, seconds, prepare_off, evt)] * clients)
            time.sleep(1.5)
            evt.set()
            return sum(result.get(seconds + 60)) / seconds


def direct_vs_coordinator(dsn: str, *, clients: int = 8, seconds: float = 8, accounts: int = 400,
                          pgbouncer_dsns: dict[str, str] | None = None) -> dict[str, Any]:
    """Router straight to each account's worker vs the same router sending everything to the coordinator
    (which delegates), on two workloads: transfers between random accounts of the whole cluster (about
    half cross workers with 2 workers) and transfers within one worker; optionally also through pgbouncer."""
    from finshard.router import Router

    groups = _accounts_by_node(dsn, make_accounts(dsn, accounts))
    everyone = sorted(a for ids in groups.values() for a in ids)
    one_node = max(groups.values(), key=len)  # no 2PC on either side
    with Router.connect(dsn) as r:
        via_coordinator = {str(n): dsn for n in r.topology.nodes}
    direct, coord = _alternate(lambda: _router_tps(dsn, None, everyone, clients, seconds),
                               lambda: _router_tps(dsn, via_coordinator, everyone, clients, seconds))
    direct_one, coord_one = _alternate(lambda: _router_tps(dsn, None, one_node, clients, seconds),
                                       lambda: _router_tps(dsn, via_coordinator, one_node, clients, seconds))
    out: dict[str, Any] = {"benchmark": "router direct-to-worker vs through the coordinator", "clients": clients,
                           "seconds_each": seconds,
                           "random_pairs_direct_tps": round(direct, 1), "random_pairs_via_coordinator_tps": round(coord, 1),
                           "ratio": round(direct / coord, 3),
                           "same_node_direct_tps": round(direct_one, 1), "same_node_via_coordinator_tps": round(coord_one, 1),
                           "ratio_same_node": round(direct_one / coord_one, 3), "target": ">= 1.3"}
    if pgbouncer_dsns:
        first = next(iter(pgbouncer_dsns.values()))
        bounced = _router_tps(first, pgbouncer_dsns, everyone, clients, seconds, prepare_off=True)
        out["random_pairs_via_pgbouncer_tps"] = round(bounced, 1)
        out["pgbouncer_vs_direct"] = round(bounced / direct, 3)
    return out


def router_overhead(dsn: str, *, iterations: int = 1500) -> dict[str, Any]:
    """Latency of router.transfer vs a raw psycopg SELECT finshard.transfer on an equivalent
    connection (autocommit, same node, same casts, same idempotency key work), interleaved."""
    from finshard.router import Router

    ids = make_accounts(dsn, 20)
    with Router.connect(dsn) as r:
        a = ids[0]
        same_node = [b for b in ids[1:] if r.shard_for(b).node == r.shard_for(a).node] or ids[1:]
        node_dsn = r.node_dsn(r.shard_for(a).node)
        raw = psycopg.connect(node_dsn, autocommit=True)
        sql = ("SELECT * FROM finshard.transfer(p_from_account_id => %s::bigint, p_to_account_id => %s::bigint, "
               "p_amount => %s::numeric, p_idempotency_key => %s::text)")
        raw_t: list[float] = []
        router_t: list[float] = []
        for i in range(iterations + 100):
            b = same_node[i % len(same_node)]
            k1, k2 = uuid.uuid4().hex, uuid.uuid4().hex
            t0 = time.perf_counter()
            raw.execute(sql, (a, b, Decimal("0.01"), k1)).fetchone()
            t1 = time.perf_counter()
            r.transfer(from_account_id=a, to_account_id=b, amount=Decimal("0.01"), idempotency_key=k2)
            t2 = time.perf_counter()
            if i >= 100:  # warm-up: plans cached, pools full
                raw_t.append(t1 - t0)
                router_t.append(t2 - t1)
        raw.close()
    return {"benchmark": "router.transfer vs raw psycopg call (1 client, interleaved)", "iterations": iterations,
            "raw_median_ms": round(statistics.median(raw_t) * 1000, 3), "router_median_ms": round(statistics.median(router_t) * 1000, 3),
            "raw_mean_ms": round(statistics.mean(raw_t) * 1000, 3), "router_mean_ms": round(statistics.mean(router_t) * 1000, 3),
            "ratio_median": round(statistics.median(router_t) / statistics.median(raw_t), 3),
            "ratio_mean": round(statistics.mean(router_t) / statistics.mean(raw_t), 3), "target": "<= 1.10"}


def run(what: str, dsn: str, *, seconds: float = 5, clients: int = 8) -> dict[str, Any]:
    """The quick benchmarks behind `finshard bench` (bench/ holds the full runs)."""
    if what == "transfer":
        return transfer_vs_pgbench(dsn, clients=clients, seconds=seconds)
    if what == "router":
        return router_overhead(dsn, iterations=500)
    if what == "orders":
        return orders_vs_transfers(dsn, clients=clients, seconds=seconds)
    raise ValueError(what)


def format_result(result: dict[str, Any]) -> str:
    lines = [result.get("benchmark", "")]
    for key, value in result.items():
        if key != "benchmark":
            lines.append(f"  {key}: {value}")
    return "\n".join(lines)
