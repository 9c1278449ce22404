"""Scheduled maintenance and retention: what ``finshard maintenance`` and the partition checks,
retire and restore-archive commands do.

The job list lives in SQL (``finshard.maintenance_jobs()``): pg_cron runs it where the server
preloads pg_cron, and :func:`run` runs the same commands for operators who schedule from outside.
Archiving is server-side too (``finshard.retire_partitions``), so the monthly pg_cron job and the
CLI write, verify and drop the same way.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Sequence

from finshard import db
from finshard.errors import FinshardError, translate

__all__ = ["jobs", "status", "run", "schedule", "check_partitions", "retire", "restore_archive", "JobFailed"]


class JobFailed(FinshardError):
    """One or more maintenance jobs failed when run once (the message names each and why)."""

    def __init__(self, message: str, results: list[dict[str, Any]]) -> None:
        super().__init__(message)
        self.results = results


def _rows(dsn: str, sql: str, params: Sequence[Any] | None = None) -> list[dict[str, Any]]:
    """Rows as dicts; a server error becomes its finshard class, the hint appended to the message."""
    try:
        with db.connect(dsn) as conn:
            cur = conn.execute(sql, params)
            names = [c.name for c in cur.description or ()]
            return [dict(zip(names, row)) for row in cur.fetchall()]
    except db.Error as exc:
        raise _with_hint(exc) from None


def _with_hint(exc: db.Error) -> FinshardError:
    err = translate(exc)
    if err.hint and err.hint not in err.message:
        err.message = f"{err.message}; {err.hint}"
        err.args = (err.message,)
    return err


def jobs(dsn: str) -> list[dict[str, Any]]:
    """The jobs of finshard.maintenance_jobs(): job_name, schedule (cron, UTC), command, purpose."""
    return _rows(dsn, "SELECT job_name, schedule, command, purpose FROM finshard.maintenance_jobs()")


def status(dsn: str) -> list[dict[str, Any]]:
    """Each job with its pg_cron schedule, whether scheduled, its last run and outcome, and a note
    (why it is not scheduled, or what needs attention)."""
    return _rows(dsn, "SELECT job_name, schedule, command, scheduled, active, last_start, last_end, last_status, "
                      "last_message, note FROM finshard.maintenance_status()")


def schedule(dsn: str, *, day_orders_cutoff: str | None = None, months_ahead: int | None = None) -> list[dict[str, Any]]:
    """Schedule every job with pg_cron (replacing jobs of the same name), after changing the DAY-order
    cutoff (HH:MM UTC) or the months of partitions kept ahead when given."""
    return _rows(dsn, "SELECT job_name, schedule, scheduled, note FROM finshard.schedule_maintenance(%s, %s)",
                 (day_orders_cutoff, months_ahead))


def run(dsn: str, job: str | None = None, *, progress: Callable[[str], None] = lambda _m: None) -> list[dict[str, Any]]:
    """Run every job's command once (or only ``job``), each in its own transaction, in list order.

    Returns one dict per job: job_name, ok, result (the command's first value), seconds, error.
    Raises FinshardError for an unknown job name, JobFailed (after running the rest) when any failed.
    """
    listed = jobs(dsn)
    if job is not None:
        listed = [j for j in listed if j["job_name"] == job]
        if not listed:
            names = ", ".join(j["job_name"] for j in jobs(dsn))
            raise FinshardError(f"no maintenance job {job!r}; the jobs are: {names}")
    results: list[dict[str, Any]] = []
    with db.connect(dsn) as conn:
        for j in listed:
            progress(j["job_name"])
            started = time.monotonic()
            outcome: dict[str, Any] = {"job_name": j["job_name"], "ok": True, "result": None, "error": None}
            try:
                row = conn.execute(j["command"]).fetchone()
                outcome["result"] = row[0] if row else None
            except db.Error as exc:
                err = _with_hint(exc)
                code = f" [{err.sqlstate}]" if err.sqlstate else ""
                outcome.update(ok=False, error=f"{err.message}{code}")
            outcome["seconds"] = round(time.monotonic() - started, 3)
            results.append(outcome)
    failed = [r for r in results if not r["ok"]]
    if failed:
        raise JobFailed("; ".join(f"{r['job_name']} failed: {r['error']}" for r in failed), results)
    return results


def check_partitions(dsn: str, months_ahead: int | None = None) -> list[dict[str, Any]]:
    """Per partitioned table: months covered after the current one, the first month missing, the
    months wanted (``months_ahead``; default the partitions job's setting minus one) and ok."""
    return _rows(dsn, "SELECT table_name::text, months_ahead, first_missing, wanted, ok FROM finshard.check_partitions(%s)",
                 (months_ahead,))


def retire(dsn: str, *, apply: bool, archive_dir: str | None = None) -> list[dict[str, Any]]:
    """Partitions past retention: listed (default), or archived, verified and dropped (``apply``).

    ``archive_dir`` first sets the server's archive directory (a superuser's DSN). Raises
    ArchiveDirUnset, UnsafeArchivePath, ArchiveIoFailed or ArchiveMismatch, dropping nothing then.
    """
    if archive_dir is not None:
        _rows(dsn, "SELECT finshard.set_archive_dir(%s)", (archive_dir,))
    return _rows(dsn, "SELECT table_name::text, partition_name, range_to, retired, archive_file, row_count, sha256 "
                      "FROM finshard.retire_partitions(%s)", (not apply,))


def restore_archive(dsn: str, file: str) -> dict[str, Any]:
    """Load one archive (a file in the server's archive directory) into finshard_archive, checked
    against its manifest; returns table_name, row_count, sha256."""
    return _rows(dsn, "SELECT table_name, row_count, sha256 FROM finshard.restore_archive(%s)", (file,))[0]
