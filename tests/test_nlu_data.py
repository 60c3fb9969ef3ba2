"""The training data covers every intent in both languages, and the held-out evaluation
set stays apart from it."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
INTENTS = ["greet", "goodbye", "thank", "affirm", "deny", "check_stock", "ask_shipping",
           "ask_price", "ask_discount", "product_details", "ask_recommendation",
           "order_status", "return_policy", "request_human", "complaint", "out_of_scope"]


def examples(path: Path) -> list[tuple[str, str]]:
    from rasa.shared.nlu.training_data.loading import load_data

    return [(e.get("intent"), e.get("text")) for e in load_data(str(path)).training_examples]


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_at_least_30_examples_per_intent(lang):
    counts = Counter(i for i, _ in examples(ROOT / "data" / "nlu" / lang))
    domain = yaml.safe_load((ROOT / "domain.yml").read_text())
    for intent in INTENTS:
        assert intent in domain["intents"]
        assert counts[intent] >= 30, f"{lang} {intent}: {counts[intent]}"


def test_heldout_set_does_not_overlap_training_data():
    sys.path.insert(0, str(ROOT / "bench"))  # bench/heldout_overlap.py
    from heldout_overlap import key

    train = {key(t) for _, t in examples(ROOT / "data" / "nlu")}
    for path in sorted((ROOT / "bench" / "heldout").glob("*.yml")):
        held = examples(path)
        assert len(held) >= 200
        overlap = [t for _, t in held if key(t) in train]
        assert overlap == [], overlap
