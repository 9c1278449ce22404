"""Cluster topology read from Citus metadata: nodes, distributed tables, shard ranges, placements.

Plain data: the router reads it once (``Topology.read``), caches it, and reads it again when a
call finds a moved shard or a down node. On plain PostgreSQL the topology is one node.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from finshard.sharding_logic import ShardMap, ShardRange, hash_bigint

__all__ = ["NodeAddr", "TableInfo", "Topology", "ShardLocation"]


@dataclass(frozen=True, order=True)
class NodeAddr:
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class TableInfo:
    name: str  # schema-qualified, e.g. finshard.accounts
    kind: str  # distributed | reference | local
    column: str | None = None
    colocation_id: int | None = None


@dataclass(frozen=True)
class ShardLocation:
    table: str
    value: int
    hash: int
    shard_id: int
    min_value: int
    max_value: int
    node: NodeAddr


@dataclass
class Topology:
    citus_version: str | None
    coordinator: NodeAddr
    tables: dict[str, TableInfo] = field(default_factory=dict)
    shard_maps: dict[str, ShardMap[NodeAddr]] = field(default_factory=dict)
    nodes: list[NodeAddr] = field(default_factory=list)
    # Each group's primary -> its streaming standbys (Citus secondaries, which Patroni registers).
    secondaries: dict[NodeAddr, list[NodeAddr]] = field(default_factory=dict)

    @property
    def citus(self) -> bool:
        return self.citus_version is not None

    def locate(self, value: int, table: str = "finshard.accounts") -> ShardLocation:
        """Where the row with distribution value ``value`` of ``table`` lives."""
        hashed = hash_bigint(value)
        if not self.citus or table not in self.shard_maps:
            return ShardLocation(table, value, hashed, 0, -(2**31), 2**31 - 1, self.coordinator)
        shard = self.shard_maps[table].for_hash(hashed)
        return ShardLocation(table, value, hashed, shard.shard_id, shard.min_value, shard.max_value, shard.node)

    def node_for_account(self, account_id: int) -> NodeAddr:
        return self.locate(account_id).node

    @classmethod
    def read(cls, conn: Any, coordinator: NodeAddr) -> "Topology":
        """Read the topology through ``conn`` (a psycopg connection to the coordinator)."""
        row = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'citus'").fetchone()
        if row is None:
            tables = {name: TableInfo(name, "local") for (name,) in conn.execute(
                "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = 'finshard' AND c.relkind IN ('r', 'p') AND NOT c.relispartition").fetchall()}
            return cls(None, coordinator, tables=tables, nodes=[coordinator])
        topo = cls(row[0], coordinator)
        groups: dict[int, NodeAddr] = {}
        for groupid, host, port in conn.execute(
                "SELECT groupid, nodename, nodeport FROM pg_dist_node "
                "WHERE noderole = 'primary' AND isactive ORDER BY groupid").fetchall():
            addr = NodeAddr(host, int(port))
            # The coordinator's own entry may name another address than the one we reached it at.
            groups[int(groupid)] = coordinator if int(groupid) == 0 else addr
        topo.nodes = sorted(set(groups.values()))
        for groupid, host, port in conn.execute(
                "SELECT groupid, nodename, nodeport FROM pg_dist_node "
                "WHERE noderole = 'secondary' AND isactive ORDER BY groupid, nodeid").fetchall():
            primary = groups.get(int(groupid))
            if primary is not None:
                topo.secondaries.setdefault(primary, []).append(NodeAddr(host, int(port)))
        for name, method, repmodel, column, colocation in conn.execute(
                "SELECT format('%I.%I', n.nspname, c.relname), p.partmethod, p.repmodel, "
                "       column_to_column_name(p.logicalrelid, p.partkey), p.colocationid "
                "  FROM pg_dist_partition p JOIN pg_class c ON c.oid = p.logicalrelid "
                "  JOIN pg_namespace n ON n.oid = c.relnamespace "
                " WHERE NOT c.relispartition").fetchall():
            if method == "h":
                topo.tables[name] = TableInfo(name, "distributed", column, int(colocation))
            elif method == "n" and repmodel == "t":
                topo.tables[name] = TableInfo(name, "reference")
            else:
                topo.tables[name] = TableInfo(name, "local")
        shards: dict[str, list[ShardRange[NodeAddr]]] = {}
        for name, shardid, low, high, groupid in conn.execute(
                "SELECT format('%I.%I', n.nspname, c.relname), s.shardid, s.shardminvalue::int, s.shardmaxvalue::int, "
                "       pl.groupid "
                "  FROM pg_dist_shard s JOIN pg_dist_partition p USING (logicalrelid) "
                "  JOIN pg_dist_placement pl USING (shardid) "
                "  JOIN pg_class c ON c.oid = s.logicalrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
                " WHERE p.partmethod = 'h' AND NOT c.relispartition AND pl.shardstate = 1").fetchall():
            node = groups.get(int(groupid))
            if node is not None:
                shards.setdefault(name, []).append(ShardRange(int(shardid), int(low), int(high), node))
        topo.shard_maps = {name: ShardMap(ranges) for name, ranges in shards.items()}
        return topo
