"""The dispatcher: claims due endpoints once, releases what could not be queued, re-probes after a change."""

from datetime import timedelta

import pytest
from django.utils import timezone

from endpoints.network.models import Endpoint
from endpoints.probes import dispatch
from endpoints.probes.models import ProbeRun
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


@pytest.mark.django_db(transaction=True, serialized_rollback=True)  # commits as in production
def test_probe_now_through_the_api_with_the_broker_down_says_so_and_ends_the_run(
    probed, api_client, ops, broker_down
):
    response = api_client(ops).post(f"/api/v1/endpoints/{probed.pk}/probe", {})
    assert response.status_code == 503
    assert "broker" in response.json()["detail"]
    run = ProbeRun.objects.get()
    assert run.is_finished and "broker" in run.error  # not a run that waits forever


def test_probe_now_on_the_page_with_the_broker_down_shows_why(
    probed, client_for, ops, broker_down, django_capture_on_commit_callbacks
):
    client = client_for(ops)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/endpoints/{probed.pk}/probe/", HTTP_HX_REQUEST="true")
    run = ProbeRun.objects.get()
    html = client.get(f"/probes/runs/{run.pk}/?endpoint={probed.pk}").content.decode()
    assert "could not be queued" in html
