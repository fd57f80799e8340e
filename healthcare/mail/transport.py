"""How emails travel: SMTP (aiosmtplib) in production, `.eml` files in development.

A transport sends a batch (one SMTP session for all of it) and says, per message, whether
it went, or failed for now (try again later: the server is down, busy, or answered 4xx)
or for good (5xx: the recipient does not exist, the message was refused)."""

from __future__ import annotations

import logging
import re
import time
from collections import OrderedDict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from email.headerregistry import BaseHeader, HeaderRegistry
from email.message import EmailMessage
from email.policy import EmailPolicy, Policy
from email.policy import default as default_policy
from email.utils import format_datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib

from healthcare import models
from healthcare.config import ConfigurationError, Settings

logger = logging.getLogger(__name__)

SMTP_TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True)
class Failure:
    permanent: bool
    reason: str  # the server's code and words, or what went wrong on the way; no body


Outcome = Failure | None  # None: sent


class Transport(Protocol):
    async def send(self, messages: Sequence[EmailMessage], until: float) -> list[Outcome]:
        """One outcome per message, in order. A message not begun by `until` (on the
        `time.monotonic()` clock) is not sent: a temporary failure, tried again later."""
        ...


class _FoldedOnce:
    """A header that folds once per policy: the standard library parses and refolds
    every header each time a message is written (about half of writing one). A header is
    an immutable string: a copy of it is itself (the standard library deep-copies a part
    to write it with 7-bit encoding; a copy would carry the folds kept, their policies,
    and the registry)."""

    def __copy__(self) -> Any:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Any:
        return self

    def fold(self, *, policy: Policy) -> str:
        try:  # policies are cloned per message (aiosmtplib does): compare their settings
            key: Hashable = (type(policy), frozenset(vars(policy).items()))
            folded: dict[Hashable, str] = self.__dict__.setdefault("_folded", {})
            found = folded.get(key)
        except TypeError:  # a setting that cannot be a key: fold each time
            return super().fold(policy=policy)  # type: ignore[misc, no-any-return]
        if found is None:
            found = folded[key] = super().fold(policy=policy)  # type: ignore[misc]
        return found


class HeaderClasses(HeaderRegistry):
    """The standard library's header registry, making each header class once, and keeping
    the headers it made.

    `HeaderRegistry.__getitem__` builds a new class (`type(...)`) for every header it
    makes: a message with an invitation attached made about 50 classes, each a few
    objects in reference cycles that only the cyclic garbage collector frees. With
    thousands of sockets open, each of those collections stopped the event loop for
    25 to 55 ms (bench.scale --gc-log). The classes are the same every time: keep them.

    Making a header parses its value, and writing the message parses and refolds it
    again: three quarters of composing and writing an email with an invitation (3.0 ms
    of 4.0; two of those per booking, in the server's process). Most headers are the
    same in every email (From, Auto-Submitted, the parts' Content-Type, Content-Transfer-
    Encoding and Content-Disposition): the last `MAX_HEADERS` made are kept, by name and
    value, and each folds once per policy (`_FoldedOnce`). A header is an immutable
    string, so messages can share one; what they write is the same, byte for byte
    (tests/test_mail_transport.py)."""

    MAX_CLASSES = 64  # header names are ours, a handful; bounded all the same
    MAX_HEADERS = 256

    def __init__(self) -> None:
        super().__init__()
        self._classes: dict[str, type] = {}
        self._headers: OrderedDict[tuple[str, str], BaseHeader] = OrderedDict()

    def __getitem__(self, name: str) -> type:
        key = name.lower()
        made = self._classes.get(key)
        if made is None:
            base = super().__getitem__(name)
            made = type(base.__name__, (_FoldedOnce, base), {})
            if len(self._classes) < self.MAX_CLASSES:
                self._classes[key] = made
        return made

    def __call__(self, name: str, value: Any) -> BaseHeader:
        if type(value) is not str:
            return super().__call__(name, value)
        key = (name, value)
        found = self._headers.get(key)
        if found is None:
            found = self._headers[key] = super().__call__(name, value)
            if len(self._headers) > self.MAX_HEADERS:
                self._headers.popitem(last=False)
        else:
            self._headers.move_to_end(key)
        return found


# The default policy (RFC-conformant, `\n` line ends in Python, CRLF on the wire).
POLICY: EmailPolicy[EmailMessage] = default_policy.clone(header_factory=HeaderClasses())


def compose(row: models.EmailMessage, settings: Settings) -> EmailMessage:
    """The MIME message of an outbox row: the same headers on every attempt."""
    message = EmailMessage(policy=POLICY)
    message["From"] = settings.email_from
    message["To"] = row.to_address
    message["Subject"] = row.subject
    message["Message-ID"] = row.message_id
    message["Date"] = format_datetime(row.created_at)
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no out-of-office replies
    message.set_content(row.body)
    if row.calendar:
        method = re.search(r"^METHOD:(\w+)", row.calendar, re.MULTILINE)
        message.add_attachment(
            row.calendar.encode(),
            maintype="text",
            subtype="calendar",
            filename="invite.ics",
            params={"method": method[1] if method else "PUBLISH", "charset": "utf-8"},
        )
    return message


