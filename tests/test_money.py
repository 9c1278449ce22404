"""Issue 3: the money core on plain PostgreSQL and on Citus."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from decimal import ROUND_DOWN, Decimal
from pathlib import Path

import psycopg
import pytest

from tests.helpers import create_test_login, new_account, new_user, scratch_database

ROOT = Path(__file__).resolve().parent.parent


def balances(conn, *ids):
    return [conn.execute("SELECT finshard.balance(%s::bigint)", (i,)).fetchone()[0] for i in ids]


def test_deposit_withdraw_transfer_move_money_and_write_the_ledger(db):
    with db.connect() as conn:
        a = new_account(conn, "USD", "100.00")
        b = new_account(conn, "USD")
        row = conn.execute("SELECT * FROM finshard.transfer(%s::bigint, %s::bigint, 30.25)", (a, b)).fetchone()
        assert row[1:3] == (Decimal("69.75"), Decimal("30.25"))
        conn.execute("SELECT finshard.withdraw(%s::bigint, 9.75)", (a,))
        assert balances(conn, a, b) == [Decimal("60.00"), Decimal("30.25")]
        ledger = conn.execute("SELECT transaction_type, amount, balance_after, transfer_id FROM finshard.transactions "
                              "WHERE account_id = %s ORDER BY entry_seq", (a,)).fetchall()
        assert [(t, a_, b_) for t, a_, b_, _ in ledger] == [("deposit", Decimal("100"), Decimal("100")),
                                                          ("transfer_out", Decimal("-30.25"), Decimal("69.75")),
                                                          ("withdraw", Decimal("-9.75"), Decimal("60.00"))]
        transfer_id = ledger[1][3]
        assert conn.execute("SELECT transfer_id FROM finshard.transactions WHERE account_id = %s", (b,)).fetchone()[0] == transfer_id
        assert conn.execute("SELECT status, amount FROM finshard.transfers WHERE transfer_id = %s AND from_account_id = %s",
                            (transfer_id, a)).fetchone() == ("success", Decimal("30.25"))


def test_a_long_lived_session_does_not_grow_with_each_transfer(db):
    # Pooled connections live for days. On the node that holds the account (a Citus worker runs
    # the call locally there), a thousand transfers must not leave a thousand cached plans
    # behind: Citus 13.2 did, about 0.4 MB per transfer, until finshard asked for custom plans.
    from finshard.router import Router

    with db.connect() as conn:
        a = new_account(conn, "USD", "1000.00")
        b = new_account(conn, "USD")
    with Router.connect(db.dsn) as r:
        node_dsn = r.node_dsn(r.shard_for(a).node)
    memory = "SELECT sum(total_bytes) FROM pg_backend_memory_contexts"
    with psycopg.connect(node_dsn, autocommit=True) as conn:
        for _ in range(20):  # plans and caches warm up; PL/pgSQL goes generic after five calls
            conn.execute("SELECT finshard.transfer(%s::bigint, %s::bigint, 0.01)", (a, b))
            conn.execute("SELECT finshard.deposit(%s::bigint, 0.01)", (a,))
        before = conn.execute(memory).fetchone()[0]
        for _ in range(100):
            conn.execute("SELECT finshard.transfer(%s::bigint, %s::bigint, 0.01)", (a, b))
            conn.execute("SELECT finshard.deposit(%s::bigint, 0.01)", (a,))  # an SQL function over PL/pgSQL
        grown = conn.execute(memory).fetchone()[0] - before
    assert grown < 4 * 1024 * 1024, f"one session grew by {grown / 1e6:.1f} MB over 100 transfers and 100 deposits"


def test_idempotent_transfer_applies_once_and_replays_the_original_result(db):
    with db.connect() as conn:
        a = new_account(conn, "USD", "100.00")
        b = new_account(conn, "USD")
        first = conn.execute("SELECT * FROM finshard.transfer(%s::bigint, %s::bigint, 10, 'k-1')", (a, b)).fetchone()
        conn.execute("SELECT finshard.deposit(%s::bigint, 5)", (a,))
        again = conn.execute("SELECT * FROM finshard.transfer(%s::bigint, %s::bigint, 10.00, 'k-1')", (a, b)).fetchone()
        assert again == first
        assert balances(conn, a, b) == [Decimal("95.00"), Decimal("10.00")]


def test_concurrent_retries_with_one_key_apply_once(db):
    with db.connect() as conn:
        a = new_account(conn, "USD", "100.00")
        b = new_account(conn, "USD")
    results, errors = [], []

    def worker():
        try:
            with db.connect() as c:
                results.append(c.execute("SELECT * FROM finshard.transfer(%s::bigint, %s::bigint, 7, 'same-key')", (a, b)).fetchone())
        except psycopg.Error as exc:  # pragma: no cover - the assertion below reports it
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert not errors
    assert len({r[0] for r in results}) == 1
    with db.connect() as conn:
        assert balances(conn, a, b) == [Decimal("93.00"), Decimal("7.00")]


def test_cross_currency_transfer_goes_through_house_accounts_and_keeps_each_currency_total(db):
    with db.connect() as conn:
        conn.execute("SELECT finshard.set_fx_rate('USD', 'EUR', 0.9137, p_confirm => true)")
        totals = lambda: dict(conn.execute("SELECT currency, sum(balance) FROM finshard.accounts GROUP BY 1").fetchall())  # noqa: E731
        usd = new_account(conn, "USD", "200.00")
        eur = new_account(conn, "EUR")
        before = totals()
        row = conn.execute("SELECT * FROM finshard.transfer(%s::bigint, %s::bigint, 100.00)", (usd, eur)).fetchone()
        assert row[3] == Decimal("91.37") and row[4] == Decimal("0.9137")
        assert totals() == before
        back = conn.execute("SELECT * FROM finshard.transfer(%s::bigint, %s::bigint, 10.00)", (eur, usd)).fetchone()
        assert back[3] == (Decimal("10.00") * round(1 / Decimal("0.9137"), 10)).quantize(Decimal("0.01"), ROUND_DOWN)
        assert totals() == before
        kinds = {r[0] for r in conn.execute("SELECT transaction_type FROM finshard.transactions WHERE transfer_id = %s", (row[0],))}
        assert kinds == {"transfer_out", "transfer_in", "fx_in", "fx_out"}


def test_a_conversion_never_rounds_up_so_round_trips_gain_nothing(db):
    with db.connect() as conn:
        # One direction only: the database is shared, and a direct EUR/USD rate would change the
        # inverse other tests convert at.
        conn.execute("SELECT finshard.set_fx_rate('USD', 'EUR', 0.905, p_confirm => true)")
        usd = new_account(conn, "USD", "10.00")
        user = conn.execute("SELECT user_id FROM finshard.accounts WHERE account_id = %s", (usd,)).fetchone()[0]
        eur = conn.execute("SELECT finshard.open_account(%s::bigint, 'EUR')", (user,)).fetchone()[0]
        for _ in range(5):
            # 0.05 USD is 0.04525 EUR and 0.05 EUR 0.05525 USD: rounded to nearest, each trip gained a cent.
            there = conn.execute("SELECT to_amount FROM finshard.transfer(%s::bigint, %s::bigint, 0.05)", (usd, eur)).fetchone()[0]
            assert there == Decimal("0.04")
            back = conn.execute("SELECT to_amount FROM finshard.transfer(%s::bigint, %s::bigint, 0.04)", (eur, usd)).fetchone()[0]
            assert back == Decimal("0.04")
        assert conn.execute("SELECT balance FROM finshard.accounts WHERE account_id = %s", (usd,)).fetchone()[0] == Decimal("9.95")


def test_pending_transfer_reserves_then_posts_partially_once(db):
    with db.connect() as conn:
        a = new_account(conn, "USD", "100.00")
        b = new_account(conn, "USD")
        tid = conn.execute("SELECT finshard.create_pending_transfer(%s::bigint, %s::bigint, 60)", (a, b)).fetchone()[0]
        assert conn.execute("SELECT balance, reserved FROM finshard.accounts WHERE account_id = %s", (a,)).fetchone() == (Decimal("100"), Decimal("60"))
        with pytest.raises(psycopg.Error) as info:
            conn.execute("SELECT finshard.withdraw(%s::bigint, 50)", (a,))
        assert info.value.sqlstate == "FS013"
        conn.execute("SELECT finshard.post_pending_transfer(%s::bigint, %s::bigint, 25)", (a, tid))
        assert conn.execute("SELECT balance, reserved FROM finshard.accounts WHERE account_id = %s", (a,)).fetchone() == (Decimal("75"), Decimal("0"))
        assert balances(conn, b) == [Decimal("25.00")]
        for sql in ("SELECT finshard.post_pending_transfer(%s::bigint, %s::bigint)", "SELECT finshard.void_pending_transfer(%s::bigint, %s::bigint)"):
            with pytest.raises(psycopg.Error) as info:
                conn.execute(sql, (a, tid))
            assert info.value.sqlstate == "FS041"


def test_a_pending_transfer_across_currencies_needs_a_rate_in_force(db):
    """As transfer does: with no rate between the currencies, the reservation is refused (FS018),
    not accepted to fail at post."""
    with db.connect() as conn:
        if not conn.execute("SELECT 1 FROM finshard.currencies WHERE code = 'XPT'").fetchone():
            conn.execute("SELECT finshard.add_currency('XPT', 'Platinum (no rates)', 2::smallint)")
        a = new_account(conn, "USD", "100.00")
        b = new_account(conn, "XPT")
        with pytest.raises(psycopg.Error) as info:
            conn.execute("SELECT finshard.create_pending_transfer(%s::bigint, %s::bigint, 60)", (a, b))
        assert info.value.sqlstate == "FS018"
        assert conn.execute("SELECT reserved FROM finshard.accounts WHERE account_id = %s", (a,)).fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM finshard.transfers WHERE from_account_id = %s", (a,)).fetchone()[0] == 0


def test_pending_transfer_resolves_exactly_once_under_concurrency(db):
    with db.connect() as conn:
        a = new_account(conn, "USD", "100.00")
        b = new_account(conn, "USD")
        tid = conn.execute("SELECT finshard.create_pending_transfer(%s::bigint, %s::bigint, 40)", (a, b)).fetchone()[0]
    outcomes = []

    def resolve(sql):
        try:
            with db.connect() as c:
                c.execute(sql, (a, tid))
                outcomes.append("ok")
        except psycopg.Error as exc:
            outcomes.append(exc.sqlstate)

    threads = [threading.Thread(target=resolve, args=(sql,)) for sql in
               ["SELECT finshard.post_pending_transfer(%s::bigint, %s::bigint)", "SELECT finshard.void_pending_transfer(%s::bigint, %s::bigint)"] * 3]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert outcomes.count("ok") == 1 and outcomes.count("FS041") == 5
    with db.connect() as conn:
        bal = balances(conn, a, b)
        assert bal in ([Decimal("60.00"), Decimal("40.00")], [Decimal("100.00"), Decimal("0.00")])
        assert conn.execute("SELECT reserved FROM finshard.accounts WHERE account_id = %s", (a,)).fetchone()[0] == 0


def test_expired_pending_transfers_release_their_reservation_and_notify(db):
    with db.connect() as conn:
        a = new_account(conn, "USD", "100.00")
        b = new_account(conn, "USD")
        tid = conn.execute("SELECT finshard.create_pending_transfer(%s::bigint, %s::bigint, 30, interval '1 second')", (a, b)).fetchone()[0]
        time.sleep(1.2)
        with pytest.raises(psycopg.Error) as info:
            conn.execute("SELECT finshard.post_pending_transfer(%s::bigint, %s::bigint)", (a, tid))
        assert info.value.sqlstate == "FS041"
        # The finshard-expire-pending pg_cron job may expire it first (it runs every minute on the
        # test clusters too): either way it ends expired, once.
        conn.execute("SELECT finshard.expire_pending_transfers()")
        assert conn.execute("SELECT status FROM finshard.transfers WHERE transfer_id = %s AND from_account_id = %s", (tid, a)).fetchone()[0] == "expired"
        assert conn.execute("SELECT reserved FROM finshard.accounts WHERE account_id = %s", (a,)).fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM finshard.notifications WHERE account_id = %s AND kind = 'transfer_failed'", (a,)).fetchone()[0] == 1


def test_users_authenticate_by_username_or_email_and_failures_are_recorded(db):
    with db.connect() as conn:
        uid = conn.execute("SELECT finshard.create_user('Carol_' || %s, %s, 's3cret-pass')", (str(time.time_ns()), f"c{time.time_ns()}@Example.com")).fetchone()[0]
        name, email, hashed = conn.execute("SELECT username, email, password_hash FROM finshard.users WHERE user_id = %s", (uid,)).fetchone()
        assert hashed.startswith("$2a$") and "s3cret" not in hashed
        assert conn.execute("SELECT finshard.authenticate(%s, 's3cret-pass')", (name.upper(),)).fetchone()[0] == uid
        assert conn.execute("SELECT finshard.authenticate(%s, 's3cret-pass')", (email.upper(),)).fetchone()[0] == uid
        for _ in range(2):
            with pytest.raises(psycopg.Error) as info:
                conn.execute("SELECT finshard.authenticate(%s, 'wrong-pass')", (name,))
            assert info.value.sqlstate == "FS024"
        assert conn.execute("SELECT failed_logins FROM finshard.users WHERE user_id = %s", (uid,)).fetchone()[0] == 2
        conn.execute("SELECT finshard.deactivate_user(%s::bigint)", (uid,))
        with pytest.raises(psycopg.Error) as info:
            conn.execute("SELECT finshard.authenticate(%s, 's3cret-pass')", (name,))
        assert info.value.sqlstate == "FS024"  # as an unknown login: no enumeration


def test_close_requires_empty_and_frees_the_account_key(db):
    with db.connect() as conn:
        user = new_user(conn)
        acc = conn.execute("SELECT finshard.open_account(%s::bigint, 'EUR')", (user,)).fetchone()[0]
        conn.execute("SELECT finshard.close_account(%s::bigint)", (acc,))
        again = conn.execute("SELECT finshard.open_account(%s::bigint, 'EUR')", (user,)).fetchone()[0]
        assert again != acc


@pytest.mark.citus
@pytest.mark.parametrize("kind", ["username", "account"])
def test_uniqueness_holds_for_two_concurrent_attempts_on_citus(citus, kind):
    """Usernames (reference table) and one account per user/bank/currency/type (account_keys by user_id):
    two concurrent attempts whose new rows land on different shards, exactly one wins."""
    with citus.connect() as conn:
        user = new_user(conn)
    name = f"race{time.time_ns()}"
    barrier = threading.Barrier(2)
    outcomes: list[object] = []

    def attempt(i: int) -> None:
        with citus.connect() as c:
            barrier.wait()
            try:
                if kind == "username":
                    outcomes.append(c.execute("SELECT finshard.create_user(%s, %s, 'password123')", (name, f"{name}{i}@example.com")).fetchone()[0])
                else:
                    outcomes.append(c.execute("SELECT finshard.open_account(%s::bigint, 'UZS', 'savings')", (user,)).fetchone()[0])
            except psycopg.Error as exc:
                outcomes.append(exc.sqlstate)

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(2)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    codes = [o for o in outcomes if isinstance(o, str)]
    assert len(codes) == 1 and codes[0] == ("FS022" if kind == "username" else "FS016"), outcomes
    if kind == "account":
        with citus.connect() as c:
            assert c.execute("SELECT count(*) FROM finshard.accounts WHERE user_id = %s AND currency = 'UZS'", (user,)).fetchone()[0] == 1


def test_notifications_are_stored_and_sent_on_the_channel(db):
    with db.connect() as conn:
        acc = new_account(conn, "USD")
    from finshard.router import Router
    with Router.connect(db.dsn) as r:
        node_dsn = r.node_dsn(r.shard_for(acc).node)
    with psycopg.connect(node_dsn, autocommit=True) as listener:
        listener.execute("LISTEN finshard_events")
        with db.connect() as conn:
            conn.execute("SELECT finshard.deposit(%s::bigint, 12.34)", (acc,))
        events = [n for n in listener.notifies(timeout=5, stop_after=1)]
    assert events and f'"account_id": {acc}' in events[0].payload and '"credited"' in events[0].payload
    with db.connect() as conn:
        assert conn.execute("SELECT kind FROM finshard.notifications WHERE account_id = %s", (acc,)).fetchall() == [("credited",)]


def test_audit_chain_detects_an_altered_and_a_removed_entry(db):
    with db.connect() as conn:
        acc = new_account(conn, "USD", "10.00")
        conn.execute("SELECT finshard.withdraw(%s::bigint, 1)", (acc,))
        conn.execute("SELECT finshard.deposit(%s::bigint, 2)", (acc,))
        assert conn.execute("SELECT count(*) FROM finshard.audit_verify(%s::bigint)", (acc,)).fetchone()[0] == 0
        conn.execute("UPDATE finshard.audit_log SET details = details || '{\"amount\": 1000}' WHERE account_id = %s AND audit_seq = 2", (acc,))
        problems = conn.execute("SELECT audit_seq, problem FROM finshard.audit_verify(%s::bigint)", (acc,)).fetchall()
        assert (2, "hash does not match the entry (entry altered, or re-hashed without the audit key)") in problems
        conn.execute("DELETE FROM finshard.audit_log WHERE account_id = %s AND audit_seq = 4", (acc,))
        problems = conn.execute("SELECT problem FROM finshard.audit_verify(%s::bigint)", (acc,)).fetchall()
        assert any("newest entries removed" in p for (p,) in problems)


def test_the_app_role_can_execute_functions_but_not_write_tables(db):
    role = f"app_{time.time_ns()}"
    with db.connect() as conn:
        user = new_user(conn)
        login = conn.execute("SELECT username FROM finshard.users WHERE user_id = %s", (user,)).fetchone()[0]
        acc = conn.execute("SELECT finshard.open_account(%s::bigint)", (user,)).fetchone()[0]
        create_test_login(conn, db, role, "finshard_app")
    try:
        dsn = psycopg.conninfo.make_conninfo(db.dsn, user=role)
        with psycopg.connect(dsn, autocommit=True) as app:
            token = app.execute("SELECT token FROM finshard.login(%s, 'correct horse')", (login,)).fetchone()[0]
            assert app.execute("SELECT balance FROM finshard.deposit(%s::bigint, 5, p_session => %s)",
                               (acc, token)).fetchone()[0] == Decimal("5")
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                app.execute("UPDATE finshard.accounts SET balance = 1e6 WHERE account_id = %s", (acc,))
        with db.connect() as conn:
            assert conn.execute("SELECT actor, on_behalf_of FROM finshard.audit_log WHERE account_id = %s "
                                "ORDER BY audit_seq DESC LIMIT 1", (acc,)).fetchone() == (role, user)
    finally:
        with db.connect() as conn:
            conn.execute(f"DROP OWNED BY {role}")
            conn.execute(f"DROP ROLE {role}")


@pytest.mark.citus
def test_calls_in_a_multi_node_transaction_block_commit_together_and_notify(citus):
    """A DBA's BEGIN; deposit(a); deposit(b); COMMIT with a and b on different workers: inside a
    block no call is delegated, so both run on the coordinator, which commits the two workers with
    two-phase commit; each notification is stored once and reaches a listener there."""
    from finshard.router import Router
    nodes: dict = {}
    with citus.connect() as conn, Router.connect(citus.dsn) as r:
        # Earlier tests split and move shards, so placement may be uneven: open until two nodes hold one.
        for _ in range(64):
            acc = new_account(conn, "USD")
            nodes.setdefault(r.shard_for(acc).node, acc)
            if len(nodes) == 2:
                break
    a, b = list(nodes.values())[:2]
    stored = "SELECT count(*) FROM finshard.notifications WHERE account_id IN (%s, %s) AND kind = 'credited'"
    with citus.connect() as listener:
        listener.execute("LISTEN finshard_events")
        with psycopg.connect(citus.dsn) as conn:  # not autocommit: one transaction block
            conn.execute("SELECT finshard.deposit(%s::bigint, 5)", (a,))
            conn.execute("SELECT finshard.deposit(%s::bigint, 7)", (b,))
            conn.commit()
        with citus.connect() as conn:
            # Sent at commit, or queued while some test's dispatcher is registered: sent now.
            conn.execute("SELECT finshard.dispatch_notifications()")
            assert balances(conn, a, b) == [Decimal("5.00"), Decimal("7.00")]
        payloads = [n.payload for n in listener.notifies(timeout=5, stop_after=50)]
    assert any(f'"account_id": {a}' in p for p in payloads) and any(f'"account_id": {b}' in p for p in payloads)
    with citus.connect() as conn:
        assert conn.execute("SELECT count(*) FROM finshard.notification_outbox WHERE account_id IN (%s, %s)", (a, b)).fetchone()[0] == 0
        assert conn.execute(stored, (a, b)).fetchone()[0] == 2  # sent, not stored twice


def test_deferred_delivery_queues_whole_and_the_dispatcher_stores_and_sends_once(db):
    with db.connect() as conn:
        acc, dst = new_account(conn, "USD"), new_account(conn, "USD")
        conn.execute("SELECT finshard.set_notify_delivery('deferred')")
        try:
            with db.connect() as listener:
                listener.execute("LISTEN finshard_events")
                conn.execute("SELECT finshard.deposit(%s::bigint, 5)", (acc,))
                conn.execute("SELECT finshard.transfer(%s::bigint, %s::bigint, 2)", (acc, dst))
                assert list(listener.notifies(timeout=0.5)) == []  # nothing sent by the writers
        finally:
            conn.execute("SELECT finshard.set_notify_delivery('auto')")
        fields = "account_id, notification_id, user_id, kind, message, payload, created_at"
        stored = f"SELECT {fields} FROM finshard.notifications WHERE account_id IN (%s, %s) ORDER BY notification_id"
        queued = conn.execute(f"SELECT {fields} FROM finshard.notification_outbox WHERE account_id IN (%s, %s) "
                              "ORDER BY notification_id", (acc, dst)).fetchall()
        # Queued whole; stored by the dispatcher on one node, by the queuing transaction on Citus.
        assert [q[3] for q in queued] == ["credited", "transfer_success", "credited"]
        assert conn.execute(stored, (acc, dst)).fetchall() == (queued if db.citus else [])
        with db.connect() as listener:
            listener.execute("LISTEN finshard_events")
            assert conn.execute("SELECT finshard.dispatch_notifications()").fetchone()[0] >= 3
            sent = [json.loads(n.payload) for n in listener.notifies(timeout=5, stop_after=50)]
            mine = sorted((e["notification_id"], e["kind"], e["user_id"]) for e in sent if e["account_id"] in (acc, dst))
            assert mine == [(q[1], q[3], q[2]) for q in queued]
            # Stored as they were queued (same ids, same time, once), and off the queue.
            assert conn.execute(stored, (acc, dst)).fetchall() == queued
            assert conn.execute("SELECT count(*) FROM finshard.notification_outbox WHERE account_id IN (%s, %s)",
                                (acc, dst)).fetchone()[0] == 0
            # Once: a second pass neither sends nor stores them again.
            conn.execute("SELECT finshard.dispatch_notifications()")
            assert not [n for n in listener.notifies(timeout=0.5) if f'"account_id": {acc}' in n.payload]
            assert conn.execute(stored, (acc, dst)).fetchall() == queued
        with pytest.raises(psycopg.Error) as info:
            conn.execute("SELECT finshard.set_notify_delivery('sometimes')")
        assert info.value.sqlstate == "FS005"


def test_a_queued_notification_without_a_partition_neither_blocks_the_queue_nor_is_lost(db):
    """A notification queued for a month that has no partition of finshard.notifications: one
    older than every partition (its month retired) is dropped; one whose month is yet to be made
    stays queued, with a WARNING, until its partition exists. Those around it flow as usual."""
    with db.connect() as conn:
        conn.execute("SELECT finshard.dispatch_notifications(1000000)")  # an empty queue to start from
        acc = new_account(conn, "USD")
        user = conn.execute("SELECT user_id FROM finshard.accounts WHERE account_id = %s", (acc,)).fetchone()[0]
        conn.execute("SELECT finshard.set_notify_delivery('deferred')")
        try:
            conn.execute("SELECT finshard.deposit(%s::bigint, 5)", (acc,))
        finally:
            conn.execute("SELECT finshard.set_notify_delivery('auto')")
        # Fault injection: two queued rows for months with no partition.
        conn.execute("INSERT INTO finshard.notification_outbox (account_id, notification_id, user_id, kind, message, payload, created_at) "
                     "VALUES (%s, nextval('finshard.notifications_notification_id_seq'), %s, 'account', 'retired', '{}', '1990-01-15'), "
                     "       (%s, nextval('finshard.notifications_notification_id_seq'), %s, 'account', 'ahead', '{}', '2300-01-15')",
                     (acc, user, acc, user))
        _dispatch_sends_one_and_one_waits(db, conn, acc)
        assert conn.execute("SELECT message FROM finshard.notification_outbox WHERE account_id = %s", (acc,)).fetchall() == [("ahead",)]
        assert conn.execute("SELECT kind FROM finshard.notifications WHERE account_id = %s", (acc,)).fetchall() == [("credited",)]
        conn.execute("DELETE FROM finshard.notification_outbox WHERE account_id = %s", (acc,))  # the far future stays unmade


def _dispatch_sends_one_and_one_waits(db, conn, acc: int) -> None:
    """One dispatcher pass sends acc's queued 'credited' and warns that one notification waits for
    its month's partition."""
    warnings = []
    conn.add_notice_handler(lambda d: warnings.append((d.severity_nonlocalized, d.message_primary)))
    with db.connect() as listener:
        listener.execute("LISTEN finshard_events")
        assert conn.execute("SELECT finshard.dispatch_notifications()").fetchone()[0] == 1
        assert _my_events(listener, acc, timeout=5) == ["credited"]
    assert ("WARNING", "finshard.dispatch_notifications: 1 queued notification(s) wait for a partition of "
                       "finshard.notifications for their month") in warnings


