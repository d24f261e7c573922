"""The agent's own loop, as a real `access-portal-agent` process against a scripted portal on
loopback (tests/agents/fakeportal.py): its bounded buffer, what it does with each kind of
answer, its backoff, its egress whatever a lease says, and how it stops."""

import signal
import time

import pytest

from tests.conftest import wait_for

from .fakeportal import AgentProcess, FakePortal, lease_item

pytestmark = pytest.mark.agents


@pytest.fixture
def portal():
    fake = FakePortal().start()
    yield fake
    fake.stop()


@pytest.fixture
def agents(portal, tmp_path):
    started = []

    def start(*args, **kwargs):
        agent = AgentProcess(portal, tmp_path, *args, name=f"agent-{len(started)}", **kwargs)
        started.append(agent)
        return agent

    yield start
    for agent in started:
        if agent.process.poll() is None or not agent._out.closed:
            agent.stop()


def attempts(portal, name="lease", since=0.0) -> list[float]:
    return [t for t, _, _ in portal.made(name) if t > since]


def test_sigterm_ends_it_with_status_0_after_the_probe_in_flight_is_delivered(portal, agents):
    portal.leases.append([lease_item(interval_s=60, slot_in_s=4)])
    agent = agents()
    wait_for(lambda: len(portal.made("lease")) >= 2, timeout=20)  # the item was taken
    assert portal.stored == []  # its slot is still to come
    agent.process.send_signal(signal.SIGTERM)
    stopped_at = time.monotonic()
    assert agent.stop() == 0, agent.logs()
    assert [r["schedule"] for r in portal.stored] == [1], agent.logs()  # waited for its slot
    assert all(t > stopped_at for t, _, _ in portal.made("results"))
    assert attempts(portal, since=stopped_at + 0.3) == []  # no lease after SIGTERM
    assert agent.stderr() == ""


def test_a_rejected_token_exits_2_with_exactly_one_line_on_stderr(portal, agents):
    portal.leases.append([lease_item(interval_s=1)])
    agent = agents()
    wait_for(lambda: portal.stored, timeout=30, message="a first result")
    portal.answer["lease"] = lambda body: (401, {"detail": "Unauthorized"})
    assert agent.process.wait(30) == 2, agent.logs()
    assert agent.stderr().splitlines() == [
        "access-portal-agent: the portal rejected this agent's token (Unauthorized)"
    ], agent.logs()
