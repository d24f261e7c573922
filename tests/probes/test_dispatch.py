"""The dispatcher: leases each due schedule once, on the schedule's own clock; gives back what
could not be queued; takes back what a dead prober left; re-probes after a change."""

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from endpoints.engine import ProbeOutcome
from endpoints.network.models import Endpoint
from endpoints.probes import dispatch, recorder, runner
from endpoints.probes.models import CENTRAL, ProbeResult, ProbeRun, ProbeSchedule
from endpoints.probes.tasks import enqueue_due_probes, fan_out


def schedule_of(endpoint) -> ProbeSchedule:
    return ProbeSchedule.objects.get(endpoint=endpoint, location=CENTRAL)


def answer(schedule_id, token, status="up", started_at=None):
    """What a prober records for one leased schedule."""
    (work,) = runner.work_for([schedule_id], token)
    work.observation.outcome = ProbeOutcome(
        status=status,
        diagnosis="ok" if status == "up" else "tcp_timeout",
        message=status,
        endpoint_id=work.observation.endpoint_id,
        started_at=started_at or work.observation.slot,
    )
    return recorder.record([work.observation])


def test_every_enabled_endpoint_gets_a_schedule_and_a_disabled_one_none(
    probed, make_endpoint, workspace_a
):
    assert schedule_of(probed).primary
    off = make_endpoint(
        name="off",
        url="http://ep-off001.dashscope.cn-beijing.privatelink.aliyuncs.com",
        workspace=workspace_a,
        vpc=probed.vpc,
        enabled=False,
    )
    assert not ProbeSchedule.objects.filter(endpoint=off).exists()


def test_the_dispatcher_leases_each_due_schedule_once(probed, make_endpoint, workspace_a):
    later = make_endpoint(
        name="later",
        url="http://ep-later01.dashscope.cn-beijing.privatelink.aliyuncs.com",
        workspace=workspace_a,
        vpc=probed.vpc,
    )
    ProbeSchedule.objects.filter(endpoint=later).update(
        next_probe_at=timezone.now() + timedelta(minutes=5)
    )
    token, first = dispatch.claim_central()
    _, second = dispatch.claim_central()  # a second dispatcher run in the same instant
    assert [pk for pk, _ in first] == [schedule_of(probed).pk] and second == []
    leased = schedule_of(probed)
    assert leased.lease_token == token and leased.lease_until > timezone.now()


def test_the_next_probe_keeps_the_schedules_phase_whatever_the_clock_says(probed):
    """Anchored on the slot just probed, not on when the result came back: jitter in the
    dispatcher or the prober never pushes an endpoint to the next tick."""
    slot = timezone.now().replace(microsecond=0) - timedelta(seconds=3)
    ProbeSchedule.objects.filter(endpoint=probed).update(next_probe_at=slot)
    token, claimed = dispatch.claim_central()
    answer(claimed[0][0], token, started_at=slot + timedelta(seconds=2.7))
    schedule = schedule_of(probed)
    assert schedule.next_probe_at == slot + timedelta(seconds=probed.interval_s)
    assert schedule.lease_token is None and schedule.status == "up"


def test_after_an_outage_the_schedule_resumes_on_its_grid_not_in_a_burst():
    now = timezone.now()
    slot = now - timedelta(minutes=10)
    due = recorder.next_due(slot, 60, now)
    assert now - timedelta(seconds=60) <= due <= now + timedelta(seconds=60)
    assert (due - slot).total_seconds() % 60 == 0


def test_the_dispatcher_looks_one_period_ahead_so_probes_start_on_time(probed, settings):
    settings.PORTAL_DISPATCH_EVERY_S = 5
    ProbeSchedule.objects.filter(endpoint=probed).update(
        next_probe_at=timezone.now() + timedelta(seconds=4)
    )
    _, claimed = dispatch.claim_central()
    assert len(claimed) == 1  # leased now, probed at its slot by the worker
    ProbeSchedule.objects.filter(endpoint=probed).update(
        next_probe_at=timezone.now() + timedelta(seconds=30), lease_token=None, lease_until=None
    )
    assert dispatch.claim_central()[1] == []


def test_a_lease_that_runs_out_makes_the_schedule_due_again(probed):
    """A prober killed mid-probe records nothing; once its lease runs out, another takes it."""
    token, claimed = dispatch.claim_central()
    assert claimed and dispatch.claim_central()[1] == []
    ProbeSchedule.objects.filter(pk=claimed[0][0]).update(
        lease_until=timezone.now() - timedelta(seconds=1)
    )
    new_token, again = dispatch.claim_central()
    assert [pk for pk, _ in again] == [claimed[0][0]] and new_token != token
    # The dead prober's batch, delivered late, finds its lease gone and probes nothing.
    assert runner.work_for([claimed[0][0]], token) == []


