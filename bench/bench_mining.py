"""Cross-sell mining at scale: `shopassist catalog mine` on the catalog of 1M SKUs and 10M
order lines (var/bench/, built once as `shopassist catalog demo --scale 1000000` does, the
same file bench_catalog.py queries), run as a child process. Reports its wall time, its CPU
time and its peak resident memory (the child's own `ru_maxrss`, read with `wait4` when it
exits: the whole command, interpreter and imports included), then times `recommend` on
1,000 random products of the freshly mined catalog. Prints the machine and its load.

    .venv/bin/python bench/bench_mining.py [--skus 1000000] [--order-lines 10000000]
        [--rebuild] [--samples 1000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import (ROOT, SCALE_ORDER_LINES, SCALE_SKUS, load_average, machine,
                    scale_catalog, summary_ms)

from catalog.crosssell import recommend
from catalog.queries import Catalog


def mine_in_child(db: Path) -> dict:
    """Run `shopassist catalog mine --db DB` as a child process; its wall time, CPU time,
    peak RSS and the line it prints."""
    shopassist = Path(sys.executable).with_name("shopassist")
    cmd = [str(shopassist), "catalog", "mine", "--db", str(db)]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=err)
        _pid, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{stderr[-2000:]}")
    return {"command": " ".join(cmd), "wall_s": round(wall, 1),
            "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
            "peak_rss_mb": round(usage.ru_maxrss / 1024),      # Linux: ru_maxrss in KiB
            "report": stdout.strip().splitlines()[-1] if stdout.strip() else ""}


def serving_latency_sample(path: Path, n: int) -> dict:
    """`recommend` for n random products, one at a time."""
    c = Catalog(path)
    products = [r[0] for r in c._all("SELECT product_id FROM products ORDER BY random()"
                                      " LIMIT ?", (n,))]
    recommend(c, products[0], "zh")          # warm the connection and caches
    times = []
    for i, pid in enumerate(products):
        t0 = time.perf_counter()
        recommend(c, [pid], "zh" if i % 2 else "en")
        times.append(time.perf_counter() - t0)
    return summary_ms(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--skus", type=int, default=SCALE_SKUS)
    ap.add_argument("--order-lines", type=int, default=SCALE_ORDER_LINES)
    ap.add_argument("--rebuild", action="store_true", help="build the catalog again")
    ap.add_argument("--samples", type=int, default=1000, help="products for recommend()")
    args = ap.parse_args()
    db = scale_catalog(args.skus, args.order_lines, args.rebuild)
    print(f"machine: {machine()}")
    print(f"before mining: {load_average()}", flush=True)
    mining = mine_in_child(db)
    print(f"{mining['command']}\n  {mining['report']}\n  wall {mining['wall_s']} s, "
          f"CPU {mining['cpu_s']} s, peak RSS {mining['peak_rss_mb']} MB "
          f"(after: {load_average()})", flush=True)
    serving = serving_latency_sample(db, args.samples)
    print(f"recommend() on {args.samples} random products of the mined catalog: "
          f"mean {serving['mean_ms']} ms, p50 {serving['p50_ms']} ms, "
          f"p95 {serving['p95_ms']} ms")
    print(json.dumps({"machine": machine(), "catalog": str(db), "mining": mining,
                      "serving_ms": serving}))


if __name__ == "__main__":
    main()
