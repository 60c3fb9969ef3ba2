"""WebSocket fan-out inside one desk process: shopper sockets by conversation, agent
sockets by agent, and the supervisors among them. It only carries events; what to send
is decided by the service (desk/service.py) and the queue notifier
(desk/queue_notifier.py). With several desk replicas this is where Redis pub/sub would
go."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from typing import Iterable

from aiohttp import web

from .security import dumps

logger = logging.getLogger(__name__)


class Hub:
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
            await self.to_agent(aid, event)

    async def to_all_agents(self, event: dict) -> None:
        for aid in list(self.agents):
            await self.to_agent(aid, event)

    async def close_all(self) -> None:
        for socks in [*self.shoppers.values(), *self.agents.values()]:
            for ws in list(socks):
                await ws.close(code=1001, message=b"desk shutting down")
        self.shoppers.clear()
        self.agents.clear()
