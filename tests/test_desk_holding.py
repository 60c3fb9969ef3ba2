"""The desk self-healing and honest under overload (desk/service.py's bot turn,
desk/rasa_client.py): shoppers held while Rasa is down or starting (503 or connection
refused) and answered when it is back, handed over only when the failure outlasts the
window; a saturated bot makes shoppers wait in order with one "one moment" notice, never
hands them off; messages a crash left unanswered are answered on start, and a retry with
the same client_id gets that answer; a desk SIGKILLed under load loses nothing and leaves
nothing unanswered."""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import time

import aiohttp
import pytest
from aiohttp import web

from desk.store import DeskStore
from tests.conftest import Clock, free_ports
from tests.fake_rasa import FakeRasa
from tests.test_desk_api import fake_rasa  # noqa: F401 - the fixture
from tests.test_desk_api import _start_desk, make_desk, start_fake_rasa

NOTICE = {"zh": "稍等", "en": "One moment"}
HOLDING = {"zh": "已为您转接人工客服", "en": "a member of our team will answer"}


def kinds(replies) -> list[tuple[str, str | None]]:
    return [(r["sender"], (r["custom"] or {}).get("type")) for r in replies]


class RasaLater:
    """A fake Rasa on a fixed port that is not listening yet (connection refused) until
    `start()`."""

    def __init__(self, catalog):
        (self.port,) = free_ports(1)
        self.url = f"http://127.0.0.1:{self.port}"
        self.fake = FakeRasa(catalog)
        self.runner = None

    async def start(self):
        self.runner = web.AppRunner(self.fake.app())
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    async def close(self):
        if self.runner:
            await self.runner.cleanup()


@pytest.mark.parametrize("how", ["503", "refused"])
async def test_rasa_down_for_10_s_then_back_holds_answers_and_hands_off_none(
        tmp_path, demo_db, how):
    if how == "503":
        rasa = await start_fake_rasa(demo_db)
        rasa.mode = "down"
        fake = rasa
    else:
        rasa = RasaLater(demo_db)
        fake = rasa.fake
        fake.url = rasa.url
    desk = await make_desk(tmp_path, fake, demo_db, desk_wait_notice_s=1.0)
    try:
        shoppers = [await desk.new(lang) for lang in ("zh", "en", "zh", "en", "zh")]
        texts = {"zh": "多少钱", "en": "how much is it?"}
        t0 = time.monotonic()
        posts = [asyncio.ensure_future(desk.say(cid, auth, texts[("zh", "en")[i % 2]],
                                                client_id=f"m{i}"))
                 for i, (cid, auth) in enumerate(shoppers)]
        await asyncio.sleep(10)
        assert not any(p.done() for p in posts)            # held, not handed over
        if how == "503":
            rasa.mode = "ok"
        else:
            await rasa.start()
        outs = await asyncio.gather(*posts)
        assert time.monotonic() - t0 >= 10
        for i, out in enumerate(outs):
            lang = ("zh", "en")[i % 2]
            assert out["state"] == "bot"
            assert kinds(out["replies"]) == [("system", "waiting"), ("bot", "price")], out
            assert NOTICE[lang] in out["replies"][0]["text"]
        assert desk.sql("SELECT COUNT(*) AS n FROM handoffs") == [{"n": 0}]
        assert desk.sql("SELECT state, COUNT(*) AS n FROM conversations GROUP BY state") \
            == [{"state": "bot", "n": 5}]
        # one notice per conversation, however many tries
        assert desk.sql("SELECT COUNT(*) AS n FROM messages WHERE custom LIKE"
                        " '%\"waiting\"%'") == [{"n": 5}]
    finally:
        await desk.client.close()
        if how == "503":
            await rasa.server.close()
        else:
            await rasa.close()


@pytest.mark.parametrize("locale", ["zh", "en"])
async def test_rasa_down_past_the_window_hands_over(tmp_path, fake_rasa, demo_db, locale):
    fake_rasa.mode = "down"
    desk = await make_desk(tmp_path, fake_rasa, demo_db, desk_rasa_hold_s=1.5,
                           desk_wait_notice_s=0.5)
    try:
        cid, auth = await desk.new(locale)
        t0 = time.monotonic()
        out = await desk.say(cid, auth, "你好" if locale == "zh" else "hello there",
                             client_id="keep")
        assert time.monotonic() - t0 >= 1.5
        assert out["state"] == "queued"
        assert kinds(out["replies"]) == [("system", "waiting"), ("system", "handoff"),
                                         ("system", "queued")]
        assert HOLDING[locale] in out["replies"][1]["text"]
        assert out["replies"][1]["custom"] == {"type": "handoff",
                                               "reason": "rasa_unavailable"}
        assert len(fake_rasa.calls) >= 3                    # tried again meanwhile
        assert (await desk.history(cid))[0]["client_id"] == "keep"     # nothing lost
        assert desk.sql("SELECT reason FROM handoffs") == [{"reason": "rasa_unavailable"}]
    finally:
        await desk.client.close()


