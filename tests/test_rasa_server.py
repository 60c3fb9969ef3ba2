"""The Rasa server's in-process actions answer exactly what the action server would."""

from __future__ import annotations

import pytest

from bot.rasa_server import InProcessActionEndpoint


def action_call(name: str, text: str, lang: str = "zh") -> dict:
    return {
        "next_action": name, "sender_id": "t1", "version": "3.6.2", "domain": {},
        "tracker": {
            "sender_id": "t1", "slots": {"language": lang}, "events": [],
            "latest_message": {"text": text, "intent": {"name": "greet", "confidence": 1},
                               "entities": [], "metadata": {}},
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
