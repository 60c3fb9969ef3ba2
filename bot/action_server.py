"""The action server, on the interface of the settings, behind the API token.

`python -m bot.action_server --port 5055` serves `actions/` with rasa_sdk's own endpoint
app (`rasa_sdk.endpoint.create_app`: `/webhook`, `/actions`, `/health`), which
`python -m rasa_sdk` would bind to every interface. Here it listens on
`settings.bind_host` (127.0.0.1 unless configured), allows CORS only for
`settings.rasa_cors_origins` (none by default), and answers every path only with the
token (`bot/api_token.py`, `?token=`; the Rasa servers send it from endpoints.yml).
"""

from __future__ import annotations

import argparse
import logging


def main() -> None:
    from rasa_sdk import utils
    from rasa_sdk.constants import APPLICATION_ROOT_LOGGER_NAME
    from rasa_sdk.endpoint import create_app

    from bot.api_guard import install_sanic_guard
    from bot.api_token import rasa_api_token
    from bot.settings import get_settings

    settings = get_settings()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=settings.action_port)
    ap.add_argument("--host", default=settings.bind_host,
                    help="interface to listen on (default: SHOPASSIST_BIND_HOST)")
    ap.add_argument("--cors", nargs="*", default=list(settings.rasa_cors_origins),
                    help="origins allowed (default: SHOPASSIST_RASA_CORS_ORIGINS, none)")
    ap.add_argument("--actions", default="actions", help="package of the actions")
    args = ap.parse_args()
    logging.getLogger("matplotlib").setLevel(logging.WARN)
    utils.configure_colored_logging("INFO")
    logging.getLogger(APPLICATION_ROOT_LOGGER_NAME).setLevel(logging.INFO)
    utils.update_sanic_log_level()

    app = create_app(args.actions, cors_origins=args.cors or None)
    install_sanic_guard(app, rasa_api_token(settings), rest_channel=False)
    logging.getLogger(__name__).info("action server on http://%s:%d", args.host, args.port)
    app.run(args.host, args.port, workers=1, access_log=False)


if __name__ == "__main__":
    main()