def _my_events(listener, *accounts, timeout=0.5):
    events = [json.loads(n.payload) for n in listener.notifies(timeout=timeout, stop_after=50)]
    return sorted(e["kind"] for e in events if e["account_id"] in accounts)


def _queue_deferred_deposit(conn) -> int:
    """An empty queue, then one account whose deposit's notification ('credited') is queued."""
    conn.execute("SELECT finshard.dispatch_notifications(1000000)")
    acc = new_account(conn, "USD")
    conn.execute("SELECT finshard.set_notify_delivery('deferred')")
    try:
        conn.execute("SELECT finshard.deposit(%s::bigint, 5)", (acc,))
    finally:
        conn.execute("SELECT finshard.set_notify_delivery('auto')")
    return acc


def _inject(conn, acc: int, message: str, created_at: str) -> None:
    conn.execute("INSERT INTO finshard.notification_outbox (account_id, notification_id, user_id, kind, message, payload, created_at) "
                 "SELECT %s, nextval('finshard.notifications_notification_id_seq'), a.user_id, 'account', %s, '{}', %s::timestamptz "
                 "FROM finshard.accounts a WHERE a.account_id = %s", (acc, message, created_at, acc))


def test_a_notification_for_next_month_without_its_partition_waits_while_the_rest_are_sent(db):
    """Next month's partition detached (a month the dispatcher checks by name): its notification
    stays queued, with a WARNING, until the partition is back; this month's are sent meanwhile."""
    with db.connect() as conn:
        acc = _queue_deferred_deposit(conn)
        month, bound, at = conn.execute(
            "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid), l.range_from + interval '1 day' FROM finshard.list_partitions() l "
            "JOIN pg_class c ON c.relname = l.partition_name AND c.relnamespace = 'finshard'::regnamespace "
            "WHERE l.table_name = 'finshard.notifications'::regclass "
            "AND l.range_from = date_trunc('month', now(), 'UTC') + interval '1 month'").fetchone()
        _inject(conn, acc, "next month", at)
        conn.execute(f"ALTER TABLE finshard.notifications DETACH PARTITION finshard.{month}")
        try:
            _dispatch_sends_one_and_one_waits(db, conn, acc)
            assert conn.execute("SELECT message FROM finshard.notification_outbox WHERE account_id = %s", (acc,)).fetchall() == [("next month",)]
        finally:
            conn.execute(f"ALTER TABLE finshard.notifications ATTACH PARTITION finshard.{month} {bound}")
        with db.connect() as listener:
            listener.execute("LISTEN finshard_events")
            assert conn.execute("SELECT finshard.dispatch_notifications()").fetchone()[0] == 1
            assert _my_events(listener, acc, timeout=5) == ["account"]
        assert conn.execute("SELECT count(*) FROM finshard.notification_outbox WHERE account_id = %s", (acc,)).fetchone()[0] == 0
        assert conn.execute("SELECT message FROM finshard.notifications WHERE account_id = %s AND kind = 'account'",
                            (acc,)).fetchall() == [("next month",)]


