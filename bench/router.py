"""Issue 4: router overhead vs a raw psycopg call, direct-to-worker vs through the coordinator,
and through pgbouncer. Prints ratios; asserts nothing.

    .venv/bin/python bench/router.py
"""

from __future__ import annotations

import statistics
import time
import uuid
from decimal import Decimal
from typing import Any

from _common import accounts_by_node, alternate, cluster_from_args, make_accounts, nodes_through_pgbouncer, router_tps, show

from finshard import db
from finshard.router import Router


def direct_vs_coordinator(dsn: str, *, clients: int = 8, seconds: float = 8, accounts: int = 400,
                          pgbouncer_dsns: dict[str, str] | None = None) -> dict[str, Any]:
    """Router straight to each account's worker vs the same router sending everything to the coordinator
    (which delegates), on two workloads: transfers between random accounts of the whole cluster (about
    half cross workers with 2 workers) and transfers within one worker; optionally also through pgbouncer."""
    groups = accounts_by_node(dsn, make_accounts(dsn, accounts))
    everyone = sorted(a for ids in groups.values() for a in ids)
    one_node = max(groups.values(), key=len)  # no 2PC on either side
    with Router.connect(dsn) as r:
        via_coordinator = {str(n): dsn for n in r.topology.nodes}
    direct, coord = alternate(lambda: router_tps(dsn, None, everyone, clients, seconds),
                               lambda: router_tps(dsn, via_coordinator, everyone, clients, seconds))
    direct_one, coord_one = alternate(lambda: router_tps(dsn, None, one_node, clients, seconds),
                                       lambda: router_tps(dsn, via_coordinator, one_node, clients, seconds))
    out: dict[str, Any] = {"benchmark": "router direct-to-worker vs through the coordinator", "clients": clients,
                           "seconds_each": seconds,
                           "random_pairs_direct_tps": round(direct, 1), "random_pairs_via_coordinator_tps": round(coord, 1),
                           "ratio": round(direct / coord, 3),
                           "same_node_direct_tps": round(direct_one, 1), "same_node_via_coordinator_tps": round(coord_one, 1),
                           "ratio_same_node": round(direct_one / coord_one, 3), "target": ">= 1.3"}
    if pgbouncer_dsns:
        first = next(iter(pgbouncer_dsns.values()))
        bounced = router_tps(first, pgbouncer_dsns, everyone, clients, seconds, prepare_off=True)
        out["random_pairs_via_pgbouncer_tps"] = round(bounced, 1)
        out["pgbouncer_vs_direct"] = round(bounced / direct, 3)
    return out


def router_overhead(dsn: str, *, iterations: int = 1500) -> dict[str, Any]:
    """Latency of router.transfer vs a raw psycopg SELECT finshard.transfer on an equivalent
    connection (autocommit, same node, same casts, same idempotency key work), interleaved."""
    ids = make_accounts(dsn, 20)
    with Router.connect(dsn) as r:
        a = ids[0]
        same_node = [b for b in ids[1:] if r.shard_for(b).node == r.shard_for(a).node] or ids[1:]
        node_dsn = r.node_dsn(r.shard_for(a).node)
        raw = db.connect(node_dsn)
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


def main() -> None:
    args, cluster, dsn = cluster_from_args(__doc__)
    show(router_overhead(dsn))
    if cluster is not None and not cluster.citus:
        return
    show(direct_vs_coordinator(dsn, clients=args.clients, seconds=args.seconds))
    if cluster is None:
        return
    # Again with a pgbouncer in front of every node: the nodes reach each other through it
    # (pg_dist_poolinfo), and the router's clients also go through it.
    with nodes_through_pgbouncer(cluster):
        bouncers = {f"127.0.0.1:{n.port}": n.dsn(via_pgbouncer=True) for n in cluster.nodes}
        result = direct_vs_coordinator(dsn, clients=args.clients, seconds=args.seconds, pgbouncer_dsns=bouncers)
        result["benchmark"] += ", node-to-node connections through pgbouncer"
        show(result)


if __name__ == "__main__":  # the router bench spawns worker processes that import this file
    main()
