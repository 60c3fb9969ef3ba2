"""Run Rasa's own command line (`python -m bot.rasa_server run ...` = `rasa run ...`) with
two speed fixes applied first. Neither changes what Rasa does, only how often it repeats
the same work (profiled with py-spy on this machine):

- Rasa 3.6 validates every action server response with `jsonschema.validate`, which
  re-checks the (constant) schema itself on every call: that was 72% of the Rasa server's
  CPU time per message. The fix compiles the validator once and validates each response
  against it: the same schema, the same errors.
- Reading a conversation back from the tracker store looks up each event's class by
  scanning every subclass of `Event` (`Event.resolve_by_type`), about 5% of the CPU time.
  The fix remembers the answer per event type name (classes do not change while running).
- Every message runs the model's graph (NLU, then each policy prediction) through dask's
  scheduler, which rebuilds the minimal graph and schedules a dozen tiny in-process tasks
  each time: about a tenth of the CPU per message. The fix runs the same nodes, with the
  same inputs, in a topological order worked out once per set of targets.

And one option, on by default under `make run` (SHOPASSIST_ACTIONS_IN_PROCESS=1): the
custom actions of `actions/` run inside the Rasa server through rasa_sdk's own
`ActionExecutor`, with the very request and response dicts the action server would get
and give, minus the HTTP round trip and two JSON encodings per action. The separate
action server keeps running for every other client (and is what runs them when the
option is off). Later Rasa versions offer the same thing as `actions_module`.

And what locks `shopassist run`'s Rasa servers down and brings them back quickly (none
of it changes an answer):

- Rasa's own `--auth-token` is the installation's token (`bot/api_token.py`), added to
  the arguments inside this process, so that it never shows on a command line; and every
  path but the REST channel needs it, `/` and `/version` included, while the REST
  channel's bodies are checked strictly before Rasa reads them (`bot/api_guard.py`: a
  4xx JSON error instead of Rasa's 500). In every configuration: one Rasa server on the
  public port, or several behind the router.
- skops, which loads the intent classifier, is imported before Rasa: at import it scans
  `sys.modules` once per numpy/scipy ufunc, which with Rasa and TensorFlow loaded took
  most of a worker's start (`import_skops_first`); a restarted worker is back sooner.
- The model is loaded and warmed up (a message parsed in each language: jieba's
  dictionary, the model's first run) before the server opens its port, so a restarted
  worker is never reached cold: until it listens, the router answers its conversations
  with a quick 503.
- Conversations live in the SQL tracker store (`bot/tracker_store.py`); Rasa's
  `FailSafeTrackerStore` wrapper, which on a storage error would silently keep the
  conversation in memory (lost at the next restart), is left out, and a REST-channel
  request whose conversation could not be read or written answers 503 (retry) instead of
  an answer that was never stored.
"""

from __future__ import annotations

import os
import sys
from typing import Any, Dict


def apply_speedups() -> None:
    from jsonschema import ValidationError
    from jsonschema.validators import validator_for
    from rasa.shared.constants import DOCS_BASE_URL
    from rasa.core.actions.action import RemoteAction

    if getattr(RemoteAction, "_shopassist_patched", False):
        return
    schema = RemoteAction.action_response_format_spec()
    cls = validator_for(schema)
    cls.check_schema(schema)
    validator = cls(schema)

    def _validate_action_result(self, result: Dict[str, Any]) -> bool:
        from jsonschema.exceptions import best_match

        if isinstance(self.action_endpoint, InProcessActionEndpoint):
            # rasa_sdk's executor built this answer in this process and validated its
            # events already: no foreign server's JSON to distrust
            return True

        error = best_match(validator.iter_errors(result))
        if error is not None:
            error = ValidationError.create_from(error)
            error.message += (
                ". Failed to validate Action server response from API, make sure your "
                "response from the Action endpoint is valid. For more information about "
                f"the format visit {DOCS_BASE_URL}/custom-actions")
            raise error
        return True

    RemoteAction._validate_action_result = _validate_action_result
    RemoteAction._shopassist_patched = True

    from rasa.shared.core.events import Event

    original = Event.resolve_by_type
    cache: Dict[Any, Any] = {}

    def resolve_by_type(type_name, default=None):
        key = (type_name, default)
        if key not in cache:
            cache[key] = original(type_name, default)
        return cache[key]

    Event.resolve_by_type = staticmethod(resolve_by_type)


