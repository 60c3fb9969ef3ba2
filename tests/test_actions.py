"""Actions run with a CollectingDispatcher; every fact they send is checked against the
database."""

from __future__ import annotations

import pytest
from rasa_sdk.events import SlotSet

from actions.orders import ActionOrderStatus, ActionReturnPolicy
from actions.pricing import ActionDiscount, ActionPrice, requested_discount_pct
from actions.crosssell import ActionRecommend
from actions.products import ActionProductDetails, parse_measurements
from actions.service import ActionFallback, ActionHandoff
from actions.shipping import ActionShipping
from actions.base import context_of
from actions.stock import ActionCheckStock, ValidateStockForm
from tests.conftest import make_tracker


def customs(dispatcher):
    return [m["custom"] for m in dispatcher.messages if m.get("custom")]


def texts(dispatcher):
    return " ".join(m.get("text") or "" for m in dispatcher.messages)


def available(sql, sku):
    return sql("SELECT COALESCE(SUM(quantity), 0) AS q FROM stock WHERE sku = ?", sku)[0]["q"]


async def test_check_stock_variant_matches_database(dispatcher, sql):
    row = sql("SELECT v.sku, v.product_id, v.color, v.size FROM variants v JOIN stock s"
              " ON s.sku = v.sku GROUP BY v.sku HAVING SUM(s.quantity) > 5 LIMIT 1")[0]
    tracker = make_tracker("有货吗", slots={"product": row["product_id"], "size": row["size"],
                                          "color": row["color"]})
    events = await ActionCheckStock().run(dispatcher, tracker, {})
    # in stock: the answer, then its cross-sells (tests/test_crosssell.py), remembered
    assert [e["name"] for e in events] == ["offered_products", "crosssell_offered_for"]
    [card, offer] = customs(dispatcher)
    assert offer["type"] == "recommendations"
    assert offer["for_product_id"] == row["product_id"]
    assert card["type"] == "stock" and card["product_id"] == row["product_id"]
    [v] = card["variants"]
    assert v == {"sku": row["sku"], "color": row["color"], "size": row["size"],
                 "available": available(sql, row["sku"])}
    assert "有现货" in texts(dispatcher)


async def test_check_stock_sold_out_variant_offers_alternatives(dispatcher, sql):
    row = sql("SELECT v.sku, v.product_id, v.color, v.size FROM variants v JOIN stock s"
              " ON s.sku = v.sku GROUP BY v.sku HAVING SUM(s.quantity) = 0 LIMIT 1")[0]
    tracker = make_tracker("do you have it", slots={
        "product": row["product_id"], "size": row["size"], "color": row["color"],
        "language": "en"})
    await ActionCheckStock().run(dispatcher, tracker, {})
    [card] = customs(dispatcher)
    assert card["variants"][0]["available"] == 0
    assert "sold out" in texts(dispatcher)


async def test_check_stock_by_size_in_chinese_lists_every_colour(dispatcher, sql):
    pid = "P001"
    tracker = make_tracker("42码有吗", slots={"product": pid, "size": "42码"})
    await ActionCheckStock().run(dispatcher, tracker, {})
    [card, offer] = customs(dispatcher)
    assert offer["type"] == "recommendations"
    expected = sql("SELECT v.sku, SUM(s.quantity) AS q FROM variants v JOIN stock s ON"
                   " s.sku = v.sku WHERE v.product_id = ? AND v.size = '42' GROUP BY v.sku",
                   pid)
    assert {v["sku"]: v["available"] for v in card["variants"]} == {
        r["sku"]: r["q"] for r in expected}


async def test_check_stock_size_the_product_does_not_have(dispatcher):
    tracker = make_tracker("XXL", slots={"product": "P001", "size": "XXL", "language": "en"})
    await ActionCheckStock().run(dispatcher, tracker, {})
    assert "doesn't come in" in texts(dispatcher)


