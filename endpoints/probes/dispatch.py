"""The dispatcher's part: which schedules are due, taken on a lease so that no two
dispatchers, workers or agents probe one slot twice.

A claim is one conditional UPDATE: a row is taken only if it is still due and not leased,
whoever else asks at the same moment. The lease runs until the slot plus
PORTAL_PROBE_LEASE_S: a prober that dies leaves it to run out, and the row is due again.
The dispatcher looks a little ahead (a dispatch period), so a worker holds each probe
until its slot and an endpoint is probed on time, not at the next dispatch tick.
"""

import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import DateTimeField, ExpressionWrapper, F, Value
from django.db.models.functions import Greatest
from django.utils import timezone

from .models import CENTRAL, ProbeSchedule


def lease_period() -> timedelta:
    return timedelta(seconds=settings.PORTAL_PROBE_LEASE_S)


def claim(
    queryset, *, limit: int, until: datetime | None = None, leased_by: str = "worker"
) -> tuple[uuid.UUID, list[tuple[int, datetime]]]:
    """Lease up to `limit` due rows of `queryset` (due by `until`, default now), oldest first.

    Returns the lease token and the (schedule id, slot) pairs taken; concurrent callers never
    take the same row."""
    now = timezone.now()
    until = until or now
    candidates = list(
        queryset.due(until).order_by("next_probe_at").values_list("pk", flat=True)[:limit]
    )
    token = uuid.uuid4()
    if not candidates:
        return token, []
    # Leased until the slot plus the lease period, counted from now for a slot already past.
    lease_until = ExpressionWrapper(
        Greatest(F("next_probe_at"), Value(now)) + lease_period(), output_field=DateTimeField()
    )
    ProbeSchedule.objects.filter(pk__in=candidates).due(until).update(
        lease_token=token, lease_until=lease_until, leased_by=leased_by
    )
    taken = list(
        ProbeSchedule.objects.filter(lease_token=token)
        .order_by("next_probe_at")
        .values_list("pk", "next_probe_at")
    )
    return token, taken


def claim_central(limit: int = 10_000) -> tuple[uuid.UUID, list[tuple[int, datetime]]]:
    """The central workers' share: due within the next dispatch period (the worker waits for
    each slot), at the central location."""
    lookahead = timedelta(seconds=settings.PORTAL_DISPATCH_EVERY_S + 1)
    return claim(
        ProbeSchedule.objects.filter(location=CENTRAL),
        limit=limit,
        until=timezone.now() + lookahead,
    )


def release(token, schedule_ids=None) -> int:
    """Give leased rows back at once (their probes could not be queued): due again now."""
    rows = ProbeSchedule.objects.filter(lease_token=token)
    if schedule_ids is not None:
        rows = rows.filter(pk__in=list(schedule_ids))
    return rows.update(lease_token=None, lease_until=None, leased_by="")
