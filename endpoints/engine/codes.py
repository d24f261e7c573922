"""The engine's vocabulary: endpoint kinds, API styles, statuses, phases and diagnoses.

Plain `enum.StrEnum`s with a human label on each member, so the engine needs no Django;
the apps build their Django choices from these (`portal.choices.text_choices`), and a
member compares equal to its string value everywhere (database rows, JSON, templates).
"""

from enum import StrEnum


class Labeled(StrEnum):
    """A string enum whose members carry a label: `PUBLIC = "public", "Public base URL"`."""

    label: str

    def __new__(cls, value: str, label: str | None = None):
        member = str.__new__(cls, value)
        member._value_ = value
        member.label = label or value
        return member


class Kind(Labeled):
    PUBLIC = "public", "Public base URL"
    PRIVATELINK_DEFAULT = "privatelink_default", "PrivateLink, default domain"
    PRIVATELINK_CUSTOM = "privatelink_custom", "PrivateLink, custom domain"
    CROSS_REGION = "cross_region", "Cross-region endpoint"
    FINANCE_PRIVATELINK = "finance_privatelink", "Finance cloud PrivateLink"
    EAS_PUBLIC = "eas_public", "PAI-EAS, public address"
    EAS_VPC = "eas_vpc", "PAI-EAS, VPC address"


KIND_SHORT = {
    Kind.PUBLIC: "Public",
    Kind.PRIVATELINK_DEFAULT: "PrivateLink",
    Kind.PRIVATELINK_CUSTOM: "PL custom domain",
    Kind.CROSS_REGION: "Cross-region",
    Kind.FINANCE_PRIVATELINK: "Finance PL",
    Kind.EAS_PUBLIC: "EAS public",
    Kind.EAS_VPC: "EAS VPC",
}

# Reachable only from inside a VPC (or one connected to it): no public address, no EIP.
PRIVATE_KINDS = frozenset(
    {
        Kind.PRIVATELINK_DEFAULT,
        Kind.PRIVATELINK_CUSTOM,
        Kind.CROSS_REGION,
        Kind.FINANCE_PRIVATELINK,
        Kind.EAS_VPC,
    }
)
PRIVATELINK_KINDS = frozenset(
    {Kind.PRIVATELINK_DEFAULT, Kind.PRIVATELINK_CUSTOM, Kind.CROSS_REGION, Kind.FINANCE_PRIVATELINK}
)
# Kinds whose domain is an endpoint's *default* service domain: HTTP only.
DEFAULT_DOMAIN_KINDS = frozenset(
    {Kind.PRIVATELINK_DEFAULT, Kind.CROSS_REGION, Kind.FINANCE_PRIVATELINK}
)
EAS_KINDS = frozenset({Kind.EAS_PUBLIC, Kind.EAS_VPC})


class ApiStyle(Labeled):
    OPENAI = "openai", "OpenAI-compatible"
    DASHSCOPE = "dashscope", "DashScope native"
    ANTHROPIC = "anthropic", "Anthropic-compatible"
    EAS = "eas", "PAI-EAS"


class Status(Labeled):
    UNKNOWN = "unknown", "Unknown"
    UP = "up", "Up"
    DEGRADED = "degraded", "Degraded"
    DOWN = "down", "Down"


class Phase(Labeled):
    RESOLVE = "resolve", "DNS"
    CONNECT = "connect", "TCP"
    TLS = "tls", "TLS"
    PROCESSING = "processing", "HTTP"
    TRANSFER = "transfer", "Transfer"


class Diagnosis(Labeled):
    """One code per thing that can be wrong (or right); `verdicts.DIAGNOSES` gives each its
    default status and the fix."""

    OK = "ok", "OK"
    DNS_NXDOMAIN = "dns_nxdomain", "Name does not resolve"
    DNS_TIMEOUT = "dns_timeout", "Resolver does not answer"
    DNS_ERROR = "dns_error", "Resolver fails"
    RESOLVES_PUBLIC = "resolves_public", "Resolves to a public address"
    PRIVATE_DNS_CNAME_MISMATCH = "private_dns_cname_mismatch", "Private DNS CNAME mismatch"
    EGRESS_REFUSED = "egress_refused", "Not probed: egress policy"
    TCP_REFUSED = "tcp_refused", "Connection refused"
    TCP_TIMEOUT = "tcp_timeout", "TCP timeout"
    ZONE_UNREACHABLE = "zone_unreachable", "A zone is unreachable"
    TLS_ERROR = "tls_error", "TLS error"
    TLS_EXPIRING = "tls_expiring", "Certificate expiring"
    HTTP_ON_HTTPS_ONLY = "http_on_https_only", "HTTP to an HTTPS-only domain"
    HTTPS_ON_DEFAULT_DOMAIN = "https_on_default_domain", "HTTPS to the HTTP-only default domain"
    CONNECTION_RESET = "connection_reset", "Connection reset"
    PROTOCOL_ERROR = "protocol_error", "Not HTTP"
    AUTH_REJECTED = "auth_rejected", "Key rejected"
    MODEL_NOT_PERMITTED = "model_not_permitted", "Model not permitted"
    MODEL_NOT_FOUND = "model_not_found", "Model not found"
    PATH_NOT_FOUND = "path_not_found", "Path not found"
    QUOTA_EXHAUSTED = "quota_exhausted", "Free quota exhausted"
    CONFIG_ERROR = "config_error", "Configuration error"
    INTERNAL_ERROR = "internal_error", "Probe failed"
    ACCOUNT_IN_ARREARS = "account_in_arrears", "Account in arrears"
    BAD_REQUEST = "bad_request", "Request refused"
    RATE_LIMITED = "rate_limited", "Throttled"
    UPSTREAM_ERROR = "upstream_error", "Server error"
    TIMEOUT = "timeout", "Timeout"
    SLOW = "slow", "Slow"
    NO_AGENT = "no_agent", "No agent"
