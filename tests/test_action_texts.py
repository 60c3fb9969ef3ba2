"""The bot's replies read as a native reader expects them: every template of
actions/texts.yml rendered in both languages with sample fields, and real answers of the
actions (run with a CollectingDispatcher on a copy of the demo catalog whose stock is set
for each case) have no space next to a Chinese character or full-width punctuation in
Chinese, and no doubled punctuation in either language."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest
from rasa_sdk.executor import CollectingDispatcher

from bot.texts import LANGUAGES, Texts
from tests.conftest import copy_db, make_tracker

ROOT = Path(__file__).resolve().parents[1]
TEXTS = Texts(ROOT / "actions" / "texts.yml")

CJK = "\u3400-\u9fff\uf900-\ufaff"
FULL_WIDTH = "，。！？：；、～（）《》“”‘’…·【】"
ZH_SPACE = re.compile(rf"[{CJK}{FULL_WIDTH}][ \t]|[ \t][{CJK}{FULL_WIDTH}]")
DOUBLED = {
    "zh": re.compile(r"[，。！？：；、][，。！？：；、]|～[，。！？：；、]"),
    # ".." or ". ," but not an ellipsis "..."
    "en": re.compile(r"(?<!\.)[.,;:!?][ \t]*[.,;:!?](?!\.)"),
}


def problems(text: str, lang: str) -> list[str]:
    """What a native reader would stumble on in `text`."""
    found = []
    if lang == "zh":
        found += [f"space at {m.start()}: {text[max(m.start() - 6, 0):m.end() + 6]!r}"
                  for m in ZH_SPACE.finditer(text)]
    found += [f"doubled punctuation at {m.start()}: {text[max(m.start() - 6, 0):m.end() + 6]!r}"
              for m in DOUBLED[lang].finditer(text)]
    if "{" in text or "}" in text:
        found.append(f"unfilled field: {text!r}")
    return found


@pytest.mark.parametrize("text,lang,expected", [
    ("亲，疾风跑鞋 黑色42码 有现货。", "zh", 2),
    ("亲，有货哦～。", "zh", 1),
    ("亲，有货。。", "zh", 1),
    ("Nike Air 42码有货", "zh", 0),
    ("In stock .. Anything else?", "en", 1),
    ("Wait... really? Yes.", "en", 0),
    ("Order {product} now", "en", 1),
])
def test_the_checker_finds_what_a_reader_stumbles_on(text, lang, expected):
    assert len(problems(text, lang)) == expected, problems(text, lang)


# -- every template --------------------------------------------------------------------------

# what the actions put in each field, in each language; punctuation at the ends on purpose
# where real values have it (a policy ending in "。", an alternative ending in "～")
SAMPLES = {
    "zh": {"product": "疾风跑鞋", "variant": "黑色42码", "filter": "黑色", "available": 2,
           "ship_phrase": "明天", "alternatives": "同尺码还有橙色、灰色有货哦～",
           "options": "黑色、橙色", "in_stock": "41码（仅剩2件）、42码",
           "sold_out": "44码暂时断货。", "suggestions": "疾风跑鞋、冰川徒步鞋",
           "category": "袜子", "items": "雷霆运动袜、探路者鞋垫", "warehouse": "成都双流仓",
           "carrier": "顺丰速运", "delivery": "预计11月22日–11月23日送达成都。",
           "free_shipping": "全店满99元包邮～", "quantity": 3,
           "cutoffs": "成都双流仓14:00前下单当天处理；上海嘉定仓16:00前下单当天处理",
           "cutoff": "14:00", "city": "成都", "window": "11月22日–11月23日",
           "threshold": "99", "price": "359", "promo": "满299减30，满599减80；会员再享95折。",
           "policy": "满299减30，满599减80；会员再享95折。",
           "product_line": "疾风跑鞋现价¥359，凑单满减更划算哦～",
           "details": "材质：工程网眼鞋面；版型：偏小半码；价格¥359",
           "material": "工程网眼鞋面", "fit": "偏小半码", "care": "手洗",
           "measure": "175cm、70kg", "size": "L码",
           "chart": "S（160-165cm/50-58kg）；M（165-170cm/55-65kg）",
           "height_min": 160, "height_max": 165, "weight_min": 50, "weight_max": 58,
           "foot_min": 255, "foot_max": 260, "value": "175",
           "order_id": "20261118000123",
           "status_text": "已付款，仓库正在备货，预计明天发出～",
           "shipped": "11月18日", "delivered": "11月19日", "tracking_no": "SF1234567890",
           "last_day": "11月26日", "days": 7,
           "verdict": "签收于11月19日，11月26日前都可以申请退货～",
           "name": "雷霆运动袜", "what": "尺码", "item": "42码", "more": 13,
           "first": "11月22日", "last": "11月23日", "month": "11月", "day": 20,
           "weekday": "五", "color": "黑色", "place": "伦敦（英国）", "served": "中国大陆",
           "country": "英国"},
    "en": {"product": "Swift Running Shoes", "variant": "black EU 42", "filter": "black",
           "available": 2, "ship_phrase": "tomorrow",
           "alternatives": "The same size is in stock in orange and grey.",
           "options": "black and orange", "in_stock": "EU 41 (only 2 left) and EU 42",
           "sold_out": "Sold out: EU 44.", "suggestions": "Swift Running Shoes",
           "category": "socks", "items": "Thunder Running Socks and Pathfinder Insoles",
           "warehouse": "Chengdu Shuangliu warehouse", "carrier": "SF Express",
           "delivery": "Expected in Chengdu 22 Nov–23 Nov.",
           "free_shipping": "Free shipping on orders over ¥99.", "quantity": 3,
           "cutoffs": "Chengdu Shuangliu warehouse: orders before 14:00 are handled the"
                      " same day; Shanghai Jiading warehouse: orders before 16:00 are"
                      " handled the same day",
           "cutoff": "14:00", "city": "Chengdu", "window": "22 Nov–23 Nov",
           "threshold": "99", "price": "359",
           "promo": "Spend 299, save 30; spend 599, save 80. Members get 5% off.",
           "policy": "Spend 299, save 30; spend 599, save 80. Members get 5% off.",
           "product_line": "Swift Running Shoes is ¥359; combine items to reach the spend"
                           " thresholds.",
           "details": "material: engineered mesh; fit: runs half a size small; price ¥359",
           "material": "engineered mesh", "fit": "runs half a size small",
           "care": "hand wash", "measure": "175cm and 70kg", "size": "L",
           "chart": "S 160-165cm/50-58kg; M 165-170cm/55-65kg", "height_min": 160,
           "height_max": 165, "weight_min": 50, "weight_max": 58, "foot_min": 255,
           "foot_max": 260, "value": "175", "order_id": "20261118000123",
           "status_text": "paid and being packed; it should leave the warehouse tomorrow.",
           "shipped": "18 Nov", "delivered": "19 Nov", "tracking_no": "SF1234567890",
           "last_day": "26 Nov", "days": 7,
           "verdict": "delivered 19 Nov; you can return it until 26 Nov.",
           "name": "Thunder Running Socks", "what": "size", "item": "EU 42", "more": 13,
           "first": "22 Nov", "last": "23 Nov", "month": "Nov", "day": 20,
           "weekday": "Fri", "color": "black", "place": "London (the UK)",
           "served": "mainland China", "country": "the UK"},
}
# fields a sentence may be given empty (nothing sold out, no city given, no promotion...);
# a fragment made only of them (the variant "黑色42码") is not rendered when they are
OPTIONAL = {"sold_out", "delivery", "free_shipping", "alternatives", "variant", "fit",
            "product_line", "promo", "color", "size"}


def test_the_samples_cover_every_field():
    used = {f for key in TEXTS.entries for lang in LANGUAGES for f in TEXTS.fields(key, lang)}
    for lang in LANGUAGES:
        assert used <= set(SAMPLES[lang]), used - set(SAMPLES[lang])


def test_chinese_templates_are_written_without_spaces():
    """The renderer tidies spacing, but the templates should not need it."""
    spaced = [f"{key}: {TEXTS.template(key, 'zh')!r}" for key in TEXTS.entries
              if ZH_SPACE.search(TEXTS.template(key, "zh"))]
    assert not spaced, "\n".join(spaced)


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("key", sorted(TEXTS.entries))
def test_every_template_renders_cleanly(key, lang):
    fields = TEXTS.fields(key, lang)
    filled = TEXTS.render(key, lang, **{f: SAMPLES[lang][f] for f in fields})
    assert filled and not problems(filled, lang), (filled, problems(filled, lang))
    if fields & OPTIONAL and fields - OPTIONAL:     # a sentence with optional parts
        sparse = TEXTS.render(key, lang, **{f: "" if f in OPTIONAL else SAMPLES[lang][f]
                                            for f in fields})
        assert sparse and not problems(sparse, lang), (sparse, problems(sparse, lang))
    for button in TEXTS.buttons(key, lang):
        assert not problems(button["title"], lang)


# -- real answers ----------------------------------------------------------------------------

# stock set by hand on a copy of the demo catalog: (sku, warehouse) -> units
STOCK = {("P001-BLACK-42", "WH-SH"): 2, ("P001-BLACK-42", "WH-CD"): 2,   # 4: in, split for 3
         ("P001-BLACK-42", "WH-GZ"): 0,
         ("P001-BLACK-41", "WH-SH"): 2, ("P001-BLACK-41", "WH-GZ"): 0,   # 2: only 2 left
         ("P001-BLACK-41", "WH-CD"): 0,
         ("P001-ORANGE-42", "WH-SH"): 0, ("P001-ORANGE-42", "WH-GZ"): 0,  # sold out
         ("P001-ORANGE-42", "WH-CD"): 0}


@pytest.fixture()
def shop(demo_db, tmp_path, monkeypatch):
    path = copy_db(demo_db, tmp_path / "catalog.db")
    with sqlite3.connect(path) as conn:
        conn.executemany("INSERT OR REPLACE INTO stock (sku, warehouse_id, quantity)"
                         " VALUES (?, ?, ?)", [(s, w, q) for (s, w), q in STOCK.items()])
        # a one-colour, one-size item: "add to cart" adds it at once
        one = conn.execute("SELECT v.product_id, v.sku FROM variants v JOIN products p"
                           " ON p.product_id = v.product_id WHERE p.category = 'backpacks'"
                           " ORDER BY v.sku LIMIT 1").fetchone()
        conn.execute("UPDATE stock SET quantity = 0 WHERE sku IN (SELECT sku FROM variants"
                     " WHERE product_id = ?) AND sku != ?", one)
        conn.execute("UPDATE stock SET quantity = 5 WHERE sku = ?", (one[1],))
    conn.close()
    monkeypatch.setenv("SHOPASSIST_CATALOG", str(path))
    return {"path": path, "one_item": one[0]}


@pytest.fixture()
def rendered(monkeypatch):
    """The keys of actions/texts.yml the actions rendered."""
    keys: list[str] = []
    original = Texts.render

    def render(self, key, lang, **fields):
        keys.append(key)
        return original(self, key, lang, **fields)

    monkeypatch.setattr(Texts, "render", render)
    return keys


WORDS = {"zh": "有货吗", "en": "is it in stock"}


SHOP_SECRET = "texts-test-secret"


def signed_in(customer_id: str) -> dict:
    """The metadata of a signed-in shopper (hex HMAC-SHA256 of the id, by hand)."""
    import hashlib
    import hmac

    return {"customer_id": customer_id, "customer_sig": hmac.new(
        SHOP_SECRET.encode(), customer_id.encode(), hashlib.sha256).hexdigest()}


def orders_by_case(path) -> dict[str, str]:
    conn = sqlite3.connect(path)
    queries = {status: f"status = '{status}'" for status in
               ("pending_payment", "paid", "shipped", "cancelled", "refunded")}
    # delivered within the 7 days before the pinned Friday, and long before
    queries["delivered_recently"] = ("status = 'delivered' AND delivered_at BETWEEN"
                                     " '2026-11-15' AND '2026-11-20'")
    queries["delivered_long_ago"] = "status = 'delivered' AND delivered_at < '2026-10-01'"
    out = {case: conn.execute(f"SELECT order_id FROM orders WHERE {where}"
                              " ORDER BY order_id LIMIT 1").fetchone()[0]
           for case, where in queries.items()}
    conn.close()
    return out


@pytest.mark.parametrize("lang", LANGUAGES)
async def test_real_answers_read_cleanly(shop, rendered, lang, monkeypatch):
    from actions.crosssell import ActionRecommend
    from actions.orders import ActionOrderStatus, ActionReturnPolicy
    from actions.pricing import ActionDiscount, ActionPrice
    from actions.products import ActionAddToCart, ActionProductDetails
    from actions.shipping import ActionShipping
    from actions.stock import ActionCheckStock

    monkeypatch.setenv("SHOPASSIST_SHOP_SECRET", SHOP_SECRET)
    text = WORDS[lang]
    orders = orders_by_case(shop["path"])
    with sqlite3.connect(shop["path"]) as conn:
        owner = dict(conn.execute("SELECT order_id, customer_id FROM orders"))
    cases = [
        (ActionCheckStock(), text, {"product": "P001"}, []),                 # overview
        (ActionCheckStock(), text, {"product": "P001", "color": "black", "size": "42"}, []),
        (ActionCheckStock(), text, {"product": "P001", "color": "black", "size": "41"}, []),
        (ActionCheckStock(), text, {"product": "P001", "color": "orange", "size": "42"}, []),
        (ActionCheckStock(), text, {"product": "P001", "size": "XXL"}, []),
        (ActionShipping(), text, {"product": "P001", "size": "42", "city": "chengdu"}, []),
        (ActionShipping(), text, {"city": "shanghai"}, []),
        (ActionShipping(), text, {"product": "P001", "color": "black", "size": "42",
                                  "quantity": "3"}, []),
        (ActionPrice(), text, {"product": "P010"}, []),
        (ActionDiscount(), text, {"product": "P010"}, []),
        (ActionProductDetails(), text, {"product": "P040"}, []),
        (ActionProductDetails(), f"{text} 175cm 70kg", {"product": "P040"}, []),
        (ActionProductDetails(), f"{text} size 尺码", {"product": "P001"}, []),
        (ActionRecommend(), text, {"product": "P001"}, []),
        (ActionAddToCart(), text, {"product": "P001"}, []),
        (ActionAddToCart(), text, {"product": "P001", "color": "orange", "size": "42"}, []),
        (ActionAddToCart(), text, {"product": shop["one_item"]}, []),
    ]
    cases = [(*case, {}) for case in cases]
    for case in ("pending_payment", "paid", "shipped", "delivered_recently", "cancelled",
                 "refunded"):
        order_id = orders[case]
        cases.append((ActionOrderStatus(), f"{text} {order_id}", {},
                      [{"entity": "order_id", "value": order_id}],
                      signed_in(owner[order_id])))
    for case in ("delivered_recently", "delivered_long_ago", "paid", "cancelled"):
        order_id = orders[case]
        cases.append((ActionReturnPolicy(), f"{text} {order_id}", {},
                      [{"entity": "order_id", "value": order_id}],
                      signed_in(owner[order_id])))
    someone = orders["shipped"]
    cases += [
        # an anonymous shopper, another customer's order, a place not served
        (ActionOrderStatus(), f"{text} {someone}", {},
         [{"entity": "order_id", "value": someone}], {}),
        (ActionOrderStatus(), f"{text} {someone}", {},
         [{"entity": "order_id", "value": someone}], signed_in("SOMEONE-ELSE")),
        (ActionOrderStatus(), text, {}, [], signed_in("SOMEONE-ELSE")),
        (ActionReturnPolicy(), f"{text} {someone}", {},
         [{"entity": "order_id", "value": someone}], {}),
        (ActionReturnPolicy(), f"{text} {someone}", {},
         [{"entity": "order_id", "value": someone}], signed_in("SOMEONE-ELSE")),
        (ActionShipping(), f"{text} 伦敦 London", {"product": "P001"}, [], {}),
        (ActionShipping(), f"{text} 香港 Hong Kong", {}, [], {}),
    ]

    found = []
    for action, words, slots, entities, metadata in cases:
        dispatcher = CollectingDispatcher()
        await action.run(dispatcher, make_tracker(words, slots={"language": lang, **slots},
                                                  entities=entities, metadata=metadata), {})
        assert dispatcher.messages, (action.name(), slots)
        for m in dispatcher.messages:
            assert (m.get("custom") or {}).get("type") != "handoff", (action.name(), m)
            for t in [m["text"]] + [b["title"] for b in m.get("buttons") or []]:
                found += [f"{action.name()} {slots}: {p}" for p in problems(t, lang)]
    assert not found, "\n".join(found)

    # every kind of answer named in the cases above was given
    assert set(rendered) >= {
        "stock_overview", "stock_variant_in", "stock_variant_low", "stock_variant_out",
        "stock_no_such_variant", "stock_low_item", "stock_sold_out", "stock_more_items",
        "stock_alternative_colors", "shipping_product", "shipping_general", "shipping_split",
        "warehouse_cutoff", "delivery", "free_shipping", "price", "discount",
        "discount_product", "details", "size_advice", "size_advice_fit", "size_advice_none",
        "size_chart_foot", "measure_height", "measure_weight", "order_status",
        "status_pending_payment", "status_paid_ships", "status_shipped", "status_cancelled",
        "status_refunded", "status_delivered", "return_order", "return_until",
        "return_expired", "return_not_delivered", "crosssell_offer", "recommend",
        "crosssell_more_button", "crosssell_cart_button", "add_to_cart_pick",
        "add_to_cart_out", "add_to_cart_adding", "date", "date_range", "list_next",
        "list_last", "clause_next", "variant", "order_sign_in", "order_unknown",
        "ask_order_id", "return_policy_sign_in", "return_policy_unknown_order",
        "shipping_not_served", "place_in_country"}, sorted(set(rendered))


# -- the pieces sentences are built from -----------------------------------------------------

@pytest.mark.parametrize("days,zh,en", [
    (0, "今天", "today"), (1, "明天", "tomorrow"), (2, "后天", "on Sun 22 Nov"),
    (3, "11月23日（周一）", "on Mon 23 Nov"), (-1, "11月19日（周四）", "on Thu 19 Nov"),
    (42, "1月1日（周五）", "on Fri 1 Jan"),
])
def test_day_phrase(days, zh, en):
    from datetime import date, timedelta

    from actions.base import day_phrase

    today = date(2026, 11, 20)                                       # a Friday
    assert day_phrase(today + timedelta(days=days), today, "zh") == zh
    assert day_phrase(today + timedelta(days=days), today, "en") == en


@pytest.mark.parametrize("items,zh,en", [
    ([], "", ""), (["a"], "a", "a"), (["a", "b"], "a、b", "a and b"),
    (["a", "b", "c"], "a、b、c", "a, b and c"), (["a", "", "c"], "a、c", "a and c"),
])
def test_join_list(items, zh, en):
    from actions.base import join_clauses, join_list

    assert (join_list(items, "zh"), join_list(items, "en")) == (zh, en)
    assert join_clauses(items, "zh") == zh.replace("、", "；")
    assert join_clauses(items, "en") == "; ".join(i for i in items if i)
