"""Issue 16: what WAL archiving to pgBackRest costs a transfer on plain PostgreSQL.

Two plain nodes on this machine, the same settings but for archive_mode: one archives its WAL to
its pgBackRest stanza (as every finshard node does), the other does not. pgbench runs the same
transfer script on each in alternating rounds, simple and prepared protocol. Prints tps and the
ratio archiving/not; asserts nothing.

    .venv/bin/python bench/archiving.py [--seconds 10 --clients 8 --rounds 3]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from _common import show, transfers_side_by_side

from finshard import db
from finshard.local.cluster import Cluster
from finshard.ops.installer import install


def node(directory: Path, archiving: bool) -> str:
    cluster = Cluster.up(directory, use_citus=False)
    install(cluster.dsn())
    if not archiving:
        with db.connect(cluster.dsn()) as conn:
            conn.execute("ALTER SYSTEM SET archive_mode = off")
        cluster.down()
        cluster.start()
    return cluster.dsn()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--seconds", type=float, default=10)
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    base = Path(tempfile.mkdtemp(prefix="finshard-bench-archiving-", dir="/tmp"))
    base.chmod(0o755)
    dsns = {"archiving": node(base / "archiving", True), "no_archiving": node(base / "plain", False)}
    result = transfers_side_by_side(dsns, clients=args.clients, seconds=args.seconds, rounds=args.rounds,
                                    benchmark="finshard.transfer, plain PostgreSQL, WAL archived to pgBackRest or not")
    for name in ("archiving", "plain"):
        Cluster.load(base / name).down()
    show(result)


if __name__ == "__main__":
    main()
