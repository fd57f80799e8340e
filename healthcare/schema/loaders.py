"""The loaders of one operation, and the `Info` the schema's resolvers receive.

One set per operation (`graphql.execution.OperationScope` makes it, and a fresh one for
each event a subscription pushes): they cache what they load.
"""

from __future__ import annotations

from typing import TypeAlias

from strawberry.types import Info as StrawberryInfo

from healthcare import models
from healthcare.graphql.context import Context
from healthcare.graphql.loaders import DataLoader, many_by, one_by
from healthcare.resolvers import chat


class Loaders:
    def __init__(self) -> None:
        self.user_by_id = DataLoader(load_fn=one_by(models.User))
        self.changes_by_appointment = DataLoader(
            load_fn=many_by(models.AppointmentChange, "appointment_id", "created_at")
        )
        self.consultation_by_appointment = DataLoader(
            load_fn=one_by(models.Consultation, "appointment_id")
        )
        self.prescriptions_by_consultation = DataLoader(
            load_fn=many_by(models.PrescriptionItem, "consultation_id", "position")
        )
        self.revisions_by_consultation = DataLoader(
            load_fn=many_by(models.ConsultationRevision, "consultation_id", "number")
        )
        self.addenda_by_consultation = DataLoader(
            load_fn=many_by(models.ConsultationAddendum, "consultation_id", "created_at")
        )
        self.video_calls_by_appointment = DataLoader(
            load_fn=many_by(models.VideoCall, "appointment_id", "rung_at")
        )
        self.unread_count = DataLoader(load_fn=chat.count_unread)
        self.message_by_seq = DataLoader(load_fn=chat.messages_by_seq)

    def release(self) -> None:
        """Let go of every row loaded (see `DataLoader.release`)."""
        for each in vars(self).values():
            each.release()


Info: TypeAlias = StrawberryInfo[Context[Loaders], None]
