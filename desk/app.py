"""The desk's HTTP app: the shopper API, the agent console API, both WebSockets, the
OpenAPI document, the demo storefront and the static files (docs/desk-api.md).

`create_app(settings)` builds everything on the app object (no module state); handlers
parse and authorize, then call `DeskService` (desk/service.py), never the store. What
most handlers share (log-in, body, the conversation, the JSON answer) is `endpoint`'s.
"""

from __future__ import annotations

import asyncio
import functools
import hmac
import logging
from datetime import date
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable, Optional

from aiohttp import WSMsgType, web

from catalog.queries import Catalog, CatalogError

from . import metrics, security, storefront
from .coordination import Coordination, coordination_for
from .errors import DeskError, Forbidden, NotFound
from .hub import Hub, hub_for
from .login_limit import limiter_for
from .openapi import openapi_document
from .rasa_client import RasaClient
from .service import DeskService
from .store import DeskStore

logger = logging.getLogger(__name__)

MAX_BODY = 64 * 1024
MAX_TEXT = 5000
MAX_WS_MESSAGE = 16 * 1024
STATIC_DIR = Path(__file__).resolve().parent / "static"
COOKIE = "sa_session"
# what a cross-origin widget may read of the shopper API's answers
EXPOSED_HEADERS = "X-Message-Id, X-Conversation-State, X-Queue-Position, X-Queue-Wait"

STORE = web.AppKey("store", DeskStore)
SERVICE = web.AppKey("service", DeskService)
HUB = web.AppKey("hub", Hub)
COORDINATION = web.AppKey("coordination", Coordination)
SETTINGS = web.AppKey("settings", object)
CATALOG = web.AppKey("catalog", Catalog)
RASA = web.AppKey("rasa", RasaClient)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def json_response(data: Any, *, status: int = 200,
                  headers: Optional[dict] = None) -> web.Response:
    """A JSON answer (never NaN or Infinity, desk/security.py)."""
    return web.json_response(data, status=status, headers=headers, dumps=security.dumps)


def json_error(status: int, message: str, **extra: Any) -> web.Response:
    return json_response({"error": message, **extra}, status=status)


def _is_shopper_api(path: str) -> bool:
    return path.startswith("/api/conversations") or path.startswith("/api/desk/")


async def ws_events(ws: web.WebSocketResponse) -> AsyncIterator[dict]:
    """The JSON objects a client sends on a socket, parsed as strictly as a body
    (desk/security.py); a malformed frame gets an error event and is skipped, binary
    frames and non-object JSON are ignored."""
    async for msg in ws:
        if msg.type != WSMsgType.TEXT:
            continue
        try:
            event = security.loads(msg.data)
        except DeskError as exc:
            await ws.send_json({"type": "error", "error": str(exc)}, dumps=security.dumps)
            continue
        if isinstance(event, dict):
            yield event


