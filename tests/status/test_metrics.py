"""GET /metrics: only with PORTAL_METRICS_TOKEN as a bearer token (404 while it is unset, 401
without it or with a wrong one), Prometheus text with blackbox_exporter's names."""

from datetime import UTC, datetime

import pytest
from prometheus_client.parser import text_string_to_metric_families

from endpoints.probes.models import ProbeResult, ProbeSchedule
from endpoints.status.models import Incident


@pytest.fixture
def endpoint(make_endpoint):
    endpoint = make_endpoint()
    latest = ProbeResult.objects.create(
        endpoint=endpoint,
        started_at=datetime.now(UTC),
        status="up",
        diagnosis="ok",
        message="",
        resolve_ms=1.0,
        connect_ms=2.0,
        total_ms=25.0,
        http_status=400,
        tls_days_left=30,
    )
    ProbeSchedule.objects.filter(endpoint=endpoint).update(
        status="up", last_probe_at=latest.started_at
    )
    return endpoint


def scrape(client, token="m-token"):
    return client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {token}")


def test_metrics_do_not_exist_while_the_token_is_unset(endpoint, client, settings):
    settings.PORTAL_METRICS_TOKEN = None
    assert client.get("/metrics").status_code == 404
    assert scrape(client, "anything").status_code == 404


def test_metrics_need_the_bearer_token(endpoint, client, settings):
    settings.PORTAL_METRICS_TOKEN = "m-token"
    missing = client.get("/metrics")
    assert missing.status_code == 401 and missing["WWW-Authenticate"].startswith("Bearer")
    assert scrape(client, "wrong").status_code == 401
    assert scrape(client, "m-token-and-more").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Basic m-token").status_code == 401
    assert b"probe_success" not in missing.content
    assert scrape(client).status_code == 200


def test_metrics_speak_blackbox_exporter(endpoint, client, settings):
    settings.PORTAL_METRICS_TOKEN = "m-token"
    response = scrape(client)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    text = response.content.decode()
    head = 'endpoint="ep",kind="privatelink_default",location="central"'
    labels = f'{head},region="cn-beijing",vpc=""'  # prometheus_client sorts the labels
    assert f"probe_success{{{labels}}} 1.0" in text
    assert f"probe_duration_seconds{{{labels}}} 0.025" in text
    assert (
        f'probe_http_duration_seconds{{{head},phase="connect",region="cn-beijing",vpc=""}} 0.002'
        in text
    )
    assert f"probe_http_status_code{{{labels}}} 400.0" in text
    assert "probe_ssl_earliest_cert_expiry{" in text
    assert f'portal_endpoint_status{{{head},region="cn-beijing",status="up",vpc=""}} 1.0' in text
    assert 'portal_incidents_open{status="down"} 0.0' in text
    assert "portal_agent_last_seen_timestamp_seconds" in text


def test_open_incidents_are_counted_and_labels_are_escaped(endpoint, client, settings):
    settings.PORTAL_METRICS_TOKEN = "m-token"
    Incident.objects.create(endpoint=endpoint, status="down", diagnosis="upstream_error")
    endpoint.name = 'a "quoted"\\name'
    endpoint.save()
    families = {f.name: f.samples for f in text_string_to_metric_families(scrape(client).text)}
    assert families["probe_success"][0].labels["endpoint"] == 'a "quoted"\\name'
    open_by_status = {s.labels["status"]: s.value for s in families["portal_incidents_open"]}
    assert open_by_status["down"] == 1.0 and open_by_status["degraded"] == 0.0
