"""The benchmark's data: a database of its own, patient-doctor pairs and their tokens.

Users, appointments and conversations are written with the ORM directly (a thousand
argon2 sign-ins would take minutes and measure password hashing, not chat). Each user
gets a real session through `start_session`, so the server authenticates the tokens
exactly as it would a signed-in user's.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tortoise import Tortoise

from healthcare import db, models
from healthcare.config import Settings, tortoise_config
from healthcare.resolvers.auth import start_session

BATCH = 500
SESSION_CONCURRENCY = 4  # below Tortoise's default pool of 5 connections


@dataclass(frozen=True)
class Pair:
    """One patient and one doctor who share an appointment and a conversation."""

    conversation_id: str
    patient_id: str
    doctor_id: str
    patient_token: str
    doctor_token: str

    def token(self, side: int) -> str:
        return self.patient_token if side == 0 else self.doctor_token


@asynccontextmanager
async def benchmark_database(postgres_url: str | None, data_dir: Path) -> AsyncIterator[str]:
    """A database for this run only: a throwaway PostgreSQL database beside `postgres_url`
    (migrated, dropped at the end), or without one a SQLite file in `data_dir`."""
    if postgres_url is None:
        yield f"sqlite://{data_dir / 'bench.sqlite3'}"
        return
    database_url = await db.create_throwaway_database(postgres_url, "healthcare_bench_")
    try:
        await db.apply_migrations(database_url)
        yield database_url
    finally:
        await db.drop_database(database_url, postgres_url)


async def seed_pairs(database_url: str, count: int, settings: Settings) -> list[Pair]:
    """`count` pairs, each with an appointment, a conversation and two sessions."""
    await Tortoise.init(config=tortoise_config(database_url))
    try:
        if database_url.startswith("sqlite://"):
            await db.create_sqlite_schema()
        patients = [_user(models.Role.PATIENT, i) for i in range(count)]
        doctors = [_user(models.Role.DOCTOR, i) for i in range(count)]
        await models.User.bulk_create(patients + doctors, batch_size=BATCH)
        starts_at = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
        await models.Appointment.bulk_create(
            [
                models.Appointment(
                    id=uuid.uuid4(),
                    patient_id=patient.id,
                    doctor_id=doctor.id,
                    starts_at=starts_at,
                    ends_at=starts_at + timedelta(minutes=30),
                    reason="Benchmark visit",
                )
                for patient, doctor in zip(patients, doctors, strict=True)
            ],
            batch_size=BATCH,
        )
        conversations = [
            models.Conversation(id=uuid.uuid4(), patient_id=patient.id, doctor_id=doctor.id)
            for patient, doctor in zip(patients, doctors, strict=True)
        ]
        await models.Conversation.bulk_create(conversations, batch_size=BATCH)
        # bulk_create leaves the instances unsaved in the ORM's eyes: sign in stored rows.
        tokens = await access_tokens(await models.User.all(), settings)
        return [
            Pair(
                conversation_id=str(conversation.id),
                patient_id=str(patient.id),
                doctor_id=str(doctor.id),
                patient_token=tokens[patient.id],
                doctor_token=tokens[doctor.id],
            )
            for patient, doctor, conversation in zip(patients, doctors, conversations, strict=True)
        ]
    finally:
        await Tortoise.close_connections()


def _user(role: models.Role, index: int) -> models.User:
    kind = role.value.lower()
    return models.User(
        id=uuid.uuid4(),
        email=f"bench-{kind}-{index}@bench.invalid",
        password_hash="!unusable",  # never signs in with a password  # noqa: S106
        first_name=kind.capitalize(),
        last_name=f"No. {index}",
        role=role,
        specialty="General practice" if role == models.Role.DOCTOR else None,
    )


async def access_tokens(users: list[models.User], settings: Settings) -> dict[uuid.UUID, str]:
    slots = asyncio.Semaphore(SESSION_CONCURRENCY)

    async def sign_in(user: models.User) -> tuple[uuid.UUID, str]:
        async with slots:
            return user.id, (await start_session(user, settings)).access_token

    return dict(await asyncio.gather(*(sign_in(user) for user in users)))
