"""Public functions refuse the protocol's fast-path function call (libpq's PQfn) with FS097. It runs
a function outside any query: on Citus each remote write inside would then commit by itself, so an
error later in the call would keep the earlier ones (docs/security.md). Refused on one node too."""

from __future__ import annotations

import ctypes
import ctypes.util
import struct
from decimal import Decimal

import psycopg
import pytest

from tests.helpers import new_account, snapshot

_PG_DIAG_SQLSTATE = ord("C")


class _ArgBlock(ctypes.Structure):
    class _U(ctypes.Union):
        _fields_ = [("ptr", ctypes.c_void_p), ("integer", ctypes.c_int)]

    _fields_ = [("len", ctypes.c_int), ("isint", ctypes.c_int), ("u", _U)]


def _libpq() -> ctypes.CDLL:
    name = ctypes.util.find_library("pq") or "libpq.so.5"
    lib = ctypes.CDLL(name)
    lib.PQconnectdb.restype = ctypes.c_void_p
    lib.PQconnectdb.argtypes = [ctypes.c_char_p]
    lib.PQstatus.argtypes = [ctypes.c_void_p]
    lib.PQerrorMessage.restype = ctypes.c_char_p
    lib.PQerrorMessage.argtypes = [ctypes.c_void_p]
    lib.PQfn.restype = ctypes.c_void_p
    lib.PQfn.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p, ctypes.POINTER(ctypes.c_int), ctypes.c_int,
                         ctypes.POINTER(_ArgBlock), ctypes.c_int]
    lib.PQresultStatus.argtypes = [ctypes.c_void_p]
    lib.PQresultErrorField.restype = ctypes.c_char_p
    lib.PQresultErrorField.argtypes = [ctypes.c_void_p, ctypes.c_int]
    lib.PQclear.argtypes = [ctypes.c_void_p]
    lib.PQfinish.argtypes = [ctypes.c_void_p]
    return lib


def fastpath_call(dsn: str, function_oid: int, args: list[bytes | None]) -> str | None:
    """Calls a function through the fast-path function call with binary arguments (None: NULL);
    returns the error's SQLSTATE, or None when the call succeeded."""
    lib = _libpq()
    conn = lib.PQconnectdb(dsn.encode())
    try:
        assert lib.PQstatus(conn) == 0, lib.PQerrorMessage(conn)
        blocks = (_ArgBlock * max(1, len(args)))()
        keep = []
        for i, arg in enumerate(args):
            blocks[i].isint = 0
            if arg is None:
                blocks[i].len = -1
            else:
                keep.append(ctypes.create_string_buffer(arg, len(arg)))
                blocks[i].len = len(arg)
                blocks[i].u.ptr = ctypes.cast(keep[-1], ctypes.c_void_p)
        out = ctypes.create_string_buffer(1 << 16)
        out_len = ctypes.c_int(0)
        res = lib.PQfn(conn, function_oid, out, ctypes.byref(out_len), 0, blocks, len(args))
        try:
            state = lib.PQresultErrorField(res, _PG_DIAG_SQLSTATE)
            return state.decode() if state else None
        finally:
            lib.PQclear(res)
    finally:
        lib.PQfinish(conn)


def _numeric(value: Decimal) -> bytes:
    """numeric's binary form, for a positive value with at most 4 decimals."""
    sign, digits, exponent = value.as_tuple()
    assert sign == 0 and -4 <= int(exponent) <= 0
    scaled = int(value * 10000)
    groups = []
    while scaled:
        scaled, group = divmod(scaled, 10000)
        groups.insert(0, group)
    weight = len(groups) - 2  # the last group holds the 4 decimals
    while groups and groups[-1] == 0:
        groups.pop()
    return struct.pack(">hhhh", len(groups), weight, 0, -int(exponent)) + b"".join(struct.pack(">h", g) for g in groups)