class InProcessActionEndpoint:
    """Stands in for the action server's `EndpointConfig`: `request(json=...)` runs the
    action with rasa_sdk's executor in this process and answers what the action
    server's webhook would (its errors become the exceptions Rasa raises for them)."""

    def __init__(self, original: Any, package: str = "actions") -> None:
        from rasa_sdk.executor import ActionExecutor

        self.original = original
        self.url = getattr(original, "url", None) or f"in-process:{package}"
        self.executor = ActionExecutor()
        self.executor.register_package(package)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.original, name)

    async def request(self, method: str = "post", json: Any = None, **_: Any) -> Any:
        from rasa.core.actions.action import ActionExecutionRejection
        from rasa.shared.exceptions import RasaException
        from rasa_sdk.interfaces import ActionExecutionRejection as SdkRejection
        from rasa_sdk.interfaces import ActionNotFoundException

        try:
            result = await self.executor.run(json)
        except SdkRejection as exc:
            raise ActionExecutionRejection(exc.action_name, exc.message) from exc
        except ActionNotFoundException as exc:
            raise RasaException(f"Failed to execute custom action '{exc.action_name}'"
                                ) from exc
        return result if result is not None else {}


def run_actions_in_process(package: str = "actions") -> None:
    """Every `RemoteAction` created from now on runs its action in this process."""
    from rasa.core.actions.action import RemoteAction

    if getattr(RemoteAction, "_shopassist_in_process", False):
        return
    endpoints: Dict[int, InProcessActionEndpoint] = {}
    original_init = RemoteAction.__init__

    def __init__(self, name, action_endpoint):
        original_init(self, name, action_endpoint)
        if action_endpoint is not None and not isinstance(action_endpoint,
                                                          InProcessActionEndpoint):
            key = id(action_endpoint)
            if key not in endpoints:
                endpoints[key] = InProcessActionEndpoint(action_endpoint, package)
            self.action_endpoint = endpoints[key]

    RemoteAction.__init__ = __init__
    RemoteAction._shopassist_in_process = True


def run_graphs_sequentially() -> None:
    """Replace `DaskGraphRunner.run` by a plain loop over a cached topological order."""
    from rasa.engine.exceptions import GraphRunError
    from rasa.engine.runner.dask import DaskGraphRunner

    if getattr(DaskGraphRunner, "_shopassist_sequential", False):
        return

    def plan_for(self, targets: tuple) -> list:
        plans = self.__dict__.setdefault("_shopassist_plans", {})
        if targets not in plans:
            schema = self._graph_schema.minimal_graph_schema(list(targets))
            order: list = []
            seen: set = set()

            def visit(name: str) -> None:
                if name in seen or name not in schema.nodes:
                    return
                seen.add(name)
                for parent in schema.nodes[name].needs.values():
                    visit(parent)
                order.append((name, self._instantiated_nodes[name],
                              tuple(schema.nodes[name].needs.values())))

            for name in schema.nodes:
                visit(name)
            plans[targets] = order
        return plans[targets]

    def run(self, inputs=None, targets=None):
        run_targets = tuple(targets if targets else self._graph_schema.target_names)
        results: Dict[str, Any] = {}
        for name, value in (inputs or {}).items():
            if name in self._graph_schema.nodes:
                raise GraphRunError(
                    f"Input value '{name}' clashes with a node name. Make sure "
                    f"that none of the input names passed to the `run` method are the "
                    f"same as node names in the graph schema.")
            results[name] = (name, value)
        try:
            for name, node, needs in plan_for(self, run_targets):
                results[name] = node(*(results.get(n, n) for n in needs))
        except RuntimeError as exc:
            raise GraphRunError("Error running runner.") from exc
        return dict(results[t] for t in run_targets)

    DaskGraphRunner.run = run
    DaskGraphRunner._shopassist_sequential = True


WARM_UP_MESSAGES = ("亲，这款跑鞋有42码吗", "is this in stock in XL?")


