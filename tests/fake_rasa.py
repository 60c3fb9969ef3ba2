"""A stand-in for the Rasa server, for the desk's tests, benchmark and seeded day: answers
the REST webhook like the real bot would (stock, price, shipping, order status, returns,
discount, recommendation and handoff payloads drawn from a real catalog) and the tracker
endpoint, with a fixed latency and a "down" or "slow" mode. Not for production.

`python -m tests.fake_rasa --port 15105 --latency-ms 150 --catalog var/catalog.db`
"""

from __future__ import annotations

import argparse
import asyncio
import re
from datetime import datetime
from pathlib import Path
from typing import Callable, Optional

from aiohttp import web

from catalog.queries import Catalog

_CJK = re.compile(r"[\u3400-\u9fff]")
_PERCENT_OFF = re.compile(r"(\d{1,2}(?:\.\d+)?)\s*(?:%|％|percent)", re.I)
_ZHE = re.compile(r"(\d)(\d)?\s*折")


def asked_discount_pct(text: str) -> Optional[float]:
    """The discount a shopper names, in percent, as the bot's discount action reports it
    in `requested_discount_pct` ("打8折" = 20, "85折" = 15, "10% off" = 10); None when
    they name no figure. (Arabic digits only: what the tests and the benchmark send.)"""
    m = _PERCENT_OFF.search(text)
    if m:
        return float(m.group(1))
    m = _ZHE.search(text)
    if m:
        return float(100 - (int(m.group(1)) * 10 + int(m.group(2) or 0)))
    return None