def _public_plpgsql(conn: psycopg.Connection) -> list[tuple[str, int, int]]:
    """(name, oid, argument count) of every public finshard PL/pgSQL function that returns no rows
    (PostgreSQL itself refuses the fast path to the others)."""
    return conn.execute("""
        SELECT p.proname, p.oid::int, p.pronargs
          FROM pg_proc p
         WHERE p.pronamespace = 'finshard'::regnamespace AND p.prolang = (SELECT oid FROM pg_language WHERE lanname = 'plpgsql')
           AND p.prokind = 'f' AND NOT p.proretset
           AND EXISTS (SELECT 1 FROM aclexplode(p.proacl) a
                        WHERE a.privilege_type = 'EXECUTE' AND a.grantee::regrole::text LIKE 'finshard\\_%')
         ORDER BY 1""").fetchall()


def test_every_public_function_refuses_the_fast_path_and_changes_nothing(db):
    with db.connect() as conn:
        functions = _public_plpgsql(conn)
        before = snapshot(conn)
    assert len(functions) > 40 and "transfer" in {f[0] for f in functions}
    # NULL arguments: without the refusal first, each would answer FS001 (or do its work).
    answers = {name: fastpath_call(db.dsn, oid, [None] * nargs) for name, oid, nargs in functions}
    assert {name: code for name, code in answers.items() if code != "FS097"} == {}
    with db.connect() as conn:
        assert snapshot(conn) == before


def test_a_transfer_through_the_fast_path_is_refused_and_moves_nothing(db):
    with db.connect() as conn:
        a = new_account(conn, deposit="50.00")
        b = new_account(conn)
        oid = conn.execute("SELECT 'finshard.transfer(bigint,bigint,numeric,text,text,text)'::regprocedure::oid::int").fetchone()[0]
        before = snapshot(conn)
    args = [struct.pack(">q", a), struct.pack(">q", b), _numeric(Decimal("12.50")), None, None, None]
    assert fastpath_call(db.dsn, oid, args) == "FS097"
    with db.connect() as conn:
        assert snapshot(conn) == before
        # The same call in a query goes through.
        row = conn.execute("SELECT from_balance, to_balance FROM finshard.transfer(%s::bigint, %s::bigint, %s)",
                           (a, b, Decimal("12.50"))).fetchone()
        assert row == (Decimal("37.50"), Decimal("12.50"))


@pytest.mark.citus
def test_through_the_fast_path_citus_would_commit_each_write_by_itself(citus):
    """Why the refusal: a function with two remote writes and an error after them, called through
    the fast path on the coordinator, keeps both writes; called in a query, neither."""
    with citus.connect() as conn:
        conn.execute("CREATE TABLE public.fastpath_probe (id bigint PRIMARY KEY, v int)")
        try:
            conn.execute("SELECT create_distributed_table('public.fastpath_probe', 'id')")
            conn.execute("INSERT INTO public.fastpath_probe VALUES (1, 0), (2, 0)")
            conn.execute("""CREATE FUNCTION public.fastpath_probe_fn() RETURNS int LANGUAGE plpgsql AS $$
                            BEGIN
                                UPDATE public.fastpath_probe SET v = v + 1 WHERE id = 1;
                                UPDATE public.fastpath_probe SET v = v + 1 WHERE id = 2;
                                RAISE EXCEPTION 'after both writes';
                            END $$""")
            oid = conn.execute("SELECT 'public.fastpath_probe_fn()'::regprocedure::oid::int").fetchone()[0]
            with pytest.raises(psycopg.errors.RaiseException):
                conn.execute("SELECT public.fastpath_probe_fn()")
            assert conn.execute("SELECT sum(v) FROM public.fastpath_probe").fetchone()[0] == 0
            assert fastpath_call(citus.dsn, oid, []) == "P0001"
            assert conn.execute("SELECT sum(v) FROM public.fastpath_probe").fetchone()[0] == 2
        finally:
            conn.execute("DROP FUNCTION IF EXISTS public.fastpath_probe_fn()")
            conn.execute("DROP TABLE public.fastpath_probe")
