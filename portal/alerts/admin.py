"""Django admin: the outbox, looked at (never written by hand). Channels are managed on the
portal's own page (their secrets are write-only there)."""

from django.contrib import admin

from .models import Notification


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ("created_at", "channel", "event", "state", "attempts", "sent_at")
    list_filter = ("state", "event")
    exclude = ("payload",)
    readonly_fields = [f.name for f in Notification._meta.fields if f.name != "payload"]

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False
