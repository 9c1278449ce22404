"""In-place upgrades: a database the previous release installed, with money, trades and audit
chains in it, is brought to this release by `finshard upgrade`, and nothing in it changes but the
schema; a failing migration leaves the level before it; install refuses what it cannot upgrade.

The previous release is finshard 0.1.0 (tag v0.1.0), taken from git history with its own
installer and SQL, so the test installs what its users installed.
"""

from __future__ import annotations

import difflib
import os
import shutil
import subprocess
import sys
import uuid
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import psycopg
import pytest

from finshard.errors import FinshardError
from finshard.ops.installer import SchemaMismatch, install, installed_schema, migrations, sql_root
from tests.helpers import new_account, scratch_database, scratch_login

ROOT = Path(__file__).resolve().parent.parent
PREVIOUS_RELEASE = "e2d80c4016ef2fde8d070722a6eedd1bcf482a89"  # v0.1.0


@pytest.fixture(scope="module")
def previous_release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """finshard 0.1.0's tree (package and SQL), from git history."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs the git history of a finshard checkout (the previous release's schema comes from it)")
    if subprocess.run(["git", "cat-file", "-e", f"{PREVIOUS_RELEASE}^{{commit}}"], cwd=ROOT).returncode != 0:
        pytest.skip(f"the checkout lacks commit {PREVIOUS_RELEASE} (v0.1.0): a shallow clone?")
    tree = tmp_path_factory.mktemp("finshard-0.1.0")
    archive = subprocess.run(["git", "archive", PREVIOUS_RELEASE], cwd=ROOT, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    return tree


def install_previous(tree: Path, dsn: str, *extra: str) -> None:
    """`finshard install` as release 0.1.0 ran it: its own code and SQL, nothing of this checkout."""
    env = {k: v for k, v in os.environ.items() if k not in ("FINSHARD_SQL_DIR", "PYTHONPATH")}
    env["PYTHONPATH"] = str(tree)
    res = subprocess.run([sys.executable, "-m", "finshard.cli", "install", "--dsn", dsn, *extra],
                         capture_output=True, text=True, cwd=tree, env=env)
    assert res.returncode == 0, res.stderr
    assert "finshard 0.1.0 installed" in res.stdout


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "finshard.cli", *args], capture_output=True, text=True, cwd=ROOT)


def activity(conn: psycopg.Connection[Any]) -> list[int]:
    """Money moving every way the ledger knows, trades settled, users audited; the accounts used."""
    conn.execute("SELECT finshard.set_fx_rate('USD', 'EUR', 0.9137)")
    usd = [new_account(conn, "USD", "1000.00") for _ in range(3)]
    eur = [new_account(conn, "EUR", "500.00") for _ in range(2)]
    conn.execute("SELECT finshard.withdraw(%s::bigint, 40.10)", (usd[0],))
    conn.execute("SELECT finshard.transfer(%s::bigint, %s::bigint, 25.00)", (usd[0], usd[1]))
    conn.execute("SELECT finshard.transfer(%s::bigint, %s::bigint, 100.00)", (usd[0], eur[0]))
    conn.execute("SELECT finshard.transfer(%s::bigint, %s::bigint, 10.00, %s)", (eur[0], eur[1], str(uuid.uuid4())))
    pend = "SELECT finshard.create_pending_transfer(%s::bigint, %s::bigint, %s::numeric)"
    posted = conn.execute(pend, (usd[1], usd[2], D("60"))).fetchone()[0]  # type: ignore[index]
    voided = conn.execute(pend, (eur[0], usd[0], D("20"))).fetchone()[0]  # type: ignore[index]
    conn.execute(pend, (usd[2], usd[1], D("5")))  # left pending across the upgrade
    conn.execute("SELECT finshard.post_pending_transfer(%s::bigint, %s::bigint, 45)", (usd[1], posted))
    conn.execute("SELECT finshard.void_pending_transfer(%s::bigint, %s::bigint)", (eur[0], voided))
    sym = "U" + uuid.uuid4().hex[:8].upper()
    iid = conn.execute("SELECT finshard.create_instrument(%s, %s, p_tick_size => 0.01, p_lot_size => 1)",
                       (sym, f"{sym} Corp")).fetchone()[0]  # type: ignore[index]
    conn.execute("SELECT finshard.update_quote(%s::bigint, 9.90, 1000, 10.05, 1000)", (iid,))
    order = "SELECT finshard.place_order(%s::bigint, %s::bigint, %s, %s, %s::numeric, %s::numeric)"
    conn.execute(order, (usd[2], iid, "market", "buy", 30, None))
    conn.execute(order, (usd[2], iid, "market", "sell", 12, None))
    conn.execute(order, (usd[1], iid, "limit", "buy", 7, D("9.50")))  # resting across the upgrade
    return usd + eur


def state(conn: psycopg.Connection[Any]) -> dict[str, Any]:
    """Everything an upgrade must leave exactly as it was."""
    q = {
        "accounts": "SELECT account_id, user_id, currency, balance, reserved, status, entry_seq, audit_seq FROM finshard.accounts",
        "ledger": "SELECT account_id, entry_seq, transaction_id, transaction_type, amount, balance_after, status, "
                  "transfer_id, created_at FROM finshard.transactions",
        "transfers": "SELECT * FROM finshard.transfers",
        "orders": "SELECT * FROM finshard.orders",
        "trades": "SELECT * FROM finshard.trades",
        "positions": "SELECT * FROM finshard.positions",
        "audit": "SELECT account_id, audit_seq, action, prev_hash, hash FROM finshard.audit_log",
        "user_audit": "SELECT user_id, audit_seq, action, prev_hash, hash FROM finshard.user_audit_log",
        "users": "SELECT * FROM finshard.users",
    }
    return {name: sorted(conn.execute(sql).fetchall(), key=repr) for name, sql in q.items()}


def verified(conn: psycopg.Connection[Any]) -> tuple[list[Any], list[Any]]:
    """ledger_verify's and audit_verify's complaints (none for a sound ledger and unbroken chains)."""
    return (conn.execute("SELECT * FROM finshard.ledger_verify()").fetchall(),
            conn.execute("SELECT * FROM finshard.audit_verify()").fetchall())


def schema_dump(dsn: str) -> list[str]:
    """pg_dump's schema of the finshard schema, without the per-run \\restrict key."""
    from finshard.local.postgres import find_pg_bin

    out = subprocess.run([str(find_pg_bin() / "pg_dump"), "--schema-only", "--schema=finshard", "-d", dsn],
                         capture_output=True, text=True, check=True).stdout
    return [line for line in out.splitlines() if not line.startswith(("\\restrict", "\\unrestrict"))]


