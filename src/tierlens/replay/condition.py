"""A policy rule's `when`: a SQL boolean expression, parsed by sqlglot, compiled to a polars expression.

Teams write routing conditions the way they write a WHERE clause (`feature = 'support-chat' AND
output_tokens <= 100`), so the condition language is SQL. It is a *safe subset*: comparisons,
AND/OR/NOT, IN over literals, BETWEEN, LIKE/ILIKE, IS [NOT] NULL, arithmetic, literals, and a
few whitelisted functions, over the canonical columns of `tierlens.schema` (plus `date` and
`prompt_tokens`). Anything else (a subquery, an unknown function, a second statement, a
placeholder) is an error that names the offending construct with its line and column.

The compiled expression runs vectorized over the dataset: nothing here is ever called per row.
SQL's three-valued logic is kept (a NULL comparison is NULL, and a rule matches only on TRUE).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import polars as pl
import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from tierlens.errors import ConditionError
from tierlens.schema import PARTITION_COLUMN, SCHEMA, prompt_tokens

NUM, STR, BOOL, TS, DATE, LIST, NULL = "number", "string", "boolean", "timestamp", "date", "list", "null"

DERIVED_COLUMNS: dict[str, tuple[str, pl.Expr]] = {
    PARTITION_COLUMN: (DATE, pl.col(PARTITION_COLUMN)),
    "prompt_tokens": (NUM, prompt_tokens(nulls_as_zero=True)),
}
"""Columns a condition may use beyond the canonical schema: the partition date, and the whole prompt."""

FUNCTIONS = (
    "LOWER(s)",
    "UPPER(s)",
    "LENGTH(s)",
    "COALESCE(a, b, ...)",
    "ABS(x)",
    "HOUR(ts)",
    "ISODOW(ts)",
    "EXTRACT(HOUR|MINUTE|ISODOW|DOW|DAY|MONTH|YEAR FROM ts)",
    "CAST(ts AS DATE)",
    "ARRAY_CONTAINS(tags, 'x')",
)
_EXTRACT = {
    "HOUR": lambda e: e.dt.hour(),
    "MINUTE": lambda e: e.dt.minute(),
    "ISODOW": lambda e: e.dt.weekday(),
    "DOW": lambda e: e.dt.weekday() % 7,
    "DAY": lambda e: e.dt.day(),
    "MONTH": lambda e: e.dt.month(),
    "YEAR": lambda e: e.dt.year(),
}
_COMPARE: dict[type[exp.Expression], Callable[[pl.Expr, pl.Expr], pl.Expr]] = {
    exp.EQ: lambda a, b: a == b,
    exp.NEQ: lambda a, b: a != b,
    exp.GT: lambda a, b: a > b,
    exp.GTE: lambda a, b: a >= b,
    exp.LT: lambda a, b: a < b,
    exp.LTE: lambda a, b: a <= b,
}
_ARITH: dict[type[exp.Expression], Callable[[pl.Expr, pl.Expr], pl.Expr]] = {
    exp.Add: lambda a, b: a + b,
    exp.Sub: lambda a, b: a - b,
    exp.Mul: lambda a, b: a * b,
    exp.Div: lambda a, b: a / b,
    exp.Mod: lambda a, b: a % b,
}


def _kind(dtype: pl.DataType) -> str:
    if dtype.is_numeric():
        return NUM
    if dtype == pl.Boolean:
        return BOOL
    if isinstance(dtype, pl.Datetime):
        return TS
    if dtype == pl.Date:
        return DATE
    if isinstance(dtype, pl.List):
        return LIST
    return STR


COLUMN_KINDS: dict[str, str] = {
    **{name: _kind(dtype) for name, dtype in SCHEMA.items()},
    **{name: kind for name, (kind, _) in DERIVED_COLUMNS.items()},
}


@dataclass(frozen=True)
class Condition:
    """A validated `when`: its SQL, the polars expression it compiles to, and the columns it reads."""

    sql: str
    expr: pl.Expr
    columns: frozenset[str]

    @property
    def is_always(self) -> bool:
        """True for a bare `TRUE` (a catch-all rule)."""
        return self.sql.strip().upper() == "TRUE"


@dataclass(frozen=True)
class _Typed:
    expr: pl.Expr
    kind: str
    literal: Any = None  # the Python value when the node is a literal (for typed comparisons)
    is_literal: bool = False


MAX_DEPTH = 64
"""Deepest expression a condition may nest (AND/OR chains and parentheses): enough for any rule a
person writes, far from the interpreter's recursion limit."""
MAX_LENGTH = 20_000


