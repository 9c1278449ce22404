"""Issue 4: the router is exact (Citus' shard choice), direct (the call runs on the shard's node),
safe (a retried write applies once) and works through pgbouncer."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest

from finshard import errors
from finshard.router import PROCEDURES, Router
from finshard import AsyncRouter
from finshard.sharding_logic import uniform_ranges
from tests.helpers import new_account, new_user

ROOT = Path(__file__).resolve().parent.parent


def test_the_generated_interface_matches_a_fresh_install(plain):
    """tools/generate_api.py writes the routing specs, the typed methods of both routers and the
    error classes from the catalog; regenerated from this install, nothing may differ."""
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import generate_api
    finally:
        sys.path.remove(str(ROOT / "tools"))
    stale = [str(path.relative_to(ROOT)) for path, content in generate_api.generate(plain.dsn).items()
             if path.read_text() != content]
    assert not stale, f"stale: {stale}; run: python tools/generate_api.py --dsn DSN"
    # Keyword-only and typed: a positional call is refused by Python itself, with the name.
    with pytest.raises(TypeError, match="positional"):
        Router.transfer(object(), 1, 2)  # type: ignore[arg-type, misc]
    assert all(callable(getattr(Router, p.name)) for p in PROCEDURES)


def test_router_calls_money_functions_with_decimals_and_raises_finshard_errors(db):
    with db.connect() as conn:
        a = new_account(conn, "USD", "50.00")
        b = new_account(conn, "USD")
    with Router.connect(db.dsn) as r:
        out = r.transfer(from_account_id=a, to_account_id=b, amount=Decimal("12.50"), idempotency_key="router-1")
        assert out["from_balance"] == Decimal("37.50") and out["to_balance"] == Decimal("12.50")
        assert r.transfer(from_account_id=a, to_account_id=b, amount=Decimal("12.50"), idempotency_key="router-1") == out
        assert r.balance(account_id=b) == Decimal("12.50")
        with pytest.raises(errors.InsufficientFunds) as info:
            r.withdraw(account_id=b, amount=Decimal("100"))
        assert info.value.sqlstate == "FS013" and info.value.hint
        with pytest.raises(TypeError):
            r.deposit(account_id=a, amount=1.5)  # float money is refused
        # None for a parameter without a default is NULL, which the function names; a bool is no amount.
        for call, code in ((lambda: r.call("transfer", from_account_id=a, to_account_id=b, amount=None), "FS001"),
                           (lambda: r.call("balance", account_id=None), "FS001"),
                           (lambda: r.call("deposit", account_id=a, amount=True), "FS005")):
            with pytest.raises(errors.FinshardError) as err:
                call()
            assert err.value.sqlstate == code
        assert r.balance(account_id=a) == Decimal("37.50")
        statement = r.account_statement(account_id=a, month=time.strftime("%Y-%m-01"))
        assert statement[-1]["balance"] == Decimal("37.50")


@pytest.mark.citus
def test_shard_for_equals_citus_for_thousands_of_accounts(citus):
    ids = list(range(-500, 2500)) + [2**62, -(2**62), 2**63 - 1]
    with citus.connect() as conn:
        expected = dict(conn.execute("SELECT v, get_shard_id_for_distribution_column('finshard.accounts', v) "
                                     "FROM unnest(%s::bigint[]) v", (ids,)).fetchall())
        mins = [r[0] for r in conn.execute("SELECT shardminvalue::int FROM pg_dist_shard WHERE logicalrelid = 'finshard.accounts'::regclass ORDER BY 1")]
    with Router.connect(citus.dsn) as r:
        assert all(r.shard_for(v).shard_id == expected[v] for v in ids)
        if len(mins) == 8:
            assert mins == [lo for lo, _hi in uniform_ranges(8)]


@pytest.mark.citus
def test_call_runs_on_the_node_holding_the_shard(citus):
    """Server-side evidence: Citus gives each node's sequences their own range (group id << 48),
    so the ledger id a deposit generates names the node that ran the function."""
    with citus.connect() as conn:
        accounts = [new_account(conn, "USD") for _ in range(12)]
        groups = dict(conn.execute("SELECT nodeport, groupid FROM pg_dist_node").fetchall())
    with Router.connect(citus.dsn) as r:
        for acc in accounts:
            tx = r.deposit(account_id=acc, amount=Decimal("1.00"))["transaction_id"]
            node = r.shard_for(acc).node
            assert tx >> 48 == groups[node.port], (acc, node)


@pytest.mark.citus
def test_router_follows_a_shard_split_and_a_shard_move(citus):
    with citus.connect() as conn:
        accounts = [new_account(conn, "USD", "5.00") for _ in range(30)]
        shard, lo, hi, node_id = conn.execute(
            "SELECT s.shardid, s.shardminvalue::int, s.shardmaxvalue::int, n.nodeid FROM pg_dist_shard s "
            "JOIN pg_dist_placement p USING (shardid) JOIN pg_dist_node n USING (groupid) "
            "WHERE s.logicalrelid = 'finshard.accounts'::regclass ORDER BY s.shardmaxvalue::int - s.shardminvalue::int DESC LIMIT 1").fetchone()
        split_at = lo + (hi - lo) // 3  # a non-uniform range
        conn.execute("SELECT citus_split_shard_by_split_points(%s, ARRAY[%s::text], ARRAY[%s, %s], shard_transfer_mode => 'block_writes')",
                     (shard, str(split_at), node_id, node_id))
        moved, src_name, src_port = conn.execute(
            "SELECT s.shardid, n.nodename, n.nodeport FROM pg_dist_shard s JOIN pg_dist_placement p USING (shardid) "
            "JOIN pg_dist_node n USING (groupid) WHERE s.logicalrelid = 'finshard.accounts'::regclass AND n.groupid > 0 "
            "ORDER BY s.shardid LIMIT 1").fetchone()
        dst_port = conn.execute("SELECT nodeport FROM pg_dist_node WHERE groupid > 0 AND nodeport <> %s LIMIT 1", (src_port,)).fetchone()[0]
        conn.execute("SELECT citus_move_shard_placement(%s, %s, %s, %s, %s, shard_transfer_mode => 'block_writes')",
                     (moved, src_name, src_port, src_name, dst_port))
        ids = accounts + list(range(1, 3000, 3))
        expected = dict(conn.execute("SELECT v, get_shard_id_for_distribution_column('finshard.accounts', v) FROM unnest(%s::bigint[]) v", (ids,)).fetchall())
    with Router.connect(citus.dsn) as r:
        assert all(r.shard_for(v).shard_id == expected[v] for v in ids)
        groups = {}
        with citus.connect() as conn:
            groups = dict(conn.execute("SELECT nodeport, groupid FROM pg_dist_node").fetchall())
        for acc in accounts:
            out = r.deposit(account_id=acc, amount=Decimal("1.00"))
            assert out["transaction_id"] >> 48 == groups[r.shard_for(acc).node.port]


@pytest.mark.citus
def test_router_refreshes_after_a_shard_moves_under_it(citus):
    with citus.connect() as conn:
        acc = new_account(conn, "USD", "10.00")
    with Router.connect(citus.dsn) as r:
        before = r.shard_for(acc)
        with citus.connect() as conn:
            name, port = before.node.host, before.node.port
            dst = conn.execute("SELECT nodeport FROM pg_dist_node WHERE groupid > 0 AND nodeport <> %s LIMIT 1", (port,)).fetchone()[0]
            conn.execute("SELECT citus_move_shard_placement(%s, %s, %s, %s, %s, shard_transfer_mode => 'block_writes')",
                         (before.shard_id, name, port, name, dst))
        # The cached topology is stale; the call still lands (workers route it) and refresh() catches up.
        assert r.deposit(account_id=acc, amount=Decimal("1.00"))["balance"] == Decimal("11.00")
        assert r.refresh() and r.shard_for(acc).node.port == dst


@pytest.mark.citus
def test_a_shard_moves_online_by_logical_replication(citus):
    """Citus' default shard move (logical replication) needs every table of the colocation
    group to have a replica identity; the account's money and queued notifications move with it."""
    with citus.connect() as conn:
        acc = new_account(conn, "USD", "10.00")
        conn.execute("SELECT finshard.set_notify_delivery('deferred')")
        try:
            conn.execute("SELECT finshard.deposit(%s::bigint, 1)", (acc,))  # queued in the outbox
        finally:
            conn.execute("SELECT finshard.set_notify_delivery('auto')")
        shard, name, port = conn.execute(
            "SELECT s.shardid, n.nodename, n.nodeport FROM pg_dist_shard s JOIN pg_dist_placement p USING (shardid) "
            "JOIN pg_dist_node n USING (groupid) WHERE s.logicalrelid = 'finshard.accounts'::regclass "
            "AND s.shardid = get_shard_id_for_distribution_column('finshard.accounts', %s::bigint)", (acc,)).fetchone()
        dst = conn.execute("SELECT nodeport FROM pg_dist_node WHERE groupid > 0 AND nodeport <> %s LIMIT 1", (port,)).fetchone()[0]
        conn.execute("SELECT citus_move_shard_placement(%s, %s, %s, %s, %s)", (shard, name, port, name, dst))
        assert conn.execute("SELECT finshard.balance(%s::bigint)", (acc,)).fetchone()[0] == Decimal("11.00")
        assert conn.execute("SELECT count(*) FROM finshard.notification_outbox WHERE account_id = %s", (acc,)).fetchone()[0] == 1
        assert conn.execute("SELECT finshard.dispatch_notifications()").fetchone()[0] >= 1


