"""Regions and the model catalog: reference data seeded by migrations, edited in the admin."""

from decimal import Decimal

from django.db import models

from ..choices import Currency, PrivateLinkSupport, Scope


class Region(models.Model):
    """An Alibaba Cloud region: where Model Studio serves, or only where VPCs and EAS live.

    A key of one Model Studio region does not work in another; scopes, PrivateLink and
    features differ per region (DOMAIN.md, 'Regions and deployment scopes').
    """

    code = models.SlugField(max_length=40, primary_key=True, help_text="e.g. cn-beijing")
    name = models.CharField(max_length=80, help_text="e.g. China (Beijing)")
    mainland = models.BooleanField(
        default=False,
        help_text="In the Chinese mainland: cross-region endpoints cannot cross this border.",
    )
    model_studio = models.BooleanField(
        default=False, help_text="Model Studio serves from here (workspaces can live here)."
    )
    public_hosts = models.JSONField(
        default=list, blank=True, help_text="Shared public base hosts, e.g. dashscope.aliyuncs.com"
    )
    workspace_domain = models.BooleanField(
        default=False, help_text="Offers {WorkspaceId}.{region}.maas.aliyuncs.com"
    )
    scopes = models.JSONField(default=list, blank=True, help_text="Deployment scopes offered")
    privatelink = models.CharField(
        max_length=10, choices=PrivateLinkSupport.choices, default=PrivateLinkSupport.UNKNOWN
    )
    privatelink_custom_domain = models.BooleanField(
        default=True, help_text="PrivateLink endpoints here can turn on the custom domain."
    )
    batch = models.BooleanField(default=False, help_text="Batch inference available")
    alerting = models.BooleanField(default=False, help_text="Alerting available")
    fine_tuning = models.BooleanField(default=False, help_text="Fine-tuning available")
    currency = models.CharField(max_length=3, choices=Currency.choices, default=Currency.USD)
    notes = models.TextField(blank=True)

    audit_fields = (
        "name",
        "mainland",
        "model_studio",
        "public_hosts",
        "scopes",
        "privatelink",
        "batch",
        "alerting",
        "fine_tuning",
    )

    class Meta:
        ordering = ["-model_studio", "code"]

    def __str__(self):
        return f"{self.name} ({self.code})"

    def scope_choices(self) -> list[tuple[str, str]]:
        return [(s, Scope(s).label) for s in self.scopes if s in Scope.values]

    @property
    def features(self) -> list[str]:
        return [
            label
            for flag, label in (
                (self.batch, "batch"),
                (self.alerting, "alerting"),
                (self.fine_tuning, "fine-tuning"),
            )
            if flag
        ]


class CatalogModelQuerySet(models.QuerySet):
    def offered_in(self, region):
        return self.filter(regions=region, active=True)


class CatalogModel(models.Model):
    """A model a workspace can be granted, e.g. qwen-plus, and where it is offered."""

    name = models.CharField(
        max_length=80, unique=True, help_text="The API model name, e.g. qwen-plus"
    )
    family = models.CharField(max_length=80, blank=True, help_text="e.g. Qwen-Plus")
    regions = models.ManyToManyField(Region, related_name="models", blank=True)
    base_model = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="variants",
        help_text="For a -us variant: the model it restricts to US inference.",
    )
    active = models.BooleanField(default=True)
    description = models.CharField(max_length=200, blank=True)

    objects = CatalogModelQuerySet.as_manager()
    audit_fields = ("name", "family", "active", "regions")

    class Meta:
        ordering = ["family", "name"]
        verbose_name = "catalog model"

    def __str__(self):
        return self.name

    @property
    def us_only(self) -> bool:
        """The -us suffix keeps inference in the US (US (Virginia) region)."""
        return self.name.endswith("-us")


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
