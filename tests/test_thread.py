"""The thread of a conversation, action by action (a CollectingDispatcher, facts checked
against the database): what a new question restates replaces the old and the rest is
carried over only on the same product; places the shop does not deliver to get an honest
answer; an open form gives way to a person, a complaint or another question, and nothing
the bot says follows its handoff notice."""

from __future__ import annotations

import pytest
from rasa_sdk import Tracker
from rasa_sdk.events import ActionExecutionRejected, ActiveLoop, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.base import context_of
from actions.pricing import ActionPrice
from actions.service import ActionFallback, ActionHandoff
from actions.shipping import ActionShipping
from actions.stock import ActionAskSize, ActionCheckStock, ValidateStockForm
from tests.conftest import make_tracker


def customs(d):
    return [m["custom"] for m in d.messages if m.get("custom")]


def texts(d):
    return " ".join(m.get("text") or "" for m in d.messages)


def ent(name, value, text="", start=None):
    """An entity as the NLU reports it (with its span when the text is given)."""
    e = {"entity": name, "value": value}
    if text and start is not None:
        e.update(start=start, end=start + len(text))
    return e


def earlier(**slots):
    """Slot events of the conversation so far."""
    return [{"event": "slot", "name": k, "value": v} for k, v in slots.items()]


# -- what a new question restates -------------------------------------------------------------
def test_a_new_colour_replaces_the_old_and_the_size_stays_on_the_same_product():
    # "orange XL?" about P005, then "blak in larg?": black L, not orange XL
    before = {"product": "P033", "color": "orange", "size": "XL", "language": "en"}
    tracker = make_tracker("hav u got blak in larg", slots={**before, "color": "black",
                                                            "size": "L"},
                           entities=[ent("color", "black"), ent("size", "L")],
                           events=earlier(**before))
    ctx = context_of(tracker)
    assert (ctx.product, ctx.color, ctx.size) == ("P033", "black", "L")
    # only the colour restated: the size carries over, the product being the same
    tracker = make_tracker("black?", slots={**before, "color": "black"},
                           entities=[ent("color", "black")], events=earlier(**before))
    ctx = context_of(tracker)
    assert (ctx.color, ctx.size) == ("black", "XL")


def test_another_product_drops_what_it_does_not_restate():
    before = {"product": "P001", "color": "black", "size": "42", "city": "beijing",
              "quantity": "2"}
    tracker = make_tracker("山脊跑鞋呢", slots={**before, "product": "P002"},
                           entities=[ent("product", "P002", "山脊跑鞋", 0)],
                           events=earlier(**before))
    ctx = context_of(tracker)
    assert ctx.product == "P002"
    assert (ctx.color, ctx.size, ctx.city, ctx.quantity) == (None, None, None, None)
    for name in ("color", "size", "city", "quantity"):
        assert SlotSet(name, None) in ctx.slot_events()
    # what it restates stays: another product, to Chengdu
    tracker = make_tracker("山脊跑鞋发成都呢", slots={**before, "product": "P002",
                                                "city": "chengdu"},
                           entities=[ent("product", "P002", "山脊跑鞋", 0),
                                     ent("city", "chengdu", "成都", 5)],
                           events=earlier(**before))
    ctx = context_of(tracker)
    assert (ctx.city, ctx.size) == ("chengdu", None)


def test_naming_the_product_asked_for_keeps_what_was_asked_before():
    # "有黑色42码吗" with no product: the bot asks which; "疾风跑鞋" completes the question
    before = {"color": "black", "size": "42"}
    tracker = make_tracker("疾风跑鞋", intent="inform", slots={**before, "product": "P001"},
                           entities=[ent("product", "P001", "疾风跑鞋", 0)],
                           events=earlier(**before))
    ctx = context_of(tracker)
    assert (ctx.product, ctx.color, ctx.size) == ("P001", "black", "42")


@pytest.mark.parametrize("text,lang,region", [("能寄到东京吗", "zh", "tokyo"),
                                              ("do you ship to London?", "en", "london")])
def test_a_place_outside_the_cities_replaces_the_city(text, lang, region, sql):
    before = {"product": "P001", "city": "beijing", "language": lang}
    ctx = context_of(make_tracker(text, intent="ask_shipping", slots=before,
                                  events=earlier(**before)))
    assert ctx.city is None and ctx.place.region == region
    assert sql("SELECT served FROM shipping_regions WHERE region = ?", region) == \
        [{"served": 0}]


