from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from healthcare.models.user import User


class Conversation(Model):
    """The chat between one patient and one doctor who share an appointment.

    `last_seq` numbers the messages; sending locks this row, so messages are numbered
    1, 2, 3... in commit order and a client resumes after the last `seq` it saw.
    """

    id = fields.UUIDField(primary_key=True)
    patient: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="conversations_as_patient", on_delete=fields.CASCADE
    )
    patient_id: uuid.UUID
    doctor: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="conversations_as_doctor", on_delete=fields.CASCADE
    )
    doctor_id: uuid.UUID
    last_seq = fields.BigIntField(default=0)
    patient_last_read_seq = fields.BigIntField(default=0)
    doctor_last_read_seq = fields.BigIntField(default=0)
    created_at = fields.DatetimeField(auto_now_add=True)
    last_message_at = fields.DatetimeField(null=True)

    class Meta:
        table = "conversations"
        unique_together = (("patient_id", "doctor_id"),)


class ChatMessage(Model):
    """One message of a conversation, numbered by `seq`. Partitioned by month on PostgreSQL.

    Its time is never earlier than the conversation's previous message (the send takes
    it under the conversation's lock), so `seq` and `created_at` agree in order. Sending
    is idempotent through `ChatMessageKey`.
    """

    id = fields.UUIDField(primary_key=True)
    conversation: fields.ForeignKeyRelation[Conversation] = fields.ForeignKeyField(
        "models.Conversation", related_name="messages", on_delete=fields.CASCADE
    )
    conversation_id: uuid.UUID
    seq = fields.BigIntField()
    sender: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="chat_messages", on_delete=fields.CASCADE
    )
    sender_id: uuid.UUID
    client_id = fields.UUIDField()
    text = fields.TextField()
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "chat_messages"
        # On PostgreSQL (conversation_id, seq, created_at): see migration 11.
        unique_together = (("conversation_id", "seq"),)


# How long a send can be retried with the same clientId and get the first message back.
MESSAGE_KEY_DAYS = 30


class ChatMessageKey(Model):
    """Which message a sender's clientId made: a retried send finds it here.

    Kept MESSAGE_KEY_DAYS (30) days, then pruned daily: a retry later than that stores a
    second copy."""

    # The message's id; with `created_at` it finds the message in one partition. No
    # foreign key: PostgreSQL lets a partitioned table be referenced only by a unique key
    # that holds the partition key, (id, created_at), and keys are pruned long before
    # anyone archives their month.
    message_id = fields.UUIDField(primary_key=True)
    sender: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name=False, on_delete=fields.CASCADE
    )
    sender_id: uuid.UUID
    client_id = fields.UUIDField()
    created_at = fields.DatetimeField(db_index=True)

    class Meta:
        table = "chat_message_keys"
        unique_together = (("sender_id", "client_id"),)
