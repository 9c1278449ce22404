"""Issue 15: what acting for an end user costs a transfer. A finshard_app login passing the
user's session (p_session) vs a superuser acting as itself, same accounts, server and clients,
alternating rounds, pgbench simple and prepared protocols. Prints ratios; asserts nothing.

    .venv/bin/python bench/sessions.py --no-citus   # plain PostgreSQL
    .venv/bin/python bench/sessions.py              # Citus when installed (sessions on the coordinator)
    .venv/bin/python bench/sessions.py --no-citus --baseline-sql /path/to/earlier/finshard
        # also an earlier finshard's transfer, installed with psql into database
        # finshard_baseline on the same server, in the same rounds
"""

import subprocess

from _common import cluster_from_args, show
from psycopg.conninfo import make_conninfo

import psycopg
from finshard import bench
from finshard.local.postgres import find_pg_bin


def baseline(dsn: str, sql_dir: str) -> str:
    """A database beside ``dsn`` with the finshard of ``sql_dir`` installed by psql; its DSN."""
    admin = make_conninfo(dsn, dbname="postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS finshard_baseline WITH (FORCE)")
        conn.execute("CREATE DATABASE finshard_baseline")
    target = make_conninfo(dsn, dbname="finshard_baseline")
    subprocess.run([str(find_pg_bin() / "psql"), "-q", "-X", "-v", "ON_ERROR_STOP=1", "-d", target, "-f", "install.sql"],
                   cwd=sql_dir, check=True, capture_output=True)
    return target


def main() -> None:
    args, _cluster, dsn = cluster_from_args(__doc__, extra=[
        ("--rounds", {"type": int, "default": 3, "help": "alternating rounds of each side"}),
        ("--baseline-sql", {"default": None, "help": "the folder holding an earlier finshard's install.sql, to measure beside this one"})])
    base = baseline(dsn, args.baseline_sql) if args.baseline_sql else None
    show(bench.session_cost(dsn, clients=args.clients, seconds=args.seconds, rounds=args.rounds, baseline_dsn=base))


if __name__ == "__main__":
    main()
