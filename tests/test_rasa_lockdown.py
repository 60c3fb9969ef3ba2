"""The Rasa side as an attacker meets it, through the public port, in both configurations
(one Rasa server on the public port; two workers behind the router): the HTTP API needs
the token (and works with it), only the REST channel is public, bad bodies get a 4xx JSON
error and never a 500, CORS only for configured origins, nothing listens on another
address of this machine, no version numbers in `Server` headers."""

from __future__ import annotations

import json
import socket
import sqlite3
import subprocess
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import replace

import pytest

from bot.settings import get_settings
from bot.training import model_path
from tests.conftest import free_ports

pytestmark = pytest.mark.e2e

SHOP_ORIGIN = "https://shop.example"


class Stack:
    def __init__(self, sup, workers: int):
        self.sup = sup
        self.workers = workers
        self.token = sup.token
        s = sup.settings
        self.port = s.rasa_port
        self.action_port = s.action_port
        self.worker_ports = [] if workers == 1 else \
            [s.rasa_port + 1 + i for i in range(workers)]
        self.cors = s.rasa_cors_origins
        self.tracker_db = s.tracker_store_url.split("sqlite:///", 1)[1]


@pytest.fixture(scope="module", params=[1, 2], ids=["one Rasa server", "two workers"])
def stack(request, demo_db, tmp_path_factory):
    from bot.runner import Supervisor

    if not model_path().exists():
        pytest.fail("no trained model: run `make train` (make test does it)")
    workers = request.param
    rasa_port, _w1, _w2, action_port = free_ports(4)
    tmp = tmp_path_factory.mktemp(f"lockdown-{workers}")
    settings = replace(get_settings(), rasa_port=rasa_port, action_port=action_port,
                       rasa_workers=workers, bind_host="127.0.0.1",
                       rasa_token=None, rasa_token_file=tmp / "token",
                       tracker_store_url=f"sqlite:///{tmp / 'trackers.db'}",
                       # the lone server allows the shop's origin; the router's stack none
                       rasa_cors_origins=(SHOP_ORIGIN,) if workers == 1 else ())
    sup = Supervisor(settings, log_dir=tmp / "logs")
    sup.start(env={"SHOPASSIST_CATALOG": str(demo_db),
                   "SHOPASSIST_NOW": "2026-11-20T10:00:00+08:00"})
    yield Stack(sup, workers)
    sup.stop()


def call(port: int, method: str, path: str, body=None, token: str | None = None,
         headers: dict | None = None):
    """(status, headers, parsed JSON or text) of one request to 127.0.0.1:port."""
    url = f"http://127.0.0.1:{port}{path}"
    if token is not None:
        url += ("&" if "?" in path else "?") + urllib.parse.urlencode({"token": token})
    data = body if isinstance(body, bytes) or body is None else \
        json.dumps(body, ensure_ascii=False).encode()
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json",
                                          **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            status, hdrs, raw = resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as err:
        status, hdrs, raw = err.code, err.headers, err.read()
    try:
        payload = json.loads(raw) if raw else None
    except ValueError:
        payload = raw.decode("utf-8", "replace")
    return status, hdrs, payload


def ask(port: int, text: str, sender: str | None = None) -> list:
    status, _, replies = call(port, "POST", "/webhooks/rest/webhook",
                              {"sender": sender or uuid.uuid4().hex, "message": text})
    assert status == 200, replies
    return replies


def stock_card(replies: list) -> dict:
    cards = [r["custom"] for r in replies if (r.get("custom") or {}).get("type") == "stock"]
    assert cards, replies
    return cards[0]


def assert_answers_stock(port: int, sql) -> None:
    """The model still answers, with the catalog's figures."""
    card = stock_card(ask(port, "疾风跑鞋黑色42码有货吗"))
    expected = sql("SELECT v.sku, SUM(s.quantity) q FROM variants v JOIN stock s ON"
                   " s.sku = v.sku JOIN products p ON p.product_id = v.product_id"
                   " WHERE p.name_zh = '疾风跑鞋' AND v.color = 'black' AND v.size = '42'"
                   " GROUP BY v.sku")
    assert [(v["sku"], v["available"]) for v in card["variants"]] == \
        [(r["sku"], r["q"]) for r in expected]