async def test_a_slow_answer_is_waited_for_with_one_notice(tmp_path, demo_db):
    fake = await start_fake_rasa(demo_db, latency_s=2.5)
    desk = await make_desk(tmp_path, fake, demo_db, desk_rasa_timeout=30.0,
                           desk_wait_notice_s=0.5)
    try:
        cid, auth = await desk.new("en")
        ws = await desk.client.ws_connect(f"/api/conversations/{cid}/ws",
                                          params={"token": auth["Authorization"][7:]})
        await ws.receive_json()
        t0 = time.monotonic()
        post = asyncio.ensure_future(desk.say(cid, auth, "is it in stock?"))
        while (ev := await ws.receive_json(timeout=5))["type"] != "message":
            pass
        assert ev["message"]["custom"] == {"type": "waiting"}
        assert 0.4 < time.monotonic() - t0 < 2.0             # before the answer
        out = await post
        assert kinds(out["replies"]) == [("system", "waiting"), ("bot", "stock")]
        assert out["state"] == "bot" and len(fake.calls) == 1
        await ws.close()
    finally:
        await desk.client.close()
        await fake.server.close()


async def test_overload_waits_in_order_and_never_hands_off(tmp_path, demo_db):
    """Rasa answers 2 at a time (more would run into the 1 s timeout): the desk keeps
    at most 2 calls in flight, the others wait at the gate in arrival order."""
    fake = await start_fake_rasa(demo_db, latency_s=0.3)
    desk = await make_desk(tmp_path, fake, demo_db, desk_rasa_concurrency=2,
                           desk_rasa_timeout=1.0, desk_wait_notice_s=1.0)
    try:
        shoppers = [await desk.new("zh") for _ in range(24)]
        posts = []
        for i, (cid, auth) in enumerate(shoppers):
            posts.append(asyncio.ensure_future(desk.say(cid, auth, f"多少钱 {i}")))
            await asyncio.sleep(0.03)
        outs = await asyncio.gather(*posts)
        assert fake.max_in_flight == 2
        assert len(fake.calls) == 24                      # no call timed out, none repeated
        assert [c["message"] for c in fake.calls] == [f"多少钱 {i}" for i in range(24)]
        assert all(o["state"] == "bot" and o["replies"][-1]["sender"] == "bot"
                   for o in outs)
        waited = [o for o in outs if kinds(o["replies"])[0] == ("system", "waiting")]
        assert waited and len(waited) < 24                # the last in line were told
        assert outs[0]["replies"][0]["sender"] == "bot"   # the first was not
        assert desk.sql("SELECT COUNT(*) AS n FROM handoffs") == [{"n": 0}]
    finally:
        await desk.client.close()
        await fake.server.close()


async def test_one_conversations_messages_are_answered_in_order(tmp_path, demo_db):
    fake = await start_fake_rasa(demo_db, latency_s=0.2)
    desk = await make_desk(tmp_path, fake, demo_db)
    try:
        cid, auth = await desk.new("zh")
        texts = ["你好", "多少钱", "42码有货吗", "有搭配推荐吗"]
        posts = []
        for i, text in enumerate(texts):
            posts.append(asyncio.ensure_future(desk.say(cid, auth, text, client_id=f"o{i}")))
            await asyncio.sleep(0.02)
        outs = await asyncio.gather(*posts)
        assert [c["message"] for c in fake.calls] == texts
        assert fake.max_in_flight == 1                    # one at a time for one shopper
        history = await desk.history(cid)
        shopper_ids = [m["id"] for m in history if m["sender"] == "shopper"]
        assert [o["message_id"] for o in outs] == shopper_ids
        # the answers stored in the order of their questions
        assert [r["reply_to"] for r in desk.sql(
            "SELECT reply_to FROM messages WHERE sender = 'bot' ORDER BY id")] == shopper_ids
    finally:
        await desk.client.close()
        await fake.server.close()


