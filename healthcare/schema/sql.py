"""Where the compiled path (graphql.execution.compiled) finds the schema's objects in
SQL, and which root lists it answers in one statement. Everything else is executed as
before. tests/test_compiled.py proves each declaration against the executor's answers,
field by field, for every persona."""

from healthcare import db, models
from healthcare.graphql.execution.compiled import (
    CompiledSql,
    RootList,
    RootLookup,
    SqlRelation,
    SqlSource,
)
from healthcare.resolvers.visibility import lookup_statement
from healthcare.schema.appointments import Appointment, appointment_rows
from healthcare.schema.consultations import Consultation
from healthcare.schema.users import User

APPOINTMENT = SqlSource(
    Appointment,
    models.Appointment,
    columns={"key": '{t}."id"'},
    relations={
        "patient": SqlRelation(User, '{child}."id" = {parent}."patient_id"'),
        "doctor": SqlRelation(User, '{child}."id" = {parent}."doctor_id"'),
        "consultation": SqlRelation(Consultation, '{child}."appointment_id" = {parent}."id"'),
    },
    audited=("id", "patient_id"),
)
USER = SqlSource(
    User,
    models.User,
    columns={"key": '{t}."id"', "email_verified": '({t}."email_verified_at" IS NOT NULL)'},
    audited=("id", "key", "role"),
)
CONSULTATION = SqlSource(
    Consultation,
    models.Consultation,
    columns={"key": '{t}."id"'},
    audited=("id", "patient_id", "doctor_id"),
)


def appointment_by_id(viewer: models.User, id: str) -> db.Statement | None:
    """What `Query.appointment` finds (`find_visible`)."""
    return lookup_statement(viewer, models.Appointment, id)


COMPILED_SQL = CompiledSql(
    sources=(APPOINTMENT, USER, CONSULTATION),
    root_lists={"appointments": RootList(Appointment, appointment_rows, "starts_at")},
    root_lookups={"appointment": RootLookup(Appointment, appointment_by_id)},
)
