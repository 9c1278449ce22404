"""Issue 5: orders fill against the latest quote; positions, P&L, cash, alerts, history."""

from __future__ import annotations

import random
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from decimal import Decimal as D

import psycopg
import pytest

from tests.helpers import new_account


def instrument(conn, tick="0.01", lot="1", quote=("10.00", "100", "10.05", "50")):
    sym = "T" + uuid.uuid4().hex[:8].upper()
    iid = conn.execute("SELECT finshard.create_instrument(%s, %s, p_tick_size => %s::numeric, p_lot_size => %s::numeric, p_sector => 'Test')",
                       (sym, f"{sym} Corp", tick, lot)).fetchone()[0]
    if quote:
        quote_(conn, iid, *quote)
    return iid


def quote_(conn, iid, bid, bid_size, ask, ask_size):
    return conn.execute("SELECT finshard.update_quote(%s::bigint, %s::numeric, %s::numeric, %s::numeric, %s::numeric)",
                        (iid, D(bid), D(bid_size), D(ask), D(ask_size))).fetchone()[0]


def order(conn, acc, iid, otype, side, qty, price=None, stop=None, tif="GTC", key=None):
    return conn.execute("SELECT finshard.place_order(%s::bigint, %s::bigint, %s, %s, %s::numeric, %s::numeric, %s::numeric, %s, %s)",
                        (acc, iid, otype, side, D(qty), None if price is None else D(price), None if stop is None else D(stop), tif, key)).fetchone()[0]


def state(conn, acc, iid, oid=None):
    o = conn.execute("SELECT status, filled_quantity, average_fill_price FROM finshard.orders WHERE account_id = %s AND order_id = %s",
                     (acc, oid)).fetchone() if oid else None
    trades = conn.execute("SELECT side, quantity, price, commission FROM finshard.trades WHERE account_id = %s AND instrument_id = %s "
                          "ORDER BY executed_at, trade_id", (acc, iid)).fetchall()
    pos = conn.execute("SELECT quantity, average_price, realized_pnl FROM finshard.positions WHERE account_id = %s AND instrument_id = %s",
                       (acc, iid)).fetchone()
    cash = conn.execute("SELECT balance, reserved FROM finshard.accounts WHERE account_id = %s", (acc,)).fetchone()
    return o, trades, pos, cash


def test_market_buy_fills_at_the_ask_up_to_its_size_and_cancels_the_rest(db):
    with db.connect() as conn:
        iid, acc = instrument(conn), new_account(conn, "USD", "10000.00")
        oid = order(conn, acc, iid, "market", "buy", 80)
        o, trades, pos, cash = state(conn, acc, iid, oid)
    assert o == ("cancelled", D(50), D("10.05"))
    assert trades == [("buy", D(50), D("10.05"), D("0.50"))]
    assert pos == (D(50), D("10.05"), D(0))
    assert cash == (D("10000") - D("502.50") - D("0.50"), D(0))


def test_limit_buy_that_crosses_fills_at_the_better_ask(db):
    with db.connect() as conn:
        iid, acc = instrument(conn), new_account(conn, "USD", "1000.00")
        oid = order(conn, acc, iid, "limit", "buy", 10, "10.10")
        o, trades, pos, cash = state(conn, acc, iid, oid)
    assert o == ("filled", D(10), D("10.05")) and trades == [("buy", D(10), D("10.05"), D("0.10"))]
    assert cash == (D("1000") - D("100.50") - D("0.10"), D(0))


def test_resting_limit_reserves_cash_and_fills_when_the_quote_crosses(db):
    with db.connect() as conn:
        iid, acc = instrument(conn), new_account(conn, "USD", "1000.00")
        oid = order(conn, acc, iid, "limit", "buy", 20, "9.90")
        o, trades, _pos, cash = state(conn, acc, iid, oid)
        assert o[0] == "new" and trades == []
        assert cash == (D(1000), D("198.00") + D("0.20"))  # cost at the limit plus commission
        assert quote_(conn, iid, "9.80", "100", "9.85", "100") == 1
        o, trades, pos, cash = state(conn, acc, iid, oid)
    assert o == ("filled", D(20), D("9.85")) and trades == [("buy", D(20), D("9.85"), D("0.20"))]
    assert cash == (D(1000) - D("197.00") - D("0.20"), D(0))


