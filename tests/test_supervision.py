"""The runner's restart policy (bot/runner.py `Supervisor.tend`) on small stand-in
processes: a death is noticed and logged, the restart waits 1, 2, 4 ... 30 s for deaths
in a row, a process counts as back only when its health check passes, and a process
that stayed up a while starts the back-off afresh. (The real processes are killed in
tests/test_self_healing.py.)"""

from __future__ import annotations

import signal
import sys
import time
from dataclasses import replace

import pytest

from bot.runner import Service, Supervisor, backoff_s
from bot.settings import get_settings
from tests.conftest import free_ports


def test_backoff_doubles_up_to_thirty_seconds():
    assert [backoff_s(n) for n in range(1, 9)] == [1, 2, 4, 8, 16, 30, 30, 30]


@pytest.fixture()
def sup(tmp_path, capsys):
    s = Supervisor(replace(get_settings(), rasa_workers=1), log_dir=tmp_path)
    s.env = {}
    yield s
    s.stop()


def web_server(tmp_path, port: int) -> Service:
    """A process with a health check: Python's own HTTP server."""
    return Service("stand-in", [sys.executable, "-m", "http.server", str(port), "--bind",
                                "127.0.0.1", "--directory", str(tmp_path)],
                   f"http://127.0.0.1:{port}/", "", tmp_path / "stand-in.log",
                   needs_token=False)


def tend_until(sup: Supervisor, svc: Service, done, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "gave up waiting"
        sup.tend(svc, time.monotonic())
        time.sleep(0.05)


def test_a_killed_process_is_restarted_after_the_backoff_and_reported(sup, tmp_path,
                                                                      capsys):
    (port,) = free_ports(1)
    svc = web_server(tmp_path, port)
    sup.services = [svc]
    sup.spawn(svc)
    first = svc.proc.pid
    tend_until(sup, svc, lambda: svc.ready)
    svc.proc.send_signal(signal.SIGKILL)
    svc.proc.wait()
    died_at = time.monotonic()
    sup.tend(svc, died_at)
    assert not svc.ready and svc.restart_at == pytest.approx(died_at + 1.0)
    sup.tend(svc, died_at + 0.9)                         # still in its back-off
    assert svc.restart_at is not None and svc.proc.pid == first
    sup.tend(svc, died_at + 1.0)
    assert svc.proc.pid != first and svc.restarts == 1 and not svc.ready
    tend_until(sup, svc, lambda: svc.ready)
    log = capsys.readouterr().out
    assert f"stand-in (pid {first}) died: killed by SIGKILL; restarting in 1 s" in log
    assert f"restarted stand-in (pid {svc.proc.pid}, restart 1)" in log
    assert f"stand-in is back (pid {svc.proc.pid}" in log


def test_deaths_in_a_row_double_the_wait(sup, tmp_path, capsys):
    svc = Service("crasher", [sys.executable, "-c", "raise SystemExit(3)"],
                  "http://127.0.0.1:9/", "", tmp_path / "crasher.log", needs_token=False)
    sup.services = [svc]
    sup.spawn(svc)
    waits = []
    for _ in range(7):
        svc.proc.wait()
        now = time.monotonic()
        sup.tend(svc, now)                     # the death
        waits.append(round(svc.restart_at - now, 3))
        sup.tend(svc, svc.restart_at)          # the restart, once the wait is over
    assert waits == [1, 2, 4, 8, 16, 30, 30]
    assert svc.restarts == 7
    out = capsys.readouterr().out
    assert out.count("died: exit code 3") == 7
    assert "died: exit code 3; restarting in 30 s (death 7 in a row)" in out


def test_a_process_that_stayed_up_starts_the_backoff_afresh(sup, tmp_path):
    (port,) = free_ports(1)
    svc = web_server(tmp_path, port)
    sup.services = [svc]
    sup.spawn(svc)
    tend_until(sup, svc, lambda: svc.ready)
    svc.deaths_in_a_row = 4                    # it had been crashing before
    svc.ready_at -= 61                         # ... then stayed up over a minute
    sup.tend(svc, time.monotonic())
    assert svc.deaths_in_a_row == 0
    svc.proc.kill()
    svc.proc.wait()
    now = time.monotonic()
    sup.tend(svc, now)
    assert svc.restart_at - now == pytest.approx(1.0)


def test_a_restart_that_never_gets_healthy_is_killed(sup, tmp_path, monkeypatch):
    import bot.runner as runner

    svc = Service("hung", [sys.executable, "-c", "import time; time.sleep(60)"],
                  "http://127.0.0.1:9/", "", tmp_path / "hung.log", needs_token=False)
    sup.services = [svc]
    sup.spawn(svc)
    monkeypatch.setattr(runner, "RESTART_HEALTHY_TIMEOUT_S", 0.5)
    time.sleep(0.6)
    sup.tend(svc, time.monotonic())            # overdue: killed
    assert svc.proc.wait(timeout=10) == -signal.SIGKILL
    sup.tend(svc, time.monotonic())            # and its death handled like any other
    assert svc.restart_at is not None and svc.deaths_in_a_row == 1
