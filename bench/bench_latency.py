"""Reply latency through Rasa's REST channel for routine shop questions, at 1, 10 and 50
concurrent conversations: p50/p95, messages per second, CPU per message and resident memory
of each process, and the actions each configuration ran per message.

Three configurations, measured together on one machine:

- shopassist with **one Rasa process** (SHOPASSIST_RASA_WORKERS=1: no router, the actions
  in-process as by default, the action server started but idle);
- the stock `rasa init` configuration trained on the same domain and data, served as
  released: **one** plain `rasa run` process and the action server. These two are the
  headline comparison (the ratio printed);
- shopassist as `make run` starts it on this machine (one Rasa worker per core behind the
  router), a separate row.

The stock configuration is trained with the epochs of its config file, printed with the
figures: bench/configs/stock_config_latency.yml cuts `rasa init`'s 100 epochs to 3 so that
training takes minutes, not the best part of an hour. The epochs change the weights, not
the network: every message runs through the same layers of the same sizes, so the CPU per
prediction is the same. What a less trained model could change is which actions it
predicts (each prediction runs every policy): the actions per message are printed for each
configuration so that this can be checked. `--stock-config bench/configs/stock_config.yml`
runs the full 100 epochs.

    .venv/bin/python bench/bench_latency.py [--messages 600] [--levels 1,10,50]
        [--skip-stock] [--stock-config bench/configs/stock_config_latency.yml]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import yaml
from common import ROOT, cpu_seconds, load_average, machine, pct, rss_mb

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


def epochs_of(config: str) -> dict[str, int]:
    """The epochs each trained component of a Rasa config is given (pipeline and policies)."""
    cfg = yaml.safe_load((ROOT / config).read_text())
    return {c["name"]: int(c["epochs"]) for c in
            (cfg.get("pipeline") or []) + (cfg.get("policies") or []) if "epochs" in c}


TURNS = 8   # messages per conversation, as a shopper's chat goes


async def conversation(session, url: str, n: int, rng: random.Random, lat: list,
                       senders: list | None = None) -> None:
    """`n` messages from one worker, in conversations of TURNS messages each."""
    for i in range(n):
        if i % TURNS == 0:
            sender = f"bench-{rng.random()}"
            page = {"page": {"product_id": f"P{rng.randint(1, 96):03d}"}}
            if senders is not None:
                senders.append(sender)
        text, ctx = QUESTIONS[rng.randrange(len(QUESTIONS))]
        body = {"sender": sender, "message": text, "metadata": page if ctx else {}}
        t = time.perf_counter()
        async with session.post(url, json=body) as resp:
            await resp.read()
            assert resp.status == 200
        lat.append(time.perf_counter() - t)


async def load(url: str, concurrency: int, total: int, senders: list) -> dict:
    import aiohttp

    rng = random.Random(concurrency)
    per = max(1, total // concurrency)
    lat: list[float] = []
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as s:
        # warm-up
        await conversation(s, url, 3, rng, [])
        t0 = time.perf_counter()
        await asyncio.gather(*(conversation(s, url, per, rng, lat, senders)
                               for _ in range(concurrency)))
        wall = time.perf_counter() - t0
    ms = [x * 1000 for x in lat]
    return {"concurrency": concurrency, "messages": len(ms), "p50_ms": round(pct(ms, 50), 1),
            "p95_ms": round(pct(ms, 95), 1), "msgs_per_s": round(len(ms) / wall, 1)}


def actions_per_message(base: str, senders: list[str]) -> dict:
    """Actions run (action_listen aside) per shopper message, read from the trackers of
    the benchmark's conversations (Rasa's HTTP API)."""
    import urllib.request

    actions = messages = 0
    for sender in senders:
        with urllib.request.urlopen(f"{base}/conversations/{sender}/tracker",
                                    timeout=30) as resp:
            events = json.loads(resp.read())["events"]
        messages += sum(1 for e in events if e.get("event") == "user")
        actions += sum(1 for e in events if e.get("event") == "action"
                       and e.get("name") != "action_listen")
    return {"conversations": len(senders), "messages": messages,
            "actions_per_message": round(actions / messages, 2) if messages else None}


def run(name: str, model: str, total: int, levels: list[int], workers: int,
        plain_rasa: bool = False) -> dict:
    from bot.runner import Supervisor
    from bot.settings import get_settings

    from tests.conftest import free_ports

    # the Rasa port, its workers' (port + 1, ...), the action server's
    ports = free_ports(workers + 2)
    settings = replace(get_settings(), rasa_port=ports[0], action_port=ports[-1],
                       rasa_workers=workers)
    print(f"\n{name}: {load_average()} before start", flush=True)
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    sup = Supervisor(settings, log_dir=ROOT / "var" / "bench" / f"logs-{slug}",
                     model=Path(model), plain_rasa=plain_rasa)
    # loading the stock model (TensorFlow) took over 4 minutes on the shared machine
    sup.start(timeout=900, env={"SHOPASSIST_NOW": "2026-11-20T10:00:00+08:00"})
    try:
        base = f"http://127.0.0.1:{settings.rasa_port}"
        url = f"{base}/webhooks/rest/webhook"
        results = []
        senders: list[str] = []
        for c in levels:
            before = {svc.name: cpu_seconds(svc.proc.pid) for svc in sup.services}
            res = asyncio.run(load(url, c, total, senders))
            res["cpu_ms_per_msg"] = {
                svc.name: round((cpu_seconds(svc.proc.pid) - before[svc.name]) * 1000
                                / res["messages"], 1) for svc in sup.services}
            res["load_after"] = load_average()
            results.append(res)
            print(f"  {c} concurrent: p50 {res['p50_ms']} ms, p95 {res['p95_ms']} ms, "
                  f"{res['msgs_per_s']} msgs/s; {res['load_after']}", flush=True)
        mem = {svc.name: rss_mb(svc.proc.pid) for svc in sup.services}
        actions = actions_per_message(base, senders)
    finally:
        sup.stop()
    return {"rasa_processes": workers, "levels": results, "rss_mb": mem,
            "actions": actions}


OURS_1 = "shopassist, 1 Rasa process"
STOCK_1 = "stock rasa init, 1 process"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--messages", type=int, default=600, help="messages per level")
    ap.add_argument("--levels", default="1,10,50")
    ap.add_argument("--skip-stock", action="store_true")
    ap.add_argument("--stock-config", default="bench/configs/stock_config_latency.yml",
                    help="the stock configuration (bench/configs/stock_config.yml: the full "
                         "100 epochs of `rasa init`)")
    ap.add_argument("--model", default=None, help="use this model instead of training one")
    args = ap.parse_args()
    levels = [int(x) for x in args.levels.split(",")]
    from bot.settings import get_settings

    workers = get_settings().rasa_workers
    print(f"machine: {machine()}; {load_average()}", flush=True)
    ours = args.model or train("config.yml", "bench-shopassist")
    report = {OURS_1: run(OURS_1, ours, args.messages, levels, 1)}
    stock_epochs = None
    if not args.skip_stock:
        # the stock configuration served as Rasa is released: one `rasa run` process
        stock_epochs = epochs_of(args.stock_config)
        name = "bench-stock-" + Path(args.stock_config).stem
        stock = train(args.stock_config, name)
        report[STOCK_1] = run(STOCK_1, stock, args.messages, levels, 1, plain_rasa=True)
    if workers > 1:
        ours_n = f"shopassist, {workers} Rasa workers (default)"
        report[ours_n] = run(ours_n, ours, args.messages, levels, workers)
    print(f"\nmachine: {machine()}")
    if stock_epochs is not None:
        print(f"stock configuration: {args.stock_config}, trained with epochs "
              + ", ".join(f"{k} {v}" for k, v in stock_epochs.items())
              + " (`rasa init`: 100). Epochs change the weights, not the network: each "
              "prediction runs the same layers, so the CPU per prediction does not depend "
              "on them; the actions run per message (below) show whether the models "
              "did the same work.")
    print(f"{'config':40} {'conc':>4} {'msgs':>5} {'p50 ms':>7} {'p95 ms':>7} {'msgs/s':>7}")
    for name, r in report.items():
        for lv in r["levels"]:
            print(f"{name:40} {lv['concurrency']:4} {lv['messages']:5} {lv['p50_ms']:7.1f} "
                  f"{lv['p95_ms']:7.1f} {lv['msgs_per_s']:7.1f}   CPU ms/msg: "
                  + ", ".join(f"{k} {v}" for k, v in lv["cpu_ms_per_msg"].items()))
        print(f"{'':40} resident memory: " + ", ".join(f"{k} {v:.0f} MB"
                                                     for k, v in r["rss_mb"].items()))
        a = r["actions"]
        print(f"{'':40} actions per message: {a['actions_per_message']} ({a['messages']} "
              f"messages in {a['conversations']} conversations)")
    if STOCK_1 in report:
        for x, y in zip(report[OURS_1]["levels"], report[STOCK_1]["levels"]):
            print(f"throughput, 1 Rasa process each, at {x['concurrency']} concurrent: "
                  f"{x['msgs_per_s'] / y['msgs_per_s']:.1f}x the stock configuration")
    report["stock_epochs"] = stock_epochs
    print(json.dumps(report))


if __name__ == "__main__":
    main()
