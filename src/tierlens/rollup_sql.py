"""Whether a query over `requests` gives the same answer over the daily rollup.

The rollup (`tierlens.store.rollup`) keeps some request columns as keys and sums others under
their own names. A query reads the same over it when every column it names is in the rollup and
every aggregate is one a sum of sums answers:

- `SUM(x)` where `x` is linear in the summed columns: a summed column, 0 or NULL, `+`, `-`, a
  product or quotient by a constant, or `CASE`/`IF` whose conditions read keys only
  (`CASE WHEN priced THEN 0 ELSE requests END`); not `SUM(1)`, which counts rows;
- `MIN(k)` / `MAX(k)` of keys (`MIN(date)`);
- anything else (the keys, constants, the arithmetic of aggregates) outside an aggregate.

`COUNT`, `AVG`, a product of two summed columns, a window function or a subquery: not rollup-safe,
and the query reads the requests. The check is conservative: a query it refuses still runs, on
the requests.
"""

from __future__ import annotations

from sqlglot import exp

from tierlens.store.rollup import COLUMNS, DIMENSIONS, SUMMED

_SUMMED = frozenset({*SUMMED, "cost_usd"})
_KNOWN = frozenset(COLUMNS)


def rollup_safe(tree: exp.Expression) -> bool:
    """True when `tree` (one SELECT over `requests`) answers the same over the rollup."""
    if not isinstance(tree, exp.Select) or tree.find(exp.Subquery, exp.Window, exp.Union, exp.Join):
        return False
    if [t.name for t in tree.find_all(exp.Table)] != ["requests"]:
        return False
    aliases = {e.alias for e in tree.expressions if e.alias}
    columns = [c for c in tree.find_all(exp.Column) if not _an_alias(c, aliases)]
    if any(c.name not in _KNOWN for c in columns):
        return False
    for agg in tree.find_all(exp.AggFunc):
        if isinstance(agg, exp.Sum):
            if not _linear(agg.this):
                return False
        elif isinstance(agg, (exp.Min, exp.Max)):
            if not _keys_only(agg.this):
                return False
        else:
            return False
    outside = [c for c in columns if c.find_ancestor(exp.AggFunc) is None]
    return all(c.name in DIMENSIONS for c in outside)


def _an_alias(column: exp.Column, aliases: set[str]) -> bool:
    """An ORDER BY naming one of the query's own output columns."""
    return column.name in aliases and column.find_ancestor(exp.Order) is not None


def _keys_only(node: exp.Expression) -> bool:
    return all(c.name in DIMENSIONS for c in node.find_all(exp.Column))


def _constant(node: exp.Expression) -> bool:
    return node.find(exp.Column) is None and node.find(exp.AggFunc) is None


def _zero(node: exp.Expression) -> bool:
    """0 or NULL: what a request adds to a sum that a cell adds as well (SUM(1) counts rows)."""
    if isinstance(node, exp.Paren):
        return _zero(node.this)
    if isinstance(node, exp.Null):
        return True
    if isinstance(node, exp.Literal) and not node.is_string:
        try:
            return float(node.this) == 0
        except ValueError:
            return False
    return False


def _linear(node: exp.Expression) -> bool:
    """Whether the sum of `node` over requests equals its sum over their rollup cells."""
    if isinstance(node, exp.Paren):
        return _linear(node.this)
    if isinstance(node, exp.Column):
        return node.name in _SUMMED
    if _constant(node):
        return _zero(node)
    if isinstance(node, (exp.Add, exp.Sub)):
        return _linear(node.args["this"]) and _linear(node.args["expression"])
    if isinstance(node, exp.Neg):
        return _linear(node.this)
    if isinstance(node, (exp.Mul, exp.Div)):
        left, right = node.args["this"], node.args["expression"]
        if isinstance(node, exp.Div):
            return _linear(left) and _constant(right)
        return (_constant(left) and _linear(right)) or (_linear(left) and _constant(right))
    if isinstance(node, exp.Case):
        branches = node.args.get("ifs") or []
        default = node.args.get("default")
        return (
            node.this is None
            and all(_keys_only(b.this) and _linear(b.args["true"]) for b in branches)
            and (default is None or _linear(default))
        )
    if isinstance(node, exp.If):
        false = node.args.get("false")
        return _keys_only(node.this) and _linear(node.args["true"]) and (false is None or _linear(false))
    return False
