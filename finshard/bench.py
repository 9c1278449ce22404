"""What finshard bench measures, and what the scripts in bench/ share: pgbench against a node or
each node at once, funded bench accounts, pairs by node, the notification dispatcher alongside.
Ratios side by side in one run (absolute numbers drift on shared machines); nothing asserts on time.
"""

from __future__ import annotations

import os
import random
import re
import secrets
import statistics
import subprocess
import tempfile
import threading
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable

from finshard import db
from finshard.local.postgres import find_pg_bin
from finshard.ops import dispatcher
from finshard.router import Router

_TPS = re.compile(r"tps = ([0-9.]+) \(without initial connection time\)")


def libpq_env(dsn: str) -> dict[str, str]:
    """The environment for a libpq program given host and port apart: the DSN's TLS and password file."""
    info = db.conninfo_to_dict(dsn)
    env = dict(os.environ)
    for key, var in (("sslmode", "PGSSLMODE"), ("sslrootcert", "PGSSLROOTCERT"), ("passfile", "PGPASSFILE"),
                     ("password", "PGPASSWORD")):
        if info.get(key):
            env[var] = str(info[key])
    return env


def pgbench(dsn: str, scripts: list[str] | None, *, clients: int, seconds: float, builtin: str | None = None,
            variables: dict[str, Any] | None = None, protocol: str = "simple") -> float:
    """Run pgbench for ``seconds`` and return its tps (excluding connection time)."""
    info = db.conninfo_to_dict(dsn)
    cmd = [str(find_pg_bin() / "pgbench"), "-n", "-c", str(clients), "-j", str(min(clients, 2)), "-T", str(max(1, int(seconds))),
           "-h", str(info.get("host", "127.0.0.1")), "-p", str(info.get("port", 5432)), "-U", str(info.get("user", "postgres")),
           "-M", protocol, str(info.get("dbname", "finshard"))]
    if builtin:
        cmd += ["-b", builtin]
    with tempfile.TemporaryDirectory() as tmp:
        for i, text in enumerate(scripts or []):
            path = Path(tmp) / f"s{i}.sql"
            path.write_text(text)
            cmd += ["-f", str(path)]
        for k, v in (variables or {}).items():
            cmd += ["-D", f"{k}={v}"]
        res = subprocess.run(cmd, capture_output=True, text=True, env=libpq_env(dsn))
    match = _TPS.search(res.stdout)
    if res.returncode != 0 or not match:
        raise RuntimeError(f"pgbench failed: {(res.stderr or res.stdout).strip()[-400:]}")
    return float(match.group(1))


def make_accounts(dsn: str, count: int, *, deposit: str = "1000000000.00", currency: str = "USD") -> list[int]:
    """``count`` funded accounts with consecutive ids (one session, one sequence), created server-side."""
    tag = uuid.uuid4().hex[:10]
    # Nobody logs in as a bench user: a password nobody knows, not one written here.
    password = secrets.token_urlsafe(24)
    with db.connect(dsn) as conn:
        ids = [r[0] for r in conn.execute(
            "SELECT finshard.open_account(finshard.create_user('bench' || %s || i, 'bench' || %s || i || '@example.com', %s), %s) "
            "FROM generate_series(1, %s) i", (tag, tag, password, currency, count)).fetchall()]
        for acc in ids:
            conn.execute("SELECT finshard.deposit(%s::bigint, %s::numeric)", (acc, Decimal(deposit)))
    return sorted(ids)


def alternate(a: Callable[[], float], b: Callable[[], float], rounds: int = 2) -> tuple[float, float]:
    """Mean results of ``a`` and ``b`` run in turn, A B A B, so that drift hits both."""
    xs, ys = [], []
    for _ in range(rounds):
        xs.append(a())
        ys.append(b())
    return statistics.mean(xs), statistics.mean(ys)


def accounts_by_node(dsn: str, ids: list[int]) -> dict[str, list[int]]:
    """``ids`` grouped by the node that holds each, as the router locates them."""
    with Router.connect(dsn) as r:
        groups: dict[str, list[int]] = {}
        for acc in ids:
            groups.setdefault(str(r.shard_for(acc).node), []).append(acc)
    return groups


