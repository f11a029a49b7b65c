"""Replay policies: the `when` SQL subset, policy files and their errors, assumptions and draws."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import REPO
from tierlens.pricing import PriceTable
from tierlens.replay import (
    AssumptionError,
    ConditionError,
    Dist,
    PolicyError,
    compile_condition,
    load_policies,
    parse_assume,
    parse_policy,
)
from tierlens.replay.assumptions import Param, build_assumptions, draw_values, quantile

TABLE = PriceTable.load()


def frame() -> pl.DataFrame:
    ts = [datetime(2026, 10, d, h, tzinfo=UTC) for d, h in ((10, 2), (11, 14), (12, 3), (13, 23))]
    return pl.DataFrame(
        {
            "ts": ts,
            "feature": ["support-chat", "code-review", None, "a.b_c%"],
            "tier": ["sonnet", "opus", "haiku", "opus"],
            "model_id": ["claude-sonnet-4-5", "claude-opus-4-6", "claude-haiku-4-5", "claude-opus-4-6"],
            "output_tokens": [300, 20, None, 5000],
            "input_tokens": [1000, 600, 50, 250_000],
            "cache_read_tokens": [4096, 0, 0, 0],
            "cache_write_5m_tokens": [0, 0, 0, 0],
            "cache_write_1h_tokens": [0, 0, 0, 1],
            "structured_output": [False, True, None, True],
            "tags": [["team:support"], ["team:eng", "env:prod"], [], None],
        }
    ).with_columns(date=pl.col("ts").dt.date())


def matches(sql: str) -> list[int]:
    c = compile_condition(sql)
    return frame().with_row_index("i").filter(c.expr.fill_null(False))["i"].to_list()


# --- the condition language ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("TRUE", [0, 1, 2, 3]),
        ("structured_output AND output_tokens <= 100", [1]),
        ("tier IN ('opus', 'sonnet') AND NOT structured_output", [0]),
        ("feature = 'support-chat' OR feature IS NULL", [0, 2]),
        ("feature <> 'support-chat'", [1, 3]),  # NULL <> 'x' is NULL: not a match
        ("NOT (feature = 'support-chat')", [1, 3]),
        ("feature NOT IN ('code-review')", [0, 3]),
        ("output_tokens BETWEEN 20 AND 300", [0, 1]),
        ("output_tokens NOT BETWEEN 20 AND 300", [3]),
        ("feature LIKE 'code%'", [1]),
        ("feature LIKE 'a.b\\_c%%'", []),  # no escapes: backslash is a literal character
        ("feature LIKE 'a.b_c_'", [3]),  # '.' is literal, '_' is one character
        ("feature LIKE 'a_b%'", [3]),
        ("feature ILIKE 'SUPPORT-%'", [0]),
        ("LOWER(tier) = 'opus' AND LENGTH(feature) > 6", [1]),
        ("COALESCE(feature, 'none') = 'none'", [2]),
        ("prompt_tokens > 200000", [3]),
        ("input_tokens + cache_read_tokens >= 5000", [0, 3]),
        ("output_tokens % 2 = 0 AND output_tokens / 10 > 2", [0, 3]),
        ("-output_tokens < -1000", [3]),
        ("HOUR(ts) BETWEEN 1 AND 4", [0, 2]),
        ("EXTRACT(HOUR FROM ts) >= 14", [1, 3]),
        ("ISODOW(ts) = 6", [0]),  # 2026-10-10 is a Saturday
        ("EXTRACT(DOW FROM ts) = 0", [1]),  # Sunday is 0
        ("ts >= '2026-10-12' AND ts < '2026-10-13T00:00:00Z'", [2]),
        ("date = DATE '2026-10-13'", [3]),
        ("CAST(ts AS DATE) < '2026-10-11'", [0]),
        ("ARRAY_CONTAINS(tags, 'env:prod')", [1]),
        ("structured_output IS TRUE", [1, 3]),
        ("structured_output IS FALSE", [0]),  # NULL IS FALSE is false
        ("ABS(output_tokens - 300) < 1", [0]),
    ],
)
def test_conditions_compile_to_vectorized_sql_semantics(sql: str, expected: list[int]) -> None:
    assert matches(sql) == expected


def test_condition_reports_the_columns_it_reads() -> None:
    c = compile_condition("structured_output AND prompt_tokens < 10 AND HOUR(ts) = 1")
    assert c.columns == {"structured_output", "prompt_tokens", "ts"}


@pytest.mark.parametrize(
    ("sql", "line", "col", "message"),
    [
        ("featur = 'x'", 1, 1, "unknown column 'featur' (did you mean 'feature'?)"),
        ("feature = 'a'\n  AND outptu_tokens > 3", 2, 7, "did you mean 'output_tokens'"),
        ('feature = "x"', 1, 11, "single quotes"),
        ("(SELECT 1) = 1", 1, 2, "a subquery is not allowed"),
        ("feature IN (SELECT feature FROM t)", 1, 13, "a subquery is not allowed"),
        ("EXISTS (SELECT 1)", 1, 1, "EXISTS is not allowed"),
        ("feature = 'a' AND\n  sleep(10) > 1", 2, 3, "function SLEEP is not allowed"),
        ("CASE WHEN TRUE THEN 1 END = 1", 1, 1, "CASE is not allowed"),
        ("output_tokens = :limit", 1, 17, "a placeholder is not allowed"),
        ("1 = 1; DROP TABLE requests", 1, 6, "exactly one expression"),
        ("feature = 'a' OR", 1, 16, "not a valid SQL expression"),
        ("output_tokens = 'many'", 1, 17, "cannot compare a number with a string"),
        ("output_tokens", 1, 1, "must be a boolean expression"),
        ("feature = NULL", 1, 11, "use IS NULL"),
        ("ts > 'yesterday'", 1, 6, "is not a timestamp"),
        ("DAYOFWEEK(ts) = 1", 1, 1, "ISODOW"),
        ("tags = 'x'", 1, 8, "cannot compare a list with a string"),
        ("feature LIKE tier", 1, 14, "pattern must be a string literal"),
        ("CAST(output_tokens AS INT) = 1", 1, 1, "CAST to INT is not supported"),
        ("SUM(output_tokens) OVER () > 1", 1, 1, "a window function is not allowed"),
        ("t.feature = 'x'", 1, 1, "qualified column"),
        ("", 1, 1, "empty"),
        ("CAST(feature AS DATE) = '2026-10-01'", 1, 1, "not a string"),
        (" OR ".join(["feature = 'a'"] * 800), 1, 1, "use IN (...)"),
        ("(" * 2000 + "TRUE" + ")" * 2000, 1, 1, "nested too deeply"),
        ("feature = '" + "x" * 30_000 + "'", 1, 1, "characters long"),
    ],
    ids=lambda v: v[:40] if isinstance(v, str) else None,
)
def test_invalid_conditions_say_what_and_where(sql: str, line: int, col: int, message: str) -> None:
    with pytest.raises(ConditionError) as err:
        compile_condition(sql)
    assert (err.value.line, err.value.col) == (line, col)
    assert message in err.value.message


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=60))
def test_any_text_compiles_or_fails_cleanly(text: str) -> None:
    """Garbage never crashes the compiler: it is a Condition or a ConditionError with a position."""
    try:
        compile_condition(text)
    except ConditionError as exc:
        assert exc.line >= 1 and exc.col >= 1 and exc.message


# --- policy files --------------------------------------------------------------------------------


def write(tmp_path: Path, text: str, name: str = "p.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def error_of(tmp_path: Path, text: str) -> PolicyError:
    path = write(tmp_path, text)
    with pytest.raises(PolicyError) as err:
        load_policies([path], TABLE)
    return err.value


def test_unknown_column_in_a_multiline_when_points_into_the_file(tmp_path: Path) -> None:
    text = (
        '# header\nname = "x"\n\n[[rules]]\nname = "first"\nwhen = "TRUE"\nservice_tier = "batch"\n\n'
        '[[rules]]\nname = "second"\nwhen = """\nstructured_output\nAND  outptu_tokens <= 100\n"""\n'
        'route_to = "claude-haiku-4-5"\n'
    )
    e = error_of(tmp_path, text)
    assert (e.line, e.col) == (13, 6)
    assert str(e).startswith(f"{tmp_path / 'p.toml'}:13:6: rule 2 ('second'): unknown column 'outptu_tokens'")
    assert text.splitlines()[12][5:].startswith("outptu_tokens")


def test_unsafe_construct_on_a_single_line_when(tmp_path: Path) -> None:
    e = error_of(
        tmp_path, '[[rules]]\nwhen = "feature IN (SELECT f FROM t)"\nroute_to = "claude-haiku-4-5"\n'
    )
    assert (e.line, e.col) == (2, 21)
    assert "subquery" in str(e)


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("[[rules]\nwhen = 'TRUE'\n", 1, "TOML syntax error"),
        ('name = "x"\nrulez = []\n', 2, "unknown key 'rulez' (did you mean 'rules'?)"),
        ("[[rules]]\nwhen = 'TRUE'\nroute = 'claude-haiku-4-5'\n", 3, "did you mean 'route_to'?"),
        ("[[rules]]\nwhen = 'TRUE'\nroute_to = 'claude-haiku-9'\n", 3, "unknown model 'claude-haiku-9'"),
        (
            "[[rules]]\nwhen = 'TRUE'\nroute_to = 'claude-haiku-4-5'\ncascade = ['a', 'b']\n",
            4,
            "either route_to or cascade",
        ),
        (
            "[[rules]]\nwhen = 'TRUE'\nroute_to = 'claude-haiku-4-5'\nescalation_rate = 0.2\n",
            4,
            "only applies to a cascade",
        ),
        ("[[rules]]\nwhen = 'TRUE'\nservice_tier = 'priority'\n", 3, "no public per-token price"),
        ("[[rules]]\nwhen = 'TRUE'\ncascade = ['claude-haiku-4-5']\n", 3, "a list of two model ids"),
        ("[[rules]]\nwhen = 'TRUE'\n", 1, "needs an action"),
        ("[[rules]]\nroute_to = 'claude-haiku-4-5'\n", 1, "needs a `when`"),
        ("[assumptions]\ncache = 'lukewarm'\n", 2, "assumptions.cache must be one of auto, kept, cold"),
        ("[assumptions]\noutput_ratios = 0.9\n", 2, "did you mean 'output_ratio'?"),
        ("[assumptions]\noutput_ratio = { median = 1.0, sigmaa = 0.1 }\n", 2, "did you mean 'sigma'?"),
        ("[assumptions]\nescalation_rate = { low = 0.5, high = 1.5 }\n", 2, "must lie in [0, 1]"),
    ],
)
def test_policy_file_errors_name_the_line(tmp_path: Path, text: str, line: int, message: str) -> None:
    e = error_of(tmp_path, text)
    assert e.line == line, str(e)
    assert message in str(e)
    assert str(e).startswith(f"{tmp_path / 'p.toml'}:{line}")


def test_route_targets_are_normalized_price_table_ids(tmp_path: Path) -> None:
    path = write(
        tmp_path, "[[rules]]\nwhen = 'TRUE'\nroute_to = 'us.anthropic.claude-haiku-4-5-20251001-v1:0'\n"
    )
    (policy,) = load_policies([path], TABLE)
    assert policy.rules[0].route_to == "claude-haiku-4-5"
    assert policy.name == "p"  # the file name when the policy has none


def test_policy_names_must_be_unique_and_paths_must_exist(tmp_path: Path) -> None:
    a = write(tmp_path, 'name = "same"\n', "a.toml")
    b = write(tmp_path, 'name = "same"\n', "b.toml")
    with pytest.raises(PolicyError, match="two policies are named 'same'"):
        load_policies([a, b], TABLE)
    with pytest.raises(PolicyError, match="no such policy file"):
        load_policies([tmp_path / "missing.toml"], TABLE)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(PolicyError, match=r"no \*\.toml policy files"):
        load_policies([empty], TABLE)


def test_shipped_policies_load_and_say_what_they_assume() -> None:
    policies = load_policies([REPO / "policies"], TABLE)
    names = {p.name for p in policies}
    assert names == {
        "short-structured-to-haiku",
        "opus-to-sonnet",
        "batch-for-async-features",
        "cascade-haiku-sonnet",
        "sonnet-to-sonnet-5",
    }
    for p in policies:
        assert "Assumes" in p.header and p.description and p.rules, p.name
        assert p.header.startswith(p.name + ":"), p.name


# --- assumptions ---------------------------------------------------------------------------------


def test_assumption_layers_record_where_each_value_came_from() -> None:
    a = build_assumptions(
        [
            ({"output_ratio": {"median": 0.9, "sigma": 0.1}, "cache": "kept"}, "policy file"),
            (parse_assume(["cache=cold", 'tokenizer_ratio."claude-v1 -> claude-v2"=1.25']), "--assume"),
        ]
    )
    assert a.output_ratio == Dist.lognormal(0.9, 0.1) and a.sources["output_ratio"] == "policy file"
    assert a.cache == "cold" and a.sources["cache"] == "--assume"
    dist, source = a.tokenizer("claude-v1", "claude-v2")
    assert dist == Dist.point(1.25) and source == "--assume"
    assert a.tokenizer("claude-v2", "claude-v1")[1] == "default [P: FACTS.md]"
    assert a.tokenizer("o200k", "o200k") == (Dist.point(1.0), "same tokenizer")
    assert a.min_prefix("claude-haiku-4-5") == 4096 and a.min_prefix("claude-unknown-9") == 1024


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.9, Dist.point(0.9)),
        ({"median": 1.0, "sigma": 0.2}, Dist.lognormal(1.0, 0.2)),
        ({"low": 0.1, "high": 0.3}, Dist.uniform(0.1, 0.3)),
        ({"low": 0.1, "mode": 0.2, "high": 0.4}, Dist("triangular", 0.1, 0.2, 0.4)),
        ({"dist": "point", "value": 2}, Dist.point(2.0)),
        ({"median": 1.0, "sigma": 0}, Dist.point(1.0)),
    ],
)
def test_distribution_tables(value: object, expected: Dist) -> None:
    from tierlens.replay.assumptions import parse_dist

    assert parse_dist(value, "x") == expected


def test_assume_options_parse_as_toml_values() -> None:
    assert parse_assume(["cache=cold", "output_ratio=0.9", "escalation_rate={low=0.2, high=0.4}"]) == {
        "cache": "cold",
        "output_ratio": 0.9,
        "escalation_rate": {"low": 0.2, "high": 0.4},
    }
    assert parse_assume(['output_ratio."a -> b"=0.8', "output_ratio.default=1.1"]) == {
        "output_ratio": {"a -> b": 0.8, "default": 1.1}
    }
    with pytest.raises(AssumptionError, match="KEY=VALUE"):
        parse_assume(["cache"])


def test_draws_are_latin_hypercube_and_seeded_per_parameter() -> None:
    p = Param("output_ratio:a->b", "x", Dist.lognormal(1.0, 0.15), "default prior", "output_ratio")
    a, b = draw_values(p, 1000, seed=7), draw_values(p, 1000, seed=7)
    assert a == b and a != draw_values(p, 1000, seed=8)
    # one draw in each of the 1000 equal-probability strata
    strata = sorted(int(1000 * _lognormal_cdf(v, 1.0, 0.15)) for v in a)
    assert strata == list(range(1000))
    assert quantile(a, 0.5) == pytest.approx(1.0, abs=0.002)
    assert quantile(a, 0.9) == pytest.approx(p.dist.ppf(0.9), rel=0.01)
    point = Param("one-ish", "x", Dist.point(1.5), "policy", "output_ratio")
    assert set(draw_values(point, 50, 0)) == {1.5}


def _lognormal_cdf(x: float, median: float, sigma: float) -> float:
    return 0.5 * (1 + math.erf(math.log(x / median) / (sigma * math.sqrt(2))))


def test_parse_policy_from_text_uses_the_same_validation() -> None:
    p = parse_policy(
        '[[rules]]\nwhen = "feature = \'x\'"\ncascade = ["claude-haiku-4-5", "claude-sonnet-4-6"]\n',
        "<text>",
        TABLE,
    )
    rule = p.rules[0]
    assert rule.cascade == ("claude-haiku-4-5", "claude-sonnet-4-6")
    assert rule.action().startswith("cascade claude-haiku-4-5 -> claude-sonnet-4-6")
    with pytest.raises(PolicyError, match="two different models"):
        parse_policy(
            "[[rules]]\nwhen = 'TRUE'\ncascade = ['claude-haiku-4-5', 'claude-haiku-4-5']\n", "<text>", TABLE
        )


def test_import_replay_stays_light() -> None:
    import subprocess
    import sys

    code = (
        "import sys, tierlens.replay; "
        "print([m for m in ('click', 'altair', 'duckdb', 'pyspark', 'vl_convert') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
