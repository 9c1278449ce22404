"""Pure sharding arithmetic, exactly as PostgreSQL and Citus do it. No database import.

- ``hash_bigint``/``hash_int``/``hash_text``/``hash_uuid`` return what PostgreSQL's
  ``hashint8``/``hashint4``/``hashtext``/``uuid_hash`` return (Bob Jenkins' lookup3, as in
  src/common/hashfn.c), as a signed int32: Citus places a row by this value.
- ``ShardMap`` finds the shard whose [min, max] hash range holds a value, by binary search over
  ranges read from ``pg_dist_shard`` (never assumed: splits make them non-uniform).
- ``uniform_ranges`` is the layout Citus creates for a shard count.
- ``partition_for`` names the monthly time partition that holds a timestamp.
"""

from __future__ import annotations

import bisect
import uuid as _uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Generic, Iterable, TypeVar

__all__ = ["hash_bigint", "hash_int", "hash_text", "hash_uuid", "hash_bytes", "ShardRange", "ShardMap",
           "uniform_ranges", "partition_for", "PartitionRange", "INT32_MIN", "INT32_MAX"]

INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1
_M = 0xFFFFFFFF


def _rot(x: int, k: int) -> int:
    return ((x << k) | (x >> (32 - k))) & _M


def _final(a: int, b: int, c: int) -> int:
    c = ((c ^ b) - _rot(b, 14)) & _M
    a = ((a ^ c) - _rot(c, 11)) & _M
    b = ((b ^ a) - _rot(a, 25)) & _M
    c = ((c ^ b) - _rot(b, 16)) & _M
    a = ((a ^ c) - _rot(c, 4)) & _M
    b = ((b ^ a) - _rot(a, 14)) & _M
    c = ((c ^ b) - _rot(b, 24)) & _M
    return c


def _mix(a: int, b: int, c: int) -> tuple[int, int, int]:
    a = ((a - c) & _M) ^ _rot(c, 4); c = (c + b) & _M  # noqa: E702
    b = ((b - a) & _M) ^ _rot(a, 6); a = (a + c) & _M  # noqa: E702
    c = ((c - b) & _M) ^ _rot(b, 8); b = (b + a) & _M  # noqa: E702
    a = ((a - c) & _M) ^ _rot(c, 16); c = (c + b) & _M  # noqa: E702
    b = ((b - a) & _M) ^ _rot(a, 19); a = (a + c) & _M  # noqa: E702
    c = ((c - b) & _M) ^ _rot(b, 4); b = (b + a) & _M  # noqa: E702
    return a, b, c


def _signed(v: int) -> int:
    return v - 2**32 if v & 0x80000000 else v


def _hash_uint32(k: int) -> int:
    a = b = c = (0x9E3779B9 + 4 + 3923095) & _M
    a = (a + (k & _M)) & _M
    return _signed(_final(a, b, c))


def hash_int(value: int) -> int:
    """PostgreSQL ``hashint4(value)`` (int4 distribution columns)."""
    if not INT32_MIN <= value <= INT32_MAX:
        raise ValueError(f"{value} is outside int4")
    return _hash_uint32(value & _M)


def hash_bigint(value: int) -> int:
    """PostgreSQL ``hashint8(value)``: where Citus places a bigint distribution value."""
    if not -(2**63) <= value <= 2**63 - 1:
        raise ValueError(f"{value} is outside int8")
    lohalf = value & _M
    hihalf = (value >> 32) & _M
    # Fold the high half in so that values fitting in int4 hash as hashint4 does.
    lohalf ^= hihalf if value >= 0 else (~hihalf & _M)
    return _hash_uint32(lohalf)


