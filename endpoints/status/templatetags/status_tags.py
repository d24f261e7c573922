"""Partials the probes app's pages include: `{% board_status %}` at the top of the probe board,
`{% endpoint_history endpoint %}` on an endpoint's page. They load their own data, so the
probes app's views need no change (and stay below this app)."""

import json
from datetime import timedelta

from django import template
from django.db.models import Case, Count, Q, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from endpoints.network.choices import Status
from endpoints.network.models import Endpoint
from endpoints.probes.models import ProbeResult
from portal.roles import Perm, has_perm

from .. import charts, probing, uptime
from ..forms import AckForm
from ..models import HourlyRollup, Incident

register = template.Library()
OPEN_LIMIT = 50
VPC_LIMIT = 50
HEARTBEATS = 60
WINDOWS = tuple(uptime.WINDOWS)  # 24h, 7d, 30d, 90d
# Worst first: a down endpoint before a degraded one, before a VPC nobody probes.
SEVERITY = Case(
    When(status=Status.DOWN, then=Value(0)),
    When(status=Status.DEGRADED, then=Value(1)),
    When(status=Status.UNKNOWN, then=Value(2)),
    default=Value(3),
)


def open_incidents(user, limit=OPEN_LIMIT):
    """(the worst `limit` open incidents, how many are open): ordered by severity in the
    database, so the cut keeps every down one before any degraded one; the count is all."""
    queryset = Incident.objects.for_user(user).open()
    shown = list(
        queryset.select_related("endpoint", "vpc", "acknowledged_by")
        .annotate(severity=SEVERITY)
        .order_by("severity", "opened_at", "pk")[:limit]
    )
    return shown, (len(shown) if len(shown) < limit else queryset.count())


def open_by_vpc(user) -> dict:
    """Open incidents per VPC id: an endpoint's (its VPC) and a VPC's own ("no agent": no
    endpoint, the VPC set), in one grouped query."""
    key = Coalesce("vpc__vpc_id", "endpoint__vpc__vpc_id")
    return dict(
        Incident.objects.for_user(user)
        .open()
        .annotate(key=key)
        .order_by()
        .values("key")
        .annotate(n=Count("id"))
        .values_list("key", "n")
    )


def vpc_rows(user, endpoints) -> list[dict]:
    rows = uptime.by_group(endpoints, "vpc__vpc_id")
    incidents = open_by_vpc(user)
    seen = {row["key"] for row in rows}
    for key in incidents.keys() - seen:  # a VPC with an incident and no endpoint to show
        rows.append({"key": key, "n": 0, **dict.fromkeys(WINDOWS)})
    for row in rows:
        row["name"] = row["key"] or "— no VPC"
        row["open"] = incidents.get(row["key"], 0)
    rows.sort(key=lambda r: (-r["open"], r["24h"] if r["24h"] is not None else 101, r["name"]))
    return rows


@register.inclusion_tag("status/_board_status.html", takes_context=True)
def board_status(context):
    request = context["request"]
    user = request.user
    endpoints = Endpoint.objects.for_user(user)
    incidents, open_count = open_incidents(user)
    by_vpc = vpc_rows(user, endpoints)
    by_region = uptime.by_group(endpoints, "region_id")
    for row in by_region:
        row["name"] = row["key"] or "—"
    return {
        "request": request,
        "stopped": probing.stopped(),
        "incidents": incidents,
        "open_count": open_count,
        "by_vpc": by_vpc[:VPC_LIMIT],
        "vpc_count": len(by_vpc),
        "by_region": by_region,
        "windows": WINDOWS,
        "can_ack": has_perm(user, Perm.TRIGGER_PROBES),
        "ack_form": AckForm(),
        "csrf_token": context.get("csrf_token"),
    }


@register.inclusion_tag("status/_uptime_card.html", takes_context=True)
def uptime_card(context, vpc=None, workspace=None):
    """A VPC's or a workspace's time-weighted uptime over 24 h, 7 d, 30 d and 90 d: its
    endpoints' summaries added up (one query), and for a workspace its monthly SLA report."""
    endpoints = Endpoint.objects.filter(vpc=vpc) if vpc is not None else Endpoint.objects.none()
    if workspace is not None:
        endpoints = Endpoint.objects.filter(workspace=workspace)
    return {
        "figures": uptime.of_endpoints(endpoints),
        "windows": WINDOWS,
        "what": "this VPC's endpoints" if vpc is not None else "the endpoints using its key",
        "workspace": workspace,
        "month": timezone.now(),
        "request": context.get("request"),
    }


@register.filter
def window(row, name):
    """A row's figure for a window held in a variable: {{ row|window:name }}."""
    return row.get(name)


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
