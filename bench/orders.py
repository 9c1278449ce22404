"""Issue 5: place_order (immediately filled market buys) vs transfer throughput, and the cost of
one update_quote that fills N resting orders spread over every shard. Prints; asserts nothing.

    .venv/bin/python bench/orders.py
"""

from _common import cluster_from_args, show

from finshard import bench


def main() -> None:
    args, cluster, dsn = cluster_from_args(__doc__)
    show(bench.orders_vs_transfers(dsn, clients=args.clients, seconds=args.seconds))
    show(bench.quote_fill_cost(dsn))


if __name__ == "__main__":  # the router bench spawns worker processes that import this file
    main()
