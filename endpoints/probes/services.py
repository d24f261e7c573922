"""Writes about probing that people start: a probe now, of one endpoint or many."""

import math

from django.conf import settings
from django.db import transaction

from portal.audit import trail

from .models import ProbeRun
from .tasks import fan_out

NOT_QUEUED = (
    "The probe could not be queued: the task broker (Redis) did not answer. Nothing was "
    "probed; try again once the broker is back."
)


def trigger_probe(endpoint_ids, *, actor, label: str, source: str = "web") -> ProbeRun:
    """Queue a probe of `endpoint_ids` now; the returned run shows its progress.

    The batches are queued once the run is committed. When the broker cannot take them, the
    run is marked failed at once (with the reason) instead of waiting forever.
    """
    endpoint_ids = list(endpoint_ids)
    # Someone is watching the progress bar: smaller batches move it in about ten steps.
    batch_size = max(1, min(settings.PORTAL_PROBE_BATCH_SIZE, math.ceil(len(endpoint_ids) / 10)))
    with transaction.atomic():
        run = ProbeRun.objects.create(requested_by=actor, total=len(endpoint_ids))
        trail.record(actor, trail.Action.PROBE, run, label=label, source=source)

        def queue():
            if fan_out(endpoint_ids, run_id=str(run.pk), source="manual", batch_size=batch_size):
                run.fail(NOT_QUEUED)

        transaction.on_commit(queue)
    return run
