"""Parse time of two trained models side by side: the same messages (a fixed random sample
of the training lines, both languages), parsed by one model and then the other, message
by message, so both see the same load; p50 and p95 per model.

    .venv/bin/python bench/parse_latency.py BEFORE.tar.gz AFTER.tar.gz [N]
"""

from __future__ import annotations

import asyncio
import glob
import os
import random
import sys
import time

import yaml

from common import ROOT, machine, quiet_rasa_logs

os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")


def sample(n: int) -> list[str]:
    texts = []
    for f in sorted(glob.glob(str(ROOT / "data" / "nlu" / "*" / "*.yml"))):
        for item in (yaml.safe_load(open(f, encoding="utf-8")) or {}).get("nlu", []):
            if "intent" in item:
                texts += [line.strip()[2:] for line in item["examples"].splitlines()
                          if line.strip().startswith("- ")]
    random.Random(0).shuffle(texts)
    return texts[:n]


async def measure(paths: dict[str, str], texts: list[str]) -> dict[str, list[float]]:
    from rasa.core.agent import Agent

    agents = {name: Agent.load(path) for name, path in paths.items()}
    for agent in agents.values():
        for text in texts[:20]:          # warm up
            await agent.parse_message(text)
    times: dict[str, list[float]] = {name: [] for name in agents}
    for text in texts:
        for name, agent in agents.items():
            t = time.perf_counter()
            await agent.parse_message(text)
            times[name].append((time.perf_counter() - t) * 1000)
    return times


def main() -> None:
    sys.path.insert(0, str(ROOT))
    quiet_rasa_logs()
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 600
    times = asyncio.run(measure({"before": sys.argv[1], "after": sys.argv[2]}, sample(n)))
    print(f"machine: {machine()}")
    for name, v in times.items():
        v.sort()
        print(f"{name}: {len(v)} messages, parse p50 {v[len(v) // 2]:.1f} ms, "
              f"p95 {v[int(len(v) * 0.95)]:.1f} ms")


if __name__ == "__main__":
    main()
