"""The postgresql.conf settings and pg_hba.conf finshard gives a local cluster's nodes."""

from __future__ import annotations

from pathlib import Path

from finshard.local import pgbackrest
from finshard.local.postgres import pg_cron_installed, pgaudit_installed, server_settings
from finshard.local.state import DATABASE, ClusterState, Node

__all__ = ["BASE_SETTINGS", "CITUS_SETTINGS", "CRON_SETTINGS", "AUDIT_SETTINGS", "PG_HBA_TLS", "preload_libraries", "node_settings",
           "write_settings"]

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
    # Who connected, from where, and for how long: the server log is the access log (seed 002).
    "log_connections": "on",
    "log_disconnections": "on",
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


# pgAudit in the server log: every DDL statement and every change of roles and privileges, by
# whom, superusers included (finshard's own audit chains see only what goes through its
# functions). Not reads or writes: those are the functions' own, audited in the chains, and a
# statement's text could carry a session token. No parameters, no catalog noise.
AUDIT_SETTINGS: dict[str, str] = {
    "pgaudit.log": "'ddl, role'",
    "pgaudit.log_catalog": "off",
    "pgaudit.log_parameter": "off",
    "pgaudit.log_relation": "off",
}


def preload_libraries(citus: bool, pg_bin: Path | None = None) -> list[str]:
    """Libraries every node preloads: citus (first, as it requires), then pg_cron and pgaudit where
    installed.

    pg_cron runs finshard's maintenance jobs in the finshard database (cron.database_name); it is
    preloaded on workers too, because Citus propagates CREATE EXTENSION to them.
    """
    libs = ["citus"] if citus else []
    if pg_cron_installed(pg_bin):
        libs.append("pg_cron")
    if pgaudit_installed(pg_bin):
        libs.append("pgaudit")
    return libs


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


_MARK = "# finshard cluster manager"


def node_settings(node: Node, *, citus: bool, cluster: ClusterState | None = None,
                  preload: list[str] | None = None) -> dict[str, str]:
    """The postgresql.conf settings finshard gives a node (WAL archiving when ``cluster`` has a repository)."""
    settings = dict(BASE_SETTINGS, port=str(node.port), unix_socket_directories=f"'{node.datadir}'")
    if citus:
        settings.update(CITUS_SETTINGS)
        # Citus' online shard split decodes WAL with its own output plugin; builds that name the
        # allowed plugins (output_plugin_libraries) must list it.
        if "output_plugin_libraries" in server_settings():
            settings["output_plugin_libraries"] = "'pgoutput, test_decoding, citus'"
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
    if "pgaudit" in libs:
        settings.update(AUDIT_SETTINGS)
    if cluster is not None and cluster.backup_repo:
        settings.update(pgbackrest.archive_settings(cluster, node))
    return settings


def write_settings(datadir: Path, settings: dict[str, str]) -> None:
    """Replace finshard's block at the end of postgresql.conf (what initdb wrote stays above it)."""
    path = Path(datadir) / "postgresql.conf"
    text = path.read_text()
    if _MARK in text:
        text = text[:text.index(_MARK)].rstrip("\n") + "\n"
    text += f"\n{_MARK}\n" + "".join(f"{key} = {value}\n" for key, value in settings.items())
    path.write_text(text)
