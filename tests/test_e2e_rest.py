"""End to end: start the action server and the Rasa server with the trained model, ask
real questions through Rasa's REST channel, check the facts in `custom` against the
database: the answers, and the thread of a conversation in both languages (an order number
after "which order?", orders only for their signed-in owner, messages not understood, places
not served, a person asked for while the bot waits for a size, a new question replacing
what it restates). Needs the model (`make train`); `make test` trains it first."""

from __future__ import annotations

import hashlib
import hmac
import json
import sqlite3
import urllib.request
import uuid
from dataclasses import replace

import pytest

from bot.settings import get_settings
from bot.training import model_path
from tests.conftest import free_ports

pytestmark = pytest.mark.e2e

SHOP_SECRET = "e2e-shop-secret"


@pytest.fixture(scope="module")
def rasa_url(demo_db, tmp_path_factory):
    from bot.runner import Supervisor

    if not model_path().exists():
        pytest.fail("no trained model: run `make train` (make test does it)")
    # Rasa's port, its two workers' (port + 1, + 2), the action server's
    rasa_port, _w1, _w2, action_port = free_ports(4)
    settings = replace(get_settings(), rasa_port=rasa_port, action_port=action_port,
                       rasa_workers=2)
    sup = Supervisor(settings, log_dir=tmp_path_factory.mktemp("logs"))
    sup.start(env={"SHOPASSIST_CATALOG": str(demo_db),
                   "SHOPASSIST_NOW": "2026-11-20T10:00:00+08:00",
                   "SHOPASSIST_SHOP_SECRET": SHOP_SECRET})
    yield f"http://127.0.0.1:{settings.rasa_port}"
    sup.stop()


