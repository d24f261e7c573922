"""Between the database and the probe engine: build targets, run them, record the outcomes.

Used by the Celery task, `manage.py probe_now` and the benchmark. Secrets are decrypted
here, at the moment of use, and live only inside `ProbeTarget` (excluded from repr).
"""

import logging

from django.conf import settings
from django.db import transaction
from django.db.models import Case, F, Q, Value, When
from django.utils import timezone

from endpoints.engine import EgressPolicy, ProbeOutcome, ProbeTarget, probe_sync
from endpoints.network.choices import EAS_KINDS, ApiStyle
from endpoints.network.models import Endpoint
from portal.costs.services import account_probe_usage
from portal.crypto import SecretUnavailable
from portal.workspaces.models import ApiKey, EasToken, Region

from .models import ProbeResult, ProbeRun

log = logging.getLogger(__name__)


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


def build_targets(endpoints) -> tuple[list[ProbeTarget], dict[int, str]]:
    """One ProbeTarget per endpoint, and why an endpoint has no credentials (by id)."""
    endpoints = list(endpoints)
    keys = _active_keys({e.workspace_id for e in endpoints if e.workspace_id})
    fallback = _fallback_models(endpoints)
    public_hosts = {
        host.lower(): code
        for code, hosts in Region.objects.filter(model_studio=True).values_list(
            "code", "public_hosts"
        )
        for host in hosts or []
    }
    timeout = settings.PORTAL_PROBE_TIMEOUT_S
    targets, missing = [], {}
    for endpoint in endpoints:
        secret = None
        try:
            if endpoint.kind in EAS_KINDS:
                if endpoint.eas_token_id and endpoint.eas_token.revoked_at is None:
                    secret = endpoint.eas_token.reveal()
                else:
                    missing[endpoint.pk] = (
                        "The endpoint has no active EAS token: add one on its edit page."
                    )
            elif endpoint.workspace_id:
                key = keys.get(endpoint.workspace_id)
                if key is not None:
                    secret = key.reveal()
                else:
                    missing[endpoint.pk] = (
                        f"Workspace {endpoint.workspace.name} has no active API key: add one on its page."
                    )
        except SecretUnavailable as exc:
            missing[endpoint.pk] = str(exc)
        vpc = endpoint.vpc
        model = (
            endpoint.check_model.name
            if endpoint.check_model_id
            else fallback.get(endpoint.workspace_id)
        )
        targets.append(
            ProbeTarget(
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
                timeout_s=timeout,
                endpoint_id=endpoint.pk,
            )
        )
    return targets, missing


def load_endpoints(endpoint_ids):
    return list(
        Endpoint.objects.filter(pk__in=endpoint_ids).select_related(
            "vpc",
            "workspace",
            "workspace__region",
            "eas_token",
            "check_model",
            "region",
            "service_region",
        )
    )


def run_probes(endpoint_ids, run_id=None, source: str = "schedule") -> list[ProbeResult]:
    """Probe the endpoints and record the results; returns the stored rows."""
    endpoints = load_endpoints(endpoint_ids)
    if not endpoints:
        if run_id is not None:
            ProbeRun(pk=run_id).advance(len(set(endpoint_ids)))
        return []
    targets, missing = build_targets(endpoints)
    policy = EgressPolicy.from_env(",".join(settings.PORTAL_PROBE_ALLOWED_NETWORKS))
    outcomes = probe_sync(targets, concurrency=settings.PORTAL_PROBE_CONCURRENCY, policy=policy)
    vanished = len(set(endpoint_ids)) - len(endpoints)
    if run_id is not None and vanished:
        ProbeRun(pk=run_id).advance(vanished)  # deleted since: a watched run still finishes
    return record(endpoints, outcomes, missing, run_id=run_id, source=source)


def record(endpoints, outcomes: list[ProbeOutcome], missing=None, run_id=None, source="schedule"):
    """Store outcomes, update each endpoint's status, touch keys, account usage. Bulk only."""
    missing = missing or {}
    now = timezone.now()
    by_id = {e.pk: e for e in endpoints}
    rows, changed = [], []
    for outcome in outcomes:
        endpoint = by_id[outcome.endpoint_id]
        message = outcome.message
        if outcome.diagnosis == "auth_rejected" and endpoint.pk in missing:
            message = f"{missing[endpoint.pk]} (DNS, TCP and TLS passed; the request went without credentials.)"
        rows.append(
            ProbeResult(
                endpoint=endpoint,
                run_id=run_id,
                started_at=outcome.started_at,
                status=outcome.status,
                diagnosis=outcome.diagnosis,
                message=message[:500],
                fix=outcome.fix[:500],
                failed_phase=outcome.failed_phase or "",
                addresses=[a.as_json() for a in outcome.addresses],
                cname_chain=outcome.cname_chain,
                http_status=outcome.http_status,
                tls_days_left=outcome.tls_days_left,
                request_id=(outcome.request_id or "")[:80],
                source=source,
                **vars(outcome.phases),
            )
        )
        changed.append((endpoint, outcome, message))
    with transaction.atomic():
        alive = set(Endpoint.objects.filter(pk__in=by_id).values_list("pk", flat=True))
        rows = [row for row in rows if row.endpoint_id in alive]  # deleted while probing
        ProbeResult.objects.bulk_create(rows, batch_size=500)
        for endpoint, outcome, message in changed:
            if endpoint.pk in alive:
                _set_status(endpoint, outcome, message, now)
        _touch_credentials(endpoints, outcomes, missing, now)
        account_probe_usage(
            (by_id[o.endpoint_id].workspace, o.usage)
            for o in outcomes
            if o.usage and by_id[o.endpoint_id].workspace_id and o.endpoint_id in alive
        )
    if run_id is not None:
        ProbeRun(pk=run_id).advance(len(outcomes))  # deleted meanwhile counts as done, too
    return rows


def _set_status(endpoint, outcome: ProbeOutcome, message: str, now) -> None:
    """The endpoint's current status, unless a newer probe (a manual one racing the schedule,
    a redelivered batch) already wrote one; status_changed_at moves only on a change."""
    Endpoint.objects.filter(pk=endpoint.pk).filter(
        Q(last_probe_at__isnull=True) | Q(last_probe_at__lte=outcome.started_at)
    ).update(
        status=outcome.status,
        diagnosis=outcome.diagnosis,
        status_message=message[:500],
        status_changed_at=Case(
            When(status=outcome.status, then=F("status_changed_at")), default=Value(now)
        ),
        last_probe_at=outcome.started_at,
        last_total_ms=outcome.phases.total_ms,
    )


def _touch_credentials(endpoints, outcomes, missing, now):
    used_ws, used_eas = set(), set()
    by_id = {e.pk: e for e in endpoints}
    for outcome in outcomes:
        endpoint = by_id[outcome.endpoint_id]
        if endpoint.pk in missing or outcome.http_status is None:
            continue
        if endpoint.kind in EAS_KINDS:
            used_eas.add(endpoint.eas_token_id)
        elif endpoint.workspace_id:
            used_ws.add(endpoint.workspace_id)
    if used_ws:
        keys = _active_keys(used_ws)
        ApiKey.objects.filter(pk__in=[k.pk for k in keys.values()]).update(last_used_at=now)
    if used_eas:
        EasToken.objects.filter(pk__in=used_eas).update(last_used_at=now)
