"""Send a trial's requests to the candidate models, within a budget, and score the answers.

Each request goes unchanged but for its model (the policy's target; a cascade's first model)
through the official SDK of the API its body is written for (the `[trial]` extra): `anthropic` for
Messages bodies (`ANTHROPIC_API_KEY`, `ANTHROPIC_BASE_URL`), `openai` for Chat Completions bodies
(`OPENAI_API_KEY`, `OPENAI_BASE_URL`: OpenAI, or any OpenAI-compatible endpoint such as a LiteLLM
proxy, which serves every provider's models in that format). Both read the key from the
environment only and retry 408/409/429/5xx with backoff, honouring `retry-after`. Before a request is sent its worst case is reserved against `--max-usd`: every
prompt token at the dearest prompt rate (a 1-hour cache write), scaled by the tokenizer ratio's
P90 when the target tokenizes differently, and `max_tokens` of output; a request whose worst case
does not fit is not sent, so the spend never passes the budget.

Agreement with the logged answer:
- a tool call: 1 when the tool and its arguments are the same; else the share of argument fields
  (the union of both calls' keys) with equal values, 0 for another tool or no tool call;
- text: `difflib.SequenceMatcher` ratio over the two answers' words (2 x matches / total words):
  1 for the same words in the same order, falling with every word added, dropped or moved.

With a judge (`--judge MODEL`), the judge model also grades each pair against `judge.RUBRIC`
(1..5); its requests are reserved against the budget like the trial's own (`judge.py`).
"""

from __future__ import annotations

import difflib
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import polars as pl

from tierlens.errors import TierlensError
from tierlens.pricing import PriceTable, price_requests
from tierlens.pricing.models import with_model_ids
from tierlens.replay.assumptions import DEFAULT_TOKENIZER_RATIOS, DEFAULT_UNKNOWN_TOKENIZER_RATIO
from tierlens.replay.plan import tokenizer_of
from tierlens.trial.answer import ANSWERS, Answer
from tierlens.trial.cases import Case
from tierlens.trial.judge import Judge
from tierlens.trial.sample import Move
from tierlens.trial.senders import UNCAPPED_OUTPUT, Senders, prepared


def agreement(logged: Answer, tried: Answer) -> tuple[float, bool | None]:
    """(agreement 0..1, same tool call exactly; None for text answers): see the module docstring."""
    if logged.tool is not None:
        if tried.tool is None or tried.tool[0] != logged.tool[0]:
            return 0.0, False
        a, b = logged.tool[1], tried.tool[1]
        if a == b:
            return 1.0, True
        keys = set(a) | set(b)
        return (sum(a.get(k) == b.get(k) for k in keys) / len(keys) if keys else 1.0), False
    words = difflib.SequenceMatcher(None, logged.text.split(), tried.text.split(), autojunk=False)
    return words.ratio(), None


def _row(model: str, usage: dict[str, Any], tier: str | None) -> dict[str, Any]:
    """One answer's usage as a canonical row (the Messages API's usage fields, as the reader maps
    them; an answer of the Chat Completions API is read into the same names)."""
    created = usage.get("cache_creation") or {}
    w1h = int(created.get("ephemeral_1h_input_tokens") or 0)
    w_all = int(usage.get("cache_creation_input_tokens") or 0)
    return {
        "model": model,
        "service_tier": tier or "standard",
        "inference_geo": usage.get("inference_geo"),
        "input_tokens": int(usage.get("input_tokens") or 0),
        "cache_read_tokens": int(usage.get("cache_read_input_tokens") or 0),
        "cache_write_5m_tokens": w_all - w1h,
        "cache_write_1h_tokens": w1h,
        "output_tokens": int(usage.get("output_tokens") or 0),
        "web_search_requests": int((usage.get("server_tool_use") or {}).get("web_search_requests") or 0),
    }


def price_all(table: PriceTable, rows: Sequence[dict[str, Any]]) -> list[float | None]:
    """What tierlens charges for each canonical row of `_row`, today (None: its model has no price)."""
    if not rows:
        return []
    frame = with_model_ids(pl.DataFrame(list(rows)), table.aliases).with_columns(
        ts=pl.lit(datetime.now(UTC)),
        provider=pl.col("model_id").replace_strict(
            providers(table), default="anthropic", return_dtype=pl.String
        ),
    )
    priced = price_requests(frame, table)
    return [float(c) if ok else None for c, ok in zip(priced["cost_usd"], priced["priced"], strict=True)]


def providers(table: PriceTable) -> dict[str, str]:
    """model id -> its provider in the price table (what prices a target's answer)."""
    return dict(table.rows.select("model_id", "provider").unique("model_id").iter_rows())


def price(table: PriceTable, model: str, usage: dict[str, Any], tier: str | None = None) -> float | None:
    """What tierlens charges for one answer's usage on `model` (None: the model has no price)."""
    return price_all(table, [_row(model, usage, tier)])[0]


