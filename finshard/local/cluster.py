"""A local finshard cluster on this machine: a Citus coordinator and N workers, or one plain node.

Each node is its own PostgreSQL 15 instance (initdb, pg_ctl) on a free 127.0.0.1 port, with its
data directory under the cluster directory. When invoked as root the servers run as the
``postgres`` OS user (finshard.local.postgres). The state lives in ``DIR/cluster.json``.
Every failure the caller can fix raises ClusterError with a one-line reason.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from finshard.errors import ClusterError
from finshard.local import tls as tls_mod
from finshard.local.postgres import (chown_to_postgres, citus_installed, find_pg_bin, free_port, group_postgres,
                                     log_tail, make_traversable, pg_cron_installed, port_in_use, run_pg)

if TYPE_CHECKING:
    from finshard.local.ha import Member

__all__ = ["Node", "Cluster"]

DATABASE = "finshard"
SUPERUSER = "postgres"
STATE_FILE = "cluster.json"

# Settings every node gets. Citus needs the preload and prepared transactions (its 2PC);
# wal_level=logical lets Citus move and split shards online.
BASE_SETTINGS: dict[str, str] = {
    "listen_addresses": "'127.0.0.1'",
    "max_connections": "300",
    "max_prepared_transactions": "300",
    # Citus' daemons and pg_cron's jobs run as background workers.
    "max_worker_processes": "24",
    "shared_buffers": "'256MB'",
    "wal_level": "logical",
    "max_wal_senders": "10",
    "max_replication_slots": "10",
    "log_min_messages": "warning",
    "log_line_prefix": "'%m [%p] %q%u@%d '",
    "timezone": "'UTC'",
}
CITUS_SETTINGS: dict[str, str] = {
    # Without TLS (--no-tls); with it, node_settings verifies every node against the cluster's CA.
    "citus.node_conninfo": "'sslmode=disable'",
    "citus.max_cached_conns_per_worker": "4",
}


# pg_cron runs jobs in background workers: no connection to authenticate, and no host or port
# stored in cron.job that a restored copy of the node would still point at.
CRON_SETTINGS: dict[str, str] = {
    "cron.database_name": f"'{DATABASE}'",
    "cron.use_background_workers": "on",
}


@dataclass
class Node:
    """One PostgreSQL instance of the cluster."""

    name: str
    role: str  # coordinator | worker | single
    port: int
    datadir: str
    pgbouncer_port: int | None = None
    group: int | None = None  # Citus node group (0: coordinator); restore points are kept per group
    tls_dir: str | None = None  # the cluster's CA and password file (finshard.local.tls); None: --no-tls

    def dsn(self, dbname: str = DATABASE, *, via_pgbouncer: bool = False) -> str:
        """The superuser's DSN; with TLS it verifies the server against the cluster's CA and takes
        the password from the cluster's password file (never printed in the DSN itself)."""
        port = self.pgbouncer_port if via_pgbouncer and self.pgbouncer_port else self.port
        dsn = f"postgresql://{SUPERUSER}@127.0.0.1:{port}/{dbname}"
        if self.tls_dir:
            dsn += f"?sslmode=verify-full&sslrootcert={self.tls_dir}/ca.crt&passfile={self.tls_dir}/pgpass"
        return dsn


def preload_libraries(citus: bool, pg_bin: Path | None = None) -> list[str]:
    """Libraries every node preloads: citus (first, as it requires) and pg_cron where installed.

    pg_cron runs finshard's maintenance jobs in the finshard database (cron.database_name); it is
    preloaded on workers too, because Citus propagates CREATE EXTENSION to them.
    """
    libs = ["citus"] if citus else []
    if pg_cron_installed(pg_bin):
        libs.append("pg_cron")
    return libs


