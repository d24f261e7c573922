"""The Model Studio simulator, driven over loopback with httpx, raw sockets and dnspython."""

import asyncio
import gc
import json
import socket
import ssl
import subprocess
import sys
import time

import dns.exception
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import httpx
import pytest

from endpoints.devtools.simulator import Fault, SimState, Simulator, digest
from endpoints.engine.routes import model_studio_routes
from tests.conftest import ROOT

BJ_KEY = "sk-" + "1" * 32  # default workspace, Beijing
SUB_KEY = "sk-" + "2" * 32  # sub-workspace, Beijing, granted qwen-plus only
SG_KEY = "sk-" + "3" * 32  # default workspace, Singapore
EAS_TOKEN = "ZGI1YWYxZjQ2NzE0MDM5NmE2Njg0ZmQ2"
PUBLIC_BJ = "dashscope.aliyuncs.com"
PL_SHORT = "ep-abc123.privatelink.aliyuncs.com"  # no region in the name
EAS_HOST = "1234.cn-hangzhou.pai-eas.aliyuncs.com"
CHAT = "/compatible-mode/v1/chat/completions"
MODELS = "/compatible-mode/v1/models"
NATIVE = "/api/v1/services/aigc/text-generation/generation"
HELLO = [{"role": "user", "content": "Say hello"}]


@pytest.fixture
def state():
    state = SimState()
    state.add_workspace("llm-bjdefault", "cn-beijing")
    state.add_workspace("llm-bjsub", "cn-beijing", is_default=False, models=["qwen-plus"])
    state.add_workspace("llm-sgdefault", "ap-southeast-1")
    state.add_key(BJ_KEY, "llm-bjdefault")
    state.add_key_digest(digest(SUB_KEY), "llm-bjsub")
    state.add_key(SG_KEY, "llm-sgdefault")
    state.add_eas_service("chat-svc", EAS_TOKEN, model="qwen-eas")
    state.set_host_region(PL_SHORT, "cn-beijing")
    return state


@pytest.fixture
def sim(state, tmp_path):
    with Simulator(state, http_port=0, tls_port=0, dns_port=0, workdir=tmp_path) as sim:
        yield sim


def call(sim, method, path, host=PUBLIC_BJ, key=BJ_KEY, headers=None, **kwargs):
    """One request to the simulator's HTTP port as if sent to `host`."""
    sent = {"Host": host, **({"Authorization": f"Bearer {key}"} if key else {}), **(headers or {})}
    url = f"http://127.0.0.1:{sim.http_port}{path}"
    return httpx.request(method, url, headers=sent, timeout=kwargs.pop("timeout", 5), **kwargs)


def chat(sim, model="qwen-plus", messages=HELLO, **kwargs):
    return call(sim, "POST", CHAT, json={"model": model, "messages": messages}, **kwargs)


def tls_client(sim):
    return httpx.Client(verify=ssl.create_default_context(cafile=str(sim.ca_path)), timeout=5)


def tls_get(client, sim, host, path=MODELS, key=BJ_KEY):
    return client.get(
        f"https://127.0.0.1:{sim.tls_port}{path}",
        headers={"Host": host, "Authorization": f"Bearer {key}"},
        extensions={"sni_hostname": host},
    )


def raw_request(path=MODELS, host=PUBLIC_BJ, extra="") -> bytes:
    return (
        f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {BJ_KEY}\r\n{extra}\r\n"
    ).encode()


def time_to_first_byte_ms(sim, path=MODELS) -> float:
    with socket.create_connection(("127.0.0.1", sim.http_port), timeout=5) as sock:
        started = time.perf_counter()
        sock.sendall(raw_request(path))
        sock.recv(1)
        return (time.perf_counter() - started) * 1000


def measure_without_gc(measure):
    # Client and server share this process: a garbage collection would stall both.
    gc.disable()
    try:
        return measure()
    finally:
        gc.enable()


