"""GET /metrics: Prometheus text, with blackbox_exporter's metric names so existing Grafana
dashboards work, plus the portal's own.

Only with `Authorization: Bearer <PORTAL_METRICS_TOKEN>` (401 otherwise); the route answers
404 while the variable is unset. One scrape reads three queries whatever the number of
endpoints: the schedules (one series per endpoint and location), their latest results (by
id), and the open incidents.
"""

import hmac
from collections import Counter

from django.conf import settings
from django.db.models import OuterRef, Subquery
from django.http import Http404, HttpResponse
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.utils import floatToGoString

from endpoints.agents.models import Agent
from endpoints.network.choices import Status
from endpoints.probes.models import ProbeResult, ProbeSchedule

from .models import Incident

LABELS = ["endpoint", "vpc", "region", "kind", "location"]
PHASES = ("resolve", "connect", "tls", "processing", "transfer")
STATUSES = [s.value for s in Status]
AVAILABLE = {Status.UP, Status.DEGRADED}


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


class Family:
    """One metric family written straight to text, in prometheus_client's exposition format
    (its float formatting, sorted and escaped labels): generate_latest costs ~14 µs a sample,
    too slow for the ~120,000 per-endpoint samples of 10,000 endpoints."""

    def __init__(self, name: str, documentation: str):
        self.name = name
        self.lines = [f"# HELP {name} {documentation}\n# TYPE {name} gauge\n"]

    def add(self, labels: str, value: float) -> None:
        self.lines.append(f"{self.name}{{{labels}}} {floatToGoString(value)}\n")

    def add_text(self, labels: str, value: str) -> None:
        """A sample whose value is already formatted."""
        self.lines.append(f"{self.name}{{{labels}}} {value}\n")

    def text(self) -> str:
        return "".join(self.lines)


def endpoint_families() -> str:
    latest = ProbeResult.objects.filter(
        endpoint_id=OuterRef("endpoint_id"),
        location=OuterRef("location"),
        started_at=OuterRef("last_probe_at"),
    ).values("pk")[:1]
    schedules = list(
        ProbeSchedule.objects.filter(endpoint__enabled=True)
        .annotate(latest=Subquery(latest))
        .values_list(
            "endpoint_id",
            "endpoint__name",
            "endpoint__vpc__vpc_id",
            "endpoint__region_id",
            "endpoint__kind",
            "location",
            "status",
            "latest",
        )
    )
    results = {
        row[0]: row[1:]
        for row in ProbeResult.objects.filter(pk__in=[s[7] for s in schedules if s[7]]).values_list(
            "pk",
            *(f"{p}_ms" for p in PHASES),
            "total_ms",
            "http_status",
            "tls_days_left",
            "started_at",
        )
    }
    names = Counter(s[1] for s in schedules)
    success = Family("probe_success", "1 if the last probe succeeded (up or degraded)")
    duration = Family("probe_duration_seconds", "Duration of the last probe")
    phases = Family("probe_http_duration_seconds", "Duration of each phase of the last probe")
    status_code = Family("probe_http_status_code", "HTTP status of the last probe (0: none)")
    expiry = Family(
        "probe_ssl_earliest_cert_expiry",
        "When the certificate expires (unix time; the portal keeps whole days left)",
    )
    state = Family("portal_endpoint_status", "1 for the endpoint's current status")
    one, zero = floatToGoString(1.0), floatToGoString(0.0)
    for endpoint_id, name, vpc, region, kind, location, status, latest_id in schedules:
        # The labels sorted by name, as prometheus_client writes them: endpoint, kind,
        # location, [phase,] region, [status,] vpc; each value escaped once.
        label = name if names[name] == 1 else f"{name} #{endpoint_id}"
        head = (
            f'endpoint="{_escape(label)}",kind="{_escape(str(kind))}",'
            f'location="{_escape(str(location))}"'
        )
        region_label = f'region="{_escape(str(region))}"'
        vpc_label = f'vpc="{_escape(vpc or "")}"'
        labels = f"{head},{region_label},{vpc_label}"
        success.add_text(labels, one if status in AVAILABLE else zero)
        for value in STATUSES:
            state.add_text(
                f'{head},{region_label},status="{value}",{vpc_label}',
                one if value == status else zero,
            )
        result = results.get(latest_id)
        if result is None:
            continue
        *phase_ms, total_ms, http_status, days_left, started_at = result
        if total_ms is not None:
            duration.add(labels, total_ms / 1000)
        for phase, ms in zip(PHASES, phase_ms, strict=True):
            phases.add(f'{head},phase="{phase}",{region_label},{vpc_label}', (ms or 0.0) / 1000)
        status_code.add(labels, float(http_status or 0))
        if days_left is not None:
            expiry.add(labels, started_at.timestamp() + days_left * 86400)
    return "".join(f.text() for f in (success, duration, phases, status_code, expiry, state))


class PortalCollector:
    """The small families, through prometheus_client's own registry."""

    def collect(self):
        open_incidents = GaugeMetricFamily(
            "portal_incidents_open", "Open incidents, by status", labels=["status"]
        )
        counts = Counter(Incident.objects.open().values_list("status", flat=True))
        for value in STATUSES:
            open_incidents.add_metric([value], float(counts.get(value, 0)))
        yield open_incidents

        agents = GaugeMetricFamily(
            "portal_agent_last_seen_timestamp_seconds",
            "When each probe agent was last heard from (unix time; 0: never)",
            labels=["vpc", "location", "agent"],
        )
        for name, vpc_id, seen in Agent.objects.active().values_list(
            "name", "vpc__vpc_id", "last_seen_at"
        ):
            agents.add_metric([vpc_id, vpc_id, name], seen.timestamp() if seen else 0.0)
        yield agents


def render() -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(PortalCollector())
    return endpoint_families().encode() + generate_latest(registry)


def metrics_view(request):
    token = settings.PORTAL_METRICS_TOKEN
    if not token:
        raise Http404
    given = request.headers.get("Authorization", "")
    scheme, _, value = given.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        value.strip().encode(), token.encode()
    ):
        response = HttpResponse(
            "Missing or wrong bearer token.\n", status=401, content_type="text/plain"
        )
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(render(), content_type=CONTENT_TYPE_LATEST)