# -- places the shop does not deliver to ----------------------------------------------------------
@pytest.mark.parametrize("text,lang,region,country", [
    ("能寄到东京吗", "zh", "tokyo", "japan"),
    ("香港能发吗", "zh", "hong_kong", None),
    ("疾风跑鞋寄台湾要几天", "zh", "taiwan", None),
    ("do you ship to London?", "en", "london", "uk"),
    ("can u send it to tokyo", "en", "tokyo", "japan"),
    ("shipping to Taiwan?", "en", "taiwan", None),
    ("do you ship internationally", "en", "overseas", None),
])
async def test_a_place_not_served_gets_an_honest_answer_naming_it(sql, text, lang, region,
                                                                  country):
    # the shopper asked about Beijing before, on a product page: no domestic estimate
    before = {"product": "P001", "city": "beijing", "language": lang}
    d = CollectingDispatcher()
    await ActionShipping().run(d, make_tracker(text, intent="ask_shipping", slots=before,
                                               events=earlier(**before)), {})
    [card] = customs(d)
    [row] = sql("SELECT * FROM shipping_regions WHERE region = ?", region)
    assert row["served"] == 0 and row["part_of"] == country
    served = sql("SELECT region, name_en, name_zh FROM shipping_regions WHERE served = 1"
                 " AND part_of IS NULL")
    assert [r["region"] for r in served] == ["cn_mainland"]
    assert card["served"] is False and card["region"] == region
    assert card["ship_date"] is None and card["served_regions"] == ["cn_mainland"]
    said = texts(d)
    name = "name_zh" if lang == "zh" else "name_en"
    assert row[name] in said and served[0][name] in said
    if country:
        [c] = sql("SELECT * FROM shipping_regions WHERE region = ?", country)
        assert c[name] in said
    for word in ("北京", "Beijing", "今天", "today", "明天", "tomorrow", "顺丰", "ZTO"):
        assert word not in said


async def test_a_served_city_still_gets_its_delivery_window(catalog):
    d = CollectingDispatcher()
    tracker = make_tracker("发北京几天到", intent="ask_shipping",
                           slots={"product": "P001", "city": "beijing"},
                           entities=[ent("city", "beijing", "北京", 1)])
    await ActionShipping().run(d, tracker, {})
    card = customs(d)[0]
    assert card["city"] == "beijing" and card["delivery_latest"]
    assert card.get("served", True) is True


# -- the form gives way ---------------------------------------------------------------------------
def form_tracker(text: str, intent: str, *, after: str = "action_listen",
                 entities=None, slots=None) -> Tracker:
    """A tracker whose stock form asks for the size, the shopper having just written (or
    the form coming back after `after`), as Rasa hands it to the validation action."""
    slots = {"language": "zh", "product": "P001", "requested_slot": "size", **(slots or {})}
    latest = {"text": text, "intent": {"name": intent, "confidence": 0.9},
              "entities": entities or [], "metadata": {}}
    events = [*earlier(**slots), {"event": "action", "name": "stock_form"},
              {"event": "action", "name": "action_ask_size"},
              {"event": "action", "name": "action_listen"},
              {"event": "user", "text": text, "parse_data": latest}]
    if after != "action_listen":
        events.append({"event": "action", "name": after})
    events.append({"event": "action", "name": "stock_form"})
    return Tracker("shopper-1", slots, latest, events, False, None,
                   {"name": "stock_form"}, "stock_form")


@pytest.mark.parametrize("text,intent", [("转人工", "request_human"),
                                         ("质量太差了 我要投诉", "complaint"),
                                         ("多少钱", "ask_price"),
                                         ("where is my order", "order_status"),
                                         ("不用了", "deny"),
                                         ("啊啊啊", "nlu_fallback")])
async def test_the_form_rejects_what_does_not_answer_it(text, intent):
    d = CollectingDispatcher()
    events = await ValidateStockForm().run(d, form_tracker(text, intent), FORM_DOMAIN)
    assert events == [ActionExecutionRejected("stock_form")] and not d.messages


FORM_DOMAIN = {"forms": {"stock_form": {"required_slots": ["product", "size"]}}}


