"""Email: the outbox worker against a bare SMTP client, to one local SMTP server.

    .venv/bin/python -m bench.email            # or: make bench-email

A local SMTP server (aiosmtpd, in a thread of this process, noting when each message
arrives) receives, in interleaved rounds:

1. Throughput. The worker: N emails committed to the outbox in one statement, sent by
   one `MailWorker` (claim under a lease, compose, one SMTP session per batch of 50,
   mark sent): messages per second from commit to the last arrival. Its floor: the
   same N messages composed and sent by aiosmtplib alone in batches of 50, one session
   per batch, no database: the ratio is what the outbox costs.
2. Delay. The worker: one email at a time written in a transaction (as a password reset
   or a booking writes it) and sent when the commit wakes the worker: commit to arrival.
   Its floor: one message sent by aiosmtplib alone on a new session, start to arrival.

On a throwaway PostgreSQL database (created, migrated, dropped at the end), or a SQLite
file with `--sqlite`. Writes bench/results/email-<UTC time>.json and prints a summary;
docs/benchmarks.md cites the runs it quotes.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiosmtplib
from aiosmtpd.controller import Controller
from tortoise import Tortoise

from bench.common import environment
from bench.common.processes import free_port
from bench.common.seed import benchmark_database
from bench.common.stats import summary_ms
from healthcare import db, models
from healthcare.config import Settings, tortoise_config
from healthcare.mail import outbox as mail
from healthcare.mail.transport import compose
from healthcare.mail.worker import BATCH_SIZE, MailWorker
from healthcare.realtime.outbox import atomic
from healthcare.security.auth import utcnow

RESULTS_DIR = Path(__file__).resolve().parents[1] / "results"  # bench/results
DEFAULT_POSTGRES = "postgres://postgres@127.0.0.1:5432/test"
# A password reset's size: a few short paragraphs and a link.
BODY = "\n\n".join(
    [
        "Someone (we hope you) asked to choose a new password for this account.",
        "Choose it here (the link works once, for 30 minutes): "
        f"http://localhost:5173/#/reset-password/{'x' * 43}",
        "If it was not you, ignore this email: your password stays as it is.",
        "Choose which emails you get: http://localhost:5173/#/email-preferences/"
        f"{uuid.uuid4().hex}.{'y' * 43}",
    ]
)


class Arrivals:
    """The SMTP server's side: when each Message-ID arrived (time.monotonic)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.at: dict[str, float] = {}

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        arrived = time.monotonic()
        for line in envelope.content.split(b"\r\n"):
            if line.lower().startswith(b"message-id:"):
                with self._lock:
                    self.at[line.split(b":", 1)[1].strip().decode()] = arrived
                break
        return "250 Message accepted for delivery"

    def count(self, wanted: set[str]) -> int:
        with self._lock:
            return len(wanted & self.at.keys())


async def until(condition: Callable[[], bool], seconds: float = 300) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the emails did not all arrive in time")
        await asyncio.sleep(0.001)


def outbox_row(settings: Settings) -> models.EmailMessage:
    email_id = uuid.uuid4()
    return models.EmailMessage(
        id=email_id,
        message_id=mail.message_id(email_id, settings),
        kind=models.EmailKind.PASSWORD_RESET,
        to_address=f"bench-{email_id.hex[:12]}@example.org",
        subject="Choose a new password",
        body=BODY,
        not_before=utcnow(),
        created_at=utcnow(),
    )


async def worker_throughput(count: int, settings: Settings, arrivals: Arrivals) -> float:
    rows = [outbox_row(settings) for _ in range(count)]
    wanted = {row.message_id for row in rows}
    await models.EmailMessage.bulk_create(rows, batch_size=500)
    committed = time.monotonic()
    mail.mailroom().wake()
    await until(lambda: arrivals.count(wanted) == count)
    return count / (max(arrivals.at[m] for m in wanted) - committed)


async def smtp_session(settings: Settings) -> aiosmtplib.SMTP:
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port_of(settings), start_tls=False)
    await client.connect()
    return client


async def floor_throughput(count: int, settings: Settings, arrivals: Arrivals) -> float:
    rows = [outbox_row(settings) for _ in range(count)]
    wanted = {row.message_id for row in rows}
    started = time.monotonic()
    for first in range(0, count, BATCH_SIZE):
        client = await smtp_session(settings)
        for row in rows[first : first + BATCH_SIZE]:
            await client.send_message(compose(row, settings))
        await client.quit()
    await until(lambda: arrivals.count(wanted) == count)
    return count / (max(arrivals.at[m] for m in wanted) - started)


