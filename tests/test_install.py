"""Issue 2: install is idempotent, tables are distributed as planned, partitions exist and prune."""

from __future__ import annotations

import re
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import pytest

from finshard.ops.installer import install, install_steps, sql_root
from tests.helpers import scratch_database

ROOT = Path(__file__).resolve().parent.parent
SQL = ROOT / "finshard" / "sql"

REFERENCE = {"finshard.error_codes", "finshard.currencies", "finshard.fx_rates", "finshard.banks", "finshard.users",
             "finshard.instruments"}
BY_ACCOUNT = {"finshard.accounts": "account_id", "finshard.account_keys": "user_id",
              "finshard.idempotency_keys": "account_id", "finshard.transfers": "from_account_id",
              "finshard.transactions": "account_id", "finshard.orders": "account_id", "finshard.trades": "account_id",
              "finshard.positions": "account_id", "finshard.notifications": "account_id",
              "finshard.notification_outbox": "account_id",
              "finshard.price_alerts": "account_id", "finshard.audit_log": "account_id"}
BY_INSTRUMENT = {"finshard.quotes": "instrument_id", "finshard.market_data": "instrument_id"}
PARTITIONED = ["transactions", "orders", "trades", "quotes", "market_data", "notifications", "audit_log"]


def test_install_sql_lists_every_sql_file_once():
    listed = re.findall(r"^\\ir (\S+)$", (SQL / "install.sql").read_text(), re.M)
    on_disk = sorted(str(p.relative_to(SQL)) for d in ("schema", "procedures", "partitions", "maintenance") for p in (SQL / d).glob("*.sql"))
    assert sorted(listed) == on_disk
    assert len(listed) == len(set(listed))


def test_every_procedure_file_holds_the_function_named_after_it():
    for path in (SQL / "procedures").glob("*.sql"):
        text = path.read_text()
        names = re.findall(r"CREATE OR REPLACE FUNCTION finshard\.(\w+)\(", text)
        assert names == [path.stem], path
        assert "COMMENT ON FUNCTION" in text and "REVOKE ALL ON FUNCTION" in text, path
        if "SECURITY DEFINER" in text:
            assert "SET search_path = pg_catalog, pg_temp" in text, path


def test_install_is_idempotent(db):
    before = _objects(db)
    report = install(db.dsn, shard_count=8 if db.citus else None)
    assert report.citus == db.citus and report.notes == []  # the count it was made with: nothing to say
    assert _objects(db) == before
    with db.connect() as conn:
        versions = conn.execute("SELECT count(*), bool_and(citus = %s) FROM finshard.schema_version", (db.citus,)).fetchone()
    assert versions[0] >= 2 and versions[1]


def _objects(db):
    with db.connect() as conn:
        return conn.execute(
            "SELECT (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'finshard'),"
            "       (SELECT count(*) FROM pg_proc WHERE pronamespace = 'finshard'::regnamespace),"
            "       (SELECT count(*) FROM finshard.accounts WHERE account_type IN ('house', 'system')),"
            "       (SELECT count(*) FROM finshard.error_codes)").fetchone()


@pytest.mark.citus
def test_every_table_is_distributed_colocated_or_reference_as_planned(citus):
    with citus.connect() as conn:
        rows = conn.execute(
            "SELECT logicalrelid::regclass::text, partmethod, repmodel, column_to_column_name(logicalrelid, partkey), colocationid "
            "FROM pg_dist_partition p JOIN pg_class c ON c.oid = p.logicalrelid WHERE NOT c.relispartition").fetchall()
        plan = {r[0]: r for r in rows}
        for table in REFERENCE:
            assert plan[table][1] == "n" and plan[table][2] == "t", table
        accounts_group = plan["finshard.accounts"][4]
        for table, column in BY_ACCOUNT.items():
            assert plan[table][1] == "h" and plan[table][3] == column and plan[table][4] == accounts_group, table
        quotes_group = plan["finshard.quotes"][4]
        assert quotes_group != accounts_group
        for table, column in BY_INSTRUMENT.items():
            assert plan[table][1] == "h" and plan[table][3] == column and plan[table][4] == quotes_group, table
        # Account-scoped functions are delegated by their account argument, colocated with accounts.
        delegated = dict(conn.execute(
            "SELECT p.proname, d.force_delegation FROM pg_dist_object d JOIN pg_proc p ON p.oid = d.objid "
            "WHERE d.classid = 'pg_proc'::regclass AND d.distribution_argument_index = 0 "
            "AND d.colocationid = %s", (accounts_group,)).fetchall())
        # No public function is forced inside a transaction block: a login's delegated call and the
        # owner's writes on the coordinator would meet on one placement (tests/test_roles.py). Only the
        # cross-node credit leg, which a worker calls as the owner inside its own transaction.
        assert {"deposit", "place_order", "transfer", "close_account"} <= set(delegated)
        assert [name for name, forced in delegated.items() if forced] == ["_transfer_credit_local"]


def test_partitions_cover_twelve_months_back_to_three_ahead(db):
    now = datetime.now(timezone.utc)
    with db.connect() as conn:
        rows = conn.execute("SELECT table_name::text, partition_name FROM finshard.list_partitions()").fetchall()
    for table in PARTITIONED:
        names = {p for t, p in rows if t == f"finshard.{table}"}
        for offset in range(-12, 4):
            month = (now.year * 12 + now.month - 1) + offset
            assert f"{table}_p{month // 12:04d}_{month % 12 + 1:02d}" in names, (table, offset)


