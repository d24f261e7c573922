"""Incidents from the recorder's results and the agents' silence.

`on_results(changes)` runs inside the recorder's transaction for every batch (up to ~500
results, ~1 s apart), so it stays cheap: nothing at all for a batch of endpoints that are up
and have been for a while, otherwise two reads (the endpoints' thresholds, their open
incidents) and bulk writes. Its writes sit in a savepoint: should they fail, the results are
still recorded (and the incident catches up with the next result).

The rules, per endpoint (its primary location, newest results only):
- no incident open, `failure_threshold` (default 2) non-up results in a row (down or
  degraded; unknown ones neither count nor break the streak): an incident opens, with the
  status and diagnosis of the result that crossed the threshold;
- open and down after degraded: escalated (the incident is down from then on); a new
  diagnosis is an event of its own;
- open and `success_threshold` (default 1) up results in a row: closed.
"""

import logging

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from endpoints.network.choices import Status
from endpoints.network.models import MAX_STREAK_THRESHOLD, Endpoint, Vpc

from .models import Incident, IncidentEvent, Scope
from .signals import incident_events

log = logging.getLogger(__name__)
BAD = frozenset({Status.DOWN, Status.DEGRADED})
Kind = IncidentEvent.Kind


def thresholds(endpoint) -> tuple[int, int]:
    failure = endpoint.failure_threshold or settings.PORTAL_INCIDENT_FAILURE_THRESHOLD
    success = endpoint.success_threshold or settings.PORTAL_INCIDENT_SUCCESS_THRESHOLD
    return max(1, failure), max(1, success)


def _may_matter(change) -> bool:
    """Could this result open, move or close an incident? Up results long into a good streak
    cannot (no threshold is that high): most batches end here, without a query."""
    if change.status in BAD:
        return True
    return change.status == Status.UP and change.good_streak <= MAX_STREAK_THRESHOLD


def on_results(changes) -> list[IncidentEvent]:
    relevant = [c for c in changes if c.primary and c.current and _may_matter(c)]
    if not relevant:
        return []
    try:
        with transaction.atomic():  # a savepoint: a failure here never loses the results
            return _apply(relevant)
    except Exception:  # a bug here (not only the database) must never lose the results
        log.exception("Updating incidents failed; the results are recorded regardless.")
        return []


def _apply(changes) -> list[IncidentEvent]:
    ids = {c.endpoint_id for c in changes}
    endpoints = {
        e.pk: e
        for e in Endpoint.objects.filter(pk__in=ids).only(
            "id", "name", "vpc_id", "workspace_id", "failure_threshold", "success_threshold"
        )
    }
    open_incidents = {i.endpoint_id: i for i in Incident.objects.open().filter(endpoint_id__in=ids)}
    created, touched, events = [], {}, []
    for change in changes:
        endpoint = endpoints.get(change.endpoint_id)
        if endpoint is None:
            continue
        failure, success = thresholds(endpoint)
        incident = open_incidents.get(change.endpoint_id)
        at = change.started_at
        if incident is None:
            if change.status in BAD and change.bad_streak >= failure:
                incident = Incident(
                    scope=Scope.ENDPOINT,
                    endpoint=endpoint,
                    location=change.location,
                    status=change.status,
                    diagnosis=change.diagnosis,
                    message=change.message,
                    opened_at=at,
                    results_total=change.bad_streak,
                    results_bad=change.bad_streak,
                    last_result_at=at,
                )
                open_incidents[change.endpoint_id] = incident
                created.append(incident)
                events.append(_event(incident, Kind.OPENED, change))
            continue
        incident.endpoint = endpoint
        incident.results_total += 1
        incident.last_result_at = at
        if change.status in BAD:
            incident.results_bad += 1
            if incident.status == Status.DEGRADED and change.status == Status.DOWN:
                incident.status, incident.escalated_at = Status.DOWN, at
                events.append(_event(incident, Kind.ESCALATED, change))
            elif change.diagnosis != incident.diagnosis:
                events.append(_event(incident, Kind.DIAGNOSIS, change))
            elif change.previous != change.status and change.previous in BAD:
                events.append(_event(incident, Kind.STATUS, change))  # e.g. down → degraded
            incident.diagnosis = change.diagnosis
            incident.message = change.message
        elif change.status == Status.UP and change.good_streak >= success:
            incident.closed_at = at
            events.append(_event(incident, Kind.CLOSED, change))
            del open_incidents[change.endpoint_id]
        if incident.pk:
            touched[incident.pk] = incident
    if created:
        Incident.objects.bulk_create(created)
    if touched:
        Incident.objects.bulk_update(
            touched.values(),
            [
                "status",
                "diagnosis",
                "message",
                "escalated_at",
                "closed_at",
                "results_total",
                "results_bad",
                "last_result_at",
            ],
        )
    for event in events:
        event.incident_id = event.incident.pk
    IncidentEvent.objects.bulk_create(events)
    if events:
        incident_events.send(Incident, events=events)
    return events


def _event(incident, kind, change) -> IncidentEvent:
    return IncidentEvent(
        incident=incident,
        kind=kind,
        at=change.started_at,
        status=change.status,
        diagnosis=change.diagnosis,
        message=change.message[:500],
    )


# -- a VPC's agents ------------------------------------------------------------------------


def on_agents_silent(vpc_id, silent: bool, since=None) -> IncidentEvent | None:
    """One VPC-level incident while a VPC's agents are all silent (its endpoints are unknown,
    diagnosis no_agent: they open no incident of their own); closed when one is heard again."""
    vpc = Vpc.objects.filter(pk=vpc_id).first()
    if vpc is None:
        return None
    now = timezone.now()
    with transaction.atomic():
        incident = (
            Incident.objects.select_for_update().open().filter(scope=Scope.VPC, vpc=vpc).first()
        )
        if silent and incident is None:
            incident = Incident.objects.create(
                scope=Scope.VPC,
                vpc=vpc,
                location=vpc.vpc_id,
                status=Status.UNKNOWN,
                diagnosis="no_agent",
                message=f"No probe agent in {vpc.vpc_id} has been heard from"
                + (f" since {since:%Y-%m-%d %H:%M} UTC" if since else "")
                + "; its endpoints are unknown until one is.",
                opened_at=since or now,
            )
            event = IncidentEvent.objects.create(
                incident=incident,
                kind=Kind.OPENED,
                at=incident.opened_at,
                status=Status.UNKNOWN,
                diagnosis="no_agent",
                message=incident.message,
            )
        elif not silent and incident is not None:
            incident.closed_at = now
            incident.save(update_fields=["closed_at"])
            event = IncidentEvent.objects.create(
                incident=incident,
                kind=Kind.CLOSED,
                at=now,
                status=Status.UNKNOWN,
                diagnosis="no_agent",
                message=f"An agent in {vpc.vpc_id} is heard from again.",
            )
        else:
            return None
        incident.vpc = vpc
        incident_events.send(Incident, events=[event])
    return event