def test_ioc_fills_what_it_can_and_fok_all_or_nothing(db):
    with db.connect() as conn:
        iid, acc = instrument(conn), new_account(conn, "USD", "10000.00")
        ioc = order(conn, acc, iid, "limit", "buy", 80, "10.05", tif="IOC")
        assert state(conn, acc, iid, ioc)[0] == ("cancelled", D(50), D("10.05"))
        fok = order(conn, acc, iid, "limit", "buy", 80, "10.05", tif="FOK")
        assert state(conn, acc, iid, fok)[0] == ("cancelled", D(0), None)
        fok_ok = order(conn, acc, iid, "limit", "buy", 50, "10.05", tif="FOK")
        assert state(conn, acc, iid, fok_ok)[0] == ("filled", D(50), D("10.05"))
        assert conn.execute("SELECT reserved FROM finshard.accounts WHERE account_id = %s", (acc,)).fetchone()[0] == 0


def test_stop_sell_triggers_when_the_bid_crosses_and_books_realized_pnl(db):
    with db.connect() as conn:
        iid, acc = instrument(conn), new_account(conn, "USD", "10000.00")
        order(conn, acc, iid, "market", "buy", 10)            # 10 @ 10.05
        quote_(conn, iid, "11.00", "100", "11.05", "100")
        order(conn, acc, iid, "market", "buy", 10)            # 10 @ 11.05 -> average 10.55
        stop = order(conn, acc, iid, "stop", "sell", 5, stop="10.50")
        assert state(conn, acc, iid, stop)[0][0] == "new"
        assert conn.execute("SELECT reserved_quantity FROM finshard.positions WHERE account_id = %s AND instrument_id = %s", (acc, iid)).fetchone()[0] == 5
        quote_(conn, iid, "10.40", "100", "10.45", "100")
        o, trades, pos, _cash = state(conn, acc, iid, stop)
    assert o == ("filled", D(5), D("10.40"))
    assert trades[-1] == ("sell", D(5), D("10.40"), D("0.05"))
    assert pos == (D(15), D("10.55"), D("-0.75"))  # 5 x (10.40 - 10.55)


def test_stop_limit_triggers_then_works_as_a_limit(db):
    with db.connect() as conn:
        iid, acc = instrument(conn), new_account(conn, "USD", "10000.00")
        oid = order(conn, acc, iid, "stop_limit", "buy", 10, "10.60", stop="10.50")
        quote_(conn, iid, "10.60", "100", "10.70", "100")   # triggered, ask above the limit: rests
        assert conn.execute("SELECT triggered, status FROM finshard.orders WHERE account_id = %s AND order_id = %s", (acc, oid)).fetchone() == (True, "new")
        quote_(conn, iid, "10.50", "100", "10.55", "100")
        assert state(conn, acc, iid, oid)[0] == ("filled", D(10), D("10.55"))


def test_resting_orders_fill_in_price_time_priority_up_to_the_quote_size(db):
    with db.connect() as conn:
        iid = instrument(conn)
        first, second, better = (new_account(conn, "USD", "1000.00") for _ in range(3))
        o1 = order(conn, first, iid, "limit", "buy", 30, "9.50")
        o2 = order(conn, second, iid, "limit", "buy", 30, "9.50")
        o3 = order(conn, better, iid, "limit", "buy", 30, "9.60")
        quote_(conn, iid, "9.40", "100", "9.45", "40")         # 40 to share
        s1, s2, s3 = (state(conn, a, iid, o)[0] for a, o in ((first, o1), (second, o2), (better, o3)))
    assert s3 == ("filled", D(30), D("9.45"))                   # best price first
    assert s1 == ("partially_filled", D(10), D("9.45"))        # then the earlier order
    assert s2 == ("new", D(0), None)


