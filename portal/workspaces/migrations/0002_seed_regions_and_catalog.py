"""Seed the regions and the model catalog (sources: docs/domain.md, "Regions and deployment
scopes" and "The catalog").

Data, not schema: admins edit all of it in the Django admin afterwards. Where the docs
are silent the row says so in `notes` (e.g. Frankfurt's PrivateLink support).
"""

from django.db import migrations

REGIONS = [
    # code, name, mainland, model_studio, public_hosts, workspace_domain, scopes, privatelink,
    # custom_domain, batch, alerting, fine_tuning, currency, notes
    (
        "cn-beijing",
        "China (Beijing)",
        True,
        True,
        ["dashscope.aliyuncs.com"],
        True,
        ["mainland"],
        "yes",
        True,
        True,
        True,
        True,
        "CNY",
        "Recommended host: {WorkspaceId}.cn-beijing.maas.aliyuncs.com.",
    ),
    (
        "ap-southeast-1",
        "Singapore",
        False,
        True,
        ["dashscope-intl.aliyuncs.com"],
        True,
        ["international"],
        "yes",
        True,
        True,
        True,
        False,
        "USD",
        "Recommended host: {WorkspaceId}.ap-southeast-1.maas.aliyuncs.com.",
    ),
    (
        "us-east-1",
        "US (Virginia)",
        False,
        True,
        ["dashscope-us.aliyuncs.com"],
        True,
        ["global", "us"],
        "no",
        False,
        False,
        False,
        False,
        "USD",
        "Private network access is not supported. US-only inference: model names with the -us suffix.",
    ),
    (
        "eu-central-1",
        "Germany (Frankfurt)",
        False,
        True,
        [],
        True,
        ["global", "eu"],
        "unknown",
        True,
        False,
        False,
        False,
        "USD",
        "Workspace ID mandatory in the URL; scope chosen per workspace; keys isolated per workspace. "
        "PrivateLink support not stated in the docs.",
    ),
    (
        "cn-shanghai-finance-1",
        "China East 2 Finance",
        True,
        True,
        [],
        False,
        ["finance"],
        "yes",
        False,
        False,
        False,
        False,
        "CNY",
        "Finance cloud: private access only, by endpoint service ID (epsrv-…); custom domain off; "
        "needs allow-listing by support.",
    ),
    (
        "cn-hongkong",
        "China (Hong Kong)",
        False,
        True,
        ["cn-hongkong.dashscope.aliyuncs.com"],
        True,
        ["international"],
        "unknown",
        True,
        False,
        False,
        False,
        "USD",
        "Shared domain from MODEL_STUDIO_API.md; scope and PrivateLink not stated in DOMAIN.md.",
    ),
    # Regions where VPCs and PAI-EAS services live but Model Studio does not serve.
    (
        "cn-hangzhou",
        "China (Hangzhou)",
        True,
        False,
        [],
        False,
        [],
        "no",
        False,
        False,
        False,
        False,
        "CNY",
        "VPCs and PAI-EAS services; reach Model Studio by cross-region endpoint or CEN.",
    ),
    (
        "cn-shanghai",
        "China (Shanghai)",
        True,
        False,
        [],
        False,
        [],
        "no",
        False,
        False,
        False,
        False,
        "CNY",
        "VPCs and PAI-EAS services; reach Model Studio by cross-region endpoint or CEN.",
    ),
    (
        "cn-shenzhen",
        "China (Shenzhen)",
        True,
        False,
        [],
        False,
        [],
        "no",
        False,
        False,
        False,
        False,
        "CNY",
        "VPCs and PAI-EAS services; reach Model Studio by cross-region endpoint or CEN.",
    ),
    (
        "ap-northeast-1",
        "Japan (Tokyo)",
        False,
        False,
        [],
        False,
        [],
        "no",
        False,
        False,
        False,
        False,
        "USD",
        "VPCs and PAI-EAS services; reach Singapore by cross-region endpoint.",
    ),
]

INTERNATIONAL = ["ap-southeast-1", "us-east-1", "eu-central-1", "cn-hongkong"]
MODELS = [
    # name, family, regions, base model
    ("qwen-plus", "Qwen-Plus", ["cn-beijing", *INTERNATIONAL, "cn-shanghai-finance-1"], None),
    ("qwen-flash", "Qwen-Flash", ["cn-beijing", *INTERNATIONAL], None),
    ("qwen-max", "Qwen-Max", ["cn-beijing", *INTERNATIONAL, "cn-shanghai-finance-1"], None),
    ("qwen-turbo", "Qwen-Turbo", ["cn-beijing", *INTERNATIONAL], None),
    ("qwen3-max", "Qwen3-Max", ["cn-beijing", "ap-southeast-1", "us-east-1", "eu-central-1"], None),
    ("qwen-plus-us", "Qwen-Plus", ["us-east-1"], "qwen-plus"),
    ("qwen-flash-us", "Qwen-Flash", ["us-east-1"], "qwen-flash"),
    ("qwen-max-us", "Qwen-Max", ["us-east-1"], "qwen-max"),
    ("qwen-turbo-us", "Qwen-Turbo", ["us-east-1"], "qwen-turbo"),
]



def seed(apps, schema_editor):
    Region = apps.get_model("workspaces", "Region")
    CatalogModel = apps.get_model("workspaces", "CatalogModel")
    regions = {}
    for (
        code,
        name,
        mainland,
        ms,
        hosts,
        ws,
        scopes,
        pl,
        custom,
        batch,
        alerting,
        ft,
        currency,
        notes,
    ) in REGIONS:
        regions[code], _ = Region.objects.update_or_create(
            code=code,
            defaults=dict(
                name=name,
                mainland=mainland,
                model_studio=ms,
                public_hosts=hosts,
                workspace_domain=ws,
                scopes=scopes,
                privatelink=pl,
                privatelink_custom_domain=custom,
                batch=batch,
                alerting=alerting,
                fine_tuning=ft,
                currency=currency,
                notes=notes,
            ),
        )
    models = {}
    for name, family, region_codes, base in MODELS:
        model, _ = CatalogModel.objects.update_or_create(
            name=name, defaults=dict(family=family, base_model=models.get(base))
        )
        model.regions.set([regions[c] for c in region_codes])
        models[name] = model


class Migration(migrations.Migration):
    dependencies = [("workspaces", "0001_initial")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
