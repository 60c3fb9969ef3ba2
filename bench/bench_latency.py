"""Reply latency through Rasa's REST channel for routine shop questions, at 1, 10 and 50
concurrent conversations: p50/p95, messages per second, resident memory of each process.
The same run against the stock `rasa init` configuration trained on the same data, so
the figures are a ratio measured together on one machine.

    .venv/bin/python bench/bench_latency.py [--messages 600] [--skip-stock]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import time
from dataclasses import replace

from common import ROOT, cpu_seconds, machine, pct, rss_mb

os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")

QUESTIONS = [
    ("疾风跑鞋42码有货吗", None), ("这个XL还有吗", "page"), ("发成都几天能到", "page"),
    ("多少钱", "page"), ("is this in stock in M?", "page"), ("how much is it", "page"),
    ("when will it arrive in Beijing", "page"), ("亲 在吗", None),
    ("我的订单20261118000123到哪了", None), ("can i return it", None),
    ("黑色的有吗", "page"), ("ship today?", "page"),
]


def train(config: str, name: str) -> str:
    """Train `config` on today's domain and data, unless the model kept from an earlier run
    was trained on exactly these (same fingerprint: config, domain, data, NLU code,
    catalog names)."""
    from bot.training import fingerprint

    out = ROOT / "var" / "bench" / "models"
    model = out / f"{name}.tar.gz"
    stamp = model.with_suffix(".fingerprint")
    fp = fingerprint() + ":" + (ROOT / config).read_text()
    if not (model.exists() and stamp.exists() and stamp.read_text() == fp):
        subprocess.run([sys.executable, "-m", "rasa", "train", "--config", config,
                        "--domain", "domain.yml", "--data", "data", "--out", str(out),
                        "--fixed-model-name", name, "--force"], cwd=ROOT, check=True)
        stamp.write_text(fp)
    return str(model)


TURNS = 8   # messages per conversation, as a shopper's chat goes


async def conversation(session, url: str, n: int, rng: random.Random, lat: list) -> None:
    """`n` messages from one worker, in conversations of TURNS messages each."""
    for i in range(n):
        if i % TURNS == 0:
            sender = f"bench-{rng.random()}"
            page = {"page": {"product_id": f"P{rng.randint(1, 96):03d}"}}
        text, ctx = QUESTIONS[rng.randrange(len(QUESTIONS))]
        body = {"sender": sender, "message": text, "metadata": page if ctx else {}}
        t = time.perf_counter()
        async with session.post(url, json=body) as resp:
            await resp.read()
            assert resp.status == 200
        lat.append(time.perf_counter() - t)


async def load(url: str, concurrency: int, total: int) -> dict:
    import aiohttp

    rng = random.Random(concurrency)
    per = max(1, total // concurrency)
    lat: list[float] = []
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as s:
        # warm-up
        await conversation(s, url, 3, rng, [])
        t0 = time.perf_counter()
        await asyncio.gather(*(conversation(s, url, per, rng, lat)
                               for _ in range(concurrency)))
        wall = time.perf_counter() - t0
    ms = [x * 1000 for x in lat]
    return {"concurrency": concurrency, "messages": len(ms), "p50_ms": round(pct(ms, 50), 1),
            "p95_ms": round(pct(ms, 95), 1), "msgs_per_s": round(len(ms) / wall, 1)}


def run(name: str, model: str, total: int, levels: list[int], workers: int,
        plain_rasa: bool = False) -> dict:
    from bot.runner import Supervisor
    from bot.settings import get_settings
    from pathlib import Path

    settings = replace(get_settings(), rasa_port=15105, action_port=15155,
                       rasa_workers=workers)
    sup = Supervisor(settings, log_dir=ROOT / "var" / "bench" / f"logs-{name.replace(' ', '-')}",
                     model=Path(model), plain_rasa=plain_rasa)
    sup.start(env={"SHOPASSIST_NOW": "2026-11-20T10:00:00+08:00"})
    try:
        url = f"http://127.0.0.1:{settings.rasa_port}/webhooks/rest/webhook"
        results = []
        for c in levels:
            before = {svc.name: cpu_seconds(svc.proc.pid) for svc in sup.services}
            res = asyncio.run(load(url, c, total))
            res["cpu_ms_per_msg"] = {
                svc.name: round((cpu_seconds(svc.proc.pid) - before[svc.name]) * 1000
                                / res["messages"], 1) for svc in sup.services}
            results.append(res)
        mem = {svc.name: rss_mb(svc.proc.pid) for svc in sup.services}
    finally:
        sup.stop()
    return {"levels": results, "rss_mb": mem}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=600, help="messages per level")
    ap.add_argument("--levels", default="1,10,50")
    ap.add_argument("--skip-stock", action="store_true")
    ap.add_argument("--model", default=None, help="use this model instead of training one")
    args = ap.parse_args()
    levels = [int(x) for x in args.levels.split(",")]
    from bot.settings import get_settings

    ours = args.model or train("config.yml", "bench-shopassist")
    report = {"shopassist": run("shopassist", ours, args.messages, levels,
                                get_settings().rasa_workers)}
    if not args.skip_stock:
        # the stock configuration served as Rasa is released: one `rasa run` process
        stock = train("bench/configs/stock_config_latency.yml", "bench-stock")
        report["stock rasa init"] = run("stock rasa init", stock, args.messages, levels, 1,
                                        plain_rasa=True)
    print(f"\nmachine: {machine()}")
    print(f"{'config':18} {'conc':>4} {'msgs':>5} {'p50 ms':>7} {'p95 ms':>7} {'msgs/s':>7}")
    for name, r in report.items():
        for lv in r["levels"]:
            print(f"{name:18} {lv['concurrency']:4} {lv['messages']:5} {lv['p50_ms']:7.1f} "
                  f"{lv['p95_ms']:7.1f} {lv['msgs_per_s']:7.1f}   CPU ms/msg: "
                  + ", ".join(f"{k} {v}" for k, v in lv["cpu_ms_per_msg"].items()))
        print(f"{'':18} resident memory: " + ", ".join(f"{k} {v:.0f} MB"
                                                     for k, v in r["rss_mb"].items()))
    if len(report) == 2:
        a, b = report["shopassist"]["levels"], report["stock rasa init"]["levels"]
        for x, y in zip(a, b):
            print(f"throughput ratio at {x['concurrency']} concurrent: "
                  f"{x['msgs_per_s'] / y['msgs_per_s']:.1f}x")
    print(json.dumps(report))


if __name__ == "__main__":
    main()
