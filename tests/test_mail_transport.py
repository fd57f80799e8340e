"""mail.transport.compose: the message an outbox row becomes, written as the standard
library writes it, byte for byte, though its headers are made and folded once."""

from datetime import UTC, datetime
from email import policy as policies
from email.generator import BytesGenerator
from email.headerregistry import HeaderRegistry
from email.message import EmailMessage
from io import BytesIO
from typing import Any

import pytest

from healthcare import models
from healthcare.config import Settings
from healthcare.mail import transport
from healthcare.mail.transport import compose

INVITE = "BEGIN:VCALENDAR\r\nMETHOD:{method}\r\nPRODID:-//x//y//EN\r\nEND:VCALENDAR\r\n"
ROWS = {
    "plain ASCII, no invite": {"to_address": "patient@example.org", "subject": "Hello"},
    "names and words beyond ASCII, an invite": {
        "to_address": '"Zoë Dupré, MD" <zoe@example.org>',
        "subject": "Votre rendez-vous avec Dr. Müller est réservé",
        "body": "Bonjour Zoë,\n\nÀ lundi.\n" * 30,
        "calendar": INVITE.format(method="REQUEST"),
    },
    "a subject long enough to fold, a cancellation": {
        "to_address": "Someone With A Rather Long Name Indeed <someone.long@example.org>",
        "subject": "Your appointment on Monday 7 December 2026 at 10:30 (Europe/Berlin) "
        "with Dr. Gregory House, Diagnostic Medicine, is cancelled",
        "calendar": INVITE.format(method="CANCEL"),
    },
    "an address beyond ASCII (SMTPUTF8)": {
        "to_address": "José <josé@exämple.org>",
        "subject": "Reminder",
    },
}
# How the message is written: as_bytes (the file transport), and as aiosmtplib writes it
# (its SMTP policies, with 7-bit transfer encoding where the server has no 8BITMIME).
WRITERS = {
    "its own policy": None,
    "SMTP": policies.SMTP,
    "SMTPUTF8": policies.SMTPUTF8,
    "SMTP, 7 bit": policies.SMTP.clone(cte_type="7bit"),
    "lines of at most 40": policies.SMTP.clone(max_line_length=40),
}


def row_of(number: int, **values: Any) -> models.EmailMessage:
    fields: dict[str, Any] = {
        "message_id": f"<m{number}@clinic.example>",
        "body": "See you on Monday.",
        "calendar": None,
        "created_at": datetime(2026, 12, 7, 6, number, tzinfo=UTC),
    }
    return models.EmailMessage(**{**fields, **values})


def written(message: EmailMessage, policy: Any) -> bytes:
    if message.is_multipart():  # its boundary is random: the same for the comparison
        message.set_boundary("===============BOUNDARY==")
    out = BytesIO()
    BytesGenerator(out, policy=policy or message.policy).flatten(message)
    return out.getvalue()


@pytest.fixture
def stock_registry(monkeypatch: pytest.MonkeyPatch) -> Any:
    """`compose` as it is, and as it would be with the standard library's own registry."""
    stock = transport.POLICY.clone(header_factory=HeaderRegistry())

    def stock_compose(row: models.EmailMessage, settings: Settings) -> EmailMessage:
        monkeypatch.setattr(transport, "POLICY", stock)
        try:
            return compose(row, settings)
        finally:
            monkeypatch.undo()

    return stock_compose


@pytest.mark.parametrize("values", ROWS.values(), ids=ROWS.keys())
@pytest.mark.parametrize("policy", WRITERS.values(), ids=WRITERS.keys())
def test_a_composed_email_is_written_as_the_standard_library_writes_it(
    values, policy, stock_registry
):
    settings = Settings(jwt_secret="x" * 48)
    rows = [row_of(n, **values) for n in range(3)]
    # when: each row composed (its headers made, or found made) and written, twice over
    ours = [written(compose(row, settings), policy) for row in rows + rows]
    # then: byte for byte what the standard library's own headers write
    expected = [written(stock_registry(row, settings), policy) for row in rows + rows]
    assert ours == expected
    assert len(set(ours[:3])) == 3  # each row its own message


def test_headers_kept_are_bounded_and_shared_between_messages():
    settings = Settings(jwt_secret="x" * 48)
    registry = transport.POLICY.header_factory
    assert isinstance(registry, transport.HeaderClasses)
    first = compose(row_of(1, subject="Same"), settings)
    second = compose(row_of(2, subject="Same"), settings)
    # the same value is the same header (an immutable string), a new one is new
    assert first["Subject"] is second["Subject"]
    assert first["From"] is second["From"]
    assert first["Message-ID"] is not second["Message-ID"]
    for n in range(transport.HeaderClasses.MAX_HEADERS * 2):
        compose(row_of(n % 60, subject=f"Subject {n}"), settings)
    assert len(registry._headers) <= transport.HeaderClasses.MAX_HEADERS


def test_writing_a_message_with_7_bit_encoding_copies_no_kept_header(monkeypatch):
    """The standard library deep-copies a part it writes with 7-bit encoding: a kept
    header is itself in the copy (a copy of it would carry its folds and the registry)."""
    import copy

    settings = Settings(jwt_secret="x" * 48)
    row = row_of(1, **ROWS["names and words beyond ASCII, an invite"])
    message = compose(row, settings)
    bytes(message)  # folded under its own policy: the fold kept names the registry
    copied = copy.deepcopy(message)
    assert copied["Subject"] is message["Subject"]
    assert written(message, policies.SMTP.clone(cte_type="7bit")) == written(
        copied, policies.SMTP.clone(cte_type="7bit")
    )
