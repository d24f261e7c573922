"""The demo's past: 90 days of status changes, hourly rollups and closed incidents (one of them
acknowledged), so the uptime figures, the latency charts and the incident list have
something to show the minute `make run` starts. Generated, not probed: every incident says
"(demo history)" in its message, and the raw results only begin when the live probes do.
"""

import math
import random
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from endpoints.network.models import Endpoint
from endpoints.probes.models import ProbeSchedule, StatusChange
from endpoints.status.models import HourlyRollup, Incident, IncidentEvent, Watermark
from endpoints.status.rollups import WATERMARK, floor_hour

DAYS = 90
LABEL = "(demo history)"
HOUR = timedelta(hours=1)
# What went wrong in the past, by kind of endpoint: plausible troubles, rarely.
TROUBLES = {
    "privatelink_default": [("down", "tcp_timeout"), ("degraded", "zone_unreachable")],
    "privatelink_custom": [("down", "tls_error"), ("degraded", "private_dns_cname_mismatch")],
    "cross_region": [("down", "tcp_timeout"), ("degraded", "slow")],
    "finance_privatelink": [("down", "tcp_refused")],
    "public": [("degraded", "rate_limited"), ("down", "upstream_error")],
    "eas_public": [("down", "upstream_error")],
    "eas_vpc": [("down", "upstream_error"), ("degraded", "slow")],
}
MESSAGES = {
    "tcp_timeout": "No TCP answer within 5 s: the security group dropped 80/443",
    "zone_unreachable": "1 of 2 endpoint addresses failed: no zone failover",
    "tls_error": "The certificate was not trusted",
    "private_dns_cname_mismatch": "The Private DNS CNAME pointed at an old endpoint",
    "slow": "Took over the endpoint's threshold",
    "tcp_refused": "Connection refused",
    "rate_limited": "Throttled (429 limit_requests)",
    "upstream_error": "Model Studio answered 503 ModelUnavailable",
}


def _episodes(rng: random.Random, endpoint, start, end):
    """(from, to, status, diagnosis) of each bad stretch, a few per month, 5 min to 2 h."""
    troubles = TROUBLES.get(endpoint.kind, [("down", "upstream_error")])
    found, moment = [], start + timedelta(hours=rng.uniform(6, 72))
    while moment < end - timedelta(hours=3):
        status, diagnosis = rng.choice(troubles)
        length = timedelta(minutes=rng.choice([6, 12, 20, 35, 60, 110]))
        found.append((moment, min(moment + length, end), status, diagnosis))
        moment += length + timedelta(days=rng.uniform(6, 24))
    return found


def _rollup(endpoint, location, hour, episodes, rng) -> HourlyRollup:
    per_hour = max(1, round(3600 / endpoint.interval_s))
    bad = {"down": 0, "degraded": 0}
    for begin, finish, status, _ in episodes:
        overlap = (min(finish, hour + HOUR) - max(begin, hour)).total_seconds()
        if overlap > 0:
            bad[status] += round(per_hour * overlap / 3600)
    up = max(0, per_hour - bad["down"] - bad["degraded"])
    # Latency with a day's rhythm (busier in the Beijing afternoon) and a little noise.
    base = 20 + (endpoint.pk * 37) % 90
    daily = 1 + 0.35 * math.sin((hour.hour - 2) / 24 * 2 * math.pi)
    total = base * daily * rng.uniform(0.9, 1.1)
    https = endpoint.url.startswith("https")
    split = {"resolve": 0.04, "connect": 0.06, "tls": 0.12 if https else 0.0, "transfer": 0.05}
    split["processing"] = 1 - sum(split.values())
    fields = {"total_p50": total, "total_p95": total * 1.7, "total_p99": total * 2.6}
    for phase, share in split.items():
        p50 = total * share if share else None
        fields[f"{phase}_p50"] = p50
        fields[f"{phase}_p95"] = p50 * 1.7 if p50 else None
        fields[f"{phase}_p99"] = p50 * 2.6 if p50 else None
    return HourlyRollup(
        endpoint=endpoint,
        location=location,
        hour=hour,
        up=up,
        degraded=bad["degraded"],
        down=bad["down"],
        **{k: round(v, 2) if v is not None else None for k, v in fields.items()},
    )


