"""The Starlette application: routes, lifespan (ORM and pub/sub), middleware."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from tortoise.contrib.starlette import RegisterTortoise
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from healthcare import db
from healthcare.config import Settings, tortoise_config
from healthcare.graphql.view import PREFLIGHT_HEADERS, GraphQLView
from healthcare.mail import outbox as mail
from healthcare.mail.worker import MailWorker
from healthcare.ops import metrics
from healthcare.ops.log import configure_logging
from healthcare.ops.memory import return_large_buffers_to_the_system, tune_garbage_collector
from healthcare.ops.middleware import RequestContextMiddleware
from healthcare.ops.partitions import keep_up
from healthcare.ops.server import die_with_supervisor
from healthcare.realtime.pubsub import PubSub
from healthcare.realtime.pubsub import install as install_pubsub
from healthcare.resolvers import appointment_emails, auth, calls, emails
from healthcare.schema import build_schema
from healthcare.security.audit import AuditWriter
from healthcare.security.audit import install as install_audit_writer

logger = logging.getLogger(__name__)


def _media_files(settings: Settings) -> StaticFiles:
    settings.media_dir.mkdir(parents=True, exist_ok=True)
    return StaticFiles(directory=settings.media_dir, check_dir=False)


def start_mail_worker(settings: Settings) -> MailWorker:
    """This process's mail worker, started, and rung by what writes emails here."""
    worker = MailWorker(settings, still_needed=emails.still_needed)
    mail.install(mail.Mailroom(settings, worker.wake))
    worker.start()
    return worker


async def stop_mail_worker(worker: MailWorker | None) -> None:
    """Finish the batch in hand (`MailWorker.stop`); emails written after this wait."""
    if worker is not None:
        await worker.stop()
    mail.install(None)


def sent_elsewhere() -> None:
    """The bell of a process that does not send (a server with SERVER_SENDS_EMAIL=false,
    a command): the emails it writes wait for a mail worker's next poll."""


def create_app(settings: Settings | None = None) -> Starlette:
    die_with_supervisor()  # a worker of `serve --workers N` stops with its supervisor
    settings = settings or Settings.from_env()
    configure_logging(settings.log_level)
    db.ensure_sqlite_folder(settings.database_url)
    pubsub = PubSub(settings.broadcast_url)
    schema = build_schema(settings)
    graphql = GraphQLView(schema, settings)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        checks = {
            "database": await db.is_database_ready(),
            "pubsub": await pubsub.is_live(),
        }
        ready = all(checks.values())
        body = {"status": "ready" if ready else "unavailable", "checks": checks}
        return JSONResponse(body, status_code=200 if ready else 503)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        config = tortoise_config(settings.database_url, settings.statement_timeout_ms)
        async with RegisterTortoise(app, config=config):
            if settings.uses_sqlite:
                await db.create_sqlite_schema()
            await pubsub.connect()
            install_pubsub(pubsub)
            audit_writer = AuditWriter()
            audit_writer.start()
            install_audit_writer(audit_writer)
            tune_garbage_collector()
            return_large_buffers_to_the_system()
            mail_worker = None
            if settings.server_sends_email:
                mail_worker = start_mail_worker(settings)
            else:
                mail.install(mail.Mailroom(settings, sent_elsewhere))
            sweepers = [
                asyncio.create_task(
                    calls.keep_ending_overdue_calls(settings), name="video-call-sweeper"
                ),
                asyncio.create_task(
                    appointment_emails.keep_sending_reminders(settings), name="reminders"
                ),
                # The audit trail's and the chat's months ahead (PostgreSQL), and the chat's
                # old idempotency keys pruned (both databases).
                asyncio.create_task(keep_up(), name="upkeep"),
            ]
            if metrics.MULTIPROCESS and not settings.uses_sqlite:  # for the other workers' scrapes
                sweepers.append(
                    asyncio.create_task(metrics.keep_pool_figures_published(), name="pool-metrics")
                )
            try:
                yield
            finally:
                for sweeper in sweepers:
                    sweeper.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await sweeper
                await auth.settled()
                await stop_mail_worker(mail_worker)
                install_audit_writer(None)
                try:
                    await audit_writer.stop()
                except Exception:  # the database is gone: say how much is lost, shut down
                    logger.exception("audit trail: rows not written at shutdown")
                install_pubsub(None)
                await pubsub.disconnect()
                await graphql.rate_limiter.close()

    middleware = [
        Middleware(RequestContextMiddleware),
        Middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_allowed_origins),
            allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=[
                "authorization",
                "content-type",
                "x-request-id",
                *PREFLIGHT_HEADERS,
            ],
            allow_credentials=False,
            max_age=600,
        ),
    ]
    if settings.trusted_proxies:
        # Outermost: every layer below sees the client the proxy names, never a header
        # from anyone else.
        middleware.insert(
            0, Middleware(ProxyHeadersMiddleware, trusted_hosts=list(settings.trusted_proxies))
        )
    app = Starlette(
        routes=[
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            *metrics.routes(settings),
            # Every method reaches the view, which refuses the ones it does not take
            # with a GraphQL JSON error (405), not the router's plain text.
            Route("/graphql", graphql),
            WebSocketRoute("/graphql", graphql),
            *graphql.ide_routes(),
            Mount("/media", app=_media_files(settings), name="media"),
        ],
        middleware=middleware,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.schema = schema
    app.state.pubsub = pubsub
    return app
