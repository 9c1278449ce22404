"""Issue 20 item 3: a transfer whose destination is on another Citus node, sent to the source's
node (the router's path), runs each leg on its node's own shards with one call to the other node
(finshard._transfer_cross and _transfer_credit_local), inside one two-phase commit; it writes
what the per-leg path writes, refuses what it refuses, and loses nothing when a node crashes."""

from __future__ import annotations

import random
import threading
import time
import uuid
from decimal import Decimal

import psycopg
import pytest

from finshard.local.cluster import Cluster
from finshard.local.postgres import find_pg_bin, run_pg
from finshard.ops.installer import install
from tests.helpers import new_account, snapshot
from tests.test_local_path import _by_node, _node_dsn
from tests.test_match_on_shards import _connections, remote_commands
from tests.test_money import _calls, _transfer_rows

pytestmark = pytest.mark.citus


def _two_nodes(citus, count: int, deposit: str, currency: str = "USD") -> tuple[int, list[int], int, list[int]]:
    """``count`` new accounts; returns one worker's port and its accounts, and another's."""
    with citus.connect() as conn:
        accounts = [new_account(conn, currency, deposit) for _ in range(count)]
    groups = _by_node(citus, accounts)
    (port, here), (other, there) = sorted(groups.items(), key=lambda kv: -len(kv[1]))[:2]
    return port, here, other, there


def _pair(here: list[int], there: list[int], source_first: bool, used: set[int]) -> tuple[int, int]:
    """A source here and a destination there not used yet, the source's id below the destination's
    (it locks first) or above it."""
    pair = next((a, b) for a in sorted(here, reverse=not source_first) for b in there
                if (a < b) == source_first and not {a, b} & used)
    used.update(pair)
    return pair


def _transfer(worker, src: int, dst: int, amount: str, key: str | None = None) -> tuple[tuple, dict[str, int], list[str]]:
    """One transfer on a worker session: its row, how often each path ran, and what Citus sent to
    other nodes (message | detail)."""
    worker.execute("SET track_functions = 'pl'")
    with remote_commands(worker) as log:
        before = {f: _calls(worker, f) for f in ("_transfer_local", "_transfer_cross", "_move")}
        row = worker.execute("SELECT * FROM finshard.transfer(%s::bigint, %s::bigint, %s::numeric, %s, 'rent; DROP TABLE x')",
                             (src, dst, amount, key)).fetchone()
        ran = {f: _calls(worker, f) - n for f, n in before.items()}
    return row, ran, [line for line in log if "issuing" in line]


def test_a_cross_node_transfer_is_one_prepared_call_there_and_writes_what_the_per_leg_path_writes(citus):
    port, here, other, there = _two_nodes(citus, 24, "100.00")
    used: set[int] = set()
    with psycopg.connect(_node_dsn(citus, port), autocommit=True) as worker:
        for order in ("source_first", "destination_first"):
            rows = {}
            for path in ("one_call", "per_leg"):
                src, dst = _pair(here, there, order == "source_first", used)
                if path == "per_leg":
                    worker.execute("SET finshard.one_statement_transfer = off")
                row, ran, sent = _transfer(worker, src, dst, "30.25", f"cross-{order}-{path}-{src}")
                worker.execute("RESET finshard.one_statement_transfer")
                assert row[1:] == (Decimal("69.75"), Decimal("130.25"), Decimal("30.25"), None), (order, path)
                rows[path] = _transfer_rows(worker, row[0], src)
                if path == "one_call":
                    assert ran["_transfer_cross"] == 1 and ran["_move"] == 0, (order, ran)
                    # One call to the other node, then two-phase commit on its connection.
                    calls = _connections(sent, "_transfer_credit_local")
                    assert len(calls) == 1 and calls <= _connections(sent, "PREPARE TRANSACTION") \
                        and calls <= _connections(sent, "COMMIT PREPARED"), sent
                    assert [line.split(" | ")[0].split()[1] for line in sent] == ["BEGIN", "SELECT", "PREPARE", "COMMIT"], sent
                    # A replay answers from the idempotency record and moves nothing again.
                    again, ran, sent = _transfer(worker, src, dst, "30.25", f"cross-{order}-{path}-{src}")
                    assert again == row and not sent
                else:
                    assert ran["_move"] == 1, (order, ran)
            assert rows["one_call"] == rows["per_leg"], order
    with citus.connect() as conn:
        assert conn.execute("SELECT count(*) FROM finshard.ledger_verify() WHERE account_id = ANY(%s)",
                            (here + there,)).fetchone()[0] == 0
        for acc in here + there:
            assert conn.execute("SELECT count(*) FROM finshard.audit_verify(%s::bigint)", (acc,)).fetchone()[0] == 0


