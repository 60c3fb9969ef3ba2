"""Actions run with a CollectingDispatcher; every fact they send is checked against the
database."""

from __future__ import annotations

import sqlite3
from datetime import date

import pytest
from rasa_sdk.events import SlotSet

from actions.orders import ActionOrderStatus, ActionReturnPolicy
from actions.pricing import ActionDiscount, ActionPrice, requested_discount_pct
from actions.crosssell import ActionRecommend
from actions.products import ActionProductDetails, parse_measurements
from actions.service import ActionFallback, ActionHandoff, ActionOutOfScope
from actions.shipping import ActionShipping
from actions.base import context_of
from actions.stock import ActionCheckStock, ValidateStockForm
from rasa_sdk.executor import CollectingDispatcher
from tests.conftest import NOW, copy_db, make_tracker

SHOP_SECRET = "test-shop-secret"


def signature(customer_id: str, secret: str = SHOP_SECRET) -> str:
    """The documented signature, computed here by hand: hex HMAC-SHA256 of the id."""
    import hashlib
    import hmac

    return hmac.new(secret.encode(), customer_id.encode(), hashlib.sha256).hexdigest()


@pytest.fixture()
def signed(monkeypatch):
    """metadata of a signed-in shopper: `signed("C000123")` (the shop's secret is set for
    the test)."""
    monkeypatch.setenv("SHOPASSIST_SHOP_SECRET", SHOP_SECRET)
    return lambda customer_id: {"customer_id": customer_id,
                                "customer_sig": signature(customer_id)}


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
    from catalog.queries import Catalog

    db = copy_db(demo_db, tmp_path / "gap.db")   # P001 black without 42, as some ranges are
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


async def test_stock_form_asks_size_only_when_needed(demo_db, tmp_path, monkeypatch):
    form = ValidateStockForm()
    t = make_tracker("有货吗", slots={"product": "P001"})
    assert await form.required_slots([], None, t, {}) == ["size"]
    t = make_tracker("有货吗", slots={"product": "P001", "color": "black"})
    assert await form.required_slots([], None, t, {}) == []
    t = make_tracker("有货吗", slots={})
    assert await form.required_slots([], None, t, {}) == ["product"]

    # a one-size backpack in three colours, one of them in stock: ask the colour; all
    # sold out: nothing to ask, the answer says so
    db = copy_db(demo_db, tmp_path / "catalog.db")
    monkeypatch.setenv("SHOPASSIST_CATALOG", str(db))
    with sqlite3.connect(db) as conn:
        pid = conn.execute("SELECT product_id FROM products WHERE category = 'backpacks'"
                           " ORDER BY product_id LIMIT 1").fetchone()[0]
        skus = [r[0] for r in conn.execute("SELECT sku FROM variants WHERE product_id = ?"
                                           " ORDER BY sku", (pid,))]
        assert len(skus) == 3 and all(s.endswith("-ONE") for s in skus)
        conn.execute("UPDATE stock SET quantity = 0 WHERE sku IN (?, ?, ?)", skus)
        conn.execute("UPDATE stock SET quantity = 4 WHERE sku = ? AND warehouse_id = 'WH-SH'",
                     (skus[0],))
    t = make_tracker("有货吗", slots={"product": pid})
    assert await form.required_slots([], None, t, {}) == ["color"]
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE stock SET quantity = 0 WHERE sku = ?", (skus[0],))
    assert await form.required_slots([], None, t, {}) == []


# When an order placed at the pinned clock (Friday 2026-11-20 10:00 shop time, before
# every cut-off) leaves each warehouse, worked out by hand from the warehouse rows that
# test_the_hand_worked_ship_dates_rest_on_these_rows checks:
SHIP_DATE_BY_HAND = {
    "WH-SH": date(2026, 11, 20),   # cut-off 16:00, no handling day: the same Friday
    "WH-CD": date(2026, 11, 21),   # cut-off 14:00, one handling day, rests on Sunday only:
                                   # handled Friday, ships Saturday
    "WH-GZ": date(2026, 11, 23),   # cut-off 15:00, one handling day, rests Saturday and
                                   # Sunday: handled Friday, ships Monday
}


