"""A faithful local stand-in for Model Studio and PAI-EAS, for tests, demos and the probe engine.

    state = SimState()
    state.add_workspace("llm-ws1", "cn-beijing")
    state.add_key("sk-...", "llm-ws1")
    with Simulator(state, dns_port=0) as sim:
        ...  # http://127.0.0.1:{sim.http_port} with Host: dashscope.aliyuncs.com

Everything listens on 127.0.0.1 only. See server.py (listeners, faults), api.py (routes and
error bodies), state.py (workspaces, keys, faults), tls.py (certificates), dns.py (resolver).
"""

from .dns import DnsResponder
from .server import Simulator
from .state import DEFAULT_CATALOG, Fault, SimState, digest

__all__ = ["DEFAULT_CATALOG", "DnsResponder", "Fault", "SimState", "Simulator", "digest"]
