"""Fixtures of the cost tests: bill files written from the documented columns, prices, usage.

The bill layouts (docs/domain.md, "The bill export"): since 2024-09-07 an `Instance ID` of
`ApiKeyID;WorkspaceID;ModelName;input/output type;channel`; since 2025-12-16 separate
ApiKeyId, WorkspaceId, ModelName, AmountType and Source fields. The console exports English
or Chinese headers.
"""

import csv
import io
from datetime import date
from decimal import Decimal

import pytest

HEADERS = {
    ("instance", "en"): [
        "Billing Cycle",
        "Billing Date",
        "Product Name",
        "Product Detail",
        "Instance ID",
        "Billable Item",
        "Usage",
        "Usage Unit",
        "Pretax Gross Amount",
        "Payable Amount",
        "Currency",
    ],
    ("instance", "zh"): [
        "账期",
        "账单日期",
        "产品",
        "产品明细",
        "实例ID",
        "计费项",
        "用量",
        "用量单位",
        "官网价",
        "应付金额",
        "币种",
    ],
    ("fields", "en"): [
        "Billing Date",
        "Product Name",
        "Instance ID",
        "ApiKeyId",
        "WorkspaceId",
        "ModelName",
        "AmountType",
        "Source",
        "SafeModeStatus",
        "Instance Tags",
        "Usage",
        "Usage Unit",
        "Amount After Reduction",
        "Currency",
    ],
    ("fields", "zh"): [
        "账单日期",
        "产品",
        "实例ID",
        "ApiKeyId",
        "WorkspaceId",
        "ModelName",
        "AmountType",
        "Source",
        "SafeModeStatus",
        "实例标签",
        "用量",
        "用量单位",
        "应付金额",
        "币种",
    ],
}


def bill_row(
    workspace,
    day="2026-03-03",
    model="qwen-plus",
    side="input_token",
    usage="1000",
    amount="0.0008",
    key_id="1234567",
    channel="api",
    currency=None,
    unit="tokens",
):
    workspace_id = workspace if isinstance(workspace, str) else workspace.workspace_id
    currency = currency or (workspace.currency if not isinstance(workspace, str) else "CNY")
    return {
        "day": day,
        "workspace_id": workspace_id,
        "model": model,
        "side": side,
        "usage": usage,
        "unit": unit,
        "amount": amount,
        "key_id": key_id,
        "channel": channel,
        "currency": currency,
    }


def bill_csv(rows, layout="instance", lang="en", encoding="utf-8-sig") -> bytes:
    """A bill-details export with these rows, in the given layout and header language."""
    product = "Alibaba Cloud Model Studio" if lang == "en" else "阿里云百炼"
    detail = "Model Studio Foundation Model Inference" if lang == "en" else "大模型推理"
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADERS[(layout, lang)])
    for r in rows:
        instance = f"{r['key_id']};{r['workspace_id']};{r['model']};{r['side']};{r['channel']}"
        if layout == "instance":
            writer.writerow(
                [
                    r["day"][:7],
                    r["day"],
                    product,
                    detail,
                    instance,
                    r["side"],
                    r["usage"],
                    r["unit"],
                    r["amount"],
                    r["amount"],
                    r["currency"],
                ]
            )
        else:
            writer.writerow(
                [
                    r["day"],
                    product,
                    instance,
                    r["key_id"],
                    r["workspace_id"],
                    r["model"],
                    r["side"],
                    r["channel"],
                    "off",
                    "team:a",
                    r["usage"],
                    r["unit"],
                    r["amount"],
                    r["currency"],
                ]
            )
    return out.getvalue().encode(encoding)


@pytest.fixture
def set_price(db):
    """set_price(model, region, from, input, output, tiers=..., **ratios): a price, saved
    through the service (as an admin would)."""
    from portal.costs import services
    from portal.costs.models import ModelPrice
    from portal.workspaces.models import CatalogModel, Region

    def make(model, region, effective_from, rate_in, rate_out, tiers=(), **extra):
        price = ModelPrice.objects.filter(
            model__name=model, region_id=region, effective_from=effective_from
        ).first() or ModelPrice(
            model=CatalogModel.objects.get(name=model), region=Region.objects.get(pk=region)
        )
        price.effective_from = effective_from
        price.input_per_million = Decimal(rate_in)
        price.output_per_million = Decimal(rate_out)
        price.currency = ""
        price.tiers = list(tiers)
        for name, value in extra.items():
            setattr(price, name, None if value is None else Decimal(value))
        return services.save_price(price, actor=None, source="cli")[0]

    return make


@pytest.fixture
def ingest(db):
    """ingest(rows): metered usage stored through the ingest service (source "api")."""
    from portal.costs import services

    def send(*rows):
        return services.ingest_usage(list(rows), actor=None, source="api")

    return send


def usage_row(workspace, day, model="qwen-plus", tokens_in=0, tokens_out=0, requests=100, **extra):
    return {
        "workspace": workspace.slug,
        "model": model,
        "date": day.isoformat() if isinstance(day, date) else day,
        "input_tokens": tokens_in,
        "output_tokens": tokens_out,
        "requests": requests,
        **extra,
    }


@pytest.fixture
def import_bill(db):
    """import_bill(content): preview, confirm and import a bill in this process (the task's
    body); returns the BillImport."""
    from portal.costs import services

    def run(content, filename="bill.csv", mapping=None):
        bill_import = services.upload_bill(content, filename, actor=None)
        if mapping:
            services.map_bill_columns(bill_import, mapping, actor=None)
        queued = []
        services.confirm_bill_import(bill_import, actor=None, enqueue=queued.append)
        if queued:
            services.run_bill_import(queued[0])
        bill_import.refresh_from_db()
        return bill_import

    return run