def ask(url: str, text, sender: str | None = None, metadata: dict | None = None) -> list:
    body = {"sender": sender or uuid.uuid4().hex, "message": text}
    if metadata:
        body["metadata"] = metadata
    req = urllib.request.Request(f"{url}/webhooks/rest/webhook",
                                 data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


def custom_of(replies: list, type_: str) -> dict:
    found = [r["custom"] for r in replies if (r.get("custom") or {}).get("type") == type_]
    assert found, f"no {type_} payload in {replies}"
    return found[0]


def text_of(replies: list) -> str:
    return " ".join(r.get("text") or "" for r in replies)


def test_stock_question_in_chinese(rasa_url, sql):
    replies = ask(rasa_url, "疾风跑鞋黑色42码有货吗")
    card = custom_of(replies, "stock")
    assert card["product_id"] == "P001"
    expected = sql("SELECT v.sku, SUM(s.quantity) q FROM variants v JOIN stock s ON"
                   " s.sku = v.sku WHERE v.product_id = 'P001' AND v.color = 'black' AND"
                   " v.size = '42' GROUP BY v.sku")
    assert [(v["sku"], v["available"]) for v in card["variants"]] == \
        [(r["sku"], r["q"]) for r in expected]
    assert "疾风跑鞋" in text_of(replies)


def test_page_context_and_english(rasa_url, sql):
    pid = sql("SELECT product_id FROM products WHERE category = 'shell_jackets'"
              " LIMIT 1")[0]["product_id"]
    replies = ask(rasa_url, "is this in stock in XL?", metadata={"page": {"product_id": pid},
                                                               "locale": "en"})
    card = custom_of(replies, "stock")
    assert card["product_id"] == pid and card["size"] == "XL"
    expected = sql("SELECT v.sku, SUM(s.quantity) q FROM variants v JOIN stock s ON"
                   " s.sku = v.sku WHERE v.product_id = ? AND v.size = 'XL' GROUP BY v.sku"
                   " ORDER BY v.rowid", pid)
    assert {v["sku"]: v["available"] for v in card["variants"]} == \
        {r["sku"]: r["q"] for r in expected}
    name = sql("SELECT name_en FROM products WHERE product_id = ?", pid)[0]["name_en"]
    assert name in text_of(replies)
    assert not any("\u4e00" <= ch <= "\u9fff" for ch in text_of(replies))


def test_form_asks_for_the_size_then_answers(rasa_url):
    sender = uuid.uuid4().hex
    first = ask(rasa_url, "疾风跑鞋有货吗", sender)
    assert any(r.get("buttons") for r in first), first
    assert "尺码" in text_of(first)
    second = ask(rasa_url, "42码", sender)
    card = custom_of(second, "stock")
    assert card["product_id"] == "P001" and card["size"] == "42"


def test_shipping_to_a_city(rasa_url, catalog):
    replies = ask(rasa_url, "疾风跑鞋发成都几天能到")
    card = custom_of(replies, "shipping")
    expected = catalog.ship_date(get_settings().now(), product_id="P001", city="chengdu")
    assert card["ship_date"] == expected.ship_date.isoformat()
    assert card["carrier"] == expected.carrier
    assert card["delivery_earliest"] == expected.delivery_earliest.isoformat()
    assert card["delivery_latest"] == expected.delivery_latest.isoformat()


def test_price_in_english(rasa_url, sql):
    replies = ask(rasa_url, "how much is the swift running shoes")
    card = custom_of(replies, "price")
    assert card["price"] == sql("SELECT price FROM products WHERE product_id='P001'")[0]["price"]


def signed_in(customer_id: str) -> dict:
    """What the storefront sends for its signed-in customer (docs/actions.md), by hand."""
    return {"customer_id": customer_id, "customer_sig": hmac.new(
        SHOP_SECRET.encode(), customer_id.encode(), hashlib.sha256).hexdigest()}


def test_order_status(rasa_url, sql):
    o = sql("SELECT * FROM orders WHERE status = 'shipped' LIMIT 1")[0]
    replies = ask(rasa_url, f"亲 我的订单{o['order_id']}到哪了",
                  metadata=signed_in(o["customer_id"]))
    card = custom_of(replies, "order_status")
    assert (card["order_id"], card["status"], card["tracking_no"]) == \
        (o["order_id"], "shipped", o["tracking_no"])


def test_human_request_hands_off(rasa_url):
    card = custom_of(ask(rasa_url, "转人工"), "handoff")
    assert card["reason"] == "requested"


BAD_INPUTS = ["", "   ", "啊" * 5000, "😀😀😀", "'; DROP TABLE products;--",
              "<script>alert(1)</script>", "<b>hi</b><img src=x onerror=alert(1)>",
              "\u0000\u0001binary\ufffd", "order 99999999999999 where???"]


def content_hash(db) -> str:
    """A hash of a database's content read through SQL (schema and every row, as
    `iterdump` writes them). In WAL mode a committed change can sit in the -wal file
    for a while, so the main file's bytes do not show it."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        h = hashlib.sha256()
        for line in conn.iterdump():
            h.update(line.encode("utf-8", "surrogatepass") + b"\n")
        return h.hexdigest()
    finally:
        conn.close()


def test_content_hash_sees_a_dropped_table_that_the_file_hash_misses(tmp_path):
    db = tmp_path / "wal.db"
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE products (product_id TEXT PRIMARY KEY, name TEXT)")
    conn.execute("CREATE TABLE stock (sku TEXT, quantity INTEGER)")
    conn.executemany("INSERT INTO products VALUES (?, ?)", [("P001", "疾风跑鞋"),
                                                            ("P002", "trail socks")])
    conn.commit()
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    file_before, content_before = hashlib.sha256(db.read_bytes()).hexdigest(), \
        content_hash(db)
    conn.execute("DROP TABLE products")
    conn.commit()                       # committed, but only in the -wal file so far
    assert hashlib.sha256(db.read_bytes()).hexdigest() == file_before
    assert content_hash(db) != content_before
    conn.close()


@pytest.fixture(scope="module")
def content_before_bad_inputs(rasa_url, demo_db) -> str:
    """The catalog's content once, before the first bad input is sent (each of them must
    leave it as it was, so each compares with this)."""
    return content_hash(demo_db)


@pytest.mark.parametrize("text", BAD_INPUTS)
def test_bad_input_gets_a_reply_and_changes_nothing(rasa_url, demo_db,
                                                   content_before_bad_inputs, text):
    replies = ask(rasa_url, text)
    assert any((r.get("text") or "").strip() for r in replies), replies
    assert content_hash(demo_db) == content_before_bad_inputs


# -- the thread of a conversation, in both languages ----------------------------------------------
def payloads(replies: list, type_: str) -> list:
    return [r["custom"] for r in replies if (r.get("custom") or {}).get("type") == type_]


@pytest.mark.parametrize("ask_text,number_text", [
    ("我的快递到哪了", "{}"), ("亲 帮我查下订单", "订单号是 {}"),
    ("where is my order?", "{}"), ("hi can u check my order", "it's {}")])
def test_a_bare_order_number_after_the_question_is_that_order(rasa_url, sql, ask_text,
                                                              number_text):
    o = sql("SELECT * FROM orders WHERE status = 'shipped' ORDER BY order_id DESC"
            " LIMIT 1")[0]
    sender, me = uuid.uuid4().hex, signed_in(o["customer_id"])
    first = ask(rasa_url, ask_text, sender, me)
    assert not payloads(first, "order_status") and ("订单号" in text_of(first)
                                                    or "order number" in text_of(first))
    second = ask(rasa_url, number_text.format(o["order_id"]), sender, me)
    [card] = payloads(second, "order_status")
    assert (card["order_id"], card["status"], card["tracking_no"]) == \
        (o["order_id"], "shipped", o["tracking_no"])
    assert o["tracking_no"] in text_of(second)
    zh = any("\u4e00" <= ch <= "\u9fff" for ch in ask_text)
    assert any("\u4e00" <= ch <= "\u9fff" for ch in text_of(second)) == zh
    assert len([r for r in second if r.get("text")]) == 1   # nothing said after the answer


@pytest.mark.parametrize("text", ["我的订单{}到哪了", "where is order {}"])
def test_orders_only_for_their_signed_in_owner(rasa_url, sql, text):
    o = sql("SELECT * FROM orders WHERE status = 'delivered' ORDER BY order_id LIMIT 1")[0]
    other = sql("SELECT customer_id FROM orders WHERE customer_id != ? LIMIT 1",
                o["customer_id"])[0]["customer_id"]
    missing = "20261118999999"
    assert not sql("SELECT 1 FROM orders WHERE order_id = ?", missing)
    anonymous = [{}, {"customer_id": o["customer_id"]},                   # a bare claim
                 {"customer_id": o["customer_id"], "customer_sig": "ab" * 32}]
    for meta in anonymous:
        replies = ask(rasa_url, text.format(o["order_id"]), metadata=meta)
        assert payloads(replies, "order_status") == [{"type": "order_status",
                                                      "status": "sign_in_required"}]
        assert o["tracking_no"] not in text_of(replies)
        assert any("request_human" in b["payload"] for r in replies
                   for b in r.get("buttons") or [])
    # signed in as someone else: the same answer as for a number that does not exist
    said = {}
    for number in (o["order_id"], missing):
        replies = ask(rasa_url, text.format(number), metadata=signed_in(other))
        assert payloads(replies, "order_status") == [{"type": "order_status",
                                                      "order_id": number,
                                                      "status": "not_found"}]
        said[number] = text_of(replies).replace(number, "N")
    assert said[o["order_id"]] == said[missing]
    assert o["tracking_no"] not in said[o["order_id"]]


@pytest.mark.parametrize("messages", [["今天天气怎么样", "讲个笑话吧", "你是机器人吗"],
                                      ["whats the weather like", "tell me a joke",
                                       "are you a robot"]])
def test_three_messages_not_understood_hand_over(rasa_url, messages):
    sender = uuid.uuid4().hex
    for text in messages[:2]:
        replies = ask(rasa_url, text, sender)
        assert not payloads(replies, "handoff"), (text, replies)
    replies = ask(rasa_url, messages[2], sender)
    assert payloads(replies, "handoff") == [{"type": "handoff",
                                             "reason": "repeated_fallback"}]
    assert (replies[-1].get("custom") or {}).get("type") == "handoff"


@pytest.mark.parametrize("messages", [["这件还有吗", "你说啥", "看不懂你说的"],
                                      ["is this tee in stock", "wat",
                                       "can you do my homework"]])
def test_two_messages_not_understood_after_a_question_hand_over(rasa_url, messages):
    sender, page = uuid.uuid4().hex, {"page": {"product_id": "P060"}}
    first = ask(rasa_url, messages[0], sender, page)
    assert any('/inform{"size"' in b["payload"] for r in first for b in r.get("buttons")
               or [])                                       # "which size?"
    replies = ask(rasa_url, messages[1], sender, page)
    assert not payloads(replies, "handoff"), replies
    replies = ask(rasa_url, messages[2], sender, page)
    assert payloads(replies, "handoff") == [{"type": "handoff",
                                             "reason": "repeated_fallback"}]
    assert (replies[-1].get("custom") or {}).get("type") == "handoff"
    assert not any(r.get("buttons") for r in replies)       # no size question after it


@pytest.mark.parametrize("first,place,region,lang", [
    ("疾风跑鞋发北京几天到", "能寄到东京吗", "tokyo", "zh"),
    ("how long does the swift running shoes take to beijing", "do you ship to London?",
     "london", "en")])
def test_a_place_not_served_after_a_city_gets_no_domestic_estimate(rasa_url, sql, first,
                                                                    place, region, lang):
    sender = uuid.uuid4().hex
    assert payloads(ask(rasa_url, first, sender), "shipping")[0]["city"] == "beijing"
    replies = ask(rasa_url, place, sender)
    [card] = payloads(replies, "shipping")
    [row] = sql("SELECT * FROM shipping_regions WHERE region = ?", region)
    assert row["served"] == 0
    assert card["served"] is False and card["region"] == region and card["ship_date"] is None
    assert row[f"name_{lang}"] in text_of(replies)
    for word in ("北京", "Beijing", "今天", "today", "Expected", "预计"):
        assert word not in text_of(replies)


@pytest.mark.parametrize("stock_q,human", [("这款还有货吗", "转人工"),
                                           ("do you have this in stock?",
                                            "let me talk to a human")])
def test_a_person_asked_for_while_the_bot_waits_for_a_size(rasa_url, stock_q, human):
    sender, page = uuid.uuid4().hex, {"page": {"product_id": "P001"}}
    first = ask(rasa_url, stock_q, sender, page)
    assert any('/inform{"size"' in b["payload"] for r in first for b in r.get("buttons")
               or [])
    replies = ask(rasa_url, human, sender, page)
    assert [r["custom"] for r in replies if r.get("custom")] == [
        {"type": "handoff", "reason": "requested"}]
    assert (replies[-1].get("custom") or {}).get("type") == "handoff"   # the last word
    assert not any(r.get("buttons") for r in replies)


@pytest.mark.parametrize("first,second", [("这件橙色XL有货吗", "那黑色L码呢"),
                                          ("u got this in orange XL?",
                                           "hav u got blak in larg")])
def test_a_new_question_replaces_what_it_restates(rasa_url, sql, first, second):
    sender, page = uuid.uuid4().hex, {"page": {"product_id": "P033"}}
    card = payloads(ask(rasa_url, first, sender, page), "stock")[0]
    assert (card["color"], card["size"]) == ("orange", "XL")
    card = payloads(ask(rasa_url, second, sender, page), "stock")[0]
    assert (card["product_id"], card["color"], card["size"]) == ("P033", "black", "L")
    [row] = sql("SELECT v.sku, SUM(s.quantity) q FROM variants v JOIN stock s ON"
                " s.sku = v.sku WHERE v.product_id = 'P033' AND v.color = 'black' AND"
                " v.size = 'L' GROUP BY v.sku")
    assert [(v["sku"], v["available"]) for v in card["variants"]] == [(row["sku"], row["q"])]
