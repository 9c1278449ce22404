"""The public SQL functions the router wraps: one spec per function, one method per spec.

A test checks this table against pg_proc, so a function added to procedures/ without a spec
here (or the other way round) fails the suite.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Proc", "PROCEDURES"]


@dataclass(frozen=True)
class Proc:
    """One SQL function: its parameters (name without p_, SQL type), which one routes it, what it returns.

    returns: "scalar" (one value), "row" (OUT parameters, a dict), "rows" (a set, list of dicts), "void".
    route_by: the parameter naming the account whose node runs the call; None runs it on the coordinator.
    idempotent_key: the parameter a retry reuses (generated when the caller gives none).
    """

    name: str
    params: tuple[tuple[str, str], ...]
    returns: str
    route_by: str | None = None
    idempotent_key: str | None = None
    writes: bool = True


def _p(*pairs: str) -> tuple[tuple[str, str], ...]:
    return tuple((p.split(":")[0], p.split(":")[1]) for p in pairs)


PROCEDURES: tuple[Proc, ...] = (
    # users, banks, currencies (coordinator: reference tables)
    Proc("create_user", _p("username:text", "email:text", "password:text", "role:text", "first_name:text", "last_name:text",
                           "phone:text", "address:text", "pan:text", "session:text"), "scalar"),
    Proc("authenticate", _p("login:text", "password:text", "otp:text"), "scalar"),
    Proc("login", _p("login:text", "password:text", "ttl:interval", "otp:text"), "row"),
    Proc("logout", _p("session:text"), "void"),
    Proc("unlock_user", _p("user_id:bigint", "session:text"), "void"),
    # MFA (TOTP): the end user's own session; reset by an admin
    Proc("enroll_mfa", _p("session:text", "password:text"), "row"),
    Proc("confirm_mfa", _p("session:text", "code:text"), "scalar"),
    Proc("disable_mfa", _p("session:text", "password:text", "code:text"), "void"),
    Proc("reset_mfa", _p("user_id:bigint", "session:text"), "void"),
    Proc("revoke_sessions", _p("user_id:bigint", "session:text"), "scalar"),
    Proc("user_profile", _p("user_id:bigint", "session:text"), "row", writes=False),
    Proc("rotate_pii_key", _p(), "scalar"),
    Proc("set_house_limit", _p("currency:text", "limit:numeric"), "void"),
    Proc("update_user", _p("user_id:bigint", "email:text", "password:text", "first_name:text", "last_name:text",
                           "phone:text", "address:text", "role:text", "session:text"), "void"),
    Proc("deactivate_user", _p("user_id:bigint", "session:text"), "void"),
    Proc("create_bank", _p("name:text", "code:text", "email:text", "phone:text"), "scalar"),
    Proc("add_currency", _p("code:text", "name:text", "minor_units:smallint"), "void"),
    Proc("set_fx_rate", _p("base_currency:text", "quote_currency:text", "rate:numeric", "valid_from:timestamptz",
                            "confirm:boolean"), "void"),
    Proc("fx_rate", _p("base_currency:text", "quote_currency:text", "at:timestamptz"), "scalar", writes=False),
    # accounts
    Proc("open_account", _p("user_id:bigint", "currency:text", "account_type:text", "bank_id:bigint", "session:text"), "scalar"),
    Proc("close_account", _p("account_id:bigint", "session:text"), "void", route_by="account_id"),
    Proc("freeze_account", _p("account_id:bigint", "reason:text", "session:text"), "void", route_by="account_id"),
    Proc("unfreeze_account", _p("account_id:bigint", "reason:text", "session:text"), "void", route_by="account_id"),
    Proc("balance", _p("account_id:bigint", "session:text"), "scalar", route_by="account_id", writes=False),
    # money movement
    Proc("deposit", _p("account_id:bigint", "amount:numeric", "idempotency_key:text", "description:text", "session:text"), "row",
         route_by="account_id", idempotent_key="idempotency_key"),
    Proc("withdraw", _p("account_id:bigint", "amount:numeric", "idempotency_key:text", "description:text", "session:text"), "row",
         route_by="account_id", idempotent_key="idempotency_key"),
    Proc("transfer", _p("from_account_id:bigint", "to_account_id:bigint", "amount:numeric", "idempotency_key:text",
                        "description:text", "session:text"), "row", route_by="from_account_id", idempotent_key="idempotency_key"),
    Proc("create_pending_transfer", _p("from_account_id:bigint", "to_account_id:bigint", "amount:numeric", "timeout:interval",
                                       "idempotency_key:text", "description:text", "session:text"), "scalar",
         route_by="from_account_id", idempotent_key="idempotency_key"),
    Proc("post_pending_transfer", _p("from_account_id:bigint", "transfer_id:bigint", "amount:numeric", "session:text"), "row",
         route_by="from_account_id"),
    Proc("void_pending_transfer", _p("from_account_id:bigint", "transfer_id:bigint", "status:text", "session:text"), "void",
         route_by="from_account_id"),
    Proc("expire_pending_transfers", _p("limit:integer"), "scalar"),
    # reports
    Proc("account_statement", _p("account_id:bigint", "month:date", "session:text"), "rows", route_by="account_id", writes=False),
    Proc("user_analytics", _p("user_id:bigint", "from:timestamptz", "to:timestamptz", "session:text"), "scalar", writes=False),
    Proc("daily_volume", _p("from:timestamptz", "to:timestamptz"), "rows", writes=False),
    Proc("most_active_accounts", _p("from:timestamptz", "to:timestamptz", "limit:integer"), "rows", writes=False),
    Proc("new_users_per_day", _p("from:timestamptz", "to:timestamptz"), "rows", writes=False),
    Proc("dispatch_notifications", _p("limit:integer"), "scalar"),
    Proc("notification", _p("account_id:bigint", "notification_id:bigint", "session:text"), "row", route_by="account_id",
         writes=False),
    Proc("audit_verify", _p("account_id:bigint"), "rows", writes=False),
    Proc("ledger_verify", _p(), "rows", writes=False),
    # trading
    Proc("create_instrument", _p("symbol:text", "name:text", "instrument_type:text", "exchange:text", "currency:text",
                                 "tick_size:numeric", "lot_size:numeric", "sector:text", "industry:text"), "scalar"),
    Proc("deactivate_instrument", _p("instrument_id:bigint"), "void"),
    Proc("search_instruments", _p("query:text", "after_symbol:text", "limit:integer"), "rows", writes=False),
    Proc("update_quote", _p("instrument_id:bigint", "bid_price:numeric", "bid_size:numeric", "ask_price:numeric",
                            "ask_size:numeric"), "scalar"),
    Proc("update_quotes", _p("quotes:jsonb"), "scalar"),
    Proc("match_resting_orders", _p("instrument_id:bigint"), "scalar"),
    Proc("record_bar", _p("instrument_id:bigint", "bucket:timestamptz", "open:numeric", "high:numeric", "low:numeric",
                          "close:numeric", "volume:numeric"), "void"),
    Proc("candles", _p("instrument_id:bigint", "interval:interval", "from:timestamptz", "to:timestamptz"), "rows", writes=False),
    Proc("commission", _p("notional:numeric", "currency:text"), "scalar", writes=False),
    Proc("replica_lag", _p("primary_lsn:pg_lsn"), "scalar", writes=False),
    Proc("place_order", _p("account_id:bigint", "instrument_id:bigint", "order_type:text", "side:text", "quantity:numeric",
                           "price:numeric", "stop_price:numeric", "time_in_force:text", "idempotency_key:text", "session:text"), "scalar",
         route_by="account_id", idempotent_key="idempotency_key"),
    Proc("cancel_order", _p("account_id:bigint", "order_id:bigint", "session:text"), "void", route_by="account_id"),
    Proc("expire_day_orders", _p("cutoff:timestamptz"), "scalar"),
    Proc("calculate_position_pnl", _p("account_id:bigint", "instrument_id:bigint", "current_price:numeric", "session:text"), "scalar",
         route_by="account_id"),
    Proc("create_price_alert", _p("account_id:bigint", "instrument_id:bigint", "condition:text", "price:numeric", "session:text"), "scalar",
         route_by="account_id"),
    Proc("account_orders", _p("account_id:bigint", "status:text", "instrument_id:bigint", "before_created_at:timestamptz",
                              "before_order_id:bigint", "limit:integer", "session:text"), "rows", route_by="account_id", writes=False),
    Proc("account_trades", _p("account_id:bigint", "instrument_id:bigint", "from:timestamptz", "before_executed_at:timestamptz",
                              "before_trade_id:bigint", "limit:integer", "session:text"), "rows", route_by="account_id", writes=False),
    Proc("trading_volume", _p("from:timestamptz", "to:timestamptz"), "rows", writes=False),
)
