"""finshard.ledger_verify: a busy, valid ledger verifies clean; tampering with the ledger or a
balance is named by account and check.

The database is shared by the whole session, so each test works on accounts of its own, filters
the result to them (plus the per-currency rows, which have no account), and puts back what it
tampered with before it ends.
"""

from __future__ import annotations

import uuid
from decimal import Decimal as D
from typing import Any, Iterator

import psycopg
import pytest

from tests.helpers import new_account

Problem = tuple[Any, ...]


def problems(conn: psycopg.Connection, accounts: list[int]) -> list[Problem]:
    """ledger_verify's rows for these accounts and the per-currency rows (account NULL)."""
    return conn.execute("SELECT account_id, currency, check_name, detail FROM finshard.ledger_verify() "
                        "WHERE account_id IS NULL OR account_id = ANY(%s) ORDER BY 1, 3, 4", (accounts,)).fetchall()


def checks(rows: list[Problem], account: int) -> set[str]:
    return {r[2] for r in rows if r[0] == account}


def entry(conn: psycopg.Connection, acc: int, seq: int) -> str:
    """A WHERE clause for one ledger row. It names the row's created_at as a constant, so that the
    statement is planned for one month: on Citus an UPDATE or DELETE whose plan reaches a columnar
    (compressed) month is refused, and test_partitions compresses the oldest one."""
    at = conn.execute("SELECT created_at FROM finshard.transactions WHERE account_id = %s AND entry_seq = %s",
                      (acc, seq)).fetchone()[0]
    return f"account_id = {int(acc)} AND entry_seq = {int(seq)} AND created_at = '{at.isoformat()}'::timestamptz"


def instrument(conn: psycopg.Connection) -> int:
    sym = "L" + uuid.uuid4().hex[:8].upper()
    iid = conn.execute("SELECT finshard.create_instrument(%s, %s, p_tick_size => 0.01, p_lot_size => 1)",
                       (sym, f"{sym} Corp")).fetchone()[0]
    conn.execute("SELECT finshard.update_quote(%s::bigint, 9.90, 1000, 10.05, 1000)", (iid,))
    return iid


def market(conn: psycopg.Connection, acc: int, iid: int, side: str, qty: int) -> None:
    conn.execute("SELECT finshard.place_order(%s::bigint, %s::bigint, 'market', %s, %s::numeric)", (acc, iid, side, qty))


@pytest.fixture
def funded(db) -> Iterator[tuple[Any, list[int]]]:
    """Three USD accounts with a few entries each (deposits, a withdrawal, transfers)."""
    with db.connect() as conn:
        accs = [new_account(conn, "USD", "100.00") for _ in range(3)]
        conn.execute("SELECT finshard.withdraw(%s::bigint, 7.25)", (accs[0],))
        conn.execute("SELECT finshard.transfer(%s::bigint, %s::bigint, 12.50)", (accs[0], accs[1]))
        conn.execute("SELECT finshard.deposit(%s::bigint, 3.00)", (accs[0],))
        assert problems(conn, accs) == []
    yield db, accs


