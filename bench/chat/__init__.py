"""The chat benchmark: N WebSocket clients against a bare relay, the floor.

Run it with `python -m bench.chat`; see bench/README.md.
"""
