"""The intent classifier: a linear model on the pipeline's sparse features, safe on
messages with no text.

`LinearIntentClassifier` (config.yml) fits a linear SVM (`model: svm`, the default:
LinearSVC on sublinear tf-idf of the features) or logistic regression (`model: logreg`),
with the inverse regularisation strength `C`, and optionally one column per kind of
catalog entity the message names (`entity_weight`). The SVM's confidences are a softmax of
its decision values times `confidence_scale`, so that the FallbackClassifier's thresholds
keep their meaning. The model, C and entity weight in config.yml were chosen by
cross-validation over the training files grouped by file (bench/cv_intents.py,
docs/nlu.md). About 1 ms a message instead of DIET's 6 on this machine.

Rasa's own LogisticRegressionClassifier (which this extends) raises on a message without
features (an empty or whitespace-only text), and the shopper then gets no answer at all.
This one gives such a message no intent (confidence 0), so the FallbackClassifier turns it
into `nlu_fallback` and the shopper gets the "sorry, you can ask me about..." reply.

`SafeLogisticRegressionClassifier` is this classifier's former name, still registered so
that models trained and configs written under it load and behave as before.
"""

from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa.engine.graph import ExecutionContext
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.logistic_regression_classifier import LogisticRegressionClassifier
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
import numpy as np
from scipy.sparse import csr_matrix, hstack, vstack
from rasa.utils.tensorflow.constants import RANKING_LENGTH

from bot.nlu.catalog_entities import ENTITY_TYPES

# what the catalog can name in a message; one column each, and one for "any of them"
ENTITY_COLUMNS = ("product", "category", "color", "size", "quantity", "city", "order_id")
N_ENTITY_COLUMNS = len(ENTITY_COLUMNS) + 1


