"""Rasa custom actions: thin wrappers over the catalog API, one module per concern."""