def test_killed_connection_mid_transfer_is_retried_and_applies_once(db):
    with db.connect() as conn:
        a = new_account(conn, "USD", "100.00")
        b = new_account(conn, "USD")
    with Router.connect(db.dsn, backoff=0.2) as r:
        node_dsn = r.node_dsn(r.shard_for(a).node)
        blocker = psycopg.connect(db.dsn)
        blocker.execute("SELECT 1 FROM finshard.accounts WHERE account_id = %s FOR UPDATE", (a,))
        result: dict[str, object] = {}
        t = threading.Thread(target=lambda: result.setdefault("out", r.transfer(
            from_account_id=a, to_account_id=b, amount=Decimal("10.00"), idempotency_key="kill-me")))
        t.start()
        with psycopg.connect(node_dsn, autocommit=True) as admin:
            victim = None
            for _ in range(100):
                row = admin.execute("SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                    "AND query LIKE '%%finshard.transfer%%' AND pid <> pg_backend_pid()").fetchone()
                if row:
                    victim = row[0]
                    break
                time.sleep(0.05)
            assert victim, "the transfer never waited on the lock"
            admin.execute("SELECT pg_terminate_backend(%s::int)", (victim,))
        blocker.rollback()
        blocker.close()
        t.join(30)
        assert "out" in result
    with db.connect() as conn:
        assert conn.execute("SELECT count(*) FROM finshard.transfers WHERE idempotency_key = 'kill-me'").fetchone()[0] == 1
        assert conn.execute("SELECT finshard.balance(%s::bigint)", (b,)).fetchone()[0] == Decimal("10.00")


def test_pooled_connection_ended_while_idle_is_replaced_before_the_call(db):
    # freeze_account is a write without an idempotency key: the router never retries it, so it
    # succeeds only if the pool's checkout notices the dead connection and hands out a new one.
    with db.connect() as conn:
        a = new_account(conn, "USD")
    with Router.connect(db.dsn, pool_size=1) as r:
        r.balance(account_id=a)
        node_dsn = r.node_dsn(r.shard_for(a).node)
        with psycopg.connect(node_dsn, autocommit=True) as admin:
            ended = admin.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                  "WHERE application_name = '' AND backend_type = 'client backend' "
                                  "AND state = 'idle' AND pid <> pg_backend_pid() "
                                  "AND query LIKE '%%finshard.balance%%'").fetchone()[0]
        assert ended >= 1
        time.sleep(0.2)
        r.freeze_account(account_id=a, reason="idle connection test")
    with db.connect() as conn:
        assert conn.execute("SELECT status FROM finshard.accounts WHERE account_id = %s::bigint", (a,)).fetchone()[0] == "frozen"


