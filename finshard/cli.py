"""The finshard command line: a thin click group, one small function per subcommand.

User errors (bad input, a missing server, a rejected call) exit non-zero with a one-line reason
and no traceback; ``--json`` prints machine-readable output where a program reads it.
"""

from __future__ import annotations

import json
import os
import re
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, TypeVar

import click

from finshard.errors import FinshardError

F = TypeVar("F", bound=Callable[..., Any])


class CliError(click.ClickException):
    """A user error: printed as one line, exit code 1."""

    def format_message(self) -> str:
        return self.message.replace("\n", " ")


def _guard(fn: F) -> F:
    """Turn finshard and driver errors into one-line CLI errors."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except click.ClickException:
            raise
        except FinshardError as exc:
            code = f" [{exc.sqlstate}]" if exc.sqlstate else ""
            raise CliError(_node_down(str(exc)) or f"{exc}{code}") from None
        except BrokenPipeError:
            # The reader stopped (`finshard partitions list | head`): no more to say, nothing failed.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(0)
        except Exception as exc:  # noqa: BLE001 - the CLI's contract: one line, no traceback
            # A rejection from the database: its finshard class and code, as the router gives it.
            if getattr(exc, "sqlstate", None) and not os.environ.get("FINSHARD_DEBUG"):
                from finshard.errors import translate

                err = translate(exc)
                raise CliError(_node_down(str(err)) or f"{err} [{err.sqlstate}]") from None
            if os.environ.get("FINSHARD_DEBUG"):
                raise
            raise CliError(_one_line(exc)) from None

    return wrapper  # type: ignore[return-value]


def _node_down(text: str) -> str | None:
    """Citus could not reach one of its nodes: which, and why, in an operator's terms (not Citus'
    words with a tab and a connection SQLSTATE); None for any other error."""
    down = re.search(r"connection to the remote node (\S+) failed with the following error: ([^\t\n\[]*)", text)
    if down is None:
        return None
    return (f"{text[:down.start()]}the Citus node {down.group(1).split('@')[-1]} is not reachable "
            f"({down.group(2).strip() or 'no reason given'}): start it (finshard cluster up --dir DIR for a local "
            "cluster) and run this again")


def _one_line(exc: Exception) -> str:
    """What went wrong, for an operator: the system's words for a file, the driver's for a
    connection or a DSN, the message itself otherwise; a class name only for a bug's own errors."""
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror}: {exc.filename}" if exc.filename else exc.strerror
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    driver = type(exc).__module__.startswith("psycopg")  # the driver is imported in finshard.db only
    if driver and type(exc).__name__ == "ProgrammingError":
        return f"invalid DSN or call: {text}"
    if (driver or isinstance(exc, (RuntimeError, ValueError))) and text:
        return text
    name = type(exc).__name__
    return f"{name}: {text}" if text else name


def _dump(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=_json_default))


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


dsn_option = click.option("--dsn", envvar="FINSHARD_DSN", required=True,
                          help="Coordinator (or single node) DSN; default $FINSHARD_DSN.")
dir_option = click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path), default=Path("cluster"),
                          show_default=True, help="Cluster directory.")
json_option = click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")


def _progress(message: str) -> None:
    click.echo(f"  {message}", err=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="finshard")
def main() -> None:
    """finshard: sharded PostgreSQL (Citus) for fintech ledgers and trading."""


# -- cluster -------------------------------------------------------------------------------------
@main.group()
def cluster() -> None:
    """Local clusters on this machine (Citus coordinator + workers, or one plain node)."""


@cluster.command("up")
@dir_option
@click.option("--workers", default=2, show_default=True, type=int, help="Worker nodes (Citus only).")
@click.option("--citus/--no-citus", default=None, help="Force Citus on or off (default: Citus when installed).")
@click.option("--pgbouncer", is_flag=True, help="Also run a pgbouncer (transaction pooling) in front of each node.")
@click.option("--backup-repo", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="pgBackRest repository every node archives its WAL to (default DIR/backup).")
@click.option("--no-tls", is_flag=True, help="Plaintext and trusted loopback connections (TLS and SCRAM are the default).")
@click.option("--ha", is_flag=True, help="Every node group a Patroni-managed primary with synchronous standbys, and etcd.")
@click.option("--replicas", default=1, show_default=True, type=int, help="Standbys per group (with --ha).")
@_guard
def cluster_up(directory: Path, workers: int, citus: bool | None, pgbouncer: bool, backup_repo: Path | None,
               no_tls: bool, ha: bool, replicas: int) -> None:
    """Create and start a cluster (harmless when it is already running); prints the coordinator DSN."""
    from click.core import ParameterSource

    from finshard.local.cluster import Cluster
    from finshard.local.state import STATE_FILE

    existing = Cluster.read(directory) if (directory / STATE_FILE).exists() else None
    if existing is not None and existing.complete:
        # An existing cluster keeps its shape: an option given that contradicts it is refused, not
        # ignored (--workers says nothing of a plain node, which has none).
        ctx = click.get_current_context()
        has_workers = sum(n.role == "worker" for n in existing.nodes)
        for flag, differs, shape in (
                ("workers", existing.citus and workers != has_workers, f"{has_workers} worker(s)"),
                ("citus", citus != existing.citus, "Citus" if existing.citus else "one plain node"),
                ("no_tls", no_tls == existing.tls, "TLS on" if existing.tls else "TLS off")):
            if differs and ctx.get_parameter_source(flag) == ParameterSource.COMMANDLINE:
                raise CliError(f"the cluster in {directory} was created with {shape}; it keeps that shape "
                               "(create a new cluster in another directory)")
    c = Cluster.up(directory, workers=workers, use_citus=citus, pgbouncer=pgbouncer, backup_repo=backup_repo,
                   tls=not no_tls, ha=ha, replicas=replicas, progress=_progress)
    if not c.tls:
        click.echo("  TLS is off (--no-tls): loopback connections are plaintext and trusted", err=True)
    if not c.citus:
        click.echo("  distribution is off: citus is not installed here (or --no-citus); one plain node", err=True)
    click.echo(c.dsn())


