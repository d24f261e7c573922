"""The outbox with a real Celery worker and beat: a receiver that fails three times then
succeeds gets the notification exactly once, across a worker restart."""

import time

import pytest

from portal.alerts import services
from portal.alerts.models import Channel, Notification
from tests.alerts.receivers import Receiver, failing
from tests.conftest import start_process, stop_process, subprocess_env, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def test_retries_survive_a_worker_restart_and_deliver_once(
    admin, celery_worker_process, monkeypatch, tmp_path
):
    monkeypatch.setenv("PORTAL_ALERT_RETRY_BASE_S", "1")
    monkeypatch.setenv("PORTAL_ALERT_SWEEP_S", "1")
    with Receiver(failing(3)) as receiver:
        channel = services.save_channel(
            Channel(name="flaky", kind="webhook"), actor=admin, target=f"{receiver.url}/hook"
        )
        processes = celery_worker_process(beat=True)
        worker = processes[0]
        notification = Notification.objects.create(
            channel=channel,
            event="incident_opened",
            key="restart-test",
            payload={"title": "t", "data": {"event": "incident_opened"}},
        )
        logs = [tmp_path / "worker.log", tmp_path / "beat.log"]
        wait_for(
            lambda: len(receiver.requests) >= 1, timeout=60, message="the first attempt", logs=logs
        )
        stop_process(worker)  # the worker goes away between attempts
        attempts = len(receiver.requests)
        time.sleep(2)
        assert len(receiver.requests) == attempts  # nobody sends while no worker runs
        restarted = start_process(worker.args, subprocess_env(), tmp_path / "worker2.log")
        processes[0] = restarted
        wait_for(
            lambda: Notification.objects.get(pk=notification.pk).state == "sent",
            timeout=90,
            message="delivery after the restart",
            logs=[*logs, tmp_path / "worker2.log"],
        )
        time.sleep(3)  # no second delivery follows
        assert len(receiver.requests) == 4  # three failures, one success: delivered once
        notification.refresh_from_db()
        assert notification.attempts == 4