def node_pairs(dsn: str, accounts: int, scripts: int, seed: int = 1) -> tuple[dict[str, list[tuple[int, int]]],
                                                                            dict[str, list[tuple[int, int]]]]:
    """``accounts`` new accounts on a Citus cluster and ``scripts`` transfer pairs from them, by the
    source's node: same-node pairs (both accounts there) and cross-node pairs (the destination on
    the next node)."""
    groups = accounts_by_node(dsn, make_accounts(dsn, accounts))
    nodes = sorted(groups)
    if len(nodes) < 2:
        raise RuntimeError("same vs cross node needs accounts on two worker nodes or more (a Citus cluster; "
                           f"the {accounts} bench accounts landed on {len(nodes)})")
    short = [n for n in nodes if len(groups[n]) < 2]
    if short:
        raise RuntimeError(f"{short[0]} holds {len(groups[short[0]])} of the {accounts} bench accounts; same-node pairs "
                           "need two on every node: give more --accounts")
    rng = random.Random(seed)
    same: dict[str, list[tuple[int, int]]] = {n: [] for n in nodes}
    cross: dict[str, list[tuple[int, int]]] = {n: [] for n in nodes}
    for i in range(scripts):
        a, b = nodes[i % len(nodes)], nodes[(i + 1) % len(nodes)]
        same[a].append(tuple(rng.sample(groups[a], 2)))  # type: ignore[arg-type]
        cross[a].append((rng.choice(groups[a]), rng.choice(groups[b])))
    return same, cross


def pair_scripts(pairs: list[tuple[int, int]]) -> list[str]:
    """One pgbench script per pair: a transfer of 0.01 from the first account to the second."""
    return [f"SELECT finshard.transfer({a}::bigint, {b}::bigint, 0.01);\n" for a, b in pairs]


def pgbench_on_nodes(dsn: str, scripts_by_node: dict[str, list[str]], clients: int, seconds: float,
                     protocol: str = "simple") -> float:
    """pgbench on each node at once, its clients connected to that node (the router's path), the
    ``clients`` split between them (the first nodes take what does not divide, each at least one);
    returns the summed tps."""
    results: dict[str, float] = {}
    errors: list[BaseException] = []
    nodes = list(scripts_by_node)
    share = {n: max(1, clients // len(nodes) + (i < clients % len(nodes))) for i, n in enumerate(nodes)}

    def one(node: str) -> None:
        host, port = node.rsplit(":", 1)
        try:
            results[node] = pgbench(db.make_conninfo(dsn, host=host, port=port), scripts_by_node[node], clients=share[node],
                                    seconds=seconds, protocol=protocol)
        except BaseException as exc:  # re-raised below, in the caller's thread
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(node,)) for node in scripts_by_node]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return sum(results.values())


class Dispatcher:
    """The product's dispatcher (finshard.ops.dispatcher.follow, as ``finshard notifications dispatch
    --follow`` runs it, with its default interval) in a thread while the block runs."""

    def __init__(self, dsn: str) -> None:
        self.stop = threading.Event()
        self.states: list[str] = []
        self.ready = threading.Event()

        def report(message: str) -> None:
            self.states.append(message)
            if message.startswith(("registered ", "another dispatcher ")):
                self.ready.set()

        self.thread = threading.Thread(target=dispatcher.follow, args=(dsn,),
                                       kwargs={"stop": self.stop, "report": report}, daemon=True)

    def __enter__(self) -> "Dispatcher":
        self.thread.start()
        if not self.ready.wait(10) or self.states[-1] != "registered as this node's dispatcher":
            self.__exit__()
            raise RuntimeError(f"the notification dispatcher did not register: {self.states}")
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()


def transfer_vs_pgbench(dsn: str, *, clients: int = 8, seconds: float = 10, accounts: int = 1000, scale: int = 10,
                        rounds: int = 3) -> dict[str, Any]:
    """finshard.transfer vs pgbench's built-in tpcb-like on the same server, clients and duration.

    tpcb-like runs in its own database on the same server (scale ``scale``: that many branches, so
    its branch-row contention is that of a real bank, not of one row); finshard's transfers pick two
    random accounts of ``accounts`` with pgbench's own random(), in autocommit. Both finshard runs
    use the default notification delivery (auto). Each round runs tpcb-like, then transfers with no
    dispatcher (every transfer sends its notifications at commit), then transfers with a registered
    dispatcher running alongside (they queue them; its cost is counted).
    """
    info = db.conninfo_to_dict(dsn)
    admin = db.make_conninfo(dsn, dbname="postgres")
    cmp_dsn = db.make_conninfo(dsn, dbname="finshard_pgbench")
    with db.connect(admin) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = 'finshard_pgbench'").fetchone():
            conn.execute("CREATE DATABASE finshard_pgbench")
    subprocess.run([str(find_pg_bin() / "pgbench"), "-i", "-q", "-s", str(scale), "-h", str(info.get("host", "127.0.0.1")),
                    "-p", str(info.get("port", 5432)), "-U", str(info.get("user", "postgres")), "finshard_pgbench"],
                   check=True, capture_output=True, env=libpq_env(dsn))
    with db.connect(dsn) as conn:
        delivery = conn.execute("SELECT value FROM finshard.settings WHERE key = 'notify_delivery'").fetchone()
        conn.execute("SELECT finshard.set_notify_delivery('auto')")
        conn.execute("SELECT finshard.dispatch_notifications(1000000)")
    try:
        return _transfer_rounds(dsn, cmp_dsn, clients=clients, seconds=seconds, accounts=accounts, scale=scale, rounds=rounds)
    finally:
        # The operator's delivery mode, as it was.
        if delivery and delivery[0] != "auto":
            with db.connect(dsn) as conn:
                conn.execute("SELECT finshard.set_notify_delivery(%s)", (delivery[0],))


