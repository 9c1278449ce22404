"""High availability for a local cluster (``finshard cluster up --ha``): etcd and Patroni.

Every node group (the coordinator is group 0, each worker a group, or the one plain node) is a
Patroni-managed primary with N streaming standbys. Patroni keeps the leader lock in etcd, fails over
by itself, rewinds an old primary into a standby, and on Citus keeps ``pg_dist_node`` pointed at each
group's primary and registers the standbys as secondaries. finshard writes the configuration, starts
and stops the processes, and reads the state through Patroni's REST API. See docs/ha.md.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from base64 import b64encode
from pathlib import Path
from typing import Any, Callable

from finshard import db
from finshard.errors import ClusterError
from finshard.local import pgbackrest
from finshard.local import tls as tls_mod
from finshard.local.postgres import as_postgres, chown_to_postgres, find_pg_bin, group_postgres
from finshard.local.settings import AUDIT_SETTINGS, BASE_SETTINGS, CITUS_SETTINGS, CRON_SETTINGS, PG_HBA_TLS, preload_libraries
from finshard.local.state import DATABASE, SUPERUSER, ClusterState, Member

__all__ = ["patroni_bin", "etcd_bin", "create", "start", "stop", "groups", "switchover", "failover",
           "primary_of", "wait_healthy", "kill_member", "start_member"]

Progress = Callable[[str], None]
# Patroni's timings: a dead primary's lock expires after ttl seconds (20 is the least Patroni takes
# with etcd3) and a standby takes it within one loop; loop_wait + 2 * retry_timeout <= ttl.
TTL, LOOP_WAIT, RETRY_TIMEOUT = 20, 2, 9
REST_USER = "finshard"


def rest_url(cluster: ClusterState, member: Member) -> str:
    """The member's Patroni REST API: HTTPS with the cluster's certificates unless --no-tls."""
    return f"{'https' if cluster.tls else 'http'}://127.0.0.1:{member.rest_port}"


def patroni_bin() -> str:
    """Patroni 4 from PyPI, in a virtualenv of Debian's python3 (scripts/setup.sh makes it, in
    $FINSHARD_PATRONI_VENV), so that the postgres OS user can run it. $FINSHARD_PATRONI overrides."""
    venv = os.environ.get("FINSHARD_PATRONI_VENV") or "/opt/finshard/patroni"
    path = os.environ.get("FINSHARD_PATRONI") or f"{venv}/bin/patroni"
    if not Path(path).exists():
        raise ClusterError(f"Patroni is not installed ({path} is missing); run scripts/setup.sh, which installs it")
    return path


def etcd_bin() -> str:
    path = shutil.which("etcd") or "/usr/bin/etcd"
    if not Path(path).exists():
        raise ClusterError("etcd is not installed; install it with: apt-get install etcd-server")
    return path


def _dir(cluster: ClusterState) -> Path:
    return cluster.directory / "patroni"


def _home(cluster: ClusterState, member: Member) -> Path:
    """The member's own files, which its Patroni writes: pgpass, certificate and key, logs."""
    return _dir(cluster) / member.name


def key_dir(cluster: ClusterState, group_name: str) -> Path:
    return _dir(cluster) / "keys" / group_name


def rest_password(cluster: ClusterState) -> str:
    return (_dir(cluster) / "rest.password").read_text().strip()


# -- configuration ----------------------------------------------------------------------------------
def _yaml(value: Any) -> str:
    # JSON is YAML: Patroni reads it, and no PyYAML dependency is needed to write it.
    return json.dumps(value, indent=2) + "\n"


