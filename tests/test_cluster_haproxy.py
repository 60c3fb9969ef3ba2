"""HAProxy in front of the desk replicas and the Rasa servers (bot/cluster.py's
`haproxy_config`, deploy/haproxy.cfg): the file in the repository is what the generator
writes and HAProxy accepts it; run by Debian's HAProxy in front of two stand-in replicas
(each answers with its name), every request of one conversation (messages, history, the
WebSocket) reaches one replica, conversations are spread over all, other paths are
balanced, and when a replica dies only its conversations move (three stand-ins here, so
that "only" means something)."""

from __future__ import annotations

import asyncio
import subprocess

import aiohttp
import pytest
from aiohttp import web

from bot.cluster import Upstream, example_config, haproxy_config
from bot.local_services import LocalHAProxy, MissingBinary, free_port
from bot.settings import ROOT
from tests.cluster_support import unavailable

pytestmark = pytest.mark.e2e


def haproxy_binary() -> str:
    from bot.local_services import _which
    try:
        return _which("haproxy", "haproxy")
    except MissingBinary as exc:
        unavailable(exc)


def test_the_repositorys_config_is_the_generated_one_and_haproxy_accepts_it():
    assert (ROOT / "deploy" / "haproxy.cfg").read_text() == example_config()
    done = subprocess.run([haproxy_binary(), "-c", "-f", str(ROOT / "deploy" /
                                                             "haproxy.cfg")],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


async def stand_in(name: str, port: int) -> web.AppRunner:
    """A replica that says who it is, on every path, and on a WebSocket."""
    async def who(request):
        if request.path.endswith("/ws"):
            ws = web.WebSocketResponse()
            await ws.prepare(request)
            await ws.send_json({"replica": name})
            await ws.close()
            return ws
        return web.json_response({"replica": name})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", who)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner


async def test_one_conversation_one_replica_and_only_the_dead_ones_move():
    haproxy_binary()
    ports = [free_port(), free_port(), free_port()]
    desk_port, rasa_port = free_port(), free_port()
    runners = [await stand_in(f"desk{i + 1}", p) for i, p in enumerate(ports)]
    config = haproxy_config(
        [Upstream(f"desk{i + 1}", "127.0.0.1", p) for i, p in enumerate(ports)],
        [Upstream("rasa1", "127.0.0.1", free_port())],
        bind_host="127.0.0.1", desk_port=desk_port, rasa_port=rasa_port)
    proxy = LocalHAProxy(config)
    await asyncio.get_running_loop().run_in_executor(None, proxy.start, desk_port)
    base = f"http://127.0.0.1:{desk_port}"
    try:
        async with aiohttp.ClientSession() as s:
            async def replica(path, method="GET"):
                async with s.request(method, base + path) as r:
                    assert r.status == 200, await r.text()
                    return (await r.json())["replica"]

            await asyncio.sleep(2.5)                      # both checked healthy
            cids = [f"c{i:03d}会话" if i % 5 == 0 else f"{i:032x}" for i in range(60)]
            home = {}
            for cid in cids:
                seen = {await replica(f"/api/conversations/{cid}/messages", "POST"),
                        await replica(f"/api/conversations/{cid}/messages?after=3"),
                        await replica(f"/api/conversations/{cid}")}
                ws = await s.ws_connect(f"{base}/api/conversations/{cid}/ws?token=t")
                seen.add((await ws.receive_json(timeout=5))["replica"])
                await ws.close()
                assert len(seen) == 1, (cid, seen)        # one replica per conversation
                home[cid] = seen.pop()
            assert set(home.values()) == {"desk1", "desk2", "desk3"}
            # other paths: round robin over all
            assert {await replica("/api/agent/me") for _ in range(6)} == \
                {"desk1", "desk2", "desk3"}
            # desk1 dies: after its checks fail, only its conversations move
            await runners[0].cleanup()
            await asyncio.sleep(3.5)
            after = {cid: await replica(f"/api/conversations/{cid}/messages", "POST")
                     for cid in cids}
            assert all(after[c] == home[c] for c in cids if home[c] != "desk1")
            assert all(after[c] in ("desk2", "desk3") for c in cids if home[c] == "desk1")
            assert any(home[c] == "desk1" for c in cids)
    finally:
        proxy.stop()
        for r in runners[1:]:
            await r.cleanup()
