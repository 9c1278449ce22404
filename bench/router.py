"""Issue 4: router overhead vs a raw psycopg call, direct-to-worker vs through the coordinator,
and through pgbouncer. Prints ratios; asserts nothing.

    .venv/bin/python bench/router.py
"""

from _common import cluster_from_args, show

from finshard import bench
from finshard import pgbouncer


def main() -> None:
    args, cluster, dsn = cluster_from_args(__doc__)
    show(bench.router_overhead(dsn))
    bouncers = None
    if cluster is not None:
        pgbouncer.start_all(cluster)
        bouncers = {f"127.0.0.1:{n.port}": n.dsn(via_pgbouncer=True) for n in cluster.nodes}
    try:
        if cluster is None or cluster.citus:
            show(bench.direct_vs_coordinator(dsn, clients=args.clients, seconds=args.seconds, pgbouncer_dsns=bouncers))
    finally:
        if cluster is not None:
            pgbouncer.stop_all(cluster)


if __name__ == "__main__":  # the router bench spawns worker processes that import this file
    main()
