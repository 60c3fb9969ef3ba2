"""The review list over the desk's API (desk/service.py, desk/app.py) against the fake Rasa:
a message the bot did not understand, the one before a handoff, and those whose draft was
edited or skipped enter the list once each; agents see and label only their own
conversations' entries, supervisors every one; labels are the domain's intents; the counts.
Expected entries are read from the desk's file with the test's own connection."""

from __future__ import annotations

import asyncio

import yaml

from bot.settings import ROOT
from tests.test_desk_api import desk, fake_rasa, next_event  # noqa: F401 - fixtures

DOMAIN = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))


async def entries(desk) -> list[tuple]:
    await asyncio.sleep(0.05)
    return [(r["reason"], r["text"], r["bot_intent"], r["language"]) for r in desk.sql(
        "SELECT reason, text, bot_intent, language FROM reviews ORDER BY id")]


async def test_each_way_in_enters_once(desk):
    lily = await desk.login("lily")
    await lily.online()
    agent_ws = await lily.ws()
    # the bot does not understand: on the list, the conversation stays with the bot
    cid, auth = await desk.new("en")
    out = await desk.say(cid, auth, "?")
    assert out["state"] == "bot"
    assert await entries(desk) == [("not_understood", "?", "nlu_fallback", "en")]
    # understood: not on the list; the message before a handoff: on it
    await desk.say(cid, auth, "hello there")
    out = await desk.say(cid, auth, "I want a human please")
    assert out["state"] == "assigned"
    assert (await entries(desk))[1:] == [
        ("before_handoff", "I want a human please", "request_human", "en")]
    # the owner's console is told (the conversation is hers by then)
    review = (await next_event(agent_ws, "review"))["review"]
    assert (review["conversation_id"], review["reason"]) == (cid, "before_handoff")
    # drafts: edited and skipped
    await desk.say(cid, auth, "多少钱")
    draft = (await next_event(agent_ws, "suggestions"))["suggestions"][0]
    await lily.post(f"/api/agent/conversations/{cid}/messages",
                    {"text": "亲，这款今天359元～", "suggestion_id": draft["id"]})
    await desk.say(cid, auth, "有搭配推荐吗")
    draft = (await next_event(agent_ws, "suggestions"))["suggestions"][0]
    await lily.post(f"/api/agent/suggestions/{draft['id']}/skip")
    await desk.say(cid, auth, "多少钱呀")
    draft = (await next_event(agent_ws, "suggestions"))["suggestions"][0]
    await lily.post(f"/api/agent/conversations/{cid}/messages",       # sent as drafted
                    {"text": draft["text"], "suggestion_id": draft["id"]})
    assert (await entries(desk))[2:] == [
        ("draft_edited", "多少钱", "ask_price", "zh"),
        ("draft_skipped", "有搭配推荐吗", "ask_recommendation", "zh")]
    # what the list shows: the owner's conversation's entries, the intents to choose
    listed = await lily.get("/api/agent/reviews")
    assert [r["reason"] for r in listed["reviews"]] == ["not_understood", "before_handoff",
                                                        "draft_edited", "draft_skipped"]
    assert listed["intents"] == [i for i in DOMAIN["intents"] if i != "nlu_fallback"]
    assert listed["reviews"][0]["bot_ranking"][0] == {"name": "nlu_fallback",
                                                      "confidence": 0.21}


async def test_agents_see_and_label_only_their_conversations_entries(desk):
    lily, wang, boss = [await desk.login(u) for u in ("lily", "wang", "boss")]
    await lily.online()
    lily_cid, lily_auth = await desk.new("zh")
    await desk.say(lily_cid, lily_auth, "转人工")
    await lily.post("/api/agent/status", {"status": "away"})
    await wang.online()
    wang_cid, wang_auth = await desk.new("zh")
    await desk.say(wang_cid, wang_auth, "转人工 谢谢")
    owners = {r["conversation_id"]: r["agent_id"] for r in desk.sql(
        "SELECT conversation_id, agent_id FROM conversations")}
    assert owners == {lily_cid: lily.agent["agent_id"], wang_cid: wang.agent["agent_id"]}
    ids = {r["conversation_id"]: r["id"] for r in desk.sql(
        "SELECT id, conversation_id FROM reviews")}
    assert [r["id"] for r in (await lily.get("/api/agent/reviews"))["reviews"]] == \
        [ids[lily_cid]]
    assert [r["id"] for r in (await wang.get("/api/agent/reviews"))["reviews"]] == \
        [ids[wang_cid]]
    assert sorted(r["id"] for r in (await boss.get("/api/agent/reviews"))["reviews"]) == \
        sorted(ids.values())
    # lily cannot label wang's, nor learn whether it exists beyond that
    await lily.post(f"/api/agent/reviews/{ids[wang_cid]}", {"intent": "greet"}, status=403)
    assert desk.sql("SELECT confirmed_intent FROM reviews WHERE id = ?", ids[wang_cid]) == \
        [{"confirmed_intent": None}]
    await lily.post("/api/agent/reviews/999999", {"intent": "greet"}, status=404)
    await lily.post("/api/agent/reviews/abc", {"intent": "greet"}, status=404)
    # only the domain's intents, never the fallback; entities of the domain's types
    for bad in ({"intent": "buy_now"}, {"intent": "nlu_fallback"}, {},
                {"intent": "check_stock", "entities": [{"entity": "price", "value": "1"}]},
                {"intent": "check_stock", "entities": "size"}):
        await lily.post(f"/api/agent/reviews/{ids[lily_cid]}", bad, status=400)
    # confirmed as read, then corrected with an entity
    done = await lily.post(f"/api/agent/reviews/{ids[lily_cid]}", {"intent": "request_human"})
    assert done["review"]["intent"] == "request_human"
    await boss.post(f"/api/agent/reviews/{ids[lily_cid]}", {
        "intent": "complaint", "entities": [{"entity": "size", "value": "42"}]})
    assert desk.sql("SELECT confirmed_intent, confirmed_entities, reviewer_id FROM reviews"
                    " WHERE id = ?", ids[lily_cid]) == [
        {"confirmed_intent": "complaint",
         "confirmed_entities": '[{"entity": "size", "value": "42"}]',
         "reviewer_id": boss.agent["agent_id"]}]
    assert (await lily.get("/api/agent/reviews"))["reviews"] == []
    # counts: each sees their own; the bot read request_human, the label is complaint
    lily_counts = await lily.get("/api/agent/reviews/counts")
    assert (lily_counts["reviewed"], lily_counts["pending"]) == (1, 0)
    assert lily_counts["weeks"][0]["share_bot_right"] == 0.0
    boss_counts = await boss.get("/api/agent/reviews/counts")
    assert (boss_counts["reviewed"], boss_counts["pending"]) == (1, 1)
    assert boss_counts["pending_by_reason"]["before_handoff"] == 1
