"""What the role-following notification rule costs on PostgreSQL, against its floor: the
recipient-only filter it replaced, in the same run.

    .venv/bin/python -m bench.api.notification_rule

On a throwaway database with the API benchmark's clinic (bench/api/data.py: 200 doctors,
20,000 patients, 200,000 appointments, 50,000 consultations), the busiest doctor gets a
notification per appointment and per consultation of theirs, and 100 conversations with
a message notification each, half of them read. Then, 200 times each after a warm-up:
the unread count and the newest page of 20, by the rule (`visible_notifications`: the
notification and what it links to must both be the viewer's to see) and by the floor
(`recipient_id` alone). Prints milliseconds (p50, p99) per query, from this process.
"""

from __future__ import annotations

import asyncio
import secrets
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from tortoise import Tortoise

from bench.api.data import Sizes, seed
from healthcare import db, models
from healthcare.config import Settings, tortoise_config
from healthcare.resolvers import notifications

SERVER = "postgres://postgres@127.0.0.1:5432"
DATABASE = "bench_notification_rule"
RUNS, WARM_UP = 200, 20

SQL_CONVERSATIONS = """
INSERT INTO conversations (id, patient_id, doctor_id, last_seq, created_at,
                           patient_last_read_seq, doctor_last_read_seq)
SELECT gen_random_uuid(), patient_id, $1, 1, now(), 0, 0
FROM (SELECT DISTINCT patient_id FROM appointments WHERE doctor_id = $1 LIMIT 100) p
"""
SQL_NOTIFICATIONS = """
INSERT INTO notifications (id, recipient_id, seq, kind, title, body, appointment_id,
                           consultation_id, conversation_id, created_at, read_at)
SELECT gen_random_uuid(), $1, row_number() OVER (), kind, 'title', 'body', a, c, v, now(),
       CASE WHEN random() < 0.5 THEN now() END
FROM (
  SELECT 'APPOINTMENT_BOOKED' kind, id a, NULL::uuid c, NULL::uuid v
  FROM appointments WHERE doctor_id = $1
  UNION ALL SELECT 'CONSULTATION_UPDATED', appointment_id, id, NULL
  FROM consultations WHERE doctor_id = $1
  UNION ALL SELECT 'CHAT_MESSAGE', NULL, NULL, id FROM conversations WHERE doctor_id = $1
) x
"""


async def timed(label: str, query: Callable[[], Awaitable[Any]]) -> None:
    for _ in range(WARM_UP):
        await query()
    samples = []
    for _ in range(RUNS):
        start = time.perf_counter()
        answer = await query()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    p50, p99 = statistics.median(samples), samples[int(RUNS * 0.99) - 1]
    print(f"{label:44s} p50 {p50:6.2f} ms   p99 {p99:6.2f} ms   ({answer})")


async def page(rows: Any) -> int:
    return len(await rows.order_by("-seq").limit(20))


async def measure(url: str) -> None:
    await db.apply_migrations(url)
    await seed(url, Settings(jwt_secret=secrets.token_hex(32), database_url=url), Sizes(), 1, 1)
    connection = await asyncpg.connect(url)
    try:
        doctor_id = await connection.fetchval(
            "SELECT doctor_id FROM appointments GROUP BY doctor_id ORDER BY count(*) DESC LIMIT 1"
        )
        await connection.execute(SQL_CONVERSATIONS, doctor_id)
        await connection.execute(SQL_NOTIFICATIONS, doctor_id)
        await connection.execute("ANALYZE")
        sizes = await connection.fetchrow(
            "SELECT (SELECT count(*) FROM appointments WHERE doctor_id = $1) appointments,"
            " (SELECT count(*) FROM consultations WHERE doctor_id = $1) consultations,"
            " (SELECT count(*) FROM notifications WHERE recipient_id = $1) notifications",
            doctor_id,
        )
    finally:
        await connection.close()
    print(f"the doctor: {dict(sizes)}, 100 conversations")
    await Tortoise.init(config=tortoise_config(url))
    try:
        doctor = await models.User.get(id=doctor_id)
        floor = models.Notification.filter(recipient_id=doctor.id)
        rule = notifications.visible_notifications(doctor)
        unread = floor.filter(read_at__isnull=True)
        await timed("unread count, floor (recipient only)", unread.count)
        await timed("unread count, the rule", lambda: notifications.unread_count(doctor))
        await timed("newest 20, floor (recipient only)", lambda: page(floor))
        await timed("newest 20, the rule", lambda: page(rule))
    finally:
        await Tortoise.close_connections()


async def main() -> None:
    server = await asyncpg.connect(f"{SERVER}/postgres")
    await server.execute(f"DROP DATABASE IF EXISTS {DATABASE}")
    await server.execute(f"CREATE DATABASE {DATABASE}")
    try:
        await measure(f"{SERVER}/{DATABASE}")
    finally:
        await server.execute(f"DROP DATABASE IF EXISTS {DATABASE}")
        await server.close()


if __name__ == "__main__":
    asyncio.run(main())
