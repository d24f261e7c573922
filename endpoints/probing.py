"""The probe engine: what is wrong with one path to Model Studio, in one line.

Plain Python (asyncio, h11, dnspython): no Django, no Celery, no database. The tasks
build a `ProbeTarget`, call `probe()` or `probe_many()`, and store the `ProbeOutcome`.

A probe walks the path a caller in the VPC would take, timing each phase like
blackbox_exporter:

1. resolve: the VPC's resolver (or its static overrides), recording the CNAME chain and
   every A/AAAA address;
2. connect: TCP to *each* address at once (a PrivateLink endpoint has one ENI address
   per zone, and a dead zone must show), carrying on with the first that answers;
3. tls: the handshake with SNI and certificate verification, and days to expiry;
4. processing (time to first byte) and transfer: the cheapest authenticated request of
   the endpoint's API style, never a billed completion unless asked for.

It ends with a status (`up`, `degraded`, `down`, or `unknown` when the portal itself
refused to probe) and one diagnosis code with a sentence and the fix.

The egress guard refuses any address outside the allowed networks, always refuses
the cloud metadata address and link-local ranges, and never sends a secret to an
address or host the endpoint's kind does not allow.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import os
import ssl
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property, lru_cache

import dns.asyncresolver
import dns.exception
import dns.name
import dns.rdatatype
import dns.resolver
import h11

from .choices import DEFAULT_DOMAIN_KINDS, EAS_KINDS, PRIVATE_KINDS, ApiStyle, Kind, Phase, Status
from .domains import PUBLIC_HOSTS, classify_host, parse_override, parse_resolver, parse_url

log = logging.getLogger(__name__)
USER_AGENT = "access-portal-probe/1.0"
MAX_BODY_BYTES = 256 * 1024
TLS_EXPIRY_WARNING_DAYS = 14
MAX_CNAME_HOPS = 10

# -- addresses and the egress guard ----------------------------------------------------------

SHARED_NETWORK = ipaddress.ip_network("100.64.0.0/10")  # Alibaba Cloud's internal services
METADATA_ADDRESS = ipaddress.ip_address("100.100.100.200")
RFC1918 = [ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")]
ULA = ipaddress.ip_network("fc00::/7")


@lru_cache(maxsize=4096)
def classify_address(address: str) -> str:
    """loopback, private (RFC 1918), shared (100.64/10), public, or a never-probed class."""
    ip = ipaddress.ip_address(address)
    if ip == METADATA_ADDRESS:
        return "metadata"
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link_local"
    if ip.version == 4 and ip in SHARED_NETWORK:
        return "shared"
    if (ip.version == 4 and any(ip in n for n in RFC1918)) or (ip.version == 6 and ip in ULA):
        return "private"
    if ip.is_multicast or ip.is_unspecified or ip.is_reserved:
        return "reserved"
    return "public"


# What a URL or a host name says depends on the string alone: parse each once, not per probe.
# (The results are shared: the engine only reads them.)
_parse_url = lru_cache(maxsize=4096)(parse_url)
_classify_host = lru_cache(maxsize=4096)(classify_host)

NEVER_PROBED = frozenset({"metadata", "link_local", "reserved"})


@dataclass(frozen=True)
class EgressPolicy:
    """Which addresses a probe may open a connection (or send a DNS query) to.

    Unset, production may reach private, shared and public addresses but never
    loopback; tests and the demo allow 127.0.0.0/8 only.
    """

    networks: tuple = ()

    @classmethod
    def from_env(cls, value: str | None = None) -> EgressPolicy:
        value = os.environ.get("PORTAL_PROBE_ALLOWED_NETWORKS", "") if value is None else value
        networks = tuple(
            ipaddress.ip_network(p.strip(), strict=False) for p in value.split(",") if p.strip()
        )
        return cls(networks)

    def allows(self, address: str) -> bool:
        return _allows(tuple(self.networks), address)

    def describe(self) -> str:
        if self.networks:
            return ", ".join(str(n) for n in self.networks)
        return "private, shared and public networks (not loopback)"


@lru_cache(maxsize=4096)
def _allows(networks: tuple, address: str) -> bool:
    """EgressPolicy.allows(), cached: a pure function of the networks and the address."""
    ip = ipaddress.ip_address(address)
    kind = classify_address(address)
    if kind in NEVER_PROBED:
        return False
    if networks:
        return any(ip.version == n.version and ip in n for n in networks)
    return kind != "loopback"


# Which address classes may receive a secret, by kind: a private path's key stays private.
SECRET_CLASSES_PRIVATE = frozenset({"private", "shared", "loopback"})
SECRET_CLASSES_PUBLIC = frozenset({"private", "shared", "loopback", "public"})
# Which host forms a secret may go to, by kind (the registration rules enforce the same).
KIND_SECRET_HOSTS = {
    Kind.PUBLIC: {Kind.PUBLIC},
    Kind.PRIVATELINK_DEFAULT: {Kind.PRIVATELINK_DEFAULT},
    Kind.PRIVATELINK_CUSTOM: {Kind.PRIVATELINK_CUSTOM},
    Kind.CROSS_REGION: {Kind.PRIVATELINK_DEFAULT},
    Kind.FINANCE_PRIVATELINK: {Kind.FINANCE_PRIVATELINK},
    Kind.EAS_PUBLIC: {Kind.EAS_PUBLIC},
    Kind.EAS_VPC: {Kind.EAS_VPC},
}


# -- input and output ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ProbeTarget:
    """Everything the engine needs about one endpoint. `secret` never appears in repr()."""

    url: str
    kind: str
    api_style: str
    secret: str | None = field(default=None, repr=False)
    resolver: str | None = None  # "host" or "host:port"; None: the machine's resolver
    # "vpc": from a VPC's registration (user data, always guarded); "portal": from the
    # portal's own settings or the machine, where a loopback stub resolver (Docker's
    # 127.0.0.11, systemd's 127.0.0.53) is the machine's DNS, not a probe target.
    resolver_source: str = "vpc"
    public_hosts: Mapping[str, str] | None = None  # extra shared public hosts (Region data)
    host_overrides: Mapping[str, str] = field(default_factory=dict)
    check_model: str | None = None
    model_call: bool = False
    slow_ms: float = 3000.0
    timeout_s: float = 10.0
    connect_timeout_s: float = 5.0
    endpoint_id: int | None = None
    ca_file: str | None = None

    @property
    def expects_private(self) -> bool:
        return self.kind in PRIVATE_KINDS


@dataclass
class AddressResult:
    address: str
    cls: str
    connect_ms: float | None = None
    ok: bool = False
    error: str | None = None

    def as_json(self) -> dict:
        return {
            "address": self.address,
            "class": self.cls,
            "connect_ms": self.connect_ms,
            "ok": self.ok,
            "error": self.error,
        }


@dataclass
class Phases:
    resolve_ms: float | None = None
    connect_ms: float | None = None
    tls_ms: float | None = None
    processing_ms: float | None = None
    transfer_ms: float | None = None
    total_ms: float | None = None


@dataclass
class ProbeOutcome:
    """What one probe found: a status, one diagnosis, and the evidence."""

    status: str
    diagnosis: str
    message: str
    fix: str = ""
    failed_phase: str | None = None
    phases: Phases = field(default_factory=Phases)
    addresses: list[AddressResult] = field(default_factory=list)
    cname_chain: list[str] = field(default_factory=list)
    http_status: int | None = None
    tls_days_left: int | None = None
    request_id: str | None = None
    usage: dict | None = None
    endpoint_id: int | None = None
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))


# Default status and the fix for each diagnosis code. Messages are built with specifics.
DIAGNOSES: dict[str, tuple[str, str]] = {
    "ok": (Status.UP, ""),
    "dns_nxdomain": (
        Status.DOWN,
        "Check the spelling of the domain, and that the VPC's DNS (PrivateZone) has the record: an "
        "endpoint domain resolves only inside its VPC or a connected one.",
    ),
    "dns_timeout": (
        Status.DOWN,
        "Check the VPC's resolver address (Alibaba Cloud: 100.100.2.136 / .138) and that DNS "
        "traffic to it is allowed.",
    ),
    "dns_error": (
        Status.DOWN,
        "The resolver failed (SERVFAIL or refused): check its configuration.",
    ),
    "resolves_public": (
        Status.DOWN,
        "Inside the VPC the domain must resolve to the endpoint ENIs' private addresses: check that "
        "the caller uses the VPC's resolver and that no public record shadows the private one.",
    ),
    "private_dns_cname_mismatch": (
        Status.DOWN,
        "Point the Private DNS record (CNAME @) at the endpoint's default domain "
        "ep-….privatelink.aliyuncs.com, without underscores.",
    ),
    "egress_refused": (
        Status.UNKNOWN,
        "The portal did not probe: widen PORTAL_PROBE_ALLOWED_NETWORKS if this address should be "
        "reachable, or fix the record that points here.",
    ),
    "tcp_refused": (
        Status.DOWN,
        "Nothing accepts connections there: check the endpoint still exists and the port "
        "(80 for http://, 443 for https://).",
    ),
    "tcp_timeout": (
        Status.DOWN,
        "Usually the endpoint's security group drops the traffic: allow inbound TCP 80 and 443 from "
        "the caller's CIDR. Also check the caller is in the same VPC or a connected one.",
    ),
    "zone_unreachable": (
        Status.DEGRADED,
        "One zone's endpoint ENI does not answer: check that zone's vSwitch and the security group. "
        "Until it is fixed there is no zone failover.",
    ),
    "tls_error": (
        Status.DOWN,
        "Check the certificate chain (set SSL_CERT_FILE for a private CA) and that the domain "
        "matches the certificate.",
    ),
    "tls_expiring": (Status.DEGRADED, "Renew the certificate before it expires."),
    "http_on_https_only": (
        Status.DOWN,
        "This domain serves HTTPS only: change the URL to https://.",
    ),
    "https_on_default_domain": (
        Status.DOWN,
        "The default endpoint domain supports HTTP only: use http://, or turn on the custom domain "
        "(vpc-{region}.dashscope.aliyuncs.com) for HTTPS.",
    ),
    "connection_reset": (
        Status.DOWN,
        "The connection was cut mid-request: look for a proxy, firewall or overloaded gateway on the path.",
    ),
    "protocol_error": (
        Status.DOWN,
        "Something other than Model Studio answers on this address and port.",
    ),
    "auth_rejected": (
        Status.DOWN,
        "Keys are region-bound and workspace-bound: check the key belongs to a workspace of this "
        "region, is not deleted, and, on a workspace domain, belongs to that workspace.",
    ),
    "model_not_permitted": (
        Status.DOWN,
        "Grant the model to the workspace (Workspaces → model permissions), or probe a model it has.",
    ),
    "model_not_found": (Status.DOWN, "Check the model name against the region's model list."),
    "path_not_found": (
        Status.DOWN,
        "The gateway knows no such path: check the API style (/compatible-mode/v1, /api/v1, "
        "/apps/anthropic) or the EAS service name.",
    ),
    "quota_exhausted": (
        Status.DOWN,
        "The account is set to use the free tier only and its quota is used up: turn off "
        "'free tier only' for the model, or wait for the quota to renew.",
    ),
    "config_error": (Status.UNKNOWN, "Fix the endpoint's URL in the registry."),
    "internal_error": (
        Status.UNKNOWN,
        "The portal could not finish this probe: check the endpoint's stored key (printable ASCII "
        "only) and the worker's log.",
    ),
    "account_in_arrears": (
        Status.DOWN,
        "Top up the Alibaba Cloud account: calls are refused until it is paid.",
    ),
    "bad_request": (Status.DOWN, "The service refused the probe's request; see the message."),
    "rate_limited": (
        Status.DEGRADED,
        "Requests are throttled (RPM/TPM limits are per account and model, summed over all "
        "workspaces): spread load or ask for a higher limit.",
    ),
    "upstream_error": (
        Status.DOWN,
        "Model Studio answered with a server error; retry, and check the status page.",
    ),
    "timeout": (
        Status.DOWN,
        "Nothing came back before the probe's deadline: the service or a middlebox is stalling.",
    ),
    "slow": (Status.DEGRADED, "Works, but slower than this endpoint's threshold."),
}


class Finding(Exception):
    """Raised inside a phase: the probe stops with this diagnosis."""

    def __init__(self, code: str, message: str, phase: str | None, status: str | None = None):
        super().__init__(message)
        self.code, self.message, self.phase = code, message, phase
        self.status = status or DIAGNOSES[code][0]


# -- resolution ---------------------------------------------------------------------------------


@dataclass
class Resolution:
    addresses: list[str]
    cname_chain: list[str]


@lru_cache(maxsize=1)
def _system_nameservers() -> tuple[str, ...]:
    try:
        return tuple(dns.resolver.Resolver(configure=True).nameservers)
    except dns.resolver.NoResolverConfiguration:
        return ()


@lru_cache(maxsize=4096)
def _parse_resolver(text: str) -> tuple[str, int]:
    try:
        return parse_resolver(text)
    except ValueError as exc:
        raise Finding(
            "config_error", f"The resolver '{text}' is not usable: {exc}", Phase.RESOLVE
        ) from None


def _override_value(name: str, value: str) -> tuple[list[str], str | None]:
    try:
        addresses, target = _parse_override(value)
    except ValueError as exc:
        raise Finding(
            "config_error", f"The VPC's record {name} → {value} is not usable: {exc}", Phase.RESOLVE
        ) from None
    return list(addresses), target


@lru_cache(maxsize=4096)
def _parse_override(value: str) -> tuple[tuple[str, ...], str | None]:
    addresses, target = parse_override(value)
    return tuple(addresses), target


@lru_cache(maxsize=4096)
def _ip_literal(host: str) -> str | None:
    """The normalized address if `host` is an IP address literal, else None."""
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return None


async def resolve(
    host: str,
    resolver: str | None,
    overrides: Mapping[str, str],
    policy: EgressPolicy,
    timeout: float,
    resolver_source: str = "vpc",
) -> Resolution:
    """Every address of `host` as a caller in the VPC sees it, with the CNAME chain."""
    literal = _ip_literal(host)
    if literal is not None:
        return Resolution([literal], [])
    chain: list[str] = []
    name = host.lower().rstrip(".")
    for _ in range(MAX_CNAME_HOPS):
        if name not in overrides:
            break
        addresses, target = _override_value(name, overrides[name])
        if addresses:
            return Resolution(addresses, chain)
        chain.append(target)
        name = target
    else:
        raise Finding(
            "dns_error", f"More than {MAX_CNAME_HOPS} CNAMEs from {host}: a loop?", Phase.RESOLVE
        )

    # The system resolver is an address like any other: the egress guard covers it too.
    nameservers = (
        [_parse_resolver(resolver)] if resolver else [(ns, 53) for ns in _system_nameservers()]
    )
    local_stub_ok = resolver_source == "portal"
    refused = [
        ns
        for ns, _ in nameservers
        if not policy.allows(ns) and not (local_stub_ok and classify_address(ns) == "loopback")
    ]
    if not nameservers or refused:
        which = f"resolver {', '.join(refused)}" if refused else "no resolver configured"
        raise Finding(
            "egress_refused",
            f"Did not resolve {host}: {which} is outside the networks this portal may reach "
            f"({policy.describe()}). Give the VPC a resolver, or set PORTAL_PROBE_RESOLVER.",
            Phase.RESOLVE,
        )
    dns_resolver = dns.asyncresolver.Resolver(configure=False)
    dns_resolver.nameservers = [ns for ns, _ in nameservers]
    dns_resolver.port = nameservers[0][1]
    dns_resolver.lifetime = timeout
    dns_resolver.timeout = timeout
    dns_resolver.cache = None
    where = f"resolver {resolver}" if resolver else "the system resolver"

    async def query(rdtype):
        try:
            return await dns_resolver.resolve(name, rdtype, raise_on_no_answer=False)
        except dns.resolver.NXDOMAIN:
            return "nxdomain"

    answers = await asyncio.gather(query("A"), query("AAAA"), return_exceptions=True)
    failures = [a for a in answers if isinstance(a, BaseException)]
    if len(failures) == len(answers):
        if any(isinstance(f, dns.exception.Timeout) for f in failures):
            raise Finding(
                "dns_timeout",
                f"{where} did not answer for {host} within {timeout:g} s.",
                Phase.RESOLVE,
            )
        if not all(isinstance(f, dns.exception.DNSException) for f in failures):
            raise failures[0]
        raise Finding("dns_error", f"{where} failed for {host}: {failures[0]}", Phase.RESOLVE)
    answers = [a for a in answers if not isinstance(a, BaseException)]
    if all(a == "nxdomain" for a in answers):
        via = (
            f" ({host} points there through the VPC's records: {' → '.join([host, *chain])})"
            if chain
            else ""
        )
        raise Finding(
            "dns_nxdomain",
            f"{name} does not exist (NXDOMAIN) according to {where}{via}.",
            Phase.RESOLVE,
        )
    addresses: list[str] = []
    for answer in answers:
        if answer == "nxdomain":
            continue
        for cname in answer.chaining_result.cnames:
            for rdata in cname:
                target = rdata.target.to_text().rstrip(".").lower()
                if target not in chain:
                    chain.append(target)
        if answer.rrset is not None:
            addresses.extend(rdata.address for rdata in answer.rrset)
    if not addresses:
        raise Finding(
            "dns_nxdomain", f"{name} has no A or AAAA record according to {where}.", Phase.RESOLVE
        )
    return Resolution(list(dict.fromkeys(addresses)), chain)


# -- connections ------------------------------------------------------------------------------


def _ms(start: float, end: float | None = None) -> float:
    return round(((end if end is not None else time.perf_counter()) - start) * 1000, 3)


@lru_cache(maxsize=8)
def _ssl_context(ca_file: str | None, verify: bool = True) -> ssl.SSLContext:
    # create_default_context() honours SSL_CERT_FILE / SSL_CERT_DIR, like other tools do.
    context = (
        ssl.create_default_context(cafile=ca_file) if ca_file else ssl.create_default_context()
    )
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


class _TimedStreamReader(asyncio.StreamReader):
    """A StreamReader that notes when bytes reach the process (for the time to first byte).

    `feed_data` runs in the event loop's read callback, as soon as recv() returns: the
    moment the first byte arrived, not the later moment the waiting coroutine resumes
    (under load, many other callbacks may run in between).
    """

    received_at: float | None = None

    def feed_data(self, data: bytes) -> None:
        if self.received_at is None and data:
            self.received_at = time.perf_counter()
        super().feed_data(data)


async def _open_connection(address: str, port: int):
    """asyncio.open_connection(), with a reader that timestamps arriving data."""
    loop = asyncio.get_running_loop()
    reader = _TimedStreamReader(loop=loop)
    protocol = asyncio.StreamReaderProtocol(reader, loop=loop)
    transport, _ = await loop.create_connection(lambda: protocol, address, port)
    return reader, asyncio.StreamWriter(transport, protocol, reader, loop)


async def _open(address: str, port: int, timeout: float, result: AddressResult):
    start = time.perf_counter()
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await _open_connection(address, port)
    except TimeoutError:
        result.error = "timeout"
        return None
    except ConnectionRefusedError:
        result.error = "refused"
        result.connect_ms = _ms(start)
        return None
    except OSError as exc:
        result.error = exc.strerror or type(exc).__name__
        return None
    result.connect_ms = _ms(start)
    result.ok = True
    return reader, writer


def _abort(writer) -> None:
    """Drop the connection at once (no TLS close_notify wait)."""
    transport = writer.transport
    if transport is not None:
        transport.abort()


# -- the HTTP exchange ------------------------------------------------------------------------


@dataclass
class HttpResult:
    status: int
    headers: dict[str, str]
    body: bytes
    processing_ms: float
    transfer_ms: float

    def json(self) -> dict | None:
        return self._json

    @cached_property
    def _json(self) -> dict | None:  # parsed once, for the properties below and the callers
        try:
            data = json.loads(self.body or b"null")
        except ValueError:
            return None
        return data if isinstance(data, dict) else None

    @property
    def request_id(self) -> str | None:
        return self.headers.get("x-request-id") or (self.json() or {}).get("request_id")

    @property
    def error_code(self) -> str:
        data = self.json() or {}
        error = data.get("error")
        if isinstance(error, dict):
            return str(error.get("code") or error.get("type") or "")
        return str(data.get("code") or "")

    @property
    def error_message(self) -> str:
        data = self.json() or {}
        error = data.get("error")
        if isinstance(error, dict):
            return str(error.get("message") or "")
        return str(data.get("message") or "")


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    body: dict | None = None
    validation: bool = False  # a request built to be refused before billing (400 = passed)


def build_request(target: ProbeTarget, base_path: str, billed: bool = False) -> Request:
    """The cheapest authenticated request of the endpoint's style (or the 1-token call)."""
    style, model = target.api_style, target.check_model
    if style == ApiStyle.EAS:
        if billed:
            return Request(
                "POST",
                f"{base_path}/v1/chat/completions",
                {
                    "model": model or "default",
                    "messages": [{"role": "user", "content": "ping"}],
                    "max_tokens": 1,
                },
            )
        return Request("GET", f"{base_path}/v1/models")
    messages = [{"role": "user", "content": "ping"}] if billed else []
    if style == ApiStyle.ANTHROPIC and model:
        return Request(
            "POST",
            "/apps/anthropic/v1/messages",
            {"model": model, "max_tokens": 1, "messages": messages},
            validation=not billed,
        )
    if style == ApiStyle.DASHSCOPE and model:
        return Request(
            "POST",
            "/api/v1/services/aigc/text-generation/generation",
            {
                "model": model,
                "input": {"messages": messages},
                "parameters": {"result_format": "message", "max_tokens": 1},
            },
            validation=not billed,
        )
    if model:
        return Request(
            "POST",
            "/compatible-mode/v1/chat/completions",
            {"model": model, "messages": messages, "max_tokens": 1},
            validation=not billed,
        )
    return Request("GET", "/compatible-mode/v1/models")


