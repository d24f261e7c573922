"""The command line: `access-portal-agent --portal URL --token TOKEN` (or PORTAL_URL and
PORTAL_AGENT_TOKEN), running until stopped. Exit status 2, with one line on stderr, for a
token the portal rejects; 1 for a configuration it cannot use; 0 after SIGTERM.

The log goes to stdout, so stderr holds nothing but that one line: a supervisor (or a
person) reading stderr after the exit sees why, not the last of the log."""

import argparse
import asyncio
import logging
import os
import socket
import sys
from importlib.metadata import PackageNotFoundError, version

from endpoints.engine import EgressPolicy
from endpoints.engine.logs import RedactSecretsFilter

from .agent import ProbeAgent
from .client import check_portal_url


def agent_version() -> str:
    try:
        return version("access-portal")
    except PackageNotFoundError:
        return "unknown"


def parser() -> argparse.ArgumentParser:
    env = os.environ.get
    p = argparse.ArgumentParser(
        prog="access-portal-agent",
        description="Probe Model Studio endpoints from inside this VPC for Access Portal.",
    )
    p.add_argument("--portal", default=env("PORTAL_URL"), help="the portal's URL (PORTAL_URL)")
    p.add_argument(
        "--token", default=env("PORTAL_AGENT_TOKEN"), help="this agent's token (PORTAL_AGENT_TOKEN)"
    )
    p.add_argument(
        "--state-dir",
        default=env("PORTAL_AGENT_STATE_DIR", os.path.expanduser("~/.access-portal-agent")),
        help="where the agent keeps its private key (PORTAL_AGENT_STATE_DIR); '' for none",
    )
    p.add_argument(
        "--capacity",
        type=int,
        default=int(env("PORTAL_PROBE_CONCURRENCY", "50")),
        help="probes at once (PORTAL_PROBE_CONCURRENCY, default 50)",
    )
    p.add_argument(
        "--buffer",
        type=int,
        default=int(env("PORTAL_AGENT_BUFFER", "10000")),
        help="results kept while the portal is away; the oldest are dropped past it",
    )
    p.add_argument(
        "--allow-http",
        action="store_true",
        default=env("PORTAL_AGENT_ALLOW_HTTP", "") in {"1", "true", "yes"},
        help="talk plain HTTP to a portal that is not on loopback (a portal in DEBUG only)",
    )
    p.add_argument("--log-level", default=env("LOG_LEVEL", "INFO"))
    return p


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    handler = logging.StreamHandler(sys.stdout)
    handler.addFilter(RedactSecretsFilter())
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=args.log_level.upper(), handlers=[handler], force=True)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per request is noise
    if not args.token:
        print("access-portal-agent: give --token (or PORTAL_AGENT_TOKEN)", file=sys.stderr)
        return 1
    try:
        portal = check_portal_url(args.portal or "", args.allow_http)
        policy = EgressPolicy.from_env(holder="agent")
    except ValueError as exc:
        print(f"access-portal-agent: {exc}", file=sys.stderr)
        return 1
    agent = ProbeAgent(
        portal,
        args.token,
        version=agent_version(),
        hostname=socket.gethostname(),
        state_dir=args.state_dir or None,
        capacity=max(1, min(args.capacity, 1000)),
        buffer_size=max(1, args.buffer),
        policy=policy,
    )
    code = asyncio.run(agent.run())
    if code == 2:
        print(agent.fatal_message, file=sys.stderr)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
