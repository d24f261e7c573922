"""Incidents from real probes against the simulator: thresholds, escalation, closing,
acknowledging, the VPC-level incident, and the pages and API that show them."""

import pytest
from django.utils import timezone

from endpoints.devtools.simulator import Fault
from endpoints.network.models import Endpoint
from endpoints.probes.signals import agents_silent
from endpoints.status.models import Incident, IncidentEvent
from tests.probes.conftest import HOST, probe_now


def probe(endpoint, times=1):
    for _ in range(times):
        probe_now("--endpoint", str(endpoint.pk))


def test_an_incident_opens_after_two_bad_results_and_closes_after_one_good(probed, sim):
    probe(probed)
    sim.state.set_fault(host=HOST, fault=Fault(status=503))
    probe(probed)
    assert not Incident.objects.exists()  # one bad result is not an incident (threshold 2)
    probe(probed)
    incident = Incident.objects.get()
    assert (incident.status, incident.diagnosis, incident.closed_at) == (
        "down",
        "upstream_error",
        None,
    )
    assert incident.results_bad == 2
    sim.state.clear_faults()
    probe(probed)
    incident.refresh_from_db()
    assert incident.closed_at is not None and incident.duration.total_seconds() > 0
    kinds = list(incident.events.values_list("kind", flat=True))
    assert kinds == ["opened", "closed"]


def test_thresholds_are_per_endpoint(probed, sim):
    Endpoint.objects.filter(pk=probed.pk).update(failure_threshold=1, success_threshold=2)
    sim.state.set_fault(host=HOST, fault=Fault(status=503))
    probe(probed)
    assert Incident.objects.open().count() == 1
    sim.state.clear_faults()
    probe(probed)
    assert Incident.objects.open().count() == 1  # one up result is not enough here
    probe(probed)
    assert Incident.objects.open().count() == 0


def test_degraded_then_down_escalates_the_same_incident(probed, sim):
    sim.state.set_fault(host=HOST, fault=Fault(throttle=True))
    probe(probed, 2)
    incident = Incident.objects.get()
    assert incident.status == "degraded" and incident.diagnosis == "rate_limited"
    sim.state.set_fault(host=HOST, fault=Fault(status=503))
    probe(probed)
    incident.refresh_from_db()
    assert incident.status == "down" and incident.escalated_at is not None
    assert Incident.objects.count() == 1
    assert incident.events.filter(kind=IncidentEvent.Kind.ESCALATED).exists()


def test_a_diagnosis_change_is_kept_in_the_incident(probed, sim):
    sim.state.set_fault(host=HOST, fault=Fault(status=503))
    probe(probed, 2)
    sim.state.set_fault(host=HOST, fault=Fault(reset=True))
    probe(probed)
    incident = Incident.objects.get()
    assert incident.diagnosis == "connection_reset"
    change = incident.events.get(kind="diagnosis")
    assert change.diagnosis == "connection_reset"


def test_ops_acknowledge_with_a_note_from_the_api(probed, sim, api_client, ops, lead_a):
    sim.state.set_fault(host=HOST, fault=Fault(status=503))
    probe(probed, 2)
    incident = Incident.objects.get()
    listed = api_client(ops).get("/api/v1/incidents", open="true").json()
    assert [i["id"] for i in listed] == [incident.pk]
    assert set(listed[0]) >= {
        "id",
        "endpoint",
        "status",
        "diagnosis",
        "opened_at",
        "closed_at",
        "acknowledged_by",
        "note",
    }
    assert listed[0]["endpoint"] == {"id": probed.pk, "name": probed.name}
    response = api_client(ops).post(f"/api/v1/incidents/{incident.pk}/ack", {"note": "on it"})
    assert response.status_code == 200, response.content
    assert response.json()["acknowledged_by"] == ops.username and response.json()["note"] == "on it"
    assert (
        api_client(lead_a).post(f"/api/v1/incidents/{incident.pk}/ack", {"note": "x"}).status_code
        == 403
    )
    too_long = api_client(ops).post(f"/api/v1/incidents/{incident.pk}/ack", {"note": "x" * 3000})
    assert too_long.status_code == 400 and "note" in too_long.json()["errors"]
    assert api_client(ops).post("/api/v1/incidents/999999/ack", {"note": ""}).status_code == 404
    assert api_client(ops).get("/api/v1/incidents", limit=0).status_code == 400


def test_the_incident_pages_and_the_board(probed, sim, client_for, ops):
    sim.state.set_fault(host=HOST, fault=Fault(status=503))
    probe(probed, 2)
    incident = Incident.objects.get()
    client = client_for(ops)
    board = client.get("/probes/").content.decode()
    assert (
        "Open incidents" in board and f"incident-{incident.pk}" in board and "Acknowledge" in board
    )
    page = client.get(f"/incidents/{incident.pk}/").content.decode()
    assert "upstream_error" in page and "Opened" in page
    response = client.post(
        f"/incidents/{incident.pk}/ack/", {"note": "looking"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200 and "looking" in response.content.decode()
    incident.refresh_from_db()
    assert incident.acknowledged_by == ops
    assert client.get("/incidents/?show=all").status_code == 200
    assert client.get("/incidents/?show=<script>").status_code == 200
    assert client.get(f"/endpoints/{probed.pk}/?range=7d").status_code == 200
    assert client.get(f"/endpoints/{probed.pk}/?range=bogus").status_code == 200


def test_silent_agents_make_one_vpc_incident(probed):
    since = timezone.now()
    agents_silent.send(None, vpc_id=probed.vpc_id, silent=True, since=since)
    agents_silent.send(None, vpc_id=probed.vpc_id, silent=True, since=since)
    incident = Incident.objects.get()
    assert (incident.scope, incident.status, incident.diagnosis) == ("vpc", "unknown", "no_agent")
    agents_silent.send(None, vpc_id=probed.vpc_id, silent=False, since=None)
    incident.refresh_from_db()
    assert incident.closed_at is not None


@pytest.mark.parametrize("status", ["unknown"])
def test_unknown_results_open_nothing(probed, sim, status, settings):
    settings.PORTAL_PROBE_ALLOWED_NETWORKS = ["10.0.0.0/8"]  # loopback refused: egress_refused
    probe(probed, 3)
    assert Endpoint.objects.get(pk=probed.pk).status == status
    assert not Incident.objects.exists()


def test_a_bug_in_the_incident_code_never_loses_the_results(probed, sim, monkeypatch, caplog):
    """Fault injected: updating incidents raises something other than a database error."""
    from endpoints.probes.models import ProbeResult
    from endpoints.status import incidents

    def broken(changes):
        raise KeyError("a bug")

    monkeypatch.setattr(incidents, "_apply", broken)
    sim.state.set_fault(host=HOST, fault=Fault(status=503))
    probe(probed, times=2)
    assert ProbeResult.objects.filter(endpoint=probed).count() == 2
    probed.refresh_from_db()
    assert probed.status == "down"
    assert "Updating incidents failed" in caplog.text
