"""Start every process of the shop assistant on this machine, check their health, keep
them running, and stop them all cleanly on Ctrl-C or SIGTERM.

Processes: the action server (`bot.action_server`, port 5055), the Rasa server (REST
channel and HTTP API, port 5005): with SHOPASSIST_RASA_WORKERS > 1 (the default on a
machine with several cores), that many Rasa servers on private ports behind
`bot.rasa_router` on port 5005, each conversation always on the same one; and, under
`shopassist run`, the desk (port 8000: the demo storefront with the widget, the shopper
API, the agent console). Each process runs in its own process group so that stopping
reaches its children too.

The public processes listen on `settings.bind_host` (127.0.0.1 unless configured; the
workers behind the router always on 127.0.0.1). Every process gets the installation's API
token (`bot/api_token.py`) in its environment; the runner's own health checks and
warm-up send it.

Supervision (`Supervisor.wait`, what `shopassist run` does once everything is up): a
process that dies is started again after a back-off of 1, 2, 4, 8, 16, then 30 seconds
for each death in a row, the count reset once it has stayed healthy for
`STABLE_AFTER_S`; a restarted process counts as up only when its health check passes
(a Rasa server: its model loaded and warmed up). Every death and restart is printed
with the time. Only Ctrl-C or SIGTERM stop the stack, during a back-off too.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from bot.api_token import rasa_api_token
from bot.settings import ROOT, Settings, get_settings
from bot.training import model_path, rasa_env

BACKOFF_FIRST_S = 1.0
BACKOFF_MAX_S = 30.0
STABLE_AFTER_S = 60.0       # up this long: the next death starts the back-off afresh
RESTART_HEALTHY_TIMEOUT_S = 300.0   # a restarted process not healthy by then is killed
TICK_S = 0.25


@dataclass
class Service:
    name: str
    cmd: list[str]
    health_url: str
    public_url: str
    log_path: Path
    is_rasa_server: bool = False          # holds a model: warmed up after start
    env: dict = field(default_factory=dict)  # added to the environment of this process
    proc: subprocess.Popen | None = None
    log_file: object = field(default=None, repr=False)
    needs_token: bool = True              # health check and warm-up send the API token
    # -- supervision ----------------------------------------------------------------
    ready: bool = False                   # healthy (and warm) since its last start
    started_at: float = 0.0               # monotonic time of the last start
    ready_at: float = 0.0                 # ... and when it became healthy
    deaths_in_a_row: int = 0
    restart_at: float | None = None       # in back-off until then
    restarts: int = 0


def connect_host(bind_host: str) -> str:
    """Where this machine reaches a server listening on `bind_host`."""
    return "127.0.0.1" if bind_host in ("", "0.0.0.0", "::") else bind_host


def backoff_s(deaths_in_a_row: int) -> float:
    """1, 2, 4, 8, 16, 30, 30, ... seconds."""
    return min(BACKOFF_MAX_S, BACKOFF_FIRST_S * 2 ** max(0, deaths_in_a_row - 1))


def lock_store_endpoint(redis_url: str) -> str:
    """endpoints.yml's `lock_store` for Rasa's RedisLockStore at `redis_url`
    (redis://[:password@]host:port/db): Rasa servers on several machines then take turns
    on a conversation, so any of them can answer any conversation."""
    u = urllib.parse.urlsplit(redis_url)
    db = (u.path or "/0").strip("/") or "0"
    lines = ["lock_store:", "  type: redis", f"  url: \"{u.hostname or '127.0.0.1'}\"",
             f"  port: {u.port or 6379}", f"  db: {int(db)}",
             "  key_prefix: shopassist"]
    if u.password:
        lines.append("  password: \"${SHOPASSIST_REDIS_PASSWORD}\"")
    return "\n".join(lines) + "\n"


def rasa_env_for(settings: Settings) -> dict:
    """What a Rasa server's environment adds: its tracker store, and the lock store's
    Redis password when there is one (read by endpoints.yml, never written to disk)."""
    env = {"SHOPASSIST_TRACKER_STORE_URL": settings.tracker_store_url}
    if settings.redis_url and urllib.parse.urlsplit(settings.redis_url).password:
        env["SHOPASSIST_REDIS_PASSWORD"] = urllib.parse.unquote(
            urllib.parse.urlsplit(settings.redis_url).password)
    return env


def write_endpoints(settings: Settings, run_dir: Path) -> Path:
    """endpoints.yml for this run: the action server's address from the settings, its
    token from the environment (never written to disk), the SQL tracker store, and in
    cluster mode (`redis_url` set) Rasa's RedisLockStore."""
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / "endpoints.yml"
    path.write_text(
        "action_endpoint:\n"
        f"  url: \"http://{connect_host(settings.bind_host)}:{settings.action_port}/webhook\"\n"
        "  token: \"${SHOPASSIST_RASA_TOKEN}\"\n"
        "  enable_selective_domain: true\n"
        "tracker_store:\n"
        "  type: bot.tracker_store.ShopTrackerStore\n"
        + (lock_store_endpoint(settings.redis_url) if settings.redis_url else ""))
    return path


def services(settings: Settings, log_dir: Path, model: Path | None = None,
             plain_rasa: bool = False, with_desk: bool = False) -> list[Service]:
    py = sys.executable
    model = model or model_path(settings.models_dir)
    endpoints = write_endpoints(settings, log_dir)
    host = settings.bind_host
    public = connect_host(host)
    cors = ["--cors", *settings.rasa_cors_origins] if settings.rasa_cors_origins else []
    out = [Service("action server",
                   [py, "-m", "bot.action_server", "--port", str(settings.action_port),
                    "--host", host, *cors],
                   f"http://{public}:{settings.action_port}/health",
                   f"http://{public}:{settings.action_port}/webhook",
                   log_dir / "actions.log")]
    n = max(1, settings.rasa_workers)
    ports = [settings.rasa_port] if n == 1 else \
        [settings.rasa_port + 1 + i for i in range(n)]
    # a lone Rasa server faces the network itself; workers behind the router do not
    rasa_host = host if n == 1 else "127.0.0.1"
    for i, port in enumerate(ports):
        name = "Rasa server" if n == 1 else f"Rasa worker {i + 1}"
        where = connect_host(rasa_host)
        # Rasa as released cannot read the token by itself: only there is it an argument
        token_arg = [f"--auth-token={rasa_api_token(settings)}"] if plain_rasa else []
        out.append(Service(
            name,
            [py, "-m", "rasa" if plain_rasa else "bot.rasa_server", "run", "--enable-api",
             "--model", str(model),
             "--endpoints", str(endpoints), "--credentials", "credentials.yml",
             "--interface", rasa_host, "--port", str(port), *cors, *token_arg],
            f"http://{where}:{port}/status",
            f"http://{where}:{port}/webhooks/rest/webhook",
            log_dir / ("rasa.log" if n == 1 else f"rasa-{i + 1}.log"),
            is_rasa_server=True,
            env=rasa_env_for(settings)))
    if n > 1:
        out.append(Service(
            "Rasa router",
            [py, "-m", "bot.rasa_router", "--host", host, "--port", str(settings.rasa_port),
             *[arg for p in ports for arg in ("--worker", f"http://127.0.0.1:{p}")]],
            f"http://{public}:{settings.rasa_port}/status",
            f"http://{public}:{settings.rasa_port}/webhooks/rest/webhook",
            log_dir / "router.log"))
    if with_desk:
        out.append(Service(
            "desk",
            [py, "-m", "desk", "--host", settings.desk_host,
             "--port", str(settings.desk_port)],
            f"http://127.0.0.1:{settings.desk_port}/health",
            f"http://127.0.0.1:{settings.desk_port}/",
            log_dir / "desk.log",
            env={"SHOPASSIST_RASA_URL": f"http://{public}:{settings.rasa_port}"},
            needs_token=False))
    return out


def _port_of(url: str) -> int:
    return int(url.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)[1])


