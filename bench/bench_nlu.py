"""NLU quality on the held-out sets (bench/heldout/*.yml, written apart from the training
data): intent accuracy and macro F1 per set, entity F1 for the contract's entity types; the
project's pipeline against the stock `rasa init` pipeline trained on the same data.

Then, per language, on the real-shopper sets (bench/realshop/<lang>*.yml, and
var/realshop/<lang>*.yml for sets that may not be committed: what real shoppers wrote to
shops' customer service or on their review pages, never trained on): accuracy, macro F1,
accuracy per source file, how many messages of each intent it got right, the most frequent
confusions, and every misclassified message, written to var/bench/realshop-misses-<pipeline>.tsv.

    .venv/bin/python bench/bench_nlu.py [--skip-stock]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from collections import Counter, defaultdict
from pathlib import Path

from common import ROOT, machine, quiet_rasa_logs

os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ENTITY_TYPES = {"product", "color", "size", "quantity", "city", "order_id"}
OUT = ROOT / "var" / "bench" / "models"
HELDOUT = ROOT / "bench" / "heldout"
# Real-shopper sets: the committed ones, and any kept out of the repository (var/ is not
# committed) because their corpus's licence does not allow redistributing them.
REALSHOP_DIRS = (ROOT / "bench" / "realshop", ROOT / "var" / "realshop")
MISSES = ROOT / "var" / "bench"


def train_nlu(config: str, name: str) -> str:
    from rasa.model_training import train_nlu as rasa_train_nlu

    OUT.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    path = rasa_train_nlu(config=str(ROOT / config), nlu_data=str(ROOT / "data"),
                          output=str(OUT), fixed_model_name=f"nlu-{name}",
                          domain=str(ROOT / "domain.yml"))
    print(f"trained {name} NLU in {time.perf_counter() - t0:.0f}s", flush=True)
    return path


def load_examples(paths) -> list:
    """The intent examples of one NLU file or of several, each tagged with its file name."""
    from rasa.shared.nlu.training_data.loading import load_data

    examples = []
    for path in paths if isinstance(paths, (list, tuple)) else [paths]:
        for ex in load_data(str(path)).intent_examples:
            ex.set("source_file", Path(path).name)
            examples.append(ex)
    return examples


def realshop_sets() -> dict[str, list[Path]]:
    """Real-shopper files by language: bench/realshop/en.yml and en_pqa.yml are both "en"."""
    sets: dict[str, list[Path]] = defaultdict(list)
    for path in sorted(p for d in REALSHOP_DIRS for p in d.glob("*.yml")):
        sets[path.stem.split("_")[0]].append(path)
    return dict(sorted(sets.items()))


def f1(tp: int, fp: int, fn: int) -> float:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return 2 * p * r / (p + r) if p + r else 0.0


async def evaluate(model_path: str, heldout, n_confusions: int = 5) -> dict:
    from rasa.core.agent import Agent

    agent = Agent.load(model_path)
    examples = load_examples(heldout)
    correct = raw_correct = 0
    by_file = defaultdict(lambda: [0, 0])  # correct, total
    by_intent = defaultdict(lambda: [0, 0])  # correct, total, by gold intent
    misses = []
    per_intent = defaultdict(lambda: [0, 0, 0])  # tp, fp, fn
    ent = [0, 0, 0]
    times = []
    errors = Counter()
    for ex in examples:
        t = time.perf_counter()
        parsed = await agent.parse_message(ex.get("text"))
        times.append(time.perf_counter() - t)
        gold = ex.get("intent")
        pred = (parsed.get("intent") or {}).get("name")
        ranking = [r for r in parsed.get("intent_ranking") or [] if r["name"] != "nlu_fallback"]
        raw_correct += bool(ranking and ranking[0]["name"] == gold)
        by_file[ex.get("source_file")][1] += 1
        by_intent[gold][1] += 1
        if pred == gold:
            correct += 1
            per_intent[gold][0] += 1
            by_file[ex.get("source_file")][0] += 1
            by_intent[gold][0] += 1
        else:
            per_intent[pred][1] += 1
            per_intent[gold][2] += 1
            errors[(gold, pred)] += 1
            misses.append({"file": ex.get("source_file"), "gold": gold, "predicted": pred,
                           "confidence": round((parsed.get("intent") or {}).get("confidence")
                                               or 0.0, 3),
                           "text": ex.get("text")})
        g = {(e["entity"], str(e.get("value"))) for e in ex.get("entities") or []
             if e["entity"] in ENTITY_TYPES}
        p = {(e["entity"], str(e.get("value"))) for e in parsed.get("entities") or []
             if e["entity"] in ENTITY_TYPES}
        ent[0] += len(g & p)
        ent[1] += len(p - g)
        ent[2] += len(g - p)
    intents = sorted({ex.get("intent") for ex in examples})
    macro = sum(f1(*per_intent[i]) for i in intents) / len(intents)
    times.sort()
    return {"n": len(examples), "intent_accuracy": round(correct / len(examples), 4),
            "intent_macro_f1": round(macro, 4),
            "accuracy_without_fallback": round(raw_correct / len(examples), 4),
            "entity_f1": round(f1(*ent), 4),
            "parse_p50_ms": round(times[len(times) // 2] * 1000, 2),
            "accuracy_by_file": {f: round(c / t, 4) for f, (c, t) in sorted(by_file.items())},
            "right_by_intent": {i: f"{c}/{t}" for i, (c, t) in sorted(by_intent.items())},
            "top_confusions": [f"{g}->{p} x{n}" for (g, p), n in
                               errors.most_common(n_confusions)],
            "misses": misses}


def write_misses(pipeline: str, by_lang: dict) -> Path:
    """Every misclassified real-shopper message of one pipeline, one per line."""
    MISSES.mkdir(parents=True, exist_ok=True)
    path = MISSES / f"realshop-misses-{pipeline.replace(' ', '-')}.tsv"
    with path.open("w", encoding="utf-8") as f:
        f.write("lang\tfile\tgold\tpredicted\tconfidence\ttext\n")
        for lang, r in by_lang.items():
            for m in r["misses"]:
                f.write(f"{lang}\t{m['file']}\t{m['gold']}\t{m['predicted']}\t"
                        f"{m['confidence']}\t{m['text']}\n")
    return path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--skip-stock", action="store_true")
    ap.add_argument("--config", action="append", default=[],
                    help="also evaluate this config (name=path)")
    args = ap.parse_args()
    quiet_rasa_logs()
    configs = {"shopassist": "config.yml"}
    for item in args.config:
        name, _, path = item.partition("=")
        configs[name] = path
    if not args.skip_stock:
        configs["stock rasa init"] = "bench/configs/stock_config.yml"
    report, realshop = {}, {}
    for name, config in configs.items():
        model = train_nlu(config, name.replace(" ", "-"))
        # set A: bench/heldout/{zh,en}.yml; set B: bench/heldout/{zh,en}_b.yml (another writer)
        report[name] = {path.stem: asyncio.run(evaluate(model, path))
                        for path in sorted(HELDOUT.glob("*.yml"))}
        realshop[name] = {lang: asyncio.run(evaluate(model, paths, n_confusions=8))
                          for lang, paths in realshop_sets().items()}
    print(f"\nmachine: {machine()}")
    print(f"{'pipeline':18} {'set':4} {'n':>4} {'intent acc':>10} {'macro F1':>9} "
          f"{'no-fallback acc':>15} {'entity F1':>9} {'parse p50':>9}")
    for name, by_lang in report.items():
        for lang, r in by_lang.items():
            print(f"{name:18} {lang:4} {r['n']:4} {r['intent_accuracy']:10.3f} "
                  f"{r['intent_macro_f1']:9.3f} {r['accuracy_without_fallback']:15.3f} "
                  f"{r['entity_f1']:9.3f} "
                  f"{r['parse_p50_ms']:7.1f}ms")
            print(f"{'':23} confusions: {', '.join(r['top_confusions']) or '-'}")
    print("\nreal-shopper sets (bench/realshop/, never trained on):")
    print(f"{'pipeline':18} {'lang':4} {'n':>4} {'intent acc':>10} {'macro F1':>9} "
          f"{'no-fallback acc':>15}  by file")
    for name, by_lang in realshop.items():
        for lang, r in by_lang.items():
            files = ", ".join(f"{f} {a:.3f}" for f, a in r["accuracy_by_file"].items())
            print(f"{name:18} {lang:4} {r['n']:4} {r['intent_accuracy']:10.3f} "
                  f"{r['intent_macro_f1']:9.3f} {r['accuracy_without_fallback']:15.3f}  {files}")
            print(f"{'':23} confusions: {', '.join(r['top_confusions']) or '-'}")
            print(f"{'':23} right by intent: "
                  f"{', '.join(f'{i} {n}' for i, n in r['right_by_intent'].items())}")
        print(f"{'':23} misclassified messages: "
              f"{write_misses(name, by_lang).relative_to(ROOT)}")
    for by_set in report.values():
        for r in by_set.values():
            r.pop("misses")
            r.pop("right_by_intent")
    for by_set in realshop.values():
        for r in by_set.values():
            r.pop("misses")
            r.pop("entity_f1")   # the real-shopper sets carry no entity annotations
    print(json.dumps({"heldout": report, "realshop": realshop}, ensure_ascii=False))


if __name__ == "__main__":
    main()
