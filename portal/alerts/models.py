"""Alert channels (where notifications go, and which events they take) and the outbox (one
row per notification, sent by a Celery task, retried with backoff, never lost).

A channel's target (a webhook URL carries its token: DingTalk's access_token, WeCom's key,
Slack's URL path) and its signing secret are secrets: encrypted with portal.crypto like API
keys, shown masked, never returned by the API, logged or put in a task message.
"""

from urllib.parse import urlsplit

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from endpoints.network.models import Vpc
from portal import crypto
from portal.workspaces.models import Workspace


class Kind(models.TextChoices):
    EMAIL = "email", "E-mail"
    WEBHOOK = "webhook", "Webhook (JSON)"
    DINGTALK = "dingtalk", "DingTalk robot"
    FEISHU = "feishu", "Feishu / Lark bot"
    WECOM = "wecom", "WeCom group robot"
    SLACK = "slack", "Slack-compatible webhook"


class Event(models.TextChoices):
    INCIDENT_OPENED = "incident_opened", "Incident opened"
    INCIDENT_ESCALATED = "incident_escalated", "Incident escalated (degraded → down)"
    INCIDENT_ACKNOWLEDGED = "incident_acknowledged", "Incident acknowledged"
    INCIDENT_CLOSED = "incident_closed", "Incident closed"
    INCIDENT_REMINDER = "incident_reminder", "Reminder while an incident stays open"
    VPC_NO_AGENT = "vpc_no_agent", "VPC without a live agent"
    BUDGET_THRESHOLD = "budget_threshold", "Budget threshold crossed"


TEST_EVENT = "test"
MAX_EVENTS = len(Event.values)


def mask(target: str) -> str:
    """What a person sees of a target: an e-mail address whole; a URL as scheme and host,
    then only the last four characters of the rest (the part that holds the token)."""
    if "@" in target and "://" not in target:
        return target
    try:
        parts = urlsplit(target)
    except ValueError:
        return "…"
    rest = target[len(f"{parts.scheme}://{parts.netloc}") :]
    tail = f"/…{rest[-4:]}" if len(rest) > 1 else ""
    return f"{parts.scheme}://{parts.hostname or ''}{tail}"


class ChannelQuerySet(models.QuerySet):
    def for_user(self, user):
        from portal.roles import Perm, has_perm

        return self if has_perm(user, Perm.MANAGE_ENDPOINTS) else self.none()


class Channel(models.Model):
    class State(models.TextChoices):
        OK = "ok", "OK"
        FAILING = "failing", "Failing"

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    target_ciphertext = models.TextField(editable=False)
    target_display = models.CharField(max_length=300, editable=False)
    secret_ciphertext = models.TextField(blank=True, editable=False)
    secret_display = models.CharField(max_length=40, blank=True, editable=False)
    events = models.JSONField(default=list, blank=True)
    vpcs = models.ManyToManyField(Vpc, blank=True, related_name="+", verbose_name="only VPCs")
    workspaces = models.ManyToManyField(
        Workspace, blank=True, related_name="+", verbose_name="only workspaces"
    )
    remind_every_min = models.PositiveIntegerField("remind every (minutes)", null=True, blank=True)
    enabled = models.BooleanField(default=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.OK)
    last_error = models.CharField(max_length=500, blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    last_sent_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = ChannelQuerySet.as_manager()
    audit_fields = (
        "name",
        "kind",
        "target_display",
        "secret_display",
        "events",
        "vpcs",
        "workspaces",
        "remind_every_min",
        "enabled",
    )

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    def __repr__(self):
        return f"<Channel {self.pk} {self.kind} {self.target_display}>"

    def get_absolute_url(self):
        from django.urls import reverse

        return reverse("channel-detail", args=[self.pk])

    def set_target(self, target: str) -> None:
        self.target_ciphertext = crypto.encrypt(target)
        self.target_display = mask(target)[:300]

    def set_secret(self, secret: str) -> None:
        if secret:
            self.secret_ciphertext = crypto.encrypt(secret)
            self.secret_display = f"…{secret[-4:]}" if len(secret) > 8 else "…"
        else:
            self.secret_ciphertext = self.secret_display = ""

    def reveal_target(self) -> str:
        return crypto.decrypt(self.target_ciphertext)

    def reveal_secret(self) -> str:
        return crypto.decrypt(self.secret_ciphertext) if self.secret_ciphertext else ""

    @property
    def has_secret(self) -> bool:
        return bool(self.secret_ciphertext)

    def takes(self, event: str) -> bool:
        return event == TEST_EVENT or event in (self.events or Event.values)

    def as_json(self) -> dict:
        """The API's shape: never the target's token or the secret."""
        return {
            "id": self.pk,
            "name": self.name,
            "kind": self.kind,
            "target": self.target_display,
            "has_secret": self.has_secret,
            "events": list(self.events or Event.values),
            "vpcs": sorted(v.vpc_id for v in self.vpcs.all()),
            "workspaces": sorted(w.slug for w in self.workspaces.all()),
            "remind_every_min": self.remind_every_min,
            "enabled": self.enabled,
            "state": self.state,
            "last_error": self.last_error or None,
            "last_error_at": self.last_error_at,
            "last_sent_at": self.last_sent_at,
        }


class Notification(models.Model):
    """One message for one channel: the outbox row. Claimed with a conditional update (state,
    lease) by whichever task gets it first; a worker that dies mid-send leaves a lease that
    runs out, and the row is due again."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        HELD = "held", "Held back (maintenance)"

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="notifications")
    event = models.CharField(max_length=30)
    incident = models.ForeignKey(
        "status.Incident", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    key = models.CharField(max_length=160, unique=True, help_text="One notification per key.")
    payload = models.JSONField(default=dict)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    queued_at = models.DateTimeField(null=True, blank=True)
    lease_token = models.UUIDField(null=True, blank=True, editable=False)
    lease_until = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(state__in=["pending", "sending"]),
                name="notification_due",
            )
        ]

    def __str__(self):
        return f"{self.event} → {self.channel_id} ({self.state})"
