"""What the simulator knows: workspaces, keys (as digests only), the catalog, EAS services, faults.

Requests read `SimState.world`, a merged copy rebuilt under a lock after every change and
swapped in with one assignment, so tests and the DB refresher may change the state from other
threads while the event loop serves.
"""

import hashlib
import hmac
import random
import threading
import time
from collections import deque
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from urllib.parse import urlsplit

_QWEN = frozenset({"qwen-plus", "qwen-flash", "qwen-max", "qwen-turbo"})
_US_ONLY = frozenset({"qwen-plus-us", "qwen-flash-us", "qwen-max-us", "qwen-turbo-us"})
# Mirrors the catalog seeded by portal/workspaces/migrations: served until another is loaded.
DEFAULT_CATALOG = {
    "cn-beijing": _QWEN | {"qwen3-max"},
    "ap-southeast-1": _QWEN | {"qwen3-max"},
    "us-east-1": _QWEN | _US_ONLY | {"qwen3-max"},
    "eu-central-1": _QWEN | {"qwen3-max"},
    "cn-hongkong": _QWEN,
    "cn-shanghai-finance-1": frozenset({"qwen-plus", "qwen-max"}),
}
RPM_WINDOW_S = 60.0


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class Fault:
    """Misbehaviour injected for matching requests (or TLS handshakes, for the cert fields)."""

    latency_ms: float = 0
    jitter_ms: float = 0
    hang: bool = False
    reset: bool = False
    status: int | None = None
    slow_body_bytes_per_s: int | None = None
    self_signed: bool = False
    cert_days_left: int | None = None
    throttle: bool = False
    close_without_response: bool = False

    @classmethod
    def from_dict(cls, data: dict) -> "Fault":
        names = {f.name for f in fields(cls)}
        unknown = set(data) - names - {"host", "path"}
        if unknown:
            raise ValueError(f"unknown fault fields: {', '.join(sorted(unknown))}")
        return cls(**{k: v for k, v in data.items() if k in names})

    def delay_s(self) -> float:
        """Seconds to wait before the response headers: latency ± uniform jitter, never < 0."""
        jitter = random.uniform(-self.jitter_ms, self.jitter_ms) if self.jitter_ms else 0
        return max(0.0, self.latency_ms + jitter) / 1000


@dataclass(frozen=True)
class FaultRule:
    """A fault for a host (exact, '*.suffix' or any) and/or a path prefix (or any)."""

    host: str | None
    path: str | None
    fault: Fault

    def matches(self, host: str, path: str | None) -> bool:
        if self.path is not None and (path is None or not path.startswith(self.path)):
            return False
        if self.host is None or self.host == host:
            return True
        return self.host.startswith("*.") and host.endswith(self.host[1:])

    @property
    def specificity(self) -> tuple[int, int]:
        host_rank = 0 if self.host is None else 1 if self.host.startswith("*.") else 2
        return host_rank, len(self.path or "")


@dataclass(frozen=True)
class SimWorkspace:
    """A Model Studio workspace: the default one calls everything its region offers."""

    workspace_id: str
    region: str
    is_default: bool = True
    models: frozenset[str] = frozenset()


@dataclass(frozen=True)
class EasService:
    """A PAI-EAS service behind /api/predict/<name>, serving one model."""

    name: str
    token_sha256: str
    model: str = "eas-llm"

    def accepts(self, token: str) -> bool:
        return hmac.compare_digest(digest(token), self.token_sha256)


@dataclass
class World:
    """One consistent set of everything a request is checked against."""

    workspaces: dict[str, SimWorkspace] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)  # key SHA-256 → workspace id
    catalog: dict[str, frozenset[str]] = field(default_factory=dict)  # region → model names
    eas_services: dict[str, EasService] = field(default_factory=dict)
    host_regions: dict[str, str] = field(default_factory=dict)
    rpm_limits: dict[str, int] = field(default_factory=dict)  # key SHA-256 → requests/minute
    arrears: set[str] = field(default_factory=set)  # workspace ids whose account is overdue

    def merged(self, over: "World") -> "World":
        """A new world: this one with `over` laid on top (catalogs unioned per region)."""
        merged = World(arrears=self.arrears | over.arrears)
        for name in ("workspaces", "keys", "eas_services", "host_regions", "rpm_limits"):
            setattr(merged, name, {**getattr(self, name), **getattr(over, name)})
        for region in self.catalog.keys() | over.catalog.keys():
            merged.catalog[region] = self.catalog.get(region, frozenset()) | over.catalog.get(
                region, frozenset()
            )
        return merged


