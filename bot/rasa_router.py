"""Several Rasa servers behind one address: each conversation always goes to the same one.

A Rasa server answers on one CPU core. With `SHOPASSIST_RASA_WORKERS` > 1, `shopassist
run` starts that many Rasa servers on private ports and this router on the public one
(5005). The router forwards Rasa's REST channel (`/webhooks/rest/webhook`, by `sender`) and
HTTP API (`/conversations/{id}/...`, by id) to the worker chosen by a stable hash of the
conversation id, so each conversation's tracker lives in exactly one worker, with no shared
tracker or lock store needed. Other paths (`/status`, `/model/parse`, `/version`) go to the
workers in turn. Responses come back unchanged.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import zlib

from aiohttp import ClientSession, ClientTimeout, TCPConnector, web

HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "content-length", "host",
               "content-encoding"}


def worker_for(conversation_id: str, n: int) -> int:
    """The worker (0..n-1) that owns a conversation: stable across restarts."""
    return zlib.crc32(conversation_id.encode("utf-8", "surrogatepass")) % n


def create_app(workers: list[str], timeout: float = 60.0) -> web.Application:
    app = web.Application(client_max_size=2 * 1024 * 1024)
    app["workers"] = workers
    app["turn"] = itertools.cycle(range(len(workers)))

    async def on_startup(app: web.Application) -> None:
        app["session"] = ClientSession(
            connector=TCPConnector(limit=0, keepalive_timeout=60),
            timeout=ClientTimeout(total=timeout), auto_decompress=False)

    async def on_cleanup(app: web.Application) -> None:
        await app["session"].close()

    app.on_startup.append(on_startup)
    app.on_cleanup.append(on_cleanup)

    async def forward(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        key = None
        if request.path.rstrip("/").endswith("/webhook") and body:
            try:
                key = str(json.loads(body).get("sender") or "default")
            except (ValueError, AttributeError):
                key = None
        elif request.match_info.get("cid"):
            key = request.match_info["cid"]
        idx = worker_for(key, len(workers)) if key is not None else next(app["turn"])
        url = workers[idx] + request.rel_url.path_qs
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_HEADERS}
        try:
            async with app["session"].request(request.method, url, data=body,
                                              headers=headers) as resp:
                payload = await resp.read()
                out_headers = {k: v for k, v in resp.headers.items()
                               if k.lower() not in HOP_HEADERS}
                return web.Response(status=resp.status, body=payload, headers=out_headers)
        except (OSError, asyncio.TimeoutError) as exc:
            return web.json_response({"error": f"Rasa worker {idx} unavailable: {exc}"},
                                     status=503)

    app.router.add_route("*", "/conversations/{cid}/{tail:.*}", forward)
    app.router.add_route("*", "/{tail:.*}", forward)
    return app


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--worker", action="append", required=True,
                    help="base URL of a Rasa server (repeat)")
    args = ap.parse_args()
    try:
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:  # pragma: no cover - uvloop comes with Rasa
        pass
    web.run_app(create_app(args.worker), host="0.0.0.0", port=args.port,
                access_log=None, print=None)


if __name__ == "__main__":
    main()
