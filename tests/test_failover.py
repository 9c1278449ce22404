"""`finshard failover drill`: a crashed node's synchronous standby takes over and no
acknowledged write is lost (real servers, real streaming replication)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from finshard.cluster import Cluster
from finshard.installer import install

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
@pytest.mark.parametrize("citus", [False, pytest.param(True, marks=pytest.mark.citus)])
def test_failover_drill_loses_no_acknowledged_write(citus, scratch):
    directory = scratch("finshard-drill-") / "c"
    cluster = Cluster.up(directory, workers=2, use_citus=citus)
    try:
        install(cluster.dsn(), shard_count=4 if citus else None)
        res = subprocess.run([sys.executable, "-m", "finshard.cli", "failover", "drill", "--dir", str(directory), "--json"],
                             capture_output=True, text=True, cwd=ROOT, timeout=300)
        assert res.returncode == 0, res.stderr
        report = json.loads(res.stdout)
        assert report["lost_writes"] == 0 and report["acknowledged_writes"] == 40
        assert report["new_port"] != report["old_port"]
        after = Cluster.load(directory)
        assert all(row["up"] for row in after.status())
        if citus:
            import psycopg
            with psycopg.connect(after.dsn(), autocommit=True) as conn:
                assert report["new_port"] in {r[0] for r in conn.execute("SELECT nodeport FROM pg_dist_node")}
    finally:
        Cluster.load(directory).down()


def test_drilling_the_citus_coordinator_is_refused_with_a_reason(scratch):
    directory = scratch("finshard-drill-")
    (directory / "cluster.json").write_text(json.dumps({"citus": True, "complete": True, "nodes": [
        {"name": "coordinator", "role": "coordinator", "port": 1, "datadir": str(directory / "x")}]}))
    res = subprocess.run([sys.executable, "-m", "finshard.cli", "failover", "drill", "--dir", str(directory), "--node", "coordinator"],
                         capture_output=True, text=True, cwd=ROOT)
    assert res.returncode != 0 and "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) == 1