async def test_the_form_takes_a_size_and_comes_back_after_a_miss():
    d = CollectingDispatcher()
    events = await ValidateStockForm().run(
        d, form_tracker("42码", "inform", entities=[ent("size", "42")],
                        slots={"size": "42"}), FORM_DOMAIN)
    assert ActionExecutionRejected("stock_form") not in events
    assert SlotSet("requested_slot", None) in events        # nothing more to ask
    # back after the fallback answered a miss: the form asks again, it does not reject
    events = await ValidateStockForm().run(d, form_tracker("啊啊啊", "nlu_fallback",
                                                            after="action_fallback"),
                                           FORM_DOMAIN)
    assert ActionExecutionRejected("stock_form") not in events
    assert SlotSet("requested_slot", "size") in events


def open_form(text: str, intent: str, **slots) -> Tracker:
    tracker = make_tracker(text, intent=intent, slots={"product": "P001", **slots})
    tracker.active_loop = {"name": "stock_form"}
    return tracker


async def test_a_handoff_closes_the_open_form():
    d = CollectingDispatcher()
    events = await ActionHandoff().run(d, open_form("转人工", "request_human"), {})
    assert customs(d) == [{"type": "handoff", "reason": "requested"}]
    assert events[-2:] == [ActiveLoop(None), SlotSet("requested_slot", None)]


async def test_another_question_closes_the_open_form_a_miss_keeps_it():
    d = CollectingDispatcher()
    events = await ActionPrice().run(d, open_form("多少钱", "ask_price"), {})
    assert customs(d)[0]["type"] == "price" and ActiveLoop(None) in events
    d = CollectingDispatcher()
    events = await ActionFallback().run(d, open_form("啊啊啊", "nlu_fallback"), {})
    assert not customs(d) and ActiveLoop(None) not in events
    # the form's own question keeps it open, and records what it asked
    d = CollectingDispatcher()
    events = await ActionAskSize().run(d, open_form("有货吗", "check_stock"), {})
    assert ActiveLoop(None) not in events and SlotSet("pending_question", "size") in events


async def test_every_action_clears_the_question_asked_last_turn():
    d = CollectingDispatcher()
    tracker = make_tracker("多少钱", intent="ask_price",
                           slots={"product": "P001", "pending_question": "size"})
    events = await ActionPrice().run(d, tracker, {})
    assert SlotSet("pending_question", None) in events


async def test_the_stock_answer_is_for_the_restated_variant(sql):
    """After orange XL, "black L?" answers black L (the slots Rasa filled from the
    message, the context keeping them), checked against the stock table."""
    pid = sql("SELECT v.product_id FROM variants v WHERE v.size = 'L' AND v.color = 'black'"
              " AND v.product_id IN (SELECT product_id FROM variants WHERE color = 'orange'"
              " AND size = 'XL') LIMIT 1")[0]["product_id"]
    before = {"product": pid, "color": "orange", "size": "XL", "language": "en"}
    d = CollectingDispatcher()
    tracker = make_tracker("hav u got blak in larg", slots={**before, "color": "black",
                                                            "size": "L"},
                           entities=[ent("color", "black"), ent("size", "L")],
                           events=earlier(**before))
    await ActionCheckStock().run(d, tracker, {})
    card = customs(d)[0]
    [row] = sql("SELECT v.sku, COALESCE(SUM(s.quantity), 0) q FROM variants v LEFT JOIN stock"
                " s ON s.sku = v.sku WHERE v.product_id = ? AND v.color = 'black' AND"
                " v.size = 'L' GROUP BY v.sku", pid)
    assert [(v["sku"], v["available"]) for v in card["variants"]] == [(row["sku"], row["q"])]


