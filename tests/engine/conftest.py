"""The engine's tests run without Django: the simulator and small loopback servers stand in
for Model Studio, and nothing here touches a database."""

import asyncio
import secrets
import socket
import threading

import pytest

from endpoints.devtools.simulator import SimState, Simulator
from endpoints.engine import EgressPolicy, ProbeTarget, probe

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