# ---- SMTP -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SmtpServer:
    hostname: str
    port: int
    username: str | None
    password: str | None
    implicit_tls: bool  # smtps://
    start_tls: bool | None  # None: when the server offers it; True: required; False: never


STARTTLS_CHOICES = {"auto": None, "required": True, "off": False}


def parse_smtp_url(url: str) -> SmtpServer:
    """smtp://[user:password@]host[:port][?starttls=auto|required|off] or smtps://..."""
    parts = urlsplit(url)
    if parts.scheme not in {"smtp", "smtps"} or not parts.hostname:
        raise ConfigurationError("SMTP_URL must be smtp://host[:port] or smtps://host[:port].")
    choice = parse_qs(parts.query).get("starttls", ["auto"])[-1]
    if choice not in STARTTLS_CHOICES:
        raise ConfigurationError("SMTP_URL: starttls must be auto, required or off.")
    implicit_tls = parts.scheme == "smtps"
    return SmtpServer(
        hostname=parts.hostname,
        port=parts.port or (465 if implicit_tls else 25),
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        implicit_tls=implicit_tls,
        start_tls=False if implicit_tls else STARTTLS_CHOICES[choice],
    )


def _reason(code: int, text: str) -> str:
    return f"{code} {' '.join(text.split())}"[:300]


class SmtpTransport:
    def __init__(self, url: str, timeout: float = SMTP_TIMEOUT_SECONDS) -> None:
        self.server = parse_smtp_url(url)
        self.timeout = timeout

    async def send(self, messages: Sequence[EmailMessage], until: float) -> list[Outcome]:
        server = self.server
        client = aiosmtplib.SMTP(
            hostname=server.hostname,
            port=server.port,
            username=server.username,
            password=server.password,
            use_tls=server.implicit_tls,
            start_tls=server.start_tls,
            timeout=self.timeout,
        )
        try:
            await client.connect()
        except (aiosmtplib.SMTPException, OSError) as error:
            reason = f"cannot reach the SMTP server: {type(error).__name__}"
            if isinstance(error, aiosmtplib.SMTPResponseException):
                reason = _reason(error.code, error.message)
            return [Failure(permanent=False, reason=reason)] * len(messages)
        outcomes: list[Outcome] = []
        try:
            for message in messages:
                if time.monotonic() > until:
                    break  # the lease would run out: the rest wait for the next attempt
                try:
                    await client.send_message(message)
                    outcomes.append(None)
                except aiosmtplib.SMTPRecipientsRefused as error:
                    refused = error.recipients[0]
                    outcomes.append(
                        Failure(refused.code >= 500, _reason(refused.code, refused.message))
                    )
                except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError, OSError):
                    break  # the rest of the batch waits for the next attempt
                except aiosmtplib.SMTPResponseException as error:
                    outcomes.append(Failure(error.code >= 500, _reason(error.code, error.message)))
                except aiosmtplib.SMTPNotSupported as error:
                    # The message needs what the server does not offer (SMTPUTF8 for an
                    # address that is not ASCII): it never will.
                    outcomes.append(Failure(True, f"not supported by the server: {error}"[:300]))
                except aiosmtplib.SMTPException as error:
                    outcomes.append(Failure(False, type(error).__name__))
        finally:
            if client.is_connected:
                try:
                    await client.quit()
                except (aiosmtplib.SMTPException, OSError):
                    client.close()
        rest = Failure(permanent=False, reason="not sent: the connection was lost or time ran out")
        return outcomes + [rest] * (len(messages) - len(outcomes))


# ---- development: files -----------------------------------------------------------------


class FileTransport:
    """DEVELOPMENT ONLY (no SMTP_URL): each email becomes an `.eml` file under
    DATA_DIR/outbox/, and its links are logged, so the whole flow works offline."""

    def __init__(self, folder: Path, app_url: str) -> None:
        self.folder = folder
        self.links = re.compile(re.escape(app_url) + r"/\S+")

    async def send(self, messages: Sequence[EmailMessage], until: float) -> list[Outcome]:
        self.folder.mkdir(parents=True, exist_ok=True)
        for message in messages:
            name = str(message["Message-ID"]).strip("<>").split("@")[0]
            path = self.folder / f"{name}.eml"
            path.write_bytes(bytes(message))
            text = message.get_body(("plain",))
            links = self.links.findall(text.get_content()) if text is not None else []
            logger.info(
                "email written to a file (development: no SMTP_URL)",
                extra={"path": str(path), "links": links},
            )
        return [None] * len(messages)


def transport_for(settings: Settings) -> Transport:
    if settings.smtp_url:
        return SmtpTransport(settings.smtp_url)
    return FileTransport(settings.data_dir / "outbox", settings.public_app_url)
