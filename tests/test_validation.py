"""Issue 15, item 7: bad input to any public function raises its own FS SQLSTATE, names the offending
value and changes nothing; never a raw PostgreSQL code, never silence, never an empty answer for an
unknown id."""

from __future__ import annotations

import random
import string
import uuid
from decimal import Decimal

import psycopg
import pytest
from psycopg.types.json import Jsonb

from tests.helpers import assert_rejected, new_account, snapshot


def state(conn: psycopg.Connection) -> dict:
    """snapshot() plus the reference data and market data these functions could touch."""
    out = snapshot(conn)
    out["reference"] = conn.execute(
        "SELECT (SELECT count(*) FROM finshard.currencies), (SELECT count(*) FROM finshard.fx_rates), "
        "(SELECT count(*) FROM finshard.banks), (SELECT count(*) FROM finshard.market_data), "
        "(SELECT count(*) FROM finshard.quotes), "
        "(SELECT array_agg(ROW(instrument_id, bid_price, bid_size, ask_price, ask_size)::text ORDER BY instrument_id) "
        "   FROM finshard.instruments), "
        "(SELECT count(*) FROM pg_class WHERE relnamespace = 'finshard'::regnamespace)").fetchone()
    return out


def new_currency(conn: psycopg.Connection) -> str:
    taken = {r[0] for r in conn.execute("SELECT code FROM finshard.currencies").fetchall()}
    while True:
        code = "Q" + "".join(random.choices(string.ascii_uppercase, k=2))
        if code not in taken:
            conn.execute("SELECT finshard.add_currency(%s, 'Test ' || %s, 2::smallint)", (code, code))
            return code


@pytest.fixture(scope="module", params=["plain", pytest.param("citus", marks=pytest.mark.citus)])
def vworld(request):
    """Accounts and instruments the cases need, made once per database."""
    db = request.getfixturevalue(request.param)
    with db.connect() as conn:
        usd = new_account(conn, "USD", "100.00")
        other = new_account(conn, "USD")
        closed = new_account(conn, "USD")
        conn.execute("SELECT finshard.close_account(%s::bigint)", (closed,))
        frozen = new_account(conn, "USD")
        conn.execute("SELECT finshard.freeze_account(%s::bigint)", (frozen,))
        house = conn.execute("SELECT house_account_id FROM finshard.currencies WHERE code = 'USD'").fetchone()[0]
        sym = "V" + uuid.uuid4().hex[:8].upper()
        inst = conn.execute("SELECT finshard.create_instrument(%s, 'Validation Inc', p_tick_size => 0.05)", (sym,)).fetchone()[0]
        conn.execute("SELECT finshard.update_quote(%s::bigint, 10.00, 100, 10.05, 100)", (inst,))
        # Near the largest balance numeric(22,4) holds (< 1e18).
        rich = new_account(conn, "USD", "999999999999999999.00")
    return db, dict(usd=usd, other=other, closed=closed, frozen=frozen, house=house, inst=inst, rich=rich)