API_CALLS = [
    ("GET", "/", None), ("GET", "/version", None), ("GET", "/status", None),
    ("GET", "/domain", None),
    ("GET", "/conversations/{cid}/tracker", None),
    ("POST", "/conversations/{cid}/tracker/events",
     {"event": "slot", "name": "color", "value": "red"}),
    ("PUT", "/conversations/{cid}/tracker/events", []),
    ("POST", "/conversations/{cid}/messages", {"text": "hi", "sender": "user"}),
    ("POST", "/model/parse", {"text": "有货吗"}),
    ("DELETE", "/model", None),
    ("PUT", "/model", {"model_file": "/etc/passwd"}),
    ("GET", "/webhooks/rest/", None),
]


@pytest.mark.parametrize("method, path, body", API_CALLS,
                         ids=[f"{m} {p}" for m, p, _ in API_CALLS])
def test_the_api_needs_the_token(stack, sql, method, path, body):
    cid = uuid.uuid4().hex
    ask(stack.port, "疾风跑鞋有货吗", cid)                   # a conversation to attack
    path = path.format(cid=cid)
    status, _, payload = call(stack.port, method, path, body)
    assert status == 401, payload
    assert payload["error"]
    status, _, payload = call(stack.port, method, path, body, token="guessed-" + "x" * 35)
    assert status == 403, payload
    assert payload["error"]
    # nothing happened: the conversation is intact and the model answers
    status, _, tracker = call(stack.port, "GET", f"/conversations/{cid}/tracker",
                              token=stack.token)
    assert status == 200
    assert tracker["slots"]["color"] is None
    assert any(e["event"] == "user" for e in tracker["events"])
    assert_answers_stock(stack.port, sql)


def test_with_the_token_the_api_works(stack, sql):
    cid = uuid.uuid4().hex
    ask(stack.port, "疾风跑鞋黑色42码有货吗", cid)
    p001 = sql("SELECT product_id FROM products WHERE name_zh = '疾风跑鞋'")[0]["product_id"]
    status, _, tracker = call(stack.port, "GET", f"/conversations/{cid}/tracker",
                              token=stack.token)
    assert status == 200
    assert tracker["latest_message"]["text"] == "疾风跑鞋黑色42码有货吗"
    assert tracker["slots"]["product"] == p001
    status, _, _ = call(stack.port, "POST", f"/conversations/{cid}/tracker/events",
                        {"event": "slot", "name": "size", "value": "43"}, token=stack.token)
    assert status == 200
    _, _, tracker = call(stack.port, "GET", f"/conversations/{cid}/tracker",
                         token=stack.token)
    assert tracker["slots"]["size"] == "43"
    status, _, parse = call(stack.port, "POST", "/model/parse", {"text": "多少钱"},
                            token=stack.token)
    assert status == 200 and parse["intent"]["name"] == "ask_price"
    status, _, version = call(stack.port, "GET", "/version", token=stack.token)
    assert status == 200 and version["version"].startswith("3.6")


def test_unloading_the_model_needs_the_token_and_works_with_it(stack, sql):
    if stack.workers != 1:
        pytest.skip("behind the router /model goes to the workers in turn: checked on "
                    "the lone server")
    assert call(stack.port, "DELETE", "/model")[0] == 401
    assert_answers_stock(stack.port, sql)
    assert call(stack.port, "DELETE", "/model", token=stack.token)[0] == 204
    assert ask(stack.port, "疾风跑鞋黑色42码有货吗") == []     # it really was unloaded
    status, _, payload = call(stack.port, "PUT", "/model",
                              {"model_file": str(model_path())}, token=stack.token)
    assert status == 204, payload
    assert_answers_stock(stack.port, sql)


def test_the_rest_channel_needs_no_token(stack, sql):
    assert_answers_stock(stack.port, sql)


def test_the_action_server_needs_the_token(stack):
    assert call(stack.action_port, "GET", "/health")[0] == 401
    assert call(stack.action_port, "GET", "/actions", token="wrong-" + "y" * 30)[0] == 403
    status, _, actions = call(stack.action_port, "GET", "/actions", token=stack.token)
    assert status == 200 and {"name": "action_check_stock"} in actions
    status, _, _ = call(stack.action_port, "POST", "/webhook",
                        {"next_action": "action_check_stock", "tracker": {}})
    assert status == 401


