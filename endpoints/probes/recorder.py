"""Storing what probes found, from the central workers and from the agents alike.

`record(observations)` takes a batch (a worker flushes at most ~1 s apart; an agent posts its
own) and, in one transaction:

1. locks the batch's schedules (in id order, so two recorders never deadlock);
2. stores each result once: a result for a slot already stored (a late lease, a batch
   delivered twice, an agent's buffer sent again) is dropped;
3. moves each schedule on, unless a newer result already did: its latest status, its
   streaks, and, when the result answers the schedule's own lease, the next due time one
   interval after the slot just probed (so the schedule keeps its phase);
4. mirrors a primary schedule's status onto its endpoint, and writes a `StatusChange` for
   every flip;
5. marks the keys used, accounts the billed model calls, advances manual runs;
6. sends `results_recorded` with what changed, for incidents and alerts, inside the same
   transaction (nothing is half-recorded).
"""

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import (
    InterfaceError,
    OperationalError,
    close_old_connections,
    connection,
    transaction,
)
from django.utils import timezone

from endpoints.engine import ProbeOutcome
from endpoints.network.choices import EAS_KINDS, Status
from endpoints.network.models import MAX_INTERVAL_S, Endpoint
from portal.costs.services import account_probe_usage
from portal.workspaces.models import ApiKey, EasToken, Workspace

from .bulk import bulk_set
from .models import BAD, ProbeResult, ProbeRun, ProbeSchedule, StatusChange
from .signals import results_recorded

log = logging.getLogger(__name__)
TOUCH_EVERY = timedelta(minutes=1)  # a key's last_used_at moves at most once a minute


@dataclass
class Observation:
    """One probe's outcome, and which schedule, lease and slot it answers."""

    endpoint_id: int
    outcome: ProbeOutcome
    location: str
    schedule_id: int | None = None
    lease_token: str | None = None
    slot: datetime | None = None
    interval_s: int | None = None
    agent_id: int | None = None
    run_id: str | None = None
    source: str = "schedule"
    missing: str | None = None  # why no credentials were sent (an auth_rejected then says so)

    @property
    def message(self) -> str:
        message = self.outcome.message
        if self.outcome.diagnosis == "auth_rejected" and self.missing:
            message = (
                f"{self.missing} (DNS, TCP and TLS passed; the request went without credentials.)"
            )
        return message[:500]


@dataclass
class Recorded:
    """What `record` did with one observation (sent with `results_recorded`)."""

    endpoint_id: int
    location: str
    primary: bool
    status: str
    diagnosis: str
    message: str
    started_at: datetime
    previous: str
    bad_streak: int
    good_streak: int
    flipped: bool
    current: bool  # False: an older result, stored for the history only


@dataclass
class Summary:
    stored: int = 0
    duplicates: int = 0
    changes: list[Recorded] = field(default_factory=list)


def next_due(slot: datetime, interval_s: int, now: datetime) -> datetime:
    """One interval after the slot just probed; past a backlog, the next slot after now on the
    same grid (an outage does not come back as a burst)."""
    # Clamped: a stored interval past the limit (written around the validators) still fits.
    interval = timedelta(seconds=min(max(1, int(interval_s)), MAX_INTERVAL_S))
    due = slot + interval
    if due < now - interval:
        behind = (now - due) // interval
        due += interval * behind
    return due


