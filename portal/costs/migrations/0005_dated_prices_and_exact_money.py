"""Data: copy prices and costs into their exact (integer-backed) fields, date the seeded
prices, and seed the tiers, batch and cache-hit ratios (sources: docs/domain.md, "Prices").

Every existing price becomes effective from 2024-01-01, so all usage recorded so far keeps
being costed with it. Prices are data: admins change them in the portal afterwards.
"""

from datetime import date
from decimal import Decimal

from django.db import migrations

SEEDED_FROM = date(2024, 1, 1)
K = 1024  # Model Studio's "32K", "128K" input tiers count thousands of 1,024 tokens

# (over input tokens per request, input, output) per million, above the base (first) tier.
TIERS = {
    "USD": {
        "qwen-flash": [(256 * K, "0.25", "2.00")],
        "qwen3-max": [(32 * K, "2.4", "12"), (128 * K, "3.0", "15")],
    },
    "CNY": {
        "qwen-plus": [(128 * K, "2.4", "20"), (256 * K, "4.8", "48")],
        "qwen-flash": [(128 * K, "0.6", "6"), (256 * K, "1.2", "12")],
        "qwen3-max": [(32 * K, "4", "16"), (128 * K, "7", "28")],
    },
}
BATCH_RATIO = Decimal("0.5")  # batch inference costs half the real-time price
CACHE_HIT_RATIO = {"USD": Decimal("0.4"), "CNY": Decimal("0.2")}  # of the input price


def forwards(apps, schema_editor):
    ModelPrice = apps.get_model("costs", "ModelPrice")
    UsageRecord = apps.get_model("costs", "UsageRecord")
    for price in ModelPrice.objects.select_related("model", "region"):
        base = price.model.name.removesuffix("-us")
        price.input_per_million = Decimal(str(price.input_per_mtok))
        price.output_per_million = Decimal(str(price.output_per_mtok))
        price.effective_from = price.effective_from or SEEDED_FROM
        price.tiers = [
            {"over_input_tokens": over, "input_per_million": rate_in, "output_per_million": rate_out}
            for over, rate_in, rate_out in TIERS.get(price.currency, {}).get(base, [])
        ]
        price.batch_ratio = BATCH_RATIO if price.region.batch else None
        price.cache_hit_ratio = CACHE_HIT_RATIO.get(price.currency)
        price.save()
    for record in UsageRecord.objects.exclude(legacy_cost=0).iterator():
        # str() first: SQLite hands DECIMAL back as a float, which holds these six places.
        record.cost = Decimal(str(record.legacy_cost)).quantize(Decimal("0.000001"))
        record.save(update_fields=["cost"])


def backwards(apps, schema_editor):
    ModelPrice = apps.get_model("costs", "ModelPrice")
    UsageRecord = apps.get_model("costs", "UsageRecord")
    for price in ModelPrice.objects.all():
        price.input_per_mtok = price.input_per_million
        price.output_per_mtok = price.output_per_million
        price.save()
    for record in UsageRecord.objects.exclude(cost=0).iterator():
        record.legacy_cost = record.cost
        record.save(update_fields=["legacy_cost"])


class Migration(migrations.Migration):
    dependencies = [("costs", "0004_usagerecord_exact_cost")]

    operations = [migrations.RunPython(forwards, backwards)]