async def worker_delay(settings: Settings, arrivals: Arrivals) -> float:
    async with atomic():
        [row] = await mail.enqueue(
            [
                mail.Email(
                    kind=models.EmailKind.PASSWORD_RESET,
                    to_address=f"bench-{uuid.uuid4().hex[:12]}@example.org",
                    subject="Choose a new password",
                    body=BODY,
                    recipient_id=None,
                )
            ]
        )
    committed = time.monotonic()
    await until(lambda: row.message_id in arrivals.at, 60)
    return arrivals.at[row.message_id] - committed


async def floor_delay(settings: Settings, arrivals: Arrivals) -> float:
    started = time.monotonic()
    message = compose(outbox_row(settings), settings)
    client = await smtp_session(settings)
    await client.send_message(message)
    await client.quit()
    await until(lambda: str(message["Message-ID"]) in arrivals.at, 60)
    return arrivals.at[str(message["Message-ID"])] - started


def port_of(settings: Settings) -> int:
    return int(settings.smtp_url.split(":")[2].split("?")[0])


async def run(args: argparse.Namespace) -> dict[str, Any]:
    arrivals = Arrivals()
    port = free_port()
    server = Controller(arrivals, hostname="127.0.0.1", port=port)
    server.start()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-email-") as folder:
            postgres_url = None if args.sqlite else args.postgres_url
            async with benchmark_database(postgres_url, Path(folder)) as database_url:
                settings = dataclasses.replace(
                    Settings.from_env({"DATA_DIR": folder, "DATABASE_URL": database_url}),
                    smtp_url=f"smtp://127.0.0.1:{port}?starttls=off",
                    email_poll_seconds=3600,  # woken by commits only: no poll in the figures
                )
                await Tortoise.init(config=tortoise_config(database_url))
                if args.sqlite:
                    await db.create_sqlite_schema()
                worker = MailWorker(settings)
                mail.install(mail.Mailroom(settings, worker.wake))
                worker.start()
                try:
                    return await measure(args, settings, arrivals, database_url)
                finally:
                    await worker.stop()
                    mail.install(None)
                    await Tortoise.close_connections()
    finally:
        server.stop()


async def measure(
    args: argparse.Namespace, settings: Settings, arrivals: Arrivals, database_url: str
) -> dict[str, Any]:
    throughput: dict[str, list[float]] = {"worker": [], "floor": []}
    delays: dict[str, list[float]] = {"worker": [], "floor": []}
    await worker_delay(settings, arrivals)  # warm up: connections, code paths
    await floor_delay(settings, arrivals)
    for round_number in range(args.rounds):
        throughput["worker"].append(await worker_throughput(args.messages, settings, arrivals))
        throughput["floor"].append(await floor_throughput(args.messages, settings, arrivals))
        for _ in range(args.delays // args.rounds):
            delays["worker"].append(await worker_delay(settings, arrivals))
            delays["floor"].append(await floor_delay(settings, arrivals))
        print(
            f"round {round_number + 1}: worker {throughput['worker'][-1]:.0f} msg/s, "
            f"floor {throughput['floor'][-1]:.0f} msg/s"
        )
    unsent = await models.EmailMessage.exclude(status=models.EmailStatus.SENT).count()
    return {
        "benchmark": "email",
        "database": "sqlite" if args.sqlite else "postgresql",
        "messages_per_round": args.messages,
        "rounds": args.rounds,
        "throughput_msgs_per_s": {
            side: {"rounds": [round(v, 1) for v in values], "best": round(max(values), 1)}
            for side, values in throughput.items()
        },
        "worker_to_floor_throughput": round(
            max(throughput["worker"]) / max(throughput["floor"]), 2
        ),
        "delay_ms": {side: summary_ms(values) for side, values in delays.items()},
        "rows_not_sent": unsent,
        "machine": environment.machine(),
        "code": environment.code(),
        "database_description": await environment.database_description(
            None if args.sqlite else database_url, None
        ),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.email",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES)
    parser.add_argument("--sqlite", action="store_true", help="a SQLite file instead")
    parser.add_argument("--messages", type=int, default=1000, help="per throughput round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--delays", type=int, default=300, help="one-at-a-time sends, in all")
    args = parser.parse_args(argv)
    result = asyncio.run(run(args))
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / f"email-{stamp}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in list(result)[:7]}, indent=2))
    print(f"written: {path.relative_to(RESULTS_DIR.parents[1])}")


if __name__ == "__main__":
    main()