def make_model(model: str, C: float, entity_columns: bool = False, logreg: Any = None) -> Any:
    """The scikit-learn estimator for `model` (config.yml), shared with
    bench/cv_intents.py so that cross-validation tests what is deployed. With
    `entity_columns`, the SVM's tf-idf weights only the text features: the first
    N_ENTITY_COLUMNS columns pass through as they are (logistic regression takes every
    column as it is anyway)."""
    if model == "logreg":
        from sklearn.linear_model import LogisticRegression

        est: Any = logreg if logreg is not None else LogisticRegression(max_iter=1000)
        return est.set_params(C=C)
    from sklearn.compose import ColumnTransformer
    from sklearn.feature_extraction.text import TfidfTransformer
    from sklearn.pipeline import Pipeline
    from sklearn.svm import LinearSVC

    svm = ("svm", LinearSVC(C=C, random_state=0))
    tfidf = TfidfTransformer(sublinear_tf=True)
    if not entity_columns:
        return Pipeline([("tfidf", tfidf), svm])
    features = ColumnTransformer([("entities", "passthrough", list(range(N_ENTITY_COLUMNS))),
                                  ("text", tfidf, slice(N_ENTITY_COLUMNS, None))],
                                 sparse_threshold=1.0)
    return Pipeline([("features", features), svm])


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True
)
class LinearIntentClassifier(LogisticRegressionClassifier):
    """A linear SVM (or logistic regression) on the message's features that answers "no
    intent" for featureless messages (see the module docstring)."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {**LogisticRegressionClassifier.get_default_config(), "C": 1.0,
                "model": "svm", "confidence_scale": 10.0, "entity_weight": 0.0,
                # pairs of intents the dialogue answers the same way: when they are the
                # two most likely, the first takes both confidences, so that being torn
                # between them is not the FallbackClassifier's "ambiguous"
                "same_answer": []}

    def __init__(self, config: Dict[Text, Any], *args: Any, **kwargs: Any) -> None:
        super().__init__(config, *args, **kwargs)
        C = float(self.config.get("C", 1.0))
        model = self.config.get("model", "logreg")
        self.entity_weight = float(self.config.get("entity_weight") or 0.0)
        if model not in ("svm", "logreg"):
            raise ValueError(f"{type(self).__name__}: model must be 'logreg' or 'svm', got"
                             f" {model!r}")
        self.clf = make_model(model, C, self.entity_weight > 0, logreg=self.clf)

    # what a fitted tf-idf step stores besides sklearn's own types (its idf diagonal)
    TRUSTED_TYPES = ("scipy.sparse._csr.csr_matrix", "scipy.sparse._csc.csc_matrix",
                     "scipy.sparse._dia.dia_matrix")

    @classmethod
    def load(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
             execution_context: ExecutionContext,
             **kwargs: Any) -> "LinearIntentClassifier":
        """Rasa's loader, trusting the sparse matrix type the tf-idf step stores too
        (anything else unknown is still refused)."""
        import skops.io as sio

        component = cls(config, execution_context.node_name, model_storage, resource)
        try:
            with model_storage.read_from(resource) as model_dir:
                path = model_dir / f"{resource.name}.skops"
                unknown = sio.get_untrusted_types(file=path)
                refused = [t for t in unknown if t not in cls.TRUSTED_TYPES]
                if refused:
                    raise TypeError(f"refusing to load {path}: untrusted types {refused}")
                component.clf = sio.load(path, trusted=unknown)
        except ValueError:        # nothing persisted (trained on no data), as Rasa's own
            pass
        return component

    def _entity_columns(self, messages: List[Message]) -> csr_matrix:
        """Which kinds of catalog entity each message names (CatalogEntityExtractor), times
        `entity_weight`: "do you have a laptop" names nothing the shop sells, "do you have
        it in black" does. Put before the text features; tf-idf does not weight them."""
        w = self.entity_weight
        rows = []
        for m in messages:
            found = set(m.get(ENTITY_TYPES) or ())
            rows.append([w if t in found else 0.0 for t in ENTITY_COLUMNS] +
                        [w if found else 0.0])
        return csr_matrix(np.array(rows, dtype=float))

    def _svm_scores(self, X: csr_matrix) -> np.ndarray | None:
        """The fitted SVM pipeline's decision values for one message, computed directly
        on the row's non-zero entries: the same numbers as `self.clf.decision_function(X)`
        (a test checks) in a fraction of the time, as scikit-learn's input checks and
        ColumnTransformer cost more than the arithmetic for one message. None when the
        model is not the fitted SVM pipeline or X is not one row. make_model's tf-idf is
        sublinear with l2 norm; test_fast_scores_equal_the_pipelines fails if that changes."""
        steps = dict(getattr(self.clf, "steps", ()))
        svm = steps.get("svm")
        if svm is None or not hasattr(svm, "coef_") or X.shape[0] != 1:
            return None
        if "features" in steps:
            n, tfidf = N_ENTITY_COLUMNS, steps["features"].named_transformers_["text"]
        else:
            n, tfidf = 0, steps["tfidf"]
        X = csr_matrix(X)
        cols = X.indices
        values = X.data.astype(np.float64)
        text = cols >= n
        tf = values[text]
        tf = (np.log(tf) + 1 if tfidf.sublinear_tf else tf) * tfidf.idf_[cols[text] - n]
        norm = np.sqrt(np.dot(tf, tf))
        values[text] = tf / norm if norm > 0 else tf
        scores = svm.coef_[:, cols] @ values + svm.intercept_
        return scores[None, :] if scores.shape[0] > 1 else scores

    def _probabilities(self, X: csr_matrix) -> np.ndarray:
        if hasattr(self.clf, "predict_proba"):
            return self.clf.predict_proba(X)[0]
        fast = self._svm_scores(X)
        scores = np.atleast_1d((fast if fast is not None else self.clf.decision_function(X))[0])
        if scores.shape[0] == 1:              # two intents: one score for the second
            scores = np.array([-scores[0], scores[0]])
        z = np.exp((scores - scores.max()) * float(self.config["confidence_scale"]))
        return z / z.sum()

    def _create_X(self, messages: List[Message]) -> csr_matrix:
        """The same matrix as Rasa's, without stacking an empty dense block onto every
        message (scipy's `bmat` was a tenth of the CPU time of a whole reply)."""
        rows = []
        for e in messages:
            sparse_feats = e.get_sparse_features(attribute=TEXT)[1]
            dense_feats = e.get_dense_features(attribute=TEXT)[1]
            if sparse_feats is not None and dense_feats is None:
                rows.append(csr_matrix(sparse_feats.features))
                continue
            rows.append(hstack([
                csr_matrix(sparse_feats.features if sparse_feats else []),
                csr_matrix(dense_feats.features if dense_feats else [])]))
        X = rows[0].tocsr() if len(rows) == 1 else vstack(rows)
        if self.entity_weight > 0 and X.shape[1] > 0:
            X = hstack([self._entity_columns(messages), X]).tocsr()
        return X

    def _joined(self, ranking: List[Dict[Text, Any]]) -> List[Dict[Text, Any]]:
        """The ranking with the top intent holding the second's confidence too when the
        two are a `same_answer` pair ("swift running shoes in grey size 41?": check_stock
        0.51, inform 0.49; both start the stock form)."""
        pairs = {frozenset(p) for p in self.config.get("same_answer") or [] if len(p) == 2}
        if len(ranking) < 2 or frozenset((ranking[0]["name"], ranking[1]["name"])) not in pairs:
            return ranking
        top = {**ranking[0], "confidence": ranking[0]["confidence"] + ranking[1]["confidence"]}
        return [top] + ranking[1:]

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            try:
                X = self._create_X([message])
            except (ValueError, IndexError):
                X = None
            if X is None or X.shape[1] == 0:
                message.set("intent", {"name": None, "confidence": 0.0}, add_to_output=True)
                message.set("intent_ranking", [], add_to_output=True)
                continue
            probas = self._probabilities(X)
            ranking = sorted(({"name": name, "confidence": float(p)}
                              for name, p in zip(self.clf.classes_, probas)),
                             key=lambda e: -e["confidence"])
            ranking = self._joined(ranking)
            message.set("intent", ranking[0], add_to_output=True)
            if self.config[RANKING_LENGTH] > 0:
                ranking = ranking[: self.config[RANKING_LENGTH]]
            message.set("intent_ranking", ranking, add_to_output=True)
        return messages


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True
)
class SafeLogisticRegressionClassifier(LinearIntentClassifier):
    """The former name of LinearIntentClassifier, for models trained and configs written
    under it. Its default model stays logistic regression, as it was under this name."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {**LinearIntentClassifier.get_default_config(), "model": "logreg"}