def upgrade_in_place(tree: Path, dsn: str, fresh_dsn: str, *, citus: bool) -> None:
    extra = ("--shard-count", "4") if citus else ()
    install_previous(tree, dsn, *extra)
    with psycopg.connect(dsn, autocommit=True) as conn:
        accounts = activity(conn)
        assert verified(conn) == ([], [])
        before = state(conn)
    assert cli("upgrade", "--dsn", dsn, "--dry-run").stdout.strip().endswith(
        "pending migrations: " + ", ".join(m.name for m in migrations()))
    res = cli("upgrade", "--dsn", dsn)
    assert res.returncode == 0, res.stderr
    assert f"upgraded from schema level 0 to {len(migrations())}" in res.stdout
    with psycopg.connect(dsn, autocommit=True) as conn:
        assert state(conn) == before
        assert verified(conn) == ([], [])
        found = installed_schema(conn)
        assert found is not None and found.level == len(migrations()) and found.version != "0.1.0"
        steps = [r[0] for r in conn.execute("SELECT step FROM finshard.schema_version WHERE step IS NOT NULL ORDER BY migration")]
        assert steps == [m.name for m in migrations()]
        # The chains go on where they stopped: new money after the upgrade verifies with the old.
        conn.execute("SELECT finshard.transfer(%s::bigint, %s::bigint, 1.00)", (accounts[1], accounts[2]))
        activity(conn)
        assert verified(conn) == ([], [])
    res = cli("upgrade", "--dsn", dsn)
    assert res.returncode == 0 and "(0 migrations" in res.stdout, res.stderr
    # Nothing of 0.1.0 survives that a fresh install would not have: same tables, functions, grants.
    install(fresh_dsn, shard_count=4 if citus else None)
    upgraded, fresh = schema_dump(dsn), schema_dump(fresh_dsn)
    assert upgraded == fresh, "\n".join(list(difflib.unified_diff(fresh, upgraded, "fresh", "upgraded", lineterm=""))[:80])


def test_the_previous_release_upgrades_in_place_with_money_and_audit_intact(plain, previous_release):
    with scratch_database(plain, "finshard_prev") as dsn, scratch_database(plain, "finshard_prev_fresh") as fresh:
        upgrade_in_place(previous_release, dsn, fresh, citus=False)


