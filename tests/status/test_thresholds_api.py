"""failure_threshold / success_threshold through the endpoints API (create and PATCH): bad
values are a JSON 400 naming the field, with nothing changed; good ones are stored and decide
when real probes against the simulator open and close an incident."""

import json

import pytest

from endpoints.devtools.simulator import Fault
from endpoints.network.models import Endpoint
from endpoints.status.models import Incident
from tests.probes.conftest import HOST, probe_now

BAD = [0, -1, 101, 2.5, "two", [2], {"n": 2}, False]


def probe(endpoint, times=1):
    for _ in range(times):
        probe_now("--endpoint", str(endpoint.pk))


def fields(endpoint) -> tuple:
    endpoint.refresh_from_db()
    return endpoint.failure_threshold, endpoint.success_threshold


@pytest.fixture
def payload(sim, workspace_a, make_vpc):
    vpc = make_vpc(resolver=f"127.0.0.1:{sim.dns_port}")
    sim.dns.set_a(HOST, ["127.0.0.1"])
    return {
        "name": "via api",
        "kind": "privatelink_default",
        "url": f"http://{HOST}:{sim.http_port}",
        "region": "cn-beijing",
        "vpc": vpc.vpc_id,
        "zones": ["cn-beijing-a", "cn-beijing-b"],
        "allows_80_443": True,
        "workspace": workspace_a.slug,
    }


@pytest.mark.parametrize("field", ["failure_threshold", "success_threshold"])
def test_bad_thresholds_are_refused_on_create(payload, api_client, admin, field):
    api = api_client(admin)
    for value in BAD:
        response = api.post("/api/v1/endpoints", json.dumps({**payload, field: value}))
        assert response.status_code == 400, (value, response.content)
        assert response["Content-Type"].startswith("application/json")
        assert field in response.json()["errors"], (value, response.json())
    assert not Endpoint.objects.exists()


@pytest.mark.parametrize("field", ["failure_threshold", "success_threshold"])
def test_bad_thresholds_are_refused_on_patch(probed, api_client, admin, field):
    Endpoint.objects.filter(pk=probed.pk).update(failure_threshold=3, success_threshold=2)
    api = api_client(admin)
    for value in BAD:
        response = api.patch(
            f"/api/v1/endpoints/{probed.pk}", json.dumps({field: value, "name": "renamed"})
        )
        assert response.status_code == 400, (value, response.content)
        assert field in response.json()["errors"], (value, response.json())
    assert fields(probed) == (3, 2)
    assert Endpoint.objects.get(pk=probed.pk).name == probed.name  # nothing else changed either


def test_thresholds_given_on_create_are_stored_and_open_and_close_incidents(
    payload, api_client, admin, sim, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):  # its schedules, as in production
        response = api_client(admin).post(
            "/api/v1/endpoints",
            json.dumps({**payload, "failure_threshold": 3, "success_threshold": 2}),
        )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["failure_threshold"], body["success_threshold"]) == (3, 2)
    endpoint = Endpoint.objects.get(pk=body["id"])
    assert fields(endpoint) == (3, 2)
    sim.state.load_from_db()  # the simulator learns workspace A's key
    sim.state.set_fault(host=HOST, fault=Fault(status=503))
    probe(endpoint, 2)
    assert not Incident.objects.exists()  # two bad results: not yet (three are needed)
    probe(endpoint)
    incident = Incident.objects.get()
    assert incident.results_bad == 3
    sim.state.clear_faults()
    probe(endpoint)
    assert Incident.objects.get().closed_at is None  # one good result: still open (two needed)
    probe(endpoint)
    assert Incident.objects.get().closed_at is not None


def test_thresholds_patched_are_stored_and_used_and_null_restores_the_default(
    probed, api_client, admin, sim, settings
):
    api = api_client(admin)
    response = api.patch(f"/api/v1/endpoints/{probed.pk}", json.dumps({"failure_threshold": 1}))
    assert response.status_code == 200, response.content
    assert response.json()["failure_threshold"] == 1 and fields(probed) == (1, None)
    sim.state.set_fault(host=HOST, fault=Fault(status=503))
    probe(probed)
    assert Incident.objects.open().count() == 1  # one bad result is enough now
    sim.state.clear_faults()
    probe(probed)
    assert Incident.objects.open().count() == 0
    settings.PORTAL_INCIDENT_FAILURE_THRESHOLD = 2
    response = api.patch(f"/api/v1/endpoints/{probed.pk}", json.dumps({"failure_threshold": None}))
    assert response.status_code == 200 and response.json()["failure_threshold"] is None
    sim.state.set_fault(host=HOST, fault=Fault(status=503))
    probe(probed)
    assert Incident.objects.open().count() == 0  # the portal's default again: two are needed
