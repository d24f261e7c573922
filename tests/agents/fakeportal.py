"""A scripted portal on loopback for real `access-portal-agent` processes: it speaks the
agent protocol (docs/agent-protocol.md) from a test's script instead of a database, so a
test can hand out any lease, answer any call with any status, stop listening and come back,
and see every call the agent made and when.

No Django here: the agent under test is the real process, only its portal is scripted."""

import json
import os
import subprocess
import sys
import threading
import time
from collections import deque
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRIVATE_HOST = "ep-fake01.dashscope.cn-beijing.privatelink.aliyuncs.com"


class FakePortal:
    """`answer[name]`: a function of the request body giving (status, body) or None for the
    usual answer; `leases`: lists of items handed out one list per lease call (then none)."""

    def __init__(self, poll_s=0.2, heartbeat_s=1.0):
        self.lock = threading.Lock()
        self.calls: list[tuple[float, str, dict, int]] = []  # (monotonic, name, body, status)
        self.stored: list[dict] = []  # every result of a results call answered 200
        self.leases: deque[list[dict]] = deque()
        self.answer: dict = {}
        self.config = {"poll_s": poll_s, "heartbeat_s": heartbeat_s, "lease_s": 30}
        self.server = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self):
        portal = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                name = self.path.rsplit("/", 1)[-1]
                status, body = portal.respond(name, json.loads(raw or b"{}"))
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self):
        """Stop listening: the agent's calls are refused until start() again (same port)."""
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def respond(self, name: str, body: dict) -> tuple[int, dict]:
        hook = self.answer.get(name)
        answer = hook(body) if hook else None
        if answer is None:
            answer = self.usual(name, body)
        with self.lock:
            self.calls.append((time.monotonic(), name, body, answer[0]))
            if name == "results" and answer[0] == 200:
                self.stored.extend(body.get("results", []))
        return answer

    def usual(self, name: str, body: dict) -> tuple[int, dict]:
        if name == "hello":
            return 200, {
                "agent": {"id": 1, "name": "fake", "vpc": "vpc-fake0001"},
                "portal_version": "unknown",
                "probed_by": "agents",
                **self.config,
            }
        if name == "lease":
            with self.lock:
                items = self.leases.popleft() if self.leases else []
            return 200, {"items": items, "poll_s": self.config["poll_s"]}
        if name == "results":
            return 200, {"stored": len(body.get("results", [])), "duplicates": 0, "rejected": []}
        if name == "heartbeat":
            return 200, {"portal_version": "unknown", "revoked": False}
        return 404, {"detail": "Not Found"}

    def made(self, name: str) -> list[tuple[float, dict, int]]:
        with self.lock:
            return [(t, body, status) for t, n, body, status in self.calls if n == name]

    def last_heartbeat(self) -> dict | None:
        beats = self.made("heartbeat")
        return beats[-1][1] if beats else None


def lease_item(schedule=1, *, interval_s=1, slot_in_s=0.5, **target) -> dict:
    """One leased probe: by default a private endpoint whose resolver (10.255.255.1) lies
    outside the agent's loopback-only egress, so it ends at once as egress_refused and sends
    nothing anywhere."""
    slot = datetime.now(UTC) + timedelta(seconds=slot_in_s)
    return {
        "schedule": schedule,
        "endpoint": 100 + schedule,
        "lease": f"lease-{schedule}",
        "slot": slot.isoformat(),
        "interval_s": interval_s,
        "run": None,
        "missing": None,
        "target": {
            "url": f"http://{PRIVATE_HOST}",
            "kind": "privatelink_default",
            "api_style": "openai",
            "resolver": "10.255.255.1",
            "timeout_s": 3.0,
            "connect_timeout_s": 2.0,
            **target,
        },
        "secret": None,
    }


class AgentProcess:
    """`python -m endpoints.probe_agent` against `portal`, its stdout and stderr kept apart."""

    def __init__(self, portal: FakePortal, tmp_path: Path, *args: str, env=None, name="agent"):
        self.stdout_path = tmp_path / f"{name}.out"
        self.stderr_path = tmp_path / f"{name}.err"
        self._out, self._err = open(self.stdout_path, "w"), open(self.stderr_path, "w")  # noqa: SIM115
        environment = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PYTHONPATH": str(ROOT),
            "PORTAL_PROBE_ALLOWED_NETWORKS": "127.0.0.0/8",
            "LOG_LEVEL": "DEBUG",
            **(env or {}),
        }
        command = [sys.executable, "-m", "endpoints.probe_agent", "--portal", portal.url]
        command += ["--token", "apa_fake", "--state-dir", "", *args]
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=environment, stdout=self._out, stderr=self._err
        )

    def output(self) -> str:
        return self.stdout_path.read_text()  # the agent's own writes (we never write there)

    def stderr(self) -> str:
        return self.stderr_path.read_text()

    def logs(self) -> str:
        return f"--- stdout:\n{self.output()[-4000:]}\n--- stderr:\n{self.stderr()[-2000:]}"

    def stop(self, timeout=20) -> int:
        if self.process.poll() is None:
            self.process.terminate()
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise
        finally:
            self._out.close()
            self._err.close()
