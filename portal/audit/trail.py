"""The one helper every change goes through to leave an audit entry.

A model says which of its fields are safe to record with `audit_fields` (models holding a
secret always do, and never list it); without one, every concrete and many-to-many field
is recorded except those in `audit_exclude`. So a before/after summary can't leak a
secret, and reference data (regions, the catalog) is audited whole without a list to keep.
"""

from datetime import date, datetime
from decimal import Decimal

from django.db import models

from .models import AuditEntry

Action = AuditEntry.Action


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


def audited_fields(model) -> tuple[str, ...]:
    """The field names a snapshot of `model` (a class or an instance) records."""
    declared = getattr(model, "audit_fields", None)
    if declared is not None:
        return tuple(declared)
    exclude = set(getattr(model, "audit_exclude", ()))
    return tuple(
        field.name
        for field in model._meta.get_fields()
        if (field.concrete or field.many_to_many)
        and not field.auto_created
        and field.name not in exclude
    )


def snapshot(obj) -> dict:
    """The object's auditable fields as JSON-friendly values."""
    data = {}
    for name in audited_fields(obj):
        value = getattr(obj, name)
        if hasattr(value, "all") and callable(value.all):  # many-to-many
            value = sorted(str(v) for v in value.all()) if obj.pk else []
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