class SimState:
    """The simulator's state: what was added by hand (or config) plus what the DB holds.

    Two layers so that a periodic `load_from_db()` replaces only what came from the DB
    (a revoked key disappears) and keeps what tests or the config file added.
    """

    def __init__(self, catalog: dict[str, list[str]] | None = None):
        self._lock = threading.RLock()
        self._manual, self._db = World(), World()
        self._faults: tuple[FaultRule, ...] = ()
        self._by_host: dict[str, tuple[FaultRule, ...]] = {}  # exact-host rules, per host
        self._other_faults: tuple[FaultRule, ...] = ()  # '*.suffix' and any-host rules
        self._hits: dict[str, deque] = {}  # touched only by the event loop thread
        for region, names in (catalog or {}).items():
            self._manual.catalog[region] = frozenset(names)
        self._publish()

    def _publish(self) -> None:
        world = self._manual.merged(self._db)
        world.catalog = world.catalog or dict(DEFAULT_CATALOG)
        self.world = world  # one store: a request sees the old world or the new one

    @contextmanager
    def _editing(self):
        """Change the manual layer, then publish a new merged world."""
        with self._lock:
            yield self._manual
            self._publish()

    # -- the manual layer ---------------------------------------------------------------------

    def add_workspace(self, workspace_id, region, is_default=True, models=(), in_arrears=False):
        ws = SimWorkspace(workspace_id, region, is_default, frozenset(models))
        with self._editing() as manual:
            manual.workspaces[workspace_id] = ws
            if in_arrears:
                manual.arrears.add(workspace_id)
        return ws

    def set_arrears(self, workspace_id: str, in_arrears: bool = True) -> None:
        with self._editing() as manual:
            (manual.arrears.add if in_arrears else manual.arrears.discard)(workspace_id)

    def add_key(self, plaintext: str, workspace_id: str, rpm_limit: int | None = None) -> str:
        return self.add_key_digest(digest(plaintext), workspace_id, rpm_limit)

    def add_key_digest(self, sha256: str, workspace_id: str, rpm_limit: int | None = None) -> str:
        with self._editing() as manual:
            manual.keys[sha256] = workspace_id
        if rpm_limit is not None:
            self.set_rpm_limit(sha256, rpm_limit)
        return sha256

    def set_rpm_limit(self, key_sha256: str, rpm: int | None) -> None:
        """Requests per minute for one key (None: unlimited), counted over a sliding minute."""
        with self._editing() as manual:
            if rpm is None:
                manual.rpm_limits.pop(key_sha256, None)
            else:
                manual.rpm_limits[key_sha256] = rpm

    def set_catalog(self, region: str, names) -> None:
        with self._editing() as manual:
            manual.catalog[region] = frozenset(names)

    def add_eas_service(self, name: str, token: str, model: str = "eas-llm") -> EasService:
        return self.add_eas_service_digest(name, digest(token), model)

    def add_eas_service_digest(self, name: str, token_sha256: str, model="eas-llm"):
        service = EasService(name, token_sha256, model)
        with self._editing() as manual:
            manual.eas_services[name] = service
        return service

    def set_host_region(self, host: str, region: str) -> None:
        """Region of a host whose name does not say it (e.g. ep-….privatelink.aliyuncs.com)."""
        with self._editing() as manual:
            manual.host_regions[host.lower()] = region

    # -- faults -------------------------------------------------------------------------------

    def set_fault(self, host: str | None = None, path: str | None = None, fault=None) -> None:
        """Add (or with fault=None remove) the fault for exactly this host and path prefix."""
        host = host.lower() if host else None
        with self._lock:
            rules = [r for r in self._faults if (r.host, r.path) != (host, path)]
            self._use_faults((*rules, FaultRule(host, path, fault)) if fault else tuple(rules))

    def set_faults(self, items: list[dict]) -> None:
        """Replace every fault with `items` ({"host", "path", ...Fault fields})."""
        rules = tuple(
            FaultRule((d.get("host") or "").lower() or None, d.get("path"), Fault.from_dict(d))
            for d in items
        )
        self._use_faults(rules)

    def clear_faults(self) -> None:
        self._use_faults(())

    def _use_faults(self, rules: tuple[FaultRule, ...]) -> None:
        """Swap in `rules`, indexed by exact host: a benchmark's thousands of per-host faults
        are not scanned on every request."""
        by_host: dict[str, tuple[FaultRule, ...]] = {}
        other: list[FaultRule] = []
        for rule in rules:
            if rule.host is None or rule.host.startswith("*."):
                other.append(rule)
            else:
                by_host[rule.host] = (*by_host.get(rule.host, ()), rule)
        # One assignment each, readers on other threads see either the old or the new set.
        self._by_host, self._other_faults = by_host, tuple(other)
        self._faults = rules

    def fault_for(self, host: str, path: str | None) -> Fault | None:
        """The most specific fault matching; path=None (a TLS handshake) matches pathless rules."""
        candidates = self._by_host.get(host, ()) + self._other_faults
        matching = [rule for rule in candidates if rule.matches(host, path)]
        return max(matching, key=lambda r: r.specificity).fault if matching else None

    def admit(self, key_sha256: str) -> bool:
        """Count one request against the key's RPM limit; False when over it."""
        limit = self.world.rpm_limits.get(key_sha256)
        if limit is None:
            return True
        now = time.monotonic()
        hits = self._hits.setdefault(key_sha256, deque())
        while hits and hits[0] <= now - RPM_WINDOW_S:
            hits.popleft()
        if len(hits) >= limit:
            return False
        hits.append(now)
        return True

    # -- config and database ------------------------------------------------------------------

    def apply_config(self, config: dict) -> None:
        """Add what a --config JSON (or POST /_simulator/config) holds; DNS is the server's."""
        for region, names in config.get("catalog", {}).items():
            self.set_catalog(region, names)
        for workspace in config.get("workspaces", []):
            self.add_workspace(**workspace)  # workspace_id, region, is_default, models, in_arrears
        for key in config.get("keys", []):
            sha256 = key.get("sha256") or digest(key["key"])
            self.add_key_digest(sha256, key["workspace_id"], key.get("rpm"))
        for svc in config.get("eas_services", []):
            sha256 = svc.get("token_sha256") or digest(svc["token"])
            self.add_eas_service_digest(svc["name"], sha256, svc.get("model", "eas-llm"))
        for host, region in config.get("host_regions", {}).items():
            self.set_host_region(host, region)
        if "faults" in config:
            self.set_faults(config["faults"])

    def load_from_db(self) -> World:
        """Replace the DB layer with the portal's rows (digests only: nothing is decrypted)."""
        from endpoints.network.choices import EAS_KINDS
        from endpoints.network.models import Endpoint
        from portal.workspaces.models import ApiKey, CatalogModel, ModelGrant, Region, Workspace

        db = World()
        catalog: dict[str, set[str]] = {}
        for name, region in CatalogModel.objects.filter(active=True).values_list("name", "regions"):
            catalog.setdefault(region, set()).add(name)
        db.catalog = {region: frozenset(names) for region, names in catalog.items() if region}
        grants: dict[str, set[str]] = {}
        for ws_id, model in ModelGrant.objects.values_list(
            "workspace__workspace_id", "model__name"
        ):
            grants.setdefault(ws_id, set()).add(model)
        rows = Workspace.objects.values_list("workspace_id", "region_id", "is_default")
        for ws_id, region, is_default in rows:
            db.workspaces[ws_id] = SimWorkspace(
                ws_id, region, is_default, frozenset(grants.get(ws_id, ()))
            )
        live_keys = ApiKey.objects.filter(revoked_at__isnull=True)
        db.keys = dict(live_keys.values_list("secret_sha256", "workspace__workspace_id"))
        for code, hosts in Region.objects.values_list("code", "public_hosts"):
            db.host_regions.update({host.lower(): code for host in hosts or []})
        for ep in Endpoint.objects.select_related("eas_token", "check_model"):
            if ep.host:  # a cross-region endpoint takes the keys of its service region
                db.host_regions[ep.host] = ep.model_studio_region_id or ep.region_id
            token = ep.eas_token
            if ep.kind in EAS_KINDS and token is not None and token.revoked_at is None:
                parts = urlsplit(ep.url).path.split("/")  # ['', 'api', 'predict', service, ...]
                if len(parts) > 3 and parts[1:3] == ["api", "predict"] and parts[3]:
                    model = ep.check_model.name if ep.check_model else "eas-llm"
                    db.eas_services[parts[3]] = EasService(parts[3], token.secret_sha256, model)
        with self._lock:
            self._db = db
            self._publish()
        return db

    def snapshot(self) -> dict:
        """For GET /_simulator/state: what is loaded, with key digests shortened."""
        world = self.world
        workspaces = [
            {
                **asdict(ws),
                "models": sorted(ws.models),
                "in_arrears": ws.workspace_id in world.arrears,
            }
            for ws in world.workspaces.values()
        ]
        return {
            "catalog": {region: sorted(names) for region, names in sorted(world.catalog.items())},
            "workspaces": workspaces,
            "keys": [{"sha256_prefix": d[:12], "workspace_id": w} for d, w in world.keys.items()],
            "rpm_limits": {d[:12]: rpm for d, rpm in world.rpm_limits.items()},
            "eas_services": [
                {"name": s.name, "model": s.model} for s in world.eas_services.values()
            ],
            "host_regions": world.host_regions,
            "faults": [{"host": r.host, "path": r.path, **asdict(r.fault)} for r in self._faults],
        }
