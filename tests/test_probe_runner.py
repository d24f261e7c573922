"""From the database to the engine and back: probe_now, the probes API, the dispatcher."""

import io
import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from endpoints.devtools.simulator import Fault, SimState, Simulator
from endpoints.network.models import Endpoint
from endpoints.probes import dispatch, runner
from endpoints.probes.models import ProbeResult, ProbeRun
from endpoints.probes.tasks import enqueue_due_probes, fan_out
from portal.costs.models import UsageRecord

HOST = "ep-run001.dashscope.cn-beijing.privatelink.aliyuncs.com"


@pytest.fixture
def sim(tmp_path, settings):
    simulator = Simulator(SimState(), dns_port=0, workdir=tmp_path)
    simulator.start_in_thread()
    settings.PORTAL_PROBE_TIMEOUT_S = 2.0
    yield simulator
    simulator.stop()


@pytest.fixture
def probed(sim, workspace_a, make_vpc, make_endpoint):
    """An endpoint of workspace A reachable through the simulator, which knows A's key."""
    vpc = make_vpc(resolver=f"127.0.0.1:{sim.dns_port}")
    endpoint = make_endpoint(
        name="bj private",
        url=f"http://{HOST}:{sim.http_port}",
        vpc=vpc,
        workspace=workspace_a,
        allows_80_443=True,
    )
    sim.state.load_from_db()
    sim.dns.set_a(HOST, ["127.0.0.1"])
    return endpoint


def probe_now(*args) -> list[dict]:
    out = io.StringIO()
    call_command("probe_now", *args, stdout=out)
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_probe_now_prints_one_json_object_per_endpoint_and_stores_it(probed):
    (line,) = probe_now("--endpoint", str(probed.pk))
    assert set(line) >= {
        "endpoint",
        "status",
        "diagnosis",
        "message",
        "phases",
        "addresses",
        "http_status",
    }
    assert set(line["phases"]) == {
        "resolve_ms",
        "connect_ms",
        "tls_ms",
        "processing_ms",
        "transfer_ms",
        "total_ms",
    }
    assert line["endpoint"] == probed.pk and line["status"] == "up" and line["diagnosis"] == "ok"
    assert line["addresses"] == [
        {
            "address": "127.0.0.1",
            "class": "loopback",
            "connect_ms": line["addresses"][0]["connect_ms"],
            "ok": True,
            "error": None,
        }
    ]
    assert line["http_status"] == 200
    result = ProbeResult.objects.get(endpoint=probed)
    assert result.source == "cli" and result.diagnosis == "ok"
    probed.refresh_from_db()
    assert (
        probed.status == "up"
        and probed.last_probe_at is not None
        and probed.status_changed_at is not None
    )


def test_probe_now_all_and_its_errors(probed, make_endpoint, workspace_a):
    make_endpoint(
        name="paused",
        url="http://ep-paused1.dashscope.cn-beijing.privatelink.aliyuncs.com",
        workspace=workspace_a,
        vpc=probed.vpc,
        enabled=False,
    )
    assert [line["endpoint"] for line in probe_now("--all")] == [probed.pk]
    with pytest.raises(CommandError, match="No endpoint with id 999"):
        probe_now("--endpoint", "999")
    with pytest.raises(CommandError, match="--all"):
        probe_now()


def test_the_probe_uses_the_workspaces_newest_active_key_and_marks_it_used(probed, workspace_a):
    key = workspace_a.api_keys.get()
    probe_now("--endpoint", str(probed.pk))
    key.refresh_from_db()
    assert key.last_used_at is not None


def test_a_revoked_key_is_reported_in_plain_words(probed, workspace_a):
    workspace_a.api_keys.update(revoked_at=timezone.now())
    (line,) = probe_now("--endpoint", str(probed.pk))
    assert line["diagnosis"] == "auth_rejected"
    assert "has no active API key" in line["message"]


def test_a_status_change_is_timestamped_and_the_same_status_is_not(probed, sim):
    probe_now("--endpoint", str(probed.pk))
    probed.refresh_from_db()
    first_change = probed.status_changed_at
    probe_now("--endpoint", str(probed.pk))
    probed.refresh_from_db()
    assert probed.status_changed_at == first_change
    sim.state.set_fault(host=HOST, fault=Fault(status=503))
    probe_now("--endpoint", str(probed.pk))
    probed.refresh_from_db()
    assert probed.status == "down" and probed.diagnosis == "upstream_error"
    assert probed.status_changed_at > first_change