async def test_the_form_does_not_take_back_a_size_said_about_another_product():
    """Starting the form, Rasa hands the validation every slot already set as if just
    said: "44" asked about P001 must not become P009's size."""
    slots = {"language": "en", "product": "P009", "size": "44", "color": "orange"}
    latest = {"text": "do u have the falcon hiking shoes", "intent": {"name": "check_stock"},
              "entities": [ent("product", "P009", "falcon hiking shoes", 14)], "metadata": {}}
    events = [*earlier(language="en", product="P001", size="44", color="orange"),
              {"event": "action", "name": "action_listen"},
              {"event": "user", "text": latest["text"], "parse_data": latest},
              {"event": "slot", "name": "product", "value": "P009"},
              {"event": "action", "name": "stock_form"},
              {"event": "slot", "name": "size", "value": "44"},
              {"event": "slot", "name": "color", "value": "orange"},
              {"event": "slot", "name": "product", "value": "P009"}]
    tracker = Tracker("shopper-1", slots, latest, events, False, None, {}, "stock_form")
    out = await ValidateStockForm().run(CollectingDispatcher(), tracker, FORM_DOMAIN)
    assert SlotSet("size", None) in out and SlotSet("color", None) in out
    assert SlotSet("size", "44") not in out and SlotSet("color", "orange") not in out
    assert out[-1] == SlotSet("requested_slot", "size")


# -- follow-ups and corrections -------------------------------------------------------------------
def answered(kind: str, **extra) -> dict:
    """The bot's earlier answer, carrying facts of `kind`."""
    return {"event": "bot", "text": "…", "data": {"custom": {"type": kind, **extra}}}


def after_answer(text, intent, kind, entities=(), **slots):
    before = {"language": "en", "product": "P033", "color": "orange", "size": "XL", **slots}
    events = [*earlier(**before),
              {"event": "user", "text": "orange XL?", "parse_data": {
                  "intent": {"name": "check_stock"}}},
              answered(kind)]
    now = dict(before)
    for e in entities:
        now[e["entity"]] = e["value"]
    return make_tracker(text, intent=intent, slots=now, entities=list(entities),
                        events=events)


async def test_how_about_black_after_a_stock_answer_is_the_stock_question_again(sql):
    from actions.service import ActionOutOfScope

    d = CollectingDispatcher()
    tracker = after_answer("how about black", "out_of_scope", "stock",
                           [ent("color", "black")])
    await ActionOutOfScope().run(d, tracker, {})
    [card] = [c for c in customs(d) if c["type"] == "stock"]
    [row] = sql("SELECT v.sku, COALESCE(SUM(s.quantity), 0) q FROM variants v LEFT JOIN stock"
                " s ON s.sku = v.sku WHERE v.product_id = 'P033' AND v.color = 'black' AND"
                " v.size = 'XL' GROUP BY v.sku")
    assert [(v["sku"], v["available"]) for v in card["variants"]] == [(row["sku"], row["q"])]


async def test_what_about_taiwan_after_a_shipping_answer_names_the_place():
    from actions.service import ActionOutOfScope

    d = CollectingDispatcher()
    await ActionOutOfScope().run(d, after_answer("what about taiwan", "out_of_scope",
                                                 "shipping", city="beijing"), {})
    [card] = customs(d)
    assert card["served"] is False and card["region"] == "taiwan"


async def test_no_the_other_size_is_a_correction(sql):
    from actions.service import ActionDecline

    d = CollectingDispatcher()
    tracker = after_answer("不对 我要L码的", "deny", "stock", [ent("size", "L")],
                           language="zh")
    events = await ActionDecline().run(d, tracker, {})
    card = customs(d)[0]
    assert card["type"] == "stock" and card["size"] == "L" and card["color"] == "orange"
    assert SlotSet("crosssell_declined", True) not in events
    # a plain "no" stays a "no"
    d = CollectingDispatcher()
    await ActionDecline().run(d, after_answer("不用了", "deny", "stock", language="zh"), {})
    assert not customs(d)


async def test_a_message_not_understood_without_an_answer_before_is_a_miss():
    from actions.service import ActionOutOfScope

    d = CollectingDispatcher()
    tracker = make_tracker("black?", intent="out_of_scope", entities=[ent("color", "black")],
                           slots={"language": "en"})
    await ActionOutOfScope().run(d, tracker, {})
    assert not customs(d) and "can't help" in texts(d)
    # a follow-up answered is not a miss: it breaks the run
    events = [{"event": "user", "text": "x", "parse_data": {"intent": {"name": "out_of_scope"}}},
              {"event": "slot", "name": "missed_messages", "value": [1]},
              *after_answer("how about black", "out_of_scope", "stock",
                            [ent("color", "black")]).events]
    tracker = make_tracker("how about black", intent="out_of_scope", slots={
        "language": "en", "product": "P033", "color": "black", "missed_messages": [1]},
        entities=[ent("color", "black")], events=events[:-1])
    returned = await ActionOutOfScope().run(CollectingDispatcher(), tracker, {})
    assert not any(e.get("name") == "missed_messages" for e in returned)