# -- middlewares ------------------------------------------------------------------------------
@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every error is JSON {"error"} with its status (pages and files too); a URL with a
    control character is refused first; CORS for the shopper API (the widget may be
    served from the shop's own origin; it authenticates with a bearer token, never a
    cookie)."""
    cors = _is_shopper_api(request.path)
    try:
        security.check_url(request.path, request.query_string)
    except DeskError as exc:
        return json_error(exc.status, str(exc))
    if cors and request.method == "OPTIONS":
        return web.Response(status=204, headers={
            "Access-Control-Allow-Origin": "*",
            "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
            "Access-Control-Allow-Headers": "Authorization, Content-Type",
            "Access-Control-Max-Age": "600"})
    try:
        resp = await handler(request)
    except DeskError as exc:
        resp = json_error(exc.status, str(exc), **exc.extra)
        if "retry_after_s" in exc.extra:
            resp.headers["Retry-After"] = str(exc.extra["retry_after_s"])
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        if exc.status == 413:
            message = "request body too large (limit 64 KiB)"
        elif exc.text and not exc.text.startswith(f"{exc.status}:"):
            message = exc.text                        # the handler's own words
        else:
            message = exc.reason.lower()
        resp = json_error(exc.status, message)
    except CatalogError as exc:
        logger.error("catalog error: %s", exc)
        resp = json_error(503, "catalog unavailable")
    except asyncio.CancelledError:
        raise
    except Exception:  # noqa: BLE001 - a fault, answered as JSON and logged
        logger.exception("error in %s %s", request.method, request.path)
        resp = json_error(500, "internal error")
    if cors and not getattr(resp, "prepared", False):
        resp.headers["Access-Control-Allow-Origin"] = "*"
        resp.headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
    return resp


# -- request helpers ---------------------------------------------------------------------------
async def read_json(request: web.Request) -> dict:
    """The body as a JSON object: 413 when too large, 400 when not UTF-8 JSON object."""
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise DeskError("request body too large (limit 64 KiB)", 413)
    raw = await request.content.read(MAX_BODY + 1)
    if len(raw) > MAX_BODY:
        raise DeskError("request body too large (limit 64 KiB)", 413)
    if not raw.strip():
        return {}
    data = security.loads(raw)
    if not isinstance(data, dict):
        raise DeskError("body must be a JSON object")
    return data


# characters that show nothing: a text made only of these (and spaces) is empty
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e"), None)


def text_field(body: dict, name: str = "text", *, required: bool = True,
               limit: int = MAX_TEXT) -> str:
    value = body.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise DeskError(f"{name!r} must be a string")
    if len(value) > limit:
        raise DeskError(f"{name!r} is longer than {limit} characters", 413)
    if required and not value.translate(_INVISIBLE).strip():
        raise DeskError(f"{name!r} is empty")
    return value


def _locale(value: Any, request: web.Request, default: str) -> str:
    if value in ("zh", "en"):
        return value
    accept = request.headers.get("Accept-Language", "")
    for part in accept.split(","):
        tag = part.split(";")[0].strip().lower()[:2]
        if tag in ("zh", "en"):
            return tag
    return default if default in ("zh", "en") else "zh"


def _bearer(request: web.Request) -> str:
    auth = request.headers.get("Authorization", "")
    return auth[7:].strip() if auth.lower().startswith("bearer ") else ""


async def _shopper_conversation(request: web.Request, token: str | None = None) -> dict:
    return await request.app[SERVICE].authorize_shopper(
        request.match_info["id"], token if token is not None else _bearer(request))


def _own_origin(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}"


def _origin_ok(request: web.Request) -> bool:
    origin = request.headers.get("Origin")
    if origin is None:
        return True                       # not a browser, or a same-origin GET
    allowed = {_own_origin(request), *request.app[SETTINGS].desk_origins}
    return origin.rstrip("/") in allowed


async def current_agent(request: web.Request, *, write: bool = False,
                        supervisor: bool = False) -> dict:
    """The logged-in agent; 401 without a session, 403 without CSRF/origin on writes."""
    found = await request.app[SERVICE].session(request.cookies.get(COOKIE, ""))
    if found is None:
        raise DeskError("log in first", 401)
    agent, csrf = found
    if write:
        if not _origin_ok(request):
            raise Forbidden("cross-origin request refused")
        if not hmac.compare_digest(request.headers.get("X-CSRF-Token", ""), csrf):
            raise Forbidden("missing or wrong X-CSRF-Token")
    if supervisor and agent["role"] != "supervisor":
        raise Forbidden("supervisors only")
    request["csrf"] = csrf
    return agent


def _path_id(request: web.Request, name: str, missing: str) -> int:
    """A positive integer id from the path; a path that names none is 404 `missing`."""
    try:
        return security.int_param(request.match_info[name], name, minimum=1)
    except DeskError:
        raise NotFound(missing) from None


# -- the handlers' common part -------------------------------------------------------------------
DataHandler = Callable[..., Awaitable[Any]]


def endpoint(*, agent: bool = False, write: bool = False, supervisor: bool = False,
             body: bool = False, conversation: bool = False,
             status: int = 200) -> Callable[[DataHandler], Handler]:
    """What a handler shares with the others, done once, in this order: the logged-in
    `agent` when it is the agent API's (401; 403 without CSRF and origin when `write`,
    or for a non-supervisor when `supervisor`), its JSON `body` when it takes one (413,
    400), then the `conv` it acts on (`conversation`): the path's conversation the agent
    may open, or the one the shopper's bearer token opens (401, 404). The handler gets
    them as keyword arguments and returns the data of its JSON answer, sent with
    `status`, or a response of its own; errors are DeskErrors (errors_middleware)."""
    def decorate(handler: DataHandler) -> Handler:
        @functools.wraps(handler)
        async def run(request: web.Request) -> web.StreamResponse:
            parts = {}
            if agent:
                parts["agent"] = await current_agent(request, write=write,
                                                     supervisor=supervisor)
            if body:
                parts["body"] = await read_json(request)
            if conversation:
                parts["conv"] = await (_agent_conversation(request, parts["agent"]) if agent
                                       else _shopper_conversation(request))
            result = await handler(request, **parts)
            if isinstance(result, web.StreamResponse):
                return result
            return json_response(result, status=status)
        return run
    return decorate


# -- shopper API --------------------------------------------------------------------------------
@endpoint(body=True, status=201)
async def create_conversation(request: web.Request, body: dict) -> dict:
    locale = _locale(body.get("locale"), request, request.app[SETTINGS].default_language)
    page = body.get("page") if isinstance(body.get("page"), dict) else {}
    conv, token = await request.app[SERVICE].create_conversation(
        locale, page, body.get("customer_id"), body.get("customer_sig"))
    return {"conversation_id": conv["conversation_id"], "token": token,
            "state": conv["state"], "locale": conv["locale"]}


@endpoint(conversation=True)
async def get_conversation(request: web.Request, conv: dict) -> dict:
    return await request.app[SERVICE].conversation_view(conv)


@endpoint(body=True, conversation=True)
async def post_message(request: web.Request, body: dict, conv: dict) -> web.Response:
    text = text_field(body)
    client_id = body.get("client_id")
    if client_id is not None and (not isinstance(client_id, str) or len(client_id) > 100):
        raise DeskError("'client_id' must be a string of at most 100 characters")
    metadata = body.get("metadata") if isinstance(body.get("metadata"), dict) else {}
    result = await request.app[SERVICE].shopper_message(conv, text, client_id or None,
                                                        metadata)
    return shopper_replies_response(result)


def shopper_replies_response(result: dict) -> web.Response:
    """The contract's answer to a shopper message: the body is the JSON list of
    the replies for the shopper now; the stored message's id, the conversation's state and
    the queue place travel in headers (exposed to the widget by CORS)."""
    headers = {"X-Message-Id": str(result["message"]["id"]),
               "X-Conversation-State": result["state"]}
    queue = result.get("queue")
    if result["state"] == "queued" and queue:
        headers["X-Queue-Position"] = str(queue["position"])
        if queue.get("estimated_wait_s") is not None:     # none: nobody present to serve
            headers["X-Queue-Wait"] = str(queue["estimated_wait_s"])
    return json_response(result["replies"], headers=headers)


@endpoint(conversation=True)
async def get_messages(request: web.Request, conv: dict) -> list:
    after = security.int_param(request.query.get("after", "0") or "0", "after")
    return await request.app[SERVICE].history(conv["conversation_id"], after)


@endpoint(body=True, conversation=True, status=201)
async def post_contact(request: web.Request, body: dict, conv: dict) -> dict:
    contact = text_field(body, "contact", limit=200)
    text = text_field(body)
    return await request.app[SERVICE].leave_contact(conv, contact, text)


@endpoint(body=True, conversation=True, status=201)
async def post_rating(request: web.Request, body: dict, conv: dict) -> dict:
    """The shopper rates the conversation cycle just resolved (1–5, a comment)."""
    score = body.get("score")
    if isinstance(score, bool) or not isinstance(score, int):
        raise DeskError("'score' must be an integer from 1 to 5")
    comment = text_field(body, "comment", required=False, limit=1000).strip() or None
    return await request.app[SERVICE].rate(conv, score, comment)


async def desk_status(request: web.Request) -> web.Response:
    locale = request.query.get("locale")
    locale = locale if locale in ("zh", "en") else None
    return json_response(await request.app[SERVICE].desk_status(locale))


async def shopper_ws(request: web.Request) -> web.StreamResponse:
    conv = await _shopper_conversation(request, request.query.get("token", ""))
    cid = conv["conversation_id"]
    ws = web.WebSocketResponse(heartbeat=30, max_msg_size=MAX_WS_MESSAGE)
    await ws.prepare(request)
    hub, service = request.app[HUB], request.app[SERVICE]
    hub.add_shopper(cid, ws)
    try:
        await ws.send_json(await service.shopper_status(conv), dumps=security.dumps)
        async for event in ws_events(ws):
            if event.get("type") == "typing":
                await service.shopper_typing(cid, bool(event.get("on")))
    finally:
        hub.remove_shopper(cid, ws)
    return ws


# -- agent API ---------------------------------------------------------------------------------
async def agent_login(request: web.Request) -> web.Response:
    if not _origin_ok(request):
        raise Forbidden("cross-origin request refused")
    body = await read_json(request)
    username, password = body.get("username"), body.get("password")
    if not isinstance(username, str) or not isinstance(password, str):
        raise DeskError("username and password are needed")
    if len(username) > 200 or len(password) > 200:
        raise DeskError("username or password too long (at most 200 characters)")
    settings = request.app[SETTINGS]
    agent, sid, csrf = await request.app[SERVICE].login(
        username, password, settings.desk_session_hours, request.remote or "")
    resp = json_response({"agent": agent, "csrf_token": csrf})
    resp.set_cookie(COOKIE, sid, httponly=True, samesite="Strict", path="/",
                    secure=settings.desk_secure_cookie,
                    max_age=settings.desk_session_hours * 3600)
    return resp


@endpoint(agent=True, write=True)
async def agent_logout(request: web.Request, agent: dict) -> web.Response:
    await request.app[SERVICE].logout(request.cookies.get(COOKIE, ""))
    resp = json_response({"ok": True})
    resp.del_cookie(COOKIE, path="/")
    return resp


@endpoint(agent=True)
async def agent_me(request: web.Request, agent: dict) -> dict:
    return {"agent": agent, "csrf_token": request["csrf"]}


@endpoint(agent=True, write=True, body=True)
async def agent_status(request: web.Request, agent: dict, body: dict) -> dict:
    status = body.get("status")
    if status not in ("online", "away"):
        raise DeskError("status must be online or away")
    return await request.app[SERVICE].set_status(agent, status)


@endpoint(agent=True)
async def agent_conversations(request: web.Request, agent: dict) -> dict:
    return await request.app[SERVICE].agent_lists(agent)


async def _agent_conversation(request: web.Request, agent: dict) -> dict:
    return await request.app[SERVICE].conversation_for_agent(agent,
                                                             request.match_info["id"])


@endpoint(agent=True, conversation=True)
async def agent_conversation(request: web.Request, agent: dict, conv: dict) -> dict:
    return await request.app[SERVICE].conversation_detail(conv, agent)


def _lang(value: Any) -> Optional[str]:
    """The language the agent reads the desk's explanations in ("zh"/"en"), if given."""
    return value if value in ("zh", "en") else None


