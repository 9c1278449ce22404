"""Database logins in finshard's roles: what ``finshard roles create-login`` does."""

from __future__ import annotations

import re
import secrets
from typing import Any

from finshard import db
from finshard.errors import FinshardError

__all__ = ["GROUPS", "create_login"]

GROUPS = {"app": "finshard_app", "market": "finshard_market", "admin": "finshard_admin", "readonly": "finshard_readonly"}
_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def create_login(dsn: str, name: str, group: str, password: str | None = None) -> dict[str, Any]:
    """A LOGIN role ``name`` in finshard_<group> with a SCRAM-SHA-256 password (Citus propagates it)."""
    if not _NAME.match(name) or name.startswith("pg_") or name.startswith("finshard_"):
        raise FinshardError(f"login name {name!r} must be 1-63 of a-z 0-9 _, not starting with a digit, pg_ or finshard_")
    if group not in GROUPS:
        raise FinshardError(f"role {group!r} is not one of {', '.join(GROUPS)}")
    generated = password is None
    password = password if password is not None else secrets.token_urlsafe(24)
    if len(password) < 12:
        raise FinshardError("the password must be at least 12 characters")
    with db.connect(dsn) as conn:
        if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,)).fetchone():
            raise FinshardError(f"role {name} exists already")
        if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (GROUPS[group],)).fetchone():
            raise FinshardError(f"{GROUPS[group]} does not exist: run finshard install first")
        try:
            # Hashed here (libpq's PQencryptPasswordConn): the statement carries the SCRAM verifier,
            # so neither the server log nor pg_stat_activity ever holds the password in clear.
            verifier = conn.pgconn.encrypt_password(password.encode(), name.encode(), b"scram-sha-256").decode()
            conn.execute(db.sql.SQL("CREATE ROLE {} LOGIN PASSWORD {} IN ROLE {}").format(
                db.sql.Identifier(name), db.sql.Literal(verifier), db.sql.Identifier(GROUPS[group])))
        except db.Error as exc:
            raise FinshardError(f"cannot create login {name}: {str(exc).strip().splitlines()[0]}", sqlstate=exc.sqlstate) from None
        if conn.execute("SELECT count(*) FROM pg_extension WHERE extname = 'citus'").fetchone()[0]:  # type: ignore[index]
            _set_authinfo(conn, dsn, name, password)
    return {"login": name, "group": GROUPS[group], "generated": generated, **({"password": password} if generated else {})}


def _set_authinfo(conn: db.Connection[Any], dsn: str, name: str, password: str) -> None:
    """Citus opens connections to other nodes as the calling login (a delegated call, a query over
    shards) and authenticates with the password it keeps for that login in pg_dist_authinfo, a
    superuser-only table it does not copy between nodes: every node gets the row."""
    nodes = conn.execute("SELECT DISTINCT nodename, nodeport FROM pg_dist_node WHERE noderole = 'primary'").fetchall()
    for host, port in nodes or [(None, None)]:
        target = db.make_conninfo(dsn, host=host, port=str(port)) if host else dsn
        with db.connect(target) as node:
            with node.transaction():
                node.execute("DELETE FROM pg_catalog.pg_dist_authinfo WHERE rolename = %s AND nodeid = 0", (name,))
                node.execute("INSERT INTO pg_catalog.pg_dist_authinfo (nodeid, rolename, authinfo) VALUES (0, %s, %s)",
                             (name, f"password={password}"))
