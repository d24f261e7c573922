"""JSON API of workspaces, keys, model grants, VPCs, endpoints and probe results.

Shapes follow the issues exactly; fields beyond them are additive. Validation is the
models' (clean) and rules.py's, so the API and the forms refuse the same things.
"""

from datetime import datetime
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.db import transaction
from django.shortcuts import get_object_or_404
from django.utils import timezone
from ninja import Field, PatchDict, Router, Schema, Status

from portal import audit
from portal.api import requires
from portal.roles import Perm

from .access import get_endpoint_for_user, get_workspace_for_user
from .choices import EAS_KINDS, ApiStyle, Kind
from .domains import style_from_path
from .models import ApiKey, CatalogModel, EasToken, Endpoint, Region, Vpc, Workspace
from .models.network import save_with_pending_token
from .models.workspaces import check_api_key_secret, check_eas_token
from .rules import WARN, evaluate
from .snippets import snippets_for
from .views.network import filter_endpoints

workspaces = Router(tags=["workspaces"])
network = Router(tags=["vpcs and endpoints"])


def _errors(errors: dict[str, list[str]]):
    if errors:
        raise ValidationError(errors)


# -- workspaces ---------------------------------------------------------------------------------


class WorkspaceIn(Schema):
    slug: str
    name: str
    workspace_id: str
    region: str
    scope: str
    is_default: bool = False
    monthly_budget: float | None = None
    currency: str | None = None


class WorkspaceOut(Schema):
    slug: str
    name: str
    workspace_id: str
    region: str = Field(..., alias="region_id")
    scope: str
    is_default: bool
    monthly_budget: float | None
    currency: str


def _region(code: str, field: str = "region", model_studio: bool = False) -> Region:
    region = Region.objects.filter(pk=code).first()
    if region is None:
        known = ", ".join(Region.objects.filter(model_studio=True).values_list("code", flat=True))
        raise ValidationError({field: [f"Unknown region '{code}'. Model Studio regions: {known}."]})
    return region


@workspaces.get(
    "/workspaces",
    response=list[WorkspaceOut],
    summary="Workspaces you may see",
    auth=requires(Perm.VIEW_WORKSPACES),
)
def list_workspaces(request):
    return Workspace.objects.for_user(request.user)


@workspaces.post(
    "/workspaces",
    response={201: WorkspaceOut},
    summary="Register a workspace (admin)",
    auth=requires(Perm.MANAGE_WORKSPACES),
)
def create_workspace(request, payload: WorkspaceIn):
    region = _region(payload.region)
    workspace = Workspace(
        slug=payload.slug,
        name=payload.name,
        workspace_id=payload.workspace_id,
        region=region,
        scope=payload.scope,
        is_default=payload.is_default,
        monthly_budget=payload.monthly_budget,
        currency=payload.currency or region.currency,
    )
    workspace.full_clean()
    workspace.save()
    audit.record(request.user, "create", workspace, after=audit.snapshot(workspace), source="api")
    return Status(201, workspace)


class KeyIn(Schema):
    label: str
    secret: str


class KeyOut(Schema):
    id: int
    label: str
    fingerprint: str
    created_at: datetime
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None


class KeyCreated(Schema):
    id: int
    label: str
    fingerprint: str
    created_at: datetime
    warnings: list[str] = []


@workspaces.get(
    "/workspaces/{slug}/keys",
    response=list[KeyOut],
    summary="A workspace's keys (fingerprints only)",
)
def list_keys(request, slug: str):
    workspace = get_workspace_for_user(request.user, slug)
    return workspace.api_keys.all()