def test_the_probes_api_returns_results_newest_first(probed, api_client, ops, sim):
    probe_now("--endpoint", str(probed.pk))
    sim.state.set_fault(host=HOST, fault=Fault(throttle=True))
    probe_now("--endpoint", str(probed.pk))
    body = api_client(ops).get(f"/api/v1/endpoints/{probed.pk}/probes", limit=1).json()
    assert len(body) == 1
    assert body[0]["diagnosis"] == "rate_limited" and body[0]["status"] == "degraded"
    assert set(body[0]) >= {
        "endpoint",
        "status",
        "diagnosis",
        "message",
        "phases",
        "addresses",
        "http_status",
        "started_at",
    }
    both = api_client(ops).get(f"/api/v1/endpoints/{probed.pk}/probes", limit=5).json()
    assert [r["diagnosis"] for r in both] == ["rate_limited", "ok"]


def test_a_model_call_check_is_billed_to_the_probing_workspace(probed, workspace_a):
    probed.check_model_id = workspace_a.granted_models.get(name="qwen-plus").pk
    probed.model_call_check = True
    probed.save()
    probe_now("--endpoint", str(probed.pk))
    probe_now("--endpoint", str(probed.pk))
    usage = UsageRecord.objects.get(workspace=workspace_a, source="probe")
    assert usage.model_name == "qwen-plus" and usage.requests == 2
    assert usage.input_tokens > 0 and usage.output_tokens >= 2
    assert usage.cost > Decimal(0) and usage.currency == "CNY"


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


@pytest.fixture
def broker_down(monkeypatch):
    """Point Celery at a closed loopback port (no broker answers), then restore it."""
    from portal.celery import app

    dead = "redis://127.0.0.1:1/0"
    monkeypatch.setenv("CELERY_BROKER_URL", dead)  # Celery prefers the environment to its config
    keys = (
        "broker_url",
        "broker_connection_retry",
        "broker_connection_max_retries",
        "task_publish_retry",
    )
    saved = {key: app.conf[key] for key in keys}
    app.conf.update(
        broker_url=dead,
        broker_connection_retry=False,
        broker_connection_max_retries=0,
        task_publish_retry=False,
    )
    app._pool = app.amqp._producer_pool = None  # both cache the connection's URL
    yield
    monkeypatch.undo()
    app.conf.update(saved)
    app._pool = app.amqp._producer_pool = None


def test_probes_that_cannot_be_queued_are_released_for_the_next_dispatch(probed, broker_down):
    claimed = dispatch.claim_due()
    assert claimed == [probed.pk]
    assert fan_out(claimed) == 1
    probed.refresh_from_db()
    assert probed.next_probe_at <= timezone.now()
    assert dispatch.claim_due() == [probed.pk]


def test_a_manual_run_counts_its_progress(probed, admin):
    run = ProbeRun.objects.create(requested_by=admin, total=1)
    assert run.percent == 0 and not run.is_finished
    runner.run_probes([probed.pk], run_id=run.pk, source="manual")
    run = ProbeRun.objects.get(pk=run.pk)
    assert run.done == 1 and run.is_finished and run.percent == 100


def test_the_dispatcher_task_queues_due_endpoints(probed, celery_queue):
    assert enqueue_due_probes() == 1
    assert enqueue_due_probes() == 0


def test_old_results_are_pruned(probed, settings):
    from endpoints.probes.tasks import prune_probe_results

    probe_now("--endpoint", str(probed.pk))
    ProbeResult.objects.update(
        started_at=timezone.now() - timedelta(days=settings.PORTAL_PROBE_RETENTION_DAYS + 1)
    )
    probe_now("--endpoint", str(probed.pk))
    assert prune_probe_results() == 1
    assert ProbeResult.objects.count() == 1


def test_a_change_that_could_alter_the_verdict_reprobes_within_seconds(
    probed, client_for, admin, workspace_a, django_capture_on_commit_callbacks
):
    Endpoint.objects.filter(pk=probed.pk).update(next_probe_at=timezone.now() + timedelta(hours=1))
    with django_capture_on_commit_callbacks(execute=True):  # re-probed once the change commits
        client_for(admin).post("/workspaces/team-a/models/qwen-max/toggle/")
    probed.refresh_from_db()
    assert probed.next_probe_at <= timezone.now()
    assert dispatch.claim_due() == [probed.pk]
