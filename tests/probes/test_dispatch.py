"""The dispatcher: claims due endpoints once, releases what could not be queued, re-probes after a change."""

from datetime import timedelta

from django.utils import timezone

from endpoints.network.models import Endpoint
from endpoints.probes import dispatch
from endpoints.probes.tasks import enqueue_due_probes, fan_out


def test_the_dispatcher_claims_each_due_endpoint_once(probed, make_endpoint, workspace_a):
    later = make_endpoint(
        name="later",
        url="http://ep-later01.dashscope.cn-beijing.privatelink.aliyuncs.com",
        workspace=workspace_a,
        vpc=probed.vpc,
    )
    Endpoint.objects.filter(pk=later.pk).update(next_probe_at=timezone.now() + timedelta(minutes=5))
    first = dispatch.claim_due()
    second = dispatch.claim_due()  # a second dispatcher run in the same instant
    assert first == [probed.pk] and second == []
    probed.refresh_from_db()
    assert probed.next_probe_at > timezone.now() + timedelta(seconds=probed.interval_s - 5)


def test_probes_that_cannot_be_queued_are_released_for_the_next_dispatch(probed, broker_down):
    claimed = dispatch.claim_due()
    assert claimed == [probed.pk]
    assert fan_out(claimed) == 1
    probed.refresh_from_db()
    assert probed.next_probe_at <= timezone.now()
    assert dispatch.claim_due() == [probed.pk]


def test_the_dispatcher_task_queues_due_endpoints(probed, celery_queue):
    assert enqueue_due_probes() == 1
    assert enqueue_due_probes() == 0


def test_a_change_that_could_alter_the_verdict_reprobes_within_seconds(
    probed, client_for, admin, workspace_a, django_capture_on_commit_callbacks
):
    Endpoint.objects.filter(pk=probed.pk).update(next_probe_at=timezone.now() + timedelta(hours=1))
    with django_capture_on_commit_callbacks(execute=True):  # re-probed once the change commits
        client_for(admin).post("/workspaces/team-a/models/qwen-max/toggle/")
    probed.refresh_from_db()
    assert probed.next_probe_at <= timezone.now()
    assert dispatch.claim_due() == [probed.pk]