def test_a_frozen_accounts_resting_order_rests_and_the_quote_goes_to_the_next(db):
    # One account's state must not stop the feed: the quote is stored and the others fill.
    with db.connect() as conn:
        iid = instrument(conn)
        frozen, other = (new_account(conn, "USD", "1000.00") for _ in range(2))
        o1 = order(conn, frozen, iid, "limit", "buy", 30, "9.60")
        o2 = order(conn, other, iid, "limit", "buy", 30, "9.50")
        conn.execute("SELECT finshard.freeze_account(%s::bigint)", (frozen,))
        quote_(conn, iid, "9.40", "100", "9.45", "40")
        assert state(conn, frozen, iid, o1)[0] == ("new", D(0), None)
        assert state(conn, other, iid, o2)[0] == ("filled", D(30), D("9.45"))
        assert conn.execute("SELECT ask_price FROM finshard.instruments WHERE instrument_id = %s", (iid,)).fetchone()[0] == D("9.45")
        conn.execute("SELECT finshard.unfreeze_account(%s::bigint)", (frozen,))
        quote_(conn, iid, "9.40", "100", "9.45", "40")
        assert state(conn, frozen, iid, o1)[0] == ("filled", D(30), D("9.45"))


def test_an_account_holding_positions_does_not_close(db):
    # Its shares, and a sell order resting on them, would be stranded on a closed account.
    with db.connect() as conn:
        iid, acc = instrument(conn), new_account(conn, "USD", "100.00")
        order(conn, acc, iid, "market", "buy", 2)
        order(conn, acc, iid, "limit", "sell", 1, "30.00")
        bal = conn.execute("SELECT balance FROM finshard.accounts WHERE account_id = %s", (acc,)).fetchone()[0]
        conn.execute("SELECT finshard.withdraw(%s::bigint, %s::numeric)", (acc, bal))
        with pytest.raises(psycopg.Error) as info:
            conn.execute("SELECT finshard.close_account(%s::bigint)", (acc,))
        assert info.value.sqlstate == "FS015" and "holds positions" in info.value.diag.message_primary
        assert conn.execute("SELECT status FROM finshard.accounts WHERE account_id = %s", (acc,)).fetchone()[0] == "active"


def test_sell_more_than_held_and_cancel_releases_reservations(db):
    with db.connect() as conn:
        iid, acc = instrument(conn), new_account(conn, "USD", "1000.00")
        order(conn, acc, iid, "market", "buy", 10)
        sell = order(conn, acc, iid, "limit", "sell", 10, "20.00")
        with pytest.raises(psycopg.Error) as info:
            order(conn, acc, iid, "limit", "sell", 1, "20.00")
        assert info.value.sqlstate == "FS059"
        conn.execute("SELECT finshard.cancel_order(%s::bigint, %s::bigint)", (acc, sell))
        assert conn.execute("SELECT reserved_quantity FROM finshard.positions WHERE account_id = %s AND instrument_id = %s", (acc, iid)).fetchone()[0] == 0
        buy = order(conn, acc, iid, "limit", "buy", 10, "5.00")
        assert conn.execute("SELECT reserved FROM finshard.accounts WHERE account_id = %s", (acc,)).fetchone()[0] == D("50.05")
        conn.execute("SELECT finshard.cancel_order(%s::bigint, %s::bigint)", (acc, buy))
        assert conn.execute("SELECT reserved FROM finshard.accounts WHERE account_id = %s", (acc,)).fetchone()[0] == 0
        with pytest.raises(psycopg.Error) as info:
            conn.execute("SELECT finshard.cancel_order(%s::bigint, %s::bigint)", (acc, buy))
        assert info.value.sqlstate == "FS061"


def test_day_orders_expire_and_release_cash(db):
    with db.connect() as conn:
        iid, acc = instrument(conn), new_account(conn, "USD", "1000.00")
        oid = order(conn, acc, iid, "limit", "buy", 10, "5.00", tif="DAY")
        gtc = order(conn, acc, iid, "limit", "buy", 10, "5.00", tif="GTC")
        assert conn.execute("SELECT finshard.expire_day_orders(now() + interval '1 second')").fetchone()[0] >= 1
        assert state(conn, acc, iid, oid)[0][0] == "expired" and state(conn, acc, iid, gtc)[0][0] == "new"
        assert conn.execute("SELECT reserved FROM finshard.accounts WHERE account_id = %s", (acc,)).fetchone()[0] == D("50.05")