def _auth_headers(target: ProbeTarget) -> list[tuple[str, str]]:
    if not target.secret:
        return []
    if target.kind in EAS_KINDS:
        return [("Authorization", target.secret)]  # PAI-EAS: the raw token, no "Bearer"
    headers = [("Authorization", f"Bearer {target.secret}")]
    if target.api_style == ApiStyle.ANTHROPIC:
        headers += [("x-api-key", target.secret), ("anthropic-version", "2023-06-01")]
    return headers


async def exchange(
    reader, writer, host_header: str, request: Request, target: ProbeTarget, timings: dict
):
    """Send one request on an open connection; time to first byte and transfer."""
    conn = h11.Connection(h11.CLIENT)
    body = json.dumps(request.body).encode() if request.body is not None else b""
    headers = [
        ("Host", host_header),
        ("User-Agent", USER_AGENT),
        ("Accept", "application/json"),
        ("Connection", "close"),
        *_auth_headers(target),
    ]
    if request.body is not None:
        headers += [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    data = conn.send(h11.Request(method=request.method, target=request.path, headers=headers))
    if body:
        data += conn.send(h11.Data(data=body))
    data += conn.send(h11.EndOfMessage())
    if isinstance(reader, _TimedStreamReader):
        reader.received_at = None  # only what arrives from now on is the answer
    writer.write(data)
    await writer.drain()
    sent = time.perf_counter()
    timings["phase"] = Phase.PROCESSING
    first_byte = None
    response = None
    chunks: list[bytes] = []
    size = 0
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            chunk = await reader.read(65536)
            if first_byte is None:
                first_byte = time.perf_counter()
                # When the first byte arrived (not when this coroutine resumed), never
                # before the request was written.
                received_at = getattr(reader, "received_at", None)
                if received_at is not None:
                    first_byte = max(sent, min(received_at, first_byte))
                timings["phase"] = Phase.TRANSFER
            conn.receive_data(chunk)
            continue
        if isinstance(event, h11.Response):
            response = event
        elif isinstance(event, h11.Data):
            if size < MAX_BODY_BYTES:
                chunks.append(event.data)
            size += len(event.data)
        elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
            break
    end = time.perf_counter()
    return HttpResult(
        status=response.status_code,
        headers={k.decode().lower(): v.decode(errors="replace") for k, v in response.headers},
        body=b"".join(chunks),
        processing_ms=_ms(sent, first_byte),
        transfer_ms=_ms(first_byte, end),
    )


# -- verdicts -------------------------------------------------------------------------------


def judge_http(
    result: HttpResult, request: Request, target: ProbeTarget, host: str
) -> tuple[str, str] | None:
    """(code, message) for an HTTP answer that means trouble; None when it means success."""
    if 200 <= result.status < 300:
        return None  # before reading the error fields: a success body need not be parsed
    status, code, text = result.status, result.error_code, result.error_message
    detail = f"{status} {code}".strip() + (f": {text}" if text else "")
    if status == 400 and code == "Arrearage":
        return "account_in_arrears", f"The account is in arrears ({detail})."
    if status == 400 and request.validation:
        # Authenticated and permitted, refused before billing: what we asked for. Only in
        # Model Studio's own error shape: a proxy's HTML "400 Bad Request" proves nothing.
        if result.json() is not None and code:
            return None
        return (
            "bad_request",
            f"{host} answered 400 in a shape that is not Model Studio's (a proxy?).",
        )
    if status == 401:
        what = "EAS token" if target.kind in EAS_KINDS else "API key"
        return "auth_rejected", f"The {what} was rejected by {host} ({detail})."
    if status == 403:
        if code == "AllocationQuota.FreeTierOnly":
            return "quota_exhausted", f"The free quota is used up ({detail})."
        if code == "Workspace.AccessDenied":
            return "auth_rejected", f"The key's workspace may not be used here ({detail})."
        model = target.check_model or "the model"
        return "model_not_permitted", f"The workspace may not call {model} ({detail})."
    if status == 404 and code == "WorkSpaceNotFound":
        return "auth_rejected", f"The key's workspace does not exist here ({detail})."
    if status == 404:
        if not result.body.strip():
            return "path_not_found", f"{host} has no {request.path} (404 with an empty body)."
        if target.kind in EAS_KINDS:
            return "path_not_found", f"No PAI-EAS service at {request.path} ({detail})."
        return "model_not_found", f"{target.check_model or 'The model'} was not found ({detail})."
    if status in {429, 450}:
        return "rate_limited", f"Throttled ({detail})."
    if status >= 500:
        return "upstream_error", f"{host} answered {detail}."
    return "bad_request", f"Unexpected answer {detail}."


# -- the probe ------------------------------------------------------------------------------------


def _outcome(
    target: ProbeTarget, code: str, message: str, phase=None, status=None, **kw
) -> ProbeOutcome:
    default_status, fix = DIAGNOSES[code]
    return ProbeOutcome(
        status=status or default_status,
        diagnosis=code,
        message=message,
        fix=fix,
        failed_phase=phase,
        endpoint_id=target.endpoint_id,
        **kw,
    )


async def _speaks_tls(address: str, port: int, host: str, timeout: float) -> bool:
    """Whether address:port completes a TLS handshake (to explain a failed plain request)."""
    try:
        async with asyncio.timeout(timeout):
            _, writer = await asyncio.open_connection(
                address, port, ssl=_ssl_context(None, verify=False), server_hostname=host
            )
    except (OSError, TimeoutError, ssl.SSLError):
        return False
    _abort(writer)
    return True


async def probe(target: ProbeTarget, policy: EgressPolicy | None = None) -> ProbeOutcome:
    """Probe one endpoint within `target.timeout_s`, whatever the upstream does."""
    policy = policy or EgressPolicy.from_env()
    started_at = datetime.now(UTC)
    start = time.perf_counter()
    state: dict = {"phase": Phase.RESOLVE, "phases": Phases(), "addresses": [], "chain": []}
    try:
        async with asyncio.timeout(target.timeout_s):
            outcome = await _probe(target, policy, state, start)
    except Finding as finding:
        outcome = _outcome(target, finding.code, finding.message, finding.phase, finding.status)
    except TimeoutError:
        outcome = _timeout_outcome(target, state)
    except Exception as exc:
        log.error(
            "Probe of endpoint %s failed unexpectedly: %s", target.endpoint_id, type(exc).__name__
        )
        outcome = _outcome(
            target,
            "internal_error",
            f"The probe failed unexpectedly ({type(exc).__name__}) in the {state['phase']} phase.",
            state["phase"],
        )
    phases = state["phases"]
    if outcome.phases is not phases:
        outcome.phases = phases
    if phases.total_ms is None:
        phases.total_ms = _ms(start)
    outcome.addresses = outcome.addresses or state["addresses"]
    outcome.cname_chain = outcome.cname_chain or state["chain"]
    outcome.started_at = started_at
    return outcome


def _timeout_outcome(target: ProbeTarget, state: dict) -> ProbeOutcome:
    phase = state["phase"]
    limit = f"{target.timeout_s:g} s"
    if phase == Phase.RESOLVE:
        return _outcome(
            target, "dns_timeout", f"The resolver did not answer within {limit}.", phase
        )
    if phase == Phase.CONNECT:
        return _outcome(
            target, "tcp_timeout", f"No TCP answer from any address within {limit}.", phase
        )
    if phase == Phase.TLS:
        return _outcome(
            target, "timeout", f"The TLS handshake did not finish within {limit}.", phase
        )
    if phase == Phase.PROCESSING:
        message = f"Connected, but no response within the {limit} deadline (the upstream hangs)."
    else:
        message = (
            f"The response started but did not finish within the {limit} deadline (slow body)."
        )
    return _outcome(target, "timeout", message, phase)


async def _probe(
    target: ProbeTarget, policy: EgressPolicy, state: dict, start: float
) -> ProbeOutcome:
    phases: Phases = state["phases"]
    try:
        parsed = _parse_url(target.url)
    except ValueError as exc:
        raise Finding("config_error", f"The endpoint's URL cannot be probed: {exc}", None) from None
    host, scheme = parsed.host, parsed.scheme
    port = parsed.port or (443 if scheme == "https" else 80)
    base_path = parsed.url[len(parsed.origin) :]

    # 1. resolve
    t0 = time.perf_counter()
    resolution = await resolve(
        host,
        target.resolver,
        target.host_overrides,
        policy,
        min(target.timeout_s, target.connect_timeout_s),
        target.resolver_source,
    )
    phases.resolve_ms = _ms(t0)
    state["chain"] = resolution.cname_chain
    results = [AddressResult(a, classify_address(a)) for a in resolution.addresses]
    state["addresses"] = results

    if target.expects_private:
        public = [r.address for r in results if r.cls == "public"]
        if public:
            raise Finding(
                "resolves_public",
                f"{host} resolves to public address {', '.join(public)}: traffic would leave the "
                "private network (the key was not sent).",
                Phase.RESOLVE,
            )
    cname_problem = _cname_problem(target, host, resolution.cname_chain)

    allowed = [r for r in results if policy.allows(r.address)]
    for r in results:
        if r not in allowed:
            r.error = "refused by egress policy"
    if not allowed:
        refused = ", ".join(f"{r.address} ({r.cls})" for r in results)
        raise Finding(
            "egress_refused",
            f"Did not connect to {refused}: outside the networks this portal may reach "
            f"({policy.describe()}).",
            Phase.CONNECT,
        )

    # 2. connect to every address; carry on with the first that answers
    state["phase"] = Phase.CONNECT
    connect_timeout = min(target.connect_timeout_s, target.timeout_s)
    tasks = [asyncio.ensure_future(_open(r.address, port, connect_timeout, r)) for r in allowed]
    primary = None
    primary_result = None
    pending = set(tasks)
    try:
        while pending and primary is None:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                connection = task.result()
                if connection is not None and primary is None:
                    primary = connection
                    primary_result = allowed[tasks.index(task)]
                elif connection is not None:
                    _abort(connection[1])
        if primary is None:
            raise _connect_failure(allowed, port, connect_timeout)
        phases.connect_ms = primary_result.connect_ms
        reader, writer = primary
        try:
            outcome = await _exchange_phases(
                target,
                reader,
                writer,
                parsed,
                host,
                port,
                base_path,
                primary_result,
                cname_problem,
                state,
                start,
            )
        finally:
            _abort(writer)
    finally:
        # The other zones: their verdicts, but never past the probe's deadline.
        if pending:
            left = target.timeout_s - (time.perf_counter() - start) - 0.05
            try:
                _, pending = await asyncio.wait(pending, timeout=max(0.0, left))
            finally:
                for task in pending:
                    task.cancel()
                for result in allowed:
                    if not result.ok and result.error is None:
                        result.error = "no answer before the deadline"
        for task in tasks:
            if (
                task.done()
                and not task.cancelled()
                and task.result() is not None
                and task.result() is not primary
            ):
                _abort(task.result()[1])

    failed = [r for r in allowed if not r.ok]
    if (
        outcome.diagnosis in {"ok", "slow", "tls_expiring"}
        and failed
        and len(failed) < len(allowed)
    ):
        down = ", ".join(f"{r.address} ({r.error})" for r in failed)
        up = ", ".join(r.address for r in allowed if r.ok)
        return _outcome(
            target,
            "zone_unreachable",
            f"{len(failed)} of {len(allowed)} endpoint addresses failed: {down}. Calls still work "
            f"through {up}.",
            Phase.CONNECT,
            http_status=outcome.http_status,
            tls_days_left=outcome.tls_days_left,
            request_id=outcome.request_id,
            usage=outcome.usage,
        )
    return outcome


def _cname_problem(target: ProbeTarget, host: str, chain: list[str]) -> str | None:
    """A custom domain must CNAME to a default endpoint domain (Private DNS set-ups)."""
    if target.kind != Kind.PRIVATELINK_CUSTOM or not chain:
        return None
    if any(_classify_host(name).is_default_domain for name in chain):
        return None
    return (
        f"{host} is a CNAME to {' → '.join(chain)}, not to the endpoint's default domain "
        "(ep-….privatelink.aliyuncs.com)"
    )


def _connect_failure(results: list[AddressResult], port: int, timeout: float) -> Finding:
    errors = {r.error for r in results}
    where = ", ".join(f"{r.address}:{port}" for r in results)
    if errors == {"refused"}:
        return Finding("tcp_refused", f"Connection refused by {where}.", Phase.CONNECT)
    if "timeout" in errors:
        return Finding(
            "tcp_timeout", f"No TCP answer from {where} within {timeout:g} s.", Phase.CONNECT
        )
    detail = "; ".join(f"{r.address}: {r.error}" for r in results)
    return Finding("tcp_refused", f"Could not connect: {detail}.", Phase.CONNECT)


async def _exchange_phases(
    target, reader, writer, parsed, host, port, base_path, address, cname_problem, state, start
) -> ProbeOutcome:
    phases: Phases = state["phases"]
    tls_days_left = None
    is_default_domain = (
        target.kind in DEFAULT_DOMAIN_KINDS or _classify_host(host).is_default_domain
    )

    # 3. TLS
    if parsed.scheme == "https":
        state["phase"] = Phase.TLS
        t0 = time.perf_counter()
        try:
            await writer.start_tls(
                _ssl_context(target.ca_file),
                server_hostname=host,
                ssl_handshake_timeout=min(target.connect_timeout_s, target.timeout_s),
            )
        except ssl.SSLCertVerificationError as exc:
            raise Finding(
                "tls_error",
                f"The certificate of {host} is not trusted: {exc.verify_message or exc.reason}.",
                Phase.TLS,
            ) from None
        except (ssl.SSLError, ConnectionError) as exc:
            reason = getattr(exc, "reason", None) or str(exc) or type(exc).__name__
            if is_default_domain:
                raise Finding(
                    "https_on_default_domain",
                    f"TLS with {host} failed ({reason}): the default endpoint domain speaks HTTP only.",
                    Phase.TLS,
                ) from None
            raise Finding(
                "tls_error", f"TLS handshake with {host} failed: {reason}.", Phase.TLS
            ) from None
        phases.tls_ms = _ms(t0)
        cert = writer.get_extra_info("peercert") or {}
        if cert.get("notAfter"):
            tls_days_left = int((ssl.cert_time_to_seconds(cert["notAfter"]) - time.time()) // 86400)

    # Never send a secret where the endpoint's kind does not allow it.
    allowed_classes = SECRET_CLASSES_PRIVATE if target.expects_private else SECRET_CLASSES_PUBLIC
    host_kind = (
        classify_host(host, {**PUBLIC_HOSTS, **target.public_hosts}).kind
        if target.public_hosts
        else _classify_host(host).kind
    )
    if target.secret and (
        address.cls not in allowed_classes
        or host_kind not in KIND_SECRET_HOSTS.get(target.kind, set())
    ):
        raise Finding(
            "egress_refused",
            f"Did not send the key to {host} ({address.address}, {address.cls}): a "
            f"{Kind(target.kind).label.lower()} endpoint's key goes only to its own kind of host.",
            Phase.PROCESSING,
        )

    # 4. the request
    request = build_request(target, base_path)
    default_port = 443 if parsed.scheme == "https" else 80
    host_header = host if port == default_port else f"{host}:{port}"
    try:
        result = await exchange(reader, writer, host_header, request, target, state)
    except h11.RemoteProtocolError as exc:
        answered = state["phase"] == Phase.TRANSFER  # some bytes of an answer arrived
        closed = "peer closed" in str(exc).lower() or "unexpectedly closed" in str(exc).lower()
        if closed and answered:
            raise Finding(
                "connection_reset",
                f"{address.address}:{port} closed the connection in the middle of the answer.",
                Phase.TRANSFER,
            ) from None
        if parsed.scheme == "http" and await _speaks_tls(address.address, port, host, 2.0):
            raise Finding(
                "http_on_https_only",
                f"{address.address}:{port} speaks only HTTPS, but the URL is http://{host}.",
                Phase.PROCESSING,
            ) from None
        raise Finding(
            "connection_reset" if closed else "protocol_error",
            f"{address.address}:{port} closed the connection without answering."
            if closed
            else f"The answer from {address.address}:{port} is not HTTP.",
            Phase.PROCESSING,
        ) from None
    except ConnectionResetError:
        raise Finding(
            "connection_reset",
            f"{address.address}:{port} reset the connection during the request.",
            state["phase"],
        ) from None
    except ssl.SSLError as exc:
        raise Finding(
            "tls_error", f"TLS failed during the request: {exc}.", state["phase"]
        ) from None
    except (ConnectionError, OSError) as exc:
        raise Finding(
            "connection_reset",
            f"The connection to {address.address}:{port} broke: {exc}.",
            state["phase"],
        ) from None
    phases.processing_ms = result.processing_ms
    phases.transfer_ms = result.transfer_ms
    phases.total_ms = _ms(start)
    extra = {
        "http_status": result.status,
        "tls_days_left": tls_days_left,
        "request_id": result.request_id,
    }

    trouble = judge_http(result, request, target, host)
    if trouble is not None:
        code, message = trouble
        phase = Phase.PROCESSING if code not in {"rate_limited"} else None
        if cname_problem:
            return _outcome(
                target,
                "private_dns_cname_mismatch",
                f"{cname_problem}; {message}",
                Phase.RESOLVE,
                **extra,
            )
        return _outcome(target, code, message, phase, **extra)

    usage = None
    if target.model_call and target.check_model:
        usage = await _model_call(target, address.address, port, parsed, host_header, base_path)

    if cname_problem:
        return _outcome(
            target,
            "private_dns_cname_mismatch",
            f"{cname_problem}; calls work anyway.",
            Phase.RESOLVE,
            status=Status.DEGRADED,
            usage=usage,
            **extra,
        )
    if tls_days_left is not None and tls_days_left < TLS_EXPIRY_WARNING_DAYS:
        return _outcome(
            target,
            "tls_expiring",
            f"The certificate of {host} expires in {tls_days_left} days.",
            Phase.TLS,
            usage=usage,
            **extra,
        )
    if phases.total_ms > target.slow_ms:
        return _outcome(
            target,
            "slow",
            f"Took {phases.total_ms:.0f} ms, over this endpoint's {target.slow_ms:.0f} ms threshold.",
            None,
            usage=usage,
            **extra,
        )
    return _outcome(
        target, "ok", _success(request, target, host, phases, usage), None, usage=usage, **extra
    )


def _success(request: Request, target: ProbeTarget, host: str, phases: Phases, usage=None) -> str:
    """What a passing probe proved, in words."""
    took = f"{phases.total_ms:.0f} ms"
    credential = "EAS token" if target.kind in EAS_KINDS else "key"
    if request.validation:
        message = (
            f"{host} accepted the {credential} and the permission to call {target.check_model} in {took} "
            "(a check request refused before billing)."
        )
    elif target.secret:
        message = f"{host} answered and accepted the {credential} in {took}."
    else:
        message = f"{host} answered in {took} (no credentials to check)."
    if usage:
        message += (
            f" The billed 1-token call to {usage['model']} used {usage['input_tokens']} + "
            f"{usage['output_tokens']} tokens."
        )
    elif target.model_call:
        message += " The billed 1-token model call returned no usage."
    return message


async def _model_call(target, address, port, parsed, host_header, base_path) -> dict | None:
    """The optional billed check: a 1-token completion, returning its token usage."""
    try:
        async with asyncio.timeout(min(target.connect_timeout_s, target.timeout_s / 2)):
            return await _billed_call(target, address, port, parsed, host_header, base_path)
    except TimeoutError:
        return None


async def _billed_call(target, address, port, parsed, host_header, base_path) -> dict | None:
    try:
        reader, writer = await asyncio.open_connection(address, port)
        try:
            if parsed.scheme == "https":
                await writer.start_tls(_ssl_context(target.ca_file), server_hostname=parsed.host)
            request = build_request(target, base_path, billed=True)
            result = await exchange(reader, writer, host_header, request, target, {})
        finally:
            _abort(writer)
    except (OSError, ssl.SSLError, h11.ProtocolError):
        return None
    data = result.json() or {}
    usage = data.get("usage") or {}
    if result.status != 200 or not usage:
        return None
    return {
        "model": target.check_model,
        "input_tokens": int(usage.get("prompt_tokens", usage.get("input_tokens", 0)) or 0),
        "output_tokens": int(usage.get("completion_tokens", usage.get("output_tokens", 0)) or 0),
    }


async def probe_many(
    targets: Iterable[ProbeTarget], concurrency: int = 100, policy: EgressPolicy | None = None
) -> list[ProbeOutcome]:
    """Probe many endpoints at once; one slow endpoint never holds up another."""
    policy = policy or EgressPolicy.from_env()
    semaphore = asyncio.Semaphore(concurrency)

    async def one(target):
        async with semaphore:
            return await probe(target, policy)

    return await asyncio.gather(*(one(t) for t in targets))


def probe_sync(
    targets: list[ProbeTarget], concurrency: int = 100, policy: EgressPolicy | None = None
) -> list[ProbeOutcome]:
    """Run `probe_many` from synchronous code (tasks, management commands)."""
    return asyncio.run(probe_many(targets, concurrency, policy))


__all__ = [
    "DIAGNOSES",
    "EgressPolicy",
    "ProbeOutcome",
    "ProbeTarget",
    "classify_address",
    "probe",
    "probe_many",
    "probe_sync",
]
