"""Prices, usage and the bill: what each workspace's calls cost, by model, key and day.

Money is `Decimal` everywhere and stored exactly (`money.MoneyField`). Writes go through
`services` (validated, atomic, audited); the methods here read and decide.
"""

import uuid
from datetime import date
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from portal.workspaces.choices import Currency
from portal.workspaces.models import CatalogModel, Region, Workspace

from .money import MAX_AMOUNT, ExactDecimalField, MoneyField, parse_amount, quantize

MILLION = Decimal(1_000_000)
MAX_TOKENS = 10**12  # per row and day: far above any real workspace, far below overflow
MAX_REQUESTS = 10**9


class ModelPrice(models.Model):
    """A model's list price in one region from one day on (until the next one starts).

    Per million tokens, input and output, in the region's currency. Optional tiers raise the
    rates when a request's input is longer than a threshold; the batch and cache-hit ratios
    (fractions of the real-time price and of the input price) apply where the model has them.
    A usage record is costed with the price in force on its day.
    """

    model = models.ForeignKey(CatalogModel, on_delete=models.CASCADE, related_name="prices")
    region = models.ForeignKey(
        Region,
        on_delete=models.CASCADE,
        related_name="prices",
        limit_choices_to={"model_studio": True},
    )
    currency = models.CharField(
        max_length=3,
        choices=Currency.choices,
        help_text="The region's billing currency: CNY in the Chinese mainland, USD elsewhere.",
    )
    effective_from = models.DateField(
        help_text="Usage on and after this day is costed with this price (until the next one)."
    )
    input_per_million = MoneyField(help_text="Price of one million input tokens.")
    output_per_million = MoneyField(help_text="Price of one million output tokens.")
    tiers = models.JSONField(
        default=list,
        blank=True,
        help_text='Higher rates for long requests: [{"over_input_tokens": 32768, '
        '"input_per_million": "2.4", "output_per_million": "12"}, ...]',
    )
    batch_ratio = ExactDecimalField(
        max_digits=5,
        decimal_places=4,
        null=True,
        blank=True,
        help_text="Batch calls cost this fraction of the real-time price (e.g. 0.5); empty: no batch.",
    )
    cache_hit_ratio = ExactDecimalField(
        max_digits=5,
        decimal_places=4,
        null=True,
        blank=True,
        help_text="Cached input tokens cost this fraction of the input price (e.g. 0.4); empty: none.",
    )

    EDITABLE_FIELDS = (
        "model",
        "region",
        "currency",
        "effective_from",
        "input_per_million",
        "output_per_million",
        "tiers",
        "batch_ratio",
        "cache_hit_ratio",
    )
    audit_fields = EDITABLE_FIELDS

    class Meta:
        ordering = ["model__name", "region_id", "-effective_from"]
        constraints = [
            models.UniqueConstraint(
                fields=["model", "region", "effective_from"], name="one_price_per_model_region_day"
            )
        ]

    def __str__(self):
        return (
            f"{self.model} in {self.region_id} from {self.effective_from}: "
            f"{self.input_per_million.normalize():f}/{self.output_per_million.normalize():f} "
            f"{self.currency}"
        )

    def clean(self):
        errors: dict[str, list[str]] = {}
        region = self.region if self.region_id else None
        if region is not None:
            if self.currency and self.currency != region.currency:
                errors.setdefault("currency", []).append(
                    f"{region.name} bills in {region.currency}; a price there is in {region.currency}."
                )
            if self.model_id and not self.model.regions.filter(pk=region.pk).exists():
                errors.setdefault("region", []).append(
                    f"{self.model.name} is not offered in {region.name} (see the catalog)."
                )
        for name in ("input_per_million", "output_per_million"):
            value = getattr(self, name)
            if value is not None and not 0 <= value <= MAX_AMOUNT:
                errors.setdefault(name, []).append(
                    f"A price is between 0 and {MAX_AMOUNT:,} per million tokens."
                )
        for name in ("batch_ratio", "cache_hit_ratio"):
            value = getattr(self, name)
            if value is not None and not 0 <= value <= 1:
                errors.setdefault(name, []).append(
                    "A fraction between 0 and 1 of the full price, e.g. 0.5."
                )
        if self.effective_from and not date(2000, 1, 1) <= self.effective_from <= date(2100, 1, 1):
            errors.setdefault("effective_from", []).append("Give a date between 2000 and 2100.")
        try:
            self.tiers = normalize_tiers(self.tiers)
        except ValidationError as exc:
            errors.setdefault("tiers", []).extend(exc.messages)
        if errors:
            raise ValidationError(errors)

    # -- costing ------------------------------------------------------------------------------

    def rates_for(self, input_tokens_per_request) -> tuple[Decimal, Decimal]:
        """(input, output) per million for a request of this input length: the highest tier
        whose threshold it exceeds, else the base rates."""
        rates = (self.input_per_million, self.output_per_million)
        for tier in self.tiers or ():
            if input_tokens_per_request > tier["over_input_tokens"]:
                rates = (Decimal(tier["input_per_million"]), Decimal(tier["output_per_million"]))
        return rates

    def cost_of(
        self,
        *,
        input_tokens: int,
        output_tokens: int,
        requests: int,
        cached_input_tokens: int = 0,
        batch: bool = False,
    ) -> Decimal:
        """What these tokens cost at this price.

        Usage arrives as daily totals, so the tier is chosen by the day's average input per
        request (the exact figure when every request is alike, an estimate otherwise: the
        bill is the ledger of record). Cached input tokens are charged at the cache-hit ratio
        of the input rate; batch usage at the batch ratio of the whole.
        """
        per_request = Decimal(input_tokens) / requests if requests else Decimal(input_tokens)
        rate_in, rate_out = self.rates_for(per_request)
        cached = min(cached_input_tokens, input_tokens)
        cached_rate = (
            rate_in * self.cache_hit_ratio if self.cache_hit_ratio is not None else rate_in
        )
        cost = (
            (input_tokens - cached) * rate_in + cached * cached_rate + output_tokens * rate_out
        ) / MILLION
        if batch and self.batch_ratio is not None:
            cost *= self.batch_ratio
        return quantize(cost)

    def cost(self, input_tokens: int, output_tokens: int) -> Decimal:
        """The tokens at the base rates (no tier, no cache, no batch)."""
        return quantize(
            (input_tokens * self.input_per_million + output_tokens * self.output_per_million)
            / MILLION
        )


