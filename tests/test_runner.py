"""`shopassist run` (what `make run` ends in): starts both servers, prints where they
are, and stops every process on SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from bot.training import model_path

pytestmark = pytest.mark.e2e


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_run_starts_everything_and_stops_on_sigterm(demo_db, tmp_path):
    if not model_path().exists():
        pytest.fail("no trained model: run `make train` (make test does it)")
    env = {**os.environ, "SHOPASSIST_CATALOG": str(demo_db), "SHOPASSIST_RASA_PORT": "15205",
           "SHOPASSIST_ACTION_PORT": "15255"}
    proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "run"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = []
    deadline = time.monotonic() + 240
    try:
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line and proc.poll() is not None:
                break
            out.append(line)
            if "is running" in line:
                break
        text = "".join(out)
        assert "is running" in text, text
        assert "http://127.0.0.1:15205/webhooks/rest/webhook" in text
        assert port_open(15205) and port_open(15255)
    finally:
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=60)
    assert rc == 0
    assert not port_open(15205) and not port_open(15255)
