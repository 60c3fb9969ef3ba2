"""The lists and the conversation the console works from (desk/store/conversations.py
summaries, desk/service.py): how long each shopper has waited for an answer, the
shopper's last message as the preview, unread shopper messages, what tells rows apart,
lists sorted by waiting time; private notes and labels; canned replies searched in both
languages; the shopper's rating after resolve, once per cycle. Expected values by hand."""

from __future__ import annotations


import pytest

from tests.test_desk_api import desk, fake_rasa, next_event, no_event, signed  # noqa: F401


async def test_rows_say_who_waits_how_long_and_for_what(desk):
    lily = await desk.login("lily")
    await lily.online()
    t0 = desk.clock.t
    first, a1 = await desk.new("zh", **signed("C001"), page={"product_id": "P001"})
    await desk.say(first, a1, "转人工", metadata={"page": {"product_id": "P001"}})
    desk.clock.advance(seconds=20)
    await desk.say(first, a1, "42码有货吗")
    desk.clock.advance(seconds=10)
    second, a2 = await desk.new("en", page={"product_id": "P039"})
    await desk.say(second, a2, "human please", metadata={"page": {"product_id": "P039"}})
    desk.clock.advance(seconds=30)                       # t0 + 60 s

    rows = (await lily.get("/api/agent/conversations"))["mine"]
    assert [r["conversation_id"] for r in rows] == [first, second]   # longest wait first
    one, two = rows
    # waiting since "转人工" (its bot reply only said a person is coming): 60 s
    assert one["waiting_since"] == t0.isoformat(timespec="milliseconds")
    assert (one["waiting_s"], one["unanswered"]) == (60, 2)
    assert two["waiting_s"] == 30
    # the preview is the shopper's own last message, not "Lily joined"
    assert one["last_shopper_message"]["text"] == "42码有货吗"
    assert two["last_message"]["sender"] == "system"            # "Lily has joined"
    assert two["last_shopper_message"]["text"] == "human please"
    # unread: shopper messages only (their two, not the bot's and the desk's lines)
    assert one["unread"] == 2
    # what tells the rows apart
    assert (one["shopper_label"], one["product_id"], one["product_name"], one["locale"]) == \
        ("C001", "P001", "疾风跑鞋", "zh")
    assert two["shopper_label"] == "#" + second[:6].upper()
    assert (two["product_id"], two["locale"]) == ("P039", "en")
    assert two["product_name"] and two["product_name"] != one["product_name"]

    # answered: no longer waiting, sorted after those who are
    await lily.post(f"/api/agent/conversations/{first}/messages", {"text": "亲，有的"})
    rows = (await lily.get("/api/agent/conversations"))["mine"]
    assert [r["conversation_id"] for r in rows] == [second, first]
    assert (rows[1]["waiting_since"], rows[1]["waiting_s"], rows[1]["unread"]) == \
        (None, None, 0)
    # opened by its owner: read; a new message is one unread
    await lily.get(f"/api/agent/conversations/{second}")
    await desk.say(second, a2, "hello?")
    rows = {r["conversation_id"]: r for r in
            (await lily.get("/api/agent/conversations"))["mine"]}
    assert rows[second]["unread"] == 1 and rows[second]["unanswered"] == 2
    await lily.post(f"/api/agent/conversations/{second}/read")
    assert (await lily.get("/api/agent/conversations"))["mine"][0]["unread"] == 0


async def test_the_city_comes_from_the_conversation_or_the_last_order(desk, sql):
    lily = await desk.login("lily")
    await lily.online()
    customer = sql("SELECT customer_id, city FROM orders WHERE city IS NOT NULL"
                   " ORDER BY created_at DESC LIMIT 1")[0]
    latest_city = sql("SELECT city FROM orders WHERE customer_id = ?"
                      " ORDER BY created_at DESC LIMIT 1", customer["customer_id"])[0]["city"]
    cid, auth = await desk.new("zh", **signed(customer["customer_id"]))
    await desk.say(cid, auth, "转人工")
    (row,) = (await lily.get("/api/agent/conversations"))["mine"]
    assert row["city"] == latest_city
    await desk.say(cid, auth, "发杭州几天到")              # drafted with city hangzhou
    for _ in range(100):
        (row,) = (await lily.get("/api/agent/conversations"))["mine"]
        if row["city"] == "hangzhou":
            break
    assert row["city"] == "hangzhou"


