"""A target from JSON (an agent's lease) says what to probe, never how far the prober may
reach: the prober's own settings (its resolver's trust, its CA bundle) are not the lease's."""

import pytest

from endpoints.engine import EgressPolicy, ProbeTarget
from endpoints.engine.transport import ssl_context
from tests.engine.conftest import (
    CUSTOM_HOST,
    DEFAULT_HOST,
    DEFAULT_KEY,
    assert_outcome,
    run,
    target,
)


def test_a_target_from_json_takes_none_of_the_probers_own_settings():
    data = {
        "url": f"http://{DEFAULT_HOST}",
        "kind": "privatelink_default",
        "api_style": "openai",
        "resolver": "127.0.0.53",
        "resolver_source": "portal",
        "ca_file": "/etc/portal/ca.pem",
        "secret": "sk-from-the-json",
    }
    t = ProbeTarget.from_json(data, secret="sk-sealed")
    assert (t.resolver, t.resolver_source, t.ca_file, t.secret) == (
        "127.0.0.53",
        "vpc",
        None,
        "sk-sealed",
    )
    # Nor does a lease carry them.
    sent = ProbeTarget(**{**data, "secret": "sk-x"}).as_json()
    assert not {"resolver_source", "ca_file", "secret"} & set(sent)
    assert ProbeTarget.from_json(sent).url == data["url"]


def test_a_portal_resolver_named_by_json_is_guarded_like_any_vpcs(sim):
    """The portal's own loopback stub gets past its guard (test_resolve.py); the same
    resolver named in a lease does not."""
    sim.dns.set_a(DEFAULT_HOST, ["127.0.0.1"])
    leased = target(sim, host_overrides={}, resolver=f"127.0.0.1:{sim.dns_port}").as_json()
    leased["resolver_source"] = "portal"
    outcome = run(ProbeTarget.from_json(leased), EgressPolicy.from_env(""))
    assert_outcome(outcome, "unknown", "egress_refused", "resolve")


def test_the_ca_bundle_is_the_probers_own_ssl_cert_file_not_the_leases(sim, monkeypatch):
    leased = target(sim, CUSTOM_HOST, scheme="https", kind="privatelink_custom").as_json()
    leased["ca_file"] = str(sim.ca_path)  # the CA the probe would need, named by the lease
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    ssl_context.cache_clear()
    try:
        outcome = run(ProbeTarget.from_json(leased, secret=DEFAULT_KEY))
        assert_outcome(outcome, "down", "tls_error", "tls")  # not trusted: the lease's CA
        monkeypatch.setenv("SSL_CERT_FILE", str(sim.ca_path))  # the agent's own setting
        ssl_context.cache_clear()
        outcome = run(ProbeTarget.from_json(leased, secret=DEFAULT_KEY))
        assert outcome.diagnosis == "ok", outcome.message
    finally:
        ssl_context.cache_clear()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("url", 7),
        ("resolver", ["127.0.0.1"]),
        ("host_overrides", {"a.example": 1}),
        ("public_hosts", "dashscope.aliyuncs.com"),
        ("timeout_s", 1e9),
        ("connect_timeout_s", float("nan")),
        ("slow_ms", "3000"),
        ("model_call", "yes"),
        ("endpoint_id", "4"),
    ],
)
def test_a_field_of_the_wrong_type_or_range_is_refused_by_name(field, value):
    data = {"url": f"http://{DEFAULT_HOST}", "kind": "privatelink_default", "api_style": "openai"}
    with pytest.raises(ValueError, match=field):
        ProbeTarget.from_json({**data, field: value})
