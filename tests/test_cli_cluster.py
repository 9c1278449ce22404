"""Issue 2: `finshard cluster` manages real local clusters; bad input is one line, no traceback."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml


ROOT = Path(__file__).resolve().parent.parent


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "finshard.cli", *args], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, **(env or {})}, timeout=300)


def assert_one_line_error(res: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert res.returncode != 0
    assert "Traceback" not in res.stderr
    lines = [line for line in res.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1, res.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_plain_cluster_up_twice_status_dsn_down_twice(scratch):
    directory = scratch("finshard-cli-") / "c"
    res = run("cluster", "up", "--dir", str(directory), "--no-citus")
    assert res.returncode == 0, res.stderr
    dsn = res.stdout.strip()
    assert dsn.startswith("postgresql://postgres@127.0.0.1:")
    assert "distribution is off" in res.stderr
    again = run("cluster", "up", "--dir", str(directory), "--no-citus")
    assert again.returncode == 0 and again.stdout.strip() == dsn
    # The cluster keeps its shape: an option that contradicts it is refused, not ignored.
    for args, shape in ((("--citus",), "one plain node"), (("--no-tls",), "TLS on")):
        assert_one_line_error(run("cluster", "up", "--dir", str(directory), *args), shape, "keeps that shape")
    assert run("cluster", "up", "--dir", str(directory), "--no-citus", "--workers", "2").returncode == 0
    status = json.loads(run("cluster", "status", "--dir", str(directory), "--json").stdout)
    assert [(n["role"], n["up"]) for n in status] == [("single", True)]
    assert run("cluster", "dsn", "--dir", str(directory)).stdout.strip() == dsn
    assert run("install", "--dsn", dsn).returncode == 0
    assert_one_line_error(run("pgbouncer", "nodes", "on", "--dir", str(directory)), "for Citus clusters")
    assert run("cluster", "down", "--dir", str(directory)).returncode == 0
    assert run("cluster", "down", "--dir", str(directory)).returncode == 0
    status = json.loads(run("cluster", "status", "--dir", str(directory), "--json").stdout)
    assert status[0]["up"] is False


@pytest.mark.citus
def test_citus_cluster_up_registers_two_workers(scratch):
    directory = scratch("finshard-cli-") / "c"
    try:
        res = run("cluster", "up", "--dir", str(directory))
        assert res.returncode == 0, res.stderr
        status = json.loads(run("cluster", "status", "--dir", str(directory), "--json").stdout)
        assert [n["role"] for n in status] == ["coordinator", "worker", "worker"]
        assert all(n["up"] and n["citus"] for n in status)
        import psycopg
        with psycopg.connect(res.stdout.strip(), autocommit=True) as conn:
            ports = {r[0] for r in conn.execute("SELECT nodeport FROM pg_dist_node WHERE groupid > 0")}
        assert ports == {n["port"] for n in status if n["role"] == "worker"}
        assert run("cluster", "up", "--dir", str(directory), "--workers", "2").returncode == 0
        assert_one_line_error(run("cluster", "up", "--dir", str(directory), "--workers", "3"), "2 worker(s)", "keeps that shape")
        # A worker down: what needs it names it, in one line, without Citus' raw words or code.
        worker = [n for n in status if n["role"] == "worker"][-1]
        subprocess.run(["runuser", "-u", "postgres", "--", "/usr/lib/postgresql/15/bin/pg_ctl", "-D", worker["datadir"],
                        "-m", "fast", "stop"], check=True, capture_output=True)
        down = run("install", "--dsn", res.stdout.strip())
        assert_one_line_error(down, f"the Citus node 127.0.0.1:{worker['port']} is not reachable (Connection refused)")
        assert "[08006]" not in down.stderr
    finally:
        run("cluster", "down", "--dir", str(directory))


@pytest.mark.citus
def test_citus_without_workers_is_refused(scratch):
    directory = scratch("finshard-cli-") / "c"
    assert_one_line_error(run("cluster", "up", "--dir", str(directory), "--citus", "--workers", "0"), "at least one worker")
    assert not directory.exists() or not any(directory.iterdir())


def test_replicas_without_ha_are_refused(scratch):
    directory = scratch("finshard-cli-") / "c"
    assert_one_line_error(run("cluster", "up", "--dir", str(directory), "--no-citus", "--replicas", "3"), "without --ha")
    assert not directory.exists() or not any(directory.iterdir())


def test_up_in_a_non_empty_foreign_directory_is_refused(scratch):
    directory = scratch("finshard-cli-")
    (directory / "something.txt").write_text("not a cluster")
    assert_one_line_error(run("cluster", "up", "--dir", str(directory), "--no-citus"), "not empty")


def test_up_in_an_unwritable_directory_is_refused():
    assert_one_line_error(run("cluster", "up", "--dir", "/proc/finshard-cluster", "--no-citus"), "/proc/finshard-cluster")


def test_half_created_cluster_is_recognised(scratch):
    directory = scratch("finshard-cli-")
    (directory / "cluster.json").write_text(json.dumps({"citus": False, "complete": False, "nodes": [
        {"name": "single", "role": "single", "port": 1, "datadir": str(directory / "coordinator")}]}))
    assert_one_line_error(run("cluster", "up", "--dir", str(directory)), "half-created")


def test_missing_postgres_binaries_are_reported(scratch):
    directory = scratch("finshard-cli-") / "c"
    assert_one_line_error(run("cluster", "up", "--dir", str(directory), env={"FINSHARD_PG_BIN": "/nonexistent"}),
                          "binaries not found")


def test_port_taken_by_another_program_is_reported(scratch):
    directory = scratch("finshard-cli-") / "c"
    assert run("cluster", "up", "--dir", str(directory), "--no-citus").returncode == 0
    run("cluster", "down", "--dir", str(directory))
    port = json.loads((directory / "cluster.json").read_text())["nodes"][0]["port"]
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        assert_one_line_error(run("cluster", "up", "--dir", str(directory)), f"port {port}", "taken")


def test_status_of_a_directory_without_a_cluster_is_one_line(scratch):
    assert_one_line_error(run("cluster", "status", "--dir", str(scratch("finshard-cli-"))), "no finshard cluster")


def test_install_against_an_unreachable_server_is_one_line():
    assert_one_line_error(run("install", "--dsn", "postgresql://postgres@127.0.0.1:1/finshard"), "cannot connect")


def test_docker_compose_parses_and_names_real_images():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"coordinator", "worker1", "worker2", "setup", "pgbouncer"} <= set(services)
    for name in ("coordinator", "worker1", "worker2", "setup"):
        org, _, rest = services[name]["image"].partition("/")
        repository, _, tag = rest.partition(":")
        assert (org, repository) == ("citusdata", "citus") and tag.endswith("-pg15"), services[name]["image"]
    assert services["pgbouncer"]["image"].startswith("edoburu/pgbouncer:")
    assert services["pgbouncer"]["environment"]["POOL_MODE"] == "transaction"
    assert "install.sql" in (ROOT / "docker" / "setup.sh").read_text()
    # TLS on every hop and SCRAM, as local clusters run.
    for name in ("coordinator", "worker1", "worker2"):
        command = " ".join(services[name]["command"])
        assert "ssl=on" in command and "sslmode=verify-full" in command and "hba_file=" in command
        assert services[name]["depends_on"]["certs"]["condition"] == "service_completed_successfully"
    hba = (ROOT / "docker" / "pg_hba.conf").read_text()
    assert "hostnossl all       all       all      reject" in hba and "trust" not in hba.split("local     all       all")[1]
    assert services["setup"]["environment"]["PGSSLMODE"] == "verify-full"
    env = services["pgbouncer"]["environment"]
    assert env["CLIENT_TLS_SSLMODE"] == "require" and env["SERVER_TLS_SSLMODE"] == "verify-full"


def test_the_demo_refuses_a_cluster_it_did_not_create(plain):
    """The demo seeds users and moves money: on `cluster up`'s own cluster it stops, changing nothing."""
    with plain.connect() as conn:
        users = conn.execute("SELECT count(*) FROM finshard.users").fetchone()[0]
    assert_one_line_error(run("demo", "--dir", str(plain.cluster.directory)), "did not create", "--dir")
    with plain.connect() as conn:
        assert conn.execute("SELECT count(*) FROM finshard.users").fetchone()[0] == users


def test_up_where_the_postgres_user_cannot_enter_records_nothing(scratch):
    parent = scratch("finshard-cli-") / "private"
    parent.mkdir(mode=0o700)
    directory = parent / "c"
    refused = run("cluster", "up", "--dir", str(directory), "--no-citus")
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert "cannot enter" in refused.stderr.strip().splitlines()[-1]
    assert not (directory / "cluster.json").exists()
    # Nothing half-made to trip over: once the parent opens, the same directory takes a cluster.
    parent.chmod(0o755)
    res = run("cluster", "up", "--dir", str(directory), "--no-citus")
    try:
        assert res.returncode == 0, res.stderr
    finally:
        run("cluster", "down", "--dir", str(directory))