def test_the_hand_worked_ship_dates_rest_on_these_rows(sql):
    assert (NOW.isoweekday(), NOW.hour, NOW.minute) == (5, 10, 0)          # Friday 10:00
    rows = {r["warehouse_id"]: (r["cutoff"], r["handling_days"], r["rest_weekdays"])
            for r in sql("SELECT warehouse_id, cutoff, handling_days, rest_weekdays"
                         " FROM warehouses")}
    assert rows == {"WH-SH": ("16:00", 0, "6"), "WH-CD": ("14:00", 1, "6"),
                    "WH-GZ": ("15:00", 1, "5,6")}                          # 5,6 = Sat, Sun
    assert sql("SELECT date FROM holidays WHERE date BETWEEN '2026-11-20'"
               " AND '2026-12-31'") == []


def route(sql, warehouse, city):
    [r] = sql("SELECT carrier_id, transit_min, transit_max FROM shipping_routes"
              " WHERE warehouse_id = ? AND city = ?", warehouse, city)
    return r["carrier_id"], r["transit_min"], r["transit_max"]


def days(d, n):
    return date.fromordinal(d.toordinal() + n)


async def test_shipping_with_city_matches_hand_worked_dates(dispatcher, catalog, sql):
    tracker = make_tracker("发成都几天到", intent="ask_shipping",
                           slots={"product": "P001", "size": "42", "city": "chengdu"})
    await ActionShipping().run(dispatcher, tracker, {})
    [card, offer] = customs(dispatcher)
    assert offer["type"] == "recommendations" and offer["for_product_id"] == "P001"
    # every (variant, warehouse) holding a size 42 of P001, and when its parcel reaches
    # Chengdu: the answer is the one whose parcel arrives first (latest day, then ship day)
    holding = sql("SELECT s.sku, s.warehouse_id FROM stock s JOIN variants v ON v.sku ="
                  " s.sku WHERE v.product_id = 'P001' AND v.size = '42' AND s.quantity > 0")
    arrivals = {}
    for r in holding:
        carrier, tmin, tmax = route(sql, r["warehouse_id"], "chengdu")
        ship = SHIP_DATE_BY_HAND[r["warehouse_id"]]
        arrivals[(r["sku"], r["warehouse_id"])] = (days(ship, tmax), ship, days(ship, tmin),
                                                   carrier)
    best = min(arrivals.values())
    latest, ship, earliest, carrier = best
    # in the demo catalog, Chengdu's own warehouse holds one: ships Saturday by SF
    assert (ship, carrier) == (date(2026, 11, 21), "SF")
    assert card["ship_date"] == ship.isoformat() and card["carrier"] == carrier
    assert (card["sku"], card["warehouse_id"]) in [k for k, v in arrivals.items() if v == best]
    assert card["delivery_earliest"] == earliest.isoformat()
    assert card["delivery_latest"] == latest.isoformat()
    assert card["city"] == "chengdu" and card["split"] is False
    assert card["city_name"] == "成都"                         # what the shopper reads
    assert card["carrier_name"] == sql("SELECT name_zh FROM carriers WHERE carrier_id = ?",
                                       carrier)[0]["name_zh"]
    text = texts(dispatcher)
    assert "明天" in text and "成都" in text
    assert f"{earliest.month}月{earliest.day}日–{latest.month}月{latest.day}日" in text


# P001's size 42 spread over the warehouses by hand (everything else of P001 sold out):
#   black: 2 in Chengdu, 2 in Guangzhou; grey: 2 in Shanghai; orange: 2 in Guangzhou
SPREAD = {("P001-BLACK-42", "WH-CD"): 2, ("P001-BLACK-42", "WH-GZ"): 2,
          ("P001-GREY-42", "WH-SH"): 2, ("P001-ORANGE-42", "WH-GZ"): 2}


