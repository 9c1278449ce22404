"""Install finshard's SQL into a database, and upgrade one an earlier finshard installed.

install.sql is the one list: a DBA runs it with ``psql -f install.sql``, and install() reads the
same lines (``\\ir FILE`` runs a file, other lines are SQL, psql's own ``\\set`` is skipped).
Tables are created IF NOT EXISTS, so a table an earlier finshard created keeps its old shape: the
migrations in migrations/ (NNNN_name.sql, applied in order, one transaction each unless the file
says ``-- finshard: no transaction``) bring it to this release's first, then the install steps
replace every function, view, grant and the distribution plan. finshard.schema_version records
each migration and each run with the schema level it left.

A small runner rather than yoyo or sqitch: the other half of an upgrade is this installer anyway,
the record belongs in finshard.schema_version beside the install runs, and a wheel carries it.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Callable

from finshard import __version__, db
from finshard.errors import FinshardError

__all__ = ["sql_root", "install_steps", "install", "InstallReport", "schema_fingerprint", "SchemaMismatch", "refuse_worker",
           "Migration", "migrations", "InstalledSchema", "installed_schema"]

_INCLUDE = re.compile(r"^\\ir\s+(\S+)\s*$")

# Another install or upgrade holds the guard exclusively (the advisory key of one bigint is split
# into classid and objid).
_INSTALL_RUNNING = ("SELECT count(*) > 0 FROM pg_catalog.pg_locks WHERE locktype = 'advisory' AND mode = 'ExclusiveLock' "
                    "AND objsubid = 1 AND classid = ((hashtext('finshard.install')::bigint >> 32) & 4294967295)::oid "
                    "AND objid = (hashtext('finshard.install')::bigint & 4294967295)::oid")


def sql_root() -> Path:
    """The folder holding install.sql: $FINSHARD_SQL_DIR, else the SQL shipped inside this package
    (finshard/sql, package data: a wheel installs a database without a checkout)."""
    env = os.environ.get("FINSHARD_SQL_DIR")
    root = Path(env) if env else Path(str(resources.files("finshard") / "sql"))
    if not (root / "install.sql").exists():
        where = "$FINSHARD_SQL_DIR" if env else "this finshard package"
        raise FinshardError(f"install.sql not found in {root} ({where}); reinstall finshard or unset FINSHARD_SQL_DIR")
    return root


def _statements(sql: str) -> list[str]:
    """``sql`` split at lines ending in ';' outside a dollar-quoted body, as install_steps splits."""
    out: list[str] = []
    pending: list[str] = []
    for line in sql.splitlines():
        if not pending and (not line.strip() or line.strip().startswith("--")):
            continue
        pending.append(line)
        if line.rstrip().endswith(";") and "\n".join(pending).count("$$") % 2 == 0:
            out.append("\n".join(pending))
            pending = []
    if "\n".join(pending).strip():
        out.append("\n".join(pending))
    return out


def install_steps(root: Path | None = None) -> list[tuple[str, str]]:
    """(label, sql) pairs in install order, from install.sql."""
    root = root or sql_root()
    steps: list[tuple[str, str]] = []
    pending: list[str] = []
    for line in (root / "install.sql").read_text().splitlines():
        stripped = line.strip()
        match = _INCLUDE.match(stripped)
        if match:
            if pending:
                steps.append(("install.sql", "\n".join(pending)))
                pending = []
            path = root / match.group(1)
            steps.append((match.group(1), path.read_text()))
        elif stripped.startswith("\\") or stripped.startswith("--") or not stripped:
            continue
        else:
            pending.append(line)
            # A statement ends at a line ending in ';' outside a dollar-quoted body (a DO block's).
            if stripped.endswith(";") and "\n".join(pending).count("$$") % 2 == 0:
                steps.append(("install.sql", "\n".join(pending)))
                pending = []
    if pending:
        steps.append(("install.sql", "\n".join(pending)))
    return steps


class SchemaMismatch(FinshardError):
    """The database holds finshard tables this finshard cannot install over."""


_TABLE_DDL = re.compile(r"\bCREATE\s+(TABLE|DOMAIN|TYPE)\b", re.IGNORECASE)


def schema_fingerprint(steps: list[tuple[str, str]] | None = None) -> str:
    """sha256 over the files that create tables, domains or types: the part of the schema that
    IF NOT EXISTS would leave unchanged on a second install. Functions, views, grants and the
    distribution plan are replaced on every install and do not count."""
    digest = hashlib.sha256()
    for label, sql in steps if steps is not None else install_steps():
        if label.startswith("schema/") and _TABLE_DDL.search(sql):
            digest.update(label.encode() + b"\0" + _ddl_only(sql).encode() + b"\0")
    return digest.hexdigest()


_COMMENT_ON = re.compile(r"^\s*COMMENT\s+ON\b.*?;\s*$", re.IGNORECASE | re.MULTILINE | re.DOTALL)


def _ddl_only(sql: str) -> str:
    """The statements without their comments (-- lines, COMMENT ON) and with one space for any run
    of whitespace: rewording a comment changes no table."""
    return " ".join(_COMMENT_ON.sub("", "\n".join(_without_comment(line) for line in sql.splitlines())).split())


def _without_comment(line: str) -> str:
    """``line`` up to its ``--`` comment, unless a quote comes before it (the ``--`` may be in a string)."""
    code = line.split("--", 1)[0]
    return line if "'" in code else code


_MIGRATION_FILE = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
_NO_TRANSACTION = "-- finshard: no transaction"


@dataclass(frozen=True)
class Migration:
    number: int
    name: str  # migrations/NNNN_name.sql
    sql: str

    @property
    def transactional(self) -> bool:
        """False for a file that asks to run outside a transaction (e.g. CREATE INDEX CONCURRENTLY)."""
        return _NO_TRANSACTION not in self.sql


def migrations(root: Path | None = None) -> list[Migration]:
    """The migrations shipped with this finshard, numbered 1..N without gaps."""
    folder = (root or sql_root()) / "migrations"
    found = []
    for path in sorted(folder.glob("*.sql")):
        match = _MIGRATION_FILE.match(path.name)
        if not match:
            raise FinshardError(f"{path}: a migration is named NNNN_lowercase_name.sql")
        found.append(Migration(int(match.group(1)), f"migrations/{path.name}", path.read_text()))
    numbers = [m.number for m in found]
    if numbers != list(range(1, len(found) + 1)):
        raise FinshardError(f"migrations in {folder} are not numbered 1..{len(found)} without gaps: {numbers}")
    return found


@dataclass(frozen=True)
class InstalledSchema:
    """What finshard.schema_version says of a database: None when finshard was never installed there."""
    version: str
    level: int          # 0 for finshard 0.1.x (before migrations were recorded) and for psql installs
    schema_hash: str | None


def installed_schema(conn: db.Connection[Any]) -> InstalledSchema | None:
    if not _scalar(conn, "SELECT to_regclass('finshard.schema_version') IS NOT NULL"):
        return None
    # to_jsonb: columns a 0.1.x table does not have yet read as NULL.
    level = _scalar(conn, "SELECT coalesce(max((to_jsonb(v) ->> 'migration')::integer), 0) FROM finshard.schema_version v")
    # The newest row names the finshard that last ran. The tables' fingerprint is that of the newest
    # install row at this level (or, at level 0, of 0.1.x's newest): none when a run was stopped
    # after its migrations, and the next run then installs over them.
    row = conn.execute("SELECT (SELECT v.version FROM finshard.schema_version v ORDER BY v.installed_at DESC LIMIT 1), "
                       "       (SELECT to_jsonb(v) ->> 'schema_hash' FROM finshard.schema_version v "
                       "         WHERE to_jsonb(v) ->> 'step' IS NULL "
                       "           AND coalesce((to_jsonb(v) ->> 'migration')::integer, 0) = %s "
                       "         ORDER BY v.installed_at DESC LIMIT 1)", (level,)).fetchone()
    version = row[0] if row is not None and row[0] is not None else "unrecorded"
    return InstalledSchema(version=version, level=int(level), schema_hash=row[1] if row is not None else None)


@dataclass
class InstallReport:
    version: str
    citus: bool
    seconds: float
    files: list[str] = field(default_factory=list)
    migrations: list[str] = field(default_factory=list)  # applied by this run
    from_level: int | None = None  # None: a fresh install
    level: int = 0
    notes: list[str] = field(default_factory=list)  # what the run could not do as asked, and why


def install(dsn: str, *, shard_count: int | None = None, upgrade_only: bool = False, dry_run: bool = False,
            progress: Callable[[str], None] = lambda _m: None) -> InstallReport:
    """Apply this finshard to ``dsn``: on an earlier finshard's database its pending migrations first,
    then schema, partitions, procedures and (on Citus) the distribution plan.

    shard_count sets citus.shard_count for tables distributed by this run (Citus' default is 32).
    upgrade_only refuses a database without finshard; dry_run reports the pending migrations and
    changes nothing. Give a superuser's direct DSN (not pgbouncer: the run keeps session settings);
    on Citus, the coordinator's, whose DDL reaches every shard.
    Raises FinshardError (SchemaMismatch when the tables cannot be brought to this release) naming
    the step that failed; a failed migration leaves the database at the level before it, and a run
    stopped after its migrations is finished by the next.
    """
    started = time.monotonic()
    root = sql_root()
    steps = install_steps(root)
    chain = migrations(root)
    latest = len(chain)
    try:
        conn = db.connect(dsn)
        guard = db.connect(dsn, autocommit=False)
    except db.Error as exc:
        raise FinshardError(f"cannot connect to {_safe(dsn)}: {_first_line(exc)}") from None
    with conn, guard:
        if not _scalar(conn, "SELECT rolsuper FROM pg_roles WHERE rolname = current_user"):
            raise FinshardError(f"{_safe(dsn)} logs in as {_scalar(conn, 'SELECT current_user')}, not a superuser: install "
                                "and upgrade create roles, extensions and SECURITY DEFINER functions")
        # One install or upgrade at a time, held by a transaction left open on a connection of its
        # own: it ends with that connection, whatever happens to this run (or a pooler in front).
        # The minute job on Citus (sync_local_shards) holds it shared while it runs: wait for that.
        deadline = time.monotonic() + 60
        while not _scalar(guard, "SELECT pg_try_advisory_xact_lock(hashtext('finshard.install'))"):
            if _scalar(conn, _INSTALL_RUNNING) or time.monotonic() > deadline:
                raise FinshardError(f"another finshard install or upgrade is running on {_safe(dsn)}; wait for it and retry")
            time.sleep(0.2)
        refuse_worker(conn, dsn, "install and upgrade through the coordinator, whose DDL reaches every shard")
        found = installed_schema(conn)
        if found is None and upgrade_only:
            raise FinshardError(f"{_safe(dsn)} holds no finshard to upgrade; install it with finshard install --dsn DSN")
        # Citus is created only for a first install: a plain finshard stays plain.
        citus = _citus(conn, dsn, create=found is None and not dry_run)
        fingerprint = schema_fingerprint(steps)
        if found is not None:
            _check_level(found, latest, fingerprint, dsn)
        pending = [m for m in chain if found is not None and m.number > found.level]
        report = InstallReport(version=__version__, citus=citus, seconds=0.0, level=latest,
                               from_level=None if found is None else found.level)
        if dry_run:
            report.migrations = [m.name for m in pending]
            report.seconds = time.monotonic() - started
            return report
        conn.execute("SET client_min_messages = warning")
        # install.sql records a psql run itself; this run records its own row below.
        conn.execute("SET finshard.installer = 'python'")
        if citus and shard_count:
            # The count applies to tables this run distributes: an installed cluster keeps its own
            # (splits may have changed it since), and the run says so rather than ignore the option.
            have = _scalar(conn, "SELECT count(*) FROM pg_dist_shard WHERE logicalrelid = to_regclass('finshard.accounts')")
            if have and have != shard_count:
                report.notes.append(f"finshard.accounts keeps its {have} shards: --shard-count {shard_count} shapes a new "
                                    "install only (Citus' alter_distributed_table reshards an installed one)")
            conn.execute(f"SET citus.shard_count = {int(shard_count)}")
        if citus and pending and _scalar(conn, "SELECT to_regprocedure('finshard.sync_local_shards(boolean)') IS NOT NULL"):
            # Citus sends a table's DDL on to its shards, and a shard attached to a finshard_local
            # table refuses some of it (a new column): detached here, attached again by the install.
            progress("detach local shards")
            conn.execute("SELECT finshard.sync_local_shards(false)")
        for migration in pending:
            progress(migration.name)
            _apply(conn, migration, citus, dsn)
            report.migrations.append(migration.name)
        # Tables no migration knows (a psql install of 0.1.x, a development build) show only when a
        # step fails: say so then.
        unjudged = found is not None and found.schema_hash is None
        for label, sql in steps:
            progress(label)
            try:
                conn.execute(sql.encode())
            except db.Error as exc:
                if unjudged and label.startswith("schema/"):
                    raise SchemaMismatch(f"install failed in {label}: {_first_line(exc)}; {_safe(dsn)} holds finshard tables "
                                         f"of a schema its migrations do not know", sqlstate=exc.sqlstate) from None
                raise FinshardError(f"install failed in {label}: {_first_line(exc)}", sqlstate=exc.sqlstate) from None
            report.files.append(label)
        conn.execute("INSERT INTO finshard.schema_version (version, installed_at, citus, schema_hash, migration) "
                     "VALUES (%s, clock_timestamp(), %s, %s, %s)", (__version__, citus, fingerprint, latest))
    report.seconds = time.monotonic() - started
    return report


def _citus(conn: db.Connection[Any], dsn: str, *, create: bool) -> bool:
    """Whether this database runs Citus (with ``create``, made so where the server preloads it);
    refuses a worker."""
    citus = bool(_scalar(conn, "SELECT count(*) FROM pg_extension WHERE extname = 'citus'"))
    if create and not citus and _scalar(conn, "SELECT count(*) FROM pg_available_extensions WHERE name = 'citus'"):
        # Citus is installed on the machine but not created here: use it only if preloaded.
        if "citus" in str(_scalar(conn, "SHOW shared_preload_libraries")):
            conn.execute("CREATE EXTENSION citus")
            citus = True
    if citus:
        refuse_worker(conn, dsn, "install and upgrade through the coordinator, whose DDL reaches every shard")
    return citus


def refuse_worker(conn: db.Connection[Any], dsn: str, instead: str) -> None:
    """Refuses a Citus worker's DSN for what only the coordinator may do (``instead`` says so)."""
    if (_scalar(conn, "SELECT count(*) FROM pg_extension WHERE extname = 'citus'")
            and _scalar(conn, "SELECT count(*) FROM pg_dist_node") and not _scalar(conn, "SELECT citus_is_coordinator()")):
        raise FinshardError(f"{_safe(dsn)} is a Citus worker; {instead}")


def _check_level(found: InstalledSchema, latest: int, fingerprint: str, dsn: str) -> None:
    if found.level > latest:
        raise SchemaMismatch(f"{_safe(dsn)} holds finshard tables of schema level {found.level} (finshard {found.version}), "
                             f"newer than this finshard {__version__} (level {latest}); install with that finshard or a later one")
    if found.level == latest and found.schema_hash is not None and found.schema_hash != fingerprint:
        # Same level, other tables: a build that changed a table without a migration.
        raise SchemaMismatch(f"{_safe(dsn)} holds finshard tables of another schema at level {latest} (finshard "
                             f"{found.version}); a table changed without a migration, so it cannot be upgraded in place")


def _apply(conn: db.Connection[Any], migration: Migration, citus: bool, dsn: str) -> None:
    """One migration and its record, in one transaction where the file allows it."""
    record = ("INSERT INTO finshard.schema_version (version, installed_at, citus, migration, step) "
              "VALUES (%s, clock_timestamp(), %s, %s, %s)")
    params = (__version__, citus, migration.number, migration.name)
    try:
        if migration.transactional:
            with conn.transaction():
                conn.execute(migration.sql.encode())
                conn.execute(record, params)
        else:
            # A multi-statement query runs in an implicit transaction: send them one by one.
            for statement in _statements(migration.sql):
                conn.execute(statement.encode())
            conn.execute(record, params)
    except db.Error as exc:
        raise FinshardError(f"upgrade failed in {migration.name}: {_first_line(exc)}; {_safe(dsn)} stays at schema "
                            f"level {migration.number - 1}", sqlstate=exc.sqlstate) from None


def _scalar(conn: db.Connection[Any], sql: str) -> Any:
    row = conn.execute(sql.encode()).fetchone()
    return row[0] if row else None


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _safe(dsn: str) -> str:
    """The DSN's host, port, database and user, never its password, whatever form it has."""
    try:
        info = db.conninfo_to_dict(dsn)
    except db.Error:
        return "the given DSN"
    shown = {k: str(info[k]) for k in ("host", "port", "dbname", "user") if info.get(k)}
    # A URI with an unescaped ':' or '/' in its password parses into odd fields: show none of them.
    if not shown.get("port", "1").replace(",", "").isdigit() or any(c in v for v in shown.values() for c in ":@"):
        return "the given DSN"
    return " ".join(f"{k}={v}" for k, v in shown.items()) or "the default server"
