"""Run the desk: `python -m desk [--host 127.0.0.1] [--port 8000] [--db var/desk.db]`.

Health: GET /health. Settings come from the environment (bot/settings.py,
SHOPASSIST_DESK_*); the flags override host, port and database.
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import replace
from pathlib import Path

from aiohttp import web

from bot.settings import get_settings

from .app import create_app


def main(argv: list[str] | None = None) -> None:
    settings = get_settings()
    parser = argparse.ArgumentParser(prog="python -m desk", description=__doc__)
    parser.add_argument("--host", default=settings.desk_host)
    parser.add_argument("--port", type=int, default=settings.desk_port)
    parser.add_argument("--db", type=Path, default=settings.desk_db,
                        help="the desk's SQLite file (SHOPASSIST_DESK_DB)")
    parser.add_argument("--rasa-url", default=settings.rasa_url,
                        help="Rasa server (SHOPASSIST_RASA_URL)")
    args = parser.parse_args(argv)
    settings = replace(settings, desk_host=args.host, desk_port=args.port, desk_db=args.db,
                       rasa_url=args.rasa_url)
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    try:
        import uvloop
        uvloop.install()
    except ImportError:
        pass
    web.run_app(create_app(settings), host=args.host, port=args.port,
                print=lambda *_: print(f"desk ready: http://{args.host}:{args.port}/ "
                                       f"(health /health, db {args.db})", flush=True))


if __name__ == "__main__":
    main()