async def test_check_stock_colour_the_product_lacks_names_the_colour_and_forgets_it(
        dispatcher, sql):
    colours = {r["color"] for r in sql("SELECT DISTINCT color FROM variants WHERE"
                                       " product_id = 'P001'")}
    assert "white" not in colours
    tracker = make_tracker("white in 43?", slots={"product": "P001", "color": "white",
                                                  "size": "43", "language": "en"})
    events = await ActionCheckStock().run(dispatcher, tracker, {})
    text = texts(dispatcher)
    assert "doesn't come in white." in text and "43" not in text.split("It comes in")[0]
    offered = text.split("It comes in:")[1]
    assert all(c in offered for c in colours)                  # its colours, not sizes
    assert "EU" not in offered
    assert SlotSet("color", None) in events                    # not carried to the next
    assert SlotSet("size", None) not in events


async def test_check_stock_colour_and_size_that_exist_apart_offer_the_colours_sizes(
        dispatcher, demo_db, tmp_path, monkeypatch):
    import shutil
    import sqlite3

    from catalog.queries import Catalog

    db = tmp_path / "gap.db"            # P001 black without 42, as some shops' ranges are
    shutil.copy(demo_db, db)
    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM stock WHERE sku = 'P001-BLACK-42'")
        conn.execute("DELETE FROM variants WHERE sku = 'P001-BLACK-42'")
    monkeypatch.setenv("SHOPASSIST_CATALOG", str(db))
    tracker = make_tracker("?", slots={"product": "P001", "color": "black", "size": "42",
                                       "language": "en"})
    events = await ActionCheckStock().run(dispatcher, tracker, {})
    text = texts(dispatcher)
    assert "doesn't come in black EU 42" in text, text
    offered = text.split("It comes in:")[1]
    black_sizes = {v["size"] for v in Catalog(db).variants("P001") if v["color"] == "black"}
    assert "EU 41" in offered and "EU 42" not in offered and len(black_sizes) > 3
    assert SlotSet("color", None) not in events and SlotSet("size", None) not in events


async def test_check_stock_unknown_product_asks_with_suggestions(dispatcher):
    tracker = make_tracker("swift shoes in stock?", slots={"product": "NOPE",
                                                           "language": "en"})
    await ActionCheckStock().run(dispatcher, tracker, {})
    msg = dispatcher.messages[0]
    assert "Swift Running Shoes" in msg["text"]
    assert any('"product": "P001"' in b["payload"] for b in msg["buttons"])


async def test_stock_form_asks_size_only_when_needed(catalog):
    form = ValidateStockForm()
    t = make_tracker("有货吗", slots={"product": "P001"})
    assert await form.required_slots([], None, t, {}) == ["size"]
    t = make_tracker("有货吗", slots={"product": "P001", "color": "black"})
    assert await form.required_slots([], None, t, {}) == []
    t = make_tracker("有货吗", slots={})
    assert await form.required_slots([], None, t, {}) == ["product"]
    one_size = catalog._all("SELECT product_id FROM products WHERE category='backpacks'")[0][0]
    t = make_tracker("有货吗", slots={"product": one_size})
    assert await form.required_slots([], None, t, {}) in (["color"], [])


async def test_shipping_with_city_matches_catalog(dispatcher, catalog):
    from datetime import datetime

    from bot.settings import get_settings

    tracker = make_tracker("发成都几天到", intent="ask_shipping",
                           slots={"product": "P001", "size": "42", "city": "chengdu"})
    await ActionShipping().run(dispatcher, tracker, {})
    [card, offer] = customs(dispatcher)
    assert offer["type"] == "recommendations" and offer["for_product_id"] == "P001"
    expected = catalog.ship_date(get_settings().now(), product_id="P001", size="42",
                                 city="chengdu")
    assert card["ship_date"] == expected.ship_date.isoformat()
    assert card["carrier"] == expected.carrier
    assert card["city"] == "chengdu"
    assert card["city_name"] == "成都"                         # what the shopper reads
    assert card["carrier_name"] == catalog.carrier_name(expected.carrier, "zh")
    assert card["delivery_earliest"] == expected.delivery_earliest.isoformat()
    assert card["delivery_latest"] == expected.delivery_latest.isoformat()
    assert "成都" in texts(dispatcher)
    assert isinstance(datetime.fromisoformat(card["ship_date"]), datetime)


