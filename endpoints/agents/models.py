"""Probe agents and what the portal knows of each: its token (a digest), its public key, the
version it runs, when it was last heard from; and whether a VPC's agents have gone silent."""

import hashlib
import hmac
import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone

from endpoints.network.models import Vpc

TOKEN_PREFIX = "apa_"  # noqa: S105  (the tokens' visible prefix, not a secret)
PREFIX_LENGTH = 8


class AgentQuerySet(models.QuerySet):
    def active(self):
        return self.filter(revoked_at__isnull=True)


class Agent(models.Model):
    """A probe agent enrolled for one VPC. Its token is shown once and stored as a SHA-256
    digest; secrets reach it sealed to the public key it registered (PyNaCl sealed box)."""

    vpc = models.ForeignKey(Vpc, on_delete=models.CASCADE, related_name="agents")
    name = models.CharField(max_length=60, help_text="Which agent this is, e.g. 'bj-prod-a'.")
    prefix = models.CharField(max_length=PREFIX_LENGTH, unique=True, editable=False)
    digest = models.CharField(max_length=64, editable=False)
    public_key = models.CharField(
        max_length=64, blank=True, editable=False, help_text="X25519, base64 (from its hello)."
    )
    version = models.CharField(max_length=40, blank=True, editable=False)
    hostname = models.CharField(max_length=100, blank=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    last_seen_at = models.DateTimeField(null=True, blank=True, editable=False)
    lease_lag_ms = models.FloatField(
        null=True, blank=True, editable=False, help_text="How late its last lease came, past due."
    )
    buffered = models.PositiveIntegerField(
        default=0, editable=False, help_text="Results it holds, not yet delivered."
    )
    dropped = models.PositiveIntegerField(
        default=0, editable=False, help_text="Results its full buffer had to drop."
    )
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = AgentQuerySet.as_manager()
    audit_fields = ("vpc", "name", "prefix", "revoked_at")

    class Meta:
        ordering = ["vpc_id", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["vpc", "name"],
                condition=models.Q(revoked_at__isnull=True),
                name="one_active_agent_name_per_vpc",
            )
        ]

    def __str__(self):
        return f"{self.name} ({self.vpc.vpc_id})"

    @property
    def label(self) -> str:
        return f"agent {self.pk}"

    @staticmethod
    def digest_of(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()

    @classmethod
    def new_token(cls) -> tuple[str, str]:
        """(prefix, token): the token reads apa_<prefix><secret>."""
        alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
        while True:
            prefix = "".join(secrets.choice(alphabet) for _ in range(PREFIX_LENGTH))
            if not cls.objects.filter(prefix=prefix).exists():
                break
        secret = secrets.token_urlsafe(32).replace("-", "x").replace("_", "y")
        return prefix, f"{TOKEN_PREFIX}{prefix}{secret}"

    @classmethod
    def authenticate(cls, token: str):
        """The active agent of this token, or None (compared in constant time)."""
        if (
            not token.startswith(TOKEN_PREFIX)
            or len(token) < len(TOKEN_PREFIX) + PREFIX_LENGTH + 16
        ):
            return None
        prefix = token[len(TOKEN_PREFIX) : len(TOKEN_PREFIX) + PREFIX_LENGTH]
        agent = cls.objects.active().select_related("vpc").filter(prefix=prefix).first()
        if agent is None or not hmac.compare_digest(agent.digest, cls.digest_of(token)):
            return None
        return agent


class VpcWatch(models.Model):
    """Whether a VPC probed by agents has gone silent (no agent heard from for three lease
    periods), so the change is announced once per VPC, not once per endpoint."""

    vpc = models.OneToOneField(Vpc, on_delete=models.CASCADE, related_name="agent_watch")
    silent = models.BooleanField(default=False)
    since = models.DateTimeField(
        null=True, blank=True, help_text="When an agent of the VPC was last heard from."
    )
    changed_at = models.DateTimeField(default=timezone.now)

    def __str__(self):
        return f"{self.vpc.vpc_id}: {'silent' if self.silent else 'heard'}"
