"""Celery tasks: thin wrappers that take ids, re-fetch, and call the dispatcher or the runner.

The dispatcher (`enqueue_due_probes`, run by exactly one beat on a queue of its own so it
never waits behind probes) leases the central schedules due within the next dispatch
period and fans them out in batches. A worker's `probe_schedules` hands its batch to the
process's prober and returns as soon as there is room: probes are recorded as each ends.

Nothing is lost: a batch that could not be queued is released at once; a batch lost with
its worker leaves leases that run out (PORTAL_PROBE_LEASE_S), and the schedules are leased
again by the next dispatch; a batch delivered late or twice finds its leases gone and
probes nothing twice.
"""

import logging
import time
from datetime import timedelta

from celery import shared_task
from celery.signals import worker_process_shutdown, worker_shutdown
from django.conf import settings
from django.utils import timezone

from . import dispatch, schedules
from .models import ProbeResult

log = logging.getLogger(__name__)
_last_sync = 0.0


def chunks(items, size):
    for start in range(0, len(items), size):
        yield items[start : start + size]


def fan_out(token, claimed, *, run_id=None, source="schedule", batch_size=None) -> int:
    """Queue the leased (schedule id, slot) pairs in batches; returns how many could not be
    queued (those are released at once, for the next dispatch)."""
    batches = list(chunks(list(claimed), batch_size or settings.PORTAL_PROBE_BATCH_SIZE))
    for index, batch in enumerate(batches):
        try:
            probe_schedules.apply_async(
                args=[[pk for pk, _ in batch], str(token)],
                kwargs={"run_id": run_id, "source": source},
                # Past its lease a batch is stale: the schedules are someone else's by then.
                expires=settings.PORTAL_PROBE_LEASE_S,
                queue=settings.CELERY_TASK_DEFAULT_QUEUE,
            )
        except Exception:  # the broker is down: give the rest back, the next dispatch retries
            rest = [pk for b in batches[index:] for pk, _ in b]
            dispatch.release(token, rest)
            log.warning(
                "Could not queue %d probe(s): the broker did not answer (%s); released for "
                "the next dispatch.",
                len(rest),
                settings.CELERY_BROKER_URL.split("@")[-1],
                exc_info=log.isEnabledFor(logging.DEBUG),
            )
            return len(rest)
    return 0


@shared_task(name="endpoints.probes.tasks.enqueue_due_probes", ignore_result=True)
def enqueue_due_probes():
    """Lease the central schedules due soon and queue them; plan endpoints that lack one."""
    global _last_sync
    if time.monotonic() - _last_sync > 60:
        _last_sync = time.monotonic()
        try:
            schedules.sync_missing()
        except Exception:  # planning is a safety net: it must never stop the dispatch
            log.exception("Planning the schedules of new endpoints failed; dispatching anyway.")
    token, claimed = dispatch.claim_central()
    if claimed:
        fan_out(token, claimed)
    return len(claimed)


@shared_task(name="endpoints.probes.tasks.probe_schedules", ignore_result=True)
def probe_schedules(schedule_ids, token, run_id=None, source="schedule"):
    """Hand a leased batch to this process's prober (blocks only while the prober is full)."""
    from . import runner
    from .prober import get_prober

    works = runner.work_for(schedule_ids, token, run_id=run_id, source=source)
    if works:
        get_prober().submit(works)
    return len(works)


@worker_process_shutdown.connect
@worker_shutdown.connect
def _finish_probing(**kwargs):
    from .prober import shutdown_prober

    shutdown_prober()


@shared_task(name="endpoints.probes.tasks.prune_probe_results", ignore_result=True)
def prune_probe_results(batch: int = 1000, max_batches: int = 10_000):
    """Keep PORTAL_PROBE_RETENTION_HOURS (48) of raw results (the status app keeps hourly
    rollups and every status change far longer). Deletes `batch` rows per statement, each in
    a transaction of its own (autocommit), oldest first by the started_at index: no long lock,
    and probing writes on meanwhile."""
    cutoff = timezone.now() - timedelta(hours=settings.PORTAL_PROBE_RETENTION_HOURS)
    deleted = 0
    for _ in range(max_batches):
        ids = list(
            ProbeResult.objects.filter(started_at__lt=cutoff)
            .order_by("started_at")
            .values_list("pk", flat=True)[:batch]
        )
        if not ids:
            break
        deleted += ProbeResult.objects.filter(pk__in=ids).delete()[0]
    return deleted
