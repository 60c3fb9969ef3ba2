"""Secrets of one installation (the shop's signing secret, API tokens): taken from the
settings when configured, else generated once and kept in a file under var/secrets/ that
only its owner can read, so that every process of the stack uses the same value."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Optional

from bot.settings import ROOT

SECRETS_DIR = ROOT / "var" / "secrets"


def local_secret(name: str, configured: Optional[str] = None, *,
                 folder: Optional[Path] = None) -> str:
    """`configured` when set; else the value kept in `folder/name`, created (32 random
    bytes, hex, mode 0600) by whichever process asks first."""
    if configured:
        return configured
    folder = folder or SECRETS_DIR
    path = folder / name
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    folder.mkdir(parents=True, exist_ok=True)
    value = secrets.token_hex(32)
    tmp = folder / f".{name}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(value)
    try:
        os.link(tmp, path)             # atomic, and never replaces a value already there
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    return path.read_text().strip()
