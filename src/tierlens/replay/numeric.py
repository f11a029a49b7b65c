"""Deterministic float aggregation: the same seed must give the same figures, to the last bit.

A parallel group-by sums each group's floats in an order that depends on how rows were split
across threads, so two runs can differ in the last bits (and a P10 equal to a P90 in one run may
not be in the next). Sorting a group's values before summing fixes the order; the groups summed
here are small (components and draws, never raw requests). Integer sums need none of this.
"""

from __future__ import annotations

import polars as pl


def fsum(expr: pl.Expr) -> pl.Expr:
    """The sum of a float expression, in a fixed (sorted) order."""
    return expr.sort().sum()


def fmean(expr: pl.Expr) -> pl.Expr:
    return expr.sort().mean()


def fstd(expr: pl.Expr) -> pl.Expr:
    return expr.sort().std()
