"""Django admin for prices and usage."""

from django.contrib import admin

from portal.audit.admin import AuditedAdminMixin

from .models import ModelPrice, UsageRecord


@admin.register(ModelPrice)
class ModelPriceAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ("model", "region", "currency", "input_per_mtok", "output_per_mtok")
    list_filter = ("region", "currency")


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
