"""The egress guard: which addresses a probe may reach, and where a secret may go."""

import time

import pytest

from endpoints.engine import EgressPolicy, ProbeTarget, classify_address
from tests.engine.conftest import DEFAULT_HOST, DEFAULT_KEY, assert_outcome, run


def test_the_egress_guard_refuses_a_non_allowed_address_without_connecting(listener):
    t = ProbeTarget(
        url=f"http://{DEFAULT_HOST}:{listener.port}",
        kind="privatelink_default",
        api_style="openai",
        secret=DEFAULT_KEY,
        host_overrides={DEFAULT_HOST: "127.0.0.1"},
    )
    outcome = run(t, EgressPolicy.from_env("10.0.0.0/8"))
    assert_outcome(outcome, "unknown", "egress_refused", "connect")
    assert "outside the networks this portal may reach (10.0.0.0/8)" in outcome.message
    time.sleep(0.3)
    assert listener.accepted == 0


def test_production_policy_never_probes_loopback(listener):
    t = ProbeTarget(
        url=f"http://{DEFAULT_HOST}:{listener.port}",
        kind="privatelink_default",
        api_style="openai",
        host_overrides={DEFAULT_HOST: "127.0.0.1"},
    )
    outcome = run(t, EgressPolicy.from_env(""))
    assert outcome.diagnosis == "egress_refused"
    time.sleep(0.3)
    assert listener.accepted == 0


@pytest.mark.parametrize("address", ["100.100.100.200", "169.254.169.254"])
def test_the_metadata_and_link_local_addresses_are_always_refused(address):
    t = ProbeTarget(
        url=f"http://{DEFAULT_HOST}",
        kind="privatelink_default",
        api_style="openai",
        host_overrides={DEFAULT_HOST: address},
    )
    everything = EgressPolicy.from_env("0.0.0.0/0")
    outcome = run(t, everything)
    assert_outcome(outcome, "unknown", "egress_refused", "connect")
    assert outcome.addresses[0].connect_ms is None


def test_the_key_is_never_sent_to_a_host_of_another_kind(listener):
    # A "PrivateLink" endpoint pointed at some other host: the key stays home.
    other = "collector.example.com"
    t = ProbeTarget(
        url=f"http://{other}:{listener.port}",
        kind="privatelink_default",
        api_style="openai",
        secret=DEFAULT_KEY,
        host_overrides={other: "127.0.0.1"},
    )
    outcome = run(t)
    assert outcome.diagnosis == "egress_refused"
    time.sleep(0.3)
    assert all(DEFAULT_KEY.encode() not in r for r in listener.requests)


def test_the_secret_is_not_in_the_targets_repr():
    t = ProbeTarget(
        url=f"http://{DEFAULT_HOST}",
        kind="privatelink_default",
        api_style="openai",
        secret=DEFAULT_KEY,
    )
    assert DEFAULT_KEY not in repr(t)


@pytest.mark.parametrize(
    ("address", "cls"),
    [
        ("127.0.0.1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.9", "private"),
        ("192.168.1.1", "private"),
        ("100.64.0.1", "shared"),
        ("100.100.2.136", "shared"),
        ("100.100.100.200", "metadata"),
        ("169.254.1.1", "link_local"),
        ("8.141.18.184", "public"),
        ("::1", "loopback"),
        ("fd00::1", "private"),
    ],
)
def test_addresses_are_classified(address, cls):
    assert classify_address(address) == cls
