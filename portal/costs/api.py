"""JSON API of costs: metered usage in, prices in and out, the cost split out.

Money travels as decimal strings with 6 places ("12.345678"); shares and budget use as
decimal fractions with 4 ("0.4123"). Every write goes through `services`.
"""

from datetime import date
from decimal import Decimal

from django.core.exceptions import RequestDataTooBig, ValidationError
from django.http import Http404
from ninja import Field, Router, Schema, Status

from portal import inputs
from portal.api import requires
from portal.roles import Perm
from portal.workspaces.access import get_workspace_for_user
from portal.workspaces.models import CatalogModel, Region, Workspace

from . import reports, services
from .models import ModelPrice
from .money import api_amount

router = Router(tags=["costs"])


# -- usage ingest -------------------------------------------------------------------------------


class UsageRowIn(Schema):
    """One day's total of one workspace's usage of one model (through one key)."""

    workspace: str = Field(..., description="The workspace's slug")
    model: str = Field(..., description="A model of the catalog, e.g. qwen-plus")
    date: str = Field(..., description="The day, YYYY-MM-DD")
    input_tokens: int = Field(..., ge=0)
    output_tokens: int = Field(..., ge=0)
    requests: int = Field(..., ge=0)
    key_fingerprint: str | None = Field(None, description="The stored key's fingerprint")
    cached_input_tokens: int = Field(0, ge=0, description="Input tokens served from the cache")
    batch: bool = Field(False, description="Batch inference")


class Accepted(Schema):
    accepted: int


class RowError(Schema):
    row: int | None = Field(..., description="The row's index in the array, from 0")
    field: str
    message: str


class RowErrors(Schema):
    errors: list[RowError]


def _body_errors(message: str) -> Status:
    return Status(400, {"errors": [{"row": None, "field": "__all__", "message": message}]})


@router.post(
    "/usage",
    response={201: Accepted, 400: RowErrors},
    summary="Send metered usage (admin): a day's total per workspace, model and key",
    description=(
        "A JSON array of rows. All rows are stored, or none: any bad row answers 400 with "
        "every problem as {row, field, message}. A row for a day already sent replaces it, "
        "so retries are safe."
    ),
    auth=requires(Perm.MANAGE_COSTS, own_body=True),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"type": "array", "items": UsageRowIn.model_json_schema()}
                }
            },
        }
    },
)
def post_usage(request):
    try:
        rows = inputs.loads(request.body)  # strict: no NaN, Infinity or 1e999
    except RequestDataTooBig:
        return _body_errors(
            f"The body is too large: send at most {services.MAX_INGEST_ROWS:,} rows."
        )
    except (ValueError, RecursionError):
        return _body_errors("The body is not JSON: send an array of usage rows.")
    try:
        accepted = services.ingest_usage(rows, actor=request.user, source="api")
    except services.UsageRowsInvalid as exc:
        return Status(400, {"errors": exc.rows})
    return Status(201, {"accepted": accepted})


# -- prices -------------------------------------------------------------------------------------


class Tier(Schema):
    over_input_tokens: int = Field(
        ..., gt=0, description="Input tokens per request above which it applies"
    )
    input_per_million: Decimal
    output_per_million: Decimal


class PriceIn(Schema):
    model: str = Field(..., max_length=80)
    region: str = Field(..., max_length=40)
    input_per_million: Decimal = Field(..., description='Per million input tokens, e.g. "0.80"')
    output_per_million: Decimal = Field(..., description="Per million output tokens")
    currency: str | None = Field(None, max_length=3, description="Omitted: the region's currency")
    effective_from: date
    tiers: list[Tier] = Field(default_factory=list, max_length=20)
    batch_ratio: Decimal | None = Field(None, description="Batch price as a fraction, e.g. 0.5")
    cache_hit_ratio: Decimal | None = Field(None, description="Cached input as a fraction of input")


class PriceOut(Schema):
    id: int
    model: str
    region: str
    currency: str
    effective_from: date
    input_per_million: str
    output_per_million: str
    tiers: list[dict]
    batch_ratio: str | None
    cache_hit_ratio: str | None


class PriceSaved(PriceOut):
    recosted: int = Field(..., description="Usage records costed again")


def _price_out(price: ModelPrice) -> dict:
    return {
        "id": price.pk,
        "model": price.model.name,
        "region": price.region_id,
        "currency": price.currency,
        "effective_from": price.effective_from,
        "input_per_million": api_amount(price.input_per_million),
        "output_per_million": api_amount(price.output_per_million),
        "tiers": price.tiers,
        "batch_ratio": None if price.batch_ratio is None else str(price.batch_ratio),
        "cache_hit_ratio": None if price.cache_hit_ratio is None else str(price.cache_hit_ratio),
    }


@router.get(
    "/prices",
    response=list[PriceOut],
    summary="Prices per model, region and day they take effect",
    auth=requires(Perm.VIEW_COSTS),
)
def list_prices(request, model: str | None = None, region: str | None = None):
    prices = ModelPrice.objects.select_related("model")
    if "\x00" in (model or "") + (region or ""):
        return []  # no model or region has a NUL in its name (and the database refuses one)
    if model:
        prices = prices.filter(model__name=model)
    if region:
        prices = prices.filter(region_id=region)
    return [_price_out(p) for p in prices]


