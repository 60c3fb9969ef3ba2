"""The desk's whole HTTP API fuzzed against its own OpenAPI document (/api/openapi.json)
with schemathesis: every operation, 50 valid examples each (and 25 invalid ones where it
has parameters or a body), derandomized
(a fixed seed: the same requests on every run). Every answer must be no server error and
conform to the document: a documented status, its content type, its JSON schema and its
headers. Half of the examples of an authenticated operation run with real credentials (a
conversation's token, an agent's fresh session and CSRF token), so the fuzz reaches past
the 401s and 403s into the handlers."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import replace
from pathlib import Path

import pytest
import requests
import schemathesis
from aiohttp import web
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (content_type_conformance,
                                               response_headers_conformance,
                                               response_schema_conformance,
                                               status_code_conformance)

from bot.settings import get_settings
from catalog.queries import Catalog
from desk.app import create_app
from desk.openapi import openapi_document
from desk.store import DeskStore
from tests.conftest import free_ports
from tests.fake_rasa import FakeRasa
from tests.test_desk_api import SHOP_SECRET

pytestmark = pytest.mark.e2e

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance, response_headers_conformance]
EXAMPLES = {GenerationMode.POSITIVE: 50, GenerationMode.NEGATIVE: 25}


class RunningDesk:
    """The desk and a fake Rasa served from a thread of their own (schemathesis calls
    are blocking), with credentials made through the desk's own store."""

    def __init__(self, tmp_path: Path, catalog_path: Path):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.tmp_path, self.catalog_path = tmp_path, catalog_path
        self.run(self._start())

    def run(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(60)

    async def _start(self):
        rasa_port, desk_port = free_ports(2)
        self.fake = FakeRasa(self.catalog_path)
        self.rasa_runner = web.AppRunner(self.fake.app())
        await self.rasa_runner.setup()
        await web.TCPSite(self.rasa_runner, "127.0.0.1", rasa_port).start()
        settings = replace(get_settings(), desk_db=self.tmp_path / "desk.db",
                           rasa_url=f"http://127.0.0.1:{rasa_port}", desk_rasa_timeout=5.0,
                           catalog_path=self.catalog_path, shop_secret=SHOP_SECRET,
                           desk_hours="00:00-24:00")
        self.store = DeskStore.from_settings(settings)
        app = create_app(settings, store=self.store, catalog=Catalog(self.catalog_path))
        self.desk_runner = web.AppRunner(app)
        await self.desk_runner.setup()
        await web.TCPSite(self.desk_runner, "127.0.0.1", desk_port).start()
        self.base_url = f"http://127.0.0.1:{desk_port}"
        agents = {a["username"]: a for a in await self.store.accounts.agents()}
        self.agents = {name: agents[name]["agent_id"] for name in ("lily", "boss")}
        await self.store.accounts.set_status(self.agents["lily"], "online")

    async def _conversation(self, handed_off: bool) -> tuple[str, str]:
        conv, token = await self.store.conversations.create("zh", {"product_id": "P001"})
        cid = conv["conversation_id"]
        await self.store.conversations.add_shopper_message(cid, "你好")
        if handed_off:
            await self.store.conversations.handoff(cid, "requested")
        return cid, token

    def conversation(self, handed_off: bool = False) -> tuple[str, str]:
        """A new conversation (assigned to lily when handed off): (id, shopper token)."""
        return self.run(self._conversation(handed_off))

    def session(self, username: str) -> tuple[str, str]:
        """A fresh log-in of an agent: (cookie value, CSRF token)."""
        return self.run(self.store.accounts.create_session(self.agents[username]))

    async def _stop(self):
        await self.desk_runner.cleanup()
        await self.rasa_runner.cleanup()

    def stop(self):
        self.run(self._stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture(scope="module")
def running_desk(tmp_path_factory, demo_db):
    desk = RunningDesk(tmp_path_factory.mktemp("schema"), demo_db)
    yield desk
    desk.stop()


SCHEMA = schemathesis.openapi.from_dict(openapi_document())
OPERATIONS = [op.ok() for op in SCHEMA.get_all_operations()]


def _credentials(desk: RunningDesk, case, real: bool, who: str) -> dict:
    """Real credentials for the case's operation when `real`: headers to send (and the
    path's id replaced by a conversation the credentials open)."""
    security = case.operation.definition.raw.get("security") or []
    schemes = {name for requirement in security for name in requirement}
    headers: dict = {}
    if not real:
        return headers
    path = case.operation.path
    if "shopperToken" in schemes or path == "/api/conversations/{id}/ws":
        cid, token = desk.conversation()
        case.path_parameters["id"] = cid
        if path.endswith("/ws"):
            case.query = {**(case.query or {}), "token": token}
        headers["Authorization"] = f"Bearer {token}"
    if "agentSession" in schemes:
        sid, csrf = desk.session(who)
        headers["Cookie"] = f"sa_session={sid}"
        headers["X-CSRF-Token"] = csrf
        if "{id}" in path:
            case.path_parameters["id"] = desk.conversation(handed_off=True)[0]
    return headers


def _fuzz(desk: RunningDesk, operation, mode: GenerationMode) -> int:
    calls = []
    session = requests.Session()

    @given(case=operation.as_strategy(generation_mode=mode), real=st.booleans(),
           who=st.sampled_from(["lily", "boss"]))
    @settings(max_examples=EXAMPLES[mode], derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck),
              phases=[Phase.explicit, Phase.generate])
    def run(case, real, who):
        headers = _credentials(desk, case, real, who)
        response = case.call(base_url=desk.base_url, session=session, headers=headers,
                             timeout=30)
        calls.append(response.status_code)
        case.validate_response(response, checks=CHECKS, headers=headers)

    run()
    return len(calls)


@pytest.mark.parametrize("operation", OPERATIONS, ids=[op.label for op in OPERATIONS])
def test_every_operation_answers_as_documented(running_desk, operation):
    raw = operation.definition.raw
    modes = [GenerationMode.POSITIVE]
    if raw.get("parameters") or raw.get("requestBody"):    # something to get wrong
        modes.append(GenerationMode.NEGATIVE)
    # fewer examples only when the operation has fewer distinct inputs (hypothesis stops)
    assert _fuzz(running_desk, operation, GenerationMode.POSITIVE) >= 1
    if GenerationMode.NEGATIVE in modes:
        try:
            _fuzz(running_desk, operation, GenerationMode.NEGATIVE)
        except Unsatisfiable:
            pass                     # no input of it can break the schema (any string)


def test_every_route_is_fuzzed():
    documented = {(op.method.upper(), op.path) for op in OPERATIONS}
    assert len(documented) == sum(len(v) for v in openapi_document()["paths"].values())
