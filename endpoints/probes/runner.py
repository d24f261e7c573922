"""Between the database and the probe engine: the targets a probe needs, and probing now.

Secrets are decrypted here, at the moment of use, and live only inside `ProbeTarget`
(excluded from its repr); an agent gets them sealed to its own key instead (agents app).
Used by the central workers (`tasks`), the agents' leases and `manage.py probe_now`.
"""

import logging
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db.models import prefetch_related_objects

from endpoints.engine import EgressPolicy, ProbeTarget, probe_sync
from endpoints.network.choices import EAS_KINDS, ApiStyle
from endpoints.network.models import Endpoint
from portal.crypto import SecretUnavailable
from portal.workspaces.models import ApiKey, Region

from .models import CENTRAL, ProbeResult, ProbeSchedule
from .recorder import Observation, record_with_retry

log = logging.getLogger(__name__)
ENDPOINT_RELATED = (
    "vpc",
    "workspace",
    "workspace__region",
    "eas_token",
    "check_model",
    "region",
    "service_region",
)

# The columns a worker's batch reads: a schedule and its endpoint have many more (statuses,
# messages, zones…), and building them into every row cost CPU at every probe.
SCHEDULE_FIELDS = ("id", "endpoint", "vpc", "location", "next_probe_at", "run")
TARGET_FIELDS = (
    "id",
    "url",
    "kind",
    "api_style",
    "vpc",
    "workspace",
    "eas_token",
    "check_model",
    "model_call_check",
    "latency_threshold_ms",
    "interval_s",
)


def _active_keys(workspace_ids) -> dict[int, ApiKey]:
    """The newest active key of each workspace, in one query."""
    keys: dict[int, ApiKey] = {}
    for key in ApiKey.objects.filter(
        workspace_id__in=workspace_ids, revoked_at__isnull=True
    ).order_by("workspace_id", "-created_at"):
        keys.setdefault(key.workspace_id, key)
    return keys


def _fallback_models(endpoints) -> dict[int, str]:
    """A model each workspace may call, for styles whose cheapest check names a model."""
    needed = {
        e.workspace_id
        for e in endpoints
        if e.workspace_id
        and not e.check_model_id
        and e.api_style in (ApiStyle.DASHSCOPE, ApiStyle.ANTHROPIC)
    }
    models: dict[int, str] = {}
    for endpoint in endpoints:
        ws = endpoint.workspace
        if ws is not None and ws.pk in needed and ws.pk not in models:
            model = ws.callable_models().order_by("name").values_list("name", flat=True).first()
            models[ws.pk] = model
    return models


def build_targets(endpoints, probing_vpcs=None) -> tuple[list[ProbeTarget], dict[int, str]]:
    """One ProbeTarget per endpoint (one that cannot be prepared is logged and skipped, the
    others go on), and why an endpoint has no credentials (by id).

    `probing_vpcs` (endpoint id → Vpc): where the probe runs, when not the endpoint's own VPC
    (an agent of a connected VPC resolves with that VPC's resolver and Private DNS records)."""
    endpoints = list(endpoints)
    probing_vpcs = probing_vpcs or {}
    keys = _active_keys({e.workspace_id for e in endpoints if e.workspace_id})
    fallback = _fallback_models(endpoints)
    public_hosts = {
        host.lower(): code
        for code, hosts in Region.objects.filter(model_studio=True).values_list(
            "code", "public_hosts"
        )
        for host in hosts or []
    }
    targets, missing = [], {}
    for endpoint in endpoints:
        try:
            target, why = _target_for(endpoint, probing_vpcs, keys, fallback, public_hosts)
        except Exception:  # one bad row must not stop the others from being probed
            log.exception(
                "Endpoint %s could not be prepared for probing; skipped this time.", endpoint.pk
            )
            continue
        targets.append(target)
        if why:
            missing[endpoint.pk] = why
    return targets, missing


