"""Issue 19: what one pass of finshard.dispatch_notifications() costs the server, the shipped
function against the one at --baseline-rev (git), side by side on one server. Each pass moves a
queue of N notifications; another session queues them, so the dispatcher's backend does only the
pass. The two alternate pass by pass; the figure is the median of the dispatcher backend's CPU
time per pass (/proc/PID/schedstat, so time spent waiting for a CPU on a shared machine does not
count), with the client's wall time per call beside it. Needs the server on this machine. Prints;
asserts nothing.

    .venv/bin/python bench/dispatch.py --no-citus --baseline-rev 8ed8858 [--passes 3000 --queue 0,1,10,100] [--dsn DSN]
"""

from __future__ import annotations

import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

from _common import cluster_from_args, show

from finshard import db

ROOT = Path(__file__).resolve().parent.parent
FILE = "finshard/sql/procedures/dispatch_notifications.sql"
# Queued as _notify queues them: whole, this month, ids from the notifications sequence.
QUEUE = ("INSERT INTO finshard.notification_outbox (account_id, notification_id, user_id, kind, message, payload, created_at) "
         "SELECT g, nextval('finshard.notifications_notification_id_seq'), 1, 'account', 'bench', '{}', now() "
         "FROM generate_series(1, %s) g")


def _cpu_ns(pid: int) -> int:
    return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0])


def main() -> None:
    args, _cluster, dsn = cluster_from_args(__doc__, extra=[
        ("--baseline-rev", {"required": True, "help": "git revision whose dispatch_notifications is the baseline"}),
        ("--passes", {"type": int, "default": 3000, "help": "passes of each function per queue length"}),
        ("--queue", {"default": "0,1,10,100", "help": "queue lengths, comma-separated"})])
    baseline = subprocess.run(["git", "show", f"{args.baseline_rev}:{FILE}"], cwd=ROOT, check=True,
                              capture_output=True, text=True).stdout
    shipped = (ROOT / FILE).read_text()
    functions = {"shipped": "bench_dispatch_shipped", "baseline": "bench_dispatch_baseline"}
    out: dict[str, Any] = {"benchmark": f"dispatch_notifications per pass, shipped vs {args.baseline_rev}",
                           "passes_each": args.passes, "queue": {}}
    # synchronous_commit off: the WAL flush at commit is the same for both and would drown the difference.
    options = "-c synchronous_commit=off"
    with db.connect(dsn, options=options) as queuer:
        for variant, name in functions.items():
            queuer.execute((shipped if variant == "shipped" else baseline)
                           .replace("FUNCTION finshard.dispatch_notifications(", f"FUNCTION finshard.{name}("))
        queuer.execute("SELECT finshard.dispatch_notifications(1000000)")  # an empty queue to start from
        conns = {v: db.connect(dsn, options=options) for v in functions}
        try:
            for n in [int(x) for x in args.queue.split(",")]:
                cpu: dict[str, list[float]] = {v: [] for v in functions}
                wall: dict[str, list[float]] = {v: [] for v in functions}
                for i in range(args.passes * 2):
                    # Alternating pass by pass, so a change of load on the machine hits both alike.
                    variant = ("shipped", "baseline")[(i + i // 2) % 2]
                    conn, pid = conns[variant], conns[variant].info.backend_pid
                    if n:
                        queuer.execute(QUEUE, (n,))
                    if i % 200 == 0:  # as dispatch --follow does after every 2,000 rows or so
                        queuer.execute("VACUUM (TRUNCATE false) finshard.notification_outbox")
                    before, started = _cpu_ns(pid), time.perf_counter()
                    sent = conn.execute(f"SELECT finshard.{functions[variant]}(1000000)").fetchone()[0]  # type: ignore[index]
                    wall[variant].append((time.perf_counter() - started) * 1e6)
                    cpu[variant].append((_cpu_ns(pid) - before) / 1000)
                    if sent != n:
                        raise SystemExit(f"{variant} sent {sent} of {n} queued notifications")
                s, b = statistics.median(cpu["shipped"][20:]), statistics.median(cpu["baseline"][20:])  # 20 to warm up
                out["queue"][n] = {"cpu_us_per_pass_median": {"shipped": round(s, 1), "baseline": round(b, 1), "ratio": round(s / b, 3)},
                                   "wall_us_per_call_median": {"shipped": round(statistics.median(wall["shipped"][20:]), 1),
                                                               "baseline": round(statistics.median(wall["baseline"][20:]), 1)}}
        finally:
            for conn in conns.values():
                conn.close()
            for name in functions.values():
                queuer.execute(f"DROP FUNCTION IF EXISTS finshard.{name}(integer)")
    show(out)


if __name__ == "__main__":
    main()