async def test_shipping_without_product_gives_cutoffs_and_free_shipping(dispatcher):
    tracker = make_tracker("when do you ship", intent="ask_shipping",
                           slots={"language": "en"})
    await ActionShipping().run(dispatcher, tracker, {})
    [card] = customs(dispatcher)
    assert card["type"] == "shipping" and card["ship_date"] == "2026-11-20"
    assert "16:00" in texts(dispatcher) and "Free shipping" in texts(dispatcher)


async def test_price_payload_is_the_catalog_price(dispatcher, sql):
    tracker = make_tracker("多少钱", intent="ask_price", slots={"product": "P010"})
    await ActionPrice().run(dispatcher, tracker, {})
    [card] = customs(dispatcher)
    price = sql("SELECT price FROM products WHERE product_id = 'P010'")[0]["price"]
    assert card == {"type": "price", "product_id": "P010", "price": price,
                    "currency": "CNY", "name": card["name"]}


async def test_discount_quotes_policy(dispatcher, sql):
    tracker = make_tracker("有优惠吗", intent="ask_discount")
    await ActionDiscount().run(dispatcher, tracker, {})
    policy = sql("SELECT value FROM policies WHERE key = 'discount_policy_zh'")[0]["value"]
    assert policy in texts(dispatcher)
    [card] = customs(dispatcher)
    assert card["requested_discount_pct"] is None             # no figure named
    assert card["max_agent_discount_pct"] == sql(
        "SELECT value FROM policies WHERE key = 'max_agent_discount_pct'")[0]["value"]


@pytest.mark.parametrize("text,pct", [
    ("打8折", 20), ("能打8折吗", 20), ("85折", 15), ("8.5折行不行", 15), ("九折", 10),
    ("打个八五折呗", 15), ("两折", 80), ("能打对折吗", 50), ("10% off", 10),
    ("10％的折扣", 10), ("15 percent off", 15), ("can you do 20% off?", 20),
    ("would you give me 12.5 per cent off", 12.5), ("half price?", 50),
    ("有优惠吗", None), ("能便宜点吗", None), ("any discount?", None),
    ("is it 100% cotton", None), ("10折", None), ("买2件打折吗", None), ("", None),
])
def test_requested_discount_pct(text, pct):
    assert requested_discount_pct(text) == pct


@pytest.mark.parametrize("text,lang,pct", [("能打8折吗", "zh", 20.0),
                                           ("can you do 15 percent off?", "en", 15.0)])
async def test_discount_carries_the_figure_asked_for(dispatcher, text, lang, pct):
    tracker = make_tracker(text, intent="ask_discount", slots={"product": "P001"})
    events = await ActionDiscount().run(dispatcher, tracker, {})
    [card] = customs(dispatcher)
    assert card["type"] == "discount" and card["requested_discount_pct"] == pct
    assert isinstance(card["requested_discount_pct"], float)
    assert (SlotSet("language", lang) in events) == (lang == "en")


async def test_order_status_shipped_has_carrier_and_tracking(dispatcher, sql):
    o = sql("SELECT * FROM orders WHERE status = 'shipped' LIMIT 1")[0]
    tracker = make_tracker(f"我的订单{o['order_id']}到哪了", intent="order_status",
                           entities=[{"entity": "order_id", "value": o["order_id"]}])
    await ActionOrderStatus().run(dispatcher, tracker, {})
    [card] = customs(dispatcher)
    assert card["order_id"] == o["order_id"] and card["status"] == "shipped"
    assert card["carrier"] == o["carrier_id"] and card["tracking_no"] == o["tracking_no"]
    assert o["tracking_no"] in texts(dispatcher)


async def test_order_status_unknown_order_is_a_helpful_reply(dispatcher):
    tracker = make_tracker("where is order 99999999999", intent="order_status",
                           slots={"language": "en"},
                           entities=[{"entity": "order_id", "value": "99999999999"}])
    await ActionOrderStatus().run(dispatcher, tracker, {})
    assert "couldn't find order 99999999999" in texts(dispatcher)


