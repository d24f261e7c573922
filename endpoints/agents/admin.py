"""Django admin for agents: looked at and revoked here (they are added on the VPC page, where
the token is shown once)."""

from django.contrib import admin

from . import services
from .models import Agent, VpcWatch


@admin.register(Agent)
class AgentAdmin(admin.ModelAdmin):
    list_display = ("name", "vpc", "version", "last_seen_at", "revoked_at")
    list_filter = ("vpc",)
    readonly_fields = [f.name for f in Agent._meta.fields if f.name not in {"digest"}]
    exclude = ("digest",)
    actions = ["revoke"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.action(description="Revoke the selected agents")
    def revoke(self, request, queryset):
        count = sum(services.revoke_agent(a, actor=request.user, source="admin") for a in queryset)
        self.message_user(request, f"Revoked {count} agent(s).")


@admin.register(VpcWatch)
class VpcWatchAdmin(admin.ModelAdmin):
    list_display = ("vpc", "silent", "since", "changed_at")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
