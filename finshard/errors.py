"""finshard errors: one class per project SQLSTATE, and translate() from psycopg errors.

The SQL table ``finshard.error_codes`` (schema/error_codes.sql) is the source; ``CODES`` below
mirrors it and a test checks that both agree. Every class carries ``sqlstate``; an instance
carries the server's message, detail and hint.
"""

from __future__ import annotations

import re

from typing import Any

__all__ = ["FinshardError", "CODES", "by_sqlstate", "translate", "TransientError", "UnparsableSQL",
           "ClusterError", "TopologyError"]


class FinshardError(Exception):
    """Base of every finshard error: a rejection by finshard or a failure of the layer itself."""

    sqlstate: str | None = None

    def __init__(self, message: str, *, detail: str | None = None, hint: str | None = None,
                 sqlstate: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail
        self.hint = hint
        if sqlstate is not None:
            self.sqlstate = sqlstate

    def __str__(self) -> str:
        return self.message


class TransientError(FinshardError):
    """A call failed for a reason that a retry with the same idempotency key may cure."""


class UnparsableSQL(FinshardError):
    """router.execute/explain_route could not parse the SQL, so it refuses to guess a route."""


class ClusterError(FinshardError):
    """The local cluster manager could not do what was asked (the message says why)."""


class TopologyError(FinshardError):
    """The router could not read or make sense of the cluster topology."""


# sqlstate -> (class name, meaning). Mirrors finshard.error_codes.
CODES: dict[str, tuple[str, str]] = {
    "FS001": ("NullArgument", "a required argument is NULL"),
    "FS002": ("InvalidAmount", "an amount is zero, negative, NaN or infinite"),
    "FS003": ("AmountPrecision", "an amount has more decimals than its currency allows"),
    "FS004": ("AmountOutOfRange", "an amount is beyond what a balance column can hold"),
    "FS005": ("InvalidArgument", "an argument has a value outside its allowed set"),
    "FS006": ("TextTooLong", "a text argument is longer than allowed"),
    "FS007": ("ConcurrentChange", "a row changed between the call's checks and its update; nothing was done"),
    "FS009": ("InvariantViolated", "finshard's own checks disagree with each other; nothing was done"),
    "FS010": ("AccountNotFound", "no account has this id"),
    "FS011": ("AccountClosed", "the account is closed"),
    "FS012": ("AccountFrozen", "the account is frozen"),
    "FS013": ("InsufficientFunds", "the available balance does not cover the amount"),
    "FS014": ("SameAccount", "a transfer names the same account twice"),
    "FS015": ("AccountNotEmpty", "the account still holds money or reservations"),
    "FS016": ("DuplicateAccount", "the user already has an account of this bank, currency and type"),
    "FS017": ("UnknownCurrency", "the currency is not in finshard.currencies"),
    "FS018": ("FxRateMissing", "no exchange rate is in force for this currency pair"),
    "FS019": ("AccountTypeNotAllowed", "the account type does not allow this operation"),
    "FS020": ("UserNotFound", "no user has this id"),
    "FS021": ("UserInactive", "the user is deactivated"),
    "FS022": ("DuplicateUsername", "the username is taken"),
    "FS023": ("DuplicateEmail", "the email is already registered"),
    "FS024": ("AuthenticationFailed", "the login or the password is wrong"),
    "FS025": ("InvalidUserData", "a username, email, password or role is malformed"),
    "FS026": ("BankNotFound", "no bank has this id"),
    "FS027": ("LoginLocked", "too many login attempts without a success: the login is locked for a while"),
    "FS028": ("MfaCodeRequired", "the user has MFA: the login needs a one-time code"),
    "FS029": ("MfaCodeInvalid", "the one-time code is wrong, expired or already used"),
    "FS030": ("IdempotencyConflict", "the idempotency key was used before with other parameters"),
    "FS040": ("TransferNotFound", "no pending transfer has this id on this account"),
    "FS041": ("TransferNotPending", "the transfer is already posted, voided or expired"),
    "FS042": ("PostExceedsPending", "the amount to post exceeds the pending amount"),
    "FS050": ("InstrumentNotFound", "no instrument has this id"),
    "FS051": ("InstrumentInactive", "the instrument is deactivated"),
    "FS052": ("DuplicateSymbol", "the instrument symbol is taken"),
    "FS053": ("InvalidQuote", "a quote has bid above ask or a non-positive price or size"),
    "FS054": ("NoQuote", "the instrument has no quote yet"),
    "FS055": ("InvalidOrder", "the order type, side, time in force or price combination is invalid"),
    "FS056": ("OffTickPrice", "a price is not a multiple of the instrument's tick size"),
    "FS057": ("OffLotQuantity", "a quantity is not a multiple of the instrument's lot size"),
    "FS058": ("InsufficientBuyingPower", "cash minus open-order reservations does not cover the order and its commission"),
    "FS059": ("InsufficientPosition", "the sell exceeds the position (cash accounts cannot sell short)"),
    "FS060": ("OrderNotFound", "no order has this id on this account"),
    "FS061": ("OrderNotCancellable", "the order is already filled, cancelled or expired"),
    "FS063": ("PositionNotFound", "the account holds no position in this instrument"),
    "FS062": ("InvalidAlert", "the price alert condition or price is invalid"),
    "FS064": ("NotificationNotFound", "no notification has this id on this account"),
    "FS070": ("InvalidPeriod", "a date range or month is invalid"),
    "FS071": ("PartitionMissing", "no partition covers the requested time"),
    "FS072": ("ArchiveDirUnset", "no archive directory is set, so partitions cannot be archived before they are dropped"),
    "FS073": ("UnsafeArchivePath", "an archive path is not an absolute path of plain characters in the archive directory"),
    "FS074": ("ArchiveIoFailed", "the server could not write or read an archive file"),
    "FS075": ("ArchiveMismatch", "an archive file does not match its table or its manifest"),
    "FS076": ("ArchiveAlreadyRestored", "the archive is already loaded into finshard_archive"),
    "FS077": ("WalArchivingFailed", "WAL archiving fails or is behind on a node"),
    "FS080": ("NotAuthorized", "the caller's role may not do this"),
    "FS081": ("SessionRequired", "the call needs an end user's session and has none"),
    "FS082": ("SessionInvalid", "the session token is unknown or malformed"),
    "FS083": ("SessionExpired", "the session has expired"),
    "FS084": ("SessionRevoked", "the session was revoked (logout, password change or deactivation)"),
    "FS085": ("NotOwner", "the account or user belongs to another end user"),
    "FS086": ("MfaState", "MFA is not in the state this call needs (already on, or not enrolled)"),
    "FS087": ("FxRateOutOfBand", "a new fx rate moves further from the rate in force than the allowed band"),
    "FS088": ("HouseLimitExceeded", "a conversion would take a house fx account beyond its limit"),
    "FS089": ("LoginUnrecorded", "the login attempt could not be recorded, so it was refused unchecked"),
    "FS090": ("KeyUnavailable", "a finshard key file is missing or unreadable on this node"),
    "FS091": ("InvalidRestorePoint", "a restore point name is empty, too long or has characters other than letters, digits, _ . : -"),
    "FS092": ("RestorePointExists", "a restore point of this name exists already"),
    "FS093": ("RestorePointUnavailable", "this node cannot write a restore point (a standby, WAL archiving off, or not the coordinator)"),
    "FS094": ("RestorePointFailed", "a node could not be paused or reached while writing the restore point"),
}

TRANSIENT_CODES = frozenset({"FS007"})
by_sqlstate: dict[str, type[FinshardError]] = {}
for _code, (_name, _meaning) in CODES.items():
    # A code whose call may succeed when retried with the same idempotency key is a TransientError.
    _base = TransientError if _code in TRANSIENT_CODES else FinshardError
    _cls = type(_name, (_base,), {"sqlstate": _code, "__doc__": f"{_code}: {_meaning}."})
    globals()[_name] = _cls
    __all__.append(_name)
    by_sqlstate[_code] = _cls

# SQLSTATEs after which the same call, retried with the same idempotency key, is safe and may
# succeed: lost connections, shutdowns, serialization failures and deadlocks, Citus shard moves.
TRANSIENT_SQLSTATES = frozenset({
    "08000", "08003", "08006", "08001", "08004", "08007",  # connection exceptions
    "57P01", "57P02", "57P03",  # admin/crash shutdown, cannot connect now
    "40001", "40P01",  # serialization failure, deadlock detected
    "55P03",  # lock not available (e.g. a shard being moved)
    "25006",  # read-only transaction: a node that just became a standby
})


# Values PostgreSQL could not take from a caller: malformed or out-of-range numbers, dates,
# intervals, text. A server-side fault of class 22 (a division by zero) stays what it is.
# Citus relays a lost connection between nodes (a worker killed, a primary failing over) as an
# internal error, XX000, with libpq's message: the call did not complete and may be retried.
_CONNECTION_LOST = re.compile(
    r"server closed the connection unexpectedly|connection to the remote node .* failed|could not establish any "
    r"connections to the node|terminating connection|the database system is (shutting down|starting up|in recovery mode|"
    r"not yet accepting connections)|connection not open|no connection to the server|SSL SYSCALL error|"
    r"SSL connection has been closed unexpectedly|could not connect to server|Connection refused|"
    r"cannot execute .* in a read-only transaction|postmaster was shut down|terminating connection because of crash")

_INPUT_SQLSTATES = frozenset({"22P02", "22007", "22008", "22003", "22023", "22021", "22001", "22015", "22009"})


def translate(exc: BaseException) -> FinshardError:
    """Turn a psycopg error (or any exception) into a finshard error class.

    Project SQLSTATEs become their class; transient ones become TransientError; anything else
    becomes a plain FinshardError carrying the server's sqlstate.
    """
    diag: Any = getattr(exc, "diag", None)
    sqlstate: str | None = getattr(exc, "sqlstate", None)
    message = (getattr(diag, "message_primary", None) if diag else None) or str(exc).strip()
    detail = getattr(diag, "message_detail", None) if diag else None
    hint = getattr(diag, "message_hint", None) if diag else None
    if sqlstate in by_sqlstate:
        return by_sqlstate[sqlstate](message, detail=detail, hint=hint, sqlstate=sqlstate)
    if sqlstate in _INPUT_SQLSTATES:
        # A value PostgreSQL could not take (malformed number, date or interval, out of range): the
        # caller's input, so InvalidArgument, with the server's code kept in the detail.
        return by_sqlstate["FS005"](message, detail=f"PostgreSQL {sqlstate}" + (f": {detail}" if detail else ""), hint=hint)
    if sqlstate == "42501":
        # A role without EXECUTE on the function (docs/roles.md): the same class as FS080.
        return by_sqlstate["FS080"](message, detail=detail, hint=hint, sqlstate=sqlstate)
    if sqlstate in TRANSIENT_SQLSTATES or (sqlstate is None and _is_connection_error(exc)) \
            or (sqlstate == "XX000" and _CONNECTION_LOST.search(message or "")):
        return TransientError(message, detail=detail, hint=hint, sqlstate=sqlstate)
    return FinshardError(message, detail=detail, hint=hint, sqlstate=sqlstate)


def _is_connection_error(exc: BaseException) -> bool:
    return type(exc).__name__ in {"OperationalError", "InterfaceError", "PoolTimeout"} or isinstance(exc, (ConnectionError, OSError))