def record(observations: list[Observation]) -> Summary:
    """Store a batch of observations (see the module's docstring); returns what happened."""
    if not observations:
        return Summary()
    now = timezone.now()
    summary = Summary()
    with transaction.atomic():
        schedule_ids = sorted({o.schedule_id for o in observations if o.schedule_id})
        schedules = {
            s.pk: s
            for s in ProbeSchedule.objects.select_for_update()
            .filter(pk__in=schedule_ids)
            .order_by("pk")
        }
        endpoints = {
            e.pk: e
            for e in Endpoint.objects.filter(pk__in={o.endpoint_id for o in observations}).only(
                "pk", "kind", "workspace_id", "eas_token_id"
            )
        }
        fresh, duplicates = _without_duplicates(
            [o for o in observations if o.endpoint_id in endpoints], summary
        )
        ProbeResult.objects.bulk_create([_row(o) for o in fresh], batch_size=500)
        summary.stored = len(fresh)
        touched_schedules, touched_endpoints, flips, runs = {}, {}, [], {}
        for obs in duplicates:
            # Stored already (by another prober, or an agent's buffer delivered twice); if it
            # answers the schedule's lease, the lease is done all the same.
            schedule = schedules.get(obs.schedule_id) if obs.schedule_id else None
            if schedule is not None and _settle_lease(schedule, obs, now):
                touched_schedules[schedule.pk] = schedule
        for obs in sorted(fresh, key=lambda o: o.outcome.started_at):
            schedule = schedules.get(obs.schedule_id) if obs.schedule_id else None
            if schedule is None:
                schedule = _central_schedule_of(obs, schedules)
            run_id = obs.run_id
            if schedule is not None:
                if schedule.run_id and not run_id:
                    run_id = str(schedule.run_id)
                change = _advance(schedule, obs, now)
                touched_schedules[schedule.pk] = schedule
                if change is not None:
                    summary.changes.append(change)
                    if change.flipped:
                        flips.append(_flip(obs, change))
                    if change.primary and change.current:
                        touched_endpoints[obs.endpoint_id] = _mirror(
                            endpoints[obs.endpoint_id], schedule
                        )
            if run_id:
                runs[run_id] = runs.get(run_id, 0) + 1
        bulk_set(
            ProbeSchedule,
            touched_schedules.values(),
            [
                "next_probe_at",
                "lease_token",
                "lease_until",
                "leased_by",
                "run",
                "status",
                "diagnosis",
                "message",
                "last_probe_at",
                "last_total_ms",
                "status_changed_at",
                "bad_streak",
                "good_streak",
            ],
        )
        bulk_set(
            Endpoint,
            touched_endpoints.values(),
            [
                "status",
                "diagnosis",
                "status_message",
                "status_changed_at",
                "last_probe_at",
                "last_total_ms",
            ],
        )
        StatusChange.objects.bulk_create(flips)
        _touch_credentials(fresh, endpoints, now)
        _account_usage(fresh, endpoints)
        for run_id, count in runs.items():
            ProbeRun(pk=run_id).advance(count)
        if summary.changes:
            results_recorded.send(Observation, changes=summary.changes)
    return summary


def record_with_retry(observations: list[Observation], *, attempts: int = 8) -> Summary:
    """`record`, reconnecting when the database connection is lost (a failover, a restart):
    the outcomes are in memory, so they are recorded once the database answers again."""
    delay = 0.5
    for attempt in range(1, attempts + 1):
        try:
            return record(observations)
        except (OperationalError, InterfaceError) as exc:
            if attempt == attempts:
                raise
            log.warning(
                "Recording %d probe result(s) failed (%s); reconnecting and retrying in %.1f s.",
                len(observations),
                type(exc).__name__,
                delay,
            )
            close_old_connections()
            connection.close()
            time.sleep(delay)
            delay = min(delay * 2, 8.0)
    return Summary()  # unreachable


# -- the steps --------------------------------------------------------------------------------


def _without_duplicates(observations, summary) -> tuple[list, list]:
    """(fresh, duplicates): a slot stored already, or repeated within the batch, is a
    duplicate."""
    slotted = [o for o in observations if o.slot is not None]
    stored = set()
    if slotted:
        stored = set(
            ProbeResult.objects.filter(
                endpoint_id__in={o.endpoint_id for o in slotted},
                slot__in={o.slot for o in slotted},
            ).values_list("endpoint_id", "location", "slot")
        )
    fresh, duplicates, seen = [], [], set()
    for obs in observations:
        key = (obs.endpoint_id, obs.location, obs.slot)
        if obs.slot is not None and (key in stored or key in seen):
            summary.duplicates += 1
            duplicates.append(obs)
            continue
        seen.add(key)
        fresh.append(obs)
    return fresh, duplicates


