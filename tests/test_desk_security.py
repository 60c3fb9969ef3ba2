"""The desk locked down (desk/security.py, desk/login_limit.py, desk/app.py): strict JSON in
bodies and WebSocket frames, bounded integers, control characters in URLs and fields,
the log-in's rate limit, lockout and password thread (the limiter's rules checked on
both the in-memory and the Redis limiter), the headers of every kind of response, and
the shopper's identity (only a signed customer id counts)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import math
import threading
import time

import pytest

from desk.login_limit import LoginPolicy, MemoryLoginLimiter, RedisLoginLimiter
from desk.store import accounts as accounts_module

from tests.test_desk_api import SHOP_SECRET as SECRET
from tests.test_desk_api import fake_rasa, make_desk, raw_get  # noqa: F401 - fixture


def strict(text: str):
    """JSON as a browser's JSON.parse reads it: NaN and Infinity are errors."""
    def refuse(name):
        raise ValueError(f"{name} in the answer")
    return json.loads(text, parse_constant=refuse)


@pytest.fixture()
async def desk(tmp_path, fake_rasa, demo_db):
    d = await make_desk(tmp_path, fake_rasa, demo_db)
    yield d
    await d.client.close()


# -- strict JSON, bounded integers, control characters --------------------------------------
BAD_MESSAGE_BODIES = [
    b'{"text": "hi", "metadata": {"cart": [{"product_id": "P001", "quantity": NaN}]}}',
    b'{"text": "hi", "metadata": {"cart": [{"product_id": "P001", "price": Infinity}]}}',
    b'{"text": "hi", "metadata": {"page": {"product_id": "P001", "n": -Infinity}}}',
    b'{"text": "hi", "metadata": {"cart": [{"product_id": "P001", "quantity": 1e400}]}}',
    b'{"text": "hi", "metadata": {"cart": [{"product_id": "P001", "quantity": '
    b'9223372036854775808}]}}',
    b'{"text": "hi", "n": -9223372036854775809}',
    b'{"text": "nul \\u0000 byte"}',
    b'{"text": "bell \\u0007"}',
    b'{"text": "hi", "client_id": "c\\u001b[31m"}',
    b'{"text": "hi", "metadata": {"page": {"title": "a\\u0000b"}}}',
    b'{"text": "hi", "metadata": {"page": {"ti\\u0000tle": "x"}}}',
    b'{"text": "c1 \\u0085 control"}',
]


@pytest.mark.parametrize("body", BAD_MESSAGE_BODIES)
async def test_bad_message_bodies_are_refused_and_nothing_stored(desk, body):
    cid, auth = await desk.new()
    r = await desk.client.post(f"/api/conversations/{cid}/messages", data=body,
                               headers={**auth, "Content-Type": "application/json"})
    assert r.status == 400, await r.text()
    assert r.content_type == "application/json" and (await r.json())["error"]
    assert await desk.history(cid) == []
    assert desk.rasa.calls == []


async def test_text_keeps_tabs_and_new_lines(desk):
    cid, auth = await desk.new("en")
    out = await desk.say(cid, auth, "line one\n\tline two\r\n")
    assert (await desk.history(cid))[0]["text"] == "line one\n\tline two\r\n"
    assert out["replies"]


@pytest.mark.parametrize("body", [
    b'{"locale": "zh", "page": {"product_id": NaN}}',
    b'{"locale": "zh", "page": {"n": 1e999}}',
    b'{"locale": "zh\\u0000"}',
    b'{"locale": "zh", "customer_id": 92233720368547758070}',
])
async def test_bad_new_conversation_bodies_are_refused(desk, body):
    r = await desk.client.post("/api/conversations", data=body,
                               headers={"Content-Type": "application/json"})
    assert r.status == 400 and (await r.json())["error"]
    assert desk.sql("SELECT COUNT(*) AS n FROM conversations") == [{"n": 0}]


