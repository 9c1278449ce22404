"""Backups and point-in-time recovery of a local cluster with pgBackRest: what ``finshard backup``
and ``finshard restore`` do.

Every node of a local cluster has its own pgBackRest stanza in one repository and pushes its WAL
there (``archive_command``; finshard.local.pgbackrest). Backups are per node; what makes a Citus restore consistent is the
target, not the backups: every node replays its WAL to the same cluster-wide restore point
(``finshard.create_restore_point``, which pauses two-phase commits on every node while it writes
the point). The restore points are kept in ``finshard.restore_points`` on the coordinator, so a
restore finds each node's backup and LSN by name, even when the source cluster is gone.
See docs/backup.md.
"""

from __future__ import annotations

import json
import secrets
import shutil
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable

from finshard import db
from finshard.errors import ClusterError
from finshard.local import pgbackrest
from finshard.local import tls as tls_mod
from finshard.local.cluster import Cluster
from finshard.local.postgres import chown_to_postgres, find_pg_bin, free_port, log_tail, run_pg
from finshard.local.settings import node_settings, write_settings
from finshard.local.state import Node
from finshard.ops import audit
from finshard.ops.backup import check_path, create_restore_point
from finshard.router import Router

__all__ = ["backup", "list_backups", "restore", "drill", "BACKUP_TYPES"]

BACKUP_TYPES = ("full", "diff", "incr")
Progress = Callable[[str], None]


# -- backups ---------------------------------------------------------------------------------------------
def backup(directory: str | Path, *, backup_type: str = "full", progress: Progress = lambda _m: None) -> dict[str, Any]:
    """Back up every node (pgBackRest, in parallel); return per node the new backup's label and times."""
    if backup_type not in BACKUP_TYPES:
        raise ClusterError(f"--type must be one of {', '.join(BACKUP_TYPES)}, not {backup_type!r}")
    cluster = Cluster.load(directory)
    pgbackrest.require(cluster)
    down = [r["name"] for r in cluster.status() if not r["up"]]
    if down:
        raise ClusterError(f"{', '.join(down)} not running; start the cluster with: finshard cluster up --dir {cluster.directory}")
    started = time.monotonic()

    def one(node: Node) -> dict[str, Any]:
        progress(f"{backup_type} backup of {node.name}")
        t0 = time.monotonic()
        res = pgbackrest.run(cluster, node, f"--type={backup_type}", "backup", timeout=3600)
        if res.returncode != 0:
            raise ClusterError(f"backup of {node.name} failed: {pgbackrest.failed(res)}")
        latest = _info(cluster, node)[-1]
        return {"node": node.name, "seconds": round(time.monotonic() - t0, 2), **latest}

    with ThreadPoolExecutor(max_workers=len(cluster.nodes)) as pool:
        nodes = list(pool.map(one, cluster.nodes))
    return {"type": backup_type, "seconds": round(time.monotonic() - started, 2), "nodes": nodes}


def _info(cluster: Cluster, node: Node, *, config: Path | None = None) -> list[dict[str, Any]]:
    res = pgbackrest.run(cluster, node, "--output=json", "info", config=config, timeout=120)
    if res.returncode != 0:
        raise ClusterError(f"pgbackrest info for {node.name} failed: {pgbackrest.failed(res)}")
    try:
        stanzas = json.loads(res.stdout)
    except ValueError:
        raise ClusterError(f"pgbackrest info for {node.name} printed no JSON") from None
    out = []
    for entry in (stanzas[0].get("backup", []) if stanzas else []):
        archive, lsn, ts, info = entry.get("archive") or {}, entry.get("lsn") or {}, entry["timestamp"], entry["info"]
        out.append({
            "label": entry["label"], "type": entry["type"],
            "started": _ts(ts["start"]), "stopped": _ts(ts["stop"]),
            "size": info["size"], "delta": info["delta"], "repo_size": info["repository"]["delta"],
            "wal_start": archive.get("start"), "wal_stop": archive.get("stop"),
            "lsn_start": lsn.get("start"), "lsn_stop": lsn.get("stop"),
        })
    return out


