"""Issue 16, parts 4 and 5: maintenance that runs by itself (pg_cron jobs from one list in SQL,
FS071 for a month without a partition, the partitions check) and retention that archives, verifies
and only then drops (and loads an archive back for an audit)."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner

from finshard import errors
from finshard.cli import main
from finshard.local.cluster import Cluster
from finshard.ops.installer import install
from finshard.router import Router
from tests.helpers import new_account, scratch_database, snapshot

JOBS = {"finshard-partitions", "finshard-expire-pending", "finshard-expire-day-orders", "finshard-retire",
        "finshard-check-archiving", "finshard-job-history", "finshard-restore-point", "finshard-local-shards"}


def cli(*args: str):
    return CliRunner().invoke(main, list(args))


def cron_problem(conn: psycopg.Connection) -> str | None:
    return conn.execute("SELECT finshard._cron_problem()").fetchone()[0]


# -- FS071 ------------------------------------------------------------------------------------------------
def test_a_write_into_a_month_without_a_partition_raises_fs071_and_changes_nothing(db):
    with db.connect() as conn:
        acc = new_account(conn, "USD", "10.00")
        month, bound = conn.execute(
            "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM finshard.list_partitions() l "
            "JOIN pg_class c ON c.relname = l.partition_name AND c.relnamespace = 'finshard'::regnamespace "
            "WHERE l.table_name = 'finshard.transactions'::regclass AND now() >= l.range_from AND now() < l.range_to").fetchone()
        conn.execute(f"ALTER TABLE finshard.transactions DETACH PARTITION finshard.{month}")
        try:
            before = snapshot(conn)
            with pytest.raises(psycopg.Error) as info:
                conn.execute("SELECT finshard.deposit(%s::bigint, 1)", (acc,))
            assert info.value.sqlstate == "FS071", info.value
            assert "finshard partitions create" in info.value.diag.message_hint
            assert "finshard.create_partitions()" in info.value.diag.message_hint
            # partition_missing raises it without finshard.fail (see there): the hint is still the table's.
            assert info.value.diag.message_hint == conn.execute(
                "SELECT hint FROM finshard.error_codes WHERE sqlstate = 'FS071'").fetchone()[0]
            assert snapshot(conn) == before
            # The same through the router: its class, never the raw 23514.
            with Router.connect(db.dsn) as r, pytest.raises(errors.PartitionMissing) as routed:
                r.deposit(account_id=acc, amount=Decimal("1"))
            assert routed.value.sqlstate == "FS071" and "finshard.transactions" in str(routed.value)
            assert snapshot(conn) == before
        finally:
            conn.execute(f"ALTER TABLE finshard.transactions ATTACH PARTITION finshard.{month} {bound}")
        conn.execute("SELECT finshard.deposit(%s::bigint, 1)", (acc,))
        assert conn.execute("SELECT balance FROM finshard.accounts WHERE account_id = %s", (acc,)).fetchone()[0] == Decimal("11")


def test_every_partitioned_table_has_a_default_partition_that_listing_ignores(db):
    with db.connect() as conn:
        defaults = conn.execute("SELECT p.partrelid::regclass::text, d.relname FROM pg_partitioned_table p "
                                "JOIN pg_class d ON d.oid = p.partdefid "
                                "WHERE p.partrelid IN (SELECT table_name FROM finshard.partitioned_tables())").fetchall()
        tables = [r[0] for r in conn.execute("SELECT table_name::text FROM finshard.partitioned_tables()").fetchall()]
        assert sorted(t for t, _d in defaults) == sorted(tables)
        listed = {r[0] for r in conn.execute("SELECT partition_name FROM finshard.list_partitions()").fetchall()}
        assert not {d for _t, d in defaults} & listed
        # create_partitions with the DEFAULT partition present: re-runnable, and it adds a month
        # (PostgreSQL checks the DEFAULT partition for rows of that month first).
        assert conn.execute("SELECT count(*) FROM finshard.create_partitions(0, 3) WHERE created").fetchone()[0] == 0
        last = conn.execute("SELECT partition_name FROM finshard.list_partitions() WHERE table_name = 'finshard.quotes'::regclass "
                            "ORDER BY range_from DESC LIMIT 1").fetchone()[0]
        conn.execute(f"DROP TABLE finshard.{last}")
        assert conn.execute("SELECT partition_name FROM finshard.create_partitions(0, 3, 'finshard.quotes') WHERE created"
                            ).fetchall() == [(last,)]


# -- the jobs and pg_cron ----------------------------------------------------------------------------------
def test_install_schedules_every_job_once_on_the_coordinator_only(db):
    with db.connect() as conn:
        if cron_problem(conn):
            pytest.skip(f"pg_cron cannot run jobs here: {cron_problem(conn)}")
        listed = {r[0] for r in conn.execute("SELECT job_name FROM finshard.maintenance_jobs()").fetchall()}
        assert listed == JOBS
        conn.execute("SELECT finshard.schedule_maintenance()")  # as a second install does
        jobs = conn.execute("SELECT jobname, count(*) FROM cron.job WHERE jobname LIKE 'finshard-%' GROUP BY 1").fetchall()
        assert dict(jobs) == {name: 1 for name in JOBS}
        if db.citus:
            # Citus created pg_cron on the workers too (they preload it), but no job runs there.
            counts = conn.execute("SELECT result FROM run_command_on_workers('SELECT count(*) FROM cron.job')").fetchall()
            assert counts and {c[0] for c in counts} == {"0"}
            note = conn.execute("SELECT run_command_on_workers('SELECT finshard._cron_problem()')").fetchall()
            assert all("Citus worker" in str(n[0]) for n in note)


def test_the_scheduled_partitions_job_creates_the_missing_months(db):
    with db.connect() as conn:
        if cron_problem(conn):
            pytest.skip(f"pg_cron cannot run jobs here: {cron_problem(conn)}")
        newest = conn.execute("SELECT table_name::text, partition_name FROM finshard.list_partitions() l "
                              "WHERE range_from = (SELECT max(range_from) FROM finshard.list_partitions())").fetchall()
        assert len(newest) == 7
        for _table, partition in newest:
            conn.execute(f"DROP TABLE finshard.{partition}")
        gone = cli("partitions", "check", "--dsn", db.dsn, "--months-ahead", "3")
        assert gone.exit_code == 1 and len(gone.output.strip().splitlines()) == 1
        assert "fewer than 3 months" in gone.output and "finshard.transactions" in gone.output
        command = conn.execute("SELECT command FROM finshard.maintenance_jobs() WHERE job_name = 'finshard-partitions'").fetchone()[0]
        started = conn.execute("SELECT now()").fetchone()[0]
        try:
            conn.execute("SELECT cron.schedule('finshard-partitions', '* * * * *', %s)", (command,))
            note = conn.execute("SELECT note FROM finshard.maintenance_status() WHERE job_name = 'finshard-partitions'").fetchone()[0]
            assert "finshard maintenance schedule" in note  # the schedule differs from the list's
            deadline = time.monotonic() + 75
            run = None
            while time.monotonic() < deadline and run is None:
                time.sleep(2)
                run = conn.execute("SELECT d.status, d.return_message FROM cron.job_run_details d JOIN cron.job j USING (jobid) "
                                   "WHERE j.jobname = 'finshard-partitions' AND d.start_time >= %s AND d.status IN ('succeeded', 'failed')",
                                   (started,)).fetchone()
            assert run is not None, "pg_cron did not run the job within 75 s"
            assert run[0] == "succeeded", run
        finally:
            conn.execute("SELECT finshard.schedule_maintenance()")
        names = {r[0] for r in conn.execute("SELECT partition_name FROM finshard.list_partitions()").fetchall()}
        assert {p for _t, p in newest} <= names
        row = conn.execute("SELECT schedule, last_status, note FROM finshard.maintenance_status() "
                           "WHERE job_name = 'finshard-partitions'").fetchone()
        assert row == ("17 3 * * *", "succeeded", None)
    ok = cli("partitions", "check", "--dsn", db.dsn, "--months-ahead", "3")
    assert ok.exit_code == 0, ok.output


def test_maintenance_status_lists_every_job_with_its_last_run(db):
    result = cli("maintenance", "status", "--dsn", db.dsn, "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert {r["job_name"] for r in rows} == JOBS
    assert all(set(r) >= {"schedule", "scheduled", "last_start", "last_status", "note"} for r in rows)
    text = cli("maintenance", "status", "--dsn", db.dsn)
    assert text.exit_code == 0 and len(text.output.strip().splitlines()) == len(JOBS)


def test_maintenance_run_runs_each_job_once_and_names_an_unknown_one(db):
    result = cli("maintenance", "run", "--dsn", db.dsn, "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output[result.output.index("["):])
    assert [r["job_name"] for r in rows] and {r["job_name"] for r in rows} == JOBS and all(r["ok"] for r in rows)
    one = cli("maintenance", "run", "--dsn", db.dsn, "--job", "finshard-expire-pending")
    assert one.exit_code == 0 and "finshard-expire-pending: ok" in one.output
    bad = cli("maintenance", "run", "--dsn", db.dsn, "--job", "nope")
    assert bad.exit_code == 1 and "no maintenance job 'nope'" in bad.output and "Traceback" not in bad.output


def test_the_restore_point_job_writes_a_point_on_every_node_and_prunes_old_ones(db):
    with db.connect() as conn:
        conn.execute("INSERT INTO finshard.restore_points (name, created_at, lsns) "
                     "VALUES ('auto-19990101T000000Z', now() - interval '40 days', '{}'), "
                     "       ('kept-by-hand-1999', now() - interval '40 days', '{}')")
    time.sleep(1)  # names are per second
    one = cli("maintenance", "run", "--dsn", db.dsn, "--job", "finshard-restore-point")
    assert one.exit_code == 0, one.output
    with db.connect() as conn:
        names = {n: lsns for n, lsns in conn.execute("SELECT name, lsns FROM finshard.restore_points").fetchall()}
    auto = max(n for n in names if n.startswith("auto-2"))
    assert len(names[auto]) == len(db.cluster.nodes)
    assert "auto-19990101T000000Z" not in names and "kept-by-hand-1999" in names


def test_without_pg_cron_here_install_succeeds_and_status_says_why(plain):
    with scratch_database(plain, "finshard_nocron") as dsn:
        install(dsn)
        with psycopg.connect(dsn, autocommit=True) as conn:
            assert conn.execute("SELECT count(*) FROM pg_extension WHERE extname = 'pg_cron'").fetchone()[0] == 0
            rows = conn.execute("SELECT job_name, scheduled, note FROM finshard.maintenance_status()").fetchall()
        assert {r[0] for r in rows} == JOBS and not any(r[1] for r in rows)
        assert all("cron.database_name" in r[2] for r in rows)
        scheduled = cli("maintenance", "schedule", "--dsn", dsn)
        assert scheduled.exit_code == 1 and "jobs not scheduled" in scheduled.output
        # Run from outside instead: the same commands.
        assert cli("maintenance", "run", "--dsn", dsn, "--job", "finshard-job-history").exit_code == 0


def test_maintenance_schedule_moves_the_day_order_cutoff(db):
    with db.connect() as conn:
        if cron_problem(conn):
            pytest.skip(f"pg_cron cannot run jobs here: {cron_problem(conn)}")
        try:
            out = cli("maintenance", "schedule", "--dsn", db.dsn, "--day-orders-cutoff", "21:30")
            assert out.exit_code == 0, out.output
            assert conn.execute("SELECT schedule FROM cron.job WHERE jobname = 'finshard-expire-day-orders'").fetchone()[0] == "30 21 * * *"
            bad = cli("maintenance", "schedule", "--dsn", db.dsn, "--day-orders-cutoff", "25:00")
            assert bad.exit_code == 1 and "[FS005]" in bad.output
        finally:
            conn.execute("SELECT finshard.schedule_maintenance('00:00')")


def test_expire_day_orders_job_never_expires_orders_placed_after_the_last_cutoff(db):
    with db.connect() as conn:
        command = conn.execute("SELECT command FROM finshard.maintenance_jobs() WHERE job_name = 'finshard-expire-day-orders'").fetchone()[0]
        # The expression the job passes: the last 00:00 UTC at or before now.
        expr = command[len("SELECT finshard.expire_day_orders("):-1]
        cutoff, midnight = conn.execute(f"SELECT {expr}, date_trunc('day', now(), 'UTC')").fetchone()
        assert cutoff == midnight and cutoff is not None


# -- expiry: one run at a time, none on a standby ----------------------------------------------------------
def _notices(conn: psycopg.Connection) -> list[str]:
    seen: list[str] = []
    conn.add_notice_handler(lambda d: seen.append(d.message_primary))
    return seen


def test_expire_pending_transfers_does_nothing_while_another_run_holds_its_lock(db):
    with db.connect() as holder, db.connect() as conn:
        # Held before the transfer expires: the every-minute pg_cron job skips it as well meanwhile.
        holder.execute("SELECT pg_advisory_lock(hashtext('finshard.expire_pending_transfers'))")
        try:
            a, b = new_account(conn, "USD", "100.00"), new_account(conn, "USD")
            tid = conn.execute("SELECT finshard.create_pending_transfer(%s::bigint, %s::bigint, 30, interval '1 second')", (a, b)).fetchone()[0]
            time.sleep(1.2)
            notices = _notices(conn)
            assert conn.execute("SELECT finshard.expire_pending_transfers()").fetchone()[0] == 0
            assert notices == ["finshard.expire_pending_transfers: another run holds the lock, nothing done"]
            status = "SELECT status FROM finshard.transfers WHERE from_account_id = %s AND transfer_id = %s"
            assert conn.execute(status, (a, tid)).fetchone()[0] == "pending"
            assert conn.execute("SELECT reserved FROM finshard.accounts WHERE account_id = %s", (a,)).fetchone()[0] == Decimal("30")
        finally:
            holder.execute("SELECT pg_advisory_unlock(hashtext('finshard.expire_pending_transfers'))")
        conn.execute("SELECT finshard.expire_pending_transfers()")  # or the job did, once the lock was free
        assert conn.execute(status, (a, tid)).fetchone()[0] == "expired"
        assert conn.execute("SELECT reserved FROM finshard.accounts WHERE account_id = %s", (a,)).fetchone()[0] == 0


def test_expire_day_orders_does_nothing_while_another_run_holds_its_lock(db):
    from tests.test_trading import instrument, order

    with db.connect() as holder, db.connect() as conn:
        iid, acc = instrument(conn), new_account(conn, "USD", "1000.00")
        oid = order(conn, acc, iid, "limit", "buy", 10, "5.00", tif="DAY")
        status = "SELECT status FROM finshard.orders WHERE account_id = %s AND order_id = %s"
        with holder.transaction():
            holder.execute("SELECT pg_advisory_xact_lock(hashtext('finshard.expire_day_orders'))")
            notices = _notices(conn)
            assert conn.execute("SELECT finshard.expire_day_orders(now() + interval '1 second')").fetchone()[0] == 0
            assert notices == ["finshard.expire_day_orders: another run holds the lock, nothing done"]
            assert conn.execute(status, (acc, oid)).fetchone()[0] == "new"
        assert conn.execute("SELECT finshard.expire_day_orders(now() + interval '1 second')").fetchone()[0] >= 1
        assert conn.execute(status, (acc, oid)).fetchone()[0] == "expired"
        assert conn.execute("SELECT reserved FROM finshard.accounts WHERE account_id = %s", (acc,)).fetchone()[0] == 0


def test_expiry_does_nothing_on_a_standby_and_says_so(plain, standby_of_plain):
    """Work for both is there (an expired pending transfer, an open DAY order): on the standby they
    skip it, where working it would fail (a read-only transaction)."""
    from tests.test_trading import instrument, order

    with plain.connect() as conn:
        # The primary's pg_cron job must not expire the transfer meanwhile: hold its lock.
        conn.execute("SELECT pg_advisory_lock(hashtext('finshard.expire_pending_transfers'))")
        try:
            a, b = new_account(conn, "USD", "100.00"), new_account(conn, "USD")
            tid = conn.execute("SELECT finshard.create_pending_transfer(%s::bigint, %s::bigint, 30, interval '1 second')", (a, b)).fetchone()[0]
            iid, acc = instrument(conn), new_account(conn, "USD", "1000.00")
            oid = order(conn, acc, iid, "limit", "buy", 10, "5.00", tif="DAY")
            lsn = conn.execute("SELECT pg_current_wal_lsn()").fetchone()[0]
            time.sleep(1.2)
            with psycopg.connect(standby_of_plain, autocommit=True) as replica:
                deadline = time.monotonic() + 30
                while replica.execute("SELECT pg_last_wal_replay_lsn() < %s::pg_lsn", (lsn,)).fetchone()[0]:
                    assert time.monotonic() < deadline, "the standby did not replay the transfer within 30 s"
                    time.sleep(0.1)
                notices = _notices(replica)
                assert replica.execute("SELECT finshard.expire_pending_transfers()").fetchone()[0] == 0
                assert replica.execute("SELECT finshard.expire_day_orders(now() + interval '1 second')").fetchone()[0] == 0
                assert notices == ["finshard.expire_pending_transfers: standby, nothing done",
                                   "finshard.expire_day_orders: standby, nothing done"]
                assert replica.execute("SELECT status FROM finshard.transfers WHERE from_account_id = %s AND transfer_id = %s",
                                       (a, tid)).fetchone()[0] == "pending"
                assert replica.execute("SELECT status FROM finshard.orders WHERE account_id = %s AND order_id = %s",
                                       (acc, oid)).fetchone()[0] == "new"
        finally:
            conn.execute("SELECT pg_advisory_unlock(hashtext('finshard.expire_pending_transfers'))")
        conn.execute("SELECT finshard.cancel_order(%s::bigint, %s::bigint)", (acc, oid))


# -- WAL archiving check -----------------------------------------------------------------------------------
def test_check_archiving_reports_every_node_and_does_not_fail_when_archiving_is_off(db):
    with db.connect() as conn:
        rows = conn.execute("SELECT node, archive_mode, state FROM finshard.check_archiving()").fetchall()
    assert len(rows) == (3 if db.citus else 1)
    for _node, mode, state in rows:
        assert state == ("off" if mode == "off" else "ok")


def test_check_archiving_raises_fs077_when_a_node_fails_to_archive(scratch):
    directory = scratch("finshard-archiving-")
    cluster = Cluster.up(directory / "cluster", use_citus=False)
    try:
        with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
            conn.execute("ALTER SYSTEM SET archive_mode = on")
            conn.execute("ALTER SYSTEM SET archive_command = 'false'")
        cluster.down()
        cluster.start()
        install(cluster.dsn())
        with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
            conn.execute("CREATE TABLE churn AS SELECT generate_series(1, 1000) AS n")
            conn.execute("SELECT pg_switch_wal()")
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not conn.execute("SELECT failed_count FROM pg_stat_archiver").fetchone()[0]:
                time.sleep(0.5)
            state = conn.execute("SELECT state FROM finshard.check_archiving(p_raise => false)").fetchone()[0]
            assert state == "failing"
            with pytest.raises(psycopg.Error) as info:
                conn.execute("SELECT * FROM finshard.check_archiving()")
            assert info.value.sqlstate == "FS077" and "local failing" in info.value.diag.message_primary
        job = cli("maintenance", "run", "--dsn", cluster.dsn(), "--job", "finshard-check-archiving")
        assert job.exit_code == 1 and "[FS077]" in job.output.strip().splitlines()[-1] and "Traceback" not in job.output
    finally:
        cluster.down()


# -- retention: archive, verify, drop; restore for an audit ------------------------------------------------------
@pytest.fixture
def archive_dir(db, scratch):
    """A directory the server may write, set as the archive directory for the test, unset after."""
    path = scratch("finshard-archive-")
    shutil.chown(path, "postgres")
    with db.connect() as conn:
        conn.execute("SELECT finshard.set_archive_dir(%s)", (str(path),))
    yield path
    with db.connect() as conn:
        conn.execute("UPDATE finshard.settings SET value = '' WHERE key = 'archive_dir'")


@pytest.fixture
def old_month(db):
    """A ledger partition eight years back (past the 7-year retention) holding one row of a fresh
    account; the account's balance says so while the row exists. Removed afterwards if still there."""
    with db.connect() as conn:
        start = conn.execute("SELECT date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' - interval '96 months'").fetchone()[0]
        name = conn.execute("SELECT finshard.partition_name('finshard.transactions', %s)", (start,)).fetchone()[0]
        ddl = conn.execute("SELECT format('CREATE TABLE finshard.%%I PARTITION OF finshard.transactions FOR VALUES FROM (%%L) TO (%%L)', "
                           "%s::text, %s::timestamptz, %s::timestamptz + interval '1 month')", (name, start, start)).fetchone()[0]
        conn.execute(ddl)
        acc = new_account(conn, "USD")
        conn.execute("UPDATE finshard.accounts SET balance = 5, entry_seq = 1 WHERE account_id = %s", (acc,))
        conn.execute("INSERT INTO finshard.transactions (account_id, entry_seq, transaction_type, amount, balance_after, currency, "
                     "created_at) VALUES (%s, 1, 'deposit', 5, 5, 'USD', %s::timestamptz + interval '3 days')", (acc, start))
    yield {"name": name, "account": acc}
    with db.connect() as conn:
        conn.execute(f"DROP TABLE IF EXISTS finshard.{name}")
        conn.execute(f"DROP TABLE IF EXISTS finshard_archive.{name}")
        # Not retired, its only entry went with the month: the account is as new again, so the
        # ledger checks hold (retired, the month carried its balance forward).
        conn.execute("UPDATE finshard.accounts SET balance = 0, entry_seq = 0 WHERE account_id = %s "
                     "AND NOT EXISTS (SELECT 1 FROM finshard.carried_forward c WHERE c.account_id = %s)", (acc, acc))


