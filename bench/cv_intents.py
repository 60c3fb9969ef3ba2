"""Choose the intent classifier on the TRAINING data only: 6-fold cross-validation with
the folds grouped by training file, so each fold is tested on phrasings by writers (files)
the classifier has not seen, the way a held-out set is. The held-out sets in
bench/heldout/ are never read here.

Features come from the trained model's own featurizers (`make train` first): every
training example is parsed once and the sparse matrix the classifier sees is kept. The
featurizers' vocabulary is fitted on all training files, but a vocabulary item seen only
in the test fold gets no weight from the training fold, so nothing leaks.

    .venv/bin/python bench/cv_intents.py [--scales 5,10,20] [--model other.tar.gz]
        [--data DIR] [--always-train 'en/voices_12.yml,zh/voices_4.yml'] [--only 'C=2 +']
        [--compare 'en/voices_18.yml,zh/voices_9.yml'] [--gate 0.34,0.5] [--show-gated]
        [--cache var/cv/features.pkl]

`--data` reads the training files from another directory (a copy of data/nlu as it was,
say). `--always-train` names files (globs under the data directory) that are in every
training fold and never tested: new data is measured on the same folds as before it came.
`--compare` names files (globs) to measure one by one in one run: first without any of
them, then each added to every training fold alone, then all of them (never tested).
`--gate 0.34,0.5` reports, for each threshold of the UnknownTextGate's
`min_known_share` (bot/nlu/unknown_text.py), how many test messages it would call not
understood (the vocabulary is the training fold's) and the accuracy with it, and how many
messages of tests/not_understood.yml it gets right (`--show-gated` lists the messages).
`--cache FILE` keeps the parsed features in FILE and reads them from it the next time
(delete it when the model, the data or the options change).
`--only` keeps the candidates whose name contains the text. `--chat-speak` and
`--drop-pleasantries` switch those options of the model's ShopperTextNormalizer on for
every message (the featurizers keep the vocabulary the model was trained with, so this
slightly understates what training with the option would give).

The candidates differ in the estimator (bot/nlu/intent_classifier.py `make_model`, the
same code the model trains) and in whether the catalog-entity columns (which kinds of
catalog entity a message names) are used. `--scales` compares confidence scales (softmax
temperature) under the same fallback thresholds.
"""

from __future__ import annotations

import asyncio
import glob
import os
import re
import sys
import warnings

import numpy as np

from common import ROOT, machine, quiet_rasa_logs

sys.path.insert(0, str(ROOT))
from bot.nlu.unknown_text import not_understood, vocabulary_of  # noqa: E402

HELD_KEY_REPEATS = 4      # config.yml's UnknownTextGate held_key_repeats

warnings.filterwarnings("ignore")
os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")


def option(name: str, default: str | None = None) -> str | None:
    return sys.argv[sys.argv.index(name) + 1] if name in sys.argv else default


def data_dir() -> str:
    return option("--data", str(ROOT / "data" / "nlu"))


def always_trained(name: str = "--always-train") -> set[str]:
    """The files (`lang/name.yml`) that --always-train (or `name`) names."""
    found = set()
    for pattern in filter(None, (option(name) or "").split(",")):
        for f in glob.glob(os.path.join(data_dir(), pattern.strip())):
            found.add(f"{os.path.basename(os.path.dirname(f))}/{os.path.basename(f)}")
    return found


def training_examples() -> list[tuple[str, str, str, str]]:
    import yaml

    rows = []
    for f in sorted(glob.glob(os.path.join(data_dir(), "*", "*.yml"))):
        lang = os.path.basename(os.path.dirname(f))
        for item in (yaml.safe_load(open(f, encoding="utf-8")) or {}).get("nlu", []):
            if "intent" not in item:
                continue
            for line in item["examples"].splitlines():
                line = line.strip()
                if line.startswith("- "):
                    text = re.sub(r"\[([^\]]+)\](\([^)]*\)|\{[^}]*\})", r"\1", line[2:].strip())
                    rows.append((lang, f"{lang}/{os.path.basename(f)}", item["intent"], text))
    return rows


