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
import multiprocessing as mp
import random
import statistics
import tempfile
import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

from _common import accounts_by_node, make_accounts, router_tps, show

from finshard.local.cluster import Cluster
from finshard.ops.installer import install
from finshard.router import Router


def _cross_worker(args: tuple[str, list[int], list[int], float, object]) -> int:
    """Transfers from an account of one worker to an account of the other, through the router."""
    dsn, left, right, seconds, start = args
    rng = random.Random()
    count = 0
    with Router.connect(dsn, pool_size=1) as r:
        start.wait()  # type: ignore[attr-defined]
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            a, b = rng.choice(left), rng.choice(right)
            if rng.random() < 0.5:
                a, b = b, a
            r.transfer(from_account_id=a, to_account_id=b, amount=Decimal("0.01"), idempotency_key=uuid.uuid4().hex)
            count += 1
    return count


def _cross_tps(dsn: str, left: list[int], right: list[int], clients: int, seconds: float) -> float:
    ctx = mp.get_context("spawn")
    with ctx.Manager() as manager:
        evt = manager.Event()
        with ctx.Pool(clients) as pool:
            result = pool.map_async(_cross_worker, [(dsn, left, right, seconds, evt)] * clients)
            time.sleep(1.5)
            evt.set()
            return sum(result.get(seconds + 60)) / seconds


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
    work: dict[str, dict[str, Any]] = {}
    for name, cluster in clusters.items():
        install(cluster.dsn(), shard_count=32)
        groups = accounts_by_node(cluster.dsn(), make_accounts(cluster.dsn(), 400))
        left, right = sorted(groups.values(), key=len)[-2:]
        work[name] = {"same_node": right, "cross_node": [left, right]}
    result: dict[str, object] = {"benchmark": "router transfers, Citus (coordinator + 2 workers), TLS+SCRAM vs --no-tls",
                                 "clients": args.clients, "seconds": args.seconds, "rounds": args.rounds,
                                 "note": "cross_node: every transfer's accounts are on the two workers (2PC)"}
    try:
        for workload in ("same_node", "cross_node"):
            tps: dict[str, list[float]] = {name: [] for name in clusters}
            for _ in range(args.rounds):
                for name, cluster in clusters.items():
                    if workload == "same_node":
                        value = router_tps(cluster.dsn(), None, work[name]["same_node"], args.clients, args.seconds)
                    else:
                        left, right = work[name]["cross_node"]
                        value = _cross_tps(cluster.dsn(), left, right, args.clients, args.seconds)
                    tps[name].append(round(value, 1))
            med = {name: statistics.median(v) for name, v in tps.items()}
            result[workload] = {"tps": tps, "median": med, "ratio_tls": round(med["tls"] / med["no_tls"], 3)}
    finally:
        for cluster in clusters.values():
            cluster.down()
    show(result)


if __name__ == "__main__":  # the router bench spawns worker processes that import this file
    main()
