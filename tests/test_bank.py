"""Issue 3: a bank test in the spirit of Jepsen's, on plain PostgreSQL and on Citus.

8 clients make a bounded number of random transfers (on Citus most cross worker nodes), and
retry after errors with the same idempotency key; some acknowledgements are "lost" on purpose
and the call repeated. Afterwards the books must balance exactly.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from decimal import Decimal

import psycopg
import pytest

from finshard.router import Router
from tests.helpers import new_account

CLIENTS = 8
TRANSFERS_PER_CLIENT = 40


@pytest.mark.slow
def test_bank_invariants_hold_after_concurrent_random_transfers(db):
    with db.connect() as conn:
        conn.execute("SELECT finshard.set_fx_rate('USD', 'EUR', 0.9000, p_confirm => true)")
        usd = [new_account(conn, "USD", "1000.00") for _ in range(16)]
        eur = [new_account(conn, "EUR", "900.00") for _ in range(4)]
        accounts = usd + eur
        house = [r[0] for r in conn.execute("SELECT house_account_id FROM finshard.currencies")]
        ids = accounts + house

        def totals():
            return dict(conn.execute("SELECT currency, sum(balance) FROM finshard.accounts WHERE account_id = ANY(%s) GROUP BY 1", (ids,)).fetchall())

        before = totals()
    with Router.connect(db.dsn) as r:
        node = {a: r.shard_for(a).node for a in accounts}
    acknowledged: dict[str, int] = {}
    seen_errors: Counter[str] = Counter()
    lock = threading.Lock()

    def client(n: int) -> None:
        local = random.Random(n)
        with db.connect() as conn:
            for i in range(TRANSFERS_PER_CLIENT):
                src, dst = local.sample(accounts, 2)
                amount = Decimal(local.randrange(1, 20000)) / 100
                key = f"bank-{n}-{i}"
                attempts = 2 if local.random() < 0.2 else 1  # a lost acknowledgement: the client asks again
                for attempt in range(10):
                    try:
                        row = None
                        for _ in range(attempts):
                            row = conn.execute("SELECT transfer_id FROM finshard.transfer(%s::bigint, %s::bigint, %s::numeric, %s)",
                                               (src, dst, amount, key)).fetchone()
                        with lock:
                            acknowledged[key] = row[0]
                        break
                    except psycopg.Error as exc:
                        with lock:
                            seen_errors[exc.sqlstate or "?"] += 1
                        if exc.sqlstate in ("FS013", "FS018"):
                            break  # a rejection: nothing applied, nothing to retry
                        if exc.sqlstate in ("40001", "40P01") or exc.sqlstate is None or exc.sqlstate.startswith("08"):
                            continue  # retry with the same key
                        raise

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    [t.start() for t in threads]
    [t.join() for t in threads]

    assert seen_errors["40P01"] == 0, "a deadlock reached a client"
    assert set(seen_errors) <= {"FS013"}, seen_errors
    assert len(acknowledged) > CLIENTS * TRANSFERS_PER_CLIENT // 2
    with db.connect() as conn:
        assert totals() == before
        rows = conn.execute("SELECT a.account_id, a.balance, a.account_type, "
                            "(SELECT t.balance_after FROM finshard.transactions t WHERE t.account_id = a.account_id "
                            " ORDER BY t.entry_seq DESC LIMIT 1), a.entry_seq, "
                            "(SELECT count(*) FROM finshard.transactions t WHERE t.account_id = a.account_id) "
                            "FROM finshard.accounts a WHERE a.account_id = ANY(%s)", (accounts,)).fetchall()
        for acc, balance, kind, last_after, seq, entries in rows:
            assert balance >= 0, acc
            assert last_after == balance, acc
            assert seq == entries, acc
        keys = list(acknowledged)
        found = Counter(k for (k,) in conn.execute(
            "SELECT idempotency_key FROM finshard.transfers WHERE idempotency_key = ANY(%s)", (keys,)).fetchall())
        assert all(found[k] == 1 for k in keys), [k for k in keys if found[k] != 1]
        legs = Counter(t for (t,) in conn.execute(
            "SELECT transfer_id FROM finshard.transactions WHERE transfer_id = ANY(%s) AND transaction_type IN ('transfer_out', 'transfer_in')",
            (list(acknowledged.values()),)).fetchall())
        assert all(legs[t] == 2 for t in acknowledged.values())
    if db.citus:
        crossing = sum(1 for a in accounts for b in accounts if a != b and node[a] != node[b])
        assert crossing / (len(accounts) * (len(accounts) - 1)) > 0.3
