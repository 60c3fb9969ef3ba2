"""Suggestions are right (desk/service.py, desk/facts.py): drafts for every shopper
message since the agent's last reply, drafted in order; only complete facts; a fact that
changed since drafting explained in the agent's language with the draft re-rendered
where that is safe, and the choices; resolving warns while the last question has no
answer. Expected words written out by hand from desk/texts.yml and the catalog's rows."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import datetime

import pytest

from tests.conftest import copy_db
from tests.test_desk_api import (desk, fake_rasa, make_desk, next_event,  # noqa: F401
                                 start_fake_rasa)


async def wait_for(fn, n, timeout_s=3.0):
    for _ in range(int(timeout_s / 0.02)):
        got = await fn()
        if len(got) >= n:
            return got
        await asyncio.sleep(0.02)
    raise AssertionError(f"fewer than {n}: {got}")


async def assigned_to_lily(desk, lang="zh", **body):
    lily = await desk.login("lily")
    await lily.online()
    cid, auth = await desk.new(lang, **body)
    await desk.say(cid, auth, "转人工" if lang == "zh" else "human please")
    assert (await desk.conversation(cid))["agent_id"] == lily.agent["agent_id"]
    return lily, cid, auth


async def test_drafts_for_every_message_since_the_last_reply_in_order(desk):
    lily, cid, auth = await assigned_to_lily(desk, page={"product_id": "P001"})
    await lily.post(f"/api/agent/conversations/{cid}/messages", {"text": "亲，在的"})
    desk.rasa.latency_by_text["多少钱"] = 0.3            # the first question is slow
    asked = []
    for text in ("多少钱", "42码有货吗", "有搭配推荐吗"):
        asked.append((await desk.say(cid, auth, text))["message_id"])
    await wait_for(lambda: desk.suggestions(cid), 3)
    detail = await lily.get(f"/api/agent/conversations/{cid}")
    pending = detail["pending"]
    assert [p["message"]["id"] for p in pending] == asked
    assert [[s["custom"]["type"] for s in p["suggestions"]] for p in pending] == \
        [["price"], ["stock"], ["recommendations"]]
    # Rasa got them one after the other, in the order they were written
    mine = [(kind, text) for sender, kind, text in desk.rasa.timeline if sender == cid]
    assert mine[-6:] == [("start", "多少钱"), ("end", "多少钱"), ("start", "42码有货吗"),
                         ("end", "42码有货吗"), ("start", "有搭配推荐吗"),
                         ("end", "有搭配推荐吗")]
    # an answer clears what came before it
    await lily.post(f"/api/agent/conversations/{cid}/messages", {"text": "亲，都有的"})
    assert (await lily.get(f"/api/agent/conversations/{cid}"))["pending"] == []


async def test_facts_with_missing_parts_are_not_drafted(desk, monkeypatch):
    lily, cid, auth = await assigned_to_lily(desk)
    payloads = {
        # no ship date, no SKU, and a city without a delivery window
        "发杭州吗": {"type": "shipping", "product_id": "P018", "sku": None,
                  "ship_date": None, "quantity": 1, "city": "hangzhou",
                  "city_name": "杭州", "delivery_earliest": None, "delivery_latest": None},
        # whole: every part known
        "发北京吗": {"type": "shipping", "product_id": "P001", "sku": "P001-BLACK-37",
                  "ship_date": "2026-11-20", "quantity": 1, "city": "beijing",
                  "delivery_earliest": "2026-11-22", "delivery_latest": "2026-11-23"},
        # a stock list where one variant has no figure
        "有货吗": {"type": "stock", "product_id": "P001", "variants": [
            {"sku": "P001-BLACK-37", "available": 90}, {"sku": "P001-BLACK-38",
                                                        "available": None}]}}
    monkeypatch.setattr(desk.rasa, "reply", lambda text, metadata: (
        "x", [{"text": "亲～", "custom": payloads[text]}]))
    for text in payloads:
        await desk.say(cid, auth, text)
    drafts = await wait_for(lambda: desk.suggestions(cid), 3)
    partial, whole, stock = drafts
    assert partial["facts"] == {}
    assert not {"city", "city_name", "delivery_earliest", "delivery_latest"} & \
        set(partial["custom"])
    assert whole["facts"] == {"ship_date:P001:P001-BLACK-37:1:beijing": "2026-11-20"}
    assert whole["custom"]["delivery_latest"] == "2026-11-23"
    assert stock["facts"] == {"stock:P001-BLACK-37": 90}


@pytest.fixture()
async def own_catalog_desk(tmp_path, demo_db):
    db = copy_db(demo_db, tmp_path / "catalog.db")
    fake = await start_fake_rasa(db)
    d = await make_desk(tmp_path, fake, db)
    fake.clock = d.clock
    d.catalog_db = db
    yield d
    await d.client.close()
    await fake.server.close()


def change_catalog(db, sql, *params):
    conn = sqlite3.connect(db)
    with conn:
        conn.execute(sql, params)
    conn.close()


@pytest.mark.parametrize("lang,stock_words,price_words,price_text", [
    ("zh", "黑色37码库存现在是0（起草时是90）", "疾风跑鞋价格现在是¥409（起草时是¥359）",
     "亲，价格是 ¥409。"),
    ("en", "Stock of black EU 37 is now 0 (was 90)",
     "Price of Swift Running Shoes is now ¥409 (was ¥359)", "亲，价格是 ¥409。")])
async def test_a_changed_fact_is_explained_with_the_choices(own_catalog_desk, lang,
                                                            stock_words, price_words,
                                                            price_text):
    desk = own_catalog_desk
    lily, cid, auth = await assigned_to_lily(desk, page={"product_id": "P001"})
    await desk.say(cid, auth, "有货吗")
    await desk.say(cid, auth, "多少钱")
    stock, price = await wait_for(lambda: desk.suggestions(cid), 2)
    assert stock["facts"]["stock:P001-BLACK-37"] == 90 and price["facts"] == \
        {"price:P001": 359.0}
    change_catalog(desk.catalog_db, "UPDATE stock SET quantity = 0 WHERE sku = ?",
                   "P001-BLACK-37")
    change_catalog(desk.catalog_db, "UPDATE products SET price = 409 WHERE product_id = ?",
                   "P001")
    url = f"/api/agent/conversations/{cid}/messages"

    # sold out: said in words; it cannot be re-worded, so no "use the new figure"
    body = await lily.post(url, {"suggestion_id": stock["id"], "lang": lang}, status=409)
    assert body["reason"] == "facts_changed" and body["lang"] == lang
    assert [c["text"] for c in body["changes"]] == [stock_words]
    assert body["redrafted"] is None
    assert [c["action"] for c in body["choices"]] == ["send_anyway", "cancel"]
    assert body["choices"][0]["label"] == {"zh": "照原样发送", "en": "Send anyway"}[lang]

    # the price: re-rendered with the new figure; "use the new figure" sends that
    body = await lily.post(url, {"suggestion_id": price["id"], "lang": lang}, status=409)
    assert [c["text"] for c in body["changes"]] == [price_words]
    assert body["redrafted"]["text"] == price_text
    assert body["redrafted"]["custom"]["price"] == 409
    assert [c["action"] for c in body["choices"]] == ["send_anyway", "use_new", "cancel"]
    assert body["choices"][1]["label"] == {"zh": "用新数据发送", "en": "Use the new figure"}[lang]
    sent = await lily.post(url, {"suggestion_id": price["id"], "use_new": True})
    assert sent["message"]["text"] == price_text
    assert sent["message"]["custom"]["price"] == 409
    assert (sent["suggestion"]["outcome"], sent["suggestion"]["final_text"]) == \
        ("accepted", price_text)
    # "send anyway" still sends the draft as it was
    sent = await lily.post(url, {"suggestion_id": stock["id"], "confirm": True})
    assert sent["message"]["text"] == stock["text"]


@pytest.mark.parametrize("lang,words,redrafted", [
    ("zh", "黑色37码发货日期现在是11月21日（起草时是11月20日）", "亲，现在拍下明天发货～"),
    ("en", "Ship date of black EU 37 is now 21 Nov (was 20 Nov)",
     "Order now and it ships tomorrow.")])
async def test_a_changed_ship_date_is_re_rendered_as_the_bot_says_it(own_catalog_desk,
                                                                     lang, words,
                                                                     redrafted):
    """Drafted on Friday 20 Nov at 10:00 ("ships today"); sent at 17:00, after every
    warehouse's cut-off: it ships Saturday 21 Nov, "tomorrow"."""
    desk = own_catalog_desk
    lily, cid, auth = await assigned_to_lily(desk, lang, page={"product_id": "P001"})
    await desk.say(cid, auth, "什么时候发货" if lang == "zh" else "when does it ship?")
    (draft,) = await wait_for(lambda: desk.suggestions(cid), 1)
    assert draft["facts"] == {"ship_date:P001:P001-BLACK-37:1:": "2026-11-20"}
    desk.clock.t = datetime.fromisoformat("2026-11-20T17:00:00+08:00")
    await desk.store.accounts.seen([lily.agent["agent_id"]])
    body = await lily.post(f"/api/agent/conversations/{cid}/messages",
                           {"suggestion_id": draft["id"], "lang": lang}, status=409)
    assert [c["text"] for c in body["changes"]] == [words]
    assert body["redrafted"]["text"] == redrafted
    assert body["redrafted"]["custom"]["ship_date"] == "2026-11-21"


