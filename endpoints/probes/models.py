"""Where and when each endpoint is probed (schedules and their leases), what the probes
found (results and status changes), and the manual runs people wait for."""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from endpoints.engine import DIAGNOSES
from endpoints.network.choices import Phase, Status
from endpoints.network.models import Endpoint, Vpc

PHASE_FIELDS = ("resolve_ms", "connect_ms", "tls_ms", "processing_ms", "transfer_ms", "total_ms")
CENTRAL = "central"  # the location of the portal's own workers
BAD = frozenset({Status.DOWN, Status.DEGRADED})


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

    def finish(self) -> None:
        now = timezone.now()
        ProbeRun.objects.filter(pk=self.pk, finished_at__isnull=True).update(finished_at=now)
        self.finished_at = self.finished_at or now

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


class ProbeScheduleQuerySet(models.QuerySet):
    def due(self, until=None):
        """Due by `until` (default now) and not leased (or its lease ran out: its prober died)."""
        until = until or timezone.now()
        now = timezone.now()
        return self.filter(next_probe_at__lte=until).filter(
            Q(lease_until__isnull=True) | Q(lease_until__lt=now)
        )

    def reprobe_soon(self, run=None) -> int:
        """Probe again at the next dispatch (or lease) instead of at the end of the interval."""
        fields = {"next_probe_at": timezone.now()}
        if run is not None:
            fields["run"] = run
        return self.update(**fields)


class ProbeSchedule(models.Model):
    """When and from where one endpoint is probed next, and what it last found there.

    One row per endpoint and location: "central" (the portal's workers) or the VPC whose
    agents probe it (its own VPC, plus VPCs joined to it by CEN for private kinds). A prober
    takes a due row on a lease (`lease_token` until `lease_until`); recording its result
    clears the lease and sets the next due time one interval after the one just probed (not
    after "now": the schedule keeps its phase). A lease that runs out means its prober died:
    the row is due again, so the probe is redone by another.
    """

    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="schedules")
    location = models.CharField(
        max_length=60, help_text='"central", or the vpc_id of the agents that probe from there'
    )
    vpc = models.ForeignKey(
        Vpc,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="probe_schedules",
        help_text="The VPC whose agents probe (none: the portal's central workers).",
    )
    primary = models.BooleanField(
        default=True,
        help_text="The endpoint's own location: its status here is the endpoint's status.",
    )
    next_probe_at = models.DateTimeField(default=timezone.now)
    lease_token = models.UUIDField(null=True, blank=True, editable=False)
    lease_until = models.DateTimeField(null=True, blank=True, editable=False)
    leased_by = models.CharField(max_length=80, blank=True, help_text='"worker" or "agent <id>"')
    run = models.ForeignKey(
        "ProbeRun",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="A manual run waiting for this row's next result.",
    )

    # What the last probe from here found (written by the recorder only).
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.UNKNOWN)
    diagnosis = models.CharField(max_length=40, blank=True)
    message = models.CharField(max_length=500, blank=True)
    last_probe_at = models.DateTimeField(null=True, blank=True)
    last_total_ms = models.FloatField(null=True, blank=True)
    status_changed_at = models.DateTimeField(null=True, blank=True)
    bad_streak = models.PositiveIntegerField(
        default=0, help_text="Consecutive down or degraded results (unknown ones do not count)."
    )
    good_streak = models.PositiveIntegerField(default=0, help_text="Consecutive up results.")

    objects = ProbeScheduleQuerySet.as_manager()

    class Meta:
        ordering = ["endpoint_id", "-primary", "location"]
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "location"], name="one_schedule_per_place")
        ]
        indexes = [
            # The dispatcher's and the agents' question: what is due at this location?
            models.Index(fields=["location", "next_probe_at"], name="schedule_due"),
        ]

    def __str__(self):
        return f"{self.endpoint_id} from {self.location}"

    @property
    def is_central(self) -> bool:
        return self.location == CENTRAL


class ProbeResult(models.Model):
    """One probe of one endpoint from one location: per-phase latency, every address, and one
    diagnosis. `slot` is the scheduled time it answered (none for a manual probe): a result for
    a slot is stored once, however late or often it is delivered."""

    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="probe_results")
    location = models.CharField(max_length=60, default=CENTRAL)
    agent_id = models.PositiveIntegerField(
        null=True, blank=True, help_text="The agent that probed (none: a central worker)."
    )
    slot = models.DateTimeField(null=True, blank=True)
    run = models.ForeignKey(
        ProbeRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="results"
    )
    started_at = models.DateTimeField(default=timezone.now)
    status = models.CharField(max_length=10, choices=Status.choices)
    diagnosis = models.CharField(max_length=40)
    message = models.CharField(max_length=500)
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
        constraints = [
            models.UniqueConstraint(
                fields=["endpoint", "location", "slot"],
                condition=Q(slot__isnull=False),
                name="one_result_per_slot",
            )
        ]
        indexes = [
            models.Index(fields=["endpoint", "-started_at"], name="probe_endpoint_recent"),
            models.Index(fields=["started_at"], name="probe_started"),
        ]

    def __str__(self):
        return (
            f"{self.endpoint_id} {self.started_at:%Y-%m-%d %H:%M:%S} {self.status} {self.diagnosis}"
        )

    @property
    def fix(self) -> str:
        """What to do about this diagnosis (the same words for every result of it)."""
        return DIAGNOSES.get(self.diagnosis, ("", ""))[1]

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
            "location": self.location,
        }


class StatusChange(models.Model):
    """A flip: when an endpoint's status at a location changed, and to what. Kept long after
    the raw results are pruned; time-weighted uptime is computed from these."""

    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="status_changes")
    location = models.CharField(max_length=60, default=CENTRAL)
    at = models.DateTimeField(help_text="When the first probe with the new status started.")
    status = models.CharField(max_length=10, choices=Status.choices)
    previous = models.CharField(max_length=10, choices=Status.choices)
    diagnosis = models.CharField(max_length=40, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["endpoint", "location", "at"], name="flip_endpoint_at")]

    def __str__(self):
        return f"{self.endpoint_id}@{self.location} {self.previous}→{self.status} at {self.at}"
