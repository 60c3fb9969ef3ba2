"""The Rasa server's in-process actions answer exactly what the action server would: the
same request goes to the real action server (`python -m rasa_sdk --actions actions`, as
bot/runner.py starts it) and to the in-process endpoint, and the answers are compared."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from bot.rasa_server import InProcessActionEndpoint
from bot.settings import ROOT
from bot.training import rasa_env
from tests.conftest import free_ports


def action_call(name: str, text: str, lang: str = "zh", *, intent: str = "greet",
                entities: list | None = None, metadata: dict | None = None) -> dict:
    return {
        "next_action": name, "sender_id": "t1", "version": "3.6.2", "domain": {},
        "tracker": {
            "sender_id": "t1", "slots": {"language": lang}, "events": [],
            "latest_message": {"text": text, "intent": {"name": intent, "confidence": 1},
                               "entities": entities or [], "metadata": metadata or {}},
            "latest_action_name": "action_listen", "paused": False,
            "followup_action": None, "active_loop": {}, "latest_input_channel": "rest",
        },
    }


class _Original:
    url = "http://127.0.0.1:5055/webhook"


async def test_in_process_action_answers_like_the_action_server():
    ep = InProcessActionEndpoint(_Original())
    result = await ep.request(json=action_call("action_greet", "hello", "en"))
    assert result["responses"], result
    assert all(r.get("text") for r in result["responses"])
    assert isinstance(result["events"], list)
    assert ep.url == _Original.url


async def test_in_process_unknown_action_raises_like_rasa_does():
    from rasa.shared.exceptions import RasaException

    ep = InProcessActionEndpoint(_Original())
    with pytest.raises(RasaException):
        await ep.request(json=action_call("action_that_does_not_exist", "hi"))


def test_remote_actions_are_switched_to_in_process():
    from rasa.core.actions.action import RemoteAction
    from rasa.utils.endpoints import EndpointConfig

    from bot.rasa_server import run_actions_in_process

    run_actions_in_process()
    a = RemoteAction("action_greet", EndpointConfig("http://127.0.0.1:1/webhook"))
    b = RemoteAction("action_check_stock", a.action_endpoint.original)
    assert isinstance(a.action_endpoint, InProcessActionEndpoint)
    assert a.action_endpoint is b.action_endpoint        # one executor per endpoint


async def test_sequential_graph_runner_gives_the_same_parse_as_dask():
    from pathlib import Path

    from rasa.core.agent import Agent
    from rasa.engine.runner.dask import DaskGraphRunner

    from bot.rasa_server import run_graphs_sequentially

    model = Path(__file__).resolve().parent.parent / "models" / "shopassist.tar.gz"
    if not model.exists():
        pytest.skip("no trained model (make train)")
    texts = ["亲，这款跑鞋有42码吗", "is this in stock in XL?", "", "发成都几天能到",
             "我的订单20261118000123到哪了", "🙂🙂"]
    original_run = DaskGraphRunner.run
    agent = Agent.load(str(model))
    with_dask = [await agent.parse_message(t) for t in texts]
    run_graphs_sequentially()
    try:
        assert DaskGraphRunner.run is not original_run
        sequential = [await agent.parse_message(t) for t in texts]
    finally:
        DaskGraphRunner.run = original_run
        DaskGraphRunner._shopassist_sequential = False
    assert sequential == with_dask


@pytest.fixture(scope="module")
def action_server(demo_db, tmp_path_factory):
    """The real action server on a free port, reading the test catalog at the pinned
    time (the session's SHOPASSIST_CATALOG and SHOPASSIST_NOW are in os.environ)."""
    (port,) = free_ports(1)
    log = open(tmp_path_factory.mktemp("actions") / "actions.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "rasa_sdk", "--actions", "actions",
                             "--port", str(port)], cwd=ROOT, env=rasa_env(),
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    try:
        while True:
            assert proc.poll() is None, f"the action server exited ({log.name})"
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, f"the action server never answered ({log.name})"
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def post_to_action_server(url: str, body: dict) -> dict:
    req = urllib.request.Request(f"{url}/webhook", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


SAME_REQUESTS = {
    "greeting in English": action_call("action_greet", "hello", "en"),
    "stock on the product page, Chinese": action_call(
        "action_check_stock", "这个42码有货吗", "zh", intent="check_stock",
        entities=[{"entity": "size", "value": "42", "start": 2, "end": 5}],
        metadata={"page": {"product_id": "P001"}}),
    "shipping to a city, English": action_call(
        "action_shipping", "when will it arrive in Chengdu", "en", intent="ask_shipping",
        entities=[{"entity": "city", "value": "chengdu", "start": 23, "end": 30}],
        metadata={"page": {"product_id": "P001"}}),
    "price, Chinese": action_call("action_price", "疾风跑鞋多少钱", "zh", intent="ask_price",
                                  entities=[{"entity": "product", "value": "P001",
                                             "start": 0, "end": 4}]),
}


@pytest.mark.e2e
@pytest.mark.parametrize("case", list(SAME_REQUESTS))
async def test_in_process_answer_equals_the_action_servers(action_server, case):
    body = SAME_REQUESTS[case]
    served = post_to_action_server(action_server, body)
    in_process = await InProcessActionEndpoint(_Original()).request(
        json=json.loads(json.dumps(body)))
    assert served["responses"], served               # a real answer, not an empty one
    assert json.loads(json.dumps(in_process)) == served
