"""The queue is honest and never silent (desk/service.py, desk/queue_notifier.py,
desk/routing.py `queue_estimates`): while queued the assistant answers routine questions
as itself and reminds the shopper of their place; place and wait come from live figures
and move as time passes; with nobody present for the shopper's language they are told at
once and offered the contact form or the assistant. Both languages; expected figures
worked out by hand in each test."""

from __future__ import annotations

import asyncio
import pytest

from desk.app import SERVICE
from tests.test_desk_api import (desk, fake_rasa, make_desk, next_event,  # noqa: F401
                                 no_event)

# the words each language uses (desk/texts.yml), written out by hand
WORDS = {
    "zh": {"human": "转人工", "price": "多少钱", "discount": "能打8折吗",
           "assistant": "以上是智能助手的自动回复", "already": "您已经在排队等人工客服了",
           "noted": "您的问题已记下", "next": "您是下一位", "one_ahead": "您前面还有1位",
           "two_ahead": "您前面还有2位", "nobody": "现在没有客服在线"},
    "en": {"human": "human please", "price": "how much is it?", "discount": "20% off?",
           "assistant": "That answer came from our automated assistant",
           "already": "You're already in the queue", "noted": "We've noted your question",
           "next": "you are next", "one_ahead": "there is 1 person ahead of you",
           "two_ahead": "there are 2 people ahead of you",
           "nobody": "no one from our team who speaks English is online"},
}
AGENT_OF = {"zh": "wang", "en": "tom"}           # speaks only that language


async def busy_agent(desk, lang, cap=1):
    """The language's only agent, present, with `cap` places all taken now."""
    name = AGENT_OF[lang]
    await desk.store.db.write(lambda c: c.execute(
        "UPDATE agents SET cap = ? WHERE username = ?", (cap, name)).rowcount)
    agent = await desk.login(name)
    await agent.online()
    taken = []
    for _ in range(cap):
        cid, auth = await desk.new(lang)
        assert (await desk.say(cid, auth, WORDS[lang]["human"]))["state"] == "assigned"
        taken.append(cid)
    return agent, taken


@pytest.mark.parametrize("lang", ["zh", "en"])
async def test_queued_shopper_gets_the_assistants_routine_answers_and_a_reminder(desk, lang):
    w = WORDS[lang]
    agent, (other,) = await busy_agent(desk, lang)
    cid, auth = await desk.new(lang, page={"product_id": "P001"})
    out = await desk.say(cid, auth, w["human"])
    assert out["state"] == "queued" and out["queue"]["position"] == 1
    assert w["next"] in out["replies"][-1]["text"]

    # a routine question: the bot's own answer (as the bot), then the reminder
    out = await desk.say(cid, auth, w["price"])
    assert out["state"] == "queued"
    answer, reminder = out["replies"]
    assert answer["sender"] == "bot" and answer["custom"]["type"] == "price"
    assert reminder["sender"] == "system" and reminder["custom"]["reminder"] == "answered"
    assert w["assistant"] in reminder["text"] and w["next"] in reminder["text"]
    assert await desk.suggestions(cid) == []          # answered: nothing for the agent

    # asking for a person again changes nothing: already queued, one handoff
    out = await desk.say(cid, auth, w["human"])
    assert [m["sender"] for m in out["replies"]] == ["system"]
    assert w["already"] in out["replies"][0]["text"]
    assert desk.sql("SELECT COUNT(*) AS n FROM handoffs WHERE conversation_id = ?",
                    cid) == [{"n": 1}]
    # not routine (a discount): kept for the agent as a draft, the shopper told so
    out = await desk.say(cid, auth, w["discount"])
    assert [m["sender"] for m in out["replies"]] == ["system"]
    assert w["noted"] in out["replies"][0]["text"]
    (draft,) = await desk.suggestions(cid)
    assert draft["custom"]["type"] == "discount" and draft["message_id"] == out["message_id"]

    # the agent frees a place: the conversation is theirs, and the bot is silent again
    await agent.post(f"/api/agent/conversations/{other}/resolve", {"confirm": True})
    assert (await desk.conversation(cid))["state"] == "assigned"
    out = await desk.say(cid, auth, w["price"])
    assert out["replies"] == [] and out["state"] == "assigned"
    for _ in range(50):
        if len(await desk.suggestions(cid)) == 2:
            break
        await asyncio.sleep(0.02)
    assert (await desk.suggestions(cid))[-1]["custom"]["type"] == "price"
    later = [m for m in await desk.history(cid) if m["id"] > out["message_id"]]
    assert all(m["sender"] != "bot" for m in later)