@cluster.command("down")
@dir_option
@_guard
def cluster_down(directory: Path) -> None:
    """Stop every node of the cluster (harmless when stopped)."""
    from finshard.local.cluster import Cluster

    Cluster.load(directory).down(progress=_progress)
    click.echo(f"stopped {directory}")


@cluster.command("status")
@dir_option
@json_option
@_guard
def cluster_status(directory: Path, as_json: bool) -> None:
    """Every node: role, port, data dir, up/down, Citus version."""
    from finshard.local.cluster import Cluster

    c = Cluster.load(directory)
    rows = c.status()
    if as_json:
        _dump(rows)
        return
    if c.ha:
        click.echo(f"{'group':<14} {'member':<16} {'port':>6} {'role':<15} {'state':<10} {'tl':>3} {'lag':>10}")
        for r in rows:
            for m in r["members"]:
                lag = "-" if m["lag"] is None else f"{m['lag']}B"
                click.echo(f"{str(r['group']) + ' ' + r['name']:<14} {m['member']:<16} {m['port']:>6} {m['role']:<15} "
                           f"{m['state']:<10} {m['timeline'] or '-':>3} {lag:>10}")
        click.echo(f"TLS {'on' if c.tls else 'OFF (--no-tls)'}; etcd on 127.0.0.1:{c.etcd_port}; Patroni {c.directory / 'patroni'}")
        return
    click.echo(f"{'node':<12} {'role':<12} {'port':>6} {'state':<5} {'citus':<8} {'tls':<4} datadir")
    for r in rows:
        click.echo(f"{r['name']:<12} {r['role']:<12} {r['port']:>6} {'up' if r['up'] else 'down':<5} "
                   f"{r['citus'] or '-':<8} {'on' if r['tls'] else 'OFF':<4} {r['datadir']}")
    if not c.tls:
        click.echo("TLS is off (created with --no-tls): connections are plaintext and loopback logins are trusted")


@cluster.command("dsn")
@dir_option
@click.option("--pgbouncer", is_flag=True, help="The DSN through the coordinator's pgbouncer.")
@_guard
def cluster_dsn(directory: Path, pgbouncer: bool) -> None:
    """Print the coordinator DSN."""
    from finshard.local.cluster import Cluster

    c = Cluster.load(directory)
    if pgbouncer and not c.coordinator.pgbouncer_port:
        raise CliError("this cluster runs no pgbouncer; start it with: finshard cluster up --pgbouncer")
    click.echo(c.dsn(via_pgbouncer=pgbouncer))


# -- install, seed, demo -----------------------------------------------------------------------------
@main.command()
@dsn_option
@click.option("--shard-count", type=click.IntRange(1, 1024), default=None, help="Shards per distributed table (Citus default 32).")
@_guard
def install(dsn: str, shard_count: int | None) -> None:
    """Install schema, partitions, procedures (and the Citus distribution plan); re-runnable."""
    from finshard.ops.installer import install as do_install

    report = do_install(dsn, shard_count=shard_count)
    for note in report.notes:
        click.echo(f"note: {note}", err=True)
    for name in report.migrations:
        click.echo(f"applied {name}")
    click.echo(f"finshard {report.version} installed ({'citus' if report.citus else 'single node'}, schema level "
               f"{report.level}) from {len(report.files)} files in {report.seconds:.1f}s")


@main.command()
@dsn_option
@click.option("--dry-run", is_flag=True, help="List the pending migrations and change nothing.")
@_guard
def upgrade(dsn: str, dry_run: bool) -> None:
    """Bring a database an earlier finshard installed to this release: its pending migrations (one
    transaction each), then the install. On Citus, give the coordinator."""
    from finshard.ops.installer import install as do_install

    report = do_install(dsn, upgrade_only=True, dry_run=dry_run,
                        progress=lambda step: click.echo(f"applying {step}") if step.startswith("migrations/") else None)
    if dry_run:
        pending = ", ".join(report.migrations) or "none"
        click.echo(f"schema level {report.from_level}; finshard {report.version} is level {report.level}; "
                   f"pending migrations: {pending}")
        return
    click.echo(f"finshard {report.version} upgraded from schema level {report.from_level} to {report.level} "
               f"({len(report.migrations)} migrations, {'citus' if report.citus else 'single node'}) in {report.seconds:.1f}s")


