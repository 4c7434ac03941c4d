"""Measure the safety classifier's throughput on one core: messages per second.

Run: .venv/bin/python bench/safety_classify.py
Uses the labelled and holdout sets (about 600 real-sounding messages) as the message mix.
Target: at least 20,000 messages per second.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.safety import classify  # noqa: E402
from flows.lexicon import load_lexicon_file  # noqa: E402


def main() -> None:
    """Classify the message mix repeatedly and print the best rate of five runs."""
    lexicon = load_lexicon_file(ROOT / "flows" / "lexicon.yaml")
    fixtures = ROOT / "tests" / "fixtures" / "safety"
    texts = [json.loads(line)["text"] for name in ("labelled.jsonl", "holdout.jsonl")
             for line in (fixtures / name).read_text(encoding="utf-8").splitlines() if line.strip()]
    rounds, rates = 20, []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(rounds):
            for text in texts:
                classify(text, lexicon)
        rates.append(rounds * len(texts) / (time.perf_counter() - start))
    patterns = sum(len(c.patterns) for c in lexicon.categories.values())
    print(f"{len(texts)} messages x {rounds}, {patterns} patterns: best {max(rates):,.0f} messages/s "
          f"(median {sorted(rates)[2]:,.0f}); target 20,000")


if __name__ == "__main__":
    main()
