"""JSON API of VPCs and endpoints.

The schemas derive from the models' `EDITABLE_FIELDS`; related rows travel by natural key
(a region's code, a VPC's ID, a workspace's slug, a model's name). Every write goes
through `services`, so the API refuses exactly what the forms refuse.
"""

from datetime import datetime
from typing import Annotated
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404
from ninja import Field, PatchDict, Query, Router, Schema, Status

from endpoints.engine.routes import style_from_path
from portal.api import requires
from portal.roles import Perm
from portal.schemas import input_schema, output_schema
from portal.workspaces import services as workspaces
from portal.workspaces.models import CatalogModel, Region, Workspace

from . import services
from .access import get_endpoint_for_user
from .choices import EAS_KINDS, ApiStyle, Diagnosis, Kind
from .choices import Status as EndpointStatus
from .filters import clean_filters, filter_endpoints
from .models import MAX_HOST_OVERRIDES, Endpoint, Vpc
from .rules import MAX_ZONES
from .signals import describe_endpoints
from .snippets import snippets_for

router = Router(tags=["vpcs and endpoints"])

# Related rows by natural key: field → (model, lookup, what it is called in messages).
REFERENCES = {
    "region": (Region, "pk", "region"),
    "service_region": (Region, "pk", "service region"),
    "vpc": (Vpc, "vpc_id", "vpc"),
    "endpoint_vpc": (Vpc, "vpc_id", "endpoint vpc"),
    "connected_vpcs": (Vpc, "vpc_id", "VPC"),
    "workspace": (Workspace, "slug", "workspace"),
    "check_model": (CatalogModel, "name", "check model"),
}
ZONES = Annotated[list[Annotated[str, Field(max_length=40)]], Field(max_length=MAX_ZONES)]
JSON_TYPES = {
    "zones": ZONES,
    "host_overrides": Annotated[
        dict[Annotated[str, Field(max_length=253)], Annotated[str, Field(max_length=1000)]],
        Field(max_length=MAX_HOST_OVERRIDES),
    ],
}


def _resolve(data: dict, problems: dict) -> dict:
    """Natural keys in `data` → rows; an unknown one is a field error."""
    resolved = {}
    for name, value in data.items():
        if name not in REFERENCES:
            resolved[name] = value
            continue
        model, lookup, noun = REFERENCES[name]
        if isinstance(value, list):
            rows = list(model.objects.filter(**{f"{lookup}__in": value}))
            missing = sorted(set(value) - {getattr(r, lookup) for r in rows})
            if missing:
                problems.setdefault(name, []).append(
                    f"Unknown {noun} {', '.join(missing)}: register it first."
                )
            resolved[name] = rows
        elif value in (None, ""):
            resolved[name] = None
        else:
            row = model.objects.filter(**{lookup: value}).first()
            if row is None:
                problems.setdefault(name, []).append(f"Unknown {noun} '{value}'.")
            resolved[name] = row
    return resolved


def _raise(problems: dict) -> None:
    if problems:
        raise ValidationError(problems)


# -- VPCs -----------------------------------------------------------------------------------

VpcIn = input_schema(
    Vpc, "VpcIn", Vpc.EDITABLE_FIELDS, references=REFERENCES, json_types=JSON_TYPES
)
VpcOut = output_schema(
    Vpc, "VpcOut", Vpc.EDITABLE_FIELDS, references=REFERENCES, json_types=JSON_TYPES
)


def _vpc_out(vpc: Vpc) -> dict:
    return {
        "vpc_id": vpc.vpc_id,
        "name": vpc.name,
        "region": vpc.region_id,
        "cidr": vpc.cidr,
        "resolver": vpc.resolver,
        "host_overrides": vpc.host_overrides,
        "connected_vpcs": sorted(v.vpc_id for v in vpc.connected_vpcs.all()),
        "probed_by": vpc.probed_by,
    }


