"""Start every process of the shop assistant on this machine, check their health, and
stop them all cleanly on Ctrl-C or SIGTERM.

Processes: the action server (rasa_sdk, port 5055), the Rasa server (REST channel and
HTTP API, port 5005): with SHOPASSIST_RASA_WORKERS > 1 (the default on a machine with
several cores), that many Rasa servers behind `bot.rasa_router` on port 5005, each
conversation always on the same one; and, under `shopassist run`, the desk (port 8000:
the demo storefront with the widget, the shopper API, the agent console). Each process
runs in its own process group so that stopping reaches its children too.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from bot.settings import ROOT, Settings, get_settings
from bot.training import model_path, rasa_env


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


def write_endpoints(settings: Settings, run_dir: Path) -> Path:
    """endpoints.yml for this run (the action server's port comes from the settings)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / "endpoints.yml"
    path.write_text("action_endpoint:\n  url: \"http://127.0.0.1:%d/webhook\"\n"
                    "  enable_selective_domain: true\n" % settings.action_port)
    return path


def services(settings: Settings, log_dir: Path, model: Path | None = None,
             plain_rasa: bool = False, with_desk: bool = False) -> list[Service]:
    py = sys.executable
    model = model or model_path(settings.models_dir)
    endpoints = write_endpoints(settings, log_dir)
    out = [Service("action server",
                   [py, "-m", "rasa_sdk", "--actions", "actions", "--port",
                    str(settings.action_port)],
                   f"http://127.0.0.1:{settings.action_port}/health",
                   f"http://127.0.0.1:{settings.action_port}/webhook",
                   log_dir / "actions.log")]
    n = max(1, settings.rasa_workers)
    ports = [settings.rasa_port] if n == 1 else \
        [settings.rasa_port + 1 + i for i in range(n)]
    for i, port in enumerate(ports):
        name = "Rasa server" if n == 1 else f"Rasa worker {i + 1}"
        out.append(Service(
            name,
            [py, "-m", "rasa" if plain_rasa else "bot.rasa_server", "run", "--enable-api",
             "--model", str(model),
             "--endpoints", str(endpoints), "--credentials", "credentials.yml",
             "--port", str(port), "--cors", "*"],
            f"http://127.0.0.1:{port}/status",
            f"http://127.0.0.1:{port}/webhooks/rest/webhook",
            log_dir / ("rasa.log" if n == 1 else f"rasa-{i + 1}.log"),
            is_rasa_server=True))
    if n > 1:
        out.append(Service(
            "Rasa router",
            [py, "-m", "bot.rasa_router", "--port", str(settings.rasa_port),
             *[arg for p in ports for arg in ("--worker", f"http://127.0.0.1:{p}")]],
            f"http://127.0.0.1:{settings.rasa_port}/status",
            f"http://127.0.0.1:{settings.rasa_port}/webhooks/rest/webhook",
            log_dir / "router.log"))
    if with_desk:
        out.append(Service(
            "desk",
            [py, "-m", "desk", "--host", settings.desk_host,
             "--port", str(settings.desk_port)],
            f"http://127.0.0.1:{settings.desk_port}/health",
            f"http://127.0.0.1:{settings.desk_port}/",
            log_dir / "desk.log",
            env={"SHOPASSIST_RASA_URL": f"http://127.0.0.1:{settings.rasa_port}"}))
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


class Supervisor:
    """Starts services in order, waits for health, stops them all on exit."""

    def __init__(self, settings: Settings | None = None, log_dir: Path | None = None,
                 model: Path | None = None, plain_rasa: bool = False,
                 with_desk: bool = False):
        self.settings = settings or get_settings()
        self.log_dir = log_dir or ROOT / "var" / "log"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        # plain_rasa: Rasa exactly as released, without bot/rasa_server.py's fixes (benchmarks)
        self.services = services(self.settings, self.log_dir, model, plain_rasa, with_desk)
        self.signalled: int | None = None

    def handle_signals(self) -> None:
        """Ctrl-C and SIGTERM stop everything, during start-up too."""

        def handler(signum, _frame):
            self.signalled = signum

        signal.signal(signal.SIGINT, handler)
        signal.signal(signal.SIGTERM, handler)

    def start(self, timeout: float = 240.0, env: dict | None = None) -> None:
        """Start every service at once (Rasa workers load their models in parallel), then
        wait until each answers its health check."""
        env = {**rasa_env(), **(env or {})}
        taken = [(svc.name, _port_of(svc.health_url)) for svc in self.services
                 if _port_taken(_port_of(svc.health_url))]
        if taken:
            # a stale server there would answer the health check in our place
            raise RuntimeError("port already in use: " + ", ".join(
                f"{p} ({name})" for name, p in taken) + "; is shopassist already running? "
                "Stop it, or choose other ports (docs/running.md, Settings)")
        for svc in self.services:
            svc.log_file = open(svc.log_path, "ab")
            svc.proc = subprocess.Popen(svc.cmd, cwd=ROOT, env={**env, **svc.env},
                                        stdout=svc.log_file,
                                        stderr=subprocess.STDOUT, start_new_session=True)
            print(f"starting {svc.name} (pid {svc.proc.pid}, log {svc.log_path})",
                  flush=True)
        deadline = time.monotonic() + timeout
        for svc in self.services:
            while not _healthy(svc.health_url):
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
        self.warm_up()

    def warm_up(self) -> None:
        """Parse a message in each language on every Rasa server, so that the first
        shopper does not pay for loading jieba's dictionary and tracing the model."""
        for svc in self.services:
            if not svc.is_rasa_server:
                continue
            base = svc.health_url.rsplit("/", 1)[0]
            for text in ("亲，这款跑鞋有42码吗", "is this in stock in XL?"):
                req = urllib.request.Request(
                    f"{base}/model/parse", data=json.dumps({"text": text}).encode(),
                    headers={"Content-Type": "application/json"})
                try:
                    urllib.request.urlopen(req, timeout=60).read()
                except Exception as exc:  # noqa: BLE001 - warm-up is best effort
                    print(f"  warm-up of {svc.name} failed: {exc}", flush=True)

    def stop(self) -> None:
        for svc in reversed(self.services):
            if svc.proc and svc.proc.poll() is None:
                try:
                    os.killpg(svc.proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for svc in reversed(self.services):
            if svc.proc:
                try:
                    svc.proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    try:
                        os.killpg(svc.proc.pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                    svc.proc.wait()
            if svc.log_file:
                svc.log_file.close()
                svc.log_file = None

    def wait(self) -> int:
        """Block until a signal arrives or a service dies; return an exit code."""
        while self.signalled is None:
            for svc in self.services:
                if svc.proc and svc.proc.poll() is not None:
                    print(f"{svc.name} exited (code {svc.proc.returncode}); stopping all; "
                          f"see {svc.log_path}", flush=True)
                    self.stop()
                    return 1
            time.sleep(0.3)
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
    print("\nshopassist is running (Ctrl-C stops everything):")
    print(f"  demo storefront   : {desk}/   (English: {desk}/?lang=en)")
    print(f"  agent console     : {desk}/console   (demo log-ins: README, 'Demo agents')")
    print(f"  shopper API       : {desk}/api/conversations   (OpenAPI: {desk}/api/openapi.json)")
    print(f"  Rasa REST channel : http://127.0.0.1:{s.rasa_port}/webhooks/rest/webhook")
    print(f"  Rasa HTTP API     : http://127.0.0.1:{s.rasa_port}/status")
    print(f"  action server     : http://127.0.0.1:{s.action_port}/health")
    print(f"  catalog           : {s.catalog_path}")
    print('  try: curl -s localhost:%d/webhooks/rest/webhook -d \'{"sender": "me", '
          '"message": "疾风跑鞋有42码吗"}\'' % s.rasa_port, flush=True)
    return sup.wait()
