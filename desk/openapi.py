"""The OpenAPI 3 document of the desk's whole HTTP API, served at /api/openapi.json
(docs/desk-api.md explains the same in prose). A test checks that every route of the app
is in it."""

from __future__ import annotations

from typing import Any

J = "application/json"


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _body(schema: dict, required: bool = True) -> dict:
    return {"required": required, "content": {J: {"schema": schema}}}


def _ok(schema: dict, description: str = "OK", status: str = "200") -> dict:
    return {status: {"description": description, "content": {J: {"schema": schema}}}}


ERR = {"description": "error", "content": {J: {"schema": _ref("Error")}}}


def _op(summary: str, responses: dict, *, body: dict | None = None, tags=("shopper",),
        security: list | None = None, params: list | None = None,
        errors=("400", "403", "404")) -> dict:
    # any request can be refused with 400: a control character in its URL (desk/security.py);
    # any that reads or writes the desk's database, with 503 and Retry-After while its
    # PostgreSQL server is away (desk/store/postgres.py)
    always = ("400",) if list(tags) == ["pages"] else ("400", "503")
    op: dict[str, Any] = {"summary": summary, "tags": list(tags),
                          "responses": {**responses, **{e: ERR for e in (*always, *errors)}}}
    if body is not None:
        op["requestBody"] = body
    if security is not None:
        op["security"] = security
    if params:
        op["parameters"] = params
    return op


def _path_param(name: str, schema_type: str = "string") -> dict:
    return {"name": name, "in": "path", "required": True, "schema": {"type": schema_type}}


def _query(name: str, schema: dict, description: str = "") -> dict:
    return {"name": name, "in": "query", "required": False, "schema": schema,
            "description": description}


SHOPPER = [{"shopperToken": []}]
AGENT = [{"agentSession": []}]
AGENT_WRITE = [{"agentSession": [], "csrfToken": []}]
LOCALE = {"type": "string", "enum": ["zh", "en"]}
HTML = {"200": {"description": "HTML page", "content": {"text/html": {}}}}
DAY = {"type": "string", "format": "date"}
METRICS_PARAMS = [_query("day", DAY, "shop-local day, default today"),
                  _query("from", DAY, "first day of a range (with to; at most 92 days)"),
                  _query("to", DAY, "last day of a range")]
SHOPPER_REPLY_HEADERS = {
    "X-Message-Id": {"description": "id of the stored shopper message",
                     "schema": {"type": "integer"}},
    "X-Conversation-State": {"schema": {"type": "string",
                                        "enum": ["bot", "queued", "assigned", "resolved"]}},
    "X-Queue-Position": {"description": "only when queued", "schema": {"type": "integer"}},
    "X-Queue-Wait": {"description": "only when queued and someone is present for the "
                                    "language: estimated wait in seconds",
                     "schema": {"type": "integer"}}}


