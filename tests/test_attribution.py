"""Feature attribution: ordered sources, mapping rules, cost splits that add up, re-runs without re-ingest."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

import tierlens
from tests import factories as f
from tierlens.attribution import Attribution, feature_totals, reattribute
from tierlens.cli import main
from tierlens.config import AttributionConfig, Settings, load_settings
from tierlens.errors import ConfigError
from tierlens.ingest import ingest
from tierlens.schema import SCHEMA, TOKEN_COLUMNS, UNATTRIBUTED

RULES = """
[attribution]
order = ["feature", "tag:feature:", "rules", "project:^-home-dev-src-(.+)$"]
[[attribution.rules]]
name = "support keys"
match = {api_key_id = "key_support_*"}
feature = "support-chat"
[[attribution.rules]]
match = {workspace_id = "wrk_shared", user_id = ["svc-*", "batch-*"]}
features = {search = 3, rank = 1}
"""


def rows_of(records: list[dict[str, Any]], write: Any, settings: Settings) -> pl.DataFrame:
    ingest([write("a.jsonl", records)], settings)
    return (
        tierlens.open(settings.data_dir)
        .collect()
        .sort("source_line", "feature_share", descending=[False, True])
    )


def config(tmp_path: Path, text: str, data: Path | None = None) -> Settings:
    path = tmp_path / "tierlens.toml"
    path.write_text(text)
    return load_settings(path, data_dir=data or tmp_path / "data")


def test_order_logged_feature_then_tags_then_rules_then_project(tmp_path: Path, write: Any) -> None:
    s = config(tmp_path, RULES)
    records = [
        f.logged(feature="chat", metadata={"api_key_id": "key_support_1"}),  # logged feature wins over a rule
        f.logged(feature=None, tags=["feature:triage", "team:x"], metadata={"api_key_id": "key_support_1"}),
        f.logged(feature=None, metadata={"api_key_id": "key_support_9"}),
        f.logged(feature=None, metadata={"project": "-home-dev-src-payments-api"}),
        f.logged(feature=None, metadata={"project": "elsewhere"}),
    ]
    df = rows_of(records, write, s)
    assert df.select("feature", "attributed_by").rows() == [
        ("chat", "feature"),
        (
            "triage",
            "feature",
        ),  # the Messages reader already takes the first feature: tag as the logged feature
        ("support-chat", "rule 1 (support keys)"),
        ("payments-api", "project:^-home-dev-src-(.+)$"),
        (None, None),
    ]
    assert df["logged_feature"].to_list() == ["chat", "triage", None, None, None]


def test_tag_split_is_equal_and_adds_up_exactly(tmp_path: Path, write: Any) -> None:
    s = config(tmp_path, '[attribution]\norder = ["tag:feature:", "feature"]\n')
    rec = f.logged(
        feature="x",
        tags=["feature:a", "feature:b", "feature:c", "feature:a"],
        input_tokens=1000,
        output_tokens=101,
        cache_read=7,
        cache_creation=2,
        web_search=1,
    )
    df = rows_of([rec], write, s)
    assert df["feature"].to_list() == ["a", "b", "c"] and df["feature_share"].to_list() == pytest.approx(
        [1 / 3] * 3
    )
    assert df["dedupe_key"].n_unique() == 1 and df["requests"].to_list() == [1, 0, 0]
    for col in (*TOKEN_COLUMNS, "web_search_requests"):
        assert int(df[col].sum()) == {
            "input_tokens": 1000,
            "output_tokens": 101,
            "cache_read_tokens": 7,
            "cache_write_5m_tokens": 2,
            "cache_write_1h_tokens": 0,
        }.get(col, 1), col
    assert df["output_tokens"].to_list() == [34, 34, 33]  # largest remainder, ties to the first listed
    whole = (1000 * 3 + 101 * 15 + 7 * 0.3 + 2 * 3.75) / 1e6 + 0.01
    assert float(df["cost_usd"].sum()) == pytest.approx(whole, rel=1e-12)
    totals = feature_totals(tierlens.open(s.data_dir))
    assert float(totals["cost_usd"].sum()) == pytest.approx(whole, rel=1e-12)
    assert dict(zip(totals["feature"], totals["split_rows"], strict=True)) == {"a": 1, "b": 1, "c": 1}


def test_weighted_rule_split_and_configured_tag_weights(tmp_path: Path, write: Any) -> None:
    # tags first: the Messages reader keeps the first feature tag as the logged feature
    text = RULES.replace(
        'order = ["feature", "tag:feature:", "rules"',
        'split = "weights"\nweights = {big = 3}\norder = ["tag:feature:", "rules"',
    )
    s = config(tmp_path, text)
    assert s.attribution.split == "weights" and s.attribution.order[:2] == ["tag:feature:", "rules"]
    records = [
        f.logged(
            feature=None,
            metadata={"workspace_id": "wrk_shared", "user_id": "svc-indexer"},
            input_tokens=400,
            output_tokens=0,
            cache_read=0,
            cache_creation=0,
        ),
        f.logged(
            feature=None,
            tags=["feature:big", "feature:small"],
            input_tokens=400,
            output_tokens=0,
            cache_read=0,
            cache_creation=0,
        ),
        f.logged(feature=None, metadata={"workspace_id": "wrk_shared", "user_id": "human"}),
    ]
    df = rows_of(records, write, s)
    got = {
        (r["source_line"], r["feature"]): (r["feature_share"], r["input_tokens"], r["requests"])
        for r in df.to_dicts()
    }
    assert got == {
        (1, "search"): (0.75, 300, 1),
        (1, "rank"): (0.25, 100, 0),
        (2, "big"): (0.75, 300, 1),
        (2, "small"): (0.25, 100, 0),
        (3, None): (1.0, 100, 1),
    }
    assert df.filter(pl.col("source_line") == 1)["attributed_by"].to_list() == ["rule 2", "rule 2"]


def test_reattribution_changes_features_without_reingesting(tmp_path: Path, write: Any) -> None:
    data = tmp_path / "data"
    plain = load_settings(data_dir=data)
    records = [
        f.logged(feature=None, tags=["feature:a", "feature:b"], metadata={"api_key_id": "key_support_1"}),
        f.logged(feature="chat"),
        f.logged(feature=None, metadata={"api_key_id": "key_support_2"}),
        f.logged(feature=None),
    ]
    res = ingest([write("a.jsonl", records)], plain)
    before = tierlens.open(data).collect()
    assert res.split_rows == 0 and before["feature"].to_list() == ["a", "chat", None, None]
    total = float(before["cost_usd"].sum())

    s = config(
        tmp_path,
        RULES.replace('order = ["feature", "tag:feature:"', 'order = ["tag:feature:", "feature"'),
        data,
    )
    dry = reattribute(data, s.attribution, dry_run=True)
    assert dry.partitions_rewritten == 1 and tierlens.open(data).collect().equals(before)
    run = reattribute(data, s.attribution)
    assert (run.requests, run.split_requests, run.requests_changed) == (4, 1, 2)
    assert run.by_source == {"tag:feature:": 1, "feature": 1, "rule 1 (support keys)": 1, UNATTRIBUTED: 1}
    after = tierlens.open(data).collect()
    assert sorted(after["feature"].to_list(), key=str) == sorted(
        ["a", "b", "chat", "support-chat", None], key=str
    )
    assert float(after["cost_usd"].sum()) == pytest.approx(total, rel=1e-12)
    assert int(after["requests"].sum()) == 4 and int(after["input_tokens"].sum()) == int(
        before["input_tokens"].sum()
    )
    assert reattribute(data, s.attribution).partitions_rewritten == 0  # idempotent
    # back to the default rules: the split collapses, the logged features come back
    reattribute(data, AttributionConfig())
    back = tierlens.open(data).collect().sort("source_line")
    assert back.select("feature", "requests", "input_tokens").equals(
        before.sort("source_line").select("feature", "requests", "input_tokens")
    )
    assert (Path(data) / "_meta" / "attributions.jsonl").read_text().count("\n") == 2


def test_attribute_command_shows_unattributed_and_the_total(tmp_path: Path, write: Any) -> None:
    data = tmp_path / "data"
    ingest(
        [write("a.jsonl", [f.logged(feature="chat"), f.logged(feature=None)])], load_settings(data_dir=data)
    )
    res = CliRunner().invoke(main, ["attribute", "--data", str(data)])
    assert res.exit_code == 0, res.output
    assert "(unattributed)" in res.output and "total" in res.output and "rewrote 0" in res.output
    csv = CliRunner().invoke(main, ["attribute", "--data", str(data), "--format", "csv", "--dry-run"]).output
    table = pl.read_csv(csv.encode())
    assert set(table["feature"]) == {"chat", UNATTRIBUTED} and table["share"].sum() == pytest.approx(1.0)


def _attribute_subprocess(
    config_path: Path, data: Path, crash_at: str | None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIERLENS_")}
    if crash_at:
        env["TIERLENS_CRASH_AT"] = crash_at
    code = "import sys; from tierlens.cli import main; sys.exit(main())"
    return subprocess.run(
        [sys.executable, "-c", code, "--config", str(config_path), "attribute", "--data", str(data)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize("crash_at", ["before_journal", "after_journal", "mid_rename"])
def test_a_crash_while_rewriting_leaves_one_attribution(crash_at: str, tmp_path: Path, write: Any) -> None:
    data = tmp_path / "data"
    days = [
        f.logged(ts=f"2026-09-0{d}T10:00:00Z", feature=None, tags=["feature:a", "feature:b"])
        for d in (1, 2, 3)
    ]
    ingest([write("a.jsonl", days)], load_settings(data_dir=data))
    cfg = tmp_path / "tierlens.toml"
    cfg.write_text('[attribution]\norder = ["tag:feature:"]\n')
    died = _attribute_subprocess(cfg, data, crash_at)
    assert died.returncode == 137, died.stderr
    for file in tierlens.store.Layout(data).data_files():
        pl.read_parquet(file)  # whole files only
    again = _attribute_subprocess(cfg, data, None)
    assert again.returncode == 0, again.stderr
    df = tierlens.open(data).collect()
    assert df.height == 6 and sorted(df["feature"].to_list()) == ["a", "a", "a", "b", "b", "b"]
    assert int(df["requests"].sum()) == 3
    assert not list((data / "_txn").glob("*.json")) and not (data / "_staging").exists()


def test_bad_attribution_config_is_a_config_error(tmp_path: Path) -> None:
    for text, msg in [
        ('[attribution]\norder = ["featur"]\n', "unknown attribution source 'featur'"),
        (
            '[[attribution.rules]]\nmatch = {api_key = "x"}\nfeature = "a"\n',
            "cannot match on 'api_key' \\(did you mean 'api_key_id'",
        ),
        ('[[attribution.rules]]\nmatch = {user_id = "x"}\n', "either `feature` or `features`"),
        ('[attribution]\norder = ["project:(unclosed"]\n', "bad regex"),
    ]:
        path = tmp_path / "tierlens.toml"
        path.write_text(text)
        with pytest.raises(ConfigError, match=msg):
            load_settings(path)


# --- properties ------------------------------------------------------------------------------------

request = st.fixed_dictionaries(
    {c: st.integers(0, 10**9) for c in (*TOKEN_COLUMNS, "web_search_requests")}
    | {
        "requests": st.sampled_from([1, 1, 37, None]),
        "cost": st.floats(0, 1000, allow_nan=False) | st.none(),
        "tags": st.lists(
            st.sampled_from(["feature:a", "feature:b", "feature:c", "feature:d", "team:x"]), max_size=5
        ),
    }
)


@hsettings(max_examples=60, deadline=None)
@given(
    st.lists(request, min_size=1, max_size=8),
    st.dictionaries(st.sampled_from("abcd"), st.floats(0.01, 100), max_size=4),
)
def test_splits_add_up_and_collapse_back(requests: list[dict[str, Any]], weights: dict[str, float]) -> None:
    cfg = AttributionConfig(order=["tag:feature:"], split="weights", weights=weights)
    df = pl.DataFrame(
        [
            {
                **{c: r[c] for c in (*TOKEN_COLUMNS, "web_search_requests", "requests", "tags")},
                "dedupe_key": f"k{i}",
                "cost_usd": r["cost"],
                "cost_input_usd": r["cost"],
            }
            for i, r in enumerate(requests)
        ],
        schema_overrides={"cost_usd": pl.Float64, "cost_input_usd": pl.Float64, "requests": pl.Int64},
    )
    df = pl.DataFrame(schema=SCHEMA).vstack(
        df.select(
            [
                pl.col(c).cast(SCHEMA[c]) if c in df.columns else pl.lit(None, SCHEMA[c]).alias(c)
                for c in SCHEMA
            ]
        )
    )
    out = Attribution(cfg).apply(df)
    by_key = out.group_by("dedupe_key", maintain_order=True).agg(
        *[pl.col(c).sum() for c in (*TOKEN_COLUMNS, "web_search_requests")],
        pl.col("requests").sum(),
        pl.col("cost_usd").sum(),
        pl.col("feature_share").sum(),
        pl.len(),
    )
    for want, got in zip(df.to_dicts(), by_key.to_dicts(), strict=True):
        for c in (*TOKEN_COLUMNS, "web_search_requests"):
            assert got[c] == want[c]
        assert got["requests"] == (want["requests"] or 0)
        assert got["cost_usd"] == pytest.approx(want["cost_usd"] or 0.0, rel=1e-9, abs=1e-12)
        assert got["feature_share"] == pytest.approx(1.0)
    back = Attribution.collapse(out).sort("dedupe_key")
    for c in (*TOKEN_COLUMNS, "web_search_requests", "requests"):
        assert back[c].to_list() == df.sort("dedupe_key")[c].to_list()


def test_a_weighted_split_rewritten_again_rewrites_nothing(tmp_path: Path, write: Any) -> None:
    # summing a split request back and splitting it again moves its last bits; that is no change
    lines = [
        f.logged(
            feature=None,
            tags=["feature:a", "feature:b", "feature:c"],
            input_tokens=1000 + 37 * i,
            output_tokens=100 + 11 * i,
        )
        for i in range(20)
    ]
    data = tmp_path / "data"
    ingest([write("a.jsonl", lines)], load_settings(data_dir=data))
    rules = AttributionConfig(order=["tag:feature:"], split="weights", weights={"a": 3})
    assert [reattribute(data, rules).partitions_rewritten for _ in range(3)] == [1, 0, 0]


attributed_row = st.fixed_dictionaries(
    {
        "feature": st.sampled_from([None, "", "chat", "search"]),
        "logged_feature": st.sampled_from([None, "chat"]),
        "attributed_by": st.sampled_from([None, None, "feature", "rule 1"]),
        "project": st.sampled_from([None, "", "-home-dev-src-app", "-home-dev-src-", "other"]),
        "api_key_id": st.sampled_from([None, "key_support_1", "key_x"]),
        "user_id": st.sampled_from([None, "svc-a", "u1"]),
        "tags": st.sampled_from(
            [
                None,
                [],
                ["team:x"],
                ["feature:chat"],
                ["feature: search ", "team:x", "feature:search"],
                ["feature:"],
                ["feature:a", "feature:b"],
            ]
        ),
    }
)
single_valued_config = st.fixed_dictionaries(
    {
        "order": st.permutations(
            ["feature", "tag:feature:", "rules", "project:^-home-dev-src-(.*)$", "user_id"]
        ),
        "rules": st.lists(
            st.fixed_dictionaries(
                {
                    "match": st.sampled_from(
                        [{"api_key_id": "key_support_*"}, {"user_id": ["svc-*"]}, {"tag": "team:*"}]
                    ),
                    "feature": st.sampled_from(["support", "batch"]),
                }
            ),
            max_size=3,
        ),
    }
)


@hsettings(max_examples=80, deadline=None)
@given(st.lists(attributed_row, min_size=1, max_size=8), single_valued_config)
def test_rows_no_source_can_split_take_the_first_match_as_the_candidate_lists_do(
    rows: list[dict[str, Any]], cfg: dict[str, Any]
) -> None:
    df = pl.DataFrame(schema=SCHEMA).vstack(
        pl.DataFrame(
            [{**r, "dedupe_key": f"k{i}"} for i, r in enumerate(rows)],
            schema_overrides={"tags": pl.List(pl.String)},
        ).select(
            [
                pl.col(c).cast(SCHEMA[c])
                if c
                in (
                    "feature",
                    "logged_feature",
                    "attributed_by",
                    "project",
                    "api_key_id",
                    "user_id",
                    "tags",
                    "dedupe_key",
                )
                else pl.lit(None, SCHEMA[c]).alias(c)
                for c in SCHEMA
            ]
        )
    )
    attribution = Attribution(AttributionConfig(**cfg))
    if ["feature:a", "feature:b"] not in [r["tags"] for r in rows]:  # no row names two features
        assert attribution._single_valued(df) is not None  # the first-match path is taken
    lists = Attribution(AttributionConfig(**cfg))
    lists._single_valued = lambda rows: None  # type: ignore[method-assign]
    assert attribution.apply(df).equals(lists.apply(df))