BIG = "999999999999999999.99"
CASES = [
    # raw SQLSTATEs that reached callers
    ("deposit overflowing the balance", "SELECT finshard.deposit(%s::bigint, 1)", lambda w: (w["rich"],), "FS004"),
    ("bar price 1e12", "SELECT finshard.record_bar(%s::bigint, now(), 1e12, 1e12, 1e12, 1e12, 1)", lambda w: (w["inst"],), "FS053"),
    ("bar price Infinity", "SELECT finshard.record_bar(%s::bigint, now(), 1, 'Infinity', 1, 1, 1)", lambda w: (w["inst"],), "FS053"),
    ("bar volume 1e12", "SELECT finshard.record_bar(%s::bigint, now(), 1, 1, 1, 1, 1e12)", lambda w: (w["inst"],), "FS053"),
    ("bar volume Infinity", "SELECT finshard.record_bar(%s::bigint, now(), 1, 1, 1, 1, 'Infinity')", lambda w: (w["inst"],), "FS053"),
    ("bar price rounding to 0", "SELECT finshard.record_bar(%s::bigint, now(), 1e-9, 1e-9, 1e-9, 1e-9, 1)", lambda w: (w["inst"],), "FS053"),
    ("bar bucket without a partition", "SELECT finshard.record_bar(%s::bigint, now() + interval '20 years', 1, 1, 1, 1, 1)",
     lambda w: (w["inst"],), "FS071"),
    ("bar bucket infinity", "SELECT finshard.record_bar(%s::bigint, 'infinity', 1, 1, 1, 1, 1)", lambda w: (w["inst"],), "FS071"),
    ("fx rate rounding to 0", "SELECT finshard.set_fx_rate('USD', 'EUR', 0.00000000001)", lambda w: (), "FS002"),
    ("fx rate valid from infinity", "SELECT finshard.set_fx_rate('USD', 'EUR', 1.1, 'infinity')", lambda w: (), "FS070"),
    ("fx rate valid from -infinity", "SELECT finshard.set_fx_rate('USD', 'EUR', 1.1, '-infinity')", lambda w: (), "FS070"),
    ("quotes not objects", "SELECT finshard.update_quotes('[1, 2]')", lambda w: (), "FS005"),
    ("quotes price not a number", "SELECT finshard.update_quotes(jsonb_build_array(jsonb_build_object("
     "'instrument_id', %s::bigint, 'bid_price', 'abc', 'bid_size', 1, 'ask_price', 2, 'ask_size', 1)))", lambda w: (w["inst"],), "FS005"),
    ("quotes price an object", "SELECT finshard.update_quotes(jsonb_build_array(jsonb_build_object("
     "'instrument_id', %s::bigint, 'bid_price', '{}'::jsonb, 'bid_size', 1, 'ask_price', 2, 'ask_size', 1)))", lambda w: (w["inst"],), "FS005"),
    ("quotes fractional instrument id", "SELECT finshard.update_quotes('[{\"instrument_id\": 1.5, \"bid_price\": 1, "
     "\"bid_size\": 1, \"ask_price\": 2, \"ask_size\": 1}]')", lambda w: (), "FS005"),
    ("quotes instrument id beyond bigint", "SELECT finshard.update_quotes('[{\"instrument_id\": 1e30, \"bid_price\": 1, "
     "\"bid_size\": 1, \"ask_price\": 2, \"ask_size\": 1}]')", lambda w: (), "FS005"),
    ("quotes instrument id true", "SELECT finshard.update_quotes('[{\"instrument_id\": true, \"bid_price\": 1, "
     "\"bid_size\": 1, \"ask_price\": 2, \"ask_size\": 1}]')", lambda w: (), "FS005"),
    ("quotes missing instrument id", "SELECT finshard.update_quotes('[{\"bid_price\": 1, \"bid_size\": 1, \"ask_price\": 2, "
     "\"ask_size\": 1}]')", lambda w: (), "FS001"),
    ("candles by month", "SELECT * FROM finshard.candles(%s::bigint, '1 month', now() - interval '1 day', now())",
     lambda w: (w["inst"],), "FS005"),
    ("statement in year 5874897", "SELECT * FROM finshard.account_statement(%s::bigint, '5874897-12-01')", lambda w: (w["usd"],), "FS070"),
    ("statement in month infinity", "SELECT * FROM finshard.account_statement(%s::bigint, 'infinity')", lambda w: (w["usd"],), "FS070"),
    ("expire pending limit -1", "SELECT finshard.expire_pending_transfers(-1)", lambda w: (), "FS005"),
    ("expire pending limit 0", "SELECT finshard.expire_pending_transfers(0)", lambda w: (), "FS005"),
    ("expire pending limit NULL", "SELECT finshard.expire_pending_transfers(NULL)", lambda w: (), "FS005"),
    # bad data accepted silently
    ("bid rounding to 0 at the tick", "SELECT finshard.update_quote(%s::bigint, 0.01, 100, 10.05, 100)", lambda w: (w["inst"],), "FS053"),
    ("size rounding to 0", "SELECT finshard.update_quote(%s::bigint, 10, 0.000000001, 10.05, 100)", lambda w: (w["inst"],), "FS053"),
    ("pending transfer to closed", "SELECT finshard.create_pending_transfer(%s::bigint, %s::bigint, 1)", lambda w: (w["usd"], w["closed"]), "FS011"),
    ("pending transfer to frozen", "SELECT finshard.create_pending_transfer(%s::bigint, %s::bigint, 1)", lambda w: (w["usd"], w["frozen"]), "FS012"),
    ("add existing currency", "SELECT finshard.add_currency('USD', 'Dollar again', 2::smallint)", lambda w: (), "FS005"),
    ("bank email with a newline", "SELECT finshard.create_bank('Bank', %s, 'a@b.com' || chr(10) || 'Bcc: x@y.z')",
     lambda w: (uuid.uuid4().hex[:10],), "FS005"),
    ("bank email with a control character", "SELECT finshard.create_bank('Bank', %s, 'a' || chr(1) || '@b.com')",
     lambda w: (uuid.uuid4().hex[:10],), "FS005"),
    ("bank email invalid", "SELECT finshard.create_bank('Bank', %s, 'not-an-email')", lambda w: (uuid.uuid4().hex[:10],), "FS005"),
    ("bank empty name", "SELECT finshard.create_bank('  ', %s)", lambda w: (uuid.uuid4().hex[:10],), "FS005"),
    ("bank empty code", "SELECT finshard.create_bank('Bank', '')", lambda w: (), "FS005"),
    ("expire day orders at infinity", "SELECT finshard.expire_day_orders('infinity')", lambda w: (), "FS070"),
    ("compress with a negative age", "SELECT * FROM finshard.compress_partitions('-1 year')", lambda w: (), "FS005"),
    ("compress with age zero", "SELECT * FROM finshard.compress_partitions('0')", lambda w: (), "FS005"),
    # wrong codes
    ("pending transfer to house", "SELECT finshard.create_pending_transfer(%s::bigint, %s::bigint, 1)", lambda w: (w["usd"], w["house"]), "FS019"),
    ("fx rate NULL", "SELECT finshard.fx_rate(NULL, 'USD')", lambda w: (), "FS001"),
    ("fx rate NULL time", "SELECT finshard.fx_rate('EUR', 'USD', NULL)", lambda w: (), "FS001"),
    ("fx rate unknown currency", "SELECT finshard.fx_rate('XXX', 'USD')", lambda w: (), "FS017"),
    ("fx rate unknown quote currency", "SELECT finshard.fx_rate('USD', 'XXX')", lambda w: (), "FS017"),
    ("fx rate lowercase", "SELECT finshard.fx_rate('usd', 'eur')", lambda w: (), "FS017"),
    ("fx rate lowercase same", "SELECT finshard.fx_rate('usd', 'usd')", lambda w: (), "FS017"),
    ("pnl unknown instrument", "SELECT finshard.calculate_position_pnl(%s::bigint, -1, 10)", lambda w: (w["usd"],), "FS050"),
    # unknown ids
    ("candles unknown instrument", "SELECT * FROM finshard.candles(-1, '1 hour', now() - interval '1 day', now())", lambda w: (), "FS050"),
    ("orders unknown account", "SELECT * FROM finshard.account_orders(-1)", lambda w: (), "FS010"),
    ("orders unknown instrument", "SELECT * FROM finshard.account_orders(%s::bigint, NULL, -1)", lambda w: (w["usd"],), "FS050"),
    ("trades unknown account", "SELECT * FROM finshard.account_trades(-1)", lambda w: (), "FS010"),
    ("trades unknown instrument", "SELECT * FROM finshard.account_trades(%s::bigint, -1)", lambda w: (w["usd"],), "FS050"),
    ("match unknown instrument", "SELECT finshard.match_resting_orders(-1)", lambda w: (), "FS050"),
    ("match NULL instrument", "SELECT finshard.match_resting_orders(NULL)", lambda w: (), "FS001"),
    # arguments
    ("commission NULL notional", "SELECT finshard.commission(NULL, 'USD')", lambda w: (), "FS001"),
    ("commission NULL currency", "SELECT finshard.commission(100, NULL)", lambda w: (), "FS001"),
    ("commission negative", "SELECT finshard.commission(-1, 'USD')", lambda w: (), "FS002"),
    ("commission NaN", "SELECT finshard.commission('NaN', 'USD')", lambda w: (), "FS002"),
    ("commission Infinity", "SELECT finshard.commission('Infinity', 'USD')", lambda w: (), "FS002"),
    ("commission unknown currency", "SELECT finshard.commission(100, 'XXX')", lambda w: (), "FS017"),
    ("orders unknown status", "SELECT * FROM finshard.account_orders(%s::bigint, 'open')", lambda w: (w["usd"],), "FS005"),
    ("create partitions 2^31 months", "SELECT * FROM finshard.create_partitions(2147483647, 0)", lambda w: (), "FS070"),
    ("create partitions 121 months ahead", "SELECT * FROM finshard.create_partitions(0, 121)", lambda w: (), "FS070"),
    ("create partitions NULL", "SELECT * FROM finshard.create_partitions(NULL, 0)", lambda w: (), "FS001"),
    ("create partitions of another table", "SELECT * FROM finshard.create_partitions(0, 0, 'finshard.accounts')", lambda w: (), "FS005"),
    ("retire partitions NULL", "SELECT * FROM finshard.retire_partitions(NULL)", lambda w: (), "FS001"),
    ("partition name NULL table", "SELECT finshard.partition_name(NULL, now())", lambda w: (), "FS001"),
    ("partition name NULL time", "SELECT finshard.partition_name('finshard.trades', NULL)", lambda w: (), "FS001"),
    ("partition name infinity", "SELECT finshard.partition_name('finshard.trades', 'infinity')", lambda w: (), "FS070"),
    ("fail unknown code", "SELECT finshard.fail('FS999', 'boom')", lambda w: (), "FS005"),
    ("fail postgres code", "SELECT finshard.fail('22003', 'boom')", lambda w: (), "FS005"),
    ("fail NULL code", "SELECT finshard.fail(NULL, 'boom')", lambda w: (), "FS005"),
]


