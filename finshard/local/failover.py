"""`finshard failover drill`: fail a node of a local cluster and promote its standby, then prove
that no acknowledged write was lost and that the cluster takes writes again.

The drill builds a streaming standby of the node (pg_basebackup), makes it synchronous (a commit is
acknowledged only once the standby has it), writes through the router, kills the primary
(immediate stop: a crash), promotes the standby, points Citus at it (citus_update_node) or the
cluster file at it (single node), and checks every acknowledged write.
"""

from __future__ import annotations

import shutil
import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable

from finshard import db
from finshard.errors import ClusterError
from finshard.local import pgbackrest, pgbouncer
from finshard.local.cluster import Cluster
from finshard.local.postgres import chown_to_postgres, find_pg_bin, free_port, run_pg
from finshard.local.settings import node_settings, write_settings
from finshard.local.state import Node
from finshard.router import Router

__all__ = ["drill"]


def drill(directory: str | Path, *, node_name: str | None = None, writes: int = 40,
          progress: Callable[[str], None] = lambda _m: None) -> dict[str, Any]:
    cluster = Cluster.load(directory)
    if not all(row["up"] for row in cluster.status()):
        raise ClusterError("every node must be up for a drill; run: finshard cluster up --dir " + str(cluster.directory))
    node = _pick(cluster, node_name)
    pg_bin = find_pg_bin()
    dsn = cluster.dsn()
    with db.connect(dsn) as conn:
        if not conn.execute("SELECT to_regclass('finshard.accounts')").fetchone()[0]:  # type: ignore[index]
            raise ClusterError("finshard is not installed on this cluster; run: finshard install --dsn " + dsn)

    progress(f"building a synchronous standby of {node.name}")
    # Two directories in turn: a second drill's standby takes the directory the first one failed
    # (its leftover is removed), instead of a name growing by "-standby" each time.
    standby_dir = Path(node.datadir[:-len("-standby")] if node.datadir.endswith("-standby") else node.datadir + "-standby")
    if standby_dir.exists():
        shutil.rmtree(standby_dir)
    standby_port = free_port()
    # The cluster directory belongs to whoever ran `cluster up`; the standby's to postgres.
    standby_dir.mkdir(mode=0o700)
    chown_to_postgres(standby_dir)
    # Over the primary's Unix socket, where its superuser is trusted: the standby then streams
    # the same way, with no password to store in its configuration.
    res = run_pg([str(pg_bin / "pg_basebackup"), "-h", node.datadir, "-p", str(node.port), "-U", "postgres",
                  "-D", str(standby_dir), "-X", "stream", "-R", "-c", "fast",
                  "-d", f"host={node.datadir} port={node.port} user=postgres application_name=finshard_drill"])
    if res.returncode != 0:
        raise ClusterError(f"pg_basebackup of {node.name} failed: {res.stderr.strip().splitlines()[-1] if res.stderr.strip() else res.returncode}")
    new = Node(node.name, node.role, standby_port, str(standby_dir), node.pgbouncer_port, node.group, node.tls_dir)
    # Its own port and socket in finshard's block of postgresql.conf, not in postgresql.auto.conf:
    # promoted, it is the node, and a backup of it restored elsewhere must take that place's port.
    write_settings(standby_dir, node_settings(new, citus=cluster.citus, cluster=cluster))
    res = run_pg([str(pg_bin / "pg_ctl"), "-D", str(standby_dir), "-l", str(standby_dir / "server.log"), "-w", "start"])
    if res.returncode != 0:
        raise ClusterError(f"the standby of {node.name} did not start: {res.stderr.strip() or res.stdout.strip()}")
    with db.connect(node.dsn()) as primary:
        primary.execute("ALTER SYSTEM SET synchronous_standby_names = 'finshard_drill'")
        primary.execute("SELECT pg_reload_conf()")
        deadline = time.monotonic() + 30
        while primary.execute("SELECT count(*) FROM pg_stat_replication WHERE application_name = 'finshard_drill' "  # type: ignore[index]
                              "AND sync_state = 'sync' AND state = 'streaming'").fetchone()[0] == 0:
            if time.monotonic() > deadline:
                raise ClusterError("the standby did not become synchronous within 30s")
            time.sleep(0.2)

    progress(f"writing through the router to accounts on {node.name}")
    acknowledged: dict[str, tuple[int, Decimal | None]] = {}
    with Router.connect(dsn) as r:
        user = r.create_user(username=f"drill{uuid.uuid4().hex[:10]}", email=f"drill{uuid.uuid4().hex[:10]}@example.com",
                             password="failover-drill")
        mine: list[int] = []
        for currency in ("USD", "EUR", "UZS"):
            for kind in ("cash", "savings", "margin"):
                acc = r.open_account(user_id=user, currency=currency, account_type=kind)
                if not cluster.citus or r.shard_for(acc).node.port == node.port:
                    mine.append(acc)
        if not mine:
            raise ClusterError(f"no drill account landed on {node.name}; run the drill again")
        for i in range(writes):
            acc = mine[i % len(mine)]
            key = f"drill-{uuid.uuid4().hex}"
            out = r.deposit(account_id=acc, amount=Decimal("1.00"), idempotency_key=key)
            acknowledged[key] = (acc, out["balance"])

    progress(f"killing {node.name} (immediate stop)")
    t_fail = time.monotonic()
    run_pg([str(pg_bin / "pg_ctl"), "-D", node.datadir, "-m", "immediate", "-w", "stop"])
    progress("promoting the standby")
    res = run_pg([str(pg_bin / "pg_ctl"), "-D", str(standby_dir), "-w", "promote"])
    if res.returncode != 0:
        raise ClusterError(f"promotion failed: {res.stderr.strip() or res.stdout.strip()}")
    with db.connect(new.dsn()) as promoted:
        promoted.execute("ALTER SYSTEM RESET synchronous_standby_names")
        # A standby's link to the dead primary; a restore of this node must not inherit it.
        promoted.execute("ALTER SYSTEM RESET primary_conninfo")
        promoted.execute("SELECT pg_reload_conf()")
        # pg_control takes the new timeline at the next checkpoint; until then pgBackRest refuses
        # to back the node up (its WAL's timeline does not match pg_control's).
        promoted.execute("CHECKPOINT")
    if cluster.citus:
        with db.connect(dsn) as coord:
            node_id = coord.execute("SELECT nodeid FROM pg_dist_node WHERE nodeport = %s", (node.port,)).fetchone()[0]  # type: ignore[index]
            coord.execute("SELECT citus_update_node(%s, '127.0.0.1', %s)", (node_id, standby_port))
    t_back = time.monotonic()

    # The cluster file now names the promoted node; the crashed data dir is kept for inspection.
    failed_dir = Path(node.datadir + "-failed")
    if failed_dir.exists():
        shutil.rmtree(failed_dir)
    Path(node.datadir).rename(failed_dir)
    cluster.nodes = [new if n.name == node.name else n for n in cluster.nodes]
    cluster.save()
    if cluster.backup_repo:
        # The promoted node archives to the node's stanza, which must name its data directory.
        pgbackrest.write_config(cluster)
    chown_to_postgres(standby_dir)
    if cluster.pgbouncer:
        # The node's pgbouncer (clients' and other nodes' way in) now points at the promoted node.
        pgbouncer.reload(cluster, new)

    progress("verifying every acknowledged write on the promoted node")
    lost = []
    with db.connect(cluster.dsn()) as conn:
        for key, (acc, balance) in acknowledged.items():
            if not conn.execute("SELECT 1 FROM finshard.idempotency_keys WHERE account_id = %s AND idempotency_key = %s", (acc, key)).fetchone():
                lost.append(key)
        entries = conn.execute("SELECT count(*) FROM finshard.transactions WHERE account_id = ANY(%s)", (mine,)).fetchone()[0]  # type: ignore[index]
    with Router.connect(cluster.dsn()) as r:
        after = r.deposit(account_id=mine[0], amount=Decimal("1.00"))
    if lost:
        raise ClusterError(f"{len(lost)} acknowledged writes were lost in the failover")
    return {"node": node.name, "old_port": node.port, "new_port": standby_port, "acknowledged_writes": len(acknowledged),
            "lost_writes": 0, "accounts_on_node": len(mine), "ledger_entries_on_node_accounts": entries,
            "seconds_to_promote_and_repoint": round(t_back - t_fail, 2), "write_after_failover": str(after["balance"]),
            "failed_datadir": str(failed_dir), "promoted_datadir": str(standby_dir)}


def _pick(cluster: Cluster, name: str | None) -> Node:
    if name is None:
        return cluster.workers[0] if cluster.citus and cluster.workers else cluster.coordinator
    for node in cluster.nodes:
        if node.name == name:
            if cluster.citus and node.role == "coordinator":
                raise ClusterError("the drill fails a worker (or a single node); coordinator failover needs a standby coordinator and is not drilled")
            return node
    raise ClusterError(f"no node named {name}; nodes: {', '.join(n.name for n in cluster.nodes)}")