def test_cross_node_rejections_say_why_and_change_nothing(citus):
    port, here, other, there = _two_nodes(citus, 32, "10.00")
    used: set[int] = set()
    orders = {order: _pair(here, there, order == "source_first", used) for order in ("source_first", "destination_first")}
    frozen = {}
    for order, (src, _) in orders.items():
        frozen[order] = next(b for b in there if (src < b) == (order == "source_first") and b not in used)
        used.add(frozen[order])
    candidates = _by_node(citus, list(range(10**15, 10**15 + 40)))
    missing = candidates[other][0]
    with citus.connect() as conn:
        for acc in frozen.values():
            conn.execute("SELECT finshard.freeze_account(%s::bigint, 'test')", (acc,))
        name = f"x{uuid.uuid4().hex[:12]}"  # a user who owns none of these accounts
        conn.execute("SELECT finshard.create_user(%s, %s, 'correct horse')", (name, f"{name}@example.com"))
        token = conn.execute("SELECT token FROM finshard.login(%s, 'correct horse')", (name,)).fetchone()[0]
        before = snapshot(conn)
    # Also with Citus' function_opens_transaction_block off, which any role may set: the credit,
    # when it goes first, must not commit by itself when the debit then fails (on either path).
    for settings in ([], ["citus.function_opens_transaction_block = off"],
                     ["citus.function_opens_transaction_block = off", "finshard.one_statement_transfer = off"]):
        with psycopg.connect(_node_dsn(citus, port), autocommit=True) as worker:
            for setting in settings:
                worker.execute(f"SET {setting}")
            for order, (src, dst) in orders.items():
                for (to, amount), sqlstate in (((dst, "10.01"), "FS013"), ((frozen[order], "1.00"), "FS012"),
                                               ((dst, "0.001"), "FS003"), ((missing, "1.00"), "FS010"),
                                               ((dst, "NaN"), "FS002"), ((dst, "-1.00"), "FS002"),
                                               ((dst, "1e18"), "FS004"), ((dst, None), "FS001")):
                    with pytest.raises(psycopg.Error) as err:
                        worker.execute("SELECT finshard.transfer(%s::bigint, %s::bigint, %s::numeric)", (src, to, amount))
                    assert err.value.sqlstate == sqlstate, (settings, order, to, amount, err.value)
    # An end user's session: someone else's account, or a token that is no session, is refused.
    with psycopg.connect(_node_dsn(citus, port), autocommit=True) as worker:
        for session, sqlstate in ((token, "FS085"), ("not-a-session", "FS082")):
            for src, dst in orders.values():
                with pytest.raises(psycopg.Error) as err:
                    worker.execute("SELECT finshard.transfer(%s::bigint, %s::bigint, 1.00, NULL, NULL, %s)", (src, dst, session))
                assert err.value.sqlstate == sqlstate, (session, err.value)
    with citus.connect() as conn:
        assert snapshot(conn) == before


def test_a_cross_node_transfer_into_another_currency_converts_on_the_per_leg_path(citus):
    with citus.connect() as conn:
        conn.execute("SELECT finshard.set_fx_rate('USD', 'EUR', 0.9137, p_confirm => true)")
    port, here, _, _ = _two_nodes(citus, 12, "200.00")
    with citus.connect() as conn:
        euros = [new_account(conn, "EUR") for _ in range(8)]
    there = [a for a, p in ((a, p) for p, accs in _by_node(citus, euros).items() for a in accs) if p != port]
    with psycopg.connect(_node_dsn(citus, port), autocommit=True) as worker:
        row, ran, _ = _transfer(worker, here[0], there[0], "100.00")
        # The call found another currency there and wrote nothing; the per-leg path converted.
        assert ran["_transfer_cross"] == 1 and ran["_move"] == 1, ran
        assert row[3] == Decimal("91.37") and row[4] == Decimal("0.9137")
        kinds = sorted(r[0] for r in worker.execute("SELECT transaction_type FROM finshard.transactions WHERE transfer_id = %s",
                                                    (row[0],)))
        assert kinds == ["fx_in", "fx_out", "transfer_in", "transfer_out"]
        assert worker.execute("SELECT balance FROM finshard.accounts WHERE account_id = %s", (there[0],)).fetchone()[0] \
            == Decimal("91.37")


