"""resolvers.visibility: lookups by id written once per (model, role, database), finding
exactly what each rule's own queryset finds."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from tortoise.models import Model

from healthcare import db, demo, models
from healthcare.resolvers import visibility
from tests.test_db import _attributes

ROWS_PER_MODEL = 12  # of each model's rows, the first by id: visible to some, not others


async def test_every_rules_lookup_is_written_once_and_finds_what_the_rule_finds():
    # given: the demo clinic (administrators, doctors, patients, and rows of every kind)
    await demo.seed_demo_data()
    viewers = await models.User.all().order_by("email")
    assert {viewer.role for viewer in viewers} == set(models.Role)
    compared = found_somewhere = 0
    for model in visibility.RULES:
        row_ids = [row.pk for row in await model.all().order_by("id").limit(ROWS_PER_MODEL)]
        row_ids.append(uuid.uuid4())  # and one that is not there
        for role in models.Role:
            # then: each rule's lookup has a statement written once, for each role
            template = visibility.lookup_template(model, role, db.dialect())
            assert template is not None, f"{model.__name__} for {role.value}"
        for viewer in viewers:
            for row_id in row_ids:
                # when: the viewer looks the row up
                found = await visibility.find_visible(viewer, model, row_id)
                # then: the row the rule's own queryset finds for this viewer, or none
                expected = await db.fetch_models(visibility._lookup(viewer, model, row_id))
                assert _rows(found) == [_attributes(row) for row in expected], (
                    model.__name__,
                    viewer.email,
                )
                compared += 1
                found_somewhere += found is not None
    # and: the comparison saw rows found and rows refused
    assert found_somewhere > 20
    assert compared - found_somewhere > 100


def _rows(found: Model | None) -> list[dict[str, str]]:
    return [] if found is None else [_attributes(found)]


async def test_a_rule_that_reads_more_of_the_viewer_is_built_each_time(monkeypatch):
    # given: a rule for time off that reads the viewer's email, not only id and role
    await demo.seed_demo_data()
    house = await models.User.get(email="dr.house@demo.clinic")
    other = await models.User.filter(role=models.Role.DOCTOR).exclude(id=house.id).first()
    assert other is not None
    mine = await models.TimeOff.create(
        doctor=house, starts_at=demo_time(1), ends_at=demo_time(2), reason="away"
    )

    def by_email(viewer: models.User) -> Any:
        return models.TimeOff.filter(doctor__email=viewer.email)

    monkeypatch.setitem(visibility.RULES, models.TimeOff, by_email)
    visibility.lookup_template.cache_clear()
    try:
        # when
        template = visibility.lookup_template(models.TimeOff, models.Role.DOCTOR, db.dialect())
        own = await visibility.find_visible(house, models.TimeOff, mine.id)
        others = await visibility.find_visible(other, models.TimeOff, mine.id)
    finally:
        visibility.lookup_template.cache_clear()
    # then: no statement kept for it, and each viewer still gets what the rule says
    assert template is None
    assert own is not None and own.id == mine.id
    assert others is None


def demo_time(hours: int) -> datetime:
    return datetime(2031, 5, 6, 9, tzinfo=UTC) + timedelta(hours=hours)


@pytest.mark.parametrize("role", list(models.Role))
def test_a_lookups_viewer_has_an_id_and_a_role_and_nothing_else(role):
    user = models.User.with_id_and_role(uuid.uuid4(), role)
    assert user.role is role
    with pytest.raises(AttributeError):
        _ = user.email
