"""healthcare.db: raw statements that behave alike on SQLite and PostgreSQL."""

import logging
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import asyncpg
import pytest
from tortoise import Tortoise, connections
from tortoise.backends.asyncpg.client import AsyncpgDBClient
from tortoise.models import Model
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from healthcare import db, demo, models
from tests.conftest import make_doctor


async def test_fetch_all_compares_times_given_with_any_utc_offset_in_time_order():
    # given: time off from 09:00 to 10:00 UTC
    doctor = await make_doctor()
    starts_at = datetime(2031, 3, 4, 9, tzinfo=UTC)
    await models.TimeOff.create(
        doctor=doctor, starts_at=starts_at, ends_at=starts_at + timedelta(hours=1)
    )
    east = timezone(timedelta(hours=5))
    sql = "SELECT count(*) AS n FROM time_off WHERE doctor_id = $1 AND starts_at < $2"
    # when: 09:30 UTC written as 14:30+05:00 (as text it sorts after "09:00"), and 08:30 UTC
    # written as 13:30+05:00 (as text it would sort after "09:00" too)
    after_start = await db.fetch_one(sql, doctor.id, starts_at.replace(minute=30).astimezone(east))
    before_start = await db.fetch_one(
        sql, doctor.id, (starts_at - timedelta(minutes=30)).astimezone(east)
    )
    # then
    assert after_start == {"n": 1}
    assert before_start == {"n": 0}


async def test_fetch_by_keys_gives_what_the_orm_filter_gives_in_the_order_asked():
    # given: three doctors' time off, two blocks each, and a doctor with none
    doctors = [await make_doctor() for _ in range(4)]
    start = datetime(2031, 3, 4, 9, tzinfo=UTC)
    for n, doctor in enumerate(doctors[:3]):
        for hours in (5, 1):  # the later block written first
            at = start + timedelta(days=n, hours=hours)
            await models.TimeOff.create(
                doctor=doctor, starts_at=at, ends_at=at + timedelta(minutes=30)
            )
    asked = [doctors[2].id, doctors[0].id, doctors[3].id]
    # when
    found = await db.fetch_by_keys(models.TimeOff, "doctor_id", asked, "starts_at")
    expected = await models.TimeOff.filter(doctor_id__in=asked).order_by("starts_at")
    # then: the same rows as model instances, every column in place, in start order
    assert [row.id for row in found] == [row.id for row in expected]
    assert len(found) == 4
    assert [(r.doctor_id, r.starts_at, r.ends_at) for r in found] == [
        (r.doctor_id, r.starts_at, r.ends_at) for r in expected
    ]
    assert await db.fetch_by_keys(models.TimeOff, "doctor_id", []) == []


async def test_models_from_rows_builds_what_tortoise_builds_for_every_model():
    # given: the demo clinic (people, hours, appointments, their history, a consultation
    # with a prescription, emails queued), each table's rows read as `fetch_all` reads them
    await demo.seed_demo_data()
    compared: dict[str, int] = {}
    values_seen: set[tuple[str, bool]] = set()  # (how a column is read, null or not)
    for model in Tortoise.apps["models"].values():
        table = model._meta.db_table
        if table == "aerich":
            continue
        rows = await db.fetch_all(f'SELECT * FROM "{table}"')
        # when
        built = db.models_from_rows(model, rows)
        # then: every attribute alike, down to each value's type and time zone
        expected = [model._init_from_db(**row) for row in rows]
        assert [_attributes(row) for row in built] == [_attributes(row) for row in expected]
        columns = db.row_reader(model).columns
        assert columns is not None, f"{model.__name__} is read by Tortoise, not models_from_rows"
        for row in rows:
            for column, _, kind, _ in columns:
                values_seen.add((kind, row[column] is None))
        compared[model.__name__] = len(rows)
    # and: the comparison saw the models a list reads, and each way of reading a column
    # (as the database's driver sorts them) with and without a value
    assert {"User", "Appointment", "Consultation", "AppointmentChange"} <= {
        name for name, count in compared.items() if count
    }
    kinds = {kind for kind, _ in values_seen}
    assert {(kind, False) for kind in kinds} <= values_seen
    assert {("instant", True), ("as is", True), ("enum", True)} <= values_seen
    assert {"instant", "enum"} <= kinds


async def test_a_value_an_enum_lacks_fails_as_tortoise_fails_on_it():
    # given: a user's row whose role is no Role (a value written outside the app)
    await demo.seed_demo_data()
    row = dict((await db.fetch_all('SELECT * FROM "users" LIMIT 1'))[0])
    row["role"] = "JANITOR"
    # when / then: the same error as Tortoise's own reading
    with pytest.raises(ValueError, match="JANITOR") as tortoise_error:
        models.User._init_from_db(**row)
    with pytest.raises(ValueError, match="JANITOR") as ours:
        db.models_from_rows(models.User, [row])
    assert type(ours.value) is type(tortoise_error.value)


def _attributes(instance: Model) -> dict[str, str]:
    return {name: f"{type(value).__name__} {value!r}" for name, value in vars(instance).items()}