# -- the queued shopper's turn goes the same way -------------------------------------------------
QUEUED = {"zh": {"human": "转人工", "price": "多少钱", "assistant": "以上是智能助手的自动回复"},
          "en": {"human": "human please", "price": "how much is it?",
                 "assistant": "That answer came from our automated assistant"}}


async def queued_shopper(desk, lang) -> tuple[str, dict]:
    """A shopper on the P001 page queued for a person (nobody online)."""
    cid, auth = await desk.new(lang, page={"product_id": "P001"})
    assert (await desk.say(cid, auth, QUEUED[lang]["human"]))["state"] == "queued"
    return cid, auth


@pytest.mark.parametrize("lang", ["zh", "en"])
async def test_a_queued_shoppers_routine_question_is_answered_while_rasa_is_held(
        tmp_path, fake_rasa, demo_db, sql, lang):
    """Rasa down for 5 s, then back: the queued shopper's price question is held like a
    bot conversation's (one "one moment"), then answered by the assistant with the reminder
    of their place; no second handoff, still queued."""
    desk = await make_desk(tmp_path, fake_rasa, demo_db, desk_wait_notice_s=1.0)
    try:
        cid, auth = await queued_shopper(desk, lang)
        fake_rasa.mode = "down"
        t0 = time.monotonic()
        post = asyncio.ensure_future(desk.say(cid, auth, QUEUED[lang]["price"],
                                              client_id="q1"))
        await asyncio.sleep(5)
        assert not post.done()                              # held, not given up
        fake_rasa.mode = "ok"
        out = await post
        assert time.monotonic() - t0 >= 5
        assert out["state"] == "queued"
        assert kinds(out["replies"]) == [("system", "waiting"), ("bot", "price"),
                                         ("system", "queued")], out
        assert NOTICE[lang] in out["replies"][0]["text"]
        (price,) = sql("SELECT price FROM products WHERE product_id = 'P001'")
        assert out["replies"][1]["custom"]["price"] == price["price"]
        assert out["replies"][2]["custom"]["reminder"] == "answered"
        assert QUEUED[lang]["assistant"] in out["replies"][2]["text"]
        tries = [c for c in fake_rasa.calls if c["message"] == QUEUED[lang]["price"]]
        assert len(tries) >= 3                              # tried again meanwhile
        assert desk.sql("SELECT reason FROM handoffs") == [{"reason": "requested"}]
        assert await desk.suggestions(cid) == []            # answered: nothing drafted
    finally:
        await desk.client.close()


async def test_a_retried_post_while_queued_returns_the_answer_and_the_reminder(
        tmp_path, demo_db):
    """The widget resends a queued shopper's message (same client_id) while its turn runs
    and after: each time the assistant's answer and the reminder, never []."""
    fake = await start_fake_rasa(demo_db)
    desk = await make_desk(tmp_path, fake, demo_db, desk_rasa_timeout=10.0)
    try:
        cid, auth = await queued_shopper(desk, "zh")
        fake.latency_by_text["多少钱"] = 1.0
        first = asyncio.ensure_future(desk.say(cid, auth, "多少钱", client_id="r1"))
        await asyncio.sleep(0.3)                            # the turn is under way
        again = await desk.say(cid, auth, "多少钱", client_id="r1")
        out = await first
        assert kinds(out["replies"]) == [("bot", "price"), ("system", "queued")]
        assert out["replies"][1]["custom"]["reminder"] == "answered"
        assert again["replies"] == out["replies"]
        later = await desk.say(cid, auth, "多少钱", client_id="r1")
        assert later["replies"] == out["replies"]
        assert later["message_id"] == again["message_id"] == out["message_id"]
        assert later["state"] == "queued" and later["queue"]["position"] == 1
        assert len([c for c in fake.calls if c["message"] == "多少钱"]) == 1
    finally:
        await desk.client.close()
        await fake.server.close()


async def test_a_conversations_calls_to_rasa_stay_in_order_across_a_handoff(
        tmp_path, demo_db):
    """A big cart hands the conversation over at once and leaves its first message's
    draft being made (slowly); the next message, now queued, reaches Rasa only after it."""
    fake = await start_fake_rasa(demo_db)
    desk = await make_desk(tmp_path, fake, demo_db)
    try:
        fake.latency_by_text["42码有货吗"] = 0.5          # within the 1 s timeout
        cid, auth = await desk.new("zh", page={"product_id": "P001"})
        big = {"cart": [{"product_id": "P001", "quantity": 100, "price": 100}]}
        out = await desk.say(cid, auth, "42码有货吗", metadata=big)
        assert out["state"] == "queued"
        assert kinds(out["replies"]) == [("system", "handoff"), ("system", "queued")]
        out = await desk.say(cid, auth, "多少钱")
        assert kinds(out["replies"]) == [("bot", "price"), ("system", "queued")]
        mine = [(kind, text) for sender, kind, text in fake.timeline if sender == cid]
        assert mine == [("start", "42码有货吗"), ("end", "42码有货吗"), ("start", "多少钱"),
                        ("end", "多少钱")]
    finally:
        await desk.client.close()
        await fake.server.close()


