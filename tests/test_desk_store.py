"""The desk's SQLite record (desk/store.py): durability settings, idempotent shopper
messages, states and reopening, passwords and sessions, suggestions, text kept verbatim."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta

import pytest

from desk.store import (Conflict, DeskStore, Forbidden, NotFound, hash_password,
                            verify_password)

from tests.conftest import NOW, Clock  # noqa: F401 - the shared pinned clock


@pytest.fixture()
def store(tmp_path, clock):
    s = DeskStore(tmp_path / "desk.db", clock=clock)
    s.ensure_demo_agents()
    yield s
    s.close()


def agent_id(store, username):
    return next(a["agent_id"] for a in store.agents() if a["username"] == username)


def test_wal_and_full_sync(store):
    assert store._one("PRAGMA journal_mode")[0] == "wal"
    assert store._one("PRAGMA synchronous")[0] == 2          # FULL


def test_tables(store):
    names = {r[0] for r in store._all("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"agents", "sessions", "conversations", "messages", "suggestions", "assignments",
            "contact_messages", "canned_replies"} <= names


def test_conversation_ids_and_tokens_are_unguessable(store):
    a, ta = store.create_conversation("zh")
    b, tb = store.create_conversation("zh")
    assert a["conversation_id"] != b["conversation_id"] and len(a["conversation_id"]) == 32
    assert len(ta) >= 40 and ta != tb
    assert store.authorize(a["conversation_id"], ta)["conversation_id"] == a["conversation_id"]
    with pytest.raises(Forbidden):
        store.authorize(a["conversation_id"], tb)
    with pytest.raises(NotFound):
        store.authorize("nope", ta)
    # only a hash of the token is stored
    assert ta not in str([tuple(r) for r in store._all("SELECT * FROM conversations")])


def test_same_client_id_is_stored_once(store):
    conv, _ = store.create_conversation("zh")
    cid = conv["conversation_id"]
    first = store.add_shopper_message(cid, "在吗", "c-1")
    again = store.add_shopper_message(cid, "在吗", "c-1")
    assert not first["duplicate"] and again["duplicate"]
    assert again["message"]["id"] == first["message"]["id"]
    assert [m["text"] for m in store.history(cid)] == ["在吗"]
    # a client id is unique per conversation, not across conversations
    other, _ = store.create_conversation("zh")
    assert not store.add_shopper_message(other["conversation_id"], "在吗", "c-1")["duplicate"]


def test_text_is_stored_verbatim(store):
    conv, _ = store.create_conversation("en")
    evil = "<script>alert(1)</script> & <b>x</b> '; DROP TABLE messages;--"
    store.add_shopper_message(conv["conversation_id"], evil)
    assert store.history(conv["conversation_id"])[0]["text"] == evil


def test_replies_are_linked_to_the_shopper_message(store):
    conv, _ = store.create_conversation("zh")
    cid = conv["conversation_id"]
    m = store.add_shopper_message(cid, "有货吗", "c-9")["message"]
    store.add_messages(cid, "bot", [{"text": "有", "custom": {"type": "stock"}}], m["id"])
    assert [r["text"] for r in store.replies_to(m["id"])] == ["有"]
    assert store.history(cid, after=m["id"])[0]["custom"] == {"type": "stock"}


def _assigned(store, clock, username="lily", locale="zh"):
    store.set_status(agent_id(store, username), "online")
    conv, _ = store.create_conversation(locale)
    cid = conv["conversation_id"]
    store.add_shopper_message(cid, "转人工")
    res = store.handoff(cid, "requested")
    assert res["assigned"] == [(cid, agent_id(store, username))]
    return cid


def test_states_bot_queued_assigned_resolved(store, clock):
    conv, _ = store.create_conversation("zh")
    cid = conv["conversation_id"]
    assert store.conversation(cid)["state"] == "bot"
    assert store.handoff(cid, "requested") == {"changed": True, "assigned": []}
    assert store.conversation(cid)["state"] == "queued"
    assert store.handoff(cid, "requested")["changed"] is False        # only once
    lily = agent_id(store, "lily")
    assert store.set_status(lily, "online") == [(cid, lily)]
    assert store.conversation(cid)["state"] == "assigned"
    store.resolve(cid, store.agent(lily))
    assert store.conversation(cid)["state"] == "resolved"
    kinds = [e["kind"] for e in store.ownership_log(cid)]
    assert kinds == ["assign", "resolve"]


def test_only_the_owner_resolves(store, clock):
    cid = _assigned(store, clock)
    with pytest.raises(Forbidden):
        store.resolve(cid, store.agent(agent_id(store, "wang")))
    store.resolve(cid, store.agent(agent_id(store, "boss")))          # supervisor may
    with pytest.raises(Conflict):
        store.resolve(cid, store.agent(agent_id(store, "lily")))


def test_writing_again_within_the_window_reopens_with_the_same_owner(store, clock):
    cid = _assigned(store, clock)
    lily = store.agent(agent_id(store, "lily"))
    store.resolve(cid, lily)
    clock.advance(minutes=29)
    res = store.add_shopper_message(cid, "还有一个问题")
    assert res["events"] == [{"type": "reopened", "agent_id": lily["agent_id"]}]
    conv = store.conversation(cid)
    assert (conv["state"], conv["agent_id"]) == ("assigned", lily["agent_id"])
    assert [e["kind"] for e in store.ownership_log(cid)] == ["assign", "resolve", "reopen"]


def test_writing_again_later_starts_over_with_the_bot(store, clock):
    cid = _assigned(store, clock)
    store.resolve(cid, store.agent(agent_id(store, "lily")))
    clock.advance(minutes=31)
    res = store.add_shopper_message(cid, "你好")
    assert res["events"] == [{"type": "restarted"}]
    assert store.conversation(cid)["state"] == "bot"
    assert store.conversation(cid)["agent_id"] is None


def test_reopen_waits_for_the_owner_at_their_cap(tmp_path, clock):
    store = DeskStore(tmp_path / "d.db", clock=clock)
    store.add_agent("a", "pw-a", languages=["zh"], cap=1)
    store.add_agent("b", "pw-b", languages=["zh"], cap=1)
    a = agent_id(store, "a")
    store.set_status(a, "online")
    conv, _ = store.create_conversation("zh")
    cid = conv["conversation_id"]
    store.handoff(cid, "requested")
    store.resolve(cid, store.agent(a))
    other, _ = store.create_conversation("zh")
    store.handoff(other["conversation_id"], "requested")            # a is full again
    res = store.add_shopper_message(cid, "again")
    assert res["events"][0] == {"type": "queued"}
    assert store.conversation(cid)["preferred_agent_id"] == a
    b = agent_id(store, "b")
    # a cannot take it: the next able agent does (ownership moves only via the queue)
    assert store.set_status(b, "online") == [(cid, b)]
    store.close()


def test_passwords_are_salted_scrypt(store):
    h1, h2 = hash_password("secret"), hash_password("secret")
    assert h1 != h2 and h1.startswith("scrypt$16384$8$1$")
    assert verify_password("secret", h1) and not verify_password("Secret", h1)
    assert store.authenticate("lily", "demo-lily")["username"] == "lily"
    assert store.authenticate("lily", "wrong") is None
    assert store.authenticate("nobody", "demo-lily") is None
    stored = store._one("SELECT password FROM agents WHERE username='lily'")[0]
    assert "demo-lily" not in stored


def test_add_agent_function(store):
    a = store.add_agent("mei", "pw-mei", display_name="美美", languages=["zh"], cap=3)
    assert (a["display_name"], a["languages"], a["cap"], a["role"]) == \
        ("美美", ["zh"], 3, "agent")
    with pytest.raises(Conflict):
        store.add_agent("mei", "x")


def test_sessions(store, clock):
    lily = agent_id(store, "lily")
    sid, csrf = store.create_session(lily, hours=1)
    agent, got_csrf = store.session(sid)
    assert agent["agent_id"] == lily and got_csrf == csrf
    assert store.session("forged") is None
    clock.advance(hours=2)
    assert store.session(sid) is None
    sid2, _ = store.create_session(lily)
    store.delete_session(sid2)
    assert store.session(sid2) is None


def test_suggestion_outcomes_are_recorded(store, clock):
    cid = _assigned(store, clock)
    lily = store.agent(agent_id(store, "lily"))
    m = store.add_shopper_message(cid, "多少钱")["message"]
    s1, s2, s3 = store.add_suggestions(cid, m["id"], [
        {"kind": "answer", "text": "¥359", "custom": {"type": "price"}, "facts": {"a": 1}},
        {"kind": "answer", "text": "draft", "custom": None},
        {"kind": "crosssell", "text": "also", "custom": {"type": "recommendations"}}])
    sent = store.send_agent_message(cid, lily, "¥359", s1["id"])
    assert sent["suggestion"]["outcome"] == "accepted"
    assert sent["suggestion"]["final_text"] == "¥359"
    assert sent["message"]["sender"] == "agent" and sent["message"]["agent_name"] == "Lily"
    edited = store.send_agent_message(cid, lily, "draft, edited", s2["id"])["suggestion"]
    assert (edited["outcome"], edited["text"], edited["final_text"]) == \
        ("edited", "draft", "draft, edited")
    assert store.skip_suggestion(s3["id"], lily)["outcome"] == "rejected"
    with pytest.raises(Conflict):
        store.skip_suggestion(s3["id"], lily)
    with pytest.raises(Conflict):
        store.send_agent_message(cid, lily, "x", s1["id"])


def test_only_the_owner_writes(store, clock):
    cid = _assigned(store, clock)
    with pytest.raises(Forbidden):
        store.send_agent_message(cid, store.agent(agent_id(store, "wang")), "hi")


def test_contact_message_queues_the_conversation(store):
    conv, _ = store.create_conversation("en")
    res = store.leave_contact(conv["conversation_id"], "tel 138", "call me", "en")
    assert res["message"]["custom"] == {"type": "contact", "contact": "tel 138"}
    c = store.conversation(conv["conversation_id"])
    assert (c["state"], c["contact"], c["handoff_reason"]) == ("queued", "tel 138", "contact")
    assert store._one("SELECT contact, text FROM contact_messages")[:] == ("tel 138", "call me")


def test_canned_replies_in_both_languages(store):
    zh, en = store.canned("zh"), store.canned("en")
    assert zh and en
    assert any("{{agent_name}}" in c["text"] for c in zh)
    assert any("{{shopper_product}}" in c["text"] for c in en)
    assert any("{{order_id}}" in c["text"] for c in en)


def test_committed_data_survives_a_new_connection(store, tmp_path):
    conv, _ = store.create_conversation("zh")
    store.add_shopper_message(conv["conversation_id"], "hello")
    other = sqlite3.connect(tmp_path / "desk.db")
    assert other.execute("SELECT text FROM messages").fetchall() == [("hello",)]
    other.close()
