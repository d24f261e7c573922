from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from portal.audit.admin import AuditedAdminMixin

from . import services
from .models import ApiToken, User


@admin.register(User)
class UserAdmin(AuditedAdminMixin, BaseUserAdmin):
    list_display = ("username", "email", "role", "is_active", "last_login")
    list_filter = ("role", "is_active")
    fieldsets = (*BaseUserAdmin.fieldsets, ("Access Portal", {"fields": ("role",)}))
    add_fieldsets = (*BaseUserAdmin.add_fieldsets, ("Access Portal", {"fields": ("role",)}))


@admin.register(ApiToken)
class ApiTokenAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ("name", "user", "display", "created_at", "last_used_at", "revoked_at")
    list_filter = ("revoked_at",)
    readonly_fields = ("prefix", "created_at", "last_used_at", "revoked_at")
    exclude = ("digest",)
    search_fields = ("name", "user__username", "prefix")

    actions = ["revoke"]

    def has_add_permission(self, request):
        return False  # tokens are issued on the profile page, where they are shown once

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request, queryset):
        revoked = sum(
            services.revoke_token(t, actor=request.user, source="admin") for t in queryset
        )
        self.message_user(request, f"Revoked {revoked} token(s).")
