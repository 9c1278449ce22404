"""Shared by the bench scripts: a local cluster to run against (or --dsn), printing, pgbench and
the router driven side by side. Ratios are measured in one run, alternating rounds (absolute
numbers drift on shared machines); nothing here asserts on time.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import random
import statistics
import sys
import time
import uuid
from contextlib import contextmanager
from decimal import Decimal
from typing import Any, Iterator, Sequence

from finshard.local import pgbouncer
from finshard.local.cluster import Cluster
from finshard.ops.installer import install
from finshard.router import Router
# What finshard bench runs is in the package; the scripts share it from there.
from finshard.bench import (Dispatcher, accounts_by_node, alternate, libpq_env, make_accounts,  # noqa: F401
                                node_pairs, pair_scripts, pgbench, pgbench_on_nodes)


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


def transfers_side_by_side(dsns: dict[str, str], *, clients: int, seconds: float, rounds: int,
                           benchmark: str) -> dict[str, Any]:
    """The same transfer script (1,000 accounts, random pairs) on each node in alternating rounds,
    simple and prepared protocol: tps, medians and the first node's ratio to the second."""
    scripts = {}
    for name, dsn in dsns.items():
        ids = make_accounts(dsn, 1000)
        scripts[name] = (f"\\set f random(0, {len(ids) - 1})\n\\set d random(1, {len(ids) - 1})\n"
                         f"\\set src {ids[0]} + :f\n\\set dst {ids[0]} + ((:f + :d) % {len(ids)})\n"
                         "SELECT finshard.transfer(:src::bigint, :dst::bigint, 0.01);\n")
    first, second = list(dsns)
    result: dict[str, Any] = {"benchmark": benchmark, "clients": clients, "seconds": seconds, "rounds": rounds}
    for protocol in ("simple", "prepared"):
        tps: dict[str, list[float]] = {name: [] for name in dsns}
        for _ in range(rounds):
            for name, dsn in dsns.items():
                tps[name].append(pgbench(dsn, [scripts[name]], clients=clients, seconds=seconds, protocol=protocol))
        med = {name: statistics.median(v) for name, v in tps.items()}
        result[protocol] = {"tps": tps, "median": med, f"ratio_{first}": round(med[first] / med[second], 3)}
    return result
