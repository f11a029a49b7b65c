"""Plain-text rendering for the terminal: aligned tables and money, nothing else.

Kept dependency-free (no rich/tabulate): the output is data that cron mails and people paste
into chat, so it must be stable, narrow and readable without colour.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import polars as pl


def money(value: float | None, unpriced: bool = False) -> str:
    """`$1,234.56`; below $1, 4 decimals (`<$0.0001` below that); None is unpriced, never $0."""
    if value is None:
        return "unpriced" if unpriced else "-"
    sign = "-" if value < 0 else ""
    amount = abs(value)
    if 0 < amount < 0.00005:  # would print as $0.0000: say it is not nothing
        return f"{sign}<$0.0001"
    if amount < 1 and amount != 0:
        return f"{sign}${_decimal(amount, '0.0001'):,}"
    return f"{sign}${_decimal(amount, '0.01'):,}"


def _decimal(amount: float, step: str) -> Decimal:
    """`amount` rounded half up to `step` as a decimal: the sum of the same costs in another
    order differs in its last bits, and must not turn $0.03375 into $0.0337 one day and $0.0338
    the next. 12 significant digits are kept first (more than any price has; the order of a sum
    moves the 16th), and always the cents and two digits past them."""
    digits = max(12, len(str(int(amount))) + 4)
    return Decimal(f"{amount:.{digits}g}").quantize(Decimal(step), rounding=ROUND_HALF_UP)


def count(value: int | float | None) -> str:
    return "-" if value is None else f"{int(value):,}"


def tokens(value: int | float | None) -> str:
    """Token counts as ccusage shows them: exact, with thousands separators."""
    return count(value)


def money_range(low: float | None, high: float | None) -> str:
    """`$10.77-$21.54`; one figure when both ends print the same (`$6.58`, not `$6.58-$6.58`)."""
    lo, hi = money(low), money(high)
    return lo if lo == hi else f"{lo}-{hi}"


def pct(value: float | None) -> str:
    """`+12.5%`; a change that rounds to nothing is `0.0%`, never `-0.0%`."""
    if value is None:
        return "-"
    return "0.0%" if round(value, 1) == 0 else f"{value:+.1f}%"


WIDTH: int | None = None
"""Text tables are fitted to this many columns: the widest text column is shortened with `…`.
None (the library's default, and `--wide`): every cell whole. The command line sets it to the
terminal's width for each command."""


def table(rows: Sequence[Sequence[Any]], headers: Sequence[str], align: str | None = None) -> str:
    """A text table; `align` is one char per column, 'l' or 'r' (default: numbers right)."""
    cells = [[str(c) for c in headers]] + [["" if c is None else str(c) for c in r] for r in rows]
    if align is None:
        align = "".join(
            "r" if rows and all(_numeric(str(r[i])) for r in rows if r[i] not in (None, "")) else "l"
            for i in range(len(headers))
        )
    widths = _fitted([max(len(row[i]) for row in cells) for i in range(len(headers))], align, WIDTH)
    out = []
    for n, row in enumerate(cells):
        line = "  ".join(
            _cut(c, w).rjust(w) if a == "r" else _cut(c, w).ljust(w)
            for c, w, a in zip(row, widths, align, strict=True)
        )
        out.append(line.rstrip())
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def _fitted(widths: list[int], align: str, limit: int | None, floor: int = 12) -> list[int]:
    """Column widths that fit `limit`: the widest text columns give way first, down to the next
    widest, and none below `floor` (numbers are never cut)."""
    widths = list(widths)
    while limit is not None:
        over = sum(widths) + 2 * (len(widths) - 1) - limit
        text = [i for i, a in enumerate(align) if a == "l" and widths[i] > floor]
        if over <= 0 or not text:
            break
        top = max(widths[i] for i in text)
        tops = [i for i in text if widths[i] == top]
        below = max([widths[i] for i in text if widths[i] < top] + [floor])
        cut = min(top - below, -(-over // len(tops)))
        for i in tops:
            widths[i] -= cut
    return widths


def _cut(cell: str, width: int) -> str:
    return cell if len(cell) <= width else cell[: width - 1] + "…"


def _numeric(s: str) -> bool:
    t = s.replace("$", "").replace(",", "").replace("%", "").replace("+", "").replace("-", "", 1)
    return t.replace(".", "", 1).isdigit() or s in ("-", "unpriced")


def frame_table(df: pl.DataFrame, money_cols: Sequence[str] = (), count_cols: Sequence[str] = ()) -> str:
    """Render a small DataFrame with money/count formatting for the named columns."""
    rows = []
    for rec in df.iter_rows(named=True):
        rows.append(
            [
                money(v) if k in money_cols else count(v) if k in count_cols else ("" if v is None else v)
                for k, v in rec.items()
            ]
        )
    return table(rows, df.columns)


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub-flavoured Markdown table (pipes in cells escaped); `_none_` when there are no rows."""
    if not rows:
        return "_none_"
    esc = [[str(c).replace("|", "\\|") for c in row] for row in rows]
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    out += ["| " + " | ".join(row) + " |" for row in esc]
    return "\n".join(out)


def frame_markdown(df: pl.DataFrame, money_cols: Sequence[str] = (), count_cols: Sequence[str] = ()) -> str:
    """`frame_table` as a Markdown table."""
    rows = [
        [
            money(v) if k in money_cols else count(v) if k in count_cols else ("" if v is None else v)
            for k, v in r.items()
        ]
        for r in df.iter_rows(named=True)
    ]
    return markdown_table(df.columns, rows)


def render_frame(
    df: pl.DataFrame, fmt: str, money_cols: Sequence[str] = (), count_cols: Sequence[str] = ()
) -> str:
    """A frame in one of the output formats: table, markdown, csv or json (records)."""
    import json

    if fmt == "csv":
        return str(df.write_csv())
    if fmt == "json":
        return json.dumps(df.to_dicts(), indent=2, default=str)
    if fmt == "markdown":
        return frame_markdown(df, money_cols, count_cols)
    return frame_table(df, money_cols, count_cols)