def test_router_works_when_the_application_holds_over_a_thousand_descriptors(plain):
    # select() refuses descriptors above 1023; the pool's checkout must not depend on it.
    import os
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 1200:
        pytest.fail(f"this machine allows only {hard} open files; the test needs 1200")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 1200) if soft != resource.RLIM_INFINITY else soft, hard))
    held = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
    try:
        with plain.connect() as conn:
            a = new_account(conn, "USD", "5.00")
        with Router.connect(plain.dsn, pool_size=1) as r:
            for _ in range(3):
                r.balance(account_id=a)
            assert r.deposit(account_id=a, amount=Decimal("1.00"))["balance"] == Decimal("6.00")
    finally:
        for fd in held:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@pytest.mark.citus
def test_unreachable_worker_falls_back_to_the_coordinator(citus):
    with citus.connect() as conn:
        acc = new_account(conn, "USD")
    with Router.connect(citus.dsn) as probe:
        node = probe.shard_for(acc).node
    with Router.connect(citus.dsn, node_dsns={str(node): "postgresql://postgres@127.0.0.1:1/finshard"}, backoff=0.01) as r:
        assert r.deposit(account_id=acc, amount=Decimal("3.00"))["balance"] == Decimal("3.00")


@pytest.fixture(scope="module")
def bounced(request):
    """The session's cluster with a real pgbouncer (transaction pooling) in front of every node."""
    from finshard.local import pgbouncer
    from tests.conftest import CITUS
    db = request.getfixturevalue("citus" if CITUS else "plain")
    pgbouncer.start_all(db.cluster)
    yield db
    pgbouncer.stop_all(db.cluster)


