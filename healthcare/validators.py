"""Input validation shared by every mutation that accepts user data.

Each function returns the normalised value or raises `InputError` naming the field
as the schema spells it.
"""

from __future__ import annotations

import uuid

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from healthcare.failures import InputError

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 256
MAX_NAME_LENGTH = 100
MAX_BIO_LENGTH = 2000
MAX_SPECIALTY_LENGTH = 100


def normalize_email(value: str, field: str = "email") -> str:
    """Validated and lower-cased, so that uniqueness ignores case."""
    try:
        result = validate_email(value.strip(), check_deliverability=False)
    except EmailNotValidError:
        raise InputError(field, "Enter a valid email address.") from None
    return result.normalized.lower()


def check_password(password: str, email: str | None = None, field: str = "password") -> str:
    try:
        password.encode("utf-8")
    except UnicodeEncodeError:
        raise InputError(field, "This password is not valid Unicode.") from None
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InputError(field, f"Use at least {MIN_PASSWORD_LENGTH} characters.")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InputError(field, f"Use at most {MAX_PASSWORD_LENGTH} characters.")
    if len(set(password)) < 4:
        raise InputError(field, "This password is too easy to guess.")
    if email and password.lower() in {email.lower(), email.split("@")[0].lower()}:
        raise InputError(field, "The password must not be your email address.")
    return password


def normalize_phone(
    value: str | None, default_region: str | None, field: str = "phoneNumber"
) -> str | None:
    """A valid phone number in E.164 form, or None when blank."""
    if value is None or not value.strip():
        return None
    try:
        number = phonenumbers.parse(value, default_region)
    except phonenumbers.NumberParseException:
        raise InputError(
            field, "Enter a valid phone number in international form, like +14155550123."
        ) from None
    if not phonenumbers.is_valid_number(number):
        raise InputError(field, "This phone number is not valid.")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def clean_text(value: str, field: str, max_length: int, required: bool = True) -> str:
    text = value.strip()
    if required and not text:
        raise InputError(field, "This field is required.")
    if len(text) > max_length:
        raise InputError(field, f"Use at most {max_length} characters.")
    if any(ord(char) < 32 and char not in "\n\t" for char in text):
        raise InputError(field, "Control characters are not allowed.")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: not text
        raise InputError(field, "This text is not valid Unicode.") from None
    return text


def clean_name(value: str, field: str) -> str:
    name = clean_text(value, field, MAX_NAME_LENGTH)
    if "\n" in name or "\t" in name:
        raise InputError(field, "Use a single line.")
    return name


def parse_id(value: str | uuid.UUID) -> uuid.UUID | None:
    """An id as the database keys it; None for one that is not a UUID (it finds nothing)."""
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None
