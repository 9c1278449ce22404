"""A local finshard cluster on this machine: a Citus coordinator and N workers, or one plain node.

Each node is its own PostgreSQL 15 instance (initdb, pg_ctl) on a free 127.0.0.1 port, with its
data directory under the cluster directory. When invoked as root the servers run as the
``postgres`` OS user (finshard.local.postgres). The state lives in ``DIR/cluster.json``.
Every failure the caller can fix raises ClusterError with a one-line reason.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Self

from finshard import db
from finshard.errors import ClusterError
from finshard.local import ha as ha_mod
from finshard.local import pgbackrest
from finshard.local import pgbouncer as pgb
from finshard.local import tls as tls_mod
from finshard.local.postgres import (chown_to_postgres, citus_installed, find_pg_bin, free_port, group_postgres,
                                     log_tail, make_traversable, port_in_use, run_pg)
from finshard.local.settings import PG_HBA_TLS, node_settings, write_settings
from finshard.local.state import DATABASE, STATE_FILE, SUPERUSER, ClusterState, Member, Node
from finshard.ops.backup import check_path

__all__ = ["Cluster"]


class Cluster(ClusterState):
    """A local cluster rooted at ``directory``; load() reads its state, up() creates or starts it."""

    @classmethod
    def load(cls, directory: str | Path) -> Self:
        """The cluster in ``directory``; with --ha its nodes name the primaries Patroni reports now."""
        cluster = cls.read(directory)
        if cluster.ha and cluster.complete:
            cluster.follow_primaries()
        return cluster

    def follow_primaries(self) -> bool:
        """--ha: point each group's node at the member Patroni reports as its primary now (the
        last known one stays when Patroni does not answer). True when one changed."""
        changed = False
        for node in self.nodes:
            member = ha_mod.primary_of(self, node.group or 0)
            if member is not None and (member.port != node.port or member.datadir != node.datadir):
                node.port, node.datadir = member.port, member.datadir
                changed = True
        if changed:
            self.save()
        return changed

    # -- lifecycle ---------------------------------------------------------------------------
    @classmethod
    def up(cls, directory: str | Path, *, workers: int = 2, use_citus: bool | None = None,
           pgbouncer: bool = False, backup_repo: str | Path | None = None, tls: bool = True,
           ha: bool = False, replicas: int = 1,
           progress: Callable[[str], None] = lambda _m: None) -> Self:
        """Create and start a cluster in ``directory``, or start an existing one (harmless if running).

        use_citus None means: Citus when installed. Every node archives its WAL with pgBackRest to
        ``backup_repo`` (default DIR/backup). Raises ClusterError with the reason on failure.
        """
        directory = Path(directory).resolve()
        if workers < 0 or workers > 16:
            raise ClusterError(f"--workers must be between 0 and 16, not {workers}")
        if ha and not 1 <= replicas <= 4:
            raise ClusterError(f"--replicas must be between 1 and 4, not {replicas}")
        if not ha and replicas != 1:
            raise ClusterError("--replicas counts the standbys of --ha; without --ha a cluster has none")
        if ha and pgbouncer:
            raise ClusterError("--pgbouncer does not follow a Patroni failover; run --ha without it (docs/ha.md)")
        pg_bin = find_pg_bin()
        if (directory / STATE_FILE).exists():
            cluster = cls.load(directory)
            if ha and not cluster.ha:
                raise ClusterError(f"the cluster in {directory} was created without --ha; create a new one with --ha")
            if pgbouncer and cluster.ha:
                raise ClusterError("--pgbouncer does not follow a Patroni failover; this cluster runs with --ha (docs/ha.md)")
            if backup_repo is not None and cluster.backup_repo and Path(backup_repo).resolve() != Path(cluster.backup_repo):
                raise ClusterError(f"this cluster archives to {cluster.backup_repo}; it cannot move to another repository")
            if not cluster.complete:
                raise ClusterError(f"{directory} holds a half-created cluster (an earlier 'up' failed); "
                                   f"run 'finshard cluster down --dir {directory}', remove the directory and run up again")
            cluster.start(progress)
            if pgbouncer and not cluster.pgbouncer:
                cluster.pgbouncer = True
                cluster.save()
            if cluster.pgbouncer:
                pgb.start_all(cluster, progress)
            return cluster
        if directory.exists() and any(directory.iterdir()):
            raise ClusterError(f"{directory} is not empty and holds no finshard cluster; choose an empty or new directory")
        available = citus_installed(pg_bin)
        if use_citus and not available:
            raise ClusterError("the citus extension is not installed for PostgreSQL 15 on this machine; run without --citus for a single plain node")
        citus = available if use_citus is None else use_citus
        if citus and workers == 0:
            raise ClusterError("a Citus cluster needs at least one worker to hold the shards (--workers 1 or more), "
                               "or --no-citus for one plain node")
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ClusterError(f"cannot create {directory}: {exc.strerror}") from None
        if not os.access(directory, os.W_OK):
            raise ClusterError(f"{directory} is not writable")
        if not citus:
            progress("citus is not installed (or --no-citus): one plain PostgreSQL node, distribution is off")
        nodes = [Node("coordinator" if citus else "single", "coordinator" if citus else "single", 0, str(directory / "coordinator"))]
        if citus:
            nodes += [Node(f"worker{i}", "worker", 0, str(directory / f"worker{i}")) for i in range(1, workers + 1)]
        repo = check_path(Path(backup_repo) if backup_repo else directory / "backup", "the backup repository")
        check_path(directory, "the cluster directory")
        if repo.exists() and not repo.is_dir():
            raise ClusterError(f"the backup repository {repo} is a file")
        cluster = cls(directory=directory, citus=citus, nodes=nodes, pgbouncer=pgbouncer, backup_repo=str(repo), tls=tls,
                      ha=ha)
        used: set[int] = set()

        def port() -> int:
            p = free_port()
            while p in used:
                p = free_port()
            used.add(p)
            return p

        for group, node in enumerate(nodes):
            node.port = port()
            if ha:
                node.group = group
                for i in range(replicas + 1):
                    name = f"{node.name}-{'abcde'[i]}"
                    member = Member(name, group, node.role, node.port if i == 0 else port(), str(directory / name), port())
                    cluster.members.append(member)
                node.datadir = cluster.members[-1 - replicas].datadir
        if ha:
            ha_mod.patroni_bin()
            ha_mod.etcd_bin()
            cluster.etcd_port, cluster.etcd_peer_port = port(), port()
        # Before anything is recorded: a directory the servers cannot reach is no cluster, half or whole.
        make_traversable(directory)
        cluster.save()  # complete=false until every node is up: a failure leaves a recognisable half-created dir
        if tls:
            progress("a private CA and a certificate per node (TLS on every TCP connection)")
            cluster.make_tls()
        pgbackrest.write_config(cluster)
        if ha:
            ha_mod.create(cluster, progress)
            cluster.follow_primaries()
            if not citus:
                cluster._create_database(cluster.coordinator)
        else:
            for node in nodes:
                progress(f"initdb {node.name} (port {node.port})")
                cluster._initdb(pg_bin, node)
            cluster.start(progress)
            for node in nodes:
                cluster._create_database(node)
            if citus:
                progress("registering workers with the coordinator")
                cluster._register_workers()
        cluster.save()
        pgbackrest.setup(cluster, progress)
        cluster.complete = True
        cluster.save()
        if pgbouncer:
            pgb.start_all(cluster, progress)
        return cluster

    def start(self, progress: Callable[[str], None] = lambda _m: None) -> None:
        if self.ha:
            ha_mod.start(self, progress)
            self.follow_primaries()
            return
        pg_bin = find_pg_bin()
        for node in self.nodes:
            if self._running(pg_bin, node):
                continue
            if port_in_use(node.port):
                raise ClusterError(f"port {node.port} of {node.name} is taken by another program; stop it or recreate the cluster")
            progress(f"starting {node.name} on port {node.port}")
            log = Path(node.datadir) / "server.log"
            res = run_pg([str(pg_bin / "pg_ctl"), "-D", node.datadir, "-l", str(log), "-w", "-t", "60", "start"])
            if res.returncode != 0:
                last = log_tail(log)
                raise ClusterError(f"{node.name} did not start: {last or res.stderr.strip() or res.stdout.strip()}")

    def down(self, progress: Callable[[str], None] = lambda _m: None) -> None:
        """Stop every node (and pgbouncer); stopping a stopped cluster is harmless."""
        if self.pgbouncer:
            pgb.stop_all(self)
        if self.ha:
            ha_mod.stop(self, progress)
            return
        pg_bin = find_pg_bin()
        for node in reversed(self.nodes):
            if not Path(node.datadir, "PG_VERSION").exists() or not self._running(pg_bin, node):
                continue
            progress(f"stopping {node.name}")
            res = run_pg([str(pg_bin / "pg_ctl"), "-D", node.datadir, "-m", "fast", "-w", "-t", "60", "stop"])
            if res.returncode != 0:
                raise ClusterError(f"{node.name} did not stop: {res.stderr.strip() or res.stdout.strip()}")

    def status(self) -> list[dict[str, Any]]:
        """One dict per node: name, role, port, datadir, up, citus version (None when down or absent)."""
        pg_bin = find_pg_bin()
        rows = []
        groups = {}
        if self.ha:
            groups = {g["group"]: g for g in ha_mod.groups(self)}
        for node in self.nodes:
            up = Path(node.datadir, "PG_VERSION").exists() and self._running(pg_bin, node)
            version = None
            if up:
                try:
                    version = db.scalar(node.dsn(), "SELECT extversion FROM pg_extension WHERE extname = 'citus'")
                except Exception:  # noqa: BLE001 - a node that answers pg_ctl but not SQL is still reported
                    version = None
            rows.append({"name": node.name, "role": node.role, "port": node.port, "datadir": node.datadir,
                         "up": up, "citus": version, "pgbouncer_port": node.pgbouncer_port, "tls": bool(node.tls_dir),
                         "backup_repo": self.backup_repo})
            if self.ha:
                group = groups.get(node.group or 0, {})
                rows[-1].update({"group": node.group, "primary": group.get("primary"),
                                 "members": group.get("members", [])})
                rows[-1]["up"] = up and group.get("primary") is not None
        return rows

    # -- steps ---------------------------------------------------------------------------------
    def _initdb(self, pg_bin: Path, node: Node) -> None:
        datadir = Path(node.datadir)
        datadir.mkdir(mode=0o700, exist_ok=True)
        chown_to_postgres(datadir)
        auth = ["--auth=trust"]
        pwfile = None
        if self.tls:
            # The superuser's password for TCP logins (SCRAM), set by initdb from a file only it reads.
            pwfile = Path(self.directory / "tls" / f".initdb-{node.name}")
            tls_mod.write_private(pwfile, tls_mod.read_password(self.directory / "tls").encode())
            chown_to_postgres(pwfile)
            auth = ["--auth-local=trust", "--auth-host=scram-sha-256", f"--pwfile={pwfile}"]
        try:
            res = run_pg([str(pg_bin / "initdb"), "-D", str(datadir), "-U", SUPERUSER, *auth,
                          "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"])
        finally:
            if pwfile is not None:
                pwfile.unlink(missing_ok=True)
        if res.returncode != 0:
            raise ClusterError(f"initdb of {node.name} failed: {(res.stderr or res.stdout).strip().splitlines()[-1]}")
        if self.tls:
            self.install_node_tls(node)
        write_settings(datadir, node_settings(node, citus=self.citus, cluster=self))

    def _running(self, pg_bin: Path, node: Node) -> bool:
        res = run_pg([str(pg_bin / "pg_ctl"), "-D", node.datadir, "status"])
        return res.returncode == 0

    def _create_database(self, node: Node) -> None:
        if not db.scalar(node.dsn("postgres"), "SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)):
            db.execute(node.dsn("postgres"), f"CREATE DATABASE {DATABASE}")
        if self.citus:
            db.execute(node.dsn(), "CREATE EXTENSION IF NOT EXISTS citus")
            if self.tls:
                self.set_authinfo(node)

    def set_authinfo(self, node: Node) -> None:
        """The superuser's password for Citus' node-to-node connections (pg_dist_authinfo, every
        node: Citus does not copy this table, and workers start connections too)."""
        with db.connect(node.dsn()) as conn:
            with conn.transaction():
                conn.execute("DELETE FROM pg_catalog.pg_dist_authinfo WHERE rolename = %s AND nodeid = 0", (SUPERUSER,))
                conn.execute("INSERT INTO pg_catalog.pg_dist_authinfo (nodeid, rolename, authinfo) VALUES (0, %s, %s)",
                             (SUPERUSER, f"password={tls_mod.read_password(self.directory / 'tls')}"))

    # -- TLS -------------------------------------------------------------------------------------
    def make_tls(self, password: str | None = None) -> None:
        """A CA, the superuser's password (new unless given) and a libpq password file for it, and
        a certificate per node."""
        directory = self.tls_dir
        directory.mkdir(parents=True, exist_ok=True)
        # The servers (OS user postgres) read ca.crt; nobody else lists the directory. Secrets are 0600.
        directory.chmod(0o750)
        group_postgres(directory)
        tls_mod.make_ca(directory, self.cluster_id)
        (directory / "ca.crt").chmod(0o644)
        password = tls_mod.write_password(directory, password)
        tls_mod.write_private(directory / "pgpass",
                              "".join(f"{host}:*:*:{SUPERUSER}:{password}\n" for host in ("127.0.0.1", "localhost")).encode())
        for node in self.nodes:
            node.tls_dir = str(directory)
            tls_mod.make_server_cert(directory, node.name, ["127.0.0.1", "localhost"])

    def install_node_tls(self, node: Node) -> None:
        """The node's certificate and key into its data directory (PostgreSQL wants the key owned by
        the server's user, mode 0600) and a pg_hba.conf that takes TCP only over TLS, with SCRAM."""
        datadir = Path(node.datadir)
        for suffix in ("crt", "key"):
            target = datadir / f"server.{suffix}"
            tls_mod.write_private(target, (self.tls_dir / f"{node.name}.{suffix}").read_bytes())
            chown_to_postgres(target)
        (datadir / "pg_hba.conf").write_text(PG_HBA_TLS)
        chown_to_postgres(datadir / "pg_hba.conf")

    def _register_workers(self) -> None:
        coordinator = self.coordinator.dsn()
        db.execute(coordinator, "SELECT citus_set_coordinator_host('127.0.0.1', %s)", (self.coordinator.port,))
        self.coordinator.group = 0
        for worker in self.workers:
            if not db.scalar(coordinator, "SELECT 1 FROM pg_dist_node WHERE nodeport = %s", (worker.port,)):
                db.execute(coordinator, "SELECT citus_add_node('127.0.0.1', %s)", (worker.port,))
            worker.group = db.scalar(coordinator, "SELECT groupid FROM pg_dist_node WHERE nodeport = %s", (worker.port,))