# -- start-up recovery ---------------------------------------------------------------------------
async def crashed_record(path, clock) -> dict:
    """What a desk killed mid-turn leaves: shopper messages stored, never answered. a and b
    are with the bot (b1 was answered); c is queued (nobody online) with c1 unanswered; d
    is Lily's, d1 drafted for her before the crash, d2 not."""
    store = DeskStore(path, clock=clock)
    conv = store.conversations
    try:
        await store.accounts.ensure_demo_agents()
        lily = next(a["agent_id"] for a in await store.accounts.agents()
                    if a["username"] == "lily")
        a, _ = await conv.create("zh", {"product_id": "P001"})
        b, _ = await conv.create("en")
        c, _ = await conv.create("zh")
        d, _ = await conv.create("zh", {"product_id": "P001"})
        ids = {}
        ids["a1"] = (await conv.add_shopper_message(a["conversation_id"], "你好", "a1"))
        ids["a2"] = (await conv.add_shopper_message(a["conversation_id"], "多少钱", "a2"))
        b1 = await conv.add_shopper_message(b["conversation_id"], "hi", "b1")
        await conv.add_messages(b["conversation_id"], "bot", [{"text": "Hello!"}],
                                b1["message"]["id"])
        ids["b2"] = await conv.add_shopper_message(b["conversation_id"], "how much?", "b2")
        # d: handed to Lily the way the desk does it (the bot's handoff reply, the notice)
        dc = d["conversation_id"]
        d0 = await conv.add_shopper_message(dc, "转人工", "d0")
        await conv.add_messages(dc, "bot", [{"text": "正在为您转接", "custom": {
            "type": "handoff", "reason": "requested"}}], d0["message"]["id"])
        await store.accounts.set_status(lily, "online")
        assert (await conv.handoff(dc, "requested"))["assigned"] == [(dc, lily)]
        await conv.add_messages(dc, "system", [{"text": "Lily 为您服务", "custom": {
            "type": "agent_joined", "agent_name": "Lily"}}])
        d1 = await conv.add_shopper_message(dc, "有货吗", "d1")
        await store.suggestions.add(dc, d1["message"]["id"], [{
            "kind": "answer", "text": "亲，有现货～", "custom": None, "facts": {}}])
        ids["d2"] = await conv.add_shopper_message(dc, "多少钱", "d2")
        await store.accounts.set_status(lily, "away")      # c stays queued
        await conv.handoff(c["conversation_id"], "requested")
        ids["c1"] = await conv.add_shopper_message(c["conversation_id"], "在吗", "c1")
        return {"a": a["conversation_id"], "b": b["conversation_id"],
                "c": c["conversation_id"], "d": dc,
                **{k: v["message"]["id"] for k, v in ids.items()}}
    finally:
        store.close()


async def _until(desk, query, n):
    for _ in range(200):
        rows = desk.sql(query)
        if len(rows) >= n:
            return rows
        await asyncio.sleep(0.05)
    return rows


async def _owner_drafted(desk, rec, sql) -> None:
    """d's turn on start: only d2, the message with no draft, is drafted for Lily, with the
    price the catalog holds; nothing of the bot's reaches the shopper."""
    drafts = await _until(desk, "SELECT message_id, custom FROM suggestions"
                                f" WHERE message_id = {rec['d2']}", 1)
    (price,) = sql("SELECT price FROM products WHERE product_id = 'P001'")
    assert [json.loads(r["custom"])["price"] for r in drafts] == [price["price"]]
    assert [c["message"] for c in desk.rasa.calls if c["sender"] == rec["d"]] == ["多少钱"]
    assert desk.sql("SELECT COUNT(*) AS n FROM messages WHERE conversation_id = ?"
                    " AND id > ?", rec["d"], rec["d2"]) == [{"n": 0}]


