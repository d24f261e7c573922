"""Django admin for probe results and runs: written by the probes, looked at here."""

from django.contrib import admin

from .models import ProbeResult, ProbeRun


class ReadOnlyAdminMixin:
    """Records written by the probes: looked at and filtered, never added or edited by hand."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(ProbeResult)
class ProbeResultAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("started_at", "endpoint", "status", "diagnosis", "total_ms", "http_status")
    list_filter = ("status", "diagnosis", "source")
    raw_id_fields = ("endpoint", "run")
    date_hierarchy = "started_at"


@admin.register(ProbeRun)
class ProbeRunAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("id", "requested_by", "created_at", "total", "done", "finished_at")
