"""The egress guard: which addresses a probe may connect to (or query DNS at), and where a
secret may go. Loopback is for tests and the demo; the cloud metadata address and
link-local ranges are never probed, whatever the policy says."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from functools import lru_cache

from .codes import Kind

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


NEVER_PROBED = frozenset({"metadata", "link_local", "reserved"})


@dataclass(frozen=True)
class EgressPolicy:
    """Which addresses a probe may open a connection (or send a DNS query) to.

    Unset, production may reach private, shared and public addresses but never
    loopback; tests and the demo allow 127.0.0.0/8 only. `holder` is who is held to it, as
    a refusal's message names it: the portal's workers, or an agent (whose policy is its
    own host's, whatever the portal says).
    """

    networks: tuple = ()
    holder: str = "portal"

    @classmethod
    def from_env(cls, value: str | None = None, holder: str = "portal") -> EgressPolicy:
        value = os.environ.get("PORTAL_PROBE_ALLOWED_NETWORKS", "") if value is None else value
        networks = tuple(
            ipaddress.ip_network(p.strip(), strict=False) for p in value.split(",") if p.strip()
        )
        return cls(networks, holder)

    def refusal(self) -> str:
        """'outside the networks … may reach (…)', for a refusal's message."""
        return f"outside the networks this {self.holder} may reach ({self.describe()})"

    def resolver_hint(self) -> str:
        if self.holder == "agent":
            return (
                "Give the VPC a resolver inside the agent's networks, or widen "
                "PORTAL_PROBE_ALLOWED_NETWORKS on the agent's host."
            )
        return "Give the VPC a resolver, or set PORTAL_PROBE_RESOLVER."

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
