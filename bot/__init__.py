"""shopassist: a bilingual sales-assist chatbot for online shops (desk, NLU, CLI)."""

__version__ = "0.1.0"