def _config(cluster: ClusterState, member: Member) -> dict[str, Any]:
    base = _dir(cluster)
    # Settings every member of every group shares go to Patroni's dynamic configuration (in etcd);
    # what names this member's port, files or stanza stays in its own file.
    shared: dict[str, Any] = {k: v.strip("'") for k, v in BASE_SETTINGS.items() if k not in ("listen_addresses",)}
    shared["max_connections"] = int(shared["max_connections"])
    libs = preload_libraries(cluster.citus)
    if cluster.citus:
        shared.update({k: v.strip("'") for k, v in CITUS_SETTINGS.items()})
    if libs:
        shared["shared_preload_libraries"] = ",".join(libs)
    if "pg_cron" in libs:
        shared.update({k: v.strip("'") for k, v in CRON_SETTINGS.items()})
    if "pgaudit" in libs:
        shared.update({k: v.strip("'") for k, v in AUDIT_SETTINGS.items()})
    # pg_rewind needs hint bits in WAL to rejoin an old primary as a standby.
    shared["wal_log_hints"] = "on"
    # A standby answers read-only calls; a long report must not be cancelled by replayed vacuum.
    shared["hot_standby_feedback"] = "on"
    local: dict[str, Any] = {"unix_socket_directories": member.socket_dir}
    auth: dict[str, Any] = {}
    hba = ["local all postgres trust", "local replication postgres trust",
           "host all all 127.0.0.1/32 trust", "host replication all 127.0.0.1/32 trust"]
    password = None
    if cluster.tls:
        ca = str(cluster.tls_dir / "ca.crt")
        password = tls_mod.read_password(cluster.tls_dir)
        ssl = {"sslmode": "verify-full", "sslrootcert": ca}
        auth = {"superuser": {"username": SUPERUSER, "password": password, **ssl},
                "replication": {"username": "replicator", "password": password, **ssl},
                "rewind": {"username": SUPERUSER, "password": password, **ssl}}
        shared.update({"ssl": "on", "ssl_min_protocol_version": "TLSv1.2", "password_encryption": "scram-sha-256"})
        if cluster.citus:
            shared["citus.node_conninfo"] = f"sslmode=verify-full sslrootcert={ca}"
        local.update({"ssl_cert_file": str(_home(cluster, member) / "server.crt"),
                      "ssl_key_file": str(_home(cluster, member) / "server.key"),
                      "ssl_ca_file": ca})
        hba = [line for line in PG_HBA_TLS.splitlines() if line and not line.startswith("#")]
    else:
        auth = {"superuser": {"username": SUPERUSER}, "replication": {"username": "replicator"},
                "rewind": {"username": SUPERUSER}}
    if cluster.backup_repo:
        group_node = next(n for n in cluster.nodes if n.group == member.group)
        local.update({k: v.strip("'") for k, v in pgbackrest.archive_settings(cluster, group_node, member.datadir).items()})
    config: dict[str, Any] = {
        "scope": f"finshard-{cluster.cluster_id}",
        "namespace": "/finshard/",
        "name": member.name,
        "log": {"level": "INFO", "dir": str(_home(cluster, member)), "file_num": 2, "file_size": 10_000_000},
        "restapi": {"listen": f"127.0.0.1:{member.rest_port}", "connect_address": f"127.0.0.1:{member.rest_port}",
                    "authentication": {"username": REST_USER, "password": rest_password(cluster)}},
        "ctl": {"authentication": {"username": REST_USER, "password": rest_password(cluster)}},
        "etcd3": {"hosts": [f"127.0.0.1:{cluster.etcd_port}"]},
        "bootstrap": {
            "dcs": {
                "ttl": TTL, "loop_wait": LOOP_WAIT, "retry_timeout": RETRY_TIMEOUT,
                "maximum_lag_on_failover": 16 * 1024 * 1024,
                # Every commit waits until one standby has flushed it (ANY 1 of the standbys), and Patroni
                # promotes only a standby the quorum says holds every acknowledged commit. Not strict: with
                # every standby gone the primary goes on alone rather than stop the ledger (docs/ha.md).
                "synchronous_mode": "quorum",
                "synchronous_node_count": 1,
                # With etcd unreachable, a primary that still reaches its group's members keeps
                # its role instead of demoting itself: the one local etcd is not a write outage.
                "failsafe_mode": True,
                "postgresql": {"use_pg_rewind": True, "use_slots": True, "parameters": shared, "pg_hba": hba},
            },
            "initdb": [{"encoding": "UTF8"}, {"locale": "C.UTF-8"}, "data-checksums"]
            + ([{"auth-local": "trust"}, {"auth-host": "scram-sha-256"}] if cluster.tls else []),
        },
        "postgresql": {
            "listen": f"127.0.0.1:{member.port}",
            "connect_address": f"127.0.0.1:{member.port}",
            "data_dir": member.datadir,
            "bin_dir": str(find_pg_bin()),
            "pgpass": str(_home(cluster, member) / "pgpass"),
            "use_unix_socket": True,
            "use_unix_socket_repl": False,
            "authentication": auth,
            "parameters": local,
            "pg_hba": hba,
            "basebackup": [{"checkpoint": "fast"}],
        },
        "tags": {"nofailover": False, "noloadbalance": False, "clonefrom": False, "nosync": False},
    }
    if cluster.tls:
        # etcd takes only clients with a certificate of the cluster's CA: the leader keys decide who
        # is primary, so no other local user may write them. The REST API is HTTPS (basic auth inside).
        home = _home(cluster, member)
        crt, key, ca = str(home / "server.crt"), str(home / "server.key"), str(cluster.tls_dir / "ca.crt")
        config["etcd3"].update({"protocol": "https", "cacert": ca, "cert": crt, "key": key})
        config["restapi"].update({"certfile": crt, "keyfile": key})
        config["ctl"].update({"insecure": False, "cacert": ca})
    if cluster.citus:
        config["citus"] = {"group": member.group, "database": DATABASE}
    return config