def test_one_month_ledger_query_touches_one_partition(db):
    now = datetime.now(timezone.utc)
    start = datetime(now.year, now.month, 1, tzinfo=timezone.utc)
    with db.connect() as conn:
        plan = "\n".join(r[0] for r in conn.execute(
            "EXPLAIN SELECT sum(amount) FROM finshard.transactions WHERE account_id = 42 "
            "AND created_at >= %s AND created_at < %s + interval '1 month'", (start, start)).fetchall())
    partitions = set(re.findall(r"transactions_p\d{4}_\d{2}", plan))
    assert partitions == {f"transactions_p{now.year:04d}_{now.month:02d}"}, plan


def test_install_steps_follow_install_sql():
    steps = install_steps(sql_root())
    labels = [label for label, _sql in steps if label != "install.sql"]
    assert labels[0] == "schema/finshard.sql"
    assert labels.index("schema/distribution.sql") > labels.index("procedures/transfer.sql")


def test_dba_can_install_with_psql_alone(plain):
    """The same files install with psql -f install.sql into a fresh database (DBA path)."""
    with scratch_database(plain, "finshard_psql") as dsn:
        res = subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", dsn, "-f", str(SQL / "install.sql")],
                             capture_output=True, text=True, cwd=ROOT)
        assert res.returncode == 0, res.stderr
        res = subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", dsn, "-f", str(SQL / "install.sql")],
                             capture_output=True, text=True, cwd=ROOT)
        assert res.returncode == 0, res.stderr
        import psycopg
        with psycopg.connect(dsn, autocommit=True) as conn:
            assert conn.execute("SELECT count(*) FROM finshard.currencies WHERE house_account_id IS NOT NULL").fetchone()[0] == 3


def test_install_over_tables_no_migration_knows_names_the_cause(plain):
    """A psql install records no level; when its tables differ from what the migrations know, the
    step that fails says so instead of a bare error."""
    import psycopg

    from finshard.ops.installer import SchemaMismatch

    with scratch_database(plain, "finshard_unknown_tables") as dsn:
        install(dsn)
        install(dsn)  # the same schema: harmless
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("DELETE FROM finshard.schema_version")
            conn.execute("ALTER TABLE finshard.accounts DROP COLUMN audit_prev_hash CASCADE")
        with pytest.raises(SchemaMismatch, match=r"schema/accounts\.sql.*tables of a schema its migrations do not know"):
            install(dsn)


@pytest.mark.slow
def test_a_wheel_installed_in_a_fresh_venv_installs_a_database(plain, tmp_path):
    """The SQL is package data: pip install finshard, then finshard install, with no checkout around."""
    import os
    import sys
    import zipfile

    import psycopg

    dist = tmp_path / "dist"
    res = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(dist), str(ROOT)],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    (wheel,) = dist.glob("finshard-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "finshard/sql/install.sql" in names and "finshard/sql/procedures/transfer.sql" in names
    assert not any(n.startswith(("tests/", "bench/")) for n in names)
    # Nothing of this checkout may leak into the fresh venv: no PYTHONPATH, no SQL directory.
    env = {k: v for k, v in os.environ.items() if k not in ("FINSHARD_SQL_DIR", "PYTHONPATH")}
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, env=env)
    res = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "--disable-pip-version-check", f"{wheel}[binary]"],
                         capture_output=True, text=True, env=env, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    with scratch_database(plain, "finshard_wheel") as dsn:
        res = subprocess.run([str(venv / "bin" / "finshard"), "install", "--dsn", dsn], capture_output=True, text=True,
                             cwd=tmp_path, env=env)
        assert res.returncode == 0, res.stderr
        where = subprocess.run([str(venv / "bin" / "python"), "-c", "import finshard; print(finshard.__file__)"],
                               capture_output=True, text=True, cwd=tmp_path, env=env).stdout
        assert where.startswith(str(venv)), where  # the wheel's package, not this checkout
        with psycopg.connect(dsn, autocommit=True) as conn:
            assert conn.execute("SELECT count(*) FROM finshard.schema_version").fetchone()[0] == 1
            assert conn.execute("SELECT to_regprocedure('finshard.transfer(bigint,bigint,numeric,text,text,text)')").fetchone()[0]


def test_every_table_keeps_its_comment(db):
    """On Citus too: a table Citus rebuilt while distributing it has its comments put back."""
    with db.connect() as conn:
        bare = conn.execute("SELECT c.relname FROM pg_class c WHERE c.relnamespace = 'finshard'::regnamespace "
                            "AND c.relkind IN ('r', 'p') AND NOT c.relispartition "
                            "AND obj_description(c.oid, 'pg_class') IS NULL ORDER BY 1").fetchall()
    assert bare == []


@pytest.mark.citus
def test_a_shard_count_other_than_the_installed_one_is_reported_not_applied(citus):
    """--shard-count shapes a new install only: asked of an installed cluster, the run says it kept
    the cluster's count rather than ignore the option."""
    with citus.connect() as conn:
        have = conn.execute("SELECT count(*) FROM pg_dist_shard WHERE logicalrelid = 'finshard.accounts'::regclass").fetchone()[0]
    report = install(citus.dsn, shard_count=have * 2)
    assert len(report.notes) == 1 and f"keeps its {have} shards" in report.notes[0]
    with citus.connect() as conn:
        assert conn.execute("SELECT count(*) FROM pg_dist_shard WHERE logicalrelid = 'finshard.accounts'::regclass").fetchone()[0] == have