@router.post(
    "/prices",
    response={200: PriceSaved, 201: PriceSaved},
    summary="Add a price, or change the one of that model, region and day (admin)",
    description="201 when added, 200 when it replaced the price of the same model, region and "
    "effective_from. The metered usage it covers is costed again.",
    auth=requires(Perm.MANAGE_COSTS),
)
def post_price(request, payload: PriceIn):
    errors = {
        name: ["This may not contain a NUL character."]
        for name in ("model", "region", "currency")
        if "\x00" in (getattr(payload, name) or "")
    }
    if errors:
        raise ValidationError(errors)
    model = CatalogModel.objects.filter(name=payload.model).first()
    if model is None:
        errors["model"] = [f"'{payload.model}' is not in the model catalog."]
    region = Region.objects.filter(pk=payload.region, model_studio=True).first()
    if region is None:
        known = ", ".join(Region.objects.filter(model_studio=True).values_list("code", flat=True))
        errors["region"] = [f"Unknown region '{payload.region}'. Model Studio regions: {known}."]
    if errors:
        raise ValidationError(errors)
    price = ModelPrice.objects.filter(
        model=model, region=region, effective_from=payload.effective_from
    ).first()
    created = price is None
    price = price or ModelPrice(model=model, region=region)
    price.effective_from = payload.effective_from
    price.currency = (payload.currency or "").upper()
    price.input_per_million = payload.input_per_million
    price.output_per_million = payload.output_per_million
    price.tiers = [
        {
            "over_input_tokens": t.over_input_tokens,
            "input_per_million": str(t.input_per_million),
            "output_per_million": str(t.output_per_million),
        }
        for t in payload.tiers
    ]
    price.batch_ratio = payload.batch_ratio
    price.cache_hit_ratio = payload.cache_hit_ratio
    price, recosted = services.save_price(price, actor=request.user, source="api")
    return Status(201 if created else 200, {**_price_out(price), "recosted": recosted})


# -- the cost split -------------------------------------------------------------------------------


class ModelCost(Schema):
    model: str
    cost: str
    input_tokens: int
    output_tokens: int
    requests: int


class WorkspaceCost(Schema):
    slug: str
    currency: str
    cost: str
    share: str = Field(..., description='Fraction of the currency\'s total, e.g. "0.4123"')
    requests: int
    input_tokens: int
    output_tokens: int
    budget: str | None = Field(..., description="The monthly budget over the range (prorated)")
    budget_used: str | None = Field(..., description='cost / budget, e.g. "0.8000"')
    by_model: list[ModelCost]


class CostsOut(Schema):
    start: date
    end: date
    totals: dict[str, str]
    workspaces: list[WorkspaceCost]


def _line_out(line) -> dict:
    return {
        "slug": line.workspace.slug,
        "currency": line.currency,
        "cost": api_amount(line.cost),
        "share": str(line.share),
        "requests": line.requests,
        "input_tokens": line.input_tokens,
        "output_tokens": line.output_tokens,
        "budget": api_amount(line.budget),
        "budget_used": None if line.budget_used is None else str(line.budget_used),
        "by_model": [
            {
                "model": m["model_name"],
                "cost": api_amount(m["cost"]),
                "input_tokens": m["input_tokens"],
                "output_tokens": m["output_tokens"],
                "requests": m["requests"],
            }
            for m in line.by_model
        ],
    }


@router.get(
    "/costs",
    response=CostsOut,
    summary="The cost split between workspaces over a range of days (inclusive)",
    description="Per currency, never adding CNY to USD. Leads get their workspaces only.",
    auth=requires(Perm.VIEW_COSTS),
)
def get_costs(
    request, start: str | None = None, end: str | None = None, workspace: str | None = None
):
    first, last = reports.parse_range(start, end)
    if workspace:
        if "\x00" in workspace:
            raise Http404
        workspaces = [get_workspace_for_user(request.user, workspace)]
    else:
        workspaces = Workspace.objects.for_user(request.user).only(
            "id", "slug", "name", "currency", "monthly_budget"
        )
    split = reports.cost_split(
        workspaces, first, last, all_visible=not workspace and not request.user.is_lead, today=None
    )
    return {
        "start": first,
        "end": last,
        "totals": {currency: api_amount(total) for currency, total in split.totals.items()},
        "workspaces": [_line_out(line) for line in split.lines],
    }


class Explained(Schema):
    kind: str
    name: str
    bill: str
    estimate: str
    side: str


class ReconciliationOut(Schema):
    slug: str
    currency: str
    month: str
    bill: str
    estimate: str
    difference: str
    percent: str | None
    flagged: bool
    one_sided: list[Explained]


@router.get(
    "/costs/reconciliation",
    response=list[ReconciliationOut],
    summary="The bill against our metered estimate, per workspace, for one month (YYYY-MM)",
    auth=requires(Perm.VIEW_COSTS),
)
def get_reconciliation(request, month: str | None = None):
    first = reports.parse_month(month)
    rows = reports.reconciliation(Workspace.objects.for_user(request.user), first)
    return [
        {
            "slug": r.workspace.slug,
            "currency": r.currency,
            "month": f"{r.month:%Y-%m}",
            "bill": api_amount(r.bill),
            "estimate": api_amount(r.estimate),
            "difference": api_amount(r.difference),
            "percent": None if r.percent is None else str(r.percent),
            "flagged": r.flagged,
            "one_sided": [
                {
                    "kind": e.kind,
                    "name": e.name,
                    "bill": api_amount(e.bill),
                    "estimate": api_amount(e.estimate),
                    "side": e.side,
                }
                for e in r.one_sided
            ],
        }
        for r in rows
    ]
