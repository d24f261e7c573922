"""What the engine is given (`ProbeTarget`) and what it gives back (`ProbeOutcome`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from .codes import PRIVATE_KINDS


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
