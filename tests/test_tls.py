"""Issue 17: TLS on every hop and SCRAM passwords on local clusters (the default), and --no-tls."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from finshard.local.cluster import Cluster
from finshard.ops.roles import create_login
from finshard.router import Router
from tests.helpers import new_account

ROOT = Path(__file__).resolve().parent.parent
SYSTEM_CAS = "/etc/ssl/certs/ca-certificates.crt"


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "finshard.cli", *args], capture_output=True, text=True, cwd=ROOT,
                          env=dict(os.environ), timeout=300)


def test_the_dsn_verifies_the_server_and_keeps_the_password_out_of_sight(db):
    info = conninfo_to_dict(db.dsn)
    assert info["sslmode"] == "verify-full" and info["sslrootcert"].endswith("/tls/ca.crt")
    assert "password" not in info and Path(info["passfile"]).stat().st_mode & 0o077 == 0
    with db.connect() as conn:
        assert conn.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetchone()[0] is True
    assert cli("cluster", "dsn", "--dir", str(db.cluster.directory)).stdout.strip() == db.dsn


def test_plaintext_tcp_is_refused_on_every_node(db):
    for node in db.cluster.nodes:
        with pytest.raises(psycopg.OperationalError, match="no encryption"):
            psycopg.connect(make_conninfo(node.dsn(), sslmode="disable"), connect_timeout=5)


def test_a_client_that_does_not_trust_the_cluster_ca_is_refused(db):
    with pytest.raises(psycopg.OperationalError, match="certificate verify failed"):
        psycopg.connect(make_conninfo(db.dsn, sslrootcert=SYSTEM_CAS), connect_timeout=5)


def test_tcp_logins_need_a_scram_password_and_the_superuser_socket_is_trusted(db):
    login = f"tls_{uuid.uuid4().hex[:8]}"
    with db.connect() as conn:
        conn.execute(f"CREATE ROLE {login} LOGIN IN ROLE finshard_readonly")
        assert conn.execute("SHOW password_encryption").fetchone()[0] == "scram-sha-256"
    with pytest.raises(psycopg.OperationalError, match="password"):
        psycopg.connect(make_conninfo(db.dsn, user=login, passfile="/dev/null"), connect_timeout=5)
    node = db.cluster.coordinator
    with psycopg.connect(host=node.datadir, port=node.port, user="postgres", dbname="finshard", autocommit=True) as conn:
        assert conn.execute("SELECT current_user").fetchone()[0] == "postgres"


@pytest.mark.citus
def test_node_to_node_connections_are_encrypted(citus):
    with citus.connect() as conn:
        acc = [new_account(conn, "USD", "10.00") for _ in range(8)]
        # A query over every shard opens the coordinator's connections to both workers.
        conn.execute("SELECT count(*) FROM finshard.transactions WHERE account_id = ANY(%s)", (acc,))
        with conn.transaction():
            conn.execute("SELECT count(*) FROM finshard.accounts")
            for worker in citus.cluster.workers:
                with psycopg.connect(worker.dsn(), autocommit=True) as w:
                    rows = w.execute("SELECT s.ssl, s.version FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) "
                                     "WHERE a.application_name LIKE 'citus_internal%%' AND a.client_addr IS NOT NULL").fetchall()
                    assert rows, f"no connection from another node reached {worker.name}"
                    assert all(ssl and version.startswith("TLSv1.") for ssl, version in rows), rows
        node_conninfo = conn.execute("SHOW citus.node_conninfo").fetchone()[0]
    assert "sslmode=verify-full" in node_conninfo and "sslrootcert=" in node_conninfo


def test_an_application_login_works_through_the_router_on_every_node(db):
    name = f"app_{uuid.uuid4().hex[:8]}"
    password = "correct-horse-battery-staple"
    create_login(db.dsn, name, "app", password)
    with db.connect() as conn:
        a, b = new_account(conn, "USD", "20.00"), new_account(conn, "USD")
        owner = conn.execute("SELECT user_id FROM finshard.accounts WHERE account_id = %s", (a,)).fetchone()[0]
        username = conn.execute("SELECT username FROM finshard.users WHERE user_id = %s", (owner,)).fetchone()[0]
    app_dsn = make_conninfo(db.dsn, user=name, password=password, passfile="/dev/null")
    with Router.connect(app_dsn) as r:
        for node in r.topology.nodes:
            assert conninfo_to_dict(r.node_dsn(node))["sslmode"] == "verify-full"
        session = r.login(login=username, password="correct horse")["token"]
        out = r.session(session).transfer(from_account_id=a, to_account_id=b, amount=Decimal("5.00"))
        assert out["to_balance"] == Decimal("5.00")


def test_no_tls_cluster_says_so_and_takes_plaintext(scratch):
    directory = scratch("finshard-notls-") / "c"
    res = cli("cluster", "up", "--dir", str(directory), "--no-citus", "--no-tls")
    assert res.returncode == 0, res.stderr
    try:
        assert "TLS is off" in res.stderr
        dsn = res.stdout.strip()
        assert "sslmode" not in dsn
        with psycopg.connect(make_conninfo(dsn, sslmode="disable"), autocommit=True) as conn:
            assert conn.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetchone()[0] is False
        status = cli("cluster", "status", "--dir", str(directory))
        assert "TLS is off" in status.stdout
        assert json.loads(cli("cluster", "status", "--dir", str(directory), "--json").stdout)[0]["tls"] is False
    finally:
        Cluster.load(directory).down()
