"""What probes found, and the manual runs people wait for."""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import F
from django.utils import timezone

from endpoints.network.choices import Phase, Status
from endpoints.network.models import Endpoint

PHASE_FIELDS = ("resolve_ms", "connect_ms", "tls_ms", "processing_ms", "transfer_ms", "total_ms")


class ProbeRun(models.Model):
    """A probe somebody asked for (one endpoint or many): its progress is shown while it runs."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.CharField(
        max_length=300, blank=True, help_text="Why the run could not be carried out, if it failed."
    )

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"probe run {self.id} ({self.done}/{self.total})"

    @property
    def percent(self) -> int:
        return 100 if not self.total else min(100, round(100 * self.done / self.total))

    @property
    def is_finished(self) -> bool:
        return self.finished_at is not None

    @property
    def stalled(self) -> bool:
        """Queued a while ago and nothing done: probably no worker is running."""
        return (
            not self.done
            and not self.is_finished
            and (timezone.now() - self.created_at).total_seconds() > 20
        )

    def fail(self, reason: str) -> None:
        """End the run now with `reason` (e.g. the broker could not take its batches)."""
        now = timezone.now()
        ProbeRun.objects.filter(pk=self.pk).update(error=reason[:300], finished_at=now)
        self.error, self.finished_at = reason[:300], now

    def advance(self, count: int) -> None:
        """Count finished probes; concurrent workers add with F(), never read-modify-write."""
        ProbeRun.objects.filter(pk=self.pk).update(done=F("done") + count)
        ProbeRun.objects.filter(pk=self.pk, finished_at__isnull=True, done__gte=F("total")).update(
            finished_at=timezone.now()
        )


class ProbeResult(models.Model):
    """One probe of one endpoint: per-phase latency, every address, and one diagnosis."""

    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="probe_results")
    run = models.ForeignKey(
        ProbeRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="results"
    )
    started_at = models.DateTimeField(default=timezone.now)
    status = models.CharField(max_length=10, choices=Status.choices)
    diagnosis = models.CharField(max_length=40)
    message = models.CharField(max_length=500)
    fix = models.CharField(max_length=500, blank=True)
    failed_phase = models.CharField(max_length=12, choices=Phase.choices, blank=True)
    resolve_ms = models.FloatField(null=True, blank=True)
    connect_ms = models.FloatField(null=True, blank=True)
    tls_ms = models.FloatField(null=True, blank=True)
    processing_ms = models.FloatField(null=True, blank=True)
    transfer_ms = models.FloatField(null=True, blank=True)
    total_ms = models.FloatField(null=True, blank=True)
    addresses = models.JSONField(default=list, blank=True)
    cname_chain = models.JSONField(default=list, blank=True)
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    tls_days_left = models.IntegerField(null=True, blank=True)
    request_id = models.CharField(max_length=80, blank=True)
    source = models.CharField(
        max_length=10, default="schedule", help_text="schedule, manual or cli"
    )

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [
            models.Index(fields=["endpoint", "-started_at"], name="probe_endpoint_recent"),
            models.Index(fields=["started_at"], name="probe_started"),
        ]

    def __str__(self):
        return (
            f"{self.endpoint_id} {self.started_at:%Y-%m-%d %H:%M:%S} {self.status} {self.diagnosis}"
        )

    @property
    def waited_ms(self) -> float:
        """Time no phase accounts for: waiting for an answer that never came (timeouts)."""
        phases = [
            self.resolve_ms,
            self.connect_ms,
            self.tls_ms,
            self.processing_ms,
            self.transfer_ms,
        ]
        waited = (self.total_ms or 0) - sum(p or 0 for p in phases)
        return round(waited, 1) if waited > 1 else 0.0

    def as_json(self) -> dict:
        """The shape of `probe_now` and GET /api/v1/endpoints/{id}/probes."""
        return {
            "endpoint": self.endpoint_id,
            "status": self.status,
            "diagnosis": self.diagnosis,
            "message": self.message,
            "fix": self.fix,
            "failed_phase": self.failed_phase or None,
            "phases": {name: getattr(self, name) for name in PHASE_FIELDS},
            "addresses": self.addresses,
            "cname_chain": self.cname_chain,
            "http_status": self.http_status,
            "tls_days_left": self.tls_days_left,
            "request_id": self.request_id or None,
            "started_at": self.started_at.isoformat(),
        }
