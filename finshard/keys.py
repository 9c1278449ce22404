"""finshard's keys: files in each node's data directory, never in a table.

Three keys, one file each (``finshard_<name>.key``, lines of ``<version> <hex>``, the key in force
first): ``audit`` keys the audit hash chain and signs checkpoints, ``pan`` keys the PAN hashes,
``pii`` encrypts names, phone and address and rotates (``finshard keys rotate``). Every node of a
cluster holds the same files: a delegated call checks and writes on the node holding the data.
The server writes them (COPY ... TO, which needs a superuser), with the server's umask (0600).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from typing import Any

import psycopg

from finshard.errors import FinshardError

__all__ = ["KEY_NAMES", "ensure_keys", "rotate_pii_key", "sign", "read_key"]

KEY_NAMES = ("audit", "pan", "pii")


def _file(name: str) -> str:
    return f"finshard_{name}.key"


def _is_citus(conn: psycopg.Connection[Any]) -> bool:
    return bool(conn.execute("SELECT count(*) FROM pg_extension WHERE extname = 'citus'").fetchone()[0])  # type: ignore[index]


def _read_all(conn: psycopg.Connection[Any], name: str) -> dict[str, str | None]:
    """The file's content on every node ("local" for the one connected to); None where it is missing."""
    sql = f"SELECT pg_read_file('{_file(name)}', 0, 100000, true)"
    out: dict[str, str | None] = {"local": conn.execute(sql).fetchone()[0]}  # type: ignore[index]
    if _is_citus(conn):
        for host, port, ok, result in conn.execute(
                "SELECT nodename, nodeport, success, result FROM run_command_on_workers(%s)", (sql,)).fetchall():
            if not ok:
                raise FinshardError(f"cannot read key {name} on {host}:{port}: {result}")
            out[f"{host}:{port}"] = None if result in (None, "") else result
    return out


def _write_all(conn: psycopg.Connection[Any], name: str, content: str, nodes: list[str]) -> None:
    # A literal of hex digits, spaces and newlines only: nothing to quote.
    assert all(c in "0123456789abcdef \n" for c in content)
    lines = content.strip("\n").split("\n")
    select = " UNION ALL ".join(f"SELECT {i} AS n, '{line}' AS l" for i, line in enumerate(lines))
    for node in nodes:
        # COPY ... TO takes an absolute path only: the node's data directory.
        if node == "local":
            datadir = conn.execute("SHOW data_directory").fetchone()[0]  # type: ignore[index]
            conn.execute(_copy(select, datadir, name))  # type: ignore[arg-type]
            continue
        host, port = node.rsplit(":", 1)
        ok, datadir = conn.execute(
            "SELECT success, result FROM run_command_on_workers('SHOW data_directory') WHERE nodename = %s AND nodeport = %s",
            (host, int(port))).fetchone()  # type: ignore[misc]
        if not ok:
            raise FinshardError(f"cannot find the data directory of {node}: {datadir}")
        copy = _copy(select, datadir, name)
        ok, result = conn.execute(
            "SELECT success, result FROM run_command_on_workers(%s) WHERE nodename = %s AND nodeport = %s",
            (copy, host, int(port))).fetchone()  # type: ignore[misc]
        if not ok:
            raise FinshardError(f"cannot write key {name} on {node}: {result}")


def _copy(select: str, datadir: str, name: str) -> str:
    if "'" in datadir:
        raise FinshardError(f"data directory {datadir!r} has a quote in its path")
    return f"COPY (SELECT l FROM ({select}) s ORDER BY n) TO '{datadir}/{_file(name)}'"


def ensure_keys(conn: psycopg.Connection[Any]) -> list[str]:
    """Create every key that is missing, the same on every node; return what was created.

    Raises FinshardError when nodes hold different keys (restore the same files everywhere)."""
    made = []
    for name in KEY_NAMES:
        found = _read_all(conn, name)
        present = {v for v in found.values() if v is not None}
        if len(present) > 1:
            raise FinshardError(f"the nodes hold different {name} keys ({', '.join(sorted(found))}): "
                                f"copy one finshard_{name}.key to every node's data directory")
        missing = [node for node, v in found.items() if v is None]
        if not missing:
            continue
        content = present.pop() if present else f"1 {secrets.token_hex(32)}\n"
        _write_all(conn, name, content, missing)
        made.extend(f"{name}@{node}" for node in missing)
    return made


def read_key(conn: psycopg.Connection[Any], name: str) -> bytes:
    """The key in force of ``name`` on the node connected to (needs a superuser)."""
    content = _read_all(conn, name)["local"]
    if not content:
        raise FinshardError(f"key {name} is missing on this node: run finshard install")
    return bytes.fromhex(content.strip().split("\n")[0].split(" ")[1])


def rotate_pii_key(conn: psycopg.Connection[Any]) -> dict[str, Any]:
    """A new personal-data key on every node, every user re-encrypted with it, then the old one gone.

    The new key is written in front of the old one first, so that rows are readable throughout."""
    found = _read_all(conn, "pii")
    present = {v for v in found.values() if v is not None}
    if len(present) != 1 or None in found.values():
        raise FinshardError("the nodes do not all hold the same pii key: run finshard install first")
    old = present.pop().strip().split("\n")
    version = max(int(line.split(" ")[0]) for line in old) + 1
    new = f"{version} {secrets.token_hex(32)}"
    nodes = list(found)
    _write_all(conn, "pii", "\n".join([new, *old]) + "\n", nodes)
    users = conn.execute("SELECT finshard.rotate_pii_key()").fetchone()[0]  # type: ignore[index]
    _write_all(conn, "pii", new + "\n", nodes)
    return {"key_version": version, "users_reencrypted": users, "nodes": len(nodes)}


def sign(key: bytes, document: dict[str, Any]) -> str:
    """HMAC-SHA256 of the canonical JSON of ``document``."""
    body = json.dumps(document, sort_keys=True, separators=(",", ":"), default=str).encode()
    return hmac.new(key, body, hashlib.sha256).hexdigest()
