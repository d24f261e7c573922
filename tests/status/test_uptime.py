"""Uptime against hand-computed figures: a flip at a known time, maintenance, an unknown
period (the portal not probing); rollups, pruning and the endpoints API (/metrics:
test_metrics.py)."""

from datetime import UTC, datetime, timedelta

import pytest

from endpoints.probes.models import ProbeResult, StatusChange
from endpoints.status import maintenance, probing, rollups, uptime
from endpoints.status.models import HourlyRollup, MaintenanceWindow, ProbingGap
from endpoints.status.tasks import prune_history, refresh_summaries

T0 = datetime(2026, 3, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)


@pytest.fixture
def endpoint(make_endpoint):
    return make_endpoint()


def flip(endpoint, at, status, previous):
    StatusChange.objects.create(
        endpoint=endpoint, location="central", at=at, status=status, previous=previous
    )


def test_a_flip_at_a_known_time(endpoint):
    flip(endpoint, T0, "up", "unknown")
    flip(endpoint, T0 + 6 * HOUR, "down", "up")  # down for the last 4 of 10 hours
    line = uptime.timelines([endpoint.pk], T0, T0 + 10 * HOUR, now=T0 + 10 * HOUR)[endpoint.pk]
    assert line.seconds(T0, T0 + 10 * HOUR) == (6 * 3600, 10 * 3600)
    assert line.percent(T0, T0 + 10 * HOUR) == 60.0
    # Before the first result nothing is known: it is left out, not counted as down.
    early = uptime.timelines([endpoint.pk], T0 - 5 * HOUR, T0 + 10 * HOUR, now=T0 + 10 * HOUR)
    assert early[endpoint.pk].percent(T0 - 5 * HOUR, T0 + 10 * HOUR) == 60.0


def test_maintenance_and_an_unknown_period_are_left_out(endpoint, admin):
    flip(endpoint, T0, "up", "unknown")
    flip(endpoint, T0 + 6 * HOUR, "down", "up")
    # Maintenance 7:00-8:00 (while down) and the portal silent 1:00-2:00 (while up).
    MaintenanceWindow.objects.create(
        name="m", endpoint=endpoint, starts_at=T0 + 7 * HOUR, ends_at=T0 + 8 * HOUR
    )
    ProbingGap.objects.create(started_at=T0 + HOUR, ended_at=T0 + 2 * HOUR)
    line = uptime.timelines([endpoint.pk], T0, T0 + 10 * HOUR, now=T0 + 10 * HOUR)[endpoint.pk]
    up, known = line.seconds(T0, T0 + 10 * HOUR)
    assert (up, known) == (5 * 3600, 8 * 3600)  # up 6 h - 1 h silent; down 4 h - 1 h maintenance
    assert line.percent(T0, T0 + 10 * HOUR) == 62.5


def test_degraded_counts_as_available_and_unknown_as_nothing(endpoint):
    flip(endpoint, T0, "degraded", "unknown")
    flip(endpoint, T0 + 2 * HOUR, "unknown", "degraded")
    flip(endpoint, T0 + 3 * HOUR, "down", "unknown")
    line = uptime.timelines([endpoint.pk], T0, T0 + 4 * HOUR, now=T0 + 4 * HOUR)[endpoint.pk]
    assert line.seconds(T0, T0 + 4 * HOUR) == (2 * 3600, 3 * 3600)


def test_a_recurring_window_keeps_its_local_time_across_dst(endpoint):
    # 02:00-03:00 in Berlin every day: 01:00 UTC in winter, 00:00 UTC after 29 March.
    window = MaintenanceWindow(
        name="nightly",
        starts_at=datetime(2026, 3, 27, 1, tzinfo=UTC),
        ends_at=datetime(2026, 3, 27, 2, tzinfo=UTC),
        recurrence="DAILY",
        timezone="Europe/Berlin",
    )
    spans = maintenance.occurrences(
        window, datetime(2026, 3, 27, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC)
    )
    # 29 March: 02:00 does not exist (clocks jump to 03:00); zoneinfo reads it as 02:00 CET.
    assert [s[0].hour for s in spans] == [1, 1, 1, 0, 0]
    assert all(end - start == HOUR for start, end in spans)


