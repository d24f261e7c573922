"""The demo's money: metered usage since three months back (source "Demo"), three monthly
bill files written in the billing console's documented layouts and imported through the real
importer, a reconciliation difference with a reason, and budgets, one of them past 80 %.

The bill files stay in var/demo-bills/ (named demo-bill-YYYY-MM.csv) for a newcomer to open
or upload again (importing one twice changes nothing). The layouts and headers are those of
docs/domain.md, "The bill export": the `Instance ID` layout (ApiKeyID;WorkspaceID;ModelName;
input/output type;channel) in English and in Chinese, and the separate-fields layout of
December 2025.

What the reconciliation has to explain: last month, Beijing data team ran a batch job on
qwen-max with a key the portal does not store and whose calls nobody metered, so the bill is
higher than the estimate and names a model and a key ID on the bill's side only.
"""

import csv
import io
import random
from datetime import date, timedelta
from decimal import Decimal

from django.conf import settings
from django.utils import timezone

from portal.costs import services as costs
from portal.costs.models import BillImport, PriceBook, Source
from portal.workspaces.models import ApiKey, Workspace

BILL_DIR = "demo-bills"
PRODUCT = {"en": "Alibaba Cloud Model Studio", "zh": "阿里云百炼"}
DETAIL = {"en": "Model Studio Foundation Model Inference", "zh": "大模型推理"}
HEADERS = {
    ("instance", "en"): [
        "Billing Cycle", "Billing Date", "Product Name", "Product Detail", "Instance ID",
        "Billable Item", "Usage", "Usage Unit", "Pretax Gross Amount", "Payable Amount",
        "Currency",
    ],
    ("instance", "zh"): [
        "账期", "账单日期", "产品", "产品明细", "实例ID", "计费项", "用量", "用量单位", "官网价",
        "应付金额", "币种",
    ],
    ("fields", "en"): [
        "Billing Date", "Product Name", "Instance ID", "ApiKeyId", "WorkspaceId", "ModelName",
        "AmountType", "Source", "SafeModeStatus", "Instance Tags", "Usage", "Usage Unit",
        "Amount After Reduction", "Currency",
    ],
}  # fmt: skip
# Requests per weekday, by workspace and model (weekends run at a third).
PROFILE = {
    "bj-default": [("qwen-max", 900), ("qwen-plus", 3000)],
    "bj-data": [("qwen-plus", 5200), ("qwen-flash", 12000), ("qwen-turbo", 2500)],
    "sg-default": [("qwen-plus", 2100), ("qwen-max", 400)],
    "sg-support": [("qwen-flash", 9000), ("qwen-plus", 1200)],
    "us-analytics": [("qwen-plus-us", 1500)],
    "fin-risk": [("qwen-max", 300), ("qwen-plus", 800)],
}
# Last month's unmetered batch job in the data team (bill side only).
BATCH_JOB = {"workspace": "bj-data", "model": "qwen-max", "key_id": "9900017", "requests": 1800}
# The support bot's retry storm on the 1st of this month: 86 % of its budget spent already.
OVER_80, OVER_80_SHARE, STORM_MODEL = "sg-support", Decimal("0.86"), "qwen-plus"


def _month_start(day: date, back: int = 0) -> date:
    first = day.replace(day=1)
    for _ in range(back):
        first = (first - timedelta(days=1)).replace(day=1)
    return first


def _usage(today: date, rng: random.Random):
    """(workspace slug, model, day, requests, input tokens, output tokens), every day from the
    first of three months back to today."""
    day = _month_start(today, 3)
    while day <= today:
        factor = 0.35 if day.weekday() >= 5 else 1.0
        for slug, models in PROFILE.items():
            for model, requests in models:
                n = int(requests * factor * rng.uniform(0.7, 1.3))
                yield slug, model, day, n, n * rng.randint(600, 1400), n * rng.randint(150, 450)
        day += timedelta(days=1)


def _write(rows, layout: str, lang: str) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADERS[(layout, lang)])
    for r in rows:
        instance = f"{r['key_id']};{r['workspace_id']};{r['model']};{r['side']};api"
        amount = f"{r['amount']:.6f}"
        if layout == "instance":
            writer.writerow(
                [
                    r["day"].strftime("%Y-%m"),
                    r["day"].isoformat(),
                    PRODUCT[lang],
                    DETAIL[lang],
                    instance,
                    r["side"],
                    r["tokens"],
                    "tokens",
                    amount,
                    amount,
                    r["currency"],
                ]
            )
        else:
            writer.writerow(
                [
                    r["day"].isoformat(),
                    PRODUCT[lang],
                    instance,
                    r["key_id"],
                    r["workspace_id"],
                    r["model"],
                    r["side"],
                    "api",
                    "off",
                    "",
                    r["tokens"],
                    "tokens",
                    amount,
                    r["currency"],
                ]
            )
    return out.getvalue().encode("utf-8-sig")


