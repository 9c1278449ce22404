"""Where a SQL statement should run: pure decisions from sqlglot's parse tree and the topology.

``route(sql, params, topology)`` returns a Route (plain data). A statement on a distributed table
that pins the distribution column (equality in WHERE, or its value in a one-row INSERT) goes to
the node holding that shard; anything else goes to the coordinator, and the Route says why
(fan-out, reference table, local table). SQL that does not parse is refused, never guessed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Sequence

import sqlglot
from sqlglot import exp

from finshard.errors import UnparsableSQL
from finshard.router.procedures import BY_NAME
from finshard.router.topology import NodeAddr, Topology

__all__ = ["Route", "route"]

_PLACEHOLDER = re.compile(r"%s|%\((\w+)\)s")


@dataclass(frozen=True)
class Route:
    node: NodeAddr
    kind: str  # single_shard | fan_out | reference | local | coordinator
    reason: str
    table: str | None = None
    value: int | None = None
    shard_id: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"node": str(self.node), "kind": self.kind, "reason": self.reason, "table": self.table,
                "value": self.value, "shard_id": self.shard_id}


def placeholder_count(sql: str) -> int:
    """How many values psycopg would bind into ``sql`` (%% is a literal percent sign)."""
    return len(_to_dollar(sql.replace("%%", ""))[1])


def _to_dollar(sql: str) -> tuple[str, list[str | None]]:
    """psycopg placeholders (%s, %(name)s) -> $1, $2... so sqlglot sees parameters it knows."""
    names: list[str | None] = []

    def sub(m: re.Match[str]) -> str:
        names.append(m.group(1))
        return f"${len(names)}"

    return _PLACEHOLDER.sub(sub, sql), names


def _value(node: exp.Expression, params: Sequence[Any] | dict[str, Any] | None, names: list[str | None]) -> Any:
    while isinstance(node, (exp.Cast, exp.Paren)):
        node = node.this
    if isinstance(node, exp.Literal):
        return int(node.this) if not node.is_string else node.this
    if isinstance(node, exp.Neg) and isinstance(node.this, exp.Literal):
        return -int(node.this.this)
    if isinstance(node, (exp.Parameter, exp.Placeholder)):
        text = node.sql(dialect="postgres").lstrip("$")
        if not text.isdigit() or params is None:
            return None
        index = int(text) - 1
        name = names[index] if index < len(names) else None
        if name is not None and isinstance(params, dict):
            return params.get(name)
        if isinstance(params, (list, tuple)) and index < len(params):
            return params[index]
    return None


def _table_name(table: exp.Table) -> str:
    schema = table.db or "finshard"
    return f"{schema}.{table.name}"


# The words PostgreSQL statements begin with (its SQL command reference).
_COMMANDS = frozenset("""ABORT ALTER ANALYZE BEGIN CALL CHECKPOINT CLOSE CLUSTER COMMENT COMMIT COPY CREATE DEALLOCATE
    DECLARE DELETE DISCARD DO DROP END EXECUTE EXPLAIN FETCH GRANT IMPORT INSERT LISTEN LOAD LOCK MERGE MOVE NOTIFY
    PREPARE REASSIGN REFRESH REINDEX RELEASE RESET REVOKE ROLLBACK SAVEPOINT SECURITY SELECT SET SHOW START TABLE
    TRUNCATE UNLISTEN UPDATE VACUUM VALUES WITH""".split())


def route(sql: str, params: Sequence[Any] | dict[str, Any] | None, topology: Topology) -> Route:
    """Decide where ``sql`` runs. Raises UnparsableSQL for what sqlglot cannot parse."""
    text, names = _to_dollar(sql)
    try:
        statements = [s for s in sqlglot.parse(text, read="postgres") if s is not None]
    except sqlglot.errors.SqlglotError as exc:
        raise UnparsableSQL(f"cannot parse SQL to route it: {str(exc).splitlines()[0]}") from None
    if len(statements) != 1:
        raise UnparsableSQL(f"route one statement at a time, not {len(statements)}")
    stmt = statements[0]
    # sqlglot reads a bare expression ("SELEC garbage" is a column with an alias) where it does not
    # know a command (LISTEN x reads the same): only a PostgreSQL command word makes it a statement.
    if isinstance(stmt, (exp.Condition, exp.Alias, exp.Identifier, exp.Paren)):
        first = text.strip().split(None, 1)[0].upper() if text.strip() else ""
        if first not in _COMMANDS:
            raise UnparsableSQL(f"cannot parse SQL to route it: {sql.strip()[:60]!r} is not a statement")
        stmt = exp.Command(this=first)
    coordinator = topology.coordinator
    if not topology.citus:
        return Route(coordinator, "local", "plain PostgreSQL: one node holds everything")
    if isinstance(stmt, exp.Command) or not isinstance(stmt, (exp.Select, exp.Insert, exp.Update, exp.Delete, exp.Union)):
        verb = str(stmt.this).upper() if isinstance(stmt, exp.Command) and isinstance(stmt.this, str) else stmt.key.upper()
        return Route(coordinator, "coordinator", f"{verb} statements run on the coordinator")
    delegated = _delegated_call(stmt, params, names, topology)
    if delegated is not None:
        return delegated
    tables = [_table_name(t) for t in stmt.find_all(exp.Table)]
    known = [topology.tables[t] for t in tables if t in topology.tables]
    distributed = [t for t in known if t.kind == "distributed"]
    if not distributed:
        if known and all(t.kind == "reference" for t in known):
            return Route(coordinator, "reference", f"only reference tables ({', '.join(t.name for t in known)}): any node has them")
        return Route(coordinator, "coordinator", "no distributed table in the statement")
    if len({t.colocation_id for t in distributed}) > 1:
        return Route(coordinator, "fan_out", "distributed tables of different colocation groups: the coordinator plans the join")
    pinned = _pinned_value(stmt, distributed[0].name, distributed[0].column or "", params, names, len(distributed) > 1)
    if pinned is None:
        return Route(coordinator, "fan_out",
                     f"{distributed[0].name}.{distributed[0].column} is not pinned to one value: the coordinator fans out to every shard")
    try:
        value = int(pinned)
    except (TypeError, ValueError):
        return Route(coordinator, "fan_out", f"distribution value {pinned!r} is not a bigint")
    loc = topology.locate(value, distributed[0].name)
    return Route(loc.node, "single_shard",
                 f"{distributed[0].column} = {value}: hash {loc.hash} is in shard {loc.shard_id} [{loc.min_value}, {loc.max_value}]",
                 distributed[0].name, value, loc.shard_id)


def _delegated_call(stmt: exp.Expression, params: Any, names: list[str | None], topology: Topology) -> Route | None:
    """``SELECT [* FROM] finshard.f(...)`` alone, f a function Citus delegates by an account: the node
    holding that account (the router's node; through the coordinator Citus sends the call there)."""
    if not isinstance(stmt, exp.Select) or stmt.args.get("joins") or stmt.args.get("where"):
        return None
    calls = [(table.this, table.db) for table in stmt.find_all(exp.Table) if isinstance(table.this, exp.Anonymous)]
    calls += [(dot.expression, dot.this.name) for dot in stmt.find_all(exp.Dot)
              if isinstance(dot.expression, exp.Anonymous) and isinstance(dot.this, exp.Identifier)]
    plain_tables = [t for t in stmt.find_all(exp.Table) if not isinstance(t.this, exp.Anonymous)]
    if len(calls) != 1 or plain_tables or calls[0][1] != "finshard":
        return None
    call = calls[0][0]
    proc = BY_NAME.get(call.name)
    if proc is None or proc.route_by is None:
        return None
    position = [p for p, _t in proc.params].index(proc.route_by)
    args = call.expressions
    node = next((a.expression for a in args if isinstance(a, exp.Kwarg) and a.this.name == f"p_{proc.route_by}"), None)
    if node is None and position < len(args) and not any(isinstance(a, exp.Kwarg) for a in args[:position + 1]):
        node = args[position]
    try:
        account = int(_value(node, params, names) if node is not None else None)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return Route(topology.coordinator, "coordinator",
                     f"finshard.{proc.name}'s {proc.route_by} is not a bigint value here: the coordinator decides")
    loc = topology.locate(account, "finshard.accounts")
    return Route(loc.node, "single_shard",
                 f"finshard.{proc.name} runs where {proc.route_by} {account} is (Citus delegates the call there): "
                 f"hash {loc.hash} is in shard {loc.shard_id} [{loc.min_value}, {loc.max_value}]",
                 "finshard.accounts", account, loc.shard_id)



def _pinned_value(stmt: exp.Expression, table: str, column: str, params: Any, names: list[str | None],
                  several: bool) -> Any:
    if isinstance(stmt, exp.Insert):
        cols = [c.name for c in stmt.this.expressions] if isinstance(stmt.this, exp.Schema) else []
        values = stmt.expression
        if column in cols and isinstance(values, exp.Values) and len(values.expressions) == 1:
            row = values.expressions[0]
            return _value(row.expressions[cols.index(column)], params, names)
        return None
    where = stmt.args.get("where")
    if where is None:
        return None
    # Only top-level AND-ed equalities pin a value: an OR could reach other shards.
    found = None
    for cond in _conjuncts(where.this):
        if isinstance(cond, exp.EQ):
            for col, other in ((cond.this, cond.expression), (cond.expression, cond.this)):
                if isinstance(col, exp.Column) and col.name == column and not isinstance(other, exp.Column):
                    value = _value(other, params, names)
                    if value is not None:
                        if found is not None and found != value:
                            return None
                        found = value
    return found


def _conjuncts(node: exp.Expression) -> list[exp.Expression]:
    while isinstance(node, exp.Paren):
        node = node.this
    if isinstance(node, exp.And):
        return _conjuncts(node.this) + _conjuncts(node.expression)
    return [node]
