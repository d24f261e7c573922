"""People who sign in, their roles and their personal API tokens."""

import hashlib
import hmac
import re
import secrets

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.contrib.auth.models import UserManager as BaseUserManager
from django.db import models
from django.utils import timezone

from portal.roles import Role


class UserManager(BaseUserManager):
    def create_superuser(self, username, email=None, password=None, **extra_fields):
        # `manage.py createsuperuser` makes a portal admin.
        extra_fields["role"] = Role.ADMIN
        return super().create_superuser(username, email, password, **extra_fields)


class User(AbstractUser):
    """A person who signs in. What they may do follows from `role` (see portal.roles)."""

    role = models.CharField(
        max_length=10,
        choices=Role.choices,
        default=Role.LEAD,
        help_text="admin: everything; ops: endpoints and probes; lead: own workspaces' costs.",
    )

    audit_fields = ("username", "email", "role", "is_active")

    objects = UserManager()

    def save(self, *args, **kwargs):
        # The role decides: admins (and only admins) may use the Django admin, fully.
        self.is_staff = self.is_superuser = self.role == Role.ADMIN
        super().save(*args, **kwargs)

    @property
    def is_lead(self) -> bool:
        return self.role == Role.LEAD


# What `ApiToken.issue` makes: "ap_", the prefix, then letters and digits. Anything else is
# refused before a query (a NUL or a megabyte of header never reaches the database).
TOKEN_FORMAT = re.compile(r"ap_[a-z0-9]{8}[A-Za-z0-9]{10,100}")


class ApiTokenQuerySet(models.QuerySet):
    def active(self):
        return self.filter(revoked_at__isnull=True)


class ApiToken(models.Model):
    """A personal token for the JSON API. Only a SHA-256 digest is stored.

    The token reads `ap_<prefix><secret>`; the prefix finds the row, the digest is
    compared in constant time. The full token is shown once, at creation.
    """

    PREFIX_LENGTH = 8

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100, help_text="What the token is for, e.g. 'CI export'.")
    prefix = models.CharField(max_length=PREFIX_LENGTH, unique=True, editable=False)
    digest = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiTokenQuerySet.as_manager()
    audit_fields = ("name", "prefix", "revoked_at")

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.name} (ap_{self.prefix}…)"

    @staticmethod
    def _digest(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()

    @classmethod
    def issue(cls, user, name: str) -> tuple["ApiToken", str]:
        """Create a token; returns the row and the plaintext, which is never stored."""
        alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
        while True:
            prefix = "".join(secrets.choice(alphabet) for _ in range(cls.PREFIX_LENGTH))
            if not cls.objects.filter(prefix=prefix).exists():
                break
        plaintext = f"ap_{prefix}{secrets.token_urlsafe(30).replace('-', 'x').replace('_', 'y')}"
        token = cls.objects.create(
            user=user, name=name, prefix=prefix, digest=cls._digest(plaintext)
        )
        return token, plaintext

    @classmethod
    def authenticate(cls, plaintext: str):
        """The active token's user, or None. Touches last_used_at at most once a minute."""
        if not TOKEN_FORMAT.fullmatch(plaintext):
            return None
        prefix = plaintext[3 : 3 + cls.PREFIX_LENGTH]
        token = cls.objects.active().select_related("user").filter(prefix=prefix).first()
        if token is None or not hmac.compare_digest(token.digest, cls._digest(plaintext)):
            return None
        if not token.user.is_active:
            return None
        now = timezone.now()
        if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
            cls.objects.filter(pk=token.pk).update(last_used_at=now)
        return token.user

    @property
    def display(self) -> str:
        return f"ap_{self.prefix}…"