@pytest.fixture()
def spread_shop(demo_db, tmp_path, monkeypatch):
    db = copy_db(demo_db, tmp_path / "catalog.db")
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE stock SET quantity = 0 WHERE sku IN"
                     " (SELECT sku FROM variants WHERE product_id = 'P001')")
        conn.executemany("INSERT OR REPLACE INTO stock (sku, warehouse_id, quantity)"
                         " VALUES (?, ?, ?)", [(s, w, q) for (s, w), q in SPREAD.items()])
    monkeypatch.setenv("SHOPASSIST_CATALOG", str(db))
    return db


@pytest.mark.parametrize("slots,expected", [
    # no city: what ships first, grey from Shanghai today (black: Chengdu on Saturday)
    ({}, {"sku": "P001-GREY-42", "warehouse_id": "WH-SH", "ship_date": "2026-11-20",
          "split": False, "carrier": "ZTO"}),
    # to Chengdu: what arrives first, black from Chengdu (Sat + SF 1-2 days: 22-23 Nov),
    # though grey leaves Shanghai a day earlier (Fri + ZTO 3-5 days: 23-25 Nov)
    ({"city": "chengdu"}, {"sku": "P001-BLACK-42", "warehouse_id": "WH-CD",
                           "ship_date": "2026-11-21", "split": False, "carrier": "SF",
                           "delivery_earliest": "2026-11-22",
                           "delivery_latest": "2026-11-23"}),
    # 3 pairs: only black has 3, in no single warehouse: 2 leave Chengdu on Saturday and 1
    # Guangzhou on Monday; the answer's day and warehouse are the last parcel's
    ({"quantity": "3"}, {"sku": "P001-BLACK-42", "warehouse_id": "WH-GZ",
                         "ship_date": "2026-11-23", "split": True, "quantity": 3}),
    # the same to Chengdu: 22-23 Nov from Chengdu, 25-26 Nov from Guangzhou (Mon + SF 2-3)
    ({"quantity": "3", "city": "chengdu"}, {"sku": "P001-BLACK-42", "split": True,
                                            "ship_date": "2026-11-23",
                                            "delivery_earliest": "2026-11-25",
                                            "delivery_latest": "2026-11-26"}),
    # orange asked for: Guangzhou is the only place, Monday
    ({"color": "orange"}, {"sku": "P001-ORANGE-42", "warehouse_id": "WH-GZ",
                           "ship_date": "2026-11-23", "split": False}),
])
async def test_the_product_answer_ships_from_the_right_warehouse(spread_shop, dispatcher,
                                                                 slots, expected):
    tracker = make_tracker("什么时候发货", intent="ask_shipping",
                           slots={"product": "P001", "size": "42", **slots})
    await ActionShipping().run(dispatcher, tracker, {})
    card = customs(dispatcher)[0]
    assert card["type"] == "shipping"
    assert {k: card[k] for k in expected} == expected
    text = dispatcher.messages[0]["text"]
    when = {"2026-11-20": "今天", "2026-11-21": "明天", "2026-11-23": "11月23日（周一）"}
    assert when[expected["ship_date"]] in text
    assert ("分包裹" in text) == expected["split"]


async def test_shipping_question_naming_an_order_answers_the_order(dispatcher, sql, signed):
    o = sql("SELECT * FROM orders WHERE status = 'shipped' ORDER BY order_id LIMIT 1")[0]
    tracker = make_tracker(f"催发货 {o['order_id']}", intent="ask_shipping",
                           entities=[{"entity": "order_id", "value": o["order_id"]}],
                           metadata=signed(o["customer_id"]))
    await ActionShipping().run(dispatcher, tracker, {})
    [card] = customs(dispatcher)
    assert card["type"] == "order_status" and card["order_id"] == o["order_id"]
    assert o["tracking_no"] in texts(dispatcher)


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
    [row] = sql("SELECT price, name_zh FROM products WHERE product_id = 'P010'")
    currency = sql("SELECT value FROM policies WHERE key = 'currency'")[0]["value"]
    assert card == {"type": "price", "product_id": "P010", "price": row["price"],
                    "currency": currency, "name": row["name_zh"]}


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


