"""The desk's record (desk/store/): the database seam (one write transaction, reads in a
snapshot beside the writer, durability settings), idempotent shopper messages, states and
reopening, passwords and sessions, suggestions, text kept verbatim, the demo data.

The tests of the store (`store` fixture) run twice: on a SQLite file and on a PostgreSQL
database (tests/cluster_support.py); those of SQLite's own settings on SQLite only."""

from __future__ import annotations

import asyncio
import sqlite3
import time

import pytest

from desk.store import (Conflict, DeskStore, Forbidden, NotFound, SQLiteDatabase,
                        hash_password, verify_password)

from tests.cluster_support import fetch, table_names
from tests.conftest import NOW, Clock  # noqa: F401 - the shared pinned clock


@pytest.fixture()
async def store(desk_database, clock):
    s = DeskStore(desk_database, clock=clock)
    s.target = desk_database
    await s.accounts.ensure_demo_agents()
    yield s
    s.close()


def sql(store, query, *params) -> list[tuple]:
    """Rows read through a connection of the test's own, not the store's."""
    return fetch(store.target, query, *params)


async def agent_id(store, username):
    return next(a["agent_id"] for a in await store.accounts.agents()
                if a["username"] == username)


# -- the database seam ---------------------------------------------------------------------
def test_wal_and_full_sync_on_the_writer(tmp_path):
    db = SQLiteDatabase(tmp_path / "d.db")
    try:
        assert db.write_sync(lambda c: c.execute("PRAGMA journal_mode").fetchone()[0]) == "wal"
        assert db.write_sync(lambda c: c.execute("PRAGMA synchronous").fetchone()[0]) == 2
        # the reader cannot write
        with pytest.raises(sqlite3.OperationalError):
            db.read_sync(lambda c: c.execute("DELETE FROM agents"))
    finally:
        db.close()


def test_a_failing_write_leaves_nothing(tmp_path):
    db = SQLiteDatabase(tmp_path / "d.db")

    def half_then_fail(c):
        c.execute("INSERT INTO canned_replies (locale, title, text) VALUES ('zh', 't', 'x')")
        raise ValueError("no")

    try:
        with pytest.raises(ValueError):
            db.write_sync(half_then_fail)
        assert db.read_sync(lambda c: c.execute(
            "SELECT COUNT(*) FROM canned_replies").fetchone()[0]) == 0
    finally:
        db.close()
    assert sql_file(tmp_path / "d.db", "SELECT COUNT(*) FROM canned_replies") == [(0,)]


def sql_file(path, query) -> list[tuple]:
    conn = sqlite3.connect(path)
    try:
        return [tuple(r) for r in conn.execute(query)]
    finally:
        conn.close()


async def test_reads_go_on_beside_a_write_and_see_only_committed_data(tmp_path):
    db = SQLiteDatabase(tmp_path / "d.db")
    inside = asyncio.Event()
    loop = asyncio.get_running_loop()

    def slow_write(c):
        c.execute("INSERT INTO canned_replies (locale, title, text) VALUES ('zh', 't', 'x')")
        loop.call_soon_threadsafe(inside.set)
        time.sleep(0.6)                        # the write transaction stays open

    def count(c):
        return c.execute("SELECT COUNT(*) FROM canned_replies").fetchone()[0]

    try:
        writing = asyncio.ensure_future(db.write(slow_write))
        await inside.wait()
        t0 = time.monotonic()
        assert await db.read(count) == 0       # not committed yet
        assert time.monotonic() - t0 < 0.4     # and not waiting for the writer
        await writing
        assert await db.read(count) == 1       # a read after the commit sees it
    finally:
        db.close()


async def test_writes_are_serialized_across_stores_on_one_file(tmp_path):
    """Read-modify-write in one write transaction: two stores (two writer connections,
    as two processes would have) never lose an update."""
    a, b = SQLiteDatabase(tmp_path / "d.db"), SQLiteDatabase(tmp_path / "d.db")
    a.write_sync(lambda c: c.execute(
        "INSERT INTO canned_replies (locale, title, text) VALUES ('zh', 'n', '0')"))

    def increment(c):
        n = int(c.execute("SELECT text FROM canned_replies").fetchone()[0])
        time.sleep(0.001)
        c.execute("UPDATE canned_replies SET text = ?", (str(n + 1),))

    try:
        await asyncio.gather(*(db.write(increment) for _ in range(50) for db in (a, b)))
        assert sql_file(tmp_path / "d.db", "SELECT text FROM canned_replies") == [("100",)]
    finally:
        a.close()
        b.close()


def test_tables(store):
    names = table_names(store.target)
    assert {"agents", "sessions", "conversations", "messages", "suggestions", "assignments",
            "handoffs", "contact_messages", "canned_replies"} <= names


