"""The alerts app listens to the status app (incident events) and the costs app (budgets).

`portal.costs.signals.budget_threshold_crossed` is the costs app's signal (sent with
`workspace`, `threshold` (percent), and optionally `spent`, `budget`, `currency`, `month`);
until that module exists this receiver simply is not connected.
"""

import importlib
import logging

from django.dispatch import receiver

from endpoints.status.signals import incident_events

from . import services

log = logging.getLogger(__name__)


@receiver(incident_events, dispatch_uid="alerts-incident-events")
def _incident_events(sender, events, **kwargs):
    services.notify(events)


def on_budget_threshold_crossed(sender=None, workspace=None, threshold=None, **kwargs):
    if workspace is None or threshold is None:
        return
    services.notify_budget(
        workspace,
        threshold=threshold,
        spent=kwargs.get("spent"),
        budget=kwargs.get("budget"),
        currency=kwargs.get("currency", ""),
        month=kwargs.get("month"),
    )


try:
    _costs_signals = importlib.import_module("portal.costs.signals")
except ImportError:
    _costs_signals = None
if _costs_signals is not None and hasattr(_costs_signals, "budget_threshold_crossed"):
    _costs_signals.budget_threshold_crossed.connect(
        on_budget_threshold_crossed, dispatch_uid="alerts-budget-threshold"
    )