def _csv(conn: psycopg.Connection, name: str) -> bytes:
    buf = io.BytesIO()
    with conn.cursor().copy(f"COPY (SELECT * FROM finshard.{name}) TO STDOUT WITH (FORMAT csv, HEADER)") as copy:
        for chunk in copy:
            buf.write(chunk)
    return buf.getvalue()


def _exists(conn: psycopg.Connection, name: str) -> bool:
    return conn.execute("SELECT to_regclass(%s) IS NOT NULL", (f"finshard.{name}",)).fetchone()[0]


def test_retire_without_an_archive_directory_drops_nothing(db, old_month):
    with db.connect() as conn:
        conn.execute("UPDATE finshard.settings SET value = '' WHERE key = 'archive_dir'")
        dry = cli("partitions", "retire", "--dsn", db.dsn)
        assert dry.exit_code == 0 and f"{old_month['name']}: would be archived to (no archive directory set)" in dry.output
        out = cli("partitions", "retire", "--dsn", db.dsn, "--apply")
        assert out.exit_code == 1 and "[FS072]" in out.output and len(out.output.strip().splitlines()) == 1
        assert _exists(conn, old_month["name"])
        job = cli("maintenance", "run", "--dsn", db.dsn, "--job", "finshard-retire")
        assert job.exit_code == 1 and "finshard-retire failed" in job.output and "[FS072]" in job.output
        assert _exists(conn, old_month["name"])


