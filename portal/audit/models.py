"""The audit trail: one row per change, written only through `portal.audit.trail.record`."""

from django.conf import settings
from django.db import models
from django.utils import timezone


class AuditEntry(models.Model):
    """Who did what to which object, when; with a before/after of non-secret fields."""

    class Action(models.TextChoices):
        CREATE = "create", "Created"
        UPDATE = "update", "Updated"
        DELETE = "delete", "Deleted"
        GRANT = "grant", "Granted"
        REVOKE = "revoke", "Revoked"
        ROTATE = "rotate", "Rotated"
        PROBE = "probe", "Probe triggered"

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(
        max_length=150, help_text="Username at the time, kept if the user is deleted."
    )
    source = models.CharField(max_length=10, default="web", help_text="web, api, cli or system")
    action = models.CharField(max_length=10, choices=Action.choices)
    target_type = models.CharField(
        max_length=50, db_index=True, help_text="e.g. workspace, api key"
    )
    target_id = models.CharField(max_length=64, blank=True)
    target_repr = models.CharField(max_length=200)
    changes = models.JSONField(
        default=dict, blank=True, help_text='{"before": {...}, "after": {...}} of non-secret fields'
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "audit entries"
        indexes = [models.Index(fields=["target_type", "target_id"], name="audit_target")]

    def __str__(self):
        return f"{self.actor_label} {self.action} {self.target_type} {self.target_repr}"

    @property
    def changed_fields(self) -> list[tuple[str, object, object]]:
        """(field, before, after) for every field whose value differs."""
        before = self.changes.get("before") or {}
        after = self.changes.get("after") or {}
        keys = list(dict.fromkeys([*before.keys(), *after.keys()]))
        return [(k, before.get(k), after.get(k)) for k in keys if before.get(k) != after.get(k)]