@pytest.mark.citus
@pytest.mark.slow
def test_the_previous_release_upgrades_in_place_on_citus(previous_release, scratch):
    """On Citus through the coordinator: the migrations' DDL reaches every shard."""
    from finshard.local.cluster import Cluster
    from tests.conftest import CITUS, CITUS_REASON

    if not CITUS:
        pytest.skip(CITUS_REASON)
    old = Cluster.up(scratch("finshard-upgrade-") / "old", workers=2, use_citus=True)
    fresh = Cluster.up(scratch("finshard-upgrade-fresh-") / "fresh", workers=2, use_citus=True)
    try:
        upgrade_in_place(previous_release, old.dsn(), fresh.dsn(), citus=True)
        with psycopg.connect(old.dsn(), autocommit=True) as conn:
            # The tables are still distributed, with their shards on the workers.
            assert conn.execute("SELECT count(*) FROM pg_dist_partition WHERE logicalrelid = 'finshard.accounts'::regclass").fetchone()[0] == 1  # type: ignore[index]
            worker = conn.execute("SELECT nodename, nodeport FROM pg_dist_node WHERE groupid > 0 LIMIT 1").fetchone()
        assert worker is not None
        worker_dsn = psycopg.conninfo.make_conninfo(old.dsn(), host=worker[0], port=worker[1])
        with pytest.raises(FinshardError, match="is a Citus worker; install and upgrade through the coordinator"):
            install(worker_dsn)
    finally:
        old.down()
        fresh.down()


def test_a_failing_migration_leaves_the_level_before_it(plain, tmp_path, monkeypatch):
    """Each migration is one transaction with its record: a failure rolls back that step alone."""
    sql = tmp_path / "sql"
    shutil.copytree(sql_root(), sql)
    nxt = len(migrations()) + 1
    (sql / "migrations" / f"{nxt:04d}_broken.sql").write_text(
        "ALTER TABLE finshard.accounts ADD COLUMN nickname text;\nSELECT 1 / 0;\n")
    with scratch_database(plain, "finshard_broken") as dsn:
        install(dsn)
        with psycopg.connect(dsn, autocommit=True) as conn:
            runs = conn.execute("SELECT count(*) FROM finshard.schema_version").fetchone()[0]  # type: ignore[index]
        monkeypatch.setenv("FINSHARD_SQL_DIR", str(sql))
        with pytest.raises(FinshardError, match=rf"upgrade failed in migrations/{nxt:04d}_broken.sql: division by zero; "
                                                rf".* stays at schema level {nxt - 1}"):
            install(dsn)
        res = subprocess.run([sys.executable, "-m", "finshard.cli", "upgrade", "--dsn", dsn], capture_output=True,
                             text=True, cwd=ROOT, env={**os.environ, "FINSHARD_SQL_DIR": str(sql)})
        assert res.returncode == 1 and "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) == 1
        assert "division by zero" in res.stderr
        with psycopg.connect(dsn, autocommit=True) as conn:
            assert conn.execute("SELECT to_regclass('finshard.accounts') IS NOT NULL AND NOT EXISTS (SELECT 1 FROM "
                                "pg_attribute WHERE attrelid = 'finshard.accounts'::regclass AND attname = 'nickname')"
                                ).fetchone()[0]  # type: ignore[index]
            assert conn.execute("SELECT count(*) FROM finshard.schema_version").fetchone()[0] == runs  # type: ignore[index]
            assert installed_schema(conn).level == nxt - 1  # type: ignore[union-attr]


def test_every_migration_reruns_harmlessly(plain):
    """A database psql installed records no level, so `finshard install` runs every migration over
    tables that have it already: each must be a no-op there."""
    with scratch_database(plain, "finshard_rerun") as dsn:
        install(dsn)
        before = schema_dump(dsn)
        with psycopg.connect(dsn, autocommit=True) as conn:
            for migration in migrations():
                conn.execute(migration.sql.encode())
            conn.execute("DELETE FROM finshard.schema_version")  # as psql leaves it
        assert install(dsn).migrations == [m.name for m in migrations()]
        assert schema_dump(dsn) == before


def test_install_sql_requires_and_records_the_last_migrations_level():
    """psql -f install.sql refuses another level (FS095) by the number it carries, and records a
    run with it: the last migration's, and this finshard's version."""
    from finshard import __version__

    text = (sql_root() / "install.sql").read_text()
    assert f"v_required constant integer := {len(migrations())};" in text
    assert f"SELECT '{__version__}', clock_timestamp(), EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'citus'), {len(migrations())}" in text