async def test_notes_are_for_agents_only(desk):
    lily, wang, boss = [await desk.login(n) for n in ("lily", "wang", "boss")]
    await lily.online()
    cid, auth = await desk.new()
    shopper = await desk.client.ws_connect(f"/api/conversations/{cid}/ws",
                                           params={"token": auth["Authorization"][7:]})
    await desk.say(cid, auth, "转人工")
    console = await boss.ws()
    note = await lily.post(f"/api/agent/conversations/{cid}/notes",
                           {"text": "老顾客，上次退过货"}, status=201)
    assert (note["text"], note["agent_name"]) == ("老顾客，上次退过货", "Lily")
    assert (await next_event(console, "note"))["note"]["id"] == note["id"]
    await boss.post(f"/api/agent/conversations/{cid}/notes", {"text": "ok"}, status=201)
    await wang.post(f"/api/agent/conversations/{cid}/notes", {"text": "x"}, status=403)
    await lily.post(f"/api/agent/conversations/{cid}/notes", {"text": " "}, status=400)
    detail = await lily.get(f"/api/agent/conversations/{cid}")
    assert [n["text"] for n in detail["notes"]] == ["老顾客，上次退过货", "ok"]
    # never to the shopper: not in their history, not on their socket
    r = await desk.client.get(f"/api/conversations/{cid}/messages", headers=auth)
    assert all("退过货" not in m["text"] for m in await r.json())
    while True:
        try:
            ev = await shopper.receive_json(timeout=0.3)
        except TimeoutError:
            break
        except Exception:                   # noqa: BLE001 - asyncio's TimeoutError (3.10)
            break
        assert "退过货" not in str(ev)
    await shopper.close()
    await console.close()


async def test_labels_replace_and_show_in_the_rows(desk):
    lily = await desk.login("lily")
    await lily.online()
    cid, auth = await desk.new()
    await desk.say(cid, auth, "转人工")
    url = f"/api/agent/conversations/{cid}/labels"
    summary = await lily.post(url, {"labels": ["VIP", "退货", "VIP", " "]})
    assert summary["labels"] == ["VIP", "退货"]
    assert (await lily.get("/api/agent/conversations"))["mine"][0]["labels"] == \
        ["VIP", "退货"]
    assert (await lily.post(url, {"labels": ["大单"]}))["labels"] == ["大单"]
    await lily.post(url, {"labels": "VIP"}, status=400)
    await lily.post(url, {"labels": ["x" * 31]}, status=400)
    await lily.post(url, {"labels": [str(i) for i in range(11)]}, status=400)


@pytest.mark.parametrize("query,titles", [
    ("订单", ["订单"]),                     # a Chinese title
    ("order", ["Product", "Order"]),      # English words, any case ("you can order it");
    ("ORDER", ["Product", "Order"]),      # the {{order_id}} variable is not a word
    ("拍下", ["商品"]),                     # words inside a Chinese reply's text
    ("happy", ["Greeting", "Closing"]),  # inside English replies' texts
    ("nothing like this", []),
])
async def test_canned_replies_are_searched_in_both_languages(desk, query, titles):
    lily = await desk.login("lily")
    found = await lily.get(f"/api/agent/canned?q={query}")
    assert [c["title"] for c in found] == titles
    # within one language when asked
    assert await lily.get(f"/api/agent/canned?q={query}&locale=zh") == \
        [c for c in found if c["locale"] == "zh"]
    # without q: the agent's first language, as before
    assert [c["locale"] for c in await lily.get("/api/agent/canned")] == ["zh"] * 4


async def test_the_shopper_rates_once_per_resolved_cycle(desk):
    lily = await desk.login("lily")
    await lily.online()
    console = await lily.ws()
    cid, auth = await desk.new()
    url = f"/api/conversations/{cid}/rating"
    r = await desk.client.post(url, headers=auth, json={"score": 5})
    assert r.status == 409 and (await r.json())["reason"] == "not_resolved"
    await desk.say(cid, auth, "转人工")
    await lily.post(f"/api/agent/conversations/{cid}/messages", {"text": "好的亲"})
    await lily.post(f"/api/agent/conversations/{cid}/resolve")
    r = await desk.client.get(f"/api/conversations/{cid}", headers=auth)
    assert (await r.json())["rating_open"] is True
    for bad in (0, 6, "5", 4.5, True):
        r = await desk.client.post(url, headers=auth, json={"score": bad})
        assert r.status == 400, bad
    r = await desk.client.post(url, headers=auth, json={"score": 4, "comment": "回复很快"})
    assert r.status == 201 and (await r.json())["score"] == 4
    assert (await next_event(console, "rating"))["rating"]["comment"] == "回复很快"
    r = await desk.client.post(url, headers=auth, json={"score": 1})
    assert r.status == 409 and (await r.json())["reason"] == "already_rated"
    r = await desk.client.get(f"/api/conversations/{cid}", headers=auth)
    assert (await r.json())["rating_open"] is False
    r = await desk.client.post(url, headers={"Authorization": "Bearer nope"},
                               json={"score": 5})
    assert r.status == 403
    # the next cycle (reopened within the window, resolved again) is rated again
    desk.clock.advance(minutes=5)
    await desk.store.accounts.seen([lily.agent["agent_id"]])
    await desk.say(cid, auth, "还有个问题")
    await lily.post(f"/api/agent/conversations/{cid}/messages", {"text": "您说"})
    await lily.post(f"/api/agent/conversations/{cid}/resolve")
    r = await desk.client.post(url, headers=auth, json={"score": 2})
    assert r.status == 201
    assert desk.sql("SELECT score, comment, agent_id FROM ratings ORDER BY id") == [
        {"score": 4, "comment": "回复很快", "agent_id": lily.agent["agent_id"]},
        {"score": 2, "comment": None, "agent_id": lily.agent["agent_id"]}]
    await console.close()