@pytest.mark.parametrize("origin", [SHOP_ORIGIN, "https://evil.example"])
def test_cors_only_for_configured_origins(stack, origin):
    allowed = origin in stack.cors
    status, hdrs, _ = call(stack.port, "POST", "/webhooks/rest/webhook",
                           {"sender": uuid.uuid4().hex, "message": "在吗"},
                           headers={"Origin": origin})
    assert status == 200
    assert hdrs.get("Access-Control-Allow-Origin") == (origin if allowed else None)
    status, hdrs, _ = call(stack.port, "OPTIONS", "/webhooks/rest/webhook",
                           headers={"Origin": origin,
                                    "Access-Control-Request-Method": "POST",
                                    "Access-Control-Request-Headers": "content-type"})
    assert hdrs.get("Access-Control-Allow-Origin") == (origin if allowed else None)
    # the action server is never called from a browser: the same rule
    _, hdrs, _ = call(stack.action_port, "GET", "/health", token=stack.token,
                      headers={"Origin": origin})
    assert hdrs.get("Access-Control-Allow-Origin") == (origin if allowed else None)


def other_addresses() -> list[str]:
    """This machine's IPv4 addresses outside 127.0.0.0/8."""
    found = set()
    try:
        out = subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True, text=True,
                             timeout=10).stdout
        found |= {line.split()[3].split("/")[0] for line in out.splitlines()
                  if len(line.split()) > 3}
    except (OSError, subprocess.SubprocessError):
        pass
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))            # no packet is sent
            found.add(s.getsockname()[0])
    except OSError:
        pass
    return sorted(a for a in found if not a.startswith("127.") and a != "0.0.0.0")


def test_nothing_listens_on_another_address(stack):
    addresses = other_addresses()
    if not addresses:
        pytest.skip("this machine has no address besides the loopback")
    ports = [stack.port, stack.action_port, *stack.worker_ports]
    for port in ports:                            # reachable where they should be
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass
    for address in addresses:
        for port in ports:
            with socket.socket() as s:
                s.settimeout(5)
                assert s.connect_ex((address, port)) != 0, f"{address}:{port} answers"


def test_no_version_numbers_in_server_headers(stack):
    for port, path, token in [(stack.port, "/status", stack.token),
                              (stack.port, "/version", None),
                              (stack.action_port, "/health", stack.token),
                              *[(p, "/status", stack.token) for p in stack.worker_ports]]:
        _, hdrs, _ = call(port, "GET", path, token=token)
        server = hdrs.get("Server") or ""
        assert not any(ch.isdigit() for ch in server), (port, server)
    _, hdrs, _ = call(stack.port, "POST", "/webhooks/rest/webhook", b"[]")
    assert not any(ch.isdigit() for ch in hdrs.get("Server") or "")


def nested(levels: int) -> bytes:
    meta: dict = {}
    inner = meta
    for _ in range(levels - 1):
        inner["a"] = {}
        inner = inner["a"]
    return json.dumps({"sender": "s", "message": "hi", "metadata": meta}).encode()


