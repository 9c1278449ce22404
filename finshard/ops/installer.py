"""Install finshard's SQL into a database, in the order install.sql gives.

install.sql is the one list: a DBA runs it with ``psql -f install.sql``, and install() reads the
same lines (``\\ir FILE`` runs a file, other lines are SQL, psql's own ``\\set`` is skipped).
Re-running is harmless; each run records the version and the table schema's fingerprint in
finshard.schema_version. Tables are created with IF NOT EXISTS, so installing over tables of
another (older) finshard would leave them as they were and fail half-way; install() refuses that
up front with the reason, as finshard has no in-place migrations yet.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Callable

import psycopg

from finshard import __version__
from finshard.errors import FinshardError

__all__ = ["sql_root", "install_steps", "install", "InstallReport", "schema_fingerprint", "SchemaMismatch"]

_INCLUDE = re.compile(r"^\\ir\s+(\S+)\s*$")


def sql_root() -> Path:
    """The folder holding install.sql: $FINSHARD_SQL_DIR, else the SQL shipped inside this package
    (finshard/sql, package data: a wheel installs a database without a checkout)."""
    env = os.environ.get("FINSHARD_SQL_DIR")
    root = Path(env) if env else Path(str(resources.files("finshard") / "sql"))
    if not (root / "install.sql").exists():
        where = "$FINSHARD_SQL_DIR" if env else "this finshard package"
        raise FinshardError(f"install.sql not found in {root} ({where}); reinstall finshard or unset FINSHARD_SQL_DIR")
    return root


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
    """The database holds finshard tables of another schema than this checkout's."""


_TABLE_DDL = re.compile(r"\bCREATE\s+(TABLE|DOMAIN|TYPE)\b", re.IGNORECASE)


def schema_fingerprint(steps: list[tuple[str, str]] | None = None) -> str:
    """sha256 over the files that create tables, domains or types: the part of the schema that
    IF NOT EXISTS would leave unchanged on a second install. Functions, views, grants and the
    distribution plan are replaced on every install and do not count."""
    digest = hashlib.sha256()
    for label, sql in steps if steps is not None else install_steps():
        if label.startswith("schema/") and _TABLE_DDL.search(sql):
            digest.update(label.encode() + b"\0" + sql.encode() + b"\0")
    return digest.hexdigest()


_NO_MIGRATIONS = ("finshard cannot migrate them in place yet: install into a new database, "
                  "or drop schema finshard there first")


def _check_existing_schema(conn: psycopg.Connection, fingerprint: str, dsn: str) -> bool:
    """Refuse tables of another recorded schema; return whether finshard was installed here before
    without a fingerprint (a psql install, or an older finshard), whose tables cannot be judged
    until a step fails."""
    if not conn.execute("SELECT to_regclass('finshard.schema_version') IS NOT NULL").fetchone()[0]:  # type: ignore[index]
        return False
    has_hash = conn.execute("SELECT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = 'finshard.schema_version'::regclass "
                            "AND attname = 'schema_hash' AND NOT attisdropped)").fetchone()[0]  # type: ignore[index]
    row = conn.execute("SELECT version, installed_at, " + ("schema_hash" if has_hash else "NULL") +
                       " FROM finshard.schema_version ORDER BY installed_at DESC LIMIT 1").fetchone()
    if row is not None and row[2] is not None and row[2] != fingerprint:
        raise SchemaMismatch(f"{_safe(dsn)} holds finshard tables of another schema (finshard {row[0]}, installed "
                             f"{row[1]:%Y-%m-%d %H:%M %Z}); {_NO_MIGRATIONS}")
    return row is None or row[2] is None


@dataclass
class InstallReport:
    version: str
    citus: bool
    seconds: float
    files: list[str] = field(default_factory=list)


def install(dsn: str, *, shard_count: int | None = None,
            progress: Callable[[str], None] = lambda _m: None) -> InstallReport:
    """Apply schema, partitions, procedures and (on Citus) the distribution plan to ``dsn``.

    shard_count sets citus.shard_count for tables distributed by this run (Citus' default is 32).
    Raises FinshardError naming the file that failed.
    """
    started = time.monotonic()
    steps = install_steps()
    try:
        conn = psycopg.connect(dsn, autocommit=True, connect_timeout=10)
    except psycopg.Error as exc:
        raise FinshardError(f"cannot connect to {_safe(dsn)}: {str(exc).strip().splitlines()[0]}") from None
    with conn:
        citus = bool(conn.execute("SELECT count(*) FROM pg_extension WHERE extname = 'citus'").fetchone()[0])  # type: ignore[index]
        if not citus and conn.execute("SELECT count(*) FROM pg_available_extensions WHERE name = 'citus'").fetchone()[0]:  # type: ignore[index]
            # Citus is installed on the machine but not created here: use it only if preloaded.
            preload = conn.execute("SHOW shared_preload_libraries").fetchone()[0]  # type: ignore[index]
            if "citus" in preload:
                conn.execute("CREATE EXTENSION citus")
                citus = True
        conn.execute("SET client_min_messages = warning")
        if citus and shard_count:
            conn.execute(f"SET citus.shard_count = {int(shard_count)}")
        fingerprint = schema_fingerprint(steps)
        unjudged = _check_existing_schema(conn, fingerprint, dsn)
        report = InstallReport(version=__version__, citus=citus, seconds=0.0)
        for label, sql in steps:
            progress(label)
            try:
                conn.execute(sql.encode())
            except psycopg.Error as exc:
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                if unjudged and label.startswith("schema/"):
                    raise SchemaMismatch(f"install failed in {label}: {first}; {_safe(dsn)} holds finshard tables of an "
                                         f"earlier schema, and {_NO_MIGRATIONS}", sqlstate=exc.sqlstate) from None
                raise FinshardError(f"install failed in {label}: {first}", sqlstate=exc.sqlstate) from None
            report.files.append(label)
        conn.execute("INSERT INTO finshard.schema_version (version, citus, schema_hash) VALUES (%s, %s, %s)",
                     (__version__, citus, fingerprint))
    report.seconds = time.monotonic() - started
    return report


def _safe(dsn: str) -> str:
    return re.sub(r"(password=)\S+|(:)[^:@/]+(@)", lambda m: (m.group(1) or ":") + "***" + (m.group(3) or ""), dsn)