@main.command()
@dsn_option
@click.option("--users", default=20, show_default=True, type=click.IntRange(1, 100000))
@click.option("--seed", "rng_seed", default=42, show_default=True, type=int)
@json_option
@_guard
def seed(dsn: str, users: int, rng_seed: int, as_json: bool) -> None:
    """Create demo users, accounts, deposits, instruments and quotes (through the router)."""
    from finshard.local.seed import seed as do_seed

    summary = do_seed(dsn, users=users, rng_seed=rng_seed)
    _dump(summary) if as_json else click.echo(", ".join(f"{k}: {v}" for k, v in summary.items() if not isinstance(v, list)))


@main.command()
@dsn_option
@click.argument("what", type=click.Choice(["transfer", "nodes"]), default="transfer")
@click.option("--seconds", default=5.0, show_default=True, type=click.FloatRange(1, 3600), help="Length of each run.")
@click.option("--clients", default=8, show_default=True, type=click.IntRange(1, 500))
@click.option("--rounds", default=2, show_default=True, type=click.IntRange(1, 20), help="Alternating rounds of each side.")
@click.option("--accounts", default=400, show_default=True, type=click.IntRange(8, 100000), help="Bench accounts to create.")
@click.option("--scale", default=10, show_default=True, type=click.IntRange(1, 1000), help="pgbench's scale for tpcb-like.")
@json_option
@_guard
def bench(dsn: str, what: str, seconds: float, clients: int, rounds: int, accounts: int, scale: int, as_json: bool) -> None:
    """Measure side by side in one run (pgbench, on the DSN's server): transfer (finshard.transfer
    against pgbench's tpcb-like) or nodes (Citus: same-node against cross-node transfers, on each
    account's worker and through the coordinator). Creates funded bench users and accounts: run it
    on a test cluster, never on one that holds real money. bench/ has the full suites."""
    from finshard import bench as b

    if what == "transfer":
        result = b.transfer_vs_pgbench(dsn, clients=clients, seconds=seconds, rounds=rounds, accounts=accounts, scale=scale)
    else:
        result = b.same_vs_cross_node(dsn, clients=clients, seconds=seconds, rounds=rounds, accounts=accounts)
    if as_json:
        _dump(result)
    else:
        for key, value in result.items():
            click.echo(f"{key}: {value}")


@main.command()
@dir_option
@click.option("--workers", default=2, show_default=True, type=int)
@_guard
def demo(directory: Path, workers: int) -> None:
    """The main job, end to end: a local cluster, the schema, demo data, transfers and orders, status."""
    from finshard.local.demo import run_demo

    run_demo(directory, workers=workers, echo=click.echo)


# -- routing -------------------------------------------------------------------------------------------
@main.command()
@dsn_option
@click.argument("account_id", type=int)
@json_option
@_guard
def shard(dsn: str, account_id: int, as_json: bool) -> None:
    """Which shard and node hold ACCOUNT_ID (hash, shard range, node)."""
    from finshard.router import Router

    with Router.connect(dsn) as r:
        loc = r.shard_for(account_id)
        data = {"account_id": account_id, "hash": loc.hash, "shard_id": loc.shard_id, "min_value": loc.min_value,
                "max_value": loc.max_value, "node": str(loc.node), "citus": r.topology.citus}
    if as_json:
        _dump(data)
    else:
        click.echo(f"account {account_id}: hash {loc.hash} -> shard {loc.shard_id} [{loc.min_value}, {loc.max_value}] on {loc.node}")


@main.command("route")
@dsn_option
@click.argument("sql")
@click.option("--param", "params", multiple=True, help="A value for each %s, in order.")
@json_option
@_guard
def route_cmd(dsn: str, sql: str, params: tuple[str, ...], as_json: bool) -> None:
    """Where SQL would run, and why (single shard, fan-out, reference)."""
    from finshard.router import Router
    from finshard.router.routing import placeholder_count

    # With values, psycopg binds one to each placeholder (without any, it binds none and routes the
    # statement as not pinned to a value).
    placeholders = placeholder_count(sql)
    if params and placeholders != len(params):
        raise CliError(f"the SQL has {placeholders} placeholder(s) and {len(params)} --param value(s): give one value each")
    with Router.connect(dsn) as r:
        decision = r.explain_route(sql, list(params) or None)
    if as_json:
        _dump(decision.as_dict())
    else:
        click.echo(f"{decision.kind} -> {decision.node}: {decision.reason}")


# -- partitions ----------------------------------------------------------------------------------------
@main.group()
def partitions() -> None:
    """Time-partition maintenance (monthly, UTC)."""


@partitions.command("list")
@dsn_option
@json_option
@_guard
def partitions_list(dsn: str, as_json: bool) -> None:
    """Every partition with its range and when retention lets it go."""
    from finshard import db

    rows = db.rows(dsn, "SELECT table_name::text, partition_name, range_from, range_to, retire_after FROM finshard.list_partitions()")
    if as_json:
        _dump([dict(zip(("table", "partition", "from", "to", "retire_after"), r)) for r in rows])
        return
    for t, p, f, to, ra in rows:
        click.echo(f"{t:<24} {p:<34} {f:%Y-%m-%d} .. {to:%Y-%m-%d}  retire after {ra:%Y-%m-%d}")