@pytest.mark.parametrize("path", [
    "/static/%00", "/static/a%00.js", "/api/conversations/%00/messages",
    "/api/conversations/abc%07", "/p/P001%00", "/api/desk/status?locale=zh%00",
    "/%1b[2J", "/api/agent/suggestions/1%00/skip",
])
async def test_control_characters_in_urls_are_a_json_400(desk, path):
    url = desk.client.make_url("")
    reader, writer = await asyncio.open_connection(url.host, url.port)
    method = "POST" if path.endswith("skip") else "GET"
    writer.write(f"{method} {path} HTTP/1.1\r\nHost: {url.host}\r\nContent-Length: 0\r\n"
                 f"Connection: close\r\n\r\n".encode())
    raw = await reader.read()
    writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    status = int(head.split()[1])
    assert status == 400, (path, head)
    assert json.loads(body)["error"]


async def test_static_paths_still_served_and_hidden(desk):
    assert await raw_get(desk, "/static/console.css") == 200
    assert await raw_get(desk, "/static/%2e%2e/app.py") == 404


@pytest.mark.parametrize("value", [2 ** 63, 2 ** 64, -1, 0, True, 1.5, "7"])
async def test_suggestion_and_agent_ids_must_be_bounded_integers(desk, value):
    lily, boss = await desk.login("lily"), await desk.login("boss")
    await lily.online()
    cid, auth = await desk.new()
    await desk.say(cid, auth, "转人工")
    await lily.post(f"/api/agent/conversations/{cid}/messages",
                    {"text": "hi", "suggestion_id": value}, status=400)
    await boss.post(f"/api/agent/conversations/{cid}/reassign",
                    {"agent_id": value, "reason": "test"}, status=400)
    assert desk.sql("SELECT COUNT(*) AS n FROM messages WHERE sender = 'agent'") == \
        [{"n": 0}]


@pytest.mark.parametrize("sid", ["9223372036854775808", "99999999999999999999999",
                                 "-1", "0", "abc", "1e3"])
async def test_suggestion_ids_in_the_path_are_bounded(desk, sid):
    lily = await desk.login("lily")
    await lily.post(f"/api/agent/suggestions/{sid}/skip", status=404)


async def test_a_huge_but_valid_suggestion_id_is_not_found(desk):
    lily = await desk.login("lily")
    await lily.post(f"/api/agent/suggestions/{2 ** 63 - 1}/skip", status=404)


async def test_websocket_frames_are_parsed_strictly(desk):
    cid, auth = await desk.new()
    ws = await desk.client.ws_connect(f"/api/conversations/{cid}/ws",
                                      params={"token": auth["Authorization"][7:]})
    assert (await ws.receive_json())["type"] == "status"
    for frame in ('{"type": "typing", "on": NaN}', '{"type": "typing", "x": 1e999}',
                  '{"type": "typing\\u0000"}', "not json"):
        await ws.send_str(frame)
        ev = strict(await ws.receive_str(timeout=2))
        assert ev["type"] == "error" and ev["error"], frame
    await desk.say(cid, auth, "在吗")                   # the socket goes on
    while (ev := await ws.receive_json(timeout=2))["type"] != "message":
        pass
    assert ev["message"]["sender"] == "bot"
    await ws.close()


async def test_a_non_finite_number_already_in_the_record_is_sent_as_null(desk):
    """A conversation stored before these checks with NaN in its page: the console's
    lists still parse as strict JSON."""
    lily = await desk.login("lily")
    cid, auth = await desk.new(page={"product_id": "P001"})
    await desk.say(cid, auth, "转人工")                 # queued: nobody online
    await desk.store.db.write(lambda c: c.execute(
        "UPDATE conversations SET page = ? WHERE conversation_id = ?",
        ('{"product_id": "P001", "price": NaN}', cid)))
    r = await desk.client.get("/api/agent/conversations", headers=lily.headers(False))
    (queued,) = strict(await r.text())["queue"]
    assert queued["page"] == {"product_id": "P001", "price": None}


