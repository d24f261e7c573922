"""Regions and the model catalog (reference data seeded by a migration, edited in the admin),
workspaces with their members and model grants, and the secrets used to call Model Studio.

Writes go through `services` (validated, atomic, audited); the methods here read and decide.
"""

import hashlib
import re

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.utils import timezone

from portal import crypto

from .choices import Currency, PrivateLinkSupport, Scope

DNS_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")


class Region(models.Model):
    """An Alibaba Cloud region: where Model Studio serves, or only where VPCs and EAS live.

    A key of one Model Studio region does not work in another; scopes, PrivateLink and
    features differ per region (docs/domain.md, 'Regions and deployment scopes').
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

    class Meta:
        ordering = ["family", "name"]
        verbose_name = "catalog model"

    def __str__(self):
        return self.name

    @property
    def us_only(self) -> bool:
        """The -us suffix keeps inference in the US (US (Virginia) region)."""
        return self.name.endswith("-us")


class WorkspaceQuerySet(models.QuerySet):
    def for_user(self, user):
        """What `user` may see: everything for admins and ops, own workspaces for leads."""
        from portal.roles import Perm, has_perm

        if not has_perm(user, Perm.VIEW_WORKSPACES):
            return self.none()
        if user.is_lead:
            return self.filter(memberships__user=user, memberships__is_lead=True).distinct()
        return self


class Workspace(models.Model):
    """A Model Studio workspace: the unit of model permissions and of cost splitting.

    The region's default workspace can call every model the region offers; a
    sub-workspace only the models it was granted.
    """

    slug = models.SlugField(
        max_length=50, unique=True, help_text="Short name used in URLs and the API"
    )
    name = models.CharField(max_length=100)
    workspace_id = models.CharField(
        "Model Studio workspace ID",
        max_length=64,
        unique=True,
        help_text="From Workspace Management, e.g. llm-7c72iiw36kd8abcd",
    )
    region = models.ForeignKey(
        Region,
        on_delete=models.PROTECT,
        related_name="workspaces",
        limit_choices_to={"model_studio": True},
    )
    scope = models.CharField("deployment scope", max_length=20, choices=Scope.choices)
    is_default = models.BooleanField(
        "default workspace",
        default=False,
        help_text="The region's default workspace calls every model.",
    )
    monthly_budget = models.DecimalField(
        max_digits=12,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(0, "A budget cannot be negative.")],
        help_text="Spend per month in the workspace's currency; empty: no budget.",
    )
    currency = models.CharField(max_length=3, choices=Currency.choices, default=Currency.USD)
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="Membership", related_name="workspaces", blank=True
    )
    granted_models = models.ManyToManyField(
        CatalogModel, through="ModelGrant", related_name="workspaces", blank=True
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = WorkspaceQuerySet.as_manager()
    # What a person sets: the form, the API schema and the audit trail all derive from this.
    EDITABLE_FIELDS = (
        "name",
        "slug",
        "workspace_id",
        "region",
        "scope",
        "is_default",
        "monthly_budget",
        "currency",
    )
    audit_fields = EDITABLE_FIELDS

    class Meta:
        ordering = ["region_id", "-is_default", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["region"],
                condition=models.Q(is_default=True),
                name="one_default_workspace_per_region",
            )
        ]

    def __str__(self):
        return self.name

    def clean(self):
        errors: dict[str, list[str]] = {}
        region = self.region if self.region_id else None
        if region is not None and not region.model_studio:
            errors.setdefault("region", []).append(
                f"Model Studio does not serve from {region.name}; pick a Model Studio region."
            )
        if self.scope and self.scope not in Scope.values:
            errors.setdefault("scope", []).append(
                f"'{self.scope}' is not a deployment scope; scopes: {', '.join(Scope.values)}."
            )
        elif region is not None and self.scope and self.scope not in region.scopes:
            offered = ", ".join(Scope(s).label for s in region.scopes if s in Scope.values)
            errors.setdefault("scope", []).append(
                f"{region.name} does not offer the '{Scope(self.scope).label}' scope; it offers: "
                f"{offered or 'none'}."
            )
        if self.workspace_id:
            if "_" in self.workspace_id:
                errors.setdefault("workspace_id", []).append(
                    "Workspace IDs become host names ({WorkspaceId}.{region}.maas.aliyuncs.com), "
                    "so they cannot contain underscores: only letters, digits and hyphens."
                )
            elif not DNS_LABEL.match(self.workspace_id):
                errors.setdefault("workspace_id", []).append(
                    "Use the ID shown in Workspace Management: lowercase letters, digits and "
                    "hyphens, e.g. llm-7c72iiw36kd8abcd."
                )
        if self.is_default and region is not None:
            other = (
                Workspace.objects.filter(region=region, is_default=True).exclude(pk=self.pk).first()
            )
            if other is not None:
                errors.setdefault("is_default", []).append(
                    f"{region.name} already has a default workspace ({other.name}); a region has "
                    "exactly one. Register this one as a sub-workspace."
                )
        if errors:
            raise ValidationError(errors)

    # -- model permissions --------------------------------------------------------------

    def callable_models(self):
        """The catalog models this workspace's keys may call."""
        offered = CatalogModel.objects.offered_in(self.region_id)
        if self.is_default:
            return offered
        return offered.filter(grants__workspace=self)

    def check_grantable(self, names: list[str]) -> list[CatalogModel]:
        """The catalog rows for `names`, or ValidationError naming every bad one."""
        if self.is_default:
            raise ValidationError(
                {
                    "models": [
                        "The default workspace can call every model; grants apply to sub-workspaces."
                    ]
                }
            )
        found = {
            m.name: m
            for m in CatalogModel.objects.filter(name__in=names).prefetch_related("regions")
        }
        problems = []
        for name in names:
            model = found.get(name)
            if model is None or not model.active:
                problems.append(f"'{name}' is not in the model catalog.")
            elif not any(r.code == self.region_id for r in model.regions.all()):
                problems.append(
                    f"'{name}' is not offered in {self.region.name}, so it cannot be granted here."
                )
            elif self.scope == Scope.US and not model.us_only:
                problems.append(
                    f"'{name}' may run outside the US; a workspace of the United States scope "
                    f"calls only the -us models (e.g. {name}-us)."
                )
        if problems:
            raise ValidationError({"models": problems})
        return [found[n] for n in dict.fromkeys(names)]

    def active_key(self):
        """The key probes use: the newest one that is not revoked."""
        return self.api_keys.filter(revoked_at__isnull=True).order_by("-created_at").first()