@partitions.command("create")
@dsn_option
@click.option("--back", default=12, show_default=True, type=click.IntRange(0, 120), help="Months back.")
@click.option("--ahead", default=3, show_default=True, type=click.IntRange(0, 120), help="Months ahead.")
@_guard
def partitions_create(dsn: str, back: int, ahead: int) -> None:
    """Create missing monthly partitions (re-runnable)."""
    from finshard import db

    rows = db.rows(dsn, "SELECT partition_name FROM finshard.create_partitions(%s, %s) WHERE created", (back, ahead))
    click.echo(f"created {len(rows)} partitions" + (f": {', '.join(r[0] for r in rows)}" if rows else ""))


@partitions.command("retire")
@dsn_option
@click.option("--apply", is_flag=True, help="Archive, verify and drop them (default: only list what would go).")
@click.option("--archive-dir", default=None,
              help="Set the archive directory on the database server first (a superuser's DSN; kept in finshard.settings).")
@json_option
@_guard
def partitions_retire(dsn: str, apply: bool, archive_dir: str | None, as_json: bool) -> None:
    """Retire partitions past their table's retention: each is written to a compressed file with a
    manifest in the server's archive directory, verified against the table, then dropped (dry run
    unless --apply)."""
    from finshard.ops import maintenance

    rows = maintenance.retire(dsn, apply=apply, archive_dir=archive_dir)
    if as_json:
        _dump(rows)
        return
    for r in rows:
        if apply:
            click.echo(f"{r['partition_name']}: {r['row_count']} rows archived to {r['archive_file']} (sha256 {r['sha256']}), dropped")
        else:
            click.echo(f"{r['partition_name']}: would be archived to {r['archive_file'] or '(no archive directory set)'} and dropped")
    click.echo(f"{'retired' if apply else 'would retire'} {len(rows)} partitions")


@partitions.command("restore-archive")
@dsn_option
@click.argument("file")
@json_option
@_guard
def partitions_restore_archive(dsn: str, file: str, as_json: bool) -> None:
    """Load an archived partition (FILE: <partition>.csv.gz in the server's archive directory) into
    schema finshard_archive for an audit, after checking it against its manifest; never overwrites."""
    from finshard.ops import maintenance

    result = maintenance.restore_archive(dsn, file)
    if as_json:
        _dump(result)
    else:
        click.echo(f"loaded {result['row_count']} rows into {result['table_name']} (sha256 {result['sha256']} verified)")


@partitions.command("check")
@dsn_option
@click.option("--months-ahead", type=click.IntRange(0, 120), default=None,
              help="Months after the current one that must have partitions (default: the partitions job's setting minus one).")
@json_option
@_guard
def partitions_check(dsn: str, months_ahead: int | None, as_json: bool) -> None:
    """For monitoring: exit 1 when a partitioned table has fewer months ahead than required."""
    from finshard.ops import maintenance

    rows = maintenance.check_partitions(dsn, months_ahead)
    if as_json:
        _dump(rows)
    short: dict[tuple[int, str], list[str]] = {}
    for r in rows:
        if not r["ok"]:
            short.setdefault((r["months_ahead"], f"{r['first_missing']:%Y-%m}"), []).append(r["table_name"])
    if short:
        raise CliError(f"fewer than {rows[0]['wanted']} months of partitions ahead: " + "; ".join(
            f"{', '.join(tables)}: {ahead} (first missing {month})" for (ahead, month), tables in short.items())
            + "; run finshard partitions create")
    if not as_json:
        least = min(rows, key=lambda r: r["months_ahead"])
        click.echo(f"partitions ok: every table has at least {least['months_ahead']} months ahead")


@partitions.command("compress")
@dsn_option
@click.option("--older-than", default="3 months", show_default=True, help="Compress partitions that ended this long ago.")
@_guard
def partitions_compress(dsn: str, older_than: str) -> None:
    """Convert old append-only partitions to columnar storage (Citus columnar)."""
    from finshard import db

    rows = db.rows(dsn, "SELECT partition_name FROM finshard.compress_partitions(%s::interval) WHERE compressed", (older_than,))
    click.echo(f"compressed {len(rows)} partitions" + (f": {', '.join(r[0] for r in rows)}" if rows else ""))


# -- maintenance ---------------------------------------------------------------------------------------------
@main.group()
def maintenance() -> None:
    """Scheduled maintenance (finshard.maintenance_jobs): pg_cron where it runs, or run from outside."""


@maintenance.command("status")
@dsn_option
@json_option
@_guard
def maintenance_status(dsn: str, as_json: bool) -> None:
    """Every job: schedule, last run and outcome (cron.job_run_details), or why it is not scheduled."""
    from finshard.ops import maintenance as ops

    rows = ops.status(dsn)
    if as_json:
        _dump(rows)
        return
    for r in rows:
        last = (f"last run {r['last_start']:%Y-%m-%d %H:%M:%S} {r['last_status']}" if r["last_start"] else "not run yet") \
            if r["scheduled"] else "not scheduled"
        message = f" ({r['last_message']})" if r["last_status"] == "failed" and r["last_message"] else ""
        click.echo(f"{r['job_name']:<28} {r['schedule']:<12} {last}{message}" + (f"; {r['note']}" if r["note"] else ""))


