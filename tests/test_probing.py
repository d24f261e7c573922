"""The probe engine against the simulator and small loopback servers.

One test per diagnosis code, each asserting the status, the code and the phase that
failed. No mocks: real DNS over UDP, real TCP, real TLS, real HTTP, all on 127.0.0.0/8.
"""

import asyncio
import contextlib
import secrets
import socket
import threading
import time

import pytest

from endpoints.devtools.simulator import Fault, SimState, Simulator
from endpoints.engine import EgressPolicy, ProbeTarget, classify_address, probe, probe_many

DEFAULT_HOST = "ep-abc123.dashscope.cn-beijing.privatelink.aliyuncs.com"
CUSTOM_HOST = "vpc-cn-beijing.dashscope.aliyuncs.com"
PUBLIC_HOST = "dashscope.aliyuncs.com"
EAS_HOST = "1234567890.vpc.cn-hangzhou.pai-eas.aliyuncs.com"
LOOPBACK_ONLY = EgressPolicy.from_env("127.0.0.0/8")

DEFAULT_KEY = "sk-" + secrets.token_hex(16)
SUB_KEY = "sk-" + secrets.token_hex(16)
ARREARS_KEY = "sk-" + secrets.token_hex(16)
EAS_TOKEN = "ZGI1YWYx" + secrets.token_hex(12)


@pytest.fixture
def sim(tmp_path):
    state = SimState()
    state.add_workspace("llm-bjdefault", "cn-beijing", is_default=True)
    state.add_workspace("llm-bjsub", "cn-beijing", is_default=False, models=["qwen-plus"])
    state.add_workspace("llm-bjarrears", "cn-beijing", is_default=True, in_arrears=True)
    state.add_key(DEFAULT_KEY, "llm-bjdefault")
    state.add_key(SUB_KEY, "llm-bjsub")
    state.add_key(ARREARS_KEY, "llm-bjarrears")
    state.add_eas_service("demo_llm", EAS_TOKEN, "qwen-7b")
    simulator = Simulator(state, dns_port=0, workdir=tmp_path)
    simulator.start_in_thread()
    yield simulator
    simulator.stop()


def target(sim, host=DEFAULT_HOST, *, scheme="http", port=None, kind="privatelink_default", **kw):
    port = port or (sim.tls_port if scheme == "https" else sim.http_port)
    kw.setdefault("secret", DEFAULT_KEY)
    kw.setdefault("api_style", "openai")
    kw.setdefault("host_overrides", {host: "127.0.0.1"})
    kw.setdefault("ca_file", str(sim.ca_path))
    kw.setdefault("timeout_s", 3.0)
    kw.setdefault("connect_timeout_s", 1.0)
    return ProbeTarget(url=f"{scheme}://{host}:{port}{kw.pop('path', '')}", kind=kind, **kw)


def run(t, policy=LOOPBACK_ONLY):
    return asyncio.run(probe(t, policy))


def assert_outcome(outcome, status, diagnosis, phase):
    assert (outcome.status, outcome.diagnosis, outcome.failed_phase) == (
        status,
        diagnosis,
        phase,
    ), outcome.message
    assert outcome.message
    if diagnosis != "ok":
        assert outcome.fix


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class CountingListener:
    """A loopback TCP listener: counts connections (proving the guard opened none), keeps
    what each sent, and answers every one with `payload`, then closes."""

    def __init__(
        self,
        payload: bytes = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
    ):
        self.payload = payload
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.requests: list[bytes] = []
        self._stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted += 1
            conn.settimeout(1)
            try:
                self.requests.append(conn.recv(65536))
                conn.sendall(self.payload)
            except OSError:
                pass
            conn.close()

    def close(self):
        self._stop = True
        self.thread.join()
        self.sock.close()


@pytest.fixture
def listener():
    server = CountingListener()
    yield server
    server.close()


# -- success ------------------------------------------------------------------------------------


def test_it_reports_ok_with_every_phase_timed(sim):
    outcome = run(target(sim))
    assert_outcome(outcome, "up", "ok", None)
    phases = outcome.phases
    assert phases.resolve_ms is not None and phases.connect_ms is not None
    assert phases.processing_ms is not None and phases.transfer_ms is not None
    assert phases.tls_ms is None  # http: no TLS phase
    assert phases.total_ms >= phases.processing_ms
    assert outcome.http_status == 200
    assert [(a.address, a.cls, a.ok) for a in outcome.addresses] == [
        ("127.0.0.1", "loopback", True)
    ]
    assert outcome.request_id