@pytest.mark.parametrize("text,intent,entities,answers", [
    ("不对 要42码", "deny", [ent("size", "42")], True),
    ("how about black", "out_of_scope", [ent("color", "black")], True),
    ("不用了", "deny", [], False),
    ("42码多少钱", "ask_price", [ent("size", "42")], False),   # a new question still wins
])
async def test_a_no_or_a_miss_naming_a_size_answers_the_form(text, intent, entities, answers):
    events = await ValidateStockForm().run(
        CollectingDispatcher(), form_tracker(text, intent, entities=entities), FORM_DOMAIN)
    assert (ActionExecutionRejected("stock_form") not in events) == answers


@pytest.mark.parametrize("text,product", [("what is this jacket made of", "P041"),
                                          ("这件冲锋衣什么材质", "P041"),
                                          ("do you have shell jackets", None)])
def test_a_category_word_pointing_at_the_page_is_the_page_product(text, product):
    tracker = make_tracker(text, intent="product_details",
                           entities=[ent("category", "shell_jackets")],
                           metadata={"page": {"product_id": "P041"}})
    assert context_of(tracker).product == product


async def test_a_place_after_a_stock_answer_is_a_shipping_question():
    from actions.service import ActionOutOfScope

    d = CollectingDispatcher()
    await ActionOutOfScope().run(d, after_answer("what about taiwan", "out_of_scope",
                                                 "stock"), {})
    [card] = [c for c in customs(d) if c["type"] == "shipping"]
    assert card["served"] is False and card["region"] == "taiwan"
    d = CollectingDispatcher()
    await ActionOutOfScope().run(d, after_answer("ok what about shanghai", "out_of_scope",
                                                 "stock", [ent("city", "shanghai")]), {})
    card = customs(d)[0]
    assert card["type"] == "shipping" and card["city"] == "shanghai"


# "what about taiwan" read as a stock question right after a delivery answer: the stock form
# starts (check_stock), and neither it nor the stock action may ask for a size
def place_after_delivery(text, lang, entities=(), **slots):
    before = {"language": lang, "product": "P001", "color": None, "size": None,
              "city": "beijing", **slots}
    latest = {"text": text, "intent": {"name": "check_stock", "confidence": 0.63},
              "entities": list(entities), "metadata": {}}
    events = [*earlier(**before),
              {"event": "action", "name": "action_listen"},
              {"event": "user", "text": "how long to beijing", "parse_data": {
                  "intent": {"name": "ask_shipping"}}},
              answered("shipping", city="beijing"),
              {"event": "action", "name": "action_listen"},
              {"event": "user", "text": text, "parse_data": latest},
              {"event": "action", "name": "stock_form"}]
    now = dict(before)
    for e in entities:
        now[e["entity"]] = e["value"]
    return Tracker("shopper-1", now, latest, events, False, None, {}, "stock_form")


@pytest.mark.parametrize("text,lang,region", [("what about taiwan", "en", "taiwan"),
                                              ("那台湾呢", "zh", "taiwan"),
                                              ("and to japan?", "en", "japan")])
async def test_a_place_read_as_a_stock_question_after_a_delivery_answer_is_answered_as_one(
        text, lang, region):
    tracker = place_after_delivery(text, lang)
    assert await ValidateStockForm().required_slots([], None, tracker, {}) == []
    out = await ValidateStockForm().run(CollectingDispatcher(), tracker, FORM_DOMAIN)
    assert SlotSet("requested_slot", "size") not in out
    d = CollectingDispatcher()
    await ActionCheckStock().run(d, tracker, {})
    [card] = customs(d)
    assert card["type"] == "shipping" and card["served"] is False
    assert card["region"] == region


@pytest.mark.parametrize("entities", [[ent("color", "black")], [ent("size", "42")]])
async def test_a_place_with_a_colour_or_size_is_still_a_stock_question(sql, entities):
    tracker = place_after_delivery("black ones in taiwan?", "en", entities)
    d = CollectingDispatcher()
    await ActionCheckStock().run(d, tracker, {})
    assert [c["type"] for c in customs(d)][:1] == ["stock"]