@maintenance.command("run")
@dsn_option
@click.option("--job", default=None, help="Run only this job (default: every job, in list order).")
@json_option
@_guard
def maintenance_run(dsn: str, job: str | None, as_json: bool) -> None:
    """Run the jobs' commands once (for schedulers outside the database); exit 1 if one fails."""
    from finshard.ops import maintenance as ops

    try:
        results = ops.run(dsn, job, progress=_progress)
    except ops.JobFailed as exc:
        if as_json:
            _dump(exc.results)
        raise CliError(str(exc)) from None
    if as_json:
        _dump(results)
    else:
        for r in results:
            click.echo(f"{r['job_name']}: ok ({r['result']}) in {r['seconds']:.2f}s")


@maintenance.command("schedule")
@dsn_option
@click.option("--day-orders-cutoff", default=None, help="UTC time HH:MM at which DAY orders expire (kept in finshard.settings).")
@click.option("--months-ahead", type=click.IntRange(1, 120), default=None, help="Months of partitions the daily job keeps ahead.")
@_guard
def maintenance_schedule(dsn: str, day_orders_cutoff: str | None, months_ahead: int | None) -> None:
    """(Re)schedule every job with pg_cron, after changing the settings given; exit 1 when pg_cron cannot run them here."""
    from finshard.ops import maintenance as ops

    rows = ops.schedule(dsn, day_orders_cutoff=day_orders_cutoff, months_ahead=months_ahead)
    if not all(r["scheduled"] for r in rows):
        raise CliError(f"jobs not scheduled: {rows[0]['note']}")
    click.echo(f"scheduled {len(rows)} jobs: " + ", ".join(f"{r['job_name']} ({r['schedule']})" for r in rows))


# -- backups and point-in-time recovery (pgBackRest) ------------------------------------------------------
@main.group(invoke_without_command=True)
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path), default=Path("cluster"),
              show_default=True, help="Cluster directory.")
@click.option("--type", "backup_type", type=click.Choice(["full", "diff", "incr"]), default="full", show_default=True)
@json_option
@click.pass_context
@_guard
def backup(ctx: click.Context, directory: Path, backup_type: str, as_json: bool) -> None:
    """Back up every node with pgBackRest (finshard backup --dir DIR [--type full|diff|incr])."""
    if ctx.invoked_subcommand is not None:
        return
    from finshard.local import backup as ops

    result = ops.backup(directory, backup_type=backup_type, progress=_progress)
    if as_json:
        _dump(result)
        return
    for n in result["nodes"]:
        click.echo(f"{n['node']:<12} {n['type']:<5} {n['label']}  {_size(n['size'])} ({_size(n['repo_size'])} in the "
                   f"repository)  WAL {n['wal_start']}..{n['wal_stop']}  {n['seconds']}s")
    # pgBackRest takes a full backup where no full one exists yet, whatever was asked: say what was made.
    made = sorted({n["type"] for n in result["nodes"]})
    note = "" if made == [result["type"]] else f" (asked for {result['type']}; pgBackRest made a full one where none existed)"
    click.echo(f"{'/'.join(made)} backup of {len(result['nodes'])} nodes in {result['seconds']}s{note}")


def _size(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)


@backup.command("list")
@dir_option
@json_option
@_guard
def backup_list(directory: Path, as_json: bool) -> None:
    """Every node's backups: label, type, times, sizes and the WAL range each covers."""
    from finshard.local import backup as ops

    nodes = ops.list_backups(directory)
    if as_json:
        _dump(nodes)
        return
    click.echo(f"{'node':<12} {'label':<34} {'type':<5} {'stopped':<25} {'size':>9} {'repo':>9}  WAL")
    for n in nodes:
        for b in n["backups"]:
            click.echo(f"{n['node']:<12} {b['label']:<34} {b['type']:<5} {b['stopped']:<25} {_size(b['size']):>9} "
                       f"{_size(b['repo_size']):>9}  {b['wal_start']}..{b['wal_stop']}")
        if not n["backups"]:
            click.echo(f"{n['node']:<12} (no backup yet)")


@backup.command("config")
@click.option("--dsn", envvar="FINSHARD_DSN", default=None, help="The cluster's coordinator (default $FINSHARD_DSN).")
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Or a local cluster's directory: its coordinator.")
@click.option("--repo", default="/var/lib/pgbackrest", show_default=True, help="The pgBackRest repository path.")
@_guard
def backup_config(dsn: str | None, directory: Path | None, repo: str) -> None:
    """pgbackrest.conf and postgresql.conf settings for each node (for clusters finshard did not start)."""
    from finshard.ops import backup as ops
    from finshard.local.cluster import Cluster

    if dsn is None:
        if directory is None:
            raise CliError("give the cluster: --dsn DSN (or $FINSHARD_DSN), or --dir DIR for a local cluster")
        dsn = Cluster.load(directory).dsn()
    click.echo(ops.print_config(dsn, repo))


