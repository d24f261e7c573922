"""Named choices of workspaces and regions (docs/domain.md, "Regions and deployment scopes")."""

from django.db import models


class Scope(models.TextChoices):
    """Service deployment scope: where inference runs."""

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
    """Mainland regions bill in CNY, the others in USD; the two are never added together."""

    USD = "USD", "USD"
    CNY = "CNY", "CNY"