async def features(rows, seen=None):
    from rasa.core.agent import Agent

    import bot.nlu.intent_classifier as ic

    quiet_rasa_logs()
    seen = {} if seen is None else seen
    original = ic.LinearIntentClassifier.process

    def process(self, messages):
        from rasa.nlu.constants import TOKENS_NAMES
        from rasa.shared.nlu.constants import TEXT

        from bot.nlu.catalog_entities import ENTITY_TYPES

        seen["entity_weight"] = self.entity_weight
        seen["X"] = self._create_X(messages[:1]) if messages else None
        if messages:     # what the UnknownTextGate reads (--gate)
            seen["tokens"] = [t.text for t in messages[0].get(TOKENS_NAMES[TEXT]) or ()]
            seen["entities"] = bool(messages[0].get(ENTITY_TYPES))
        return original(self, messages)

    ic.LinearIntentClassifier.process = process
    if "--chat-speak" in sys.argv or "--drop-pleasantries" in sys.argv:
        import bot.nlu.normalizer as nz

        init = nz.ShopperTextNormalizer.__init__

        def patched(self, config):
            init(self, config)
            self.chat_speak = self.chat_speak or "--chat-speak" in sys.argv
            self.drop_pleasantries = (self.drop_pleasantries or
                                      "--drop-pleasantries" in sys.argv)

        nz.ShopperTextNormalizer.__init__ = patched
    model = option("--model", str(ROOT / "models" / "shopassist.tar.gz"))
    agent = Agent.load(model)
    out = []
    seen["gate"] = []
    for row in rows:
        seen["X"], seen["tokens"], seen["entities"] = None, [], False
        await agent.parse_message(row[3])
        out.append(seen["X"])
        seen["gate"].append((seen["tokens"], seen["entities"]))
    return out