def test_a_day_order_cancelled_while_expiry_waits_for_its_account_is_left_cancelled(plain):
    """expire_day_orders read the order open, then waited for the account a cancel held: once the
    cancel commits, the order is closed and what it reserved released, so expiry skips it rather
    than release a sell's reserved quantity a second time."""
    with plain.connect() as conn:
        iid, acc = instrument(conn), new_account(conn, "USD", "1000.00")
        order(conn, acc, iid, "market", "buy", 10)
        sell = order(conn, acc, iid, "limit", "sell", 10, "20.00", tif="DAY")
        canceller = psycopg.connect(plain.dsn)  # a transaction block: it holds the account until commit
        canceller.execute("SELECT finshard.cancel_order(%s::bigint, %s::bigint)", (acc, sell))
        outcome: dict = {}

        def expire() -> None:
            with plain.connect() as other:
                try:
                    outcome["expired"] = other.execute("SELECT finshard.expire_day_orders(now() + interval '1 second')").fetchone()[0]
                except psycopg.Error as exc:
                    outcome["error"] = f"{exc.sqlstate}: {exc.diag.message_primary}"

        expiry = threading.Thread(target=expire)
        expiry.start()
        waiting = ("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                   "AND query LIKE 'SELECT finshard.expire_day_orders(%'")
        deadline = datetime.now() + timedelta(seconds=30)
        while not conn.execute(waiting).fetchone()[0]:
            assert datetime.now() < deadline and expiry.is_alive(), outcome
            time.sleep(0.05)
        canceller.commit()
        canceller.close()
        expiry.join(60)
        assert "error" not in outcome, outcome["error"]
        assert state(conn, acc, iid, sell)[0][0] == "cancelled"
        assert conn.execute("SELECT reserved_quantity FROM finshard.positions WHERE account_id = %s AND instrument_id = %s",
                            (acc, iid)).fetchone()[0] == 0


def test_idempotent_order_is_placed_once(db):
    with db.connect() as conn:
        iid, acc = instrument(conn), new_account(conn, "USD", "1000.00")
        a = order(conn, acc, iid, "market", "buy", 5, key="ord-1")
        b = order(conn, acc, iid, "market", "buy", 5, key="ord-1")
        assert a == b
        assert conn.execute("SELECT count(*) FROM finshard.trades WHERE account_id = %s", (acc,)).fetchone()[0] == 1
        # A retry after the instrument was deactivated still answers what the first call did.
        c = order(conn, acc, iid, "limit", "buy", 1, "9.00", key="ord-2")
        conn.execute("SELECT finshard.deactivate_instrument(%s::bigint)", (iid,))
        assert order(conn, acc, iid, "limit", "buy", 1, "9.00", key="ord-2") == c
        with pytest.raises(psycopg.Error) as info:
            order(conn, acc, iid, "limit", "buy", 1, "9.00", key="ord-3")
        assert info.value.sqlstate == "FS051"
        conn.execute("SELECT finshard.deactivate_instrument(%s::bigint)", (iid,))  # again: it sweeps, no error
        # Deactivation ended the resting order and released its cash.
        assert state(conn, acc, iid, c)[0][0] == "cancelled"
        assert conn.execute("SELECT reserved FROM finshard.accounts WHERE account_id = %s", (acc,)).fetchone()[0] == 0


def test_fill_cash_rounds_against_the_customer_so_slivers_make_no_money(db):
    # 0.0001 at 40.00 is 0.004: rounded half up each buy cost 0.00 and the sale of 0.0025 paid 0.10.
    with db.connect() as conn:
        iid = instrument(conn, lot="0.0001", quote=("40.00", "10", "40.00", "10"))
        acc = new_account(conn, "USD", "1.00")
        for _ in range(25):
            order(conn, acc, iid, "market", "buy", "0.0001")
        order(conn, acc, iid, "market", "sell", "0.0025")
        buys = conn.execute("SELECT DISTINCT amount FROM finshard.transactions WHERE account_id = %s AND transaction_type = 'trade_buy'",
                            (acc,)).fetchall()
        sale = conn.execute("SELECT amount FROM finshard.transactions WHERE account_id = %s AND transaction_type = 'trade_sell'",
                            (acc,)).fetchone()[0]
        balance = conn.execute("SELECT balance FROM finshard.accounts WHERE account_id = %s", (acc,)).fetchone()[0]
        problems = conn.execute("SELECT * FROM finshard.ledger_verify() WHERE account_id = %s", (acc,)).fetchall()
    assert buys == [(D("-0.01"),)] and sale == D("0.10")
    assert balance == D("1.00") - 25 * D("0.01") + D("0.10") < D("1.00")
    assert problems == []


def test_position_pnl_portfolio_and_trade_notification(db):
    with db.connect() as conn:
        iid, acc = instrument(conn), new_account(conn, "USD", "1000.00")
        order(conn, acc, iid, "market", "buy", 10)                       # @ 10.05
        assert conn.execute("SELECT finshard.calculate_position_pnl(%s::bigint, %s::bigint, 11.00)", (acc, iid)).fetchone()[0] == D("9.50")
        assert conn.execute("SELECT finshard.calculate_position_pnl(%s::bigint, %s::bigint)", (acc, iid)).fetchone()[0] == D("-0.25")  # mid 10.025
        row = conn.execute("SELECT quantity, average_price, unrealized_pnl, market_price, market_value FROM finshard.portfolio_view "
                           "WHERE account_id = %s", (acc,)).fetchone()
        assert row == (D(10), D("10.05"), D("-0.25"), D("10.025"), D("100.25"))
        assert conn.execute("SELECT count(*) FROM finshard.notifications WHERE account_id = %s AND kind = 'trade'", (acc,)).fetchone()[0] == 1


def test_price_alert_fires_once(db):
    with db.connect() as conn:
        iid, acc = instrument(conn), new_account(conn, "USD")
        conn.execute("SELECT finshard.create_price_alert(%s::bigint, %s::bigint, 'above', 12.00)", (acc, iid))
        quote_(conn, iid, "11.00", "1", "11.50", "1")
        assert conn.execute("SELECT count(*) FROM finshard.notifications WHERE account_id = %s AND kind = 'price_alert'", (acc,)).fetchone()[0] == 0
        quote_(conn, iid, "12.00", "1", "12.10", "1")
        quote_(conn, iid, "12.50", "1", "12.60", "1")
        assert conn.execute("SELECT count(*) FROM finshard.notifications WHERE account_id = %s AND kind = 'price_alert'", (acc,)).fetchone()[0] == 1


def test_an_account_keeps_at_most_100_armed_alerts_and_cancels_them(db):
    with db.connect() as conn:
        iid, acc = instrument(conn), new_account(conn, "USD")
        ids = [conn.execute("SELECT finshard.create_price_alert(%s::bigint, %s::bigint, 'above', %s::numeric)",
                            (acc, iid, D(20) + i)).fetchone()[0] for i in range(100)]
        with pytest.raises(psycopg.Error) as info:
            conn.execute("SELECT finshard.create_price_alert(%s::bigint, %s::bigint, 'above', 500)", (acc, iid))
        assert info.value.sqlstate == "FS065" and "100 armed price alerts" in info.value.diag.message_primary
        other = new_account(conn, "USD")
        for args, code in (((acc, None), "FS001"), ((other, ids[0]), "FS066")):  # no id; another account's alert
            with pytest.raises(psycopg.Error) as info:
                conn.execute("SELECT finshard.cancel_price_alert(%s::bigint, %s::bigint)", args)
            assert info.value.sqlstate == code
        assert conn.execute("SELECT count(*) FROM finshard.price_alerts WHERE account_id = %s", (acc,)).fetchone()[0] == 100
        conn.execute("SELECT finshard.cancel_price_alert(%s::bigint, %s::bigint)", (acc, ids[0]))
        with pytest.raises(psycopg.Error) as info:
            conn.execute("SELECT finshard.cancel_price_alert(%s::bigint, %s::bigint)", (acc, ids[0]))
        assert info.value.sqlstate == "FS066"
        conn.execute("SELECT finshard.create_price_alert(%s::bigint, %s::bigint, 'above', 500)", (acc, iid))
        assert conn.execute("SELECT count(*) FROM finshard.price_alerts WHERE account_id = %s", (acc,)).fetchone()[0] == 100


def test_batch_quotes_are_all_or_nothing(db):
    with db.connect() as conn:
        a, b = instrument(conn), instrument(conn)
        good = {"instrument_id": a, "bid_price": 1, "bid_size": 1, "ask_price": 2, "ask_size": 1}
        bad = {"instrument_id": b, "bid_price": 3, "bid_size": 1, "ask_price": 2, "ask_size": 1}
        with pytest.raises(psycopg.Error) as info:
            conn.execute("SELECT finshard.update_quotes(%s::jsonb)", (psycopg.types.json.Jsonb([good, bad]),))
        assert info.value.sqlstate == "FS053"
        assert conn.execute("SELECT bid_price FROM finshard.instruments WHERE instrument_id = %s", (a,)).fetchone()[0] == D("10.00")
        conn.execute("SELECT finshard.update_quotes(%s::jsonb)", (psycopg.types.json.Jsonb([good, {**bad, "bid_price": 1}]),))
        assert conn.execute("SELECT count(*) FROM finshard.quotes WHERE instrument_id IN (%s, %s)", (a, b)).fetchone()[0] == 4


def test_candles_roll_up_one_minute_bars(db):
    with db.connect() as conn:
        iid = instrument(conn, quote=None)
        t0 = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
        bars = [(10, 12, 9, 11, 100), (11, 13, 10, 12, 50), (12, 12, 8, 9, 70), (9, 10, 9, 10, 30)]
        for i, (o, h, l, c, v) in enumerate(bars):
            conn.execute("SELECT finshard.record_bar(%s::bigint, %s, %s, %s, %s, %s, %s)", (iid, t0 + timedelta(minutes=i), o, h, l, c, v))
        rows = conn.execute("SELECT bucket, open, high, low, close, volume FROM finshard.candles(%s::bigint, '2 minutes', %s, %s)",
                            (iid, t0, t0 + timedelta(minutes=10))).fetchall()
    assert [r[1:] for r in rows] == [(D(10), D(13), D(9), D(12), D(150)), (D(12), D(12), D(8), D(10), D(100))]


def test_search_instruments_by_prefix_with_keyset_pagination(db):
    with db.connect() as conn:
        prefix = "Q" + uuid.uuid4().hex[:5].upper()
        for i in range(5):
            conn.execute("SELECT finshard.create_instrument(%s, 'Search Co')", (f"{prefix}{i}",))
        page1 = [r[0] for r in conn.execute("SELECT symbol FROM finshard.search_instruments(%s, NULL, 3)", (prefix.lower(),))]
        page2 = [r[0] for r in conn.execute("SELECT symbol FROM finshard.search_instruments(%s, %s, 3)", (prefix, page1[-1]))]
    assert page1 == [f"{prefix}{i}" for i in range(3)] and page2 == [f"{prefix}3", f"{prefix}4"]


def test_history_and_trading_volume_report(db):
    with db.connect() as conn:
        iid, acc = instrument(conn), new_account(conn, "USD", "1000.00")
        for _ in range(3):
            order(conn, acc, iid, "market", "buy", 2)
        page = conn.execute("SELECT order_id, created_at FROM finshard.account_orders(%s::bigint, p_limit => 2)", (acc,)).fetchall()
        rest = conn.execute("SELECT order_id FROM finshard.account_orders(%s::bigint, p_before_created_at => %s, p_before_order_id => %s)",
                            (acc, page[-1][1], page[-1][0])).fetchall()
        assert len(page) == 2 and len(rest) == 1
        assert len(conn.execute("SELECT * FROM finshard.account_trades(%s::bigint)", (acc,)).fetchall()) == 3
        now = datetime.now(timezone.utc)
        vol = conn.execute("SELECT trades, quantity FROM finshard.trading_volume(%s, %s) WHERE instrument_id = %s",
                           (now - timedelta(hours=1), now + timedelta(hours=1), iid)).fetchone()
    assert vol == (3, D(6))


@pytest.mark.slow
def test_invariants_after_concurrent_random_orders_and_quotes(db):
    with db.connect() as conn:
        instruments = [instrument(conn, quote=("100.00", "50", "100.10", "50")) for _ in range(3)]
        accounts = [new_account(conn, "USD", "20000.00") for _ in range(16)]
    allowed = {"FS058", "FS059", "FS061", "FS060"}
    unexpected: list[str] = []

    def client(n: int) -> None:
        rng = random.Random(n)
        with db.connect() as conn:
            for _ in range(120):
                acc, iid = rng.choice(accounts), rng.choice(instruments)
                try:
                    r = rng.random()
                    if r < 0.08:
                        mid = D(rng.randrange(9500, 10500)) / 100
                        quote_(conn, iid, mid, rng.randrange(1, 60), mid + D("0.10"), rng.randrange(1, 60))
                    elif r < 0.15:
                        row = conn.execute("SELECT order_id FROM finshard.orders WHERE account_id = %s AND status IN ('new', 'partially_filled') LIMIT 1", (acc,)).fetchone()
                        if row:
                            conn.execute("SELECT finshard.cancel_order(%s::bigint, %s::bigint)", (acc, row[0]))
                    else:
                        side = rng.choice(["buy", "sell"])
                        kind = rng.choice(["market", "limit", "limit", "stop", "stop_limit"])
                        px = D(rng.randrange(9500, 10500)) / 100
                        order(conn, acc, iid, kind, side, rng.randrange(1, 20),
                              px if kind in ("limit", "stop_limit") else None,
                              px if kind in ("stop", "stop_limit") else None, rng.choice(["GTC", "IOC", "FOK", "DAY"]))
                except psycopg.Error as exc:
                    if exc.sqlstate not in allowed:
                        unexpected.append(f"{exc.sqlstate}: {exc.diag.message_primary}")

    threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert not unexpected, unexpected[:5]
    with db.connect() as conn:
        for acc in accounts:
            trades = conn.execute("SELECT instrument_id, side, quantity, price, commission, order_id FROM finshard.trades WHERE account_id = %s", (acc,)).fetchall()
            cash = D("20000.00")
            net: dict[int, D] = {}
            for iid, side, qty, price, fee, _oid in trades:
                sign = 1 if side == "buy" else -1
                net[iid] = net.get(iid, D(0)) + sign * qty
                cash += -sign * round(qty * price, 2) - fee
            balance, reserved = conn.execute("SELECT balance, reserved FROM finshard.accounts WHERE account_id = %s", (acc,)).fetchone()
            assert balance == cash, acc
            open_buys = conn.execute("SELECT coalesce(sum(reserved_cash), 0) FROM finshard.orders WHERE account_id = %s "
                                     "AND status IN ('new', 'partially_filled') AND side = 'buy'", (acc,)).fetchone()[0]
            assert reserved >= 0 and reserved == open_buys, acc
            for iid, qty, rq in conn.execute("SELECT instrument_id, quantity, reserved_quantity FROM finshard.positions WHERE account_id = %s", (acc,)).fetchall():
                assert qty == net.get(iid, D(0)) and qty >= 0
                open_sells = conn.execute("SELECT coalesce(sum(quantity - filled_quantity), 0) FROM finshard.orders WHERE account_id = %s "
                                          "AND instrument_id = %s AND side = 'sell' AND status IN ('new', 'partially_filled')", (acc, iid)).fetchone()[0]
                assert rq == open_sells
            for qty, filled, traded in conn.execute(
                    "SELECT o.quantity, o.filled_quantity, coalesce((SELECT sum(t.quantity) FROM finshard.trades t WHERE t.account_id = o.account_id "
                    "AND t.order_id = o.order_id), 0) FROM finshard.orders o WHERE o.account_id = %s", (acc,)).fetchall():
                assert filled <= qty and filled == traded
            last = conn.execute("SELECT balance_after FROM finshard.transactions WHERE account_id = %s ORDER BY entry_seq DESC LIMIT 1", (acc,)).fetchone()[0]
            assert last == balance
            # Ledger time strictly increases along entry_seq, even for a trade and its fee in one transaction.
            times = [t for (t,) in conn.execute("SELECT created_at FROM finshard.transactions WHERE account_id = %s ORDER BY entry_seq", (acc,))]
            assert all(a < b for a, b in zip(times, times[1:])), acc
        assert conn.execute("SELECT count(*) FROM finshard.trades WHERE account_id = ANY(%s)", (accounts,)).fetchone()[0] > 50


@pytest.mark.citus
def test_trading_calls_work_inside_a_transaction_block(citus):
    """Inside a DBA's BEGIN ... COMMIT the account-scoped calls run on the coordinator, statement
    by statement: every one of them must still work there."""
    with citus.connect() as conn:
        iid, acc = instrument(conn), new_account(conn, "USD", "1000.00")
    with psycopg.connect(citus.dsn) as conn:
        order(conn, acc, iid, "market", "buy", 2)
        resting = order(conn, acc, iid, "limit", "buy", 1, "5.00")
        conn.execute("SELECT finshard.cancel_order(%s::bigint, %s::bigint)", (acc, resting))
        conn.execute("SELECT finshard.calculate_position_pnl(%s::bigint, %s::bigint)", (acc, iid))
        conn.execute("SELECT finshard.create_price_alert(%s::bigint, %s::bigint, 'above', 50)", (acc, iid))
        conn.execute("SELECT finshard.freeze_account(%s::bigint)", (acc,))
        conn.execute("SELECT finshard.unfreeze_account(%s::bigint)", (acc,))
        conn.execute("SELECT finshard.withdraw(%s::bigint, 1)", (acc,))
        conn.execute("SELECT * FROM finshard.account_orders(%s::bigint)", (acc,)).fetchall()
        conn.commit()
    with citus.connect() as conn:
        assert conn.execute("SELECT quantity FROM finshard.positions WHERE account_id = %s", (acc,)).fetchone()[0] == 2


def test_orders_beyond_what_the_columns_hold_get_fs004_and_a_fill_beyond_them_is_rejected(db):
    with db.connect() as conn:
        iid = instrument(conn, quote=("0.01", "999999999999", "0.01", "999999999999"))
        acc = new_account(conn, "USD", "100000000000000000")
        order(conn, acc, iid, "market", "buy", 999999999999)
        for qty, price in ((999999999999, None), (2, "0.01")):
            with pytest.raises(psycopg.Error) as info:
                order(conn, acc, iid, "limit" if price else "market", "buy", qty, price)
            conn.rollback()
            assert info.value.sqlstate == "FS004" and "a position holds less" in info.value.diag.message_primary
        with pytest.raises(psycopg.Error) as info:
            order(conn, acc, iid, "limit", "sell", 999999999999, "999999999")
        assert info.value.sqlstate == "FS004" and "beyond the largest amount" in info.value.diag.message_primary
        conn.rollback()
        # A sell resting at 0.02 that a quote of 500,000,000,000 crosses: 1e11 x 5e11 is beyond a
        # balance; the order is rejected and the quote stands, with the other orders' fills.
        oid = order(conn, acc, iid, "limit", "sell", 100000000000, "0.02")
        other = new_account(conn, "USD", "1000.00")
        quote_(conn, iid, "500000000000", "1e11", "500000000000.01", "1e11")
        assert state(conn, acc, iid, oid)[0][0] == "rejected"
        assert conn.execute("SELECT bid_price FROM finshard.instruments WHERE instrument_id = %s", (iid,)).fetchone()[0] == D("500000000000")
        assert conn.execute("SELECT * FROM finshard.ledger_verify() WHERE account_id = ANY(%s)", ([acc, other],)).fetchall() == []


def test_a_pnl_beyond_what_a_balance_holds_raises_fs004_and_changes_nothing(db):
    with db.connect() as conn:
        iid, acc = instrument(conn), new_account(conn, "USD", "1000.00")
        order(conn, acc, iid, "market", "buy", 10)                       # @ 10.05
        before = conn.execute("SELECT unrealized_pnl FROM finshard.positions WHERE account_id = %s", (acc,)).fetchone()
        # 10 x (999,999,999,999 - 10.05) fits; a position of 10^7 at that price would not.
        conn.execute("UPDATE finshard.positions SET quantity = 10000000 WHERE account_id = %s AND instrument_id = %s", (acc, iid))
        with pytest.raises(psycopg.Error) as err:
            conn.execute("SELECT finshard.calculate_position_pnl(%s::bigint, %s::bigint, 999999999999)", (acc, iid))
        assert err.value.sqlstate == "FS004"
        conn.execute("UPDATE finshard.positions SET quantity = 10 WHERE account_id = %s AND instrument_id = %s", (acc, iid))
        assert conn.execute("SELECT unrealized_pnl FROM finshard.positions WHERE account_id = %s", (acc,)).fetchone() == before
