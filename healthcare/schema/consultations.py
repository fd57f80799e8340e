"""Consultations: what the assigned doctor documented, and who may read which part.

Minimum necessary: the patient reads the clinical content of their own consultations
except the doctor's private notes; the author reads and writes everything; other doctors
do not see the consultation at all; administrators see who, when and which appointment,
never clinical content.
"""

import uuid
from contextlib import suppress
from datetime import date, datetime
from typing import Annotated

import strawberry
from strawberry.extensions.field_extension import FieldExtension
from strawberry.utils.str_converters import to_camel_case

from healthcare import models
from healthcare.graphql.auditing import DeniedWhenNull, audited
from healthcare.graphql.errors import (
    ConsultationSigned,
    InvalidStatusTransition,
    NotFound,
    RevisionConflict,
    ValidationFailed,
    mutation,
)
from healthcare.graphql.pagination import DEFAULT_PAGE_SIZE, Connection, paginate
from healthcare.graphql.permissions import (
    HasRole,
    IsAuthenticated,
    IsConsultationAuthor,
    IsConsultationAuthorOrPatient,
    allow,
    is_author,
    signed_in_user,
)
from healthcare.resolvers import consultations as resolvers
from healthcare.resolvers.visibility import find_visible, visible
from healthcare.schema.loaders import Info
from healthcare.schema.users import User, related_user
from healthcare.validators import parse_id

HIDDEN_FROM_ADMINS = " Null for administrators: they see who and when, not clinical content."
EMPTY_FOR_ADMINS = " Empty for administrators: they see who and when, not clinical content."


def clinical() -> list[FieldExtension]:
    """Field rule for clinical content: the author and the patient."""
    return allow(IsConsultationAuthorOrPatient(), silent=True)


def doctors_only() -> list[FieldExtension]:
    # A fresh extension per field: strawberry configures each one for its field.
    return allow(HasRole(models.Role.DOCTOR))


@strawberry.type(description="One medication prescribed in a consultation.")
class PrescriptionItem:
    medication: str
    dose: str = strawberry.field(description="How much each time, like '500 mg'.")
    route: str = strawberry.field(description="How it is taken, like 'oral'.")
    frequency: str = strawberry.field(description="How often, like 'three times a day'.")
    duration: str = strawberry.field(description="For how long, like '7 days'.")
    instructions: str = strawberry.field(description="Anything else; may be empty.")

    @classmethod
    def from_model(cls, item: models.PrescriptionItem) -> "PrescriptionItem":
        return cls(**{name: getattr(item, name) for name in resolvers.PRESCRIPTION_FIELDS})


@strawberry.type(description="A saved version of a consultation: who wrote it, when, and what.")
class ConsultationRevision:
    number: int = strawberry.field(
        description="1 for the first version, then 2, 3, ... The patient does not see the "
        "versions that changed only the author's private notes: theirs are numbered "
        "without them."
    )
    created_at: datetime
    changed_fields: list[str] = strawberry.field(
        description="The Consultation fields this version changed, like `treatmentPlan`; for "
        "revision 1, the fields given a value. `privateNotes` is listed to the author only."
    )
    author_id: strawberry.Private[uuid.UUID]

    @strawberry.field(description="The doctor who wrote this version.")
    async def author(self, info: Info) -> User:
        return await related_user(info, self.author_id)


@strawberry.type(description="Text the author appended after signing.")
class ConsultationAddendum:
    id: strawberry.ID
    text: str
    created_at: datetime
    author_id: strawberry.Private[uuid.UUID]

    @strawberry.field(description="The doctor who wrote it.")
    async def author(self, info: Info) -> User:
        return await related_user(info, self.author_id)


