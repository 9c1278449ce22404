"""PostgreSQL's programs on this machine, run as the ``postgres`` OS user: the one place that
knows how.

PostgreSQL refuses to run as root, so when finshard runs as root every server program (initdb,
pg_ctl, pg_basebackup, pgBackRest, pgbouncer, Patroni, etcd) runs through ``runuser -u postgres``
and the files those programs read are handed to that user. As a normal user everything runs as
that user. Also here: where the binaries and extensions are, and free loopback ports.
"""

from __future__ import annotations

import functools
import os
import pwd
import socket
import subprocess
from pathlib import Path

from finshard.errors import ClusterError

__all__ = ["as_postgres", "run_pg", "chown_to_postgres", "group_postgres", "make_traversable", "log_tail",
           "find_pg_bin", "citus_installed", "pg_cron_installed", "free_port", "port_in_use"]


# -- running as postgres -------------------------------------------------------------------------
def as_postgres(cmd: list[str]) -> list[str]:
    """``cmd`` as the postgres OS user would run it (unchanged unless finshard runs as root)."""
    if os.geteuid() != 0:
        return cmd
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise ClusterError("running as root but there is no 'postgres' OS user to run the servers; "
                           "install postgresql-15 (it creates one) or run as a normal user") from None
    return ["runuser", "-u", "postgres", "--", *cmd]


def run_pg(cmd: list[str], timeout: float | None = None) -> subprocess.CompletedProcess[str]:
    """Run a PostgreSQL program as the postgres OS user, its output captured as text."""
    return subprocess.run(as_postgres(cmd), capture_output=True, text=True, cwd="/", timeout=timeout)


def chown_to_postgres(path: Path) -> None:
    """Hand ``path`` to the postgres OS user (when run as root)."""
    if os.geteuid() == 0:
        entry = pwd.getpwnam("postgres")
        # Not through a symlink: a path the postgres user could replace must not hand it another file.
        os.chown(path, entry.pw_uid, entry.pw_gid, follow_symlinks=False)


def group_postgres(path: Path) -> None:
    """Give the postgres OS user's group read access to a directory root owns (when run as root)."""
    if os.geteuid() == 0:
        os.chown(path, 0, pwd.getpwnam("postgres").pw_gid)


def make_traversable(directory: Path) -> None:
    """The postgres user must reach the data directories; check every parent as that user."""
    if os.geteuid() != 0:
        return
    os.chmod(directory, 0o755)
    res = subprocess.run(["runuser", "-u", "postgres", "--", "test", "-x", str(directory)], capture_output=True)
    if res.returncode != 0:
        raise ClusterError(f"the postgres OS user cannot enter {directory} (a parent directory is private); "
                           "choose a directory under /tmp or /srv, or open the parents with chmod o+x")


def log_tail(path: Path, lines: int = 3) -> str:
    """The last lines of a log, joined with ' | ' for a one-line error ('' when unreadable)."""
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(text[-lines:])


# -- binaries and extensions -----------------------------------------------------------------------
def find_pg_bin() -> Path:
    """The PostgreSQL 15 server binaries: $FINSHARD_PG_BIN, else Debian's location."""
    override = os.environ.get("FINSHARD_PG_BIN")
    for candidate in ([override] if override else ["/usr/lib/postgresql/15/bin"]):
        if (Path(candidate) / "initdb").exists() and (Path(candidate) / "pg_ctl").exists():
            return Path(candidate)
    raise ClusterError("PostgreSQL 15 server binaries not found (looked in $FINSHARD_PG_BIN and "
                       "/usr/lib/postgresql/15/bin); install them with: apt-get install postgresql-15")


def _pg_dirs(pg_bin: Path) -> tuple[str, str]:
    try:
        share = subprocess.run([str(pg_bin / "pg_config"), "--sharedir"], capture_output=True, text=True, check=True).stdout.strip()
        lib = subprocess.run([str(pg_bin / "pg_config"), "--pkglibdir"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        share, lib = "/usr/share/postgresql/15", "/usr/lib/postgresql/15/lib"
    return share, lib


def citus_installed(pg_bin: Path | None = None) -> bool:
    """True when the citus extension is installed for these binaries (control file and library)."""
    share, lib = _pg_dirs(pg_bin or find_pg_bin())
    return (Path(share) / "extension" / "citus.control").exists() and (Path(lib) / "citus.so").exists()


@functools.lru_cache(maxsize=4)
def server_settings(pg_bin: Path | None = None) -> frozenset[str]:
    """The names of the settings these PostgreSQL binaries know (``postgres --describe-config``)."""
    res = run_pg([str((pg_bin or find_pg_bin()) / "postgres"), "--describe-config"], timeout=30)
    return frozenset(line.split("\t", 1)[0] for line in res.stdout.splitlines() if line)


def pgaudit_installed(pg_bin: Path | None = None) -> bool:
    """True when pgAudit is installed for these binaries (Debian: postgresql-15-pgaudit)."""
    _share, lib = _pg_dirs(pg_bin or find_pg_bin())
    return (Path(lib) / "pgaudit.so").exists()


def pg_cron_installed(pg_bin: Path | None = None) -> bool:
    """True when the pg_cron extension is installed for these binaries (Debian: postgresql-15-cron)."""
    share, lib = _pg_dirs(pg_bin or find_pg_bin())
    return (Path(share) / "extension" / "pg_cron.control").exists() and (Path(lib) / "pg_cron.so").exists()


# -- ports ---------------------------------------------------------------------------------------------
def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_in_use(port: int) -> bool:
    """True when something accepts connections on 127.0.0.1:``port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0
