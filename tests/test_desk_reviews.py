"""The review list's store part (desk/store/reviews.py): what the bot read in a shopper
message, each entry reason in both languages, never twice for one message, who sees which
entry (the conversation's owner, supervisors all), confirming and correcting (again
replaces), and the counts. Expected values are read back from the database with the test's
own connection or worked out by hand."""

from __future__ import annotations

import sqlite3

import pytest

from desk.store import DeskStore, Forbidden, NotFound

from tests.conftest import NOW, Clock  # noqa: F401 - the shared pinned clock


@pytest.fixture()
async def store(tmp_path, clock):
    s = DeskStore(tmp_path / "desk.db", clock=clock)
    await s.accounts.ensure_demo_agents()
    yield s
    s.close()


def sql(store, query, *params) -> list[tuple]:
    conn = sqlite3.connect(store.db.path)
    try:
        return [tuple(r) for r in conn.execute(query, params)]
    finally:
        conn.close()


async def agent(store, username) -> dict:
    return next(a for a in await store.accounts.agents() if a["username"] == username)


def own(store, cid, agent_id):
    """Make a conversation the agent's (ownership set directly: routing is not tested
    here)."""
    store.db.write_sync(lambda c: c.execute(
        "UPDATE conversations SET state = 'assigned', agent_id = ? WHERE conversation_id = ?",
        (agent_id, cid)))


async def shopper_message(store, text, locale="zh", cid=None):
    if cid is None:
        conv, _ = await store.conversations.create(locale)
        cid = conv["conversation_id"]
    msg = (await store.conversations.add_shopper_message(cid, text))["message"]
    return cid, msg["id"]


PARSE_ZH = {"intent": "nlu_fallback", "confidence": 0.28,
            "intent_ranking": [{"name": "nlu_fallback", "confidence": 0.28},
                               {"name": "check_stock", "confidence": 0.25},
                               {"name": "ask_price", "confidence": 0.2}],
            "entities": [{"entity": "size", "value": "42", "start": 4, "end": 7}],
            "slots": {"language": "zh"}}
PARSE_EN = {"intent": "out_of_scope", "confidence": 0.91,
            "intent_ranking": [{"name": "out_of_scope", "confidence": 0.91},
                               {"name": "product_details", "confidence": 0.05}],
            "entities": [], "slots": {}}


async def test_an_entry_carries_what_the_bot_read_in_both_languages(store):
    cid, mid = await shopper_message(store, "这双鞋有42码的吗亲")
    await store.reviews.remember_parse(mid, PARSE_ZH)
    zh = await store.reviews.enter(mid, "not_understood")
    assert (zh["conversation_id"], zh["message_id"], zh["text"], zh["language"],
            zh["reason"], zh["bot_intent"], zh["bot_confidence"]) == (
        cid, mid, "这双鞋有42码的吗亲", "zh", "not_understood", "nlu_fallback", 0.28)
    assert [r["name"] for r in zh["bot_ranking"]] == ["nlu_fallback", "check_stock",
                                                      "ask_price"]
    assert zh["bot_entities"] == [{"entity": "size", "value": "42", "start": 4, "end": 7}]
    assert zh["reviewed_at"] is None and zh["intent"] is None
    # English, in a conversation whose widget is Chinese: no language slot, read from text
    _, mid_en = await shopper_message(store, "can u fix my fridge door", locale="zh")
    await store.reviews.remember_parse(mid_en, PARSE_EN)
    en = await store.reviews.enter(mid_en, "not_understood")
    assert (en["language"], en["bot_intent"], en["bot_confidence"]) == \
        ("en", "out_of_scope", 0.91)
    assert sql(store, "SELECT message_id, language, bot_intent FROM reviews ORDER BY id") \
        == [(mid, "zh", "nlu_fallback"), (mid_en, "en", "out_of_scope")]


@pytest.mark.parametrize("reason, text", [
    ("not_understood", "亲 那个啥 还有没"), ("before_handoff", "I want a real person"),
    ("draft_edited", "这个能便宜点不"), ("draft_skipped", "is the blue one warm enough")])
async def test_every_entry_reason(store, reason, text):
    _, mid = await shopper_message(store, text)
    entry = await store.reviews.enter(mid, reason)
    assert entry["reason"] == reason
    # no reading of it stored: the entry says so, it is still listed
    assert entry["bot_intent"] is None and entry["bot_ranking"] == []
    assert sql(store, "SELECT reason, text FROM reviews") == [(reason, text)]


async def test_never_twice_for_one_message(store):
    _, mid = await shopper_message(store, "转人工吧")
    await store.reviews.remember_parse(mid, PARSE_ZH)
    assert await store.reviews.enter(mid, "before_handoff") is not None
    for reason in ("not_understood", "draft_edited", "draft_skipped", "before_handoff"):
        assert await store.reviews.enter(mid, reason) is None
    assert sql(store, "SELECT reason FROM reviews") == [("before_handoff",)]
    with pytest.raises(ValueError):
        await store.reviews.enter(mid, "bored")


async def test_only_shopper_messages_enter(store):
    cid, _ = await shopper_message(store, "在吗")
    (bot,) = await store.conversations.add_messages(cid, "bot", [{"text": "在的亲"}])
    assert await store.reviews.enter(bot["id"], "not_understood") is None
    assert await store.reviews.enter(10_000, "not_understood") is None
    assert sql(store, "SELECT COUNT(*) FROM reviews") == [(0,)]


