"""Live delivery: pub/sub (the doorbell), the outbox that rings it after a commit, and the
guard that closes a WebSocket when what let it in ends."""
