"""Issue 18: recovery times of an --ha cluster, the median of several failover drills. One Citus
cluster (a coordinator and 2 workers, each group a Patroni primary and a synchronous standby; or
one plain node and its standby with --no-citus); drills alternate between the worker groups and the
coordinator, each under 8 router clients. Prints each drill and the medians; asserts nothing.

    .venv/bin/python bench/failover.py [--drills 3] [--no-citus]
"""

from __future__ import annotations

import argparse
import json
import statistics

from finshard.local.cluster import Cluster
from finshard.local.ha_drill import drill
from finshard.ops.installer import install

KEYS = ("seconds_to_promotion", "seconds_to_first_write_on_group", "seconds_to_first_write_anywhere",
        "seconds_to_first_coordinator_write", "seconds_to_rejoin")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--dir", default="/tmp/finshard-bench-ha")
    p.add_argument("--drills", type=int, default=3, help="drills per kind (worker group, coordinator)")
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--no-citus", action="store_true")
    args = p.parse_args()
    cluster = Cluster.up(args.dir + ("-plain" if args.no_citus else ""), use_citus=False if args.no_citus else None, ha=True)
    install(cluster.dsn(), shard_count=32 if cluster.citus else None)
    kinds = {"worker": [1, 2], "coordinator": [0]} if cluster.citus else {"node": [0]}
    runs: dict[str, list[dict]] = {k: [] for k in kinds}
    for i in range(args.drills):
        for kind, groups in kinds.items():
            report = drill(cluster.directory, group=groups[i % len(groups)], clients=args.clients)
            runs[kind].append(report)
            print(json.dumps({"kind": kind, **{k: report[k] for k in ("group", "ok", "lost", "duplicated", "application_errors",
                                                                       "acknowledged_transfers", *KEYS)}}), flush=True)
    summary = {"benchmark": "failover drill recovery times (median)", "drills_per_kind": args.drills, "clients": args.clients,
               "citus": cluster.citus}
    for kind, reports in runs.items():
        summary[kind] = {k: statistics.median(r[k] for r in reports if r[k] is not None) for k in KEYS
                         if any(r[k] is not None for r in reports)}
        summary[kind]["all_ok"] = all(r["ok"] and r["application_errors"] == 0 for r in reports)
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
