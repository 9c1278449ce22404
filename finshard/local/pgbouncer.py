"""pgbouncer in front of each node of a local cluster: transaction pooling, one process per node.

pgbouncer 1.18 has no prepared statements in transaction pooling, so clients going through it
must disable them (psycopg: prepare_threshold=None; the Router does with prepare=False).

On Citus, ``set_node_pooling(cluster, True)`` (``finshard pgbouncer nodes on``) makes the nodes
reach each other through their pgbouncers too, in session pooling under the database name
``finshard_nodes``, registered in every node's ``pg_dist_poolinfo``. Citus does not cache
connections in a backend that serves another node (where a call delegated by the coordinator
runs), so without it every cross-node transfer sent through the coordinator opens a
worker-to-worker connection, and the other worker starts a backend and loads its caches.
Through pgbouncer that connection finds a warm backend (measured: cross-node through the
coordinator 0.27x -> 0.64x a same-node transfer). The price: pgbouncer 1.18 cannot carry
replication connections, so while it is on, shard moves need shard_transfer_mode 'block_writes'
(logical moves fail with "unsupported startup parameter: replication"). Hence it is opt-in.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Callable

from finshard import db
from finshard.errors import ClusterError
from finshard.local import tls
from finshard.local.postgres import as_postgres, chown_to_postgres, free_port, port_in_use
from finshard.local.state import ClusterState, Node

__all__ = ["write_configs", "start_all", "stop_all", "render_ini", "set_node_pooling", "register_internode",
           "unregister_internode", "reload", "INTERNODE_DATABASE"]

INTERNODE_DATABASE = "finshard_nodes"


def _binary() -> str:
    path = shutil.which("pgbouncer") or ("/usr/sbin/pgbouncer" if Path("/usr/sbin/pgbouncer").exists() else None)
    if path is None:
        raise ClusterError("pgbouncer is not installed; install it with: apt-get install pgbouncer")
    return path


def render_ini(node: Node, workdir: Path, listen_port: int, *, pool_size: int = 20, internode_pool_size: int = 64,
               tls_dir: Path | None = None) -> str:
    if tls_dir is None:
        auth = ["auth_type = trust"]
    else:
        # TLS on both sides: clients must use it (their certificate is the cluster CA's), and the
        # server is verified. SCRAM for every role: auth_query reads the verifier from the server.
        auth = ["auth_type = scram-sha-256", "auth_user = postgres",
                "client_tls_sslmode = require", f"client_tls_cert_file = {workdir / f'{node.name}.crt'}",
                f"client_tls_key_file = {workdir / f'{node.name}.key'}", f"client_tls_ca_file = {tls_dir / 'ca.crt'}",
                "server_tls_sslmode = verify-full", f"server_tls_ca_file = {tls_dir / 'ca.crt'}"]
    return "\n".join([
        "; written by finshard pgbouncer config",
        "[databases]",
        f"finshard = host=127.0.0.1 port={node.port} dbname=finshard",
        # Citus' own node-to-node connections (pg_dist_poolinfo): session pooling, as Citus keeps
        # session state and a transaction's connection until its two-phase commit is done.
        f"{INTERNODE_DATABASE} = host=127.0.0.1 port={node.port} dbname=finshard pool_mode=session pool_size={internode_pool_size}",
        "postgres = host=127.0.0.1 port={} dbname=postgres".format(node.port),
        "",
        "[pgbouncer]",
        "listen_addr = 127.0.0.1",
        f"listen_port = {listen_port}",
        f"unix_socket_dir = {workdir}",
        *auth,
        f"auth_file = {workdir / 'userlist.txt'}",
        "pool_mode = transaction",
        "max_client_conn = 500",
        f"default_pool_size = {pool_size}",
        "ignore_startup_parameters = extra_float_digits,options",
        "server_reset_query = DISCARD ALL",
        f"pidfile = {workdir / f'{node.name}.pid'}",
        f"logfile = {workdir / f'{node.name}.log'}",
        "admin_users = postgres",
        "",
    ])


def write_configs(cluster: ClusterState, out: Path | None = None) -> list[Path]:
    """Write <node>.ini for every node and one userlist.txt; assigns pgbouncer ports if needed."""
    workdir = Path(out) if out else cluster.directory / "pgbouncer"
    workdir.mkdir(parents=True, exist_ok=True)
    workdir.chmod(0o750)  # pgbouncer (user postgres) owns it; its secrets are 0600 inside
    chown_to_postgres(workdir)
    written = []
    userlist = workdir / "userlist.txt"
    tls_dir = cluster.directory / "tls" if cluster.tls else None
    if tls_dir is None:
        # trust auth on loopback, like the cluster's pg_hba: the user must still be listed.
        userlist.write_text('"postgres" ""\n')
    else:
        # auth_user's own password: pgbouncer logs in with it to run auth_query for other roles.
        tls.write_private(userlist, f'"postgres" "{tls.read_password(tls_dir)}"\n'.encode())
    chown_to_postgres(userlist)
    written.append(userlist)
    for node in cluster.nodes:
        if not node.pgbouncer_port:
            node.pgbouncer_port = free_port()
        if tls_dir is not None:
            name = f"{node.name}-pgbouncer"
            if not (tls_dir / f"{name}.crt").exists():
                tls.make_server_cert(tls_dir, name, ["127.0.0.1", "localhost"])
            for suffix in ("crt", "key"):
                target = workdir / f"{node.name}.{suffix}"
                tls.write_private(target, (tls_dir / f"{name}.{suffix}").read_bytes())
                chown_to_postgres(target)
        ini = workdir / f"{node.name}.ini"
        ini.write_text(render_ini(node, workdir, node.pgbouncer_port, tls_dir=tls_dir))
        written.append(ini)
    cluster.save()
    return written


def start_all(cluster: ClusterState, progress: Callable[[str], None] = lambda _m: None) -> None:
    binary = _binary()
    write_configs(cluster)
    workdir = cluster.directory / "pgbouncer"
    for node in cluster.nodes:
        assert node.pgbouncer_port
        if _pid(workdir, node) is not None:
            continue
        if port_in_use(node.pgbouncer_port):
            raise ClusterError(f"pgbouncer port {node.pgbouncer_port} of {node.name} is taken")
        progress(f"starting pgbouncer for {node.name} on port {node.pgbouncer_port}")
        res = subprocess.run(as_postgres([binary, "-d", str(workdir / f"{node.name}.ini")]), capture_output=True, text=True)
        if res.returncode != 0:
            raise ClusterError(f"pgbouncer for {node.name} did not start: {(res.stderr or res.stdout).strip()}")
        deadline = time.monotonic() + 10
        while not port_in_use(node.pgbouncer_port):
            if time.monotonic() > deadline:
                raise ClusterError(f"pgbouncer for {node.name} is not listening on {node.pgbouncer_port}")
            time.sleep(0.05)
    if cluster.node_pooling:
        register_internode(cluster)


def set_node_pooling(cluster: ClusterState, on: bool) -> None:
    """Route (or stop routing) Citus' node-to-node connections through the nodes' pgbouncers."""
    if on and not cluster.citus:
        raise ClusterError("node-to-node pooling is for Citus clusters; this one is a single plain node")
    if on and any(_pid(cluster.directory / "pgbouncer", n) is None for n in cluster.nodes):
        raise ClusterError(f"pgbouncer is not running for every node; start it first: "
                           f"finshard cluster up --pgbouncer --dir {cluster.directory}")
    if on:
        register_internode(cluster)
    else:
        unregister_internode(cluster)
    cluster.node_pooling = on
    if on:
        cluster.pgbouncer = True  # from now on cluster down/up stop and start the pgbouncers
    cluster.save()


def register_internode(cluster: ClusterState) -> None:
    """On Citus, route every node's connections to the other nodes through their pgbouncer
    (pg_dist_poolinfo is per node: Citus does not copy it)."""
    if not cluster.citus:
        return
    bouncer_by_port = {n.port: n.pgbouncer_port for n in cluster.nodes}
    try:
        with db.connect(cluster.dsn()) as conn:
            node_ids = conn.execute("SELECT nodeid, nodeport FROM pg_dist_node WHERE isactive").fetchall()
        rows = [(nid, f"host=127.0.0.1 port={bouncer_by_port[port]} dbname={INTERNODE_DATABASE}")
                for nid, port in node_ids if bouncer_by_port.get(port)]
        for node in cluster.nodes:
            with db.connect(node.dsn()) as conn:
                with conn.transaction():
                    conn.execute("DELETE FROM pg_dist_poolinfo")
                    for nid, info in rows:
                        conn.execute("INSERT INTO pg_dist_poolinfo (nodeid, poolinfo) VALUES (%s, %s)", (nid, info))
    except db.Error as exc:
        raise ClusterError(f"cannot register pgbouncer for node-to-node connections: {str(exc).strip().splitlines()[0]}") from None


def unregister_internode(cluster: ClusterState) -> None:
    """Nodes connect to each other directly again (before their pgbouncers stop). A node that is
    down is skipped: start_all registers again when the cluster comes back with pgbouncer."""
    if not cluster.citus:
        return
    for node in cluster.nodes:
        try:
            with db.connect(node.dsn(), connect_timeout=5) as conn:
                conn.execute("DELETE FROM pg_dist_poolinfo")
        except db.OperationalError:
            continue


def reload(cluster: ClusterState, node: Node) -> None:
    """Rewrite the configs and make ``node``'s pgbouncer re-read them (after it moved port)."""
    write_configs(cluster)
    pid = _pid(cluster.directory / "pgbouncer", node)
    if pid is not None:
        os.kill(pid, signal.SIGHUP)


def stop_all(cluster: ClusterState) -> None:
    if cluster.node_pooling:
        unregister_internode(cluster)
    workdir = cluster.directory / "pgbouncer"
    for node in cluster.nodes:
        pid = _pid(workdir, node)
        if pid is not None:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            for _ in range(100):
                if _pid(workdir, node) is None:
                    break
                time.sleep(0.05)


def _pid(workdir: Path, node: Node) -> int | None:
    path = workdir / f"{node.name}.pid"
    try:
        pid = int(path.read_text().strip())
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError):
        return None
