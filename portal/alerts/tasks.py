"""Celery tasks of the outbox; they take ids only (never a target or a secret).

`send_notification(id)` is queued when a notification commits, on PORTAL_ALERTS_QUEUE (a
worker of its own: never behind probe batches, never holding up the dispatcher); the sweep
`deliver_due` (beat, dispatcher's queue) only re-queues rows that are due and not queued in
the last minute, so a lost task, a retry's backoff or a worker restart loses nothing."""

from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from . import outbox, reminders
from .models import Notification

REQUEUE_AFTER = timedelta(seconds=60)


def queue(ids) -> None:
    ids = list(ids)
    if not ids:
        return
    Notification.objects.filter(pk__in=ids).update(queued_at=timezone.now())
    for pk in ids:
        try:
            send_notification.apply_async(args=[pk], queue=settings.PORTAL_ALERTS_QUEUE)
        except Exception:  # the broker is down: the sweep queues it again later
            Notification.objects.filter(pk=pk).update(queued_at=None)
            return


@shared_task(name="portal.alerts.tasks.send_notification", ignore_result=True)
def send_notification(notification_id):
    sent = 0
    for notification in outbox.claim([notification_id]):
        sent += outbox.deliver(notification) == Notification.State.SENT
    return sent


@shared_task(name="portal.alerts.tasks.deliver_due", ignore_result=True)
def deliver_due(limit: int = 500):
    """Queue the due notifications that no task is on (cheap: the sending happens elsewhere)."""
    now = timezone.now()
    ids = list(
        Notification.objects.filter(outbox.due(now))
        .filter(Q(queued_at__isnull=True) | Q(queued_at__lt=now - REQUEUE_AFTER))
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
    queue(ids)
    return len(ids)


@shared_task(name="portal.alerts.tasks.remind_open_incidents", ignore_result=True)
def remind_open_incidents():
    return reminders.remind()