def write_configs(cluster: ClusterState) -> None:
    base = _dir(cluster)
    base.mkdir(exist_ok=True)
    base.chmod(0o750)
    group_postgres(base)
    (base / "keys").mkdir(mode=0o700, exist_ok=True)
    chown_to_postgres(base / "keys")
    for name in {m.group_name for m in cluster.members}:
        key_dir(cluster, name).mkdir(mode=0o700, exist_ok=True)
        chown_to_postgres(key_dir(cluster, name))
    if not (base / "rest.password").exists():
        tls_mod.write_private(base / "rest.password", secrets.token_urlsafe(24).encode())
    if cluster.tls and not (cluster.tls_dir / "etcd.crt").exists():
        tls_mod.make_server_cert(cluster.tls_dir, "etcd", ["127.0.0.1", "localhost"], client=True)
    for member in cluster.members:
        home = _home(cluster, member)
        home.mkdir(mode=0o700, exist_ok=True)
        chown_to_postgres(home)
        if cluster.tls:
            if not (cluster.tls_dir / f"{member.name}.crt").exists():
                # Also a client certificate: Patroni shows it to etcd.
                tls_mod.make_server_cert(cluster.tls_dir, member.name, ["127.0.0.1", "localhost"], client=True)
            for suffix in ("crt", "key"):
                target = home / f"server.{suffix}"
                tls_mod.write_private(target, (cluster.tls_dir / f"{member.name}.{suffix}").read_bytes())
                chown_to_postgres(target)
        # Passwords inside: the postgres OS user reads it, nobody else.
        path = base / f"{member.name}.yml"
        tls_mod.write_private(path, _yaml(_config(cluster, member)).encode())
        chown_to_postgres(path)


