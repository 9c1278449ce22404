"""Partition maintenance: create is re-runnable, retire drops only what retention allows, compress
turns old append-only months into Citus columnar storage and keeps their rows and indexes."""

from __future__ import annotations

import shutil
from decimal import Decimal

import psycopg
import pytest

from tests.helpers import new_account

INDEXES = "SELECT count(*) FROM pg_index WHERE indrelid = %s::regclass"


def test_create_partitions_is_re_runnable(db):
    with db.connect() as conn:
        again = conn.execute("SELECT count(*) FILTER (WHERE created) FROM finshard.create_partitions()").fetchone()[0]
    assert again == 0


def test_the_dispatchers_quick_partition_check_agrees_with_the_partition_list(db):
    """_partitions_cover finds a month's partition by partition_name's rule: true for every month
    list_partitions reports (and for two adjacent ones), false outside them, for longer spans,
    and for NULL or infinite times; never true where the list says no."""
    with db.connect() as conn:
        conn.execute("SET TimeZone = 'America/New_York'")  # months are UTC whatever the session's zone
        rows = conn.execute(
            "SELECT l.table_name::text, l.range_from, l.range_to, "
            "       finshard._partitions_cover(l.table_name, l.range_from, l.range_to - interval '1 microsecond'), "
            "       finshard._partitions_cover(l.table_name, l.range_from, l.range_to + interval '1 day'), "
            "       finshard._partitions_cover(l.table_name, l.range_from, (l.range_to AT TIME ZONE 'UTC' + interval '1 month') AT TIME ZONE 'UTC') "
            "  FROM finshard.list_partitions() l").fetchall()
        assert len(rows) >= 7 * 16
        last = {t: max(r[2] for r in rows if r[0] == t) for t, *_ in rows}
        for table, _from, to, month, with_next, three in rows:
            assert month, (table, _from)
            assert with_next == (to < last[table]), (table, _from)
            assert not three, (table, _from)
        outside = conn.execute(
            "SELECT bool_or(finshard._partitions_cover(t, f, f)) FROM ("
            "  SELECT l.table_name AS t, min(l.range_from) - interval '1 microsecond' AS f FROM finshard.list_partitions() l GROUP BY 1"
            "  UNION ALL SELECT l.table_name, max(l.range_to) FROM finshard.list_partitions() l GROUP BY 1"
            "  UNION ALL SELECT 'finshard.notifications'::regclass, NULL"
            "  UNION ALL SELECT 'finshard.notifications'::regclass, 'infinity') s").fetchone()[0]
        assert outside is False


def test_retire_drops_only_partitions_past_retention(db, scratch):
    archive = scratch("finshard-archive-")
    shutil.chown(archive, "postgres")
    with db.connect() as conn:
        conn.execute("SELECT finshard.set_archive_dir(%s)", (str(archive),))
        # Notifications are kept 13 months: months 14 and 15 back are past it, month 12 is not.
        made = conn.execute("SELECT partition_name FROM finshard.create_partitions(15, 0, 'finshard.notifications') "
                            "WHERE created ORDER BY range_from").fetchall()
        assert len(made) == 3
        listed = conn.execute("SELECT partition_name, retired FROM finshard.retire_partitions() ORDER BY range_to").fetchall()
        assert listed == [(made[0][0], False), (made[1][0], False)]  # a dry run by default
        assert conn.execute("SELECT count(*) FROM finshard.list_partitions() WHERE partition_name = %s",
                            (made[0][0],)).fetchone()[0] == 1
        retired = conn.execute("SELECT partition_name FROM finshard.retire_partitions(false) WHERE retired ORDER BY 1").fetchall()
        assert retired == sorted(made[:2])
        names = {r[0] for r in conn.execute("SELECT partition_name FROM finshard.list_partitions()").fetchall()}
        assert made[0][0] not in names and made[1][0] not in names and made[2][0] in names
        assert conn.execute("SELECT to_regclass('finshard.' || %s)", (made[0][0],)).fetchone()[0] is None
        assert conn.execute("SELECT count(*) FROM finshard.retire_partitions()").fetchone()[0] == 0
        # Each was archived first (tests/test_maintenance.py checks archives in depth).
        assert sorted(p.name for p in archive.glob("*.csv.gz")) == sorted(f"{m[0]}.csv.gz" for m in made[:2])
        conn.execute("UPDATE finshard.settings SET value = '' WHERE key = 'archive_dir'")