def _target_for(endpoint, probing_vpcs, keys, fallback, public_hosts):
    """The endpoint's ProbeTarget, and why it goes without credentials (None: it has them)."""
    secret, why = None, None
    try:
        if endpoint.kind in EAS_KINDS:
            if endpoint.eas_token_id and endpoint.eas_token.revoked_at is None:
                secret = endpoint.eas_token.reveal()
            else:
                why = "The endpoint has no active EAS token: add one on its edit page."
        elif endpoint.workspace_id:
            key = keys.get(endpoint.workspace_id)
            if key is not None:
                secret = key.reveal()
            else:
                why = f"Workspace {endpoint.workspace.name} has no active API key: add one on its page."
    except SecretUnavailable as exc:
        why = str(exc)
    vpc = probing_vpcs.get(endpoint.pk) or endpoint.vpc
    model = (
        endpoint.check_model.name
        if endpoint.check_model_id
        else fallback.get(endpoint.workspace_id)
    )
    target = ProbeTarget(
        url=endpoint.url,
        kind=endpoint.kind,
        api_style=endpoint.api_style,
        secret=secret,
        resolver=vpc.resolver if vpc else settings.PORTAL_PROBE_RESOLVER,
        resolver_source="vpc" if vpc else "portal",
        public_hosts=public_hosts,
        host_overrides=vpc.overrides_for_probe() if vpc else {},
        check_model=model,
        model_call=endpoint.model_call_check and bool(endpoint.check_model_id),
        slow_ms=float(endpoint.latency_threshold_ms),
        timeout_s=settings.PORTAL_PROBE_TIMEOUT_S,
        endpoint_id=endpoint.pk,
    )
    return target, why


def policy() -> EgressPolicy:
    """The egress policy of this host (PORTAL_PROBE_ALLOWED_NETWORKS)."""
    return EgressPolicy.from_env(",".join(settings.PORTAL_PROBE_ALLOWED_NETWORKS))


@dataclass
class Work:
    """One probe to make at `slot` for a leased schedule: its target and how to record it."""

    target: ProbeTarget
    observation: Observation  # the outcome is filled in when the probe ends

    @property
    def slot(self) -> datetime | None:
        return self.observation.slot


def work_for(schedule_ids, token, *, run_id=None, source: str = "schedule") -> list[Work]:
    """The probes of the leased `schedule_ids` still held by `token` (a row leased again since
    belongs to its new holder, so a late or redelivered batch probes nothing twice)."""
    schedules = list(
        ProbeSchedule.objects.filter(pk__in=list(schedule_ids), lease_token=token)
        .select_related("endpoint")
        .only(*SCHEDULE_FIELDS, *(f"endpoint__{name}" for name in TARGET_FIELDS))
        .order_by("next_probe_at")
    )
    _attach_related(schedules)
    endpoints = [s.endpoint for s in schedules]
    targets, missing = build_targets(
        endpoints, {s.endpoint_id: s.vpc for s in schedules if s.vpc_id}
    )
    by_endpoint = {t.endpoint_id: t for t in targets}
    return [
        Work(
            target=by_endpoint[s.endpoint_id],
            observation=Observation(
                endpoint_id=s.endpoint_id,
                outcome=None,
                location=s.location,
                schedule_id=s.pk,
                lease_token=str(token),
                slot=s.next_probe_at,
                interval_s=s.endpoint.interval_s,
                run_id=run_id or (str(s.run_id) if s.run_id else None),
                source=source,
                missing=missing.get(s.endpoint_id),
            ),
        )
        for s in schedules
        if s.endpoint_id in by_endpoint
    ]


def _attach_related(schedules) -> None:
    """Give the schedules their VPC and their endpoints the VPC, workspace, EAS token and
    model a target needs, each distinct row fetched once: a batch's endpoints share a few of
    each, and joining them onto every row built the same objects again for each (the biggest
    part of a worker's CPU per probe, measured with py-spy in `make bench`)."""
    prefetch_related_objects(schedules, "vpc")
    prefetch_related_objects(
        [s.endpoint for s in schedules], "vpc", "workspace", "eas_token", "check_model"
    )


def run_probes(endpoint_ids, run_id=None, source: str = "cli") -> list[ProbeResult]:
    """Probe the endpoints from here, now, and record the results (location "central");
    returns the stored rows, newest last. `manage.py probe_now` and tests use it."""
    endpoints = list(Endpoint.objects.filter(pk__in=endpoint_ids).select_related(*ENDPOINT_RELATED))
    if not endpoints:
        return []
    targets, missing = build_targets(endpoints)
    outcomes = probe_sync(targets, concurrency=settings.PORTAL_PROBE_CONCURRENCY, policy=policy())
    record_with_retry(
        [
            Observation(
                endpoint_id=o.endpoint_id,
                outcome=o,
                location=CENTRAL,
                run_id=run_id,
                source=source,
                missing=missing.get(o.endpoint_id),
            )
            for o in outcomes
        ]
    )
    started = {o.endpoint_id: o.started_at for o in outcomes}
    rows = ProbeResult.objects.filter(endpoint_id__in=started, location=CENTRAL, source=source)
    return [r for r in rows.order_by("started_at") if r.started_at == started[r.endpoint_id]]
