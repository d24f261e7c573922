"""Where callers sit (VPCs) and the paths they take to Model Studio or PAI-EAS (endpoints)."""

import ipaddress
import re

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Case, F, IntegerField, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from endpoints.engine.hosts import (
    base_url,
    host_problems,
    parse_override,
    parse_resolver,
    parse_url,
)
from portal.roles import Perm, has_perm
from portal.workspaces.models import CatalogModel, EasToken, Region, Workspace

from .choices import EAS_KINDS, KIND_SHORT, PRIVATE_KINDS, ApiStyle, Kind, ProbedBy, Status

VPC_ID = re.compile(r"^vpc-[a-z0-9]{4,40}$")
# Worst first, for sorting lists and boards by status.
SEVERITY = Case(
    When(status="down", then=Value(3)),
    When(status="degraded", then=Value(2)),
    When(status="unknown", then=Value(1)),
    default=Value(0),
    output_field=IntegerField(),
)

ALIBABA_VPC_RESOLVER = "100.100.2.136"
MIN_INTERVAL_S = 10
MAX_INTERVAL_S = 86_400  # a day: past that an endpoint is not monitored, and time math overflows
MAX_LATENCY_THRESHOLD_MS = 600_000
MAX_STREAK_THRESHOLD = 100  # results in a row before an incident opens or closes
MAX_HOST_OVERRIDES = 100  # static records of one VPC: Private DNS zones hold a handful


def cidr_problem(text: str) -> str | None:
    """Why `text` is not a VPC CIDR block, or None."""
    text = text.strip()
    if "/" not in text:
        return f"Give the prefix length too, e.g. {text}/16."
    try:
        network = ipaddress.ip_network(text, strict=True)
    except ValueError:
        try:
            loose = ipaddress.ip_network(text, strict=False)
        except ValueError:
            return f"'{text}' is not a CIDR block such as 10.0.0.0/16."
        return f"{text} has host bits set; did you mean {loose}?"
    if not network.is_private:
        return (
            f"{network} is not a private range; VPC CIDR blocks are within 10.0.0.0/8, "
            "172.16.0.0/12 or 192.168.0.0/16."
        )
    return None


class VpcQuerySet(models.QuerySet):
    def for_user(self, user):
        return self if has_perm(user, Perm.VIEW_ENDPOINTS) else self.none()


