"""manage.py probe_now: probes synchronously and prints one JSON object per endpoint."""

import pytest
from django.core.management import CommandError

from endpoints.probes.models import ProbeResult
from tests.probes.conftest import probe_now


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