@endpoint(agent=True, write=True, body=True, conversation=True)
async def agent_send(request: web.Request, agent: dict, body: dict, conv: dict) -> dict:
    sid = body.get("suggestion_id")
    if sid is not None:
        security.int_field(sid, "suggestion_id")
    text = text_field(body, required=sid is None)      # a suggestion's text by default
    return await request.app[SERVICE].agent_send(
        conv, agent, text, sid, confirm=body.get("confirm") is True,
        use_new=body.get("use_new") is True, lang=_lang(body.get("lang")))


@endpoint(agent=True, write=True)
async def agent_skip(request: web.Request, agent: dict) -> dict:
    sid = _path_id(request, "sid", "no such suggestion")
    return {"suggestion": await request.app[SERVICE].skip_suggestion(sid, agent)}


@endpoint(agent=True, write=True, body=True, conversation=True)
async def agent_resolve(request: web.Request, agent: dict, body: dict, conv: dict) -> dict:
    return await request.app[SERVICE].resolve(
        conv["conversation_id"], agent, confirm=body.get("confirm") is True,
        lang=_lang(body.get("lang")))


@endpoint(agent=True, write=True, body=True, conversation=True, status=201)
async def agent_note(request: web.Request, agent: dict, body: dict, conv: dict) -> dict:
    return await request.app[SERVICE].add_note(conv, agent,
                                               text_field(body, limit=2000).strip())


