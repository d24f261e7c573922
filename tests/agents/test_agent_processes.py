"""Real processes on loopback: a portal server, two `access-portal-agent` processes for one
VPC, and the Model Studio simulator.

The agents share the work with no slot probed twice; a killed agent's endpoints go to the
other within a lease period; a revoked agent exits with status 2 and one line; a portal away
for 30 s gets the buffered results afterwards; and the plaintext key appears in no table, no
log and no file an agent wrote.
"""

import signal
import socket
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from django.db.models import Count
from django.utils import timezone

from endpoints.agents import services
from endpoints.agents.models import Agent
from endpoints.devtools.simulator import SimState, Simulator
from endpoints.probes.models import ProbeResult
from tests.conftest import ROOT, start_process, stop_process, subprocess_env, wait_for
from tests.workspaces.test_secrets import all_database_text

pytestmark = [pytest.mark.agents, pytest.mark.django_db(transaction=True, serialized_rollback=True)]
INTERVAL, LEASE = 10, 8


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Portal:
    """`manage.py runserver` on the test database: stopped and started like a real portal."""

    def __init__(self, tmp_path):
        self.port, self.tmp_path, self.process, self.runs = free_port(), tmp_path, None, 0
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**subprocess_env(), "PORTAL_PROBE_LEASE_S": str(LEASE)}

    def start(self):
        self.runs += 1
        self.process = start_process(
            [sys.executable, "manage.py", "runserver", f"127.0.0.1:{self.port}", "--noreload"],
            self.env,
            self.tmp_path / f"portal-{self.runs}.log",
        )
        wait_for(
            self.answers, timeout=30, message="the portal server", logs=[self.process.log_path]
        )

    def answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def stop(self):
        if self.process is not None:
            stop_process(self.process)
            self.process = None


@pytest.fixture
def world(tmp_path, make_workspace, make_vpc, make_endpoint):
    sim = Simulator(SimState(), dns_port=0, workdir=tmp_path / "sim")
    sim.start_in_thread()
    workspace = make_workspace("agents-ws", models=["qwen-plus"])
    vpc = make_vpc("vpc-proc0001", cidr="10.71.0.0/16", resolver=f"127.0.0.1:{sim.dns_port}")
    vpc.probed_by = "agents"
    vpc.save()
    endpoints = []
    for n in range(6):
        host = f"ep-proc{n:02d}.dashscope.cn-beijing.privatelink.aliyuncs.com"
        endpoints.append(
            make_endpoint(
                name=f"proc {n}",
                url=f"http://{host}:{sim.http_port}",
                vpc=vpc,
                workspace=workspace,
                allows_80_443=True,
                interval_s=INTERVAL,
            )
        )
        sim.dns.set_a(host, ["127.0.0.1"])
    sim.state.load_from_db()
    portal = Portal(tmp_path)
    portal.start()
    agents = {}

    def start_agent(name):
        agent, token = services.add_agent(vpc, name, actor=None)
        state = tmp_path / f"state-{name}"
        log_path, stderr_path = tmp_path / f"agent-{name}.log", tmp_path / f"agent-{name}.err"
        log, stderr = open(log_path, "w"), open(stderr_path, "w")  # noqa: SIM115
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "endpoints.probe_agent",
                "--portal",
                portal.url,
                "--token",
                token,
                "--state-dir",
                str(state),
            ],
            cwd=ROOT,
            env={
                "PATH": "/usr/bin:/bin",
                "PORTAL_PROBE_ALLOWED_NETWORKS": "127.0.0.0/8",
                "PYTHONPATH": str(ROOT),
                "LOG_LEVEL": "DEBUG",
            },
            stdout=log,
            stderr=stderr,
        )
        process.log, process.log_path = log, log_path  # as stop_process() expects
        process.stderr_file, process.stderr_path = stderr, stderr_path
        process.record, process.state, process.token = agent, state, token
        agents[name] = process
        return process

    class World:
        pass

    w = World()
    w.sim, w.vpc, w.workspace, w.endpoints, w.portal = sim, vpc, workspace, endpoints, portal
    w.agents, w.start_agent, w.tmp_path = agents, start_agent, tmp_path
    w.logs = lambda: sorted([*tmp_path.glob("*.log"), *tmp_path.glob("*.err")])
    try:
        yield w
    finally:
        for process in agents.values():
            if process.poll() is None:
                stop_process(process)
            else:
                process.log.close()
            process.stderr_file.close()
        portal.stop()
        sim.stop()


