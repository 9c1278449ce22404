"""The node's notification dispatcher: the loop behind ``finshard notifications dispatch --follow``.

It registers its session (``finshard.register_dispatcher()``), so that money transactions queue
their notifications (delivery ``auto``), and moves the queue with ``finshard.dispatch_notifications()``
every ``interval`` seconds. It also keeps the queue table small. Every pass deletes the rows it
moved, and PostgreSQL reuses their space only after a VACUUM: autovacuum visits a database once a
minute, and by then the queue had grown to tens of megabytes, which each pass read whole (measured
at 8 clients: 8,900 pages after a minute; at 6,100 pages the dispatcher spent 33 us of CPU per
notification, against 15 us on a vacuumed queue). So the dispatcher vacuums the queue itself
after every ``vacuum_after`` rows it moved: over the same minute it stayed at 197 pages.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable

from finshard import db

__all__ = ["VACUUM_AFTER", "follow", "once"]

# Rows moved between two VACUUMs of the queue: about 0.5 MB of dead rows (a queued notification
# is about 250 bytes), 60 pages to read again. A VACUUM of a table that size takes about a millisecond.
VACUUM_AFTER = 2000

# Without TRUNCATE: truncating takes the table's exclusive lock, which waits for (and then holds
# up) the transactions that queue. The space is reused instead; autovacuum still truncates.
_VACUUM = "VACUUM (TRUNCATE false) finshard.notification_outbox"

# VACUUM needs the table's owner, the database's owner or a superuser (PostgreSQL 15); another role
# would only get a WARNING on every pass.
_MAY_VACUUM = """
SELECT pg_has_role(c.relowner, 'USAGE')
       OR pg_has_role(d.datdba, 'USAGE')
       OR (SELECT r.rolsuper FROM pg_roles r WHERE r.rolname = current_user)
  FROM pg_class c, pg_database d
 WHERE c.oid = 'finshard.notification_outbox'::regclass AND d.datname = current_database()
"""


def _dispatch(conn: db.Connection[Any]) -> int:
    return int(conn.execute("SELECT finshard.dispatch_notifications()").fetchone()[0])  # type: ignore[index]


def once(dsn: str) -> int:
    """One dispatch pass on its own connection; returns how many notifications it sent."""
    with db.connect(dsn) as conn:
        return _dispatch(conn)


def follow(dsn: str, *, interval: float = 0.2, stop: threading.Event | None = None,
           report: Callable[[str], None] = lambda message: None, vacuum_after: int = VACUUM_AFTER) -> int:
    """Dispatch until ``stop`` is set or KeyboardInterrupt (the CLI turns SIGTERM into one); returns
    how many notifications it sent.

    While another session is registered, it dispatches beside it and registers when that one stops.
    ``report`` gets each state change and each batch sent. After the loop the registration ends
    with the session, and one more pass, ``interval`` later (at most 1 s), sends what transactions
    queued before they saw that no dispatcher was left.
    """
    stop = stop or threading.Event()
    total = 0
    try:
        with db.connect(dsn) as conn:
            may_vacuum = bool(conn.execute(_MAY_VACUUM).fetchone()[0])  # type: ignore[index]
            if not may_vacuum:
                report(f"role {conn.info.user} cannot VACUUM finshard.notification_outbox; autovacuum will")
            registered, told, moved = False, "", 0
            while not stop.is_set():
                if not registered:
                    registered = bool(conn.execute("SELECT finshard.register_dispatcher()").fetchone()[0])  # type: ignore[index]
                    state = ("registered as this node's dispatcher" if registered
                             else "another dispatcher is registered on this node; dispatching beside it")
                    if state != told:
                        report(state)
                        told = state
                sent = _dispatch(conn)
                total += sent
                moved += sent
                if sent:
                    report(f"sent {sent}")
                if may_vacuum and moved >= vacuum_after:
                    conn.execute(_VACUUM)
                    moved = 0
                stop.wait(interval)
    except KeyboardInterrupt:
        pass
    time.sleep(min(interval, 1.0))
    return total + once(dsn)
