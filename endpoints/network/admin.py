"""Django admin for VPCs and endpoints: validated by the rules and saved by the services, as
the pages and the API are."""

from django.contrib import admin

from . import services
from .forms import EndpointAdminForm, VpcAdminForm
from .models import Endpoint, Vpc


@admin.register(Vpc)
class VpcAdmin(admin.ModelAdmin):
    form = VpcAdminForm
    list_display = ("vpc_id", "name", "region", "cidr", "resolver")
    list_filter = ("region",)
    search_fields = ("vpc_id", "name")
    filter_horizontal = ("connected_vpcs",)

    def save_model(self, request, obj, form, change):
        connected = list(form.cleaned_data.get("connected_vpcs") or [])
        services.save_vpc(obj, connected, actor=request.user, source="admin")

    def save_related(self, request, form, formsets, change):
        pass  # save_vpc set the connections (and audited them)

    def delete_model(self, request, obj):
        services.delete_vpc(obj, actor=request.user, source="admin")

    def delete_queryset(self, request, queryset):
        for vpc in queryset:
            self.delete_model(request, vpc)


@admin.register(Endpoint)
class EndpointAdmin(admin.ModelAdmin):
    form = EndpointAdminForm
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
    )
    raw_id_fields = ("vpc", "endpoint_vpc", "workspace", "eas_token")

    def save_model(self, request, obj, form, change):
        if obj.pk is None:
            obj.created_by = request.user
        services.save_endpoint(obj, actor=request.user, source="admin")

    def delete_model(self, request, obj):
        services.delete_endpoint(obj, actor=request.user, source="admin")

    def delete_queryset(self, request, queryset):
        for endpoint in queryset:
            self.delete_model(request, endpoint)
