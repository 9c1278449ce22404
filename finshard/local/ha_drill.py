"""`finshard failover drill` on an --ha cluster: kill a group's primary under load and measure.

Client threads transfer money through the router (many transfers cross nodes), and one more writes
through the coordinator in SQL, as a DBA would. The drill SIGKILLs the group's primary member (its
Patroni and its PostgreSQL, as if the machine were lost), lets Patroni fail over, and measures the
time from the kill to the first acknowledged write on that group and anywhere. Then it restarts the
old primary, which Patroni rewinds into a standby, and checks every acknowledged write: none lost,
none applied twice, per-currency totals, the ledger, and no prepared transaction left behind.
"""

from __future__ import annotations

import random
import secrets
import threading
import time
import uuid
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable

from finshard import db
from finshard.errors import ClusterError
from finshard.local import ha
from finshard.local.cluster import Cluster
from finshard.router import Router

__all__ = ["drill"]

CURRENCIES = ("USD", "EUR")
FUNDING = Decimal("1000.00")


@dataclass
class _Ack:
    key: str
    src: int
    dst: int
    amount: Decimal
    started: float
    at: float
    on_group: bool


def drill(directory: str | Path, *, group: int | None = None, clients: int = 8, accounts: int = 24,
          warmup: float = 3.0, settle: float = 3.0, timeout: float = 120.0,
          progress: Callable[[str], None] = lambda _m: None) -> dict[str, Any]:
    cluster = Cluster.load(directory)
    if not cluster.ha:
        raise ClusterError("this drill needs an --ha cluster")
    groups = sorted({m.group for m in cluster.members})
    if group is None:
        group = 1 if cluster.citus and 1 in groups else 0
    if group not in groups:
        raise ClusterError(f"no group {group}; groups: {', '.join(map(str, groups))}")
    progress("checking that every group has a primary and a synchronous standby")
    ha.wait_healthy(cluster, 60)
    dsn = cluster.dsn()
    with db.connect(dsn) as conn:
        if not conn.execute("SELECT to_regclass('finshard.accounts')").fetchone()[0]:  # type: ignore[index]
            raise ClusterError("finshard is not installed on this cluster; run: finshard install --dsn '" + dsn + "'")
    progress(f"opening and funding {accounts * len(CURRENCIES)} accounts")
    by_currency: dict[str, list[int]] = {}
    with Router.connect(dsn) as r:
        # A user holds one cash account per currency: one user per pair of accounts.
        users = [r.create_user(username=f"drill{uuid.uuid4().hex[:10]}", email=f"drill{uuid.uuid4().hex[:10]}@example.com",
                               password=secrets.token_urlsafe(18)) for _ in range(accounts)]
        for currency in CURRENCIES:
            ids = [r.open_account(user_id=user, currency=currency) for user in users]
            for acc in ids:
                r.deposit(account_id=acc, amount=FUNDING, idempotency_key=f"drill-fund-{acc}")
            by_currency[currency] = ids
        victim = ha.primary_of(cluster, group)
        if victim is None:
            raise ClusterError(f"group {group} has no primary")
        on_group = {acc for ids in by_currency.values() for acc in ids
                    if not cluster.citus or r.shard_for(acc).node.port == victim.port}
    all_ids = [acc for ids in by_currency.values() for acc in ids]

    stop = threading.Event()
    acks: list[_Ack] = []
    coordinator_acks: list[tuple[str, int, float, float]] = []
    app_errors: list[str] = []
    # The SQL client has no retry budget: it reconnects, as an application on the DSN would.
    sql_reconnects = [0]
    lock = threading.Lock()

    def client(seed: int) -> None:
        rng = random.Random(seed)
        with Router.connect(dsn) as router:
            while not stop.is_set():
                currency = rng.choice(CURRENCIES)
                src, dst = rng.sample(by_currency[currency], 2)
                amount = Decimal(rng.randint(1, 500)) / 100
                key = f"drill-{uuid.uuid4().hex}"
                started = time.monotonic()
                try:
                    router.transfer(from_account_id=src, to_account_id=dst, amount=amount, idempotency_key=key)
                except Exception as exc:  # noqa: BLE001 - what the application would see: counted, reported
                    with lock:
                        app_errors.append(f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
                    continue
                with lock:
                    acks.append(_Ack(key, src, dst, amount, started, time.monotonic(), src in on_group or dst in on_group))

    def dba(seed: int) -> None:
        # SQL on the coordinator, reconnecting through the multi-host DSN (the new primary after a failover).
        rng = random.Random(seed)
        conn: db.Connection[Any] | None = None
        while not stop.is_set():
            acc = rng.choice(all_ids)
            key = f"drill-dba-{uuid.uuid4().hex}"
            started = time.monotonic()
            try:
                if conn is None or conn.closed:
                    conn = db.connect(dsn, connect_timeout=3)
                conn.execute("SELECT finshard.deposit(%s::bigint, 0.01, %s)", (acc, key))
            except db.Error:
                if conn is not None:
                    conn.close()
                    with lock:
                        sql_reconnects[0] += 1
                conn = None
                time.sleep(0.2)
                continue
            with lock:
                coordinator_acks.append((key, acc, started, time.monotonic()))
        if conn is not None:
            conn.close()

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    threads.append(threading.Thread(target=dba, args=(clients,), daemon=True))
    progress(f"{clients} router clients transferring, one SQL client depositing through the coordinator")
    for t in threads:
        t.start()
    time.sleep(warmup)
    before = len(acks)
    if before == 0:
        stop.set()
        raise ClusterError(f"no transfer was acknowledged in {warmup}s of load: {app_errors[:1]}")

    progress(f"killing {victim.name}, the primary of group {group} (SIGKILL of its Patroni and PostgreSQL)")
    t_kill = time.monotonic()
    ha.kill_member(cluster, victim)
    new_primary = None
    t_promoted = None
    deadline = t_kill + timeout

    def first_after(on_group_only: bool) -> float | None:
        with lock:
            # Writes that began after the kill: one in flight at the kill proves nothing.
            times = [a.at for a in acks if a.started > t_kill and (a.on_group or not on_group_only)]
            # The coordinator's own writes: group 0's, and writes anywhere.
            if group == 0 or not on_group_only:
                times += [t for _k, _a, s, t in coordinator_acks if s > t_kill]
        return min(times) - t_kill if times else None

    while time.monotonic() < deadline:
        if new_primary is None:
            member = ha.primary_of(cluster, group)
            if member is not None and member.name != victim.name:
                new_primary, t_promoted = member, time.monotonic()
                progress(f"Patroni promoted {member.name} after {t_promoted - t_kill:.1f}s")
        if new_primary is not None and first_after(True) is not None \
                and time.monotonic() - (t_kill + (first_after(True) or 0)) > settle:
            break
        time.sleep(0.2)
    stop.set()
    join_deadline = time.monotonic() + 180
    for t in threads:
        t.join(timeout=max(0.0, join_deadline - time.monotonic()))
    if any(t.is_alive() for t in threads):
        raise ClusterError("a client was still waiting on the cluster 180 s after the drill ended; "
                           f"see the Patroni logs in {cluster.directory / 'patroni'}")
    to_group = first_after(True)
    anywhere = first_after(False)
    with lock:
        coord_after = [t for _k, _a, s, t in coordinator_acks if s > t_kill]
    to_coordinator = min(coord_after) - t_kill if coord_after else None
    if new_primary is None:
        raise ClusterError(f"no standby of group {group} was promoted within {int(timeout)}s; see {cluster.directory / 'patroni'}")

    progress(f"restarting {victim.name}: Patroni rewinds it into a standby of {new_primary.name}")
    t_restart = time.monotonic()
    ha.start_member(cluster, victim)
    rejoined = True
    try:
        ha.wait_healthy(cluster, 120)
    except ClusterError:
        rejoined = False
    t_rejoined = time.monotonic()
    cluster.follow_primaries()

    progress("checking every acknowledged write")
    report = _verify(cluster, by_currency, acks, coordinator_acks)
    report.update({
        "group": group, "killed": victim.name, "new_primary": new_primary.name, "clients": clients,
        "seconds_to_promotion": round((t_promoted or t_kill) - t_kill, 2),
        "seconds_to_first_write_on_group": None if to_group is None else round(to_group, 2),
        "seconds_to_first_write_anywhere": None if anywhere is None else round(anywhere, 2),
        "seconds_to_first_coordinator_write": None if to_coordinator is None else round(to_coordinator, 2),
        "acknowledged_before_kill": before,
        "application_errors": len(app_errors), "application_error_samples": sorted(set(app_errors))[:3],
        "sql_client_reconnects": sql_reconnects[0],
        "old_primary_rejoined_as_standby": rejoined,
        "seconds_to_rejoin": round(t_rejoined - t_restart, 2) if rejoined else None,
    })
    # The drill passes when the data hold and the application saw a pause, not an error: a write
    # reached the failed group again, and the old primary came back as a standby.
    report["ok"] = bool(report["ok"] and not app_errors and to_group is not None and rejoined)
    return report


def _verify(cluster: Cluster, by_currency: dict[str, list[int]], acks: list[_Ack],
            coordinator_acks: list[tuple[str, int, float, float]]) -> dict[str, Any]:
    all_ids = [acc for ids in by_currency.values() for acc in ids]
    with db.connect(cluster.dsn()) as conn:
        # Recover in-doubt two-phase commits first: a transfer whose commit the kill interrupted
        # is then either in the ledger or not, and the counts below see its final state.
        prepared = _prepared_left(conn, cluster)
        keys = {(int(a), k): op for a, k, op in conn.execute(
            "SELECT account_id, idempotency_key, operation FROM finshard.idempotency_keys WHERE account_id = ANY(%s) "
            "AND idempotency_key LIKE 'drill-%%'", (all_ids,)).fetchall()}
        lost = [a.key for a in acks if (a.src, a.key) not in keys]
        lost += [k for k, acc, _s, _t in coordinator_acks if (acc, k) not in keys]
        transfers = conn.execute(
            "SELECT count(DISTINCT transfer_id), count(*) FILTER (WHERE transaction_type = 'transfer_out'), "
            "       count(*) FILTER (WHERE transaction_type = 'transfer_in') "
            "  FROM finshard.transactions WHERE account_id = ANY(%s) AND transfer_id IS NOT NULL", (all_ids,)).fetchone()
        transfer_keys = sum(1 for op in keys.values() if op == "transfer")
        deposits = conn.execute(
            "SELECT count(*), coalesce(sum(amount), 0) FROM finshard.transactions WHERE account_id = ANY(%s) "
            "AND transaction_type = 'deposit'", (all_ids,)).fetchone()
        deposit_keys = sum(1 for op in keys.values() if op == "deposit")
        # Applied twice: more ledger movements than requests that were applied once each.
        duplicated = max(0, int(transfers[1]) - transfer_keys) + max(0, int(deposits[0]) - deposit_keys)  # type: ignore[index]
        totals = {}
        for currency, ids in by_currency.items():
            total = conn.execute("SELECT coalesce(sum(balance), 0) FROM finshard.accounts WHERE account_id = ANY(%s)",  # type: ignore[index]
                                 (ids,)).fetchone()[0]
            deposited = conn.execute("SELECT coalesce(sum(amount), 0) FROM finshard.transactions WHERE account_id = ANY(%s) "  # type: ignore[index]
                                     "AND transaction_type = 'deposit'", (ids,)).fetchone()[0]
            totals[currency] = {"balances": str(total), "deposited": str(deposited), "holds": total == deposited}
        problems = conn.execute("SELECT check_name, detail FROM finshard.ledger_verify()").fetchall()
    return {
        "acknowledged_transfers": len(acks), "acknowledged_coordinator_deposits": len(coordinator_acks),
        "lost": len(lost), "lost_keys": lost[:5], "duplicated": duplicated,
        "transfers_applied": transfer_keys, "transfer_legs": [int(transfers[1]), int(transfers[2])],  # type: ignore[index]
        "per_currency": totals, "totals_hold": all(t["holds"] for t in totals.values()),
        "ledger_problems": len(problems), "ledger_problem_samples": [f"{c}: {d}" for c, d in problems[:3]],
        "prepared_transactions_left": prepared,
        "ok": not lost and duplicated == 0 and all(t["holds"] for t in totals.values()) and not problems and prepared == 0
        and int(transfers[1]) == int(transfers[2]) == transfer_keys,  # type: ignore[index]
    }


def _prepared_left(conn: db.Connection[Any], cluster: Cluster, timeout: float = 90) -> int:
    """Prepared transactions still open on any primary once Citus has recovered them: each node
    recovers the two-phase commits it started (recover_prepared_transactions)."""
    if not cluster.citus:
        return int(conn.execute("SELECT count(*) FROM pg_prepared_xacts").fetchone()[0])  # type: ignore[index]
    nodes = [(h, int(p)) for h, p in conn.execute(
        "SELECT nodename, nodeport FROM pg_dist_node WHERE noderole = 'primary' AND isactive").fetchall()]
    deadline = time.monotonic() + timeout
    left = 0
    while True:
        left = 0
        for host, port in nodes:
            node_dsn = db.make_conninfo(cluster.dsn(), host=host, port=str(port), target_session_attrs="any")
            with db.connect(node_dsn) as node:
                node.execute("SELECT recover_prepared_transactions()")
                left += int(node.execute("SELECT count(*) FROM pg_prepared_xacts WHERE database = current_database()").fetchone()[0])  # type: ignore[index]
        if left == 0 or time.monotonic() > deadline:
            return left
        time.sleep(2)
