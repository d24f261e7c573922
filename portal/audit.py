"""The one helper every change goes through to leave an audit entry.

Models say which of their fields are safe to record with `audit_fields`; secrets are
never among them, so a before/after summary can't leak one.
"""

from datetime import date, datetime
from decimal import Decimal

from django.db import models

from .models import AuditEntry


def _plain(value):
    if isinstance(value, models.Model):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, list | tuple | set):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def snapshot(obj) -> dict:
    """The object's auditable fields as JSON-friendly values."""
    fields = getattr(obj, "audit_fields", ())
    data = {}
    for name in fields:
        value = getattr(obj, name)
        if hasattr(value, "all") and callable(value.all):  # many-to-many
            value = sorted(str(v) for v in value.all())
        data[name] = _plain(value)
    return data


def target_type(obj) -> str:
    return obj._meta.verbose_name


def record(actor, action: str, obj, *, before=None, after=None, source: str = "web", label=None):
    """Write one audit entry. `before`/`after` are snapshots (dicts) or None."""
    actor_label = getattr(actor, "username", None) or (str(actor) if actor else "system")
    return AuditEntry.objects.create(
        actor=actor if getattr(actor, "pk", None) else None,
        actor_label=actor_label,
        source=source,
        action=action,
        target_type=target_type(obj),
        target_id=str(obj.pk or ""),
        target_repr=(label or str(obj))[:200],
        changes={"before": before, "after": after} if (before or after) else {},
    )


class AuditedAdminMixin:
    """Django admin changes leave the same audit entries as the portal's own pages."""

    def save_model(self, request, obj, form, change):
        before = None
        if change and obj.pk:
            before = snapshot(type(obj).objects.get(pk=obj.pk))
        super().save_model(request, obj, form, change)
        record(
            request.user,
            "update" if change else "create",
            obj,
            before=before,
            after=snapshot(obj),
            source="admin",
        )

    def delete_model(self, request, obj):
        record(request.user, "delete", obj, before=snapshot(obj), source="admin")
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            record(request.user, "delete", obj, before=snapshot(obj), source="admin")
        super().delete_queryset(request, queryset)
