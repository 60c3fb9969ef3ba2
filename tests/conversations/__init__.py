"""The conversation suite (runner.py) and its conversations (*.yml)."""