@workspaces.post(
    "/workspaces/{slug}/keys",
    response={201: KeyCreated},
    summary="Add a key (admin)",
    auth=requires(Perm.MANAGE_WORKSPACES),
)
def add_key(request, slug: str, payload: KeyIn):
    workspace = get_workspace_for_user(request.user, slug)
    secret = payload.secret.strip()
    errors, warnings = check_api_key_secret(secret)
    label = payload.label.strip()
    problems: dict[str, list[str]] = {}
    if errors:
        problems["secret"] = errors
    if not label or len(label) > 100:
        problems["label"] = ["Give the key a label of up to 100 characters."]
    _errors(problems)
    duplicate = ApiKey.objects.filter(
        secret_sha256=ApiKey.digest(secret), revoked_at__isnull=True
    ).first()
    if duplicate is not None:
        _errors(
            {
                "secret": [
                    f"This key is already stored as '{duplicate.label}' in {duplicate.workspace.name}."
                ]
            }
        )
    key = ApiKey(workspace=workspace, label=label, created_by=request.user)
    key.set_secret(secret)
    key.save()
    audit.record(request.user, "create", key, after=audit.snapshot(key), source="api")
    workspace.endpoints.all().reprobe_soon()
    return Status(
        201,
        {
            "id": key.pk,
            "label": key.label,
            "fingerprint": key.fingerprint,
            "created_at": key.created_at,
            "warnings": warnings,
        },
    )


@workspaces.delete(
    "/workspaces/{slug}/keys/{key_id}",
    response={204: None},
    summary="Revoke a key (admin)",
    auth=requires(Perm.MANAGE_WORKSPACES),
)
def revoke_key(request, slug: str, key_id: int):
    workspace = get_workspace_for_user(request.user, slug)
    get_object_or_404(ApiKey, pk=key_id, workspace=workspace).revoke(request.user, source="api")
    workspace.endpoints.all().reprobe_soon()
    return Status(204, None)


class ModelsBody(Schema):
    models: list[str]


@workspaces.get(
    "/workspaces/{slug}/models", response=ModelsBody, summary="Models the workspace may call"
)
def get_models(request, slug: str):
    workspace = get_workspace_for_user(request.user, slug)
    return {
        "models": list(workspace.callable_models().order_by("name").values_list("name", flat=True))
    }


@workspaces.put(
    "/workspaces/{slug}/models",
    response=ModelsBody,
    summary="Replace the grant set (admin)",
    auth=requires(Perm.MANAGE_WORKSPACES),
)
def put_models(request, slug: str, payload: ModelsBody):
    workspace = get_workspace_for_user(request.user, slug)
    workspace.set_grants(payload.models, request.user, source="api")
    workspace.endpoints.all().reprobe_soon()
    return {
        "models": list(workspace.callable_models().order_by("name").values_list("name", flat=True))
    }


# -- VPCs ---------------------------------------------------------------------------------------


class VpcIn(Schema):
    vpc_id: str
    name: str
    region: str
    cidr: str
    resolver: str = "100.100.2.136"
    host_overrides: dict[str, str] = {}
    connected_vpcs: list[str] = []


class VpcOut(Schema):
    vpc_id: str
    name: str
    region: str
    cidr: str
    resolver: str
    host_overrides: dict[str, str]
    connected_vpcs: list[str]


def _vpc_out(vpc: Vpc) -> dict:
    return {
        "vpc_id": vpc.vpc_id,
        "name": vpc.name,
        "region": vpc.region_id,
        "cidr": vpc.cidr,
        "resolver": vpc.resolver,
        "host_overrides": vpc.host_overrides,
        "connected_vpcs": sorted(v.vpc_id for v in vpc.connected_vpcs.all()),
    }


@network.get("/vpcs", response=list[VpcOut], summary="VPCs", auth=requires(Perm.VIEW_ENDPOINTS))
def list_vpcs(request):
    return [_vpc_out(v) for v in Vpc.objects.prefetch_related("connected_vpcs")]