class FakeRasa:
    """mode: "ok" | "down" (503) | "slow" (sleeps `slow_s`)."""

    def __init__(self, catalog_path: str | Path, latency_s: float = 0.0,
                 clock: Optional[Callable[[], datetime]] = None):
        self.catalog = Catalog(catalog_path)
        self.latency_s = latency_s
        self.clock = clock          # the shop's time for ship dates (default: settings)
        self.mode = "ok"
        self.slow_s = 30.0
        self.calls: list[dict] = []
        self.latest: dict[str, dict] = {}
        self.languages: dict[str, str] = {}      # the language of each sender's latest message
        self.in_flight = 0               # webhook calls being answered now
        self.max_in_flight = 0           # the most at once so far
        self.latency_by_text: dict[str, float] = {}      # a slower answer to some words
        self.confidence_by_text: dict[str, float] = {}   # a less sure reading of some words
        self.timeline: list[tuple[str, str, str]] = []   # (sender, "start"|"end", text)

    def reply(self, text: str, metadata: dict) -> tuple[str, list[dict]]:
        """(intent, replies) for one message."""
        lang = "zh" if _CJK.search(text) else (metadata.get("locale") or "en")
        if lang not in ("zh", "en"):
            lang = "en"
        page = (metadata.get("page") or {}).get("product_id") or "P001"
        t = text.lower()
        if "转人工" in text or "human" in t or "人工" in text:
            return "request_human", [{"text": "亲，正在为您转接人工客服，请稍等～" if lang == "zh"
                                      else "I'm connecting you with a member of our team now.",
                                      "custom": {"type": "handoff", "reason": "requested"}}]
        if "投诉" in text or "complain" in t:
            return "complaint", [{"text": "非常抱歉！已为您转接人工客服。" if lang == "zh"
                                  else "I'm sorry. Passing you to our team.",
                                  "custom": {"type": "handoff", "reason": "complaint"}}]
        if "折" in text or "discount" in t or "% off" in t or "percent off" in t:
            p = self.catalog.product(page)
            return "ask_discount", [{
                "text": "亲，目前店铺活动：满299减30。" if lang == "zh"
                else "Current offers: spend 299, save 30.",
                "custom": {"type": "discount", "policy": "满299减30",
                           "requested_discount_pct": asked_discount_pct(text),
                           "max_agent_discount_pct": self.catalog.policy(
                               "max_agent_discount_pct"),
                           "product_id": page, "price": p.price if p else None,
                           "currency": "CNY"}}]
        if "多少钱" in text or "price" in t or "how much" in t:
            price = self.catalog.price(page)
            return "ask_price", [{"text": f"亲，价格是 ¥{price['price']:.0f}。" if lang == "zh"
                                  else f"It costs ¥{price['price']:.0f}.", "custom": price}]
        if "搭配" in text or "recommend" in t:
            items = [p for p in (self.catalog.product(x) for x in ("P002", "P003")) if p]
            return "ask_recommendation", [{
                "text": "亲，常搭配：" + "、".join(p.name_zh for p in items) if lang == "zh"
                else "Often bought together: " + ", ".join(p.name_en for p in items),
                "buttons": [{"title": p.name(lang), "payload": "/product_details"}
                            for p in items],
                "custom": {"type": "recommendations", "for_product_id": page,
                           "items": [{"product_id": p.product_id, "name": p.name(lang),
                                      "price": p.price, "reason": "often bought together"}
                                     for p in items]}}]
        if "发货" in text or "几天到" in text or "ship" in t or "deliver" in t:
            return "ask_shipping", [self.shipping(text, lang, page)]
        m = re.search(r"\d{14}", text)
        if m or "订单" in text or "order" in t:
            order = self.catalog.order_status(m.group(0)) if m else None
            return "order_status", [{
                "text": "亲，这个订单的状态是：" + (order.status if order else "查不到")
                if lang == "zh" else "Your order is: " + (order.status if order else
                                                          "not found"),
                "custom": {"type": "order_status", "order_id": m.group(0) if m else None,
                           # no number: the real action asks an anonymous shopper
                           # to sign in (actions/orders.py)
                           "status": order.status if order else
                           "not_found" if m else "sign_in_required"}}]
        if "退" in text or "return" in t:
            return "return_policy", [{
                "text": "亲，支持7天无理由退换～" if lang == "zh"
                else "Returns are accepted within 7 days.",
                "custom": {"type": "return_policy", "return_days": 7}}]
        if "有货" in text or "库存" in text or "stock" in t or "码" in text:
            ans = self.catalog.stock(page)
            payload = ans.as_payload() if ans else {"type": "stock", "variants": []}
            payload["variants"] = payload["variants"][:3]
            n = sum(v["available"] for v in payload["variants"])
            return "check_stock", [{"text": f"亲，有现货，库存{n}件～" if lang == "zh"
                                    else f"Yes, {n} in stock.", "custom": payload}]
        if text.strip() in ("", "?"):
            return "nlu_fallback", [{"text": "没太明白～" if lang == "zh" else "Sorry?"}]
        return "greet", [{"text": "亲，您好～有什么可以帮您？" if lang == "zh"
                          else "Hi! How can I help?"}]

    def now(self) -> datetime:
        if self.clock is not None:
            return self.clock()
        from bot.settings import get_settings

        return get_settings().now()

    def shipping(self, text: str, lang: str, page: str) -> dict:
        """When the page's product ships (and reaches a city named in the words), as the
        bot's shipping action says it: "today"/"今天", else the date."""
        city = next((c for c in ("hangzhou", "beijing", "shanghai", "chengdu")
                     if c in text.lower() or (self.catalog.city_name(c, "zh") in text)),
                    None)
        ans = self.catalog.ship_date(self.now(), product_id=page, city=city)
        payload = ans.as_payload() if ans else {"type": "shipping", "product_id": page,
                                                "ship_date": None}
        if not payload.get("ship_date"):
            words = "亲，这款暂时缺货，发不了货～" if lang == "zh" else "Sorry, it's out of stock."
        else:
            today = self.now().date().isoformat()
            when = payload["ship_date"]
            day = ("今天" if lang == "zh" else "today") if when == today else when
            words = f"亲，现在拍下{day}发货～" if lang == "zh" \
                else f"Order now and it ships {day}."
        return {"text": words, "custom": payload}

    async def webhook(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.calls.append(body)
        sender, text = str(body.get("sender")), str(body.get("message") or "")
        if self.mode == "down":
            return web.json_response({"error": "down"}, status=503)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        self.timeline.append((sender, "start", text))
        try:
            if self.mode == "slow":
                await asyncio.sleep(self.slow_s)
            elif self.latency_by_text.get(text, self.latency_s):
                await asyncio.sleep(self.latency_by_text.get(text, self.latency_s))
        finally:
            self.in_flight -= 1
        intent, replies = self.reply(text, body.get("metadata") or {})
        self.timeline.append((sender, "end", text))
        confidence = self.confidence_by_text.get(text,
                                                 0.97 if intent != "nlu_fallback" else 0.21)
        self.languages[sender] = "zh" if _CJK.search(text) else "en"
        self.latest[str(body.get("sender"))] = {
            "text": body.get("message"), "intent": {"name": intent, "confidence": confidence},
            "intent_ranking": [{"name": intent, "confidence": confidence},
                               {"name": "greet", "confidence": round(1 - confidence, 2)}],
            "entities": [{"entity": "product", "value": (body.get("metadata") or {})
                          .get("page", {}).get("product_id")}]}
        return web.json_response([{"recipient_id": body.get("sender"), **r}
                                  for r in replies])

    async def tracker(self, request: web.Request) -> web.Response:
        sender = request.match_info["sender"]
        if self.mode == "down":
            return web.json_response({"error": "down"}, status=503)
        return web.json_response({"sender_id": sender,
                                  "latest_message": self.latest.get(sender, {}),
                                  "slots": {"language": self.languages.get(sender, "zh")}})

    async def status(self, request: web.Request) -> web.Response:
        return web.json_response({"model_file": "fake"})

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/webhooks/rest/webhook", self.webhook)
        app.router.add_get("/conversations/{sender}/tracker", self.tracker)
        app.router.add_get("/status", self.status)
        return app


def main(argv: Optional[list[str]] = None) -> None:
    from bot.settings import get_settings

    parser = argparse.ArgumentParser(prog="python -m tests.fake_rasa")
    parser.add_argument("--port", type=int, default=15105)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--catalog", default=str(get_settings().catalog_path))
    args = parser.parse_args(argv)
    web.run_app(FakeRasa(args.catalog, args.latency_ms / 1000).app(), host="127.0.0.1",
                port=args.port, print=None)


if __name__ == "__main__":
    main()