def sse_data(response) -> list[str]:
    return [line[5:].strip() for line in response.text.splitlines() if line.startswith("data:")]


# -- Model Studio routes ---------------------------------------------------------------------


def test_it_lists_the_regions_models(sim):
    response = call(sim, "GET", MODELS)
    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "list"
    names = {m["id"] for m in body["data"]}
    assert {"qwen-plus", "qwen-max", "qwen3-max"} <= names
    assert "qwen-plus-us" not in names
    assert body["data"][0].keys() >= {"id", "object", "created", "owned_by"}
    assert response.headers["server"] == "istio-envoy"
    assert response.headers["x-request-id"] == body["request_id"]


def test_it_answers_a_chat_completion_with_usage(sim):
    response = call(
        sim, "POST", CHAT, json={"model": "qwen-plus", "messages": HELLO, "max_tokens": 3}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "chat.completion"
    assert body["model"] == "qwen-plus"
    assert body["id"] == f"chatcmpl-{response.headers['x-request-id']}"
    assert body["choices"][0]["message"]["role"] == "assistant"
    assert body["choices"][0]["finish_reason"] == "stop"
    usage = body["usage"]
    assert usage["completion_tokens"] == 3
    assert usage["prompt_tokens"] > 0
    assert usage["total_tokens"] == usage["prompt_tokens"] + 3


def test_it_streams_openai_chunks_with_usage_then_done(sim):
    payload = {
        "model": "qwen-plus",
        "messages": HELLO,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    response = call(sim, "POST", CHAT, json=payload)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    data = sse_data(response)
    assert data[-1] == "[DONE]"
    chunks = [json.loads(d) for d in data[:-1]]
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    assert len({c["id"] for c in chunks}) == 1
    assert chunks[0]["choices"][0]["delta"] == {"content": "", "role": "assistant"}
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["completion_tokens"] == len(chunks) - 2
    assert all(c["usage"] is None for c in chunks[:-1])


def test_it_answers_the_dashscope_shapes(sim):
    request = {"model": "qwen-plus", "input": {"messages": HELLO}}
    as_text = call(sim, "POST", NATIVE, json=request).json()
    assert as_text["output"]["finish_reason"] == "stop"
    assert as_text["output"]["text"]
    usage = as_text["usage"]
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]

    request["parameters"] = {"result_format": "message"}
    response = call(sim, "POST", NATIVE, json=request)
    body = response.json()
    assert body["output"]["choices"][0]["message"]["role"] == "assistant"
    assert body["request_id"] == response.headers["x-request-id"]


def test_it_streams_dashscope_events(sim):
    request = {
        "model": "qwen-plus",
        "input": {"messages": HELLO},
        "parameters": {"result_format": "message", "incremental_output": True},
    }
    response = call(sim, "POST", NATIVE, json=request, headers={"X-DashScope-SSE": "enable"})
    assert response.status_code == 200
    assert response.text.startswith("id:1\nevent:result\n:HTTP_STATUS/200\ndata:{")
    events = [json.loads(d) for d in sse_data(response)]
    finishes = [e["output"]["choices"][0]["finish_reason"] for e in events]
    assert finishes[-1] == "stop" and set(finishes[:-1]) == {"null"}
    assert [e["usage"]["output_tokens"] for e in events[:-1]] == list(range(1, len(events)))


def test_it_answers_the_anthropic_shape(sim):
    response = call(
        sim,
        "POST",
        "/apps/anthropic/v1/messages",
        key=None,
        headers={"x-api-key": BJ_KEY},
        json={"model": "qwen-plus", "max_tokens": 5, "messages": HELLO},
    )
    assert response.status_code == 200
    body = response.json()
    assert body["content"][0]["type"] == "text"
    assert body["stop_reason"] == "end_turn"
    assert body["usage"]["output_tokens"] == 5
    assert body["usage"]["input_tokens"] > 0


# -- the gateway's checks --------------------------------------------------------------------


def test_it_rejects_a_bad_key_with_the_compat_and_native_bodies(sim):
    compat = chat(sim, key="sk-" + "f" * 32)
    assert compat.status_code == 401
    error = compat.json()["error"]
    assert error["code"] == "invalid_api_key"
    assert error["type"] == "invalid_request_error"
    assert error["param"] is None
    assert compat.json()["request_id"] == compat.headers["x-request-id"]

    native = call(sim, "POST", NATIVE, key=None, json={"model": "qwen-plus"})
    assert native.status_code == 401
    assert native.json()["code"] == "InvalidApiKey"
    assert native.json()["message"] == "Invalid API-key provided."


def test_it_rejects_a_key_of_another_region(sim):
    assert chat(sim, key=SG_KEY).status_code == 401
    assert chat(sim, key=SG_KEY, host="dashscope-intl.aliyuncs.com").status_code == 200
    # A host without a region in its name takes the state's host → region map.
    assert chat(sim, key=SG_KEY, host=PL_SHORT).status_code == 401
    assert chat(sim, key=BJ_KEY, host=PL_SHORT).status_code == 200


def test_it_takes_only_the_workspaces_own_keys_on_its_domain(sim):
    assert chat(sim, host="llm-bjdefault.cn-beijing.maas.aliyuncs.com").status_code == 200
    assert chat(sim, host="llm-bjsub.cn-beijing.maas.aliyuncs.com").status_code == 401


def test_it_denies_a_model_the_sub_workspace_was_not_granted(sim):
    assert chat(sim, key=SUB_KEY, model="qwen-plus").status_code == 200
    response = chat(sim, key=SUB_KEY, model="qwen-max")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "Model.AccessDenied"


def test_it_does_not_find_an_unknown_model(sim):
    response = chat(sim, model="qwen-nonexistent")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "model_not_found"
    native = call(sim, "POST", NATIVE, json={"model": "qwen-plus-us", "input": {"messages": HELLO}})
    assert native.status_code == 404  # offered in us-east-1 only
    assert native.json()["code"] == "ModelNotFound"


def test_it_answers_an_unknown_path_with_an_empty_404(sim):
    response = call(sim, "GET", "/apps/anthropic/v1/models")
    assert response.status_code == 404
    assert response.content == b""
    assert response.headers["server"] == "istio-envoy"


@pytest.mark.parametrize(("method", "path"), sorted(model_studio_routes()))
def test_it_answers_every_route_of_the_routes_table(sim, method, path):
    body = {"model": "qwen-plus", "messages": HELLO, "max_tokens": 4}
    if "/api/v1/" in path:
        body = {"model": "qwen-plus", "input": {"messages": HELLO}}
    response = call(sim, method, path, json=body if method == "POST" else None)
    assert response.status_code == 200, (path, response.text)


def test_it_rejects_empty_messages_only_after_auth_and_permissions(sim):
    response = chat(sim, messages=[])
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_parameter_error"
    assert chat(sim, messages=[], key="sk-bad").status_code == 401
    assert chat(sim, messages=[], key=SUB_KEY, model="qwen-max").status_code == 403
    assert chat(sim, messages=[], key=SUB_KEY, model="qwen-plus").status_code == 400
    native = call(sim, "POST", NATIVE, json={"model": "qwen-plus", "input": {"messages": []}})
    assert native.status_code == 400
    assert native.json()["code"] == "InvalidParameter"
    assert call(sim, "POST", CHAT, json={"messages": HELLO}).status_code == 400  # no model


def test_it_answers_arrears_with_400(sim, state):
    state.set_arrears("llm-bjdefault")
    response = chat(sim)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "Arrearage"


def test_it_throttles_over_the_keys_rpm_limit(sim, state):
    state.set_rpm_limit(digest(BJ_KEY), 2)
    assert [chat(sim).status_code for _ in range(3)] == [200, 200, 429]
    native = call(sim, "POST", NATIVE, json={"model": "qwen-plus", "input": {"messages": HELLO}})
    assert native.json()["code"] == "Throttling.RateQuota"
    assert chat(sim, key=SUB_KEY).status_code == 200  # other keys are not limited


def test_it_throttles_with_the_throttle_fault(sim, state):
    state.set_fault(host=PUBLIC_BJ, fault=Fault(throttle=True))
    response = chat(sim)
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "limit_requests"
    assert chat(sim, key="sk-bad").status_code == 401  # auth still comes first


# -- connections -----------------------------------------------------------------------------


def test_it_keeps_connections_alive_and_honours_connection_close(sim):
    with socket.create_connection(("127.0.0.1", sim.http_port), timeout=5) as sock:
        sock.sendall(raw_request() + raw_request(extra="Connection: close\r\n"))
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    assert received.count(b"HTTP/1.1 200") == 2
    assert b"connection: close" in received.lower()


# -- faults ----------------------------------------------------------------------------------


def test_it_delays_the_first_byte_by_the_latency(sim, state):
    state.set_fault(host=PUBLIC_BJ, fault=Fault(latency_ms=80))
    measured = measure_without_gc(lambda: [time_to_first_byte_ms(sim) for _ in range(10)])
    # Behaviour, not speed (that is docs/benchmarks.md): delayed by the latency, not hung.
    assert all(80 <= ms < 300 for ms in measured), measured


def test_it_jitters_the_latency(sim, state):
    state.set_fault(host=PUBLIC_BJ, fault=Fault(latency_ms=40, jitter_ms=20))
    measured = measure_without_gc(lambda: [time_to_first_byte_ms(sim) for _ in range(10)])
    assert all(20 <= ms < 300 for ms in measured), measured
    assert max(measured) - min(measured) > 2


def test_the_most_specific_fault_wins(sim, state):
    state.set_fault(host=PUBLIC_BJ, fault=Fault(status=503))
    state.set_fault(host=PUBLIC_BJ, path=MODELS, fault=Fault(status=500))
    state.set_fault(path="/compatible-mode", fault=Fault(status=429))
    assert call(sim, "GET", MODELS).status_code == 500
    assert chat(sim).status_code == 503
    assert chat(sim, host="dashscope-intl.aliyuncs.com", key=SG_KEY).status_code == 429
    state.clear_faults()
    assert chat(sim).status_code == 200


def test_it_hangs_until_the_client_gives_up(sim, state):
    state.set_fault(host=PUBLIC_BJ, fault=Fault(hang=True))
    with pytest.raises(httpx.ReadTimeout):
        chat(sim, timeout=httpx.Timeout(5, read=0.3))


def test_it_resets_the_connection(sim, state):
    state.set_fault(host=PUBLIC_BJ, fault=Fault(reset=True))
    with socket.create_connection(("127.0.0.1", sim.http_port), timeout=5) as sock:
        sock.sendall(raw_request())
        with pytest.raises(ConnectionResetError):
            sock.recv(1024)


def test_it_closes_without_a_response(sim, state):
    state.set_fault(host=PUBLIC_BJ, fault=Fault(close_without_response=True))
    with pytest.raises(httpx.RemoteProtocolError):
        chat(sim)


def test_it_answers_status_faults_with_the_real_error_bodies(sim, state):
    state.set_fault(host=PUBLIC_BJ, fault=Fault(status=503))
    response = chat(sim)
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "ModelUnavailable"
    state.set_fault(host=PUBLIC_BJ, fault=Fault(status=500))
    native = call(sim, "POST", NATIVE, json={"model": "qwen-plus"})
    assert native.status_code == 500
    assert native.json()["code"] == "InternalError"


def test_it_drips_a_slow_body_after_prompt_headers(sim, state):
    state.set_fault(host=PUBLIC_BJ, fault=Fault(slow_body_bytes_per_s=2000))
    url = f"http://127.0.0.1:{sim.http_port}{MODELS}"
    headers = {"Host": PUBLIC_BJ, "Authorization": f"Bearer {BJ_KEY}"}
    started = time.perf_counter()
    with httpx.stream("GET", url, headers=headers, timeout=5) as response:
        headers_at = time.perf_counter() - started
        body = response.read()
    total = time.perf_counter() - started
    assert total >= len(body) / 2000 * 0.8
    assert headers_at < total / 4  # the head came promptly; the body is what dripped
    assert json.loads(body)["object"] == "list"


def test_it_serves_tls_with_a_leaf_per_sni_name(sim):
    with tls_client(sim) as client:
        response = tls_get(client, sim, "vpc-cn-beijing.dashscope.aliyuncs.com")
    assert response.status_code == 200


def test_its_tls_port_refuses_plain_http(sim):
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{sim.tls_port}{MODELS}", headers={"Host": PUBLIC_BJ})


def test_it_presents_a_self_signed_certificate(sim, state):
    host = "vpc-cn-beijing.dashscope.aliyuncs.com"
    state.set_fault(host=host, fault=Fault(self_signed=True))
    with tls_client(sim) as client, pytest.raises(httpx.ConnectError, match="self-signed"):
        tls_get(client, sim, host)


def test_it_presents_an_expiring_certificate(sim, state):
    host = "dashscope-intl.aliyuncs.com"
    state.set_fault(host=host, fault=Fault(cert_days_left=5))
    context = ssl.create_default_context(cafile=str(sim.ca_path))
    with (
        socket.create_connection(("127.0.0.1", sim.tls_port), timeout=5) as sock,
        context.wrap_socket(sock, server_hostname=host) as tls,
    ):
        not_after = ssl.cert_time_to_seconds(tls.getpeercert()["notAfter"])
    assert int((not_after - time.time()) // 86400) == 5


def test_faults_can_be_set_over_http(sim):
    admin = f"http://127.0.0.1:{sim.http_port}/_simulator"
    faults = [{"host": PUBLIC_BJ, "path": CHAT, "status": 503}]
    assert httpx.put(f"{admin}/faults", json=faults).status_code == 200
    assert chat(sim).status_code == 503
    assert httpx.get(f"{admin}/state").json()["faults"][0]["status"] == 503
    assert httpx.delete(f"{admin}/faults").status_code == 200
    assert chat(sim).status_code == 200
    # Only for Host localhost/127.0.0.1: elsewhere it is an unknown path.
    assert call(sim, "GET", "/_simulator/state").status_code == 404


# -- PAI-EAS ---------------------------------------------------------------------------------


def test_eas_takes_the_raw_token(sim):
    path = "/api/predict/chat-svc/v1/models"
    response = call(sim, "GET", path, host=EAS_HOST, key=None, headers={"Authorization": EAS_TOKEN})
    assert response.status_code == 200
    assert [m["id"] for m in response.json()["data"]] == ["qwen-eas"]
    completion = call(
        sim,
        "POST",
        "/api/predict/chat-svc/v1/chat/completions",
        host=EAS_HOST,
        key=EAS_TOKEN,  # as Bearer
        json={"messages": HELLO},
    )
    assert completion.json()["object"] == "chat.completion"


def test_eas_rejects_a_bad_token_and_an_unknown_service(sim):
    bad = call(sim, "GET", "/api/predict/chat-svc/v1/models", host=EAS_HOST, key="nope")
    assert bad.status_code == 401
    assert bad.json()["code"] == "Unauthorized"
    unknown = call(sim, "GET", "/api/predict/other/v1/models", host=EAS_HOST, key=EAS_TOKEN)
    assert unknown.status_code == 404


# -- DNS -------------------------------------------------------------------------------------


def resolve(sim, name, rdtype="A", timeout=2.0):
    query = dns.message.make_query(name, rdtype)
    return dns.query.udp(query, "127.0.0.1", port=sim.dns_port, timeout=timeout)


def test_dns_answers_a_records(sim):
    sim.dns.set_a("vpc-cn-beijing.dashscope.aliyuncs.com", ["10.0.0.5", "10.0.1.5"])
    answer = resolve(sim, "vpc-cn-beijing.dashscope.aliyuncs.com").answer
    assert sorted(r.address for r in answer[0]) == ["10.0.0.5", "10.0.1.5"]
    assert resolve(sim, "vpc-cn-beijing.dashscope.aliyuncs.com", "AAAA").answer == []


def test_dns_follows_a_cname_chain(sim):
    target = "ep-abc123.dashscope.cn-beijing.privatelink.aliyuncs.com"
    sim.dns.set_cname("vpc-cn-beijing.dashscope.aliyuncs.com", target)
    sim.dns.set_a(target, ["10.0.0.5"])
    answer = resolve(sim, "vpc-cn-beijing.dashscope.aliyuncs.com").answer
    assert [rrset.rdtype for rrset in answer] == [dns.rdatatype.CNAME, dns.rdatatype.A]
    assert answer[0][0].target.to_text() == target + "."
    assert answer[1][0].address == "10.0.0.5"


def test_dns_answers_nxdomain_for_unknown_names(sim):
    assert resolve(sim, "nothing.example.com").rcode() == dns.rcode.NXDOMAIN


def test_dns_never_answers_a_blackholed_name(sim):
    sim.dns.blackhole("vpc-cn-beijing.dashscope.aliyuncs.com")
    with pytest.raises(dns.exception.Timeout):
        resolve(sim, "vpc-cn-beijing.dashscope.aliyuncs.com", timeout=0.3)


def test_dns_answers_follow_every_change_of_the_records(sim):
    """Answers are kept per question for speed; a change of the records is served at once."""
    name = "vpc-cn-beijing.dashscope.aliyuncs.com"
    sim.dns.set_a(name, ["10.0.0.5"])
    assert resolve(sim, name).answer[0][0].address == "10.0.0.5"
    assert resolve(sim, name).answer[0][0].address == "10.0.0.5"  # asked twice: same answer
    sim.dns.set_a(name, ["10.0.0.6"])
    assert resolve(sim, name).answer[0][0].address == "10.0.0.6"
    sim.dns.blackhole(name)
    with pytest.raises(dns.exception.Timeout):
        resolve(sim, name, timeout=0.3)
    sim.dns.clear()
    assert resolve(sim, name).rcode() == dns.rcode.NXDOMAIN


def test_dns_replies_carry_the_id_of_their_question(sim):
    sim.dns.set_a("vpc-cn-beijing.dashscope.aliyuncs.com", ["10.0.0.5"])
    for _ in range(3):  # dns.query.udp checks that the reply answers its own query (ID too)
        resolve(sim, "vpc-cn-beijing.dashscope.aliyuncs.com")


# -- running it -----------------------------------------------------------------------------


def test_it_runs_inside_an_existing_event_loop(state, tmp_path):
    async def scenario():
        async with Simulator(state, tls_port=None, workdir=tmp_path) as sim:
            url = f"http://127.0.0.1:{sim.http_port}{MODELS}"
            headers = {"Host": PUBLIC_BJ, "Authorization": f"Bearer {BJ_KEY}"}
            async with httpx.AsyncClient() as client:
                return (await client.get(url, headers=headers)).status_code

    assert asyncio.run(scenario()) == 200


def test_the_command_serves_a_config_file(tmp_path):
    config = {
        "workspaces": [{"workspace_id": "llm-cli", "region": "ap-southeast-1"}],
        "keys": [{"sha256": digest(SG_KEY), "workspace_id": "llm-cli"}],
        "faults": [{"host": "dashscope-intl.aliyuncs.com", "path": MODELS, "status": 503}],
        "dns": {"a": {"vpc-ap-southeast-1.dashscope.aliyuncs.com": ["10.1.0.7"]}},
    }
    (tmp_path / "sim.json").write_text(json.dumps(config))
    command = [sys.executable, "manage.py", "simulate_model_studio", "--port", "0"]
    command += ["--dns-port", "0", "--config", str(tmp_path / "sim.json")]
    command += ["--ca-out", str(tmp_path / "ca.pem")]
    root = ROOT
    with subprocess.Popen(command, cwd=root, stdout=subprocess.PIPE, text=True) as process:
        try:
            ready = process.stdout.readline()
            assert str(tmp_path / "ca.pem") in ready
            port = int(ready.split("http ")[1].split(",")[0])
            dns_port = int(ready.split("dns ")[1].split(";")[0])
            url = f"http://127.0.0.1:{port}/compatible-mode/v1"
            headers = {"Host": "dashscope-intl.aliyuncs.com", "Authorization": f"Bearer {SG_KEY}"}
            chat_body = {"model": "qwen-plus", "messages": HELLO}
            assert httpx.post(f"{url}/chat/completions", headers=headers, json=chat_body).is_success
            assert httpx.get(f"{url}/models", headers=headers).status_code == 503
            query = dns.message.make_query("vpc-ap-southeast-1.dashscope.aliyuncs.com", "A")
            answer = dns.query.udp(query, "127.0.0.1", port=dns_port, timeout=2).answer
            assert answer[0][0].address == "10.1.0.7"
        finally:
            process.terminate()
        assert process.wait(timeout=10) == 0


# -- the portal database ---------------------------------------------------------------------


@pytest.mark.django_db
def test_it_loads_workspaces_keys_and_eas_services_from_the_db(tmp_path):
    from django.utils import timezone

    from endpoints.network.models import Endpoint
    from portal.workspaces.models import ApiKey, CatalogModel, EasToken, ModelGrant, Workspace

    ws = Workspace.objects.create(
        slug="bj",
        name="Beijing",
        workspace_id="llm-dbws",
        region_id="cn-beijing",
        scope="mainland",
        is_default=True,
    )
    sub = Workspace.objects.create(
        slug="sub", name="Sub", workspace_id="llm-dbsub", region_id="cn-beijing", scope="mainland"
    )
    ModelGrant.objects.create(workspace=sub, model=CatalogModel.objects.get(name="qwen-plus"))
    key, sub_key, revoked = ApiKey(workspace=ws, label="k"), ApiKey(workspace=sub, label="s"), None
    key.set_secret(BJ_KEY)
    key.save()
    sub_key.set_secret(SUB_KEY)
    sub_key.save()
    revoked = ApiKey(workspace=ws, label="old", revoked_at=timezone.now())
    revoked.set_secret(SG_KEY)
    revoked.save()
    token = EasToken(region_id="cn-hangzhou", label="eas")
    token.set_secret(EAS_TOKEN)
    token.save()
    Endpoint.objects.create(
        name="eas",
        kind="eas_public",
        url=f"http://{EAS_HOST}/api/predict/chat-svc",
        region_id="cn-hangzhou",
        api_style="eas",
        eas_token=token,
    )
    Endpoint.objects.create(
        name="pl", kind="privatelink_default", url=f"http://{PL_SHORT}", region_id="cn-beijing"
    )

    state = SimState()
    state.load_from_db()
    with Simulator(state, tls_port=None, workdir=tmp_path) as sim:
        assert chat(sim, key=BJ_KEY).status_code == 200
        assert chat(sim, key=BJ_KEY, host="dashscope-intl.aliyuncs.com").status_code == 401
        assert chat(sim, key=SG_KEY).status_code == 401  # revoked
        assert chat(sim, key=SUB_KEY, model="qwen-plus").status_code == 200
        assert chat(sim, key=SUB_KEY, model="qwen-max").status_code == 403
        assert chat(sim, key=BJ_KEY, host=PL_SHORT).status_code == 200
        eas = call(sim, "GET", "/api/predict/chat-svc/v1/models", host=EAS_HOST, key=EAS_TOKEN)
        assert eas.status_code == 200

        key.revoked_at = timezone.now()
        key.save()
        state.load_from_db()
        assert chat(sim, key=BJ_KEY).status_code == 401