@pytest.mark.pgbouncer
def test_money_flows_through_pgbouncer(bounced):
    cluster = bounced.cluster
    node_dsns = {f"127.0.0.1:{n.port}": n.dsn(via_pgbouncer=True) for n in cluster.nodes}
    with Router.connect(cluster.dsn(via_pgbouncer=True), node_dsns=node_dsns, prepare=False) as r:
        user = r.create_user(username=f"bouncer{time.time_ns()}", email=f"b{time.time_ns()}@example.com", password="password123")
        a = r.open_account(user_id=user)
        b = r.open_account(user_id=user, currency="USD", account_type="savings")
        for i in range(20):  # enough calls to reuse pooled server connections
            r.deposit(account_id=a, amount=Decimal("5.00"), idempotency_key=f"pgb-d{i}")
            r.transfer(from_account_id=a, to_account_id=b, amount=Decimal("2.50"), idempotency_key=f"pgb-t{i}")
        assert r.balance(account_id=a) == Decimal("50.00") and r.balance(account_id=b) == Decimal("50.00")
        with pytest.raises(errors.SameAccount):
            r.transfer(from_account_id=a, to_account_id=a, amount=Decimal("1"))


@pytest.mark.pgbouncer
def test_a_session_works_through_pgbouncer_in_transaction_pooling(bounced):
    """The token is an argument, so it travels with each call whichever pooled server connection
    runs it (a session setting would stay behind on the connection, or go to another client)."""
    cluster = bounced.cluster
    node_dsns = {f"127.0.0.1:{n.port}": n.dsn(via_pgbouncer=True) for n in cluster.nodes}
    with Router.connect(cluster.dsn(via_pgbouncer=True), node_dsns=node_dsns, prepare=False) as r:
        name = f"bsess{time.time_ns()}"
        user = r.create_user(username=name, email=f"{name}@example.com", password="password123")
        mine = r.open_account(user_id=user)
        other = r.open_account(user_id=r.create_user(username=name + "x", email=f"{name}x@example.com", password="password123"))
        me = r.session(r.login(login=name, password="password123")["token"])
        for i in range(10):  # enough calls to reuse pooled server connections
            me.deposit(account_id=mine, amount=Decimal("5.00"), idempotency_key=f"{name}-d{i}")
            with pytest.raises(errors.NotOwner):
                me.deposit(account_id=other, amount=Decimal("5.00"))
        assert me.balance(account_id=mine) == Decimal("50.00") and r.balance(account_id=other) == 0
        me.logout()
        with pytest.raises(errors.SessionRevoked):
            me.balance(account_id=mine)


