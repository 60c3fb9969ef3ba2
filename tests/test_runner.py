"""`shopassist run` (what `make run` ends in): starts the action server, Rasa and the
desk, prints where they are, and stops every process on SIGTERM (none left, every port
free); refuses to start on a port something else already holds. (Restarts, and Ctrl-C
during a restart's back-off: tests/test_self_healing.py.)"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time

import pytest

from bot.training import model_path
from tests.conftest import free_ports

pytestmark = pytest.mark.e2e


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_run_starts_everything_and_stops_on_sigterm(demo_db, tmp_path):
    if not model_path().exists():
        pytest.fail("no trained model: run `make train` (make test does it)")
    # Rasa's port, then its workers' (port + 1, + 2 on two cores), the actions', the desk's
    rasa, _w1, _w2, action, desk = free_ports(5)
    env = {**os.environ, "SHOPASSIST_CATALOG": str(demo_db), "SHOPASSIST_RASA_PORT": str(rasa),
           "SHOPASSIST_RASA_WORKERS": "2",
           "SHOPASSIST_ACTION_PORT": str(action), "SHOPASSIST_DESK_PORT": str(desk),
           "SHOPASSIST_DESK_DB": str(tmp_path / "desk.db"),
           "SHOPASSIST_TRACKER_STORE_URL": f"sqlite:///{tmp_path / 'trackers.db'}"}
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
            if line.lstrip().startswith("try:"):      # the last line of the banner
                break
        text = "".join(out)
        assert "is running" in text, text
        assert f"http://127.0.0.1:{rasa}/webhooks/rest/webhook" in text
        assert f"http://127.0.0.1:{desk}/console" in text       # the agent console
        assert f"http://127.0.0.1:{desk}/ " in text             # the demo storefront
        assert port_open(rasa) and port_open(action) and port_open(desk)
    finally:
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=60)
    assert rc == 0
    assert not port_open(rasa) and not port_open(action) and not port_open(desk)
    assert not port_open(_w1) and not port_open(_w2)
    # no process left: each was started in a process group of its own
    pids = [int(p) for p in re.findall(r"^starting .+? \(pid (\d+)", text, re.M)]
    assert len(pids) == 5, text        # actions, 2 workers, router, desk
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.killpg(pid, 0)


def test_run_refuses_a_port_that_is_taken(demo_db, tmp_path):
    """A stale server on the port would answer the health check in place of ours."""
    taken, rasa, _w1, _w2, desk = free_ports(5)
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", taken))
        squatter.listen()
        env = {**os.environ, "SHOPASSIST_CATALOG": str(demo_db),
               "SHOPASSIST_RASA_PORT": str(rasa), "SHOPASSIST_ACTION_PORT": str(taken),
               "SHOPASSIST_DESK_PORT": str(desk), "SHOPASSIST_DESK_DB": str(tmp_path / "d.db")}
        done = subprocess.run([sys.executable, "-m", "bot.cli", "run"], env=env,
                              capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert str(taken) in done.stderr and "in use" in done.stderr
    assert not port_open(rasa) and not port_open(desk)