def _apply_vpc(vpc: Vpc, data: dict) -> list[Vpc] | None:
    """Set the VPC's fields from API data; returns its CEN connections (None: unchanged)."""
    problems: dict[str, list[str]] = {}
    data = _resolve(data, problems)
    _raise(problems)
    connected = data.pop("connected_vpcs", None)
    if "host_overrides" in data and data["host_overrides"] is not None:
        data["host_overrides"] = {k.lower(): v for k, v in data["host_overrides"].items()}
    for name, value in data.items():
        if value is not None or name == "host_overrides":
            setattr(vpc, name, value if value is not None else {})
    return connected


@router.get("/vpcs", response=list[VpcOut], summary="VPCs", auth=requires(Perm.VIEW_ENDPOINTS))
def list_vpcs(request):
    return [
        _vpc_out(v) for v in Vpc.objects.for_user(request.user).prefetch_related("connected_vpcs")
    ]


@router.post(
    "/vpcs",
    response={201: VpcOut},
    summary="Register a VPC (admin)",
    auth=requires(Perm.MANAGE_ENDPOINTS),
)
def create_vpc(request, payload: VpcIn):
    vpc = Vpc()
    connected = _apply_vpc(vpc, payload.dict())
    services.save_vpc(vpc, connected or [], actor=request.user, source="api")
    return Status(201, _vpc_out(vpc))


def _vpc_for(request, vpc_id: str) -> Vpc:
    return get_object_or_404(Vpc.objects.for_user(request.user), vpc_id=vpc_id)


@router.get(
    "/vpcs/{vpc_id}", response=VpcOut, summary="One VPC", auth=requires(Perm.VIEW_ENDPOINTS)
)
def get_vpc(request, vpc_id: str):
    return _vpc_out(_vpc_for(request, vpc_id))


@router.patch(
    "/vpcs/{vpc_id}",
    response=VpcOut,
    summary="Change a VPC (admin)",
    auth=requires(Perm.MANAGE_ENDPOINTS),
)
def patch_vpc(request, vpc_id: str, payload: PatchDict[VpcIn]):
    vpc = _vpc_for(request, vpc_id)
    connected = _apply_vpc(vpc, dict(payload))
    services.save_vpc(vpc, connected, actor=request.user, source="api")
    return _vpc_out(vpc)


@router.delete(
    "/vpcs/{vpc_id}",
    response={204: None},
    summary="Delete a VPC no endpoint uses (admin)",
    auth=requires(Perm.MANAGE_ENDPOINTS),
)
def delete_vpc(request, vpc_id: str):
    services.delete_vpc(_vpc_for(request, vpc_id), actor=request.user, source="api")
    return Status(204, None)


# -- endpoints ------------------------------------------------------------------------------

EndpointIn = input_schema(
    Endpoint,
    "EndpointIn",
    Endpoint.EDITABLE_FIELDS,
    references=REFERENCES,
    json_types={"zones": ZONES},
    extra={
        # Omitted: told by the kind (PAI-EAS) or the URL's path (/api/v1: dashscope), else openai.
        "api_style": (
            str | None,
            Field(None, max_length=20, json_schema_extra={"enum": [*ApiStyle.values, None]}),
        ),
        # Write-only: a PAI-EAS service's token, stored encrypted.
        "eas_token": (str | None, Field(None, max_length=20_000)),
    },
)
EndpointOut = output_schema(
    Endpoint,
    "EndpointOut",
    Endpoint.EDITABLE_FIELDS,
    references=REFERENCES,
    json_types={"zones": list[str]},
    extra={
        "id": (int, ...),
        "base_url": (str, ...),
        "eas_token": (str | None, Field(None, description="The token's fingerprint")),
        "status": (str, ...),
        "diagnosis": (str, ...),
        "status_message": (str, ...),
        "last_probe_at": (datetime | None, ...),
        "latency_ms": (float | None, Field(None, description="The latest probe's total time")),
        # Time-weighted uptime in percent (null: nothing known yet), from the status app.
        "uptime_24h": (float | None, None),
        "uptime_7d": (float | None, None),
        "uptime_30d": (float | None, None),
        "warnings": (list[str], []),
    },
)
UPTIME_FIELDS = ("uptime_24h", "uptime_7d", "uptime_30d")


