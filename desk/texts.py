"""The desk's words for shoppers and agents: desk/texts.yml (both languages, the same
fields), rendered by the shared renderer of bot/texts.py. The console and the widget keep
their own string tables in desk/static/*.js."""

from __future__ import annotations

from pathlib import Path

from bot.texts import Texts

TEXTS = Texts(Path(__file__).resolve().parent / "texts.yml")