def test_retire_archives_verifies_then_drops_and_restore_archive_loads_it_back(db, old_month, archive_dir):
    name = old_month["name"]
    file = archive_dir / f"{name}.csv.gz"
    with db.connect() as conn:
        # A file already there that does not match the table (here: one amount changed) is never
        # overwritten, and the partition is not dropped.
        good = _csv(conn, name)
        assert good.count(b"5.0000") == 2
        file.write_bytes(gzip.compress(good.replace(b"5.0000", b"6.0000", 1)))
        shutil.chown(file, "postgres")
        with pytest.raises(psycopg.Error) as info:
            conn.execute("SELECT * FROM finshard.retire_partitions(false)")
        assert info.value.sqlstate == "FS075" and name in info.value.diag.message_primary
        assert _exists(conn, name) and not (archive_dir / f"{name}.manifest.json").exists()
        file.unlink()

        retired = cli("partitions", "retire", "--dsn", db.dsn, "--apply", "--json")
        assert retired.exit_code == 0, retired.output
        row = {r["partition_name"]: r for r in json.loads(retired.output)}[name]
        assert row["retired"] and row["row_count"] == 1 and row["archive_file"] == str(file)
        assert not _exists(conn, name)
        manifest = json.loads((archive_dir / f"{name}.manifest.json").read_text())
        assert manifest["rows"] == 1 and manifest["partition"] == name and manifest["table"] == "finshard.transactions"
        assert manifest["sha256"] == hashlib.sha256(file.read_bytes()).hexdigest() == row["sha256"]
        assert gzip.decompress(file.read_bytes()) == good  # the rows as they were, CSV with a header

        loaded = cli("partitions", "restore-archive", "--dsn", db.dsn, file.name)
        assert loaded.exit_code == 0, loaded.output
        assert f"loaded 1 rows into finshard_archive.{name}" in loaded.output
        assert conn.execute(f"SELECT account_id, amount FROM finshard_archive.{name}").fetchall() == [(old_month["account"], Decimal("5.0000"))]
        readers = {r[0] for r in conn.execute("SELECT grantee FROM information_schema.role_table_grants WHERE table_schema = "
                                              "'finshard_archive' AND table_name = %s AND privilege_type = 'SELECT'", (name,)).fetchall()}
        assert {"finshard_admin", "finshard_readonly"} <= readers
        again = cli("partitions", "restore-archive", "--dsn", db.dsn, str(file))
        assert again.exit_code == 1 and "[FS076]" in again.output

        # An archive changed after it was written no longer matches its manifest: not loaded.
        conn.execute(f"DROP TABLE finshard_archive.{name}")
        file.write_bytes(gzip.compress(good.replace(b"5.0000", b"6.0000", 1)))
        tampered = cli("partitions", "restore-archive", "--dsn", db.dsn, file.name)
        assert tampered.exit_code == 1 and "[FS075]" in tampered.output
        assert conn.execute("SELECT to_regclass(%s)", (f"finshard_archive.{name}",)).fetchone()[0] is None
        outside = cli("partitions", "restore-archive", "--dsn", db.dsn, "/etc/passwd")
        assert outside.exit_code == 1 and "[FS073]" in outside.output


