"""Issue 3: statements reconcile over a month with thousands of entries; analytics match a plain
Python recomputation on the same data."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

from tests.helpers import new_account, new_user


def test_statement_reconciles_over_thousands_of_entries(db):
    with db.connect() as conn:
        a = new_account(conn, "USD", "5000.00")
        b = new_account(conn, "USD", "5000.00")
        # Thousands of entries in one round trip each way: a server-side loop of real calls.
        conn.execute("""
            DO $$
            DECLARE i int;
            BEGIN
              FOR i IN 1..1200 LOOP
                PERFORM finshard.transfer(%s, %s, ((i %% 97) + 1) / 100.0);
                IF i %% 3 = 0 THEN PERFORM finshard.deposit(%s, 1.25); END IF;
              END LOOP;
            END $$""" % (a, b, a))
        rows = conn.execute("SELECT line_type, amount, balance FROM finshard.account_statement(%s::bigint, %s)", (a, date.today())).fetchall()
        opening, entries, closing = rows[0], rows[1:-1], rows[-1]
        assert opening[0] == "opening" and closing[0] == "closing"
        assert len(entries) == 1 + 1200 + 400
        running = opening[2]
        for _kind, amount, balance in entries:
            running += amount
            assert running == balance
        assert closing[2] == running == conn.execute("SELECT balance FROM finshard.accounts WHERE account_id = %s", (a,)).fetchone()[0]
        # Another month: no entries, opening = closing = the balance carried over.
        nxt = date.today().replace(day=1) + timedelta(days=32)
        rows = conn.execute("SELECT line_type, balance FROM finshard.account_statement(%s::bigint, %s)", (a, nxt)).fetchall()
        assert rows == [("opening", running), ("closing", running)]


def test_user_analytics_match_a_python_recomputation(db):
    rng = random.Random(3)
    with db.connect() as conn:
        conn.execute("SELECT finshard.set_fx_rate('USD', 'EUR', 0.8000, p_confirm => true)")
        user = new_user(conn)
        usd = conn.execute("SELECT finshard.open_account(%s::bigint, 'USD')", (user,)).fetchone()[0]
        eur = conn.execute("SELECT finshard.open_account(%s::bigint, 'EUR')", (user,)).fetchone()[0]
        other = new_account(conn, "USD", "10000.00")
        start = datetime.now(timezone.utc) - timedelta(seconds=1)
        for _ in range(60):
            acc = rng.choice([usd, eur])
            amount = Decimal(rng.randrange(100, 50000)) / 100
            conn.execute("SELECT finshard.deposit(%s::bigint, %s::numeric)", (acc, amount))
            if rng.random() < 0.5:
                conn.execute("SELECT finshard.withdraw(%s::bigint, %s::numeric)", (acc, (amount / 2).quantize(Decimal("0.01"))))
            if rng.random() < 0.3:
                conn.execute("SELECT finshard.transfer(%s::bigint, %s::bigint, 3.00)", (other, usd))
        end = datetime.now(timezone.utc) + timedelta(seconds=1)
        report = conn.execute("SELECT finshard.user_analytics(%s::bigint, %s, %s)", (user, start, end)).fetchone()[0]
        ledger = conn.execute("SELECT transaction_type, currency, amount, created_at FROM finshard.transactions "
                              "WHERE account_id = ANY(%s)", ([usd, eur],)).fetchall()
        balances = dict(conn.execute("SELECT currency, balance FROM finshard.accounts WHERE account_id = ANY(%s)", ([usd, eur],)).fetchall())
    expected_total = round(balances["USD"], 2) + round(balances["EUR"] * round(1 / Decimal("0.8"), 10), 2)
    assert Decimal(str(report["total_balance_usd"])) == expected_total
    groups: dict[tuple[str, str], list[Decimal]] = defaultdict(list)
    for kind, currency, amount, _at in ledger:
        groups[(kind, currency)].append(abs(amount))
    got = {(g["transaction_type"], g["currency"]): g for g in report["by_type"]}
    assert set(got) == set(groups)
    for key, amounts in groups.items():
        g = got[key]
        assert g["count"] == len(amounts)
        assert Decimal(str(g["sum"])) == sum(amounts)
        assert Decimal(str(g["max"])) == max(amounts)
        assert Decimal(str(g["avg"])) == round(sum(amounts) / len(amounts), 4)
    days: dict[tuple[str, str], list[Decimal]] = defaultdict(list)
    for _kind, currency, amount, at in ledger:
        days[(at.astimezone(timezone.utc).date().isoformat(), currency)].append(amount)
    for d in report["by_day"]:
        amounts = days[(d["day"], d["currency"])]
        assert d["count"] == len(amounts)
        assert Decimal(str(d["credits"])) == sum(a for a in amounts if a > 0)
        assert Decimal(str(d["debits"])) == -sum(a for a in amounts if a < 0)


def test_admin_reports_aggregate_across_shards(db):
    with db.connect() as conn:
        a = new_account(conn, "USD", "100.00")
        now = datetime.now(timezone.utc)
        volume = conn.execute("SELECT day, currency, transaction_type, entries, volume FROM finshard.daily_volume(%s, %s)",
                              (now - timedelta(hours=1), now + timedelta(hours=1))).fetchall()
        direct = conn.execute("SELECT count(*), sum(abs(amount)) FROM finshard.transactions WHERE currency = 'USD' AND transaction_type = 'deposit' "
                              "AND created_at >= %s AND created_at < %s", (now - timedelta(hours=1), now + timedelta(hours=1))).fetchone()
        usd_deposits = [(v[3], v[4]) for v in volume if v[1] == "USD" and v[2] == "deposit"]
        assert sum(n for n, _ in usd_deposits) == direct[0] and sum(v for _, v in usd_deposits) == direct[1]
        active = conn.execute("SELECT account_id FROM finshard.most_active_accounts(%s, %s, 5000)", (now - timedelta(hours=1), now + timedelta(hours=1))).fetchall()
        assert (a,) in active
        assert conn.execute("SELECT sum(users) FROM finshard.new_users_per_day(%s, %s)", (now - timedelta(hours=1), now + timedelta(hours=1))).fetchone()[0] >= 1