def test_a_late_result_for_a_slot_is_stored_once(probed):
    token, claimed = dispatch.claim_central()
    slot = claimed[0][1]
    ProbeSchedule.objects.filter(pk=claimed[0][0]).update(
        lease_until=timezone.now() - timedelta(seconds=1)
    )
    new_token, _ = dispatch.claim_central()
    assert answer(claimed[0][0], new_token).stored == 1
    # The first prober was only slow: its answer to the same slot arrives after.
    (late,) = runner.work_for([claimed[0][0]], new_token) or [None]
    assert late is None  # the schedule moved on, nothing left to probe for that token
    duplicate = recorder.Observation(
        endpoint_id=probed.pk,
        outcome=ProbeOutcome("down", "tcp_timeout", "late", endpoint_id=probed.pk),
        location=CENTRAL,
        schedule_id=claimed[0][0],
        lease_token=str(token),
        slot=slot,
        interval_s=probed.interval_s,
    )
    assert recorder.record([duplicate]).duplicates == 1
    assert ProbeResult.objects.filter(endpoint=probed, slot=slot).count() == 1
    assert schedule_of(probed).status == "up"


def test_probes_that_cannot_be_queued_are_released_for_the_next_dispatch(probed, broker_down):
    token, claimed = dispatch.claim_central()
    assert len(claimed) == 1
    assert fan_out(token, claimed) == 1
    assert schedule_of(probed).lease_token is None
    assert len(dispatch.claim_central()[1]) == 1


def test_one_bad_row_never_stops_the_dispatch(probed, make_endpoint, workspace_a):
    other = make_endpoint(
        name="other",
        url="http://ep-other01.dashscope.cn-beijing.privatelink.aliyuncs.com",
        workspace=workspace_a,
        vpc=probed.vpc,
    )
    # An interval far past the limit (written around the validators; 10^12 s once stopped all
    # probing on SQLite with an OverflowError): its due time still fits.
    huge = 10**12 if connection.vendor == "sqlite" else 2**31 - 1
    Endpoint.objects.filter(pk=probed.pk).update(interval_s=huge)
    token, claimed = dispatch.claim_central()
    assert len(claimed) == 2
    for schedule_id, _ in claimed:
        answer(schedule_id, token)
    assert schedule_of(other).next_probe_at > timezone.now()
    assert schedule_of(probed).lease_token is None


def test_the_dispatcher_task_queues_due_endpoints(probed, celery_queue):
    assert enqueue_due_probes() == 1
    assert enqueue_due_probes() == 0


def test_a_change_that_could_alter_the_verdict_reprobes_within_seconds(
    probed, client_for, admin, workspace_a, django_capture_on_commit_callbacks
):
    ProbeSchedule.objects.filter(endpoint=probed).update(
        next_probe_at=timezone.now() + timedelta(hours=1)
    )
    with django_capture_on_commit_callbacks(execute=True):  # re-probed once the change commits
        client_for(admin).post("/workspaces/team-a/models/qwen-max/toggle/")
    assert schedule_of(probed).next_probe_at <= timezone.now()
    assert len(dispatch.claim_central()[1]) == 1


@pytest.mark.django_db(transaction=True, serialized_rollback=True)  # commits as in production
def test_probe_now_through_the_api_with_the_broker_down_says_so_and_ends_the_run(
    probed, api_client, ops, broker_down
):
    response = api_client(ops).post(f"/api/v1/endpoints/{probed.pk}/probe", {})
    assert response.status_code == 503
    assert "broker" in response.json()["detail"]
    run = ProbeRun.objects.get()
    assert run.is_finished and "broker" in run.error  # not a run that waits forever
    assert schedule_of(probed).lease_token is None  # given back for the next dispatch


def test_probe_now_on_the_page_with_the_broker_down_shows_why(
    probed, client_for, ops, broker_down, django_capture_on_commit_callbacks
):
    client = client_for(ops)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/endpoints/{probed.pk}/probe/", HTTP_HX_REQUEST="true")
    run = ProbeRun.objects.get()
    html = client.get(f"/probes/runs/{run.pk}/?endpoint={probed.pk}").content.decode()
    assert "could not be queued" in html