def _old_partition(conn, table: str, start) -> str:
    name = conn.execute("SELECT finshard.partition_name(%s, %s)", (table, start)).fetchone()[0]
    conn.execute(conn.execute("SELECT format('CREATE TABLE finshard.%%I PARTITION OF %%s FOR VALUES FROM (%%L) TO (%%L)', "
                              "%s::text, %s::text, %s::timestamptz, %s::timestamptz + interval '1 month')",
                              (name, table, start, start)).fetchone()[0])
    return name


def test_retired_months_carry_the_books_forward(db, archive_dir):
    """Money moved by the functions, then dated eight years back (its audit chain re-keyed as it
    would have been written then), is retired: the ledger and audit checks and the statements
    continue from what the months carried forward, and that is keyed."""
    with db.connect() as conn:
        start = conn.execute("SELECT date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' - interval '96 months'").fetchone()[0]
        names = [_old_partition(conn, t, start) for t in ("finshard.transactions", "finshard.audit_log")]
        try:
            _retire_and_check(conn, start, names)
        finally:
            for name in names:  # retired when the test passes; left by a failure, they would fail the next
                conn.execute(f"DROP TABLE IF EXISTS finshard.{name}")


def _retire_and_check(conn, start, names: list[str]) -> None:
    a, b = new_account(conn, "USD"), new_account(conn, "USD")
    conn.execute("SELECT finshard.deposit(%s::bigint, 100)", (a,))
    tid = conn.execute("SELECT transfer_id FROM finshard.transfer(%s::bigint, %s::bigint, 30)", (a, b)).fetchone()[0]
    old = start + timedelta(days=3)
    for acc, seq in conn.execute("SELECT account_id, entry_seq FROM finshard.transactions WHERE account_id IN (%s, %s)", (a, b)).fetchall():
        conn.execute("UPDATE finshard.transactions SET created_at = %s WHERE account_id = %s AND entry_seq = %s",
                     (old + timedelta(seconds=seq), acc, seq))
    conn.execute("UPDATE finshard.transfers SET created_at = %s, resolved_at = %s WHERE transfer_id = %s", (old, old, tid))
    for acc in (a, b):
        _redate_chain(conn, acc, lambda seq: old + timedelta(seconds=seq))
    conn.execute("SELECT finshard.deposit(%s::bigint, 5)", (a,))
    before = set(conn.execute("SELECT * FROM finshard.ledger_verify() WHERE NOT coalesce(account_id = ANY (%s), false)", ([a, b],)).fetchall())
    assert conn.execute("SELECT * FROM finshard.ledger_verify() WHERE account_id = ANY (%s)", ([a, b],)).fetchall() == []

    retired = {r[1] for r in conn.execute("SELECT * FROM finshard.retire_partitions(false)").fetchall() if r[3]}
    assert set(names) <= retired
    assert conn.execute("SELECT account_id, entry_seq, balance, deposits, withdrawals FROM finshard.carried_forward "
                        "WHERE account_id IN (%s, %s) ORDER BY account_id", (a, b)).fetchall() == [
        (a, 2, Decimal("70.0000"), Decimal("100.0000"), Decimal(0)), (b, 1, Decimal("30.0000"), Decimal(0), Decimal(0))]
    after = set(conn.execute("SELECT * FROM finshard.ledger_verify() WHERE NOT coalesce(account_id = ANY (%s), false)", ([a, b],)).fetchall())
    assert after == before
    assert conn.execute("SELECT * FROM finshard.ledger_verify() WHERE account_id = ANY (%s)", ([a, b],)).fetchall() == []
    for acc in (a, b):
        assert conn.execute("SELECT * FROM finshard.audit_verify(%s::bigint)", (acc,)).fetchall() == []
    month = conn.execute("SELECT (now() AT TIME ZONE 'UTC')::date").fetchone()[0]
    lines = conn.execute("SELECT line_type, balance FROM finshard.account_statement(%s::bigint, %s)", (a, month)).fetchall()
    assert lines[0] == ("opening", Decimal("70.0000")) and lines[-1] == ("closing", Decimal("75.0000"))
    with pytest.raises(psycopg.Error) as info:
        conn.execute("SELECT * FROM finshard.account_statement(%s::bigint, %s::date)", (a, start))
    assert info.value.sqlstate == "FS078" and "were retired to the archive" in info.value.diag.message_primary
    conn.rollback()

    # The carried state is keyed: moved by hand, the audit check says so, and the ledger check
    # sees the balance no longer adds up.
    conn.execute("UPDATE finshard.carried_forward SET balance = balance + 1 WHERE account_id = %s", (a,))
    assert [r[2] for r in conn.execute("SELECT * FROM finshard.audit_verify(%s::bigint)", (a,)).fetchall()] == [
        "carried-forward state does not match its MAC (altered, or written without the audit key)"]
    assert {r[2] for r in conn.execute("SELECT * FROM finshard.ledger_verify() WHERE account_id = %s", (a,)).fetchall()} == {
        "running_balance", "balance_sum"}
    conn.execute("UPDATE finshard.carried_forward SET balance = balance - 1 WHERE account_id = %s", (a,))
    assert conn.execute("SELECT * FROM finshard.audit_verify(%s::bigint)", (a,)).fetchall() == []


