"""Fixtures of the probing tests: the simulator in a thread, and an endpoint it answers for."""

import io
import json

import pytest
from django.core.management import call_command

from endpoints.devtools.simulator import SimState, Simulator

HOST = "ep-run001.dashscope.cn-beijing.privatelink.aliyuncs.com"


@pytest.fixture
def sim(tmp_path, settings):
    simulator = Simulator(SimState(), dns_port=0, workdir=tmp_path)
    simulator.start_in_thread()
    settings.PORTAL_PROBE_TIMEOUT_S = 2.0
    yield simulator
    simulator.stop()


@pytest.fixture
def probed(sim, workspace_a, make_vpc, make_endpoint):
    """An endpoint of workspace A reachable through the simulator, which knows A's key."""
    vpc = make_vpc(resolver=f"127.0.0.1:{sim.dns_port}")
    endpoint = make_endpoint(
        name="bj private",
        url=f"http://{HOST}:{sim.http_port}",
        vpc=vpc,
        workspace=workspace_a,
        allows_80_443=True,
    )
    sim.state.load_from_db()
    sim.dns.set_a(HOST, ["127.0.0.1"])
    return endpoint


def probe_now(*args) -> list[dict]:
    out = io.StringIO()
    call_command("probe_now", *args, stdout=out)
    return [json.loads(line) for line in out.getvalue().splitlines()]