@endpoint(agent=True, write=True, body=True, conversation=True)
async def agent_labels(request: web.Request, agent: dict, body: dict, conv: dict) -> dict:
    labels = body.get("labels")
    if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
        raise DeskError("'labels' must be a list of strings")
    return await request.app[SERVICE].set_labels(conv, labels)


@endpoint(agent=True, write=True, body=True, conversation=True)
async def agent_read(request: web.Request, agent: dict, body: dict, conv: dict) -> dict:
    upto = body.get("upto")
    if upto is not None:
        security.int_field(upto, "upto", minimum=0)
    return await request.app[SERVICE].mark_read(conv, agent, upto)


@endpoint(agent=True, write=True, supervisor=True, body=True)
async def agent_reassign(request: web.Request, agent: dict, body: dict) -> dict:
    to = security.int_field(body.get("agent_id"), "agent_id")
    reason = text_field(body, "reason", limit=500)
    return await request.app[SERVICE].reassign(request.match_info["id"], to, reason, agent)


@endpoint(agent=True)
async def agent_list(request: web.Request, agent: dict) -> list:
    cid = request.query.get("conversation_id") or None
    return await request.app[SERVICE].agents(cid)


@endpoint(agent=True, write=True, supervisor=True, body=True)
async def agent_caps(request: web.Request, agent: dict, body: dict) -> dict:
    """Supervisors: set an agent's concurrent and/or daily cap."""
    agent_id = _path_id(request, "agent_id", "no such agent")
    caps = {}
    for name in ("cap", "daily_cap"):
        value = body.get(name)
        caps[name] = None if value is None else security.int_field(value, name, minimum=0)
    if caps["cap"] is None and caps["daily_cap"] is None:
        raise DeskError("give 'cap' and/or 'daily_cap'")
    return await request.app[SERVICE].set_caps(agent_id, caps["cap"], caps["daily_cap"])


