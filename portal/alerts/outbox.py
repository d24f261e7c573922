"""The outbox: claiming due notifications (a conditional UPDATE, so two tasks never send one
row), sending them, and what a failure does.

- success: sent (once); the channel is OK again;
- a transient failure: due again after an exponential backoff
  (PORTAL_ALERT_RETRY_BASE_S * 2^(attempts-1), at most PORTAL_ALERT_RETRY_MAX_S), until
  PORTAL_ALERT_MAX_ATTEMPTS;
- a permanent failure, or the last attempt: failed, and the channel is marked failing with
  the error on its page.
A worker that dies mid-send leaves its lease to run out: the row is claimed again (the one
window in which a receiver may see a message twice is a crash between its answer and the
commit of "sent").
"""

import logging
import uuid
from datetime import timedelta

from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone

from portal.crypto import SecretUnavailable

from . import senders
from .models import Channel, Notification

log = logging.getLogger(__name__)
State = Notification.State


def lease() -> timedelta:
    return timedelta(seconds=2 * settings.PORTAL_ALERT_TIMEOUT_S + 10)


def due(now):
    return Q(state=State.PENDING, next_attempt_at__lte=now) | Q(
        state=State.SENDING, lease_until__lt=now
    )


def claim(ids=None, limit: int = 100) -> list[Notification]:
    now = timezone.now()
    queryset = Notification.objects.filter(due(now))
    if ids is not None:
        queryset = queryset.filter(pk__in=list(ids))
    candidates = list(queryset.order_by("next_attempt_at").values_list("pk", flat=True)[:limit])
    if not candidates:
        return []
    token = uuid.uuid4()
    Notification.objects.filter(pk__in=candidates).filter(due(now)).update(
        state=State.SENDING,
        lease_token=token,
        lease_until=now + lease(),
        attempts=F("attempts") + 1,
    )
    return list(Notification.objects.filter(lease_token=token).select_related("channel"))


def backoff(attempts: int) -> timedelta:
    base = settings.PORTAL_ALERT_RETRY_BASE_S
    return timedelta(
        seconds=min(settings.PORTAL_ALERT_RETRY_MAX_S, base * 2 ** max(0, attempts - 1))
    )


def deliver(notification: Notification) -> str:
    """Send one claimed notification; returns its new state."""
    channel = notification.channel
    mine = Notification.objects.filter(pk=notification.pk, lease_token=notification.lease_token)
    now = timezone.now()
    try:
        senders.send(channel, notification.payload)
    except (senders.Transient, senders.Permanent, SecretUnavailable) as exc:
        error = str(exc)[:500]
        final = (
            not isinstance(exc, senders.Transient)
            or notification.attempts >= settings.PORTAL_ALERT_MAX_ATTEMPTS
        )
        if final:
            mine.update(state=State.FAILED, last_error=error, lease_token=None, lease_until=None)
            Channel.objects.filter(pk=channel.pk).update(
                state=Channel.State.FAILING, last_error=error, last_error_at=now
            )
            log.warning(
                "Notification %s to channel %s failed for good: %s",
                notification.pk,
                channel.pk,
                error,
            )
            return State.FAILED
        mine.update(
            state=State.PENDING,
            last_error=error,
            next_attempt_at=now + backoff(notification.attempts),
            lease_token=None,
            lease_until=None,
            queued_at=None,
        )
        log.info(
            "Notification %s to channel %s will be retried: %s", notification.pk, channel.pk, error
        )
        return State.PENDING
    except Exception as exc:  # a bug must not lose the row: retried like a transient error
        log.exception("Sending notification %s failed unexpectedly.", notification.pk)
        mine.update(
            state=State.PENDING,
            last_error=f"internal error ({type(exc).__name__})",
            next_attempt_at=now + backoff(notification.attempts),
            lease_token=None,
            lease_until=None,
            queued_at=None,
        )
        return State.PENDING
    mine.update(state=State.SENT, sent_at=now, lease_token=None, lease_until=None, last_error="")
    Channel.objects.filter(pk=channel.pk).update(state=Channel.State.OK, last_sent_at=now)
    return State.SENT
