"""Issue 20: what a Citus node does against a plain node, side by side in one run, with both
pgbench protocols. Prints medians of alternating rounds and their ratios; asserts nothing.

    .venv/bin/python bench/citus_tax.py [--rounds 5] [--seconds 8] [--clients 8]

Starts (or reuses) two local clusters under --dir: Citus (a coordinator and 2 workers, 32
shards) and one plain node, and measures the same transfer function:
  - same-node: both accounts on one worker, the session on that worker (the router's path),
    against the plain node with the same clients;
  - cross-node: the accounts on two workers, the session on the source's, against same-node;
  - the two-phase floor: the least an atomic cross-node write costs through Citus (one row
    updated on each node, two-phase commit, no ledger), against same-node: what cross-node can
    reach at best on this machine;
  - the one-call skeleton: the cross-node path's shape and nothing else (a call from the
    session's worker that sends one force-delegated call to the other node, updates a row on
    each node's shards and writes a record through Citus, two-phase commit; no checks, ledger,
    audit or notifications), against same-node: what the transfer's own work costs on top;
  - through the coordinator: the same-node pairs sent to the coordinator, against direct;
  - update_quote filling 10, 100 and 1,000 resting orders, Citus against plain.
"""

from __future__ import annotations

import argparse
import random
import statistics
from pathlib import Path
from typing import Any, Callable

import psycopg
from _common import make_accounts, node_pairs, pair_scripts, pgbench, pgbench_on_nodes, show
from orders import quote_fill_cost

from finshard.local.cluster import Cluster
from finshard.ops.installer import install

TARGETS = {"same_node_vs_plain": 0.6, "cross_node_vs_same_node": 0.6}


def pairs_by_kind(citus_dsn: str, plain_dsn: str, *, accounts: int, scripts: int) -> dict[str, Any]:
    """Transfer pairs: same-node and cross-node per source worker on Citus, and random pairs on plain."""
    same, cross = node_pairs(citus_dsn, accounts, scripts, seed=20)
    rng = random.Random(20)
    plain_ids = make_accounts(plain_dsn, accounts)
    plain = [tuple(rng.sample(plain_ids, 2)) for _ in range(scripts)]
    return {"same": same, "cross": cross, "plain": plain}


def floor_scripts(pairs: list[tuple[int, int]]) -> list[str]:
    """One pgbench script per cross-node pair: the destination's row then the source's updated in one
    transaction (Citus: a remote write, a local one, two-phase commit), and nothing else."""
    return [f"BEGIN;\nUPDATE finshard.accounts SET updated_at = now() WHERE account_id = {b};\n"
            f"UPDATE finshard.accounts SET updated_at = now() WHERE account_id = {a};\nCOMMIT;\n" for a, b in pairs]


# Bench-only functions in a schema of their own: rows are touched (updated_at), no money moves.
SKELETON = [
    "CREATE SCHEMA IF NOT EXISTS finshard_bench",
    "CREATE TABLE IF NOT EXISTS finshard_bench.records (account_id bigint NOT NULL, at timestamptz NOT NULL DEFAULT now())",
    """SELECT create_distributed_table('finshard_bench.records', 'account_id', colocate_with => 'finshard.accounts')
        WHERE NOT EXISTS (SELECT 1 FROM pg_dist_partition WHERE logicalrelid = 'finshard_bench.records'::regclass)""",
    """CREATE OR REPLACE FUNCTION finshard_bench.credit(p_account bigint) RETURNS timestamptz LANGUAGE plpgsql
        SET plan_cache_mode = force_generic_plan AS $$
        DECLARE v timestamptz;
        BEGIN
            UPDATE finshard_local.accounts a SET updated_at = now()
             WHERE a.account_id = p_account AND hashint8(a.account_id) = hashint8(p_account) RETURNING a.updated_at INTO v;
            RETURN v;
        END $$""",
    """SELECT create_distributed_function('finshard_bench.credit(bigint)', '$1', colocate_with => 'finshard.accounts',
                                          force_delegation => true)""",
    """CREATE OR REPLACE FUNCTION finshard_bench.transfer(p_from bigint, p_to bigint) RETURNS void LANGUAGE plpgsql
        SET plan_cache_mode = force_generic_plan SET citus.function_opens_transaction_block = on AS $$
        BEGIN
            EXECUTE 'SELECT c FROM finshard_bench.credit($1) c' USING p_to;
            UPDATE finshard_local.accounts a SET updated_at = now()
             WHERE a.account_id = p_from AND hashint8(a.account_id) = hashint8(p_from);
            EXECUTE 'INSERT INTO finshard_bench.records (account_id) VALUES ($1)' USING p_from;
        END $$""",
]