async def test_order_status_shipped_has_carrier_and_tracking(dispatcher, sql, signed):
    o = sql("SELECT * FROM orders WHERE status = 'shipped' LIMIT 1")[0]
    tracker = make_tracker(f"我的订单{o['order_id']}到哪了", intent="order_status",
                           entities=[{"entity": "order_id", "value": o["order_id"]}],
                           metadata=signed(o["customer_id"]))
    await ActionOrderStatus().run(dispatcher, tracker, {})
    [card] = customs(dispatcher)
    assert card["order_id"] == o["order_id"] and card["status"] == "shipped"
    assert card["carrier"] == o["carrier_id"] and card["tracking_no"] == o["tracking_no"]
    assert o["tracking_no"] in texts(dispatcher)


@pytest.mark.parametrize("lang,text", [("zh", "订单{}到哪了"), ("en", "where is order {}")])
async def test_an_unknown_order_and_another_customers_read_the_same(sql, signed, lang, text):
    """Signed in: a number that does not exist and another customer's order get the same
    words and the same payload (but for the number), and nothing of the order."""
    mine = sql("SELECT customer_id FROM orders ORDER BY order_id LIMIT 1")[0]["customer_id"]
    other = sql("SELECT * FROM orders WHERE status = 'shipped' AND customer_id != ?"
                " LIMIT 1", mine)[0]
    missing = "20261118999999"
    assert sql("SELECT 1 FROM orders WHERE order_id = ?", missing) == []
    answers = {}
    for order_id in (missing, other["order_id"]):
        d = CollectingDispatcher()
        tracker = make_tracker(text.format(order_id), intent="order_status",
                               slots={"language": lang}, metadata=signed(mine),
                               entities=[{"entity": "order_id", "value": order_id}])
        await ActionOrderStatus().run(d, tracker, {})
        [card] = customs(d)
        assert card == {"type": "order_status", "order_id": order_id, "status": "not_found"}
        answers[order_id] = texts(d).replace(order_id, "N")
    assert answers[missing] == answers[other["order_id"]]
    assert other["tracking_no"] not in answers[other["order_id"]]
    assert ("账户下没有查到订单N" if lang == "zh" else "can't find order N on your account") \
        in answers[missing]


@pytest.mark.parametrize("claim", ["nobody", "bare claim", "made-up signature",
                                   "signed by another shop"])
@pytest.mark.parametrize("lang", ["zh", "en"])
async def test_an_anonymous_shopper_learns_nothing_about_an_order(sql, signed, claim, lang):
    o = sql("SELECT * FROM orders WHERE status = 'shipped' LIMIT 1")[0]
    signed("unused")                                           # the shop's secret is set
    metadata = {"nobody": {},
                "bare claim": {"customer_id": o["customer_id"]},
                "made-up signature": {"customer_id": o["customer_id"],
                                      "customer_sig": "0" * 64},
                "signed by another shop": {"customer_id": o["customer_id"],
                                           "customer_sig": signature(o["customer_id"],
                                                                     "another-shop")},
                }[claim]
    said = {}
    for order_id in (o["order_id"], "20261118999999", None):
        d = CollectingDispatcher()
        ents = [{"entity": "order_id", "value": order_id}] if order_id else []
        asked = (f"我的订单{order_id or ''}到哪了" if lang == "zh"
                 else f"where is my order {order_id or ''}")
        tracker = make_tracker(asked, intent="order_status", slots={"language": lang},
                               entities=ents, metadata=metadata)
        events = await ActionOrderStatus().run(d, tracker, {})
        assert customs(d) == [{"type": "order_status", "status": "sign_in_required"}]
        assert SlotSet("pending_question", "order_id") not in events   # no "send the number"
        said[order_id] = texts(d)
        assert [b["payload"] for b in d.messages[0]["buttons"]] == ["/request_human"]
    assert len(set(said.values())) == 1                        # the same words every time
    text = said[o["order_id"]]
    assert o["tracking_no"] not in text and o["order_id"] not in text
    assert ("登录" in text) if lang == "zh" else ("sign in" in text)


