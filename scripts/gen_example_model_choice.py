"""Write examples/model-choice/: four weeks of gateway logs where each model-choice signal fires once.

    python scripts/gen_example_model_choice.py        # rewrites the files byte for byte

- `memos` on Opus 4.6 asks for what Sonnet 4.6 already serves here (`drafts`): newer_mid_tier;
- `assist` on Sonnet 4.6 mixes lookups (short answers to long prompts) with long drafting: mixed_complexity;
- `support-chat` (user-facing in tierlens.toml) waits over 6 s for 150-token answers: latency_over_depth;
- `chat-legacy` sends production traffic to the alias `claude-sonnet-4-5`: unpinned_alias.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import json
import random
from pathlib import Path
from typing import Any

START = dt.datetime(2026, 11, 2, tzinfo=dt.UTC)  # four weeks, 2026-11-02 .. 2026-11-29
DAYS = 28
# feature, model, requests a day, (prompt, output) tokens, latency ms
SHAPES: list[tuple[str, str, int, tuple[int, int], int]] = [
    ("drafts", "claude-sonnet-4-6", 22, (3_000, 600), 9_000),
    ("memos", "claude-opus-4-6", 11, (2_500, 500), 14_000),
    ("assist", "claude-sonnet-4-6", 21, (20_000, 100), 4_000),
    ("assist", "claude-sonnet-4-6", 14, (2_000, 3_000), 40_000),
    ("support-chat", "claude-sonnet-4-6", 8, (1_200, 150), 6_500),
    ("chat-legacy", "claude-sonnet-4-5", 6, (900, 200), 3_000),
]


def record(rng: random.Random, n: int, ts: dt.datetime, shape: tuple[str, str, int, tuple[int, int], int]) -> dict[str, Any]:
    feature, model, _, (prompt, output), latency = shape
    jitter = lambda v: max(1, int(v * rng.uniform(0.8, 1.2)))  # noqa: E731
    return {
        "ts": ts.isoformat().replace("+00:00", "Z"),
        "request_id": f"req_mc_{n:06d}",
        "feature": feature,
        "latency_ms": jitter(latency),
        "response": {
            "id": f"msg_mc_{n:06d}",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [{"type": "text", "text": "(answer)"}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {
                "input_tokens": jitter(prompt),
                "output_tokens": jitter(output),
                "cache_read_input_tokens": 0,
                "cache_creation_input_tokens": 0,
                "service_tier": "standard",
            },
        },
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "examples" / "model-choice")
    out = ap.parse_args().out
    rng = random.Random(20261102)
    rows = []
    for day in range(DAYS):
        for shape in SHAPES:
            for _ in range(shape[2]):
                ts = START + dt.timedelta(days=day, seconds=rng.randrange(8 * 3600, 20 * 3600))
                rows.append((ts, shape))
    rows.sort(key=lambda r: r[0])
    body = "".join(json.dumps(record(rng, i, ts, s)) + "\n" for i, (ts, s) in enumerate(rows))
    out.mkdir(parents=True, exist_ok=True)
    (out / "requests.jsonl.gz").write_bytes(gzip.compress(body.encode(), mtime=0))
    print(f"{len(rows):,} requests in {out / 'requests.jsonl.gz'}")


if __name__ == "__main__":
    main()