def _depth(tree: exp.Expression) -> int:
    """How deep the expression tree goes, walked without recursion."""
    deepest, stack = 0, [(tree, 1)]
    while stack:
        node, d = stack.pop()
        deepest = max(deepest, d)
        stack += [(child, d + 1) for child in node.iter_expressions()]
    return deepest


def compile_condition(sql: str) -> Condition:
    """Parse, validate and compile a `when` condition; raises `ConditionError` with a position."""
    if not sql.strip():
        raise ConditionError("the condition is empty (use TRUE to match every request)", 1, 1)
    if len(sql) > MAX_LENGTH:
        raise ConditionError(f"the condition is {len(sql):,} characters long (at most {MAX_LENGTH:,})", 1, 1)
    try:
        statements = sqlglot.parse(sql)
    except ParseError as exc:
        first = exc.errors[0] if exc.errors else {}
        line, col = int(first.get("line") or 1), int(first.get("col") or 1)
        desc = first.get("description") or str(exc)
        raise ConditionError(f"not a valid SQL expression: {desc}", line, col) from None
    except TokenError as exc:
        raise ConditionError(f"not a valid SQL expression: {exc}", 1, 1) from None
    except RecursionError:
        raise ConditionError(
            f"the condition is nested too deeply (at most {MAX_DEPTH} levels)", 1, 1
        ) from None
    trees = [s for s in statements if s is not None]
    if len(trees) != 1:
        line, col = _statement_position(sql, len(trees))
        raise ConditionError("exactly one expression is allowed (no ';')", line, col)
    tree = trees[0]
    if not isinstance(tree, exp.Expression):
        raise ConditionError("not a valid SQL expression", 1, 1)
    if isinstance(tree, exp.Block):
        line, col = _position(sql, tree.expressions[1]) if len(tree.expressions) > 1 else (1, 1)
        raise ConditionError("exactly one expression is allowed (no ';')", line, col)
    depth = _depth(tree)
    if depth > MAX_DEPTH:
        raise ConditionError(
            f"the condition nests {depth} levels deep (at most {MAX_DEPTH}): "
            "use IN (...) for a long list of alternatives",
            1,
            1,
        )
    compiler = _Compiler(sql)
    try:
        typed = compiler.visit(tree)
    except RecursionError:
        raise ConditionError(
            f"the condition is nested too deeply (at most {MAX_DEPTH} levels)", 1, 1
        ) from None
    if typed.kind != BOOL:
        line, col = _position(sql, tree)
        raise ConditionError(f"the condition must be a boolean expression, not a {typed.kind}", line, col)
    return Condition(sql=sql, expr=typed.expr, columns=frozenset(compiler.columns))


def _statement_position(sql: str, count: int) -> tuple[int, int]:
    idx = sql.find(";")
    if idx < 0:
        return 1, 1
    return _offset_to_line_col(sql, idx)


def _offset_to_line_col(sql: str, offset: int) -> tuple[int, int]:
    before = sql[:offset]
    line = before.count("\n") + 1
    col = offset - (before.rfind("\n") + 1) + 1
    return line, col


def _position(sql: str, node: exp.Expression) -> tuple[int, int]:
    """Where a node starts in the SQL text (1-based line and column)."""
    starts = [n.meta["start"] for n in node.walk() if isinstance(n, exp.Expression) and "start" in n.meta]
    keyword = next((kw for cls, kw in _KEYWORDS.items() if isinstance(node, cls)), None)
    if not starts:
        # a node without position (a placeholder, a bare keyword): find its text
        needle = keyword or re.escape(node.sql())
        m = re.search(needle, sql, re.IGNORECASE)
        return _offset_to_line_col(sql, m.start()) if m else (1, 1)
    start = min(starts)
    if keyword is not None:
        # the keyword precedes its first child: point at the last one before it
        hits = list(re.finditer(keyword, sql[: start + 1], re.IGNORECASE))
        if hits:
            start = hits[-1].start()
    return _offset_to_line_col(sql, start)


_KEYWORDS: dict[type[exp.Expression], str] = {
    exp.Subquery: r"\bSELECT\b",
    exp.Select: r"\bSELECT\b",
    exp.Exists: r"\bEXISTS\b",
    exp.Case: r"\bCASE\b",
    exp.Window: r"\bOVER\b",
    exp.Cast: r"\bCAST\b",
    exp.Extract: r"\bEXTRACT\b",
}