async def test_messages_left_unanswered_are_answered_on_start(tmp_path, demo_db, sql):
    clock = Clock()
    rec = await crashed_record(tmp_path / "desk.db", clock)
    fake = await start_fake_rasa(demo_db, latency_s=0.3)
    desk = await make_desk(tmp_path, fake, demo_db, clock=clock)
    try:
        answered = await _until(desk, "SELECT reply_to FROM messages WHERE sender = 'bot'"
                                      " AND COALESCE(custom, '') NOT LIKE '%handoff%'"
                                      " ORDER BY id", 4)
        # b1 was answered before the crash; a1, a2 (in this order) and b2 now
        order = [r["reply_to"] for r in answered]
        assert sorted(order[1:]) == sorted([rec["a1"], rec["a2"], rec["b2"]])
        assert order.index(rec["a1"]) < order.index(rec["a2"])
        assert [c["message"] for c in fake.calls if c["sender"] == rec["a"]] == \
            ["你好", "多少钱"]
        assert [c["message"] for c in fake.calls if c["sender"] == rec["b"]] == \
            ["how much?"]
        # c1, queued: the assistant's turn (a greeting is not routine: kept for the
        # agent, with the reminder of the place), no bot message
        (reminder,) = await _until(desk, "SELECT reply_to, custom FROM messages"
                                         f" WHERE reply_to = {rec['c1']}", 1)
        assert json.loads(reminder["custom"])["reminder"] == "noted"
        assert [c["message"] for c in fake.calls if c["sender"] == rec["c"]] == ["在吗"]
        await _owner_drafted(desk, rec, sql)
        assert desk.sql("SELECT COUNT(*) AS n FROM handoffs") == [{"n": 2}]   # c's, d's
    finally:
        await desk.client.close()
        await fake.server.close()


async def test_a_retry_on_start_waits_for_the_answer_being_produced(tmp_path, demo_db):
    clock = Clock()
    store = DeskStore(tmp_path / "desk.db", clock=clock)
    conv, token = await store.conversations.create("en")
    cid = conv["conversation_id"]
    stored = await store.conversations.add_shopper_message(cid, "how much is it?", "r1")
    store.close()
    fake = await start_fake_rasa(demo_db, latency_s=1.0)
    desk = await make_desk(tmp_path, fake, demo_db, clock=clock, desk_rasa_timeout=10.0)
    try:
        auth = {"Authorization": f"Bearer {token}"}
        out = await desk.say(cid, auth, "how much is it?", client_id="r1")
        assert out["message_id"] == stored["message"]["id"]
        assert kinds(out["replies"]) == [("bot", "price")]
        again = await desk.say(cid, auth, "how much is it?", client_id="r1")
        assert again["replies"] == out["replies"]
        assert len(fake.calls) == 1
    finally:
        await desk.client.close()
        await fake.server.close()


async def test_messages_unanswered_past_the_window_are_handed_over_on_start(
        tmp_path, fake_rasa, demo_db, sql):
    clock = Clock()
    rec = await crashed_record(tmp_path / "desk.db", clock)
    clock.advance(seconds=61)
    desk = await make_desk(tmp_path, fake_rasa, demo_db, clock=clock)
    try:
        rows = await _until(desk, "SELECT conversation_id, reason FROM handoffs ORDER BY id",
                            4)
        assert sorted(r["conversation_id"] for r in rows[2:]) == sorted([rec["a"], rec["b"]])
        assert {r["reason"] for r in rows[2:]} == {"rasa_unavailable"}
        holding = desk.sql("SELECT reply_to, text FROM messages WHERE custom LIKE"
                           " '%rasa_unavailable%' ORDER BY id")
        # a's first unanswered message gets the holding reply; a2 then comes to a queued
        # conversation: the assistant answers the price, with the reminder of the place
        assert sorted(h["reply_to"] for h in holding) == sorted([rec["a1"], rec["b2"]])
        a2 = await _until(desk, "SELECT sender, custom FROM messages"
                                f" WHERE reply_to = {rec['a2']} ORDER BY id", 2)
        assert [(r["sender"], json.loads(r["custom"]).get("type")) for r in a2] == \
            [("bot", "price"), ("system", "queued")]
        assert json.loads(a2[1]["custom"])["reminder"] == "answered"
        # the queued and owned conversations' turns run whatever the messages' age
        (reminder,) = await _until(desk, "SELECT custom FROM messages"
                                         f" WHERE reply_to = {rec['c1']}", 1)
        assert json.loads(reminder["custom"])["reminder"] == "noted"
        await _owner_drafted(desk, rec, sql)
        # nothing of a1 or b2 went to Rasa
        assert sorted((c["sender"], c["message"]) for c in fake_rasa.calls) == sorted(
            [(rec["a"], "多少钱"), (rec["c"], "在吗"), (rec["d"], "多少钱")])
    finally:
        await desk.client.close()


