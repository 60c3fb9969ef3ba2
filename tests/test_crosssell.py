"""Cross-sells: mining on a hand-computed order set, serving (stock, variants, language,
diversity), the actions that offer them, and tracking."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta

import pytest
import sqlite_utils
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from catalog.crosssell import (MiningParams, count_baskets, derive_pairs, mine_catalog,
                               recommend, related_products)
from catalog.queries import Catalog
from catalog.schema import create_schema
from catalog.tracking import CrosssellEvent, attribution, record_events
from tests.conftest import copy_db, make_tracker

# -- mining ------------------------------------------------------------------------------------

# orders at product level after mapping SKUs (A-1 and A-2 are variants of A):
# o1 A B | o2 A(two variants) B | o3 A C | o4 B C | o5 C | o6 B | o7 D      (7 orders)
ORDERS = {"o1": ["A-1", "B-1"], "o2": ["A-1", "A-2", "B-1"], "o3": ["A-1", "C-1"],
          "o4": ["B-1", "C-1"], "o5": ["C-1"], "o6": ["B-1"], "o7": ["D-1"]}


@pytest.fixture()
def tiny_db(tmp_path):
    path = tmp_path / "tiny.db"
    db = sqlite_utils.Database(path)
    create_schema(db)
    db["products"].insert_all([
        {"product_id": p, "name_en": f"Item {p}", "name_zh": f"商品{p}", "category": c,
         "price": 10.0} for p, c in (("A", "shoes"), ("B", "socks"), ("C", "caps"),
                                     ("D", "poles"))])
    db["variants"].insert_all([{"sku": s, "product_id": s[0], "color": "black", "size": z}
                               for s, z in (("A-1", "42"), ("A-2", "43"), ("B-1", "M"),
                                            ("C-1", "ONE"), ("D-1", "ONE"))])
    db["orders"].insert_all([{"order_id": o, "customer_id": "C1", "status": "delivered",
                              "created_at": f"2026-01-0{i + 1}T10:00:00"}
                             for i, o in enumerate(ORDERS)])
    db["order_items"].insert_all([{"order_id": o, "sku": s, "quantity": 1, "price": 10.0}
                                  for o, skus in ORDERS.items() for s in skus])
    db.close()
    return path


def test_mining_computes_support_confidence_lift_by_hand(tiny_db):
    report = mine_catalog(tiny_db, MiningParams(min_together=2, alpha=10))
    assert (report.orders, report.products) == (7, 4)
    conn = sqlite3.connect(tiny_db)
    rows = {(r[0], r[1]): r[2:] for r in conn.execute(
        "SELECT product_id, related_id, together, support, confidence, lift, score, source"
        " FROM crosssell WHERE source = 'mined'")}
    # only A-B is bought together twice; A-C and B-C once (below min_together)
    assert set(rows) == {("A", "B"), ("B", "A")}
    together, support, confidence, lift, score, _ = rows[("A", "B")]
    assert together == 2
    assert support == pytest.approx(2 / 7)
    assert confidence == pytest.approx(2 / 3)          # A in 3 orders
    assert lift == pytest.approx(2 * 7 / (3 * 4))      # B in 4 orders
    assert score == pytest.approx((2 + 10 * 4 / 7) / (3 + 10))
    assert rows[("B", "A")][2] == pytest.approx(2 / 4)
    items = dict(conn.execute("SELECT product_id, orders FROM crosssell_items"))
    assert items == {"A": 3, "B": 4, "C": 3, "D": 1}


def test_variants_of_one_product_never_pair(tiny_db):
    mine_catalog(tiny_db, MiningParams(min_together=1))
    conn = sqlite3.connect(tiny_db)
    assert conn.execute("SELECT COUNT(*) FROM crosssell WHERE product_id = related_id"
                        ).fetchone()[0] == 0
    # o2 holds two variants of A: A counts once there
    assert conn.execute("SELECT orders FROM crosssell_items WHERE product_id = 'A'"
                        ).fetchone()[0] == 3


def test_min_support_threshold():
    counts = count_baskets([["a", "b"], ["a", "b"], ["a", "c"], ["d"]])
    kept = derive_pairs(counts, MiningParams(min_together=1, min_support=0.5))
    assert {r.related_id for r in kept["a"]} == {"b"}       # a-c: support 1/4 < 0.5
    kept = derive_pairs(counts, MiningParams(min_together=1, min_support=0.25))
    assert {r.related_id for r in kept["a"]} == {"b", "c"}


def test_products_with_little_history_get_rule_rows(tiny_db):
    # categories the complement rules know: A running shoes (-> socks, insoles, caps),
    # B socks, C caps (-> t-shirts, socks), D trekking poles (-> backpacks, hiking shoes,
    # socks). In fewer than 4 orders: A (3), C (3), D (1); B is in 4.
    with sqlite3.connect(tiny_db) as conn:
        conn.executemany("UPDATE products SET category = ? WHERE product_id = ?",
                         [("running_shoes", "A"), ("caps", "C"), ("trekking_poles", "D")])
    report = mine_catalog(tiny_db, MiningParams(min_history=4, alpha=30))
    conn = sqlite3.connect(tiny_db)
    rows = {(r[0], r[1]): r[2:] for r in conn.execute(
        "SELECT product_id, related_id, together, support, confidence, lift, score"
        " FROM crosssell WHERE source = 'rule'")}
    # A: socks -> B, but B is already A's mined partner (together in 2 orders); caps -> C,
    #    bought with A once. C: socks -> B (together once, below min_together: not mined).
    #    D: socks -> B, never bought together. Nothing for B (enough history).
    assert set(rows) == {("A", "C"), ("C", "B"), ("D", "B")}
    assert report.rule_rows == 3
    n = 7
    expected = {            # together, orders(product), orders(related)
        ("A", "C"): (1, 3, 3), ("C", "B"): (1, 3, 4), ("D", "B"): (0, 1, 4)}
    for key, (together, n_a, n_b) in expected.items():
        assert rows[key] == pytest.approx((
            together, together / n, together / n_a, together * n / (n_a * n_b),
            (together + 30 * n_b / n) / (n_a + 30))), key
    assert conn.execute("SELECT COUNT(*) FROM crosssell WHERE source = 'mined'"
                        ).fetchone()[0] == 2                       # A-B both ways


# -- serving -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mined_db(demo_db, tmp_path_factory):
    """A mined copy of the demo catalog with no cross-sell events yet (the actions run by
    other test files record theirs in the session's catalog)."""
    path = copy_db(demo_db, tmp_path_factory.mktemp("mined") / "catalog.db")
    mine_catalog(path)
    with sqlite3.connect(path) as conn:
        conn.execute("DELETE FROM crosssell_events")
    conn.close()
    return path


@pytest.fixture()
def mined(mined_db):
    c = Catalog(mined_db)
    yield c
    c.close()


@pytest.fixture()
def mined_copy(mined_db, tmp_path):
    return copy_db(mined_db, tmp_path / "catalog.db")


def test_recommend_in_stock_diverse_not_the_product(mined):
    recs = recommend(mined, ["P001"], "en")
    assert len(recs) == 3
    categories = [r.category for r in recs]
    assert len(set(categories)) == 3 and "running_shoes" not in categories
    for r in recs:
        assert mined.stock(r.product_id).available > 0
        assert r.product_id != "P001"
    # the demo's socks partner of P001 is bought with it far more than anything else
    assert recs[0].category == "socks" and recs[0].source == "mined"


def test_out_of_stock_items_are_never_offered(mined_copy):
    top = recommend(Catalog(mined_copy), ["P001"], "zh")[0].product_id
    conn = sqlite3.connect(mined_copy)
    with conn:
        conn.execute("UPDATE stock SET quantity = 0 WHERE sku IN"
                     " (SELECT sku FROM variants WHERE product_id = ?)", (top,))
    recs = recommend(Catalog(mined_copy), ["P001"], "zh")
    assert top not in [r.product_id for r in recs] and len(recs) == 3


def test_a_sku_in_the_cart_stands_for_its_product(mined):
    sku = mined.variants("P001")[0]["sku"]
    recs = recommend(mined, [sku], "en")
    assert recs and all(r.product_id != "P001" and r.category != "running_shoes"
                        for r in recs)
    assert [r.product_id for r in recs] == [r.product_id for r in recommend(mined, "P001")]


def test_exclude_skips_items_already_offered(mined):
    first = [r.product_id for r in recommend(mined, "P001", "zh")]
    again = [r.product_id for r in recommend(mined, "P001", "zh", exclude=first)]
    assert again and not set(first) & set(again)


@pytest.mark.parametrize("lang,mined_reason,rule_reason", [
    ("zh", "经常一起购买", "搭配成套"), ("en", "often bought together", "completes the outfit")])
def test_reason_in_the_shoppers_language(mined_copy, lang, mined_reason, rule_reason):
    c = Catalog(mined_copy)
    assert {r.as_item(lang)["reason"] for r in recommend(c, "P001", lang)} == {mined_reason}
    conn = sqlite3.connect(mined_copy)
    with conn:    # a product mined before it existed: the category rules answer
        conn.execute("DELETE FROM crosssell WHERE product_id = 'P001'")
    c = Catalog(mined_copy)
    recs = recommend(c, "P001", lang)
    assert recs and {r.as_item(lang)["reason"] for r in recs} == {rule_reason}
    assert {r.category for r in recs} <= {"socks", "insoles", "caps"}


@pytest.fixture(scope="module")
def unmined_db(demo_db, tmp_path_factory):
    """The demo catalog as a shop has it before `shopassist catalog mine`."""
    path = copy_db(demo_db, tmp_path_factory.mktemp("unmined") / "catalog.db")
    with sqlite3.connect(path) as conn:
        conn.execute("DROP TABLE crosssell")
        conn.execute("DROP TABLE crosssell_items")
    return path


def test_unmined_catalog_still_recommends(unmined_db):
    conn = sqlite3.connect(unmined_db)
    category = dict(conn.execute("SELECT product_id, category FROM products"))
    available = dict(conn.execute("SELECT v.product_id, SUM(s.quantity) FROM variants v"
                                  " JOIN stock s ON s.sku = v.sku GROUP BY v.product_id"))
    # orders holding P001, and how many of them hold each other product, counted here
    baskets: dict[str, set] = {}
    for order_id, pid in conn.execute("SELECT oi.order_id, v.product_id FROM order_items oi"
                                      " JOIN variants v ON v.sku = oi.sku"):
        baskets.setdefault(order_id, set()).add(pid)
    together: dict[str, int] = {}
    for basket in baskets.values():
        if "P001" in basket:
            for pid in basket - {"P001"}:
                together[pid] = together.get(pid, 0) + 1
    # what serving must return from live counts: most bought-with first, in stock, one per
    # category, none of P001's own category
    ranked = sorted(together.items(), key=lambda kv: -kv[1])
    expected, used = [], {category["P001"]}
    for pid, n in ranked:
        if available.get(pid, 0) > 0 and category[pid] not in used:
            used.add(category[pid])
            expected.append((pid, n))
    assert len(expected) >= 3
    considered = [n for pid, n in ranked if n >= expected[2][1]
                  and available.get(pid, 0) > 0 and category[pid] != category["P001"]]
    assert len(set(considered)) == len(considered)           # no tie decides the answer
    recs = related_products(Catalog(unmined_db), "P001")
    assert [(r.product_id, r.together) for r in recs] == expected[:3]
    assert {(r.source, r.score) for r in recs} == {("mined", 0.0)}     # live counts


def test_unknown_product_gets_nothing(mined):
    assert recommend(mined, ["NOPE"], "zh") == []


# -- actions -----------------------------------------------------------------------------------


@pytest.fixture()
def shop(mined_copy, monkeypatch):
    monkeypatch.setenv("SHOPASSIST_CATALOG", str(mined_copy))
    return mined_copy


def in_stock_variant(db, product_id="P001"):
    conn = sqlite3.connect(db)
    return conn.execute(
        "SELECT v.color, v.size FROM variants v JOIN stock s ON s.sku = v.sku"
        " WHERE v.product_id = ? GROUP BY v.sku HAVING SUM(s.quantity) > 5 LIMIT 1",
        (product_id,)).fetchone()


def offers(dispatcher):
    return [m["custom"] for m in dispatcher.messages
            if (m.get("custom") or {}).get("type") == "recommendations"]


def events_of(db, event=None):
    conn = sqlite3.connect(db)
    sql = "SELECT conversation_id, product_id, for_product_id, event FROM crosssell_events"
    rows = conn.execute(sql).fetchall()
    return [r for r in rows if event is None or r[3] == event]


async def test_positive_stock_answer_offers_crosssells_once(shop):
    from actions.stock import ActionCheckStock

    color, size = in_stock_variant(shop)
    d = CollectingDispatcher()
    events = await ActionCheckStock().run(d, make_tracker("有货吗", slots={
        "product": "P001", "color": color, "size": size}), {})
    assert [m["custom"]["type"] for m in d.messages] == ["stock", "recommendations"]
    [offer] = offers(d)
    assert offer["for_product_id"] == "P001" and 1 <= len(offer["items"]) <= 3
    for item in offer["items"]:
        assert set(item) == {"product_id", "name", "price", "reason"}
        assert item["reason"] == "经常一起购买"
    ids = [i["product_id"] for i in offer["items"]]
    payloads = [b["payload"] for b in d.messages[1]["buttons"]]
    assert f'/product_details{{"product": "{ids[0]}"}}' in payloads
    assert f'/add_to_cart{{"product": "{ids[0]}"}}' in payloads
    assert SlotSet("offered_products", sorted(ids)) in events
    assert SlotSet("crosssell_offered_for", ["P001"]) in events
    assert sorted(r[1] for r in events_of(shop, "shown")) == sorted(ids)

    d2 = CollectingDispatcher()       # the same product again: no second offer
    events = await ActionCheckStock().run(d2, make_tracker("有货吗", slots={
        "product": "P001", "color": color, "size": size, "offered_products": ids,
        "crosssell_offered_for": ["P001"]}), {})
    assert offers(d2) == [] and len(d2.messages) == 1 and events == []


async def test_no_offers_after_the_shopper_declined(shop):
    from actions.shipping import ActionShipping
    from actions.stock import ActionCheckStock

    color, size = in_stock_variant(shop)
    slots = {"product": "P001", "color": color, "size": size, "crosssell_declined": True,
             "offered_products": ["P018"], "crosssell_offered_for": ["P002"]}
    d = CollectingDispatcher()
    await ActionCheckStock().run(d, make_tracker("有货吗", slots=slots), {})
    await ActionShipping().run(d, make_tracker("什么时候发货", intent="ask_shipping",
                                               slots=slots), {})
    assert offers(d) == [] and len(d.messages) == 2


async def test_shipping_answer_offers_crosssells_in_english(shop):
    from actions.shipping import ActionShipping

    d = CollectingDispatcher()
    await ActionShipping().run(d, make_tracker("when does it ship", intent="ask_shipping",
                                               slots={"product": "P001"}), {})
    assert [m["custom"]["type"] for m in d.messages] == ["shipping", "recommendations"]
    assert "often add" in d.messages[1]["text"]
    assert {i["reason"] for i in offers(d)[0]["items"]} == {"often bought together"}


async def test_sold_out_answer_offers_nothing(shop):
    from actions.stock import ActionCheckStock

    conn = sqlite3.connect(shop)
    with conn:
        conn.execute("UPDATE stock SET quantity = 0 WHERE sku IN"
                     " (SELECT sku FROM variants WHERE product_id = 'P001')")
    d = CollectingDispatcher()
    await ActionCheckStock().run(d, make_tracker("有货吗", slots={"product": "P001"}), {})
    assert offers(d) == []


def offer_turn(text="不用了", intent="deny", offered=True):
    custom = {"type": "recommendations", "for_product_id": "P001", "items": []}
    bot = {"event": "bot", "text": "...", "data": {"custom": custom if offered else
                                                   {"type": "stock"}}}
    events = [{"event": "user", "text": "有货吗"}, bot]
    return make_tracker(text, intent=intent, slots={"offered_products": ["P018"]},
                        events=events)


@pytest.mark.parametrize("offered,expected", [(True, [SlotSet("crosssell_declined", True)]),
                                              (False, [])])
async def test_decline_after_an_offer_stops_offers(shop, offered, expected):
    from actions.service import ActionDecline

    d = CollectingDispatcher()
    events = await ActionDecline().run(d, offer_turn(offered=offered), {})
    assert [e for e in events if e["name"] == "crosssell_declined"] == expected
    assert "不打扰" in d.messages[0]["text"]


@pytest.mark.parametrize("lang,text,reason,words", [
    ("zh", "有什么搭配推荐", "经常一起购买", "常搭配"),
    ("en", "what goes with these", "often bought together", "often add")])
async def test_ask_recommendation_answers_in_both_languages(shop, lang, text, reason, words):
    from actions.crosssell import ActionRecommend

    d = CollectingDispatcher()
    # asked for: answered even after a decline and for a product already offered for
    events = await ActionRecommend().run(d, make_tracker(text, intent="ask_recommendation",
                                         slots={"product": "P001", "language": lang,
                                                "crosssell_declined": True,
                                                "crosssell_offered_for": ["P001"]}), {})
    [offer] = offers(d)
    assert {i["reason"] for i in offer["items"]} == {reason}
    assert words in d.messages[0]["text"]
    assert any(e["name"] == "offered_products" for e in events)


async def test_add_to_cart_button_adds_a_one_size_item_and_is_tracked(shop):
    from actions.products import ActionAddToCart

    conn = sqlite3.connect(shop)
    pid = conn.execute(
        "SELECT v.product_id FROM variants v JOIN stock s ON s.sku = v.sku"
        " JOIN products p ON p.product_id = v.product_id WHERE p.category = 'trekking_poles'"
        " GROUP BY v.product_id HAVING COUNT(DISTINCT v.sku) = 2"
        " AND SUM(s.quantity > 0) > 0 LIMIT 1").fetchone()[0]
    skus = conn.execute("SELECT v.sku, v.color FROM variants v JOIN stock s ON s.sku = v.sku"
                        " WHERE v.product_id = ? GROUP BY v.sku HAVING SUM(s.quantity) > 0",
                        (pid,)).fetchall()
    sku, color = skus[0]
    d = CollectingDispatcher()
    tracker = make_tracker(f'/add_to_cart{{"product": "{pid}"}}', intent="add_to_cart",
                           entities=[{"entity": "product", "value": pid}],
                           slots={"product": pid, "color": color, "offered_products": [pid]})
    await ActionAddToCart().run(d, tracker, {})
    [msg] = d.messages
    assert msg["custom"]["type"] == "add_to_cart" and msg["custom"]["sku"] == sku
    assert "购物车" in msg["text"]
    assert [r[1] for r in events_of(shop, "added_to_cart")] == [pid]


async def test_add_to_cart_asks_for_the_size_with_buttons(shop):
    from actions.products import ActionAddToCart

    d = CollectingDispatcher()
    await ActionAddToCart().run(d, make_tracker("add it to my cart", intent="add_to_cart",
                                                slots={"product": "P001"}), {})
    [msg] = d.messages
    assert "Which size" in msg["text"] and msg["buttons"]
    assert all(b["payload"].startswith('/add_to_cart{"product": "P001", "size": ')
               for b in msg["buttons"])


async def test_tell_me_more_click_is_tracked(shop):
    from actions.products import ActionProductDetails

    bot = {"event": "bot", "data": {"custom": {"type": "recommendations",
                                               "for_product_id": "P001",
                                               "items": [{"product_id": "P018"}]}}}
    tracker = make_tracker('/product_details{"product": "P018"}', intent="product_details",
                           entities=[{"entity": "product", "value": "P018"}],
                           slots={"product": "P018", "offered_products": ["P018"]},
                           events=[{"event": "slot", "name": "offered_products",
                                    "value": ["P018"]}, bot])
    await ActionProductDetails().run(CollectingDispatcher(), tracker, {})
    assert events_of(shop, "clicked") == [("shopper-1", "P018", "P001", "clicked")]


# -- tracking ----------------------------------------------------------------------------------


def test_attribution_counts_orders_within_the_window(mined_copy):
    conn = sqlite3.connect(mined_copy)
    customer, created, pid = conn.execute(
        "SELECT o.customer_id, o.created_at, v.product_id FROM orders o"
        " JOIN order_items oi ON oi.order_id = o.order_id JOIN variants v ON v.sku = oi.sku"
        " WHERE o.created_at > '2026-06-01' ORDER BY o.created_at LIMIT 1").fetchone()
    ordered = datetime.fromisoformat(created)
    record_events(mined_copy, [CrosssellEvent("c1", customer, pid, "P001", "shown"),
                               CrosssellEvent("c1", customer, pid, "P001", "clicked")],
                  ordered - timedelta(days=2))
    record_events(mined_copy, [CrosssellEvent("c2", customer, pid, "P001", "shown")],
                  ordered - timedelta(days=5))           # outside 3 days
    record_events(mined_copy, [CrosssellEvent("c3", None, pid, "P001", "shown")],
                  ordered - timedelta(days=1))           # anonymous shopper
    report = attribution(Catalog(mined_copy), days=3)
    assert (report["shown"], report["clicked"], report["bought"]) == (3, 1, 1)
    assert report["shown_to_customers"] == 2
    assert attribution(Catalog(mined_copy), days=6)["bought"] == 2


def test_unknown_event_is_refused():
    with pytest.raises(ValueError, match="unknown cross-sell event"):
        CrosssellEvent("c", None, "P1", None, "liked")


def test_tracking_never_breaks_an_answer(tmp_path):
    assert record_events(tmp_path / "missing.db",
                         [CrosssellEvent("c", None, "P1", None, "shown")],
                         datetime(2026, 1, 1)) == 0
