"""The one token that Rasa's HTTP API and the action server ask for.

`SHOPASSIST_RASA_TOKEN` when it is set; otherwise a random token generated on first use
and kept in `var/rasa_api_token` (`SHOPASSIST_RASA_TOKEN_FILE`), readable by its owner
only, so that every process of the stack (the runner, the Rasa servers, the router, the
action server, the desk, the tests) uses the same one without it ever appearing on a
command line. Callers pass it as Rasa's own `?token=` query parameter.
"""

from __future__ import annotations

import hmac
import os
import secrets
import stat
from functools import lru_cache
from pathlib import Path

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
    path = Path(path_text)
    if not path.exists():
        _create(path)
    info = path.stat()
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        # someone loosened it: only the owner may read the key to the API
        os.chmod(path, 0o600)
    token = path.read_text(encoding="ascii").strip()
    if len(token) < 16:
        raise RuntimeError(f"{path} holds no usable token (at least 16 characters); "
                           "delete it to have a new one generated")
    return token


def _create(path: Path) -> None:
    """Write a new token atomically: whoever links first wins, the others read theirs."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(secrets.token_urlsafe(TOKEN_BYTES) + "\n")
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass            # another process of the stack created it a moment ago
    finally:
        tmp.unlink(missing_ok=True)


def token_matches(provided: str | None, expected: str) -> bool:
    """Constant-time comparison (no timing hint about how much of a guess was right)."""
    if not provided:
        return False
    return hmac.compare_digest(provided.encode("utf-8", "surrogatepass"),
                               expected.encode("utf-8"))