def test_a_check_violation_while_dispatching_is_an_error_of_its_own_and_loses_nothing(db):
    """A CHECK on finshard.notifications refusing a queued row is not read as a missing month: the
    pass fails with the constraint's own error (FS009, InvariantViolated, through the router),
    sends and stores nothing, and the queue keeps every row."""
    from finshard import errors
    from finshard.router import Router

    with db.connect() as conn:
        acc = _queue_deferred_deposit(conn)
        _inject(conn, acc, "refused", "now")
        queued = "SELECT message FROM finshard.notification_outbox WHERE account_id = %s ORDER BY notification_id"
        before = conn.execute(queued, (acc,)).fetchall()
        assert len(before) == 2
        stored = conn.execute("SELECT count(*) FROM finshard.notifications WHERE account_id = %s", (acc,)).fetchone()[0]
        warnings = []
        conn.add_notice_handler(lambda d: warnings.append(d.message_primary))
        conn.execute("ALTER TABLE finshard.notifications ADD CONSTRAINT test_refuses_this_message CHECK (message <> 'refused')")
        try:
            with db.connect() as listener:
                listener.execute("LISTEN finshard_events")
                with pytest.raises(psycopg.Error) as info:
                    conn.execute("SELECT finshard.dispatch_notifications()")
                # Citus relays the worker's message, not its constraint field.
                assert info.value.sqlstate == "23514" and "test_refuses_this_message" in info.value.diag.message_primary
                with Router.connect(db.dsn) as r, pytest.raises(errors.InvariantViolated) as routed:
                    r.dispatch_notifications()
                assert routed.value.sqlstate == "FS009" and routed.value.detail.startswith("PostgreSQL 23514")
                assert "test_refuses_this_message" in str(routed.value)
                assert _my_events(listener, acc) == []
            assert not [w for w in warnings if "wait for a partition" in w]
            assert conn.execute(queued, (acc,)).fetchall() == before
            assert conn.execute("SELECT count(*) FROM finshard.notifications WHERE account_id = %s", (acc,)).fetchone()[0] == stored
        finally:
            conn.execute("ALTER TABLE finshard.notifications DROP CONSTRAINT test_refuses_this_message")
        assert conn.execute("SELECT finshard.dispatch_notifications()").fetchone()[0] == 2