@dataclass
class Cluster:
    """A local cluster rooted at ``directory``; load() reads its state, up() creates or starts it."""

    directory: Path
    citus: bool = False
    nodes: list[Node] = field(default_factory=list)
    complete: bool = False
    pgbouncer: bool = False
    # Citus nodes reach each other through their pgbouncers (finshard pgbouncer nodes on).
    node_pooling: bool = False
    # pgBackRest repository every node archives its WAL to (finshard.local.backup); None: no backups.
    backup_repo: str | None = None
    cluster_id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    # TLS on every TCP connection and SCRAM passwords (finshard.local.tls); --no-tls turns both off.
    tls: bool = False
    # --ha: every group is Patroni members (finshard.local.ha) and etcd; ``nodes`` then names each group's
    # primary, as Patroni last reported it.
    ha: bool = False
    etcd_port: int | None = None
    etcd_peer_port: int | None = None
    members: list["Member"] = field(default_factory=list)

    # -- state -------------------------------------------------------------------------------
    @property
    def state_path(self) -> Path:
        return self.directory / STATE_FILE

    @classmethod
    def load(cls, directory: str | Path) -> "Cluster":
        directory = Path(directory).resolve()
        path = directory / STATE_FILE
        if not path.exists():
            raise ClusterError(f"{directory} holds no finshard cluster (no {STATE_FILE}); create one with: finshard cluster up --dir {directory}")
        try:
            data = json.loads(path.read_text())
            nodes = [Node(**n) for n in data["nodes"]]
            from finshard.local.ha import Member

            members = [Member(**m) for m in data.get("members") or []]
        except (ValueError, KeyError, TypeError) as exc:
            raise ClusterError(f"{path} is unreadable ({exc}); remove {directory} and run cluster up again") from None
        cluster = cls(directory=directory, citus=bool(data.get("citus")), nodes=nodes,
                      complete=bool(data.get("complete")), pgbouncer=bool(data.get("pgbouncer")),
                      node_pooling=bool(data.get("node_pooling")), backup_repo=data.get("backup_repo"),
                      tls=bool(data.get("tls")), ha=bool(data.get("ha")), etcd_port=data.get("etcd_port"),
                      etcd_peer_port=data.get("etcd_peer_port"), members=members,
                      cluster_id=str(data.get("cluster_id") or uuid.uuid4().hex[:8]))
        if cluster.ha and cluster.complete:
            cluster.follow_primaries()
        return cluster

    def follow_primaries(self) -> bool:
        """--ha: point each group's node at the member Patroni reports as its primary now (the
        last known one stays when Patroni does not answer). True when one changed."""
        from finshard.local import ha

        changed = False
        for node in self.nodes:
            member = ha.primary_of(self, node.group or 0)
            if member is not None and (member.port != node.port or member.datadir != node.datadir):
                node.port, node.datadir = member.port, member.datadir
                changed = True
        if changed:
            self.save()
        return changed

    def save(self) -> None:
        data = {"citus": self.citus, "complete": self.complete, "pgbouncer": self.pgbouncer,
                "node_pooling": self.node_pooling, "database": DATABASE, "backup_repo": self.backup_repo,
                "tls": self.tls, "cluster_id": self.cluster_id, "nodes": [asdict(n) for n in self.nodes],
                "ha": self.ha, "etcd_port": self.etcd_port, "etcd_peer_port": self.etcd_peer_port,
                "members": [asdict(m) for m in self.members]}
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2) + "\n")
        tmp.replace(self.state_path)

    @property
    def coordinator(self) -> Node:
        return self.nodes[0]

    @property
    def workers(self) -> list[Node]:
        return [n for n in self.nodes if n.role == "worker"]

    def dsn(self, *, via_pgbouncer: bool = False) -> str:
        """The coordinator's DSN; with --ha it names every member of group 0 and asks libpq for the
        one that takes writes, so it stays right through a coordinator failover."""
        if not self.ha:
            return self.coordinator.dsn(via_pgbouncer=via_pgbouncer)
        members = [m for m in self.members if m.group == 0]
        hosts = ",".join(f"127.0.0.1:{m.port}" for m in members)
        dsn = f"postgresql://{SUPERUSER}@{hosts}/{DATABASE}?target_session_attrs=read-write"
        if self.tls:
            dsn += f"&sslmode=verify-full&sslrootcert={self.tls_dir}/ca.crt&passfile={self.tls_dir}/pgpass"
        return dsn

    # -- lifecycle ---------------------------------------------------------------------------
    @classmethod
    def up(cls, directory: str | Path, *, workers: int = 2, use_citus: bool | None = None,
           pgbouncer: bool = False, backup_repo: str | Path | None = None, tls: bool = True,
           ha: bool = False, replicas: int = 1,
           progress: Callable[[str], None] = lambda _m: None) -> "Cluster":
        """Create and start a cluster in ``directory``, or start an existing one (harmless if running).

        use_citus None means: Citus when installed. Every node archives its WAL with pgBackRest to
        ``backup_repo`` (default DIR/backup). Raises ClusterError with the reason on failure.
        """
        directory = Path(directory).resolve()
        if workers < 0 or workers > 16:
            raise ClusterError(f"--workers must be between 0 and 16, not {workers}")
        if ha and not 1 <= replicas <= 4:
            raise ClusterError(f"--replicas must be between 1 and 4, not {replicas}")
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
                from finshard.local import pgbouncer as pgb
                pgb.start_all(cluster, progress)
            return cluster
        if directory.exists() and any(directory.iterdir()):
            raise ClusterError(f"{directory} is not empty and holds no finshard cluster; choose an empty or new directory")
        available = citus_installed(pg_bin)
        if use_citus and not available:
            raise ClusterError("the citus extension is not installed for PostgreSQL 15 on this machine; run without --citus for a single plain node")
        citus = available if use_citus is None else use_citus
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
        from finshard.local import backup

        repo = backup.check_path(Path(backup_repo) if backup_repo else directory / "backup", "the backup repository")
        backup.check_path(directory, "the cluster directory")
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
                from finshard.local.ha import Member

                node.group = group
                for i in range(replicas + 1):
                    name = f"{node.name}-{'abcde'[i]}"
                    member = Member(name, group, node.role, node.port if i == 0 else port(), str(directory / name), port())
                    cluster.members.append(member)
                node.datadir = cluster.members[-1 - replicas].datadir
        if ha:
            from finshard.local import ha as ha_mod

            ha_mod.patroni_bin()
            ha_mod.etcd_bin()
            cluster.etcd_port, cluster.etcd_peer_port = port(), port()
        cluster.save()  # complete=false until every node is up: a failure leaves a recognisable half-created dir
        make_traversable(directory)
        if tls:
            progress("a private CA and a certificate per node (TLS on every TCP connection)")
            cluster.make_tls()
        backup.write_config(cluster)
        if ha:
            from finshard.local import ha as ha_mod

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
        backup.setup(cluster, progress)
        cluster.complete = True
        cluster.save()
        if pgbouncer:
            from finshard.local import pgbouncer as pgb
            pgb.start_all(cluster, progress)
        return cluster

    def start(self, progress: Callable[[str], None] = lambda _m: None) -> None:
        if self.ha:
            from finshard.local import ha

            ha.start(self, progress)
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
            from finshard.local import pgbouncer as pgb
            pgb.stop_all(self)
        if self.ha:
            from finshard.local import ha

            ha.stop(self, progress)
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
        from finshard import db

        pg_bin = find_pg_bin()
        rows = []
        groups = {}
        if self.ha:
            from finshard.local import ha

            groups = {g["group"]: g for g in ha.groups(self)}
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
        from finshard import db

        if not db.scalar(node.dsn("postgres"), "SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)):
            db.execute(node.dsn("postgres"), f"CREATE DATABASE {DATABASE}")
        if self.citus:
            db.execute(node.dsn(), "CREATE EXTENSION IF NOT EXISTS citus")
            if self.tls:
                self.set_authinfo(node)

    def set_authinfo(self, node: Node) -> None:
        """The superuser's password for Citus' node-to-node connections (pg_dist_authinfo, every
        node: Citus does not copy this table, and workers start connections too)."""
        from finshard import db

        with db.connect(node.dsn()) as conn:
            with conn.transaction():
                conn.execute("DELETE FROM pg_catalog.pg_dist_authinfo WHERE rolename = %s AND nodeid = 0", (SUPERUSER,))
                conn.execute("INSERT INTO pg_catalog.pg_dist_authinfo (nodeid, rolename, authinfo) VALUES (0, %s, %s)",
                             (SUPERUSER, f"password={tls_mod.read_password(self.directory / 'tls')}"))

    # -- TLS -------------------------------------------------------------------------------------
    @property
    def tls_dir(self) -> Path:
        return self.directory / "tls"

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
        from finshard import db

        coordinator = self.coordinator.dsn()
        db.execute(coordinator, "SELECT citus_set_coordinator_host('127.0.0.1', %s)", (self.coordinator.port,))
        self.coordinator.group = 0
        for worker in self.workers:
            if not db.scalar(coordinator, "SELECT 1 FROM pg_dist_node WHERE nodeport = %s", (worker.port,)):
                db.execute(coordinator, "SELECT citus_add_node('127.0.0.1', %s)", (worker.port,))
            worker.group = db.scalar(coordinator, "SELECT groupid FROM pg_dist_node WHERE nodeport = %s", (worker.port,))


# Only the superuser on the Unix socket in the data directory is trusted (pgBackRest, pg_cron,
# the dispatcher's loopback); everything else authenticates with SCRAM, and TCP only over TLS.
PG_HBA_TLS = """# written by finshard cluster up (TLS)
# TYPE    DATABASE     USER      ADDRESS        METHOD
local     all          postgres                 trust
local     replication  postgres                 trust
local     all          all                      scram-sha-256
hostssl   all          all       127.0.0.1/32   scram-sha-256
hostssl   replication  all       127.0.0.1/32   scram-sha-256
hostssl   all          all       ::1/128        scram-sha-256
hostnossl all          all       all            reject
"""


# -- settings ------------------------------------------------------------------------------------
_MARK = "# finshard cluster manager"


def node_settings(node: Node, *, citus: bool, cluster: "Cluster | None" = None,
                  preload: list[str] | None = None) -> dict[str, str]:
    """The postgresql.conf settings finshard gives a node (WAL archiving when ``cluster`` has a repository)."""
    settings = dict(BASE_SETTINGS, port=str(node.port), unix_socket_directories=f"'{node.datadir}'")
    if citus:
        settings.update(CITUS_SETTINGS)
    if node.tls_dir:
        settings.update({"ssl": "on", "ssl_cert_file": "'server.crt'", "ssl_key_file": "'server.key'",
                         "ssl_min_protocol_version": "'TLSv1.2'", "password_encryption": "'scram-sha-256'"})
        if citus:
            # Node to node: encrypted and the server verified against the cluster's CA.
            settings["citus.node_conninfo"] = f"'sslmode=verify-full sslrootcert={node.tls_dir}/ca.crt'"
    libs = preload_libraries(citus) if preload is None else preload
    if libs:
        settings["shared_preload_libraries"] = "'" + ",".join(libs) + "'"
    if "pg_cron" in libs:
        settings.update(CRON_SETTINGS)
    if cluster is not None and cluster.backup_repo:
        from finshard.local import backup

        settings.update(backup.archive_settings(cluster, node))
    return settings


def write_settings(datadir: Path, settings: dict[str, str]) -> None:
    """Replace finshard's block at the end of postgresql.conf (what initdb wrote stays above it)."""
    path = Path(datadir) / "postgresql.conf"
    text = path.read_text()
    if _MARK in text:
        text = text[:text.index(_MARK)].rstrip("\n") + "\n"
    text += f"\n{_MARK}\n" + "".join(f"{key} = {value}\n" for key, value in settings.items())
    path.write_text(text)
