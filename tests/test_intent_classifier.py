"""The intent classifier (bot/nlu/intent_classifier.py): catalog-entity columns, training,
persisting and loading, and messages without features."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.sparse import csr_matrix

from bot.nlu.catalog_entities import ENTITY_TYPES
from bot.nlu.intent_classifier import (ENTITY_COLUMNS, N_ENTITY_COLUMNS,
                                       LinearIntentClassifier)

VOCAB = ["have", "it", "pizza", "price", "ship", "hello"]


def message(text: str, intent: str | None = None, entity_types=()):
    from rasa.shared.nlu.constants import FEATURE_TYPE_SENTENCE, TEXT
    from rasa.shared.nlu.training_data.features import Features
    from rasa.shared.nlu.training_data.message import Message

    data = {"text": text}
    if intent:
        data["intent"] = intent
    m = Message(data=data)
    words = text.split()
    if words:
        row = csr_matrix(np.array([[float(w in words) for w in VOCAB]]))
        m.add_features(Features(row, FEATURE_TYPE_SENTENCE, TEXT, "test"))
    m.set(ENTITY_TYPES, list(entity_types))
    return m


@pytest.fixture
def parts(tmp_path):
    from rasa.engine.graph import ExecutionContext, GraphSchema
    from rasa.engine.storage.local_model_storage import LocalModelStorage
    from rasa.engine.storage.resource import Resource

    (tmp_path / "storage").mkdir()
    return (LocalModelStorage(tmp_path / "storage"), Resource("intent"),
            ExecutionContext(GraphSchema({}), "test"))


def config(**kw):
    return {**LinearIntentClassifier.get_default_config(), "model": "svm", "C": 2,
            **kw}


def training_data():
    from rasa.shared.nlu.training_data.training_data import TrainingData

    # the same words, told apart only by whether the catalog recognised a product
    examples = []
    for _ in range(12):
        examples.append(message("have it", "check_stock", ["product", "size"]))
        examples.append(message("have it", "out_of_scope", []))
        examples.append(message("hello", "greet", []))
        examples.append(message("price it", "ask_price", ["product"]))
    return TrainingData(training_examples=examples)


def test_entity_columns_come_first_and_are_weighted(parts):
    clf = LinearIntentClassifier.create(config(entity_weight=0.3), *parts)
    X = clf._create_X([message("have it", entity_types=["size", "product"]),
                       message("have it")])
    n = N_ENTITY_COLUMNS
    assert X.shape == (2, n + len(VOCAB))
    expected = [0.3 if t in ("product", "size") else 0.0 for t in ENTITY_COLUMNS] + [0.3]
    assert X[0, :n].toarray().ravel().tolist() == pytest.approx(expected)
    assert X[1, :n].toarray().ravel().tolist() == [0.0] * n
    assert X[0, n:].toarray().tolist() == X[1, n:].toarray().tolist()


def test_without_entity_weight_the_matrix_is_rasas(parts):
    clf = LinearIntentClassifier.create(config(), *parts)
    assert clf._create_X([message("have it", entity_types=["product"])]).shape == \
        (1, len(VOCAB))


def test_entity_columns_decide_between_the_same_words(parts):
    clf = LinearIntentClassifier.create(config(entity_weight=0.3), *parts)
    clf.train(training_data())
    with_product = message("have it", entity_types=["product", "size"])
    without = message("have it")
    clf.process([with_product, without])
    assert with_product.get("intent")["name"] == "check_stock"
    assert without.get("intent")["name"] == "out_of_scope"

    # persisted and loaded (skops, trusted types only): the same answers
    loaded = LinearIntentClassifier.load(config(entity_weight=0.3), *parts)
    again = [message("have it", entity_types=["product", "size"]), message("have it")]
    loaded.process(again)
    assert [m.get("intent")["name"] for m in again] == ["check_stock", "out_of_scope"]
    assert again[0].get("intent")["confidence"] == \
        pytest.approx(with_product.get("intent")["confidence"])


def test_a_message_without_features_gets_no_intent(parts):
    clf = LinearIntentClassifier.create(config(entity_weight=0.3), *parts)
    clf.train(training_data())
    empty = message("")
    clf.process([empty])
    assert empty.get("intent") == {"name": None, "confidence": 0.0}
    assert empty.get("intent_ranking") == []


def test_unknown_model_is_refused(parts):
    with pytest.raises(ValueError, match="model must be"):
        LinearIntentClassifier.create(config(model="forest"), *parts)


def test_extractor_sets_entity_types_on_training_and_parsed_messages(demo_db, parts):
    from rasa.engine.storage.resource import Resource
    from rasa.shared.nlu.training_data.message import Message
    from rasa.shared.nlu.training_data.training_data import TrainingData

    from bot.nlu.catalog_entities import CatalogEntityExtractor

    storage, _, context = parts
    resource = Resource("catalog_entities")
    cfg = {**CatalogEntityExtractor.get_default_config(), "catalog_path": str(demo_db)}
    CatalogEntityExtractor.create(cfg, storage, resource, context).train(TrainingData())
    extractor = CatalogEntityExtractor.load(cfg, storage, resource, context)

    annotated = [{"entity": "color", "start": 0, "end": 2, "value": "black"}]
    example = Message(data={"text": "疾风跑鞋黑色42码发上海", "intent": "check_stock",
                            "entities": annotated})
    extractor.process_training_data(TrainingData(training_examples=[example]))
    assert example.get(ENTITY_TYPES) == ["city", "color", "product", "size"]
    assert example.get("entities") == annotated           # annotations left as written

    parsed = Message(data={"text": "疾风跑鞋黑色42码发上海"})
    extractor.process([parsed])
    assert parsed.get(ENTITY_TYPES) == example.get(ENTITY_TYPES)

    plain = Message(data={"text": "which phone should i buy"})
    extractor.process([plain])
    assert plain.get(ENTITY_TYPES) == []


@pytest.mark.parametrize("entity_weight", [0.0, 0.3])
@pytest.mark.parametrize("n_intents", [2, 5])
def test_fast_scores_equal_the_pipelines(parts, entity_weight, n_intents):
    import scipy.sparse as sp

    clf = LinearIntentClassifier.create(config(entity_weight=entity_weight), *parts)
    rng = np.random.default_rng(0)
    X = sp.random(200, 300, density=0.05, format="csr", random_state=1) * 3
    X.data = np.ceil(X.data)                              # counts, as the featurizers give
    if entity_weight:
        X = sp.hstack([csr_matrix(rng.integers(0, 2, (200, N_ENTITY_COLUMNS)) * 0.3),
                       X]).tocsr()
    y = np.arange(200) % n_intents
    clf.clf.fit(X, y)
    for i in range(20):
        row = X[i:i + 1]
        assert np.allclose(clf._svm_scores(row), clf.clf.decision_function(row))
    empty = csr_matrix((1, X.shape[1]))
    assert np.allclose(clf._svm_scores(empty), clf.clf.decision_function(empty))


# -- the former name ---------------------------------------------------------------------------

OLD_NAME_CONFIG = """
recipe: default.v1
language: en
assistant_id: old-name
pipeline:
  - name: WhitespaceTokenizer
  - name: CountVectorsFeaturizer
  - name: bot.nlu.intent_classifier.SafeLogisticRegressionClassifier
    model: svm
    C: 2