def _row(obs: Observation) -> ProbeResult:
    outcome = obs.outcome
    return ProbeResult(
        endpoint_id=obs.endpoint_id,
        location=obs.location,
        agent_id=obs.agent_id,
        slot=obs.slot,
        run_id=obs.run_id,
        started_at=outcome.started_at,
        status=outcome.status,
        diagnosis=outcome.diagnosis,
        message=obs.message,
        failed_phase=outcome.failed_phase or "",
        addresses=[a.as_json() for a in outcome.addresses],
        cname_chain=outcome.cname_chain,
        http_status=outcome.http_status,
        tls_days_left=outcome.tls_days_left,
        request_id=(outcome.request_id or "")[:80],
        source=obs.source,
        **vars(outcome.phases),
    )


def _central_schedule_of(obs, schedules):
    """A probe with no schedule of its own (probe_now): it speaks for the endpoint's schedule
    at its location, if the endpoint is probed from there."""
    schedule = (
        ProbeSchedule.objects.select_for_update()
        .filter(endpoint_id=obs.endpoint_id, location=obs.location)
        .first()
    )
    if schedule is not None:
        schedules[schedule.pk] = schedules.get(schedule.pk, schedule)
        return schedules[schedule.pk]
    return None


def _settle_lease(schedule: ProbeSchedule, obs: Observation, now) -> bool:
    """Clear the lease this observation answers and set the next due time; True if the
    schedule moved."""
    answers_lease = bool(obs.lease_token) and str(schedule.lease_token) == str(obs.lease_token)
    if answers_lease:
        schedule.lease_token = schedule.lease_until = None
        schedule.leased_by = ""
    if (
        obs.slot is not None
        and obs.interval_s
        and (answers_lease or (schedule.lease_token is None and obs.slot >= schedule.next_probe_at))
    ):
        # The lease's own answer, or an agent's slot probed while the portal was away.
        schedule.next_probe_at = max(
            schedule.next_probe_at, next_due(obs.slot, obs.interval_s, now)
        )
        return True
    return answers_lease


def _advance(schedule: ProbeSchedule, obs: Observation, now) -> Recorded | None:
    """Move the schedule on with this result; the Recorded change (None: nothing to say)."""
    outcome = obs.outcome
    _settle_lease(schedule, obs, now)
    if schedule.run_id and (obs.run_id is None or str(schedule.run_id) == str(obs.run_id)):
        schedule.run = None
    previous = schedule.status
    current = schedule.last_probe_at is None or outcome.started_at >= schedule.last_probe_at
    if current:
        flipped = outcome.status != previous
        schedule.status = outcome.status
        schedule.diagnosis = outcome.diagnosis
        schedule.message = obs.message
        schedule.last_probe_at = outcome.started_at
        schedule.last_total_ms = outcome.phases.total_ms
        if flipped or schedule.status_changed_at is None:
            schedule.status_changed_at = outcome.started_at
        if outcome.status == Status.UP:
            schedule.good_streak, schedule.bad_streak = schedule.good_streak + 1, 0
        elif outcome.status in BAD:
            schedule.bad_streak, schedule.good_streak = schedule.bad_streak + 1, 0
    else:
        flipped = False
    return Recorded(
        endpoint_id=obs.endpoint_id,
        location=schedule.location,
        primary=schedule.primary,
        status=outcome.status,
        diagnosis=outcome.diagnosis,
        message=obs.message,
        started_at=outcome.started_at,
        previous=previous,
        bad_streak=schedule.bad_streak,
        good_streak=schedule.good_streak,
        flipped=flipped,
        current=current,
    )


