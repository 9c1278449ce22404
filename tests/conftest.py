"""Real servers for the tests: a plain PostgreSQL node always, a Citus cluster (coordinator +
2 workers) when the citus extension is installed. Both are started once per session by
finshard's own cluster manager on free ports and stopped at the end; the schema is installed
once. Tests create their own users and accounts, so they never depend on each other's data.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import uuid
from pathlib import Path
from typing import Callable, Iterator

import psycopg
import pytest

from finshard.local.cluster import Cluster
from finshard.local.postgres import citus_installed, find_pg_bin, free_port, run_pg
from finshard.ops.installer import install

CITUS = citus_installed()
CITUS_REASON = "the citus extension is not installed for PostgreSQL 15 on this machine (pg_available_extensions has no citus)"


def _tmpdir(prefix: str) -> Path:
    # Not pytest's tmp_path: its parent is private (0700) and the servers run as the postgres user.
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=os.environ.get("FINSHARD_TEST_TMP", "/tmp")))
    path.chmod(0o755)
    return path


@pytest.fixture
def scratch() -> Iterator[Callable[[str], Path]]:
    """Makes fresh directories (readable by the postgres user) and removes them after the test."""
    made: list[Path] = []

    def make(prefix: str) -> Path:
        made.append(_tmpdir(prefix))
        return made[-1]

    yield make
    for path in made:
        shutil.rmtree(path, ignore_errors=True)


class Running:
    """A started cluster with the schema installed."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.dsn = cluster.dsn()
        self.citus = cluster.citus

    def connect(self, **kwargs: object) -> psycopg.Connection:
        return psycopg.connect(self.dsn, autocommit=True, **kwargs)  # type: ignore[arg-type]

    def logs(self, lines: int = 40) -> str:
        out = []
        for node in self.cluster.nodes:
            log = Path(node.datadir) / "server.log"
            if log.exists():
                tail = log.read_text(errors="replace").splitlines()[-lines:]
                out.append(f"--- {node.name} ({log}) ---\n" + "\n".join(tail))
        return "\n".join(out)


_RUNNING: list[Running] = []


def _start(prefix: str, *, citus: bool) -> Iterator[Running]:
    directory = _tmpdir(prefix)
    cluster = Cluster.up(directory / "cluster", workers=2, use_citus=citus)
    try:
        install(cluster.dsn(), shard_count=8 if citus else None)
        running = Running(cluster)
        _RUNNING.append(running)
        yield running
    finally:
        cluster.down()
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="session")
def plain() -> Iterator[Running]:
    """One plain PostgreSQL 15 node with finshard installed."""
    yield from _start("finshard-plain-", citus=False)


@pytest.fixture(scope="session")
def citus() -> Iterator[Running]:
    """A Citus coordinator and 2 workers with finshard installed (8 shards per table)."""
    if not CITUS:
        pytest.skip(CITUS_REASON)
    yield from _start("finshard-citus-", citus=True)


@pytest.fixture(scope="session")
def standby_of_plain(plain: Running) -> Iterator[str]:
    """A streaming standby of the plain node (pg_basebackup over its Unix socket, where its
    superuser is trusted); yields its DSN. For what must do nothing in recovery."""
    node, pg_bin = plain.cluster.coordinator, find_pg_bin()
    datadir = _tmpdir("finshard-standby-") / "data"
    datadir.mkdir(mode=0o700)
    if os.geteuid() == 0:
        shutil.chown(datadir, "postgres", "postgres")
    port = free_port()
    try:
        res = run_pg([str(pg_bin / "pg_basebackup"), "-h", node.datadir, "-p", str(node.port), "-U", "postgres",
                            "-D", str(datadir), "-X", "stream", "-R", "-c", "fast"])
        assert res.returncode == 0, res.stderr
        with open(datadir / "postgresql.auto.conf", "a") as conf:
            conf.write(f"port = {port}\nunix_socket_directories = '{datadir}'\n")
        res = run_pg([str(pg_bin / "pg_ctl"), "-D", str(datadir), "-l", str(datadir / "server.log"), "-w", "start"])
        assert res.returncode == 0, res.stderr or res.stdout
        dsn = psycopg.conninfo.make_conninfo(plain.dsn, port=str(port))
        deadline = time.monotonic() + 30
        while True:
            try:
                with psycopg.connect(dsn, autocommit=True) as conn:
                    assert conn.execute("SELECT pg_is_in_recovery()").fetchone()[0] is True
                break
            except psycopg.OperationalError:
                assert time.monotonic() < deadline, "the standby did not accept connections within 30 s"
                time.sleep(0.2)
        yield dsn
    finally:
        run_pg([str(pg_bin / "pg_ctl"), "-D", str(datadir), "-m", "fast", "-w", "stop"])
        shutil.rmtree(datadir.parent, ignore_errors=True)


@pytest.fixture(params=["plain", pytest.param("citus", marks=pytest.mark.citus)])
def db(request: pytest.FixtureRequest) -> Running:
    """The same test on plain PostgreSQL and on Citus."""
    return request.getfixturevalue(request.param)


def unique(prefix: str = "u") -> str:
    return f"{prefix}{uuid.uuid4().hex[:12]}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    outcome = yield
    report = outcome.get_result()
    # Citus' own test harness prints the server log of a failed test: so do we.
    if report.when == "call" and report.failed and {"db", "plain", "citus"} & set(getattr(item, "fixturenames", ())):
        for running in _RUNNING:
            report.sections.append((f"server log {running.cluster.directory}", running.logs()))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if CITUS:
        return
    skip = pytest.mark.skip(reason=CITUS_REASON)
    for item in items:
        if "citus" in item.keywords:
            item.add_marker(skip)
