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
from collections import defaultdict
from pathlib import Path

from common import ROOT, machine, quiet_rasa_logs

from bot.nlu_eval import evaluate, heldout_files

os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

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


def realshop_sets() -> dict[str, list[Path]]:
    """Real-shopper files by language: bench/realshop/en.yml and en_pqa.yml are both "en"."""
    sets: dict[str, list[Path]] = defaultdict(list)
    for path in sorted(p for d in REALSHOP_DIRS for p in d.glob("*.yml")):
        sets[path.stem.split("_")[0]].append(path)
    return dict(sorted(sets.items()))


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
                        for path in heldout_files(HELDOUT)}
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
            r.pop("per_intent")
    for by_set in realshop.values():
        for r in by_set.values():
            r.pop("misses")
            r.pop("per_intent")
            r.pop("entity_f1")   # the real-shopper sets carry no entity annotations
    print(json.dumps({"heldout": report, "realshop": realshop}, ensure_ascii=False))


if __name__ == "__main__":
    main()
