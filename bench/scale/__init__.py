"""bench.scale: 10,000 live signed-in sockets on one machine (python -m bench.scale)."""
