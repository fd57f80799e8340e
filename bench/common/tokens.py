"""The floors' token check: an access token's claims, verified as the API verifies them
(healthcare.security.auth's algorithm and required claims), with no framework around it."""

from __future__ import annotations

import uuid
from typing import Any

import jwt

from healthcare.security.auth import ACCESS_TOKEN_TYPE, JWT_ALGORITHM, REQUIRED_CLAIMS


def bearer_claims(authorization: str | None, secret: str) -> dict[str, Any] | None:
    """The claims of `Bearer <token>`, or None when it is not a valid access token of
    ours; `sid` and `sub` as UUIDs."""
    scheme, _, token = (authorization or "").strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    try:
        claims = jwt.decode(
            token.strip(),
            secret,
            algorithms=[JWT_ALGORITHM],
            options={"require": REQUIRED_CLAIMS},
            leeway=5,
        )
        claims["sid"], claims["sub"] = uuid.UUID(claims["sid"]), uuid.UUID(claims["sub"])
    except (jwt.PyJWTError, ValueError, TypeError):
        return None
    return claims if claims["typ"] == ACCESS_TOKEN_TYPE else None
