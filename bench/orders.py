"""Issue 5: place_order (immediately filled market buys) vs transfer throughput, and the cost of
one update_quote that fills N resting orders spread over every shard. Prints; asserts nothing.

    .venv/bin/python bench/orders.py
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from _common import alternate, cluster_from_args, make_accounts, pgbench, show

from finshard import db


def orders_vs_transfers(dsn: str, *, clients: int = 8, seconds: float = 10, accounts: int = 400) -> dict[str, Any]:
    """place_order (immediately filled market buys) vs transfer, same server, clients, duration."""
    with db.connect(dsn) as conn:
        conn.execute("SELECT finshard.set_notify_delivery('auto')")
        conn.execute("SELECT finshard.dispatch_notifications(1000000)")
    ids = make_accounts(dsn, accounts)
    base, span = ids[0], len(ids)
    with db.connect(dsn) as conn:
        sym = "B" + uuid.uuid4().hex[:8].upper()
        iid = conn.execute("SELECT finshard.create_instrument(%s, 'Bench Corp')", (sym,)).fetchone()[0]  # type: ignore[index]
        conn.execute("SELECT finshard.update_quote(%s::bigint, 99.99, 1e9, 100.01, 1e9)", (iid,))
    order = ("\\set f random(0, :n - 1)\n\\set acc :base + :f\n"
             f"SELECT finshard.place_order(:acc::bigint, {iid}::bigint, 'market', 'buy', 1);\n")
    transfer = ("\\set f random(0, :n - 1)\n\\set d random(1, :n - 1)\n\\set src :base + :f\n\\set dst :base + ((:f + :d) % :n)\n"
                "SELECT finshard.transfer(:src::bigint, :dst::bigint, 0.01);\n")
    v = {"n": span, "base": base}
    t, o = alternate(lambda: pgbench(dsn, [transfer], clients=clients, seconds=seconds, variables=v),
                      lambda: pgbench(dsn, [order], clients=clients, seconds=seconds, variables=v))
    return {"benchmark": "place_order (filled market buy) vs transfer", "clients": clients, "seconds_each": seconds,
            "transfer_tps": round(t, 1), "place_order_tps": round(o, 1), "ratio": round(o / t, 3), "target": ">= 0.8"}


def quote_fill_cost(dsn: str, *, sizes: tuple[int, ...] = (10, 100, 1000)) -> dict[str, Any]:
    """Time of one update_quote that fills N resting limit orders spread over every shard."""
    out: dict[str, Any] = {"benchmark": "update_quote filling N resting orders", "results": []}
    baseline_ms = None
    for n in sizes:
        ids = make_accounts(dsn, n, deposit="100000.00")
        with db.connect(dsn) as conn:
            sym = "R" + uuid.uuid4().hex[:8].upper()
            iid = conn.execute("SELECT finshard.create_instrument(%s, 'Resting Corp')", (sym,)).fetchone()[0]  # type: ignore[index]
            conn.execute("SELECT finshard.update_quote(%s::bigint, 99.00, 1e6, 101.00, 1e6)", (iid,))
            for acc in ids:
                conn.execute("SELECT finshard.place_order(%s::bigint, %s::bigint, 'limit', 'buy', 1, 100.00)", (acc, iid))
            if baseline_ms is None:
                start = time.perf_counter()
                conn.execute("SELECT finshard.update_quote(%s::bigint, 99.00, 1e6, 101.00, 1e6)", (iid,))
                baseline_ms = (time.perf_counter() - start) * 1000
            start = time.perf_counter()
            filled = conn.execute("SELECT finshard.update_quote(%s::bigint, 99.50, 1e6, 99.90, 1e6)", (iid,)).fetchone()[0]  # type: ignore[index]
            ms = (time.perf_counter() - start) * 1000
        out["results"].append({"n": n, "filled": filled, "ms": round(ms, 1), "ms_per_order": round(ms / max(filled, 1), 2)})
    out["no_fill_update_quote_ms"] = round(baseline_ms or 0, 1)
    return out


def main() -> None:
    args, cluster, dsn = cluster_from_args(__doc__)
    show(orders_vs_transfers(dsn, clients=args.clients, seconds=args.seconds))
    show(quote_fill_cost(dsn))


if __name__ == "__main__":  # the router bench spawns worker processes that import this file
    main()