def openapi_document() -> dict:
    cid = _path_param("id")
    schemas = {
        "Error": {"type": "object", "required": ["error"], "properties": {
            "error": {"type": "string"},
            "retry_after_s": {"type": "integer", "description":
                              "429/503 and a log-in that started a lockout: seconds before "
                              "trying again (also the Retry-After header)"},
            "reason": {"type": "string", "description":
                       "a code for the console: facts_changed (send), unanswered (resolve), "
                       "away, language, at_cap, daily_cap, owner (reassign), not_resolved, "
                       "already_rated (rating), ..."},
            "changes": {"type": "array", "items": _ref("FactChange")},
            "redrafted": {"type": "object", "nullable": True, "description":
                          "facts_changed: the draft re-rendered with the new figures "
                          "(text, custom, facts), null when that cannot be done safely",
                          "properties": {"text": {"type": "string"},
                                         "custom": {"type": "object"},
                                         "facts": {"type": "object"}}},
            "choices": {"type": "array", "items": {"type": "object", "properties": {
                "action": {"type": "string",
                           "enum": ["send_anyway", "use_new", "cancel"]},
                "label": {"type": "string"}}}},
            "lang": LOCALE,
            "text": {"type": "string", "description": "unanswered: the warning in words"},
            "shopper_message": _ref("Message"),
            "agent": _ref("Agent")}},
        "FactChange": {"type": "object", "properties": {
            "field": {"type": "string"},
            "kind": {"type": "string", "enum": ["stock", "price", "ship_date", "catalog"]},
            "old": {}, "new": {},
            "text": {"type": "string", "description": "the change in the agent's language: "
                     "黑色42码库存现在是0（起草时是3） / Stock of black EU 42 is now 0 (was 3)"}}},
        "Button": {"type": "object", "properties": {"title": {"type": "string"},
                                                    "payload": {"type": "string"}}},
        "Message": {"type": "object", "required": ["id", "sender", "text", "created_at"],
                    "properties": {
                        "id": {"type": "integer"}, "conversation_id": {"type": "string"},
                        "sender": {"type": "string",
                                   "enum": ["shopper", "bot", "agent", "system"]},
                        "text": {"type": "string"},
                        "buttons": {"type": "array", "items": _ref("Button")},
                        "image": {"type": "string", "nullable": True},
                        "custom": {"type": "object", "nullable": True,
                                   "description": "catalog facts (stock, shipping, "
                                                  "price, ...) or system events"},
                        "created_at": {"type": "string", "format": "date-time"},
                        "client_id": {"type": "string", "nullable": True},
                        "agent_name": {"type": "string", "nullable": True}}},
        "Queue": {"type": "object", "properties": {
            "position": {"type": "integer", "description": "1 = next"},
            "estimated_wait_s": {"type": "integer", "nullable": True,
                                 "description": "null: nobody present for the language"},
            "agents_online": {"type": "integer"},
            "contact_form": {"type": "boolean",
                             "description": "true when nobody is present: offer it"}}},
        "NewConversation": {"type": "object", "properties": {
            "locale": LOCALE, "page": {"type": "object"},
            "customer_id": {"type": "string", "maxLength": 200},
            "customer_sig": {"type": "string", "description": "HMAC-SHA256 of customer_id "
                                                              "with the shop's secret, hex;"
                                                              " without it the shopper is "
                                                              "anonymous"}}},
        "ConversationCreated": {"type": "object", "properties": {
            "conversation_id": {"type": "string"}, "token": {"type": "string"},
            "state": {"type": "string"}, "locale": LOCALE}},
        "ShopperMessageIn": {"type": "object", "required": ["text"], "properties": {
            "text": {"type": "string", "maxLength": 5000},
            "client_id": {"type": "string", "maxLength": 100},
            "metadata": {"type": "object", "properties": {
                "page": {"type": "object", "properties": {
                    "product_id": {"type": "string"}, "url": {"type": "string"},
                    "title": {"type": "string"}}},
                "cart": {"type": "array", "items": {"type": "object", "properties": {
                    "product_id": {"type": "string"}, "sku": {"type": "string"},
                    "quantity": {"type": "number"}, "price": {"type": "number"}}}},
                "locale": LOCALE,
                "customer_id": {"type": "string"},
                "customer_sig": {"type": "string",
                                 "description": "counts only with a valid signature"}}}}},
        "ConversationState": {"type": "object", "properties": {
            "conversation_id": {"type": "string"}, "state": {"type": "string"},
            "locale": LOCALE,
            "agent": {"type": "object", "nullable": True,
                      "properties": {"display_name": {"type": "string"}}},
            "queue": {"allOf": [_ref("Queue")], "nullable": True},
            "rating_open": {"type": "boolean",
                            "description": "resolved: the shopper may rate this cycle"}}},
        "RatingIn": {"type": "object", "required": ["score"], "properties": {
            "score": {"type": "integer", "minimum": 1, "maximum": 5},
            "comment": {"type": "string", "maxLength": 1000}}},
        "Rating": {"type": "object", "properties": {
            "score": {"type": "integer"}, "comment": {"type": "string", "nullable": True},
            "created_at": {"type": "string"}}},
        "Contact": {"type": "object", "required": ["contact", "text"], "properties": {
            "contact": {"type": "string", "maxLength": 200},
            "text": {"type": "string", "maxLength": 5000}}},
        "DeskStatus": {"type": "object", "properties": {
            "open": {"type": "boolean"}, "hours": {"type": "string"},
            "agents_online": {"type": "integer"}, "queue_length": {"type": "integer"},
            "estimated_wait_s": {"type": "integer", "nullable": True}}},
        "Agent": {"type": "object", "properties": {
            "agent_id": {"type": "integer"}, "username": {"type": "string"},
            "display_name": {"type": "string"},
            "role": {"type": "string", "enum": ["agent", "supervisor"]},
            "languages": {"type": "array", "items": LOCALE},
            "status": {"type": "string", "enum": ["online", "away"],
                       "description": "presence now: online only while the console is "
                                      "connected (heartbeat within the grace period)"},
            "chosen_status": {"type": "string", "enum": ["online", "away"]},
            "last_seen_at": {"type": "string", "nullable": True},
            "active": {"type": "integer"}, "today": {"type": "integer"},
            "cap": {"type": "integer"}, "daily_cap": {"type": "integer"},
            "free": {"type": "integer"},
            "can_take": {"type": "boolean", "description": "GET /api/agent/agents only"},
            "why_not": {"type": "string", "nullable": True,
                        "enum": ["away", "language", "at_cap", "daily_cap", "owner", None]}}},
        "AgentSession": {"type": "object", "properties": {
            "agent": _ref("Agent"), "csrf_token": {"type": "string"}}},
        "Summary": {"type": "object", "properties": {
            "conversation_id": {"type": "string"}, "state": {"type": "string"},
            "locale": LOCALE, "agent_id": {"type": "integer", "nullable": True},
            "agent_name": {"type": "string", "nullable": True},
            "handoff_reason": {"type": "string", "nullable": True},
            "requested_discount_pct": {
                "type": "number", "nullable": True,
                "description": "handoff_reason discount: the discount the shopper asked "
                               "for, in percent (the bot's reading), null if none named"},
            "agent_status": {"type": "string", "nullable": True,
                             "enum": ["online", "away", None]},
            "last_message": {"allOf": [_ref("Message")], "nullable": True},
            "last_shopper_message": {"allOf": [_ref("Message")], "nullable": True,
                                     "description": "the row's preview"},
            "unread": {"type": "integer", "description": "shopper messages only"},
            "unanswered": {"type": "integer"},
            "waiting_since": {"type": "string", "nullable": True},
            "waiting_s": {"type": "integer", "nullable": True,
                          "description": "since the oldest unanswered shopper message"},
            "created_at": {"type": "string"}, "updated_at": {"type": "string"},
            "queued_at": {"type": "string", "nullable": True},
            "page": {"type": "object"}, "product_id": {"type": "string", "nullable": True},
            "product_name": {"type": "string", "nullable": True},
            "city": {"type": "string", "nullable": True},
            "customer_id": {"type": "string", "nullable": True},
            "contact": {"type": "string", "nullable": True},
            "shopper_label": {"type": "string"},
            "labels": {"type": "array", "items": {"type": "string"}}}},
        "Note": {"type": "object", "properties": {
            "id": {"type": "integer"}, "conversation_id": {"type": "string"},
            "agent_id": {"type": "integer"}, "agent_name": {"type": "string"},
            "text": {"type": "string"}, "created_at": {"type": "string"}}},
        "Suggestion": {"type": "object", "properties": {
            "id": {"type": "integer"}, "conversation_id": {"type": "string"},
            "message_id": {"type": "integer"}, "text": {"type": "string"},
            "buttons": {"type": "array", "items": _ref("Button")},
            "custom": {"type": "object", "nullable": True},
            "facts": {"type": "object", "description": "fact key → value when drafted"},
            "kind": {"type": "string", "enum": ["answer", "crosssell"]},
            "outcome": {"type": "string", "nullable": True,
                        "enum": ["accepted", "edited", "rejected", None]},
            "final_text": {"type": "string", "nullable": True},
            "created_at": {"type": "string"}}},
        "ConversationDetail": {"type": "object", "properties": {
            "conversation": _ref("Summary"),
            "messages": {"type": "array", "items": _ref("Message")},
            "context": {"type": "object", "properties": {
                "page": {"type": "object"}, "cart": {"type": "array", "nullable": True},
                "cart_value": {"type": "number"}, "locale": LOCALE,
                "intent": {"type": "string", "nullable": True},
                "entities": {"type": "array", "items": {"type": "object"}},
                "slots": {"type": "object"},
                "customer_id": {"type": "string", "nullable": True},
                "contact": {"type": "string", "nullable": True},
                "past_orders": {"type": "array", "items": {"type": "object"}}}},
            "suggestions": {"type": "array", "items": _ref("Suggestion")},
            "pending": {"type": "array", "description":
                        "every unanswered shopper message since the agent's last reply, "
                        "oldest first, with its undecided drafts",
                        "items": {"type": "object", "properties": {
                            "message": _ref("Message"),
                            "suggestions": {"type": "array",
                                            "items": _ref("Suggestion")}}}},
            "notes": {"type": "array", "items": _ref("Note")},
            "assignments": {"type": "array", "items": {"type": "object"}}}},
        "AgentMessageIn": {"type": "object", "properties": {
            "text": {"type": "string", "maxLength": 5000,
                     "description": "may be omitted with a suggestion_id (sent as drafted)"},
            "suggestion_id": {"type": "integer"},
            "confirm": {"type": "boolean", "description": "send anyway"},
            "use_new": {"type": "boolean",
                        "description": "send the draft re-rendered with the new figures"},
            "lang": LOCALE}},
        "Spread": {"type": "object", "properties": {
            "count": {"type": "integer"},
            "avg_s": {"type": "number", "nullable": True},
            "p50_s": {"type": "number", "nullable": True},
            "p90_s": {"type": "number", "nullable": True},
            "over_30s_share": {"type": "number", "nullable": True}}},
        "Conversion": {"type": "object", "properties": {
            "customers": {"type": "integer"}, "ordered": {"type": "integer"},
            "rate": {"type": "number", "nullable": True},
            "window_open": {"type": "integer"}, "days": {"type": "integer"}}},
        "Satisfaction": {"type": "object", "properties": {
            "count": {"type": "integer"}, "average": {"type": "number", "nullable": True},
            "distribution": {"type": "object",
                             "additionalProperties": {"type": "integer"}}}},
        "Metrics": {"type": "object", "properties": {
            "day": {"type": "string", "format": "date", "nullable": True},
            "period": {"type": "object", "properties": {
                "from": {"type": "string"}, "to": {"type": "string"},
                "days": {"type": "integer"}}},
            "conversations": {"type": "object", "properties": {
                "started": {"type": "integer"}, "bot_only": {"type": "integer"},
                "handed_off": {"type": "integer"},
                "bot_resolution_rate": {"type": "number", "nullable": True}}},
            "handoffs": {"type": "object", "properties": {
                "total": {"type": "integer"},
                "by_reason": {"type": "object",
                              "additionalProperties": {"type": "integer"}}}},
            "queue_wait": _ref("Spread"), "first_response": _ref("Spread"),
            "response": {"allOf": [_ref("Spread")], "properties": {
                "unanswered": {"type": "integer"}, "bot_answered": {"type": "integer"}}},
            "response_distribution": {"type": "object", "properties": {
                "count": {"type": "integer"},
                "buckets": {"type": "array", "items": {"type": "object", "properties": {
                    "from_s": {"type": "integer"},
                    "to_s": {"type": "integer", "nullable": True},
                    "count": {"type": "integer"},
                    "share": {"type": "number", "nullable": True}}}},
                "marks_s": {"type": "array", "items": {"type": "integer"}},
                "within_20s_share": {"type": "number", "nullable": True},
                "within_30s_share": {"type": "number", "nullable": True}}},
            "resolution": _ref("Spread"),
            "agents": {"type": "array", "items": {"type": "object", "properties": {
                "agent_id": {"type": "integer"}, "display_name": {"type": "string"},
                "role": {"type": "string"}, "status": {"type": "string"},
                "received": {"type": "integer"}, "per_day": {"type": "number"},
                "load_band": {"type": "string", "enum": ["idle", "normal", "full",
                                                         "strained", "hire"]},
                "active_now": {"type": "integer"}, "cap": {"type": "integer"},
                "capacity_now": {"type": "string", "enum": ["away", "full", "available"]},
                "messages_sent": {"type": "integer"}, "questions": {"type": "integer"},
                "qa_ratio": {"type": "number", "nullable": True},
                "response": _ref("Spread"), "first_response": _ref("Spread"),
                "conversion": _ref("Conversion"), "satisfaction": _ref("Satisfaction"),
                "received_by_day": {"type": "object",
                                    "additionalProperties": {"type": "integer"}}}}},
            "load_bands": {"type": "array", "items": {"type": "object"}},
            "suggestions": {"type": "object", "properties": {
                k: {"type": "integer"} for k in ("shown", "accepted", "edited", "rejected",
                                                 "undecided")} | {
                f"{k}_rate": {"type": "number", "nullable": True}
                for k in ("accepted", "edited", "rejected")}},
            "messages": {"type": "object", "properties": {
                "shopper": {"type": "integer"}, "bot": {"type": "integer"},
                "agent": {"type": "integer"}, "system": {"type": "integer"},
                "questions": {"type": "integer"},
                "qa_ratio": {"type": "number", "nullable": True}}},
            "conversion": _ref("Conversion"), "satisfaction": _ref("Satisfaction"),
            "crosssell": {"type": "object", "properties": {
                k: {"type": "integer"} for k in ("shown", "clicked", "added_to_cart",
                                                 "bought", "shown_to_customers")} | {
                k: {"type": "number", "nullable": True}
                for k in ("click_rate", "cart_rate", "buy_rate")}},
            "hours": {"type": "array", "items": {"type": "object", "properties": {
                "hour": {"type": "integer"}, "conversations": {"type": "integer"},
                "handoffs": {"type": "integer"}, "questions": {"type": "integer"},
                "response": _ref("Spread")}}},
            "days": {"type": "array", "items": {"type": "object", "properties": {
                "day": {"type": "string"}, "conversations": {"type": "integer"},
                "handoffs": {"type": "integer"}, "questions": {"type": "integer"},
                "response": _ref("Spread")}}}}},
        "Canned": {"type": "object", "properties": {
            "id": {"type": "integer"}, "locale": LOCALE, "title": {"type": "string"},
            "text": {"type": "string", "description": "variables {{shopper_product}}, "
                                                      "{{agent_name}}, {{order_id}}"}}},
    }
    paths = {
        "/health": {"get": _op("Liveness and database check",
                               _ok({"type": "object"}), tags=["ops"], errors=())},
        "/api/openapi.json": {"get": _op("This document", _ok({"type": "object"}),
                                         tags=["ops"], errors=())},
        "/api/conversations": {"post": _op(
            "Start a conversation (with the bot)",
            _ok(_ref("ConversationCreated"), "created", "201"),
            body=_body(_ref("NewConversation"), required=False), errors=("400", "413"))},
        "/api/conversations/{id}": {"get": _op(
            "State, owner and queue place", _ok(_ref("ConversationState")),
            security=SHOPPER, params=[cid])},
        "/api/conversations/{id}/messages": {
            "post": _op("Send a shopper message (idempotent by client_id); the list of "
                        "replies for the shopper now (empty after a handoff until an "
                        "agent writes). The stored message's id, the state and the queue "
                        "place are response headers",
                        {"200": {"description": "the replies for the shopper now",
                                 "headers": SHOPPER_REPLY_HEADERS,
                                 "content": {J: {"schema": {
                                     "type": "array", "items": _ref("Message")}}}}},
                        body=_body(_ref("ShopperMessageIn")), security=SHOPPER,
                        params=[cid], errors=("400", "403", "404", "413")),
            "get": _op("History (or the messages after a message id)",
                       _ok({"type": "array", "items": _ref("Message")}), security=SHOPPER,
                       params=[cid, _query("after", {"type": "integer"})])},
        "/api/conversations/{id}/ws": {"get": _op(
            "Shopper WebSocket: events message, typing, status (server → widget); "
            "typing (widget → server)",
            {"101": {"description": "switching protocols"}},
            params=[cid, _query("token", {"type": "string"}, "the shopper token")])},
        "/api/conversations/{id}/contact": {"post": _op(
            "Out of hours: leave a contact and a question (queued for a human)",
            _ok({"type": "object"}, "stored", "201"), body=_body(_ref("Contact")),
            security=SHOPPER, params=[cid], errors=("400", "403", "404", "413"))},
        "/api/conversations/{id}/rating": {"post": _op(
            "Rate the conversation just resolved (1–5, an optional comment), once per "
            "resolution; 409 when not resolved or already rated",
            {**_ok(_ref("Rating"), "stored", "201"), "409": ERR},
            body=_body(_ref("RatingIn")), security=SHOPPER, params=[cid],
            errors=("400", "403", "404", "413"))},
        "/api/desk/status": {"get": _op(
            "Open or not, agents online, queue and wait",
            _ok(_ref("DeskStatus")), params=[_query("locale", LOCALE)], errors=())},
        "/api/agent/login": {"post": _op(
            "Log in: sets the sa_session cookie; returns the CSRF token. Throttled per "
            "address and per account, locked after repeated failures (429 with "
            "retry_after_s, the right password too); 503 when too many password checks "
            "are waiting",
            _ok(_ref("AgentSession")), tags=["agent"],
            errors=("400", "401", "403", "429", "503"),
            body=_body({"type": "object", "required": ["username", "password"],
                        "properties": {"username": {"type": "string"},
                                       "password": {"type": "string"}}}))},
        "/api/agent/logout": {"post": _op("Log out", _ok({"type": "object"}), tags=["agent"],
                                          security=AGENT_WRITE, errors=("401", "403"))},
        "/api/agent/me": {"get": _op("The logged-in agent and the CSRF token",
                                     _ok(_ref("AgentSession")), tags=["agent"],
                                     security=AGENT, errors=("401",))},
        "/api/agent/status": {"post": _op(
            "Go online (pulls from the queue) or away", _ok(_ref("Agent")), tags=["agent"],
            security=AGENT_WRITE, errors=("400", "401", "403"),
            body=_body({"type": "object", "required": ["status"], "properties": {
                "status": {"type": "string", "enum": ["online", "away"]}}}))},
        "/api/agent/agents": {"get": _op(
            "Every agent with their load and presence, and whether they can take one more "
            "(with conversation_id: whether they qualify to be given that one)",
            _ok({"type": "array", "items": _ref("Agent")}), tags=["agent"],
            security=AGENT, params=[_query("conversation_id", {"type": "string"})],
            errors=("401", "404"))},
        "/api/agent/agents/{agent_id}/caps": {"post": _op(
            "Supervisor only: set an agent's concurrent and/or daily cap (a raised cap "
            "drains the queue)", _ok(_ref("Agent")), tags=["agent"], security=AGENT_WRITE,
            params=[_path_param("agent_id", "integer")], errors=("400", "401", "403", "404"),
            body=_body({"type": "object", "properties": {
                "cap": {"type": "integer", "minimum": 0, "maximum": 1000},
                "daily_cap": {"type": "integer", "minimum": 0, "maximum": 1000}}}))},
        "/api/agent/conversations": {"get": _op(
            "My assigned conversations and the queue",
            _ok({"type": "object", "properties": {
                "mine": {"type": "array", "items": _ref("Summary")},
                "queue": {"type": "array", "items": _ref("Summary")},
                "assigned": {"type": "array", "items": _ref("Summary"),
                             "description": "supervisors only: every owned conversation"}}}),
            tags=["agent"], security=AGENT, errors=("401",))},
        "/api/agent/conversations/{id}": {"get": _op(
            "One conversation: messages, context panel, suggestions (own; supervisors any)",
            _ok(_ref("ConversationDetail")), tags=["agent"], security=AGENT, params=[cid],
            errors=("401", "403", "404"))},
        "/api/agent/conversations/{id}/messages": {"post": _op(
            "Write to the shopper, optionally sending a suggestion (accepted when sent as "
            "drafted, else edited); 409 with the changes when its facts changed and "
            "confirm is not true",
            {**_ok({"type": "object", "properties": {
                "message": _ref("Message"), "suggestion": _ref("Suggestion")}}),
             "409": ERR},
            body=_body(_ref("AgentMessageIn")), tags=["agent"], security=AGENT_WRITE,
            params=[cid], errors=("400", "401", "403", "404", "413"))},
        "/api/agent/conversations/{id}/resolve": {"post": _op(
            "Resolve (owner or supervisor); frees a place, the queue drains. 409 "
            "(reason unanswered) while the shopper's last message has no answer, unless "
            "confirm is true",
            {**_ok(_ref("Summary")), "409": ERR}, tags=["agent"], security=AGENT_WRITE,
            body=_body({"type": "object", "properties": {
                "confirm": {"type": "boolean"}, "lang": LOCALE}}, required=False),
            params=[cid], errors=("400", "401", "403", "404"))},
        "/api/agent/conversations/{id}/notes": {"post": _op(
            "A private note (agents only, never shown to the shopper)",
            _ok(_ref("Note"), "stored", "201"), tags=["agent"], security=AGENT_WRITE,
            params=[cid], errors=("400", "401", "403", "404", "413"),
            body=_body({"type": "object", "required": ["text"], "properties": {
                "text": {"type": "string", "maxLength": 2000}}}))},
        "/api/agent/conversations/{id}/labels": {"post": _op(
            "Replace the conversation's labels (at most 10, 1–30 characters each)",
            _ok(_ref("Summary")), tags=["agent"], security=AGENT_WRITE, params=[cid],
            errors=("400", "401", "403", "404"),
            body=_body({"type": "object", "required": ["labels"], "properties": {
                "labels": {"type": "array", "items": {"type": "string"}}}}))},
        "/api/agent/conversations/{id}/read": {"post": _op(
            "The owner has read the conversation (up to a message id, default all)",
            _ok(_ref("Summary")), tags=["agent"], security=AGENT_WRITE, params=[cid],
            errors=("400", "401", "403", "404"),
            body=_body({"type": "object", "properties": {"upto": {"type": "integer"}}},
                       required=False))},
        "/api/agent/conversations/{id}/reassign": {"post": _op(
            "Supervisor only: give the conversation to another agent who is present, "
            "speaks its language and has a free place (else 409 with the reason), with a "
            "reason; the former owner's place frees and the queue drains",
            {**_ok(_ref("Summary")), "409": ERR}, tags=["agent"], security=AGENT_WRITE,
            params=[cid], errors=("400", "401", "403", "404"),
            body=_body({"type": "object", "required": ["agent_id", "reason"],
                        "properties": {"agent_id": {"type": "integer"},
                                       "reason": {"type": "string"}}}))},
        "/api/agent/suggestions/{sid}/skip": {"post": _op(
            "Skip a suggestion (outcome rejected)",
            {**_ok({"type": "object", "properties": {"suggestion": _ref("Suggestion")}}),
             "409": ERR}, tags=["agent"], security=AGENT_WRITE,
            params=[_path_param("sid", "integer")], errors=("401", "403", "404"))},
        "/api/agent/canned": {"get": _op(
            "Canned replies in a language (default the agent's first); with q, those whose "
            "title or text contains it, in both languages unless locale is given",
            _ok({"type": "array", "items": _ref("Canned")}),
            tags=["agent"], security=AGENT,
            params=[_query("locale", LOCALE), _query("q", {"type": "string"})],
            errors=("401",))},
        "/api/agent/metrics": {"get": _op(
            "Supervisors: the figures of a day or a range of days, per agent and for the "
            "desk (response time to each shopper message, first response, load against "
            "the bands, inquiry conversion, Q&A ratio, bot resolution, suggestions, "
            "satisfaction, cross-sell funnel, by hour); docs/desk.md \"Metrics\"",
            _ok(_ref("Metrics")), tags=["agent"], security=AGENT,
            params=METRICS_PARAMS, errors=("400", "401", "403"))},
        "/api/agent/metrics/{table}.csv": {"get": _op(
            "Supervisors: one table of the figures as CSV (summary, agents, hours, days, "
            "response_distribution)",
            {"200": {"description": "CSV with a header line", "content": {"text/csv": {}}}},
            tags=["agent"], security=AGENT,
            params=[{"name": "table", "in": "path", "required": True, "schema": {
                "type": "string", "enum": ["summary", "agents", "hours", "days",
                                           "response_distribution"]}}] + METRICS_PARAMS,
            errors=("400", "401", "403", "404"))},
        "/api/agent/ws": {"get": _op(
            "Agent WebSocket (cookie; origin checked): events hello, assigned, message, "
            "suggestions, queue, typing, conversation, presence, note, rating, heartbeat; "
            "the console sends heartbeat (presence) and typing",
            {"101": {"description": "switching protocols"}}, tags=["agent"],
            security=AGENT, errors=("401", "403"))},
        "/": {"get": _op("Demo storefront: product list", HTML, tags=["pages"],
                         params=[_query("lang", LOCALE)], errors=())},
        "/p/{product_id}": {"get": _op("Demo storefront: product page with the widget",
                                       HTML, tags=["pages"],
                                       params=[_path_param("product_id"),
                                               _query("lang", LOCALE)], errors=("404",))},
        "/widget.js": {"get": _op("The chat widget", {"200": {"description": "script"}},
                                  tags=["pages"], errors=("404",))},
        "/console": {"get": _op("The agent console", HTML, tags=["pages"], errors=("404",))},
        "/static/{path}": {"get": _op("Static files of desk/static/",
                                      {"200": {"description": "file"}}, tags=["pages"],
                                      params=[_path_param("path")], errors=("404",))},
    }
    return {
        "openapi": "3.0.3",
        "info": {"title": "shopassist desk", "version": "1.0",
                 "description": "The shopper widget's API and the agent console's API "
                                "(docs/desk-api.md)."},
        "paths": {**paths, **review_paths()},
        "components": {
            "schemas": {**schemas, **REVIEW_SCHEMAS},
            "securitySchemes": {
                "shopperToken": {"type": "http", "scheme": "bearer",
                                 "description": "the token from POST /api/conversations"},
                "agentSession": {"type": "apiKey", "in": "cookie", "name": "sa_session"},
                "csrfToken": {"type": "apiKey", "in": "header", "name": "X-CSRF-Token"}}},
    }


