"""Helpers shared by the benchmarks: the machine they ran on, what else was running, percentiles,
process memory, and the 1M-SKU catalog that the catalog and mining benchmarks share."""

from __future__ import annotations

import os
import platform
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / 1024 / 1024:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return (f"{platform.system()} {platform.release()}, {cpu}, {os.cpu_count()} cores{mem}, "
            f"Python {platform.python_version()}")


def load_average() -> str:
    """The machine's load averages (1, 5, 15 minutes) and the busiest other processes, so
    a figure says what else was running beside it."""
    try:
        one, five, fifteen = Path("/proc/loadavg").read_text().split()[:3]
    except OSError:
        return "load unknown"
    return f"load average {one} / {five} / {fifteen} (1 / 5 / 15 min)"


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    k = min(len(s) - 1, max(0, int(round(p / 100 * (len(s) - 1)))))
    return s[k]


def summary_ms(values_s: list[float]) -> dict:
    ms = [v * 1000 for v in values_s]
    return {"n": len(ms), "p50_ms": round(pct(ms, 50), 2), "p95_ms": round(pct(ms, 95), 2),
            "mean_ms": round(statistics.fmean(ms), 3) if ms else None}


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children, in MB."""
    total = 0
    pids = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(c) for c in children]
    except OSError:
        pass
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return round(total / 1024, 1)


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) used so far by a process and its children."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    pids = [pid]
    try:
        pids += [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        pass
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        except (OSError, IndexError, ValueError):
            pass
    return total


def quiet_rasa_logs() -> None:
    """Rasa at warning level: its debug log prints every message it parses (the held-out
    texts are to be scored, not read) and slows the run."""
    import logging

    from rasa.utils.common import configure_logging_and_warnings

    configure_logging_and_warnings(logging.WARNING)
    try:
        from rasa.utils.log_utils import configure_structlog

        configure_structlog(logging.WARNING)
    except ImportError:
        pass


SCALE_SKUS = 1_000_000
SCALE_ORDER_LINES = 10_000_000


def scale_catalog(skus: int = SCALE_SKUS, order_lines: int = SCALE_ORDER_LINES,
                  rebuild: bool = False) -> Path:
    """The catalog of `skus` SKUs and `order_lines` order lines in var/bench/, built once
    the way `shopassist catalog demo --scale SKUS --order-lines LINES` builds it (about
    3 minutes and 2.5 GB for the default 1M SKUs / 10M lines)."""
    import time

    from catalog.demo import build_demo

    path = ROOT / "var" / "bench" / f"catalog_{skus}_{order_lines}.db"
    if rebuild or not path.exists():          # build_demo writes a temp file, then renames
        t0 = time.perf_counter()
        build_demo(path, skus=skus, order_lines=order_lines,
                   progress=lambda m: print("  ", m, flush=True) if "skus" not in m
                   or m.endswith("000") else None)
        print(f"built {path} in {time.perf_counter() - t0:.0f}s", flush=True)
    return path
