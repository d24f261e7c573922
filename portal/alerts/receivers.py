"""The alerts app listens to the status app (incident events) and the costs app (budgets):
both send signals, so neither imports this app."""

import logging

from django.dispatch import receiver

from endpoints.status.signals import incident_events
from portal.costs.signals import budget_threshold_crossed

from . import services

log = logging.getLogger(__name__)


@receiver(incident_events, dispatch_uid="alerts-incident-events")
def _incident_events(sender, events, **kwargs):
    services.notify(events)


@receiver(budget_threshold_crossed, dispatch_uid="alerts-budget-threshold")
def on_budget_threshold_crossed(sender, alert, **kwargs):
    """True once every channel that takes budget alerts has this one in its outbox (which
    then delivers it, retrying); None when no channel takes it, so the costs app releases the
    claim and tries again at its next check (a channel added meanwhile gets it)."""
    return True if services.notify_budget(alert) else None