# -- processes ------------------------------------------------------------------------------------
def _pid_alive(path: Path) -> int | None:
    try:
        pid = int(path.read_text().strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    # A reused pid: only a process whose command line names our config counts.
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return pid if path.stem.encode() in cmdline or b"etcd" in cmdline and path.stem == "etcd" else None


def _spawn(cmd: list[str], log: Path, pidfile: Path) -> int:
    log.touch()
    chown_to_postgres(log)
    with open(log, "ab") as out:
        proc = subprocess.Popen(as_postgres(cmd) if os.geteuid() == 0 else cmd, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, cwd="/", start_new_session=True)
    # runuser forks the real process; its pid is the one to signal.
    pid = proc.pid
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        children = _children(proc.pid)
        if children or os.geteuid() != 0:
            pid = children[0] if children else proc.pid
            break
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    pidfile.write_text(f"{pid}\n")
    return pid


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _etcd_pidfile(cluster: ClusterState) -> Path:
    return _dir(cluster) / "etcd.pid"


def start_etcd(cluster: ClusterState, progress: Progress = lambda _m: None) -> None:
    pidfile = _etcd_pidfile(cluster)
    if _pid_alive(pidfile):
        return
    # etcd runs as postgres: its data directory is postgres', the directory holding it root's.
    base = cluster.directory / "etcd"
    base.mkdir(mode=0o750, exist_ok=True)
    group_postgres(base)
    (base / "data").mkdir(mode=0o700, exist_ok=True)
    chown_to_postgres(base / "data")
    scheme = "https" if cluster.tls else "http"
    client, peer = f"{scheme}://127.0.0.1:{cluster.etcd_port}", f"{scheme}://127.0.0.1:{cluster.etcd_peer_port}"
    tls_args: list[str] = []
    if cluster.tls:
        for suffix in ("crt", "key"):
            tls_mod.write_private(base / f"etcd.{suffix}", (cluster.tls_dir / f"etcd.{suffix}").read_bytes())
            chown_to_postgres(base / f"etcd.{suffix}")
        ca, crt, key = str(cluster.tls_dir / "ca.crt"), str(base / "etcd.crt"), str(base / "etcd.key")
        tls_args = ["--cert-file", crt, "--key-file", key, "--trusted-ca-file", ca, "--client-cert-auth",
                    "--peer-cert-file", crt, "--peer-key-file", key, "--peer-trusted-ca-file", ca,
                    "--peer-client-cert-auth"]
    progress(f"starting etcd on port {cluster.etcd_port}")
    _spawn([etcd_bin(), "--name", "finshard", "--data-dir", str(base / "data"),
            "--listen-client-urls", client, "--advertise-client-urls", client,
            "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
            "--initial-cluster", f"finshard={peer}", "--initial-cluster-state", "new",
            "--initial-cluster-token", f"finshard-{cluster.cluster_id}",
            "--auto-compaction-retention", "1", "--log-level", "warn", *tls_args],
           _dir(cluster) / "etcd.out", pidfile)
    context = _context(cluster, client_cert="etcd")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{client}/health", timeout=1, context=context) as resp:
                if json.loads(resp.read()).get("health") == "true":
                    return
        except (OSError, ValueError):
            pass
        time.sleep(0.2)
    raise ClusterError(f"etcd did not become healthy within 30s; see {_dir(cluster) / 'etcd.out'}")


def _context(cluster: ClusterState, client_cert: str | None = None) -> ssl.SSLContext | None:
    """Verifies the server against the cluster's CA; with client_cert, shows that certificate."""
    if not cluster.tls:
        return None
    context = ssl.create_default_context(cafile=str(cluster.tls_dir / "ca.crt"))
    if client_cert:
        context.load_cert_chain(str(cluster.tls_dir / f"{client_cert}.crt"), str(cluster.tls_dir / f"{client_cert}.key"))
    return context


def _pidfile(cluster: ClusterState, member: Member) -> Path:
    return _dir(cluster) / f"{member.name}.pid"


def _outfile(cluster: ClusterState, member: Member) -> Path:
    """Patroni's standard output, beside its pid file in the directory root owns: root writes it,
    so it must not be where the postgres user could put a symlink."""
    return _dir(cluster) / f"{member.name}.out"


def member_running(cluster: ClusterState, member: Member) -> bool:
    return _pid_alive(_pidfile(cluster, member)) is not None


def start_member(cluster: ClusterState, member: Member) -> None:
    if member_running(cluster, member):
        return
    datadir = Path(member.datadir)
    if not datadir.exists():
        datadir.mkdir(mode=0o700)
        chown_to_postgres(datadir)
    base = _dir(cluster)
    _spawn([patroni_bin(), str(base / f"{member.name}.yml")], _outfile(cluster, member), _pidfile(cluster, member))


def create(cluster: ClusterState, progress: Progress = lambda _m: None) -> None:
    """Start etcd and every member; the first member of each group bootstraps it, the others clone it."""
    write_configs(cluster)
    start_etcd(cluster, progress)
    firsts = [m for m in cluster.members if m.name.endswith("-a")]
    for member in firsts:
        progress(f"patroni {member.name} (group {member.group}, port {member.port}): bootstrapping the group")
        start_member(cluster, member)
    _wait(cluster, lambda st: all(st.get(m.name, {}).get("role") == "leader" and st[m.name].get("state") == "running"
                                  for m in firsts), "every group's first member to become its primary", 120, firsts)
    point_at_keys(cluster)
    for member in cluster.members:
        if member not in firsts:
            progress(f"patroni {member.name} (group {member.group}, port {member.port}): a standby")
            start_member(cluster, member)
    wait_healthy(cluster, 180)


def point_at_keys(cluster: ClusterState) -> None:
    """Key files (audit, pan, pii) live in one directory per group that all its members read, named
    by the file finshard_key_dir in each data directory (finshard._key_path): a promoted standby
    then holds the keys its primary wrote, and standbys cloned later copy the file."""
    for member in cluster.members:
        datadir = Path(member.datadir)
        pointer = datadir / "finshard_key_dir"
        if (datadir / "PG_VERSION").exists() and not pointer.exists():
            tls_mod.write_private(pointer, f"{key_dir(cluster, member.group_name)}\n".encode())
            chown_to_postgres(pointer)


def start(cluster: ClusterState, progress: Progress = lambda _m: None) -> None:
    """Start etcd and the members of a stopped cluster: the last primaries first, so that they lead again."""
    point_at_keys(cluster)
    start_etcd(cluster, progress)
    primaries = {n.datadir for n in cluster.nodes}
    order = sorted(cluster.members, key=lambda m: m.datadir not in primaries)
    for member in order:
        if not member_running(cluster, member):
            progress(f"starting patroni {member.name} (port {member.port})")
            start_member(cluster, member)
    wait_healthy(cluster, 180)


def stop(cluster: ClusterState, progress: Progress = lambda _m: None) -> None:
    """Stop the standbys, then the primaries (a standby must not take over from a primary being
    stopped), then etcd."""
    states = _states(cluster)
    order = sorted(cluster.members, key=lambda m: states.get(m.name, {}).get("role") == "leader")
    for member in order:
        pid = _pid_alive(_pidfile(cluster, member))
        if pid is None:
            continue
        progress(f"stopping patroni {member.name}")
        _terminate(pid, 90)
    pid = _pid_alive(_etcd_pidfile(cluster))
    if pid is not None:
        progress("stopping etcd")
        _terminate(pid, 30)


def _terminate(pid: int, timeout: float) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)


