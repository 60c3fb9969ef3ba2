"""The router in front of the Rasa workers (bot/rasa_router.py), with a stand-in worker
that records what reaches it and a worker that is down: conversations stay on their
worker, a down worker's conversations get a quick 503 while the other's are served, bad
bodies and missing tokens are refused before anything is forwarded."""

from __future__ import annotations

import json
import time

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.rasa_router import create_app, worker_for
from tests.conftest import free_ports

TOKEN = "router-test-token-0123456789"


def sender_on(worker: int, prefix: str = "s") -> str:
    return next(f"{prefix}-{i}" for i in range(1000) if worker_for(f"{prefix}-{i}", 2)
                == worker)


@pytest.fixture()
async def router():
    seen: list[dict] = []

    async def record(request: web.Request) -> web.Response:
        seen.append({"method": request.method, "path": request.path,
                     "query": dict(request.query), "body": await request.read()})
        if b"SIGKILL" in seen[-1]["body"]:       # dies in the middle of its answer
            request.transport.close()
            raise web.HTTPInternalServerError()
        return web.json_response([{"recipient_id": "x", "text": "ok"}])

    worker_app = web.Application()
    worker_app.router.add_route("*", "/{tail:.*}", record)
    worker = TestServer(worker_app)
    await worker.start_server()
    (dead_port,) = free_ports(1)               # nothing listens there
    app = create_app([f"http://127.0.0.1:{worker.port}", f"http://127.0.0.1:{dead_port}"],
                     TOKEN)
    client = TestClient(TestServer(app))
    await client.start_server()
    client.seen = seen
    yield client
    await client.close()
    await worker.close()


async def test_a_conversation_goes_to_its_worker_unchanged(router):
    body = json.dumps({"sender": sender_on(0), "message": "疾风跑鞋有货吗",
                       "metadata": {"page": {"product_id": "P001"}}},
                      ensure_ascii=False).encode()
    resp = await router.post("/webhooks/rest/webhook", data=body)
    assert resp.status == 200
    assert await resp.json() == [{"recipient_id": "x", "text": "ok"}]
    assert router.seen == [{"method": "POST", "path": "/webhooks/rest/webhook",
                            "query": {}, "body": body}]
    assert resp.headers["Server"] == "shopassist"


async def test_a_down_workers_conversations_get_a_quick_503(router):
    started = time.monotonic()
    resp = await router.post("/webhooks/rest/webhook",
                             json={"sender": sender_on(1), "message": "在吗"})
    assert resp.status == 503
    assert (await resp.json())["error"]
    assert resp.headers["Retry-After"] == "1"
    assert time.monotonic() - started < 1.0
    # ... and the other worker's conversations are served meanwhile
    resp = await router.post("/webhooks/rest/webhook",
                             json={"sender": sender_on(0), "message": "在吗"})
    assert resp.status == 200


async def test_a_worker_dying_mid_answer_is_a_503(router):
    resp = await router.post("/webhooks/rest/webhook",
                             json={"sender": sender_on(0), "message": "SIGKILL"})
    assert resp.status == 503
    assert (await resp.json())["error"]


@pytest.mark.parametrize("body", [b"", b"[]", b"{\"sender\": \"a\", \"message\": NaN}",
                                  b"[" * 20000 + b"]" * 20000, b"\xff\xfe",
                                  b"{\"message\": \"hi\"}"])
async def test_bad_bodies_are_refused_before_forwarding(router, body):
    resp = await router.post("/webhooks/rest/webhook", data=body)
    assert resp.status == 400
    assert (await resp.json())["error"]
    assert router.seen == []


async def test_a_huge_body_is_refused_unread(router):
    resp = await router.post("/webhooks/rest/webhook", data=b"x" * (200 * 1024))
    assert resp.status == 413
    assert (await resp.json())["error"]
    assert router.seen == []


async def test_the_api_needs_the_token_before_anything_is_forwarded(router):
    cid = sender_on(1)               # its worker is down: a 503 would tell that much
    for path in ("/status", "/version", "/", f"/conversations/{cid}/tracker"):
        resp = await router.get(path)
        assert resp.status == 401, path
        resp = await router.get(path, params={"token": "nope"})
        assert resp.status == 403, path
    assert router.seen == []
    cid0 = sender_on(0)
    resp = await router.get(f"/conversations/{cid0}/tracker", params={"token": TOKEN})
    assert resp.status == 200
    assert router.seen[-1]["path"] == f"/conversations/{cid0}/tracker"
    assert router.seen[-1]["query"] == {"token": TOKEN}      # the worker checks it too
    resp = await router.get(f"/conversations/{cid}/tracker", params={"token": TOKEN})
    assert resp.status == 503