def _port_taken(port: int) -> bool:
    import socket

    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status == 200
    except Exception:  # noqa: BLE001 - not up yet
        return False


def with_token(url: str, token: str) -> str:
    return url + ("&" if "?" in url else "?") + urllib.parse.urlencode({"token": token})


def _describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


class Supervisor:
    """Starts services in order, waits for health, restarts any that dies (in `wait`),
    stops them all on exit."""

    def __init__(self, settings: Settings | None = None, log_dir: Path | None = None,
                 model: Path | None = None, plain_rasa: bool = False,
                 with_desk: bool = False):
        self.settings = settings or get_settings()
        self.log_dir = log_dir or ROOT / "var" / "log"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.token = rasa_api_token(self.settings)
        # plain_rasa: Rasa exactly as released, without bot/rasa_server.py's fixes (benchmarks)
        self.services = services(self.settings, self.log_dir, model, plain_rasa, with_desk)
        self.signalled: int | None = None
        self.env: dict = {}

    def say(self, text: str) -> None:
        """A line of the runner's log (its standard output), with the time."""
        print(f"[{datetime.now():%H:%M:%S}] {text}", flush=True)

    def handle_signals(self) -> None:
        """Ctrl-C and SIGTERM stop everything, during start-up and back-off too."""

        def handler(signum, _frame):
            self.signalled = signum

        signal.signal(signal.SIGINT, handler)
        signal.signal(signal.SIGTERM, handler)

    def healthy(self, svc: Service) -> bool:
        return _healthy(with_token(svc.health_url, self.token) if svc.needs_token
                        else svc.health_url)

    def spawn(self, svc: Service) -> None:
        if svc.log_file is None:
            svc.log_file = open(svc.log_path, "ab")
        svc.proc = subprocess.Popen(svc.cmd, cwd=ROOT, env={**self.env, **svc.env},
                                    stdout=svc.log_file, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        svc.ready = False
        svc.started_at = time.monotonic()

    def start(self, timeout: float = 240.0, env: dict | None = None) -> None:
        """Start every service at once (Rasa workers load their models in parallel), then
        wait until each answers its health check."""
        self.env = {**rasa_env(), **(env or {}), "SHOPASSIST_RASA_TOKEN": self.token}
        taken = [(svc.name, _port_of(svc.health_url)) for svc in self.services
                 if _port_taken(_port_of(svc.health_url))]
        if taken:
            # a stale server there would answer the health check in our place
            raise RuntimeError("port already in use: " + ", ".join(
                f"{p} ({name})" for name, p in taken) + "; is shopassist already running? "
                "Stop it, or choose other ports (docs/running.md, Settings)")
        for svc in self.services:
            self.spawn(svc)
            print(f"starting {svc.name} (pid {svc.proc.pid}, log {svc.log_path})",
                  flush=True)
        deadline = time.monotonic() + timeout
        for svc in self.services:
            while not self.healthy(svc):
                if self.signalled is not None:
                    self.stop()
                    raise RuntimeError("interrupted during start-up; stopped everything")
                if svc.proc.poll() is not None:
                    self.stop()
                    raise RuntimeError(f"{svc.name} exited with code {svc.proc.returncode};"
                                       f" see {svc.log_path}")
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"{svc.name} not healthy after {timeout:.0f}s; "
                                       f"see {svc.log_path}")
                time.sleep(0.3)
            print(f"  {svc.name} ready: {svc.public_url}", flush=True)
        for svc in self.services:
            self.warm_up(svc)
            svc.ready, svc.ready_at = True, time.monotonic()

    def warm_up(self, svc: Service) -> None:
        """Parse a message in each language on a Rasa server, so that the first shopper
        does not pay for loading jieba's dictionary and tracing the model (our Rasa
        servers do it themselves before they listen; Rasa as released does not)."""
        from bot.rasa_server import WARM_UP_MESSAGES

        if not svc.is_rasa_server:
            return
        base = svc.health_url.rsplit("/", 1)[0]
        for text in WARM_UP_MESSAGES:
            req = urllib.request.Request(
                with_token(f"{base}/model/parse", self.token),
                data=json.dumps({"text": text}).encode(),
                headers={"Content-Type": "application/json"})
            try:
                urllib.request.urlopen(req, timeout=60).read()
            except Exception as exc:  # noqa: BLE001 - warm-up is best effort
                print(f"  warm-up of {svc.name} failed: {exc}", flush=True)

    def _kill_group(self, svc: Service, sig: int) -> None:
        try:
            os.killpg(svc.proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def stop(self) -> None:
        for svc in reversed(self.services):
            svc.restart_at = None
            if svc.proc and svc.proc.poll() is None:
                self._kill_group(svc, signal.SIGTERM)
        for svc in reversed(self.services):
            if svc.proc:
                try:
                    svc.proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    self._kill_group(svc, signal.SIGKILL)
                    svc.proc.wait()
                # whatever it left in its group (a leader killed outright leaves them)
                self._kill_group(svc, signal.SIGKILL)
            if svc.log_file:
                svc.log_file.close()
                svc.log_file = None

    def tend(self, svc: Service, now: float) -> None:
        """One look at one service: notice a death, restart after the back-off, see it
        become healthy again, forget old deaths once it has stayed up."""
        if svc.restart_at is not None:
            if now >= svc.restart_at:
                svc.restart_at = None
                self.spawn(svc)
                svc.restarts += 1
                self.say(f"restarted {svc.name} (pid {svc.proc.pid}, restart "
                         f"{svc.restarts}); waiting for it to be healthy")
            return
        code = svc.proc.poll()
        if code is not None:
            self._kill_group(svc, signal.SIGKILL)      # leftovers of the dead one
            up_for = now - svc.ready_at if svc.ready else 0.0
            svc.deaths_in_a_row = 1 if up_for >= STABLE_AFTER_S else svc.deaths_in_a_row + 1
            delay = backoff_s(svc.deaths_in_a_row)
            svc.ready = False
            svc.restart_at = now + delay
            self.say(f"{svc.name} (pid {svc.proc.pid}) died: {_describe_exit(code)}; "
                     f"restarting in {delay:g} s (death {svc.deaths_in_a_row} in a row); "
                     f"see {svc.log_path}")
            return
        if not svc.ready:
            if self.healthy(svc):
                self.warm_up(svc)
                svc.ready, svc.ready_at = True, time.monotonic()
                self.say(f"{svc.name} is back (pid {svc.proc.pid}, healthy "
                         f"{svc.ready_at - svc.started_at:.1f} s after its restart)")
            elif now - svc.started_at > RESTART_HEALTHY_TIMEOUT_S:
                self.say(f"{svc.name} (pid {svc.proc.pid}) not healthy "
                         f"{RESTART_HEALTHY_TIMEOUT_S:.0f} s after its restart; killing it")
                self._kill_group(svc, signal.SIGKILL)
        elif svc.deaths_in_a_row and now - svc.ready_at >= STABLE_AFTER_S:
            svc.deaths_in_a_row = 0

    def wait(self) -> int:
        """Keep every service running until Ctrl-C or SIGTERM; then stop them all."""
        while self.signalled is None:
            now = time.monotonic()
            for svc in self.services:
                if self.signalled is not None:
                    break
                self.tend(svc, now)
            time.sleep(TICK_S)
        print("\nstopping...", flush=True)
        self.stop()
        print("stopped.", flush=True)
        return 0


def run_all() -> int:
    sup = Supervisor(with_desk=True)
    sup.handle_signals()
    try:
        sup.start()
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    s = sup.settings
    desk = f"http://127.0.0.1:{s.desk_port}"
    rasa = f"http://{connect_host(s.bind_host)}:{s.rasa_port}"
    token_from = "SHOPASSIST_RASA_TOKEN" if s.rasa_token else _shown(s.rasa_token_file)
    print("\nshopassist is running (Ctrl-C stops everything; a process that dies is "
          "restarted):")
    print(f"  demo storefront   : {desk}/   (English: {desk}/?lang=en)")
    print(f"  agent console     : {desk}/console   (demo log-ins: README, 'Demo agents')")
    print(f"  shopper API       : {desk}/api/conversations   (OpenAPI: {desk}/api/openapi.json)")
    print(f"  Rasa REST channel : {rasa}/webhooks/rest/webhook")
    print(f"  Rasa HTTP API     : {rasa}/status?token=...   (token: {token_from})")
    print(f"  action server     : http://{connect_host(s.bind_host)}:{s.action_port}/health"
          "?token=...")
    print(f"  catalog           : {_shown(s.catalog_path)}")
    print(f"  conversations     : {_safe_url(s.tracker_store_url)}")
    print('  try: curl -s %s/webhooks/rest/webhook -d \'{"sender": "me", '
          '"message": "疾风跑鞋有42码吗"}\'' % rasa, flush=True)
    return sup.wait()


def _shown(path) -> str:
    """A path as printed: relative to the project when it is inside it."""
    try:
        return str(Path(path).resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def _safe_url(url: str) -> str:
    """A database URL without its password, for printing (a SQLite file as `_shown`)."""
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
    except Exception:  # noqa: BLE001 - printing only
        return url.split("@")[-1]
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        return f"sqlite:///{_shown(parsed.database)}"
    return parsed.render_as_string(hide_password=True)
