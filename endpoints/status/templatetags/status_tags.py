"""Partials the probes app's pages include: `{% board_status %}` at the top of the probe board,
`{% endpoint_history endpoint %}` on an endpoint's page. They load their own data, so the
probes app's views need no change (and stay below this app)."""

import json
from datetime import timedelta

from django import template
from django.db.models import Count, Q, Sum
from django.utils import timezone

from endpoints.network.models import Endpoint
from endpoints.probes.models import ProbeResult
from portal.roles import Perm, has_perm

from .. import charts, probing, uptime
from ..forms import AckForm
from ..models import HourlyRollup, Incident, UptimeSummary

register = template.Library()
OPEN_LIMIT = 50
HEARTBEATS = 60
WINDOWS = ("24h", "7d", "30d")


def _grouped(by: str, endpoints):
    sums = {}
    for w in WINDOWS:
        sums[f"up_{w}"] = Sum(f"up_{w}")
        sums[f"known_{w}"] = Sum(f"known_{w}")
    rows = (
        UptimeSummary.objects.filter(endpoint__in=endpoints)
        .values(by)
        .annotate(n=Count("endpoint"), **sums)
        .order_by(by)
    )
    return [
        {
            "name": row[by] or "— no VPC",
            "n": row["n"],
            **{w: uptime.percent(row[f"up_{w}"] or 0, row[f"known_{w}"] or 0) for w in WINDOWS},
        }
        for row in rows
    ]


@register.inclusion_tag("status/_board_status.html", takes_context=True)
def board_status(context):
    request = context["request"]
    user = request.user
    endpoints = Endpoint.objects.for_user(user)
    incidents = list(
        Incident.objects.for_user(user)
        .open()
        .select_related("endpoint", "vpc", "acknowledged_by")
        .order_by("-status", "opened_at")[:OPEN_LIMIT]
    )
    severity = {"down": 0, "degraded": 1, "unknown": 2}
    incidents.sort(key=lambda i: (severity.get(i.status, 3), i.opened_at))
    open_by_vpc = dict(
        Incident.objects.open()
        .filter(Q(endpoint__vpc__isnull=False) | Q(vpc__isnull=False))
        .values_list("endpoint__vpc__vpc_id")
        .annotate(n=Count("id"))
        .values_list("endpoint__vpc__vpc_id", "n")
    )
    by_vpc = _grouped("endpoint__vpc__vpc_id", endpoints)
    for row in by_vpc:
        row["open"] = open_by_vpc.get(row["name"], 0)
    by_vpc.sort(key=lambda r: (-r["open"], r["24h"] if r["24h"] is not None else 101, r["name"]))
    return {
        "request": request,
        "stopped": probing.stopped(),
        "incidents": incidents,
        "by_vpc": by_vpc[:50],
        "by_region": _grouped("endpoint__region_id", endpoints),
        "can_ack": has_perm(user, Perm.TRIGGER_PROBES),
        "ack_form": AckForm(),
        "csrf_token": context.get("csrf_token"),
    }


@register.inclusion_tag("status/_endpoint_history.html", takes_context=True)
def endpoint_history(context, endpoint):
    request = context["request"]
    chosen = request.GET.get("range", "24h")
    if chosen not in charts.RANGES:
        chosen = "24h"
    now = timezone.now()
    span = charts.RANGES[chosen]
    start = now - span
    timeline = uptime.timelines([endpoint.pk], now - uptime.WINDOWS["90d"], now, now=now).get(
        endpoint.pk
    )
    figures = {
        name: (timeline.percent(now - window, now) if timeline else None)
        for name, window in uptime.WINDOWS.items()
    }
    incidents = list(
        endpoint.incidents.filter(opened_at__lt=now)
        .filter(Q(closed_at__isnull=True) | Q(closed_at__gte=start))
        .order_by("-opened_at")[:20]
    )
    phase_fields = [field for field, _, _ in charts.PHASES]
    if chosen in charts.RAW_RANGES:
        rows = [
            (r[0], dict(zip(phase_fields, r[1:], strict=True)))
            for r in ProbeResult.objects.filter(endpoint=endpoint, started_at__gte=start)
            .order_by("started_at")
            .values_list("started_at", *phase_fields)[:20_000]
        ]
        if len(rows) > charts.MAX_POINTS:
            rows = charts._buckets(rows, start, now, charts.MAX_POINTS)
        beats = list(
            ProbeResult.objects.filter(endpoint=endpoint)
            .order_by("-started_at")
            .values_list("started_at", "status", "diagnosis")[:HEARTBEATS]
        )[::-1]
    else:
        names = [f"{field.removesuffix('_ms')}_p50" for field in phase_fields]
        rollups = list(
            HourlyRollup.objects.filter(endpoint=endpoint, hour__gte=start)
            .order_by("hour", "location")
            .values_list("hour", "up", "degraded", "down", "unknown", *names)
        )
        rows = [(r[0], dict(zip(phase_fields, r[5:], strict=True))) for r in rollups]
        beats = [
            (r[0], "down" if r[3] else "degraded" if r[2] else "up" if r[1] else "unknown", "")
            for r in rollups[-24 * 7 :]
        ]
    chart = charts.history_chart(rows, incidents, span) if rows else None
    return {
        "endpoint": endpoint,
        "range": chosen,
        "ranges": list(charts.RANGES),
        "figures": figures,
        "incidents": incidents,
        "chart": json.dumps(chart) if chart else None,
        "beats": beats,
        "source": "raw results" if chosen in charts.RAW_RANGES else "hourly rollups (p50)",
        "since": start,
        "cutoff": now - timedelta(hours=1),
    }
