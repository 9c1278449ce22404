"""AsyncRouter: the same routing, money calls, retries and sessions as Router, on asyncio, on plain
PostgreSQL and on Citus. Each test runs its coroutine with asyncio.run (no plugin needed)."""

from __future__ import annotations

import asyncio
import inspect
import threading
import time
import uuid
from decimal import Decimal
from typing import Any

import psycopg
import pytest

from finshard import AsyncRouter, Router, errors
from finshard.router import PROCEDURES
from tests.helpers import create_test_login, new_account, new_user


def test_async_router_has_a_coroutine_method_for_every_router_method() -> None:
    for proc in PROCEDURES:
        assert inspect.iscoroutinefunction(getattr(AsyncRouter, proc.name)), proc.name
        assert callable(getattr(Router, proc.name))


def test_async_router_calls_money_functions_and_raises_finshard_errors(db) -> None:  # type: ignore[no-untyped-def]
    with db.connect() as conn:
        a = new_account(conn, "USD", "50.00")
        b = new_account(conn, "USD")

    async def run() -> None:
        async with await AsyncRouter.connect(db.dsn) as r:
            out = await r.transfer(from_account_id=a, to_account_id=b, amount=Decimal("12.50"), idempotency_key="async-1")
            assert out["from_balance"] == Decimal("37.50") and out["to_balance"] == Decimal("12.50")
            # The same key again: the first result, nothing applied twice.
            assert await r.transfer(from_account_id=a, to_account_id=b, amount=Decimal("12.50"),
                                    idempotency_key="async-1") == out
            assert await r.balance(account_id=b) == Decimal("12.50")
            with pytest.raises(errors.InsufficientFunds) as info:
                await r.withdraw(account_id=b, amount=Decimal("100"))
            assert info.value.sqlstate == "FS013"
            with pytest.raises(TypeError):
                await r.deposit(account_id=a, amount=1.5)  # float money is refused
            with pytest.raises(errors.InvalidArgument):
                await r.deposit(account_id=26.6, amount=Decimal("1"))  # type: ignore[arg-type]
            statement = await r.account_statement(account_id=a, month=time.strftime("%Y-%m-01"))
            assert statement[-1]["balance"] == Decimal("37.50")
            assert (await r.execute("SELECT balance FROM finshard.accounts WHERE account_id = %s", (a,)))[0]["balance"] \
                == Decimal("37.50")

    asyncio.run(run())


def test_concurrent_async_transfers_keep_the_bank_whole(db) -> None:  # type: ignore[no-untyped-def]
    with db.connect() as conn:
        accounts = [new_account(conn, "USD", "100.00") for _ in range(10)]

    async def run() -> None:
        async with await AsyncRouter.connect(db.dsn, pool_size=4) as r:
            async def transfer(i: int) -> Any:
                src, dst = accounts[i % 10], accounts[(i * 7 + 3) % 10]
                if src == dst:
                    dst = accounts[(i + 1) % 10]
                return await r.transfer(from_account_id=src, to_account_id=dst, amount=Decimal("1.25"),
                                        idempotency_key=f"async-bank-{i}-{accounts[0]}")
            await asyncio.gather(*(transfer(i) for i in range(200)))

    asyncio.run(run())
    with db.connect() as conn:
        total = conn.execute("SELECT sum(balance) FROM finshard.accounts WHERE account_id = ANY(%s)", (accounts,)).fetchone()[0]
        moved = conn.execute("SELECT count(*) FROM finshard.transfers WHERE idempotency_key LIKE %s",
                             (f"async-bank-%-{accounts[0]}",)).fetchone()[0]
        problems = conn.execute("SELECT count(*) FROM finshard.ledger_verify()").fetchone()[0]
    assert total == Decimal("1000.00") and moved == 200 and problems == 0


