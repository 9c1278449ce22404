"""Issue 20 item 4: on Citus, a quote's resting fills run on the nodes that hold the orders, each
node filling its own in one pass, all at once, inside the quote's transaction and its two-phase
commit; price-time priority and the quote's size hold as in the coordinator's order-by-order loop,
which takes over whenever a node cannot prove its shards or lock an account without waiting."""

from __future__ import annotations

import contextlib
import random
import re
import threading
import time
from decimal import Decimal as D
from typing import Iterator

import pytest

from tests.helpers import new_account
from tests.test_money import _calls
from tests.test_trading import instrument, order

pytestmark = pytest.mark.citus


def _book(conn, count: int) -> tuple[int, list[tuple[int, int]]]:
    """An instrument quoted at 10.00 / 10.05 and ``count`` resting limit buys of 2, at 10.00, 10.01
    and 10.02 in turn, from accounts spread over the workers; returns the instrument and the
    (account, order) pairs in price-time priority."""
    iid = instrument(conn)
    placed = []
    for i in range(count):
        acc = new_account(conn, "USD", "1000.00")
        price = D("10.00") + D(i % 3) / 100
        placed.append((-price, i, acc, order(conn, acc, iid, "limit", "buy", 2, price)))
    return iid, [(acc, oid) for _, _, acc, oid in sorted(placed)]


def _quote(conn, iid: int, ask_size: int) -> tuple[int, int, list[str]]:
    """update_quote moving the ask to 9.99 for ``ask_size``, in a transaction that counts the
    coordinator's _match_order calls and logs what Citus sends to the workers; returns the fills,
    the calls and the log (message and detail)."""
    conn.execute("SET track_functions = 'pl'")
    with remote_commands(conn) as log:
        before = _calls(conn, "_match_order")
        filled = conn.execute("SELECT finshard.update_quote(%s::bigint, 9.90, 100, 9.99, %s::numeric)", (iid, ask_size)).fetchone()[0]
        calls = _calls(conn, "_match_order") - before
    return filled, calls, log


@contextlib.contextmanager
def remote_commands(conn) -> Iterator[list[str]]:
    """A transaction in which Citus logs what it sends to other nodes: yields that log (message | detail)."""
    log: list[str] = []
    conn.add_notice_handler(lambda d: log.append(f"{d.message_primary} | {d.message_detail}"))
    with conn.transaction():
        conn.execute("SET LOCAL citus.log_remote_commands = on")
        conn.execute("SET LOCAL client_min_messages = log")
        yield log
    conn.execute("RESET client_min_messages")


def _connections(log: list[str], command: str) -> set[str]:
    """The worker connections (server and Citus' connection id) that were sent ``command``."""
    return {re.search(r"on server (\S+) connectionId: (\d+)", line).group(0) for line in log if command in line}


def _fills(conn, book: list[tuple[int, int]]) -> list[D]:
    return [conn.execute("SELECT filled_quantity FROM finshard.orders WHERE account_id = %s AND order_id = %s", pair).fetchone()[0]
            for pair in book]


def test_each_node_fills_its_own_orders_in_one_pass_in_priority_order_and_two_phase_commit(citus):
    with citus.connect() as conn:
        iid, book = _book(conn, 12)
        filled, calls, log = _quote(conn, iid, 15)
        # 15 of 24 wanted: the first seven in priority order in full, the eighth 1, the rest nothing.
        assert filled == 8
        assert _fills(conn, book) == [D(2)] * 7 + [D(1)] + [D(0)] * 4
        assert calls == 0  # no fill driven from the coordinator
        # Every connection that ran a node's pass was prepared, then committed prepared.
        passes, prepared, committed = (_connections(log, what) for what in ("_match_orders_local", "PREPARE TRANSACTION",
                                                                             "COMMIT PREPARED"))
        # One pass per node holding an order whose turn came (the first eight; on both workers but
        # once in 128 books).
        nodes = conn.execute("SELECT count(DISTINCT p.groupid) FROM unnest(%s::bigint[]) a JOIN pg_dist_placement p "
                             "ON p.shardid = get_shard_id_for_distribution_column('finshard.accounts', a)",
                             ([acc for acc, _ in book[:8]],)).fetchone()[0]
        assert len({p.split()[2] for p in passes}) == nodes, log
        assert passes <= prepared and passes <= committed, log
        assert not any(re.search(r"issuing (UPDATE|INSERT INTO) finshard\.(orders|trades|transactions)_", line) for line in log)
        accounts = [acc for acc, _ in book]
        assert conn.execute("SELECT count(*) FROM finshard.ledger_verify() WHERE account_id = ANY(%s)", (accounts,)).fetchone()[0] == 0
        assert conn.execute("SELECT sum(quantity) FROM finshard.trades WHERE instrument_id = %s", (iid,)).fetchone()[0] == 15
        assert conn.execute("SELECT sum(quantity) FROM finshard.positions WHERE instrument_id = %s", (iid,)).fetchone()[0] == 15


def test_a_direct_call_of_match_resting_orders_is_two_phase_too(citus):
    """Without update_quote's write of the quote in the same transaction, the pass writes it itself:
    every node's share still runs on a connection Citus prepares."""
    with citus.connect() as conn:
        iid, book = _book(conn, 8)
        conn.execute("UPDATE finshard.instruments SET ask_price = 9.99, ask_size = 7 WHERE instrument_id = %s", (iid,))
        log: list[str] = []
        conn.add_notice_handler(lambda d: log.append(f"{d.message_primary} | {d.message_detail}"))
        conn.execute("SET citus.log_remote_commands = on")
        conn.execute("SET client_min_messages = log")
        assert conn.execute("SELECT finshard.match_resting_orders(%s::bigint)", (iid,)).fetchone()[0] == 4
        conn.execute("RESET client_min_messages")
        conn.execute("RESET citus.log_remote_commands")
        passes, prepared = _connections(log, "_match_orders_local"), _connections(log, "PREPARE TRANSACTION")
        assert passes and passes <= prepared, log
        assert _fills(conn, book) == [D(2)] * 3 + [D(1)] + [D(0)] * 4


