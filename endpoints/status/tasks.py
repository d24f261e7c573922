"""Periodic housekeeping of the status app (beat, on the dispatcher's queue): rollups, uptime
summaries, the probing watch and pruning of the long-kept history. Each is idempotent and
catches up after downtime."""

import logging
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from endpoints.network.models import Endpoint
from endpoints.probes.models import StatusChange

from . import probing, rollups, uptime
from .models import HourlyRollup, ProbingGap, UptimeSummary

log = logging.getLogger(__name__)


@shared_task(name="endpoints.status.tasks.roll_up", ignore_result=True)
def roll_up():
    return rollups.roll_up()


@shared_task(name="endpoints.status.tasks.watch_probing", ignore_result=True)
def watch_probing():
    return probing.watch()


@shared_task(name="endpoints.status.tasks.refresh_uptime", ignore_result=True)
def refresh_uptime():
    """Recompute every endpoint's uptime summary (24 h, 7 d, 30 d, 90 d), 500 at a time."""
    return refresh_summaries(Endpoint.objects.values_list("pk", flat=True))


def refresh_summaries(endpoint_ids) -> int:
    ids = list(endpoint_ids)
    now = timezone.now()
    done = 0
    for offset in range(0, len(ids), uptime.CHUNK):
        chunk = ids[offset : offset + uptime.CHUNK]
        figures = uptime.figures(chunk, now=now)
        rows = []
        for pk, windows in figures.items():
            fields = {"computed_at": now}
            for name, (up, known) in windows.items():
                fields[f"up_{name}"], fields[f"known_{name}"] = up, known
            rows.append(UptimeSummary(endpoint_id=pk, **fields))
        with transaction.atomic():
            UptimeSummary.objects.filter(endpoint_id__in=chunk).delete()
            UptimeSummary.objects.bulk_create(rows)
        done += len(rows)
    return done


def _prune(queryset, batch=1000, max_batches=10_000) -> int:
    deleted = 0
    for _ in range(max_batches):
        ids = list(queryset.values_list("pk", flat=True)[:batch])
        if not ids:
            break
        deleted += queryset.model.objects.filter(pk__in=ids).delete()[0]
    return deleted


@shared_task(name="endpoints.status.tasks.prune_history", ignore_result=True)
def prune_history():
    """Rollups, status changes and probing gaps older than PORTAL_ROLLUP_RETENTION_DAYS (400),
    in small batches (each its own short transaction)."""
    cutoff = timezone.now() - timedelta(days=settings.PORTAL_ROLLUP_RETENTION_DAYS)
    return (
        _prune(HourlyRollup.objects.filter(hour__lt=cutoff))
        + _prune(StatusChange.objects.filter(at__lt=cutoff))
        + _prune(ProbingGap.objects.filter(ended_at__lt=cutoff))
    )
