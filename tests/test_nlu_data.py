"""The training data covers every intent in both languages, and the evaluation sets (the
held-out sets in bench/heldout/, the real-shopper sets in bench/realshop/, each line of which
is recorded in bench/realshop/sources.tsv) stay apart from it: no line of theirs has a
near-duplicate (similarity >= 0.9 after normalising case, spaces and punctuation) in
data/nlu."""

from __future__ import annotations

import sys
from collections import Counter
from difflib import SequenceMatcher
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))  # bench/heldout_overlap.py

from heldout_overlap import key, near_duplicates, overlaps  # noqa: E402

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


def test_evaluation_sets_are_there():
    for path in sorted((ROOT / "bench" / "heldout").glob("*.yml")):
        assert len(examples(path)) >= 200, path
    realshop = Counter()
    for path in sorted((ROOT / "bench" / "realshop").glob("*.yml")):
        realshop[path.stem.split("_")[0]] += len(examples(path))
    assert realshop["en"] >= 350, realshop
    assert realshop["zh"] >= 350, realshop


def test_every_real_shopper_line_has_its_provenance():
    """bench/realshop/sources.tsv records each real-shopper example once, with its file, its
    intent and its text exactly as in the .yml file, and nothing else; an alternative reading,
    when given, is another intent."""
    recorded = Counter()
    sources = ROOT / "bench" / "realshop" / "sources.tsv"
    for line in sources.read_text(encoding="utf-8").splitlines():
        if line.startswith("#") or line.startswith("file\t"):
            continue
        file, source_id, intent, alternative, text = line.split("\t")
        assert source_id and alternative != intent, line
        recorded[(file, intent, text)] += 1
    examples_by_file = Counter(
        (path.name, intent, text)
        for path in sorted((ROOT / "bench" / "realshop").glob("*.yml"))
        for intent, text in examples(path))
    assert recorded == examples_by_file


def test_no_evaluation_line_has_a_near_duplicate_in_the_training_data():
    found = overlaps()
    assert found == [], "\n".join(f"{p}: {h!r} ~ {t!r} ({r})" for p, h, t, r in found[:20])


def test_key_ignores_case_spaces_and_punctuation():
    assert key("Is it in stock in XL?") == key("is it in stock  in xl") == "isitinstockinxl"
    assert key("有货吗？") == key("有 货 吗") == "有货吗"
    assert key("👍") == "👍"   # an emoji-only message keeps its emoji


# Ratios worked out by hand on the keys (2 * matched characters / total length):
CASES = [
    ("do you ship to canada", "do u ship to canada", 30 / 32),         # doushiptocanada in both
    ("where is my order", "where is my parcel", None),                  # below 0.9
    ("这个有XL吗", "这个有xl吗?", 1.0),
    ("这双鞋有42码吗", "这双鞋有43码吗", 14 / 16),                       # 0.875: below 0.9
    ("thank u so much", "thank you so much!!", 24 / 26),                # 0.923
    ("hi", "hii", None),                                                # 0.8
]


@pytest.mark.parametrize("a, b, ratio", CASES)
def test_near_duplicates_by_hand(a, b, ratio):
    found = near_duplicates([a], [b])
    if ratio is None or ratio < 0.9:
        assert found == []
    else:
        assert found == [(0, 0, round(ratio, 3))]


def test_the_fast_search_finds_what_comparing_every_pair_finds():
    queries = ["do you have it in black", "是否包邮", "where's my parcel?", "ok thanks!",
               "这件衣服起球吗", "can i return it", "thx", "有没有优惠券"]
    pool = ["do u have it in black", "包邮吗", "where is my parcel", "ok thanks",
            "这件衣服会起球吗", "can i return it after 7 days", "thanks", "有优惠券吗",
            "do you have it in blue", "how much", "这件衣服起球么", "ok thank you"]
    every_pair = sorted(
        (i, j, round(SequenceMatcher(None, key(q), key(p), autojunk=False).ratio(), 3))
        for i, q in enumerate(queries) for j, p in enumerate(pool)
        if SequenceMatcher(None, key(q), key(p), autojunk=False).ratio() >= 0.9)
    assert len(every_pair) >= 4   # the lists do hold near-duplicates
    assert near_duplicates(queries, pool) == every_pair


def test_the_overlap_check_reads_the_reviewed_files_too(tmp_path, monkeypatch):
    """data/nlu/reviewed/ (written by `shopassist nlu export-reviewed`) is training data: a
    real-shopper line in it is found like one anywhere else in data/nlu."""
    import heldout_overlap

    line = examples(ROOT / "bench" / "realshop" / "zh_reviews.yml")[0][1]
    (tmp_path / "reviewed").mkdir()
    (tmp_path / "reviewed" / "zh.yml").write_text(
        f'version: "3.1"\nnlu:\n- intent: complaint\n  examples: |\n    - {line}\n',
        encoding="utf-8")
    monkeypatch.setattr(heldout_overlap, "TRAINING_DIR", tmp_path)
    assert [(p, h, t) for p, h, t, _ in heldout_overlap.overlaps()] == [
        ("bench/realshop/zh_reviews.yml", line, line)]
