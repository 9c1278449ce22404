"""`finshard failover drill`: a crashed node's synchronous standby takes over and no
acknowledged write is lost (real servers, real streaming replication)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from finshard.local.cluster import Cluster
from finshard.ops.installer import install
from tests.helpers import new_account

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
@pytest.mark.parametrize("citus", [False, pytest.param(True, marks=pytest.mark.citus)])
def test_failover_drill_loses_no_acknowledged_write(citus, scratch):
    directory = scratch("finshard-drill-") / "c"
    # On Citus with pgbouncer in front of every node, as operators run it: the drill must re-point
    # the failed node's pgbouncer, through which clients and the other nodes reach it.
    bouncers = citus and shutil.which("pgbouncer") is not None
    cluster = Cluster.up(directory, workers=2, use_citus=citus, pgbouncer=bouncers)
    try:
        install(cluster.dsn(), shard_count=4 if citus else None)
        if bouncers:
            res = subprocess.run([sys.executable, "-m", "finshard.cli", "pgbouncer", "nodes", "on", "--dir", str(directory)],
                                 capture_output=True, text=True, cwd=ROOT, timeout=60)
            assert res.returncode == 0 and "node-to-node pooling on" in res.stdout, res.stderr
        res = subprocess.run([sys.executable, "-m", "finshard.cli", "failover", "drill", "--dir", str(directory), "--json"],
                             capture_output=True, text=True, cwd=ROOT, timeout=300)
        assert res.returncode == 0, res.stderr
        report = json.loads(res.stdout)
        assert report["lost_writes"] == 0 and report["acknowledged_writes"] == 40
        assert report["new_port"] != report["old_port"]
        after = Cluster.load(directory)
        assert all(row["up"] for row in after.status())
        # The promoted node keeps archiving its WAL to the node's pgBackRest stanza.
        from finshard.local import pgbackrest

        promoted = next(n for n in after.nodes if n.port == report["new_port"])
        check = pgbackrest.run(after, promoted, "check", timeout=120)
        assert check.returncode == 0, check.stderr
        if citus:
            import psycopg
            with psycopg.connect(after.dsn(), autocommit=True) as conn:
                assert report["new_port"] in {r[0] for r in conn.execute("SELECT nodeport FROM pg_dist_node")}
        else:
            # Backed up at once, and restored to a point after the drill: the restored node takes
            # its own port, not the promoted node's.
            def run(*args: str) -> subprocess.CompletedProcess[str]:
                return subprocess.run([sys.executable, "-m", "finshard.cli", *args], capture_output=True, text=True,
                                      cwd=ROOT, timeout=600)

            res = run("backup", "--dir", str(directory), "--type", "full")
            assert res.returncode == 0, res.stderr
            res = run("backup", "restore-point", "--dsn", after.dsn(), "after-the-drill")
            assert res.returncode == 0, res.stderr
            to = directory.parent / "restored"
            res = run("restore", "--dir", str(directory), "--to", str(to), "--target-name", "after-the-drill")
            try:
                assert res.returncode == 0, res.stderr
                restored = Cluster.load(to)
                assert all(row["up"] for row in restored.status())
                assert restored.nodes[0].port != report["new_port"]
                import psycopg
                with psycopg.connect(restored.dsn(), autocommit=True) as conn:
                    assert int(conn.execute("SHOW port").fetchone()[0]) == restored.nodes[0].port
                    assert conn.execute("SHOW primary_conninfo").fetchone()[0] == ""
            finally:
                if (to / "cluster.json").exists():
                    Cluster.load(to).down()
        if bouncers:
            import psycopg
            promoted = next(n for n in after.nodes if n.port == report["new_port"])
            with psycopg.connect(promoted.dsn(via_pgbouncer=True), autocommit=True, prepare_threshold=None) as conn:
                assert int(conn.execute("SHOW port").fetchone()[0]) == report["new_port"]
            with psycopg.connect(after.dsn(), autocommit=True) as conn:  # node to node through pgbouncer
                accounts = [new_account(conn, "USD", "10.00") for _ in range(8)]
                for a, b in zip(accounts, accounts[1:]):
                    conn.execute("SELECT finshard.transfer(%s::bigint, %s::bigint, 1.00)", (a, b))
                assert conn.execute("SELECT sum(balance) FROM finshard.accounts WHERE account_id = ANY(%s)",
                                    (accounts,)).fetchone()[0] == Decimal("80.00")
    finally:
        Cluster.load(directory).down()


def test_drilling_the_citus_coordinator_is_refused_with_a_reason(scratch):
    directory = scratch("finshard-drill-")
    (directory / "cluster.json").write_text(json.dumps({"citus": True, "complete": True, "nodes": [
        {"name": "coordinator", "role": "coordinator", "port": 1, "datadir": str(directory / "x")}]}))
    res = subprocess.run([sys.executable, "-m", "finshard.cli", "failover", "drill", "--dir", str(directory), "--node", "coordinator"],
                         capture_output=True, text=True, cwd=ROOT)
    assert res.returncode != 0 and "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) == 1
