"""Demo data through the router: users, accounts in several currencies, deposits, fx rates,
instruments with quotes. Re-running with the same seed adds nothing twice (idempotency keys and
existing usernames are reused)."""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

from finshard import db
from finshard.errors import DuplicateSymbol, DuplicateUsername
from finshard.router import Router

__all__ = ["seed", "INSTRUMENTS"]

INSTRUMENTS = [
    ("AAPL", "Apple Inc.", "stock", "NASDAQ", "Technology", "Consumer Electronics", Decimal("189.50")),
    ("MSFT", "Microsoft Corp.", "stock", "NASDAQ", "Technology", "Software", Decimal("415.20")),
    ("JPM", "JPMorgan Chase & Co.", "stock", "NYSE", "Financials", "Banks", Decimal("198.10")),
    ("SPY", "SPDR S&P 500 ETF", "etf", "NYSE", "Funds", "Index", Decimal("512.30")),
    ("XOM", "Exxon Mobil Corp.", "stock", "NYSE", "Energy", "Oil & Gas", Decimal("112.40")),
]


def seed(dsn: str, *, users: int = 20, rng_seed: int = 42) -> dict[str, Any]:
    rng = random.Random(rng_seed)
    with Router.connect(dsn) as r:
        r.set_fx_rate(base_currency="USD", quote_currency="EUR", rate=Decimal("0.9200"))
        r.set_fx_rate(base_currency="USD", quote_currency="UZS", rate=Decimal("12650.00"))
        instrument_ids = []
        for symbol, name, kind, exchange, sector, industry, price in INSTRUMENTS:
            try:
                iid = r.create_instrument(symbol=symbol, name=name, instrument_type=kind, exchange=exchange,
                                          sector=sector, industry=industry)
            except DuplicateSymbol:
                iid = db.scalar(dsn, "SELECT instrument_id FROM finshard.instruments WHERE symbol = %s", (symbol,))
            spread = Decimal("0.02")
            r.update_quote(instrument_id=iid, bid_price=price - spread, bid_size=Decimal(500), ask_price=price + spread,
                           ask_size=Decimal(500))
            instrument_ids.append(iid)
        accounts: list[int] = []
        for i in range(users):
            name = f"demo{rng_seed}_{i:04d}"
            try:
                uid = r.create_user(username=name, email=f"{name}@example.com", password=f"pw-{name}-secret",
                                    first_name="Demo", last_name=f"User {i}")
            except DuplicateUsername:
                uid = db.scalar(dsn, "SELECT user_id FROM finshard.users WHERE username = %s", (name,))
            for currency in ("USD", "EUR") if i % 3 == 0 else ("USD",):
                acc = db.scalar(dsn, "SELECT account_id FROM finshard.accounts WHERE user_id = %s AND currency = %s "
                                     "AND account_type = 'cash' AND status <> 'closed'", (uid, currency))
                if acc is None:
                    acc = r.open_account(user_id=uid, currency=currency)
                amount = Decimal(rng.randrange(1_000, 100_000)) + Decimal(rng.randrange(0, 100)) / 100
                r.deposit(account_id=acc, amount=amount, idempotency_key=f"seed-{rng_seed}-{acc}")
                accounts.append(acc)
    return {"users": users, "accounts": len(accounts), "instruments": len(instrument_ids),
            "account_ids": accounts, "instrument_ids": instrument_ids}