async def test_order_of_another_customer_is_not_shown(dispatcher, sql):
    o = sql("SELECT * FROM orders WHERE status = 'delivered' LIMIT 1")[0]
    tracker = make_tracker(o["order_id"], intent="order_status",
                           entities=[{"entity": "order_id", "value": o["order_id"]}],
                           metadata={"customer_id": "SOMEONE-ELSE"})
    await ActionOrderStatus().run(dispatcher, tracker, {})
    assert customs(dispatcher)[0]["status"] == "not_found"


async def test_order_status_without_number_asks_for_it(dispatcher):
    await ActionOrderStatus().run(dispatcher, make_tracker("我的快递呢", intent="order_status"),
                                  {})
    assert "订单号" in texts(dispatcher)


async def test_return_policy_for_order(dispatcher, sql):
    o = sql("SELECT * FROM orders WHERE status = 'delivered' ORDER BY delivered_at DESC"
            " LIMIT 1")[0]
    tracker = make_tracker(f"{o['order_id']}能退吗", intent="return_policy",
                           entities=[{"entity": "order_id", "value": o["order_id"]}])
    await ActionReturnPolicy().run(dispatcher, tracker, {})
    [card] = customs(dispatcher)
    assert card["order_id"] == o["order_id"] and "returnable" in card
    assert "七天无理由" in texts(dispatcher)


@pytest.mark.parametrize("text,expected", [
    ("我175cm 70kg穿什么码", {"height_cm": 175, "weight_kg": 70}),
    ("1米75 140斤", {"height_cm": 175, "weight_kg": 70}),
    ("脚长26.5cm", {"foot_mm": 265}),
    ("I'm 180 cm and 80kg", {"height_cm": 180, "weight_kg": 80}),
    ("hello", {}),
])
def test_parse_measurements(text, expected):
    assert parse_measurements(text) == pytest.approx(expected)


async def test_size_advice_from_height_and_weight(dispatcher, catalog):
    pid = catalog._all("SELECT product_id FROM products WHERE category='shell_jackets'")[0][0]
    tracker = make_tracker("175cm 70kg 穿什么码", intent="product_details",
                           slots={"product": pid})
    events = await ActionProductDetails().run(dispatcher, tracker, {})
    assert events == [SlotSet("size", "L")]
    assert customs(dispatcher)[0]["recommended_size"] == "L"
    assert "L码" in texts(dispatcher)


async def test_recommendations_are_in_stock_and_other_categories(dispatcher, catalog):
    tracker = make_tracker("有什么搭配推荐", intent="ask_recommendation",
                           slots={"product": "P001"})
    events = await ActionRecommend().run(dispatcher, tracker, {})
    [card] = customs(dispatcher)
    assert 1 <= len(card["items"]) <= 3
    for item in card["items"]:
        assert catalog.stock(item["product_id"]).available > 0
        assert catalog.product(item["product_id"]).category != "running_shoes"
        assert item["reason"]
    assert events[0]["name"] == "offered_products"


async def test_handoff_payload_reason(dispatcher):
    await ActionHandoff().run(dispatcher, make_tracker("转人工", intent="request_human"), {})
    assert customs(dispatcher) == [{"type": "handoff", "reason": "requested"}]
    d2 = type(dispatcher)()
    await ActionHandoff().run(d2, make_tracker("质量太差了", intent="complaint"), {})
    assert customs(d2) == [{"type": "handoff", "reason": "complaint"}]


async def test_second_fallback_in_a_row_hands_off(dispatcher):
    miss = {"event": "user", "text": "asdf", "parse_data": {"intent": {"name": "nlu_fallback"}}}
    one = make_tracker("qwer", intent="nlu_fallback", events=[])
    one.events[-1]["parse_data"]["intent"]["name"] = "nlu_fallback"
    await ActionFallback().run(dispatcher, one, {})
    assert not customs(dispatcher) and dispatcher.messages[0]["buttons"]
    two = make_tracker("qwer", intent="nlu_fallback", events=[miss])
    d2 = type(dispatcher)()
    await ActionFallback().run(d2, two, {})
    assert customs(d2) == [{"type": "handoff", "reason": "repeated_fallback"}]


