"""What is public on the Rasa side, and what a message to it must look like.

Only Rasa's REST channel (`POST /webhooks/rest/webhook`) is public. Every other path of a
Rasa server (`/`, `/version`, `/status`, the conversation and model API) and of the action
server answers 401 without the token (`bot/api_token.py`) and 403 with a wrong one. A body
sent to the REST channel is read strictly before Rasa sees it, and refused with a 4xx JSON
error (`{"error": ...}`) instead of Rasa's 500:

- at most `MAX_BODY_BYTES`, UTF-8, one JSON object (no array or scalar), strict JSON
  (`NaN`, `Infinity` refused), nested at most `MAX_DEPTH` deep, no unpaired surrogates;
- `sender`: a non-empty string of at most `MAX_SENDER_CHARS` characters (Rasa's SQL
  tracker store keeps 255);
- `message`: a string of at most `MAX_MESSAGE_CHARS` characters (the desk's limit; an
  empty message is allowed, the bot answers it);
- `metadata`: an object, or absent / null; `input_channel`: a string, or absent.

`parse_rest_body` is used by the Rasa servers (`bot/rasa_server.py`, in every
configuration) and by the router (`bot/rasa_router.py`, which needs the sender to route
by); `install_sanic_guard` puts these rules in front of a Sanic app (Rasa's, rasa_sdk's).
"""

from __future__ import annotations

import json
from typing import Any

from bot.api_token import token_matches

REST_WEBHOOK = "/webhooks/rest/webhook"
MAX_BODY_BYTES = 128 * 1024        # the desk sends at most 64 KiB of its own
MAX_SENDER_CHARS = 255
MAX_MESSAGE_CHARS = 5000
MAX_DEPTH = 16                     # {"metadata": {"cart": [{...}]}} is 4
MAX_REQUEST_BYTES = 8 * 1024 * 1024  # any request to a Sanic app of ours (token or not)


class Rejected(Exception):
    """A request refused before it reaches Rasa: HTTP status and a short reason."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status
        self.reason = reason

    def body(self) -> dict:
        return {"error": self.reason}


def _no_constants(name: str) -> Any:
    raise Rejected(400, f"not strict JSON: {name}")


def parse_rest_body(body: bytes) -> dict:
    """The REST channel's message as a dict, or `Rejected` saying what is wrong with it."""
    if len(body) > MAX_BODY_BYTES:
        raise Rejected(413, f"body larger than {MAX_BODY_BYTES} bytes")
    if not body.strip():
        raise Rejected(400, "empty body: expected a JSON object with sender and message")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise Rejected(400, "body is not UTF-8") from None
    try:
        data = json.loads(text, parse_constant=_no_constants)
    except RecursionError:
        raise Rejected(400, f"JSON nested deeper than {MAX_DEPTH}") from None
    except ValueError as exc:
        raise Rejected(400, f"body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise Rejected(400, "body must be a JSON object with sender and message, not "
                       + type(data).__name__)
    _check_depth_and_strings(data)
    sender = data.get("sender")
    if not isinstance(sender, str) or not sender:
        raise Rejected(400, "sender must be a non-empty string")
    if len(sender) > MAX_SENDER_CHARS:
        raise Rejected(400, f"sender longer than {MAX_SENDER_CHARS} characters")
    message = data.get("message")
    if not isinstance(message, str):
        raise Rejected(400, "message must be a string")
    if len(message) > MAX_MESSAGE_CHARS:
        raise Rejected(400, f"message longer than {MAX_MESSAGE_CHARS} characters")
    if data.get("metadata") is not None and not isinstance(data["metadata"], dict):
        raise Rejected(400, "metadata must be an object")
    if "input_channel" in data and not isinstance(data["input_channel"], str):
        raise Rejected(400, "input_channel must be a string")
    return data


def _check_depth_and_strings(data: Any) -> None:
    """Nesting depth and encodable strings, without recursion (the JSON is untrusted)."""
    stack = [(data, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            items = list(node.keys()) + list(node.values())
        elif isinstance(node, list):
            items = node
        elif isinstance(node, str):
            try:
                node.encode("utf-8")
            except UnicodeEncodeError:
                raise Rejected(400, "string with an unpaired surrogate") from None
            continue
        else:
            continue
        if depth > MAX_DEPTH:
            raise Rejected(400, f"JSON nested deeper than {MAX_DEPTH}")
        stack.extend((item, depth + 1) for item in items
                     if isinstance(item, (dict, list, str)))


def token_rejection(provided: str | None, token: str) -> Rejected | None:
    """None when `provided` is the token, else why not (401 missing, 403 wrong)."""
    if not provided:
        return Rejected(401, "this path needs the API token (?token=...)")
    if not token_matches(provided, token):
        return Rejected(403, "wrong API token")
    return None


def install_sanic_guard(app: Any, token: str, rest_channel: bool) -> None:
    """Only the REST channel (when `rest_channel`) without the token; its bodies strictly
    checked; Sanic's own errors (404, 405, 413) as JSON."""
    from sanic import response

    app.config.FALLBACK_ERROR_FORMAT = "json"
    app.config.REQUEST_MAX_SIZE = MAX_REQUEST_BYTES

    def refuse(rejected: Rejected):
        return response.json(rejected.body(), status=rejected.status)

    async def guard(request):
        if rest_channel and request.path == REST_WEBHOOK:
            if request.method == "POST":
                declared = request.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > len(request.body):
                    # above Sanic's REQUEST_MAX_SIZE the body is not read at all
                    return refuse(Rejected(413, f"body larger than {MAX_BODY_BYTES} bytes"))
                try:
                    # Rasa's channel reads `request.json`: parsed once, here, strictly
                    request.parsed_json = parse_rest_body(request.body)
                except Rejected as rejected:
                    return refuse(rejected)
            return None
        rejected = token_rejection(request.args.get("token"), token)
        return refuse(rejected) if rejected else None

    app.register_middleware(guard, "request")