async def test_fetch_models_gives_what_awaiting_the_queryset_gives():
    # given: the demo clinic
    await demo.seed_demo_data()
    house = await models.User.get(email="dr.house@demo.clinic")
    querysets: dict[str, QuerySet[Any]] = {
        "filtered, ordered, limited": models.Appointment.filter(doctor_id=house.id)
        .order_by("-starts_at", "id")
        .limit(1),
        "every row": models.User.all().order_by("email"),
        "none": models.User.filter(email="nobody@demo.clinic"),
        "related rows joined (Tortoise reads them)": models.Appointment.all()
        .select_related("patient")
        .order_by("starts_at"),
    }
    for name, queryset in querysets.items():
        # when
        found: list[Model] = await db.fetch_models(queryset)
        # then
        expected = await queryset.all()  # a copy, built and awaited by Tortoise
        assert [_attributes(row) for row in found] == [_attributes(row) for row in expected], name
    assert len(await db.fetch_models(querysets["every row"])) == len(demo.DEMO_ACCOUNTS)


async def test_a_statement_template_finds_what_its_queryset_finds_for_any_ids():
    # given: a statement of two ids (a doctor's appointment by id), written once
    await demo.seed_demo_data()

    def build(ids: Any) -> QuerySet[Any]:
        return models.Appointment.filter(doctor_id=ids[0]).filter(id=ids[1]).limit(1)

    template = db.statement_template(models.Appointment, build, arity=2)
    assert template is not None
    appointments = await models.Appointment.all()
    doctors = {row.doctor_id for row in appointments}
    assert len(doctors) > 1 and appointments
    # when: every doctor asks for every appointment (their own and others')
    found = {
        (doctor, row.id): await db.fetch_by_template(template, (doctor, row.id))
        for doctor in doctors
        for row in appointments
    }
    # then: what the queryset built for those ids finds, row for row
    for (doctor, row_id), rows in found.items():
        expected = await db.fetch_models(build((doctor, row_id)))
        assert [_attributes(r) for r in rows] == [_attributes(r) for r in expected]
    assert sum(len(rows) for rows in found.values()) == len(appointments)


async def test_no_statement_template_where_the_statement_depends_on_more_than_the_ids():
    def raising(ids: Any) -> QuerySet[Any]:
        raise AttributeError("a rule reading what it was not given")

    builds: dict[str, Any] = {
        # a value that is neither the same each time nor one of the ids
        "the time": lambda ids: models.Appointment.filter(
            id=ids[0], starts_at__lt=datetime.now(UTC)
        ),
        "a value made from an id": lambda ids: models.Appointment.filter(reason=str(ids[0])[:8]),
        "a build that raises": raising,
        "related rows joined": lambda ids: models.Appointment.filter(id=ids[0]).select_related(
            "patient"
        ),
        "another model's rows": lambda ids: models.User.filter(id=ids[0]),
    }
    for name, build in builds.items():
        assert db.statement_template(models.Appointment, build, arity=1) is None, name
    # while: the same id in two places, and constants beside it, make one
    same_id_twice = db.statement_template(
        models.Appointment,
        lambda ids: models.Appointment.filter(id=ids[0], status="SCHEDULED").exclude(
            patient_id=ids[0]
        ),
        arity=1,
    )
    assert same_id_twice is not None
    assert [argument for _, argument, _ in same_id_twice.places] == [0, 0]


async def test_select_reads_a_transactions_own_rows_inside_it_and_what_tortoise_reads_outside(
    caplog: pytest.LogCaptureFixture,
):
    # given: a doctor, and the statement that finds doctors by last name
    doctor = await make_doctor()

    def by_name() -> QuerySet[models.User]:
        return models.User.filter(last_name="Selectwright")

    # when: inside a transaction a second doctor is renamed and not yet committed
    async with in_transaction():
        await models.User.filter(id=doctor.id).update(last_name="Selectwright")
        inside = db.statement(by_name())
        rows_inside = await db.select(inside.client, inside.sql, inside.values)
        # then: the transaction's connection ran it (another would not see the change)
        assert [str(row["id"]) for row in rows_inside] == [str(doctor.id)]
    # and outside: the same rows as Tortoise's own read, on the connection pool
    outside = db.statement(by_name())
    with caplog.at_level(logging.DEBUG, logger="tortoise.db_client"):
        rows_outside = await db.select(outside.client, outside.sql, outside.values)
    # logged as Tortoise logs the statements it sends (tests count statements by it)
    assert [r.getMessage() for r in caplog.records if r.name == "tortoise.db_client"] == [
        f"{outside.sql}: {outside.values}"
    ]
    _, tortoise_rows = await outside.client.execute_query(outside.sql, outside.values)
    assert [dict(row) for row in rows_outside] == [dict(row) for row in tortoise_rows]
    assert len(rows_outside) == 1


async def test_select_takes_the_asyncpg_pool_tortoise_keeps_outside_transactions_only():
    """Pins what `db.select` relies on: on PostgreSQL, Tortoise's client outside a
    transaction is an `AsyncpgDBClient` whose `_pool` is asyncpg's pool; inside one,
    a client of another class (its transaction's connection)."""
    if connections.get("default").capabilities.dialect != "postgres":
        pytest.skip("SQLite has no pool: select runs through Tortoise there")
    await models.User.all().count()  # the pool exists once a statement ran
    client = connections.get("default")
    assert type(client) is AsyncpgDBClient
    assert isinstance(client._pool, asyncpg.Pool)
    async with in_transaction():
        assert type(connections.get("default")) is not AsyncpgDBClient
        assert type(models.User._choose_db()) is not AsyncpgDBClient
