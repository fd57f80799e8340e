"""A real SMTP server (aiosmtpd, in its own thread) that the suite reads its emails from.

It can refuse recipients for good (550) or for now (451), and be stopped and started
again on the same port, as a mail server that goes down for a while would be.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from typing import Any, cast

from aiosmtpd.controller import Controller

from tests.servers import free_port

Check = Callable[[EmailMessage], bool]


class Inbox:
    """What arrived, and how the server answers. Thread-safe: the server runs in its
    own thread and event loop."""

    def __init__(self) -> None:
        self.port = free_port()
        self._lock = threading.Lock()
        self._messages: list[EmailMessage] = []
        self.refused: set[str] = set()  # 550: no such user (a permanent failure)
        self.busy = False  # 451 for every recipient (a temporary failure)
        self.delay_seconds = 0.0  # a slow server: each message takes this long to accept
        self.smtputf8 = True  # offers SMTPUTF8 (addresses that are not ASCII); from start()
        self.controller: Controller | None = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}?starttls=off"

    # ---- the server's side (aiosmtpd handler hooks) ----

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any
    ) -> str:
        if address.lower() in self.refused:
            return "550 5.1.1 No such user here"
        if self.busy:
            return "451 4.3.0 Busy, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.delay_seconds:
            await asyncio.sleep(self.delay_seconds)
        message = cast(EmailMessage, message_from_bytes(envelope.content, policy=default))
        with self._lock:
            self._messages.append(message)
        return "250 Message accepted for delivery"

    # ---- the test's side ----

    def start(self) -> None:
        # A controller's event loop is closed when it stops, so each start needs a new one.
        self.controller = Controller(
            self, hostname="127.0.0.1", port=self.port, enable_SMTPUTF8=self.smtputf8
        )
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def clear(self) -> None:
        with self._lock:
            self._messages.clear()
        self.refused.clear()
        self.busy = False
        self.delay_seconds = 0.0

    @property
    def messages(self) -> list[EmailMessage]:
        with self._lock:
            return list(self._messages)

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if str(m["To"]).lower() == address.lower()]

    async def wait_for(
        self, check: Check, count: int = 1, seconds: float = 30
    ) -> list[EmailMessage]:
        """The first `count` messages that pass `check`, once they have arrived."""
        deadline = time.monotonic() + seconds
        while True:
            found = [m for m in self.messages if check(m)]
            if len(found) >= count:
                return found[:count]
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{len(found)} of {count} expected emails arrived in {seconds} s; "
                    f"all: {[(str(m['To']), str(m['Subject'])) for m in self.messages]}"
                )
            await asyncio.sleep(0.05)

    async def wait_for_one_to(self, address: str, subject: str = "") -> EmailMessage:
        def matches(message: EmailMessage) -> bool:
            return str(message["To"]).lower() == address.lower() and subject in str(
                message["Subject"]
            )

        return (await self.wait_for(matches))[0]


def body_of(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None, "the email has no text/plain body"
    return cast(str, part.get_content())


def calendar_of(message: EmailMessage) -> bytes | None:
    for part in message.iter_attachments():
        if part.get_content_type() == "text/calendar":
            return cast(bytes, part.get_payload(decode=True))
    return None