async def test_a_signed_in_shopper_sees_their_own_order(sql, signed):
    o = sql("SELECT * FROM orders WHERE status = 'delivered' LIMIT 1")[0]
    d = CollectingDispatcher()
    tracker = make_tracker(o["order_id"], intent="inform", metadata=signed(o["customer_id"]),
                           entities=[{"entity": "order_id", "value": o["order_id"]}])
    await ActionOrderStatus().run(d, tracker, {})
    [card] = customs(d)
    assert (card["order_id"], card["status"], card["tracking_no"]) == \
        (o["order_id"], "delivered", o["tracking_no"])
    assert o["tracking_no"] in texts(d)


async def test_order_status_without_number_asks_for_it(dispatcher, signed):
    events = await ActionOrderStatus().run(
        dispatcher, make_tracker("我的快递呢", intent="order_status",
                                 metadata=signed("C000001")), {})
    assert "订单号" in texts(dispatcher) and not customs(dispatcher)
    assert SlotSet("pending_question", "order_id") in events


async def test_return_policy_for_order(dispatcher, sql, signed):
    o = sql("SELECT * FROM orders WHERE status = 'delivered' ORDER BY delivered_at DESC"
            " LIMIT 1")[0]
    tracker = make_tracker(f"{o['order_id']}能退吗", intent="return_policy",
                           entities=[{"entity": "order_id", "value": o["order_id"]}],
                           metadata=signed(o["customer_id"]))
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


async def converse(steps, lang="zh", asked=None) -> list[list[dict]]:
    """Run each (intent, action) in turn on one conversation, as Rasa would: the
    shopper's message, then the action, whose slot events the next turn sees; `asked`:
    the clarifying question pending before the first message. Returns each turn's
    payloads."""
    events = [{"event": "slot", "name": "language", "value": lang}]
    if asked:
        events.append({"event": "slot", "name": "pending_question", "value": asked})
    out = []
    for intent, action in steps:
        slots = {}
        for e in events:
            if e.get("event") == "slot":
                slots[e["name"]] = e["value"]
        tracker = make_tracker("额额额" if lang == "zh" else "hmm", intent=intent,
                               slots=slots, events=list(events))
        d = CollectingDispatcher()
        returned = await action().run(d, tracker, {})
        events = tracker.events + list(returned)
        out.append(customs(d))
    return out


@pytest.mark.parametrize("miss,action", [("nlu_fallback", ActionFallback),
                                         ("out_of_scope", ActionOutOfScope)])
async def test_the_third_message_not_understood_in_a_row_hands_off(miss, action):
    """nlu_fallback and out_of_scope both count; a message understood starts again."""
    from actions.service import ActionGreet

    other = ActionOutOfScope if action is ActionFallback else ActionFallback
    other_miss = "out_of_scope" if miss == "nlu_fallback" else "nlu_fallback"
    handoff = [{"type": "handoff", "reason": "repeated_fallback"}]
    turns = await converse([(miss, action), (other_miss, other), (miss, action)])
    assert turns == [[], [], handoff]
    turns = await converse([(miss, action), ("greet", ActionGreet), (miss, action),
                            (miss, action)])
    assert turns == [[], [], [], []]