class PriceBook:
    """The prices of some models and regions, loaded once: which was in force on a day."""

    def __init__(self, prices):
        self._by_key: dict[tuple[str, str], list[ModelPrice]] = {}
        for price in sorted(prices, key=lambda p: p.effective_from):
            self._by_key.setdefault((price.model.name, price.region_id), []).append(price)

    @classmethod
    def load(cls, model_names=None, region_ids=None) -> "PriceBook":
        prices = ModelPrice.objects.select_related("model")
        if model_names is not None:
            prices = prices.filter(model__name__in=set(model_names))
        if region_ids is not None:
            prices = prices.filter(region_id__in=set(region_ids))
        return cls(prices)

    def price_for(self, model_name: str, region_id: str, day: date) -> "ModelPrice | None":
        candidates = self._by_key.get((model_name, region_id), ())
        in_force = None
        for price in candidates:  # a handful per model and region: no need to bisect
            if price.effective_from > day:
                break
            in_force = price
        return in_force


def normalize_tiers(tiers) -> list[dict]:
    """The tiers as stored: thresholds rising, prices as decimal strings; ValidationError
    naming each problem otherwise."""
    if tiers in (None, ""):
        return []
    if not isinstance(tiers, list):
        raise ValidationError('Tiers are a list: [{"over_input_tokens": …, …}].')
    problems, clean, previous = [], [], 0
    for number, tier in enumerate(tiers, start=1):
        if not isinstance(tier, dict) or set(tier) != {
            "over_input_tokens",
            "input_per_million",
            "output_per_million",
        }:
            problems.append(
                f"Tier {number}: give over_input_tokens, input_per_million and output_per_million."
            )
            continue
        threshold = tier["over_input_tokens"]
        if isinstance(threshold, bool) or not isinstance(threshold, int) or threshold <= previous:
            problems.append(
                f"Tier {number}: over_input_tokens must be a whole number above {previous:,}."
            )
            continue
        if threshold > MAX_TOKENS:
            problems.append(f"Tier {number}: over_input_tokens is beyond {MAX_TOKENS:,}.")
            continue
        try:
            rates = [
                parse_amount(tier[key], field=key.replace("_", " "), allow_negative=False)
                for key in ("input_per_million", "output_per_million")
            ]
        except ValidationError as exc:
            problems.append(f"Tier {number}: {' '.join(exc.messages)}")
            continue
        previous = threshold
        clean.append(
            {
                "over_input_tokens": threshold,
                "input_per_million": f"{rates[0].normalize():f}",
                "output_per_million": f"{rates[1].normalize():f}",
            }
        )
    if problems:
        raise ValidationError(problems)
    return clean