class Vpc(models.Model):
    """A network location callers (and probe agents) sit in."""

    vpc_id = models.CharField("VPC ID", max_length=50, unique=True, help_text="e.g. vpc-2zeabc123")
    name = models.CharField(max_length=100)
    region = models.ForeignKey(Region, on_delete=models.PROTECT, related_name="vpcs")
    cidr = models.CharField("CIDR block", max_length=50, help_text="e.g. 10.0.0.0/16")
    resolver = models.CharField(
        "DNS resolver",
        max_length=60,
        default=ALIBABA_VPC_RESOLVER,
        help_text="The resolver used inside the VPC: 'address' or 'address:port'.",
    )
    host_overrides = models.JSONField(
        default=dict,
        blank=True,
        help_text="Static records: name → address(es) or name → CNAME target (Private DNS).",
    )
    connected_vpcs = models.ManyToManyField(
        "self", symmetrical=True, blank=True, help_text="VPCs joined by CEN (transit router)."
    )
    probed_by = models.CharField(
        max_length=10,
        choices=ProbedBy.choices,
        default=ProbedBy.CENTRAL,
        help_text="central: the portal's workers probe its endpoints; agents: probe agents "
        "running inside this VPC do (a private endpoint answers only from inside).",
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = VpcQuerySet.as_manager()
    # What a person sets: the form, the API schema and the audit trail all derive from this.
    EDITABLE_FIELDS = (
        "vpc_id",
        "name",
        "region",
        "cidr",
        "resolver",
        "host_overrides",
        "connected_vpcs",
        "probed_by",
    )
    audit_fields = EDITABLE_FIELDS

    class Meta:
        ordering = ["region_id", "name"]
        verbose_name = "VPC"

    def __str__(self):
        return f"{self.name} ({self.vpc_id})"

    @property
    def network(self):
        return ipaddress.ip_network(self.cidr, strict=False)

    def clean(self):
        errors: dict[str, list[str]] = {}
        if self.vpc_id and not VPC_ID.match(self.vpc_id):
            errors["vpc_id"] = [
                "A VPC ID looks like vpc-2zeabc123: 'vpc-' then lowercase letters and digits."
            ]
        if self.cidr:
            problem = cidr_problem(self.cidr)
            if problem:
                errors["cidr"] = [problem]
        try:
            parse_resolver(self.resolver)
        except ValueError as exc:
            errors["resolver"] = [str(exc)]
        if not isinstance(self.host_overrides, dict):
            errors["host_overrides"] = ["Give overrides as name → address pairs."]
        elif len(self.host_overrides) > MAX_HOST_OVERRIDES:
            errors["host_overrides"] = [
                f"{len(self.host_overrides):,} records: give at most {MAX_HOST_OVERRIDES} (the "
                "names the probes resolve, not a whole zone file)."
            ]
        else:
            for name, value in self.host_overrides.items():
                problems = host_problems(str(name).lower())
                if problems:
                    errors.setdefault("host_overrides", []).append(f"{name}: {' '.join(problems)}")
                    continue
                try:
                    parse_override(value)
                except ValueError as exc:
                    errors.setdefault("host_overrides", []).append(f"{name} → {value}: {exc}")
        if errors:
            raise ValidationError(errors)

    def connection_problems(self, others) -> list[str]:
        """Why this VPC cannot be joined to `others` by CEN (overlapping CIDR blocks)."""
        problems = []
        try:
            mine = self.network
        except ValueError:
            return []
        for other in others:
            if other.pk == self.pk:
                problems.append("A VPC cannot be connected to itself.")
                continue
            try:
                theirs = other.network
            except ValueError:
                continue
            if mine.version == theirs.version and mine.overlaps(theirs):
                problems.append(
                    f"{self.vpc_id} ({mine}) and {other.vpc_id} ({theirs}) overlap; CEN needs VPCs "
                    "with different CIDR blocks. Re-address one of them first."
                )
        return problems

    def overrides_for_probe(self) -> dict[str, str]:
        return {str(k).lower().rstrip("."): str(v) for k, v in (self.host_overrides or {}).items()}


class EndpointQuerySet(models.QuerySet):
    def for_user(self, user):
        return self if has_perm(user, Perm.VIEW_ENDPOINTS) else self.none()


class Endpoint(models.Model):
    """One path to Model Studio or PAI-EAS, as callers in `vpc` (or on the internet) use it."""

    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=30, choices=Kind.choices)
    url = models.CharField(
        max_length=300, help_text="Base URL: scheme and host (EAS: with /api/predict/{service})"
    )
    host = models.CharField(max_length=253, editable=False, db_index=True)
    region = models.ForeignKey(
        Region,
        on_delete=models.PROTECT,
        related_name="endpoints",
        help_text="Where the endpoint is (cross-region: the source VPC's region).",
    )
    service_region = models.ForeignKey(
        Region,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="cross_region_endpoints",
        help_text="Cross-region only: the Model Studio region reached (Beijing or Singapore).",
    )
    vpc = models.ForeignKey(
        Vpc,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="endpoints",
        verbose_name="VPC",
        help_text="The VPC the callers and the probe sit in (required for private kinds).",
    )
    endpoint_vpc = models.ForeignKey(
        Vpc,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="hosted_endpoints",
        help_text="CEN set-ups: the VPC holding the interface endpoint, when not the callers' VPC.",
    )
    api_style = models.CharField(
        "API style", max_length=20, choices=ApiStyle.choices, default=ApiStyle.OPENAI
    )
    zones = models.JSONField(
        default=list, blank=True, help_text="vSwitch zones of the endpoint ENIs"
    )
    security_group = models.CharField(max_length=60, blank=True, help_text="e.g. sg-2zeabc123")
    allows_80_443 = models.BooleanField(
        "security group allows 80/443",
        null=True,
        blank=True,
        help_text="Inbound TCP 80 and 443 from the callers' CIDR (unknown if empty).",
    )
    workspace = models.ForeignKey(
        Workspace,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="endpoints",
        help_text="The workspace whose key the probes use (same region).",
    )
    eas_token = models.ForeignKey(
        EasToken, on_delete=models.PROTECT, null=True, blank=True, related_name="endpoints"
    )
    check_model = models.ForeignKey(
        CatalogModel,
        verbose_name="model to check",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="Probe the permission to call this model (a request rejected before billing).",
    )
    model_call_check = models.BooleanField(
        default=False,
        help_text="Also send a billed 1-token completion for the model to check, and record its cost.",
    )
    interval_s = models.PositiveIntegerField(
        "probe interval (s)",
        default=60,
        validators=[
            MinValueValidator(MIN_INTERVAL_S, f"Probe at most every {MIN_INTERVAL_S} seconds."),
            MaxValueValidator(MAX_INTERVAL_S, "Probe at least once a day (86,400 seconds)."),
        ],
    )
    latency_threshold_ms = models.PositiveIntegerField(
        "slow above (ms)",
        default=3000,
        validators=[
            MinValueValidator(1, "Give a threshold of at least 1 ms."),
            MaxValueValidator(MAX_LATENCY_THRESHOLD_MS, "Give a threshold of at most 10 minutes."),
        ],
        help_text="A probe slower than this is 'slow' (degraded).",
    )
    failure_threshold = models.PositiveSmallIntegerField(
        "open an incident after",
        null=True,
        blank=True,
        validators=[
            MinValueValidator(1, "Give at least 1 result."),
            MaxValueValidator(MAX_STREAK_THRESHOLD, "Give at most 100 results in a row."),
        ],
        help_text="Consecutive down or degraded results that open an incident (empty: the "
        "portal's default, PORTAL_INCIDENT_FAILURE_THRESHOLD, 2).",
    )
    success_threshold = models.PositiveSmallIntegerField(
        "close it after",
        null=True,
        blank=True,
        validators=[
            MinValueValidator(1, "Give at least 1 result."),
            MaxValueValidator(MAX_STREAK_THRESHOLD, "Give at most 100 results in a row."),
        ],
        help_text="Consecutive up results that close it (empty: the portal's default, "
        "PORTAL_INCIDENT_SUCCESS_THRESHOLD, 1).",
    )
    enabled = models.BooleanField(default=True)

    # Probe state, written only by the probe tasks.
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.UNKNOWN, db_index=True
    )
    diagnosis = models.CharField(max_length=40, blank=True)
    status_message = models.CharField(max_length=500, blank=True)
    status_changed_at = models.DateTimeField(null=True, blank=True)
    last_probe_at = models.DateTimeField(null=True, blank=True)
    last_total_ms = models.FloatField(null=True, blank=True)

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    objects = EndpointQuerySet.as_manager()
    # What a person sets: the form, the API schema and the audit trail all derive from this.
    EDITABLE_FIELDS = (
        "kind",
        "name",
        "url",
        "region",
        "service_region",
        "vpc",
        "endpoint_vpc",
        "api_style",
        "zones",
        "security_group",
        "allows_80_443",
        "workspace",
        "check_model",
        "model_call_check",
        "interval_s",
        "latency_threshold_ms",
        "failure_threshold",
        "success_threshold",
        "enabled",
    )
    audit_fields = (*EDITABLE_FIELDS, "eas_token")

    class Meta:
        ordering = ["name"]
        constraints = [
            # An endpoint's identity: one URL, probed from one network with one workspace's key.
            # In the database, so two requests registering it at once cannot both pass.
            models.UniqueConstraint(
                F("url"),
                Coalesce("vpc", Value(0)),
                Coalesce("workspace", Value(0)),
                name="one_endpoint_per_url_network_and_workspace",
                violation_error_message="This URL is already registered from the same network "
                "with the same workspace.",
            )
        ]
        indexes = [models.Index(fields=["region", "kind"], name="endpoint_region_kind")]

    def __str__(self):
        return self.name

    def save(self, *args, **kwargs):
        # Store the base URL in its normal form: scheme and host (EAS: plus the service
        # path), so a pasted ".../compatible-mode/v1/chat/completions" never doubles up.
        try:
            parsed = self.parsed()
        except ValueError:
            self.host = ""
        else:
            self.url, self.host = parsed.url, parsed.host
        super().save(*args, **kwargs)

    def get_absolute_url(self):
        from django.urls import reverse

        return reverse("endpoint-detail", args=[self.pk])

    @property
    def kind_short(self) -> str:
        return KIND_SHORT.get(self.kind, self.kind)

    @property
    def is_private(self) -> bool:
        return self.kind in PRIVATE_KINDS

    @property
    def is_eas(self) -> bool:
        return self.kind in EAS_KINDS

    @property
    def model_studio_region_id(self) -> str | None:
        """The Model Studio region whose keys this endpoint takes."""
        if self.kind == Kind.CROSS_REGION:
            return self.service_region_id
        return self.region_id

    def parsed(self):
        return parse_url(self.url)

    @property
    def base_url(self) -> str:
        return base_url(self.url, self.api_style)