@strawberry.type(
    description="What the assigned doctor documented for one appointment. Seen by its "
    "patient, its author and administrators (who see who and when, not clinical content)."
)
@audited(
    models.AuditEntity.CONSULTATION,
    patient=lambda row: row.patient_id,
    apart={"privateNotes": (models.AuditEntity.PRIVATE_NOTES, is_author)},
)
class Consultation:
    id: strawberry.ID
    appointment_id: strawberry.ID = strawberry.field(description="The appointment documented.")
    created_at: datetime
    updated_at: datetime = strawberry.field(
        description="When it last changed: an edit or the signature (addenda do not count)."
    )
    signed_at: datetime | None = strawberry.field(
        description="When the author signed it; from then on it is read-only and takes "
        "only addenda. Null while it is a draft."
    )
    medical_history: str | None = strawberry.field(
        description="The patient's history as told and found." + HIDDEN_FROM_ADMINS,
        extensions=clinical(),
    )
    examination_findings: str | None = strawberry.field(
        description="What the examination found." + HIDDEN_FROM_ADMINS, extensions=clinical()
    )
    investigations: str | None = strawberry.field(
        description="Tests ordered and their results." + HIDDEN_FROM_ADMINS,
        extensions=clinical(),
    )
    treatment_plan: str | None = strawberry.field(
        description="What happens next." + HIDDEN_FROM_ADMINS, extensions=clinical()
    )
    review_date: date | None = strawberry.field(
        description="When the patient should be seen again; null when no review is planned."
        + HIDDEN_FROM_ADMINS,
        extensions=clinical(),
    )
    private_notes: str | None = strawberry.field(
        description="The author's own notes. Null for everyone but the author: the "
        "patient and administrators included.",
        extensions=allow(IsConsultationAuthor(), silent=True),
    )
    key: strawberry.Private[uuid.UUID]  # the id, as the loaders key it
    doctor_id: strawberry.Private[uuid.UUID]
    patient_id: strawberry.Private[uuid.UUID]

    @strawberry.field(description="Whether the author has signed it (see `signedAt`).")
    def is_signed(self) -> bool:
        return self.signed_at is not None

    @strawberry.field(description="The doctor who wrote it.")
    async def doctor(self, info: Info) -> User:
        return await related_user(info, self.doctor_id)

    @strawberry.field(description="The patient it is about.")
    async def patient(self, info: Info) -> User:
        return await related_user(info, self.patient_id)

    @strawberry.field(
        description="The medications prescribed, in order." + EMPTY_FOR_ADMINS,
        extensions=clinical(),
    )
    async def prescriptions(self, info: Info) -> list[PrescriptionItem]:
        items = await info.context.loaders.prescriptions_by_consultation.load(self.key)
        return [PrescriptionItem.from_model(item) for item in items]

    @strawberry.field(
        description="Every saved version, oldest first: who wrote it, when, which fields "
        "changed. Empty for administrators: even the field list reveals clinical activity.",
        extensions=clinical(),
    )
    async def revisions(self, info: Info) -> list[ConsultationRevision]:
        rows = await info.context.loaders.revisions_by_consultation.load(self.key)
        author = is_author(info.context.viewer.user, self)
        revisions: list[ConsultationRevision] = []
        for row in rows:
            visible = [name for name in row.changed_fields if author or name != "private_notes"]
            if not visible and not author:
                continue  # a notes-only revision: the patient must not learn it happened
            revisions.append(
                ConsultationRevision(
                    number=row.number if author else len(revisions) + 1,
                    created_at=row.created_at,
                    changed_fields=[to_camel_case(name) for name in visible],
                    author_id=row.author_id,
                )
            )
        return revisions

    @strawberry.field(
        description="Text added after signing, oldest first." + EMPTY_FOR_ADMINS,
        extensions=clinical(),
    )
    async def addenda(self, info: Info) -> list[ConsultationAddendum]:
        rows = await info.context.loaders.addenda_by_consultation.load(self.key)
        return [
            ConsultationAddendum(
                id=strawberry.ID(str(row.id)),
                text=row.text,
                created_at=row.created_at,
                author_id=row.author_id,
            )
            for row in rows
        ]

    @classmethod
    def from_model(cls, consultation: models.Consultation) -> "Consultation":
        return cls(
            id=strawberry.ID(str(consultation.id)),
            key=consultation.id,
            appointment_id=strawberry.ID(str(consultation.appointment_id)),
            created_at=consultation.created_at,
            updated_at=consultation.updated_at,
            signed_at=consultation.signed_at,
            medical_history=consultation.medical_history,
            examination_findings=consultation.examination_findings,
            investigations=consultation.investigations,
            treatment_plan=consultation.treatment_plan,
            review_date=consultation.review_date,
            private_notes=consultation.private_notes,
            doctor_id=consultation.doctor_id,
            patient_id=consultation.patient_id,
        )