@pytest.mark.parametrize("lang", ["zh", "en"])
async def test_a_queued_shoppers_message_read_as_a_guess_waits_for_the_agent(desk, sql, lang):
    """"快点" / "hurry up" while queued, read as an order question with little confidence:
    no assistant's answer (a person is coming), kept for the agent as a draft."""
    w = WORDS[lang]
    await busy_agent(desk, lang)
    cid, auth = await desk.new(lang)
    assert (await desk.say(cid, auth, w["human"]))["state"] == "queued"
    urge = {"zh": "快点 订单", "en": "hurry up with my order"}[lang]
    desk.rasa.confidence_by_text[urge] = 0.39      # below the review list's 0.5
    out = await desk.say(cid, auth, urge)
    assert [m["sender"] for m in out["replies"]] == ["system"]
    assert w["noted"] in out["replies"][0]["text"]
    (draft,) = await desk.suggestions(cid)
    assert draft["custom"]["type"] == "order_status"
    # read with confidence, the answer would only be "sign in first": that is no answer
    # either (the person coming will see to it)
    del desk.rasa.confidence_by_text[urge]
    out = await desk.say(cid, auth, urge)
    assert [m["sender"] for m in out["replies"]] == ["system"]
    assert w["noted"] in out["replies"][0]["text"]
    # with the order's number it is an answer, and the assistant gives it
    [order] = sql("SELECT order_id FROM orders ORDER BY order_id LIMIT 1")
    out = await desk.say(cid, auth, f"{urge} {order['order_id']}")
    assert [m["sender"] for m in out["replies"]] == ["bot", "system"]


@pytest.mark.parametrize("lang", ["zh", "en"])
async def test_first_in_line_is_next_and_the_places_behind_count_the_people_ahead(desk,
                                                                                  lang):
    w = WORDS[lang]
    await busy_agent(desk, lang)
    said = []
    for _ in range(3):
        cid, auth = await desk.new(lang)
        said.append((await desk.say(cid, auth, w["human"]))["replies"][-1]["text"])
    assert w["next"] in said[0] and w["one_ahead"] not in said[0]
    assert w["one_ahead"] in said[1]
    assert w["two_ahead"] in said[2]


async def test_the_wait_counts_down_as_time_passes_and_is_pushed(desk):
    """One agent, one place, busy since the queue formed; nothing measured yet, so a
    conversation is expected to last 300 s: the first in line waits 300 s (5 min); 65 s
    later 235 s (4 min), pushed without anything else happening; past 300 s, under a
    minute; the same figures twice are not pushed again."""
    await busy_agent(desk, "zh")
    cid, auth = await desk.new("zh")
    shopper = await desk.client.ws_connect(f"/api/conversations/{cid}/ws",
                                           params={"token": auth["Authorization"][7:]})
    first = await shopper.receive_json()
    out = await desk.say(cid, auth, "转人工")
    assert out["queue"] == {"position": 1, "estimated_wait_s": 300}      # the headers
    assert "预计等待约5分钟" in out["replies"][-1]["text"]
    status = await next_event(shopper, "status")
    assert status["queue"]["estimated_wait_s"] == 300 and first["state"] == "bot"

    service = desk.app[SERVICE]
    desk.clock.advance(seconds=65)
    await desk.store.accounts.seen([a["agent_id"] for a in await desk.store.accounts.agents()
                                    if a["username"] == "wang"])
    await service.tick()
    status = await next_event(shopper, "status")
    assert status["queue"]["estimated_wait_s"] == 235
    assert "预计等待约4分钟" in status["text"] and "您是下一位" in status["text"]
    await service.tick()                              # nothing changed: nothing pushed
    await no_event(shopper, "status", wait=0.3)

    desk.clock.advance(seconds=240)                    # 305 s: the busy one is overdue
    wang = next(a for a in await desk.store.accounts.agents() if a["username"] == "wang")
    await desk.store.accounts.seen([wang["agent_id"]])
    await service.tick()
    status = await next_event(shopper, "status")
    assert status["queue"]["estimated_wait_s"] == 30 and "预计不到1分钟" in status["text"]
    r = await desk.client.get(f"/api/conversations/{cid}", headers=auth)
    assert (await r.json())["queue"]["estimated_wait_s"] == 30
    await shopper.close()