def test_a_dispatch_pass_writes_in_its_callers_transaction_without_a_subtransaction(plain):
    """The common pass has no exception block: the rows it stores carry the transaction's own id,
    not a subtransaction's."""
    with plain.connect() as conn:
        acc = _queue_deferred_deposit(conn)
        with conn.transaction():
            assert conn.execute("SELECT finshard.dispatch_notifications()").fetchone()[0] == 1
            own = conn.execute("SELECT count(*) FILTER (WHERE n.xmin = xid(pg_current_xact_id())), count(*) "
                               "FROM finshard.notifications n WHERE n.account_id = %s", (acc,)).fetchone()
        assert own == (1, 1)


def test_auto_delivery_queues_only_while_a_dispatcher_is_registered(plain):
    """The default (auto): sent at commit when no dispatcher runs on the node, so LISTEN works
    without one; queued for the dispatcher while a session is registered, on both transfer paths;
    sent at commit again once that session is gone. (One node: registration is per node, and on
    Citus a call runs on the worker holding its account.)"""
    db = plain
    with db.connect() as conn, db.connect() as listener:
        assert conn.execute("SELECT value FROM finshard.settings WHERE key = 'notify_delivery'").fetchone()[0] == "auto"
        a, b = new_account(conn, "USD"), new_account(conn, "USD")
        listener.execute("LISTEN finshard_events")
        conn.execute("SELECT finshard.deposit(%s::bigint, 10)", (a,))
        assert _my_events(listener, a, b, timeout=5) == ["credited"]

        dispatcher = db.connect()
        assert dispatcher.execute("SELECT finshard.register_dispatcher()").fetchone()[0] is True
        assert dispatcher.execute("SELECT finshard.register_dispatcher()").fetchone()[0] is True  # idempotent
        with db.connect() as other:  # one registered dispatcher per node
            assert other.execute("SELECT finshard.register_dispatcher()").fetchone()[0] is False
        conn.execute("SELECT finshard.deposit(%s::bigint, 1)", (b,))
        conn.execute("SELECT finshard.transfer(%s::bigint, %s::bigint, 2)", (a, b))  # one statement
        conn.execute("SET finshard.one_statement_transfer = off")
        conn.execute("SELECT finshard.transfer(%s::bigint, %s::bigint, 3)", (b, a))  # per leg
        conn.execute("RESET finshard.one_statement_transfer")
        assert _my_events(listener, a, b) == []
        queued = "SELECT count(*) FROM finshard.notification_outbox WHERE account_id IN (%s, %s)"
        assert conn.execute(queued, (a, b)).fetchone()[0] == 5
        assert dispatcher.execute("SELECT finshard.dispatch_notifications()").fetchone()[0] >= 5
        assert _my_events(listener, a, b, timeout=5) == sorted(["credited", "transfer_success", "credited",
                                                                "transfer_success", "credited"])
        # Registered once, however often it was called: one unlock releases it.
        assert dispatcher.execute("SELECT pg_advisory_unlock(finshard._dispatcher_key())").fetchone()[0] is True
        assert dispatcher.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()"
                                  ).fetchone()[0] == 0
        assert dispatcher.execute("SELECT finshard.register_dispatcher()").fetchone()[0] is True
        dispatcher.close()  # gone: transactions send at commit again
        # Its backend exits (and releases the lock) after the client has closed: wait for that.
        deadline = time.monotonic() + 10
        while conn.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                           "AND objid = (finshard._dispatcher_key() & 4294967295)::oid").fetchone()[0]:
            assert time.monotonic() < deadline, "the dispatcher's backend kept its lock"
            time.sleep(0.05)
        conn.execute("SELECT finshard.withdraw(%s::bigint, 1)", (a,))
        assert _my_events(listener, a, b, timeout=5) == ["debited"]
        assert conn.execute(queued, (a, b)).fetchone()[0] == 0