@pytest.mark.citus
def test_async_call_runs_on_the_node_holding_the_shard(citus) -> None:  # type: ignore[no-untyped-def]
    # Citus gives each node's sequences their own range (group id << 48): the ledger id names the node.
    with citus.connect() as conn:
        accounts = [new_account(conn, "USD") for _ in range(12)]
        groups = dict(conn.execute("SELECT nodeport, groupid FROM pg_dist_node").fetchall())

    async def run() -> None:
        async with await AsyncRouter.connect(citus.dsn) as r:
            for acc in accounts:
                tx = (await r.deposit(account_id=acc, amount=Decimal("1.00")))["transaction_id"]
                node = r.shard_for(acc).node
                assert r.last_node == node
                assert tx >> 48 == groups[node.port], (acc, node)

    asyncio.run(run())


def test_a_killed_connection_mid_transfer_is_retried_and_applies_once(db) -> None:  # type: ignore[no-untyped-def]
    with db.connect() as conn:
        a = new_account(conn, "USD", "100.00")
        b = new_account(conn, "USD")
    key = f"async-kill-{uuid.uuid4().hex}"

    async def run() -> Any:
        async with await AsyncRouter.connect(db.dsn, backoff=0.2) as r:
            node_dsn = r.node_dsn(r.shard_for(a).node)
            blocker = psycopg.connect(db.dsn)
            blocker.execute("SELECT 1 FROM finshard.accounts WHERE account_id = %s FOR UPDATE", (a,))

            def kill() -> None:
                with psycopg.connect(node_dsn, autocommit=True) as admin:
                    for _ in range(200):
                        row = admin.execute("SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                            "AND query LIKE '%%finshard.transfer%%' AND pid <> pg_backend_pid()").fetchone()
                        if row:
                            admin.execute("SELECT pg_terminate_backend(%s::int)", (row[0],))
                            break
                        time.sleep(0.05)
                blocker.rollback()
                blocker.close()

            killer = threading.Thread(target=kill)
            killer.start()
            try:
                return await r.transfer(from_account_id=a, to_account_id=b, amount=Decimal("10.00"), idempotency_key=key)
            finally:
                killer.join(30)

    out = asyncio.run(run())
    assert out["to_balance"] == Decimal("10.00")
    with db.connect() as conn:
        assert conn.execute("SELECT count(*) FROM finshard.transfers WHERE idempotency_key = %s", (key,)).fetchone()[0] == 1


@pytest.mark.citus
def test_an_unreachable_worker_falls_back_to_the_coordinator(citus) -> None:  # type: ignore[no-untyped-def]
    with citus.connect() as conn:
        acc = new_account(conn, "USD")

    async def run() -> None:
        async with await AsyncRouter.connect(citus.dsn) as probe:
            node = probe.shard_for(acc).node
        async with await AsyncRouter.connect(citus.dsn, backoff=0.01,
                                             node_dsns={str(node): "postgresql://postgres@127.0.0.1:1/finshard"}) as r:
            assert (await r.deposit(account_id=acc, amount=Decimal("3.00")))["balance"] == Decimal("3.00")

    asyncio.run(run())


def test_the_async_router_carries_the_session(db) -> None:  # type: ignore[no-untyped-def]
    with db.connect() as conn:
        uid = new_user(conn)
        name = conn.execute("SELECT username FROM finshard.users WHERE user_id = %s", (uid,)).fetchone()[0]
        mine = conn.execute("SELECT finshard.open_account(%s::bigint)", (uid,)).fetchone()[0]
        other = new_account(conn, "USD")
        app = f"aapp{uuid.uuid4().hex[:8]}"
        create_test_login(conn, db, app, "finshard_app")

    async def run() -> None:
        async with await AsyncRouter.connect(db.dsn.replace("postgres@", f"{app}@")) as r:
            token = (await r.login(login=name, password="correct horse"))["token"]
            me = r.session(token)
            assert (await me.deposit(account_id=mine, amount=Decimal("10")))["balance"] == 10
            await me.transfer(from_account_id=mine, to_account_id=other, amount=Decimal("3"))
            with pytest.raises(errors.NotOwner):
                await me.withdraw(account_id=other, amount=Decimal("1"))
            with pytest.raises(errors.SessionRequired):
                await r.balance(account_id=mine)
            await me.logout()
            with pytest.raises(errors.SessionRevoked):
                await me.balance(account_id=mine)

    try:
        asyncio.run(run())
    finally:
        with db.connect() as conn:
            conn.execute(f"DROP ROLE {app}")