# The tables' fingerprint at each schema level. A table file's DDL that changes without a new
# migration fails here: add the migration (finshard/sql/migrations/) and its level's fingerprint.
FINGERPRINTS = {1: "082c8d226395e983c5b144f0e0d7e2192f178224f0f2031fc6ff7a9a9fa5838d",
                2: "782921607cfba38ba225386fad0a9149144854397de87a977289a1686e6da387",
                3: "a07387d7dd7ccd6d78ad5e70d1311bfee4aa8f90e2ab52dc692fc2dcc356b9db",
                4: "5c60a630d46e36cdcda275a8bded55e37d75671bbef816171cceda012d73bd64",
                5: "86a94b238284e3fdaf12fbfbdb47518e89b30fd74a62d0ea49641b23fae6e9a2"}


def test_the_table_ddl_is_what_its_schema_level_says():
    from finshard.ops.installer import schema_fingerprint

    assert schema_fingerprint() == FINGERPRINTS[len(migrations())]


def test_install_refuses_what_it_cannot_upgrade_and_changes_nothing(plain, previous_release):
    with scratch_database(plain, "finshard_refuse") as dsn:
        install(dsn)
        with psycopg.connect(dsn, autocommit=True) as conn:
            runs = conn.execute("SELECT count(*) FROM finshard.schema_version").fetchone()[0]  # type: ignore[index]
            # A build that changed a table without a migration: same level, other tables.
            conn.execute("UPDATE finshard.schema_version SET schema_hash = 'another-schema'")
        with pytest.raises(SchemaMismatch, match="a table changed without a migration"):
            install(dsn)
        res = cli("install", "--dsn", dsn)
        assert res.returncode == 1 and "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) == 1
        assert "cannot be upgraded in place" in res.stderr
        with psycopg.connect(dsn, autocommit=True) as conn:
            assert conn.execute("SELECT count(*) FROM finshard.schema_version").fetchone()[0] == runs  # type: ignore[index]
            # A later finshard's level.
            conn.execute("INSERT INTO finshard.schema_version (version, migration, step) VALUES ('9.9.9', 999, 'migrations/0999_x.sql')")
        with pytest.raises(SchemaMismatch, match=r"schema level 999 \(finshard 9.9.9\), newer than this finshard"):
            install(dsn)
        # psql refuses the same with FS095, before it changes anything.
        res = subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", dsn, "-f", str(sql_root() / "install.sql")],
                             capture_output=True, text=True)
        assert res.returncode != 0 and "schema level 999, and this install is level" in res.stderr
    with scratch_database(plain, "finshard_refuse_old") as dsn:
        install_previous(previous_release, dsn)
        res = subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-v", "VERBOSITY=verbose", "-d", dsn,
                              "-f", str(sql_root() / "install.sql")], capture_output=True, text=True)
        assert res.returncode != 0 and "FS095" in res.stderr and "finshard upgrade --dsn" in res.stderr
        with psycopg.connect(dsn, autocommit=True) as conn:
            assert installed_schema(conn).level == 0  # type: ignore[union-attr]
    with scratch_database(plain, "finshard_none") as dsn:
        res = cli("upgrade", "--dsn", dsn)
        assert res.returncode == 1 and "holds no finshard to upgrade" in res.stderr


def test_one_install_or_upgrade_at_a_time(plain):
    with scratch_database(plain, "finshard_lock") as dsn:
        install(dsn)
        with psycopg.connect(dsn, autocommit=True) as other:
            other.execute("SELECT pg_advisory_lock(hashtext('finshard.install'))")
            with pytest.raises(FinshardError, match="another finshard install or upgrade is running"):
                install(dsn)


def test_an_upgrade_stopped_after_its_migrations_is_finished_by_the_next_run(plain, previous_release, tmp_path,
                                                                            monkeypatch):
    broken = tmp_path / "sql"
    shutil.copytree(sql_root(), broken)
    (broken / "procedures" / "withdraw.sql").write_text("SELECT 1 / 0;\n")
    with scratch_database(plain, "finshard_stopped") as dsn:
        install_previous(previous_release, dsn)
        with psycopg.connect(dsn, autocommit=True) as conn:
            activity(conn)
            before = state(conn)
        monkeypatch.setenv("FINSHARD_SQL_DIR", str(broken))
        with pytest.raises(FinshardError, match=r"install failed in procedures/withdraw.sql: division by zero"):
            install(dsn, upgrade_only=True)
        monkeypatch.delenv("FINSHARD_SQL_DIR")
        with psycopg.connect(dsn, autocommit=True) as conn:
            assert installed_schema(conn).level == len(migrations())  # type: ignore[union-attr]
        report = install(dsn, upgrade_only=True)  # no migration left; the install steps run again
        assert report.migrations == [] and report.from_level == len(migrations())
        with psycopg.connect(dsn, autocommit=True) as conn:
            assert state(conn) == before
            assert verified(conn) == ([], [])