@transaction.atomic
def seed_history(acknowledger=None, now=None, days: int = DAYS) -> int:
    """Write the past of every endpoint (once: nothing if history exists); returns how many
    incidents the past holds."""
    if StatusChange.objects.exists() or HourlyRollup.objects.exists():
        return 0
    now = now or timezone.now()
    end = floor_hour(now)
    start = end - timedelta(days=days)
    places = dict(ProbeSchedule.objects.filter(primary=True).values_list("endpoint_id", "location"))
    rng = random.Random(2026)
    flips, rollups, incidents = [], [], []
    for endpoint in Endpoint.objects.order_by("pk"):
        location = places.get(endpoint.pk, "central")
        episodes = _episodes(rng, endpoint, start, end)
        flips.append(
            StatusChange(
                endpoint=endpoint, location=location, at=start, status="up", previous="unknown"
            )
        )
        for begin, finish, status, diagnosis in episodes:
            flips += [
                StatusChange(
                    endpoint=endpoint,
                    location=location,
                    at=begin,
                    status=status,
                    previous="up",
                    diagnosis=diagnosis,
                ),
                StatusChange(
                    endpoint=endpoint,
                    location=location,
                    at=finish,
                    status="up",
                    previous=status,
                    diagnosis="ok",
                ),
            ]
            if finish - begin >= timedelta(seconds=2 * endpoint.interval_s):
                incidents.append((endpoint, location, begin, finish, status, diagnosis))
        hour = start
        while hour < end:
            rollups.append(_rollup(endpoint, location, hour, episodes, rng))
            hour += HOUR
    StatusChange.objects.bulk_create(flips, batch_size=2000)
    HourlyRollup.objects.bulk_create(rollups, batch_size=2000)
    # The live rollups start where the past ends (the hours before are the demo's).
    Watermark.objects.update_or_create(pk=WATERMARK, defaults={"until": end})
    latest = max(incidents, key=lambda i: i[2]) if incidents else None
    for endpoint, location, begin, finish, status, diagnosis in incidents:
        opened = begin + timedelta(seconds=2 * endpoint.interval_s)
        incident = Incident.objects.create(
            endpoint=endpoint,
            location=location,
            status=status,
            diagnosis=diagnosis,
            message=f"{MESSAGES.get(diagnosis, diagnosis)} {LABEL}",
            opened_at=opened,
            closed_at=finish,
            results_total=round((finish - begin).total_seconds() / endpoint.interval_s) + 1,
            results_bad=round((finish - begin).total_seconds() / endpoint.interval_s),
            last_result_at=finish,
        )
        events = [
            IncidentEvent(incident=incident, kind="opened", at=opened, status=status,
                          diagnosis=diagnosis, message=incident.message),
            IncidentEvent(incident=incident, kind="closed", at=finish, status="up",
                          diagnosis="ok", message=f"Up again {LABEL}"),
        ]  # fmt: skip
        if latest is not None and (endpoint, begin) == (latest[0], latest[2]) and acknowledger:
            acked = opened + timedelta(minutes=3)
            incident.acknowledged_at, incident.acknowledged_by = acked, acknowledger
            incident.note = (
                "Security group rule for 443 went missing in the change window; re-added. " + LABEL
            )
            incident.save(update_fields=["acknowledged_at", "acknowledged_by", "note"])
            events.insert(
                1,
                IncidentEvent(
                    incident=incident,
                    kind="acknowledged",
                    at=acked,
                    actor=acknowledger,
                    note=incident.note,
                ),
            )
        IncidentEvent.objects.bulk_create(events)
    return len(incidents)
