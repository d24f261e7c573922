"""The domain models, split by concern; import them from here."""

from .catalog import CatalogModel, ModelPrice, Region
from .network import Endpoint, Vpc
from .probes import ProbeResult, ProbeRun, UsageRecord
from .workspaces import ApiKey, EasToken, Membership, ModelGrant, Workspace

__all__ = [
    "ApiKey",
    "CatalogModel",
    "EasToken",
    "Endpoint",
    "Membership",
    "ModelGrant",
    "ModelPrice",
    "ProbeResult",
    "ProbeRun",
    "Region",
    "UsageRecord",
    "Vpc",
    "Workspace",
]
