"""Choose the intent classifier on the TRAINING data only: 6-fold cross-validation with
the folds grouped by training file, so each fold is tested on phrasings by writers (files)
the classifier has not seen, the way a held-out set is. The held-out sets in
bench/heldout/ are never read here.

Features come from the trained model's own featurizers (`make train` first): every
training example is parsed once and the sparse matrix the classifier sees is kept. The
featurizers' vocabulary is fitted on all training files, but a vocabulary item seen only
in the test fold gets no weight from the training fold, so nothing leaks.

    .venv/bin/python bench/cv_intents.py [--scales 5,10,20] [--model other.tar.gz]

`--scales` also compares confidence scales (softmax temperature) for the SVM with C 1,
under the same fallback thresholds.
"""

from __future__ import annotations

import asyncio
import glob
import logging
import os
import re
import sys
import warnings

import numpy as np

from common import ROOT, machine

warnings.filterwarnings("ignore")
os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")


def training_examples() -> list[tuple[str, str, str, str]]:
    import yaml

    rows = []
    for f in sorted(glob.glob(str(ROOT / "data" / "nlu" / "*" / "*.yml"))):
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


async def features(rows):
    from rasa.core.agent import Agent
    from rasa.utils.common import configure_logging_and_warnings

    import bot.nlu.intent_classifier as ic

    configure_logging_and_warnings(logging.WARNING)
    try:
        from rasa.utils.log_utils import configure_structlog

        configure_structlog(logging.WARNING)
    except ImportError:
        pass
    seen = {}
    original = ic.SafeLogisticRegressionClassifier.process

    def process(self, messages):
        seen["X"] = self._create_X(messages[:1]) if messages else None
        return original(self, messages)

    ic.SafeLogisticRegressionClassifier.process = process
    model = sys.argv[sys.argv.index("--model") + 1] if "--model" in sys.argv else \
        str(ROOT / "models" / "shopassist.tar.gz")
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
    from sklearn.feature_extraction.text import TfidfTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.svm import LinearSVC

    rows = training_examples()
    feats = asyncio.run(features(rows))
    keep = [i for i, x in enumerate(feats) if x is not None and x.shape[1] > 0]
    X = vstack([feats[i] for i in keep]).tocsr()
    y = np.array([rows[i][2] for i in keep])
    lang = np.array([rows[i][0] for i in keep])
    groups = np.array([rows[i][1] for i in keep])
    candidates = {
        "logreg C=5": lambda: LogisticRegression(C=5, max_iter=1000),
        "tf-idf + LinearSVC C=0.5": lambda: make_pipeline(TfidfTransformer(sublinear_tf=True),
                                                          LinearSVC(C=0.5, random_state=0)),
        "tf-idf + LinearSVC C=1": lambda: make_pipeline(TfidfTransformer(sublinear_tf=True),
                                                        LinearSVC(C=1, random_state=0)),
        "tf-idf + LinearSVC C=2": lambda: make_pipeline(TfidfTransformer(sublinear_tf=True),
                                                        LinearSVC(C=2, random_state=0)),
    }
    threshold, ambiguity, scale = 0.3, 0.05, 10.0     # config.yml's FallbackClassifier
    if "--scales" in sys.argv:
        scales = [float(x) for x in sys.argv[sys.argv.index("--scales") + 1].split(",")]
        svm = candidates["tf-idf + LinearSVC C=1"]
        candidates = {f"LinearSVC C=1, scale {x:g}": (svm, x) for x in scales}
    else:
        candidates = {k: (v, scale) for k, v in candidates.items()}
    print(f"machine: {machine()}")
    print(f"{len(y)} training examples, {len(set(groups))} files, 6 folds grouped by file")
    for name, (make, scale) in candidates.items():
        right = {"zh": 0, "en": 0}
        total = {"zh": 0, "en": 0}
        for tr, te in GroupKFold(n_splits=6).split(X, y, groups):
            clf = make().fit(X[tr], y[tr])
            if hasattr(clf, "predict_proba"):
                P = clf.predict_proba(X[te])
            else:
                P = softmax(clf.decision_function(X[te]) * scale, axis=1)
            top = np.sort(P, axis=1)
            pred = np.where((top[:, -1] < threshold) | (top[:, -1] - top[:, -2] < ambiguity),
                            "nlu_fallback", clf.classes_[P.argmax(axis=1)])
            for lg in right:
                m = lang[te] == lg
                right[lg] += int((pred[m] == y[te][m]).sum())
                total[lg] += int(m.sum())
        print(f"{name:28} zh {right['zh'] / total['zh']:.1%}  en {right['en'] / total['en']:.1%}",
              flush=True)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
