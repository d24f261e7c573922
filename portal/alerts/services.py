"""Writes about alerts: channels (validated, atomic, audited; secrets encrypted), the test
message, and the notifications that incidents and budgets put in the outbox."""

import uuid
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone

from endpoints.status import maintenance
from endpoints.status.models import Incident, IncidentEvent, Scope
from portal.audit import trail

from . import outbox
from .models import MAX_EVENTS, TEST_EVENT, Channel, Event, Kind, Notification

MAX_TARGET = 2000
MAX_SECRET = 200
MAX_SCOPE = 100
SIGNED_KINDS = {Kind.WEBHOOK, Kind.DINGTALK, Kind.FEISHU}
REMIND_MIN, REMIND_MAX = 5, 10_080


def check_channel(channel: Channel, *, target, secret, events, vpcs, workspaces) -> None:
    problems: dict[str, list[str]] = {}
    if not (channel.name or "").strip():
        problems["name"] = ["Give the channel a name."]
    elif len(channel.name) > 100:
        problems["name"] = ["Keep the name under 100 characters."]
    elif Channel.objects.filter(name=channel.name).exclude(pk=channel.pk).exists():
        problems["name"] = [f"A channel named '{channel.name}' exists already."]
    if channel.kind not in Kind.values:
        problems["kind"] = [f"Choose one of: {', '.join(Kind.values)}."]
    if target is not None:
        problems.update(_target_problems(channel.kind, target))
    elif not channel.target_ciphertext:
        problems["target"] = ["Give the URL (or, for e-mail, the address)."]
    if secret:
        if channel.kind not in SIGNED_KINDS:
            problems["secret"] = [
                f"A {Kind(channel.kind).label if channel.kind in Kind.values else channel.kind} "
                "channel has no signing secret (its URL holds the token)."
            ]
        elif len(secret) > MAX_SECRET:
            problems["secret"] = [f"Keep the secret under {MAX_SECRET} characters."]
    if events is not None:
        if not isinstance(events, list) or len(events) > MAX_EVENTS:
            problems["events"] = ["Give a list of events."]
        else:
            unknown = sorted({str(e) for e in events} - set(Event.values))
            if unknown:
                problems["events"] = [
                    f"Unknown event {', '.join(unknown)}. Events: {', '.join(Event.values)}."
                ]
    if channel.remind_every_min is not None and not (
        REMIND_MIN <= channel.remind_every_min <= REMIND_MAX
    ):
        problems["remind_every_min"] = [
            f"Remind every {REMIND_MIN} to {REMIND_MAX:,} minutes (a week), or never (empty)."
        ]
    for name, rows in (("vpcs", vpcs), ("workspaces", workspaces)):
        if rows is not None and len(rows) > MAX_SCOPE:
            problems[name] = [f"Name at most {MAX_SCOPE}."]
    if problems:
        raise ValidationError(problems)


def _target_problems(kind, target: str) -> dict:
    target = (target or "").strip()
    if not target:
        return {"target": ["Give the URL (or, for e-mail, the address)."]}
    if len(target) > MAX_TARGET:
        return {"target": [f"Keep it under {MAX_TARGET:,} characters."]}
    if kind == Kind.EMAIL:
        try:
            validate_email(target)
        except ValidationError:
            return {"target": [f"'{target[:100]}' is not an e-mail address."]}
        return {}
    try:
        parts = urlsplit(target)
        host = parts.hostname
    except ValueError:
        return {"target": ["This is not a URL."]}
    if parts.scheme not in ("http", "https") or not host:
        return {"target": ["Give an http:// or https:// URL with a host."]}
    if any(ch.isspace() for ch in target):
        return {"target": ["A URL has no spaces."]}
    return {}


@transaction.atomic
def save_channel(
    channel: Channel,
    *,
    actor,
    target: str | None = None,
    secret: str | None = None,
    events: list | None = None,
    vpcs=None,
    workspaces=None,
    source: str = "web",
) -> Channel:
    """Create or change a channel. `target`/`secret` None: keep the stored ones; a secret ""
    removes it. The events default to all."""
    created = channel.pk is None
    before = None if created else trail.snapshot(Channel.objects.get(pk=channel.pk))
    if target is not None:
        target = target.strip()
    check_channel(
        channel, target=target, secret=secret, events=events, vpcs=vpcs, workspaces=workspaces
    )
    if target is not None:
        channel.set_target(target)
    if secret is not None:
        channel.set_secret(secret.strip())
    if events is not None:
        channel.events = [e for e in Event.values if e in set(events)] or list(Event.values)
    elif created and not channel.events:
        channel.events = list(Event.values)
    if created:
        channel.created_by = actor
    try:
        with transaction.atomic():
            channel.save()
    except IntegrityError:
        raise ValidationError(
            {"name": [f"A channel named '{channel.name}' exists already."]}
        ) from None
    if vpcs is not None:
        channel.vpcs.set(vpcs)
    if workspaces is not None:
        channel.workspaces.set(workspaces)
    trail.record(
        actor,
        trail.Action.CREATE if created else trail.Action.UPDATE,
        channel,
        before=before,
        after=trail.snapshot(channel),
        source=source,
    )
    return channel