def kill_member(cluster: ClusterState, member: Member) -> None:
    """SIGKILL the member's Patroni, PostgreSQL and every backend at one instant, as losing its
    machine would. All are stopped (SIGSTOP) first: a backend that outlived its postmaster by a
    moment would end its wait for the synchronous standby and go on committing (docs/ha.md)."""
    patroni = _pid_alive(_pidfile(cluster, member))
    runuser = _parent(patroni) if patroni and _parent_is_runuser(patroni) else None
    postmaster = None
    try:
        postmaster = int(Path(member.datadir, "postmaster.pid").read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        pass
    stopped: list[int] = []
    for pid in (postmaster, patroni):
        if pid:
            _signal(pid, signal.SIGSTOP)
            stopped.append(pid)
    if postmaster:
        # A stopped postmaster forks no more; its children are all there is.
        for child in _children(postmaster):
            _signal(child, signal.SIGSTOP)
            stopped.append(child)
    for pid in stopped:
        _signal(pid, signal.SIGKILL)
    # runuser, which started Patroni as postgres, stops itself when its child stops (as su does)
    # and would stay stopped for good: it goes too.
    if runuser:
        _signal(runuser, signal.SIGKILL)


def _parent(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return 0


def _parent_is_runuser(pid: int) -> bool:
    parent = _parent(pid)
    try:
        return parent > 1 and Path(f"/proc/{parent}/comm").read_text().strip() == "runuser"
    except OSError:
        return False


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


# -- state ------------------------------------------------------------------------------------------
def _get(cluster: ClusterState, url: str, timeout: float = 2.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout, context=_context(cluster)) as resp:
        return json.loads(resp.read())


def _states(cluster: ClusterState) -> dict[str, dict[str, Any]]:
    """Member name -> Patroni's view of it (role, state, lag, timeline), from each group's REST API.
    Only running members are asked: a frozen one would hold every caller for the timeout."""
    out: dict[str, dict[str, Any]] = {}
    for group in sorted({m.group for m in cluster.members}):
        for member in [m for m in cluster.members if m.group == group and member_running(cluster, m)]:
            try:
                data = _get(cluster, f"{rest_url(cluster, member)}/cluster")
            except (OSError, ValueError):
                continue
            for entry in data.get("members", []):
                if int(entry.get("group", group) or 0) == group or not cluster.citus:
                    out[entry["name"]] = entry
            break
    return out


def groups(cluster: ClusterState) -> list[dict[str, Any]]:
    """Per group: its primary and its standbys with their state, lag (bytes), timeline and sync state."""
    states = _states(cluster)
    out = []
    for group in sorted({m.group for m in cluster.members}):
        members = [m for m in cluster.members if m.group == group]
        rows = []
        for m in members:
            st = states.get(m.name)
            rows.append({"member": m.name, "port": m.port, "rest_port": m.rest_port, "datadir": m.datadir,
                         "role": (st or {}).get("role", "down"), "state": (st or {}).get("state", "stopped"),
                         "timeline": (st or {}).get("timeline"), "lag": _lag((st or {}).get("lag")),
                         "up": st is not None and st.get("state") in ("running", "streaming")})
        primary = next((r["member"] for r in rows if r["role"] == "leader"), None)
        out.append({"group": group, "name": members[0].group_name, "primary": primary,
                    "standbys": [r["member"] for r in rows if r["role"] != "leader"], "members": rows})
    return out


def _lag(value: Any) -> int | None:
    return value if isinstance(value, int) else None


def primary_of(cluster: ClusterState, group: int) -> Member | None:
    states = _states(cluster)
    for m in cluster.members:
        state = states.get(m.name, {})
        if m.group == group and state.get("role") == "leader" and state.get("state") == "running":
            return m
    return None


def _wait(cluster: ClusterState, ok: Callable[[dict[str, dict[str, Any]]], bool], what: str, timeout: float,
          started: list[Member] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ok(_states(cluster)):
            return
        for member in started or []:
            if not member_running(cluster, member):
                out = _outfile(cluster, member)
                raise ClusterError(f"patroni {member.name} exited: {_last_line(out)} (see {out})")
        time.sleep(0.3)
    raise ClusterError(f"timed out after {int(timeout)}s waiting for {what}; see the Patroni logs in {_dir(cluster)}/MEMBER/ "
                       f"and its output in {_dir(cluster)}/MEMBER.out")


def _last_line(path: Path) -> str:
    try:
        lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return "no output"
    return lines[-1].strip() if lines else "no output"


def wait_healthy(cluster: ClusterState, timeout: float = 120) -> None:
    """Every member running or streaming, one leader per group, every group's standbys in the quorum,
    and on Citus every group's primary registered in pg_dist_node."""
    def ok(states: dict[str, dict[str, Any]]) -> bool:
        if any(states.get(m.name, {}).get("state") not in ("running", "streaming") for m in cluster.members):
            return False
        for group in {m.group for m in cluster.members}:
            roles = [states[m.name].get("role") for m in cluster.members if m.group == group]
            if roles.count("leader") != 1:
                return False
            if len(roles) > 1 and not any(r in ("sync_standby", "quorum_standby") for r in roles):
                return False
        return True

    _wait(cluster, ok, "every member to run, with one primary and a synchronous standby per group", timeout)
    if cluster.citus:
        _wait_registered(cluster, timeout)


def _wait_registered(cluster: ClusterState, timeout: float) -> None:
    """Patroni on the coordinator registers each group's primary (and standbys) in pg_dist_node."""
    deadline = time.monotonic() + timeout
    want = {m.group: m for m in cluster.members}
    while time.monotonic() < deadline:
        coordinator = primary_of(cluster, 0)
        primaries = {g: primary_of(cluster, g) for g in want}
        if coordinator and all(primaries.values()):
            try:
                with db.connect(member_dsn(cluster, coordinator), connect_timeout=3) as conn:
                    rows = conn.execute("SELECT groupid, nodeport FROM pg_dist_node WHERE noderole = 'primary' AND isactive").fetchall()
                registered = {int(g): int(p) for g, p in rows}
                if all(registered.get(g) == m.port for g, m in primaries.items() if m is not None):
                    return
            except Exception:  # noqa: BLE001 - not ready yet: Patroni is still registering
                pass
        time.sleep(0.5)
    raise ClusterError(f"Patroni did not register every group's primary in pg_dist_node within {int(timeout)}s")


def member_dsn(cluster: ClusterState, member: Member, dbname: str = "finshard") -> str:
    dsn = f"postgresql://{SUPERUSER}@127.0.0.1:{member.port}/{dbname}"
    if cluster.tls:
        dsn += f"?sslmode=verify-full&sslrootcert={cluster.tls_dir}/ca.crt&passfile={cluster.tls_dir}/pgpass"
    return dsn


# -- planned and forced role changes -------------------------------------------------------------------
def _post(cluster: ClusterState, member: Member, path: str, body: dict[str, Any], timeout: float = 60) -> tuple[int, str]:
    password = rest_password(cluster)
    req = urllib.request.Request(f"{rest_url(cluster, member)}{path}", data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json",
                                          "Authorization": "Basic " + b64encode(f"{REST_USER}:{password}".encode()).decode()})
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=_context(cluster)) as resp:
            return resp.status, resp.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")
    except OSError as exc:
        raise ClusterError(f"Patroni of {member.name} did not answer: {exc}") from None


def _group_members(cluster: ClusterState, group: int) -> list[Member]:
    members = [m for m in cluster.members if m.group == group]
    if not members:
        groups_ = sorted({m.group for m in cluster.members})
        raise ClusterError(f"no group {group}; groups: {', '.join(map(str, groups_))}")
    return members


def _candidate(cluster: ClusterState, group: int, to: str | None, leader: Member) -> Member:
    members = _group_members(cluster, group)
    states = _states(cluster)
    if to is not None:
        chosen = next((m for m in members if m.name == to), None)
        if chosen is None:
            raise ClusterError(f"group {group} has no member {to}; members: {', '.join(m.name for m in members)}")
        if chosen is leader:
            raise ClusterError(f"{to} is already the primary of group {group}")
        return chosen
    standbys = [m for m in members if m is not leader and states.get(m.name, {}).get("role") in ("sync_standby", "quorum_standby")]
    if not standbys:
        raise ClusterError(f"group {group} has no synchronous standby to take over")
    return standbys[0]


def switchover(cluster: ClusterState, group: int, to: str | None = None) -> dict[str, Any]:
    """A planned change of primary (Patroni's switchover): the old primary stops cleanly first, so no
    acknowledged write is lost; on Citus, Patroni pauses client writes on the coordinator meanwhile."""
    _group_members(cluster, group)
    leader = primary_of(cluster, group)
    if leader is None:
        raise ClusterError(f"group {group} has no running primary; use finshard failover --group {group}")
    candidate = _candidate(cluster, group, to, leader)
    t0 = time.monotonic()
    code, text = _post(cluster, leader, "/switchover", {"leader": leader.name, "candidate": candidate.name})
    if code != 200:
        raise ClusterError(f"switchover of group {group} refused by Patroni: {text.strip()}")
    _wait_new_primary(cluster, group, candidate)
    return {"group": group, "from": leader.name, "to": candidate.name, "seconds": round(time.monotonic() - t0, 2)}


def failover(cluster: ClusterState, group: int, to: str | None = None) -> dict[str, Any]:
    """A forced change of primary (Patroni's failover), for when the primary is gone or unhealthy."""
    members = _group_members(cluster, group)
    leader = primary_of(cluster, group)
    candidate = _candidate(cluster, group, to, leader) if leader else None
    if candidate is None:
        states = _states(cluster)
        # Right after a primary dies its standbys report states such as "streaming" or "running"
        # (or a reconnecting receiver's); any member whose PostgreSQL is up may be promoted.
        alive = [m for m in members if m.name in states
                 and states[m.name].get("state") not in ("stopped", "crashed", "start failed", "stopping")]
        if to is not None:
            candidate = next((m for m in alive if m.name == to), None)
        elif alive:
            candidate = alive[0]
        if candidate is None:
            raise ClusterError(f"group {group} has no running member to promote")
    via = next((m for m in members if m is not leader and member_running(cluster, m)), candidate)
    t0 = time.monotonic()
    code, text = _post(cluster, via, "/failover", {"candidate": candidate.name})
    if code != 200:
        raise ClusterError(f"failover of group {group} refused by Patroni: {text.strip()}")
    _wait_new_primary(cluster, group, candidate)
    return {"group": group, "from": leader.name if leader else None, "to": candidate.name,
            "seconds": round(time.monotonic() - t0, 2)}


def _wait_new_primary(cluster: ClusterState, group: int, candidate: Member) -> None:
    _wait(cluster, lambda st: st.get(candidate.name, {}).get("role") == "leader"
          and st[candidate.name].get("state") == "running", f"{candidate.name} to lead group {group}", 90)
    if cluster.citus:
        _wait_registered(cluster, 60)
