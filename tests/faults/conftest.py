"""The faults suite (`pytest -m faults`, CI's PostgreSQL + Redis pass): the real processes
(beat, the dispatcher's worker, a probe worker) against a redis-server of the test's own on a
free port and the simulator, each fault injected for real, and what a user would check
afterwards: no result twice, no endpoint left unprobed past one interval after the fault,
none stuck on a lease, the board telling the truth. Every test is bounded in time.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.db.models import Count
from django.utils import timezone

from endpoints.devtools.simulator import Fault, SimState, Simulator
from tests.conftest import ROOT, start_process, stop_process, subprocess_env, wait_for

INTERVAL = 10
LEASE = 12
TIMEOUT = 3

pytestmark = [
    pytest.mark.faults,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.skipif(
        not os.environ.get("DATABASE_URL", "").startswith("postgres")
        or shutil.which("redis-server") is None,
        reason="the faults suite runs on PostgreSQL, with a redis-server of its own",
    ),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RedisServer:
    """A redis-server of the test's own (the shared one is never stopped)."""

    def __init__(self, workdir: Path):
        self.port, self.workdir, self.process = free_port(), workdir, None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self):
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(self.answers, timeout=10, message="redis-server to answer")

    def answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self):
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None


class World:
    """Endpoints on the simulator and the processes that probe them."""

    def __init__(self, tmp_path, redis, queue):
        self.tmp_path, self.redis, self.queue = tmp_path, redis, queue
        self.processes: dict[str, subprocess.Popen] = {}
        self.env = {
            **subprocess_env(),
            "CELERY_BROKER_URL": redis.url,
            "PORTAL_PROBE_LEASE_S": str(LEASE),
            "PORTAL_PROBE_TIMEOUT_S": str(TIMEOUT),
            "PORTAL_DISPATCH_EVERY_S": "2",
            "PORTAL_PROBE_BATCH_SIZE": "5",
        }
        self.endpoints, self.hanging = [], []

    def start(self, name: str, *args):
        log = self.tmp_path / f"{name}.log"
        if args[0] == "beat":
            argv = [sys.executable, "-m", "celery", "--app", "portal", "beat", "--loglevel", "INFO"]
            argv += ["--schedule", str(self.tmp_path / f"{name}-schedule")]
        else:
            queue = self.queue if args[0] == "worker" else f"{self.queue}-dispatch"
            argv = [sys.executable, "-m", "celery", "--app", "portal", "worker", "--pool", "solo"]
            argv += ["--loglevel", "INFO", "--queues", queue, "--hostname", f"{name}-{queue}@%h"]
            argv += ["--without-heartbeat", "--without-gossip", "--without-mingle"]
        process = start_process(argv, self.env, log)
        self.processes[name] = process
        return process

    def start_all(self):
        self.start("dispatcher", "dispatcher")
        self.start("worker", "worker")
        self.start("beat", "beat")

    def kill(self, name: str):
        process = self.processes.pop(name)
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        process.log.close()

    def stop_all(self):
        for process in self.processes.values():
            stop_process(process)
        self.processes.clear()

    @property
    def logs(self):
        return sorted(self.tmp_path.glob("*.log"))

    def log_text(self, name: str) -> str:
        return (self.tmp_path / f"{name}.log").read_text(errors="replace")

    # -- what a user checks afterwards ----------------------------------------------------------

    def wait_until_probing(self, timeout=90):
        from endpoints.probes.models import ProbeResult

        wait_for(
            lambda: (
                ProbeResult.objects.values("endpoint").distinct().count() == len(self.endpoints)
            ),
            timeout=timeout,
            message="every endpoint probed once",
            logs=self.logs,
        )

    def assert_no_result_twice(self):
        from endpoints.probes.models import ProbeResult

        twice = (
            ProbeResult.objects.exclude(slot=None)
            .values("endpoint", "location", "slot")
            .annotate(n=Count("id"))
            .filter(n__gt=1)
        )
        assert not twice.exists(), list(twice[:5])

    def assert_all_probed_since(self, moment, within_s: float):
        """Every endpoint has a result that started after `moment` and by `within_s` later."""
        from endpoints.probes.models import ProbeResult

        deadline = time.monotonic() + within_s + 30

        def fresh():
            probed = set(
                ProbeResult.objects.filter(started_at__gt=moment).values_list(
                    "endpoint_id", flat=True
                )
            )
            return probed >= {e.pk for e in self.endpoints}

        wait_for(fresh, timeout=max(1.0, deadline - time.monotonic()), logs=self.logs)
        from endpoints.probes.models import ProbeResult as Result

        late = []
        for endpoint in self.endpoints:
            first = (
                Result.objects.filter(endpoint=endpoint, started_at__gt=moment)
                .order_by("started_at")
                .first()
            )
            if (first.started_at - moment).total_seconds() > within_s:
                late.append((endpoint.name, (first.started_at - moment).total_seconds()))
        assert not late, f"probed later than {within_s:g} s after the fault: {late}"

    def assert_none_stuck(self):
        """No lease held past its end, and every schedule due within an interval and a lease."""
        from endpoints.probes.models import ProbeSchedule

        now = timezone.now()
        stuck = ProbeSchedule.objects.filter(lease_until__lt=now - timedelta(seconds=LEASE))
        assert not stuck.exists(), list(stuck.values("endpoint__name", "lease_until"))
        late = ProbeSchedule.objects.filter(
            next_probe_at__lt=now - timedelta(seconds=INTERVAL + LEASE)
        )
        assert not late.exists(), list(late.values("endpoint__name", "next_probe_at"))

    def assert_board_truthful(self):
        from endpoints.network.models import Endpoint

        statuses = dict(Endpoint.objects.values_list("pk", "status"))
        for endpoint in self.endpoints:
            expected = "down" if endpoint in self.hanging else "up"
            assert statuses[endpoint.pk] == expected, (endpoint.name, statuses[endpoint.pk])


@pytest.fixture
def redis_server(tmp_path):
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def fault_world(
    tmp_path, redis_server, celery_queue, settings, make_workspace, make_vpc, make_endpoint
):
    """12 endpoints every 10 s on the simulator (2 of them hanging), and their probers."""
    from portal.celery import app

    sim = Simulator(SimState(), dns_port=0, workdir=tmp_path / "sim")
    sim.start_in_thread()
    settings.CELERY_BROKER_URL = redis_server.url
    previous_broker = app.conf.broker_url
    app.conf.broker_url = redis_server.url
    app._pool = app.amqp._producer_pool = None
    world = World(tmp_path, redis_server, celery_queue)
    workspace = make_workspace("faults-ws", models=["qwen-plus"])
    vpc = make_vpc(resolver=f"127.0.0.1:{sim.dns_port}")
    for n in range(12):
        host = f"ep-fault{n:02d}.dashscope.cn-beijing.privatelink.aliyuncs.com"
        endpoint = make_endpoint(
            name=f"fault {n:02d}",
            url=f"http://{host}:{sim.http_port}",
            vpc=vpc,
            workspace=workspace,
            allows_80_443=True,
            interval_s=INTERVAL,
        )
        sim.dns.set_a(host, ["127.0.0.1"])
        world.endpoints.append(endpoint)
        if n >= 10:
            sim.state.set_fault(host=host, fault=Fault(hang=True))
            world.hanging.append(endpoint)
    sim.state.load_from_db()
    world.sim = sim
    try:
        yield world
    finally:
        world.stop_all()
        sim.stop()
        app.conf.broker_url = previous_broker
        app._pool = app.amqp._producer_pool = None


__all__ = ["INTERVAL", "LEASE", "ROOT", "TIMEOUT", "World"]