def test_an_older_file_gets_the_new_columns(tmp_path):
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE handoffs (id INTEGER PRIMARY KEY AUTOINCREMENT,"
                 " conversation_id TEXT NOT NULL, reason TEXT NOT NULL, day TEXT NOT NULL,"
                 " queued_at TEXT NOT NULL)")
    conn.execute("INSERT INTO handoffs (conversation_id, reason, day, queued_at)"
                 " VALUES ('c', 'requested', '2026-11-20', 'x')")
    conn.commit()
    conn.close()
    SQLiteDatabase(path).close()
    columns = [r[1] for r in sql_file(path, "PRAGMA table_info(handoffs)")]
    assert "requested_discount_pct" in columns
    assert sql_file(path, "SELECT reason FROM handoffs") == [("requested",)]


# -- conversations and messages ------------------------------------------------------------
async def test_conversation_ids_and_tokens_are_unguessable(store):
    conversations = store.conversations
    a, ta = await conversations.create("zh")
    b, tb = await conversations.create("zh")
    assert a["conversation_id"] != b["conversation_id"] and len(a["conversation_id"]) == 32
    assert len(ta) >= 40 and ta != tb
    assert (await conversations.authorize(a["conversation_id"], ta))["conversation_id"] \
        == a["conversation_id"]
    with pytest.raises(Forbidden):
        await conversations.authorize(a["conversation_id"], tb)
    with pytest.raises(NotFound):
        await conversations.authorize("nope", ta)
    # only a hash of the token is stored
    assert ta not in str(sql(store, "SELECT * FROM conversations"))


async def test_same_client_id_is_stored_once(store):
    conversations = store.conversations
    conv, _ = await conversations.create("zh")
    cid = conv["conversation_id"]
    first = await conversations.add_shopper_message(cid, "在吗", "c-1")
    again = await conversations.add_shopper_message(cid, "在吗", "c-1")
    assert not first["duplicate"] and again["duplicate"]
    assert again["message"]["id"] == first["message"]["id"]
    assert sql(store, "SELECT text, client_id FROM messages") == [("在吗", "c-1")]
    # a client id is unique per conversation, not across conversations
    other, _ = await conversations.create("zh")
    assert not (await conversations.add_shopper_message(
        other["conversation_id"], "在吗", "c-1"))["duplicate"]


async def test_text_is_stored_verbatim(store):
    conv, _ = await store.conversations.create("en")
    evil = "<script>alert(1)</script> & <b>x</b> '; DROP TABLE messages;--"
    await store.conversations.add_shopper_message(conv["conversation_id"], evil)
    assert (await store.conversations.history(conv["conversation_id"]))[0]["text"] == evil
    assert sql(store, "SELECT text FROM messages") == [(evil,)]


async def test_replies_are_linked_to_the_shopper_message(store):
    conversations = store.conversations
    conv, _ = await conversations.create("zh")
    cid = conv["conversation_id"]
    m = (await conversations.add_shopper_message(cid, "有货吗", "c-9"))["message"]
    stored = await conversations.add_messages(
        cid, "bot", [{"text": "有", "custom": {"type": "stock"}}], m["id"])
    assert sql(store, "SELECT id, reply_to, sender FROM messages WHERE sender = 'bot'") == \
        [(stored[0]["id"], m["id"], "bot")]
    assert [r["text"] for r in await conversations.replies_to(m["id"])] == ["有"]
    assert (await conversations.history(cid, after=m["id"]))[0]["custom"] == \
        {"type": "stock"}


async def _assigned(store, username="lily", locale="zh"):
    await store.accounts.set_status(await agent_id(store, username), "online")
    conv, _ = await store.conversations.create(locale)
    cid = conv["conversation_id"]
    await store.conversations.add_shopper_message(cid, "转人工")
    res = await store.conversations.handoff(cid, "requested")
    assert res["assigned"] == [(cid, await agent_id(store, username))]
    return cid


async def test_states_bot_queued_assigned_resolved(store):
    conversations = store.conversations
    conv, _ = await conversations.create("zh")
    cid = conv["conversation_id"]

    def state():
        return sql(store, "SELECT state, agent_id FROM conversations")[0]

    assert state() == ("bot", None)
    assert await conversations.handoff(cid, "requested") == {"changed": True, "assigned": []}
    assert state() == ("queued", None)
    assert (await conversations.handoff(cid, "requested"))["changed"] is False   # once
    lily = await agent_id(store, "lily")
    assert await store.accounts.set_status(lily, "online") == [(cid, lily)]
    assert state() == ("assigned", lily)
    await conversations.resolve(cid, await store.accounts.agent(lily))
    assert state() == ("resolved", lily)
    assert [r[0] for r in sql(store, "SELECT kind FROM assignments ORDER BY id")] == \
        ["assign", "resolve"]
    assert [e["kind"] for e in await conversations.ownership_log(cid)] == \
        ["assign", "resolve"]


