"""Resolution as a caller in the VPC sees it: its resolver and Private DNS records, the CNAME
chain, every A/AAAA address. The resolver is an address like any other: the egress guard
covers it too."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

import dns.asyncquery
import dns.exception
import dns.flags
import dns.message
import dns.rcode
import dns.resolver

from . import dnswire
from .codes import Phase
from .egress import EgressPolicy, classify_address
from .hosts import parse_override, parse_resolver
from .verdicts import Finding

MAX_CNAME_HOPS = 10


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
            f"Did not resolve {host}: {which} is {policy.refusal()}. {policy.resolver_hint()}",
            Phase.RESOLVE,
        )
    where = f"resolver {resolver}" if resolver else "the system resolver"

    async def query(rdtype):
        return await _ask(name, rdtype, nameservers, timeout)

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
        for target in answer.cnames:
            if target not in chain:
                chain.append(target)
        addresses.extend(answer.addresses)
    if not addresses and any(isinstance(f, dns.exception.Timeout) for f in failures):
        # One question unanswered and the other empty: nothing says the name has no address.
        raise Finding(
            "dns_timeout",
            f"{where} did not answer every question for {host} within {timeout:g} s.",
            Phase.RESOLVE,
        )
    if not addresses:
        raise Finding(
            "dns_nxdomain", f"{name} has no A or AAAA record according to {where}.", Phase.RESOLVE
        )
    return Resolution(list(dict.fromkeys(addresses)), chain)


class _ServerFailed(dns.exception.DNSException):
    """The resolver answered with an error (SERVFAIL, REFUSED…) or could not be reached."""


async def _ask(name: str, rdtype: str, nameservers, timeout: float):
    """One question, straight to the resolver(s) (no search list, no cache): an _Answer,
    "nxdomain", or a DNSException. The next server is tried on failure, within `timeout`
    overall; a truncated answer is asked again over TCP."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    failure: Exception = dns.exception.Timeout(timeout=timeout)
    for address, port in nameservers:
        left = deadline - loop.time()
        if left <= 0:
            break
        try:
            response = await dnswire.ask_udp(name, rdtype, address, port, left)
            if response.truncated:
                left = max(0.1, deadline - loop.time())
                question = dns.message.make_query(name, rdtype)
                response = dnswire.Reply.of_message(
                    await dns.asyncquery.tcp(question, address, timeout=left, port=port)
                )
        except dns.exception.Timeout as exc:
            failure = exc
            continue
        except OSError as exc:
            failure = _ServerFailed(
                f"{address}:{port} could not be reached ({exc.strerror or exc})"
            )
            continue
        code = response.rcode
        if code == dns.rcode.NXDOMAIN:
            return "nxdomain"
        if code != dns.rcode.NOERROR:
            failure = _ServerFailed(f"{address}:{port} answered {dns.rcode.to_text(code)}")
            continue
        _, _, qtype = dnswire.question_wire(name, rdtype)  # cached: the type's number
        return _Answer(*dnswire.answer_records(response, name, qtype))
    raise failure


@dataclass
class _Answer:
    cnames: list[str]  # the CNAME targets, in order
    addresses: list[str]
