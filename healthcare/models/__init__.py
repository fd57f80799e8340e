"""Tortoise models, one module per domain. Import as `from healthcare import models`."""

from healthcare.models.appointment import (
    Appointment,
    AppointmentChange,
    AppointmentChangeKind,
    AppointmentStatus,
)
from healthcare.models.audit import AuditAction, AuditEntity, AuditEvent
from healthcare.models.auth import AuthSession, RefreshToken
from healthcare.models.availability import DoctorSchedule, TimeOff, WorkingHours
from healthcare.models.call import (
    LIVE_CALL_STATES,
    CallSignal,
    CallSignalKind,
    VideoCall,
    VideoCallState,
)
from healthcare.models.chat import MESSAGE_KEY_DAYS, ChatMessage, ChatMessageKey, Conversation
from healthcare.models.consultation import (
    CLINICAL_FIELDS,
    Consultation,
    ConsultationAddendum,
    ConsultationRevision,
    PrescriptionItem,
)
from healthcare.models.email import (
    TERMINAL_EMAIL_STATES,
    AppointmentReminder,
    EmailKind,
    EmailMessage,
    EmailPreferences,
    EmailStatus,
    EmailToken,
    EmailTokenPurpose,
)
from healthcare.models.notification import Notification, NotificationCounter, NotificationKind
from healthcare.models.user import Role, User

__all__ = [
    "CLINICAL_FIELDS",
    "LIVE_CALL_STATES",
    "MESSAGE_KEY_DAYS",
    "TERMINAL_EMAIL_STATES",
    "Appointment",
    "AppointmentChange",
    "AppointmentChangeKind",
    "AppointmentReminder",
    "AppointmentStatus",
    "AuditAction",
    "AuditEntity",
    "AuditEvent",
    "AuthSession",
    "CallSignal",
    "CallSignalKind",
    "ChatMessage",
    "ChatMessageKey",
    "Consultation",
    "ConsultationAddendum",
    "ConsultationRevision",
    "Conversation",
    "DoctorSchedule",
    "EmailKind",
    "EmailMessage",
    "EmailPreferences",
    "EmailStatus",
    "EmailToken",
    "EmailTokenPurpose",
    "Notification",
    "NotificationCounter",
    "NotificationKind",
    "PrescriptionItem",
    "RefreshToken",
    "Role",
    "TimeOff",
    "User",
    "VideoCall",
    "VideoCallState",
    "WorkingHours",
]