class Source(models.TextChoices):
    """Where a usage record comes from. The bill is the ledger of record; the others are
    metered, and costed at our prices."""

    BILL = "bill", "Bill"
    API = "api", "Ingest API"
    PROBE = "probe", "Probe calls"
    DEMO = "demo", "Demo"


METERED = (Source.API, Source.PROBE, Source.DEMO)


class UsageRecord(models.Model):
    """One day of one workspace's usage of one model (through one key), from one source.

    Daily rollups: the bill's rows (hourly or daily) are summed into them on import, the
    ingest API sends daily totals, the probes add their billed calls. Where the bill covers a
    workspace's day, that day's metered records are `superseded`: the split counts the bill's
    money and tokens, and still the metered requests (the bill does not count requests).
    """

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="usage")
    model_name = models.CharField(max_length=80)
    day = models.DateField()
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.PROBE)
    key_fingerprint = models.CharField(
        max_length=40, blank=True, help_text="The stored key's fingerprint, when known."
    )
    key_id = models.CharField(
        max_length=64, blank=True, help_text="Model Studio's API key ID, as the bill names it."
    )
    batch = models.BooleanField(default=False, help_text="Batch inference calls")
    requests = models.PositiveBigIntegerField(default=0)
    input_tokens = models.PositiveBigIntegerField(default=0)
    output_tokens = models.PositiveBigIntegerField(default=0)
    cached_input_tokens = models.PositiveBigIntegerField(
        default=0, help_text="Of the input tokens, those served from the context cache."
    )
    cost = MoneyField(default=Decimal(0))
    currency = models.CharField(max_length=3, choices=Currency.choices, default=Currency.USD)
    priced = models.BooleanField(
        default=True, help_text="False: no price was in force on the day, so the cost is 0."
    )
    superseded = models.BooleanField(
        default=False,
        help_text="Metered usage of a day the bill covers: the bill's figures count instead.",
    )

    class Meta:
        ordering = ["-day", "workspace_id", "model_name"]
        constraints = [
            models.UniqueConstraint(
                fields=[
                    "workspace",
                    "day",
                    "model_name",
                    "source",
                    "key_fingerprint",
                    "key_id",
                    "batch",
                ],
                name="one_usage_row_per_day_key",
            )
        ]
        indexes = [
            models.Index(fields=["workspace", "day", "source"], name="usage_workspace_day"),
            # Covering indexes for the split: its sums read the index alone, already in
            # GROUP BY order (a year of 200 workspaces sums in ~75 ms on SQLite, not ~250).
            models.Index(
                fields=[
                    "workspace",
                    "model_name",
                    "currency",
                    "day",
                    "superseded",
                    "source",
                    "priced",
                    "requests",
                    "input_tokens",
                    "output_tokens",
                    "cost",
                ],
                name="usage_split_cover",
            ),
            models.Index(
                fields=["day", "currency", "superseded", "workspace", "cost"],
                name="usage_daily_cover",
            ),
        ]

    def __str__(self):
        return f"{self.workspace_id} {self.model_name} {self.day}: {self.cost} {self.currency}"

    @property
    def is_metered(self) -> bool:
        return self.source in METERED


class BillImportQuerySet(models.QuerySet):
    def for_user(self, user):
        """Admins see every import; a lead sees the ones they uploaded."""
        from portal.roles import Perm, has_perm

        if has_perm(user, Perm.MANAGE_COSTS):
            return self
        if has_perm(user, Perm.IMPORT_BILLS):
            return self.filter(uploaded_by=user)
        return self.none()