@backup.command("restore-point")
@click.argument("name")
@dsn_option
@json_option
@_guard
def backup_restore_point(name: str, dsn: str, as_json: bool) -> None:
    """A named restore point consistent across every node; prints each node's LSN."""
    from finshard.ops import backup as ops

    rows = ops.create_restore_point(dsn, name)
    if as_json:
        _dump({"name": name, "nodes": rows})
        return
    for r in rows:
        click.echo(f"group {r['group']:<3} {r['node']:<22} {r['lsn']}")
    click.echo(f"restore point {name} written on {len(rows)} nodes")


@backup.command("drill")
@dir_option
@click.option("--to", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where to restore (default: a new directory beside DIR, removed afterwards unless --keep).")
@click.option("--keep", is_flag=True, help="Leave the restored cluster running.")
@json_option
@_guard
def backup_drill(directory: Path, to: Path | None, keep: bool, as_json: bool) -> None:
    """Back up, transfer, restore to a restore point taken mid-stream, and prove the result."""
    from finshard.local import backup as ops

    report = ops.drill(directory, to=to, keep=keep, progress=_progress)
    if as_json:
        _dump(report)
    else:
        for key in ("restore_point", "transfers_acknowledged", "acknowledged_before_point", "started_after_point",
                    "in_flight_at_point", "cross_node_transfers", "backup_seconds", "restore_seconds"):
            click.echo(f"{key}: {report[key]}")
        click.echo(f"restored_directory: {report['restored_directory'] or 'removed (--keep keeps it)'}")
        for problem in report["problems"]:
            click.echo(f"problem: {problem}")
    if report["problems"]:
        raise CliError(f"restore drill failed: {len(report['problems'])} problems")
    if not as_json:
        click.echo("restore drill passed")


@main.command()
@dir_option
@click.option("--to", type=click.Path(file_okay=False, path_type=Path), required=True, help="A new directory for the restored cluster.")
@click.option("--target-name", default=None, help="A restore point (finshard backup restore-point).")
@click.option("--target-time", default=None, help="A time with its zone, e.g. 2026-12-01T10:00:00+00:00.")
@click.option("--backup-repo", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where the restored cluster archives (default TO/backup).")
@json_option
@_guard
def restore(directory: Path, to: Path, target_name: str | None, target_time: str | None, backup_repo: Path | None,
            as_json: bool) -> None:
    """Restore every node into a new cluster, replayed to a restore point or a time, and start it."""
    from datetime import datetime

    from finshard.local import backup as ops

    when = None
    if target_time is not None:
        try:
            when = datetime.fromisoformat(target_time.replace("Z", "+00:00").replace(" ", "T", 1))
        except ValueError:
            raise CliError(f"--target-time {target_time!r} is not a time (e.g. 2026-12-01T10:00:00+00:00)") from None
    result = ops.restore(directory, to, target_name=target_name, target_time=when, backup_repo=backup_repo, progress=_progress)
    if as_json:
        _dump(result)
        return
    click.echo(f"restored {len(result['nodes'])} nodes to {result['target_type']} {result['target']} in "
               f"{result['seconds']}s; the cluster runs in {result['directory']}")
    click.echo(result["dsn"])


# -- failover, pgbouncer, audit ----------------------------------------------------------------------------
@main.command()
@dir_option
@click.option("--group", "group", required=True, type=int, help="Node group (0: the coordinator).")
@click.option("--to", "to", default=None, help="The standby to promote (default: a synchronous one).")
@json_option
@_guard
def switchover(directory: Path, group: int, to: str | None, as_json: bool) -> None:
    """Planned change of a group's primary (--ha; Patroni's switchover): no acknowledged write is lost."""
    from finshard.local import ha
    from finshard.local.cluster import Cluster

    result = ha.switchover(_ha_cluster(directory), group, to)
    Cluster.load(directory)  # records the new primary
    _dump(result) if as_json else click.echo(f"group {group}: {result['from']} -> {result['to']} in {result['seconds']}s")


@main.group(invoke_without_command=True)
@dir_option
@click.option("--group", "group", default=None, type=int, help="Node group (0: the coordinator).")
@click.option("--to", "to", default=None, help="The member to promote (default: a synchronous standby).")
@json_option
@click.pass_context
@_guard
def failover(ctx: click.Context, directory: Path, group: int | None, to: str | None, as_json: bool) -> None:
    """Forced change of a group's primary (--ha; Patroni's failover), and drills (failover drill)."""
    if ctx.invoked_subcommand is not None:
        return
    if group is None:
        raise CliError("name the group: finshard failover --group N (or run finshard failover drill)")
    from finshard.local import ha
    from finshard.local.cluster import Cluster

    result = ha.failover(_ha_cluster(directory), group, to)
    Cluster.load(directory)
    _dump(result) if as_json else click.echo(f"group {group}: {result['from'] or '(none)'} -> {result['to']} in {result['seconds']}s")


def _ha_cluster(directory: Path) -> Any:
    from finshard.local.cluster import Cluster

    c = Cluster.load(directory)
    if not c.ha:
        raise CliError(f"the cluster in {directory} has no standbys (created without --ha); create one with: finshard cluster up --ha")
    return c


@failover.command("drill")
@dir_option
@click.option("--group", "group", default=None, type=int, help="--ha: the group whose primary is killed (default: the first worker's).")
@click.option("--coordinator", is_flag=True, help="--ha: kill the coordinator's primary (group 0).")
@click.option("--node", default=None, help="Without --ha: the node to fail (default: the first worker, or the single node).")
@click.option("--clients", default=8, show_default=True, type=click.IntRange(1, 64), help="--ha: router clients writing during the drill.")
@json_option
@_guard
def failover_drill(directory: Path, group: int | None, coordinator: bool, node: str | None, clients: int, as_json: bool) -> None:
    """Kill a primary under load and measure recovery; prove no acknowledged write was lost or doubled."""
    import logging

    from finshard.local.cluster import Cluster

    # The drill kills a primary on purpose: the pools' notes on each broken connection they discard
    # are what it causes, not news (the report counts what reached the application).
    logging.getLogger("psycopg.pool").setLevel(logging.ERROR)
    if Cluster.load(directory).ha:
        from finshard.local.ha_drill import drill as ha_drill

        if coordinator and group not in (None, 0):
            raise CliError("--coordinator is group 0; give one of --group and --coordinator")
        if node is not None:
            raise CliError("--node is for clusters without --ha; on an --ha cluster give --group N or --coordinator")
        report = ha_drill(directory, group=0 if coordinator else group, clients=clients, progress=_progress)
    else:
        if group is not None or coordinator:
            raise CliError("--group and --coordinator need an --ha cluster; without it the drill takes --node")
        from finshard.local.failover import drill

        report = drill(directory, node_name=node, progress=_progress)
    if as_json:
        _dump(report)
    else:
        # Nested figures (per currency, per node) as JSON on their line, not Python's repr.
        click.echo("\n".join(f"{k}: {json.dumps(v, default=_json_default) if isinstance(v, (dict, list)) else v}"
                              for k, v in report.items()))
    if report.get("ok") is False:
        raise CliError(f"failover drill failed: {_drill_failure(report)}")


def _drill_failure(report: dict[str, Any]) -> str:
    """The first reason a drill report is not ok, in words."""
    checks = [("lost", "acknowledged writes lost"), ("duplicated", "writes applied twice"),
              ("application_errors", "errors reached the application"), ("ledger_problems", "ledger problems"),
              ("prepared_transactions_left", "prepared transactions left")]
    for key, words in checks:
        if report.get(key):
            return f"{report[key]} {words}"
    if report.get("totals_hold") is False:
        return "a currency's balances do not sum to its deposits"
    if report.get("seconds_to_first_write_on_group", 0) is None:
        return "no write reached the failed group again"
    if report.get("old_primary_rejoined_as_standby") is False:
        return "the old primary did not rejoin as a standby"
    return "see the report above"


@main.group()
def pgbouncer() -> None:
    """pgbouncer in front of the nodes (transaction pooling for clients)."""


@pgbouncer.command("config")
@dir_option
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None, help="Where to write (default DIR/pgbouncer).")
@_guard
def pgbouncer_config(directory: Path, out: Path | None) -> None:
    """Write pgbouncer.ini and userlist.txt for every node of the cluster."""
    from finshard.local import pgbouncer as pgb
    from finshard.local.cluster import Cluster

    cluster = Cluster.load(directory)
    if cluster.ha:
        raise CliError("pgbouncer does not follow a Patroni failover: its configuration would name today's primaries "
                       "(docs/ha.md)")
    if out is not None:
        # Secrets (SCRAM, TLS keys) in a data directory go into every base backup and rewind.
        target = out.resolve()
        for node in cluster.nodes:
            datadir = Path(node.datadir).resolve()
            if target == datadir or datadir in target.parents:
                raise CliError(f"--out {out} is inside {node.name}'s data directory; write the configuration elsewhere")
    written = pgb.write_configs(cluster, out)
    for path in written:
        click.echo(str(path))


@pgbouncer.command("nodes")
@click.argument("state", type=click.Choice(["on", "off"]))
@dir_option
@_guard
def pgbouncer_nodes(state: str, directory: Path) -> None:
    """Citus nodes reach each other through the pgbouncers (on) or directly (off).

    On: cross-node transfers sent through the coordinator find a warm backend instead of starting
    one. While on, shard moves need shard_transfer_mode => 'block_writes' (pgbouncer 1.18 cannot
    carry the replication connections of a logical move).
    """
    from finshard.local import pgbouncer as pgb
    from finshard.local.cluster import Cluster

    cluster = Cluster.load(directory)
    pgb.set_node_pooling(cluster, state == "on")
    click.echo(f"node-to-node pooling {state}" + (" (pg_dist_poolinfo set on every node)" if state == "on" else ""))


@main.group()
def notifications() -> None:
    """Delivery of notifications (pg_notify on channel finshard_events)."""


@notifications.command("dispatch")
@dsn_option
@click.option("--follow", is_flag=True,
              help="Register as this node's dispatcher and keep dispatching until interrupted.")
@click.option("--interval", default=0.2, show_default=True, type=click.FloatRange(min=0.01, max=3600),
              help="Seconds between passes with --follow.")
@_guard
def notifications_dispatch(dsn: str, follow: bool, interval: float) -> None:
    """Send stored notifications that were not sent when created (deferred delivery).

    With --follow this session registers as the node's dispatcher: with notify_delivery auto (the
    default), money transactions then leave their notifications to it until it stops.
    """
    import signal

    from finshard.ops import dispatcher

    if not follow:
        click.echo(f"sent {dispatcher.once(dsn)} notifications")
        return

    # Stop cleanly on SIGTERM (how services are stopped) and on SIGINT, even when started with
    # SIGINT ignored (as a background job of a non-interactive shell is).
    def _stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    total = dispatcher.follow(dsn, interval=interval, report=lambda message: click.echo(message, err=True))
    click.echo(f"stopped; sent {total} notifications")


@notifications.command("mode")
@dsn_option
@click.argument("mode", type=click.Choice(["auto", "immediate", "deferred"]))
@_guard
def notifications_mode(dsn: str, mode: str) -> None:
    """auto (default): batched while a dispatcher runs, else at commit; immediate; or deferred."""
    from finshard import db

    db.execute(dsn, "SELECT finshard.set_notify_delivery(%s)", (mode,))
    hint = {"deferred": "; run: finshard notifications dispatch --follow",
            "auto": "; batched while finshard notifications dispatch --follow runs"}.get(mode, "")
    click.echo(f"notification delivery: {mode}{hint}")


@main.group()
def audit() -> None:
    """The tamper-evident audit log."""


@audit.command("verify")
@dsn_option
@click.option("--account", "account_id", type=click.IntRange(-(2**63), 2**63 - 1), default=None,
              help="One account's chain (default: all, and the ledger).")
@click.option("--checkpoint", "checkpoint_path", type=click.Path(dir_okay=False, exists=True, path_type=Path), default=None,
              help="A file from finshard audit checkpoint: also find every rewrite since it.")
@json_option
@_guard
def audit_verify(dsn: str, account_id: int | None, checkpoint_path: Path | None, as_json: bool) -> None:
    """Recompute the keyed audit chains and check the ledger; exit 1 naming every problem found."""
    from finshard.ops import audit as audit_ops

    result = audit_ops.verify(dsn, account_id=account_id, checkpoint_path=checkpoint_path)
    problems = result["problems"]
    if as_json:
        _dump(result)
    else:
        for p in problems:
            where = f"account {p['account_id']}" + (f" entry {p['audit_seq']}" if p["audit_seq"] is not None else "")
            click.echo(f"{where}: {p['problem']}")
    if problems:
        raise CliError(f"audit found {len(problems)} problems")
    if not as_json:
        click.echo(f"audit log intact: {result['entries']} entries verified" + (", checkpoint matched" if checkpoint_path else ""))


@audit.command("checkpoint")
@dsn_option
@click.option("--out", "path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Where to write the signed checkpoint (keep it off the database's hosts); default: standard output.")
@json_option
@_guard
def audit_checkpoint(dsn: str, path: Path | None, as_json: bool) -> None:
    """Write every audit chain's head, signed with the audit key, outside the database (a superuser's DSN)."""
    from finshard.ops import audit as audit_ops

    result = audit_ops.checkpoint(dsn, path)
    if path is None:
        # The checkpoint itself on stdout (redirect it to a file); the summary on stderr.
        click.echo(json.dumps(result.pop("document"), indent=1))
        click.echo(f"checkpoint of {result['chains']} chains ({result['entries']} entries)", err=True)
    elif as_json:
        _dump(result)
    else:
        click.echo(f"checkpoint of {result['chains']} chains ({result['entries']} entries) written to {path}")


@main.group()
def keys() -> None:
    """finshard's keys: files in every node's data directory, never in a table."""


@keys.command("rotate")
@dsn_option
@json_option
@_guard
def keys_rotate(dsn: str, as_json: bool) -> None:
    """A new personal-data key on every node, every user re-encrypted with it, the old key removed."""
    from finshard import db
    from finshard.ops import keys as key_ops

    with db.connect(dsn) as conn:
        result = key_ops.rotate_pii_key(conn)
    if as_json:
        _dump(result)
    else:
        click.echo(f"personal-data key version {result['key_version']} in force on {result['nodes']} nodes; "
                   f"{result['users_reencrypted']} users re-encrypted")


@main.group()
def roles() -> None:
    """Database logins in finshard's roles (docs/roles.md)."""


@roles.command("create-login")
@dsn_option
@click.argument("name")
@click.option("--role", "group", type=click.Choice(["app", "market", "admin", "readonly"]), required=True)
@click.option("--password", envvar="FINSHARD_LOGIN_PASSWORD", default=None,
              help="Default: $FINSHARD_LOGIN_PASSWORD, else a random one, printed once.")
@json_option
@_guard
def roles_create_login(dsn: str, name: str, group: str, password: str | None, as_json: bool) -> None:
    """Create a LOGIN role with a SCRAM-SHA-256 password in finshard_<role> (on every Citus node)."""
    from finshard.ops import roles as role_ops

    result = role_ops.create_login(dsn, name, group, password)
    if as_json:
        _dump(result)
    else:
        click.echo(f"login {result['login']} created in {result['group']}" +
                   (f"; password: {result['password']}" if result.get("generated") else ""))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