async def test_the_desks_timer_refreshes_the_estimate(tmp_path, fake_rasa, demo_db):
    """With the timer on (every 50 ms here), a stale estimate is replaced on its own, and
    each figure is told once (the handoff's own notice and the timer agree)."""
    # the clock jumps 130 s at once here: a grace longer than that keeps tom present
    # even for a timer run already past its "seen" step when the clock jumps
    desk = await make_desk(tmp_path, fake_rasa, demo_db, desk_tick_s=0.05,
                           desk_presence_grace_s=600)
    try:
        tom, _ = await busy_agent(desk, "en")
        console = await tom.ws()                    # his open console keeps him present
        cid, auth = await desk.new("en")
        shopper = await desk.client.ws_connect(f"/api/conversations/{cid}/ws",
                                               params={"token": auth["Authorization"][7:]})
        await shopper.receive_json()
        await desk.say(cid, auth, "human please")
        assert (await next_event(shopper, "status"))["queue"]["estimated_wait_s"] == 300
        desk.clock.advance(seconds=130)
        # the next figure is the refreshed one: a timer run that fell between the
        # handoff and its own notice told the 300 once, in the notice's place
        status = await next_event(shopper, "status", timeout=2.0)
        assert status["queue"]["estimated_wait_s"] == 170
        assert "about 3 min" in status["text"]
        await shopper.close()
        await console.close()
    finally:
        await desk.client.close()


@pytest.mark.parametrize("lang", ["zh", "en"])
async def test_nobody_present_for_the_language_is_said_at_once_with_the_choices(desk, lang):
    """Only an agent for the other language is online: the shopper hears so when handed
    off (no wait promised), is offered the contact form and the assistant; leaving a
    message keeps their place; the assistant goes on answering."""
    w = WORDS[lang]
    other = await desk.login(AGENT_OF["en" if lang == "zh" else "zh"])
    await other.online()
    cid, auth = await desk.new(lang)
    out = await desk.say(cid, auth, w["human"])
    assert out["state"] == "queued"
    notice = out["replies"][-1]
    assert w["nobody"] in notice["text"]
    assert notice["custom"] == {"type": "queued", "position": 1, "estimated_wait_s": None,
                                "agents_online": 0, "contact_form": True}
    r = await desk.client.get(f"/api/desk/status?locale={lang}")
    status = await r.json()
    assert status["agents_online"] == 0 and status["estimated_wait_s"] is None
    # the assistant is still there
    out = await desk.say(cid, auth, w["price"])
    assert out["replies"][0]["sender"] == "bot" and w["nobody"] in out["replies"][1]["text"]
    # a message left with the contact form: stored with the contact, still queued
    r = await desk.client.post(f"/api/conversations/{cid}/contact", headers=auth,
                               json={"contact": "138 0000 0000", "text": w["discount"]})
    assert r.status == 201 and (await r.json())["state"] == "queued"
    assert (await desk.conversation(cid))["contact"] == "138 0000 0000"
    assert desk.sql("SELECT COUNT(*) AS n FROM handoffs WHERE conversation_id = ?",
                    cid) == [{"n": 1}]
    # someone for the language comes: the conversation is theirs
    mine = await desk.login(AGENT_OF[lang])
    await mine.online()
    assert (await desk.conversation(cid))["agent_id"] == mine.agent["agent_id"]


async def test_desk_status_for_a_shopper_about_to_join(desk):
    r = await desk.client.get("/api/desk/status?locale=zh")
    assert (await r.json())["estimated_wait_s"] is None       # nobody present
    wang = await desk.login("wang")
    await wang.online()
    r = await desk.client.get("/api/desk/status?locale=zh")
    assert (await r.json()) == {"open": True, "hours": "09:00-22:00", "agents_online": 1,
                                "queue_length": 0, "estimated_wait_s": 0}
