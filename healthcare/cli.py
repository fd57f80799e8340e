"""The `healthcare` command: serve, mail-worker, migrate, createsuperuser, seed-demo,
export-schema, check-migrations, audit-retention."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import getpass
import logging
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import uvicorn
from tortoise import Tortoise

from healthcare import db, models
from healthcare.app import create_app, sent_elsewhere, start_mail_worker, stop_mail_worker
from healthcare.config import ConfigurationError, Settings, tortoise_config
from healthcare.demo import (
    DemoAccount,
    demo_accounts_table,
    seed_demo_accounts,
    seed_demo_data,
)
from healthcare.failures import InputError
from healthcare.mail import outbox as mail
from healthcare.ops import partitions
from healthcare.ops.log import configure_logging
from healthcare.ops.migration_check import check_on_server
from healthcare.ops.server import uvicorn_options
from healthcare.ops.worker_metrics import shared_folder
from healthcare.resolvers.auth import create_user
from healthcare.schema import build_schema
from healthcare.schema import sdl as schema_sdl

logger = logging.getLogger("healthcare")
T = TypeVar("T")


async def _with_database(settings: Settings, work: Callable[[], Awaitable[T]]) -> T:
    """Bring the schema up to date, then run `work` with the ORM initialised."""
    db.ensure_sqlite_folder(settings.database_url)
    if not settings.uses_sqlite:
        applied = await db.apply_migrations(settings.database_url)
        if applied:
            logger.info("applied migrations", extra={"migrations": applied})
    await Tortoise.init(config=tortoise_config(settings.database_url))
    # Emails that `work` writes (demo bookings) wait in the outbox for the app's worker.
    mail.install(mail.Mailroom(settings, wake=sent_elsewhere))
    try:
        if settings.uses_sqlite:
            await db.create_sqlite_schema()
        return await work()
    finally:
        mail.install(None)
        await Tortoise.close_connections()


def serve(settings: Settings, args: argparse.Namespace) -> int:
    try:
        if args.workers is not None:
            settings = dataclasses.replace(settings, workers=args.workers)
            settings.validate()
        # Several workers share one /metrics through a folder named in the environment
        # they are spawned with (healthcare/ops/worker_metrics.py).
        with shared_folder(settings.worker_count):
            _serve(settings)
    except ConfigurationError as error:
        print(f"Configuration error: {error}", file=sys.stderr)
        return 2
    return 0


def _serve(settings: Settings) -> None:
    workers = settings.worker_count

    async def prepare() -> None:
        if settings.is_production:
            return
        # The table once, when the demo data is made; `healthcare seed-demo` prints it again.
        if await seed_demo_data():
            print(demo_accounts_table(), flush=True)

    if not settings.is_production:
        # In production the schema is migrated by `healthcare migrate`, once, by the
        # operator: several instances starting together must not race to migrate.
        asyncio.run(_with_database(settings, prepare))
    print(
        f"GraphQL API and GraphiQL at http://{settings.host}:{settings.port}/graphql "
        f"({workers} worker process{'es' if workers > 1 else ''})",
        flush=True,
    )
    uvicorn.run(
        # Several workers each build the app from the environment in their own process
        # (`create_app()` reads Settings.from_env()); one builds it here.
        "healthcare.app:create_app" if workers > 1 else create_app(settings),
        factory=workers > 1,
        workers=workers,
        host=settings.host,
        port=settings.port,
        **uvicorn_options(settings),
    )


def mail_worker(settings: Settings, args: argparse.Namespace) -> int:
    """Send the outbox's emails until SIGTERM or Ctrl-C: beside servers that do not
    (SERVER_SENDS_EMAIL=false), as many processes as wanted (each claims its own rows).
    Nobody rings it at commit: it looks every EMAIL_POLL_SECONDS."""

    async def run() -> None:
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signal_number in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signal_number, stopping.set)
        db.ensure_sqlite_folder(settings.database_url)
        config = tortoise_config(settings.database_url, settings.statement_timeout_ms)
        await Tortoise.init(config=config)
        try:
            worker = start_mail_worker(settings)
            logger.info("mail worker started", extra={"poll_seconds": settings.email_poll_seconds})
            try:
                await stopping.wait()
            finally:
                await stop_mail_worker(worker)  # the batch in hand first
        finally:
            await Tortoise.close_connections()
        logger.info("mail worker stopped")

    asyncio.run(run())
    return 0


def migrate(settings: Settings, args: argparse.Namespace) -> int:
    async def done() -> None:
        return None

    asyncio.run(_with_database(settings, done))
    print("The database schema is up to date.")
    return 0


def createsuperuser(settings: Settings, args: argparse.Namespace) -> int:
    email = args.email or input("Email: ")
    first_name = args.first_name or input("First name: ")
    last_name = args.last_name or input("Last name: ")
    password = args.password or getpass.getpass("Password (at least 10 characters): ")

    async def create() -> models.User:
        return await create_user(
            email=email,
            password=password,
            first_name=first_name,
            last_name=last_name,
            role=models.Role.ADMIN,
        )

    try:
        user = asyncio.run(_with_database(settings, create))
    except InputError as error:
        print(f"Not created: {error.field}: {error.message}", file=sys.stderr)
        return 2
    print(f"Created administrator {user.email}.")
    return 0


def seed_demo(settings: Settings, args: argparse.Namespace) -> int:
    if settings.is_production:
        print("seed-demo refuses to run with HEALTHCARE_ENV=production.", file=sys.stderr)
        return 2

    async def seed() -> list[DemoAccount]:
        # An empty database gets accounts, hours and appointments; another, only the
        # accounts it is missing.
        return await seed_demo_data() or await seed_demo_accounts()

    created = asyncio.run(_with_database(settings, seed))
    print(f"Created {len(created)} demo account(s).")
    print(demo_accounts_table())
    return 0


def export_schema(settings: Settings, args: argparse.Namespace) -> int:
    sdl = schema_sdl(build_schema(settings))
    if args.output:
        Path(args.output).write_text(sdl)
    else:
        sys.stdout.write(sdl)
    return 0


def check_migrations(settings: Settings, args: argparse.Namespace) -> int:
    if not settings.database_url.startswith("postgres://"):
        print("check-migrations needs DATABASE_URL=postgres://...", file=sys.stderr)
        return 2
    differences = asyncio.run(check_on_server(settings.database_url))
    for difference in differences:
        print(difference)
    if differences:
        print(f"The migrations do not match the models: {len(differences)} difference(s).")
        return 1
    print("The migrations match the models.")
    return 0


def audit_retention(settings: Settings, args: argparse.Namespace) -> int:
    if settings.uses_sqlite:
        print("audit-retention needs DATABASE_URL=postgres://... (partitions)", file=sys.stderr)
        return 2
    if args.months < 1:
        print("--months must be at least 1", file=sys.stderr)
        return 2

    async def run() -> partitions.Retention:
        return await partitions.retention(args.months, apply=args.apply)

    result = asyncio.run(_with_database(settings, run))
    print(f"Audit trail partitions (cut-off {result.cutoff:%Y-%m-%d}, {args.months} months):")
    expired = {dropped.partition.name: dropped.rows for dropped in result.expired}
    for partition in result.partitions:
        rows = expired.get(partition.name)
        state = "kept" if rows is None else ("DROPPED" if result.applied else "older")
        extra = "" if rows is None else f", {rows} rows"
        print(f"  {state:7} {partition.name}: {partition.describe()}{extra}")
    if not result.expired:
        print("Nothing is older than the cut-off.")
    elif result.applied:
        print(f"Dropped {len(result.expired)} partition(s), {sum(expired.values())} audit rows.")
    else:
        print(f"{len(result.expired)} partition(s) older than the cut-off: --apply drops them.")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="healthcare", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve_command = commands.add_parser(
        "serve", help="run the API (development: also seeds demo accounts)"
    )
    serve_command.add_argument(
        "--workers",
        type=int,
        help="server processes on one port (default: WORKERS, else one per core when "
        "pub/sub, rate limits and the database are shared servers, else 1)",
    )
    commands.add_parser(
        "mail-worker",
        help="send the outbox's emails (beside servers run with SERVER_SENDS_EMAIL=false)",
    )
    commands.add_parser("migrate", help="bring the database schema up to date")
    superuser = commands.add_parser("createsuperuser", help="create an administrator")
    superuser.add_argument("--email")
    superuser.add_argument("--first-name")
    superuser.add_argument("--last-name")
    superuser.add_argument("--password", help="prompted for when left out")
    commands.add_parser("seed-demo", help="create the demo accounts (development only)")
    export = commands.add_parser("export-schema", help="print the GraphQL schema (SDL)")
    export.add_argument("--output", help="write to this file instead of standard output")
    commands.add_parser(
        "check-migrations",
        help="check that the migrations build the schema the models describe (PostgreSQL)",
    )
    retention = commands.add_parser(
        "audit-retention",
        help="list (or with --apply, drop) the audit trail's months older than --months "
        "(PostgreSQL)",
    )
    retention.add_argument("--months", type=int, required=True, help="whole months to keep")
    retention.add_argument(
        "--apply", action="store_true", help="detach and drop them (default: only list)"
    )
    return parser


COMMANDS: dict[str, Callable[[Settings, argparse.Namespace], int]] = {
    "serve": serve,
    "mail-worker": mail_worker,
    "migrate": migrate,
    "createsuperuser": createsuperuser,
    "seed-demo": seed_demo,
    "export-schema": export_schema,
    "check-migrations": check_migrations,
    "audit-retention": audit_retention,
}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_env()
    except ConfigurationError as error:
        print(f"Configuration error: {error}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level)
    return COMMANDS[args.command](settings, args)


if __name__ == "__main__":
    raise SystemExit(main())
