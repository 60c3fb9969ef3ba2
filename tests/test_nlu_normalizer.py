"""The text normaliser (bot/nlu/normalizer.py): what the intent features are computed on,
and that catalog entities are still found in, and point into, the shopper's own text.
Expected values are written out by hand."""

from __future__ import annotations

import pytest

from bot.nlu.normalizer import drop_pleasantries, normalize, to_simplified


@pytest.mark.parametrize("text,expected", [
    # traditional characters
    ("請問這本書有幾頁", "请问这本书有几页"),
    ("這個顏色還有貨嗎？", "这个颜色还有货吗?"),
    # handles, links (also a pasted order link), e-mail addresses
    ("@AmazonHelp where is my order? https://amzn.to/3xYz",
     "HANDLE where is my order? LINK"),
    ("@客服小美 在吗", "HANDLE 在吗"),
    ("my order shop.example.com/orders/20261118000123 hasn't come",
     "my order LINK hasn't come"),
    ("mail me: jo.doe+shop@mail.example.com", "mail me: EMAIL"),
    ("www.example.com/p/123 in stock?", "LINK in stock?"),
    # repeated letters and punctuation cut to two; digits left alone
    ("sooooo slowwww!!!!!", "soo sloww!!"),
    ("哈哈哈哈 有货吗？？？", "哈哈 有货吗??"),
    ("order 20261118000111 costs 1000", "order 20261118000111 costs 1000"),
    # full-width letters and digits
    ("ＸＬ有吗", "XL有吗"),
    ("４２码", "42码"),
    # spaces
    ("  is   it\nin stock  ", "is it in stock"),
    ("", ""),
])
def test_normalize(text, expected):
    assert normalize(text) == expected


def test_an_at_inside_a_word_is_not_a_handle():
    assert normalize("me@home has it?") == "me@home has it?"


@pytest.mark.parametrize("text,expected", [
    ("u got it in xl? pls reply rn", "you got it in xl? please reply right now"),
    ("wat is the price thx", "wat is the price thanks"),    # "wat" alone says "huh?":
    ("wat", "wat"),                                         # left for the gate to judge
    ("木有货了咋办", "没有货了怎么办"),
    ("包邮不？", "包邮吗?"),
    ("啥时候发货", "什么时候发货"),
    # ordinary words that look like slang stay: a watch, children's shoes, "not" inside
    ("你们卖手表吗", "你们卖手表吗"),
    ("想买童鞋", "想买童鞋"),
    ("好不好用", "好不好用"),
])
def test_chat_speak(text, expected):
    assert normalize(text, chat_speak=True) == expected
    # off by default
    assert normalize(text) == normalize(text, chat_speak=False)


@pytest.mark.parametrize("text,expected", [
    ("hi, is the blue one in stock? thanks", "is the blue one in stock?"),
    ("Hello there! where is my order", "where is my order"),
    ("亲 在吗 这款还有货吗", "这款还有货吗"),
    ("您好 打扰一下 多少钱 谢谢亲", "多少钱"),
    # nothing but pleasantries, or too little left: unchanged
    ("hello", "hello"),
    ("thanks!", "thanks!"),
    ("ok thanks", "ok thanks"),
    ("在吗", "在吗"),
    # not pleasantries: a word that starts with "hi", sarcastic thanks
    ("his order is late", "his order is late"),
    ("thanks for nothing", "thanks for nothing"),
    ("where is my party", "where is my party"),
])
def test_drop_pleasantries(text, expected):
    assert drop_pleasantries(text) == expected


def test_to_simplified_keeps_every_offset():
    text = "請問疾風跑鞋黑色42碼還有嗎 hello"
    simplified = to_simplified(text)
    assert simplified == "请问疾风跑鞋黑色42码还有吗 hello"
    assert len(simplified) == len(text)
    assert to_simplified("no chinese here") == "no chinese here"


def test_catalog_entities_point_into_the_shoppers_text(demo_db, tmp_path):
    """The extractor reads the shopper's text (kept by the normaliser), traditional
    characters as simplified: 疾風跑鞋 is P001 and the span covers the traditional
    characters the shopper typed; handles and links do not move the spans."""
    from rasa.engine.graph import ExecutionContext, GraphSchema
    from rasa.engine.storage.local_model_storage import LocalModelStorage
    from rasa.engine.storage.resource import Resource
    from rasa.shared.nlu.training_data.message import Message
    from rasa.shared.nlu.training_data.training_data import TrainingData

    from bot.nlu.catalog_entities import CatalogEntityExtractor
    from bot.nlu.normalizer import ORIGINAL_TEXT, ShopperTextNormalizer

    (tmp_path / "storage").mkdir()
    storage = LocalModelStorage(tmp_path / "storage")
    context = ExecutionContext(GraphSchema({}), "test")
    extractor = CatalogEntityExtractor.create(
        {**CatalogEntityExtractor.get_default_config(), "catalog_path": str(demo_db)},
        storage, Resource("catalog"), context)
    extractor.train(TrainingData())
    normalizer = ShopperTextNormalizer.create({}, storage, Resource("norm"), context)

    text = "@shophelp 請問疾風跑鞋黑色42碼還有嗎 https://shop.example.com/p/P001"
    msg = Message(data={"text": text})
    normalizer.process([msg])
    assert msg.get(ORIGINAL_TEXT) == text
    assert msg.get("text") == "HANDLE 请问疾风跑鞋黑色42码还有吗 LINK"
    extractor.process([msg])
    found = {(e["entity"], e["value"], text[e["start"]:e["end"]])
             for e in msg.get("entities")}
    assert found == {("product", "P001", "疾風跑鞋"), ("color", "black", "黑色"),
                     ("size", "42", "42碼")}


async def test_pipeline_round_trip(small_nlu_agent):
    """A trained, persisted and loaded model whose pipeline starts with the normaliser and
    ends with the restorer (tests/nlu_support.py): the training examples are simplified
    Chinese and plain English only, yet a message in traditional characters, or with a
    handle and a link, gets the intent, its entities point into the text as typed, and
    the parse result's text is the shopper's."""
    agent = small_nlu_agent

    text = "請問這個多少錢"
    parsed = await agent.parse_message(text)
    assert parsed["intent"]["name"] == "ask_price", parsed["intent_ranking"]
    assert parsed["text"] == text

    text = "疾風跑鞋還有貨嗎"
    parsed = await agent.parse_message(text)
    assert parsed["intent"]["name"] == "check_stock", parsed["intent_ranking"]
    assert parsed["text"] == text
    assert [(e["entity"], e["value"], text[e["start"]:e["end"]])
            for e in parsed["entities"]] == [("product", "P001", "疾風跑鞋")]

    text = "@TeamSwift 疾风跑鞋 box was broken https://t.co/abc"
    parsed = await agent.parse_message(text)
    assert parsed["intent"]["name"] == "complaint", parsed["intent_ranking"]
    assert parsed["text"] == text
    assert [(e["entity"], text[e["start"]:e["end"]]) for e in parsed["entities"]] == \
        [("product", "疾风跑鞋")]
