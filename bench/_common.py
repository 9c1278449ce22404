"""Shared by the bench scripts: a local cluster to run against (or --dsn), printing, pgbench and
the router driven side by side. Ratios are measured in one run, alternating rounds (absolute
numbers drift on shared machines); nothing here asserts on time.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from finshard import db
from finshard.local import pgbouncer
from finshard.local.cluster import Cluster
from finshard.local.postgres import find_pg_bin
from finshard.ops import dispatcher
from finshard.ops.installer import install
from finshard.router import Router

_TPS = re.compile(r"tps = ([0-9.]+) \(without initial connection time\)")


def cluster_from_args(description: str, *, extra: Sequence[tuple[str, dict[str, Any]]] = ()) -> tuple[argparse.Namespace, Cluster | None, str]:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--dir", default="/tmp/finshard-bench", help="local cluster directory (created when missing)")
    p.add_argument("--dsn", default=None, help="use this server instead of a local cluster")
    p.add_argument("--no-citus", action="store_true", help="a plain PostgreSQL node")
    p.add_argument("--seconds", type=float, default=10)
    p.add_argument("--clients", type=int, default=8)
    for flag, kw in extra:
        p.add_argument(flag, **kw)
    args = p.parse_args()
    if args.dsn:
        return args, None, args.dsn
    cluster = Cluster.up(args.dir + ("-plain" if args.no_citus else ""), use_citus=False if args.no_citus else None)
    install(cluster.dsn(), shard_count=32 if cluster.citus else None)
    return args, cluster, cluster.dsn()


def show(result: dict[str, Any]) -> None:
    print(json.dumps(result, indent=2, default=str))
    sys.stdout.flush()


@contextmanager
def nodes_through_pgbouncer(cluster: Cluster) -> Iterator[None]:
    """A pgbouncer in front of every node and the nodes reaching each other through them
    (finshard pgbouncer nodes on) for the block; afterwards the cluster is as it was."""
    was_managed = cluster.pgbouncer
    pgbouncer.start_all(cluster)
    pgbouncer.set_node_pooling(cluster, True)
    try:
        yield
    finally:
        pgbouncer.set_node_pooling(cluster, False)
        pgbouncer.stop_all(cluster)
        cluster.pgbouncer = was_managed
        cluster.save()


def libpq_env(dsn: str) -> dict[str, str]:
    """The environment for a libpq program given host and port apart: the DSN's TLS and password file."""
    info = db.conninfo_to_dict(dsn)
    env = dict(os.environ)
    for key, var in (("sslmode", "PGSSLMODE"), ("sslrootcert", "PGSSLROOTCERT"), ("passfile", "PGPASSFILE"),
                     ("password", "PGPASSWORD")):
        if info.get(key):
            env[var] = str(info[key])
    return env


def pgbench(dsn: str, scripts: list[str] | None, *, clients: int, seconds: float, builtin: str | None = None,
            variables: dict[str, Any] | None = None, protocol: str = "simple") -> float:
    """Run pgbench for ``seconds`` and return its tps (excluding connection time)."""
    info = db.conninfo_to_dict(dsn)
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
    with db.connect(dsn) as conn:
        ids = [r[0] for r in conn.execute(
            "SELECT finshard.open_account(finshard.create_user('bench' || %s || i, 'bench' || %s || i || '@example.com', 'benchmark-pw'), %s) "
            "FROM generate_series(1, %s) i", (tag, tag, currency, count)).fetchall()]
        for acc in ids:
            conn.execute("SELECT finshard.deposit(%s::bigint, %s::numeric)", (acc, Decimal(deposit)))
    return sorted(ids)


def alternate(a: Callable[[], float], b: Callable[[], float], rounds: int = 2) -> tuple[float, float]:
    """Mean results of ``a`` and ``b`` run in turn, A B A B, so that drift hits both."""
    xs, ys = [], []
    for _ in range(rounds):
        xs.append(a())
        ys.append(b())
    return statistics.mean(xs), statistics.mean(ys)


def accounts_by_node(dsn: str, ids: list[int]) -> dict[str, list[int]]:
    """``ids`` grouped by the node that holds each, as the router locates them."""
    with Router.connect(dsn) as r:
        groups: dict[str, list[int]] = {}
        for acc in ids:
            groups.setdefault(str(r.shard_for(acc).node), []).append(acc)
    return groups


