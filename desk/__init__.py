"""The desk: the shopper widget's API and the agent console, conversation records, routing
to one human owner, handoff and suggestions (docs/desk.md, docs/desk-api.md).

Run it with `python -m desk --port 8000`; build it in code with
`desk.app.create_app(settings)`.
"""
