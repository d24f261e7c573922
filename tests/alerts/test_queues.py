"""Where alert sends are queued: a queue of their own (PORTAL_ALERTS_QUEUE), on the real broker,
never the probe batches' queue; the deployments run a worker for every queue tasks go to
(tests/portal/test_deploy.py)."""

import contextlib

from portal.alerts import services, tasks
from portal.alerts.models import Channel, Notification
from portal.celery import app


def waiting(queue: str) -> int:
    with app.connection_for_read() as connection:
        channel = connection.default_channel
        try:
            return channel.queue_declare(queue=queue, passive=True).message_count
        except Exception:  # never declared: nothing was sent there
            return 0


def purge(*queues):
    with app.connection_for_write() as connection:
        for queue in queues:
            with contextlib.suppress(Exception):  # never declared: nothing to purge
                connection.default_channel.queue_purge(queue)


def test_a_notification_is_queued_on_the_alerts_queue_not_the_probe_queue(
    db, admin, celery_queue, settings
):
    channel = services.save_channel(
        Channel(name="hook", kind="webhook"), actor=admin, target="http://127.0.0.1:9/hook"
    )
    notification = Notification.objects.create(
        channel=channel, event="incident_opened", key="q", payload={"title": "t", "data": {}}
    )
    alerts, dispatch = settings.PORTAL_ALERTS_QUEUE, settings.PORTAL_DISPATCH_QUEUE
    assert alerts not in (celery_queue, dispatch)
    try:
        tasks.queue([notification.pk])
        assert waiting(alerts) == 1
        assert waiting(celery_queue) == 0 and waiting(dispatch) == 0
        notification.refresh_from_db()
        assert notification.queued_at is not None
    finally:
        purge(alerts, celery_queue, dispatch)
