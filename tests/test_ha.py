"""High availability on real servers: etcd, Patroni and PostgreSQL (and Citus) started by
``finshard cluster up --ha``: status, switchover, failover drills under load, read replicas.

The drills kill a group's primary (Patroni and PostgreSQL, SIGKILL) while router clients transfer
money, and check that no acknowledged write is lost or applied twice.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import shutil
import threading
import time
import urllib.error
import uuid
from decimal import Decimal
from typing import Iterator

import psycopg
import pytest
from click.testing import CliRunner

from finshard import errors
from finshard.cli import main
from finshard.local import ha
from finshard.local.cluster import Cluster
from finshard.local.ha_drill import drill
from finshard.ops.installer import install
from finshard.router import Router
from tests.conftest import CITUS, CITUS_REASON, _tmpdir


def _ha_missing() -> str | None:
    try:
        ha.patroni_bin()
        ha.etcd_bin()
    except Exception as exc:  # noqa: BLE001 - the reason is the skip message
        return f"{exc}"
    return None


HA_REASON = _ha_missing()
pytestmark = pytest.mark.skipif(HA_REASON is not None, reason=HA_REASON or "")


def _up(prefix: str, *, citus: bool) -> Iterator[Cluster]:
    directory = _tmpdir(prefix)
    cluster = Cluster.up(directory / "cluster", workers=2, use_citus=citus, ha=True)
    try:
        install(cluster.dsn(), shard_count=8 if citus else None)
        yield cluster
    finally:
        Cluster.load(cluster.directory).down()
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="module")
def ha_citus() -> Iterator[Cluster]:
    if not CITUS:
        pytest.skip(CITUS_REASON)
    yield from _up("finshard-ha-citus-", citus=True)


@pytest.fixture(scope="module")
def ha_plain() -> Iterator[Cluster]:
    yield from _up("finshard-ha-plain-", citus=False)


def _account(r: Router, currency: str = "USD", amount: str = "100.00") -> int:
    user = r.create_user(username=f"ha{uuid.uuid4().hex[:10]}", email=f"ha{uuid.uuid4().hex[:10]}@example.com",
                         password="correct horse battery staple")
    acc = r.open_account(user_id=user, currency=currency)
    r.deposit(account_id=acc, amount=Decimal(amount))
    return acc


@pytest.mark.citus
def test_status_shows_every_group_with_its_primary_and_synchronous_standby(ha_citus: Cluster) -> None:
    out = CliRunner().invoke(main, ["cluster", "status", "--dir", str(ha_citus.directory), "--json"])
    assert out.exit_code == 0, out.output
    rows = json.loads(out.output)
    assert [r["group"] for r in rows] == [0, 1, 2]
    for row in rows:
        roles = sorted(m["role"] for m in row["members"])
        assert roles == ["leader", "quorum_standby"], row
        assert all(m["timeline"] >= 1 and m["state"] in ("running", "streaming") for m in row["members"])
        assert all(isinstance(m["lag"], int) and m["lag"] >= 0 for m in row["members"] if m["role"] != "leader")
    text = CliRunner().invoke(main, ["cluster", "status", "--dir", str(ha_citus.directory)])
    assert "quorum_standby" in text.output and "worker2" in text.output


@pytest.mark.citus
def test_citus_metadata_names_each_primary_and_each_standby_as_a_secondary(ha_citus: Cluster) -> None:
    with psycopg.connect(ha_citus.dsn(), autocommit=True) as conn:
        rows = conn.execute("SELECT groupid, nodeport, noderole FROM pg_dist_node WHERE isactive").fetchall()
        standby_names = conn.execute("SHOW synchronous_standby_names").fetchone()[0]
    for group in ha.groups(ha_citus):
        primary = next(m for m in group["members"] if m["role"] == "leader")
        standby = next(m for m in group["members"] if m["role"] != "leader")
        assert (group["group"], primary["port"], "primary") in rows
        assert (group["group"], standby["port"], "secondary") in rows
    # Every commit on the coordinator waits for its standby (Patroni's quorum mode, ANY 1).
    assert standby_names.startswith("ANY 1")


@pytest.mark.citus
def test_a_read_goes_to_a_standby_within_the_lag_bound_and_to_the_primary_beyond_it(ha_citus: Cluster) -> None:
    with Router.connect(ha_citus.dsn(), reads="replica", max_lag=1.0) as r:
        acc = _account(r)
        primary = r.shard_for(acc).node
        standbys = r.topology.secondaries[primary]
        assert standbys, r.topology.secondaries
        month = dt.date.today()
        statement = r.account_statement(account_id=acc, month=month)
        assert r.last_node in standbys
        assert statement[-1]["balance"] == Decimal("100.00")
        # A call can ask for the primary.
        r.balance(account_id=acc, reads="primary")
        assert r.last_node == primary
        # Writes never go to a standby.
        r.deposit(account_id=acc, amount=Decimal("1.00"))
        assert r.last_node == primary
        member = next(m for m in ha_citus.members if m.port == standbys[0].port)
        with psycopg.connect(ha.member_dsn(ha_citus, member), autocommit=True) as standby:
            # Stop the standby's replay (its startup process): it still receives and flushes WAL, so
            # commits go on, but applies none. (Patroni resumes a replay paused with pg_wal_replay_pause.)
            startup = standby.execute("SELECT pid FROM pg_stat_activity WHERE backend_type = 'startup'").fetchone()[0]
        os.kill(startup, signal.SIGSTOP)
        try:
            r.deposit(account_id=acc, amount=Decimal("2.00"))
            time.sleep(2.5)  # the standby is now more than max_lag behind
            assert r.balance(account_id=acc) == Decimal("103.00")
            assert r.last_node == primary
            # Another router that takes any lag gets the standby's (stale) answer.
            with Router.connect(ha_citus.dsn(), reads="replica", max_lag=3600) as lenient:
                assert lenient.balance(account_id=acc) == Decimal("101.00")
                assert lenient.last_node == standbys[0]
        finally:
            os.kill(startup, signal.SIGCONT)


@pytest.mark.citus
def test_a_report_is_served_by_the_coordinators_standby(ha_citus: Cluster) -> None:
    with Router.connect(ha_citus.dsn(), reads="replica") as r:
        _account(r)
        far = dt.datetime(2100, 1, 1, tzinfo=dt.timezone.utc)
        rows = r.daily_volume(from_=dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc), to=far)
        assert rows
        coordinator_standbys = r.topology.secondaries[r.topology.coordinator]
        assert r.last_node in coordinator_standbys


@pytest.mark.citus
def test_a_planned_switchover_under_load_loses_no_write(ha_citus: Cluster) -> None:
    acked: list[tuple[int, str]] = []
    failures: list[str] = []
    stop = threading.Event()
    with Router.connect(ha_citus.dsn()) as r:
        accounts = [_account(r) for _ in range(6)]

    def load() -> None:
        with Router.connect(ha_citus.dsn()) as router:
            i = 0
            while not stop.is_set():
                acc = accounts[i % len(accounts)]
                key = f"sw-{uuid.uuid4().hex}"
                try:
                    router.deposit(account_id=acc, amount=Decimal("0.01"), idempotency_key=key)
                    acked.append((acc, key))
                except Exception as exc:  # noqa: BLE001 - what the application saw
                    failures.append(repr(exc))
                i += 1

    before = ha.primary_of(ha_citus, 2)
    assert before is not None
    thread = threading.Thread(target=load)
    thread.start()
    try:
        time.sleep(1)
        out = CliRunner().invoke(main, ["switchover", "--dir", str(ha_citus.directory), "--group", "2", "--json"])
        assert out.exit_code == 0, out.output
        result = json.loads(out.output)
        time.sleep(2)
    finally:
        stop.set()
        thread.join(60)
    assert result["from"] == before.name and result["to"] != before.name
    assert failures == []
    after = ha.primary_of(ha_citus, 2)
    assert after is not None and after.name == result["to"]
    with psycopg.connect(ha_citus.dsn(), autocommit=True) as conn:
        assert conn.execute("SELECT nodeport FROM pg_dist_node WHERE groupid = 2 AND noderole = 'primary'").fetchone()[0] == after.port
        found = {(a, k) for a, k in conn.execute(
            "SELECT account_id, idempotency_key FROM finshard.idempotency_keys WHERE idempotency_key LIKE 'sw-%%'").fetchall()}
    assert set(acked) <= found
    assert len(acked) > 10
    ha.wait_healthy(Cluster.load(ha_citus.directory), 120)


def test_switchover_and_failover_refuse_bad_input_in_one_line(ha_citus_or_plain: Cluster) -> None:
    d = str(ha_citus_or_plain.directory)
    for args, words in ((["switchover", "--group", "9"], "no group 9"),
                        (["switchover", "--group", "0", "--to", "nobody"], "has no member nobody"),
                        (["failover"], "name the group")):
        out = CliRunner().invoke(main, [*args, "--dir", d])
        assert out.exit_code == 1, out.output
        assert words in out.output and "Traceback" not in out.output and len(out.output.strip().splitlines()) == 1


@pytest.fixture
def ha_citus_or_plain(request: pytest.FixtureRequest) -> Cluster:
    return request.getfixturevalue("ha_citus" if CITUS else "ha_plain")


def test_switchover_on_a_cluster_without_ha_says_so(plain) -> None:  # type: ignore[no-untyped-def]
    out = CliRunner().invoke(main, ["switchover", "--group", "0", "--dir", str(plain.cluster.directory)])
    assert out.exit_code == 1 and "without --ha" in out.output


def _assert_drill(report: dict, group: int) -> None:  # type: ignore[type-arg]
    assert report["ok"], report
    assert report["group"] == group
    assert report["lost"] == 0 and report["duplicated"] == 0
    assert report["totals_hold"] and report["ledger_problems"] == 0
    assert report["prepared_transactions_left"] == 0
    # Within the router's retry budget the application sees a pause, never an error.
    assert report["application_errors"] == 0, report["application_error_samples"]
    assert report["acknowledged_transfers"] > 0
    assert report["seconds_to_first_write_on_group"] is not None
    assert report["old_primary_rejoined_as_standby"], report


@pytest.mark.citus
def test_a_worker_primary_killed_under_load_fails_over_with_nothing_lost(ha_citus: Cluster) -> None:
    report = drill(ha_citus.directory, group=1, clients=8)
    _assert_drill(report, 1)
    # The other group and the coordinator went on writing while group 1 failed over.
    assert report["seconds_to_first_write_anywhere"] < report["seconds_to_first_write_on_group"]
    assert ha.primary_of(Cluster.load(ha_citus.directory), 1).name == report["new_primary"]  # type: ignore[union-attr]


@pytest.mark.citus
def test_the_coordinator_killed_under_load_fails_over_with_nothing_lost(ha_citus: Cluster) -> None:
    out = CliRunner().invoke(main, ["failover", "drill", "--dir", str(ha_citus.directory), "--coordinator", "--json"])
    assert out.exit_code == 0, out.output
    report = json.loads(out.output[out.output.index("{"):])
    _assert_drill(report, 0)
    # Transfers go from the router straight to the workers: the coordinator's failover does not stop them.
    assert report["seconds_to_first_write_anywhere"] < 5


def test_one_node_with_a_standby_fails_over_with_nothing_lost(ha_plain: Cluster) -> None:
    report = drill(ha_plain.directory, clients=4)
    _assert_drill(report, 0)
    with Router.connect(ha_plain.dsn(), reads="replica") as r:
        acc = _account(r)
        assert r.balance(account_id=acc) == Decimal("100.00")
        assert r.last_node in r.topology.secondaries[r.topology.coordinator]


def test_a_stopped_ha_cluster_starts_again_with_its_data(ha_plain: Cluster) -> None:
    # Nor is a pgbouncer configuration written for it: it would name today's primaries.
    refused = CliRunner().invoke(main, ["pgbouncer", "config", "--dir", str(ha_plain.directory)])
    assert refused.exit_code == 1 and "does not follow a Patroni failover" in refused.output
    with Router.connect(ha_plain.dsn()) as r:
        acc = _account(r)
    CliRunner().invoke(main, ["cluster", "down", "--dir", str(ha_plain.directory)])
    assert all(not row["up"] for row in Cluster.load(ha_plain.directory).status())
    out = CliRunner().invoke(main, ["cluster", "up", "--dir", str(ha_plain.directory)])
    assert out.exit_code == 0, out.output
    again = CliRunner().invoke(main, ["cluster", "up", "--dir", str(ha_plain.directory)])  # running: harmless
    assert again.exit_code == 0, again.output
    cluster = Cluster.load(ha_plain.directory)
    assert all(row["up"] for row in cluster.status())
    with Router.connect(cluster.dsn()) as r:
        assert r.balance(account_id=acc) == Decimal("100.00")


def test_etcd_and_patronis_api_take_only_tls_clients_of_the_clusters_ca(ha_plain: Cluster) -> None:
    import ssl
    import urllib.request

    tls_dir = ha_plain.tls_dir
    trusted = ssl.create_default_context(cafile=str(tls_dir / "ca.crt"))
    etcd = f"https://127.0.0.1:{ha_plain.etcd_port}/health"
    # etcd: plain HTTP and a client without a certificate of the cluster's CA are refused.
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{ha_plain.etcd_port}/health", timeout=3).read()
    with pytest.raises(OSError):
        urllib.request.urlopen(etcd, timeout=3, context=trusted).read()
    with pytest.raises(OSError):
        urllib.request.urlopen(etcd, timeout=3, context=ssl.create_default_context()).read()
    with_cert = ssl.create_default_context(cafile=str(tls_dir / "ca.crt"))
    with_cert.load_cert_chain(str(tls_dir / "etcd.crt"), str(tls_dir / "etcd.key"))
    with urllib.request.urlopen(etcd, timeout=3, context=with_cert) as resp:
        assert json.loads(resp.read())["health"] == "true"
    # Patroni's REST API: HTTPS only, verified against the cluster's CA; changes need the password.
    member = ha_plain.members[0]
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{member.rest_port}/cluster", timeout=3).read()
    with urllib.request.urlopen(f"https://127.0.0.1:{member.rest_port}/cluster", timeout=3, context=trusted) as resp:
        assert {m["name"] for m in json.loads(resp.read())["members"]} == {m.name for m in ha_plain.members}
    req = urllib.request.Request(f"https://127.0.0.1:{member.rest_port}/switchover", method="POST",
                                 data=json.dumps({"leader": member.name}).encode())
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(req, timeout=3, context=trusted)
    assert refused.value.code == 401


def test_a_lost_connection_relayed_by_citus_is_transient() -> None:
    err = psycopg.errors.InternalError_("connection to the remote node postgres@127.0.0.1:5433 failed with the "
                                        "following error: server closed the connection unexpectedly")
    assert isinstance(errors.translate(_with_state(err, "XX000")), errors.TransientError)
    other = psycopg.errors.InternalError_("could not find the shard")
    assert not isinstance(errors.translate(_with_state(other, "XX000")), errors.TransientError)


def _with_state(exc: Exception, state: str) -> Exception:
    class Diag:
        sqlstate = state
        message_primary = str(exc)
        message_detail = None
        message_hint = None

    class Err(Exception):
        sqlstate = state
        diag = Diag()

    return Err(str(exc))


def test_ha_with_pgbouncer_is_refused(scratch) -> None:  # type: ignore[no-untyped-def]
    out = CliRunner().invoke(main, ["cluster", "up", "--dir", str(scratch("ha-pgb-") / "c"), "--ha", "--pgbouncer"])
    assert out.exit_code == 1 and "--pgbouncer" in out.output
    out = CliRunner().invoke(main, ["cluster", "up", "--dir", str(scratch("ha-rep-") / "c"), "--ha", "--replicas", "0"])
    assert out.exit_code == 1 and "--replicas" in out.output


def test_an_ha_group_is_backed_up_from_its_primary_and_restores_with_its_keys(ha_plain: Cluster, scratch) -> None:  # type: ignore[no-untyped-def]
    from finshard.local import backup
    from finshard.ops.backup import create_restore_point

    with Router.connect(ha_plain.dsn()) as r:
        acc = _account(r)
        user = r.create_user(username=f"hb{uuid.uuid4().hex[:10]}", email=f"hb{uuid.uuid4().hex[:10]}@example.com",
                             password="correct horse battery staple", first_name="Ada")
    done = backup.backup(ha_plain.directory)
    assert [n["node"] for n in done["nodes"]] == ["single"]
    name = f"ha-{uuid.uuid4().hex[:8]}"
    create_restore_point(ha_plain.dsn(), name)
    to = scratch("finshard-ha-restore-") / "restored"
    result = backup.restore(ha_plain.directory, to, target_name=name)
    try:
        with psycopg.connect(result["dsn"], autocommit=True) as conn:
            assert conn.execute("SELECT balance FROM finshard.accounts WHERE account_id = %s", (acc,)).fetchone()[0] == Decimal("100.00")
            # The keys came along: personal data decrypts, and the audit chain verifies.
            assert conn.execute("SELECT first_name FROM finshard.user_profile(%s::bigint)", (user,)).fetchone()[0] == "Ada"
            assert conn.execute("SELECT count(*) FROM finshard.audit_verify()").fetchone()[0] == 0
            assert conn.execute("SELECT pg_read_file('finshard_key_dir', 0, 100, true)").fetchone()[0] is None
    finally:
        Cluster.load(to).down()