def test_compress_is_refused_in_one_line_without_columnar(plain):
    with plain.connect() as conn:
        with pytest.raises(psycopg.Error) as info:
            conn.execute("SELECT * FROM finshard.compress_partitions()")
    assert info.value.sqlstate == "FS005" and "columnar" in info.value.diag.message_primary


@pytest.mark.citus
def test_compress_turns_the_oldest_month_columnar_and_keeps_rows_and_indexes(citus):
    with citus.connect() as conn:
        if not conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'citus_columnar'").fetchone():
            pytest.skip("citus_columnar is not available in this Citus build")
        # install created it, so that compression works out of the box.
        assert conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'citus_columnar'").fetchone()
        oldest = conn.execute("SELECT min(range_from), min(range_to) FROM finshard.list_partitions() "
                              "WHERE table_name = 'finshard.transactions'::regclass").fetchone()
        month = dict(conn.execute("SELECT table_name::text, partition_name FROM finshard.list_partitions() WHERE range_from = %s",
                                  (oldest[0],)).fetchall())
        # A ledger row in that month (written directly: the API only writes the present), on an
        # account whose balance says so, so that the ledger stays consistent (ledger_verify).
        acc = new_account(conn, "USD")
        conn.execute("UPDATE finshard.accounts SET balance = 5, entry_seq = 1 WHERE account_id = %s", (acc,))
        tid = conn.execute("INSERT INTO finshard.transactions (account_id, entry_seq, transaction_type, amount, balance_after, "
                           "currency, created_at) VALUES (%s, 1, 'deposit', 5, 5, 'USD', %s + interval '1 day') "
                           "RETURNING transaction_id", (acc, oldest[0])).fetchone()[0]
        # And the keyed audit entry that vouches for it, as a deposit writes one (audit_verify).
        conn.execute("SELECT finshard._audit(%s, 'deposit', jsonb_build_object('amount', 5, 'transaction_id', %s::bigint))",
                     (acc, tid))
        indexes = {t: conn.execute(INDEXES, ("finshard." + p,)).fetchone()[0] for t, p in month.items()}
        done = conn.execute("SELECT table_name::text, partition_name FROM finshard.compress_partitions(now() - %s::timestamptz) "
                            "WHERE compressed", (oldest[1],)).fetchall()
        assert sorted(done) == sorted((t, month[t]) for t in ("finshard.transactions", "finshard.audit_log",
                                                               "finshard.quotes", "finshard.market_data"))
        access = dict(conn.execute("SELECT c.relname, a.amname FROM pg_class c JOIN pg_am a ON a.oid = c.relam "
                                   "WHERE c.relnamespace = 'finshard'::regnamespace AND c.relname = ANY(%s)",
                                   (list(month.values()),)).fetchall())
        for table, partition in month.items():
            assert access[partition] == ("columnar" if (table, partition) in done else "heap"), table
            # Still attached, with every index of its parent.
            assert conn.execute(INDEXES, ("finshard." + partition,)).fetchone()[0] == indexes[table], table
        assert access[month["finshard.trades"]] == "heap"  # a trade references its instrument: no columnar
        assert conn.execute("SELECT amount FROM finshard.transactions WHERE account_id = %s", (acc,)).fetchall() == [(Decimal("5.0000"),)]
        assert conn.execute("SELECT count(*) FROM finshard.compress_partitions(now() - %s::timestamptz)",
                            (oldest[1],)).fetchone()[0] == 0


def test_check_partitions_refuses_a_bad_horizon_with_fs070_for_the_roles_that_may_call_it(plain):
    # It runs as its caller: the refusal must not need what only the owner may execute.
    import time

    from tests.helpers import scratch_login

    with scratch_login(plain, plain.dsn, f"chk_{time.time_ns()}", "finshard_readonly") as dsn, psycopg.connect(dsn) as conn:
        for bad in (-1, 1000):
            with pytest.raises(psycopg.Error) as info:
                conn.execute("SELECT * FROM finshard.check_partitions(%s)", (bad,))
            conn.rollback()
            assert info.value.sqlstate == "FS070" and f"p_months_ahead {bad} must be between 0 and 120" in str(info.value)
