"""What the status app does when the probes app speaks (connected in apps.ready)."""

from django.dispatch import receiver

from endpoints.network.signals import describe_endpoints
from endpoints.probes.signals import agents_silent, results_recorded

from . import incidents
from .models import UptimeSummary


@receiver(results_recorded, dispatch_uid="status-incidents")
def _results_recorded(sender, changes, **kwargs):
    incidents.on_results(changes)


@receiver(agents_silent, dispatch_uid="status-vpc-incidents")
def _agents_silent(sender, vpc_id, silent, since=None, **kwargs):
    incidents.on_agents_silent(vpc_id, silent, since)


@receiver(describe_endpoints, dispatch_uid="status-uptime-fields")
def _describe_endpoints(sender, endpoint_ids, **kwargs):
    """uptime_24h/7d/30d of a page of endpoints, from their summaries (one query)."""
    return {
        summary.endpoint_id: {
            "uptime_24h": summary.percent("24h"),
            "uptime_7d": summary.percent("7d"),
            "uptime_30d": summary.percent("30d"),
        }
        for summary in UptimeSummary.objects.filter(endpoint_id__in=list(endpoint_ids))
    }
