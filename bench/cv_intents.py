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

`--data` reads the training files from another directory (a copy of data/nlu as it was,
say). `--always-train` names files (globs under the data directory) that are in every
training fold and never tested: new data is measured on the same folds as before it came.
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

warnings.filterwarnings("ignore")
os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")


def option(name: str, default: str | None = None) -> str | None:
    return sys.argv[sys.argv.index(name) + 1] if name in sys.argv else default


def data_dir() -> str:
    return option("--data", str(ROOT / "data" / "nlu"))


def always_trained() -> set[str]:
    """The files (`lang/name.yml`) that --always-train names."""
    found = set()
    for pattern in filter(None, (option("--always-train") or "").split(",")):
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
        seen["entity_weight"] = self.entity_weight
        seen["X"] = self._create_X(messages[:1]) if messages else None
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
    for row in rows:
        seen["X"] = None
        await agent.parse_message(row[3])
        out.append(seen["X"])
    return out


def main() -> None:
    from scipy.sparse import vstack
    from scipy.special import softmax
    from sklearn.model_selection import GroupKFold

    from bot.nlu.intent_classifier import N_ENTITY_COLUMNS, make_model

    rows = training_examples()
    seen: dict = {}
    feats = asyncio.run(features(rows, seen))
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
    for name, (make, scale, entities) in candidates.items():
        Xc = X if entities else X[:, ne:]
        right = {"zh": 0, "en": 0}
        total = {"zh": 0, "en": 0}
        tested = np.flatnonzero(~fixed)
        for tr, te in GroupKFold(n_splits=6).split(tested, y[tested], groups[tested]):
            tr, te = np.concatenate([tested[tr], np.flatnonzero(fixed)]), tested[te]
            clf = make().fit(Xc[tr], y[tr])
            if hasattr(clf, "predict_proba"):
                P = clf.predict_proba(Xc[te])
            else:
                P = softmax(clf.decision_function(Xc[te]) * scale, axis=1)
            top = np.sort(P, axis=1)
            pred = np.where((top[:, -1] < threshold) | (top[:, -1] - top[:, -2] < ambiguity),
                            "nlu_fallback", clf.classes_[P.argmax(axis=1)])
            for lg in right:
                m = lang[te] == lg
                right[lg] += int((pred[m] == y[te][m]).sum())
                total[lg] += int(m.sum())
        print(f"{name:40} zh {right['zh'] / total['zh']:.1%}  en {right['en'] / total['en']:.1%}",
              flush=True)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