@pytest.mark.parametrize("lang,words", [
    ("zh", "顾客的最后一条消息还没有回复：“有没有XL”。确定要结束吗？"),
    ("en", "The shopper's last message has no answer yet: “有没有XL”. Close the chat anyway?")])
async def test_resolve_warns_while_the_last_question_has_no_answer(desk, lang, words):
    lily, cid, auth = await assigned_to_lily(desk)
    shopper = await desk.client.ws_connect(f"/api/conversations/{cid}/ws",
                                           params={"token": auth["Authorization"][7:]})
    await lily.post(f"/api/agent/conversations/{cid}/messages", {"text": "亲，在的"})
    out = await desk.say(cid, auth, "有没有XL")
    url = f"/api/agent/conversations/{cid}/resolve"
    body = await lily.post(url, {"lang": lang}, status=409)
    assert body["reason"] == "unanswered" and body["text"] == words
    assert body["shopper_message"]["id"] == out["message_id"]
    assert (await desk.conversation(cid))["state"] == "assigned"
    # answered: resolves without a word more
    await lily.post(f"/api/agent/conversations/{cid}/messages", {"text": "有的亲"})
    summary = await lily.post(url)
    assert summary["state"] == "resolved"
    resolved = await next_event(shopper, "message")
    while resolved["message"]["sender"] != "system":
        resolved = await next_event(shopper, "message")
    assert resolved["message"]["custom"] == {"type": "resolved", "rating": True}
    await shopper.close()


async def test_resolving_anyway_when_confirmed(desk):
    lily, cid, auth = await assigned_to_lily(desk)
    await lily.post(f"/api/agent/conversations/{cid}/resolve", status=409)
    assert (await lily.post(f"/api/agent/conversations/{cid}/resolve",
                            {"confirm": True}))["state"] == "resolved"