def test_a_pass_that_finds_an_account_locked_rolls_back_and_the_coordinator_fills_the_same(citus):
    with citus.connect() as conn, citus.connect() as holder:
        iid, book = _book(conn, 9)
        # Another transaction holds the fourth order's account: its node's pass declines (it never
        # waits), the other node's fills are rolled back, and the order-by-order loop waits its turn.
        holder.execute("BEGIN")
        holder.execute("SELECT 1 FROM finshard.accounts WHERE account_id = %s FOR UPDATE", (book[3][0],))
        threading.Timer(1.5, holder.rollback).start()
        started = time.monotonic()
        filled, calls, log = _quote(conn, iid, 11)
        assert time.monotonic() - started >= 1.0
        assert filled == 6
        assert calls == 6  # the coordinator's loop, once per order whose turn came
        assert _fills(conn, book) == [D(2)] * 5 + [D(1)] + [D(0)] * 3
        assert conn.execute("SELECT count(*) FROM finshard.trades WHERE instrument_id = %s", (iid,)).fetchone()[0] == 6
        accounts = [acc for acc, _ in book]
        assert conn.execute("SELECT count(*) FROM finshard.ledger_verify() WHERE account_id = ANY(%s)", (accounts,)).fetchone()[0] == 0


def _random_book(conn, seed: int) -> tuple[int, list[tuple[int, int]]]:
    """The same book on any node for the same seed: holders, then resting limit, stop and stop
    limit orders on both sides; returns the instrument and the (account, order) pairs as placed."""
    rng = random.Random(seed)
    iid = instrument(conn, quote=("10.00", "1000", "10.05", "1000"))
    accounts = [new_account(conn, "USD", "1000.00") for _ in range(16)]
    holders = accounts[:8]
    for acc in holders:
        order(conn, acc, iid, "market", "buy", 6)
    placed = []
    for _ in range(40):
        kind = rng.choice(["limit_buy", "limit_buy", "stop_buy", "stop_limit_buy", "limit_sell", "stop_sell"])
        qty = rng.randint(1, 3)
        if kind == "limit_buy":
            acc = rng.choice(accounts)
            oid = order(conn, acc, iid, "limit", "buy", qty, f"{rng.randint(990, 1004) / 100:.2f}")
        elif kind == "stop_buy":
            acc = rng.choice(accounts)
            oid = order(conn, acc, iid, "stop", "buy", qty, stop=f"{rng.randint(1008, 1014) / 100:.2f}")
        elif kind == "stop_limit_buy":
            acc = rng.choice(accounts)
            oid = order(conn, acc, iid, "stop_limit", "buy", qty, price="10.12", stop=f"{rng.randint(1008, 1012) / 100:.2f}")
        elif kind == "limit_sell":
            acc = holders[len(placed) % len(holders)]
            oid = order(conn, acc, iid, "limit", "sell", 1, f"{rng.randint(1006, 1015) / 100:.2f}")
        else:
            acc = holders[(len(placed) + 3) % len(holders)]
            oid = order(conn, acc, iid, "stop", "sell", 1, stop=f"{rng.randint(985, 995) / 100:.2f}")
        placed.append((acc, oid))
    return iid, placed


QUOTES = [("9.95", "3", "10.00", "7"), ("10.10", "5", "10.13", "4"), ("10.16", "2", "10.20", "3"),
          ("9.85", "6", "9.90", "20"), ("9.80", "40", "9.85", "40")]


def test_a_random_book_fills_on_citus_exactly_as_on_one_node(plain, citus):
    """Limits, stops and stop limits on both sides, quotes smaller than the book: after each quote,
    every order's status, fill and average price on Citus (each node filling its own) are those
    of the plain node's order-by-order loop."""
    books = {}
    for name, server in (("plain", plain), ("citus", citus)):
        with server.connect() as conn:
            books[name] = _random_book(conn, seed=20)
    with plain.connect() as p, citus.connect() as c:
        c.execute("SET track_functions = 'pl'")
        for quote in QUOTES:
            results = []
            for conn, (iid, placed) in ((p, books["plain"]), (c, books["citus"])):
                with conn.transaction():
                    before = _calls(conn, "_match_order")
                    filled = conn.execute("SELECT finshard.update_quote(%s::bigint, %s::numeric, %s::numeric, %s::numeric, %s::numeric)",
                                          (iid, *map(D, quote))).fetchone()[0]
                    if conn is c:
                        assert _calls(conn, "_match_order") == before, quote  # each node filled its own
                rows = [conn.execute("SELECT status, filled_quantity, average_fill_price, triggered FROM finshard.orders "
                                     "WHERE account_id = %s AND order_id = %s", pair).fetchone() for pair in placed]
                results.append((filled, rows))
            assert results[0] == results[1], quote
        iid, placed = books["citus"]
        assert c.execute("SELECT count(*) FROM finshard.ledger_verify() WHERE account_id = ANY(%s)",
                         ([a for a, _ in placed],)).fetchone()[0] == 0
