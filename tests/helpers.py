"""Small helpers shared by the tests: users and funded accounts, and a snapshot of what a
rejected call must leave unchanged."""

from __future__ import annotations

import uuid
from contextlib import contextmanager
from decimal import Decimal
from typing import Any, Callable, Iterator

import psycopg
import pytest

from finshard.errors import translate


def new_user(conn: psycopg.Connection, prefix: str = "t") -> int:
    name = f"{prefix}{uuid.uuid4().hex[:12]}"
    return conn.execute("SELECT finshard.create_user(%s, %s, %s)", (name, f"{name}@example.com", "correct horse")).fetchone()[0]


def new_account(conn: psycopg.Connection, currency: str = "USD", deposit: Decimal | str | None = None,
                account_type: str = "cash") -> int:
    user = new_user(conn)
    acc = conn.execute("SELECT finshard.open_account(%s::bigint, %s, %s)", (user, currency, account_type)).fetchone()[0]
    if deposit is not None:
        conn.execute("SELECT finshard.deposit(%s::bigint, %s::numeric)", (acc, Decimal(deposit)))
    return acc


def snapshot(conn: psycopg.Connection) -> dict[str, Any]:
    """Everything a rejected call must leave as it was: balances, reservations, row counts."""
    return {
        "accounts": conn.execute("SELECT account_id, balance, reserved, status, entry_seq, audit_seq FROM finshard.accounts ORDER BY 1").fetchall(),
        "counts": conn.execute(
            "SELECT (SELECT count(*) FROM finshard.transactions), (SELECT count(*) FROM finshard.audit_log), "
            "(SELECT count(*) FROM finshard.transfers), (SELECT count(*) FROM finshard.orders), "
            "(SELECT count(*) FROM finshard.trades), (SELECT count(*) FROM finshard.notifications), "
            "(SELECT count(*) FROM finshard.users), (SELECT count(*) FROM finshard.idempotency_keys), "
            "(SELECT count(*) FROM finshard.positions), (SELECT count(*) FROM finshard.instruments), "
            "(SELECT count(*) FROM finshard.price_alerts)").fetchone(),
    }


@contextmanager
def scratch_database(server: Any, name: str) -> Iterator[str]:
    """A fresh, empty database ``name`` on the test server ``server`` for the block; its dsn.
    Dropped afterwards, whatever the block left connected to it."""
    with server.connect() as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")
    try:
        yield psycopg.conninfo.make_conninfo(server.dsn, dbname=name)
    finally:
        with server.connect() as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def assert_rejected(conn: psycopg.Connection, sql: str, params: Any, sqlstate: str,
                    state: Callable[[psycopg.Connection], Any] = snapshot) -> psycopg.Error:
    """The call raises ``sqlstate`` with a hint, leaves ``state`` as it was, and translate() gives that
    code's class; returns the error."""
    before = state(conn)
    with pytest.raises(psycopg.Error) as info:
        conn.execute(sql, params)
    assert info.value.sqlstate == sqlstate, info.value.diag.message_primary
    assert info.value.diag.message_hint, "every finshard error carries a hint"
    assert state(conn) == before
    assert type(translate(info.value)).sqlstate == sqlstate
    return info.value


TEST_LOGIN_PASSWORD = "finshard-test-login-password"


@contextmanager
def scratch_login(server: Any, dsn: str, name: str, *groups: str) -> Iterator[str]:
    """A fresh login ``name`` in ``groups`` on database ``dsn`` of ``server`` (create_test_login) for
    the block; its DSN. Dropped afterwards with what it owns."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"DROP ROLE IF EXISTS {name}")
        create_test_login(conn, server, name, *groups)
    try:
        yield psycopg.conninfo.make_conninfo(dsn, user=name)
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f"DROP OWNED BY {name}")
            conn.execute(f"DROP ROLE {name}")


def create_test_login(conn: psycopg.Connection, server: Any, name: str, *groups: str) -> None:
    """CREATE ROLE name LOGIN in ``groups`` that can log in over TLS with SCRAM like an application:
    a password, listed in the cluster's password file (so DSNs naming the user connect), and on
    Citus the password Citus' node-to-node connections use for it."""
    from finshard.ops.roles import _set_authinfo

    in_role = f" IN ROLE {', '.join(groups)}" if groups else ""
    conn.execute(f"CREATE ROLE {name} LOGIN PASSWORD '{TEST_LOGIN_PASSWORD}'{in_role}")
    passfile = psycopg.conninfo.conninfo_to_dict(server.dsn).get("passfile")
    if passfile:
        with open(passfile, "a") as f:
            f.write(f"127.0.0.1:*:*:{name}:{TEST_LOGIN_PASSWORD}\n")
    if server.citus:
        _set_authinfo(conn, server.dsn, name, TEST_LOGIN_PASSWORD)
