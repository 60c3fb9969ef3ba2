"""The Rasa runtime of shopassist: NLU components, the Rasa server and router, training,
the runner, settings and the `shopassist` command (the desk is in `desk/`)."""

__version__ = "0.1.0"
