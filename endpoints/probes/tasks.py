"""Celery tasks: thin wrappers that take ids, re-fetch, and call the dispatcher or the runner.

One periodic dispatcher (run by exactly one beat) claims due endpoints and fans out
batches. A batch lost with a dying worker is redelivered (acks_late); a batch that
never got queued is released and picked up by the next dispatch.
"""

import logging
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from . import dispatch, runner
from .models import ProbeResult

log = logging.getLogger(__name__)


def chunks(items, size):
    for start in range(0, len(items), size):
        yield items[start : start + size]


def fan_out(endpoint_ids, run_id=None, source="schedule", batch_size=None) -> int:
    """Queue probe batches; returns how many endpoints could not be queued."""
    batches = list(chunks(list(endpoint_ids), batch_size or settings.PORTAL_PROBE_BATCH_SIZE))
    for index, batch in enumerate(batches):
        try:
            probe_endpoints.apply_async(
                args=[batch],
                kwargs={"run_id": run_id, "source": source},
                expires=None if run_id else settings.PORTAL_PROBE_TASK_EXPIRES_S,
            )
        except Exception:  # the broker is down: give the rest back, the next dispatch retries
            rest = [pk for b in batches[index:] for pk in b]
            dispatch.release(rest)
            log.warning(
                "Could not queue %d probe(s); released for the next dispatch.",
                len(rest),
                exc_info=True,
            )
            return len(rest)
    return 0


@shared_task(name="endpoints.probes.tasks.enqueue_due_probes", ignore_result=True)
def enqueue_due_probes():
    claimed = dispatch.claim_due()
    if claimed:
        fan_out(claimed)
    return len(claimed)


@shared_task(name="endpoints.probes.tasks.probe_endpoints", ignore_result=True, acks_late=True)
def probe_endpoints(endpoint_ids, run_id=None, source="schedule"):
    rows = runner.run_probes(endpoint_ids, run_id=run_id, source=source)
    return len(rows)


@shared_task(name="endpoints.probes.tasks.prune_probe_results", ignore_result=True)
def prune_probe_results():
    """Keep PORTAL_PROBE_RETENTION_DAYS of results, deleting in batches to keep locks short."""
    cutoff = timezone.now() - timedelta(days=settings.PORTAL_PROBE_RETENTION_DAYS)
    deleted = 0
    while True:
        ids = list(
            ProbeResult.objects.filter(started_at__lt=cutoff).values_list("pk", flat=True)[:5000]
        )
        if not ids:
            return deleted
        deleted += ProbeResult.objects.filter(pk__in=ids).delete()[0]