def test_busy_valid_ledger_verifies_clean(db):
    with db.connect() as conn:
        conn.execute("SELECT finshard.set_fx_rate('USD', 'EUR', 0.9137)")
        usd = [new_account(conn, "USD", "1000.00") for _ in range(3)]
        eur = [new_account(conn, "EUR", "500.00") for _ in range(2)]
        mine = usd + eur
        conn.execute("SELECT finshard.withdraw(%s::bigint, 40.10)", (usd[0],))
        conn.execute("SELECT finshard.deposit(%s::bigint, 0.01)", (usd[1],))
        # same currency, both directions, and across currencies both ways
        conn.execute("SELECT finshard.transfer(%s::bigint, %s::bigint, 25.00)", (usd[0], usd[1]))
        conn.execute("SELECT finshard.transfer(%s::bigint, %s::bigint, 5.55)", (usd[2], usd[0]))
        conn.execute("SELECT finshard.transfer(%s::bigint, %s::bigint, 100.00)", (usd[0], eur[0]))
        conn.execute("SELECT finshard.transfer(%s::bigint, %s::bigint, 33.33)", (eur[1], usd[2]))
        conn.execute("SELECT finshard.transfer(%s::bigint, %s::bigint, 10.00, 'ledger-' || %s)", (eur[0], eur[1], str(uuid.uuid4())))
        # pending transfers: posted whole, posted in part, posted across currencies, voided, left pending
        pend = "SELECT finshard.create_pending_transfer(%s::bigint, %s::bigint, %s::numeric)"
        t1 = conn.execute(pend, (usd[1], usd[2], D("60"))).fetchone()[0]
        t2 = conn.execute(pend, (usd[1], usd[0], D("40"))).fetchone()[0]
        t3 = conn.execute(pend, (usd[2], eur[1], D("50"))).fetchone()[0]
        t4 = conn.execute(pend, (eur[0], usd[0], D("20"))).fetchone()[0]
        conn.execute(pend, (eur[1], eur[0], D("1")))
        conn.execute("SELECT finshard.post_pending_transfer(%s::bigint, %s::bigint)", (usd[1], t1))
        conn.execute("SELECT finshard.post_pending_transfer(%s::bigint, %s::bigint, 15)", (usd[1], t2))
        conn.execute("SELECT finshard.post_pending_transfer(%s::bigint, %s::bigint, 45)", (usd[2], t3))
        conn.execute("SELECT finshard.void_pending_transfer(%s::bigint, %s::bigint)", (eur[0], t4))
        # trades settle in cash with a commission entry each
        iid = instrument(conn)
        market(conn, usd[2], iid, "buy", 30)
        market(conn, usd[2], iid, "sell", 12)
        kinds = {r[0] for r in conn.execute("SELECT DISTINCT transaction_type FROM finshard.transactions "
                                            "WHERE account_id = ANY(%s)", (mine,))}
        assert kinds == {"deposit", "withdraw", "transfer_in", "transfer_out", "trade_buy", "trade_sell", "fee"}
        assert problems(conn, mine) == []


def test_cross_currency_transfer_writes_four_legs_through_the_house_accounts(db):
    # The legs ledger_verify expects (and the audit verifier may rely on): source -amount,
    # destination +to_amount, source currency's house +amount (fx_in), target's house -to_amount (fx_out).
    with db.connect() as conn:
        conn.execute("SELECT finshard.set_fx_rate('USD', 'EUR', 0.9137)")
        usd, eur = new_account(conn, "USD", "200.00"), new_account(conn, "EUR")
        tid = conn.execute("SELECT transfer_id FROM finshard.transfer(%s::bigint, %s::bigint, 100.00)", (usd, eur)).fetchone()[0]
        house = dict(conn.execute("SELECT code, house_account_id FROM finshard.currencies").fetchall())
        legs = conn.execute("SELECT account_id, transaction_type, amount, currency FROM finshard.transactions "
                            "WHERE transfer_id = %s ORDER BY transaction_type", (tid,)).fetchall()
        assert sorted(legs) == sorted([(usd, "transfer_out", D("-100.00"), "USD"), (eur, "transfer_in", D("91.37"), "EUR"),
                                       (house["USD"], "fx_in", D("100.00"), "USD"), (house["EUR"], "fx_out", D("-91.37"), "EUR")])
        assert problems(conn, [usd, eur]) == []


def test_ledger_verify_names_a_deleted_ledger_row(funded):
    db, accs = funded
    acc = accs[0]
    with db.connect() as conn:
        row = conn.execute(f"SELECT * FROM finshard.transactions WHERE {entry(conn, acc, 2)}").fetchone()
        cols = [c.name for c in conn.execute("SELECT * FROM finshard.transactions LIMIT 0").description]
        conn.execute(f"DELETE FROM finshard.transactions WHERE {entry(conn, acc, 2)}")
        try:
            found = problems(conn, accs)
            assert {"entry_seq", "running_balance", "balance_sum"} <= checks(found, acc)
            assert any(r[2] == "entry_seq" and "entries 2 to 2 are missing" in r[3] for r in found if r[0] == acc)
            assert {r[0] for r in found} - {None} == {acc}
        finally:
            conn.execute(f"INSERT INTO finshard.transactions ({', '.join(cols)}) VALUES ({', '.join(['%s'] * len(cols))})", row)
        assert problems(conn, accs) == []