class _Compiler:
    def __init__(self, sql: str) -> None:
        self.sql = sql
        self.columns: set[str] = set()

    def fail(self, node: exp.Expression, message: str) -> ConditionError:
        line, col = _position(self.sql, node)
        return ConditionError(message, line, col)

    # --- dispatch ----------------------------------------------------------------------------------

    def visit(self, node: exp.Expression) -> _Typed:
        if isinstance(node, exp.Paren):
            return self.visit(node.this)
        if isinstance(node, exp.Column):
            return self.column(node)
        if isinstance(node, exp.Literal):
            return self.literal(node)
        if isinstance(node, exp.Boolean):
            value = bool(node.this)
            return _Typed(pl.lit(value), BOOL, value, True)
        if isinstance(node, exp.Null):
            return _Typed(pl.lit(None), NULL, None, True)
        if isinstance(node, (exp.And, exp.Or)):
            left, right = self.boolean(node.this), self.boolean(node.expression)
            return _Typed(left & right if isinstance(node, exp.And) else left | right, BOOL)
        if isinstance(node, exp.Not):
            return _Typed(~self.boolean(node.this), BOOL)
        if type(node) in _COMPARE:
            return self.compare(node)
        if isinstance(node, exp.In):
            return self.in_list(node)
        if isinstance(node, exp.Between):
            return self.between(node)
        if isinstance(node, (exp.Like, exp.ILike)):
            return self.like(node)
        if isinstance(node, exp.Is):
            return self.is_(node)
        if type(node) in _ARITH:
            return self.arith(node)
        if isinstance(node, exp.Neg):
            inner = self.visit(node.this)
            self.expect(node.this, inner, NUM)
            return _Typed(-inner.expr, NUM)
        if isinstance(node, (exp.Func, exp.Cast)) and not isinstance(
            node, (exp.Subquery, exp.Select, exp.Exists, exp.Case, exp.Window)
        ):
            return self.function(node)
        raise self.fail(node, f"{_describe(node)} is not allowed in a policy condition ({_ALLOWED})")

    # --- leaves ------------------------------------------------------------------------------------

    def column(self, node: exp.Column) -> _Typed:
        if node.table:
            raise self.fail(node, f"qualified column {node.sql()!r}: use the bare column name")
        ident = node.this
        name = node.name
        if isinstance(ident, exp.Identifier) and ident.quoted and name.lower() not in COLUMN_KINDS:
            raise self.fail(
                node,
                f"unknown column \"{name}\" (double quotes name a column; write strings in single quotes: '{name}')",
            )
        key = name.lower()
        if key not in COLUMN_KINDS:
            hint = difflib.get_close_matches(key, list(COLUMN_KINDS), n=1)
            suffix = f" (did you mean '{hint[0]}'?)" if hint else ""
            raise self.fail(node, f"unknown column '{name}'{suffix}")
        self.columns.add(key)
        expr = DERIVED_COLUMNS[key][1] if key in DERIVED_COLUMNS else pl.col(key)
        return _Typed(expr, COLUMN_KINDS[key])

    def literal(self, node: exp.Literal) -> _Typed:
        if node.is_string:
            return _Typed(pl.lit(node.this), STR, node.this, True)
        text = node.this
        try:
            value: int | float = int(text)
        except ValueError:
            value = float(text)
        return _Typed(pl.lit(value), NUM, value, True)

    # --- operators ---------------------------------------------------------------------------------

    def boolean(self, node: exp.Expression) -> pl.Expr:
        typed = self.visit(node)
        self.expect(node, typed, BOOL)
        return typed.expr

    def expect(self, node: exp.Expression, typed: _Typed, *kinds: str) -> None:
        if typed.kind not in kinds and typed.kind != NULL:
            wanted = " or ".join(kinds)
            raise self.fail(node, f"expected a {wanted} here, got a {typed.kind} ({node.sql()})")

    def coerce(self, node: exp.Expression, typed: _Typed, kind: str) -> _Typed:
        """A literal made comparable with a column of `kind` (a date string against `ts`, ...)."""
        if typed.kind == kind or typed.kind == NULL:
            return typed
        if typed.is_literal and typed.kind == STR and kind in (TS, DATE):
            value = _parse_temporal(str(typed.literal), kind)
            if value is None:
                raise self.fail(node, f"{typed.literal!r} is not a {kind} (use ISO 8601: '2026-10-12')")
            return _Typed(pl.lit(value), kind, value, True)
        if typed.kind == DATE and kind == TS:
            return _Typed(typed.expr.cast(pl.Datetime("us", "UTC")), TS)
        if typed.kind == TS and kind == DATE:
            return _Typed(typed.expr.dt.date(), DATE)
        return typed

    def pair(self, node: exp.Expression, a: exp.Expression, b: exp.Expression) -> tuple[_Typed, _Typed]:
        left, right = self.visit(a), self.visit(b)
        if left.kind != NULL and right.kind != NULL:
            right = self.coerce(b, right, left.kind)
            left = self.coerce(a, left, right.kind)
            if left.kind != right.kind:
                raise self.fail(b, f"cannot compare a {left.kind} with a {right.kind} ({node.sql()})")
            if left.kind == LIST:
                raise self.fail(node, "a list column cannot be compared; use ARRAY_CONTAINS(tags, 'x')")
        return left, right

    def compare(self, node: exp.Expression) -> _Typed:
        left, right = self.pair(node, node.this, node.expression)
        if NULL in (left.kind, right.kind):
            raise self.fail(
                node.expression if right.kind == NULL else node.this,
                "a comparison with NULL is never true: use IS NULL / IS NOT NULL",
            )
        return _Typed(_COMPARE[type(node)](left.expr, right.expr), BOOL)

    def in_list(self, node: exp.In) -> _Typed:
        if node.args.get("query") is not None or node.args.get("unnest") is not None:
            raise self.fail(node.args.get("query") or node, f"a subquery is not allowed ({_ALLOWED})")
        items = node.expressions
        if not items:
            raise self.fail(node, "IN needs at least one value")
        target = self.visit(node.this)
        values = []
        for item in items:
            typed = self.visit(item)
            if not typed.is_literal:
                raise self.fail(item, "IN (...) takes literal values only")
            if typed.kind == NULL:
                raise self.fail(item, "NULL in an IN list never matches: use IS NULL")
            typed = self.coerce(item, typed, target.kind)
            if typed.kind != target.kind:
                raise self.fail(item, f"cannot compare a {target.kind} with a {typed.kind} ({item.sql()})")
            values.append(typed.literal)
        return _Typed(target.expr.is_in(values), BOOL)

    def between(self, node: exp.Between) -> _Typed:
        low, value = self.pair(node, node.args["low"], node.this)
        high, value = self.pair(node, node.args["high"], node.this)
        if NULL in (low.kind, high.kind, value.kind):
            raise self.fail(node, "BETWEEN with NULL is never true")
        return _Typed((value.expr >= low.expr) & (value.expr <= high.expr), BOOL)

    def like(self, node: exp.Like | exp.ILike) -> _Typed:
        subject = self.visit(node.this)
        self.expect(node.this, subject, STR)
        pattern = self.visit(node.expression)
        if not (pattern.is_literal and pattern.kind == STR):
            raise self.fail(node.expression, "the LIKE pattern must be a string literal")
        flags = "(?is)" if isinstance(node, exp.ILike) else "(?s)"
        regex = flags + "^" + "".join(_like_char(c) for c in str(pattern.literal)) + "$"
        result = _text(subject.expr).str.contains(regex)
        return _Typed(~result if node.args.get("negate") else result, BOOL)

    def is_(self, node: exp.Is) -> _Typed:
        subject = self.visit(node.this)
        other = node.expression
        if isinstance(other, exp.Null):
            return _Typed(subject.expr.is_null(), BOOL)
        if isinstance(other, exp.Boolean):
            self.expect(node.this, subject, BOOL)
            return _Typed(subject.expr.fill_null(not bool(other.this)) == bool(other.this), BOOL)
        raise self.fail(other, "IS takes NULL, TRUE or FALSE")

    def arith(self, node: exp.Expression) -> _Typed:
        left, right = self.visit(node.this), self.visit(node.expression)
        self.expect(node.this, left, NUM)
        self.expect(node.expression, right, NUM)
        return _Typed(_ARITH[type(node)](left.expr, right.expr), NUM)

    # --- functions ---------------------------------------------------------------------------------

    def function(self, node: exp.Expression) -> _Typed:
        if isinstance(node, (exp.Lower, exp.Upper)):
            arg = self.visit(node.this)
            self.expect(node.this, arg, STR)
            text = _text(arg.expr)
            out = text.str.to_lowercase() if isinstance(node, exp.Lower) else text.str.to_uppercase()
            return _Typed(out, STR)
        if isinstance(node, exp.Length):
            arg = self.visit(node.this)
            self.expect(node.this, arg, STR)
            return _Typed(_text(arg.expr).str.len_chars(), NUM)
        if isinstance(node, exp.Abs):
            arg = self.visit(node.this)
            self.expect(node.this, arg, NUM)
            return _Typed(arg.expr.abs(), NUM)
        if isinstance(node, exp.Coalesce):
            args = [self.visit(a) for a in [node.this, *node.expressions]]
            kinds = {a.kind for a in args} - {NULL}
            if len(kinds) > 1:
                raise self.fail(
                    node, f"COALESCE arguments must have one type, got {', '.join(sorted(kinds))}"
                )
            kind = kinds.pop() if kinds else NULL
            args = [
                self.coerce(a_node, a, kind)
                for a_node, a in zip([node.this, *node.expressions], args, strict=True)
            ]
            return _Typed(pl.coalesce([a.expr for a in args]), kind)
        if isinstance(node, exp.Hour):
            return _Typed(self.timestamp_arg(node, node.this).dt.hour(), NUM)
        if isinstance(node, exp.DayOfWeekIso):
            return _Typed(self.timestamp_arg(node, node.this).dt.weekday(), NUM)
        if isinstance(node, exp.DayOfWeek):
            raise self.fail(
                node,
                "DAYOFWEEK numbers days differently across engines: use ISODOW(ts) (1 = Monday .. 7 = Sunday)",
            )
        if isinstance(node, exp.Extract):
            unit = node.this.name.upper() if isinstance(node.this, (exp.Var, exp.Identifier)) else ""
            if unit not in _EXTRACT:
                raise self.fail(
                    node,
                    f"EXTRACT({unit or node.this.sql()} ...) is not supported; use one of {', '.join(_EXTRACT)}",
                )
            return _Typed(_EXTRACT[unit](self.timestamp_arg(node, node.expression)), NUM)
        if isinstance(node, exp.ArrayContains):
            arg = self.visit(node.this)
            self.expect(node.this, arg, LIST)
            value = self.visit(node.expression)
            if not (value.is_literal and value.kind == STR):
                raise self.fail(node.expression, "ARRAY_CONTAINS takes a string literal")
            return _Typed(arg.expr.list.contains(pl.lit(value.literal)), BOOL)
        if isinstance(node, exp.Cast):
            return self.cast(node)
        name = node.sql_name() if isinstance(node, exp.Func) else type(node).__name__
        if isinstance(node, exp.Anonymous):
            name = str(node.this).upper()
        raise self.fail(node, f"function {name} is not allowed; allowed: {', '.join(FUNCTIONS)}")

    def timestamp_arg(self, node: exp.Expression, arg: exp.Expression | None) -> pl.Expr:
        if arg is None:
            raise self.fail(node, "missing argument")
        typed = self.visit(arg)
        self.expect(arg, typed, TS, DATE)
        return typed.expr

    def cast(self, node: exp.Cast) -> _Typed:
        to = node.to.this if isinstance(node.to, exp.DataType) else None
        inner = self.visit(node.this)
        if to == exp.DataType.Type.DATE:
            if inner.kind == TS:
                return _Typed(inner.expr.dt.date(), DATE)
            if inner.kind in (DATE, NULL) or (inner.is_literal and inner.kind == STR):
                return self.coerce(node.this, inner, DATE)
            raise self.fail(
                node, f"CAST(... AS DATE) takes a timestamp, a date or a date literal, not a {inner.kind}"
            )
        if to in (exp.DataType.Type.TIMESTAMP, exp.DataType.Type.TIMESTAMPTZ) and inner.is_literal:
            return self.coerce(node.this, inner, TS)
        raise self.fail(
            node,
            f"CAST to {node.to.sql()} is not supported (only CAST(ts AS DATE) and date/timestamp literals)",
        )


_ALLOWED = (
    "allowed: columns, literals, comparisons, AND/OR/NOT, IN (...), BETWEEN, LIKE/ILIKE, "
    "IS [NOT] NULL, + - * / %, and the functions " + ", ".join(FUNCTIONS)
)


def _describe(node: exp.Expression) -> str:
    names = {
        exp.Subquery: "a subquery",
        exp.Select: "a subquery",
        exp.Exists: "EXISTS",
        exp.Case: "CASE",
        exp.Placeholder: "a placeholder",
        exp.Parameter: "a parameter",
        exp.Star: "*",
        exp.Window: "a window function",
    }
    for cls, text in names.items():
        if isinstance(node, cls):
            return text
    return f"{type(node).__name__} ({node.sql()[:40]})"


def _text(expr: pl.Expr) -> pl.Expr:
    """A string expression for the `str` namespace (the replay engine keeps low-cardinality columns categorical)."""
    return expr.cast(pl.String)


def _like_char(c: str) -> str:
    if c == "%":
        return ".*"
    if c == "_":
        return "."
    return re.escape(c)


def _parse_temporal(text: str, kind: str) -> date | datetime | None:
    try:
        if kind == DATE:
            return date.fromisoformat(text.strip())
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
