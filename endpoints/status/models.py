"""Status over time: incidents (and what happened during them), maintenance windows, periods
when the portal itself stopped probing, hourly rollups of the raw results, and each
endpoint's uptime summary.

Why the rollups live here and not in the probes app: the probes app owns the raw results
and keeps them for a fixed 48 hours; everything that outlives them (rollups, incidents,
uptime) is history, read by the charts, the SLA report and /metrics, and built by this app's
periodic tasks from what the probes app stored.
"""

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone as dj_timezone

from endpoints.network.choices import Status
from endpoints.network.models import Endpoint, Vpc

MAX_NOTE = 2000


class Scope(models.TextChoices):
    ENDPOINT = "endpoint", "Endpoint"
    VPC = "vpc", "VPC (its agents are offline)"


class IncidentQuerySet(models.QuerySet):
    def open(self):
        return self.filter(closed_at__isnull=True)

    def for_user(self, user):
        from portal.roles import Perm, has_perm

        return self if has_perm(user, Perm.VIEW_ENDPOINTS) else self.none()


class Incident(models.Model):
    """A stretch of trouble: an endpoint down or degraded for `failure_threshold` results in a
    row (closed after `success_threshold` up results), or a VPC whose agents all fell silent.

    Down and degraded are distinct incidents; degraded → down escalates the open one (its
    status becomes down; `escalated_at` says when). One open incident per endpoint (and per
    VPC) at a time, enforced by the database.
    """

    scope = models.CharField(max_length=10, choices=Scope.choices, default=Scope.ENDPOINT)
    endpoint = models.ForeignKey(
        Endpoint, null=True, blank=True, on_delete=models.CASCADE, related_name="incidents"
    )
    vpc = models.ForeignKey(
        Vpc, null=True, blank=True, on_delete=models.CASCADE, related_name="incidents"
    )
    location = models.CharField(max_length=60, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices)
    diagnosis = models.CharField(max_length=40, blank=True)
    message = models.CharField(max_length=500, blank=True)
    opened_at = models.DateTimeField(default=dj_timezone.now)
    escalated_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    note = models.TextField(blank=True, max_length=MAX_NOTE)
    # What the probes found meanwhile (the raw results are pruned after 48 h; these stay).
    results_total = models.PositiveIntegerField(default=0)
    results_bad = models.PositiveIntegerField(default=0)
    last_result_at = models.DateTimeField(null=True, blank=True)

    objects = IncidentQuerySet.as_manager()
    audit_fields = ("scope", "endpoint", "vpc", "status", "diagnosis", "acknowledged_by", "note")

    class Meta:
        ordering = ["-opened_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["endpoint"],
                condition=Q(closed_at__isnull=True, endpoint__isnull=False),
                name="one_open_incident_per_endpoint",
            ),
            models.UniqueConstraint(
                fields=["vpc"],
                condition=Q(closed_at__isnull=True, scope="vpc"),
                name="one_open_incident_per_vpc",
            ),
        ]
        indexes = [
            models.Index(fields=["endpoint", "opened_at"], name="incident_endpoint_opened"),
            models.Index(fields=["closed_at"], name="incident_closed"),
        ]

    def __str__(self):
        return f"incident {self.pk}: {self.subject} {self.status}"

    def get_absolute_url(self):
        from django.urls import reverse

        return reverse("incident-detail", args=[self.pk])

    @property
    def subject(self) -> str:
        if self.scope == Scope.VPC:
            return f"VPC {self.vpc.vpc_id if self.vpc_id else '?'}"
        return self.endpoint.name if self.endpoint_id else "?"

    @property
    def is_open(self) -> bool:
        return self.closed_at is None

    @property
    def duration(self) -> timedelta:
        return (self.closed_at or dj_timezone.now()) - self.opened_at

    def as_json(self) -> dict:
        """The shape of GET /api/v1/incidents."""
        return {
            "id": self.pk,
            "endpoint": (
                {"id": self.endpoint_id, "name": self.endpoint.name} if self.endpoint_id else None
            ),
            "vpc": self.vpc.vpc_id if self.vpc_id else None,
            "scope": self.scope,
            "status": self.status,
            "diagnosis": self.diagnosis,
            "message": self.message,
            "opened_at": self.opened_at,
            "escalated_at": self.escalated_at,
            "closed_at": self.closed_at,
            "duration_s": round(self.duration.total_seconds()),
            "acknowledged_by": self.acknowledged_by.username if self.acknowledged_by_id else None,
            "acknowledged_at": self.acknowledged_at,
            "note": self.note,
            "results_total": self.results_total,
            "results_bad": self.results_bad,
        }


