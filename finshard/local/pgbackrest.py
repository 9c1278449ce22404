"""pgBackRest for a local cluster: its configuration, a stanza per node, the archive_command
that pushes each node's WAL, and the one way finshard runs pgbackrest (as the postgres user).

Backups and restores built on it are finshard.local.backup's. See docs/backup.md.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

from finshard.errors import ClusterError
from finshard.local.postgres import chown_to_postgres, run_pg
from finshard.local.state import SUPERUSER, ClusterState, Node
from finshard.ops.backup import check_path

__all__ = ["config_path", "stanza", "archive_settings", "write_config", "run", "failed", "setup", "require"]

Progress = Callable[[str], None]


def config_path(cluster: ClusterState) -> Path:
    return cluster.directory / "pgbackrest" / "pgbackrest.conf"


def stanza(cluster: ClusterState, node: Node) -> str:
    """One stanza per node, tagged with the cluster's id: clusters may share a repository."""
    return f"{node.name}-{cluster.cluster_id}"


def archive_settings(cluster: ClusterState, node: Node, datadir: str | None = None) -> dict[str, str]:
    """postgresql.conf settings that push the node's WAL to its stanza. ``datadir``: an --ha
    member's, where its WAL is (the stanza lists every member; the asynchronous push would read the first's)."""
    conf = config_path(cluster)
    pg_path = f" --pg1-path={datadir}" if datadir else ""
    return {
        "archive_mode": "on",
        "archive_command": f"'pgbackrest --config={conf} --stanza={stanza(cluster, node)}{pg_path} archive-push %p'",
        # An idle node still ships its last WAL (and a restore point in it) within a minute.
        "archive_timeout": "60",
    }


def _cipher_pass(cluster: ClusterState, repo: Path) -> str | None:
    """The passphrase the repository's files are encrypted with (AES-256), made once, with the
    cluster's first configuration, and kept beside it: whoever reads the repository (a copy, a
    bucket) reads neither the data nor the key files in the data directories. None for a cluster
    whose stanzas were made unencrypted by an earlier finshard: pgBackRest cannot change a
    repository's cipher, and those backups must stay readable."""
    path = cluster.directory / "pgbackrest" / "repo-cipher-pass"
    if path.exists():
        return path.read_text().strip()
    if any((repo / kind / stanza(cluster, node)).exists() for kind in ("archive", "backup") for node in cluster.nodes):
        return None
    passphrase = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(passphrase + "\n")
    chown_to_postgres(path)
    return passphrase


def _conf_text(cluster: ClusterState, repo: Path, *, with_nodes: bool = True) -> str:
    base = cluster.directory / "pgbackrest"
    cipher = _cipher_pass(cluster, repo)
    lines = [
        "[global]",
        f"repo1-path={repo}",
        *(["repo1-cipher-type=aes-256-cbc", f"repo1-cipher-pass={cipher}"] if cipher else []),
        "repo1-retention-full=2",
        # lz4: a fraction of gzip's CPU for WAL pushed on every segment; the repository is local.
        "compress-type=lz4",
        "archive-async=y",
        f"spool-path={base}/spool",
        f"lock-path={base}/lock",
        f"log-path={base}/log",
        "log-level-console=warn",
        "log-level-file=info",
        "start-fast=y",
        "process-max=2",
        "",
    ]
    if with_nodes:
        for node in cluster.nodes:
            lines.append(f"[{stanza(cluster, node)}]")
            # --ha: every member of the group; pgBackRest backs up from whichever is the primary.
            if cluster.ha:
                hosts = [(m.datadir, m.port, m.socket_dir) for m in cluster.members if m.group == node.group]
            else:
                hosts = [(node.datadir, node.port, node.datadir)]
            for i, (datadir, port, socket_dir) in enumerate(hosts, 1):
                lines += [f"pg{i}-path={datadir}", f"pg{i}-port={port}", f"pg{i}-socket-path={socket_dir}",
                          f"pg{i}-user={SUPERUSER}"]
            lines.append("")
    return "\n".join(lines)


def write_config(cluster: ClusterState) -> Path:
    """DIR/pgbackrest/pgbackrest.conf for every node, and the directories pgBackRest writes to."""
    if not cluster.backup_repo:
        raise ClusterError(f"the cluster in {cluster.directory} has no backup repository")
    repo = check_path(Path(cluster.backup_repo), "the backup repository")
    base = cluster.directory / "pgbackrest"
    for path in (base, base / "spool", base / "lock", base / "log", repo):
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ClusterError(f"cannot create {path}: {exc.strerror}") from None
        chown_to_postgres(path)
    path = config_path(cluster)
    # It holds the repository's passphrase: the postgres user's alone from its first byte (a new
    # file, renamed over the old one, which an earlier finshard made readable to all).
    text = _conf_text(cluster, repo)
    fresh = path.with_name(path.name + ".new")
    fresh.unlink(missing_ok=True)
    fd = os.open(fresh, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    chown_to_postgres(fresh)
    os.replace(fresh, path)
    return path


def run(cluster: ClusterState, node: Node | None, *args: str, config: Path | None = None,
                timeout: float = 900) -> subprocess.CompletedProcess[str]:
    cmd = ["pgbackrest", f"--config={config or config_path(cluster)}"]
    if node is not None:
        cmd.append(f"--stanza={stanza(cluster, node)}")
    if shutil.which("pgbackrest") is None:
        raise ClusterError("pgbackrest is not installed; install it with: apt-get install pgbackrest")
    try:
        return run_pg([*cmd, *args], timeout=timeout)
    except subprocess.TimeoutExpired:
        raise ClusterError(f"pgbackrest {args[-1]} did not finish within {int(timeout)}s") from None


def failed(res: subprocess.CompletedProcess[str]) -> str:
    text = (res.stderr.strip() or res.stdout.strip()).splitlines()
    errors = [line for line in text if "ERROR" in line] or text
    return errors[-1] if errors else f"exit code {res.returncode}"


def setup(cluster: ClusterState, progress: Progress = lambda _m: None) -> None:
    """Create each node's stanza and check that its WAL reaches the repository (nodes running)."""
    write_config(cluster)
    for node in cluster.nodes:
        progress(f"pgbackrest stanza {stanza(cluster, node)}")
        res = run(cluster, node, "stanza-create")
        if res.returncode != 0:
            raise ClusterError(f"pgbackrest stanza-create for {node.name} failed: {failed(res)}")

    def check(node: Node) -> None:
        res = run(cluster, node, "check", timeout=180)
        if res.returncode != 0:
            raise ClusterError(f"pgbackrest check of {node.name} failed (WAL does not reach the repository): {failed(res)}")

    progress("pgbackrest check: WAL archiving works on every node")
    with ThreadPoolExecutor(max_workers=len(cluster.nodes)) as pool:
        list(pool.map(check, cluster.nodes))


def require(cluster: ClusterState) -> None:
    if not cluster.backup_repo or not config_path(cluster).exists():
        raise ClusterError(f"the cluster in {cluster.directory} has no pgBackRest configuration "
                           "(created before backups existed); create a new one with finshard cluster up")