# -- SIGKILL under load ----------------------------------------------------------------------------
N_LOAD = 50


async def test_sigkill_under_load_loses_nothing_and_leaves_nothing_unanswered(
        tmp_path, demo_db):
    """50 shoppers, each sending as soon as answered, a bot that takes 0.2 s (16 calls at
    once): the desk is SIGKILLed mid-load and restarted. Every acknowledged message and
    reply is there, every message the widget resends (same client_id) gets its answer,
    every shopper message ends answered by the bot, and no conversation was handed
    over because of the kill."""
    fake = await start_fake_rasa(demo_db, latency_s=0.2)
    (port,), db = free_ports(1), tmp_path / "desk.db"
    base = f"http://127.0.0.1:{port}"
    proc = await _start_desk(port, db, fake.url, demo_db, rasa_timeout_s=30)
    acked: dict[str, int] = {}                  # client_id -> stored message id
    replies_seen: dict[str, list] = {}
    unacked: list[tuple[int, str, str]] = []    # (shopper, client_id, text) lost in flight
    stop = asyncio.Event()
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as s:
            shoppers = []
            for i in range(N_LOAD):
                async with s.post(f"{base}/api/conversations",
                                  json={"locale": ("zh", "en")[i % 2]}) as r:
                    conv = await r.json()
                shoppers.append((f"{base}/api/conversations/{conv['conversation_id']}"
                                 "/messages", {"Authorization": f"Bearer {conv['token']}"}))

            async def shopper(i):
                url, auth = shoppers[i]
                k = 0
                while not stop.is_set():
                    client_id, text = f"s{i}-{k}", ("多少钱" if i % 2 == 0 else "how much?")
                    try:
                        async with s.post(url, headers=auth, json={
                                "text": text, "client_id": client_id}) as r:
                            assert r.status == 200
                            replies_seen[client_id] = await r.json()
                            acked[client_id] = int(r.headers["X-Message-Id"])
                    except aiohttp.ClientError:
                        unacked.append((i, client_id, text))
                        return
                    k += 1

            load = [asyncio.ensure_future(shopper(i)) for i in range(N_LOAD)]
            await asyncio.sleep(3)
            proc.send_signal(signal.SIGKILL)
            stop.set()
            await asyncio.gather(*load)
        proc.wait(10)
        assert len(acked) > N_LOAD and unacked, (len(acked), len(unacked))
        proc = await _start_desk(port, db, fake.url, demo_db, rasa_timeout_s=30)
        async with aiohttp.ClientSession() as s:
            # the widget resends what was never acknowledged, with the same client_id
            async def resend(i, client_id, text):
                url, auth = shoppers[i]
                async with s.post(url, headers=auth, json={"text": text,
                                                           "client_id": client_id}) as r:
                    assert r.status == 200
                    body = await r.json()
                    assert body and body[-1]["sender"] == "bot", body   # never []
                    return client_id, int(r.headers["X-Message-Id"])

            resent = dict(await asyncio.gather(*(resend(*u) for u in unacked)))
        conn = sqlite3.connect(db)
        conn.row_factory = sqlite3.Row
        msgs = [dict(r) for r in conn.execute("SELECT * FROM messages ORDER BY id")]
        handoffs = conn.execute("SELECT COUNT(*) FROM handoffs").fetchone()[0]
        states = {r[0] for r in conn.execute("SELECT state FROM conversations")}
        conn.close()
        by_id = {m["id"]: m for m in msgs}
        shopper_msgs = [m for m in msgs if m["sender"] == "shopper"]
        # nothing acknowledged lost, each shopper message once
        assert all(by_id[mid]["client_id"] == c for c, mid in acked.items())
        client_ids = [m["client_id"] for m in shopper_msgs]
        assert len(client_ids) == len(set(client_ids))
        assert set(client_ids) == set(acked) | set(resent)
        for c, seen in replies_seen.items():
            assert all(by_id[m["id"]]["text"] == m["text"] for m in seen), c
        # every shopper message answered by the bot, no handoff
        answered = {m["reply_to"] for m in msgs if m["sender"] == "bot"}
        assert all(m["id"] in answered for m in shopper_msgs)
        assert handoffs == 0 and states == {"bot"}
    finally:
        proc.kill()
        proc.wait(10)
        await fake.server.close()