async def test_an_agent_sees_and_labels_only_their_conversations_entries(store):
    lily, wang, boss = [await agent(store, u) for u in ("lily", "wang", "boss")]
    lily_cid, lily_mid = await shopper_message(store, "这个有货吗")
    wang_cid, wang_mid = await shopper_message(store, "where is my parcel", locale="en")
    _, bot_mid = await shopper_message(store, "今天天气咋样")       # still with the bot
    own(store, lily_cid, lily["agent_id"])
    own(store, wang_cid, wang["agent_id"])
    ids = {}
    for mid in (lily_mid, wang_mid, bot_mid):
        ids[mid] = (await store.reviews.enter(mid, "not_understood"))["id"]
    assert [r["message_id"] for r in await store.reviews.pending(lily)] == [lily_mid]
    assert [r["message_id"] for r in await store.reviews.pending(wang)] == [wang_mid]
    assert [r["message_id"] for r in await store.reviews.pending(boss)] == \
        [lily_mid, wang_mid, bot_mid]
    with pytest.raises(Forbidden):
        await store.reviews.get(ids[wang_mid], lily)
    with pytest.raises(Forbidden):
        await store.reviews.review(ids[wang_mid], lily, "order_status", None)
    with pytest.raises(NotFound):
        await store.reviews.review(10_000, boss, "order_status", None)
    assert sql(store, "SELECT COUNT(*) FROM reviews WHERE reviewed_at IS NOT NULL") == [(0,)]
    assert (await store.reviews.counts(lily))["pending"] == 1
    assert (await store.reviews.counts(boss))["pending"] == 3


async def test_confirm_correct_and_review_again(store, clock):
    lily, boss = await agent(store, "lily"), await agent(store, "boss")
    cid, mid = await shopper_message(store, "这双鞋有42码的吗亲")
    own(store, cid, lily["agent_id"])
    await store.reviews.remember_parse(mid, {**PARSE_ZH, "intent": "check_stock",
                                             "confidence": 0.55})
    entry = await store.reviews.enter(mid, "not_understood")
    # confirmed as read (entities None: the bot's are kept)
    done = await store.reviews.review(entry["id"], lily, "check_stock", None)
    assert (done["intent"], done["reviewer_id"], done["reviewer_name"]) == \
        ("check_stock", lily["agent_id"], lily["display_name"])
    assert sql(store, "SELECT confirmed_intent, confirmed_entities, reviewer_id FROM reviews")\
        == [("check_stock", '[{"entity": "size", "value": "42", "start": 4, "end": 7}]',
             lily["agent_id"])]
    assert await store.reviews.pending(lily) == []
    # reviewed again by the supervisor: the label is replaced, not added
    clock.advance(minutes=5)
    await store.reviews.review(entry["id"], boss, "product_details", [])
    assert sql(store, "SELECT confirmed_intent, confirmed_entities, reviewer_id FROM reviews")\
        == [("product_details", "[]", boss["agent_id"])]
    (only,) = await store.reviews.reviewed()
    assert (only["message_id"], only["intent"], only["entities"]) == \
        (mid, "product_details", [])


async def test_counts_by_hand(store, clock):
    boss = await agent(store, "boss")
    # the week of NOW (Friday 2026-11-20, ISO week 47): four entries, three reviewed, the
    # bot right in two of them; the model is installed an hour after the first two
    entries = []

    async def entry(text, bot, confirmed, reason="not_understood", locale="zh"):
        _, mid = await shopper_message(store, text, locale=locale)
        await store.reviews.remember_parse(mid, {"intent": bot, "confidence": 0.4})
        entries.append(((await store.reviews.enter(mid, reason))["id"], confirmed))

    await entry("有货吗", "check_stock", "check_stock")
    await entry("包邮不", "ask_shipping", "ask_shipping")
    clock.advance(hours=1)
    installed_at = clock().isoformat(timespec="milliseconds")
    await entry("退钱", "complaint", "return_policy")
    await entry("在吗", "greet", None)
    clock.advance(days=7)                 # week 48: one reviewed, the bot wrong
    await entry("where my stuff", "out_of_scope", "order_status", "before_handoff", "en")
    for review_id, confirmed in entries:
        if confirmed:
            await store.reviews.review(review_id, boss, confirmed, None)
    counts = await store.reviews.counts(boss, model_installed_at=installed_at)
    assert counts["reviewed"] == 4 and counts["pending"] == 1
    assert counts["pending_by_reason"] == {"not_understood": 1, "before_handoff": 0,
                                           "draft_edited": 0, "draft_skipped": 0}
    assert counts["weeks"] == [
        {"week": "2026-W47", "reviewed": 3, "bot_right": 2, "share_bot_right": 0.6667},
        {"week": "2026-W48", "reviewed": 1, "bot_right": 0, "share_bot_right": 0.0}]
    # since the model: 退钱 and where my stuff reviewed, the bot wrong in both
    assert counts["since_model"] == {"installed_at": installed_at, "reviewed": 2,
                                     "bot_right": 0, "share_bot_right": 0.0}
    # an agent who owns none of these conversations sees nothing of them
    lily = await agent(store, "lily")
    assert (await store.reviews.counts(lily))["reviewed"] == 0