def install_skeleton(citus_dsn: str) -> None:
    with psycopg.connect(citus_dsn, autocommit=True) as conn:
        for statement in SKELETON:
            conn.execute(statement)


def skeleton_scripts(pairs: list[tuple[int, int]]) -> list[str]:
    return [f"SELECT finshard_bench.transfer({a}::bigint, {b}::bigint);\n" for a, b in pairs]


def measure(citus_dsn: str, plain_dsn: str, pairs: dict[str, Any], *, clients: int, seconds: float, rounds: int,
            protocol: str) -> dict[str, Any]:
    runs: dict[str, Callable[[], float]] = {
        "plain": lambda: pgbench(plain_dsn, pair_scripts(pairs["plain"]), clients=clients, seconds=seconds,
                                 protocol=protocol),
        "same_node": lambda: pgbench_on_nodes(citus_dsn, {n: pair_scripts(p) for n, p in pairs["same"].items()},
                                              clients, seconds, protocol),
        "cross_node": lambda: pgbench_on_nodes(citus_dsn, {n: pair_scripts(p) for n, p in pairs["cross"].items()},
                                               clients, seconds, protocol),
        "two_phase_floor": lambda: pgbench_on_nodes(citus_dsn, {n: floor_scripts(p) for n, p in pairs["cross"].items()},
                                                    clients, seconds, protocol),
        "one_call_skeleton": lambda: pgbench_on_nodes(citus_dsn, {n: skeleton_scripts(p) for n, p in pairs["cross"].items()},
                                                      clients, seconds, protocol),
        "same_node_via_coordinator": lambda: pgbench(
            citus_dsn, pair_scripts([x for p in pairs["same"].values() for x in p]), clients=clients,
            seconds=seconds, protocol=protocol),
    }
    tps: dict[str, list[float]] = {k: [] for k in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            tps[name].append(run())
    med = {k: statistics.median(v) for k, v in tps.items()}
    return {
        "protocol": protocol,
        "tps_median": {k: round(v, 1) for k, v in med.items()},
        "tps_rounds": {k: [round(x) for x in v] for k, v in tps.items()},
        "same_node_vs_plain": round(med["same_node"] / med["plain"], 3),
        "cross_node_vs_same_node": round(med["cross_node"] / med["same_node"], 3),
        "two_phase_floor_vs_same_node": round(med["two_phase_floor"] / med["same_node"], 3),
        "one_call_skeleton_vs_same_node": round(med["one_call_skeleton"] / med["same_node"], 3),
        "via_coordinator_vs_direct": round(med["same_node_via_coordinator"] / med["same_node"], 3),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dir", default="/tmp/finshard-bench-tax", help="where the two clusters live (created when missing)")
    p.add_argument("--seconds", type=float, default=8)
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--rounds", type=int, default=5, help="alternating rounds per figure (the median is reported)")
    p.add_argument("--accounts", type=int, default=400)
    p.add_argument("--no-fills", action="store_true", help="skip the resting-order fills")
    args = p.parse_args()
    citus = Cluster.up(Path(args.dir) / "citus", use_citus=True)
    plain = Cluster.up(Path(args.dir) / "plain", use_citus=False)
    install(citus.dsn(), shard_count=32)
    install(plain.dsn())
    install_skeleton(citus.dsn())
    pairs = pairs_by_kind(citus.dsn(), plain.dsn(), accounts=args.accounts, scripts=64)
    out: dict[str, Any] = {"benchmark": "Citus per-node tax (issue 20)", "clients": args.clients,
                           "seconds_each": args.seconds, "rounds": args.rounds, "targets": TARGETS, "results": []}
    for protocol in ("simple", "prepared"):
        out["results"].append(measure(citus.dsn(), plain.dsn(), pairs, clients=args.clients, seconds=args.seconds,
                                      rounds=args.rounds, protocol=protocol))
    if not args.no_fills:
        fills_citus = quote_fill_cost(citus.dsn())
        fills_plain = quote_fill_cost(plain.dsn())
        out["resting_fills"] = [
            {"n": c["n"], "citus_ms": c["ms"], "plain_ms": q["ms"], "citus_vs_plain": round(c["ms"] / q["ms"], 2)}
            for c, q in zip(fills_citus["results"], fills_plain["results"])]
        out["resting_fills_target"] = "citus_vs_plain <= 2 at n = 1000"
    show(out)


if __name__ == "__main__":
    main()