# -- log-in ----------------------------------------------------------------------------------
async def test_a_burst_of_wrong_passwords_is_throttled_and_shoppers_stay_fast(desk):
    cid, auth = await desk.new()
    await desk.say(cid, auth, "你好")                    # warm
    quiet = []
    for i in range(3):
        t0 = time.monotonic()
        await desk.say(cid, auth, "多少钱", client_id=f"quiet{i}")
        quiet.append(time.monotonic() - t0)

    async def wrong(i):
        r = await desk.client.post("/api/agent/login", json={
            "username": "lily", "password": f"guess-{i}"})
        return r.status, r.headers.get("Retry-After")

    burst = asyncio.gather(*(wrong(i) for i in range(60)))
    await asyncio.sleep(0.05)
    during = []
    for i in range(3):
        t0 = time.monotonic()
        await desk.say(cid, auth, "多少钱", client_id=f"during{i}")
        during.append(time.monotonic() - t0)
    answers = await burst
    statuses = [s for s, _ in answers]
    # a minute's worth per account (5) reaches the password check, the rest is refused
    assert statuses.count(401) == 5 and statuses.count(429) == 55, statuses
    assert all(int(ra) >= 1 for s, ra in answers if s == 429)
    # generous: a shopper's reply during the burst stays well under a second
    assert max(during) < 1.0, (quiet, during)


async def test_lockout_refuses_even_the_right_password_then_backs_off(
        tmp_path, fake_rasa, demo_db):
    now = [1000.0]
    desk = await make_desk(tmp_path, fake_rasa, demo_db, desk_login_per_minute=1000,
                           desk_login_account_per_minute=1000)
    from desk.app import SERVICE
    service = desk.app[SERVICE]
    service.login_limiter = MemoryLoginLimiter(
        LoginPolicy(address_per_minute=1000, address_burst=1000, account_per_minute=1000,
                    account_burst=1000, lockout_after=5, lockout_s=30), clock=lambda: now[0])
    try:
        async def login(password):
            r = await desk.client.post("/api/agent/login",
                                       json={"username": "wang", "password": password})
            return r.status, await r.json(), r.headers

        for i in range(4):
            assert (await login(f"bad{i}"))[0] == 401
        status, body, _ = await login("bad4")              # the fifth: locked for 30 s
        assert status == 401 and body["retry_after_s"] == 30
        status, body, headers = await login("demo-wang")   # the right one: refused
        assert status == 429 and "try again in 30 s" in body["error"]
        assert headers["Retry-After"] == "30"
        now[0] += 29
        status, body, _ = await login("demo-wang")
        assert status == 429 and "try again in 1 s" in body["error"]
        now[0] += 1.5
        for i in range(5):                                 # five more: 60 s this time
            status, body, _ = await login(f"again{i}")
        assert status == 401 and body["retry_after_s"] == 60
        now[0] += 61
        assert (await login("demo-wang"))[0] == 200        # in, and the slate is clean
        for i in range(5):
            status, body, _ = await login(f"later{i}")
        assert body["retry_after_s"] == 30
        # another account is not locked by wang's failures
        r = await desk.client.post("/api/agent/login",
                                   json={"username": "tom", "password": "demo-tom"})
        assert r.status == 200
    finally:
        await desk.client.close()


async def test_unknown_accounts_are_locked_like_real_ones(tmp_path, fake_rasa, demo_db):
    desk = await make_desk(tmp_path, fake_rasa, demo_db, desk_login_per_minute=1000,
                           desk_login_account_per_minute=1000)
    try:
        statuses = []
        for i in range(6):
            r = await desk.client.post("/api/agent/login",
                                       json={"username": "nobody", "password": f"x{i}"})
            statuses.append(r.status)
        assert statuses == [401] * 5 + [429]
    finally:
        await desk.client.close()