async def test_action_failure_becomes_handoff(dispatcher, monkeypatch):
    from catalog.queries import Catalog

    def broken(self, *args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(Catalog, "product", broken)
    await ActionPrice().run(dispatcher, make_tracker("多少钱", intent="ask_price",
                                                     slots={"product": "P001"}), {})
    assert customs(dispatcher) == [{"type": "handoff", "reason": "action_failure",
                                    "action": "action_price"}]
    assert "人工" in dispatcher.messages[0]["text"]


@pytest.mark.parametrize("text,expected", [
    ("这个有XL吗", "zh"), ("do you have it in XL", "en"), ("👍👍", "zh"),
    ("swift跑鞋多少钱", "zh"), ("is 疾风跑鞋 in stock", "en"), ("", "zh"),
])
def test_language_follows_the_shopper(text, expected):
    ents = []
    if "疾风跑鞋" in text:
        s = text.index("疾风跑鞋")
        ents = [{"entity": "product", "value": "P001", "start": s, "end": s + 4}]
    ctx = context_of(make_tracker(text, entities=ents, slots={"language": "zh"}))
    assert ctx.language == expected


@pytest.mark.parametrize("payload", ['/inform{"size": "42"}', '/add_to_cart{"product": "P002"}',
                                     "/affirm"])
def test_a_button_payload_keeps_the_conversation_language(payload):
    tracker = make_tracker(payload, slots={"language": "zh"},
                           events=[{"event": "slot", "name": "language", "value": "zh"}])
    assert context_of(tracker).language == "zh"


def test_emoji_keeps_the_previous_language():
    tracker = make_tracker("👍", slots={"language": "en"},
                           events=[{"event": "slot", "name": "language", "value": "en"}])
    assert context_of(tracker).language == "en"


def test_widget_locale_decides_before_any_words():
    tracker = make_tracker("👍", metadata={"locale": "en-US"}, events=[])
    assert context_of(tracker).language == "en"


async def test_every_action_returns_the_language_slot(dispatcher):
    tracker = make_tracker("how much is it", intent="ask_price", slots={"product": "P001"})
    events = await ActionPrice().run(dispatcher, tracker, {})
    assert SlotSet("language", "en") in events
    assert "costs" in texts(dispatcher)


def test_page_product_becomes_the_product():
    ctx = context_of(make_tracker("有货吗", metadata={"page": {"product_id": "P005"}}))
    assert ctx.product == "P005" and ctx.changed["page_product"] == "P005"


def test_named_product_beats_page_and_resets_size():
    tracker = make_tracker("疾风跑鞋呢", metadata={"page": {"product_id": "P005"}},
                           entities=[{"entity": "product", "value": "P001", "start": 0,
                                      "end": 4}],
                           slots={"product": "P001", "size": "XL", "page_product": "P005"},
                           events=[{"event": "slot", "name": "product", "value": "P005"},
                                   {"event": "slot", "name": "page_product", "value": "P005"},
                                   {"event": "slot", "name": "size", "value": "XL"}])
    ctx = context_of(tracker)
    assert ctx.product == "P001" and ctx.size is None
    assert SlotSet("size", None) in ctx.slot_events()


def test_category_question_is_not_about_the_previous_product():
    tracker = make_tracker("有袜子吗", entities=[{"entity": "category", "value": "socks",
                                               "start": 1, "end": 3}],
                           slots={"product": "P001"},
                           events=[{"event": "slot", "name": "product", "value": "P001"}])
    ctx = context_of(tracker)
    assert ctx.product is None and ctx.category == "socks"


def test_unknown_page_product_is_ignored():
    ctx = context_of(make_tracker("有货吗", metadata={"page": {"product_id": "NOPE"}}))
    assert ctx.product is None
