"""Start every process of the shop assistant on this machine, check their health, and
stop them all cleanly on Ctrl-C or SIGTERM.

Processes: the action server (rasa_sdk, port 5055) and the Rasa server (REST channel and
HTTP API, port 5005). Each runs in its own process group so that stopping reaches its
children too.
"""

from __future__ import annotations

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
    proc: subprocess.Popen | None = None
    log_file: object = field(default=None, repr=False)


def write_endpoints(settings: Settings, run_dir: Path) -> Path:
    """endpoints.yml for this run (the action server's port comes from the settings)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / "endpoints.yml"
    path.write_text("action_endpoint:\n  url: \"http://127.0.0.1:%d/webhook\"\n"
                    % settings.action_port)
    return path


def services(settings: Settings, log_dir: Path, model: Path | None = None) -> list[Service]:
    py = sys.executable
    model = model or model_path(settings.models_dir)
    endpoints = write_endpoints(settings, log_dir)
    return [
        Service("action server",
                [py, "-m", "rasa_sdk", "--actions", "actions", "--port",
                 str(settings.action_port)],
                f"http://127.0.0.1:{settings.action_port}/health",
                f"http://127.0.0.1:{settings.action_port}/webhook",
                log_dir / "actions.log"),
        Service("Rasa server",
                [py, "-m", "rasa", "run", "--enable-api", "--model",
                 str(model), "--endpoints", str(endpoints),
                 "--credentials", "credentials.yml", "--port", str(settings.rasa_port),
                 "--cors", "*"],
                f"http://127.0.0.1:{settings.rasa_port}/status",
                f"http://127.0.0.1:{settings.rasa_port}/webhooks/rest/webhook",
                log_dir / "rasa.log"),
    ]


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status == 200
    except Exception:  # noqa: BLE001 - not up yet
        return False


class Supervisor:
    """Starts services in order, waits for health, stops them all on exit."""

    def __init__(self, settings: Settings | None = None, log_dir: Path | None = None,
                 model: Path | None = None):
        self.settings = settings or get_settings()
        self.log_dir = log_dir or ROOT / "var" / "log"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.services = services(self.settings, self.log_dir, model)

    def start(self, timeout: float = 240.0, env: dict | None = None) -> None:
        env = {**rasa_env(), **(env or {})}
        for svc in self.services:
            svc.log_file = open(svc.log_path, "ab")
            svc.proc = subprocess.Popen(svc.cmd, cwd=ROOT, env=env, stdout=svc.log_file,
                                        stderr=subprocess.STDOUT, start_new_session=True)
            print(f"starting {svc.name} (pid {svc.proc.pid}, log {svc.log_path})",
                  flush=True)
            deadline = time.monotonic() + timeout
            while not _healthy(svc.health_url):
                if svc.proc.poll() is not None:
                    self.stop()
                    raise RuntimeError(f"{svc.name} exited with code {svc.proc.returncode};"
                                       f" see {svc.log_path}")
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"{svc.name} not healthy after {timeout:.0f}s; "
                                       f"see {svc.log_path}")
                time.sleep(0.5)
            print(f"  {svc.name} ready: {svc.public_url}", flush=True)

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
        stop = {"sig": None}

        def handler(signum, _frame):
            stop["sig"] = signum

        signal.signal(signal.SIGINT, handler)
        signal.signal(signal.SIGTERM, handler)
        while stop["sig"] is None:
            for svc in self.services:
                if svc.proc and svc.proc.poll() is not None:
                    print(f"{svc.name} exited (code {svc.proc.returncode}); stopping all; "
                          f"see {svc.log_path}", flush=True)
                    self.stop()
                    return 1
            time.sleep(0.5)
        print("\nstopping...", flush=True)
        self.stop()
        print("stopped.", flush=True)
        return 0


def run_all() -> int:
    sup = Supervisor()
    try:
        sup.start()
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    s = sup.settings
    print("\nshopassist is running (Ctrl-C stops everything):")
    print(f"  Rasa REST channel : http://127.0.0.1:{s.rasa_port}/webhooks/rest/webhook")
    print(f"  Rasa HTTP API     : http://127.0.0.1:{s.rasa_port}/status")
    print(f"  action server     : http://127.0.0.1:{s.action_port}/health")
    print(f"  catalog           : {s.catalog_path}")
    print('  try: curl -s localhost:%d/webhooks/rest/webhook -d \'{"sender": "me", '
          '"message": "疾风跑鞋有42码吗"}\'' % s.rasa_port, flush=True)
    return sup.wait()