class IncidentEvent(models.Model):
    """One line of an incident's story: opened, escalated, a diagnosis change, acknowledged,
    a note, closed. Alerts are sent per event (and never twice for one)."""

    class Kind(models.TextChoices):
        OPENED = "opened", "Opened"
        ESCALATED = "escalated", "Escalated"
        STATUS = "status", "Status changed"
        DIAGNOSIS = "diagnosis", "Diagnosis changed"
        ACKNOWLEDGED = "acknowledged", "Acknowledged"
        NOTE = "note", "Note"
        CLOSED = "closed", "Closed"

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    at = models.DateTimeField(default=dj_timezone.now)
    status = models.CharField(max_length=10, blank=True)
    diagnosis = models.CharField(max_length=40, blank=True)
    message = models.CharField(max_length=500, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    note = models.TextField(blank=True, max_length=MAX_NOTE)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self):
        return f"{self.incident_id} {self.kind} at {self.at}"


class Recurrence(models.TextChoices):
    NONE = "", "Once"
    DAILY = "DAILY", "Every day"
    WEEKLY = "WEEKLY", "Every week"
    MONTHLY = "MONTHLY", "Every month"


class MaintenanceWindowQuerySet(models.QuerySet):
    def for_user(self, user):
        from portal.roles import Perm, has_perm

        return self if has_perm(user, Perm.VIEW_ENDPOINTS) else self.none()


class MaintenanceWindow(models.Model):
    """Planned work on an endpoint, a VPC or everything: alerts are held back, results are
    still recorded, and the window does not count for (or against) uptime.

    `starts_at`..`ends_at` is the first occurrence; a recurring window repeats it (daily,
    weekly, monthly, in `timezone`'s wall time, so 02:00 stays 02:00 across DST) until
    `repeat_until`, expanded with dateutil.rrule.
    """

    name = models.CharField(max_length=100)
    endpoint = models.ForeignKey(
        Endpoint, null=True, blank=True, on_delete=models.CASCADE, related_name="maintenance"
    )
    vpc = models.ForeignKey(
        Vpc, null=True, blank=True, on_delete=models.CASCADE, related_name="maintenance"
    )
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    recurrence = models.CharField(
        max_length=10, choices=Recurrence.choices, blank=True, default=Recurrence.NONE
    )
    repeat_until = models.DateTimeField(
        null=True, blank=True, help_text="Recurring windows: the last day (empty: no end)."
    )
    timezone = models.CharField(
        max_length=60, default="UTC", help_text="An IANA name, e.g. Asia/Shanghai."
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=dj_timezone.now, editable=False)

    objects = MaintenanceWindowQuerySet.as_manager()
    EDITABLE_FIELDS = (
        "name",
        "endpoint",
        "vpc",
        "starts_at",
        "ends_at",
        "recurrence",
        "repeat_until",
        "timezone",
    )
    audit_fields = EDITABLE_FIELDS

    class Meta:
        ordering = ["-starts_at"]
        indexes = [models.Index(fields=["ends_at", "repeat_until"], name="maintenance_ends")]

    def __str__(self):
        return self.name

    @property
    def scope_label(self) -> str:
        if self.endpoint_id:
            return f"endpoint {self.endpoint.name}"
        if self.vpc_id:
            return f"VPC {self.vpc.vpc_id}"
        return "everything"