# the limiter's rules, checked on both limiters: in memory (one desk) and in Redis (a real
# redis-server, tests/cluster_support.py; several replicas share it, tests/test_cluster_redis.py)
@pytest.fixture(params=["memory", "redis"])
async def make_limiter(request):
    """A factory of limiters with a clock the test moves: in memory, or in Redis (closed
    after the test)."""
    made = []

    def make(policy, clock):
        if request.param == "memory":
            return MemoryLoginLimiter(policy, clock=clock)
        lim = RedisLoginLimiter(request.getfixturevalue("redis_url"), policy, clock=clock)
        made.append(lim)
        return lim

    yield make
    for lim in made:
        await lim.close()


async def test_buckets_per_address_and_per_account(make_limiter):
    now = [1_000_000.0]
    lim = make_limiter(LoginPolicy(address_per_minute=6, address_burst=3,
                                   account_per_minute=60, account_burst=2,
                                   lockout_after=100), lambda: now[0])
    # the account's bucket: 2 at once, then one a second
    assert [await lim.admit("lily", f"10.0.0.{i}") for i in range(2)] == [0, 0]
    assert await lim.admit("lily", "10.0.0.9") == pytest.approx(1.0)
    now[0] += 1.0
    assert await lim.admit("lily", "10.0.0.9") == 0
    # the address's bucket: 3 at once over any accounts, then one every 10 s
    assert [await lim.admit(f"user{i}", "10.9.9.9") for i in range(3)] == [0, 0, 0]
    assert await lim.admit("user9", "10.9.9.9") == pytest.approx(10.0)
    now[0] += 5
    assert await lim.admit("user9", "10.9.9.9") == pytest.approx(5.0)
    # a Chinese account name is a key like any other
    assert await lim.admit("小王", "10.1.1.1") == 0


async def test_lockout_backs_off_and_a_success_clears_it(make_limiter):
    now = [2_000_000.0]
    lim = make_limiter(LoginPolicy(address_per_minute=1000, address_burst=1000,
                                   account_per_minute=1000, account_burst=1000,
                                   lockout_after=3, lockout_s=30, lockout_max_s=100),
                       lambda: now[0])
    assert [await lim.failed("wang", "a") for _ in range(3)] == [0, 0, 30]
    assert await lim.admit("wang", "a") == pytest.approx(30)      # locked: even to try
    assert await lim.admit("tom", "a") == 0                        # others are not
    now[0] += 30.5
    assert await lim.admit("wang", "a") == 0
    assert [await lim.failed("wang", "a") for _ in range(3)] == [0, 0, 60]   # doubled
    now[0] += 61
    assert [await lim.failed("wang", "a") for _ in range(3)] == [0, 0, 100]  # at most
    now[0] += 101
    await lim.succeeded("wang", "a")
    assert [await lim.failed("wang", "a") for _ in range(3)] == [0, 0, 30]   # afresh


async def test_a_zero_rate_never_refills(make_limiter):
    lim = make_limiter(LoginPolicy(address_per_minute=0, address_burst=1), lambda: 5.0)
    assert await lim.admit("a", "x") == 0
    assert await lim.admit("a", "x") == math.inf


async def test_password_checks_run_on_their_own_thread_and_are_bounded(desk, monkeypatch):
    threads = []
    real = accounts_module.verify_password

    def spy(password, stored):
        threads.append(threading.current_thread().name)
        return real(password, stored)

    monkeypatch.setattr(accounts_module, "verify_password", spy)
    await desk.login("lily")
    assert threads and all(t.startswith("desk-password") for t in threads)
    checker = desk.store.accounts.passwords
    checker.pending = checker.queue_limit                  # as if that many were waiting
    r = await desk.client.post("/api/agent/login",
                               json={"username": "tom", "password": "demo-tom"})
    assert r.status == 503 and r.headers["Retry-After"] == "1"
    checker.pending = 0


# -- headers ---------------------------------------------------------------------------------
def csp(headers) -> dict:
    return {d.split()[0]: d.split()[1:] for d in
            (x.strip() for x in headers["Content-Security-Policy"].split(";")) if d}