def _ts(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat()


def list_backups(directory: str | Path) -> list[dict[str, Any]]:
    """Every node's backups, oldest first: label, type, times, sizes, and the WAL range each covers."""
    cluster = Cluster.load(directory)
    pgbackrest.require(cluster)
    return [{"node": node.name, "stanza": pgbackrest.stanza(cluster, node), "backups": _info(cluster, node)} for node in cluster.nodes]


# -- restore points ----------------------------------------------------------------------------------------
def _registry_rows(conn: db.Connection[Any]) -> list[dict[str, Any]]:
    rows = conn.execute("SELECT name, created_at, lsns FROM finshard.restore_points ORDER BY created_at").fetchall()
    return [{"name": n, "created_at": c, "lsns": {int(k): v for k, v in lsns.items()}} for n, c, lsns in rows]


# -- restore ------------------------------------------------------------------------------------------------
def restore(directory: str | Path, to: str | Path, *, target_name: str | None = None, target_time: datetime | None = None,
            backup_repo: str | Path | None = None, progress: Progress = lambda _m: None) -> dict[str, Any]:
    """Restore every node of the cluster in ``directory`` into a new cluster in ``to``, replayed to
    a restore point (or, on one node, a time), promoted, re-pointed and started."""
    if (target_name is None) == (target_time is None):
        raise ClusterError("give exactly one of --target-name and --target-time")
    if target_time is not None and target_time.tzinfo is None:
        raise ClusterError("--target-time needs a time zone (e.g. 2026-12-01T10:00:00+00:00)")
    source = Cluster.load(directory)
    if source.citus and target_time is not None and target_time > datetime.now(timezone.utc):
        # On Citus a time resolves to the last restore point before it: a future time would quietly
        # drop everything after that point. (One node replays WAL to the time itself, and refuses.)
        raise ClusterError(f"--target-time {target_time.isoformat()} is in the future; give a past time, "
                           "or --target-name for a restore point")
    pgbackrest.require(source)
    to = check_path(Path(to), "the restore directory")
    if to == source.directory or any(Path(n.datadir) in (to, *to.parents) for n in source.nodes):
        raise ClusterError(f"restore into a new directory, not over the cluster in {source.directory}")
    if to.exists() and any(to.iterdir()):
        raise ClusterError(f"{to} is not empty; restore into a new or empty directory")
    started = time.monotonic()
    # A restore that fails leaves nothing behind: its copy of the data and its keys are removed.
    existed = to.exists()
    try:
        return _restore(source, to, target_name, target_time, backup_repo, progress, started)
    except BaseException:
        if not existed:
            shutil.rmtree(to, ignore_errors=True)
        elif to.exists():  # it was empty: all of it is the restore's
            for child in to.iterdir():
                shutil.rmtree(child, ignore_errors=True) if child.is_dir() else child.unlink(missing_ok=True)
        raise


def _restore(source: Cluster, to: Path, target_name: str | None, target_time: datetime | None,
             backup_repo: str | Path | None, progress: Progress, started: float) -> dict[str, Any]:
    infos = {node.name: _info(source, node) for node in source.nodes}
    for node in source.nodes:
        if not infos[node.name]:
            raise ClusterError(f"{node.name} has no backup; take one first with: finshard backup --dir {source.directory}")

    # What each node replays to, and from which backup.
    target: dict[str, Any]
    if target_time is not None and not source.citus:
        node = source.nodes[0]
        usable = [b for b in infos[node.name] if datetime.fromisoformat(b["stopped"]) <= target_time]
        if not usable:
            raise ClusterError(f"no backup of {node.name} finished before {target_time.isoformat()}; "
                               f"the first finished at {infos[node.name][0]['stopped']}")
        target = {"type": "time", "target": target_time.isoformat(), "sets": {node.name: usable[-1]["label"]}}
    else:
        registry = _read_registry(source, infos, to, progress)
        if target_name is not None:
            point = next((p for p in registry if p["name"] == target_name), None)
            if point is None:
                raise ClusterError(f"no restore point named {target_name!r} in the cluster's registry "
                                   f"(finshard.restore_points); known: {', '.join(p['name'] for p in registry[-5:]) or 'none'}")
        else:
            assert target_time is not None
            before = [p for p in registry if p["created_at"] <= target_time]
            if not before:
                raise ClusterError(f"no cluster-consistent restore point at or before {target_time.isoformat()}; on Citus "
                                   "a time target restores to the last one (finshard backup restore-point, or the scheduled job)")
            point = before[-1]
        target = {"type": "name", "target": point["name"], "created_at": point["created_at"].isoformat(), "sets": {}}
        for node in source.nodes:
            group = _group(node)
            lsn = point["lsns"].get(group)
            if lsn is None:
                raise ClusterError(f"restore point {point['name']} has no LSN for {node.name} (group {group}): "
                                   "the node joined after it")
            usable = [b for b in infos[node.name] if b["lsn_stop"] and _lsn(b["lsn_stop"]) <= _lsn(lsn)]
            if not usable:
                raise ClusterError(f"no backup of {node.name} ends before restore point {point['name']} (LSN {lsn})")
            target["sets"][node.name] = usable[-1]["label"]
        _wait_archived(source, point["lsns"], progress)

    progress(f"restoring {len(source.nodes)} nodes into {to} ({target['type']} {target['target']})")
    new = _restore_nodes(source, to, target, backup_repo, progress)
    return {"directory": str(to), "dsn": new.dsn(), "citus": new.citus, "target_type": target["type"],
            "target": target["target"], "restore_point_created_at": target.get("created_at"),
            "backups": target["sets"], "nodes": [{"name": n.name, "port": n.port} for n in new.nodes],
            "seconds": round(time.monotonic() - started, 2)}


def _wait_archived(source: Cluster, lsns: dict[int, str], progress: Progress, timeout: float = 120) -> None:
    """Each reachable source node has archived the WAL segment holding its LSN of the restore point.
    Archiving is asynchronous: a restore started before that ends short of the point. A node that
    cannot be reached (the source is down) has archived what it will."""
    deadline = time.monotonic() + timeout
    for node in source.nodes:
        lsn = lsns.get(_group(node))
        if lsn is None:
            continue
        try:
            with db.connect(node.dsn()) as conn:
                while not conn.execute("SELECT coalesce(a.last_archived_wal >= pg_walfile_name(%s::pg_lsn), false) "
                                       "FROM pg_stat_archiver a", (lsn,)).fetchone()[0]:  # type: ignore[index]
                    if time.monotonic() > deadline:
                        progress(f"{node.name} has not archived the WAL up to {lsn} yet; restoring what is archived")
                        break
                    time.sleep(0.5)
        except db.Error:
            continue


def _lsn(text: str) -> int:
    hi, lo = text.split("/")
    return (int(hi, 16) << 32) + int(lo, 16)


def _group(node: Node) -> int:
    if node.group is not None:
        return node.group
    return 0 if node.role in ("coordinator", "single") else -1


def _read_registry(source: Cluster, infos: dict[str, list[dict[str, Any]]], to: Path, progress: Progress) -> list[dict[str, Any]]:
    """The restore points, from the running coordinator; when it is gone, from a restored copy of it."""
    try:
        with db.connect(source.dsn(), connect_timeout=3) as conn:
            return _registry_rows(conn)
    except db.OperationalError:
        pass
    progress(f"{source.coordinator.name} is unreachable: restoring a copy of it to read its restore points")
    scratch = to.parent / f".{to.name}-registry-{uuid.uuid4().hex[:6]}"
    # As restored: the source's certificate and pg_hba, verified with the source's CA.
    blank = Node(source.coordinator.name, source.coordinator.role, free_port(), str(scratch / source.coordinator.name),
                 None, source.coordinator.group, source.coordinator.tls_dir)
    try:
        copy = _restore_one(source, blank, infos[source.coordinator.name][-1]["label"], None, progress)
        with db.connect(copy.dsn()) as conn:
            return _registry_rows(conn)
    finally:
        if Path(blank.datadir, "postmaster.pid").exists():
            _stop(blank)
        shutil.rmtree(scratch, ignore_errors=True)


def _restore_one(source: Cluster, new: Node, label: str, target: dict[str, Any] | None,
                 progress: Progress, cluster: Cluster | None = None) -> Node:
    """pgbackrest restore of the source's node of the same name into ``new`` (its data directory,
    port, TLS), started in isolation (no Citus, no pg_cron, no archiving) and replayed to the
    target, or to the end of its WAL. With ``cluster``, the node gets that cluster's certificate."""
    node = next(n for n in source.nodes if n.name == new.name)
    datadir = Path(new.datadir)
    directory = datadir.parent
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o755)
    datadir.mkdir(mode=0o700)
    chown_to_postgres(datadir)
    lock = directory / "restore-lock"
    # A spool of its own: restore empties the stanza's archive queue in the spool, which the
    # source's node may be filling at that moment (pgBackRest then fails: directory not empty).
    spool = directory / "restore-spool"
    for path in (lock, spool):
        path.mkdir(exist_ok=True)
        chown_to_postgres(path)
    # archive-get without the async queue: the source's nodes may be pushing to the same stanza.
    restore_command = (f"pgbackrest --config={pgbackrest.config_path(source)} --stanza={pgbackrest.stanza(source, node)} --archive-async=n "
                       f"--lock-path={lock} --pg1-path={datadir} archive-get %f \"%p\"")
    args = [f"--pg1-path={datadir}", f"--set={label}", f"--lock-path={lock}", f"--spool-path={spool}",
            f"--recovery-option=restore_command={restore_command}"]
    if target is not None:
        args += [f"--type={target['type']}", f"--target={target['target']}", "--target-action=promote"]
    progress(f"pgbackrest restore of {node.name} from {label}")
    res = pgbackrest.run(source, node, *args, "restore", timeout=3600)
    if res.returncode != 0:
        raise ClusterError(f"pgbackrest restore of {node.name} failed: {pgbackrest.failed(res)}")
    if cluster is not None and cluster.tls:
        cluster.install_node_tls(new)
    _leave_patroni(datadir)
    _drop_auto_settings(datadir, ("port", "unix_socket_directories", "primary_conninfo", "primary_slot_name"))
    write_settings(datadir, {**node_settings(new, citus=False, preload=[]), "archive_mode": "off", "hot_standby": "on"})
    pg_bin = find_pg_bin()
    log = datadir / "server.log"
    res = run_pg([str(pg_bin / "pg_ctl"), "-D", str(datadir), "-l", str(log), "-w", "-t", "600", "start"])
    if res.returncode != 0:
        raise ClusterError(f"the restored {node.name} did not start: {_reason(log) or res.stderr.strip()}")
    _wait_promoted(new, log)
    return new


