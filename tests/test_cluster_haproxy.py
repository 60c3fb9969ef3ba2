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


def _spare_desk_port() -> int:
    """A port p free with p + 101 and p + 102 (the replicas `shopassist cluster` puts
    beside it) free too."""
    import socket

    for _ in range(100):
        p = free_port()
        if p + 102 >= 65536:
            continue
        ok = True
        for q in (p + 101, p + 102):
            with socket.socket() as sock:
                try:
                    sock.bind(("127.0.0.1", q))
                except OSError:
                    ok = False
        if ok:
            return p
    raise AssertionError("no spare ports")


async def test_haproxy_killed_under_shopassist_cluster_is_restarted(tmp_path, demo_db):
    """`shopassist cluster` (with a stand-in Rasa: `--rasa-url`) supervises HAProxy like
    its other processes: SIGKILLed, it is reported and restarted, and the storefront
    answers again through it within seconds."""
    import os
    import re
    import signal
    import sys
    import time

    from bot.local_services import _which, pg_binary
    from tests.test_desk_api import start_fake_rasa

    haproxy_binary()
    try:
        pg_binary("initdb")
        _which("redis-server", "redis-server")
    except MissingBinary as exc:
        unavailable(exc)
    fake = await start_fake_rasa(demo_db)
    desk_port = _spare_desk_port()
    env = {**os.environ, "SHOPASSIST_DESK_PORT": str(desk_port),
           "SHOPASSIST_RASA_PORT": str(free_port()), "SHOPASSIST_CATALOG": str(demo_db)}
    log = tmp_path / "cluster.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "cluster", "--rasa-url",
                                 fake.url], cwd=ROOT, env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    storefront = f"http://127.0.0.1:{desk_port}/"
    loop = asyncio.get_running_loop()

    async def answers() -> bool:
        try:
            async with aiohttp.ClientSession() as s:
                async with s.get(storefront, timeout=aiohttp.ClientTimeout(total=2)) as r:
                    return r.status == 200
        except (aiohttp.ClientError, asyncio.TimeoutError):
            return False

    try:
        deadline = loop.time() + 120
        while not ("shopassist cluster is running" in log.read_text() and await answers()):
            assert proc.poll() is None, log.read_text()[-3000:]
            assert loop.time() < deadline, log.read_text()[-3000:]
            await asyncio.sleep(0.5)
        (pid,) = re.findall(r"starting HAProxy \(pid (\d+)", log.read_text())
        os.kill(int(pid), signal.SIGKILL)
        killed = time.monotonic()
        await asyncio.sleep(0.3)
        assert not await answers()                  # nobody in front any more
        while not await answers():
            assert time.monotonic() - killed < 10, log.read_text()[-3000:]
            await asyncio.sleep(0.2)
        text = log.read_text()
        assert re.search(rf"HAProxy \(pid {pid}\) died: killed by SIGKILL; restarting in 1 s",
                         text), text[-2000:]
        await asyncio.sleep(1)
        assert "HAProxy is back" in log.read_text()
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        await fake.server.close()
