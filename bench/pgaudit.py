"""What pgAudit (pgaudit.log = 'ddl, role', preloaded by every finshard node) costs a transfer on
plain PostgreSQL.

Two plain nodes on this machine, the same settings but for shared_preload_libraries: one preloads
pgAudit (as every finshard node does where it is installed), the other does not. pgbench runs the
same transfer script on each in alternating rounds, simple and prepared protocol. Prints tps and
the ratio audited/not; asserts nothing.

    .venv/bin/python bench/pgaudit.py [--seconds 8 --clients 8 --rounds 5]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from _common import show, transfers_side_by_side

from finshard import db
from finshard.local.cluster import Cluster
from finshard.local.postgres import pgaudit_installed
from finshard.ops.installer import install


def node(directory: Path, audited: bool) -> str:
    cluster = Cluster.up(directory, use_citus=False)
    install(cluster.dsn())
    if not audited:
        with db.connect(cluster.dsn()) as conn:
            libs = [lib.strip() for lib in conn.execute("SHOW shared_preload_libraries").fetchone()[0].split(",")]  # type: ignore[index]
            conn.execute(f"ALTER SYSTEM SET shared_preload_libraries = '{','.join(lib for lib in libs if lib != 'pgaudit')}'")
        cluster.down()
        cluster.start()
    return cluster.dsn()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--seconds", type=float, default=8)
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args()
    if not pgaudit_installed():
        raise SystemExit("pgAudit is not installed: apt-get install postgresql-15-pgaudit (scripts/setup.sh does)")
    base = Path(tempfile.mkdtemp(prefix="finshard-bench-pgaudit-", dir="/tmp"))
    base.chmod(0o755)
    dsns = {"audited": node(base / "audited", True), "not_audited": node(base / "plain", False)}
    result = transfers_side_by_side(dsns, clients=args.clients, seconds=args.seconds, rounds=args.rounds,
                                    benchmark="finshard.transfer, plain PostgreSQL, pgAudit preloaded or not")
    for name in ("audited", "plain"):
        Cluster.load(base / name).down()
    show(result)


if __name__ == "__main__":
    main()