def _drop_auto_settings(datadir: Path, names: tuple[str, ...]) -> None:
    """postgresql.auto.conf (ALTER SYSTEM) overrides postgresql.conf: a setting there that names the
    source's place (its port, socket, primary) would win over the restored node's own."""
    path = datadir / "postgresql.auto.conf"
    if path.exists():
        kept = [line for line in path.read_text().splitlines(keepends=True)
                if line.split("=", 1)[0].strip() not in names]
        path.write_text("".join(kept))


def _leave_patroni(datadir: Path) -> None:
    """A backup of an --ha member: the restored node runs without Patroni. Patroni's postgresql.conf
    names the member's files (pg_hba.conf, certificate, socket) and its synchronous standby, which
    would hold every commit: the original, which Patroni kept as postgresql.base.conf, comes back.
    Its key files live in the group's directory, outside the data directory and so outside the
    backup (finshard._key_path): the restored node gets copies of them and stops pointing there."""
    base = datadir / "postgresql.base.conf"
    if base.exists():
        base.replace(datadir / "postgresql.conf")
        for name in ("patroni.dynamic.json", "postgresql.conf.backup", "pg_hba.conf.backup", "pg_ident.conf.backup"):
            (datadir / name).unlink(missing_ok=True)
    pointer = datadir / "finshard_key_dir"
    if not pointer.exists():
        return
    source = Path(pointer.read_text().strip())
    names = ("audit", "pan", "pii")
    missing = [n for n in names if not (source / f"finshard_{n}.key").exists()]
    if missing:
        raise ClusterError(f"the backup's key files are not in {source} ({', '.join(missing)} missing); "
                           "restore them from where the cluster's keys are kept, then restore again")
    for name in names:
        target = datadir / f"finshard_{name}.key"
        tls_mod.write_private(target, (source / f"finshard_{name}.key").read_bytes())
        chown_to_postgres(target)
    pointer.unlink()