def _bill_rows(usage, workspaces, key_ids, book, month: date, batch_job: bool):
    for slug, model, day, n, tokens_in, tokens_out in usage:
        if _month_start(day) != month or not n:
            continue
        workspace = workspaces[slug]
        price = book.price_for(model, workspace.region_id, day)
        if price is None:
            continue
        for side, tokens in (("input_token", tokens_in), ("output_token", tokens_out)):
            amount = price.cost_of(
                input_tokens=tokens if side == "input_token" else 0,
                output_tokens=tokens if side == "output_token" else 0,
                requests=n,
            )
            yield {
                "day": day,
                "workspace_id": workspace.workspace_id,
                "model": model,
                "side": side,
                "tokens": tokens,
                "amount": amount,
                "currency": price.currency,
                "key_id": key_ids.get(slug, ""),
            }
    if batch_job:  # last month's unmetered batch job
        workspace = workspaces[BATCH_JOB["workspace"]]
        day = month + timedelta(days=11)
        price = book.price_for(BATCH_JOB["model"], workspace.region_id, day)
        n = BATCH_JOB["requests"]
        for side, tokens in (("input_token", n * 3200), ("output_token", n * 900)):
            yield {
                "day": day,
                "workspace_id": workspace.workspace_id,
                "model": BATCH_JOB["model"],
                "side": side,
                "tokens": tokens,
                "amount": price.cost_of(
                    input_tokens=tokens if side == "input_token" else 0,
                    output_tokens=tokens if side == "output_token" else 0,
                    requests=n,
                ),
                "currency": price.currency,
                "key_id": BATCH_JOB["key_id"],
            }


def _import(path, content: bytes) -> BillImport:
    """Through the real importer (preview, confirm, the worker's run), in this process."""
    bill_import = costs.upload_bill(content, path.name, actor=None, source="cli")
    queued = []
    costs.confirm_bill_import(bill_import, actor=None, enqueue=queued.append, source="cli")
    for import_id in queued:
        costs.run_bill_import(import_id)
    bill_import.refresh_from_db()
    return bill_import


def seed_costs(today: date | None = None) -> dict:
    """Once (nothing if the demo's usage exists): returns what it made."""
    from portal.costs.models import UsageRecord

    if UsageRecord.objects.filter(source=Source.DEMO).exists():
        return {}
    today = today or timezone.localdate()
    rng = random.Random(42)
    workspaces = {w.slug: w for w in Workspace.objects.filter(slug__in=PROFILE)}
    key_ids, fingerprints = {}, {}
    for n, slug in enumerate(sorted(workspaces)):
        key = ApiKey.objects.filter(workspace=workspaces[slug]).order_by("pk").first()
        if key is None:
            continue
        key_ids[slug] = f"{1_000_000 + 137 * (n + 1)}"
        if key.key_id != key_ids[slug]:
            ApiKey.objects.filter(pk=key.pk).update(key_id=key_ids[slug])
        fingerprints[slug] = key.fingerprint
    usage = list(_usage(today, rng))
    book = PriceBook.load(
        {m for models in PROFILE.values() for m, _ in models} | {BATCH_JOB["model"]}
    )
    if OVER_80 in workspaces:
        usage = _storm(usage, workspaces[OVER_80], book, today)
    rows = [
        {
            "workspace": slug,
            "model": model,
            "date": day.isoformat(),
            "requests": n,
            "input_tokens": tokens_in,
            "output_tokens": tokens_out,
            **({"key_fingerprint": fingerprints[slug]} if slug in fingerprints else {}),
        }
        for slug, model, day, n, tokens_in, tokens_out in usage
        if slug in workspaces
    ]
    for offset in range(0, len(rows), 2000):
        costs.ingest_usage(
            rows[offset : offset + 2000], actor=None, source="cli", usage_source=Source.DEMO
        )

    folder = settings.VAR_DIR / BILL_DIR
    folder.mkdir(parents=True, exist_ok=True)
    imported = []
    layouts = [("instance", "en"), ("instance", "zh"), ("fields", "en")]
    for back, (layout, lang) in zip((3, 2, 1), layouts, strict=True):
        month = _month_start(today, back)
        rows_of_month = _bill_rows(usage, workspaces, key_ids, book, month, batch_job=back == 1)
        content = _write(rows_of_month, layout, lang)
        path = folder / f"demo-bill-{month:%Y-%m}.csv"
        path.write_bytes(content)
        imported.append(_import(path, content))

    costs.check_budgets(today)  # the crossings are claimed now; the alerts follow
    return {"usage_rows": len(rows), "bills": imported}


def _storm(usage, workspace, book, today: date):
    """The usage with the retry storm added to the 1st's STORM_MODEL row of `workspace`, so
    its month-to-date spend is OVER_80_SHARE of its budget."""
    if not workspace.monthly_budget:
        return usage
    first = _month_start(today)
    spent = Decimal(0)
    for slug, model, day, n, tokens_in, tokens_out in usage:
        price = book.price_for(model, workspace.region_id, day)
        if slug == workspace.slug and day >= first and price is not None:
            spent += price.cost_of(input_tokens=tokens_in, output_tokens=tokens_out, requests=n)
    missing = workspace.monthly_budget * OVER_80_SHARE - spent
    price = book.price_for(STORM_MODEL, workspace.region_id, first)
    if missing <= 0 or price is None:
        return usage
    extra = int(missing / price.input_per_million * 1_000_000)
    storm = []
    for slug, model, day, n, tokens_in, tokens_out in usage:
        if (slug, model, day) == (workspace.slug, STORM_MODEL, first):
            n, tokens_in = n + extra // 1000, tokens_in + extra  # ~1,000 tokens a retry
        storm.append((slug, model, day, n, tokens_in, tokens_out))
    return storm