def test_it_checks_tls_and_days_to_expiry_over_https(sim):
    outcome = run(target(sim, CUSTOM_HOST, scheme="https", kind="privatelink_custom"))
    assert_outcome(outcome, "up", "ok", None)
    assert outcome.phases.tls_ms is not None
    assert outcome.tls_days_left >= 300


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


# -- resolve ------------------------------------------------------------------------------------


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


# -- connect ------------------------------------------------------------------------------------


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


# -- TLS ----------------------------------------------------------------------------------------


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


def test_http_on_https_only(sim):
    outcome = run(
        target(sim, CUSTOM_HOST, scheme="http", port=sim.tls_port, kind="privatelink_custom")
    )
    assert_outcome(outcome, "down", "http_on_https_only", "processing")


def test_https_on_default_domain(sim):
    outcome = run(target(sim, scheme="https", port=sim.http_port))
    assert_outcome(outcome, "down", "https_on_default_domain", "tls")


# -- HTTP and auth ----------------------------------------------------------------------------------


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


def test_slow(sim):
    sim.state.set_fault(host=DEFAULT_HOST, fault=Fault(latency_ms=300))
    outcome = run(target(sim, slow_ms=100))
    assert_outcome(outcome, "degraded", "slow", None)
    assert outcome.phases.processing_ms >= 290


# -- deadlines ------------------------------------------------------------------------------------


def test_a_hanging_upstream_is_cut_off_at_the_deadline(sim):
    sim.state.set_fault(host=DEFAULT_HOST, fault=Fault(hang=True))
    started = time.monotonic()
    outcome = run(target(sim, timeout_s=1.0))
    elapsed = time.monotonic() - started
    assert_outcome(outcome, "down", "timeout", "processing")
    assert 0.9 < elapsed < 3.0  # cut off at the deadline, not left hanging
    assert outcome.phases.total_ms >= 990


def test_a_slow_dripping_body_is_cut_off_at_the_deadline(sim):
    sim.state.set_fault(host=DEFAULT_HOST, fault=Fault(slow_body_bytes_per_s=5))
    started = time.monotonic()
    outcome = run(target(sim, timeout_s=1.0))
    assert_outcome(outcome, "down", "timeout", "transfer")
    assert time.monotonic() - started < 3.0


def test_many_probes_run_concurrently_and_a_hang_blocks_no_other(sim):
    hanging = "ep-hang01.dashscope.cn-beijing.privatelink.aliyuncs.com"
    sim.state.set_fault(host=hanging, fault=Fault(hang=True))
    sim.state.set_fault(host=DEFAULT_HOST, fault=Fault(latency_ms=50))
    targets = [target(sim, hanging, timeout_s=1.0) for _ in range(5)]
    targets += [target(sim, timeout_s=1.0) for _ in range(30)]
    started = time.monotonic()
    outcomes = asyncio.run(probe_many(targets, concurrency=50, policy=LOOPBACK_ONLY))
    elapsed = time.monotonic() - started
    assert [o.diagnosis for o in outcomes[:5]] == ["timeout"] * 5
    assert all(o.diagnosis == "ok" for o in outcomes[5:])
    assert elapsed < 3.0  # 35 probes at once, 5 hanging for the whole second (one at a time: 5+ s)


# -- the egress guard --------------------------------------------------------------------------------


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


def test_a_resolver_outside_the_allowed_networks_is_not_queried():
    t = ProbeTarget(
        url=f"http://{DEFAULT_HOST}",
        kind="privatelink_default",
        api_style="openai",
        resolver="100.100.2.136",
    )
    assert_outcome(run(t), "unknown", "egress_refused", "resolve")


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


def test_the_system_resolver_is_guarded_like_any_other_address():
    t = ProbeTarget(url=f"http://{DEFAULT_HOST}", kind="privatelink_default", api_style="openai")
    outcome = run(
        t, EgressPolicy.from_env("192.0.2.0/24")
    )  # TEST-NET: no real resolver lives there
    assert_outcome(outcome, "unknown", "egress_refused", "resolve")
    assert "PORTAL_PROBE_RESOLVER" in outcome.message


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


def test_an_unexpected_failure_stays_with_its_endpoint(sim):
    # A non-ASCII key cannot travel in a header: that probe fails alone, its batch lives on.
    bad = target(sim, secret="sk-clé" + "a" * 29)
    good = target(sim)
    bad_outcome, good_outcome = asyncio.run(probe_many([bad, good], policy=LOOPBACK_ONLY))
    assert (bad_outcome.status, bad_outcome.diagnosis) == ("unknown", "internal_error")
    assert "clé" not in bad_outcome.message
    assert good_outcome.diagnosis == "ok"


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
