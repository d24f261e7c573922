"""Django admin for regions, the catalog, workspaces, members, grants and secrets.

Writes with a service of their own (workspaces, grants, members, key revocation) go through
it, exactly as the pages and the API do; reference data is audited by the mixin. Secrets show
as fingerprints; ciphertext is never displayed, and secrets are added only through the
portal's forms (validated, audited).
"""

from django.contrib import admin
from django.core.exceptions import ValidationError

from portal.audit.admin import AuditedAdminMixin

from . import services
from .models import ApiKey, CatalogModel, EasToken, Membership, ModelGrant, Region, Workspace


@admin.register(Region)
class RegionAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = (
        "code",
        "name",
        "model_studio",
        "mainland",
        "privatelink",
        "batch",
        "alerting",
        "fine_tuning",
    )
    list_filter = ("model_studio", "mainland", "privatelink")


@admin.register(CatalogModel)
class CatalogModelAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ("name", "family", "active", "us_only")
    list_filter = ("active", "regions")
    search_fields = ("name", "family")
    filter_horizontal = ("regions",)


class SecretAdminMixin:
    """Secrets are added through the portal's forms (validated, audited); here they are read-only."""

    exclude = ("ciphertext", "secret_sha256")
    readonly_fields = ("fingerprint", "created_by", "created_at", "last_used_at", "revoked_at")

    def has_add_permission(self, request, obj=None):
        return False


class ApiKeyInline(SecretAdminMixin, admin.TabularInline):
    model = ApiKey
    extra = 0
    can_delete = False
    readonly_fields = (*SecretAdminMixin.readonly_fields, "key_id")  # set on the key's own page


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0

    def has_add_permission(self, request, obj=None):
        return False  # members are added on the workspace page (which checks the role)


@admin.register(Workspace)
class WorkspaceAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "slug",
        "workspace_id",
        "region",
        "scope",
        "is_default",
        "monthly_budget",
        "currency",
    )
    list_filter = ("region", "scope", "is_default")
    search_fields = ("name", "slug", "workspace_id")
    inlines = [MembershipInline, ApiKeyInline]

    def save_model(self, request, obj, form, change):
        services.save_workspace(obj, actor=request.user, source="admin")

    def delete_model(self, request, obj):
        services.delete_workspace(obj, actor=request.user, source="admin")

    def delete_queryset(self, request, queryset):
        for workspace in queryset:
            self.delete_model(request, workspace)


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("workspace", "user", "is_lead")
    list_select_related = ("workspace", "user")

    def save_model(self, request, obj, form, change):
        services.add_member(
            obj.workspace, obj.user, is_lead=obj.is_lead, actor=request.user, source="admin"
        )

    def delete_model(self, request, obj):
        services.remove_member(obj, actor=request.user, source="admin")

    def delete_queryset(self, request, queryset):
        for membership in queryset:
            self.delete_model(request, membership)


@admin.register(ModelGrant)
class ModelGrantAdmin(admin.ModelAdmin):
    list_display = ("workspace", "model", "granted_by", "granted_at")
    list_filter = ("workspace", "model")
    fields = ("workspace", "model")

    def has_change_permission(self, request, obj=None):
        return False  # a grant is given or taken back, never edited

    def save_model(self, request, obj, form, change):
        services.grant_model(obj.workspace, obj.model, actor=request.user, source="admin")

    def delete_model(self, request, obj):
        services.revoke_grant(obj, actor=request.user, source="admin")

    def delete_queryset(self, request, queryset):
        for grant in queryset:
            self.delete_model(request, grant)


class RevokeSecretsMixin:
    actions = ["revoke"]

    @admin.action(description="Revoke the selected secrets")
    def revoke(self, request, queryset):
        revoked = 0
        for secret in queryset:
            try:
                revoked += self.revoke_one(secret, request)
            except ValidationError as exc:
                self.message_user(request, " ".join(exc.messages), level="error")
        self.message_user(request, f"Revoked {revoked}.")


@admin.register(ApiKey)
class ApiKeyAdmin(RevokeSecretsMixin, SecretAdminMixin, admin.ModelAdmin):
    list_display = (
        "label",
        "workspace",
        "fingerprint",
        "key_id",
        "created_at",
        "last_used_at",
        "revoked_at",
    )
    list_filter = ("workspace",)
    search_fields = ("label", "key_id")
    # Model Studio's key ID is the one thing set here (bills name keys by it).
    readonly_fields = ("label", "workspace", *SecretAdminMixin.readonly_fields)

    def has_delete_permission(self, request, obj=None):
        return False  # revoke instead: the row keeps the key's history (and fingerprint)

    def save_model(self, request, obj, form, change):
        # Only key_id is editable here (everything else is read-only): through its service.
        services.set_key_id(obj, obj.key_id, actor=request.user, source="admin")

    def revoke_one(self, key, request) -> bool:
        return services.revoke_key(key, actor=request.user, source="admin")


@admin.register(EasToken)
class EasTokenAdmin(RevokeSecretsMixin, SecretAdminMixin, admin.ModelAdmin):
    list_display = ("label", "region", "fingerprint", "created_at", "last_used_at", "revoked_at")

    def has_delete_permission(self, request, obj=None):
        return False

    def revoke_one(self, token, request) -> bool:
        return services.revoke_eas_token(token, actor=request.user, source="admin")
