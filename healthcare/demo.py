"""Demo accounts for a development database. DEVELOPMENT ONLY: the passwords are public."""

from __future__ import annotations

from dataclasses import dataclass

from healthcare import models
from healthcare.resolvers.auth import create_user

# Public on purpose (they are in the README). `seed-demo` refuses to run in production.
DEMO_PASSWORD = "demo-password-1"  # noqa: S105


@dataclass(frozen=True)
class DemoAccount:
    email: str
    first_name: str
    last_name: str
    role: models.Role
    specialty: str | None = None


DEMO_ACCOUNTS = (
    DemoAccount("admin@demo.clinic", "Ada", "Admin", models.Role.ADMIN),
    DemoAccount("dr.house@demo.clinic", "Gregory", "House", models.Role.DOCTOR, "Diagnostics"),
    DemoAccount("dr.grey@demo.clinic", "Meredith", "Grey", models.Role.DOCTOR, "General Surgery"),
    DemoAccount("alice@demo.clinic", "Alice", "Patient", models.Role.PATIENT),
    DemoAccount("bob@demo.clinic", "Bob", "Patient", models.Role.PATIENT),
)


async def seed_demo_accounts() -> list[DemoAccount]:
    """Create the demo accounts that do not exist yet; returns those created."""
    created = []
    for account in DEMO_ACCOUNTS:
        if await models.User.filter(email=account.email).exists():
            continue
        await create_user(
            email=account.email,
            password=DEMO_PASSWORD,
            first_name=account.first_name,
            last_name=account.last_name,
            role=account.role,
            specialty=account.specialty,
        )
        created.append(account)
    return created


def demo_accounts_table() -> str:
    lines = ["Demo accounts (DEVELOPMENT ONLY), password for all: " + DEMO_PASSWORD]
    for account in DEMO_ACCOUNTS:
        lines.append(f"  {account.role.value:<8} {account.email}")
    return "\n".join(lines)
