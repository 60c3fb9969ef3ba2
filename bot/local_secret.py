"""Secrets of one installation (the shop's signing secret, the token of Rasa's API): taken
from the settings when configured, else generated once and kept in a file that only its
owner can read, so that every process of the stack uses the same value without it ever
appearing on a command line. One way to create, read and guard such a file, for all of them.
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path
from typing import Callable, Optional

from bot.settings import ROOT

SECRETS_DIR = ROOT / "var" / "secrets"
MIN_LENGTH = 16


def local_secret(name: str, configured: Optional[str] = None, *,
                 folder: Optional[Path] = None) -> str:
    """`configured` when set; else the value kept in `folder/name` (var/secrets/ by
    default), created (32 random bytes, hex) by whichever process asks first."""
    if configured:
        return configured
    return secret_file(Path(folder or SECRETS_DIR) / name)


def secret_file(path: Path,
                new_value: Callable[[], str] = lambda: secrets.token_hex(32)) -> str:
    """The secret kept in `path`: created with `new_value()` (mode 0600, atomically: whoever
    links first wins, the others read theirs) when missing; made owner-only again if
    someone loosened it; refused when it holds fewer than MIN_LENGTH characters."""
    if not path.exists():
        _create(path, new_value())
    if path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        os.chmod(path, 0o600)      # someone loosened it: only the owner may read a secret
    value = path.read_text(encoding="ascii").strip()
    if len(value) < MIN_LENGTH:
        raise RuntimeError(f"{path} holds no usable secret (at least {MIN_LENGTH} "
                           "characters); delete it to have a new one generated")
    return value


def _create(path: Path, value: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(value + "\n")
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)     # atomic, and never replaces a value already there
        except FileExistsError:
            pass                   # another process of the stack created it a moment ago
    finally:
        tmp.unlink(missing_ok=True)