# -- the review list (desk/store/reviews.py, docs/desk-api.md "Review list") -------------
REASONS = ["not_understood", "before_handoff", "draft_edited", "draft_skipped"]
_ENTITY = {"type": "object", "required": ["entity", "value"],
           "properties": {"entity": {"type": "string"}, "value": {},
                          "start": {"type": "integer"}, "end": {"type": "integer"}}}
_AGREEMENT = {"reviewed": {"type": "integer"}, "bot_right": {"type": "integer"},
              "share_bot_right": {"type": "number", "nullable": True,
                                  "description": "bot_right / reviewed"}}
REVIEW_SCHEMAS = {
    "Review": {"type": "object", "properties": {
        "id": {"type": "integer"}, "message_id": {"type": "integer"},
        "conversation_id": {"type": "string"}, "text": {"type": "string"},
        "language": LOCALE, "reason": {"type": "string", "enum": REASONS},
        "bot_intent": {"type": "string", "nullable": True},
        "bot_confidence": {"type": "number", "nullable": True},
        "bot_ranking": {"type": "array", "description": "the bot's top intents, best first",
                        "items": {"type": "object", "properties": {
                            "name": {"type": "string", "nullable": True},
                            "confidence": {"type": "number", "nullable": True}}}},
        "bot_entities": {"type": "array", "items": _ENTITY},
        "created_at": {"type": "string"},
        "reviewer_id": {"type": "integer", "nullable": True},
        "reviewer_name": {"type": "string", "nullable": True},
        "intent": {"type": "string", "nullable": True,
                   "description": "the confirmed intent (null: not reviewed yet)"},
        "entities": {"type": "array", "nullable": True, "items": _ENTITY},
        "reviewed_at": {"type": "string", "nullable": True}}},
    "ReviewList": {"type": "object", "properties": {
        "reviews": {"type": "array", "items": {"$ref": "#/components/schemas/Review"}},
        "intents": {"type": "array", "items": {"type": "string"},
                    "description": "the domain's intents a reviewer may choose"},
        "entities": {"type": "array", "items": {"type": "string"},
                     "description": "the domain's entity types"}}},
    "ReviewCounts": {"type": "object", "properties": {
        "reviewed": {"type": "integer"}, "pending": {"type": "integer"},
        "pending_by_reason": {"type": "object", "properties": {
            r: {"type": "integer"} for r in REASONS}},
        "weeks": {"type": "array", "items": {"type": "object", "properties": {
            "week": {"type": "string", "description": "ISO week, 2026-W49"},
            **_AGREEMENT}}},
        "since_model": {"type": "object", "nullable": True, "properties": {
            "installed_at": {"type": "string"}, **_AGREEMENT}}}},
}


def review_paths() -> dict:
    return {
        "/api/agent/reviews": {"get": _op(
            "The review list: shopper messages the bot may have misunderstood, not reviewed "
            "yet, that the agent may see (their conversations'; every one for supervisors)",
            _ok(_ref("ReviewList")), tags=["agent"], security=AGENT, errors=("401",))},
        "/api/agent/reviews/counts": {"get": _op(
            "Reviewed and pending entries the agent may see, and the share of reviewed "
            "messages whose confirmed intent is the bot's, by week and since the model",
            _ok(_ref("ReviewCounts")), tags=["agent"], security=AGENT, errors=("401",))},
        "/api/agent/reviews/{rid}": {"post": _op(
            "Confirm or correct an entry (again: replaces the label)",
            _ok({"type": "object", "properties": {"review": _ref("Review")}}),
            tags=["agent"], security=AGENT_WRITE, params=[_path_param("rid", "integer")],
            body=_body({"type": "object", "required": ["intent"], "properties": {
                "intent": {"type": "string", "description": "one of the domain's intents"},
                "entities": {"type": "array", "items": _ENTITY,
                             "description": "omitted or null: the bot's entities"}}}),
            errors=("401", "403", "404"))},
    }