@network.post(
    "/vpcs",
    response={201: VpcOut},
    summary="Register a VPC (admin)",
    auth=requires(Perm.MANAGE_ENDPOINTS),
)
def create_vpc(request, payload: VpcIn):
    region = _region(payload.region)
    vpc = Vpc(
        vpc_id=payload.vpc_id,
        name=payload.name,
        region=region,
        cidr=payload.cidr,
        resolver=payload.resolver,
        host_overrides={k.lower(): v for k, v in payload.host_overrides.items()},
    )
    connected = list(Vpc.objects.filter(vpc_id__in=payload.connected_vpcs))
    problems: dict[str, list[str]] = {}
    missing = sorted(set(payload.connected_vpcs) - {v.vpc_id for v in connected})
    if missing:
        problems["connected_vpcs"] = [f"Unknown VPC {', '.join(missing)}: register it first."]
    try:
        vpc.full_clean()
    except ValidationError as exc:
        for field, messages in exc.message_dict.items():
            problems.setdefault(field, []).extend(messages)
    if not problems.get("cidr"):
        overlaps = vpc.connection_problems(connected)
        if overlaps:
            problems.setdefault("connected_vpcs", []).extend(overlaps)
    _errors(problems)
    with transaction.atomic():
        vpc.save()
        vpc.connected_vpcs.set(connected)
    audit.record(request.user, "create", vpc, after=audit.snapshot(vpc), source="api")
    return Status(201, _vpc_out(vpc))


# -- endpoints ----------------------------------------------------------------------------------


class EndpointIn(Schema):
    name: str
    kind: str
    url: str
    region: str
    service_region: str | None = None
    vpc: str | None = None
    endpoint_vpc: str | None = None
    api_style: str | None = None
    zones: list[str] = []
    security_group: str = ""
    allows_80_443: bool | None = None
    workspace: str | None = None
    interval_s: int = 60
    latency_threshold_ms: int = 3000
    eas_token: str | None = None
    check_model: str | None = None
    model_call_check: bool = False
    enabled: bool = True


class EndpointOut(Schema):
    id: int
    name: str
    kind: str
    url: str
    base_url: str
    region: str
    service_region: str | None
    vpc: str | None
    endpoint_vpc: str | None
    api_style: str
    zones: list[str]
    security_group: str
    allows_80_443: bool | None
    workspace: str | None
    eas_token: str | None
    check_model: str | None
    model_call_check: bool
    interval_s: int
    latency_threshold_ms: int
    enabled: bool
    status: str
    diagnosis: str
    status_message: str
    last_probe_at: datetime | None
    warnings: list[str] = []


def _endpoint_out(endpoint: Endpoint, warnings=None) -> dict:
    return {
        "id": endpoint.pk,
        "name": endpoint.name,
        "kind": endpoint.kind,
        "url": endpoint.url,
        "base_url": endpoint.base_url,
        "region": endpoint.region_id,
        "service_region": endpoint.service_region_id,
        "vpc": endpoint.vpc.vpc_id if endpoint.vpc_id else None,
        "endpoint_vpc": endpoint.endpoint_vpc.vpc_id if endpoint.endpoint_vpc_id else None,
        "api_style": endpoint.api_style,
        "zones": endpoint.zones,
        "security_group": endpoint.security_group,
        "allows_80_443": endpoint.allows_80_443,
        "workspace": endpoint.workspace.slug if endpoint.workspace_id else None,
        "eas_token": endpoint.eas_token.fingerprint if endpoint.eas_token_id else None,
        "check_model": endpoint.check_model.name if endpoint.check_model_id else None,
        "model_call_check": endpoint.model_call_check,
        "interval_s": endpoint.interval_s,
        "latency_threshold_ms": endpoint.latency_threshold_ms,
        "enabled": endpoint.enabled,
        "status": endpoint.status,
        "diagnosis": endpoint.diagnosis,
        "status_message": endpoint.status_message,
        "last_probe_at": endpoint.last_probe_at,
        "warnings": [w.message for w in warnings or []],
    }


