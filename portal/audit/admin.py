from django.contrib import admin

from . import trail
from .models import AuditEntry


class AuditedAdminMixin:
    """Django admin changes leave the same audit entries as the portal's own pages.

    For models without a service function of their own (reference data, users). The
    "after" snapshot is taken once the many-to-many fields are saved too (`save_related`
    runs after `save_model`), so a changed VPC connection or catalog region is recorded.
    """

    def save_model(self, request, obj, form, change):
        request._audit_before = (
            trail.snapshot(type(obj).objects.get(pk=obj.pk)) if change and obj.pk else None
        )
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        obj = form.instance
        trail.record(
            request.user,
            trail.Action.UPDATE if change else trail.Action.CREATE,
            obj,
            before=getattr(request, "_audit_before", None),
            after=trail.snapshot(obj),
            source="admin",
        )

    def delete_model(self, request, obj):
        trail.record(
            request.user, trail.Action.DELETE, obj, before=trail.snapshot(obj), source="admin"
        )
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            trail.record(
                request.user, trail.Action.DELETE, obj, before=trail.snapshot(obj), source="admin"
            )
        super().delete_queryset(request, queryset)


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    list_display = ("created_at", "actor_label", "source", "action", "target_type", "target_repr")
    list_filter = ("action", "target_type", "source")
    search_fields = ("actor_label", "target_repr")
    readonly_fields = [f.name for f in AuditEntry._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # an audit trail that admins could edit would prove nothing