def endpoint_out(endpoint: Endpoint, warnings=None, extras=None) -> dict:
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
        "failure_threshold": endpoint.failure_threshold,
        "success_threshold": endpoint.success_threshold,
        "enabled": endpoint.enabled,
        "status": endpoint.status,
        "diagnosis": endpoint.diagnosis,
        "status_message": endpoint.status_message,
        "last_probe_at": endpoint.last_probe_at,
        "latency_ms": endpoint.last_total_ms,
        **dict.fromkeys(UPTIME_FIELDS),
        **(extras or {}),
        "warnings": [w.message for w in warnings or []],
    }


def endpoint_extras(endpoints) -> dict[int, dict]:
    """Fields the apps above add to each endpoint (uptime, from the status app), in bulk: one
    `describe_endpoints` signal per page, never a query per row."""
    merged: dict[int, dict] = {}
    for _, answer in describe_endpoints.send(Endpoint, endpoint_ids=[e.pk for e in endpoints]):
        for pk, fields in (answer or {}).items():
            merged.setdefault(pk, {}).update(fields)
    return merged


# Fields a PATCH may set to null: "not confirmed" and the optional references.
NULLABLE = {
    "allows_80_443",
    "service_region",
    "vpc",
    "endpoint_vpc",
    "workspace",
    "check_model",
    "failure_threshold",  # null: the portal's default
    "success_threshold",
}


def _apply_endpoint(endpoint: Endpoint, data: dict, user):
    """Set fields from API data (natural keys resolved); returns a new EAS token, if given."""
    problems: dict[str, list[str]] = {}
    for name, value in data.items():
        if value is None and name not in NULLABLE and name not in {"api_style", "eas_token"}:
            problems.setdefault(name, []).append("This field cannot be null.")
    data = _resolve({k: v for k, v in data.items() if k not in problems}, problems)
    if data.get("kind") and data["kind"] not in Kind.values:
        problems.setdefault("kind", []).append(
            f"Unknown kind '{data['kind']}'. Kinds: {', '.join(Kind.values)}."
        )
    if data.get("api_style") and data["api_style"] not in ApiStyle.values:
        problems.setdefault("api_style", []).append(
            f"Unknown API style '{data['api_style']}'. Styles: {', '.join(ApiStyle.values)}."
        )
    _raise(problems)
    secret = data.pop("eas_token", None)
    style = data.pop("api_style", None)
    for name, value in data.items():
        if name == "url" and value is not None:
            value = value.strip()
        setattr(endpoint, name, value)
    if style:
        endpoint.api_style = style
    elif endpoint.pk is None:
        endpoint.api_style = _default_style(endpoint)
    if secret:
        # A non-EAS kind keeps it only for the rules to refuse it, by field.
        region = endpoint.region if endpoint.region_id else None
        return workspaces.new_eas_token(region, f"{endpoint.name} token", secret, actor=user)
    return None


def _default_style(endpoint: Endpoint) -> str:
    """EAS kinds speak 'eas'; otherwise the URL's path tells (/api/v1: dashscope), else openai."""
    if endpoint.kind in EAS_KINDS:
        return ApiStyle.EAS
    try:
        return style_from_path(urlsplit(endpoint.url).path) or ApiStyle.OPENAI
    except ValueError:
        return ApiStyle.OPENAI


def _related(queryset):
    return queryset.select_related("vpc", "endpoint_vpc", "workspace", "eas_token", "check_model")


