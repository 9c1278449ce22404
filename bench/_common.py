"""Shared by the bench scripts: a local cluster to run against (or --dsn), and printing."""

from __future__ import annotations

import argparse
import json
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from finshard.local import pgbouncer  # noqa: E402
from finshard.local.cluster import Cluster  # noqa: E402
from finshard.ops.installer import install  # noqa: E402


def cluster_from_args(description: str, *, extra: list[tuple[str, dict[str, Any]]] = ()) -> tuple[argparse.Namespace, Cluster | None, str]:
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
