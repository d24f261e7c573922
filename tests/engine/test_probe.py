"""Whole probes: every phase timed, deadlines that hold whatever the upstream does, many at
once, and the engine loading no Django."""

import asyncio
import os
import subprocess
import sys
import time

from endpoints.devtools.simulator import Fault
from endpoints.engine import EgressPolicy, ProbeTarget, probe_many
from tests.conftest import ROOT
from tests.engine.conftest import DEFAULT_HOST, LOOPBACK_ONLY, assert_outcome, run, target


def test_it_reports_ok_with_every_phase_timed(sim):
    outcome = run(target(sim))
    assert_outcome(outcome, "up", "ok", None)
    phases = outcome.phases
    assert phases.resolve_ms is not None and phases.connect_ms is not None
    assert phases.processing_ms is not None and phases.transfer_ms is not None
    assert phases.tls_ms is None  # http: no TLS phase
    assert phases.total_ms >= phases.processing_ms
    assert outcome.http_status == 200
    assert [(a.address, a.cls, a.ok) for a in outcome.addresses] == [
        ("127.0.0.1", "loopback", True)
    ]
    assert outcome.request_id


def test_slow(sim):
    sim.state.set_fault(host=DEFAULT_HOST, fault=Fault(latency_ms=300))
    outcome = run(target(sim, slow_ms=100))
    assert_outcome(outcome, "degraded", "slow", None)
    assert outcome.phases.processing_ms >= 290


def test_a_hanging_upstream_is_cut_off_at_the_deadline(sim):
    sim.state.set_fault(host=DEFAULT_HOST, fault=Fault(hang=True))
    started = time.monotonic()
    outcome = run(target(sim, timeout_s=1.0))
    elapsed = time.monotonic() - started
    assert_outcome(outcome, "down", "timeout", "processing")
    assert 0.9 < elapsed < 3.0  # cut off at the deadline, not left hanging
    assert outcome.phases.total_ms >= 990


def test_a_slow_dripping_body_is_cut_off_at_the_deadline(sim):
    sim.state.set_fault(host=DEFAULT_HOST, fault=Fault(slow_body_bytes_per_s=5))
    started = time.monotonic()
    outcome = run(target(sim, timeout_s=1.0))
    assert_outcome(outcome, "down", "timeout", "transfer")
    assert time.monotonic() - started < 3.0


def test_many_probes_run_concurrently_and_a_hang_blocks_no_other(sim):
    hanging = "ep-hang01.dashscope.cn-beijing.privatelink.aliyuncs.com"
    sim.state.set_fault(host=hanging, fault=Fault(hang=True))
    sim.state.set_fault(host=DEFAULT_HOST, fault=Fault(latency_ms=50))
    targets = [target(sim, hanging, timeout_s=1.0) for _ in range(5)]
    targets += [target(sim, timeout_s=1.0) for _ in range(30)]
    started = time.monotonic()
    outcomes = asyncio.run(probe_many(targets, concurrency=50, policy=LOOPBACK_ONLY))
    elapsed = time.monotonic() - started
    assert [o.diagnosis for o in outcomes[:5]] == ["timeout"] * 5
    assert all(o.diagnosis == "ok" for o in outcomes[5:])
    assert elapsed < 3.0  # 35 probes at once, 5 hanging for the whole second (one at a time: 5+ s)


def test_the_system_resolver_is_guarded_like_any_other_address():
    t = ProbeTarget(url=f"http://{DEFAULT_HOST}", kind="privatelink_default", api_style="openai")
    outcome = run(
        t, EgressPolicy.from_env("192.0.2.0/24")
    )  # TEST-NET: no real resolver lives there
    assert_outcome(outcome, "unknown", "egress_refused", "resolve")
    assert "PORTAL_PROBE_RESOLVER" in outcome.message


def test_an_unexpected_failure_stays_with_its_endpoint(sim):
    # A non-ASCII key cannot travel in a header: that probe fails alone, its batch lives on.
    bad = target(sim, secret="sk-clé" + "a" * 29)
    good = target(sim)
    bad_outcome, good_outcome = asyncio.run(probe_many([bad, good], policy=LOOPBACK_ONLY))
    assert (bad_outcome.status, bad_outcome.diagnosis) == ("unknown", "internal_error")
    assert "clé" not in bad_outcome.message
    assert good_outcome.diagnosis == "ok"


def test_importing_the_engine_loads_no_django_and_no_app():
    code = (
        "import sys, endpoints.engine, endpoints.engine.hosts, endpoints.engine.routes; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'django', 'celery', 'portal'}), "
        "sorted(m for m in sys.modules if m.startswith('endpoints.') and "
        "not m.startswith('endpoints.engine')))"
    )
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[] []"
