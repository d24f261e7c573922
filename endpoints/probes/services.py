"""Writes about probing that people start: a probe now, of one endpoint or many."""

import math

from django.conf import settings
from django.db import transaction

from portal.audit import trail

from . import dispatch
from .models import CENTRAL, ProbeRun, ProbeSchedule
from .tasks import fan_out

NOT_QUEUED = (
    "The probe could not be queued: the task broker (Redis) did not answer. Nothing was "
    "probed; try again once the broker is back."
)


def trigger_probe(endpoint_ids, *, actor, label: str, source: str = "web") -> ProbeRun:
    """Probe `endpoint_ids` now, from every place they are probed from; the returned run
    shows the progress.

    Central schedules are leased and queued once the run is committed (when the broker
    cannot take them, the run is marked failed at once, with the reason, instead of waiting
    forever); schedules probed by agents are made due now, for the agents' next lease.
    """
    schedules = ProbeSchedule.objects.filter(endpoint_id__in=list(endpoint_ids))
    with transaction.atomic():
        run = ProbeRun.objects.create(requested_by=actor, total=schedules.count())
        trail.record(actor, trail.Action.PROBE, run, label=label, source=source)
        schedules.reprobe_soon(run=run)
        central = list(schedules.filter(location=CENTRAL).values_list("pk", flat=True))
        if not run.total:
            run.finish()

        def queue():
            if not central:
                return
            token, claimed = dispatch.claim(
                ProbeSchedule.objects.filter(pk__in=central), limit=len(central)
            )
            # Someone is watching the progress bar: smaller batches move it in about ten steps.
            size = max(1, min(settings.PORTAL_PROBE_BATCH_SIZE, math.ceil(len(claimed) / 10)))
            if fan_out(token, claimed, run_id=str(run.pk), source="manual", batch_size=size):
                run.fail(NOT_QUEUED)

        transaction.on_commit(queue)
    return run