@pytest.mark.parametrize("asked", ["product", "size", "color", "order_id"])
async def test_the_second_miss_after_a_clarifying_question_hands_off(asked):
    """The bot asked which product/size/colour/order; the answer was not understood twice."""
    handoff = [{"type": "handoff", "reason": "repeated_fallback"}]
    assert await converse([("nlu_fallback", ActionFallback),
                           ("out_of_scope", ActionOutOfScope)], asked=asked) == [[], handoff]
    # without the question before, two misses are not yet enough
    assert await converse([("nlu_fallback", ActionFallback),
                           ("out_of_scope", ActionOutOfScope)]) == [[], []]


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


def test_after_a_cross_sell_click_the_page_product_is_meant():
    """"Tell me more" on the socks offered with the running shoes fills the product slot;
    the next question on the shoe page, naming no product, is about the shoes, and its
    size and colour stay."""
    click = [{"event": "slot", "name": "page_product", "value": "P001"},
             {"event": "slot", "name": "offered_products", "value": ["P018"]},
             {"event": "slot", "name": "product", "value": "P018"}]
    tracker = make_tracker("42码黑色还有吗", metadata={"page": {"product_id": "P001"}},
                           entities=[{"entity": "size", "value": "42", "start": 0, "end": 3},
                                     {"entity": "color", "value": "black", "start": 3,
                                      "end": 5}],
                           slots={"product": "P018", "page_product": "P001",
                                  "size": "42", "color": "black"}, events=click)
    ctx = context_of(tracker)
    assert (ctx.product, ctx.size, ctx.color) == ("P001", "42", "black")
    assert SlotSet("product", "P001") in ctx.slot_events()
    # off a product page, the product picked before is still the one talked of
    tracker = make_tracker("有白色吗", slots={"product": "P018"}, events=click[1:])
    assert context_of(tracker).product == "P018"


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


async def complaint_turns(steps, lang="en") -> list[list[dict]]:
    """Each (intent, confidence, action) in turn on one conversation: the payloads and
    texts' buttons of each turn, as `converse` but with the classifier's confidence."""
    events = [{"event": "slot", "name": "language", "value": lang}]
    out = []
    for intent, confidence, action in steps:
        slots = {e["name"]: e["value"] for e in events if e.get("event") == "slot"}
        tracker = make_tracker("great, ordering now", intent=intent, slots=slots,
                               events=list(events))
        tracker.latest_message["intent"]["confidence"] = confidence
        d = CollectingDispatcher()
        events = tracker.events + list(await action().run(d, tracker, {}))
        out.append([m.get("custom", {}).get("type") or
                    [b["payload"] for b in m.get("buttons") or []] for m in d.messages])
    return out


OFFER = [["/request_human", "/deny"]]
HANDOFF = ["handoff"]


async def test_a_complaint_the_classifier_is_unsure_of_is_asked_about_before_a_handoff():
    from actions.service import ActionAffirm, ActionDecline

    assert await complaint_turns([("complaint", 0.53, ActionHandoff)]) == [OFFER]
    # yes, or a second complaint, hands over; no does not
    assert await complaint_turns([("complaint", 0.53, ActionHandoff),
                                  ("affirm", 0.9, ActionAffirm)]) == [OFFER, HANDOFF]
    assert await complaint_turns([("complaint", 0.53, ActionHandoff),
                                  ("complaint", 0.41, ActionHandoff)]) == [OFFER, HANDOFF]
    assert await complaint_turns([("complaint", 0.53, ActionHandoff),
                                  ("deny", 0.9, ActionDecline)]) == [OFFER, [[]]]
    # a "yes" later on, after another answer, is only a yes
    assert (await complaint_turns([("complaint", 0.53, ActionHandoff),
                                   ("deny", 0.9, ActionDecline),
                                   ("affirm", 0.9, ActionAffirm)]))[2] == [[]]


async def test_a_sure_complaint_is_handed_over_at_once():
    from bot.settings import get_settings

    sure = get_settings().complaint_sure
    assert await complaint_turns([("complaint", sure, ActionHandoff)], "zh") == [HANDOFF]
    assert await complaint_turns([("complaint", 0.99, ActionHandoff)]) == [HANDOFF]