ConsultationConnection = Connection[Consultation]


@strawberry.input(description="One medication to prescribe.")
class PrescriptionItemInput:
    medication: str = strawberry.field(description="Required; at most 200 characters.")
    dose: str = strawberry.field(description="Required; at most 100 characters.")
    route: str = strawberry.field(description="Required; at most 50 characters.")
    frequency: str = strawberry.field(description="Required; at most 100 characters.")
    duration: str = strawberry.field(description="Required; at most 100 characters.")
    instructions: str = strawberry.field(default="", description="At most 2000 characters.")


@strawberry.input(
    description="Documentation of an appointment. Free text fields take at most 20,000 "
    "characters each."
)
class CreateConsultationInput:
    appointment_id: strawberry.ID = strawberry.field(
        description="An appointment assigned to you that is not cancelled."
    )
    medical_history: str = ""
    examination_findings: str = ""
    investigations: str = ""
    treatment_plan: str = ""
    prescriptions: list[PrescriptionItemInput] = strawberry.field(
        default_factory=list, description="At most 50 items."
    )
    review_date: date | None = strawberry.field(
        default=None, description="On or after the appointment's date (UTC)."
    )
    private_notes: str = strawberry.field(default="", description="Seen by you only.")


@strawberry.input(
    description="Clinical fields to change; leave a field out (or null) to keep it. Free "
    "text fields take at most 20,000 characters each."
)
class UpdateConsultationInput:
    medical_history: str | None = None
    examination_findings: str | None = None
    investigations: str | None = None
    treatment_plan: str | None = None
    prescriptions: list[PrescriptionItemInput] | None = strawberry.field(
        default=None, description="Replaces the whole list; [] removes every item. At most 50."
    )
    review_date: date | None = strawberry.field(
        default=strawberry.UNSET,
        description="On or after the appointment's date (UTC). Null removes it; leave it "
        "out to keep it.",
    )
    private_notes: str | None = None
    expected_revision: int | None = strawberry.field(
        default=None,
        description="The newest revision number your edit started from (the last of "
        "`revisions`): if someone saved since, nothing changes and the answer is "
        "RevisionConflict, instead of their edit being overwritten. Leave it out to save "
        "whatever the newest revision is.",
    )


def given_content(
    input: CreateConsultationInput | UpdateConsultationInput,
) -> resolvers.Content:
    """The clinical fields the client sent, keyed by CLINICAL_FIELDS."""
    given: resolvers.Content = {}
    for name in resolvers.TEXT_FIELDS:
        if getattr(input, name) is not None:
            given[name] = getattr(input, name)
    if input.prescriptions is not None:
        given["prescriptions"] = [
            {name: getattr(item, name) for name in resolvers.PRESCRIPTION_FIELDS}
            for item in input.prescriptions
        ]
    if input.review_date is not strawberry.UNSET:
        given["review_date"] = input.review_date
    return given


@strawberry.type(description="The consultation after the change.")
class ConsultationPayload:
    consultation: Consultation


