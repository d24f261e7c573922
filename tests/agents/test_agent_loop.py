"""The agent's own loop, as a real `access-portal-agent` process against a scripted portal on
loopback (tests/agents/fakeportal.py): its bounded buffer, what it does with each kind of
answer, its backoff, its egress whatever a lease says, and how it stops."""

import itertools
import signal
import socket
import threading
import time
from datetime import datetime

import pytest

from tests.conftest import wait_for

from .fakeportal import PRIVATE_HOST, AgentProcess, FakePortal, lease_item

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


def slot_index(result, first_slot) -> int:
    """Which slot of the 1 s grid a result is for: 0 is the leased one."""
    return round((datetime.fromisoformat(result["slot"]) - first_slot).total_seconds())


def after_first_lease(answer):
    """A lease hook: the first call hands out `answer`'s items, every later one is a 503."""
    calls = []

    def hook(body):
        calls.append(body)
        if len(calls) == 1:
            return 200, {"items": answer, "poll_s": 0.2}
        return 503, {"detail": "the portal is restarting"}

    return hook


def test_a_full_buffer_drops_the_oldest_counts_them_and_the_survivors_all_arrive(portal, agents):
    item = lease_item(interval_s=1)
    first_slot = datetime.fromisoformat(item["slot"])
    portal.leases.append([item])
    agent = agents("--buffer", "5")
    wait_for(lambda: portal.stored, timeout=30, message="the leased slot's result", logs=[])

    # Away: the agent probes alone on the 1 s grid, keeping at most 5 results.
    portal.stop()
    time.sleep(9)
    # Back, but slow (each results post takes 1.5 s while new results keep coming into the
    # full buffer) and not leasing yet (so the agent goes on probing alone).
    restarted = time.monotonic()

    def slow_results(body):
        time.sleep(1.5)

    portal.answer = {"results": slow_results, "lease": lambda body: (503, {"detail": "busy"})}
    portal.start()
    wait_for(
        lambda: sum(1 for t, _, s in portal.made("results") if t > restarted and s == 200) >= 3,
        timeout=60,
        message="three deliveries after the outage",
        logs=[],
    )
    portal.answer = {}  # leasing again: the agent stops probing alone
    wait_for(
        lambda: (beat := portal.last_heartbeat()) and beat["buffered"] == 0 and beat["dropped"],
        timeout=30,
        message="a heartbeat with nothing left to deliver",
    )
    time.sleep(1.5)  # a probe still in flight has been delivered too
    beat = portal.last_heartbeat()
    assert agent.process.poll() is None, agent.logs()

    indices = [slot_index(r, first_slot) for r in portal.stored]
    assert len(indices) == len(set(indices)), sorted(indices)  # each slot delivered once
    assert indices[0] == 0
    survivors = sorted(indices[1:])
    last = survivors[-1]
    assert last >= 12, agent.logs()  # it kept probing alone through the outage
    # The oldest went, the newer ones all arrived: no hole among the survivors ...
    assert survivors == list(range(survivors[0], last + 1)), survivors
    # ... and every slot probed alone is either delivered or counted as dropped.
    assert beat["dropped"] == survivors[0] - 1 >= 3, (beat, survivors)


def test_a_4xx_skips_only_that_requests_results_and_counts_them(portal, agents):
    item = lease_item(interval_s=1)
    first_slot = datetime.fromisoformat(item["slot"])
    portal.answer["lease"] = after_first_lease([item])  # then it probes alone
    refused = []

    def refuse_the_first(body):
        if refused:
            return None
        refused.append(body["results"])
        time.sleep(2.5)  # meanwhile the next results come into the buffer
        return 422, {"detail": "malformed"}

    portal.answer["results"] = refuse_the_first
    agent = agents()
    wait_for(lambda: len(portal.stored) >= 6, timeout=40, message="results after the 4xx")
    wait_for(
        lambda: (beat := portal.last_heartbeat()) and beat["dropped"],
        timeout=10,
        message="a heartbeat counting the skipped results",
    )
    skipped = {slot_index(r, first_slot) for r in refused[0]}
    delivered = sorted(slot_index(r, first_slot) for r in portal.stored)
    assert skipped and not skipped & set(delivered)
    # Everything after the refused request arrives: nothing else was thrown away.
    assert delivered == list(range(max(skipped) + 1, delivered[-1] + 1)), (skipped, delivered)
    assert portal.last_heartbeat()["dropped"] == len(skipped)
    assert "refused" in agent.output() and agent.process.poll() is None


def attempts(portal, name="lease", since=0.0) -> list[float]:
    return [t for t, _, _ in portal.made(name) if t > since]


def gaps(times: list[float]) -> list[float]:
    return [round(b - a, 2) for a, b in itertools.pairwise(times)]