BAD_BODIES = {
    "empty": b"",
    "blank": b" \r\n ",
    "not UTF-8 (GBK)": "疾风跑鞋有货吗".encode("gbk"),
    "not UTF-8 (bytes)": b"\xff\xfe\xfa{\"sender\":",
    "not JSON": b"sender=me&message=hi",
    "truncated JSON": b"{\"sender\": \"me\", \"message\": \"hi",
    "JSON array": b"[{\"sender\": \"me\", \"message\": \"hi\"}]",
    "empty array": b"[]",
    "JSON string": b"\"hi\"",
    "JSON number": b"42",
    "JSON null": b"null",
    "deep nesting (arrays)": b"[" * 30_000 + b"]" * 30_000,
    "deep nesting (metadata)": nested(40),
    "NaN": b"{\"sender\": \"me\", \"message\": NaN}",
    "Infinity": b"{\"sender\": \"me\", \"message\": \"hi\", \"metadata\": {\"x\": Infinity}}",
    "huge body (1 MiB)": b"{\"sender\": \"me\", \"message\": \"" + b"a" * (1 << 20) + b"\"}",
    "huge body (12 MiB)": b"{\"sender\": \"me\", \"message\": \"" + b"a" * (12 << 20) + b"\"}",
    "sender missing": b"{\"message\": \"hi\"}",
    "sender empty": b"{\"sender\": \"\", \"message\": \"hi\"}",
    "sender a number": b"{\"sender\": 12, \"message\": \"hi\"}",
    "sender an object": b"{\"sender\": {\"id\": 1}, \"message\": \"hi\"}",
    "sender too long": json.dumps({"sender": "s" * 300, "message": "hi"}).encode(),
    "message missing": b"{\"sender\": \"me\"}",
    "message null": b"{\"sender\": \"me\", \"message\": null}",
    "message a number": b"{\"sender\": \"me\", \"message\": 42}",
    "message a list": b"{\"sender\": \"me\", \"message\": [\"hi\"]}",
    "message too long": json.dumps({"sender": "me", "message": "啊" * 6000}).encode(),
    "metadata a list": b"{\"sender\": \"me\", \"message\": \"hi\", \"metadata\": []}",
    "metadata a string": b"{\"sender\": \"me\", \"message\": \"hi\", \"metadata\": \"P001\"}",
    "unpaired surrogate": b"{\"sender\": \"me\", \"message\": \"\\udc80\"}",
}


def raw_post(port: int, path: str, body: bytes, content_type: str) -> tuple[int, bytes]:
    """POST over a plain socket: the server may answer before reading a huge body, so a
    failed send is not the end; the answer is read either way."""
    with socket.create_connection(("127.0.0.1", port), timeout=60) as s:
        head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
                "Connection: close\r\n\r\n").encode()
        try:
            s.sendall(head + body)
        except (BrokenPipeError, ConnectionResetError):
            pass
        data = b""
        try:
            while chunk := s.recv(65536):
                data += chunk
        except ConnectionResetError:
            pass
    head, _, payload = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1]) if head else 0
    return status, payload


@pytest.mark.parametrize("content_type", ["application/json", "text/plain"])
@pytest.mark.parametrize("name", list(BAD_BODIES))
def test_bad_bodies_get_a_4xx_json_error(stack, name, content_type):
    status, payload = raw_post(stack.port, "/webhooks/rest/webhook", BAD_BODIES[name],
                               content_type)
    assert 400 <= status < 500, (status, payload[:300])
    assert json.loads(payload)["error"]


def test_after_the_bad_bodies_everyone_still_gets_answers(stack, sql):
    for body in BAD_BODIES.values():
        raw_post(stack.port, "/webhooks/rest/webhook", body, "application/json")
    assert_answers_stock(stack.port, sql)
    replies = ask(stack.port, "is the swift running shoes in stock in size 42?")
    assert stock_card(replies)["size"] == "42"


def test_an_answer_that_could_not_be_stored_is_a_503(stack, sql):
    """The tracker store fails (its table gone): the shopper gets 503 and retries, never
    an answer Rasa did not keep; once it is back, the retry is answered and stored once."""
    known = uuid.uuid4().hex
    ask(stack.port, "在吗", known)
    ask(stack.port, "疾风跑鞋多少钱", known)          # now in its worker's cache
    db = sqlite3.connect(stack.tracker_db)
    db.execute("ALTER TABLE events RENAME TO events_away")
    db.commit()
    try:
        for sender in (known, uuid.uuid4().hex):     # a cached one and a new one
            status, hdrs, payload = call(stack.port, "POST", "/webhooks/rest/webhook",
                                         {"sender": sender, "message": "疾风跑鞋有货吗"})
            assert status == 503, payload
            assert payload["error"] and hdrs.get("Retry-After")
    finally:
        db.execute("ALTER TABLE events_away RENAME TO events")
        db.commit()
        db.close()
    card = stock_card(ask(stack.port, "疾风跑鞋黑色42码有货吗", known))
    assert card["product_id"] == sql("SELECT product_id FROM products"
                                     " WHERE name_zh = '疾风跑鞋'")[0]["product_id"]
    _, _, tracker = call(stack.port, "GET", f"/conversations/{known}/tracker",
                         token=stack.token)
    said = [e["text"] for e in tracker["events"] if e["event"] == "user"]
    assert said == ["在吗", "疾风跑鞋多少钱", "疾风跑鞋黑色42码有货吗"]