async def test_a_discount_handoff_keeps_the_figure_asked_for(store):
    conv, _ = await store.conversations.create("zh")
    cid = conv["conversation_id"]
    await store.conversations.handoff(cid, "discount", requested_discount_pct=15)
    assert sql(store, "SELECT reason, requested_discount_pct FROM handoffs") == \
        [("discount", 15.0)]
    summary = await store.conversations.summary(cid)
    assert (summary["handoff_reason"], summary["requested_discount_pct"]) == ("discount", 15)


async def test_only_the_owner_resolves(store):
    cid = await _assigned(store)
    accounts = store.accounts
    with pytest.raises(Forbidden):
        await store.conversations.resolve(cid, await accounts.agent(
            await agent_id(store, "wang")))
    await store.conversations.resolve(cid, await accounts.agent(
        await agent_id(store, "boss")), confirm=True)                 # a supervisor may
    with pytest.raises(Conflict):
        await store.conversations.resolve(cid, await accounts.agent(
            await agent_id(store, "lily")), confirm=True)


async def test_writing_again_within_the_window_reopens_with_the_same_owner(store, clock):
    cid = await _assigned(store)
    lily = await store.accounts.agent(await agent_id(store, "lily"))
    await store.conversations.resolve(cid, lily, confirm=True)
    clock.advance(minutes=29)
    await store.accounts.seen([lily["agent_id"]])          # her console is still open
    res = await store.conversations.add_shopper_message(cid, "还有一个问题")
    assert res["events"] == [{"type": "reopened", "agent_id": lily["agent_id"]}]
    assert sql(store, "SELECT state, agent_id FROM conversations") == \
        [("assigned", lily["agent_id"])]
    assert [e["kind"] for e in await store.conversations.ownership_log(cid)] == \
        ["assign", "resolve", "reopen"]


async def test_writing_again_later_starts_over_with_the_bot(store, clock):
    cid = await _assigned(store)
    await store.conversations.resolve(cid, await store.accounts.agent(
        await agent_id(store, "lily")), confirm=True)
    clock.advance(minutes=31)
    res = await store.conversations.add_shopper_message(cid, "你好")
    assert res["events"] == [{"type": "restarted"}]
    assert sql(store, "SELECT state, agent_id, handoff_reason FROM conversations") == \
        [("bot", None, None)]


async def test_reopen_waits_for_the_owner_at_their_cap(desk_database, clock):
    store = DeskStore(desk_database, clock=clock)
    accounts, conversations = store.accounts, store.conversations
    a = (await accounts.add_agent("a", "pw-a", languages=["zh"], cap=1))["agent_id"]
    b = (await accounts.add_agent("b", "pw-b", languages=["zh"], cap=1))["agent_id"]
    await accounts.set_status(a, "online")
    conv, _ = await conversations.create("zh")
    cid = conv["conversation_id"]
    await conversations.handoff(cid, "requested")
    await conversations.resolve(cid, await accounts.agent(a))
    other, _ = await conversations.create("zh")
    await conversations.handoff(other["conversation_id"], "requested")   # a is full again
    res = await conversations.add_shopper_message(cid, "again")
    assert res["events"][0] == {"type": "queued"}
    assert (await conversations.get(cid))["preferred_agent_id"] == a
    # a cannot take it: the next able agent does (ownership moves only via the queue)
    assert await accounts.set_status(b, "online") == [(cid, b)]
    store.close()


# -- accounts ------------------------------------------------------------------------------
async def test_passwords_are_salted_scrypt(store):
    h1, h2 = hash_password("secret"), hash_password("secret")
    assert h1 != h2 and h1.startswith("scrypt$16384$8$1$")
    assert verify_password("secret", h1) and not verify_password("Secret", h1)
    accounts = store.accounts
    assert (await accounts.authenticate("lily", "demo-lily"))["username"] == "lily"
    assert await accounts.authenticate("lily", "wrong") is None
    assert await accounts.authenticate("nobody", "demo-lily") is None
    stored = sql(store, "SELECT password FROM agents WHERE username='lily'")[0][0]
    assert "demo-lily" not in stored and verify_password("demo-lily", stored)


async def test_add_agent_function(store):
    a = await store.accounts.add_agent("mei", "pw-mei", display_name="美美",
                                       languages=["zh"], cap=3)
    assert (a["display_name"], a["languages"], a["cap"], a["role"]) == \
        ("美美", ["zh"], 3, "agent")
    assert sql(store, "SELECT display_name, languages, cap FROM agents WHERE username='mei'") \
        == [("美美", "zh", 3)]
    with pytest.raises(Conflict):
        await store.accounts.add_agent("mei", "x")