def node_pairs(dsn: str, accounts: int, scripts: int, seed: int = 1) -> tuple[dict[str, list[tuple[int, int]]],
                                                                            dict[str, list[tuple[int, int]]]]:
    """``accounts`` new accounts on a Citus cluster and ``scripts`` transfer pairs from them, by the
    source's node: same-node pairs (both accounts there) and cross-node pairs (the destination on
    the next node)."""
    groups = accounts_by_node(dsn, make_accounts(dsn, accounts))
    nodes = sorted(groups)
    if len(nodes) < 2:
        raise RuntimeError("same vs cross node needs at least two worker nodes (a Citus cluster)")
    rng = random.Random(seed)
    same: dict[str, list[tuple[int, int]]] = {n: [] for n in nodes}
    cross: dict[str, list[tuple[int, int]]] = {n: [] for n in nodes}
    for i in range(scripts):
        a, b = nodes[i % len(nodes)], nodes[(i + 1) % len(nodes)]
        same[a].append(tuple(rng.sample(groups[a], 2)))  # type: ignore[arg-type]
        cross[a].append((rng.choice(groups[a]), rng.choice(groups[b])))
    return same, cross


def pair_scripts(pairs: list[tuple[int, int]]) -> list[str]:
    """One pgbench script per pair: a transfer of 0.01 from the first account to the second."""
    return [f"SELECT finshard.transfer({a}::bigint, {b}::bigint, 0.01);\n" for a, b in pairs]


def pgbench_on_nodes(dsn: str, scripts_by_node: dict[str, list[str]], clients: int, seconds: float,
                     protocol: str = "simple") -> float:
    """pgbench on each node at once, its clients connected to that node (the router's path), the
    ``clients`` split evenly; returns the summed tps."""
    results: dict[str, float] = {}
    errors: list[BaseException] = []
    share = max(1, clients // len(scripts_by_node))

    def one(node: str) -> None:
        host, port = node.rsplit(":", 1)
        try:
            results[node] = pgbench(db.make_conninfo(dsn, host=host, port=port), scripts_by_node[node], clients=share,
                                    seconds=seconds, protocol=protocol)
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


class Dispatcher:
    """The product's dispatcher (finshard.ops.dispatcher.follow, as ``finshard notifications dispatch
    --follow`` runs it, with its default interval) in a thread while the block runs."""

    def __init__(self, dsn: str) -> None:
        self.stop = threading.Event()
        self.states: list[str] = []
        self.ready = threading.Event()

        def report(message: str) -> None:
            self.states.append(message)
            if message.startswith(("registered ", "another dispatcher ")):
                self.ready.set()

        self.thread = threading.Thread(target=dispatcher.follow, args=(dsn,),
                                       kwargs={"stop": self.stop, "report": report}, daemon=True)

    def __enter__(self) -> "Dispatcher":
        self.thread.start()
        if not self.ready.wait(10) or self.states[-1] != "registered as this node's dispatcher":
            self.__exit__()
            raise RuntimeError(f"the notification dispatcher did not register: {self.states}")
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()


def router_worker(args: tuple[str, dict[str, str] | None, list[int], float, bool, Any]) -> int:
    """One router client of router_tps, in its own process: transfers between random ``ids`` from
    the start signal until ``seconds`` pass; returns how many."""
    dsn, node_dsns, ids, seconds, prepare_off, start_evt = args
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


def router_tps(dsn: str, node_dsns: dict[str, str] | None, ids: list[int], clients: int, seconds: float, prepare_off: bool = False) -> float:
    """Transfers per second of ``clients`` router processes started together (``node_dsns``:
    where the router connects instead of each node)."""
    ctx = mp.get_context("spawn")
    with ctx.Manager() as manager:
        evt = manager.Event()
        with ctx.Pool(clients) as pool:
            result = pool.map_async(router_worker, [(dsn, node_dsns, ids, seconds, prepare_off, evt)] * clients)
            time.sleep(1.5)
            evt.set()
            return sum(result.get(seconds + 60)) / seconds