class BillImport(models.Model):
    """One uploaded bill file (the billing console's bill-details CSV): its column mapping,
    its preview, then, once confirmed, the import's progress.

    The file is kept in the database (web server and worker may not share a disk) until it is
    imported.
    """

    class Status(models.TextChoices):
        PREVIEW = "preview", "Preview"
        QUEUED = "queued", "Queued"
        IMPORTING = "importing", "Importing"
        DONE = "done", "Imported"
        FAILED = "failed", "Failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    filename = models.CharField(max_length=200)
    size = models.PositiveBigIntegerField(default=0)
    sha256 = models.CharField(max_length=64, db_index=True)
    content = models.BinaryField(editable=False, default=bytes)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    mapping = models.JSONField(
        default=dict, blank=True, help_text="Our field → the file's column header."
    )
    preview = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PREVIEW)
    total = models.PositiveIntegerField(default=0, help_text="Rows to import")
    done = models.PositiveIntegerField(default=0, help_text="Rows staged so far")
    imported_rows = models.PositiveIntegerField(default=0)
    duplicate_rows = models.PositiveIntegerField(default=0)
    error = models.CharField(max_length=300, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = BillImportQuerySet.as_manager()
    audit_fields = ("filename", "size", "sha256", "status", "imported_rows", "duplicate_rows")

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "bill import"

    def __str__(self):
        return f"bill {self.filename} ({self.get_status_display()})"

    @property
    def percent(self) -> int:
        if self.status == self.Status.DONE or not self.total:
            return 100 if self.status == self.Status.DONE else 0
        return min(99, round(100 * self.done / self.total))

    @property
    def is_running(self) -> bool:
        return self.status in (self.Status.QUEUED, self.Status.IMPORTING)

    @property
    def can_confirm(self) -> bool:
        """Every row maps and the columns are known: the import can run, all or nothing."""
        return (
            self.status == self.Status.PREVIEW
            and bool(self.preview.get("ready"))
            and self.preview.get("new_rows", 0) > 0
        )

    @property
    def stalled(self) -> bool:
        """Queued a while ago and not started: probably no worker is running."""
        return (
            self.status == self.Status.QUEUED
            and self.started_at is None
            and (timezone.now() - self.created_at).total_seconds() > 20
        )


class BillLine(models.Model):
    """One row of an imported bill: where it carries an amount, that amount is the cost.

    `identity` makes re-imports change nothing: the bill's own row key when it has one,
    otherwise a digest of the row's content and which occurrence of that content it is in
    its file. Lines are written `live=False` while their import stages them, and turned live
    all at once when it finishes (all or nothing).
    """

    bill_import = models.ForeignKey(BillImport, on_delete=models.CASCADE, related_name="lines")
    identity = models.CharField(max_length=32)
    live = models.BooleanField(default=False)
    row_number = models.PositiveIntegerField()
    day = models.DateField()
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="bill_lines")
    model_name = models.CharField(max_length=80)
    key_id = models.CharField(max_length=64, blank=True)
    amount_type = models.CharField(max_length=40, blank=True)
    channel = models.CharField(max_length=40, blank=True)
    input_tokens = models.PositiveBigIntegerField(default=0)
    output_tokens = models.PositiveBigIntegerField(default=0)
    amount = MoneyField()
    currency = models.CharField(max_length=3, choices=Currency.choices)

    class Meta:
        constraints = [
            # By workspace and day first: a month's new lines then go into a few hundred
            # places of the index, not 100,000 random ones (and lookups filter so anyway).
            models.UniqueConstraint(
                fields=["workspace", "day", "identity"],
                condition=models.Q(live=True),
                name="one_live_bill_line",
            )
        ]
        indexes = [
            models.Index(fields=["bill_import", "live"], name="bill_line_import"),
        ]

    def __str__(self):
        return f"{self.day} {self.workspace_id} {self.model_name}: {self.amount} {self.currency}"


class BudgetAlert(models.Model):
    """A budget threshold a workspace crossed in a month, claimed so that it is sent once per
    workspace, threshold, month and budget amount (a new budget re-arms every threshold).

    The claim is this row: inserted before the alert goes out (the unique constraint lets
    exactly one checker win), marked delivered when a channel confirms, deleted (released)
    when none does, so the next check tries again.
    """

    class Threshold(models.TextChoices):
        WARN = "80", "80% of the budget"
        FULL = "100", "the whole budget"
        FORECAST = "forecast", "the budget by month-end, at this month's run rate"

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="budget_alerts")
    month = models.DateField(help_text="The first day of the month")
    threshold = models.CharField(max_length=10, choices=Threshold.choices)
    budget = MoneyField()
    currency = models.CharField(max_length=3, choices=Currency.choices)
    spend = MoneyField(help_text="Month-to-date spend when the threshold was crossed")
    projected = MoneyField(help_text="Projected month-end spend at the run rate")
    claimed_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-claimed_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "month", "threshold", "budget"], name="one_alert_per_budget"
            )
        ]

    def __str__(self):
        return f"{self.workspace_id} {self.month:%Y-%m}: {self.get_threshold_display()}"