def warm_up_before_listening() -> None:
    """Parse a message per language right after the model is loaded, before Sanic opens
    the port (Rasa loads the agent in a `before_server_start` listener)."""
    import time
    from datetime import datetime

    import rasa.core.run as rasa_run

    if getattr(rasa_run, "_shopassist_warm", False):
        return
    original = rasa_run.load_agent_on_start

    async def load_agent_on_start(*args, **kwargs):
        agent = await original(*args, **kwargs)
        started = time.perf_counter()
        if agent is not None and agent.is_ready():
            for text in WARM_UP_MESSAGES:
                await agent.parse_message(text)
            # straight to stderr (the process's log file), whatever the logging set-up
            # that loading the model and its components left behind
            print(f"{datetime.now():%Y-%m-%d %H:%M:%S} INFO     bot.rasa_server  - model "
                  f"loaded and warmed up in {time.perf_counter() - started:.1f} s; opening "
                  "the port", file=sys.stderr, flush=True)
        return agent

    rasa_run.load_agent_on_start = load_agent_on_start
    rasa_run._shopassist_warm = True


def guard_api(token: str) -> None:
    """Every app `rasa run` configures gets the guard of `bot/api_guard.py` and answers
    the REST channel with 503 when the conversation could not be stored."""
    import rasa.core.run as rasa_run

    from bot.api_guard import REST_WEBHOOK, install_sanic_guard
    from bot.tracker_store import failed_in_this_request, watch_this_request

    if getattr(rasa_run, "_shopassist_guarded", False):
        return
    original = rasa_run.configure_app

    def configure_app(*args, **kwargs):
        from sanic import response

        app = original(*args, **kwargs)
        install_sanic_guard(app, token, rest_channel=True)

        async def watch_storage(request):
            if request.path == REST_WEBHOOK:
                watch_this_request()

        async def refuse_unstored(request, resp):
            if request.path == REST_WEBHOOK and failed_in_this_request():
                return response.json(
                    {"error": "the conversation could not be stored; try again"},
                    status=503, headers={"Retry-After": "1"})
            return None

        app.register_middleware(watch_storage, "request")
        app.register_middleware(refuse_unstored, "response")
        return app

    rasa_run.configure_app = configure_app
    rasa_run._shopassist_guarded = True


def fail_loudly_on_storage_errors() -> None:
    """The agent uses the configured tracker store as it is, without
    `FailSafeTrackerStore`'s fallback to memory."""
    from rasa.core.agent import Agent
    from rasa.core.tracker_store import InMemoryTrackerStore

    if getattr(Agent, "_shopassist_loud_store", False):
        return

    def _create_tracker_store(store, domain):
        if store is None:
            return InMemoryTrackerStore(domain)
        store.domain = domain
        return store

    Agent._create_tracker_store = staticmethod(_create_tracker_store)
    Agent._shopassist_loud_store = True


def import_skops_first() -> None:
    """skops (which loads the intent classifier) works out at import which module each of
    numpy's and scipy's ufuncs lives in by trying every module in `sys.modules` for each
    of them. Imported after Rasa and TensorFlow (about 6,000 modules) that took 55 s of a
    worker's start on the loaded 2-core VM, imported first 13 s; the names it finds are
    the same (checked)."""
    import skops.io  # noqa: F401


def with_auth_token(argv: list, default) -> tuple:
    """`rasa run`'s arguments with `--auth-token` (the one given, else `default()`, added
    here so that it is not on the command line `ps` shows), and the token."""
    token = None
    for i, arg in enumerate(argv):
        if arg in ("-t", "--auth-token") and i + 1 < len(argv):
            token = argv[i + 1]
        elif arg.startswith("--auth-token="):
            token = arg.split("=", 1)[1]
    if token is not None:
        return argv, token
    token = default()
    # `=`: a token may start with "-", which argparse would take for an option
    return [*argv, f"--auth-token={token}"], token


def main() -> None:
    import_skops_first()
    apply_speedups()
    run_graphs_sequentially()
    from bot.settings import get_settings

    if get_settings().actions_in_process:
        run_actions_in_process()
    if sys.argv[1:2] == ["run"]:
        from bot.api_token import rasa_api_token

        sys.argv, token = with_auth_token(sys.argv, rasa_api_token)
        # endpoints.yml hands it to the action server as ${SHOPASSIST_RASA_TOKEN}
        os.environ.setdefault("SHOPASSIST_RASA_TOKEN", token)
        guard_api(token)
        warm_up_before_listening()
        fail_loudly_on_storage_errors()
    from rasa.__main__ import main as rasa_main

    sys.argv[0] = "rasa"
    rasa_main()


if __name__ == "__main__":
    main()