def _wait_promoted(node: Node, log: Path, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with db.connect(node.dsn(), connect_timeout=5) as conn:
                if not conn.execute("SELECT pg_is_in_recovery()").fetchone()[0]:  # type: ignore[index]
                    return
        except db.OperationalError:
            if "database system is shut down" in log_tail(log, 1):
                raise ClusterError(f"recovery of {node.name} failed: {_reason(log)}") from None
        if time.monotonic() > deadline:
            raise ClusterError(f"{node.name} did not finish recovery within {int(timeout)}s: {log_tail(log)}")
        time.sleep(0.3)


def _reason(log: Path) -> str:
    """The server log's last FATAL (or ERROR) line: why a restored node stopped."""
    lines = log_tail(log, 40).split(" | ")
    for level in ("FATAL:", "ERROR:"):
        found = [i for i, line in enumerate(lines) if level in line]
        if found:
            i = found[-1]
            detail = lines[i + 1].split("DETAIL:", 1)[1].strip() if i + 1 < len(lines) and "DETAIL:" in lines[i + 1] else ""
            return lines[i].split(level, 1)[1].strip() + (f" ({detail})" if detail else "")
    return lines[-1] if lines else ""


def _stop(node: Node) -> None:
    pg_bin = find_pg_bin()
    run_pg([str(pg_bin / "pg_ctl"), "-D", node.datadir, "-m", "fast", "-w", "-t", "60", "stop"])


def _restore_nodes(source: Cluster, to: Path, target: dict[str, Any], backup_repo: str | Path | None,
                   progress: Progress) -> Cluster:
    to.mkdir(parents=True, exist_ok=True)
    to.chmod(0o755)
    new = Cluster(directory=to, citus=source.citus, nodes=[], tls=source.tls,
                  backup_repo=str(check_path(Path(backup_repo or to / "backup"), "the backup repository")))
    used: set[int] = set()
    for node in source.nodes:
        port = free_port()
        while port in used:
            port = free_port()
        used.add(port)
        new.nodes.append(Node(node.name, node.role, port, str(to / node.name), None, node.group))
    if new.tls:
        # Its own CA and certificates; the superuser's password is the one in the restored catalog.
        new.make_tls(password=tls_mod.read_password(source.tls_dir))
    new.save()  # complete=false until the restored cluster is up
    skeleton = list(new.nodes)
    restored: list[Node] = []
    try:
        with ThreadPoolExecutor(max_workers=len(skeleton)) as pool:
            restored = list(pool.map(lambda n: _restore_one(source, n, target["sets"][n.name], target, progress, new), skeleton))
        # Recovery settings pgBackRest wrote are spent once promoted; a later standby must not inherit them.
        for node in restored:
            with db.connect(node.dsn()) as conn:
                for setting in ("restore_command", "recovery_target_name", "recovery_target_time", "recovery_target_action"):
                    conn.execute(f"ALTER SYSTEM RESET {setting}")
        if source.citus:
            progress("pointing every node's Citus metadata at the restored nodes")
            _repoint(restored)
        for node in restored:
            _stop(node)
        new.nodes = restored
        for node in restored:
            write_settings(Path(node.datadir), node_settings(node, citus=new.citus, cluster=new))
        new.save()
        new.start(progress)
        with db.connect(new.dsn()) as conn:
            # The source's archive directory is not this cluster's: retiring waits for a new one (FS072).
            conn.execute("UPDATE finshard.settings SET value = '' WHERE key = 'archive_dir'")
        if new.citus:
            # Two-phase commits caught prepared at the point: Citus commits or rolls back each as
            # its initiator's log says.
            for node in new.nodes:
                with db.connect(node.dsn()) as conn:
                    conn.execute("SELECT recover_prepared_transactions()")
        pgbackrest.setup(new, progress)
        new.complete = True
        new.save()
    except BaseException:
        for node in skeleton:
            if Path(node.datadir, "postmaster.pid").exists():
                _stop(node)
        raise
    return new


def _repoint(restored: list[Node]) -> None:
    """Rewrite pg_dist_node on every restored node while Citus is not loaded.

    citus_update_node would be the tool on a live cluster, but here Citus' own daemons (2PC
    recovery, metadata sync) would start with the old addresses and reach the source cluster's
    nodes. Without the library loaded and with triggers off, nothing leaves the node.
    """
    by_group = {n.group: n for n in restored}
    for node in restored:
        with db.connect(node.dsn()) as conn:
            with conn.transaction():
                conn.execute("SET LOCAL session_replication_role = replica")
                for group, target in by_group.items():
                    conn.execute("UPDATE pg_catalog.pg_dist_node SET nodename = '127.0.0.1', nodeport = %s "
                                 "WHERE groupid = %s AND noderole = 'primary'", (target.port, group))
                # The source's pgbouncers are not the restored cluster's way in.
                conn.execute("DELETE FROM pg_catalog.pg_dist_poolinfo")


# -- drill ---------------------------------------------------------------------------------------------------
def _retire_drill_users(dsn: str, users: list[int], accounts: dict[str, list[int]], tag: str) -> None:
    """The drill's money leaves the source cluster and its users are deactivated: nothing it made
    there can be used afterwards (the ledger keeps every movement)."""
    with Router.connect(dsn) as r:
        for acc in (a for ids in accounts.values() for a in ids):
            balance = r.balance(account_id=acc)
            if balance > 0:
                r.withdraw(account_id=acc, amount=balance, idempotency_key=f"drill-{tag}-out-{acc}")
        for user in users:
            r.deactivate_user(user_id=user)


def drill(directory: str | Path, *, to: str | Path | None = None, clients: int = 4, keep: bool = False,
          progress: Progress = lambda _m: None) -> dict[str, Any]:
    """Back up, transfer under load, take a restore point mid-stream, transfer more, restore into a
    new cluster and prove that exactly the transfers acknowledged before the point are there."""
    cluster = Cluster.load(directory)
    pgbackrest.require(cluster)
    dsn = cluster.dsn()
    to = Path(to) if to else cluster.directory.parent / f"{cluster.directory.name}-drill-{uuid.uuid4().hex[:6]}"
    tag = uuid.uuid4().hex[:8]
    source_clean = not audit.verify(dsn)["problems"]
    with Router.connect(dsn) as r:
        # Nobody ever logs in as these users: a random password, kept nowhere.
        users = [r.create_user(username=f"drill{tag}u{i}", email=f"drill{tag}u{i}@example.com",
                               password=secrets.token_urlsafe(24)) for i in range(6)]
        accounts = {cur: [r.open_account(user_id=u, currency=cur, account_type="cash") for u in users] for cur in ("USD", "EUR")}
        for cur, ids in accounts.items():
            for acc in ids:
                r.deposit(account_id=acc, amount=Decimal("1000.00"), idempotency_key=f"drill-{tag}-dep-{acc}")
        nodes = {a: str(r.shard_for(a).node) for ids in accounts.values() for a in ids}
    t0 = time.monotonic()
    backup_report = backup(directory, backup_type="incr", progress=progress)
    backup_seconds = round(time.monotonic() - t0, 2)

    acks: dict[str, tuple[float, float]] = {}   # key -> (sent, acknowledged), monotonic
    cross: set[str] = set()
    lock = threading.Lock()
    stop = threading.Event()
    point: dict[str, float] = {}

    def client(n: int) -> None:
        import random
        rng = random.Random(n)
        with Router.connect(dsn) as rc:
            i = 0
            while not stop.is_set():
                cur = rng.choice(("USD", "EUR"))
                src, dst = rng.sample(accounts[cur], 2)
                key = f"drill-{tag}-{n}-{i}"
                i += 1
                sent = time.monotonic()
                rc.transfer(from_account_id=src, to_account_id=dst, amount=Decimal("0.01"), idempotency_key=key)
                with lock:
                    acks[key] = (sent, time.monotonic())
                    if nodes[src] != nodes[dst]:
                        cross.add(key)

    progress(f"transfers through the router from {clients} clients; a restore point mid-stream")
    errors: list[BaseException] = []

    def run(n: int) -> None:
        try:
            client(n)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    time.sleep(1.5)
    name = f"drill-{tag}"
    point["begin"] = time.monotonic()
    lsns = create_restore_point(dsn, name)
    point["end"] = time.monotonic()
    time.sleep(1.5)
    stop.set()
    for t in threads:
        t.join()
    _retire_drill_users(dsn, users, accounts, tag)
    if errors:
        raise ClusterError(f"a drill transfer failed: {errors[0]}")
    before = {k for k, (_s, a) in acks.items() if a < point["begin"]}
    after = {k for k, (s, _a) in acks.items() if s > point["end"]}

    t1 = time.monotonic()
    restore(directory, to, target_name=name, progress=progress)
    restore_seconds = round(time.monotonic() - t1, 2)
    restored = Cluster.load(to)
    problems: list[str] = []
    try:
        with db.connect(restored.dsn()) as conn:
            ids = [a for v in accounts.values() for a in v]
            found: dict[str, int] = dict(conn.execute(
                "SELECT idempotency_key, count(*) FROM finshard.transfers WHERE from_account_id = ANY(%s) "
                "AND idempotency_key LIKE %s GROUP BY 1", (ids, f"drill-{tag}-%")).fetchall())
            missing = [k for k in before if found.get(k) != 1]
            twice = [k for k, c in found.items() if c != 1]
            late = [k for k in after if k in found]
            if missing:
                problems.append(f"{len(missing)} transfers acknowledged before the restore point are missing, e.g. {missing[0]}")
            if twice:
                problems.append(f"{len(twice)} transfers appear more than once, e.g. {twice[0]}")
            if late:
                problems.append(f"{len(late)} transfers acknowledged after the restore point are present, e.g. {late[0]}")
            for cur, accs in accounts.items():
                total, moved = conn.execute(
                    "SELECT (SELECT sum(balance) FROM finshard.accounts WHERE account_id = ANY(%s)), "
                    "(SELECT sum(amount) FROM finshard.transactions WHERE account_id = ANY(%s) "
                    " AND transaction_type IN ('deposit', 'withdraw'))", (accs, accs)).fetchone()  # type: ignore[misc]
                if total != moved:
                    problems.append(f"{cur}: the drill accounts hold {total}, deposits minus withdrawals are {moved}")
            stale = conn.execute(
                "SELECT count(*) FROM finshard.accounts a WHERE a.account_id = ANY(%s) AND a.balance <> "
                "(SELECT t.balance_after FROM finshard.transactions t WHERE t.account_id = a.account_id "
                " ORDER BY t.entry_seq DESC LIMIT 1)", (ids,)).fetchone()[0]  # type: ignore[index]
            if stale:
                problems.append(f"{stale} accounts' balance differs from their last balance_after")
            for node in restored.nodes:
                with db.connect(node.dsn()) as nc:
                    prepared = nc.execute("SELECT count(*) FROM pg_prepared_xacts").fetchone()[0]  # type: ignore[index]
                if prepared:
                    problems.append(f"{node.name} holds {prepared} prepared transactions nobody resolved")
        # The whole audit log and ledger when the source passes audit verify; else the drill's own accounts.
        if source_clean:
            verified = audit.verify(restored.dsn())
            problems += [f"audit: account {p['account_id']}: {p['problem']}" for p in verified["problems"]]
        else:
            for acc in ids:
                verified = audit.verify(restored.dsn(), account_id=acc)
                problems += [f"audit: account {p['account_id']}: {p['problem']}" for p in verified["problems"]]
        # The restored cluster is a cluster: the router finds its nodes and moves money across them.
        with Router.connect(restored.dsn()) as rr:
            src, dst = max(((a, b) for a in accounts["USD"] for b in accounts["USD"] if a != b),
                           key=lambda p: nodes[p[0]] != nodes[p[1]])
            rr.transfer(from_account_id=src, to_account_id=dst, amount=Decimal("0.01"), idempotency_key=f"drill-{tag}-restored")
        status = restored.status()
    finally:
        if not keep:
            restored.down()
            shutil.rmtree(to, ignore_errors=True)
    result = {
        "citus": cluster.citus, "nodes": len(cluster.nodes), "restore_point": name, "restore_point_lsns": lsns,
        "transfers_acknowledged": len(acks), "acknowledged_before_point": len(before),
        "started_after_point": len(after), "in_flight_at_point": len(acks) - len(before) - len(after),
        "cross_node_transfers": sum(1 for k in acks if k in cross),
        "backup_seconds": backup_seconds, "backup": backup_report["nodes"], "restore_seconds": restore_seconds,
        "restored_directory": str(to) if keep else None, "restored_nodes_up": all(s["up"] for s in status),
        "drill_users": users,
        "audit_scope": "cluster" if source_clean else "drill accounts (the source's own audit verify reports problems)",
        "problems": problems, "passed": not problems,
    }
    return result

