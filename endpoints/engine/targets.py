"""What the engine is given (`ProbeTarget`) and what it gives back (`ProbeOutcome`), and
their JSON forms: a lease carries targets to an agent (never with the secret, which travels
sealed beside it), and the agent posts outcomes back (checked field by field on arrival).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime

from .codes import PRIVATE_KINDS, ApiStyle, Diagnosis, Kind, Phase, Status

MAX_TEXT = 500
MAX_ADDRESSES = 32


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

    def as_json(self) -> dict:
        """What to probe, for a lease: everything but the secret (sent sealed, apart) and the
        prober's own settings (PROBER_OWN), which no lease carries."""
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in PROBER_OWN}
        data["public_hosts"] = dict(self.public_hosts or {})
        data["host_overrides"] = dict(self.host_overrides)
        return data

    @classmethod
    def from_json(cls, data: dict, secret: str | None = None) -> ProbeTarget:
        """A target from a lease: what to probe, never how far the prober may reach. The
        fields of PROBER_OWN are ignored whatever the JSON says (the resolver is a VPC's, so
        the egress guard covers it; the CA bundle is the prober's own SSL_CERT_FILE), and
        each other field must have its type and a sane range (ValueError naming it)."""
        if not isinstance(data, dict):
            raise ValueError("target: an object is required")
        known = {f.name for f in fields(cls)} - PROBER_OWN
        values = {k: v for k, v in data.items() if k in known and v is not None}
        if values.get("kind") not in set(Kind) or values.get("api_style") not in set(ApiStyle):
            raise ValueError("the target's kind or API style is not one the engine knows")
        _text(values.get("url"), "url", 2000, required=True)
        for name in ("resolver", "check_model"):
            _text(values.get(name), name, 300)
        for name in ("public_hosts", "host_overrides"):
            mapping = values.get(name, {})
            if not isinstance(mapping, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in mapping.items()
            ):
                raise ValueError(f"{name}: an object of names to strings is required")
        for name, low, high in (
            ("slow_ms", 0, 3_600_000),
            ("timeout_s", 0.001, 120),
            ("connect_timeout_s", 0.001, 120),
        ):
            if name in values:
                values[name] = float(_number(values[name], name, low, high))
        if not isinstance(values.get("model_call", False), bool):
            raise ValueError("model_call: true or false is required")
        if "endpoint_id" in values and (
            isinstance(values["endpoint_id"], bool) or not isinstance(values["endpoint_id"], int)
        ):
            raise ValueError("endpoint_id: an integer is required")
        return cls(**values, resolver_source="vpc", ca_file=None, secret=secret)


# A prober's own settings, never taken from a target's JSON (a lease): the secret travels
# sealed beside it; "portal" as the resolver's source would let a loopback resolver past the
# egress guard (right for the portal's own machine, wrong for an agent); a CA file would be a
# path on the portal's disk and a trust decision that is the agent's own (SSL_CERT_FILE).
PROBER_OWN = frozenset({"secret", "resolver_source", "ca_file"})


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


def _text(value, name: str, limit: int = MAX_TEXT, required: bool = False) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{name}: a string is required")
    if "\x00" in value:
        raise ValueError(f"{name}: NUL characters are not allowed")
    return value[:limit]


def _number(value, name: str, low: float, high: float) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{name}: a finite number is required")
    if not low <= value <= high:
        raise ValueError(f"{name}: {value} is outside {low:g} to {high:g}")
    return value


def outcome_as_json(outcome: ProbeOutcome) -> dict:
    """A ProbeOutcome as JSON (what an agent posts)."""
    return {
        "status": str(outcome.status),
        "diagnosis": str(outcome.diagnosis),
        "message": outcome.message,
        "failed_phase": outcome.failed_phase,
        "phases": vars(outcome.phases),
        "addresses": [a.as_json() for a in outcome.addresses],
        "cname_chain": outcome.cname_chain,
        "http_status": outcome.http_status,
        "tls_days_left": outcome.tls_days_left,
        "request_id": outcome.request_id,
        "usage": outcome.usage,
        "started_at": outcome.started_at.isoformat(),
    }


def outcome_from_json(data, endpoint_id: int | None = None) -> ProbeOutcome:
    """A ProbeOutcome from untrusted JSON; ValueError naming the field that is wrong."""
    if not isinstance(data, dict):
        raise ValueError("outcome: an object is required")
    status = data.get("status")
    if status not in set(Status):
        raise ValueError(f"status: {status!r} is not a status")
    diagnosis = data.get("diagnosis")
    if diagnosis not in set(Diagnosis):
        raise ValueError(f"diagnosis: {diagnosis!r} is not a diagnosis")
    phase = data.get("failed_phase")
    if phase not in {None, "", *set(Phase)}:
        raise ValueError(f"failed_phase: {phase!r} is not a phase")
    phases_in = data.get("phases") or {}
    if not isinstance(phases_in, dict):
        raise ValueError("phases: an object is required")
    phases = Phases(
        **{
            f.name: _number(phases_in.get(f.name), f"phases.{f.name}", 0, 3_600_000)
            for f in fields(Phases)
        }
    )
    addresses_in = data.get("addresses") or []
    if not isinstance(addresses_in, list) or len(addresses_in) > MAX_ADDRESSES:
        raise ValueError(f"addresses: a list of at most {MAX_ADDRESSES} is required")
    addresses = []
    for n, item in enumerate(addresses_in):
        if not isinstance(item, dict):
            raise ValueError(f"addresses.{n}: an object is required")
        addresses.append(
            AddressResult(
                address=_text(item.get("address"), f"addresses.{n}.address", 64, True),
                cls=_text(item.get("class"), f"addresses.{n}.class", 20, True),
                connect_ms=_number(item.get("connect_ms"), f"addresses.{n}.connect_ms", 0, 3.6e6),
                ok=bool(item.get("ok")),
                error=_text(item.get("error"), f"addresses.{n}.error", 200),
            )
        )
    chain = data.get("cname_chain") or []
    if not isinstance(chain, list) or len(chain) > 16:
        raise ValueError("cname_chain: a list of at most 16 names is required")
    usage = data.get("usage")
    if usage is not None:
        if not isinstance(usage, dict):
            raise ValueError("usage: an object is required")
        usage = {
            "model": _text(usage.get("model"), "usage.model", 80, True),
            "input_tokens": int(_number(usage.get("input_tokens") or 0, "usage.input", 0, 1e9)),
            "output_tokens": int(_number(usage.get("output_tokens") or 0, "usage.output", 0, 1e9)),
        }
    started = data.get("started_at")
    try:
        started_at = datetime.fromisoformat(started)
    except (TypeError, ValueError):
        raise ValueError("started_at: an ISO 8601 time is required") from None
    if started_at.tzinfo is None:
        raise ValueError("started_at: a time zone is required")
    http_status = _number(data.get("http_status"), "http_status", 100, 599)
    tls_days = _number(data.get("tls_days_left"), "tls_days_left", -100_000, 100_000)
    return ProbeOutcome(
        status=status,
        diagnosis=diagnosis,
        message=_text(data.get("message") or "", "message", MAX_TEXT, True),
        failed_phase=phase or None,
        phases=phases,
        addresses=addresses,
        cname_chain=[_text(c, "cname_chain", 253, True) for c in chain],
        http_status=None if http_status is None else int(http_status),
        tls_days_left=None if tls_days is None else int(tls_days),
        request_id=_text(data.get("request_id"), "request_id", 80),
        usage=usage,
        endpoint_id=endpoint_id,
        started_at=started_at,
    )