@transaction.atomic
def delete_channel(channel: Channel, *, actor, source: str = "web") -> None:
    trail.record(actor, trail.Action.DELETE, channel, before=trail.snapshot(channel), source=source)
    channel.delete()


def send_test(channel: Channel, *, actor, source: str = "web") -> Notification:
    """Send a test message now (through the outbox, so the channel page shows the outcome)."""
    payload = {
        "title": f"Test from Access Portal: {channel.name}",
        "fields": {"sent by": getattr(actor, "username", "system"), "channel": channel.name},
        "data": {
            "event": TEST_EVENT,
            "endpoint": None,
            "status": None,
            "diagnosis": None,
            "message": f"A test of channel {channel.name}.",
            "sent_at": timezone.now().isoformat(),
        },
    }
    with transaction.atomic():
        notification = Notification.objects.create(
            channel=channel,
            event=TEST_EVENT,
            key=f"test:{channel.pk}:{uuid.uuid4()}",
            payload=payload,
        )
        trail.record(actor, trail.Action.UPDATE, channel, source=source, label=f"test of {channel}")
    for claimed in outbox.claim([notification.pk]):
        outbox.deliver(claimed)
    notification.refresh_from_db()
    channel.refresh_from_db()
    return notification


# -- from events to the outbox ------------------------------------------------------------

EVENT_OF = {
    IncidentEvent.Kind.OPENED: Event.INCIDENT_OPENED,
    IncidentEvent.Kind.ESCALATED: Event.INCIDENT_ESCALATED,
    IncidentEvent.Kind.ACKNOWLEDGED: Event.INCIDENT_ACKNOWLEDGED,
    IncidentEvent.Kind.CLOSED: Event.INCIDENT_CLOSED,
}
TITLES = {
    Event.INCIDENT_OPENED: "incident opened",
    Event.INCIDENT_ESCALATED: "escalated to down",
    Event.INCIDENT_ACKNOWLEDGED: "acknowledged",
    Event.INCIDENT_CLOSED: "resolved",
    Event.INCIDENT_REMINDER: "still open",
    Event.VPC_NO_AGENT: "no agent",
}


def link(path: str) -> str | None:
    return f"{settings.PORTAL_URL}{path}" if settings.PORTAL_URL else None


def incident_payload(incident: Incident, event: str, event_row=None) -> dict:
    endpoint = incident.endpoint if incident.endpoint_id else None
    status = (event_row.status if event_row is not None else "") or incident.status
    diagnosis = (event_row.diagnosis if event_row is not None else "") or incident.diagnosis
    message = (event_row.message if event_row is not None else "") or incident.message
    if event == Event.INCIDENT_CLOSED:
        status = "up" if incident.scope == Scope.ENDPOINT else "unknown"
    subject = incident.subject
    title = f"[{status.upper()}] {subject}: {TITLES.get(event, event)}"
    acked = getattr(event_row, "actor", None) if event_row is not None else None
    data = {
        "event": event,
        "endpoint": {"id": endpoint.pk, "name": endpoint.name} if endpoint else None,
        "vpc": incident.vpc.vpc_id if incident.vpc_id else None,
        "status": status,
        "diagnosis": diagnosis,
        "message": message,
        "incident": {
            "id": incident.pk,
            "status": incident.status,
            "opened_at": incident.opened_at.isoformat(),
            "closed_at": incident.closed_at.isoformat() if incident.closed_at else None,
            "acknowledged_by": acked.username if acked else None,
            "note": (event_row.note if event_row is not None else "") or None,
            "url": link(f"/incidents/{incident.pk}/"),
        },
    }
    return {
        "title": title,
        "fields": {
            "status": status,
            "diagnosis": diagnosis,
            "message": message,
            "acknowledged by": data["incident"]["acknowledged_by"],
            "note": data["incident"]["note"],
            "opened": f"{incident.opened_at:%Y-%m-%d %H:%M:%S} UTC",
        },
        "url": data["incident"]["url"],
        "data": data,
    }


def channels() -> list[Channel]:
    return list(Channel.objects.filter(enabled=True).prefetch_related("vpcs", "workspaces"))