def _apply(endpoint: Endpoint, data: dict, user) -> None:
    """Set fields from API data, resolving references; raise ValidationError naming each problem."""
    problems: dict[str, list[str]] = {}
    for name in (
        "name",
        "kind",
        "api_style",
        "zones",
        "security_group",
        "interval_s",
        "latency_threshold_ms",
    ):
        if data.get(name) is not None:
            setattr(endpoint, name, data[name])
    for name in ("model_call_check", "enabled"):
        if data.get(name) is not None:
            setattr(endpoint, name, data[name])
    if "allows_80_443" in data:
        endpoint.allows_80_443 = data["allows_80_443"]  # None means "not confirmed"
    if data.get("url") is not None:
        endpoint.url = data["url"].strip()

    def lookup(field, model, lookup_field, value):
        if value in (None, ""):
            return None
        row = model.objects.filter(**{lookup_field: value}).first()
        if row is None:
            problems.setdefault(field, []).append(f"Unknown {field.replace('_', ' ')} '{value}'.")
        return row

    for field, model, key in (
        ("region", Region, "pk"),
        ("service_region", Region, "pk"),
        ("vpc", Vpc, "vpc_id"),
        ("endpoint_vpc", Vpc, "vpc_id"),
        ("workspace", Workspace, "slug"),
        ("check_model", CatalogModel, "name"),
    ):
        if field in data:
            setattr(endpoint, field, lookup(field, model, key, data[field]))
    if data.get("kind") and data["kind"] not in Kind.values:
        problems.setdefault("kind", []).append(
            f"Unknown kind '{data['kind']}'. Kinds: {', '.join(Kind.values)}."
        )
    if endpoint.kind not in EAS_KINDS:
        endpoint.eas_token = None  # only PAI-EAS endpoints keep a token (a kind change drops it)
    if endpoint.pk is None and not data.get("api_style"):
        endpoint.api_style = _default_style(endpoint)
    if data.get("eas_token"):
        errors, _ = check_eas_token(data["eas_token"].strip())
        if errors:
            problems.setdefault("eas_token", []).extend(errors)
        elif endpoint.region_id:
            token = EasToken(
                region_id=endpoint.region_id, label=f"{endpoint.name} token", created_by=user
            )
            token.set_secret(data["eas_token"].strip())
            endpoint.pending_eas_token = token
    _errors(problems)
    try:
        endpoint.full_clean(exclude=["host"])
    except ValidationError as exc:
        for field, messages in exc.message_dict.items():
            problems.setdefault(field, []).extend(messages)
    _errors(problems)


def _default_style(endpoint: Endpoint) -> str:
    """EAS kinds speak 'eas'; otherwise the URL's path tells (/api/v1: dashscope), else openai."""
    if endpoint.kind in EAS_KINDS:
        return ApiStyle.EAS
    try:
        return style_from_path(urlsplit(endpoint.url).path) or ApiStyle.OPENAI
    except ValueError:
        return ApiStyle.OPENAI


def _save(endpoint: Endpoint) -> None:
    with transaction.atomic():
        save_with_pending_token(endpoint)


@network.get(
    "/endpoints",
    response=list[EndpointOut],
    summary="Endpoints (filter by region, vpc, kind, status)",
    auth=requires(Perm.VIEW_ENDPOINTS),
)
def list_endpoints(
    request,
    region: str | None = None,
    vpc: str | None = None,
    kind: str | None = None,
    status: str | None = None,
    workspace: str | None = None,
    diagnosis: str | None = None,
    q: str | None = None,
    limit: int | None = None,
    offset: int = 0,
):
    params = {
        "region": region,
        "vpc": vpc,
        "kind": kind,
        "status": status,
        "workspace": workspace,
        "diagnosis": diagnosis,
        "q": q,
    }
    queryset = filter_endpoints(Endpoint.objects.all(), {k: v for k, v in params.items() if v})
    queryset = queryset.select_related(
        "vpc", "endpoint_vpc", "workspace", "eas_token", "check_model"
    ).order_by("pk")
    if limit is not None:
        queryset = queryset[offset : offset + max(0, limit)]
    elif offset:
        queryset = queryset[offset:]
    return [_endpoint_out(e) for e in queryset]


