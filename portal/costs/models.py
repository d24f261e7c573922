"""Prices and usage: what each workspace's calls cost, by model and by day."""

from decimal import Decimal

from django.db import models

from portal.workspaces.choices import Currency
from portal.workspaces.models import CatalogModel, Region, Workspace


class ModelPrice(models.Model):
    """Seed list prices per region, per million tokens (prices change: edit in the admin)."""

    model = models.ForeignKey(CatalogModel, on_delete=models.CASCADE, related_name="prices")
    region = models.ForeignKey(Region, on_delete=models.CASCADE, related_name="prices")
    currency = models.CharField(max_length=3, choices=Currency.choices)
    input_per_mtok = models.DecimalField(max_digits=10, decimal_places=4)
    output_per_mtok = models.DecimalField(max_digits=10, decimal_places=4)

    audit_fields = ("model", "region_id", "currency", "input_per_mtok", "output_per_mtok")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["model", "region"], name="one_price_per_model_region")
        ]

    def __str__(self):
        return f"{self.model} in {self.region_id}: {self.input_per_mtok}/{self.output_per_mtok} {self.currency}"

    def cost(self, input_tokens: int, output_tokens: int) -> Decimal:
        million = Decimal(1_000_000)
        return (
            Decimal(input_tokens) * self.input_per_mtok
            + Decimal(output_tokens) * self.output_per_mtok
        ) / million


class UsageRecord(models.Model):
    """Tokens, requests and money per workspace, model and day (probes' model calls, imports)."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="usage")
    model_name = models.CharField(max_length=80)
    day = models.DateField()
    source = models.CharField(max_length=10, default="probe", help_text="probe or import")
    requests = models.PositiveIntegerField(default=0)
    input_tokens = models.PositiveBigIntegerField(default=0)
    output_tokens = models.PositiveBigIntegerField(default=0)
    cost = models.DecimalField(max_digits=14, decimal_places=6, default=0)
    currency = models.CharField(max_length=3, choices=Currency.choices, default=Currency.USD)

    class Meta:
        ordering = ["-day", "workspace_id", "model_name"]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "model_name", "day", "source"], name="one_usage_row_per_day"
            )
        ]
        indexes = [models.Index(fields=["day", "workspace"], name="usage_day_workspace")]

    def __str__(self):
        return f"{self.workspace_id} {self.model_name} {self.day}: {self.cost} {self.currency}"
