"""Run every benchmark one after the other (`make bench`); each prints its own figures and
the machine it ran on. Benchmarks are not tests: nothing here passes or fails."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHES = ["bench_nlu.py", "bench_latency.py", "bench_catalog.py", "bench_mining.py",
           "bench_crosssell.py", "bench_desk.py"]


def main() -> int:
    failed = []
    for name in BENCHES:
        path = HERE / name
        if not path.exists():
            continue
        print(f"\n===== {name}", flush=True)
        if subprocess.run([sys.executable, str(path)]).returncode != 0:
            failed.append(name)
    if failed:
        print("failed to run: " + ", ".join(failed), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
