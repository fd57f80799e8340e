"""The audit trail, as people read it: administrators all of it, a patient who read or
changed their records (not their own doings, and not the author's private notes)."""

from __future__ import annotations

from tortoise.queryset import QuerySet

from healthcare import models


def visible_audit_events(viewer: models.User) -> QuerySet[models.AuditEvent]:
    """Every row of the trail `viewer` may see: all, for administrators; for a patient,
    the allowed reads and writes of their records by others, without the author's
    private notes; nothing for doctors."""
    if viewer.is_admin:
        return models.AuditEvent.all()
    if viewer.role != models.Role.PATIENT:
        return models.AuditEvent.filter(id__in=[])
    return (
        models.AuditEvent.filter(patient_id=viewer.id, allowed=True)
        .exclude(actor_id=viewer.id)
        .exclude(entity=models.AuditEntity.PRIVATE_NOTES)
    )
