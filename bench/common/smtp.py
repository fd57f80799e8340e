"""An SMTP server that accepts every email (aiosmtpd, in a thread of the benchmark's
process): the API's emails go out as in production, not into retries against a closed
port (which would add work of their own to what is measured)."""

from __future__ import annotations

from typing import Any

from aiosmtpd.controller import Controller

from tests.servers import free_port


class SmtpSink:
    def __init__(self) -> None:
        self.received = 0
        self.port = free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received += 1
        return "250 Message accepted for delivery"

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}?starttls=off"