def hash_bytes(data: bytes) -> int:
    """PostgreSQL ``hash_any`` over raw bytes (little-endian lookup3), as a signed int32."""
    length = len(data)
    a = b = c = (0x9E3779B9 + length + 3923095) & _M
    k = 0
    while length - k >= 12:
        a = (a + int.from_bytes(data[k:k + 4], "little")) & _M
        b = (b + int.from_bytes(data[k + 4:k + 8], "little")) & _M
        c = (c + int.from_bytes(data[k + 8:k + 12], "little")) & _M
        a, b, c = _mix(a, b, c)
        k += 12
    rest = data[k:]
    n = len(rest)
    # The last 11 bytes; the lowest byte of c is reserved for the length, so c takes bytes 8-10 shifted by one.
    if n > 8:
        c = (c + (int.from_bytes(rest[8:], "little") << 8)) & _M
    if n > 4:
        b = (b + int.from_bytes(rest[4:min(n, 8)], "little")) & _M
    if n > 0:
        a = (a + int.from_bytes(rest[:min(n, 4)], "little")) & _M
    return _signed(_final(a, b, c))


def hash_text(value: str) -> int:
    """PostgreSQL ``hashtext(value)`` for a deterministic collation (UTF-8 bytes)."""
    return hash_bytes(value.encode("utf-8"))


def hash_uuid(value: _uuid.UUID | str) -> int:
    """PostgreSQL ``uuid_hash(value)``."""
    u = value if isinstance(value, _uuid.UUID) else _uuid.UUID(str(value))
    return hash_bytes(u.bytes)


N = TypeVar("N")


@dataclass(frozen=True)
class ShardRange(Generic[N]):
    """One shard: its id, its inclusive hash range, and where it lives (any node label)."""

    shard_id: int
    min_value: int
    max_value: int
    node: N


class ShardMap(Generic[N]):
    """The shards of one distributed table (or colocation group), searchable by hash value."""

    def __init__(self, shards: Iterable[ShardRange[N]]) -> None:
        self.shards: list[ShardRange[N]] = sorted(shards, key=lambda s: s.min_value)
        if not self.shards:
            raise ValueError("a shard map needs at least one shard")
        self._mins = [s.min_value for s in self.shards]
        for prev, nxt in zip(self.shards, self.shards[1:]):
            if nxt.min_value != prev.max_value + 1:
                raise ValueError(f"shard ranges do not tile the hash space between shard {prev.shard_id} and {nxt.shard_id}")
        if self.shards[0].min_value != INT32_MIN or self.shards[-1].max_value != INT32_MAX:
            raise ValueError("shard ranges do not cover the whole int32 hash space")

    def for_hash(self, hashed: int) -> ShardRange[N]:
        """The shard whose range holds ``hashed`` (binary search)."""
        return self.shards[bisect.bisect_right(self._mins, hashed) - 1]

    def for_bigint(self, value: int) -> ShardRange[N]:
        return self.for_hash(hash_bigint(value))

    def __len__(self) -> int:
        return len(self.shards)


def uniform_ranges(shard_count: int) -> list[tuple[int, int]]:
    """The [min, max] ranges Citus gives ``shard_count`` new shards (create_distributed_table)."""
    if shard_count < 1:
        raise ValueError("shard_count must be >= 1")
    increment = 2**32 // shard_count
    ranges = []
    for i in range(shard_count):
        low = INT32_MIN + i * increment
        high = INT32_MAX if i == shard_count - 1 else low + increment - 1
        ranges.append((low, high))
    return ranges


@dataclass(frozen=True)
class PartitionRange:
    name: str
    start: datetime
    end: datetime


def partition_for(table: str, at: datetime) -> PartitionRange:
    """The monthly (UTC) partition of ``table`` that holds ``at``; agrees with finshard.partition_name()."""
    if at.tzinfo is None:
        raise ValueError("a timestamp without a time zone is ambiguous; pass an aware datetime")
    utc = at.astimezone(timezone.utc)
    start = datetime(utc.year, utc.month, 1, tzinfo=timezone.utc)
    end = datetime(utc.year + (utc.month == 12), utc.month % 12 + 1, 1, tzinfo=timezone.utc)
    base = table.split(".")[-1]
    return PartitionRange(f"{base}_p{utc.year:04d}_{utc.month:02d}", start, end)