policies: []
"""

OLD_NAME_NLU = """
version: "3.1"
nlu:
- intent: greet
  examples: |
    - hello
    - hi there
    - hello there
    - good morning
    - hey
- intent: ask_price
  examples: |
    - how much is it
    - what does it cost
    - how much does this cost
    - price please
    - what is the price
- intent: check_stock
  examples: |
    - is it in stock
    - do you have it in size 42
    - is this available
    - any left in stock
    - do you have it in black
"""


def test_the_former_name_keeps_its_former_default():
    from bot.nlu.intent_classifier import SafeLogisticRegressionClassifier

    assert issubclass(SafeLogisticRegressionClassifier, LinearIntentClassifier)
    assert SafeLogisticRegressionClassifier.get_default_config()["model"] == "logreg"
    assert LinearIntentClassifier.get_default_config()["model"] == "svm"


async def test_a_model_trained_under_the_former_name_loads_and_parses(tmp_path):
    """Saved models and old configs name `SafeLogisticRegressionClassifier`: a model
    trained under that name still loads, runs the same classifier, and parses."""
    from rasa.core.agent import Agent
    from rasa.model_training import train_nlu

    from bot.nlu.intent_classifier import SafeLogisticRegressionClassifier

    (tmp_path / "config.yml").write_text(OLD_NAME_CONFIG, encoding="utf-8")
    (tmp_path / "nlu.yml").write_text(OLD_NAME_NLU, encoding="utf-8")
    model = train_nlu(str(tmp_path / "config.yml"), str(tmp_path / "nlu.yml"),
                      str(tmp_path / "models"), fixed_model_name="old-name")
    agent = Agent.load(model)
    classifiers = [node.uses for node in agent.processor.model_metadata.predict_schema
                   .nodes.values() if issubclass(node.uses, LinearIntentClassifier)]
    assert classifiers == [SafeLogisticRegressionClassifier]
    for text, intent in [("hello there", "greet"), ("how much does it cost", "ask_price"),
                         ("do you have it in size 43", "check_stock")]:
        parsed = await agent.parse_message(text)
        assert parsed["intent"]["name"] == intent, parsed


def test_two_intents_with_the_same_answer_are_not_a_tie(parts):
    """"have it" is check_stock as often as out_of_scope here (no entity columns): each
    about half. Named a `same_answer` pair, the top one holds both; other pairs and the
    rest of the ranking are left as they are."""
    def parse(**kw):
        clf = LinearIntentClassifier.create(config(**kw), *parts)
        clf.train(training_data())
        m = message("have it")
        clf.process([m])
        return m.get("intent"), {e["name"]: e["confidence"] for e in m.get("intent_ranking")}

    (top, ranking) = parse()
    assert top["name"] in ("check_stock", "out_of_scope") and 0.3 < top["confidence"] < 0.7
    joined, joined_ranking = parse(same_answer=[["check_stock", "out_of_scope"]])
    second = ({"check_stock", "out_of_scope"} - {top["name"]}).pop()
    assert joined["name"] == top["name"]
    assert joined["confidence"] == pytest.approx(ranking[top["name"]] + ranking[second])
    assert joined_ranking[second] == pytest.approx(ranking[second])
    other, _ = parse(same_answer=[["greet", "ask_price"]])
    assert other["confidence"] == pytest.approx(top["confidence"])
