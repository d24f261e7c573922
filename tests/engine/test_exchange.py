"""The HTTP exchange and its verdicts: the cheapest check of each style, and one test per
answer Model Studio (or a middlebox) can give."""

import secrets

import pytest

from endpoints.devtools.simulator import Fault
from endpoints.engine import ProbeTarget
from tests.engine.conftest import (
    ARREARS_KEY,
    CUSTOM_HOST,
    DEFAULT_HOST,
    DEFAULT_KEY,
    EAS_HOST,
    EAS_TOKEN,
    SUB_KEY,
    CountingListener,
    assert_outcome,
    run,
    target,
)


@pytest.mark.parametrize(
    ("style", "model"),
    [
        ("openai", None),
        ("openai", "qwen-plus"),
        ("dashscope", "qwen-plus"),
        ("anthropic", "qwen-plus"),
    ],
)
def test_it_authenticates_with_the_cheapest_request_of_each_style(sim, style, model):
    outcome = run(target(sim, api_style=style, check_model=model, secret=SUB_KEY))
    assert_outcome(outcome, "up", "ok", None)
    assert outcome.usage is None  # nothing billed


def test_it_sends_the_raw_eas_token_without_bearer(listener):
    t = ProbeTarget(
        url=f"http://{EAS_HOST}:{listener.port}/api/predict/demo_llm",
        kind="eas_vpc",
        api_style="eas",
        secret=EAS_TOKEN,
        host_overrides={EAS_HOST: "127.0.0.1"},
        timeout_s=3,
    )
    outcome = run(t)
    assert outcome.diagnosis == "ok"
    request = listener.requests[0].decode()
    assert request.startswith("GET /api/predict/demo_llm/v1/models ")
    assert f"Authorization: {EAS_TOKEN}\r\n" in request


def test_it_calls_an_eas_service_on_the_simulator(sim):
    t = target(
        sim,
        EAS_HOST,
        kind="eas_vpc",
        api_style="eas",
        secret=EAS_TOKEN,
        path="/api/predict/demo_llm",
    )
    assert_outcome(run(t), "up", "ok", None)


def test_a_model_call_check_returns_its_token_usage(sim):
    outcome = run(target(sim, check_model="qwen-plus", model_call=True, secret=SUB_KEY))
    assert_outcome(outcome, "up", "ok", None)
    assert outcome.usage["model"] == "qwen-plus"
    assert outcome.usage["input_tokens"] > 0 and outcome.usage["output_tokens"] >= 1


def test_http_on_https_only(sim):
    outcome = run(
        target(sim, CUSTOM_HOST, scheme="http", port=sim.tls_port, kind="privatelink_custom")
    )
    assert_outcome(outcome, "down", "http_on_https_only", "processing")


def test_auth_rejected(sim):
    outcome = run(target(sim, secret="sk-" + secrets.token_hex(16)))
    assert_outcome(outcome, "down", "auth_rejected", "processing")
    assert outcome.http_status == 401


def test_auth_rejected_for_a_key_of_another_region(sim):
    sim.state.add_workspace("llm-sgdefault", "ap-southeast-1")
    sg_key = "sk-" + secrets.token_hex(16)
    sim.state.add_key(sg_key, "llm-sgdefault")
    assert_outcome(run(target(sim, secret=sg_key)), "down", "auth_rejected", "processing")


def test_model_not_permitted(sim):
    outcome = run(target(sim, secret=SUB_KEY, check_model="qwen-max"))
    assert_outcome(outcome, "down", "model_not_permitted", "processing")
    assert outcome.http_status == 403 and "qwen-max" in outcome.message


def test_model_not_found(sim):
    outcome = run(target(sim, check_model="qwen-does-not-exist"))
    assert_outcome(outcome, "down", "model_not_found", "processing")
    assert outcome.http_status == 404


def test_path_not_found_for_an_unknown_eas_service(sim):
    t = target(
        sim,
        EAS_HOST,
        kind="eas_vpc",
        api_style="eas",
        secret=EAS_TOKEN,
        path="/api/predict/no_such",
    )
    outcome = run(t)
    assert_outcome(outcome, "down", "path_not_found", "processing")


def test_account_in_arrears(sim):
    assert_outcome(run(target(sim, secret=ARREARS_KEY)), "down", "account_in_arrears", "processing")


def test_rate_limited(sim):
    sim.state.set_fault(host=DEFAULT_HOST, fault=Fault(throttle=True))
    outcome = run(target(sim))
    assert_outcome(outcome, "degraded", "rate_limited", None)
    assert outcome.http_status == 429


@pytest.mark.parametrize("status", [500, 503])
def test_upstream_error(sim, status):
    sim.state.set_fault(host=DEFAULT_HOST, fault=Fault(status=status))
    outcome = run(target(sim))
    assert_outcome(outcome, "down", "upstream_error", "processing")
    assert outcome.http_status == status


def test_connection_reset(sim):
    sim.state.set_fault(host=DEFAULT_HOST, fault=Fault(reset=True))
    assert_outcome(run(target(sim)), "down", "connection_reset", "processing")


def test_a_proxys_400_is_not_taken_for_model_studios_validation_answer():
    html = (
        b"<html><body>400 Bad Request: The plain HTTP request was sent to HTTPS port</body></html>"
    )
    server = CountingListener(
        b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/html\r\nContent-Length: %d\r\n\r\n%s"
        % (len(html), html)
    )
    try:
        t = ProbeTarget(
            url=f"http://{DEFAULT_HOST}:{server.port}",
            kind="privatelink_default",
            api_style="openai",
            secret=DEFAULT_KEY,
            check_model="qwen-plus",
            host_overrides={DEFAULT_HOST: "127.0.0.1"},
        )
        outcome = run(t)
    finally:
        server.close()
    assert outcome.diagnosis == "bad_request" and outcome.status == "down"


def test_a_connection_cut_mid_answer_is_a_reset():
    server = CountingListener(b'HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n{"object": "li')
    try:
        t = ProbeTarget(
            url=f"http://{DEFAULT_HOST}:{server.port}",
            kind="privatelink_default",
            api_style="openai",
            host_overrides={DEFAULT_HOST: "127.0.0.1"},
        )
        outcome = run(t)
    finally:
        server.close()
    assert_outcome(outcome, "down", "connection_reset", "transfer")