@pytest.mark.slow
def test_cross_node_transfers_lose_nothing_when_a_node_crashes_mid_commit(scratch):
    """Clients on both workers transfer across them (the router's path) while each worker in turn
    is killed (immediate stop: no shutdown checkpoint, prepared transactions left in doubt) and
    started again. Citus' recovery settles every prepared transaction; every acknowledged transfer
    is there exactly once with both legs, no other transfer left a leg, and the books balance."""
    cluster = Cluster.up(scratch("finshard-cross-crash-") / "c", workers=2, use_citus=True)
    try:
        install(cluster.dsn(), shard_count=8)
        with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
            accounts = [new_account(conn, "USD", "1000.00") for _ in range(24)]
            nodes = dict(conn.execute("SELECT s.shardid, n.nodeport FROM pg_dist_shard s JOIN pg_dist_placement p USING (shardid) "
                                      "JOIN pg_dist_node n USING (groupid) WHERE s.logicalrelid = 'finshard.accounts'::regclass"))
            port_of = {a: nodes[conn.execute("SELECT get_shard_id_for_distribution_column('finshard.accounts', %s::bigint)",
                                              (a,)).fetchone()[0]] for a in accounts}
        ports = sorted(set(port_of.values()))
        assert len(ports) == 2
        stop = threading.Event()
        acknowledged: dict[str, int] = {}
        lock = threading.Lock()

        def client(n: int) -> None:
            rng = random.Random(n)
            port = ports[n % 2]
            mine = [a for a in accounts if port_of[a] == port]
            theirs = [a for a in accounts if port_of[a] != port]
            node = next(x for x in cluster.nodes if x.port == port)
            i = 0
            while not stop.is_set():
                i += 1
                key = f"crash-{n}-{i}"
                src, dst = rng.choice(mine), rng.choice(theirs)
                try:
                    with psycopg.connect(node.dsn(), autocommit=True, connect_timeout=5) as worker:
                        tid = worker.execute("SELECT transfer_id FROM finshard.transfer(%s::bigint, %s::bigint, 1.00, %s)",
                                             (src, dst, key)).fetchone()[0]
                    with lock:
                        acknowledged[key] = tid
                except psycopg.Error:
                    time.sleep(0.05)  # a node down or in recovery: this transfer is in doubt, not acknowledged

        threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        pg_ctl = str(find_pg_bin() / "pg_ctl")
        try:
            for port in ports * 2:
                time.sleep(1.5)
                node = next(x for x in cluster.nodes if x.port == port)
                assert run_pg([pg_ctl, "-D", node.datadir, "-m", "immediate", "-w", "stop"]).returncode == 0
                time.sleep(0.5)
                cluster.start()
            time.sleep(1.5)
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=120)
        assert len(acknowledged) > 50
        with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
            # Each node settles the prepared transactions it started (the maintenance daemon does
            # it every minute; here at once).
            deadline = time.monotonic() + 60
            while True:
                for node in cluster.workers:
                    with psycopg.connect(node.dsn(), autocommit=True) as w:
                        w.execute("SELECT recover_prepared_transactions()")
                left = conn.execute("SELECT sum(n) FROM (SELECT result::int AS n FROM run_command_on_workers("
                                    "'SELECT count(*) FROM pg_prepared_xacts')) x").fetchone()[0]
                if left == 0 or time.monotonic() > deadline:
                    break
                time.sleep(1)
            assert left == 0
            assert conn.execute("SELECT sum(balance) FROM finshard.accounts WHERE account_id = ANY(%s)",
                                (accounts,)).fetchone()[0] == Decimal("1000.00") * len(accounts)
            rows = dict(conn.execute("SELECT idempotency_key, transfer_id FROM finshard.transfers WHERE idempotency_key LIKE 'crash-%'"))
            assert acknowledged.items() <= rows.items()
            legs = conn.execute("SELECT transfer_id, count(*) FROM finshard.transactions WHERE transfer_id = ANY(%s) "
                                "GROUP BY 1", (list(rows.values()),)).fetchall()
            assert len(legs) == len(rows) and all(n == 2 for _, n in legs)
            assert conn.execute("SELECT count(*) FROM finshard.transactions t WHERE t.account_id = ANY(%s) AND t.transfer_id IS NOT NULL "
                                "AND NOT t.transfer_id = ANY(%s)", (accounts, list(rows.values()))).fetchone()[0] == 0
            assert conn.execute("SELECT count(*) FROM finshard.ledger_verify()").fetchone()[0] == 0
    finally:
        Cluster.load(cluster.directory).down()
