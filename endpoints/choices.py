"""Named choices shared by the models, the rules, the probe engine and the simulator."""

from django.db import models


class Scope(models.TextChoices):
    """Service deployment scope: where inference runs (DOMAIN.md, 'Regions and scopes')."""

    MAINLAND = "mainland", "Chinese mainland"
    INTERNATIONAL = "international", "International (outside the mainland)"
    GLOBAL = "global", "Global"
    US = "us", "United States"
    EU = "eu", "EU"
    FINANCE = "finance", "Finance cloud"


class PrivateLinkSupport(models.TextChoices):
    YES = "yes", "Supported"
    NO = "no", "Not supported"
    UNKNOWN = "unknown", "Not stated"


class Currency(models.TextChoices):
    USD = "USD", "USD"
    CNY = "CNY", "CNY"


class Kind(models.TextChoices):
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


class ApiStyle(models.TextChoices):
    OPENAI = "openai", "OpenAI-compatible"
    DASHSCOPE = "dashscope", "DashScope native"
    ANTHROPIC = "anthropic", "Anthropic-compatible"
    EAS = "eas", "PAI-EAS"


# The path each style appends to a Model Studio host.
STYLE_BASE_PATH = {
    ApiStyle.OPENAI: "/compatible-mode/v1",
    ApiStyle.DASHSCOPE: "/api/v1",
    ApiStyle.ANTHROPIC: "/apps/anthropic",
}


class Status(models.TextChoices):
    UNKNOWN = "unknown", "Unknown"
    UP = "up", "Up"
    DEGRADED = "degraded", "Degraded"
    DOWN = "down", "Down"


class Phase(models.TextChoices):
    RESOLVE = "resolve", "DNS"
    CONNECT = "connect", "TCP"
    TLS = "tls", "TLS"
    PROCESSING = "processing", "HTTP"
    TRANSFER = "transfer", "Transfer"