@pytest.mark.pgbouncer
@pytest.mark.citus
def test_nodes_reach_each_other_through_pgbouncer_and_keep_their_backends(bounced):
    # Through the coordinator, a cross-node transfer runs on the source's worker in a backend
    # where Citus caches no connection: each transfer connects to the other worker again. With
    # pg_dist_poolinfo those connections go to that worker's pgbouncer (session pooling), which
    # hands out a backend that is already warm instead of starting a new one.
    from finshard.local import pgbouncer

    cluster = bounced.cluster
    if not cluster.citus:
        pytest.skip("node-to-node pooling is a Citus feature")
    with bounced.connect() as conn:
        accounts = [new_account(conn, "USD", "100.00") for _ in range(12)]
        # Earlier tests split and move shards: make sure both workers hold some of these accounts.
        with Router.connect(cluster.dsn()) as r:
            if len({r.shard_for(a).node for a in accounts}) < 2:
                loc = r.shard_for(accounts[0])
                other = conn.execute("SELECT nodeport FROM pg_dist_node WHERE groupid > 0 AND nodeport <> %s LIMIT 1",
                                     (loc.node.port,)).fetchone()[0]
                conn.execute("SELECT citus_move_shard_placement(%s, %s, %s, %s, %s, shard_transfer_mode => 'block_writes')",
                             (loc.shard_id, loc.node.host, loc.node.port, loc.node.host, other))
    with Router.connect(cluster.dsn()) as r:
        by_node: dict[str, list[int]] = {}
        for acc in accounts:
            by_node.setdefault(str(r.shard_for(acc).node), []).append(acc)
    assert len(by_node) == 2, by_node
    (src_node, sources), (dst_node, targets) = sorted(by_node.items())
    dst = next(n for n in cluster.nodes if f"127.0.0.1:{n.port}" == dst_node)
    pgbouncer.set_node_pooling(cluster, True)
    for node in cluster.nodes:
        with psycopg.connect(node.dsn(), autocommit=True) as conn:
            infos = [row[0] for row in conn.execute("SELECT poolinfo FROM pg_dist_poolinfo")]
        assert len(infos) == len(cluster.nodes) and all("dbname=finshard_nodes" in i for i in infos), infos

    def bouncer_transactions() -> int:
        admin_dsn = psycopg.conninfo.make_conninfo(dst.dsn(via_pgbouncer=True), dbname="pgbouncer")
        with psycopg.connect(admin_dsn, autocommit=True) as admin:
            cur = admin.cursor()
            cur.execute("SHOW STATS")
            names = [d.name for d in cur.description]
            return sum(row[names.index("total_xact_count")] for row in cur.fetchall()
                       if row[names.index("database")] == pgbouncer.INTERNODE_DATABASE)

    def sessions() -> int:
        with psycopg.connect(dst.dsn(), autocommit=True) as conn:
            return conn.execute("SELECT sessions FROM pg_stat_database WHERE datname = current_database()").fetchone()[0]

    before_tx, before_sessions = bouncer_transactions(), sessions()
    with bounced.connect() as conn:  # the coordinator, directly: the DBA's path
        for i in range(30):
            conn.execute("SELECT finshard.transfer(%s::bigint, %s::bigint, 1.00)", (sources[i % len(sources)], targets[i % len(targets)]))
    assert bouncer_transactions() - before_tx >= 30
    assert sessions() - before_sessions < 15  # without the pool: one new backend per transfer

    # Shard moves still work in the mode the README names for this setting (block_writes).
    with bounced.connect() as conn, Router.connect(cluster.dsn()) as r:
        loc = r.shard_for(sources[0])
        conn.execute("SELECT citus_move_shard_placement(%s, %s, %s, %s, %s, shard_transfer_mode => 'block_writes')",
                     (loc.shard_id, loc.node.host, loc.node.port, loc.node.host, dst.port))
        conn.execute("SELECT finshard.transfer(%s::bigint, %s::bigint, 1.00)", (sources[0], targets[0]))

    pgbouncer.set_node_pooling(cluster, False)
    with psycopg.connect(dst.dsn(), autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM pg_dist_poolinfo").fetchone()[0] == 0
    with bounced.connect() as conn:  # direct connections again, still correct
        out = conn.execute("SELECT to_balance FROM finshard.transfer(%s::bigint, %s::bigint, 1.00)",
                           (sources[0], targets[0])).fetchone()[0]
        assert out == conn.execute("SELECT balance FROM finshard.accounts WHERE account_id = %s", (targets[0],)).fetchone()[0]


@pytest.mark.citus
def test_sql_routing_decisions(citus):
    with Router.connect(citus.dsn) as r:
        acc_route = r.explain_route("SELECT * FROM finshard.accounts WHERE account_id = %s AND status = 'active'", [42])
        assert acc_route.kind == "single_shard" and acc_route.node == r.shard_for(42).node
        named = r.explain_route("UPDATE finshard.orders SET status = 'x' WHERE order_id = 1 AND account_id = %(acc)s", {"acc": 7})
        assert named.kind == "single_shard" and named.value == 7
        ins = r.explain_route("INSERT INTO finshard.notifications (account_id, user_id, kind, message) VALUES (%s, 1, 'account', 'hi')", [99])
        assert ins.kind == "single_shard" and ins.node == r.shard_for(99).node
        assert r.explain_route("SELECT count(*) FROM finshard.transactions").kind == "fan_out"
        assert r.explain_route("SELECT * FROM finshard.accounts WHERE account_id = 1 OR account_id = 2").kind == "fan_out"
        assert r.explain_route("SELECT * FROM finshard.instruments WHERE symbol = 'AAPL'").kind == "reference"
        join = r.explain_route("SELECT * FROM finshard.orders o JOIN finshard.instruments i USING (instrument_id) WHERE o.account_id = 5")
        assert join.kind == "single_shard"
        # A call of a function Citus delegates by its account: that account's node.
        for sql, params in (("SELECT * FROM finshard.transfer(%s, 5, 10.00, 'k')", [42]),
                            ("SELECT finshard.balance(p_account_id => %s::bigint)", [42]),
                            ("SELECT * FROM finshard.deposit(p_amount => 1, p_account_id => 42)", None)):
            call = r.explain_route(sql, params)
            assert call.kind == "single_shard" and call.value == 42 and call.node == r.shard_for(42).node, (sql, call)
        assert r.explain_route("SELECT finshard.transfer(%s, 5, 1)", [None]).kind == "coordinator"
        assert r.explain_route("SELECT finshard.create_instrument('X', 'Y')").kind == "coordinator"
        with pytest.raises(errors.UnparsableSQL):
            r.explain_route("SELEKT * FROM nowhere where")
        for garbage in ("SELEC garbage", "garbage", "1 + 1"):  # expressions sqlglot accepts, no statement
            with pytest.raises(errors.UnparsableSQL, match="is not a statement"):
                r.explain_route(garbage)
        for command in ("LISTEN finshard_events", "DISCARD ALL", "CHECKPOINT", "START TRANSACTION"):  # read the same way
            assert r.explain_route(command).kind == "coordinator", command
        with citus.connect() as conn:
            acc = new_account(conn, "USD", "1.00")
        rows = r.execute("SELECT balance FROM finshard.accounts WHERE account_id = %s", [acc])
        assert rows == [{"balance": Decimal("1.0000")}]


@pytest.mark.citus
def test_routed_sql_does_not_grow_the_workers_session(citus):
    # A prepared single-shard statement leaks a local plan per execution on Citus 13.2, so the
    # router does not prepare on Citus; its pooled connection to the worker must stay flat.
    with citus.connect() as conn:
        acc = new_account(conn, "USD", "1.00")
    memory = "SELECT sum(total_bytes) FROM pg_backend_memory_contexts"
    sql = "SELECT balance FROM finshard.accounts WHERE account_id = %s"
    with Router.connect(citus.dsn, pool_size=1) as r:
        node = r.shard_for(acc).node
        assert r.explain_route(sql, [acc]).node == node
        for _ in range(20):
            r.execute(sql, [acc])
        with r._pool(node).connection() as conn:  # the same pooled connection (pool_size=1)
            before = conn.execute(memory).fetchone()[0]
        for _ in range(300):
            assert r.execute(sql, [acc]) == [{"balance": Decimal("1.0000")}]
        with r._pool(node).connection() as conn:
            grown = conn.execute(memory).fetchone()[0] - before
    assert grown < 2 * 1024 * 1024, f"the worker's session grew by {grown / 10**6:.1f} MB over 300 routed statements"


def test_sql_routing_on_plain_postgres_is_one_node(plain):
    with Router.connect(plain.dsn) as r:
        assert r.explain_route("SELECT * FROM finshard.accounts WHERE account_id = 1").kind == "local"
        assert r.shard_for(1).node == r.topology.coordinator


def test_cli_shard_and_route(db):
    def cli(*args):
        return subprocess.run([sys.executable, "-m", "finshard.cli", *args, "--dsn", db.dsn], capture_output=True, text=True, cwd=ROOT)
    shard = json.loads(cli("shard", "12345", "--json").stdout)
    with Router.connect(db.dsn) as r:
        loc = r.shard_for(12345)
    assert shard["shard_id"] == loc.shard_id and shard["node"] == str(loc.node) and shard["hash"] == loc.hash
    res = cli("route", "SELECT * FROM finshard.accounts WHERE account_id = 12345")
    assert res.returncode == 0 and str(loc.node) in res.stdout
    bad = cli("route", "SELEKT nonsense (")
    assert bad.returncode != 0 and "Traceback" not in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    # A value for each %s: none missing, none left over.
    pinned = cli("route", "SELECT * FROM finshard.accounts WHERE account_id = %s", "--param", "12345")
    assert pinned.returncode == 0 and str(loc.node) in pinned.stdout
    for sql, params in (("SELECT * FROM finshard.accounts WHERE account_id = %s", ("12345", "5")),
                        ("SELECT * FROM finshard.accounts WHERE account_id = %s AND currency LIKE '%%D'", ())):
        if not params:
            assert cli("route", sql).returncode == 0  # no values: nothing is bound, the statement is not pinned
            params = ("1", "2")
        res = cli("route", sql, *(x for p in params for x in ("--param", p)))
        assert res.returncode != 0 and "placeholder" in res.stderr and len(res.stderr.strip().splitlines()) == 1


def test_cli_bench_measures_transfers_side_by_side(db):
    """finshard bench: finshard.transfer against pgbench's tpcb-like on the same server, one run;
    on Citus also same-node against cross-node transfers (refused with a reason on one node)."""
    def cli(*args):
        return subprocess.run([sys.executable, "-m", "finshard.cli", "bench", *args, "--dsn", db.dsn, "--seconds", "1",
                               "--clients", "2", "--rounds", "1", "--accounts", "24", "--json"],
                              capture_output=True, text=True, cwd=ROOT)
    res = cli("transfer", "--scale", "1")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["tpcb_like_tps"] > 0 and out["finshard_transfer_no_dispatcher_tps"] > 0 and out["ratio_no_dispatcher"] > 0
    nodes = cli("nodes")
    if db.citus:
        assert nodes.returncode == 0, nodes.stderr
        assert json.loads(nodes.stdout)["direct_cross_node_tps"] > 0
    else:
        assert nodes.returncode != 0 and "Citus" in nodes.stderr and len(nodes.stderr.strip().splitlines()) == 1


def test_money_inside_a_json_result_arrives_as_decimal(db):
    """user_analytics answers jsonb: its sums must not pass through a float (1e18-scale sums lose cents)."""
    with db.connect() as conn:
        user = new_user(conn)
        acc = conn.execute("SELECT finshard.open_account(%s::bigint, 'USD')", (user,)).fetchone()[0]
        for amount in ("100000000000000000.01", "0.10", "0.20"):
            conn.execute("SELECT finshard.deposit(%s::bigint, %s::numeric)", (acc, Decimal(amount)))
    since, until = "2000-01-01", "2100-01-01"
    with Router.connect(db.dsn) as r:
        report = r.user_analytics(user_id=user, from_=since, to=until)
    deposits = next(g for g in report["by_type"] if g["transaction_type"] == "deposit")
    assert deposits["sum"] == Decimal("100000000000000000.31") and isinstance(deposits["max"], Decimal)

    async def run() -> Any:
        async with await AsyncRouter.connect(db.dsn) as ar:
            return await ar.user_analytics(user_id=user, from_=since, to=until)
    assert asyncio.run(run()) == report


def test_pgbouncer_config_is_not_written_into_a_data_directory(plain, scratch):
    from tests.test_cli_cluster import assert_one_line_error, run

    directory = plain.cluster.directory
    inside = Path(plain.cluster.nodes[0].datadir) / "pgbouncer-out"
    assert_one_line_error(run("pgbouncer", "config", "--dir", str(directory), "--out", str(inside)), "inside", "data directory")
    assert not inside.exists()
    out = scratch("finshard-pgb-") / "conf"
    res = run("pgbouncer", "config", "--dir", str(directory), "--out", str(out))
    assert res.returncode == 0, res.stderr
    assert (out / "userlist.txt").exists()