async def test_a_stock_question_after_a_delivery_answer_asks_its_size():
    tracker = place_after_delivery("do you have them in stock", "en")
    assert await ValidateStockForm().required_slots([], None, tracker, {}) == ["size"]


# "换黑色的" (make it black) read as a returns question right after a stock answer
@pytest.mark.parametrize("text,lang", [("换黑色的", "zh"), ("swap to black", "en")])
async def test_another_colour_read_as_an_exchange_after_a_stock_answer_is_a_stock_question(
        sql, text, lang):
    from actions.orders import ActionReturnPolicy

    d = CollectingDispatcher()
    await ActionReturnPolicy().run(d, after_answer(text, "return_policy", "stock",
                                                   [ent("color", "black")], language=lang), {})
    [card] = [c for c in customs(d) if c["type"] == "stock"]
    [row] = sql("SELECT v.sku, COALESCE(SUM(s.quantity), 0) q FROM variants v LEFT JOIN stock"
                " s ON s.sku = v.sku WHERE v.product_id = 'P033' AND v.color = 'black' AND"
                " v.size = 'XL' GROUP BY v.sku")
    assert [(v["sku"], v["available"]) for v in card["variants"]] == [(row["sku"], row["q"])]


async def test_an_exchange_naming_a_colour_after_another_answer_is_the_returns_answer():
    from actions.orders import ActionReturnPolicy

    d = CollectingDispatcher()
    await ActionReturnPolicy().run(d, after_answer("can I exchange it for black", "return_policy",
                                                   "shipping", [ent("color", "black")]), {})
    assert [c["type"] for c in customs(d)] == ["return_policy"]


# "运费谁出" (who pays the postage) read as a shipping question right after the returns answer
@pytest.mark.parametrize("text,lang", [("运费谁出", "zh"), ("寄回的邮费谁承担", "zh"),
                                       ("who pays the postage?", "en"),
                                       ("what about the shipping cost", "en")])
async def test_the_cost_of_shipping_after_the_returns_answer_is_about_the_return(text, lang):
    d = CollectingDispatcher()
    await ActionShipping().run(d, after_answer(text, "ask_shipping", "return_policy",
                                               language=lang), {})
    [card] = customs(d)
    assert card["type"] == "return_policy" and card["return_shipping_insurance"] is True


@pytest.mark.parametrize("text,entities,kind", [
    ("how long does delivery take", [], "return_policy"),     # no cost named
    ("运费多少 发北京", [ent("city", "beijing")], "return_policy"),   # a place named
    ("运费谁出", [], "stock")])                               # not after the returns answer
async def test_other_shipping_questions_are_shipping_questions(text, entities, kind):
    d = CollectingDispatcher()
    await ActionShipping().run(d, after_answer(text, "ask_shipping", kind, entities), {})
    assert customs(d)[0]["type"] == "shipping"


# "不对 我要40码的" (no, I want size 40) read as add-to-cart right after a stock answer
@pytest.mark.parametrize("text,lang", [("不对 我要M码的", "zh"), ("no, I meant size M", "en")])
async def test_a_correction_read_as_add_to_cart_is_the_stock_question_again(sql, text, lang):
    from actions.products import ActionAddToCart

    d = CollectingDispatcher()
    await ActionAddToCart().run(d, after_answer(text, "add_to_cart", "stock",
                                                [ent("size", "M")], language=lang), {})
    kinds = [c["type"] for c in customs(d)]
    assert "add_to_cart" not in kinds and kinds[:1] == ["stock"]
    [row] = sql("SELECT v.sku, COALESCE(SUM(s.quantity), 0) q FROM variants v LEFT JOIN stock"
                " s ON s.sku = v.sku WHERE v.product_id = 'P033' AND v.color = 'orange' AND"
                " v.size = 'M' GROUP BY v.sku")
    assert [(v["sku"], v["available"]) for v in customs(d)[0]["variants"]] == \
        [(row["sku"], row["q"])]


async def test_buying_a_size_after_a_stock_answer_still_adds_it():
    from actions.products import ActionAddToCart

    d = CollectingDispatcher()
    await ActionAddToCart().run(d, after_answer("我要M码的", "add_to_cart", "stock",
                                                [ent("size", "M")], language="zh"), {})
    assert "stock" not in [c["type"] for c in customs(d)]