def probed_by(agent) -> set[int]:
    return set(ProbeResult.objects.filter(agent_id=agent.pk).values_list("endpoint_id", flat=True))


def assert_no_slot_twice():
    twice = (
        ProbeResult.objects.exclude(slot=None)
        .values("endpoint", "location", "slot")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
    )
    assert not twice.exists(), list(twice[:5])


def test_two_agents_share_the_work_and_a_killed_one_is_taken_over(world):
    a, b = world.start_agent("agent-a"), world.start_agent("agent-b")
    wait_for(
        lambda: probed_by(a.record) and probed_by(b.record),
        timeout=60,
        message="both agents' results",
        logs=world.logs(),
    )
    started = timezone.now()
    time.sleep(2 * INTERVAL)
    assert_no_slot_twice()
    for endpoint in world.endpoints:
        count = ProbeResult.objects.filter(endpoint=endpoint, started_at__gt=started).count()
        assert 1 <= count <= 3, (endpoint.name, count)  # once an interval, by one agent
    a.send_signal(signal.SIGKILL)
    a.wait(10)
    killed_at = timezone.now()
    # Within a lease period (plus the interval it waits for its slot), b probes them all.
    deadline = killed_at + timedelta(seconds=LEASE + INTERVAL + 6)
    wait_for(
        lambda: probed_by_since(b.record, killed_at) == {e.pk for e in world.endpoints},
        timeout=LEASE + INTERVAL + 20,
        message="agent b taking over agent a's endpoints",
        logs=world.logs(),
    )
    assert timezone.now() <= deadline + timedelta(seconds=10)
    assert_no_slot_twice()


def probed_by_since(agent, moment) -> set[int]:
    return set(
        ProbeResult.objects.filter(agent_id=agent.pk, started_at__gt=moment).values_list(
            "endpoint_id", flat=True
        )
    )


def test_a_revoked_agent_exits_with_status_2_and_one_line(world):
    a = world.start_agent("agent-a")
    wait_for(lambda: probed_by(a.record), timeout=60, logs=world.logs())
    services.revoke_agent(Agent.objects.get(pk=a.record.pk), actor=None)
    assert a.wait(30) == 2
    a.stderr_file.flush()
    # Exactly one line: the reason, not the tail of a log (which goes to stdout).
    (line,) = a.stderr_path.read_text().splitlines()
    assert line.startswith("access-portal-agent: the portal rejected this agent's token (")


def test_results_probed_while_the_portal_is_away_arrive_after(world):
    a = world.start_agent("agent-a")
    wait_for(lambda: probed_by(a.record), timeout=60, logs=world.logs())
    time.sleep(INTERVAL)
    world.portal.stop()
    away_from = timezone.now()
    time.sleep(30)
    away_until = timezone.now()
    world.portal.start()
    wait_for(
        lambda: (
            ProbeResult.objects.filter(
                started_at__gt=away_from + timedelta(seconds=2), started_at__lt=away_until
            )
            .values("endpoint")
            .distinct()
            .count()
            == len(world.endpoints)
        ),
        timeout=60,
        message="the buffered results of the outage",
        logs=world.logs(),
    )
    during = ProbeResult.objects.filter(started_at__gt=away_from, started_at__lt=away_until)
    assert during.count() >= 2 * len(world.endpoints)  # every interval of the 30 s, kept
    assert a.poll() is None  # it kept running through the outage
    assert_no_slot_twice()


def test_the_plaintext_key_is_in_no_table_no_log_and_no_agent_file(world):
    a, b = world.start_agent("agent-a"), world.start_agent("agent-b")
    wait_for(lambda: probed_by(a.record) or probed_by(b.record), timeout=60, logs=world.logs())
    time.sleep(INTERVAL)
    assert ProbeResult.objects.filter(status="up").exists()  # the key worked: it was used
    secret = world.workspace.plain_key
    for process in (a, b):
        stop_process(process)
    world.portal.stop()
    assert secret not in all_database_text()
    for path in world.tmp_path.rglob("*"):
        if path.is_file() and "sim" not in path.parts:
            assert secret not in path.read_text(errors="replace"), path
    assert (
        secret
        not in subprocess.run(
            ["cat", *map(str, world.logs())], capture_output=True, text=True
        ).stdout
    )