@network.post(
    "/endpoints",
    response={201: EndpointOut},
    summary="Register an endpoint (admin)",
    auth=requires(Perm.MANAGE_ENDPOINTS),
)
def create_endpoint(request, payload: EndpointIn):
    endpoint = Endpoint(created_by=request.user)
    _apply(endpoint, payload.dict(), request.user)
    _save(endpoint)
    audit.record(request.user, "create", endpoint, after=audit.snapshot(endpoint), source="api")
    warnings = [c for c in evaluate(endpoint) if c.state == WARN]
    return Status(201, _endpoint_out(endpoint, warnings))


@network.get(
    "/endpoints/{endpoint_id}",
    response=EndpointOut,
    summary="One endpoint",
    auth=requires(Perm.VIEW_ENDPOINTS),
)
def get_endpoint(request, endpoint_id: int):
    return _endpoint_out(get_endpoint_for_user(request.user, endpoint_id))


@network.patch(
    "/endpoints/{endpoint_id}",
    response=EndpointOut,
    summary="Change an endpoint (admin)",
    auth=requires(Perm.MANAGE_ENDPOINTS),
)
def patch_endpoint(request, endpoint_id: int, payload: PatchDict[EndpointIn]):
    endpoint = get_endpoint_for_user(request.user, endpoint_id)
    before = audit.snapshot(endpoint)
    _apply(endpoint, payload, request.user)
    endpoint.next_probe_at = timezone.now()  # see the effect of the change within seconds
    _save(endpoint)
    audit.record(
        request.user,
        "update",
        endpoint,
        before=before,
        after=audit.snapshot(endpoint),
        source="api",
    )
    warnings = [c for c in evaluate(endpoint) if c.state == WARN]
    return _endpoint_out(endpoint, warnings)


@network.delete(
    "/endpoints/{endpoint_id}",
    response={204: None},
    summary="Delete an endpoint (admin)",
    auth=requires(Perm.MANAGE_ENDPOINTS),
)
def delete_endpoint(request, endpoint_id: int):
    endpoint = get_endpoint_for_user(request.user, endpoint_id)
    audit.record(request.user, "delete", endpoint, before=audit.snapshot(endpoint), source="api")
    endpoint.delete()
    return Status(204, None)


class Snippets(Schema):
    curl: str
    openai_python: str
    dashscope_python: str
    anthropic_python: str | None = None


@network.get(
    "/endpoints/{endpoint_id}/snippets",
    response=Snippets,
    summary="Ready-to-paste code",
    auth=requires(Perm.VIEW_ENDPOINTS),
)
def get_snippets(request, endpoint_id: int):
    return snippets_for(get_endpoint_for_user(request.user, endpoint_id))


@network.get(
    "/endpoints/{endpoint_id}/probes",
    summary="Stored probe results, newest first",
    auth=requires(Perm.VIEW_ENDPOINTS),
)
def list_probes(request, endpoint_id: int, limit: int = 20):
    endpoint = get_endpoint_for_user(request.user, endpoint_id)
    limit = max(1, min(limit, 1000))
    return [r.as_json() for r in endpoint.probe_results.all()[:limit]]


class RunOut(Schema):
    run: str
    total: int


@network.post(
    "/endpoints/{endpoint_id}/probe",
    response={202: RunOut},
    summary="Probe now (ops, admin)",
    auth=requires(Perm.TRIGGER_PROBES),
)
def trigger_probe(request, endpoint_id: int):
    from .probe_runner import start_run
    from .tasks import fan_out

    endpoint = get_endpoint_for_user(request.user, endpoint_id)
    run = start_run([endpoint.pk], request.user)
    transaction.on_commit(lambda: fan_out([endpoint.pk], run_id=str(run.pk), source="manual"))
    audit.record(request.user, "probe", run, label=f"probe of {endpoint.name}", source="api")
    return Status(202, {"run": str(run.pk), "total": run.total})


routers = [("/", workspaces), ("/", network)]
