"""WebSocket fan-out: shopper sockets by conversation, agent sockets by agent, and the
supervisors among them. It only carries events; what to send is decided by the service
(desk/service.py) and the queue notifier (desk/queue_notifier.py).

`Hub` delivers inside one desk process (the default). `RedisHub` (when
`SHOPASSIST_REDIS_URL` is set) is for several desk replicas: every event is published
once on one Redis pub/sub channel, every replica (the sender too) is subscribed and
delivers it to the sockets it holds, so a shopper connected to one replica gets what an
agent sends through another, and a supervisor sees assignments made anywhere. Events
from one replica arrive in the order it published them. Pub/sub is at most once: a
replica cut off from Redis misses events meanwhile (it delivers its own locally and
keeps trying to resubscribe); the widget and the console fetch what they missed on
reconnecting (`after`), so the record never depends on an event arriving.

`hub_for(settings)` is the one place that picks the hub.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import defaultdict
from typing import Iterable, Optional

from aiohttp import web

from .security import dumps

logger = logging.getLogger(__name__)


class Hub:
    """The sockets of this desk process and delivery to them."""

    def __init__(self) -> None:
        self.shoppers: dict[str, set[web.WebSocketResponse]] = defaultdict(set)
        self.agents: dict[int, set[web.WebSocketResponse]] = defaultdict(set)
        self.supervisors: set[int] = set()

    def add_shopper(self, conversation_id: str, ws: web.WebSocketResponse) -> None:
        self.shoppers[conversation_id].add(ws)

    def remove_shopper(self, conversation_id: str, ws: web.WebSocketResponse) -> None:
        socks = self.shoppers.get(conversation_id)
        if socks is not None:
            socks.discard(ws)
            if not socks:
                del self.shoppers[conversation_id]

    def add_agent(self, agent: dict, ws: web.WebSocketResponse) -> None:
        self.agents[agent["agent_id"]].add(ws)
        if agent.get("role") == "supervisor":
            self.supervisors.add(agent["agent_id"])

    def remove_agent(self, agent_id: int, ws: web.WebSocketResponse) -> None:
        socks = self.agents.get(agent_id)
        if socks is not None:
            socks.discard(ws)
            if not socks:
                del self.agents[agent_id]
                self.supervisors.discard(agent_id)

    def has_shopper(self, conversation_id: str) -> bool:
        return conversation_id in self.shoppers

    def has_agents(self) -> bool:
        return bool(self.agents)

    def agent_ids(self) -> list[int]:
        """The agents with a console connected to this process now."""
        return [aid for aid, socks in self.agents.items()
                if any(not ws.closed for ws in socks)]

    @staticmethod
    async def _send(socks: Iterable[web.WebSocketResponse], event: dict) -> None:
        for ws in list(socks):
            if ws.closed:
                continue
            try:
                await ws.send_json(event, dumps=dumps)
            except (ConnectionError, RuntimeError, asyncio.CancelledError) as exc:
                if isinstance(exc, asyncio.CancelledError):
                    raise
                logger.debug("push failed: %s", exc)

    async def to_shopper(self, conversation_id: str, event: dict) -> None:
        await self._send(self.shoppers.get(conversation_id, ()), event)

    async def to_agent(self, agent_id: int | None, event: dict) -> None:
        if agent_id is not None:
            await self._send(self.agents.get(agent_id, ()), event)

    async def to_agent_and_supervisors(self, agent_id: int | None, event: dict) -> None:
        for aid in {agent_id, *self.supervisors} - {None}:
            await Hub.to_agent(self, aid, event)

    async def to_all_agents(self, event: dict) -> None:
        for aid in list(self.agents):
            await Hub.to_agent(self, aid, event)

    async def start(self) -> None:
        """Start carrying events (nothing to do in one process)."""

    async def stop(self) -> None:
        """Stop carrying events."""

    async def close_all(self) -> None:
        for socks in [*self.shoppers.values(), *self.agents.values()]:
            for ws in list(socks):
                await ws.close(code=1001, message=b"desk shutting down")
        self.shoppers.clear()
        self.agents.clear()


CHANNEL = "shopassist:desk:events"
RESUBSCRIBE_S = 1.0                 # wait before subscribing again after losing Redis


class RedisHub(Hub):
    """Events across desk replicas over Redis pub/sub (see the module docstring).

    Each `to_*` call publishes {"route", "target", "event"}; the listener hands each one
    to `Hub`'s delivery to this replica's own sockets. Whether a shopper or an agent is
    connected somewhere is not known here, so `has_shopper` and `has_agents` say yes."""

    def __init__(self, url: str, channel: str = CHANNEL) -> None:
        super().__init__()
        self.url = url
        self.channel = channel
        self._redis = None
        self._listener: Optional[asyncio.Task] = None
        self._subscribed = asyncio.Event()

    async def start(self) -> None:
        import redis.asyncio as aioredis

        self._redis = aioredis.Redis.from_url(self.url)
        self._listener = asyncio.get_running_loop().create_task(self._listen())
        await asyncio.wait_for(self._subscribed.wait(), 30)

    async def stop(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            await asyncio.gather(self._listener, return_exceptions=True)
        if self._redis is not None:
            await self._redis.close()

    async def _listen(self) -> None:
        import redis.exceptions

        while True:
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel)
                self._subscribed.set()
                while True:
                    msg = await pubsub.get_message(timeout=1.0)
                    if msg is not None and msg["type"] == "message":
                        await self._deliver(json.loads(msg["data"]))
            except (redis.exceptions.RedisError, OSError) as exc:
                logger.warning("desk events: lost Redis (%s); subscribing again", exc)
                await asyncio.sleep(RESUBSCRIBE_S)
            finally:
                await pubsub.close()

    async def _deliver(self, msg: dict) -> None:
        route, target, event = msg["route"], msg["target"], msg["event"]
        try:
            if route == "shopper":
                await Hub.to_shopper(self, target, event)
            elif route == "agent":
                await Hub.to_agent(self, target, event)
            elif route == "agent_and_supervisors":
                await Hub.to_agent_and_supervisors(self, target, event)
            elif route == "all_agents":
                await Hub.to_all_agents(self, event)
        except Exception:                           # noqa: BLE001 - one bad event only
            logger.exception("desk events: could not deliver %s", route)

    async def _publish(self, route: str, target, event: dict) -> None:
        msg = {"route": route, "target": target, "event": event}
        try:
            await self._redis.publish(self.channel, dumps(msg))
        except Exception as exc:                    # noqa: BLE001 - Redis down: local only
            logger.warning("desk events: Redis publish failed (%s); delivered here only",
                           exc)
            await self._deliver(json.loads(dumps(msg)))

    def has_shopper(self, conversation_id: str) -> bool:
        return True

    def has_agents(self) -> bool:
        return True

    async def to_shopper(self, conversation_id: str, event: dict) -> None:
        await self._publish("shopper", conversation_id, event)

    async def to_agent(self, agent_id: int | None, event: dict) -> None:
        if agent_id is not None:
            await self._publish("agent", agent_id, event)

    async def to_agent_and_supervisors(self, agent_id: int | None, event: dict) -> None:
        await self._publish("agent_and_supervisors", agent_id, event)

    async def to_all_agents(self, event: dict) -> None:
        await self._publish("all_agents", None, event)


def hub_for(settings) -> Hub:
    """Redis pub/sub across replicas when `redis_url` is set, else this process only."""
    return RedisHub(settings.redis_url) if settings.redis_url else Hub()
