"""What a local cluster is, as ``DIR/cluster.json`` records it: its nodes, its Patroni members
(--ha) and the options it was created with.

The modules that serve a cluster (settings, pgbackrest, pgbouncer, ha) take a ClusterState;
finshard.local.cluster.Cluster is one, and adds creating, starting and stopping it, so that
they need not import the module that calls them.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Self

from finshard.errors import ClusterError

__all__ = ["Node", "Member", "ClusterState", "DATABASE", "SUPERUSER", "STATE_FILE"]

DATABASE = "finshard"
SUPERUSER = "postgres"
STATE_FILE = "cluster.json"


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


@dataclass
class Member:
    """One Patroni member: a PostgreSQL instance of a node group and the Patroni that runs it."""

    name: str  # e.g. worker1-a
    group: int  # Citus group (0: coordinator)
    kind: str  # coordinator | worker | single
    port: int
    datadir: str
    rest_port: int

    @property
    def group_name(self) -> str:
        return self.name.rsplit("-", 1)[0]

    @property
    def socket_dir(self) -> str:
        """Outside the data directory: pg_rewind copies every file of the primary's, and fails on a socket."""
        return str(Path(self.datadir).parent / "patroni" / self.name)


@dataclass
class ClusterState:
    """A local cluster as DIR/cluster.json records it. finshard.local.cluster.Cluster is one,
    with the lifecycle (up, start, down, status) on top."""

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
    members: list[Member] = field(default_factory=list)

    # -- state -------------------------------------------------------------------------------
    @property
    def state_path(self) -> Path:
        return self.directory / STATE_FILE

    @classmethod
    def read(cls, directory: str | Path) -> Self:
        """The cluster in ``directory`` as its state file last recorded it."""
        directory = Path(directory).resolve()
        path = directory / STATE_FILE
        if not path.exists():
            raise ClusterError(f"{directory} holds no finshard cluster (no {STATE_FILE}); create one with: finshard cluster up --dir {directory}")
        try:
            data = json.loads(path.read_text())
            nodes = [Node(**n) for n in data["nodes"]]
            members = [Member(**m) for m in data.get("members") or []]
        except (ValueError, KeyError, TypeError) as exc:
            raise ClusterError(f"{path} is unreadable ({exc}); remove {directory} and run cluster up again") from None
        return cls(directory=directory, citus=bool(data.get("citus")), nodes=nodes,
                   complete=bool(data.get("complete")), pgbouncer=bool(data.get("pgbouncer")),
                   node_pooling=bool(data.get("node_pooling")), backup_repo=data.get("backup_repo"),
                   tls=bool(data.get("tls")), ha=bool(data.get("ha")), etcd_port=data.get("etcd_port"),
                   etcd_peer_port=data.get("etcd_peer_port"), members=members,
                   cluster_id=str(data.get("cluster_id") or uuid.uuid4().hex[:8]))

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

    @property
    def tls_dir(self) -> Path:
        return self.directory / "tls"