def test_the_dispatch_command_batches_while_it_runs_and_not_after(plain):
    """finshard notifications dispatch --follow registers its session: deposits are sent by it,
    not at commit, until it is stopped (SIGTERM); it then says what it sent and exits cleanly."""
    with plain.connect() as conn, plain.connect() as listener:
        acc = new_account(conn, "USD")
        listener.execute("LISTEN finshard_events")
        proc = subprocess.Popen([sys.executable, "-m", "finshard.cli", "notifications", "dispatch", "--follow",
                                 "--interval", "0.1", "--dsn", plain.dsn],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
        try:
            assert proc.stderr.readline().strip() == "registered as this node's dispatcher"
            conn.execute("SELECT finshard.deposit(%s::bigint, 4)", (acc,))
            assert _my_events(listener, acc, timeout=5) == ["credited"]
            # Sent by the command, from the queue (it reports each batch).
            assert proc.stderr.readline().startswith("sent ")
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                out, err = proc.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()  # still registered: it would make later tests' notifications queue
                raise
        assert proc.returncode == 0 and "Traceback" not in err
        assert out.startswith("stopped; sent ")
        conn.execute("SELECT finshard.withdraw(%s::bigint, 1)", (acc,))
        assert _my_events(listener, acc, timeout=5) == ["debited"]
        assert conn.execute("SELECT count(*) FROM finshard.notification_outbox WHERE account_id = %s", (acc,)).fetchone()[0] == 0


def _follow_until_empty(dsn, conn, accounts, **kwargs):
    """Runs the dispatcher (finshard.ops.dispatcher.follow) until the queue holds nothing for
    ``accounts``; returns what it reported."""
    from finshard.ops import dispatcher

    stop, said = threading.Event(), []
    thread = threading.Thread(target=dispatcher.follow, args=(dsn,),
                              kwargs={"interval": 0.05, "stop": stop, "report": said.append, **kwargs})
    thread.start()
    try:
        for _ in range(200):
            if not conn.execute("SELECT count(*) FROM finshard.notification_outbox WHERE account_id = ANY (%s)",
                                (accounts,)).fetchone()[0]:
                break
            time.sleep(0.05)
        else:
            raise AssertionError(f"the dispatcher did not empty the queue: {said}")
    finally:
        stop.set()
        thread.join(30)
    assert not thread.is_alive()
    return said


def _queue_size(conn, citus):
    # On Citus the queue is in its shards, on the workers.
    return conn.execute("SELECT citus_relation_size('finshard.notification_outbox')" if citus
                        else "SELECT pg_relation_size('finshard.notification_outbox')").fetchone()[0]


def test_the_dispatcher_vacuums_the_queue_so_its_space_is_reused(db):
    """Every pass deletes what it moved, and PostgreSQL reuses that space only after a VACUUM
    (autovacuum comes once a minute; under load the queue grew by megabytes meanwhile). The
    dispatcher vacuums the queue after every vacuum_after rows: the next rows go where the
    dispatched ones were, and the queue does not grow."""
    with db.connect() as conn:
        accounts = [new_account(conn, "USD") for _ in range(4)]
        conn.execute("SELECT finshard.set_notify_delivery('deferred')")
        try:
            def queue_a_batch():
                for i in range(150):
                    conn.execute("SELECT finshard.deposit(%s::bigint, 1)", (accounts[i % 4],))

            queue_a_batch()
            size = _queue_size(conn, db.citus)
            assert size > 0
            said = _follow_until_empty(db.dsn, conn, accounts, vacuum_after=1)
            assert said[0] == "registered as this node's dispatcher" and any(s.startswith("sent ") for s in said)
            if not db.citus:
                assert conn.execute("SELECT vacuum_count FROM pg_stat_user_tables "
                                    "WHERE relid = 'finshard.notification_outbox'::regclass").fetchone()[0] >= 1
            queue_a_batch()
            # In the space the first batch left (VACUUM may also have truncated emptied end pages).
            assert _queue_size(conn, db.citus) <= size
            _follow_until_empty(db.dsn, conn, accounts)
        finally:
            conn.execute("SELECT finshard.set_notify_delivery('auto')")
        assert conn.execute("SELECT count(*) FROM finshard.notifications WHERE account_id = ANY (%s)",
                            (accounts,)).fetchone()[0] == 300


def test_a_dispatcher_whose_role_may_not_vacuum_says_so_and_dispatches(plain):
    role = f"disp_{time.time_ns()}"
    with plain.connect() as conn:
        acc = new_account(conn, "USD")
        # The dispatcher is an admin duty (docs/roles.md).
        create_test_login(conn, plain, role, "finshard_admin")
        conn.execute("SELECT finshard.set_notify_delivery('deferred')")
        try:
            conn.execute("SELECT finshard.deposit(%s::bigint, 3)", (acc,))
            said = _follow_until_empty(psycopg.conninfo.make_conninfo(plain.dsn, user=role), conn, [acc], vacuum_after=1)
        finally:
            conn.execute("SELECT finshard.set_notify_delivery('auto')")
            conn.execute(f"DROP OWNED BY {role}")
            conn.execute(f"DROP ROLE {role}")
        assert said[0] == f"role {role} cannot VACUUM finshard.notification_outbox; autovacuum will"
        assert "registered as this node's dispatcher" in said and "sent 1" in said
        assert conn.execute("SELECT kind FROM finshard.notifications WHERE account_id = %s", (acc,)).fetchall() == [("credited",)]


def test_the_signal_payload_is_ids_only_as_json_exactly(plain):
    # _signal writes the JSON text itself (cheaper than building a jsonb and printing it): it must
    # be byte for byte what jsonb printed. Ids only: any role may LISTEN on any channel.
    with plain.connect() as listener, plain.connect() as conn:
        listener.execute("LISTEN finshard_events")
        with conn.transaction():
            conn.execute("SELECT finshard._signal(9007199254740993, 7, 8, 'transfer_success')")
        sent = [n.payload for n in listener.notifies(timeout=5, stop_after=1)]
        expected = conn.execute("SELECT jsonb_build_object('notification_id', 9007199254740993, 'account_id', 7, 'user_id', 8, "
                                "'kind', 'transfer_success')::text").fetchone()[0]
    assert sent == [expected]
    assert json.loads(sent[0]) == {"notification_id": 9007199254740993, "account_id": 7, "user_id": 8,
                                   "kind": "transfer_success"}


def _transfer_rows(conn, transfer_id, source):
    """What a transfer wrote, with its ids left out, so that two transfers can be compared."""
    return {
        "ledger": conn.execute(
            "SELECT account_id = %s, transaction_type, amount, balance_after, currency, description "
            "FROM finshard.transactions WHERE transfer_id = %s ORDER BY 1 DESC", (source, transfer_id)).fetchall(),
        # Stored (sent at commit) or queued whole for the dispatcher, and where.
        "notifications": conn.execute(
            "SELECT account_id = %s, kind, regexp_replace(message, '(Transfer|account) [0-9]+', '\\1 N', 'g'), payload - 'transfer_id', "
            "queued FROM (SELECT account_id, kind, message, payload, false AS queued FROM finshard.notifications "
            "             UNION ALL SELECT account_id, kind, message, payload, true FROM finshard.notification_outbox) n "
            "WHERE payload ->> 'transfer_id' = %s::text ORDER BY 1 DESC",
            (source, transfer_id)).fetchall(),
        "audit": conn.execute(
            "SELECT action, details - 'transfer_id' - 'to' - 'idempotency_key', details ? 'idempotency_key' "
            "FROM finshard.audit_log WHERE account_id = %s ORDER BY audit_seq DESC LIMIT 1", (source,)).fetchone(),
        "record": conn.execute(
            "SELECT amount, currency, to_amount, to_currency, fx_rate, status, idempotency_key IS NOT NULL, description, "
            "resolved_at IS NOT NULL FROM finshard.transfers WHERE transfer_id = %s", (transfer_id,)).fetchone(),
    }


def _calls(conn, function):
    # The counts not yet flushed to the statistics, which may include earlier transactions: diff them.
    return conn.execute("SELECT coalesce(sum(calls), 0) FROM pg_stat_xact_user_functions WHERE schemaname = 'finshard' "
                        "AND funcname = %s", (function,)).fetchone()[0]


@pytest.mark.parametrize("key,delivery", [(None, "immediate"), ("one-statement-key", "immediate"), (None, "deferred")])
def test_one_statement_transfer_writes_exactly_what_the_per_leg_path_writes(plain, key, delivery):
    # On one node a same-currency transfer is one statement; Citus runs the per-leg path (_move).
    # Both must leave the same rows behind (the notifications stored, or queued whole), and the
    # audit chain must verify.
    with plain.connect() as conn:
        conn.execute("SET track_functions = 'pl'")
        conn.execute("SELECT finshard.set_notify_delivery(%s)", (delivery,))
        rows = {}
        try:
            _both_paths(conn, key, rows)
        finally:
            conn.execute("SELECT finshard.set_notify_delivery('auto')")
        assert rows["one_statement"] == rows["per_leg"]
        assert rows["one_statement"]["ledger"][0][1:4] == ("transfer_out", Decimal("-30.25"), Decimal("69.75"))
        assert {n[-1] for n in rows["one_statement"]["notifications"]} == {delivery == "deferred"}


def _both_paths(conn, key, rows):
    """One transfer down each path, between fresh accounts; what each wrote goes into rows."""
    for path in ("one_statement", "per_leg"):
        a, b = new_account(conn, "USD", "100.00"), new_account(conn, "USD", "5.00")
        with conn.transaction():
            if path == "per_leg":
                conn.execute("SET LOCAL finshard.one_statement_transfer = off")
            before = (_calls(conn, "transfer"), _calls(conn, "_move"))
            row = conn.execute("SELECT * FROM finshard.transfer(%s::bigint, %s::bigint, 30.25, %s, 'rent; DROP TABLE x')",
                               (a, b, key and f"{key}-{path}")).fetchone()
            ran = (_calls(conn, "transfer") - before[0], _calls(conn, "_move") - before[1])
            # The one statement is in transfer itself; the per-leg path calls _move.
            assert ran == ((1, 0) if path == "one_statement" else (1, 1))
        assert row[1:] == (Decimal("69.75"), Decimal("35.25"), Decimal("30.25"), None)
        rows[path] = _transfer_rows(conn, row[0], a)
        # Per account: other tests on this cluster alter chains on purpose.
        for acc in (a, b):
            assert conn.execute("SELECT count(*) FROM finshard.audit_verify(%s::bigint)", (acc,)).fetchone()[0] == 0


def test_one_statement_and_per_leg_transfers_never_deadlock_each_other(plain):
    # Both paths lock the two accounts in ascending id order (the one statement through an index
    # scan over both ids): transfers both ways, half of the sessions on each path, never deadlock.
    with plain.connect() as conn:
        a, b = new_account(conn, "USD", "1000.00"), new_account(conn, "USD", "1000.00")
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        try:
            with plain.connect() as c:
                if i % 2:
                    c.execute("SET finshard.one_statement_transfer = off")
                for n in range(60):
                    src, dst = (a, b) if (n + i) % 2 else (b, a)
                    c.execute("SELECT finshard.transfer(%s::bigint, %s::bigint, 1)", (src, dst))
        except psycopg.Error as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert not errors, errors[0]
    with plain.connect() as conn:
        assert sum(balances(conn, a, b)) == Decimal("2000.00")
        for acc in (a, b):
            last = conn.execute("SELECT balance_after FROM finshard.transactions WHERE account_id = %s "
                                "ORDER BY entry_seq DESC LIMIT 1", (acc,)).fetchone()[0]
            assert last == balances(conn, acc)[0]


def _wait_for(conn, pid, event, timeout=10.0):
    """Until backend ``pid`` waits on a lock of this wait event (e.g. 'transactionid': a row lock)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if conn.execute("SELECT wait_event FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone()[0] == event:
            return
        time.sleep(0.02)
    raise AssertionError(f"backend {pid} never waited on {event}")


def test_one_statement_transfer_raced_by_a_freeze_applies_nothing_and_says_why(plain):
    """A freeze commits while a one-statement transfer waits for the source's row lock, after the
    rules passed on its snapshot and the destination was already updated. The transfer applies
    nothing and raises the reason read from the row it failed on (FS012)."""
    with plain.connect() as admin:
        dst = new_account(admin, "USD", "10.00")
        src = new_account(admin, "USD", "10.00")  # the higher id: locked second
        with plain.connect() as mover, psycopg.connect(plain.dsn) as freezer:
            pid = mover.execute("SELECT pg_backend_pid()").fetchone()[0]
            freezer.execute("SELECT finshard.freeze_account(%s::bigint)", (src,))  # holds the row, uncommitted
            outcome: list = []

            def move():
                try:
                    mover.execute("SELECT finshard.transfer(%s::bigint, %s::bigint, 1)", (src, dst))
                    outcome.append(None)
                except psycopg.Error as exc:
                    outcome.append(exc)

            thread = threading.Thread(target=move)
            thread.start()
            _wait_for(admin, pid, "transactionid")  # the rules passed; the source's lock is awaited
            freezer.commit()
            thread.join(timeout=20)
        assert outcome and outcome[0] is not None, "the transfer was applied"
        assert outcome[0].sqlstate == "FS012", outcome[0]
        # Nothing moved: balances, ledger, transfer records and notifications are as before.
        assert admin.execute("SELECT array_agg(balance ORDER BY account_id), sum(entry_seq) FROM finshard.accounts "
                             "WHERE account_id IN (%s, %s)", (src, dst)).fetchone() == ([Decimal("10.00")] * 2, 2)
        assert admin.execute("SELECT count(*) FROM finshard.transfers WHERE %s IN (from_account_id, to_account_id)",
                             (src,)).fetchone()[0] == 0
        assert admin.execute("SELECT count(*) FROM finshard.notifications WHERE account_id IN (%s, %s) AND kind <> 'credited'",
                             (src, dst)).fetchone()[0] == 0
        assert admin.execute("SELECT count(*) FROM finshard.transactions WHERE account_id IN (%s, %s)",
                             (src, dst)).fetchone()[0] == 2  # the two opening deposits


def test_one_statement_transfer_locks_through_the_index_even_on_a_tiny_accounts_table(plain):
    # Deadlock-freedom of the one-statement path rests on its UPDATE scanning accounts_pkey (both
    # ids, ascending). On a fresh database the table fits in one page, where the planner is most
    # tempted to scan the heap (in heap order; it already does for the rules' sub-select there);
    # the function turns sequential and bitmap scans off. The plans are checked on such a database,
    # custom and generic.
    from finshard.ops.installer import install

    with scratch_database(plain, "finshard_tiny") as dsn:
        install(dsn)
        plans: list[str] = []
        with psycopg.connect(dsn, autocommit=True) as conn:
            a, b = new_account(conn, "USD", "10.00"), new_account(conn, "USD")
            conn.execute("ANALYZE finshard.accounts")
            conn.add_notice_handler(lambda d: plans.append(d.message_primary or ""))
            for setting in ("LOAD 'auto_explain'", "SET auto_explain.log_min_duration = 0",
                            "SET auto_explain.log_nested_statements = on", "SET client_min_messages = log"):
                conn.execute(setting)
            for _ in range(7):  # past PL/pgSQL's fifth call, when it may switch to a generic plan
                conn.execute("SELECT finshard.transfer(%s::bigint, %s::bigint, 0.01)", (b if _ % 2 else a, a if _ % 2 else b))
        updates = [p for p in plans if "WITH u AS" in p and "Update on accounts" in p]
        assert len(updates) == 7, plans[:3]
        for plan in updates:
            assert "Index Scan using accounts_pkey on accounts a  (" in plan, plan
            assert "Seq Scan on accounts a " not in plan and "Bitmap Heap Scan on accounts a " not in plan, plan


@pytest.mark.parametrize("per_leg", [False, True])
def test_a_transfer_signals_both_notifications_on_the_channel(db, per_leg):
    # Immediate delivery: the sender's transfer_success and the receiver's credited arrive on
    # finshard_events at commit, from the node that ran the call (both accounts on one node, so
    # that no two-phase commit defers them). On one node the one-statement path sends them; the
    # per-leg path (Citus, or the setting off) sends them from _move.
    from finshard.router import Router

    with db.connect() as conn, Router.connect(db.dsn) as r:
        a = new_account(conn, "USD", "50.00")
        node = r.shard_for(a).node
        b = new_account(conn, "USD")
        while r.shard_for(b).node != node:
            b = new_account(conn, "USD")
        node_dsn = r.node_dsn(node)
    with psycopg.connect(node_dsn, autocommit=True) as listener, psycopg.connect(node_dsn, autocommit=True) as conn:
        listener.execute("LISTEN finshard_events")
        if per_leg:
            conn.execute("SET finshard.one_statement_transfer = off")
        transfer_id = conn.execute("SELECT transfer_id FROM finshard.transfer(%s::bigint, %s::bigint, 20)", (a, b)).fetchone()[0]
        events = [json.loads(n.payload) for n in listener.notifies(timeout=5, stop_after=2)]
    by_kind = {e["kind"]: e for e in events}
    assert set(by_kind) == {"transfer_success", "credited"}, events
    assert by_kind["transfer_success"]["account_id"] == a and by_kind["credited"]["account_id"] == b
    # The event carries ids; the consumer reads the rest back under its grants.
    assert set(by_kind["credited"]) == {"notification_id", "account_id", "user_id", "kind"}
    with db.connect() as conn:
        sent = conn.execute("SELECT payload FROM finshard.notification(%s::bigint, %s::bigint)",
                            (a, by_kind["transfer_success"]["notification_id"])).fetchone()[0]
        got = conn.execute("SELECT payload FROM finshard.notification(%s::bigint, %s::bigint)",
                           (b, by_kind["credited"]["notification_id"])).fetchone()[0]
    assert sent == {"transfer_id": transfer_id, "amount": 20, "currency": "USD", "balance": 30}
    assert got == {"transfer_id": transfer_id, "amount": 20, "currency": "USD"}
    with db.connect() as conn:
        stored = conn.execute("SELECT notification_id, kind FROM finshard.notifications n WHERE payload ->> 'transfer_id' = %s::text",
                              (transfer_id,)).fetchall()
    assert sorted(stored) == sorted((e["notification_id"], e["kind"]) for e in events)
