"""Writes people make about status: acknowledging an incident (with a note), adding a note,
and maintenance windows. Validated, atomic, audited."""

from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from portal.audit import trail

from .maintenance import FREQ, zone
from .models import MAX_NOTE, Incident, IncidentEvent, MaintenanceWindow
from .signals import incident_events

MAX_WINDOW = timedelta(days=31)


def _clean_note(note) -> str:
    note = (note or "").strip()
    if len(note) > MAX_NOTE:
        raise ValidationError({"note": [f"Keep the note under {MAX_NOTE:,} characters."]})
    return note


@transaction.atomic
def acknowledge(incident: Incident, *, actor, note: str = "", source: str = "web") -> Incident:
    """Someone is on it: who, when and their note (acknowledging again updates the note)."""
    note = _clean_note(note)
    incident = (
        Incident.objects.select_for_update(of=("self",))
        .select_related("endpoint", "vpc")
        .get(pk=incident.pk)
    )
    before = trail.snapshot(incident)
    first = incident.acknowledged_at is None
    incident.acknowledged_at = incident.acknowledged_at or timezone.now()
    incident.acknowledged_by = actor
    if note:
        incident.note = note
    incident.save(update_fields=["acknowledged_at", "acknowledged_by", "note"])
    event = IncidentEvent.objects.create(
        incident=incident,
        kind=IncidentEvent.Kind.ACKNOWLEDGED if first else IncidentEvent.Kind.NOTE,
        actor=actor,
        note=note,
        status=incident.status,
        diagnosis=incident.diagnosis,
        message=incident.message,
    )
    trail.record(
        actor,
        trail.Action.UPDATE,
        incident,
        before=before,
        after=trail.snapshot(incident),
        source=source,
        label=f"acknowledged {incident}",
    )
    if first:
        incident_events.send(Incident, events=[event])
    return incident


# -- maintenance windows --------------------------------------------------------------------


def check_window(window: MaintenanceWindow) -> None:
    problems: dict[str, list[str]] = {}
    try:
        window.full_clean(exclude=["created_by"])
    except ValidationError as exc:
        problems = {field: list(messages) for field, messages in exc.message_dict.items()}
    if window.endpoint_id and window.vpc_id:
        problems.setdefault("vpc", []).append(
            "Choose an endpoint or a VPC (or neither, for everything), not both."
        )
    if window.starts_at and window.ends_at:
        if window.ends_at <= window.starts_at:
            problems.setdefault("ends_at", []).append("The window must end after it starts.")
        elif window.ends_at - window.starts_at > MAX_WINDOW:
            problems.setdefault("ends_at", []).append("A window lasts at most 31 days.")
        elif window.recurrence == "DAILY" and window.ends_at - window.starts_at >= timedelta(
            days=1
        ):
            problems.setdefault("ends_at", []).append("A daily window must be shorter than a day.")
        elif window.recurrence == "WEEKLY" and window.ends_at - window.starts_at >= timedelta(
            days=7
        ):
            problems.setdefault("ends_at", []).append(
                "A weekly window must be shorter than a week."
            )
    if window.recurrence and window.recurrence not in FREQ:
        problems.setdefault("recurrence", []).append("Choose once, daily, weekly or monthly.")
    if not window.recurrence and window.repeat_until:
        window.repeat_until = None
    if window.repeat_until and window.starts_at and window.repeat_until <= window.starts_at:
        problems.setdefault("repeat_until", []).append("Repeat until a day after the first one.")
    if window.timezone and zone(window.timezone).key != window.timezone:
        problems.setdefault("timezone", []).append(
            f"'{window.timezone}' is not a time zone name; use one such as Asia/Shanghai "
            "or Europe/Berlin."
        )
    if problems:
        raise ValidationError(problems)


@transaction.atomic
def save_window(window: MaintenanceWindow, *, actor, source: str = "web") -> MaintenanceWindow:
    created = window.pk is None
    before = None if created else trail.snapshot(MaintenanceWindow.objects.get(pk=window.pk))
    check_window(window)
    if created:
        window.created_by = actor
    window.save()
    trail.record(
        actor,
        trail.Action.CREATE if created else trail.Action.UPDATE,
        window,
        before=before,
        after=trail.snapshot(window),
        source=source,
    )
    return window


@transaction.atomic
def delete_window(window: MaintenanceWindow, *, actor, source: str = "web") -> None:
    trail.record(actor, trail.Action.DELETE, window, before=trail.snapshot(window), source=source)
    window.delete()