def _redate_chain(conn, acc: int, when) -> None:
    """Dates account ``acc``'s audit entries at ``when(seq)`` and re-keys its chain as it would have
    been written then."""
    prev = ""
    for (seq,) in conn.execute("SELECT audit_seq FROM finshard.audit_log WHERE account_id = %s ORDER BY audit_seq", (acc,)).fetchall():
        at = when(seq)
        prev = conn.execute("UPDATE finshard.audit_log SET created_at = %s, prev_hash = %s, "
                            "hash = finshard._audit_hash(finshard._key('audit'), %s, account_id, audit_seq, action, details, %s, actor, on_behalf_of) "
                            "WHERE account_id = %s AND audit_seq = %s RETURNING hash", (at, prev, prev, at, acc, seq)).fetchone()[0]
    conn.execute("UPDATE finshard.accounts SET audit_hash = %s WHERE account_id = %s", (prev, acc))


def test_an_audit_month_whose_chain_runs_out_of_time_order_across_its_end_is_kept(db, archive_dir):
    # The last entry of the month was numbered after one dated in the next month (its time read
    # before it waited for the chain's lock): retired, it would leave the kept chain a gap.
    with db.connect() as conn:
        start = conn.execute("SELECT date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' - interval '96 months'").fetchone()[0]
        names = [_old_partition(conn, "finshard.audit_log", start),
                 _old_partition(conn, "finshard.audit_log", start + timedelta(days=40))]
        try:
            acc = new_account(conn, "USD", "5.00")
            last = conn.execute("SELECT audit_seq FROM finshard.accounts WHERE account_id = %s", (acc,)).fetchone()[0]
            assert last >= 2
            _redate_chain(conn, acc, lambda seq: start + timedelta(days=40 if seq == last - 1 else 3, seconds=seq))
            assert conn.execute("SELECT * FROM finshard.audit_verify(%s::bigint)", (acc,)).fetchall() == []
            rows = {r[1]: r for r in conn.execute("SELECT * FROM finshard.retire_partitions(false)").fetchall()}
            # Kept, and so is the month after it: the chain is carried from its oldest end.
            assert rows[names[0]][3] is False and rows[names[0]][4] is None and rows[names[1]][3] is False
            assert conn.execute(
                "SELECT to_regclass(%s) IS NOT NULL", (f"finshard.{names[0]}",)).fetchone()[0]
            assert conn.execute("SELECT * FROM finshard.audit_verify(%s::bigint)", (acc,)).fetchall() == []
        finally:
            # Its entries back to now, as written, before their months go: the chain stays whole.
            now = conn.execute("SELECT now()").fetchone()[0]
            _redate_chain(conn, acc, lambda seq: now + timedelta(seconds=seq))
            for name in names:
                conn.execute(f"DROP TABLE IF EXISTS finshard.{name}")


def test_retire_into_an_unwritable_archive_directory_drops_nothing(db, old_month, archive_dir):
    with db.connect() as conn:
        os.chown(archive_dir, 0, 0)
        out = cli("partitions", "retire", "--dsn", db.dsn, "--apply")
        assert out.exit_code == 1 and "[FS074]" in out.output, out.output
        assert _exists(conn, old_month["name"]) and list(archive_dir.iterdir()) == []
        refused = cli("partitions", "retire", "--dsn", db.dsn, "--archive-dir", str(archive_dir))
        assert refused.exit_code == 1 and "[FS074]" in refused.output
        for unsafe in ("relative/dir", "/tmp/a b", "/tmp/../etc", "/tmp/x';touch /tmp/pwned;'"):
            bad = cli("partitions", "retire", "--dsn", db.dsn, "--archive-dir", unsafe)
            assert bad.exit_code == 1 and "[FS073]" in bad.output, (unsafe, bad.output)
        datadir = conn.execute("SHOW data_directory").fetchone()[0]
        inside = cli("partitions", "retire", "--dsn", db.dsn, "--archive-dir", datadir + "/archive")
        assert inside.exit_code == 1 and "[FS073]" in inside.output
    assert not Path("/tmp/pwned").exists()
