"""Issue 4: router overhead vs a raw psycopg call, direct-to-worker vs through the coordinator,
and through pgbouncer. Prints ratios; asserts nothing.

    .venv/bin/python bench/router.py
"""

from _common import cluster_from_args, nodes_through_pgbouncer, show

from finshard import bench


def main() -> None:
    args, cluster, dsn = cluster_from_args(__doc__)
    show(bench.router_overhead(dsn))
    if cluster is not None and not cluster.citus:
        return
    show(bench.direct_vs_coordinator(dsn, clients=args.clients, seconds=args.seconds))
    if cluster is None:
        return
    # Again with a pgbouncer in front of every node: the nodes reach each other through it
    # (pg_dist_poolinfo), and the router's clients also go through it.
    with nodes_through_pgbouncer(cluster):
        bouncers = {f"127.0.0.1:{n.port}": n.dsn(via_pgbouncer=True) for n in cluster.nodes}
        result = bench.direct_vs_coordinator(dsn, clients=args.clients, seconds=args.seconds, pgbouncer_dsns=bouncers)
        result["benchmark"] += ", node-to-node connections through pgbouncer"
        show(result)


if __name__ == "__main__":  # the router bench spawns worker processes that import this file
    main()
