"""PostgreSQL, Redis and HAProxy from Debian's packages, started on spare ports in
temporary directories and stopped again: what the cluster tests and `shopassist
cluster` (bot/cluster.py) run the desk and Rasa against on one machine.

    with LocalPostgres() as pg, LocalRedis() as redis:
        pg.url("shopassist")       # postgresql://shopassist@127.0.0.1:<port>/shopassist
        redis.url                  # redis://127.0.0.1:<port>/0

PostgreSQL: `initdb` in a fresh directory (C locale, UTF-8, trust authentication for
127.0.0.1 only), `postgres` on a free port, listening on 127.0.0.1 alone. It will not run
as root: as root, the directory is given to the `postgres` user Debian's package creates
and the server runs as that user. Redis: `redis-server` with no persistence files (a
cache and a message bus here, never a record). HAProxy: `haproxy -f <config>` in the
foreground.

A missing binary raises `MissingBinary`, whose message names the Debian package to
install (the tests turn it into a skip, or a failure under CI, tests/cluster_support.py).
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

PG_BIN_DIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
PG_SUPERUSER = "shopassist"


class MissingBinary(RuntimeError):
    """A server's binary is not installed (the message says which Debian package)."""


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, timeout_s: float, what: str,
                  log: Path | None = None) -> None:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:] if log and log.exists() else ""
            raise RuntimeError(f"{what} exited with {proc.returncode}:\n{tail}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on port {port} within {timeout_s:.0f} s")


def _which(name: str, package: str, dirs: list[Path] = ()) -> str:
    for d in dirs:
        if (d / name).exists():
            return str(d / name)
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if not found:
        raise MissingBinary(f"{name} is not installed: apt-get install {package}")
    return found


def pg_binary(name: str) -> str:
    return _which(name, "postgresql", PG_BIN_DIRS)


class _Server:
    """A server process in its own process group, stopped by `stop()`."""

    proc: subprocess.Popen | None = None
    dir: Path

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:                     # pragma: no cover - overridden
        raise NotImplementedError

    def _stop_proc(self, sig: int = signal.SIGTERM, timeout_s: float = 20) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, sig)
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
            except ProcessLookupError:
                pass

    def stop(self) -> None:
        self._stop_proc()
        shutil.rmtree(self.dir, ignore_errors=True)


class LocalPostgres(_Server):
    """A PostgreSQL server of its own (see the module docstring)."""

    def __init__(self, port: int | None = None, *, durable: bool = True,
                 base_dir: str | Path | None = None):
        self.port = port or free_port()
        self.durable = durable        # False: fsync off (tests: nothing here outlives them)
        self.base_dir = base_dir
        self._as: list[str] = []

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{PG_SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        initdb = pg_binary("initdb")
        self.dir = Path(tempfile.mkdtemp(prefix="shopassist-pg-", dir=self.base_dir))
        data = self.dir / "data"
        if os.geteuid() == 0:
            # PostgreSQL refuses to run as root: the package's own user runs it
            try:
                user = pwd.getpwnam("postgres")
            except KeyError as exc:
                raise MissingBinary("running as root needs the `postgres` user "
                                    "(apt-get install postgresql)") from exc
            os.chmod(self.dir, 0o700)
            os.chown(self.dir, user.pw_uid, user.pw_gid)
            self._as = ["runuser", "-u", "postgres", "--"]
        log = self.dir / "initdb.log"
        with open(log, "wb") as out:
            done = subprocess.run(
                [*self._as, initdb, "-D", str(data), "-U", PG_SUPERUSER, "--auth=trust",
                 "--encoding=UTF8", "--locale=C", "--no-sync"],
                stdout=out, stderr=subprocess.STDOUT)
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed:\n{log.read_text(errors='replace')}")
        self.log = self.dir / "postgres.log"
        self.start_server()

    def start_server(self) -> None:
        """Start the server on the data directory `start` made (again, after
        `stop_server`)."""
        options = ["-c", "listen_addresses=127.0.0.1", "-c", f"port={self.port}",
                   "-c", f"unix_socket_directories={self.dir}", "-c", "max_connections=200",
                   "-c", "shared_buffers=64MB"]
        if not self.durable:
            options += ["-c", "fsync=off", "-c", "full_page_writes=off"]
        out = open(self.log, "ab")
        self.proc = subprocess.Popen(
            [*self._as, pg_binary("postgres"), "-D", str(self.dir / "data"), *options],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        out.close()
        wait_for_port(self.port, self.proc, 60, "postgres", self.log)
        self._wait_ready()

    def stop_server(self, mode: str = "fast") -> None:
        """Stop the server with `pg_ctl stop -m <mode>`, keeping its data (what a
        restart of the database does to the desk; `start_server` brings it back)."""
        subprocess.run([*self._as, pg_binary("pg_ctl"), "stop", "-D",
                        str(self.dir / "data"), "-m", mode, "-w"],
                       check=True, capture_output=True)
        self.proc.wait(30)

    def _wait_ready(self, timeout_s: float = 30) -> None:
        import psycopg2

        end = time.monotonic() + timeout_s
        while True:
            try:
                psycopg2.connect(self.url()).close()
                return
            except psycopg2.OperationalError:
                if time.monotonic() > end:
                    raise
                time.sleep(0.1)

    def create_database(self, name: str) -> str:
        """A new empty database; returns its URL."""
        import psycopg2

        conn = psycopg2.connect(self.url())
        try:
            conn.autocommit = True
            conn.cursor().execute(f'CREATE DATABASE "{name}"')
        finally:
            conn.close()
        return self.url(name)

    def stop(self) -> None:
        self._stop_proc(signal.SIGINT)           # PostgreSQL's "fast" shutdown
        shutil.rmtree(self.dir, ignore_errors=True)


class LocalRedis(_Server):
    """A Redis server of its own, nothing written to disk."""

    def __init__(self, port: int | None = None, base_dir: str | Path | None = None):
        self.port = port or free_port()
        self.base_dir = base_dir

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = _which("redis-server", "redis-server")
        self.dir = Path(tempfile.mkdtemp(prefix="shopassist-redis-", dir=self.base_dir))
        self.log = self.dir / "redis.log"
        out = open(self.log, "wb")
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.dir), "--protected-mode", "yes"],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        out.close()
        wait_for_port(self.port, self.proc, 30, "redis-server", self.log)


class LocalHAProxy(_Server):
    """HAProxy in the foreground with a given configuration file."""

    def __init__(self, config: str, base_dir: str | Path | None = None):
        self.config = config
        self.base_dir = base_dir

    def prepare(self) -> list[str]:
        """Write the configuration into a new directory and have HAProxy check it;
        returns the command that runs HAProxy in the foreground on it (what `start`
        runs, and what `shopassist cluster` supervises)."""
        binary = _which("haproxy", "haproxy")
        self.dir = Path(tempfile.mkdtemp(prefix="shopassist-haproxy-", dir=self.base_dir))
        cfg = self.dir / "haproxy.cfg"
        cfg.write_text(self.config)
        check = subprocess.run([binary, "-c", "-f", str(cfg)], capture_output=True,
                               text=True)
        if check.returncode != 0:
            raise RuntimeError(f"haproxy rejects its configuration:\n{check.stdout}"
                               f"{check.stderr}")
        return [binary, "-db", "-f", str(cfg)]

    def start(self, wait_port: int | None = None) -> None:
        command = self.prepare()
        self.log = self.dir / "haproxy.log"
        out = open(self.log, "wb")
        self.proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        out.close()
        if wait_port:
            wait_for_port(wait_port, self.proc, 30, "haproxy", self.log)