def _mirror(endpoint: Endpoint, schedule: ProbeSchedule) -> Endpoint:
    endpoint.status = schedule.status
    endpoint.diagnosis = schedule.diagnosis
    endpoint.status_message = schedule.message
    endpoint.status_changed_at = schedule.status_changed_at
    endpoint.last_probe_at = schedule.last_probe_at
    endpoint.last_total_ms = schedule.last_total_ms
    return endpoint


def _flip(obs: Observation, change: Recorded) -> StatusChange:
    return StatusChange(
        endpoint_id=obs.endpoint_id,
        location=change.location,
        at=change.started_at,
        status=change.status,
        previous=change.previous,
        diagnosis=change.diagnosis,
    )


def _account_usage(observations, endpoints) -> None:
    """The billed model calls, against the workspaces whose keys made them."""
    billed = [
        (obs, endpoints[obs.endpoint_id].workspace_id)
        for obs in observations
        if obs.outcome.usage and endpoints[obs.endpoint_id].workspace_id
    ]
    if billed:
        workspaces = Workspace.objects.in_bulk({pk for _, pk in billed})
        account_probe_usage(
            (workspaces[pk], obs.outcome.usage) for obs, pk in billed if pk in workspaces
        )


def _touch_credentials(observations, endpoints, now) -> None:
    """The keys (and EAS tokens) the probes actually sent, at most once a minute each."""
    workspaces, tokens = set(), set()
    for obs in observations:
        endpoint = endpoints[obs.endpoint_id]
        if obs.missing or obs.outcome.http_status is None:
            continue
        if endpoint.kind in EAS_KINDS and endpoint.eas_token_id:
            tokens.add(endpoint.eas_token_id)
        elif endpoint.workspace_id:
            workspaces.add(endpoint.workspace_id)
    stale = now - TOUCH_EVERY
    if workspaces:
        newest: dict[int, int] = {}
        for pk, workspace_id in (
            ApiKey.objects.filter(workspace_id__in=workspaces, revoked_at__isnull=True)
            .order_by("workspace_id", "-created_at")
            .values_list("pk", "workspace_id")
        ):
            newest.setdefault(workspace_id, pk)
        ApiKey.objects.filter(pk__in=newest.values()).exclude(last_used_at__gt=stale).update(
            last_used_at=now
        )
    if tokens:
        EasToken.objects.filter(pk__in=tokens).exclude(last_used_at__gt=stale).update(
            last_used_at=now
        )


def mark_unknown(schedules, diagnosis: str, message: str, at=None) -> int:
    """Set `schedules` (a queryset) to unknown with `diagnosis`, as probes would (the
    endpoints of primary ones too, a flip for each that changes), without a result row: e.g.
    when a VPC's agents fall silent, nothing was probed. Returns how many changed."""
    at = at or timezone.now()
    with transaction.atomic():
        rows = list(
            schedules.select_for_update()
            .exclude(status=Status.UNKNOWN, diagnosis=diagnosis)
            .order_by("pk")
        )
        flips, endpoints = [], []
        for schedule in rows:
            if schedule.status != Status.UNKNOWN:
                flips.append(
                    StatusChange(
                        endpoint_id=schedule.endpoint_id,
                        location=schedule.location,
                        at=at,
                        status=Status.UNKNOWN,
                        previous=schedule.status,
                        diagnosis=diagnosis,
                    )
                )
                schedule.status_changed_at = at
            schedule.status, schedule.diagnosis, schedule.message = (
                Status.UNKNOWN,
                diagnosis,
                message,
            )
            if schedule.primary:
                endpoints.append(_mirror(Endpoint(pk=schedule.endpoint_id), schedule))
        ProbeSchedule.objects.bulk_update(
            rows, ["status", "diagnosis", "message", "status_changed_at"], batch_size=500
        )
        Endpoint.objects.bulk_update(
            endpoints,
            ["status", "diagnosis", "status_message", "status_changed_at"],
            batch_size=500,
        )
        StatusChange.objects.bulk_create(flips)
    return len(rows)