CreateConsultationResult = Annotated[
    ConsultationPayload | ValidationFailed | NotFound | InvalidStatusTransition,
    strawberry.union("CreateConsultationResult"),
]
UpdateConsultationResult = Annotated[
    ConsultationPayload | ValidationFailed | NotFound | ConsultationSigned | RevisionConflict,
    strawberry.union("UpdateConsultationResult"),
]
SignConsultationResult = Annotated[
    ConsultationPayload | NotFound | ConsultationSigned,
    strawberry.union("SignConsultationResult"),
]
AddConsultationAddendumResult = Annotated[
    ConsultationPayload | ValidationFailed | NotFound,
    strawberry.union("AddConsultationAddendumResult"),
]


def payload(info: Info, consultation: models.Consultation) -> ConsultationPayload:
    # Another mutation earlier in the same request may have filled these caches.
    loaders = info.context.loaders
    for loader in (
        loaders.prescriptions_by_consultation,
        loaders.revisions_by_consultation,
        loaders.addenda_by_consultation,
    ):
        with suppress(KeyError):  # strawberry's clear() raises for a key never loaded
            loader.clear(consultation.id)
    return ConsultationPayload(consultation=Consultation.from_model(consultation))


@strawberry.type
class Query:
    @strawberry.field(
        description="A consultation by id; null when there is none you may see.",
        extensions=[
            *allow(IsAuthenticated()),
            DeniedWhenNull(models.AuditEntity.CONSULTATION),
        ],
    )
    async def consultation(self, info: Info, id: strawberry.ID) -> Consultation | None:
        found = await find_visible(signed_in_user(info), models.Consultation, id)
        return Consultation.from_model(found) if found is not None else None

    @strawberry.field(
        description="The consultations you may see, oldest first: patients their own, "
        "doctors those they wrote, administrators all. `patientId` narrows to one patient.",
        extensions=allow(IsAuthenticated()),
    )
    async def consultations(
        self,
        info: Info,
        first: int = DEFAULT_PAGE_SIZE,
        after: str | None = None,
        patient_id: strawberry.ID | None = None,
    ) -> ConsultationConnection:
        queryset = visible(signed_in_user(info), models.Consultation)
        if patient_id is not None:
            # An id that is not a UUID matches nobody.
            queryset = queryset.filter(patient_id=parse_id(patient_id) or uuid.UUID(int=0))
        return await paginate(queryset, Consultation.from_model, first, after)


@strawberry.type
class Mutation:
    @mutation(
        description="Document an appointment assigned to you (doctors only). One "
        "consultation per appointment; it starts as a draft with revision 1.",
        extensions=doctors_only(),
    )
    async def create_consultation(
        self, info: Info, input: CreateConsultationInput
    ) -> CreateConsultationResult:
        consultation = await resolvers.create(
            signed_in_user(info), input.appointment_id, given_content(input)
        )
        return payload(info, consultation)

    @mutation(
        description="Change a draft you wrote. Each change that alters a field is kept as "
        "a new revision; nothing is overwritten.",
        extensions=doctors_only(),
    )
    async def update_consultation(
        self, info: Info, id: strawberry.ID, input: UpdateConsultationInput
    ) -> UpdateConsultationResult:
        consultation = await resolvers.update(
            signed_in_user(info), id, given_content(input), input.expected_revision
        )
        return payload(info, consultation)

    @mutation(
        description="Sign a consultation you wrote: it becomes read-only and takes only addenda.",
        extensions=doctors_only(),
    )
    async def sign_consultation(self, info: Info, id: strawberry.ID) -> SignConsultationResult:
        consultation = await resolvers.sign(signed_in_user(info), id)
        return payload(info, consultation)

    @mutation(
        description="Append text (at most 4000 characters) to a consultation you wrote and "
        "signed. A draft is updated instead. The patient is notified (CONSULTATION_UPDATED).",
        extensions=doctors_only(),
    )
    async def add_consultation_addendum(
        self, info: Info, consultation_id: strawberry.ID, text: str
    ) -> AddConsultationAddendumResult:
        consultation = await resolvers.add_addendum(signed_in_user(info), consultation_id, text)
        return payload(info, consultation)
