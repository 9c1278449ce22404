"""Issue 3: transfer throughput vs pgbench tpcb-like (same server, clients, settings, one run);
on Citus also same-node vs cross-node transfers. Prints ratios; asserts nothing.

    .venv/bin/python bench/transfers.py              # Citus when installed
    .venv/bin/python bench/transfers.py --no-citus   # plain PostgreSQL
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
from typing import Any, Callable

from _common import (Dispatcher, alternate, cluster_from_args, libpq_env, make_accounts,
                     node_pairs, nodes_through_pgbouncer, pair_scripts, pgbench, pgbench_on_nodes, show)

from finshard import db
from finshard.local.postgres import find_pg_bin


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
    info = db.conninfo_to_dict(dsn)
    admin = db.make_conninfo(dsn, dbname="postgres")
    cmp_dsn = db.make_conninfo(dsn, dbname="finshard_pgbench")
    with db.connect(admin) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = 'finshard_pgbench'").fetchone():
            conn.execute("CREATE DATABASE finshard_pgbench")
    subprocess.run([str(find_pg_bin() / "pgbench"), "-i", "-q", "-s", str(scale), "-h", str(info.get("host", "127.0.0.1")),
                    "-p", str(info.get("port", 5432)), "-U", str(info.get("user", "postgres")), "finshard_pgbench"],
                   check=True, capture_output=True, env=libpq_env(dsn))
    with db.connect(dsn) as conn:
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
        with Dispatcher(dsn):
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
    same, cross = node_pairs(dsn, accounts, scripts)

    def direct(pairs: dict[str, list[tuple[int, int]]]) -> Callable[[], float]:
        return lambda: pgbench_on_nodes(dsn, {n: pair_scripts(p) for n, p in pairs.items()}, clients, seconds)

    def coordinator(pairs: dict[str, list[tuple[int, int]]]) -> Callable[[], float]:
        return lambda: pgbench(dsn, pair_scripts([x for p in pairs.values() for x in p]), clients=clients, seconds=seconds)

    out: dict[str, Any] = {"benchmark": "same-node vs cross-node transfers (Citus)", "clients": clients,
                           "seconds_each": seconds}
    if "direct" in paths:
        s, c = alternate(direct(same), direct(cross))
        out.update(direct_same_node_tps=round(s, 1), direct_cross_node_tps=round(c, 1), ratio=round(c / s, 3))
    if "coordinator" in paths:
        cs, cc = alternate(coordinator(same), coordinator(cross))
        out.update(via_coordinator_same_node_tps=round(cs, 1), via_coordinator_cross_node_tps=round(cc, 1),
                   ratio_via_coordinator=round(cc / cs, 3))
    out["target"] = ">= 0.5"
    return out


def main() -> None:
    args, cluster, dsn = cluster_from_args(__doc__, extra=[
        ("--rounds", {"type": int, "default": 3,
                      "help": "alternating rounds of tpcb-like and transfers (more on a noisy machine)"})])
    show(transfer_vs_pgbench(dsn, clients=args.clients, seconds=args.seconds, rounds=args.rounds))
    if cluster is None or cluster.citus:
        try:
            show(same_vs_cross_node(dsn, clients=args.clients, seconds=args.seconds))
        except RuntimeError as exc:
            print(f"same vs cross node skipped: {exc}")
    if cluster is not None and cluster.citus and shutil.which("pgbouncer"):
        # The coordinator's path again, the nodes now reaching each other through pgbouncer.
        with nodes_through_pgbouncer(cluster):
            result = same_vs_cross_node(dsn, clients=args.clients, seconds=args.seconds, paths=("coordinator",))
            result["benchmark"] += ", node-to-node connections through pgbouncer"
            show(result)


if __name__ == "__main__":  # the router bench spawns worker processes that import this file
    main()
