"""TCP to every zone's address and TLS: refused, timed out, one zone down, untrusted or
expiring certificates, the wrong scheme, and deadlines."""

import contextlib
import socket
import time

from endpoints.devtools.simulator import Fault
from endpoints.engine import ProbeTarget
from tests.engine.conftest import CUSTOM_HOST, DEFAULT_HOST, assert_outcome, free_port, run, target


def test_it_checks_tls_and_days_to_expiry_over_https(sim):
    outcome = run(target(sim, CUSTOM_HOST, scheme="https", kind="privatelink_custom"))
    assert_outcome(outcome, "up", "ok", None)
    assert outcome.phases.tls_ms is not None
    assert outcome.tls_days_left >= 300


def test_tcp_refused(sim):
    outcome = run(target(sim, port=free_port()))
    assert_outcome(outcome, "down", "tcp_refused", "connect")
    assert outcome.addresses[0].error == "refused"


def test_tcp_timeout_says_security_group():
    # A listener whose accept queue is full drops SYNs, like a security group does.
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    fillers = []
    for _ in range(3):
        filler = socket.socket()
        filler.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            filler.connect(("127.0.0.1", port))
        fillers.append(filler)
    time.sleep(0.1)
    try:
        t = ProbeTarget(
            url=f"http://{DEFAULT_HOST}:{port}",
            kind="privatelink_default",
            api_style="openai",
            host_overrides={DEFAULT_HOST: "127.0.0.1"},
            connect_timeout_s=0.5,
            timeout_s=3,
        )
        outcome = run(t)
    finally:
        for filler in fillers:
            filler.close()
        server.close()
    assert_outcome(outcome, "down", "tcp_timeout", "connect")
    assert "security group" in outcome.fix


def test_zone_unreachable_when_one_of_two_addresses_refuses(sim):
    outcome = run(target(sim, host_overrides={DEFAULT_HOST: "127.0.0.1, 127.0.0.2"}))
    assert_outcome(outcome, "degraded", "zone_unreachable", "connect")
    by_address = {a.address: a for a in outcome.addresses}
    assert by_address["127.0.0.1"].ok and not by_address["127.0.0.2"].ok
    assert by_address["127.0.0.2"].error == "refused"
    assert outcome.http_status == 200  # calls still work through the live zone


def test_tls_error_on_a_self_signed_certificate(sim):
    sim.state.set_fault(host=CUSTOM_HOST, fault=Fault(self_signed=True))
    outcome = run(target(sim, CUSTOM_HOST, scheme="https", kind="privatelink_custom"))
    assert_outcome(outcome, "down", "tls_error", "tls")
    assert "self-signed" in outcome.message or "self signed" in outcome.message


def test_tls_expiring(sim):
    sim.state.set_fault(host=CUSTOM_HOST, fault=Fault(cert_days_left=5))
    outcome = run(target(sim, CUSTOM_HOST, scheme="https", kind="privatelink_custom"))
    assert_outcome(outcome, "degraded", "tls_expiring", "tls")
    assert outcome.tls_days_left == 5


def test_https_on_default_domain(sim):
    outcome = run(target(sim, scheme="https", port=sim.http_port))
    assert_outcome(outcome, "down", "https_on_default_domain", "tls")


def test_the_deadline_holds_while_other_zones_are_still_connecting(sim):
    # One address answers at once; the other drops SYNs. The deadline still holds.
    server = socket.socket()
    server.bind(("127.0.0.3", 0))
    server.listen(0)
    port = sim.http_port
    fillers = []
    try:
        blackhole = socket.socket()
        blackhole.bind(("127.0.0.4", port))
        blackhole.listen(0)
        for _ in range(3):
            filler = socket.socket()
            filler.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                filler.connect(("127.0.0.4", port))
            fillers.append(filler)
        started = time.monotonic()
        outcome = run(
            target(
                sim,
                host_overrides={DEFAULT_HOST: "127.0.0.1, 127.0.0.4"},
                timeout_s=1.0,
                connect_timeout_s=5.0,
            )
        )
        elapsed = time.monotonic() - started
    finally:
        for filler in fillers:
            filler.close()
        server.close()
        blackhole.close()
    assert elapsed < 2.0
    assert outcome.diagnosis == "zone_unreachable"
    assert "deadline" in {a.address: a for a in outcome.addresses}["127.0.0.4"].error
