"""What the status app does when the probes app speaks (connected in apps.ready)."""

from django.dispatch import receiver

from endpoints.probes.signals import agents_silent, results_recorded

from . import incidents


@receiver(results_recorded, dispatch_uid="status-incidents")
def _results_recorded(sender, changes, **kwargs):
    incidents.on_results(changes)


@receiver(agents_silent, dispatch_uid="status-vpc-incidents")
def _agents_silent(sender, vpc_id, silent, since=None, **kwargs):
    incidents.on_agents_silent(vpc_id, silent, since)
