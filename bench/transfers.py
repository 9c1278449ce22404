"""Issue 3: transfer throughput vs pgbench tpcb-like (same server, clients, settings, one run);
on Citus also same-node vs cross-node transfers. Prints ratios; asserts nothing.

    .venv/bin/python bench/transfers.py              # Citus when installed
    .venv/bin/python bench/transfers.py --no-citus   # plain PostgreSQL
"""

from __future__ import annotations

import shutil

from _common import cluster_from_args, nodes_through_pgbouncer, show

from finshard.bench import same_vs_cross_node, transfer_vs_pgbench


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