def in_scope(channel: Channel, *, vpc_id=None, workspace_id=None) -> bool:
    vpcs = {v.pk for v in channel.vpcs.all()}
    workspaces = {w.pk for w in channel.workspaces.all()}
    if not vpcs and not workspaces:
        return True
    return (vpc_id is not None and vpc_id in vpcs) or (
        workspace_id is not None and workspace_id in workspaces
    )


def hold_reason(incident: Incident, at, windows, silent_vpcs) -> str:
    """Why an alert about `incident` is held back now (maintenance, its VPC's agents), or ""."""
    endpoint = incident.endpoint if incident.endpoint_id else None
    vpc_id = endpoint.vpc_id if endpoint else incident.vpc_id
    window = maintenance.covering(windows, endpoint.pk if endpoint else None, vpc_id, at)
    if window is not None:
        return f"held back: maintenance window '{window.name}'"
    if endpoint and endpoint.vpc_id in silent_vpcs:
        return "held back: the VPC's agents are offline (one VPC incident instead)"
    return ""


def notify(events) -> list[Notification]:
    """Outbox rows for these incident events, in the caller's transaction; queued on commit."""
    wanted = []
    for row in events:
        event = EVENT_OF.get(row.kind)
        if event is None:
            continue
        if row.incident.scope == Scope.VPC and event == Event.INCIDENT_OPENED:
            event = Event.VPC_NO_AGENT
        wanted.append((row, event))
    if not wanted:
        return []
    subscribed = channels()
    if not subscribed:
        return []
    now = timezone.now()
    windows = maintenance.active_now(now)
    silent_vpcs = set(
        Incident.objects.open().filter(scope=Scope.VPC).values_list("vpc_id", flat=True)
    )
    rows = []
    for row, event in wanted:
        incident = row.incident
        endpoint = incident.endpoint if incident.endpoint_id else None
        held = hold_reason(incident, now, windows, silent_vpcs)
        payload = incident_payload(incident, event, row)
        for channel in subscribed:
            if not channel.takes(event) or not in_scope(
                channel,
                vpc_id=endpoint.vpc_id if endpoint else incident.vpc_id,
                workspace_id=endpoint.workspace_id if endpoint else None,
            ):
                continue
            rows.append(
                Notification(
                    channel=channel,
                    event=event,
                    incident=incident,
                    key=f"{channel.pk}:event:{row.pk}",
                    payload=payload,
                    state=Notification.State.HELD if held else Notification.State.PENDING,
                    last_error=held,
                )
            )
    return enqueue(rows)


def enqueue(rows) -> list[Notification]:
    """Store the rows (a key seen before is skipped: never two for one event) and queue the
    pending ones once the transaction commits."""
    if not rows:
        return []
    Notification.objects.bulk_create(rows, ignore_conflicts=True)
    keys = [r.key for r in rows]
    ids = list(
        Notification.objects.filter(key__in=keys, state=Notification.State.PENDING).values_list(
            "pk", flat=True
        )
    )
    if ids:
        from .tasks import queue

        transaction.on_commit(lambda: queue(ids))
    return rows


BUDGET_TITLES = {
    "80": "80 % of the monthly budget spent",
    "100": "the monthly budget spent",
    "forecast": "on course to overspend the monthly budget",
}


def notify_budget(alert) -> list[Notification]:
    """A budget threshold crossed: `alert` is the costs app's claimed `BudgetAlert`. One
    notification per channel, workspace, month, threshold and budget amount (never two)."""
    workspace, month = alert.workspace, f"{alert.month:%Y-%m}"
    spent, budget, projected = (
        f"{value:,.2f} {alert.currency}" for value in (alert.spend, alert.budget, alert.projected)
    )
    payload = {
        "title": f"[BUDGET] {workspace.name}: {BUDGET_TITLES.get(alert.threshold, alert.threshold)}",
        "fields": {
            "workspace": workspace.name,
            "month": month,
            "spent": spent,
            "budget": budget,
            "month-end at this rate": projected,
        },
        "url": link(f"/costs/workspaces/{workspace.slug}/"),
        "data": {
            "event": Event.BUDGET_THRESHOLD,
            "endpoint": None,
            "workspace": {"slug": workspace.slug, "name": workspace.name},
            "threshold": alert.threshold,
            "spent": str(alert.spend),
            "budget": str(alert.budget),
            "projected": str(alert.projected),
            "currency": alert.currency,
            "month": month,
            "status": None,
            "diagnosis": None,
        },
    }
    rows = [
        Notification(
            channel=channel,
            event=Event.BUDGET_THRESHOLD,
            key=f"{channel.pk}:budget:{workspace.pk}:{month}:{alert.threshold}:{alert.budget}",
            payload=payload,
        )
        for channel in channels()
        if channel.takes(Event.BUDGET_THRESHOLD) and in_scope(channel, workspace_id=workspace.pk)
    ]
    with transaction.atomic():
        return enqueue(rows)
