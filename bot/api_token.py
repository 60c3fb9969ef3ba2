"""The one token that Rasa's HTTP API and the action server ask for.

`SHOPASSIST_RASA_TOKEN` when it is set; otherwise a random token generated on first use
and kept in `var/rasa_api_token` (`SHOPASSIST_RASA_TOKEN_FILE`), readable by its owner
only, so that every process of the stack (the runner, the Rasa servers, the router, the
action server, the desk, the tests) uses the same one without it ever appearing on a
command line. Callers pass it as Rasa's own `?token=` query parameter.
"""

from __future__ import annotations

import hmac
import secrets
from functools import lru_cache
from pathlib import Path

from bot.local_secret import secret_file
from bot.settings import Settings, get_settings

TOKEN_BYTES = 32          # 43 URL-safe characters


def rasa_api_token(settings: Settings | None = None) -> str:
    """The installation's token (created on first use)."""
    settings = settings or get_settings()
    if settings.rasa_token:
        return settings.rasa_token
    return _token_from_file(str(settings.rasa_token_file))


@lru_cache(maxsize=None)
def _token_from_file(path_text: str) -> str:
    return secret_file(Path(path_text), lambda: secrets.token_urlsafe(TOKEN_BYTES))


def token_matches(provided: str | None, expected: str) -> bool:
    """Constant-time comparison (no timing hint about how much of a guess was right)."""
    if not provided:
        return False
    return hmac.compare_digest(provided.encode("utf-8", "surrogatepass"),
                               expected.encode("utf-8"))