async def test_every_kind_of_response_carries_the_headers(desk):
    cid, auth = await desk.new()
    pages = {"/": "storefront", "/p/P001": "storefront", "/console": "console",
             "/static/console.css": "file", "/api/openapi.json": "json",
             "/health": "json", "/api/desk/status": "json", "/nope": "error",
             "/api/conversations/x": "json-error", "/p/NOPE": "storefront"}
    for path, kind in pages.items():
        r = await desk.client.get(path)
        h = r.headers
        assert h["X-Content-Type-Options"] == "nosniff", path
        assert h["X-Frame-Options"] == "DENY", path
        assert h["Referrer-Policy"], path
        policy = csp(h)
        assert policy["frame-ancestors"] == ["'none'"], path
        assert policy["default-src"] == ["'none'"], path
        server = h.get("Server", "")
        assert "aiohttp" not in server.lower() and "python" not in server.lower(), path
        assert not any(ch.isdigit() for ch in server), (path, server)
        if kind == "console":
            assert policy["script-src"] == ["'self'"] and policy["style-src"] == ["'self'"]
            assert policy["connect-src"] == ["'self'"]
            assert h["Referrer-Policy"] == "no-referrer"
        elif kind == "storefront":
            assert policy["script-src"] == ["'self'"]
            assert "'unsafe-inline'" in policy["style-src"]      # the widget's <style>
            assert "'unsafe-inline'" not in policy["script-src"]
        else:
            assert "script-src" not in policy, path
    # the widget is loaded by other origins: CORS, no CSP or framing rule of ours
    r = await desk.client.get("/widget.js")
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert "Content-Security-Policy" not in r.headers
    # the shopper API keeps its CORS
    r = await desk.client.get(f"/api/conversations/{cid}", headers=auth)
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    # WebSocket handshakes too
    ws = await desk.client.ws_connect(f"/api/conversations/{cid}/ws",
                                      params={"token": auth["Authorization"][7:]})
    assert ws._response.headers["X-Content-Type-Options"] == "nosniff"
    assert "aiohttp" not in ws._response.headers.get("Server", "")
    await ws.close()


# -- identity --------------------------------------------------------------------------------
def signature(customer_id: str, secret: str = SECRET) -> str:
    return hmac.new(secret.encode(), customer_id.encode(), hashlib.sha256).hexdigest()


@pytest.mark.parametrize("claim", [
    {"customer_id": "C001"},                                   # a bare claim
    {"customer_id": "C001", "customer_sig": "0" * 64},         # a wrong signature
    {"customer_id": "C001", "customer_sig": signature("C002")},  # another's signature
    {"customer_id": "C001", "customer_sig": signature("C001", "other-secret")},
])
async def test_an_unsigned_customer_id_is_anonymous(desk, claim):
    cid, auth = await desk.new("zh", **claim)
    assert (await desk.conversation(cid))["customer_id"] is None
    await desk.say(cid, auth, "我的订单到哪了", metadata={"customer_id": "C001"})
    sent = desk.rasa.calls[-1]["metadata"]
    assert "customer_id" not in sent and "customer_sig" not in sent
    assert (await desk.conversation(cid))["customer_id"] is None


async def test_a_signed_customer_id_is_kept_and_passed_with_its_signature(desk):
    cid, auth = await desk.new("zh", customer_id="C001", customer_sig=signature("C001"))
    assert (await desk.conversation(cid))["customer_id"] == "C001"
    await desk.say(cid, auth, "我的订单到哪了")
    sent = desk.rasa.calls[-1]["metadata"]
    assert sent["customer_id"] == "C001" and sent["customer_sig"] == signature("C001")


async def test_a_signed_customer_id_in_a_message_identifies_an_anonymous_shopper(desk):
    cid, auth = await desk.new("en")
    await desk.say(cid, auth, "where is my order", metadata={
        "customer_id": "C002", "customer_sig": signature("C002")})
    assert (await desk.conversation(cid))["customer_id"] == "C002"
    assert desk.rasa.calls[-1]["metadata"]["customer_sig"] == signature("C002")
