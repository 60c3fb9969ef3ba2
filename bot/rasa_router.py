"""Several Rasa servers behind one address: each conversation always goes to the same one.

A Rasa server answers on one CPU core. With `SHOPASSIST_RASA_WORKERS` > 1, `shopassist
run` starts that many Rasa servers on private ports (127.0.0.1) and this router on the
public one (5005, on `settings.bind_host`). The router forwards Rasa's REST channel
(`/webhooks/rest/webhook`, by `sender`) and HTTP API (`/conversations/{id}/...`, by id) to
the worker chosen by a stable hash of the conversation id, so each conversation is always
handled by the same worker (its tracker is read from and written to the shared SQL
tracker store, `bot/tracker_store.py`). Other paths (`/status`, `/model/parse`,
`/version`) go to the workers in turn. Responses come back unchanged.

The same rules as on the workers (`bot/api_guard.py`), applied before anything is
forwarded: the REST channel's body is read strictly (a 4xx JSON error, never a 500;
the router needs the sender anyway), and every other path needs the API token. When a
conversation's worker is down or restarting (its port closed until its model is loaded
and warm), the router answers at once with 503 JSON and `Retry-After`, and keeps serving
the conversations of the other workers.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import zlib

from aiohttp import ClientError, ClientSession, ClientTimeout, TCPConnector, web

from bot.api_guard import (MAX_BODY_BYTES, MAX_REQUEST_BYTES, REST_WEBHOOK, Rejected,
                           parse_rest_body, token_rejection)

HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "content-length", "host",
               "content-encoding"}
SERVER_HEADER = "shopassist"       # not aiohttp's, which names its version
RETRY_AFTER_S = "1"
SESSION = web.AppKey("session", ClientSession)


def worker_for(conversation_id: str, n: int) -> int:
    """The worker (0..n-1) that owns a conversation: stable across restarts."""
    return zlib.crc32(conversation_id.encode("utf-8", "surrogatepass")) % n


def refuse(rejected: Rejected) -> web.Response:
    return web.json_response(rejected.body(), status=rejected.status)


def create_app(workers: list[str], token: str, timeout: float = 60.0) -> web.Application:
    app = web.Application(client_max_size=MAX_REQUEST_BYTES)
    turn = itertools.cycle(range(len(workers)))

    async def on_startup(app: web.Application) -> None:
        app[SESSION] = ClientSession(
            connector=TCPConnector(limit=0, keepalive_timeout=60),
            timeout=ClientTimeout(total=timeout), auto_decompress=False)

    async def on_cleanup(app: web.Application) -> None:
        await app[SESSION].close()

    async def on_response_prepare(_request: web.Request, resp: web.StreamResponse) -> None:
        resp.headers["Server"] = SERVER_HEADER

    app.on_startup.append(on_startup)
    app.on_cleanup.append(on_cleanup)
    app.on_response_prepare.append(on_response_prepare)

    async def read_body(request: web.Request) -> bytes:
        if request.path == REST_WEBHOOK and (request.content_length or 0) > MAX_BODY_BYTES:
            raise Rejected(413, f"body larger than {MAX_BODY_BYTES} bytes")
        try:
            return await request.read()
        except web.HTTPRequestEntityTooLarge:
            raise Rejected(413, f"body larger than {MAX_REQUEST_BYTES} bytes") from None

    async def forward(request: web.Request) -> web.StreamResponse:
        try:
            body = await read_body(request)
            if request.path == REST_WEBHOOK and request.method == "POST":
                key = parse_rest_body(body)["sender"]
            else:
                if not (request.path == REST_WEBHOOK and request.method == "OPTIONS"):
                    rejected = token_rejection(request.query.get("token"), token)
                    if rejected:
                        raise rejected
                key = request.match_info.get("cid")
        except Rejected as rejected:
            return refuse(rejected)
        idx = worker_for(key, len(workers)) if key is not None else next(turn)
        url = workers[idx] + request.rel_url.path_qs
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_HEADERS}
        try:
            async with app[SESSION].request(request.method, url, data=body,
                                              headers=headers) as resp:
                payload = await resp.read()
                out_headers = {k: v for k, v in resp.headers.items()
                               if k.lower() not in HOP_HEADERS}
                return web.Response(status=resp.status, body=payload, headers=out_headers)
        except (ClientError, OSError, asyncio.TimeoutError) as exc:
            # down, restarting (port closed until warm) or killed mid-answer: retry soon
            return web.json_response(
                {"error": f"Rasa worker {idx + 1} is unavailable ({type(exc).__name__}); "
                          "try again shortly"},
                status=503, headers={"Retry-After": RETRY_AFTER_S})

    app.router.add_route("*", "/conversations/{cid}/{tail:.*}", forward)
    app.router.add_route("*", "/{tail:.*}", forward)
    return app


def main() -> None:
    from bot.api_token import rasa_api_token
    from bot.settings import get_settings

    settings = get_settings()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--host", default=settings.bind_host,
                    help="interface to listen on (default: SHOPASSIST_BIND_HOST)")
    ap.add_argument("--worker", action="append", required=True,
                    help="base URL of a Rasa server (repeat)")
    args = ap.parse_args()
    try:
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:  # pragma: no cover - uvloop comes with Rasa
        pass
    web.run_app(create_app(args.worker, rasa_api_token(settings)), host=args.host,
                port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
