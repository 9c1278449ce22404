"""Issue 18: what reading the key directory's pointer file (finshard._key_path, one pg_read_file of
finshard_key_dir per key read) costs a transfer, on plain PostgreSQL. One server; rounds alternate
the shipped _key_path with one that names the data directory without reading the file; pgbench
runs the same transfer script with the simple and the prepared protocol. Prints tps and ratios;
asserts nothing.

    .venv/bin/python bench/key_path.py --no-citus [--seconds 10 --clients 8 --rounds 3]
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

from _common import cluster_from_args, make_accounts, pgbench, show

from finshard import db

WITHOUT_FILE = """CREATE OR REPLACE FUNCTION finshard._key_path(p_name text) RETURNS text LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT current_setting('data_directory') || '/finshard_' || p_name || '.key' $$"""


def main() -> None:
    args, _cluster, dsn = cluster_from_args(__doc__, extra=[("--rounds", {"type": int, "default": 3})])
    shipped = (Path(__file__).resolve().parent.parent / "finshard" / "sql" / "procedures" / "_key_path.sql").read_text()
    ids = make_accounts(dsn, 1000)
    base, span = ids[0], len(ids)
    script = ("\\set f random(0, :n - 1)\n\\set d random(1, :n - 1)\n\\set src :base + :f\n\\set dst :base + ((:f + :d) % :n)\n"
              "SELECT finshard.transfer(:src::bigint, :dst::bigint, 0.01);\n")
    results: dict[str, dict[str, list[float]]] = {p: {"file": [], "no_file": []} for p in ("simple", "prepared")}
    try:
        for i in range(args.rounds):
            # Alternate which variant runs first: the ledger grows through the run.
            order = [("file", shipped), ("no_file", WITHOUT_FILE)]
            for variant, sql in (order if i % 2 == 0 else order[::-1]):
                with db.connect(dsn) as conn:
                    conn.execute(sql)
                for protocol in ("simple", "prepared"):
                    results[protocol][variant].append(pgbench(dsn, [script], clients=args.clients, seconds=args.seconds,
                                                                    variables={"n": span, "base": base}, protocol=protocol))
    finally:
        with db.connect(dsn) as conn:
            conn.execute(shipped)
    out = {"benchmark": "transfer with _key_path reading finshard_key_dir vs naming the data directory",
           "clients": args.clients, "seconds_each": args.seconds, "rounds": args.rounds,
           "per_call_us": per_call(dsn)}
    for protocol, r in results.items():
        f, n = statistics.mean(r["file"]), statistics.mean(r["no_file"])
        out[protocol] = {"with_pointer_file_tps": round(f, 1), "without_tps": round(n, 1), "ratio": round(f / n, 3),
                         "per_round": [round(a / b, 3) for a, b in zip(r["file"], r["no_file"])]}
    show(out)


def per_call(dsn: str, calls: int = 200_000, rounds: int = 3) -> dict[str, float]:
    """One session, no concurrency: microseconds per _key_path call, and per the expression it
    replaces (the data directory's path), alternating; medians. Resolves what pgbench cannot."""
    times: dict[str, list[float]] = {"pointer_file": [], "data_directory": []}
    queries = {"pointer_file": "SELECT count(finshard._key_path('audit' || g % 2)) FROM generate_series(1, %s) g",
               "data_directory": "SELECT count(current_setting('data_directory') || '/finshard_audit' || g % 2 || '.key') "
                                 "FROM generate_series(1, %s) g"}
    with db.connect(dsn) as conn:
        for _ in range(rounds):
            for name, sql in queries.items():
                started = time.perf_counter()
                conn.execute(sql, (calls,))
                times[name].append((time.perf_counter() - started) / calls * 1e6)
    return {name: round(statistics.median(t), 2) for name, t in times.items()}


if __name__ == "__main__":
    main()
