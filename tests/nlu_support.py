"""A small NLU model with the shop's own pipeline, trained once per test session (a
pytest plugin loaded by tests/conftest.py): the shopper-text normaliser first, Jieba, the
catalog entity extractor on the demo catalog, character n-grams, the linear intent
classifier, the unknown-text gate before Rasa's FallbackClassifier, and the restorer
last, trained on a few simplified Chinese and plain English examples, persisted and
loaded back as a Rasa `Agent` (tests/test_nlu_normalizer.py, tests/test_unknown_text.py).

Tests only parse with it (`await small_nlu_agent.parse_message(text)`), which changes
nothing in the model, so one model serves the whole session.
"""

from __future__ import annotations

import pytest

PIPELINE = """
recipe: default.v1
language: zh
assistant_id: small-nlu-test
pipeline:
  - name: bot.nlu.normalizer.ShopperTextNormalizer
  - name: JiebaTokenizer
  - name: bot.nlu.catalog_entities.CatalogEntityExtractor
    catalog_path: {catalog_path}
  - name: CountVectorsFeaturizer
    analyzer: char_wb
    min_ngram: 1
    max_ngram: 3
  - name: bot.nlu.intent_classifier.LinearIntentClassifier
    entity_weight: 0.3
  - name: bot.nlu.unknown_text.UnknownTextGate
    min_known_share: 0.5
  - name: FallbackClassifier
    threshold: 0.3
  - name: bot.nlu.normalizer.ShopperTextRestorer
policies: []
"""

# simplified Chinese and plain English only: traditional characters, handles and links
# are the normaliser's to handle at parse time
TRAINING_DATA = """version: "3.1"
nlu:
- intent: ask_price
  examples: |
    - 这个多少钱
    - 价钱多少
    - 钱是多少
    - 什么价钱
    - 请问多少钱
- intent: check_stock
  examples: |
    - 还有货吗
    - 这个还有没有
    - 请问还有吗
    - 有没有现货
    - 还有库存吗
    - 有黑色的吗
    - is it in stock
    - do you have it in black
- intent: greet
  examples: |
    - 你好
    - 您好
    - hello
    - hi there
- intent: complaint
  examples: |
    - HANDLE the box was broken
    - HANDLE my parcel was thrown over the fence
    - the box arrived broken LINK
    - the glass was smashed, see LINK
- intent: thank
  examples: |
    - thank you
    - thanks a lot
    - 谢谢
    - 多谢
- intent: inform
  examples: |
    - 42
    - size 41
    - 43码
    - XL
"""


@pytest.fixture(scope="session")
def small_nlu_agent(tmp_path_factory, demo_db):
    """The small model above, trained, persisted and loaded: a Rasa `Agent`."""
    from rasa.core.agent import Agent
    from rasa.model_training import train_nlu

    folder = tmp_path_factory.mktemp("small_nlu")
    (folder / "config.yml").write_text(PIPELINE.format(catalog_path=demo_db),
                                       encoding="utf-8")
    (folder / "nlu.yml").write_text(TRAINING_DATA, encoding="utf-8")
    model = train_nlu(str(folder / "config.yml"), str(folder / "nlu.yml"),
                      str(folder / "models"), fixed_model_name="small-nlu")
    return Agent.load(model)
