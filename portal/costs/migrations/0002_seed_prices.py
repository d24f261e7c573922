"""Seed list prices for the catalog (source: docs/domain.md, "Prices"). Prices change: admins
edit them in the portal and the Django admin afterwards."""

from decimal import Decimal

from django.db import migrations

# Per million tokens: (input, output). USD international list prices; CNY mainland (<=128K tier).
USD = {
    "qwen-plus": ("0.40", "1.20"),
    "qwen-flash": ("0.05", "0.40"),
    "qwen-max": ("1.60", "6.40"),
    "qwen-turbo": ("0.05", "0.20"),
    "qwen3-max": ("1.20", "6.00"),
}
CNY = {
    "qwen-plus": ("0.80", "2.00"),
    "qwen-flash": ("0.15", "1.50"),
    "qwen-max": ("2.40", "9.60"),
    "qwen-turbo": ("0.30", "0.60"),
    "qwen3-max": ("2.50", "10.00"),
}



def seed(apps, schema_editor):
    CatalogModel = apps.get_model("workspaces", "CatalogModel")
    ModelPrice = apps.get_model("costs", "ModelPrice")
    for model in CatalogModel.objects.prefetch_related("regions"):
        base = model.name.removesuffix("-us")
        for region in model.regions.all():
            table = CNY if region.currency == "CNY" else USD
            if base not in table:
                continue
            price_in, price_out = table[base]
            ModelPrice.objects.update_or_create(
                model=model,
                region=region,
                defaults=dict(
                    currency=region.currency,
                    input_per_mtok=Decimal(price_in),
                    output_per_mtok=Decimal(price_out),
                ),
            )


class Migration(migrations.Migration):
    dependencies = [("costs", "0001_initial"), ("workspaces", "0002_seed_regions_and_catalog")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