@endpoint(agent=True)
async def agent_canned(request: web.Request, agent: dict) -> list:
    """Canned replies of a language (default: the agent's first), or, with `q`, those
    whose title or text has it, in both languages unless `locale` is given."""
    query = request.query.get("q", "")[:100]
    locale = request.query.get("locale")
    if locale not in ("zh", "en"):
        locale = None if query else (agent["languages"] or ["zh"])[0]
    return await request.app[SERVICE].canned(locale, query)


def _day(value: str, name: str) -> str:
    try:
        if len(value) != 10:
            raise ValueError
        date.fromisoformat(value)
    except ValueError:
        raise DeskError(f"{name!r} must be a date YYYY-MM-DD") from None
    return value


MAX_METRICS_DAYS = 92


async def _metrics(request: web.Request) -> dict:
    await current_agent(request, supervisor=True)
    service = request.app[SERVICE]
    q = request.query
    if q.get("from") or q.get("to"):
        first = _day(q.get("from") or q.get("to"), "from")
        last = _day(q.get("to") or first, "to")
        span = (date.fromisoformat(last) - date.fromisoformat(first)).days
        if not 0 <= span < MAX_METRICS_DAYS:
            raise DeskError(f"'from' must not be after 'to', at most {MAX_METRICS_DAYS} days")
    else:
        first = last = _day(q.get("day") or service.today(), "day")
    return await service.metrics(first, last)


async def agent_metrics(request: web.Request) -> web.Response:
    """Supervisors: the figures of a day (`day`, default today, shop time) or of the days
    `from`..`to` (desk/metrics.py)."""
    return json_response(await _metrics(request))


