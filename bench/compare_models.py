"""Two (or more) trained models side by side on the same evaluation sets, in one run: intent
accuracy and macro F1 on each held-out set (bench/heldout/) and on the real-shopper sets
(bench/realshop/, per language, with the accuracy per source file). Nothing is trained;
the misclassified messages are not printed (the evaluation sets are for reporting, not for
reading while changing the data).

    .venv/bin/python bench/compare_models.py OLD.tar.gz NEW.tar.gz [...]

Used when a change of the training data is to be reported against the model before it
(a model of the data as it was: `rasa train nlu --out var/cv --fixed-model-name old` on a
checkout of it, or the `models/shopassist.tar.gz` it installed).
"""

from __future__ import annotations

import asyncio
import sys

from common import ROOT, machine, quiet_rasa_logs

from bot.nlu_eval import evaluate, load_agent

HELD = ROOT / "bench" / "heldout"
REAL = ROOT / "bench" / "realshop"
SETS = {"held-out zh A": [HELD / "zh.yml"], "held-out zh B": [HELD / "zh_b.yml"],
        "held-out en A": [HELD / "en.yml"], "held-out en B": [HELD / "en_b.yml"],
        "real shoppers zh": sorted(REAL.glob("zh*.yml")),
        "real shoppers en": sorted(REAL.glob("en*.yml"))}


async def main(models: list[str]) -> None:
    print(machine())
    rows: dict[str, list[str]] = {name: [] for name in SETS}
    for model in models:
        agent = load_agent(model)
        quiet_rasa_logs()
        for name, files in SETS.items():
            r = await evaluate(agent, files)
            cell = f"{r['intent_accuracy'] * 100:.1f}% (F1 {r['intent_macro_f1']:.2f})"
            if len(files) > 1 or name.startswith("real"):
                cell += " " + " / ".join(f"{f.split('.')[0]} {a * 100:.1f}"
                                         for f, a in r["accuracy_by_file"].items())
            rows[name].append(f"{cell} n={r['n']}")
    print("| set | " + " | ".join(models) + " |")
    print("|---|" + "---|" * len(models))
    for name, cells in rows.items():
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    asyncio.run(main(sys.argv[1:]))