class EndpointFilters(Schema):
    region: str | None = Field(None, max_length=40)
    vpc: str | None = Field(None, max_length=50)
    kind: str | None = Field(None, max_length=30, json_schema_extra={"enum": Kind.values})
    status: str | None = Field(
        None, max_length=10, json_schema_extra={"enum": EndpointStatus.values}
    )
    workspace: str | None = Field(None, max_length=50)
    diagnosis: str | None = Field(None, max_length=40, json_schema_extra={"enum": Diagnosis.values})
    q: str | None = Field(None, max_length=200)
    limit: int | None = Field(None, ge=1, le=10_000)
    offset: int = Field(0, ge=0, le=10_000_000)


@router.get(
    "/endpoints",
    response=list[EndpointOut],
    summary="Endpoints (filter by region, vpc, kind, status, workspace, diagnosis, q)",
    auth=requires(Perm.VIEW_ENDPOINTS),
)
def list_endpoints(request, filters: Query[EndpointFilters]):
    params, problems = clean_filters(filters.dict())
    _raise(problems)  # ?status=bogus is a 400 with the reason, not an empty list
    queryset = filter_endpoints(Endpoint.objects.for_user(request.user), params)
    queryset = _related(queryset).order_by("pk")
    if filters.limit is not None:
        queryset = queryset[filters.offset : filters.offset + filters.limit]
    elif filters.offset:
        queryset = queryset[filters.offset :]
    endpoints = list(queryset)
    extras = endpoint_extras(endpoints)
    return [endpoint_out(e, extras=extras.get(e.pk)) for e in endpoints]


@router.post(
    "/endpoints",
    response={201: EndpointOut},
    summary="Register an endpoint (admin)",
    auth=requires(Perm.MANAGE_ENDPOINTS),
)
def create_endpoint(request, payload: EndpointIn):
    endpoint = Endpoint(created_by=request.user)
    token = _apply_endpoint(endpoint, payload.dict(), request.user)
    warnings = services.save_endpoint(endpoint, actor=request.user, source="api", eas_token=token)
    return Status(201, endpoint_out(endpoint, warnings))


@router.get(
    "/endpoints/{endpoint_id}",
    response=EndpointOut,
    summary="One endpoint",
    auth=requires(Perm.VIEW_ENDPOINTS),
)
def get_endpoint(request, endpoint_id: int):
    endpoint = get_endpoint_for_user(request.user, endpoint_id)
    return endpoint_out(endpoint, extras=endpoint_extras([endpoint]).get(endpoint.pk))


@router.patch(
    "/endpoints/{endpoint_id}",
    response=EndpointOut,
    summary="Change an endpoint (admin)",
    auth=requires(Perm.MANAGE_ENDPOINTS),
)
def patch_endpoint(request, endpoint_id: int, payload: PatchDict[EndpointIn]):
    endpoint = get_endpoint_for_user(request.user, endpoint_id)
    token = _apply_endpoint(endpoint, dict(payload), request.user)
    warnings = services.save_endpoint(endpoint, actor=request.user, source="api", eas_token=token)
    return endpoint_out(endpoint, warnings)


@router.delete(
    "/endpoints/{endpoint_id}",
    response={204: None},
    summary="Delete an endpoint (admin)",
    auth=requires(Perm.MANAGE_ENDPOINTS),
)
def delete_endpoint(request, endpoint_id: int):
    endpoint = get_endpoint_for_user(request.user, endpoint_id)
    services.delete_endpoint(endpoint, actor=request.user, source="api")
    return Status(204, None)


class Snippets(Schema):
    curl: str
    openai_python: str
    dashscope_python: str
    anthropic_python: str | None = None


@router.get(
    "/endpoints/{endpoint_id}/snippets",
    response=Snippets,
    summary="Ready-to-paste code",
    auth=requires(Perm.VIEW_ENDPOINTS),
)
def get_snippets(request, endpoint_id: int):
    return snippets_for(get_endpoint_for_user(request.user, endpoint_id))
