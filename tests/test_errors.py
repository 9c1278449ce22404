"""Issue 3/5: every rejection raises its own documented SQLSTATE and changes nothing."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest

import psycopg

from finshard.errors import by_sqlstate, translate
from tests.helpers import assert_rejected, new_account, new_user, snapshot

ROOT = Path(__file__).resolve().parent.parent


def test_every_code_raised_in_sql_is_in_the_table():
    table = set(re.findall(r"\('(FS\d{3})'", (ROOT / "finshard" / "sql" / "schema" / "error_codes.sql").read_text()))
    raised = set()
    paths = [p for folder in ("procedures", "partitions", "maintenance") for p in (ROOT / "finshard" / "sql" / folder).glob("*.sql")]
    assert len(paths) > 100
    for path in paths:
        text = path.read_text()
        raised |= set(re.findall(r"'(FS\d{3})'", text))
        assert "RAISE EXCEPTION '" not in text or path.name == "fail.sql", f"{path.name}: bare RAISE EXCEPTION (P0001)"
    assert raised <= table, raised - table


@pytest.fixture(scope="module", params=["plain", pytest.param("citus", marks=pytest.mark.citus)])
def db_world(request):
    """Accounts in every state the error cases need, made once per database; rejected calls leave them as they are."""
    db = request.getfixturevalue(request.param)
    return db, _world(db)


def _world(db):
    with db.connect() as conn:
        usd = new_account(conn, "USD", "100.00")
        other = new_account(conn, "USD", "5.00")
        eur = new_account(conn, "EUR", "50.00")
        uzs = new_account(conn, "UZS")
        closed = new_account(conn, "USD")
        conn.execute("SELECT finshard.close_account(%s::bigint)", (closed,))
        frozen = new_account(conn, "USD", "10.00")
        conn.execute("SELECT finshard.freeze_account(%s::bigint)", (frozen,))
        inactive_user = new_user(conn)
        conn.execute("SELECT finshard.deactivate_user(%s::bigint)", (inactive_user,))
        house = conn.execute("SELECT house_account_id FROM finshard.currencies WHERE code = 'USD'").fetchone()[0]
        conn.execute("DELETE FROM finshard.fx_rates WHERE 'UZS' IN (base_currency, quote_currency) AND 'EUR' IN (base_currency, quote_currency)")
        sym = "E" + new_user(conn).__str__()[-6:]
        inst = conn.execute("SELECT finshard.create_instrument(%s, 'Errors Inc', p_tick_size => 0.05, p_lot_size => 10)", (sym,)).fetchone()[0]
        noquote = conn.execute("SELECT finshard.create_instrument(%s, 'No Quote Inc')", (sym + "N",)).fetchone()[0]
        dead = conn.execute("SELECT finshard.create_instrument(%s, 'Dead Inc')", (sym + "D",)).fetchone()[0]
        conn.execute("SELECT finshard.deactivate_instrument(%s::bigint)", (dead,))
        conn.execute("SELECT finshard.update_quote(%s::bigint, 10.00, 100, 10.05, 100)", (inst,))
        conn.execute("SELECT finshard.deposit(%s::bigint, 10.00, 'used-key')", (usd,))
        order = conn.execute("SELECT finshard.place_order(%s::bigint, %s::bigint, 'market', 'buy', 10)", (usd, inst)).fetchone()[0]
        pending = conn.execute("SELECT finshard.create_pending_transfer(%s::bigint, %s::bigint, 1.00)", (usd, other)).fetchone()[0]
        voided = conn.execute("SELECT finshard.create_pending_transfer(%s::bigint, %s::bigint, 1.00)", (usd, other)).fetchone()[0]
        conn.execute("SELECT finshard.void_pending_transfer(%s::bigint, %s::bigint)", (usd, voided))
        usd_user = conn.execute("SELECT user_id FROM finshard.accounts WHERE account_id = %s", (usd,)).fetchone()[0]
        names = conn.execute("SELECT username, email FROM finshard.users WHERE user_id = %s", (inactive_user,)).fetchone()
    return dict(usd_user=usd_user, inactive_name=names[0], inactive_email=names[1], usd=usd, other=other, eur=eur, uzs=uzs, closed=closed, frozen=frozen, inactive_user=inactive_user,
                house=house, inst=inst, noquote=noquote, dead=dead, order=order, pending=pending, voided=voided, sym=sym)


L = "x" * 501
CASES = [
    # (id, sql, params(world) -> tuple, sqlstate)
    ("deposit null account", "SELECT finshard.deposit(NULL::bigint, 1)", lambda w: (), "FS001"),
    ("deposit null amount", "SELECT finshard.deposit(%s::bigint, NULL)", lambda w: (w["usd"],), "FS001"),
    ("deposit zero", "SELECT finshard.deposit(%s::bigint, 0)", lambda w: (w["usd"],), "FS002"),
    ("deposit negative", "SELECT finshard.deposit(%s::bigint, -5)", lambda w: (w["usd"],), "FS002"),
    ("deposit NaN", "SELECT finshard.deposit(%s::bigint, 'NaN')", lambda w: (w["usd"],), "FS002"),
    ("deposit Infinity", "SELECT finshard.deposit(%s::bigint, 'Infinity')", lambda w: (w["usd"],), "FS002"),
    ("deposit too many decimals", "SELECT finshard.deposit(%s::bigint, 1.001)", lambda w: (w["usd"],), "FS003"),
    ("deposit beyond range", "SELECT finshard.deposit(%s::bigint, 1e18)", lambda w: (w["usd"],), "FS004"),
    ("deposit unknown account", "SELECT finshard.deposit(-42, 1)", lambda w: (), "FS010"),
    ("deposit closed", "SELECT finshard.deposit(%s::bigint, 1)", lambda w: (w["closed"],), "FS011"),
    ("deposit frozen", "SELECT finshard.deposit(%s::bigint, 1)", lambda w: (w["frozen"],), "FS012"),
    ("deposit house", "SELECT finshard.deposit(%s::bigint, 1)", lambda w: (w["house"],), "FS019"),
    ("deposit description too long", "SELECT finshard.deposit(%s::bigint, 1, NULL, %s)", lambda w: (w["usd"], L), "FS006"),
    ("deposit reused key other amount", "SELECT finshard.deposit(%s::bigint, 11.00, 'used-key')", lambda w: (w["usd"],), "FS030"),
    ("withdraw overdraft", "SELECT finshard.withdraw(%s::bigint, 1000000)", lambda w: (w["usd"],), "FS013"),
    ("withdraw frozen", "SELECT finshard.withdraw(%s::bigint, 1)", lambda w: (w["frozen"],), "FS012"),
    ("transfer null from", "SELECT finshard.transfer(NULL::bigint, %s::bigint, 1)", lambda w: (w["other"],), "FS001"),
    ("transfer null to", "SELECT finshard.transfer(%s::bigint, NULL::bigint, 1)", lambda w: (w["usd"],), "FS001"),
    ("transfer null amount", "SELECT finshard.transfer(%s::bigint, %s::bigint, NULL)", lambda w: (w["usd"], w["other"]), "FS001"),
    ("transfer same account", "SELECT finshard.transfer(%s::bigint, %s::bigint, 1)", lambda w: (w["usd"], w["usd"]), "FS014"),
    ("transfer overdraft", "SELECT finshard.transfer(%s::bigint, %s::bigint, 500)", lambda w: (w["usd"], w["other"]), "FS013"),
    ("transfer unknown target", "SELECT finshard.transfer(%s::bigint, -7, 1)", lambda w: (w["usd"],), "FS010"),
    ("transfer to closed", "SELECT finshard.transfer(%s::bigint, %s::bigint, 1)", lambda w: (w["usd"], w["closed"]), "FS011"),
    ("transfer to frozen", "SELECT finshard.transfer(%s::bigint, %s::bigint, 1)", lambda w: (w["usd"], w["frozen"]), "FS012"),
    ("transfer from frozen", "SELECT finshard.transfer(%s::bigint, %s::bigint, 1)", lambda w: (w["frozen"], w["usd"]), "FS012"),
    ("transfer missing fx rate", "SELECT finshard.transfer(%s::bigint, %s::bigint, 1)", lambda w: (w["eur"], w["uzs"]), "FS018"),
    ("transfer to house", "SELECT finshard.transfer(%s::bigint, %s::bigint, 1)", lambda w: (w["usd"], w["house"]), "FS019"),
    # Without a key the transfer takes its one statement, where such amounts must not reach a column.
    ("transfer 1e30 without a key", "SELECT finshard.transfer(%s::bigint, %s::bigint, 1e30)", lambda w: (w["usd"], w["other"]), "FS004"),
    ("transfer beyond bigint without a key", "SELECT finshard.transfer(%s::bigint, %s::bigint, 99999999999999999999)",
     lambda w: (w["usd"], w["other"]), "FS004"),
    ("transfer Infinity without a key", "SELECT finshard.transfer(%s::bigint, %s::bigint, 'Infinity')", lambda w: (w["usd"], w["other"]), "FS002"),
    ("transfer -Infinity without a key", "SELECT finshard.transfer(%s::bigint, %s::bigint, '-Infinity')", lambda w: (w["usd"], w["other"]), "FS002"),
    ("transfer NaN without a key", "SELECT finshard.transfer(%s::bigint, %s::bigint, 'NaN')", lambda w: (w["usd"], w["other"]), "FS002"),
    ("transfer rounds to 1e18 without a key", "SELECT finshard.transfer(%s::bigint, %s::bigint, 999999999999999999.99999)",
     lambda w: (w["usd"], w["other"]), "FS003"),
    ("transfer blank key", "SELECT finshard.transfer(%s::bigint, %s::bigint, 1, '')", lambda w: (w["usd"], w["other"]), "FS005"),
    ("deposit blank key", "SELECT finshard.deposit(%s::bigint, 1, '   ')", lambda w: (w["usd"],), "FS005"),
    ("transfer too many decimals", "SELECT finshard.transfer(%s::bigint, %s::bigint, 0.001)", lambda w: (w["usd"], w["other"]), "FS003"),
    ("transfer injection text", "SELECT finshard.transfer(%s::bigint, %s::bigint, 1, NULL, %s)",
     lambda w: (w["usd"], w["other"], "'); DROP TABLE finshard.accounts; --" + L), "FS006"),
    ("open account inactive user", "SELECT finshard.open_account(%s::bigint)", lambda w: (w["inactive_user"],), "FS021"),
    ("open account unknown user", "SELECT finshard.open_account(-1)", lambda w: (), "FS020"),
    ("open account bad type", "SELECT finshard.open_account(%s::bigint, 'USD', 'house')", lambda w: (w["usd_user"],), "FS005"),
    ("open account duplicate", "SELECT finshard.open_account(%s::bigint, 'USD', 'cash')", lambda w: (w["usd_user"],), "FS016"),
    ("open account unknown bank", "SELECT finshard.open_account(%s::bigint, 'USD', 'savings', -3)", lambda w: (w["usd_user"],), "FS026"),
    ("open account unknown currency ", "SELECT finshard.open_account(%s::bigint, 'XXX')", lambda w: (w["usd_user"],), "FS017"),
    ("close with balance", "SELECT finshard.close_account(%s::bigint)", lambda w: (w["usd"],), "FS015"),
    ("close closed", "SELECT finshard.close_account(%s::bigint)", lambda w: (w["closed"],), "FS011"),
    ("create user bad username", "SELECT finshard.create_user('a b', 'ab@example.com', 'password1')", lambda w: (), "FS025"),
    ("create user short password", "SELECT finshard.create_user('shortpw', 'shortpw@example.com', 'pw')", lambda w: (), "FS025"),
    ("create user bad role", "SELECT finshard.create_user('badrole', 'badrole@example.com', 'password1', 'root')", lambda w: (), "FS025"),
    ("create user taken username", "SELECT finshard.create_user(upper(%s), 'fresh-' || %s, 'password1')",
     lambda w: (w["inactive_name"], w["inactive_email"]), "FS022"),
    ("create user taken email", "SELECT finshard.create_user('fresh' || %s, upper(%s), 'password1')",
     lambda w: (w["inactive_user"], w["inactive_email"]), "FS023"),
    # A deactivated user's login answers as an unknown one (no enumeration, docs/security.md).
    ("authenticate deactivated", "SELECT finshard.authenticate(%s, 'correct horse')", lambda w: (w["inactive_name"],), "FS024"),
    ("authenticate unknown login", "SELECT finshard.authenticate('nobody-at-all', 'whatever1')", lambda w: (), "FS024"),
    ("deactivate twice", "SELECT finshard.deactivate_user(%s::bigint)", lambda w: (w["inactive_user"],), "FS021"),
    ("post voided", "SELECT finshard.post_pending_transfer(%s::bigint, %s::bigint)", lambda w: (w["usd"], w["voided"]), "FS041"),
    ("post unknown", "SELECT finshard.post_pending_transfer(%s::bigint, -1)", lambda w: (w["usd"],), "FS040"),
    ("post too much", "SELECT finshard.post_pending_transfer(%s::bigint, %s::bigint, 2.00)", lambda w: (w["usd"], w["pending"]), "FS042"),
    ("pending overdraft", "SELECT finshard.create_pending_transfer(%s::bigint, %s::bigint, 100000)", lambda w: (w["usd"], w["other"]), "FS013"),
    ("statement null month", "SELECT * FROM finshard.account_statement(%s::bigint, NULL)", lambda w: (w["usd"],), "FS001"),
    ("analytics bad period", "SELECT finshard.user_analytics(1, now(), now() - interval '1 day')", lambda w: (), "FS070"),
    # trading
    ("order null quantity", "SELECT finshard.place_order(%s::bigint, %s::bigint, 'market', 'buy', NULL)", lambda w: (w["usd"], w["inst"]), "FS001"),
    ("order zero quantity", "SELECT finshard.place_order(%s::bigint, %s::bigint, 'market', 'buy', 0)", lambda w: (w["usd"], w["inst"]), "FS002"),
    ("order negative quantity", "SELECT finshard.place_order(%s::bigint, %s::bigint, 'market', 'buy', -10)", lambda w: (w["usd"], w["inst"]), "FS002"),
    ("order off lot", "SELECT finshard.place_order(%s::bigint, %s::bigint, 'market', 'buy', 15)", lambda w: (w["usd"], w["inst"]), "FS057"),
    ("order off tick", "SELECT finshard.place_order(%s::bigint, %s::bigint, 'limit', 'buy', 10, 10.03)", lambda w: (w["usd"], w["inst"]), "FS056"),
    ("limit without price", "SELECT finshard.place_order(%s::bigint, %s::bigint, 'limit', 'buy', 10)", lambda w: (w["usd"], w["inst"]), "FS055"),
    ("stop without stop price", "SELECT finshard.place_order(%s::bigint, %s::bigint, 'stop', 'sell', 10)", lambda w: (w["usd"], w["inst"]), "FS055"),
    ("market with price", "SELECT finshard.place_order(%s::bigint, %s::bigint, 'market', 'buy', 10, 10.00)", lambda w: (w["usd"], w["inst"]), "FS055"),
    ("bad order type", "SELECT finshard.place_order(%s::bigint, %s::bigint, 'iceberg', 'buy', 10)", lambda w: (w["usd"], w["inst"]), "FS055"),
    ("bad side", "SELECT finshard.place_order(%s::bigint, %s::bigint, 'market', 'short', 10)", lambda w: (w["usd"], w["inst"]), "FS055"),
    ("bad time in force", "SELECT finshard.place_order(%s::bigint, %s::bigint, 'market', 'buy', 10, NULL, NULL, 'GTD')", lambda w: (w["usd"], w["inst"]), "FS055"),
    ("unknown instrument", "SELECT finshard.place_order(%s::bigint, -1, 'market', 'buy', 10)", lambda w: (w["usd"],), "FS050"),
    ("inactive instrument", "SELECT finshard.place_order(%s::bigint, %s::bigint, 'market', 'buy', 1)", lambda w: (w["usd"], w["dead"]), "FS051"),
    ("market without quote", "SELECT finshard.place_order(%s::bigint, %s::bigint, 'market', 'buy', 1)", lambda w: (w["usd"], w["noquote"]), "FS054"),
    ("buying power", "SELECT finshard.place_order(%s::bigint, %s::bigint, 'market', 'buy', 1000)", lambda w: (w["usd"], w["inst"]), "FS058"),
    ("sell more than held", "SELECT finshard.place_order(%s::bigint, %s::bigint, 'market', 'sell', 20)", lambda w: (w["usd"], w["inst"]), "FS059"),
    ("order frozen account", "SELECT finshard.place_order(%s::bigint, %s::bigint, 'market', 'buy', 10)", lambda w: (w["frozen"], w["inst"]), "FS012"),
    ("order currency mismatch", "SELECT finshard.place_order(%s::bigint, %s::bigint, 'market', 'buy', 10)", lambda w: (w["eur"], w["inst"]), "FS005"),
    ("order reused key", "SELECT finshard.place_order(%s::bigint, %s::bigint, 'market', 'buy', 10, NULL, NULL, 'GTC', 'used-key')",
     lambda w: (w["usd"], w["inst"]), "FS030"),
    ("cancel filled", "SELECT finshard.cancel_order(%s::bigint, %s::bigint)", lambda w: (w["usd"], w["order"]), "FS061"),
    ("cancel unknown", "SELECT finshard.cancel_order(%s::bigint, -1)", lambda w: (w["usd"],), "FS060"),
    ("quote bid above ask", "SELECT finshard.update_quote(%s::bigint, 11, 1, 10, 1)", lambda w: (w["inst"],), "FS053"),
    ("quote zero size", "SELECT finshard.update_quote(%s::bigint, 9, 0, 10, 1)", lambda w: (w["inst"],), "FS053"),
    ("quote null", "SELECT finshard.update_quote(%s::bigint, NULL, 1, 10, 1)", lambda w: (w["inst"],), "FS001"),
    ("duplicate symbol", "SELECT finshard.create_instrument(lower(%s), 'Again')", lambda w: (w["sym"],), "FS052"),
    ("pnl no position", "SELECT finshard.calculate_position_pnl(%s::bigint, %s::bigint, 10)", lambda w: (w["other"], w["inst"]), "FS063"),
    ("pnl no quote", "SELECT finshard.calculate_position_pnl(%s::bigint, %s::bigint)", lambda w: (w["usd"], w["noquote"]), "FS054"),
    ("bad alert", "SELECT finshard.create_price_alert(%s::bigint, %s::bigint, 'sideways', 10)", lambda w: (w["usd"], w["inst"]), "FS062"),
]


@pytest.mark.parametrize("sql, params, sqlstate", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_rejection_raises_its_code_and_changes_nothing(db_world, sql, params, sqlstate):
    db, world = db_world
    with db.connect() as conn:
        assert_rejected(conn, sql, params(world), sqlstate)


def test_injection_shaped_text_is_stored_verbatim(db):
    text = "'); DROP TABLE finshard.accounts; -- \\ % _ $$"
    with db.connect() as conn:
        a = new_account(conn, "USD", "10.00")
        b = new_account(conn, "USD")
        conn.execute("SELECT finshard.transfer(%s::bigint, %s::bigint, 1, NULL, %s)", (a, b, text))
        stored = conn.execute("SELECT description FROM finshard.transactions WHERE account_id = %s AND transaction_type = 'transfer_in'", (b,)).fetchone()[0]
        assert stored == text
        assert conn.execute("SELECT count(*) FROM finshard.accounts WHERE account_id = %s", (a,)).fetchone()[0] == 1


def test_amount_exactly_at_the_currency_precision_is_accepted(db):
    with db.connect() as conn:
        a = new_account(conn, "USD")
        assert conn.execute("SELECT balance FROM finshard.deposit(%s::bigint, 0.01)", (a,)).fetchone()[0] == Decimal("0.01")


def test_a_concurrent_change_is_transient_so_the_router_retries_it() -> None:
    import psycopg

    from finshard import errors

    class Diag:
        sqlstate = "FS007"
        message_primary = "account 1 changed while transfer 2 was applied; nothing was moved"
        message_detail = None
        message_hint = "Retry the transfer (with the same idempotency key)."

    class Raised(psycopg.Error):
        sqlstate = "FS007"
        diag = Diag()

    translated = errors.translate(Raised("x"))
    assert isinstance(translated, errors.ConcurrentChange) and isinstance(translated, errors.TransientError)
    # The rest stay final: the router does not retry a rejection.
    assert not issubclass(errors.AccountTypeNotAllowed, errors.TransientError)
    assert not issubclass(errors.InvariantViolated, errors.TransientError)


def test_a_check_violation_reaches_a_caller_as_invariant_violated_with_its_constraint(db) -> None:
    """A table CHECK refusing what a function's own checks let through is finshard's checks
    disagreeing: FS009, with PostgreSQL's code and the constraint kept, never a bare 23514."""
    import psycopg

    from finshard import errors

    with db.connect() as conn, pytest.raises(psycopg.Error) as info:
        conn.execute("UPDATE finshard.accounts SET reserved = balance + 1 WHERE account_id = %s",
                     (new_account(conn, "USD", "5.00"),))
    assert info.value.sqlstate == "23514"
    translated = errors.translate(info.value)
    assert isinstance(translated, errors.InvariantViolated) and translated.sqlstate == "FS009"
    assert translated.detail.startswith("PostgreSQL 23514") and "accounts_funded_check" in str(translated)


