"""Reminders while an incident stays open and unacknowledged: a channel with
`remind_every_min` gets one per interval (keyed by the interval's number, so a reminder is
never sent twice, however often the task runs)."""

from django.db import transaction
from django.utils import timezone

from endpoints.status import maintenance
from endpoints.status.models import Incident, Scope

from . import services
from .models import Event, Notification


def remind(now=None) -> int:
    now = now or timezone.now()
    reminding = [
        c for c in services.channels() if c.remind_every_min and c.takes(Event.INCIDENT_REMINDER)
    ]
    if not reminding:
        return 0
    incidents = list(
        Incident.objects.open()
        .filter(acknowledged_at__isnull=True)
        .select_related("endpoint", "vpc")[:1000]
    )
    windows = maintenance.active_now(now)
    silent = {i.vpc_id for i in incidents if i.scope == Scope.VPC}
    rows = []
    for incident in incidents:
        endpoint = incident.endpoint if incident.endpoint_id else None
        held = services.hold_reason(incident, now, windows, silent)
        if held:
            continue
        for channel in reminding:
            if not services.in_scope(
                channel,
                vpc_id=endpoint.vpc_id if endpoint else incident.vpc_id,
                workspace_id=endpoint.workspace_id if endpoint else None,
            ):
                continue
            number = int(
                (now - incident.opened_at).total_seconds() // (60 * channel.remind_every_min)
            )
            if number < 1:
                continue
            rows.append(
                Notification(
                    channel=channel,
                    event=Event.INCIDENT_REMINDER,
                    incident=incident,
                    key=f"{channel.pk}:remind:{incident.pk}:{number}",
                    payload=services.incident_payload(incident, Event.INCIDENT_REMINDER),
                )
            )
    with transaction.atomic():
        services.enqueue(rows)
    return len(rows)
