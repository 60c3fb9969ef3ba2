"""Queue notices with two desk replicas (desk/coordination.py, desk/queue_notifier.py):
both replicas' timers run every 100 ms, yet one leads, and what each queued shopper was
last told is shared, so three queued shoppers (on both replicas; in each language) get
each status exactly once, in order, while the agent frees places through one replica and then
the other. The places and their words are written out by hand."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from tests.cluster_support import fetch
from tests.test_cluster import Agent, new_conversation, say, start_replicas
from tests.test_desk_api import start_fake_rasa

pytestmark = pytest.mark.e2e

# what each language says of a place (desk/texts.yml), by hand
PLACE = {"zh": {1: "您是下一位", 2: "您前面还有1位", 3: "您前面还有2位"},
         "en": {1: "you are next", 2: "there is 1 person ahead of you",
                3: "there are 2 people ahead of you"}}
ASK = {"zh": "转人工", "en": "human please"}


@pytest.mark.parametrize("lang", ["zh", "en"])
async def test_each_queue_status_reaches_each_shopper_once_in_order(tmp_path, pg_url,
                                                                    redis_url, demo_db,
                                                                    lang):
    fake = await start_fake_rasa(demo_db, latency_s=0.02)
    a, b = await start_replicas(tmp_path, pg_url, redis_url, fake.url, demo_db,
                                desk_tick_s=0.1, desk_lease_s=1)
    try:
        async with aiohttp.ClientSession() as s:
            boss = await Agent(s, a, "boss", "demo-boss").login()
            lily = await Agent(s, b, "lily", "demo-lily").login()   # 中文 and English
            await boss.call("POST", f"/api/agent/agents/{lily.agent['agent_id']}/caps",
                            {"cap": 1})
            await lily.call("POST", "/api/agent/status", {"status": "online"})
            first, first_auth = await new_conversation(s, a, lang)
            await say(s, a, first, first_auth, ASK[lang])         # lily's one place
            shoppers = []                 # (conversation, language, socket)
            for i, replica in enumerate([a, b, a]):
                cid, auth = await new_conversation(s, replica, lang)
                token = auth["Authorization"].split()[1]
                ws = await s.ws_connect(f"{replica.base}/api/conversations/{cid}/ws"
                                        f"?token={token}")
                assert (await ws.receive_json(timeout=10))["state"] == "bot"
                headers, _ = await say(s, replica, cid, auth, ASK[lang])
                assert headers["X-Conversation-State"] == "queued"
                assert headers["X-Queue-Position"] == str(i + 1)
                shoppers.append((cid, ws))
            events = {cid: [] for cid, _ in shoppers}

            async def listen(cid, ws):
                async for msg in ws:
                    if msg.type != aiohttp.WSMsgType.TEXT:
                        break
                    ev = msg.json()
                    if ev["type"] == "status":
                        events[cid].append(ev)

            listeners = [asyncio.ensure_future(listen(cid, ws)) for cid, ws in shoppers]
            await asyncio.sleep(1.0)                   # ten timer runs on each replica
            # lily frees her place three times, through one replica and then the other
            owned = first
            for via in (a, b, a):
                await lily.call("POST", f"/api/agent/conversations/{owned}/resolve",
                                {"confirm": True}, replica=via)
                await asyncio.sleep(1.0)
                (owned,) = [r[0] for r in fetch(
                    pg_url, "SELECT conversation_id FROM conversations WHERE state ="
                            " 'assigned'")]
            for _, ws in shoppers:
                await ws.close()
            await asyncio.gather(*listeners)
    finally:
        a.stop()
        b.stop()
        await fake.server.close()

    for place, (cid, _) in enumerate(shoppers, start=1):
        queued = [ev for ev in events[cid] if ev["state"] == "queued"]
        texts = [ev["text"] for ev in queued]
        # each status once: no text twice (the figures are the same in words)
        assert len(texts) == len(set(texts)), (lang, texts)
        # in order: from their place at joining down to next, each place told
        positions = [ev["queue"]["position"] for ev in queued]
        assert positions == sorted(positions, reverse=True), positions
        assert sorted(set(positions), reverse=True) == list(range(place, 0, -1)), positions
        for ev in queued:
            assert PLACE[lang][ev["queue"]["position"]] in ev["text"], ev["text"]
        # then lily (and, for the first two, resolved): nothing queued told after her
        states = [ev["state"] for ev in events[cid]]
        assert "queued" not in states[states.index("assigned"):], states