def worst_cases(table: PriceTable, plan: Sequence[tuple[Case, Move]]) -> list[float | None]:
    """The most sending each (case, move) of `plan` can cost (the module docstring says how), priced
    in one pass: every prompt token at the dearer of a 1-hour cache write and plain input (a model
    with no cache-write rate, such as OpenAI's, charges input)."""
    models = {m for c, mv in plan for m in (c.model, mv.target)}
    ids = dict(
        with_model_ids(pl.DataFrame({"model": sorted(models)}, schema={"model": pl.String}), table.aliases)
        .select("model", "model_id")
        .iter_rows()
    )
    tok = tokenizer_of(table)
    rows = []
    for case, move in plan:
        source, dest = tok.get(str(ids[case.model])), tok.get(str(ids[move.target]))
        ratio = DEFAULT_TOKENIZER_RATIOS.get((source or "", dest or ""), DEFAULT_UNKNOWN_TOKENIZER_RATIO)
        prompt = int(case.prompt_tokens * (1.0 if source == dest else ratio.ppf(0.9))) + 1
        out = case.output_cap or UNCAPPED_OUTPUT
        written = {
            "cache_creation_input_tokens": prompt,
            "cache_creation": {"ephemeral_1h_input_tokens": prompt},
        }
        rows += [_row(move.target, written | {"output_tokens": out}, None)]
        rows += [_row(move.target, {"input_tokens": prompt, "output_tokens": out}, None)]
    costs = price_all(table, rows)
    pairs = zip(costs[::2], costs[1::2], strict=True)
    return [max((c for c in pair if c is not None), default=None) for pair in pairs]


@dataclass
class Tried:
    """One request sent: what came back, priced and scored (no text)."""

    case: Case
    move: Move
    answer: Answer | None
    cost_usd: float | None
    latency_ms: float
    agreement: float | None
    exact_tool: bool | None
    error: str | None = None
    judge_score: int | None = None  # 1..5, from the judge model when there is one
    judge_cost_usd: float | None = None
    judge_note: str | None = None  # why a request a judge was asked to grade has no score


class Budget:
    """Spend so far plus the worst cases reserved for requests in flight, never above `limit`."""

    def __init__(self, limit: float) -> None:
        self.limit, self.spent, self.reserved = limit, 0.0, 0.0
        self._lock = threading.Lock()

    def reserve(self, worst: float) -> bool:
        with self._lock:
            if self.spent + self.reserved + worst > self.limit:
                return False
            self.reserved += worst
            return True

    def settle(self, worst: float, actual: float) -> None:
        with self._lock:
            self.reserved -= worst
            self.spent += actual


def _judged(senders: Senders, table: PriceTable, budget: Budget, judge: Judge, t: Tried) -> Tried:
    """`t` with the judge's score of its answer (and the judge's cost), within the budget."""
    assert t.answer is not None
    body = judge.body(t.case.body, t.case.logged, t.answer)
    worst = price(table, judge.model, judge.worst_usage(body))
    if worst is None:
        return replace(t, judge_note=f"{judge.model} has no price")
    if not budget.reserve(worst):
        return replace(t, judge_note="not judged: its worst case would pass the budget")
    try:
        score, got = judge.read(senders(judge.api)(body))
    except TierlensError:
        budget.settle(worst, 0.0)
        raise
    except Exception as exc:  # a failed judgment leaves the answer unjudged; the trial goes on
        budget.settle(worst, 0.0)
        return replace(t, judge_note=type(exc).__name__)
    cost = price(table, judge.model, got.usage) or 0.0
    budget.settle(worst, cost)
    note = None if score is not None else "no score in the judge's reply"
    return replace(t, judge_score=score, judge_cost_usd=cost, judge_note=note)


def _one(
    senders: Senders,
    table: PriceTable,
    budget: Budget,
    case: Case,
    move: Move,
    worst: float | None,
    judge: Judge | None = None,
) -> Tried | None:
    if worst is None:
        return Tried(case, move, None, None, 0.0, None, None, f"{move.target} has no price")
    if not budget.reserve(worst):
        return None  # not sent: it might pass the budget
    started = time.perf_counter()
    try:
        got = ANSWERS[case.api](
            senders(case.api)(prepared(case.api, case.body, move.target, case.output_cap))
        )
    except TierlensError:  # the key is refused: every other request would be refused too
        budget.settle(worst, 0.0)
        raise
    except Exception as exc:  # a failed request is a row of the trial, not a crash
        budget.settle(worst, 0.0)
        return Tried(case, move, None, None, 0.0, None, None, type(exc).__name__)
    latency = 1000 * (time.perf_counter() - started)
    cost = price(table, move.target, got.usage) or 0.0
    budget.settle(worst, cost)
    score, exact = agreement(case.logged, got)
    tried = Tried(case, move, got, cost, latency, score, exact)
    return _judged(senders, table, budget, judge, tried) if judge is not None else tried


def send_all(
    plan: Sequence[tuple[Case, Move]],
    senders: Senders,
    table: PriceTable,
    max_usd: float,
    concurrency: int = 4,
    on_result: Callable[[Tried], None] | None = None,
    judge: Judge | None = None,
) -> tuple[list[Tried], int]:
    """Send `plan` within `max_usd` (a judge's requests included); (what was tried, how many were
    left unsent by the budget). `on_result` is called with each result as it comes back, on this
    thread (to record it)."""
    budget = Budget(max_usd)
    tried, not_sent = [], 0
    with ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="tierlens-trial") as pool:
        worst = worst_cases(table, plan)
        futures = [
            pool.submit(_one, senders, table, budget, case, move, w, judge)
            for (case, move), w in zip(plan, worst, strict=True)
        ]
        for future in as_completed(futures):
            t = future.result()
            if t is None:
                not_sent += 1
                continue
            tried.append(t)
            if on_result is not None:
                on_result(t)
    order = {id(case): i for i, (case, _) in enumerate(plan)}
    return sorted(tried, key=lambda t: order[id(t.case)]), not_sent