def test_the_summary_feeds_the_endpoints_api(
    endpoint, api_client, ops, django_assert_max_num_queries
):
    from django.utils import timezone

    now = timezone.now()
    flip(endpoint, now - timedelta(hours=30), "up", "unknown")
    flip(endpoint, now - timedelta(hours=6), "down", "up")
    refresh_summaries([endpoint.pk])
    item = api_client(ops).get("/api/v1/endpoints").json()[0]
    assert item["uptime_24h"] == 75.0 and item["uptime_7d"] == pytest.approx(80.0, abs=0.01)
    assert set(item) >= {"last_probe_at", "latency_ms", "uptime_24h", "uptime_7d", "uptime_30d"}


def test_the_endpoints_api_does_not_query_per_row(
    many_endpoints, api_client, ops, django_assert_num_queries
):
    many_endpoints(5)
    client = api_client(ops)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.get("/api/v1/endpoints")  # the token's first use is written once
    with CaptureQueriesContext(connection) as five:
        client.get("/api/v1/endpoints")
    many_endpoints(45, start=5)
    with CaptureQueriesContext(connection) as fifty:
        assert len(client.get("/api/v1/endpoints").json()) == 50
    assert len(fifty) == len(five)


def test_rollups_count_and_take_percentiles_and_catch_up(endpoint):
    start = rollups.floor_hour(datetime.now(UTC)) - 3 * HOUR
    rows = [
        ProbeResult(
            endpoint=endpoint,
            started_at=start + timedelta(minutes=m),
            status="up" if m % 4 else "down",
            diagnosis="ok",
            message="",
            total_ms=float(m),
            resolve_ms=1.0,
        )
        for m in range(60)
    ]
    ProbeResult.objects.bulk_create(rows)
    assert rollups.roll_up() >= 3
    rollup = HourlyRollup.objects.get(hour=start)
    assert (rollup.up, rollup.down, rollup.count) == (45, 15, 60)
    assert rollup.total_p50 == pytest.approx(29.5) and rollup.total_p99 == pytest.approx(58.41)
    assert rollup.resolve_p95 == 1.0 and rollup.tls_p50 is None
    assert rollups.roll_up() <= 1  # idempotent: only the last hour again
    assert HourlyRollup.objects.filter(hour=start).count() == 1


def test_old_history_is_pruned_in_batches(endpoint, settings):
    old = datetime.now(UTC) - timedelta(days=settings.PORTAL_ROLLUP_RETENTION_DAYS + 1)
    HourlyRollup.objects.bulk_create(
        [
            HourlyRollup(endpoint=endpoint, location="central", hour=old - n * HOUR)
            for n in range(30)
        ]
    )
    flip(endpoint, old, "up", "unknown")
    assert prune_history() == 31
    assert not HourlyRollup.objects.exists()


def test_the_board_says_when_probing_stopped(endpoint, client_for, ops):
    from django.utils import timezone

    last = timezone.now() - timedelta(minutes=4, seconds=5)
    ProbeResult.objects.create(
        endpoint=endpoint, started_at=last, status="up", diagnosis="ok", message=""
    )
    html = client_for(ops).get("/probes/").content.decode()
    assert "Probing stopped 4 min ago: no worker or beat running?" in html
    assert probing.watch() == 1
    gap = ProbingGap.objects.get()
    assert gap.started_at == last and gap.ended_at is None
    ProbeResult.objects.create(
        endpoint=endpoint, started_at=timezone.now(), status="up", diagnosis="ok", message=""
    )
    probing.watch()
    gap.refresh_from_db()
    assert gap.ended_at is not None
    assert "Probing stopped" not in client_for(ops).get("/probes/").content.decode()


def test_maintenance_api_validates(db, api_client, admin, ops, endpoint):
    good = {
        "name": "patch",
        "endpoint": endpoint.pk,
        "starts_at": "2026-03-01T02:00:00Z",
        "ends_at": "2026-03-01T03:00:00Z",
    }
    assert api_client(admin).post("/api/v1/maintenance", good).status_code == 201
    assert api_client(ops).post("/api/v1/maintenance", good).status_code == 403
    assert len(api_client(ops).get("/api/v1/maintenance").json()) == 1
    for bad, field in [
        ({**good, "ends_at": "2026-03-01T01:00:00Z"}, "ends_at"),
        ({**good, "timezone": "Mars/Olympus"}, "timezone"),
        ({**good, "recurrence": "HOURLY"}, "recurrence"),
        ({**good, "endpoint": 99999}, "endpoint"),
        ({**good, "vpc": "vpc-nothere1"}, "vpc"),
    ]:
        response = api_client(admin).post("/api/v1/maintenance", bad)
        assert response.status_code == 400 and field in response.json()["errors"], (
            bad,
            response.content,
        )
    assert MaintenanceWindow.objects.count() == 1
