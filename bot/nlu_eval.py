"""How well a trained model understands labelled NLU sets: intent accuracy, macro F1,
entity F1, and accuracy and F1 per intent, each message parsed in-process by the loaded
model. One scoring for everyone who measures understanding: `bench/bench_nlu.py` (its
held-out and real-shopper tables) and the training gate (`bot/training.py`, which compares
a candidate model's held-out scores with the installed model's).
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter, defaultdict
from pathlib import Path

# the entity types the contract (docs/nlu.md) promises; others are not scored
ENTITY_TYPES = {"product", "color", "size", "quantity", "city", "order_id"}


def load_examples(paths) -> list:
    """The intent examples of one NLU file or of several, each tagged with its file name."""
    from rasa.shared.nlu.training_data.loading import load_data

    examples = []
    for path in paths if isinstance(paths, (list, tuple)) else [paths]:
        for ex in load_data(str(path)).intent_examples:
            ex.set("source_file", Path(path).name)
            examples.append(ex)
    return examples


def f1(tp: int, fp: int, fn: int) -> float:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return 2 * p * r / (p + r) if p + r else 0.0


def quiet_rasa_logs() -> None:
    """Rasa at warning level: its debug log prints every message it parses (the held-out
    texts are to be scored, not read) and slows the run."""
    import logging

    from rasa.utils.common import configure_logging_and_warnings

    configure_logging_and_warnings(logging.WARNING)
    try:
        from rasa.utils.log_utils import configure_structlog

        configure_structlog(logging.WARNING)
    except ImportError:
        pass


def load_agent(model_path):
    """A model loaded for parsing in this process, Rasa's logs at warning level."""
    from rasa.core.agent import Agent

    quiet_rasa_logs()
    return Agent.load(str(model_path))


async def evaluate(model, sets, n_confusions: int = 5) -> dict:
    """Parse every example of `sets` (an NLU file or a list of them) with `model` (a model's
    path, or an agent from `load_agent`) and score the answers."""
    agent = load_agent(model) if isinstance(model, (str, Path)) else model
    examples = load_examples(sets)
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
            "per_intent": {i: {"n": by_intent[i][1],
                               "accuracy": round(by_intent[i][0] / by_intent[i][1], 4),
                               "f1": round(f1(*per_intent[i]), 4)} for i in intents},
            "top_confusions": [f"{g}->{p} x{n}" for (g, p), n in
                               errors.most_common(n_confusions)],
            "misses": misses}


def heldout_files(heldout_dir: Path) -> list[Path]:
    """The held-out sets: bench/heldout/{zh,en}.yml (set A) and {zh,en}_b.yml (set B)."""
    return sorted(Path(heldout_dir).glob("*.yml"))


def heldout_digest(heldout_dir: Path) -> str:
    """What the held-out sets are: scores taken on other sets are not comparable."""
    h = hashlib.sha256()
    for path in heldout_files(heldout_dir):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()


async def score_heldout(model, heldout_dir: Path) -> dict:
    """The score table the training gate keeps beside an installed model: per held-out set
    (by file stem: zh, zh_b, en, en_b), its size, intent accuracy, macro F1 and per-intent
    accuracy and F1; the model is loaded once for all sets."""
    agent = load_agent(model) if isinstance(model, (str, Path)) else model
    sets = {}
    for path in heldout_files(heldout_dir):
        r = await evaluate(agent, path)
        sets[path.stem] = {"n": r["n"], "accuracy": r["intent_accuracy"],
                           "macro_f1": r["intent_macro_f1"], "per_intent": r["per_intent"]}
    return {"heldout_digest": heldout_digest(heldout_dir), "sets": sets}
