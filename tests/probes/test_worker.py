"""A real Celery worker process (and beat) on the test database and the real broker.

The broker is the embedded filesystem transport by default, Redis in CI's second pass
(CELERY_BROKER_URL). The simulator runs in this process; the worker probes it over
loopback and writes the results to the database.
"""

import time

import pytest

from endpoints.devtools.simulator import Fault, SimState, Simulator
from endpoints.network.models import Endpoint
from endpoints.probes import dispatch
from endpoints.probes.models import ProbeResult, ProbeSchedule
from endpoints.probes.tasks import fan_out
from tests.conftest import wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True, serialized_rollback=True)]
HOST = "ep-worker1.dashscope.cn-beijing.privatelink.aliyuncs.com"


@pytest.fixture
def sim(tmp_path):
    simulator = Simulator(SimState(), dns_port=0, workdir=tmp_path)
    simulator.start_in_thread()
    yield simulator
    simulator.stop()


@pytest.fixture
def endpoint(sim, make_workspace, make_vpc, make_endpoint):
    workspace = make_workspace("worker-ws", models=["qwen-plus"])
    vpc = make_vpc(resolver=f"127.0.0.1:{sim.dns_port}")
    ep = make_endpoint(
        url=f"http://{HOST}:{sim.http_port}", vpc=vpc, workspace=workspace, allows_80_443=True
    )
    sim.state.load_from_db()
    sim.dns.set_a(HOST, ["127.0.0.1"])
    return ep


def test_a_worker_process_probes_and_writes_the_result(endpoint, celery_worker_process, tmp_path):
    celery_worker_process()
    token, claimed = dispatch.claim(ProbeSchedule.objects.all(), limit=10)
    assert fan_out(token, claimed, source="manual") == 0
    result = wait_for(
        lambda: ProbeResult.objects.filter(endpoint=endpoint).first(),
        timeout=60,
        message="the worker's probe result",
        logs=[tmp_path / "worker.log"],
    )
    assert (result.status, result.diagnosis, result.source) == ("up", "ok", "manual")
    assert result.total_ms > 0 and result.addresses[0]["ok"]
    endpoint.refresh_from_db()
    assert endpoint.status == "up"


def test_beat_and_worker_probe_due_endpoints_on_schedule(endpoint, celery_worker_process, tmp_path):
    Endpoint.objects.filter(pk=endpoint.pk).update(interval_s=10)
    celery_worker_process(beat=True)
    wait_for(
        lambda: ProbeResult.objects.filter(endpoint=endpoint, source="schedule").exists(),
        timeout=60,
        message="a scheduled probe (beat → dispatcher → worker)",
        logs=[tmp_path / "worker.log", tmp_path / "beat.log"],
    )
    endpoint.refresh_from_db()
    schedule = ProbeSchedule.objects.get(endpoint=endpoint)
    assert schedule.next_probe_at > endpoint.last_probe_at  # leased, probed, rescheduled
    assert schedule.lease_token is None


def test_one_hanging_endpoint_delays_only_itself(
    sim, make_workspace, make_vpc, make_endpoint, celery_worker_process, tmp_path
):
    """Each result is stored as its probe ends: five healthy endpoints in the same batch as a
    hanging one are on the board seconds before the hanging one's deadline."""
    workspace = make_workspace("hang-ws", models=["qwen-plus"])
    vpc = make_vpc(resolver=f"127.0.0.1:{sim.dns_port}")
    hosts = [f"ep-ok{n}.dashscope.cn-beijing.privatelink.aliyuncs.com" for n in range(5)]
    hosts.append("ep-hang1.dashscope.cn-beijing.privatelink.aliyuncs.com")
    endpoints = [
        make_endpoint(
            name=host.split(".")[0],
            url=f"http://{host}:{sim.http_port}",
            vpc=vpc,
            workspace=workspace,
            allows_80_443=True,
        )
        for host in hosts
    ]
    healthy, hanging = endpoints[:5], endpoints[5]
    for host in hosts:
        sim.dns.set_a(host, ["127.0.0.1"])
    sim.state.load_from_db()
    sim.state.set_fault(host=hosts[-1], fault=Fault(hang=True))
    celery_worker_process(env_extra={"PORTAL_PROBE_TIMEOUT_S": "8"})
    token, claimed = dispatch.claim(ProbeSchedule.objects.all(), limit=10)
    assert fan_out(token, claimed, batch_size=10) == 0  # one batch holds all six
    wait_for(
        lambda: ProbeResult.objects.filter(endpoint__in=healthy).count() == 5,
        timeout=60,
        message="the healthy endpoints' results",
        logs=[tmp_path / "worker.log"],
    )
    assert not ProbeResult.objects.filter(endpoint=hanging).exists()  # still within its deadline
    result = wait_for(
        lambda: ProbeResult.objects.filter(endpoint=hanging).first(),
        timeout=30,
        message="the hanging endpoint's result at its deadline",
        logs=[tmp_path / "worker.log"],
    )
    assert result.diagnosis == "timeout" and result.status == "down"


def test_the_dispatch_runs_on_a_queue_of_its_own_and_probes_on_theirs(
    endpoint, celery_worker_process, celery_queue, tmp_path
):
    """Beat's dispatch goes to the dispatch queue (never behind probe batches), the batches
    to the probe queue: a dispatcher alone leases the due endpoint but probes nothing; the
    probe worker, once started, does."""
    Endpoint.objects.filter(pk=endpoint.pk).update(interval_s=10)
    celery_worker_process(beat=True, queues=f"{celery_queue}-dispatch")
    wait_for(
        lambda: ProbeSchedule.objects.filter(endpoint=endpoint, lease_token__isnull=False).exists(),
        timeout=60,
        message="the dispatcher leasing the due endpoint",
        logs=[tmp_path / "worker.log", tmp_path / "beat.log"],
    )
    time.sleep(3)  # the batch is queued; the dispatcher must not be the one to take it
    assert not ProbeResult.objects.filter(endpoint=endpoint).exists()
    celery_worker_process(queues=celery_queue)
    wait_for(
        lambda: ProbeResult.objects.filter(endpoint=endpoint, source="schedule").exists(),
        timeout=60,
        message="the probe worker taking the queued batch",
        logs=[tmp_path / "worker-2.log"],
    )
