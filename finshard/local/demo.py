"""`finshard demo`: the main job end to end on a local cluster, narrated."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Callable

from finshard import db
from finshard.errors import FinshardError
from finshard.local.cluster import Cluster
from finshard.local.seed import seed
from finshard.local.state import STATE_FILE
from finshard.ops.installer import SchemaMismatch, install
from finshard.router import Router

__all__ = ["run_demo"]


# Left in a cluster directory the demo made: the demo seeds users and moves money, so it runs
# only on a cluster of its own, never on one `finshard cluster up` made for real work.
MARKER = ".finshard-demo"


def run_demo(directory: Path, *, workers: int = 2, echo: Callable[[str], None] = print) -> None:
    # A half-created cluster is left to Cluster.up, which says what to do with it.
    if (directory / STATE_FILE).exists() and not (directory / MARKER).exists() and Cluster.read(directory).complete:
        raise FinshardError(f"{directory} holds a cluster the demo did not create; the demo seeds users and moves "
                            "money, so give it a directory of its own (--dir; scripts/demo.sh: FINSHARD_DEMO_DIR), or, "
                            f"for an earlier finshard's demo cluster, remove it (finshard cluster down --dir {directory}; "
                            f"rm -rf {directory})")
    echo(f"1. local cluster in {directory}")
    cluster = Cluster.up(directory, workers=workers, progress=lambda m: echo(f"   {m}"))
    (directory / MARKER).touch()
    dsn = cluster.dsn()
    echo(f"   coordinator: {dsn} ({'Citus, ' + str(len(cluster.workers)) + ' workers' if cluster.citus else 'plain PostgreSQL, one node'})")
    echo("2. install schema, partitions, procedures" + (" and the distribution plan" if cluster.citus else ""))
    try:
        report = install(dsn, shard_count=8 if cluster.citus else None)
    except SchemaMismatch as exc:
        raise FinshardError(f"{exc.message}. The demo cluster in {directory} predates this finshard: remove it "
                            f"(finshard cluster down --dir {directory}; rm -rf {directory}) and run the demo again") from None
    echo(f"   {len(report.files)} files in {report.seconds:.1f}s")
    echo("3. seed users, accounts, deposits, instruments, quotes")
    summary = seed(dsn, users=12)
    accounts = summary["account_ids"]
    with Router.connect(dsn) as r:
        by_node: dict[str, list[int]] = defaultdict(list)
        for acc in accounts:
            by_node[str(r.shard_for(acc).node)].append(acc)
        echo(f"   {summary['accounts']} accounts over {len(by_node)} node(s): " +
             ", ".join(f"{node}: {len(ids)}" for node, ids in sorted(by_node.items())))
        usd = [a for a in accounts if db.scalar(dsn, "SELECT currency FROM finshard.accounts WHERE account_id = %s", (a,)) == "USD"]
        eur = [a for a in accounts if a not in usd]
        a, b = usd[0], usd[1]
        echo("4. money")
        t = r.transfer(from_account_id=a, to_account_id=b, amount=Decimal("25.00"), idempotency_key=f"demo-{a}-{b}")
        again = r.transfer(from_account_id=a, to_account_id=b, amount=Decimal("25.00"), idempotency_key=f"demo-{a}-{b}")
        echo(f"   transfer {a} -> {b} (shards on {r.shard_for(a).node} and {r.shard_for(b).node}): "
             f"transfer {t['transfer_id']}, balances {t['from_balance']} / {t['to_balance']}; the retry returned the same transfer: "
             f"{again['transfer_id'] == t['transfer_id']}")
        if eur:
            fx = r.transfer(from_account_id=a, to_account_id=eur[0], amount=Decimal("100.00"))
            echo(f"   fx transfer USD {a} -> EUR {eur[0]}: 100.00 USD became {fx['to_amount']} EUR at {fx['fx_rate']}")
        try:
            r.withdraw(account_id=b, amount=Decimal("99999999.00"))
        except FinshardError as exc:
            echo(f"   an overdraft is refused with {exc.sqlstate} {type(exc).__name__}: {exc}")
        echo("5. trading")
        iid = summary["instrument_ids"][0]
        order = r.place_order(account_id=a, instrument_id=iid, order_type="market", side="buy", quantity=Decimal(10))
        resting = r.place_order(account_id=a, instrument_id=iid, order_type="limit", side="buy", quantity=Decimal(5),
                                price=Decimal("180.00"))
        echo(f"   market buy filled (order {order}); limit buy at 180.00 rests (order {resting})")
        filled = r.update_quote(instrument_id=iid, bid_price=Decimal("179.90"), bid_size=Decimal(100),
                                ask_price=Decimal("179.95"), ask_size=Decimal(100))
        echo(f"   the quote drops to 179.90/179.95: {filled} resting order(s) filled")
        pnl = r.calculate_position_pnl(account_id=a, instrument_id=iid)
        echo(f"   position P&L at the quote mid: {pnl}")
        echo("6. reports")
        statement = r.account_statement(account_id=a, month=date.today())
        echo(f"   statement of {a}: opening {statement[0]['balance']}, {len(statement) - 2} entries, closing {statement[-1]['balance']}")
        now = datetime.now(timezone.utc)
        volume = r.daily_volume(from_=now - timedelta(days=1), to=now + timedelta(days=1))
        echo(f"   daily volume: {len(volume)} (day, currency, type) rows")
        broken = r.audit_verify()
        echo(f"   audit chains: {db.scalar(dsn, 'SELECT count(*) FROM finshard.audit_log')} entries, {len(broken)} broken")
        if broken:
            raise FinshardError(f"{len(broken)} audit problem(s), the first: {broken[0]['problem']}; "
                                f"finshard audit verify --dsn '{dsn}' lists them")
    echo("7. cluster status")
    for row in cluster.status():
        echo(f"   {row['name']:<12} {row['role']:<12} port {row['port']:<6} {'up' if row['up'] else 'down':<5} citus {row['citus'] or '-'}")
    echo(f"done. Try (after `source .venv/bin/activate`): finshard shard {a} --dsn '{dsn}'")
    echo(f"Stop it: finshard cluster down --dir {cluster.directory}")