class Membership(models.Model):
    """A portal user in a workspace; leads see the workspace's usage and costs."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    is_lead = models.BooleanField(default=False)

    audit_fields = ("workspace", "user", "is_lead")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "user"], name="one_membership")]

    def __str__(self):
        return f"{self.user} in {self.workspace} ({'lead' if self.is_lead else 'member'})"


class ModelGrant(models.Model):
    """Permission for a sub-workspace's keys to call one catalog model."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="grants")
    model = models.ForeignKey(CatalogModel, on_delete=models.PROTECT, related_name="grants")
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    granted_at = models.DateTimeField(default=timezone.now)

    audit_fields = ("workspace", "model")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "model"], name="one_grant")]

    def __str__(self):
        return f"{self.workspace}: {self.model}"


# -- secrets --------------------------------------------------------------------------------


class StoredSecret(models.Model):
    """A secret the portal sends upstream. Encrypted at rest; only the fingerprint is shown.

    `ciphertext` is MultiFernet over PORTAL_SECRET_KEYS; `secret_sha256` lets the portal
    spot a key stored twice (and lets the simulator recognise demo keys) without ever
    holding the plaintext. Neither is rendered, returned by the API, or audited.
    """

    label = models.CharField(max_length=100)
    ciphertext = models.TextField(editable=False)
    secret_sha256 = models.CharField(max_length=64, editable=False, db_index=True)
    fingerprint = models.CharField(max_length=40, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    last_used_at = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="Last used by a probe"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    audit_fields = ("label", "fingerprint", "revoked_at")
    fingerprint_prefix = ""

    class Meta:
        abstract = True

    def __str__(self):
        return f"{self.label} ({self.fingerprint})"

    def __repr__(self):
        return f"<{type(self).__name__} {self.pk} {self.fingerprint}>"

    @classmethod
    def digest(cls, secret: str) -> str:
        return hashlib.sha256(secret.encode()).hexdigest()

    def set_secret(self, secret: str) -> None:
        self.ciphertext = crypto.encrypt(secret)
        self.secret_sha256 = self.digest(secret)
        self.fingerprint = f"{self.fingerprint_prefix}…{secret[-4:]} · {self.secret_sha256[:6]}"

    def reveal(self) -> str:
        """The plaintext, for the moment it is sent upstream. Never store or log it."""
        return crypto.decrypt(self.ciphertext)

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None


class ApiKey(StoredSecret):
    """A Model Studio API key of a workspace. Region-bound: it works only in its region."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="api_keys")
    key_id = models.CharField(
        "Model Studio API key ID",
        max_length=64,
        blank=True,
        db_index=True,
        help_text="The ID Key Management shows for this key; bills name keys by it.",
    )
    fingerprint_prefix = "sk-"
    audit_fields = (*StoredSecret.audit_fields, "key_id")

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API key"
        constraints = [
            # A key belongs to one Model Studio workspace: stored (and active) once, so two
            # requests adding it at the same moment cannot both succeed.
            models.UniqueConstraint(
                fields=["secret_sha256"],
                condition=models.Q(revoked_at__isnull=True),
                name="one_active_copy_of_a_key",
            )
        ]


class EasToken(StoredSecret):
    """A PAI-EAS service token, sent raw in the Authorization header (no 'Bearer')."""

    region = models.ForeignKey(Region, on_delete=models.PROTECT, related_name="eas_tokens")

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "EAS token"