def _transfer_rounds(dsn: str, cmp_dsn: str, *, clients: int, seconds: float, accounts: int, scale: int,
                     rounds: int) -> dict[str, Any]:
    ids = make_accounts(dsn, accounts)
    base, span = ids[0], len(ids)
    if ids[-1] - ids[0] + 1 != span:
        raise RuntimeError("bench accounts are not consecutive; run on a quiet database")
    script = ("\\set f random(0, :n - 1)\n\\set d random(1, :n - 1)\n\\set src :base + :f\n\\set dst :base + ((:f + :d) % :n)\n"
              "SELECT finshard.transfer(:src::bigint, :dst::bigint, 0.01);\n")

    def finshard_run() -> float:
        return pgbench(dsn, [script], clients=clients, seconds=seconds, variables={"n": span, "base": base})

    def dispatcher_run() -> float:
        # The default delivery (auto) queues while a dispatcher is registered on the node.
        with Dispatcher(dsn):
            return finshard_run()

    tpcb, alone, queued = [], [], []
    for _ in range(rounds):
        tpcb.append(pgbench(cmp_dsn, None, clients=clients, seconds=seconds, builtin="tpcb-like"))
        alone.append(finshard_run())
        queued.append(dispatcher_run())
    t = statistics.mean(tpcb)
    return {"benchmark": "transfer vs pgbench tpcb-like", "clients": clients, "seconds_each": seconds, "rounds": rounds,
            "pgbench_scale": scale, "accounts": span, "tpcb_like_tps": round(t, 1),
            "finshard_transfer_no_dispatcher_tps": round(statistics.mean(alone), 1),
            "ratio_no_dispatcher": round(statistics.mean(alone) / t, 3),
            "finshard_transfer_with_dispatcher_tps": round(statistics.mean(queued), 1),
            "ratio_with_dispatcher": round(statistics.mean(queued) / t, 3),
            "ratio_with_dispatcher_per_round": [round(d / x, 3) for d, x in zip(queued, tpcb)],
            "target": ">= 1.0"}


def same_vs_cross_node(dsn: str, *, clients: int = 8, seconds: float = 10, accounts: int = 400, scripts: int = 64,
                       paths: tuple[str, ...] = ("direct", "coordinator"), rounds: int = 2) -> dict[str, Any]:
    """On Citus: transfers whose two accounts share a worker vs transfers across workers (2PC),
    measured on two paths with the same clients and pairs.

    direct: each session is on the worker holding the source account, as the router connects.
    via coordinator: every session on the coordinator, which delegates the call to that worker.
    Citus does not cache connections in a backend serving another node's connection, so there a
    cross-node transfer opens a new worker-to-worker connection (and a new backend) every time,
    unless the nodes reach each other through pgbouncer (pg_dist_poolinfo; see finshard.local.pgbouncer).
    """
    same, cross = node_pairs(dsn, accounts, scripts)

    def direct(pairs: dict[str, list[tuple[int, int]]]) -> Callable[[], float]:
        return lambda: pgbench_on_nodes(dsn, {n: pair_scripts(p) for n, p in pairs.items()}, clients, seconds)

    def coordinator(pairs: dict[str, list[tuple[int, int]]]) -> Callable[[], float]:
        return lambda: pgbench(dsn, pair_scripts([x for p in pairs.values() for x in p]), clients=clients, seconds=seconds)

    out: dict[str, Any] = {"benchmark": "same-node vs cross-node transfers (Citus)", "clients": clients,
                           "seconds_each": seconds, "rounds": rounds}
    if "direct" in paths:
        s, c = alternate(direct(same), direct(cross), rounds)
        out.update(direct_same_node_tps=round(s, 1), direct_cross_node_tps=round(c, 1), ratio=round(c / s, 3))
    if "coordinator" in paths:
        cs, cc = alternate(coordinator(same), coordinator(cross), rounds)
        out.update(via_coordinator_same_node_tps=round(cs, 1), via_coordinator_cross_node_tps=round(cc, 1),
                   ratio_via_coordinator=round(cc / cs, 3))
    out["target"] = ">= 0.5"
    return out


