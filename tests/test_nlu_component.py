"""The catalog entity matcher and its Rasa component (create, train, persist, load,
process on a LocalModelStorage)."""

from __future__ import annotations

import pytest

from bot.nlu.matcher import CatalogMatcher, patterns_from_catalog


@pytest.fixture(scope="module")
def matcher(demo_db):
    return CatalogMatcher.from_catalog(demo_db)


def ents(matcher, text):
    return [(e["entity"], e["text"], e["value"]) for e in matcher.extract(text)]


@pytest.mark.parametrize("text,expected", [
    ("疾风跑鞋有42码吗", [("product", "疾风跑鞋", "P001"), ("size", "42码", "42")]),
    ("SWIFT running   shoes in xl?", [("product", "SWIFT running   shoes", "P001"),
                                      ("size", "xl", "XL")]),
    ("swiftrunningshoes 黑色", [("product", "swiftrunningshoes", "P001"),
                               ("color", "黑色", "black")]),
    ("疾风 跑鞋", [("product", "疾风 跑鞋", "P001")]),
    ("这个有XL吗", [("size", "XL", "XL")]),
    ("发成都要几天", [("city", "成都", "chengdu")]),
    ("ship to Xi'an?", [("city", "Xi'an", "xian")]),
    ("订单20261118000123到哪了", [("order_id", "20261118000123", "20261118000123")]),
    ("买2双袜子", [("quantity", "2双", "2"), ("category", "袜子", "socks")]),
    ("two pairs please", [("quantity", "two pairs", "2")]),
    ("I ordered the red one", [("color", "red", "red")]),
    ("I'm 175cm 70kg", []),
    ("能寄到东京吗", [("place", "东京", "tokyo")]),
    ("do you ship to the UK?", [("place", "UK", "uk")]),
    ("中国香港包邮吗", [("place", "中国香港", "hong_kong")]),
    ("is it made in China", []),          # the home region is not a place to ask about
    ("国内现货吗", []),
    ("明白了，蓝牙耳机", []),
    ("", []),
    ("👍👍👍", []),
])
def test_matcher_finds_catalog_entities(matcher, text, expected):
    assert ents(matcher, text) == expected


def test_matcher_spans_point_into_the_text(matcher):
    text = "Hi! is the Swift Running Shoes in Navy Blue size 42 in stock in 上海?"
    for e in matcher.extract(text):
        assert text[e["start"]:e["end"]] == e["text"]
    assert ("color", "navy") in {(e["entity"], e["value"]) for e in matcher.extract(text)}


def test_bad_pattern_is_rejected():
    with pytest.raises(ValueError, match="label"):
        CatalogMatcher([{"label": "nope", "pattern": "x", "id": "1"}])


def test_patterns_need_a_catalog(tmp_path):
    with pytest.raises(ValueError, match="build it first"):
        patterns_from_catalog(tmp_path / "missing.db")


def test_huge_and_binary_input(matcher):
    assert isinstance(matcher.extract("疾风跑鞋" * 5000), list)
    assert matcher.extract("\x00\x01\xff") == []


def trained_extractor(tmp_path, demo_db):
    """The catalog entity extractor as Rasa creates and trains it, with what loading it
    again needs: (component, config, storage, resource, context)."""
    from rasa.engine.graph import ExecutionContext, GraphSchema
    from rasa.engine.storage.local_model_storage import LocalModelStorage
    from rasa.engine.storage.resource import Resource
    from rasa.shared.nlu.training_data.training_data import TrainingData

    from bot.nlu.catalog_entities import CatalogEntityExtractor

    (tmp_path / "storage").mkdir()
    storage = LocalModelStorage(tmp_path / "storage")
    resource = Resource("catalog_entities")
    context = ExecutionContext(GraphSchema({}), "test")
    config = {**CatalogEntityExtractor.get_default_config(), "catalog_path": str(demo_db)}
    component = CatalogEntityExtractor.create(config, storage, resource, context)
    component.train(TrainingData())
    return component, config, storage, resource, context


def test_rasa_component_round_trip(tmp_path, demo_db):
    from rasa.shared.nlu.training_data.message import Message

    from bot.nlu.catalog_entities import CatalogEntityExtractor

    component, config, storage, resource, context = trained_extractor(tmp_path, demo_db)

    loaded = CatalogEntityExtractor.load(config, storage, resource, context)
    msg = Message(data={"text": "疾风跑鞋黑色42码发上海"})
    msg.set("entities", [{"entity": "earlier", "start": 0, "end": 1, "value": "x"}])
    loaded.process([msg])
    found = {(e["entity"], e["value"]) for e in msg.get("entities")}
    assert found == {("earlier", "x"), ("product", "P001"), ("color", "black"),
                     ("size", "42"), ("city", "shanghai")}
    assert all(e.get("extractor") == "CatalogEntityExtractor"
               for e in msg.get("entities") if e["entity"] != "earlier")


def test_places_come_from_the_catalogs_regions(tmp_path, demo_db):
    """A region the shop adds (an imported shipping_regions row) is a place at once; the
    home region's names are not."""
    import shutil
    import sqlite3

    db = tmp_path / "catalog.db"
    shutil.copy(demo_db, db)
    with sqlite3.connect(db) as conn:
        conn.execute("INSERT INTO shipping_regions VALUES ('iceland', 'Iceland', '冰岛', 0, NULL)")
    found = {(e["entity"], e["value"]) for e in CatalogMatcher.from_catalog(db).extract(
        "ship to iceland? 寄冰岛呢 or mainland China")}
    assert found == {("place", "iceland")}


def test_a_place_is_a_city_for_the_classifier_but_not_emitted(tmp_path, demo_db):
    """"what about taiwan" reads like "what about hangzhou" (the city feature), while the
    actions keep reading places from the text: no `place` entity reaches the tracker."""
    from rasa.shared.nlu.training_data.message import Message
    from rasa.shared.nlu.training_data.training_data import TrainingData

    from bot.nlu.catalog_entities import ENTITY_TYPES

    component = trained_extractor(tmp_path, demo_db)[0]
    place, colour = Message(data={"text": "what about taiwan"}), Message(data={"text": "那黑色呢"})
    component.process([place, colour])
    assert place.get(ENTITY_TYPES) == ["city"] and place.get("entities") == []
    assert colour.get(ENTITY_TYPES) == ["color"]
    training = TrainingData([Message(data={"text": "能寄到伦敦吗", "intent": "ask_shipping"})])
    component.process_training_data(training)
    assert training.training_examples[0].get(ENTITY_TYPES) == ["city"]