@pytest.mark.parametrize("sql, params, sqlstate", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_raises_its_code_and_changes_nothing(vworld, sql, params, sqlstate):
    db, world = vworld
    with db.connect() as conn:
        assert_rejected(conn, sql, params(world), sqlstate, state)


def test_cross_currency_transfer_whose_converted_amount_overflows_raises_fs004(db):
    with db.connect() as conn:
        code = new_currency(conn)
        conn.execute("SELECT finshard.set_fx_rate('USD', %s, 1e13)", (code,))
        src = new_account(conn, "USD", "1000000.00")
        dst = new_account(conn, code)
        before = state(conn)
        with pytest.raises(psycopg.Error) as info:
            conn.execute("SELECT finshard.transfer(%s::bigint, %s::bigint, 200000)", (src, dst))
        assert info.value.sqlstate == "FS004", info.value.diag.message_primary
        assert str(dst) in info.value.diag.message_primary
        assert state(conn) == before
        # The same through a pending transfer's post.
        pending = conn.execute("SELECT finshard.create_pending_transfer(%s::bigint, %s::bigint, 200000)", (src, dst)).fetchone()[0]
        before = state(conn)
        with pytest.raises(psycopg.Error) as info:
            conn.execute("SELECT finshard.post_pending_transfer(%s::bigint, %s::bigint)", (src, pending))
        assert info.value.sqlstate == "FS004", info.value.diag.message_primary
        assert state(conn) == before


def test_transfer_overflowing_the_target_balance_raises_fs004_on_the_per_leg_path(db):
    with db.connect() as conn:
        src = new_account(conn, "USD", "10.00")
        dst = new_account(conn, "USD", "999999999999999999.00")
        # The per-leg path (Citus, or this setting); the one-statement path is the next test.
        conn.execute("SET finshard.one_statement_transfer = off")
        before = state(conn)
        with pytest.raises(psycopg.Error) as info:
            conn.execute("SELECT finshard.transfer(%s::bigint, %s::bigint, 1)", (src, dst))
        assert info.value.sqlstate == "FS004", info.value.diag.message_primary
        assert state(conn) == before


def test_transfer_overflowing_the_target_balance_raises_fs004_on_the_one_statement_path(plain):
    with plain.connect() as conn:
        src = new_account(conn, "USD", "10.00")
        dst = new_account(conn, "USD", "999999999999999999.00")
        with pytest.raises(psycopg.Error) as info:
            conn.execute("SELECT finshard.transfer(%s::bigint, %s::bigint, 1)", (src, dst))
        assert info.value.sqlstate == "FS004", info.value.diag.message_primary


def test_deposit_up_to_the_largest_balance_is_accepted(db):
    with db.connect() as conn:
        acc = new_account(conn, "USD", "999999999999999998.99")
        assert conn.execute("SELECT balance FROM finshard.deposit(%s::bigint, 1)", (acc,)).fetchone()[0] == Decimal(BIG)


def test_messages_name_the_offending_value(vworld):
    db, world = vworld
    with db.connect() as conn:
        for sql, value in [("SELECT finshard.fx_rate('usd', 'EUR')", "usd"),
                           ("SELECT finshard.commission(100, 'XYZ')", "XYZ"),
                           ("SELECT finshard.fail('FS999', 'boom')", "FS999"),
                           ("SELECT * FROM finshard.account_orders(-31337)", "-31337"),
                           ("SELECT * FROM finshard.candles(-31337, '1 hour', now() - interval '1 day', now())", "-31337"),
                           ("SELECT finshard.add_currency('USD', 'again', 2::smallint)", "USD"),
                           ("SELECT finshard.expire_pending_transfers(-5)", "-5")]:
            with pytest.raises(psycopg.Error) as info:
                conn.execute(sql)
            assert value in info.value.diag.message_primary, (sql, info.value.diag.message_primary)


def test_valid_inputs_still_work(vworld):
    db, world = vworld
    with db.connect() as conn:
        assert conn.execute("SELECT finshard.fx_rate('USD', 'USD')").fetchone()[0] == 1
        assert conn.execute("SELECT finshard.commission(1000, 'USD')").fetchone()[0] == Decimal("1.00")
        assert conn.execute("SELECT finshard.commission(0, 'USD')").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM finshard.account_orders(%s::bigint, 'filled')", (world["usd"],)).fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM finshard.account_trades(%s::bigint)", (world["usd"],)).fetchone()[0] == 0
        assert conn.execute("SELECT finshard.match_resting_orders(%s::bigint)", (world["inst"],)).fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM finshard.candles(%s::bigint, '1 day', now() - interval '2 days', now())",
                            (world["inst"],)).fetchone()[0] == 0
        conn.execute("SELECT finshard.record_bar(%s::bigint, now(), 10, 11, 9, 10.5, 5)", (world["inst"],))
        # Numbers as JSON strings are read as numbers, as before.
        conn.execute("SELECT finshard.update_quotes(%s::jsonb)", (Jsonb([{"instrument_id": world["inst"], "bid_price": "10.00",
                                                                         "bid_size": "100", "ask_price": "10.05", "ask_size": "100"}]),))
        assert conn.execute("SELECT finshard.partition_name('finshard.trades', '2024-03-15 12:00+00')").fetchone()[0] == "trades_p2024_03"
        code = new_currency(conn)
        assert conn.execute("SELECT minor_units FROM finshard.currencies WHERE code = %s", (code,)).fetchone()[0] == 2
        bank = conn.execute("SELECT finshard.create_bank('Good Bank', %s, 'ops@good.example')", (uuid.uuid4().hex[:10],)).fetchone()[0]
        assert bank > 0
