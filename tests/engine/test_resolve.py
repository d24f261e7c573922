"""Resolution as a caller in the VPC sees it: CNAME chains, NXDOMAIN, timeouts, public answers,
Private DNS mistakes, and resolvers the egress guard must not query."""

import time

from endpoints.devtools.simulator import Fault
from endpoints.engine import EgressPolicy, ProbeTarget
from tests.engine.conftest import CUSTOM_HOST, DEFAULT_HOST, assert_outcome, run, target


def test_it_records_the_whole_cname_chain_and_every_address(sim):
    sim.dns.set_cname(CUSTOM_HOST, DEFAULT_HOST)
    sim.dns.set_a(DEFAULT_HOST, ["127.0.0.1", "127.0.0.3"])
    sim_listener_port = sim.tls_port
    outcome = run(
        target(
            sim,
            CUSTOM_HOST,
            scheme="https",
            kind="privatelink_custom",
            host_overrides={},
            resolver=f"127.0.0.1:{sim.dns_port}",
            port=sim_listener_port,
        )
    )
    assert outcome.cname_chain == [DEFAULT_HOST]
    assert sorted(a.address for a in outcome.addresses) == ["127.0.0.1", "127.0.0.3"]


def test_dns_nxdomain(sim):
    t = target(
        sim,
        "ep-typo999.dashscope.cn-beijing.privatelink.aliyuncs.com",
        host_overrides={},
        resolver=f"127.0.0.1:{sim.dns_port}",
    )
    outcome = run(t)
    assert_outcome(outcome, "down", "dns_nxdomain", "resolve")
    assert outcome.addresses == []


def test_dns_timeout(sim):
    sim.dns.blackhole(DEFAULT_HOST)
    t = target(
        sim,
        host_overrides={},
        resolver=f"127.0.0.1:{sim.dns_port}",
        connect_timeout_s=0.5,
        timeout_s=2,
    )
    started = time.monotonic()
    assert_outcome(run(t), "down", "dns_timeout", "resolve")
    assert time.monotonic() - started < 4.0


def test_resolves_public_stops_before_any_connection(sim):
    # A private endpoint whose name resolves to a public address: the probe must neither
    # connect nor send the key (and the egress policy would refuse it anyway).
    sim.dns.set_a(DEFAULT_HOST, ["8.141.18.184"])
    t = target(sim, host_overrides={}, resolver=f"127.0.0.1:{sim.dns_port}")
    outcome = run(t)
    assert_outcome(outcome, "down", "resolves_public", "resolve")
    assert "traffic would leave the private network" in outcome.message
    assert [(a.address, a.cls, a.connect_ms) for a in outcome.addresses] == [
        ("8.141.18.184", "public", None)
    ]


def test_private_dns_cname_mismatch_when_it_still_works(sim):
    sim.dns.set_cname(CUSTOM_HOST, "test-for-dns.dashscope.aliyuncs.com")
    sim.dns.set_a("test-for-dns.dashscope.aliyuncs.com", ["127.0.0.1"])
    t = target(
        sim,
        CUSTOM_HOST,
        scheme="https",
        kind="privatelink_custom",
        host_overrides={},
        resolver=f"127.0.0.1:{sim.dns_port}",
    )
    outcome = run(t)
    assert_outcome(outcome, "degraded", "private_dns_cname_mismatch", "resolve")
    assert "test-for-dns.dashscope.aliyuncs.com" in outcome.message


def test_private_dns_cname_mismatch_when_calls_fail(sim):
    sim.state.set_fault(host=CUSTOM_HOST, fault=Fault(status=503))
    t = target(
        sim,
        CUSTOM_HOST,
        scheme="https",
        kind="privatelink_custom",
        host_overrides={
            CUSTOM_HOST: "wrong-target.dashscope.aliyuncs.com",
            "wrong-target.dashscope.aliyuncs.com": "127.0.0.1",
        },
    )
    assert_outcome(run(t), "down", "private_dns_cname_mismatch", "resolve")


def test_a_resolver_outside_the_allowed_networks_is_not_queried():
    t = ProbeTarget(
        url=f"http://{DEFAULT_HOST}",
        kind="privatelink_default",
        api_style="openai",
        resolver="100.100.2.136",
    )
    assert_outcome(run(t), "unknown", "egress_refused", "resolve")


def test_the_portals_own_loopback_stub_resolver_is_allowed_but_a_vpcs_is_not(sim):
    sim.dns.set_a(DEFAULT_HOST, ["127.0.0.1"])
    production = EgressPolicy.from_env("")  # never loopback, for targets
    portal = target(
        sim, host_overrides={}, resolver=f"127.0.0.1:{sim.dns_port}", resolver_source="portal"
    )
    outcome = run(portal, production)
    assert outcome.failed_phase != "resolve"  # resolved; the target itself is then refused
    assert outcome.diagnosis == "egress_refused" and outcome.failed_phase == "connect"
    vpc = target(
        sim, host_overrides={}, resolver=f"127.0.0.1:{sim.dns_port}", resolver_source="vpc"
    )
    assert run(vpc, production).failed_phase == "resolve"
