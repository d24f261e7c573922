"""Django admin for prices (edited through the same service as the pages and the API, so a
change re-costs usage and is audited), and read-only views of usage, bills and alerts."""

from django.contrib import admin

from . import services
from .models import BillImport, BudgetAlert, ModelPrice, UsageRecord


@admin.register(ModelPrice)
class ModelPriceAdmin(admin.ModelAdmin):
    list_display = (
        "model",
        "region",
        "effective_from",
        "currency",
        "input_per_million",
        "output_per_million",
        "batch_ratio",
        "cache_hit_ratio",
    )
    list_filter = ("region", "currency", "model")
    date_hierarchy = "effective_from"

    def save_model(self, request, obj, form, change):
        _, recosted = services.save_price(obj, actor=request.user, source="admin")
        self.message_user(request, f"Re-costed {recosted} usage record(s).")

    def delete_model(self, request, obj):
        services.delete_price(obj, actor=request.user, source="admin")

    def delete_queryset(self, request, queryset):
        for price in queryset:
            self.delete_model(request, price)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Written only by the services (imports, the ingest API, probes, budget checks)."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(UsageRecord)
class UsageRecordAdmin(ReadOnlyAdmin):
    list_display = (
        "day",
        "workspace",
        "model_name",
        "source",
        "key_fingerprint",
        "key_id",
        "requests",
        "input_tokens",
        "output_tokens",
        "cost",
        "currency",
        "priced",
        "superseded",
    )
    list_filter = ("source", "superseded", "priced", "currency", "workspace")
    date_hierarchy = "day"


@admin.register(BillImport)
class BillImportAdmin(ReadOnlyAdmin):
    list_display = (
        "created_at",
        "filename",
        "status",
        "imported_rows",
        "duplicate_rows",
        "uploaded_by",
    )
    list_filter = ("status",)
    exclude = ("content",)


@admin.register(BudgetAlert)
class BudgetAlertAdmin(ReadOnlyAdmin):
    list_display = (
        "month",
        "workspace",
        "threshold",
        "budget",
        "spend",
        "projected",
        "claimed_at",
        "delivered_at",
    )
    list_filter = ("threshold", "month")