async def agent_metrics_csv(request: web.Request) -> web.Response:
    """Supervisors: one table of the figures as CSV (summary, agents, hours, days,
    response_distribution)."""
    table = request.match_info["table"]
    if table not in metrics.CSV_TABLES:
        raise NotFound(f"no table {table!r}")
    figures = await _metrics(request)
    name = f"shopassist-{table}-{figures['period']['from']}_{figures['period']['to']}.csv"
    return web.Response(text=metrics.to_csv(figures, table), content_type="text/csv",
                        charset="utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})


async def agent_ws(request: web.Request) -> web.StreamResponse:
    if not _origin_ok(request):
        raise Forbidden("cross-origin WebSocket refused")
    agent = await current_agent(request)
    # the socket is the console's presence: a dead connection is found within ~15 s
    ws = web.WebSocketResponse(heartbeat=15, max_msg_size=MAX_WS_MESSAGE)
    await ws.prepare(request)
    hub, service = request.app[HUB], request.app[SERVICE]
    hub.add_agent(agent, ws)
    try:
        await ws.send_json(await service.agent_connected(agent), dumps=security.dumps)
        async for event in ws_events(ws):
            if event.get("type") == "heartbeat":
                await ws.send_json(await service.agent_heartbeat(agent), dumps=security.dumps)
            elif event.get("type") == "typing":
                await service.agent_typing(agent, str(event.get("conversation_id") or ""),
                                           bool(event.get("on")))
    finally:
        hub.remove_agent(agent["agent_id"], ws)
    return ws


# -- pages, static, health, OpenAPI ---------------------------------------------------------------
async def health(request: web.Request) -> web.Response:
    await request.app[SERVICE].health()
    return json_response({"status": "ok"})


async def openapi(request: web.Request) -> web.Response:
    return json_response(openapi_document())


def _static_file(name: str) -> web.StreamResponse:
    try:
        path = (STATIC_DIR / name).resolve()
        found = STATIC_DIR.resolve() in path.parents and path.is_file()
    except (OSError, ValueError):           # e.g. a name no file system accepts
        found = False
    if not found:
        raise web.HTTPNotFound(text="not found")
    return web.FileResponse(path, headers={"Cache-Control": "no-cache"})


async def widget_js(request: web.Request) -> web.StreamResponse:
    return _static_file("widget.js")


async def console_page(request: web.Request) -> web.StreamResponse:
    return _static_file("console.html")


async def static_file(request: web.Request) -> web.StreamResponse:
    return _static_file(request.match_info["path"])


def _page_lang(request: web.Request) -> str:
    return _locale(request.query.get("lang"), request,
                   request.app[SETTINGS].default_language)


async def index_page(request: web.Request) -> web.Response:
    html = await asyncio.get_running_loop().run_in_executor(
        None, storefront.render_index, request.app[CATALOG], _page_lang(request))
    return web.Response(text=html, content_type="text/html", charset="utf-8")


async def product_page(request: web.Request) -> web.Response:
    html = await asyncio.get_running_loop().run_in_executor(
        None, storefront.render_product, request.app[CATALOG],
        request.match_info["product_id"], _page_lang(request))
    if html is None:
        raise web.HTTPNotFound(text="no such product")
    return web.Response(text=html, content_type="text/html", charset="utf-8")


# -- the factory --------------------------------------------------------------------------------
@endpoint(agent=True)
async def agent_reviews(request: web.Request, agent: dict) -> dict:
    """The review list: entries the agent may see that nobody reviewed yet."""
    return await request.app[SERVICE].pending_reviews(agent)


@endpoint(agent=True, write=True)
async def agent_review(request: web.Request, agent: dict) -> dict:
    """Confirm or correct one entry: {"intent", "entities"?} (a path that names no
    entry is 404 before the body is read)."""
    rid = _path_id(request, "rid", "no such review")
    body = await read_json(request)
    return {"review": await request.app[SERVICE].review(
        agent, rid, body.get("intent"), body.get("entities"))}


@endpoint(agent=True)
async def agent_review_counts(request: web.Request, agent: dict) -> dict:
    return await request.app[SERVICE].review_counts(agent)


ROUTES = [
    ("GET", "/health", health),
    ("GET", "/api/openapi.json", openapi),
    ("POST", "/api/conversations", create_conversation),
    ("GET", "/api/conversations/{id}", get_conversation),
    ("POST", "/api/conversations/{id}/messages", post_message),
    ("GET", "/api/conversations/{id}/messages", get_messages),
    ("GET", "/api/conversations/{id}/ws", shopper_ws),
    ("POST", "/api/conversations/{id}/contact", post_contact),
    ("POST", "/api/conversations/{id}/rating", post_rating),
    ("GET", "/api/desk/status", desk_status),
    ("POST", "/api/agent/login", agent_login),
    ("POST", "/api/agent/logout", agent_logout),
    ("GET", "/api/agent/me", agent_me),
    ("POST", "/api/agent/status", agent_status),
    ("GET", "/api/agent/agents", agent_list),
    ("POST", "/api/agent/agents/{agent_id}/caps", agent_caps),
    ("GET", "/api/agent/conversations", agent_conversations),
    ("GET", "/api/agent/conversations/{id}", agent_conversation),
    ("POST", "/api/agent/conversations/{id}/messages", agent_send),
    ("POST", "/api/agent/conversations/{id}/resolve", agent_resolve),
    ("POST", "/api/agent/conversations/{id}/reassign", agent_reassign),
    ("POST", "/api/agent/conversations/{id}/notes", agent_note),
    ("POST", "/api/agent/conversations/{id}/labels", agent_labels),
    ("POST", "/api/agent/conversations/{id}/read", agent_read),
    ("POST", "/api/agent/suggestions/{sid}/skip", agent_skip),
    ("GET", "/api/agent/canned", agent_canned),
    ("GET", "/api/agent/reviews", agent_reviews),
    ("GET", "/api/agent/reviews/counts", agent_review_counts),
    ("POST", "/api/agent/reviews/{rid}", agent_review),
    ("GET", "/api/agent/metrics", agent_metrics),
    ("GET", "/api/agent/metrics/{table}.csv", agent_metrics_csv),
    ("GET", "/api/agent/ws", agent_ws),
    ("GET", "/", index_page),
    ("GET", "/p/{product_id}", product_page),
    ("GET", "/widget.js", widget_js),
    ("GET", "/console", console_page),
    ("GET", "/static/{path:.+}", static_file),
]


def create_app(settings, *, rasa: Optional[RasaClient] = None,
               catalog: Optional[Catalog] = None,
               store: Optional[DeskStore] = None) -> web.Application:
    """The desk app. `rasa`, `catalog` and `store` default to the ones the settings name
    (tests pass their own)."""
    app = web.Application(middlewares=[errors_middleware], client_max_size=MAX_BODY)
    store = store or DeskStore.from_settings(settings)
    rasa = rasa or RasaClient(settings.rasa_url, timeout=settings.desk_rasa_timeout,
                              max_in_flight=settings.desk_rasa_concurrency)
    catalog = catalog or Catalog(settings.catalog_path)
    hub = hub_for(settings)
    coordination = coordination_for(settings)
    app[SETTINGS] = settings
    app[STORE] = store
    app[RASA] = rasa
    app[CATALOG] = catalog
    app[HUB] = hub
    app[COORDINATION] = coordination
    app[SERVICE] = DeskService(settings, store, rasa, catalog, hub,
                               login_limiter=limiter_for(settings),
                               coordination=coordination)
    for method, path, handler in ROUTES:
        app.router.add_route(method, path, handler)

    async def on_startup(app: web.Application) -> None:
        await app[HUB].start()              # events from the other replicas, if any
        await app[COORDINATION].start()     # the timer's leader, leases (several replicas)
        if settings.desk_demo_agents:
            await app[STORE].accounts.ensure_demo_agents()
        await app[SERVICE].recover()        # before the first request: answered in order
        app[SERVICE].start()

    async def on_shutdown(app: web.Application) -> None:
        await app[HUB].close_all()

    async def on_cleanup(app: web.Application) -> None:
        await app[SERVICE].close()
        await app[COORDINATION].stop()
        await app[HUB].stop()
        await app[RASA].close()
        app[STORE].close()

    async def on_response_prepare(request: web.Request,
                                  response: web.StreamResponse) -> None:
        security.security_headers(request.path, response.headers)

    app.on_response_prepare.append(on_response_prepare)
    app.on_startup.append(on_startup)
    app.on_shutdown.append(on_shutdown)
    app.on_cleanup.append(on_cleanup)
    return app
