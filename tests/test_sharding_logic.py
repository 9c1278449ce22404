"""Issue 4: sharding_logic is PostgreSQL's own hashing, checked against a real server."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from finshard import sharding_logic as sl

INT8 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
INT4 = st.integers(min_value=-(2**31), max_value=2**31 - 1)
EDGES8 = [0, 1, -1, 2**63 - 1, -(2**63), 2**31, -(2**31), 2**31 - 1, 2**32, -(2**32), 2**32 - 1]
EDGES4 = [0, 1, -1, 2**31 - 1, -(2**31)]
SETTINGS = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _server(conn, fn: str, cast: str, values):
    return [r[0] for r in conn.execute(f"SELECT {fn}(v) FROM unnest(%s::{cast}[]) WITH ORDINALITY AS u(v, i) ORDER BY i", (list(values),))]


def test_edge_values_hash_like_postgres(plain):
    with plain.connect() as conn:
        assert _server(conn, "hashint8", "bigint", EDGES8) == [sl.hash_bigint(v) for v in EDGES8]
        assert _server(conn, "hashint4", "int", EDGES4) == [sl.hash_int(v) for v in EDGES4]


@SETTINGS
@given(st.lists(INT8, min_size=200, max_size=200))
def test_hash_bigint_equals_hashint8(plain, values):
    # 50 examples x 200 values = 10,000 values per run.
    with plain.connect() as conn:
        assert _server(conn, "hashint8", "bigint", values) == [sl.hash_bigint(v) for v in values]


@SETTINGS
@given(st.lists(INT4, min_size=200, max_size=200))
def test_hash_int_equals_hashint4(plain, values):
    with plain.connect() as conn:
        assert _server(conn, "hashint4", "int", values) == [sl.hash_int(v) for v in values]


@SETTINGS
@given(st.lists(st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40),
                min_size=50, max_size=50))
def test_hash_text_equals_hashtext(plain, values):
    with plain.connect() as conn:
        assert _server(conn, "hashtext", "text", values) == [sl.hash_text(v) for v in values]


def test_hash_uuid_equals_uuid_hash(plain):
    values = [uuid.uuid4() for _ in range(500)] + [uuid.UUID(int=0), uuid.UUID(int=2**128 - 1)]
    with plain.connect() as conn:
        assert _server(conn, "uuid_hash", "uuid", [str(v) for v in values]) == [sl.hash_uuid(v) for v in values]


def test_uniform_ranges_tile_the_int32_space():
    for count in (1, 2, 3, 7, 8, 32, 1000):
        ranges = sl.uniform_ranges(count)
        assert ranges[0][0] == sl.INT32_MIN and ranges[-1][1] == sl.INT32_MAX
        assert all(b[0] == a[1] + 1 for a, b in zip(ranges, ranges[1:]))


def test_shard_map_binary_search_matches_a_linear_scan():
    shards = [sl.ShardRange(100 + i, lo, hi, f"n{i % 3}") for i, (lo, hi) in enumerate(sl.uniform_ranges(13))]
    m = sl.ShardMap(shards)
    for v in list(range(-2000, 2000, 7)) + EDGES8:
        h = sl.hash_bigint(v)
        assert m.for_bigint(v) == next(s for s in shards if s.min_value <= h <= s.max_value)


def test_partition_for_names_the_utc_month():
    p = sl.partition_for("finshard.transactions", datetime(2026, 12, 31, 23, 30, tzinfo=timezone.utc))
    assert (p.name, p.start.month, p.end.year, p.end.month) == ("transactions_p2026_12", 12, 2027, 1)


def test_partition_for_agrees_with_the_sql_naming(plain):
    at = datetime(2026, 3, 31, 23, 59, tzinfo=timezone.utc)
    with plain.connect() as conn:
        assert conn.execute("SELECT finshard.partition_name('finshard.trades', %s)", (at,)).fetchone()[0] == sl.partition_for("trades", at).name