def test_the_lease_loop_backs_off_1_s_doubling_and_resets_after_a_success(portal, agents):
    portal.answer["lease"] = lambda body: (503, {"detail": "down for maintenance"})
    agent = agents()
    wait_for(lambda: attempts(portal), timeout=20, message="a first lease", logs=[])
    time.sleep(7.6)  # attempts at 0, 1, 3, 7 s (not every 0.2 s poll)
    failing = attempts(portal)
    assert len(failing) == 4, gaps(failing)
    for gap, expected in zip(gaps(failing), (1, 2, 4), strict=True):
        assert expected - 0.1 <= gap <= expected + 0.6, gaps(failing)

    portal.answer = {}  # the portal answers: back to a lease every poll (0.2 s)
    wait_for(lambda: len(attempts(portal)) >= 8, timeout=12, message="leases every poll")
    answered = [t for t, _, status in portal.made("lease") if status == 200]
    assert max(gaps(answered[:4])) < 0.6, gaps(answered)

    broken_at = time.monotonic()
    portal.answer["lease"] = lambda body: (503, {"detail": "down again"})
    time.sleep(3.6)  # attempts at 0, 1, 3 s again: the backoff started over
    again = attempts(portal, since=broken_at)
    assert [round(g) for g in gaps(again)] == [1, 2], gaps(again)
    assert agent.process.poll() is None


def test_a_lease_never_widens_the_agents_egress(portal, agents):
    """The agent may reach 127.0.0.1 only: a lease naming a resolver or an address elsewhere
    on loopback gets egress_refused and sends nothing there, whatever it claims."""
    dns = {"127.0.0.1": socket.socket(socket.AF_INET, socket.SOCK_DGRAM)}
    dns["127.0.0.1"].bind(("127.0.0.1", 0))
    port = dns["127.0.0.1"].getsockname()[1]
    dns["127.0.0.2"] = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    dns["127.0.0.2"].bind(("127.0.0.2", port))
    queries = {address: 0 for address in dns}

    def count(address):
        sock = dns[address]
        sock.settimeout(0.5)
        while True:
            try:
                sock.recvfrom(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            queries[address] += 1

    for address in dns:
        threading.Thread(target=count, args=(address,), daemon=True).start()
    listener = socket.create_server(("127.0.0.3", 0))
    listener.settimeout(0.5)
    connections = []

    def accept():
        while True:
            try:
                connections.append(listener.accept()[0])
            except TimeoutError:
                continue
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    http_port = listener.getsockname()[1]
    portal.leases.append(
        [
            # A "portal" resolver (the portal machine's own stub, let past its guard there)
            # and a CA file on the portal's disk: neither is the agent's to take.
            lease_item(
                1,
                interval_s=60,
                resolver=f"127.0.0.2:{port}",
                resolver_source="portal",
                ca_file="/etc/ssl/certs/ca-certificates.crt",
            ),
            # An address outside its networks, by the VPC's records.
            lease_item(
                2,
                interval_s=60,
                url=f"http://{PRIVATE_HOST}:{http_port}",
                resolver=None,
                resolver_source="portal",
                host_overrides={PRIVATE_HOST: "127.0.0.3"},
            ),
            # The control: a resolver inside its networks is asked (and times out).
            lease_item(3, interval_s=60, resolver=f"127.0.0.1:{port}", resolver_source="portal"),
        ]
    )
    agent = agents(env={"PORTAL_PROBE_ALLOWED_NETWORKS": "127.0.0.1/32"})
    try:
        wait_for(lambda: len(portal.stored) >= 3, timeout=30, message="three results")
        outcomes = {r["schedule"]: r["outcome"] for r in portal.stored}
        assert outcomes[1]["diagnosis"] == "egress_refused", outcomes[1]
        assert "127.0.0.2" in outcomes[1]["message"]
        # The agent's own policy refused them, and its message says so (not "this portal").
        assert "outside the networks this agent may reach (127.0.0.1/32)" in outcomes[1]["message"]
        assert "on the agent's host" in outcomes[1]["message"]
        assert "outside the networks this agent may reach" in outcomes[2]["message"]
        assert outcomes[2]["diagnosis"] == "egress_refused", outcomes[2]
        assert outcomes[2]["failed_phase"] == "connect"
        assert outcomes[3]["diagnosis"] == "dns_timeout", outcomes[3]
        assert queries["127.0.0.1"] > 0  # the control reached its resolver
        assert queries["127.0.0.2"] == 0 and connections == []
    finally:
        agent.stop()
        listener.close()
        for sock in dns.values():
            sock.close()


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


def lease_sizes(portal) -> list[int]:
    return [body["capacity"] for _, body, _ in portal.made("lease")]


def test_probes_held_for_a_later_slot_leave_room_for_the_next_lease(portal, agents):
    """Room is counted over the probes whose slot has come: thirty probes held for a slot 8 s
    away do not stop an agent of capacity 2 from leasing what falls due meanwhile."""
    portal.leases.append([lease_item(n, slot_in_s=8) for n in range(1, 31)])
    agent = agents("--capacity", "2")
    logs = [agent.stdout_path]
    wait_for(lambda: len(portal.made("lease")) >= 2, timeout=20, message="leases", logs=logs)
    (first_at, first, _), (second_at, second, _) = portal.made("lease")[:2]
    assert second_at - first_at < 2  # the next poll, not once the thirty have been probed
    assert (first["capacity"], second["capacity"]) == (8, 8)  # four times the places


def test_a_lease_never_asks_for_more_than_the_portal_gives(portal, agents):
    agent = agents("--capacity", "1000")
    wait_for(lambda: lease_sizes(portal), timeout=15, message="a lease", logs=[agent.stdout_path])
    assert lease_sizes(portal)[0] == 500  # the portal answers 400 to more
