"""Audit checkpoints and verification: what ``finshard audit checkpoint|verify`` do.

The audit chains are keyed (HMAC under the audit key, a file beside the data), so whoever can
rewrite the tables without the key cannot make an altered chain verify. Whoever holds the key
(a superuser of the nodes) still could, and could cut the newest entries and move a head back:
a checkpoint, written outside the database and signed, records every chain's head (the accounts'
and the users' login chains), and a later
``verify --checkpoint`` finds each of those entries unchanged and each chain at least that long.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from finshard import db
from finshard.errors import FinshardError
from finshard.ops.keys import read_key, sign

__all__ = ["checkpoint", "verify"]

_FORMAT = "finshard-audit-checkpoint/1"


def checkpoint(dsn: str, path: Path | None) -> dict[str, Any]:
    """Write every chain's head (account, seq, hash), signed, to ``path`` (None: return it as
    "document" instead); return a summary. Reads the audit key: a superuser's connection."""
    with db.connect(dsn) as conn:
        heads = conn.execute("SELECT account_id, audit_seq, audit_hash FROM finshard.accounts "
                             "WHERE audit_seq > 0 ORDER BY account_id").fetchall()
        user_heads = conn.execute("SELECT user_id, audit_seq, audit_hash FROM finshard.users "
                                  "WHERE audit_seq > 0 ORDER BY user_id").fetchall()
        key = read_key(conn, "audit")
    document: dict[str, Any] = {
        "format": _FORMAT,
        "taken_at": datetime.now(timezone.utc).isoformat(),
        "heads": [[a, s, h] for a, s, h in heads],
        "user_heads": [[u, s, h] for u, s, h in user_heads],
    }
    document["signature"] = sign(key, {k: v for k, v in document.items() if k != "signature"})
    summary: dict[str, Any] = {"chains": len(heads) + len(user_heads),
                               "entries": sum(s for _a, s, _h in heads) + sum(s for _u, s, _h in user_heads)}
    if path is None:
        return {**summary, "document": document}
    path.write_text(json.dumps(document, indent=1) + "\n")
    return {"checkpoint": str(path), **summary}


def _load(path: Path, key: bytes) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise FinshardError(f"{path} is not a finshard audit checkpoint (not JSON: {exc.msg} at line {exc.lineno})") from None
    except (OSError, ValueError) as exc:
        raise FinshardError(f"cannot read checkpoint {path}: {exc}") from None
    if not isinstance(document, dict) or document.get("format") != _FORMAT:
        raise FinshardError(f"{path} is not a finshard audit checkpoint")
    body = {k: v for k, v in document.items() if k != "signature"}
    if document.get("signature") != sign(key, body):
        raise FinshardError(f"checkpoint {path} has a bad signature: it was altered, or signed with another audit key")
    return document


def verify(dsn: str, *, account_id: int | None = None, checkpoint_path: Path | None = None) -> dict[str, Any]:
    """Every chain link (keyed), the ledger, and, with a checkpoint, every head it recorded.

    Returns {"entries", "problems": [{"account_id", "audit_seq", "problem"}]}; no problems means intact."""
    problems: list[dict[str, Any]] = []
    with db.connect(dsn) as conn:
        for a, s, p in conn.execute("SELECT account_id, audit_seq, problem FROM finshard.audit_verify(%s::bigint)",
                                    (account_id,)).fetchall():
            problems.append({"account_id": a, "audit_seq": s, "problem": p})
        # The ledger, whole (one account: its own rows only; the per-currency totals are the whole's).
        for row in conn.execute("SELECT * FROM finshard.ledger_verify() WHERE %s::bigint IS NULL OR account_id = %s",
                                (account_id, account_id)).fetchall():
            problems.append(_ledger_problem(row))
        entries = conn.execute("SELECT count(*) FROM finshard.audit_log WHERE %s::bigint IS NULL OR account_id = %s",
                               (account_id, account_id)).fetchone()[0]  # type: ignore[index]
        if account_id is None:
            entries += conn.execute("SELECT count(*) FROM finshard.user_audit_log").fetchone()[0]  # type: ignore[index]
        if checkpoint_path is not None:
            document = _load(checkpoint_path, read_key(conn, "audit"))
            heads = [h for h in document["heads"] if account_id is None or h[0] == account_id]
            now = dict(conn.execute("SELECT account_id, audit_seq FROM finshard.accounts WHERE account_id = ANY (%s)",
                                    ([h[0] for h in heads],)).fetchall())
            found = {(a, s): h for a, s, h in conn.execute(
                "SELECT l.account_id, l.audit_seq, l.hash FROM finshard.audit_log l "
                "JOIN unnest(%s::bigint[], %s::bigint[]) c (account_id, audit_seq) "
                "ON l.account_id = c.account_id AND l.audit_seq = c.audit_seq",
                ([h[0] for h in heads], [h[1] for h in heads])).fetchall()}
            if account_id is None:
                problems += _check_user_heads(conn, document.get("user_heads", []))
            for a, s, h in heads:
                if now.get(a) is None or now[a] < s:
                    problems.append({"account_id": a, "audit_seq": s, "problem":
                                     f"chain is shorter than at the checkpoint ({now.get(a)} < {s}): entries removed and the head moved back"})
                elif (a, s) not in found:
                    problems.append({"account_id": a, "audit_seq": s, "problem": "the checkpointed entry is gone"})
                elif found[(a, s)] != h:
                    problems.append({"account_id": a, "audit_seq": s, "problem":
                                     "the checkpointed entry's hash changed: the chain was rewritten since the checkpoint"})
    return {"entries": entries, "problems": problems}


def _check_user_heads(conn: Any, heads: list[list[Any]]) -> list[dict[str, Any]]:
    """The users' login chains against the checkpoint, as the accounts' (problems name the user)."""
    problems: list[dict[str, Any]] = []
    now = dict(conn.execute("SELECT user_id, audit_seq FROM finshard.users WHERE user_id = ANY (%s)",
                            ([h[0] for h in heads],)).fetchall())
    found = {(u, s): h for u, s, h in conn.execute(
        "SELECT l.user_id, l.audit_seq, l.hash FROM finshard.user_audit_log l "
        "JOIN unnest(%s::bigint[], %s::bigint[]) c (user_id, audit_seq) ON l.user_id = c.user_id AND l.audit_seq = c.audit_seq",
        ([h[0] for h in heads], [h[1] for h in heads])).fetchall()}
    for u, s, h in heads:
        chain = f"user {u}'s login audit chain"
        if now.get(u) is None or now[u] < s:
            problems.append({"account_id": None, "audit_seq": s, "problem":
                             f"{chain} is shorter than at the checkpoint ({now.get(u)} < {s}): entries removed and the head moved back"})
        elif (u, s) not in found:
            problems.append({"account_id": None, "audit_seq": s, "problem": f"{chain}: the checkpointed entry is gone"})
        elif found[(u, s)] != h:
            problems.append({"account_id": None, "audit_seq": s, "problem":
                             f"{chain}: the checkpointed entry's hash changed: the chain was rewritten since the checkpoint"})
    return problems


def _ledger_problem(row: tuple[Any, ...]) -> dict[str, Any]:
    # ledger_verify: (account_id, currency, check_name, detail); the detail names the currency.
    return {"account_id": row[0], "audit_seq": None, "problem": f"ledger: {row[2]}: {row[3]}"}
