"""finshard's keys: files in each node's data directory (or in the directory its file finshard_key_dir names),
never in a table.

Three keys, one file each (``finshard_<name>.key``, lines of ``<version> <hex>``, the key in force
first): ``audit`` keys the audit hash chain and signs checkpoints, ``pan`` keys the PAN hashes
(and those of unknown logins and MFA recovery codes), ``pii`` encrypts names, phone, address and TOTP
secrets and rotates (``finshard keys rotate``). Every node of a
cluster holds the same files: a delegated call checks and writes on the node holding the data.
install.sql creates missing ones (finshard._ensure_keys); the server writes them (finshard._write_key,
COPY ... TO, which needs a superuser) into its data directory.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from typing import Any

from finshard import db
from finshard.errors import FinshardError

__all__ = ["rotate_pii_key", "sign", "read_key"]


def _is_citus(conn: db.Connection[Any]) -> bool:
    return bool(conn.execute("SELECT count(*) FROM pg_extension WHERE extname = 'citus'").fetchone()[0])  # type: ignore[index]


def _read_all(conn: db.Connection[Any], name: str) -> dict[str, str | None]:
    """The file's content on every node ("local" for the one connected to); None where it is missing."""
    sql = f"SELECT pg_read_file(finshard._key_path('{name}'), 0, 100000, true)"
    out: dict[str, str | None] = {"local": conn.execute(sql).fetchone()[0]}  # type: ignore[index]
    if _is_citus(conn):
        for host, port, ok, result in conn.execute(
                "SELECT nodename, nodeport, success, result FROM run_command_on_workers(%s)", (sql,)).fetchall():
            if not ok:
                raise FinshardError(f"cannot read key {name} on {host}:{port}: {result}")
            out[f"{host}:{port}"] = None if result in (None, "") else result
    return out


def read_key(conn: db.Connection[Any], name: str) -> bytes:
    """The key in force of ``name`` on the node connected to (needs a superuser)."""
    content = _read_all(conn, name)["local"]
    if not content:
        raise FinshardError(f"key {name} is missing on this node: run finshard install")
    return bytes.fromhex(content.strip().split("\n")[0].split(" ")[1])


def rotate_pii_key(conn: db.Connection[Any]) -> dict[str, Any]:
    """A new personal-data key on every node, every user's data and TOTP secret re-encrypted with it,
    then the old one gone.

    The new key is written in front of the old one first, so that rows are readable throughout."""
    from finshard.ops.installer import refuse_worker

    # On a worker, "every node" would be the workers: the coordinator kept the old key.
    refuse_worker(conn, str(conn.info.dsn), "rotate keys through the coordinator, which writes every node's key file")
    found = _read_all(conn, "pii")
    present = {v for v in found.values() if v is not None}
    if len(present) != 1 or None in found.values():
        raise FinshardError("the nodes do not all hold the same pii key: run finshard install first")
    old = present.pop().strip().split("\n")
    version = max(int(line.split(" ")[0]) for line in old) + 1
    new = f"{version} {secrets.token_hex(32)}"
    conn.execute("SELECT finshard._write_key('pii', %s)", ("\n".join([new, *old]) + "\n",))
    users = 0
    # A user written meanwhile under the old key (it read the file before the new one was there)
    # is caught by another pass; the old key goes only when no row needs it.
    for _ in range(10):
        users += conn.execute("SELECT finshard.rotate_pii_key()").fetchone()[0]  # type: ignore[index]
        # TOTP secrets are encrypted under the same key (docs/security.md, MFA).
        left = conn.execute("SELECT count(*) FROM finshard.users WHERE (pii IS NOT NULL AND pii_key_version <> %s) "
                            "OR (totp_secret IS NOT NULL AND totp_key_version <> %s)",
                            (version, version)).fetchone()[0]  # type: ignore[index]
        if left == 0:
            break
    else:
        raise FinshardError(f"{left} users are still under an older personal-data key; both keys are kept, run it again")
    conn.execute("SELECT finshard._write_key('pii', %s)", (new + "\n",))
    return {"key_version": version, "users_reencrypted": users, "nodes": len(found)}


def sign(key: bytes, document: dict[str, Any]) -> str:
    """HMAC-SHA256 of the canonical JSON of ``document``."""
    body = json.dumps(document, sort_keys=True, separators=(",", ":"), default=str).encode()
    return hmac.new(key, body, hashlib.sha256).hexdigest()