def test_a_migration_outside_a_transaction_runs_statement_by_statement(plain, tmp_path, monkeypatch):
    sql = tmp_path / "sql"
    shutil.copytree(sql_root(), sql)
    nxt = len(migrations()) + 1
    (sql / "migrations" / f"{nxt:04d}_two_indexes.sql").write_text(
        "-- finshard: no transaction\n"
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS banks_name_test_idx ON finshard.banks (name);\n"
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS banks_code_test_idx ON finshard.banks (code, name);\n")
    with scratch_database(plain, "finshard_concurrently") as dsn:
        install(dsn)
        monkeypatch.setenv("FINSHARD_SQL_DIR", str(sql))
        from finshard.ops.installer import _apply

        (migration,) = [m for m in migrations() if m.number == nxt]
        assert not migration.transactional
        with psycopg.connect(dsn, autocommit=True) as conn:
            _apply(conn, migration, False, dsn)
            assert conn.execute("SELECT count(*) FROM pg_indexes WHERE indexname LIKE 'banks\\_%%\\_test\\_idx'").fetchone()[0] == 2  # type: ignore[index]
            assert installed_schema(conn).level == nxt  # type: ignore[union-attr]


def test_psql_refuses_a_previous_release_it_installed_itself_before_any_change(plain, previous_release):
    with scratch_database(plain, "finshard_psql_old") as dsn:
        res = subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", dsn, "-f",
                              str(previous_release / "install.sql")], capture_output=True, text=True)
        assert res.returncode == 0, res.stderr
        before = schema_dump(dsn)
        res = subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-v", "VERBOSITY=verbose", "-d", dsn,
                              "-f", str(sql_root() / "install.sql")], capture_output=True, text=True)
        assert res.returncode != 0 and "FS095" in res.stderr and "schema level 0" in res.stderr
        assert schema_dump(dsn) == before
        # finshard upgrade takes it from there, and psql then installs over it (and records its run).
        assert install(dsn, upgrade_only=True).migrations == [m.name for m in migrations()]
        res = subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", dsn, "-f", str(sql_root() / "install.sql")],
                             capture_output=True, text=True)
        assert res.returncode == 0, res.stderr
        with psycopg.connect(dsn, autocommit=True) as conn:
            assert conn.execute("SELECT migration, schema_hash IS NULL FROM finshard.schema_version "
                                "ORDER BY installed_at DESC LIMIT 1").fetchone() == (len(migrations()), True)


def test_install_needs_a_superuser_and_never_prints_a_password(plain):
    from finshard.ops.installer import _safe

    for dsn in ("host=h port=5 dbname=d user=u password = 'Sekr3t PW'", "postgresql://u:se:cr/et@h:5/d",
                "postgresql://u:Sekr3t@h/d?sslmode=require", "user=u password=Sekr3t host=h"):
        assert "Sekr3t" not in _safe(dsn) and "se:cr" not in _safe(dsn) and "PW" not in _safe(dsn), dsn
    with scratch_database(plain, "finshard_nosuper") as dsn:
        install(dsn)
        with scratch_login(plain, dsn, "installer_app", "finshard_app") as app:
            res = cli("upgrade", "--dsn", app)
            assert res.returncode == 1 and len(res.stderr.strip().splitlines()) == 1, res.stderr
            assert "logs in as installer_app, not a superuser" in res.stderr


@pytest.mark.citus
def test_a_dry_run_on_citus_leaves_a_database_without_finshard_untouched(citus):
    with scratch_database(citus, "finshard_dry") as dsn:
        res = cli("upgrade", "--dsn", dsn, "--dry-run")
        assert res.returncode == 1 and "holds no finshard to upgrade" in res.stderr
        with psycopg.connect(dsn, autocommit=True) as conn:
            assert conn.execute("SELECT count(*) FROM pg_extension WHERE extname = 'citus'").fetchone()[0] == 0  # type: ignore[index]