def main() -> None:
    from scipy.sparse import vstack
    from scipy.special import softmax
    from sklearn.model_selection import GroupKFold

    from bot.nlu.intent_classifier import N_ENTITY_COLUMNS, make_model

    rows = training_examples()
    seen: dict = {}
    cache = option("--cache")
    if cache and os.path.exists(cache):     # the same model, data and options as before
        import pickle

        with open(cache, "rb") as f:
            cached_rows, feats, seen = pickle.load(f)
        assert cached_rows == rows, f"{cache} is of other training data"
    else:
        feats = asyncio.run(features(rows, seen))
        if cache:
            import pickle

            with open(cache, "wb") as f:
                pickle.dump((rows, feats, seen), f)
    keep = [i for i, x in enumerate(feats) if x is not None and x.shape[1] > 0]
    X = vstack([feats[i] for i in keep]).tocsr()
    y = np.array([rows[i][2] for i in keep])
    lang = np.array([rows[i][0] for i in keep])
    groups = np.array([rows[i][1] for i in keep])
    ne = N_ENTITY_COLUMNS if seen.get("entity_weight", 0) > 0 else 0
    threshold, ambiguity, scale = 0.3, 0.05, 10.0     # config.yml's FallbackClassifier

    def svm(C, entities):
        return lambda: make_model("svm", C, entities)

    # name: (estimator, confidence scale, use the entity columns)
    candidates = {
        "logreg C=5": (lambda: make_model("logreg", 5), scale, False),
        "SVM C=1": (svm(1, False), scale, False),
        "SVM C=2": (svm(2, False), scale, False),
    }
    if ne:
        candidates.update({
            "SVM C=1 + entity columns": (svm(1, True), scale, True),
            "SVM C=2 + entity columns": (svm(2, True), scale, True),
            "SVM C=4 + entity columns": (svm(4, True), scale, True),
        })
    if option("--only"):
        candidates = {k: v for k, v in candidates.items() if option("--only") in k}
    if "--scales" in sys.argv:
        scales = [float(x) for x in sys.argv[sys.argv.index("--scales") + 1].split(",")]
        candidates = {f"SVM C=2{' + entity columns' if ne else ''}, scale {x:g}":
                      (svm(2, bool(ne)), x, bool(ne)) for x in scales}
    print(f"machine: {machine()}")
    extra = always_trained()
    fixed = np.isin(groups, sorted(extra))
    print(f"{len(y)} training examples, {len(set(groups))} files, 6 folds grouped by file"
          + (f" over {len(set(groups[~fixed]))} files; always trained: {sorted(extra)}"
             if extra else ""))
    gates = [float(x) for x in option("--gate", "").split(",") if x]
    gate_rows = [seen["gate"][i] for i in keep]
    # --compare: those files are left out of the first run (neither tested nor trained on),
    # then added to every training fold one at a time, then all together; the folds over
    # the other files stay the same throughout
    compared = sorted(always_trained("--compare"))
    out = np.isin(groups, compared)
    setups = [("", fixed, np.zeros(len(y), bool))]
    if compared:
        setups = [("without " + ", ".join(compared), fixed, out)]
        setups += [(f"+ {f}", fixed | (groups == f), out & (groups != f)) for f in compared]
        setups += [("+ all of them", fixed | out, np.zeros(len(y), bool))]
    tested = np.flatnonzero(~fixed & ~out)
    folds = list(GroupKFold(n_splits=6).split(tested, y[tested], groups[tested]))
    for setup, trained, left_out in setups:
        if setup:
            print(setup, flush=True)
        for name, (make, scale, entities) in candidates.items():
            Xc = X if entities else X[:, ne:]
            right = {"zh": 0, "en": 0}
            total = {"zh": 0, "en": 0}
            gated_right = {(g, lg): 0 for g in gates for lg in right}
            gated = {(g, lg): 0 for g in gates for lg in right}
            for tr, te in folds:
                tr = np.concatenate([tested[tr], np.flatnonzero(trained & ~left_out)])
                te = tested[te]
                clf = make().fit(Xc[tr], y[tr])
                if hasattr(clf, "predict_proba"):
                    P = clf.predict_proba(Xc[te])
                else:
                    P = softmax(clf.decision_function(Xc[te]) * scale, axis=1)
                top = np.sort(P, axis=1)
                pred = np.where((top[:, -1] < threshold) |
                                (top[:, -1] - top[:, -2] < ambiguity),
                                "nlu_fallback", clf.classes_[P.argmax(axis=1)])
                for lg in right:
                    m = lang[te] == lg
                    right[lg] += int((pred[m] == y[te][m]).sum())
                    total[lg] += int(m.sum())
                # the gate's vocabulary is the training fold's
                vocabulary = vocabulary_of(gate_rows[i][0] for i in tr) if gates else set()
                for g in gates:
                    off = np.array([not_understood(gate_rows[i][0], rows[keep[i]][3],
                                                   gate_rows[i][1], vocabulary, g,
                                                   HELD_KEY_REPEATS) for i in te], bool)
                    for lg in right:
                        m = off & (lang[te] == lg)
                        gated[g, lg] += int(m.sum())
                        gated_right[g, lg] += int((pred[m] == y[te][m]).sum())
                    if "--show-gated" in sys.argv:
                        for i, p in zip(te[off], pred[off]):
                            print(f"    gated at {g:g}: {rows[keep[i]][1]} {y[i]}"
                                  f"{' (was right)' if p == y[i] else ''}: "
                                  f"{rows[keep[i]][3]!r} {gate_rows[i][0]}")
            print(f"{name:40} zh {right['zh'] / total['zh']:.1%}  "
                  f"en {right['en'] / total['en']:.1%}", flush=True)
            for g in gates:     # every gated message is nlu_fallback, wrong on these files
                report = []
                for lg in right:
                    after = (right[lg] - gated_right[g, lg]) / total[lg]
                    report.append(f"{lg} {gated[g, lg]} gated ({gated[g, lg] / total[lg]:.2%},"
                                  f" {gated_right[g, lg]} of them right before) {after:.1%}")
                print(f"  gate min_known_share {g:g}: " + "  ".join(report), flush=True)
    if gates:
        gibberish_report(rows, gate_rows, keep, gates)


def gibberish_report(rows, gate_rows, keep, gates) -> None:
    """How many messages of tests/not_understood.yml each threshold calls not understood,
    with the vocabulary of all the training files."""
    import yaml

    lists = yaml.safe_load(open(ROOT / "tests" / "not_understood.yml", encoding="utf-8"))
    texts = [(kind, lg, t) for kind in ("not_understood", "understood")
             for lg, ts in lists[kind].items() for t in ts]
    seen: dict = {}
    asyncio.run(features([(lg, "list", kind, t) for kind, lg, t in texts], seen))
    vocabulary = vocabulary_of(tokens for tokens, _ in gate_rows)
    for g in gates:
        out = {}
        for (kind, lg, t), (tokens, entity) in zip(texts, seen["gate"]):
            off = not_understood(tokens, t, entity, vocabulary, g, HELD_KEY_REPEATS)
            out.setdefault((kind, lg), []).append(t if off == (kind == "understood") else None)
        print(f"gate {g:g}: " + "; ".join(
            f"{kind} {lg}: {sum(m is None for m in ms)}/{len(ms)} right"
            + (f" (wrong: {[m for m in ms if m]})" if any(ms) else "")
            for (kind, lg), ms in out.items()), flush=True)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
