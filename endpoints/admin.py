"""Django admin for every model. Secrets show as fingerprints; ciphertext is never displayed."""

from django.contrib import admin

from portal.audit import AuditedAdminMixin

from .models import (
    ApiKey,
    CatalogModel,
    EasToken,
    Endpoint,
    Membership,
    ModelGrant,
    ModelPrice,
    ProbeResult,
    ProbeRun,
    Region,
    UsageRecord,
    Vpc,
    Workspace,
)


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


class PriceInline(admin.TabularInline):
    model = ModelPrice
    extra = 0


@admin.register(CatalogModel)
class CatalogModelAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ("name", "family", "active", "us_only")
    list_filter = ("active", "regions")
    search_fields = ("name", "family")
    filter_horizontal = ("regions",)
    inlines = [PriceInline]


@admin.register(ModelPrice)
class ModelPriceAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ("model", "region", "currency", "input_per_mtok", "output_per_mtok")
    list_filter = ("region", "currency")


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0


class SecretAdminMixin:
    """Secrets are added through the portal's forms (validated, audited); here they are read-only."""

    exclude = ("ciphertext", "secret_sha256")
    readonly_fields = ("fingerprint", "created_by", "created_at", "last_used_at")

    def has_add_permission(self, request, obj=None):
        return False


class ApiKeyInline(SecretAdminMixin, admin.TabularInline):
    model = ApiKey
    extra = 0


@admin.register(Workspace)
class WorkspaceAdmin(AuditedAdminMixin, admin.ModelAdmin):
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


@admin.register(Membership)
class MembershipAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ("workspace", "user", "is_lead")


@admin.register(ModelGrant)
class ModelGrantAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ("workspace", "model", "granted_by", "granted_at")
    list_filter = ("workspace", "model")


@admin.register(ApiKey)
class ApiKeyAdmin(AuditedAdminMixin, SecretAdminMixin, admin.ModelAdmin):
    list_display = ("label", "workspace", "fingerprint", "created_at", "last_used_at", "revoked_at")
    list_filter = ("workspace",)


@admin.register(EasToken)
class EasTokenAdmin(AuditedAdminMixin, SecretAdminMixin, admin.ModelAdmin):
    list_display = ("label", "region", "fingerprint", "created_at", "last_used_at", "revoked_at")


@admin.register(Vpc)
class VpcAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ("vpc_id", "name", "region", "cidr", "resolver")
    list_filter = ("region",)
    search_fields = ("vpc_id", "name")
    filter_horizontal = ("connected_vpcs",)


@admin.register(Endpoint)
class EndpointAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = (
        "name",
        "kind",
        "host",
        "region",
        "vpc",
        "status",
        "diagnosis",
        "last_probe_at",
        "enabled",
    )
    list_filter = ("kind", "status", "region", "enabled")
    search_fields = ("name", "host", "url")
    list_select_related = ("region", "vpc")
    readonly_fields = (
        "host",
        "status",
        "diagnosis",
        "status_message",
        "last_probe_at",
        "next_probe_at",
    )
    raw_id_fields = ("vpc", "endpoint_vpc", "workspace", "eas_token")


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


@admin.register(UsageRecord)
class UsageRecordAdmin(admin.ModelAdmin):
    list_display = (
        "day",
        "workspace",
        "model_name",
        "source",
        "requests",
        "input_tokens",
        "output_tokens",
        "cost",
        "currency",
    )
    list_filter = ("source", "workspace", "currency")
    date_hierarchy = "day"
