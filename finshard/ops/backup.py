"""Backup operations on any finshard deployment, given its coordinator's DSN: a restore point
consistent across every node, and the pgBackRest settings for a cluster finshard did not start.

Backing up, restoring and drilling a local cluster is finshard.local.backup's. See docs/backup.md.
"""

from __future__ import annotations

import re
import secrets
from pathlib import Path
from typing import Any

from finshard import db
from finshard.errors import ClusterError

__all__ = ["create_restore_point", "print_config", "check_path"]

_SAFE_PATH = re.compile(r"^/[A-Za-z0-9_./+@:-]*$")


def create_restore_point(dsn: str, name: str) -> list[dict[str, Any]]:
    """A restore point consistent across every node (finshard.create_restore_point); its LSN per node."""
    with db.connect(dsn) as conn:
        rows = conn.execute("SELECT node, group_id, lsn::text FROM finshard.create_restore_point(%s)", (name,)).fetchall()
    return [{"node": n, "group": g, "lsn": lsn} for n, g, lsn in rows]


def print_config(dsn: str, repo: str) -> str:
    """pgbackrest.conf and postgresql.conf settings for every node of a cluster finshard did not start."""
    repo_path = check_path(Path(repo), "the backup repository")
    try:
        with db.connect(dsn) as conn:
            citus = conn.execute("SELECT count(*) FROM pg_extension WHERE extname = 'citus'").fetchone()[0]  # type: ignore[index]
            nodes: list[tuple[str, str, int]] = []
            if citus:
                nodes = [(f"group{g}" if g else "coordinator", h, p) for g, h, p in conn.execute(
                    "SELECT groupid, nodename, nodeport FROM pg_dist_node WHERE noderole = 'primary' ORDER BY groupid").fetchall()]
            if not nodes:
                info = db.conninfo_to_dict(dsn)
                nodes = [("single", str(info.get("host") or "localhost"), int(info.get("port") or 5432))]
            dirs = {}
            for name, host, port in nodes:
                with db.connect(db.make_conninfo(dsn, host=host, port=str(port))) as node_conn:
                    dirs[name] = node_conn.execute("SHOW data_directory").fetchone()[0]  # type: ignore[index]
    except db.Error as exc:
        raise ClusterError(f"cannot read the cluster's nodes from {dsn.split('@')[-1]}: {str(exc).strip().splitlines()[0]}") from None
    out = ["# pgbackrest.conf on every node's host (/etc/pgbackrest/pgbackrest.conf), mode 0600, owner postgres.",
           "# The repository is encrypted with this passphrase (made now, at random): the same on every",
           "# node, kept in your secrets store too. Without it no backup can be restored; with it and the",
           "# repository, everything can be read.",
           "[global]",
           f"repo1-path={repo_path}", "repo1-cipher-type=aes-256-cbc", f"repo1-cipher-pass={secrets.token_urlsafe(48)}",
           "# Full backups kept 35 days (the automatic restore points' span), each with the WAL it needs.",
           "repo1-retention-full-type=time", "repo1-retention-full=35", "compress-type=lz4", "archive-async=y",
           "spool-path=/var/spool/pgbackrest", "start-fast=y", "process-max=2", ""]
    for name, host, port in nodes:
        out += [f"[finshard-{name}]", f"pg1-path={dirs[name]}", f"pg1-port={port}", ""]
    for name, host, port in nodes:
        out += [f"# postgresql.conf of {name} ({host}:{port}); archive_mode needs a restart",
                "archive_mode = on", f"archive_command = 'pgbackrest --stanza=finshard-{name} archive-push %p'",
                "archive_timeout = 60", ""]
    out += ["# then on each node's host, as postgres:"]
    out += [f"#   pgbackrest --stanza=finshard-{name} stanza-create && pgbackrest --stanza=finshard-{name} check"
            for name, _h, _p in nodes]
    out += ["# and its crontab (as postgres): a full backup daily, an incremental one hourly"]
    for name, _h, _p in nodes:
        out += [f"#   0 1 * * *    pgbackrest --stanza=finshard-{name} --type=full backup",
                f"#   30 * * * *   pgbackrest --stanza=finshard-{name} --type=incr backup"]
    return "\n".join(out)


def check_path(path: Path, what: str) -> Path:
    """archive_command is a shell command inside a quoted setting: only plain absolute paths."""
    path = Path(path).resolve()
    if not _SAFE_PATH.match(str(path)):
        raise ClusterError(f"{what} {path} has characters finshard will not put in archive_command; "
                           "use a path of letters, digits and _ . / + @ : -")
    return path