class ProbingGap(models.Model):
    """A time the portal's own workers stored no result for 3x the shortest interval (no
    worker or beat running): unknown for the central endpoints, never downtime."""

    started_at = models.DateTimeField(help_text="The last result before the silence.")
    ended_at = models.DateTimeField(
        null=True, blank=True, help_text="The first result after it (empty: still silent)."
    )

    class Meta:
        ordering = ["-started_at"]

    def __str__(self):
        return f"probing gap {self.started_at} - {self.ended_at or 'now'}"


class Watermark(models.Model):
    """How far a periodic task has got (rollups, gap detection): idempotent catch-up."""

    name = models.CharField(max_length=40, primary_key=True)
    until = models.DateTimeField()

    def __str__(self):
        return f"{self.name} until {self.until}"


PERCENTILES = (50, 95, 99)
ROLLUP_PHASES = ("total", "resolve", "connect", "tls", "processing", "transfer")

ROLLUP_FIELDS = tuple(f"{phase}_p{p}" for phase in ROLLUP_PHASES for p in PERCENTILES)


class HourlyRollup(models.Model):
    """One endpoint's results from one location in one hour: counts by status and the
    p50/p95/p99 of the total and of each phase (ms). Kept PORTAL_ROLLUP_RETENTION_DAYS (400)."""

    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="rollups")
    location = models.CharField(max_length=60)
    hour = models.DateTimeField()
    up = models.PositiveIntegerField(default=0)
    degraded = models.PositiveIntegerField(default=0)
    down = models.PositiveIntegerField(default=0)
    unknown = models.PositiveIntegerField(default=0)
    total_p50 = models.FloatField(null=True, blank=True)
    total_p95 = models.FloatField(null=True, blank=True)
    total_p99 = models.FloatField(null=True, blank=True)
    resolve_p50 = models.FloatField(null=True, blank=True)
    resolve_p95 = models.FloatField(null=True, blank=True)
    resolve_p99 = models.FloatField(null=True, blank=True)
    connect_p50 = models.FloatField(null=True, blank=True)
    connect_p95 = models.FloatField(null=True, blank=True)
    connect_p99 = models.FloatField(null=True, blank=True)
    tls_p50 = models.FloatField(null=True, blank=True)
    tls_p95 = models.FloatField(null=True, blank=True)
    tls_p99 = models.FloatField(null=True, blank=True)
    processing_p50 = models.FloatField(null=True, blank=True)
    processing_p95 = models.FloatField(null=True, blank=True)
    processing_p99 = models.FloatField(null=True, blank=True)
    transfer_p50 = models.FloatField(null=True, blank=True)
    transfer_p95 = models.FloatField(null=True, blank=True)
    transfer_p99 = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["endpoint_id", "location", "hour"]
        constraints = [
            models.UniqueConstraint(
                fields=["endpoint", "location", "hour"], name="one_rollup_per_hour"
            )
        ]
        indexes = [models.Index(fields=["hour"], name="rollup_hour")]

    def __str__(self):
        return f"{self.endpoint_id}@{self.location} {self.hour:%Y-%m-%d %H}h"

    @property
    def count(self) -> int:
        return self.up + self.degraded + self.down + self.unknown


class UptimeSummary(models.Model):
    """Each endpoint's time-weighted uptime, refreshed by `refresh_uptime` (every few minutes):
    what the lists, the board and the API read, at no cost per row. Seconds are kept as well
    as percentages so a VPC's, region's or workspace's uptime is SUM(up) / SUM(known)."""

    endpoint = models.OneToOneField(
        Endpoint, primary_key=True, on_delete=models.CASCADE, related_name="uptime"
    )
    computed_at = models.DateTimeField(default=dj_timezone.now)
    up_24h = models.FloatField(default=0)
    known_24h = models.FloatField(default=0)
    up_7d = models.FloatField(default=0)
    known_7d = models.FloatField(default=0)
    up_30d = models.FloatField(default=0)
    known_30d = models.FloatField(default=0)
    up_90d = models.FloatField(default=0)
    known_90d = models.FloatField(default=0)

    def __str__(self):
        return f"uptime of {self.endpoint_id}"

    def percent(self, window: str) -> float | None:
        known = getattr(self, f"known_{window}")
        return round(100 * getattr(self, f"up_{window}") / known, 3) if known else None