def test_ledger_verify_names_an_altered_amount(funded):
    db, accs = funded
    acc = accs[1]
    with db.connect() as conn:
        # entry 1 is the opening deposit: money that never came in, so the currency total is off too
        conn.execute(f"UPDATE finshard.transactions SET amount = amount + 1 WHERE {entry(conn, acc, 1)}")
        try:
            found = problems(conn, accs)
            assert checks(found, acc) == {"running_balance", "balance_sum"}
            assert any("entry_seq 1: balance_after 100.0000" in r[3] for r in found if r[2] == "running_balance")
            assert (None, "USD", "currency_total") in {r[:3] for r in found}
        finally:
            conn.execute(f"UPDATE finshard.transactions SET amount = amount - 1 WHERE {entry(conn, acc, 1)}")
        assert problems(conn, accs) == []


def test_ledger_verify_names_an_altered_transfer_leg(funded):
    db, accs = funded
    acc = accs[1]
    with db.connect() as conn:
        # entry 2 of accs[1] is the transfer_in of accs[0]'s 12.50
        conn.execute("UPDATE finshard.transactions SET amount = amount - 2, balance_after = balance_after - 2 "
                     f"WHERE {entry(conn, acc, 2)}")
        conn.execute("UPDATE finshard.accounts SET balance = balance - 2 WHERE account_id = %s", (acc,))
        try:
            found = problems(conn, accs)
            # the account's own books add up; only the transfer (and the currency total) disagree
            assert checks(found, acc) == {"transfer_leg"}
            assert any("transfer_in leg on account %s is 10.5000 USD, 12.5000 USD due" % acc in r[3] for r in found)
            assert (None, "USD", "currency_total") in {r[:3] for r in found}
        finally:
            conn.execute("UPDATE finshard.accounts SET balance = balance + 2 WHERE account_id = %s", (acc,))
            conn.execute("UPDATE finshard.transactions SET amount = amount + 2, balance_after = balance_after + 2 "
                         f"WHERE {entry(conn, acc, 2)}")
        assert problems(conn, accs) == []


def test_ledger_verify_names_an_altered_balance_after(funded):
    db, accs = funded
    acc = accs[0]
    with db.connect() as conn:
        # a middle entry: it and the next one break the running sum; the sums still agree
        conn.execute(f"UPDATE finshard.transactions SET balance_after = balance_after + 50 WHERE {entry(conn, acc, 2)}")
        try:
            found = problems(conn, accs)
            assert checks(found, acc) == {"running_balance"}
            assert sorted(r[3].split(":")[0] for r in found if r[0] == acc) == ["entry_seq 2", "entry_seq 3"]
        finally:
            conn.execute(f"UPDATE finshard.transactions SET balance_after = balance_after - 50 WHERE {entry(conn, acc, 2)}")
        # the last entry: its balance no longer matches the account's
        last = conn.execute("SELECT entry_seq FROM finshard.accounts WHERE account_id = %s", (acc,)).fetchone()[0]
        conn.execute(f"UPDATE finshard.transactions SET balance_after = balance_after + 1 WHERE {entry(conn, acc, last)}")
        try:
            found = problems(conn, accs)
            assert checks(found, acc) == {"running_balance", "last_balance"}
        finally:
            conn.execute(f"UPDATE finshard.transactions SET balance_after = balance_after - 1 WHERE {entry(conn, acc, last)}")
        assert problems(conn, accs) == []


def test_ledger_verify_names_an_altered_account_balance(funded):
    db, accs = funded
    acc = accs[2]
    with db.connect() as conn:
        conn.execute("UPDATE finshard.accounts SET balance = balance + 1000 WHERE account_id = %s", (acc,))
        try:
            found = problems(conn, accs)
            assert checks(found, acc) == {"balance_sum", "last_balance"}
            assert any(r[2] == "balance_sum" and r[3].startswith("balance 1100.0000, but its 1 entries sum to 100.0000")
                       for r in found if r[0] == acc)
            assert (None, "USD", "currency_total") in {r[:3] for r in found}
        finally:
            conn.execute("UPDATE finshard.accounts SET balance = balance - 1000 WHERE account_id = %s", (acc,))
        assert problems(conn, accs) == []


def test_ledger_verify_is_for_admins_and_readers_not_applications(db):
    with db.connect() as conn:
        for role, allowed in (("finshard_admin", True), ("finshard_readonly", True), ("finshard_app", False),
                              ("public", False)):
            assert conn.execute("SELECT has_function_privilege(%s, 'finshard.ledger_verify()', 'EXECUTE')",
                                (role,)).fetchone()[0] is allowed, role