async def test_sessions(store, clock):
    accounts = store.accounts
    lily = await agent_id(store, "lily")
    sid, csrf = await accounts.create_session(lily, hours=1)
    agent, got_csrf = await accounts.session(sid)
    assert agent["agent_id"] == lily and got_csrf == csrf
    assert sid not in str(sql(store, "SELECT * FROM sessions"))     # only its hash
    assert await accounts.session("forged") is None
    clock.advance(hours=2)
    assert await accounts.session(sid) is None
    sid2, _ = await accounts.create_session(lily)
    await accounts.delete_session(sid2)
    assert await accounts.session(sid2) is None


async def test_demo_agents_and_canned_replies_in_both_languages(store):
    assert sql(store, "SELECT username, display_name, role, languages FROM agents"
               " ORDER BY agent_id") == [
        ("lily", "Lily", "agent", "zh,en"), ("wang", "小王", "agent", "zh"),
        ("tom", "Tom", "agent", "en"), ("boss", "Boss", "supervisor", "zh,en")]
    zh, en = await store.accounts.canned("zh"), await store.accounts.canned("en")
    assert [c["title"] for c in zh] == ["问候", "商品", "订单", "结束"]
    assert [c["title"] for c in en] == ["Greeting", "Product", "Order", "Closing"]
    # the console's variables, as it fills them in
    assert zh[0]["text"] == "亲，您好～我是客服{{agent_name}}，很高兴为您服务！"
    assert en[1]["text"].startswith("{{shopper_product}} is in stock")
    assert "{{order_id}}" in zh[2]["text"] and "{{order_id}}" in en[2]["text"]
    await store.accounts.ensure_demo_agents()                   # a second start: no copies
    assert sql(store, "SELECT COUNT(*) FROM agents") == [(4,)]
    assert sql(store, "SELECT COUNT(*) FROM canned_replies") == [(8,)]


# -- suggestions ---------------------------------------------------------------------------
async def test_suggestion_outcomes_are_recorded(store):
    cid = await _assigned(store)
    lily = await store.accounts.agent(await agent_id(store, "lily"))
    conversations, suggestions = store.conversations, store.suggestions
    m = (await conversations.add_shopper_message(cid, "多少钱"))["message"]
    s1, s2, s3 = await suggestions.add(cid, m["id"], [
        {"kind": "answer", "text": "¥359", "custom": {"type": "price"}, "facts": {"a": 1}},
        {"kind": "answer", "text": "draft", "custom": None},
        {"kind": "crosssell", "text": "also", "custom": {"type": "recommendations"}}])
    sent = await conversations.agent_message(cid, lily, "¥359", s1["id"])
    assert sent["suggestion"]["outcome"] == "accepted"
    assert sent["suggestion"]["final_text"] == "¥359"
    assert sent["message"]["sender"] == "agent" and sent["message"]["agent_name"] == "Lily"
    assert sent["message"]["custom"] == {"type": "price"}
    edited = (await conversations.agent_message(cid, lily, "draft, edited",
                                                s2["id"]))["suggestion"]
    assert (edited["outcome"], edited["text"], edited["final_text"]) == \
        ("edited", "draft", "draft, edited")
    assert (await suggestions.skip(s3["id"], lily))["outcome"] == "rejected"
    with pytest.raises(Conflict):
        await suggestions.skip(s3["id"], lily)
    with pytest.raises(Conflict):
        await conversations.agent_message(cid, lily, "x", s1["id"])
    assert sql(store, "SELECT id, outcome, final_text, sent_message_id IS NOT NULL FROM"
               " suggestions ORDER BY id") == [
        (s1["id"], "accepted", "¥359", 1), (s2["id"], "edited", "draft, edited", 1),
        (s3["id"], "rejected", None, 0)]


async def test_only_the_owner_writes(store):
    cid = await _assigned(store)
    with pytest.raises(Forbidden):
        await store.conversations.agent_message(
            cid, await store.accounts.agent(await agent_id(store, "wang")), "hi")
    assert sql(store, "SELECT COUNT(*) FROM messages WHERE sender = 'agent'") == [(0,)]


async def test_contact_message_queues_the_conversation(store):
    conv, _ = await store.conversations.create("en")
    res = await store.conversations.leave_contact(conv["conversation_id"], "tel 138",
                                                  "call me", "en")
    assert res["message"]["custom"] == {"type": "contact", "contact": "tel 138"}
    assert sql(store, "SELECT state, contact, handoff_reason FROM conversations") == \
        [("queued", "tel 138", "contact")]
    assert sql(store, "SELECT contact, text FROM contact_messages") == [("tel 138", "call me")]


async def test_committed_data_survives_a_new_connection(store):
    conv, _ = await store.conversations.create("zh")
    await store.conversations.add_shopper_message(conv["conversation_id"], "hello")
    assert fetch(store.target, "SELECT text FROM messages") == [("hello",)]
