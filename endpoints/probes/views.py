"""Ops' view: the probe status board, manual probes with progress."""

import json
import uuid

from django.contrib import messages
from django.db.models import Count
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from endpoints.engine import DIAGNOSES
from endpoints.network import services as network
from endpoints.network.access import get_endpoint_for_user
from endpoints.network.choices import Status
from endpoints.network.models import SEVERITY, Endpoint
from endpoints.network.snippets import snippets_for
from portal.htmx import page_or_fragment, wants_fragment
from portal.roles import Perm, has_perm, require

from . import paths, services
from .charts import STATUS_COLORS, latency_chart
from .models import ProbeRun

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
        "paths": paths.differing_paths(endpoints),
        "silent": paths.silent_locations(endpoints),
    }
    return render(request, page_or_fragment(request, "probes/probe_board.html", "board"), context)


def _current_run(request):
    try:
        run_id = uuid.UUID(request.GET.get("run", ""))
    except ValueError:
        return None
    return ProbeRun.objects.filter(pk=run_id).first()


@require(Perm.TRIGGER_PROBES)
@require_POST
def probe_endpoint(request, pk):
    endpoint = get_endpoint_for_user(request.user, pk)
    run = services.trigger_probe(
        [endpoint.pk], actor=request.user, label=f"probe of {endpoint.name}"
    )
    if wants_fragment(request):
        return render(request, "probes/probe_run.html", {"run": run, "endpoint": endpoint})
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
    run = services.trigger_probe(
        ids, actor=request.user, label=f"probe of all {len(ids)} endpoints"
    )
    if wants_fragment(request):
        return render(request, "probes/probe_run.html", {"run": run})
    return redirect(f"/probes/?run={run.pk}")


@require(Perm.VIEW_ENDPOINTS)
def probe_run(request, run_id):
    """Progress of a manual run (polled by htmx until it finishes)."""
    run = get_object_or_404(ProbeRun, pk=run_id)
    endpoint = None
    if request.GET.get("endpoint"):
        endpoint = get_endpoint_for_user(request.user, request.GET["endpoint"])
    return render(request, "probes/probe_run.html", {"run": run, "endpoint": endpoint})


SNIPPET_LABELS = {
    "curl": "curl",
    "openai_python": "OpenAI SDK",
    "dashscope_python": "DashScope SDK",
    "anthropic_python": "Anthropic SDK",
}


# -- an endpoint's page -----------------------------------------------------------------------------------


@require(Perm.VIEW_ENDPOINTS)
def endpoint_detail(request, pk):
    endpoint = get_endpoint_for_user(request.user, pk)
    results = list(endpoint.probe_results.all()[:120])
    places = list(endpoint.schedules.select_related("vpc", "endpoint"))
    context = {
        "endpoint": endpoint,
        "latest": results[0] if results else None,
        "history": results[:20],
        "timeline": list(reversed(results[:60])),
        "checklist": network.checklist(endpoint),
        "places": places,
        "path_findings": paths.findings_for(places),
        "snippet_tabs": [
            (name, {"label": SNIPPET_LABELS.get(name, name), "text": text})
            for name, text in snippets_for(endpoint).items()
        ],
        "chart": json.dumps(latency_chart(list(reversed(results)))) if results else None,
        "can_probe": has_perm(request.user, Perm.TRIGGER_PROBES),
        "can_manage": has_perm(request.user, Perm.MANAGE_ENDPOINTS),
    }
    return render(
        request, page_or_fragment(request, "probes/endpoint_detail.html", "probe-panel"), context
    )
