"""Issue 16: backups and point-in-time recovery with pgBackRest, on plain PostgreSQL and on Citus.

Real pgBackRest, real WAL archiving, real restores into new clusters on new ports.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from finshard.errors import ClusterError
from finshard.local import backup, pgbackrest
from finshard.local.cluster import Cluster
from finshard.ops.backup import create_restore_point
from finshard.ops.installer import install
from finshard.router import Router
from tests.helpers import new_account

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(shutil.which("pgbackrest") is None,
                                reason="pgbackrest is not installed (scripts/setup.sh installs it)")


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "finshard.cli", *args], capture_output=True, text=True, cwd=ROOT,
                          env=dict(os.environ), timeout=600)


def one_line_error(res: subprocess.CompletedProcess[str], *needles: str) -> str:
    assert res.returncode != 0, res.stdout
    assert "Traceback" not in res.stderr
    lines = [line for line in res.stderr.splitlines() if line.strip() and not line.startswith("  ")]
    assert len(lines) == 1, res.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def test_every_node_archives_its_wal_to_the_repository(db):
    for node in db.cluster.nodes:
        with psycopg.connect(node.dsn(), autocommit=True) as conn:
            assert conn.execute("SHOW archive_mode").fetchone()[0] == "on"
            command = conn.execute("SHOW archive_command").fetchone()[0]
            assert f"--stanza={pgbackrest.stanza(db.cluster, node)} archive-push" in command
            conn.execute("SELECT pg_switch_wal()")
    deadline = time.monotonic() + 30
    for node in db.cluster.nodes:
        with psycopg.connect(node.dsn(), autocommit=True) as conn:
            while True:
                archived, failed = conn.execute("SELECT archived_count, failed_count FROM pg_stat_archiver").fetchone()
                if archived > 0:
                    break
                assert time.monotonic() < deadline, f"{node.name} archived nothing"
                time.sleep(0.3)
            assert failed == 0
    assert (Path(db.cluster.backup_repo) / "archive" / pgbackrest.stanza(db.cluster, db.cluster.coordinator)).is_dir()


def test_restore_drill_restores_exactly_what_was_acknowledged_before_the_point(db):
    report = backup.drill(db.cluster.directory, clients=4)
    assert report["problems"] == [] and report["passed"]
    assert report["acknowledged_before_point"] > 20 and report["started_after_point"] > 20
    assert report["restored_nodes_up"] and report["restore_seconds"] > 0 and report["backup_seconds"] > 0
    assert len(report["restore_point_lsns"]) == len(db.cluster.nodes)
    if db.citus:
        assert report["cross_node_transfers"] > 10
    assert not [p for p in db.cluster.directory.parent.iterdir() if "-drill-" in p.name], "the drill left its cluster behind"
    # What it made in the source can no longer be used: no money left, users deactivated.
    with db.connect() as conn:
        users = report["drill_users"]
        assert conn.execute("SELECT bool_or(is_active) FROM finshard.users WHERE user_id = ANY(%s)", (users,)).fetchone()[0] is False
        assert conn.execute("SELECT sum(balance) FROM finshard.accounts WHERE user_id = ANY(%s)", (users,)).fetchone()[0] == 0


def test_backup_list_reports_times_sizes_and_wal_range(db):
    result = backup.backup(db.cluster.directory, backup_type="incr")
    assert {n["node"] for n in result["nodes"]} == {n.name for n in db.cluster.nodes}
    listed = json.loads(cli("backup", "list", "--dir", str(db.cluster.directory), "--json").stdout)
    for node in listed:
        last = node["backups"][-1]
        assert last["label"] in {n["label"] for n in result["nodes"]}
        assert last["wal_start"] <= last["wal_stop"] and last["size"] > 0 and last["repo_size"] > 0
        assert datetime.fromisoformat(last["started"]) <= datetime.fromisoformat(last["stopped"])
    # The repository is encrypted: whoever reads it (a copy, a bucket) reads neither the data nor
    # the key files; the passphrase is in the config, the postgres user's alone.
    conf = pgbackrest.config_path(db.cluster)
    assert "repo1-cipher-type=aes-256-cbc" in conf.read_text() and conf.stat().st_mode & 0o077 == 0
    repo = Path(db.cluster.backup_repo)
    copies = list(repo.glob("backup/*/*/pg_data/finshard_audit.key*"))
    assert copies and all(c.read_bytes().startswith(b"Salted__") for c in copies)
    assert all(f.read_bytes().startswith(b"Salted__") for f in repo.glob("backup/*/backup.info"))


def _transfer(conn: psycopg.Connection, src: int, dst: int, key: str) -> None:
    conn.execute("SELECT finshard.transfer(%s::bigint, %s::bigint, 1.00::numeric, %s)", (src, dst, key))


def _keys(dsn: str, accounts: list[int]) -> set[str]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return {k for (k,) in conn.execute("SELECT idempotency_key FROM finshard.transfers WHERE from_account_id = ANY(%s)",
                                           (accounts,)).fetchall()}


def test_target_time_between_two_restore_points(db, scratch):
    """Plain PostgreSQL replays to the time itself. On Citus a time restores to the last
    cluster-consistent restore point at or before it: per-node clocks cannot order a two-phase
    commit across nodes, restore points can."""
    with db.connect() as conn:
        accounts = [new_account(conn, "USD", "100.00") for _ in range(6)]
    with Router.connect(db.dsn) as r:
        if db.citus:
            # Pairs on two nodes, so the transfers are two-phase commits.
            nodes = {a: r.shard_for(a).node for a in accounts}
            pairs = [(a, b) for a in accounts for b in accounts if nodes[a] != nodes[b]][:3]
        else:
            pairs = [(accounts[0], accounts[1]), (accounts[2], accounts[3]), (accounts[4], accounts[5])]
    assert pairs
    tag = uuid.uuid4().hex[:8]
    backup.backup(db.cluster.directory, backup_type="incr")
    with db.connect() as conn:
        _transfer(conn, *pairs[0], f"{tag}-early")
        create_restore_point(db.dsn, f"{tag}-p1")
        time.sleep(1.2)
        _transfer(conn, *pairs[1], f"{tag}-middle")
        time.sleep(1.2)
        between = conn.execute("SELECT clock_timestamp()").fetchone()[0]
        time.sleep(1.2)
        _transfer(conn, *pairs[2], f"{tag}-late")
        create_restore_point(db.dsn, f"{tag}-p2")
    to = scratch("finshard-pitr-") / "restored"
    result = backup.restore(db.cluster.directory, to, target_time=between)
    try:
        found = _keys(result["dsn"], accounts)
        if db.citus:
            assert result["target_type"] == "name" and result["target"] == f"{tag}-p1"
            assert found == {f"{tag}-early"}
        else:
            assert result["target_type"] == "time"
            assert found == {f"{tag}-early", f"{tag}-middle"}
        with psycopg.connect(result["dsn"], autocommit=True) as conn:
            assert conn.execute("SELECT count(*) FROM finshard.ledger_verify()").fetchone()[0] == 0
            totals = conn.execute("SELECT sum(balance) FROM finshard.accounts WHERE account_id = ANY(%s)", (accounts,)).fetchone()[0]
            assert totals == Decimal("600.00")
    finally:
        Cluster.load(to).down()
    if db.citus:
        # A time after now would resolve to the last restore point and drop what followed it.
        later = scratch("finshard-pitr-") / "later"
        with pytest.raises(ClusterError, match="in the future"):
            backup.restore(db.cluster.directory, later, target_time=datetime.now(timezone.utc) + timedelta(hours=1))
        assert not later.exists()


def test_restore_reads_the_restore_points_from_a_copy_when_the_cluster_is_gone(scratch):
    directory = scratch("finshard-dr-") / "c"
    cluster = Cluster.up(directory, use_citus=False)
    try:
        install(cluster.dsn())
        backup.backup(directory)
        with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
            acc = new_account(conn, "USD", "5.00")
            create_restore_point(cluster.dsn(), "before-the-mistake")
            conn.execute("SELECT finshard.withdraw(%s::bigint, 5.00::numeric)", (acc,))
    finally:
        cluster.down()
    to = directory.parent / "restored"
    result = cli("restore", "--dir", str(directory), "--to", str(to), "--target-name", "before-the-mistake")
    assert result.returncode == 0, result.stderr
    assert "unreachable: restoring a copy of it" in result.stderr
    try:
        with psycopg.connect(Cluster.load(to).dsn(), autocommit=True) as conn:
            assert conn.execute("SELECT balance FROM finshard.accounts WHERE account_id = %s", (acc,)).fetchone()[0] == Decimal("5.00")
            # The restored cluster archives to its own repository and takes writes.
            assert conn.execute("SHOW archive_command").fetchone()[0].count(str(to)) == 1
            conn.execute("SELECT finshard.deposit(%s::bigint, 1.00::numeric)", (acc,))
        status = json.loads(cli("cluster", "status", "--dir", str(to), "--json").stdout)
        assert all(n["up"] for n in status)
        assert not [p for p in directory.parent.iterdir() if "-registry-" in p.name]
    finally:
        Cluster.load(to).down()


def test_restore_point_names_are_checked_and_nothing_is_recorded(plain):
    taken = f"rp-{uuid.uuid4().hex[:8]}"
    assert cli("backup", "restore-point", taken, "--dsn", plain.dsn).returncode == 0
    one_line_error(cli("backup", "restore-point", taken, "--dsn", plain.dsn), "FS092", "exists already")
    for bad in ("", "has space", "x" * 64, "semi;colon", "-leading", "quote'd"):
        one_line_error(cli("backup", "restore-point", "--dsn", plain.dsn, "--", bad), "FS091")
    with plain.connect() as conn:
        names = [n for (n,) in conn.execute("SELECT name FROM finshard.restore_points").fetchall()]
    assert taken in names and not any(" " in n or ";" in n for n in names)


def test_restore_point_is_refused_without_archiving(scratch):
    directory = scratch("finshard-noarch-") / "c"
    cluster = Cluster.up(directory, use_citus=False)
    try:
        install(cluster.dsn())
        with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
            conn.execute("ALTER SYSTEM SET archive_mode = off")
        cluster.down()
        cluster.start()
        one_line_error(cli("backup", "restore-point", "nowhere", "--dsn", cluster.dsn()), "FS093", "archiving is off")
    finally:
        cluster.down()


def test_restore_refuses_bad_requests_with_one_line(plain, scratch):
    source = str(plain.cluster.directory)
    backup.backup(source, backup_type="incr")
    full = scratch("finshard-full-")
    (full / "something").write_text("x")
    cases = [
        (("restore", "--dir", source, "--to", str(full), "--target-name", "x"), "not empty"),
        (("restore", "--dir", source, "--to", str(full / "new")), "exactly one"),
        (("restore", "--dir", source, "--to", str(full / "new"), "--target-name", "x", "--target-time", "2026-01-01T00:00:00+00:00"), "exactly one"),
        (("restore", "--dir", source, "--to", str(full / "new"), "--target-time", "yesterday"), "is not a time"),
        (("restore", "--dir", source, "--to", str(full / "new"), "--target-time", "2026-01-01 10:00"), "time zone"),
        (("restore", "--dir", source, "--to", str(full / "new"), "--target-name", "no-such-point"), "no restore point named"),
        (("restore", "--dir", str(full), "--to", str(full / "new"), "--target-name", "x"), "holds no finshard cluster"),
        (("backup", "--dir", str(full)), "holds no finshard cluster"),
        (("backup", "--dir", source, "--type", "weekly"), "weekly"),
    ]
    for args, needle in cases:
        res = cli(*args)
        assert res.returncode != 0 and "Traceback" not in res.stderr, (args, res.stderr)
        assert needle in res.stderr, (args, res.stderr)
    assert not (full / "new").exists()


def test_backup_repo_elsewhere_and_config_for_an_outside_cluster(scratch):
    base = scratch("finshard-repo-")
    repo = base / "repo"
    res = cli("cluster", "up", "--dir", str(base / "c"), "--no-citus", "--backup-repo", str(repo))
    assert res.returncode == 0, res.stderr
    dsn = res.stdout.strip()
    try:
        assert (repo / "archive").is_dir() and not (base / "c" / "backup").exists()
        one_line_error(cli("cluster", "up", "--dir", str(base / "c"), "--backup-repo", str(base / "other")), "cannot move")
        config = cli("backup", "config", "--dsn", dsn, "--repo", "/srv/pgbackrest")
        assert config.returncode == 0, config.stderr
        assert "repo1-path=/srv/pgbackrest" in config.stdout and "archive_mode = on" in config.stdout
        assert f"pg1-path={Cluster.load(base / 'c').coordinator.datadir}" in config.stdout
        assert "--stanza=finshard-single --type=incr backup" in config.stdout
        assert "archive_command = 'pgbackrest --stanza=finshard-single archive-push %p'" in config.stdout
        one_line_error(cli("restore", "--dir", str(base / "c"), "--to", str(base / "r"), "--target-name", "x"), "has no backup")
    finally:
        cli("cluster", "down", "--dir", str(base / "c"))
    one_line_error(cli("cluster", "up", "--dir", str(base / "d"), "--no-citus", "--backup-repo", str(base / "it's")), "characters")


@pytest.mark.citus
def test_restore_point_waits_for_a_workers_two_phase_commit_in_progress(citus):
    """A worker that is committing a distributed transaction it started (a delegated cross-node
    transfer) holds its pg_dist_transaction; the restore point waits for it, and gives up with
    FS094 recording nothing rather than write a point in the middle of that commit."""
    worker = citus.cluster.workers[0]
    name = f"rp-{uuid.uuid4().hex[:8]}"
    with psycopg.connect(worker.dsn(), autocommit=True) as holder:
        with holder.transaction():
            holder.execute("LOCK TABLE pg_catalog.pg_dist_transaction IN ROW EXCLUSIVE MODE")
            started = time.monotonic()
            res = cli("backup", "restore-point", name, "--dsn", citus.dsn)
            waited = time.monotonic() - started
    one_line_error(res, "FS094", "not written")
    assert waited >= 9
    with citus.connect() as conn:
        assert conn.execute("SELECT count(*) FROM finshard.restore_points WHERE name = %s", (name,)).fetchone()[0] == 0
        # No node is left paused: distributed commits go through and the next point is written.
        assert cli("backup", "restore-point", name, "--dsn", citus.dsn).returncode == 0


def test_a_failed_restore_leaves_nothing_behind(plain, scratch):
    backup.backup(plain.cluster.directory, backup_type="incr")
    base = scratch("finshard-failed-")
    later = datetime.now(timezone.utc).replace(year=datetime.now(timezone.utc).year + 1)
    with plain.connect() as conn:
        conn.execute("SELECT pg_switch_wal()")
    for to in (base / "new", base):  # a directory restore makes, and an empty one it was given
        res = cli("restore", "--dir", str(plain.cluster.directory), "--to", str(to), "--target-time", later.isoformat())
        one_line_error(res, "recovery")
        assert not (base / "new").exists() and list(base.iterdir()) == []
    assert not [p for p in base.parent.iterdir() if p.name.startswith(f".{base.name}")]


def test_restore_refuses_a_target_directory_it_would_put_in_a_shell_command(plain):
    res = cli("restore", "--dir", str(plain.cluster.directory), "--to", "/tmp/finshard-x;touch pwned;", "--target-name", "x")
    one_line_error(res, "characters")
    assert not Path("/tmp/finshard-x;touch pwned;").exists()


def test_tls_secrets_are_private_from_their_first_byte(plain):
    tls = plain.cluster.directory / "tls"
    assert tls.stat().st_mode & 0o007 == 0
    for name in ("pgpass", "superuser.password", "ca.key"):
        assert (tls / name).stat().st_mode & 0o077 == 0, name


def test_backup_config_takes_a_local_cluster_directory_too(plain):
    res = cli("backup", "config", "--dir", str(plain.cluster.directory), "--repo", "/srv/pgbackrest")
    assert res.returncode == 0, res.stderr
    assert f"pg1-path={plain.cluster.coordinator.datadir}" in res.stdout and "archive_timeout = 60" in res.stdout
    env_less = subprocess.run([sys.executable, "-m", "finshard.cli", "backup", "config"], capture_output=True, text=True,
                              cwd=ROOT, env={k: v for k, v in os.environ.items() if k != "FINSHARD_DSN"}, timeout=60)
    one_line_error(env_less, "--dir DIR")
