"""healthcare.db: raw statements that behave alike on SQLite and PostgreSQL."""

from datetime import UTC, datetime, timedelta, timezone

from healthcare import db, models
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