# Every public function that writes, but check_archiving (it reads the nodes' archiver state), and
# authenticate and login, which count the attempt first (tests/test_login.py).
WRITERS = """SELECT p.proname, array(SELECT format_type(t, NULL) FROM unnest(p.proargtypes) t)
               FROM pg_proc p
              WHERE p.pronamespace = 'finshard'::regnamespace AND p.proname !~ '^_' AND p.provolatile = 'v'
                AND p.proname NOT IN ('check_archiving', 'authenticate', 'login')
                AND EXISTS (SELECT 1 FROM aclexplode(p.proacl) a WHERE a.privilege_type = 'EXECUTE' AND a.grantee <> p.proowner)
              ORDER BY 1"""


@pytest.mark.parametrize("mode, sqlstate", [("READ ONLY", "FS098"), ("ISOLATION LEVEL REPEATABLE READ", "FS099"),
                                            ("ISOLATION LEVEL SERIALIZABLE", "FS099")],
                         ids=["read only", "repeatable read", "serializable"])
def test_every_public_writer_refuses_a_read_only_or_snapshot_transaction_before_anything(db_world, mode, sqlstate):
    """In a transaction block, where the function runs on the node the client is connected to (Citus
    delegates no call there). On Citus, a call sent in autocommit to the coordinator runs as a
    transaction of its own on the account's worker, read-write and at READ COMMITTED whatever the
    coordinator session's defaults (docs/errors.md)."""
    db, world = db_world
    with db.connect() as conn:
        writers = conn.execute(WRITERS).fetchall()
        assert len(writers) > 45
        before = snapshot(conn)
        calls = [(f"SELECT * FROM finshard.{name}({', '.join(f'NULL::{t}' for t in types)})", ()) for name, types in writers]
        calls.append(("SELECT * FROM finshard.transfer(%s::bigint, %s::bigint, 1.00)", (world["usd"], world["other"])))
        for sql, params in calls:
            conn.execute(f"BEGIN {mode}")
            try:
                with pytest.raises(psycopg.Error) as info:
                    conn.execute(sql, params)
                assert info.value.sqlstate == sqlstate, (sql, info.value.diag.message_primary)
                assert type(translate(info.value)).sqlstate == sqlstate
            finally:
                conn.execute("ROLLBACK")
        # Reads answer at any level.
        conn.execute(f"BEGIN {mode}")
        assert conn.execute("SELECT * FROM finshard.balance(%s::bigint)", (world["usd"],)).fetchone()[0] is not None
        conn.execute("ROLLBACK")
        assert snapshot(conn) == before
    if not db.citus:
        # Set as the session's default, on the node that runs the call.
        with db.connect() as conn:
            conn.execute("SET default_transaction_read_only = on")
            assert_rejected(conn, "SELECT * FROM finshard.deposit(%s::bigint, 1.00)", (world["usd"],), "FS098")
