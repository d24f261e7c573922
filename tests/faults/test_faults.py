"""Faults injected into the real processes, and what a user would check afterwards."""

import itertools
import time

from django.db import connection
from django.utils import timezone

from endpoints.probes.models import ProbeResult, ProbeSchedule
from tests.conftest import wait_for
from tests.faults.conftest import INTERVAL, LEASE, pytestmark  # noqa: F401  (the markers)

# A fault is over when its last effect is: an endpoint due right then waits at most an
# interval for its slot, a lease for a dead prober's claim, and a dispatch period.
WITHIN = INTERVAL + LEASE + 4


def test_a_worker_killed_mid_batch_leaves_nothing_undone(fault_world):
    world = fault_world
    world.start_all()
    world.wait_until_probing()
    # Mid-batch: wait until the worker holds leases (probes waiting for their slot or in flight).
    wait_for(
        lambda: (
            ProbeSchedule.objects.filter(lease_until__gt=timezone.now())
            .exclude(lease_token=None)
            .count()
            >= 3
        ),
        timeout=30,
        interval=0.05,
    )
    world.kill("worker")
    killed_at = timezone.now()
    # What the dead worker held: slots leased to it and not recorded. Each must be redone.
    held = list(
        ProbeSchedule.objects.exclude(lease_token=None).values_list("endpoint_id", "next_probe_at")
    )
    assert held, "the worker held no lease when it was killed"
    world.start("worker", "worker")
    world.assert_all_probed_since(killed_at, WITHIN)
    for endpoint_id, slot in held:
        assert ProbeResult.objects.filter(endpoint_id=endpoint_id, slot=slot).exists(), slot
    world.assert_no_result_twice()
    world.assert_none_stuck()
    world.assert_board_truthful()


def test_redis_stopped_for_30_seconds_then_back(fault_world):
    world = fault_world
    world.start_all()
    world.wait_until_probing()
    before = len(world.log_text("beat"))
    world.redis.stop()
    time.sleep(2 + 2)  # a dispatch period (2 s) and a margin
    said = world.log_text("beat")[before:]
    assert "ERROR" in said or "WARNING" in said, said[-2000:]  # reported, not silent
    time.sleep(30 - 4)
    world.redis.start()
    back_at = timezone.now()
    world.assert_all_probed_since(back_at, WITHIN + 10)  # the processes reconnect first
    world.assert_no_result_twice()
    world.assert_none_stuck()
    world.assert_board_truthful()


def test_the_databases_connections_cut_while_a_batch_probes(fault_world):
    """A failover or restart: the outcomes in memory are recorded once the database answers."""
    world = fault_world
    world.start_all()
    world.wait_until_probing()
    time.sleep(INTERVAL / 2)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    cut_at = timezone.now()
    world.assert_all_probed_since(cut_at, WITHIN)
    world.assert_no_result_twice()
    world.assert_none_stuck()
    # Nothing lost: no endpoint went more than an interval (and a few seconds) without a result.
    for endpoint in world.endpoints:
        times = list(
            ProbeResult.objects.filter(endpoint=endpoint)
            .order_by("started_at")
            .values_list("started_at", flat=True)
        )
        gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(times)]
        assert max(gaps, default=0) <= INTERVAL + 4, (endpoint.name, gaps)


def test_two_beats_at_once_probe_nothing_twice(fault_world):
    world = fault_world
    world.start_all()
    world.start("beat2", "beat")
    world.wait_until_probing()
    started = timezone.now()
    time.sleep(3 * INTERVAL)
    world.assert_no_result_twice()
    for endpoint in world.endpoints:
        count = ProbeResult.objects.filter(endpoint=endpoint, started_at__gt=started).count()
        assert count <= 3 + 1, (endpoint.name, count)  # once an interval, whoever dispatched
    world.assert_none_stuck()


def test_hanging_upstreams_among_healthy_ones_hold_up_no_one(fault_world):
    world = fault_world
    world.start_all()
    world.wait_until_probing()
    started = timezone.now()
    time.sleep(4 * INTERVAL)
    for endpoint in world.endpoints:
        times = list(
            ProbeResult.objects.filter(endpoint=endpoint, started_at__gt=started)
            .order_by("started_at")
            .values_list("started_at", flat=True)
        )
        assert len(times) >= 3, (endpoint.name, len(times))
        gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(times)]
        assert max(gaps) <= INTERVAL + 3, (endpoint.name, gaps)
    world.assert_no_result_twice()
    world.assert_board_truthful()
