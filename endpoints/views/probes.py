"""Ops' view: the probe status board, manual probes with progress."""

import json
import math
import uuid

from django.conf import settings
from django.contrib import messages
from django.db import transaction
from django.db.models import Count
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from portal import audit
from portal.htmx import page_or_fragment, wants_fragment
from portal.roles import Perm, has_perm, require

from .. import probe_runner
from ..access import get_endpoint_for_user
from ..choices import Status
from ..models import Endpoint, ProbeRun
from ..models.network import SEVERITY
from ..probing import DIAGNOSES
from ..tasks import fan_out
from .charts import STATUS_COLORS

ATTENTION_LIMIT = 200


@require(Perm.VIEW_ENDPOINTS)
def probe_board(request):
    endpoints = Endpoint.objects.for_user(request.user)
    counts = {
        row["status"]: row["n"]
        for row in endpoints.values("status").annotate(n=Count("id")).order_by()
    }
    by_diagnosis = list(
        endpoints.exclude(status=Status.UP)
        .exclude(diagnosis="")
        .values("diagnosis", "status")
        .annotate(n=Count("id"))
        .order_by("-n")
    )
    attention = (
        endpoints.filter(status__in=[Status.DOWN, Status.DEGRADED, Status.UNKNOWN], enabled=True)
        .exclude(status=Status.UNKNOWN, last_probe_at__isnull=True)
        .select_related("region", "vpc", "workspace")
        .annotate(severity=SEVERITY)
        .order_by("-severity", "-status_changed_at")[:ATTENTION_LIMIT]
    )
    never = endpoints.filter(last_probe_at__isnull=True, enabled=True).count()
    recent = (
        endpoints.exclude(status_changed_at=None)
        .select_related("region")
        .order_by("-status_changed_at")[:10]
    )
    chart = {
        "type": "doughnut",
        "data": {
            "labels": [s.label for s in Status],
            "datasets": [
                {
                    "data": [counts.get(s.value, 0) for s in Status],
                    "backgroundColor": [STATUS_COLORS[s.value] for s in Status],
                }
            ],
        },
        "options": {"plugins": {"legend": {"position": "right"}}, "cutout": "60%"},
    }
    context = {
        "counts": {s.value: counts.get(s.value, 0) for s in Status},
        "total": sum(counts.values()),
        "attention": attention,
        "by_diagnosis": [
            {**row, "fix": DIAGNOSES.get(row["diagnosis"], ("", ""))[1]} for row in by_diagnosis
        ],
        "recent": recent,
        "never_probed": never,
        "chart": json.dumps(chart),
        "can_probe": has_perm(request.user, Perm.TRIGGER_PROBES),
        "run": _current_run(request),
    }
    return render(
        request, page_or_fragment(request, "endpoints/probe_board.html", "board"), context
    )


def _current_run(request):
    try:
        run_id = uuid.UUID(request.GET.get("run", ""))
    except ValueError:
        return None
    return ProbeRun.objects.filter(pk=run_id).first()


def _start(request, endpoint_ids, label):
    run = probe_runner.start_run(endpoint_ids, request.user)

    # Someone is watching the progress bar: smaller batches move it in about ten steps.
    batch_size = max(1, min(settings.PORTAL_PROBE_BATCH_SIZE, math.ceil(len(endpoint_ids) / 10)))

    def queue():
        if fan_out(endpoint_ids, run_id=str(run.pk), source="manual", batch_size=batch_size):
            ProbeRun.objects.filter(pk=run.pk).update(total=0)

    transaction.on_commit(queue)
    audit.record(request.user, "probe", run, label=label)
    return run


@require(Perm.TRIGGER_PROBES)
@require_POST
def probe_endpoint(request, pk):
    endpoint = get_endpoint_for_user(request.user, pk)
    run = _start(request, [endpoint.pk], f"probe of {endpoint.name}")
    if wants_fragment(request):
        return render(request, "endpoints/probe_run.html", {"run": run, "endpoint": endpoint})
    messages.info(request, f"Probing {endpoint.name}…")
    return redirect(endpoint)


@require(Perm.TRIGGER_PROBES)
@require_POST
def probe_all(request):
    ids = list(
        Endpoint.objects.for_user(request.user).filter(enabled=True).values_list("pk", flat=True)
    )
    if not ids:
        messages.info(request, "No enabled endpoint to probe.")
        return redirect("probe-board")
    run = _start(request, ids, f"probe of all {len(ids)} endpoints")
    if wants_fragment(request):
        return render(request, "endpoints/probe_run.html", {"run": run})
    return redirect(f"/probes/?run={run.pk}")


@require(Perm.VIEW_ENDPOINTS)
def probe_run(request, run_id):
    """Progress of a manual run (polled by htmx until it finishes)."""
    run = get_object_or_404(ProbeRun, pk=run_id)
    endpoint = None
    if request.GET.get("endpoint"):
        endpoint = get_endpoint_for_user(request.user, request.GET["endpoint"])
    return render(request, "endpoints/probe_run.html", {"run": run, "endpoint": endpoint})
