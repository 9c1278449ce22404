"""Issue 15: what acting for an end user costs a transfer. A finshard_app login passing the
user's session (p_session) vs a superuser acting as itself, same accounts, server and clients,
alternating rounds, pgbench simple and prepared protocols. Prints ratios; asserts nothing.

    .venv/bin/python bench/sessions.py --no-citus   # plain PostgreSQL
    .venv/bin/python bench/sessions.py              # Citus when installed (sessions on the coordinator)
    .venv/bin/python bench/sessions.py --no-citus --baseline-sql /path/to/earlier/finshard
        # also an earlier finshard's transfer, installed with psql into database
        # finshard_baseline on the same server, in the same rounds
"""

from __future__ import annotations

import statistics
import subprocess
import uuid
from contextlib import nullcontext
from typing import Any

from _common import Dispatcher, cluster_from_args, make_accounts, pgbench, show

from finshard import db
from finshard.local.postgres import find_pg_bin


def baseline(dsn: str, sql_dir: str) -> str:
    """A database beside ``dsn`` with the finshard of ``sql_dir`` installed by psql; its DSN."""
    admin = db.make_conninfo(dsn, dbname="postgres")
    with db.connect(admin) as conn:
        conn.execute("DROP DATABASE IF EXISTS finshard_baseline WITH (FORCE)")
        conn.execute("CREATE DATABASE finshard_baseline")
    target = db.make_conninfo(dsn, dbname="finshard_baseline")
    subprocess.run([str(find_pg_bin() / "psql"), "-q", "-X", "-v", "ON_ERROR_STOP=1", "-d", target, "-f", "install.sql"],
                   cwd=sql_dir, check=True, capture_output=True)
    return target


def session_cost(dsn: str, *, clients: int = 8, seconds: float = 8, accounts: int = 1000, rounds: int = 3,
                 baseline_dsn: str | None = None) -> dict[str, Any]:
    """transfer acting for an end user (a finshard_app login passing p_session) vs the same transfer
    by a superuser acting as itself (no session), on the same accounts, server and clients, in
    alternating rounds, with the node's dispatcher running (the documented way under load); in
    pgbench's simple and prepared protocols. With ``baseline_dsn`` (another database on the same
    server holding an earlier finshard), its transfer runs in the same rounds, with its own dispatcher."""
    ids = make_accounts(dsn, accounts)
    base_ids = make_accounts(baseline_dsn, accounts) if baseline_dsn else []
    base, span = ids[0], len(ids)
    if ids[-1] - ids[0] + 1 != span:
        raise RuntimeError("bench accounts are not consecutive; run on a quiet database")
    tag = uuid.uuid4().hex[:8]
    login = f"bench_app_{tag}"
    password = uuid.uuid4().hex
    with db.connect(dsn) as conn:
        # One owner for every bench account, so that one session may debit any of them.
        owner = conn.execute("SELECT finshard.create_user(%s, %s, 'benchmark-pw')", (f"bench{tag}", f"bench{tag}@example.com")).fetchone()[0]  # type: ignore[index]
        conn.execute("UPDATE finshard.accounts SET user_id = %s WHERE account_id = ANY (%s)", (owner, ids))
        # A password: a cluster's TCP connections take SCRAM (libpq_env hands it to pgbench).
        conn.execute(f"CREATE ROLE \"{login}\" LOGIN PASSWORD '{password}' IN ROLE finshard_app")
        conn.execute(f'SET ROLE "{login}"')
        token = conn.execute("SELECT token FROM finshard.login(%s, 'benchmark-pw', interval '1 day')", (f"bench{tag}",)).fetchone()[0]  # type: ignore[index]
    pick = "\\set f random(0, :n - 1)\n\\set d random(1, :n - 1)\n\\set src :base + :f\n\\set dst :base + ((:f + :d) % :n)\n"
    without = pick + "SELECT finshard.transfer(:src::bigint, :dst::bigint, 0.01);\n"
    # pgbench puts a variable's text in place in the simple protocol, and sends it as a parameter in the prepared one.
    with_session = {"simple": pick + "SELECT finshard.transfer(:src::bigint, :dst::bigint, 0.01, p_session => ':tok');\n",
                    "prepared": pick + "SELECT finshard.transfer(:src::bigint, :dst::bigint, 0.01, p_session => :tok::text);\n"}
    app_dsn = db.make_conninfo(dsn, user=login, password=password)
    out: dict[str, Any] = {"benchmark": "transfer with an end user's session vs without", "clients": clients,
                           "seconds_each": seconds, "rounds": rounds, "accounts": span, "dispatcher": "running"}
    variables = {"n": span, "base": base, "tok": token}
    try:
        with Dispatcher(dsn), (Dispatcher(baseline_dsn) if baseline_dsn else nullcontext()):
            for protocol in ("simple", "prepared"):
                plain_tps, session_tps, base_tps = [], [], []
                for _ in range(rounds):
                    if baseline_dsn:
                        base_tps.append(pgbench(baseline_dsn, [without], clients=clients, seconds=seconds, protocol=protocol,
                                                variables={"n": len(base_ids), "base": base_ids[0]}))
                    plain_tps.append(pgbench(dsn, [without], clients=clients, seconds=seconds, variables=variables, protocol=protocol))
                    session_tps.append(pgbench(app_dsn, [with_session[protocol]], clients=clients, seconds=seconds,
                                               variables=variables, protocol=protocol))
                a, b = statistics.mean(plain_tps), statistics.mean(session_tps)
                out[protocol] = {"without_session_tps": round(a, 1), "with_session_tps": round(b, 1), "ratio": round(b / a, 3),
                                 "ratio_per_round": [round(y / x, 3) for x, y in zip(plain_tps, session_tps)]}
                if baseline_dsn:
                    c = statistics.mean(base_tps)
                    out[protocol].update({"baseline_tps": round(c, 1), "with_session_vs_baseline": round(b / c, 3),
                                          "without_session_vs_baseline": round(a / c, 3)})
    finally:
        with db.connect(dsn) as conn:
            conn.execute(f'DROP OWNED BY "{login}"')
            conn.execute(f'DROP ROLE "{login}"')
    out["target"] = ">= 0.95"
    return out


def main() -> None:
    args, _cluster, dsn = cluster_from_args(__doc__, extra=[
        ("--rounds", {"type": int, "default": 3, "help": "alternating rounds of each side"}),
        ("--baseline-sql", {"default": None, "help": "the folder holding an earlier finshard's install.sql, to measure beside this one"})])
    base = baseline(dsn, args.baseline_sql) if args.baseline_sql else None
    show(session_cost(dsn, clients=args.clients, seconds=args.seconds, rounds=args.rounds, baseline_dsn=base))


if __name__ == "__main__":
    main()
