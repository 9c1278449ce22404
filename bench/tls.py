"""Issue 17: what TLS and SCRAM cost a transfer through the router, on Citus: same-node and
across nodes. Two Citus clusters on this machine (a coordinator and 2 workers each, 32 shards),
one with TLS on every hop (the default) and one created with --no-tls; the router's clients run
transfers on each in alternating rounds. Connections are pooled, so the handshakes are paid
once per connection; what remains is encryption on every round trip, client to node and node to
node. Prints tps and ratios; asserts nothing.

    .venv/bin/python bench/tls.py [--seconds 8 --clients 8 --rounds 2]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import _common  # noqa: F401 - puts the checkout on sys.path

from finshard import bench
from finshard.cluster import Cluster
from finshard.installer import install


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--seconds", type=float, default=8)
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--rounds", type=int, default=2)
    args = p.parse_args()
    base = Path(tempfile.mkdtemp(prefix="finshard-bench-tls-", dir="/tmp"))
    base.chmod(0o755)
    clusters = {"tls": Cluster.up(base / "tls", tls=True), "no_tls": Cluster.up(base / "plain", tls=False)}
    if not all(c.citus for c in clusters.values()):
        raise SystemExit("bench/tls.py needs Citus")
    work: dict[str, dict[str, list[int]]] = {}
    for name, cluster in clusters.items():
        install(cluster.dsn(), shard_count=32)
        groups = bench._accounts_by_node(cluster.dsn(), bench.make_accounts(cluster.dsn(), 400))
        work[name] = {"same_node": max(groups.values(), key=len),
                      "random_pairs": sorted(a for ids in groups.values() for a in ids)}
    result: dict[str, object] = {"benchmark": "router transfers, Citus (coordinator + 2 workers), TLS+SCRAM vs --no-tls",
                                 "clients": args.clients, "seconds": args.seconds, "rounds": args.rounds,
                                 "note": "random_pairs: about half the transfers cross workers (2PC)"}
    try:
        for workload in ("same_node", "random_pairs"):
            tps: dict[str, list[float]] = {name: [] for name in clusters}
            for _ in range(args.rounds):
                for name, cluster in clusters.items():
                    tps[name].append(round(bench._router_tps(cluster.dsn(), None, work[name][workload], args.clients,
                                                             args.seconds), 1))
            med = {name: statistics.median(v) for name, v in tps.items()}
            result[workload] = {"tps": tps, "median": med, "ratio_tls": round(med["tls"] / med["no_tls"], 3)}
    finally:
        for cluster in clusters.values():
            cluster.down()
    _common.show(result)


if __name__ == "__main__":  # the router bench spawns worker processes that import this file
    main()
