"""Workspaces, their members, their model grants, and the secrets used to call Model Studio."""

import hashlib
import re

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils import timezone

from portal import audit, crypto

from ..choices import Currency, Scope
from .catalog import CatalogModel, Region

DNS_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")
MODEL_STUDIO_KEY = re.compile(r"^sk-[0-9a-f]{32}$")
MAX_SECRET_LENGTH = 512


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
    monthly_budget = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    currency = models.CharField(max_length=3, choices=Currency.choices, default=Currency.USD)
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="Membership", related_name="workspaces", blank=True
    )
    granted_models = models.ManyToManyField(
        CatalogModel, through="ModelGrant", related_name="workspaces", blank=True
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = WorkspaceQuerySet.as_manager()
    audit_fields = (
        "slug",
        "name",
        "workspace_id",
        "region_id",
        "scope",
        "is_default",
        "monthly_budget",
        "currency",
    )

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
        if region is not None and self.scope and self.scope not in region.scopes:
            offered = ", ".join(Scope(s).label for s in region.scopes) or "none"
            errors.setdefault("scope", []).append(
                f"{region.name} does not offer the '{Scope(self.scope).label}' scope; it offers: {offered}."
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
        if self.monthly_budget is not None and self.monthly_budget < 0:
            errors.setdefault("monthly_budget", []).append("A budget cannot be negative.")
        if errors:
            raise ValidationError(errors)

    # -- model permissions --------------------------------------------------------------

    def callable_models(self):
        """The catalog models this workspace's keys may call."""
        offered = CatalogModel.objects.offered_in(self.region_id)
        if self.is_default:
            return offered
        return offered.filter(grants__workspace=self)

    def can_call(self, model_name: str) -> bool:
        return self.callable_models().filter(name=model_name).exists()

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
        if problems:
            raise ValidationError({"models": problems})
        return [found[n] for n in dict.fromkeys(names)]

    @transaction.atomic
    def set_grants(self, names: list[str], actor, source="web") -> None:
        """Replace the grant set as a whole: all names valid, or nothing changes."""
        wanted = {m.pk: m for m in self.check_grantable(names)}
        current = {g.model_id: g for g in self.grants.select_related("model")}
        for model_id, grant in current.items():
            if model_id not in wanted:
                grant.delete()
                audit.record(
                    actor, "revoke", self, label=f"{self.name}: {grant.model.name}", source=source
                )
        for model_id, model in wanted.items():
            if model_id not in current:
                ModelGrant.objects.create(workspace=self, model=model, granted_by=actor)
                audit.record(
                    actor, "grant", self, label=f"{self.name}: {model.name}", source=source
                )

    @transaction.atomic
    def toggle_grant(self, model_name: str, actor, source="web") -> bool:
        """Grant the model if it isn't, revoke it if it is; returns the new state."""
        grant = self.grants.filter(model__name=model_name).first()
        if grant is not None:
            grant.delete()
            audit.record(actor, "revoke", self, label=f"{self.name}: {model_name}", source=source)
            return False
        (model,) = self.check_grantable([model_name])
        ModelGrant.objects.create(workspace=self, model=model, granted_by=actor)
        audit.record(actor, "grant", self, label=f"{self.name}: {model_name}", source=source)
        return True

    def active_key(self):
        """The key probes use: the newest one that is not revoked."""
        return self.api_keys.filter(revoked_at__isnull=True).order_by("-created_at").first()

    @property
    def leads(self):
        return [m.user for m in self.memberships.all() if m.is_lead]


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


def _common_secret_problems(secret: str, what: str) -> list[str]:
    if not secret:
        return [f"Paste the {what}."]
    if len(secret) > MAX_SECRET_LENGTH:
        return [
            f"That is {len(secret):,} characters; a {what} is well under {MAX_SECRET_LENGTH}. "
            "Paste only the key itself."
        ]
    if any(ch.isspace() for ch in secret) or not secret.isprintable():
        return [
            f"The {what} contains spaces, line breaks or control characters; paste only the key."
        ]
    if not secret.isascii():
        return [
            f"The {what} contains non-ASCII characters, which no HTTP header can carry: "
            "check that it was copied from the console, not retyped."
        ]
    return []


def check_api_key_secret(secret: str) -> tuple[list[str], list[str]]:
    """(errors, warnings) for a Model Studio API key. Errors block; warnings don't."""
    errors = _common_secret_problems(secret, "API key")
    if errors:
        return errors, []
    if secret.startswith("LTAI"):
        return [
            "This looks like an Alibaba Cloud AccessKey ID (LTAI…), not a Model Studio API key. "
            "Create an API key under Model Studio → API Keys; it starts with sk-."
        ], []
    if not secret.startswith("sk-"):
        return ["Model Studio API keys start with 'sk-'. Check that you copied the whole key."], []
    if secret.startswith("sk-sp-"):
        return [], [
            "This is a Coding Plan key (sk-sp-…); it only works with the Coding Plan endpoints."
        ]
    if not MODEL_STUDIO_KEY.match(secret):
        return [], [
            "Unusual format: Model Studio keys are usually sk- followed by 32 hexadecimal "
            "characters. Saved anyway; the next probe will tell whether it is accepted."
        ]
    return [], []


def check_eas_token(secret: str) -> tuple[list[str], list[str]]:
    errors = _common_secret_problems(secret, "EAS token")
    if errors:
        return errors, []
    if secret.startswith("sk-"):
        return [
            "This is a Model Studio API key. A PAI-EAS service takes its own token, from the "
            "service's 'View invocation information'."
        ], []
    if secret.lower().startswith("bearer "):
        return [
            "Paste the token without 'Bearer': EAS takes the raw token in the Authorization header."
        ], []
    return [], []


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

    def revoke(self, actor, source: str = "web") -> bool:
        """Stop using this secret (audited); False if it was already revoked."""
        if self.revoked_at is not None:
            return False
        before = audit.snapshot(self)
        self.revoked_at = timezone.now()
        self.save(update_fields=["revoked_at"])
        audit.record(
            actor, "revoke", self, before=before, after=audit.snapshot(self), source=source
        )
        return True


class ApiKey(StoredSecret):
    """A Model Studio API key of a workspace. Region-bound: it works only in its region."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="api_keys")
    fingerprint_prefix = "sk-"

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API key"


class EasToken(StoredSecret):
    """A PAI-EAS service token, sent raw in the Authorization header (no 'Bearer')."""

    region = models.ForeignKey(Region, on_delete=models.PROTECT, related_name="eas_tokens")

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "EAS token"
