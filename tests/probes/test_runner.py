"""From the database to the engine and back: keys used, statuses, usage billed, runs, pruning."""

from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from endpoints.devtools.simulator import Fault
from endpoints.probes import runner
from endpoints.probes.models import ProbeResult, ProbeRun
from portal.costs.models import UsageRecord
from tests.probes.conftest import HOST, probe_now


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


def test_a_manual_run_counts_its_progress(probed, admin):
    run = ProbeRun.objects.create(requested_by=admin, total=1)
    assert run.percent == 0 and not run.is_finished
    runner.run_probes([probed.pk], run_id=run.pk, source="manual")
    run = ProbeRun.objects.get(pk=run.pk)
    assert run.done == 1 and run.is_finished and run.percent == 100


def test_old_results_are_pruned(probed, settings):
    from endpoints.probes.tasks import prune_probe_results

    probe_now("--endpoint", str(probed.pk))
    ProbeResult.objects.update(
        started_at=timezone.now() - timedelta(hours=settings.PORTAL_PROBE_RETENTION_HOURS + 1)
    )
    probe_now("--endpoint", str(probed.pk))
    assert prune_probe_results() == 1
    assert ProbeResult.objects.count() == 1
