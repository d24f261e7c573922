"""An endpoint's page: the checklist of the docs' rules and the latest probe."""

from django.utils import timezone

from endpoints.network.services import checklist
from endpoints.probes.models import ProbeResult


def test_the_detail_page_shows_the_checklist_and_the_latest_probe(
    client_for, ops, workspace_a, make_vpc, make_endpoint
):
    endpoint = make_endpoint(
        vpc=make_vpc(), workspace=workspace_a, zones=["cn-beijing-a"], allows_80_443=False
    )
    ProbeResult.objects.create(
        endpoint=endpoint,
        status="down",
        diagnosis="tcp_timeout",
        message="No TCP answer from 10.1.2.3 (port 80) within 5 s.",
        failed_phase="connect",
        resolve_ms=1.2,
        total_ms=5001,
        addresses=[
            {
                "address": "10.1.2.3",
                "class": "private",
                "connect_ms": None,
                "ok": False,
                "error": "timeout",
            }
        ],
    )
    html = client_for(ops).get(f"/endpoints/{endpoint.pk}/").content.decode()
    assert "No zone failover" in html
    assert "does not allow inbound TCP 80/443" in html
    assert (
        "tcp_timeout" in html
        and "security group drops" in html
        and "Failed in the TCP phase" in html
    )
    assert "Probe now" in html and "Edit" not in html  # ops may probe, not edit


def test_the_checklist_warns_about_a_workspace_without_a_key(workspace_a, make_vpc, make_endpoint):
    endpoint = make_endpoint(vpc=make_vpc(), workspace=workspace_a)
    workspace_a.api_keys.update(revoked_at=timezone.now())
    messages = [c.message for c in checklist(endpoint) if c.state == "warn"]
    assert any("has no active API key" in m for m in messages)
