"""changes.atomic(): what a transaction queues is done after it commits, and only then."""

import pytest

from healthcare import models
from healthcare.realtime.outbox import after_commit, atomic
from tests.conftest import make_patient


class Refused(Exception):
    pass


async def test_a_failed_nested_transaction_drops_what_it_queued_and_the_outer_one_commits():
    # given
    done: list[str] = []
    patient = await make_patient(first_name="Before")
    # when: the outer transaction goes on after an inner one failed
    async with atomic():
        await models.User.filter(id=patient.id).update(first_name="Outer")
        after_commit(lambda: done.append("outer"))
        with pytest.raises(Refused):
            async with atomic():
                await models.User.filter(id=patient.id).update(last_name="Inner")
                after_commit(lambda: done.append("inner"))
                raise Refused
        after_commit(lambda: done.append("outer, later"))
    # then: the outer's writes and actions, none of the inner's
    stored = await models.User.get(id=patient.id)
    assert (stored.first_name, stored.last_name) == ("Outer", patient.last_name)
    assert done == ["outer", "outer, later"]


async def test_a_failed_transaction_does_nothing_it_queued():
    # given
    done: list[str] = []
    patient = await make_patient(first_name="Before")
    # when
    with pytest.raises(Refused):
        async with atomic():
            await models.User.filter(id=patient.id).update(first_name="During")
            after_commit(lambda: done.append("action"))
            raise Refused
    # then
    assert (await models.User.get(id=patient.id)).first_name == "Before"
    assert done == []
