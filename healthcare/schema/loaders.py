"""The loaders of one operation, and the `Info` the schema's resolvers receive.

One set per operation (`graphql.execution.OperationScope` makes it, and a fresh one for
each event a subscription pushes): they cache what they load.
"""

from __future__ import annotations

from functools import cached_property
from typing import TypeAlias

from strawberry.types import Info as StrawberryInfo

from healthcare import models
from healthcare.graphql.context import Context
from healthcare.graphql.loaders import DataLoader, many_by, one_by
from healthcare.resolvers import chat


class Loaders:
    """An operation's loaders, each made when first asked for: most operations use one or
    two of them (`me` none), and each costs its making and its release."""

    @cached_property
    def user_by_id(self) -> DataLoader:
        return DataLoader(load_fn=one_by(models.User))

    @cached_property
    def changes_by_appointment(self) -> DataLoader:
        return DataLoader(load_fn=many_by(models.AppointmentChange, "appointment_id", "created_at"))

    @cached_property
    def consultation_by_appointment(self) -> DataLoader:
        return DataLoader(load_fn=one_by(models.Consultation, "appointment_id"))

    @cached_property
    def prescriptions_by_consultation(self) -> DataLoader:
        return DataLoader(load_fn=many_by(models.PrescriptionItem, "consultation_id", "position"))

    @cached_property
    def revisions_by_consultation(self) -> DataLoader:
        return DataLoader(load_fn=many_by(models.ConsultationRevision, "consultation_id", "number"))

    @cached_property
    def addenda_by_consultation(self) -> DataLoader:
        return DataLoader(
            load_fn=many_by(models.ConsultationAddendum, "consultation_id", "created_at")
        )

    @cached_property
    def video_calls_by_appointment(self) -> DataLoader:
        return DataLoader(load_fn=many_by(models.VideoCall, "appointment_id", "rung_at"))

    @cached_property
    def unread_count(self) -> DataLoader:
        return DataLoader(load_fn=chat.count_unread)

    @cached_property
    def message_by_seq(self) -> DataLoader:
        return DataLoader(load_fn=chat.messages_by_seq)

    def release(self) -> None:
        """Let go of every row loaded (see `DataLoader.release`): by the loaders made, which
        `cached_property` keeps in the instance's dict."""
        for each in vars(self).values():
            each.release()


Info: TypeAlias = StrawberryInfo[Context[Loaders], None]
