"""JSON API of workspaces, their keys and their model grants.

The schemas derive from `Workspace.EDITABLE_FIELDS`; every write goes through `services`,
so the API refuses exactly what the pages refuse.
"""

from datetime import datetime
from typing import Annotated

from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404
from ninja import Field, Router, Schema, Status

from portal.api import requires
from portal.roles import Perm
from portal.schemas import input_schema

from . import services
from .access import get_workspace_for_user
from .choices import Currency
from .models import ApiKey, Region, Workspace

router = Router(tags=["workspaces"])

_FIELDS = Workspace.EDITABLE_FIELDS
WorkspaceIn = input_schema(
    Workspace,
    "WorkspaceIn",
    _FIELDS,
    references=("region",),
    # Omitted: the region's own currency (CNY in the mainland, USD elsewhere).
    extra={
        "currency": (
            str | None,
            Field(None, max_length=3, json_schema_extra={"enum": [*Currency.values, None]}),
        )
    },
)


class WorkspaceOut(Schema):
    slug: str
    name: str
    workspace_id: str
    region: str = Field(..., alias="region_id")
    scope: str
    is_default: bool
    monthly_budget: float | None
    currency: str


def region_or_error(code: str, field: str = "region") -> Region:
    region = Region.objects.filter(pk=code).first()
    if region is None:
        known = ", ".join(Region.objects.filter(model_studio=True).values_list("code", flat=True))
        raise ValidationError({field: [f"Unknown region '{code}'. Model Studio regions: {known}."]})
    return region


@router.get(
    "/workspaces",
    response=list[WorkspaceOut],
    summary="Workspaces you may see",
    auth=requires(Perm.VIEW_WORKSPACES),
)
def list_workspaces(request):
    return Workspace.objects.for_user(request.user)


@router.post(
    "/workspaces",
    response={201: WorkspaceOut},
    summary="Register a workspace (admin)",
    auth=requires(Perm.MANAGE_WORKSPACES),
)
def create_workspace(request, payload: WorkspaceIn):
    data = payload.dict()
    region = region_or_error(data.pop("region"))
    workspace = Workspace(
        **{**data, "region": region, "currency": data["currency"] or region.currency}
    )
    services.save_workspace(workspace, actor=request.user, source="api")
    return Status(201, workspace)


# -- keys -----------------------------------------------------------------------------------


class KeyIn(Schema):
    label: str = Field(..., max_length=100)
    secret: str = Field(..., max_length=20_000)


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


@router.get(
    "/workspaces/{slug}/keys",
    response=list[KeyOut],
    summary="A workspace's keys (fingerprints only)",
    auth=requires(Perm.VIEW_WORKSPACES),
)
def list_keys(request, slug: str):
    return get_workspace_for_user(request.user, slug).api_keys.all()


@router.post(
    "/workspaces/{slug}/keys",
    response={201: KeyCreated},
    summary="Add a key (admin)",
    auth=requires(Perm.MANAGE_WORKSPACES),
)
def add_key(request, slug: str, payload: KeyIn):
    workspace = get_workspace_for_user(request.user, slug)
    key, warnings = services.add_key(
        workspace, payload.label, payload.secret, actor=request.user, source="api"
    )
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


@router.delete(
    "/workspaces/{slug}/keys/{key_id}",
    response={204: None},
    summary="Revoke a key (admin)",
    auth=requires(Perm.MANAGE_WORKSPACES),
)
def revoke_key(request, slug: str, key_id: int):
    workspace = get_workspace_for_user(request.user, slug)
    key = get_object_or_404(ApiKey, pk=key_id, workspace=workspace)
    services.revoke_key(key, actor=request.user, source="api")
    return Status(204, None)


# -- model grants ---------------------------------------------------------------------------


class ModelsBody(Schema):
    models: list[Annotated[str, Field(max_length=80)]] = Field(..., max_length=500)


def _callable(workspace) -> dict:
    names = workspace.callable_models().order_by("name").values_list("name", flat=True)
    return {"models": list(names)}


@router.get(
    "/workspaces/{slug}/models",
    response=ModelsBody,
    summary="Models the workspace may call",
    auth=requires(Perm.VIEW_WORKSPACES),
)
def get_models(request, slug: str):
    return _callable(get_workspace_for_user(request.user, slug))


@router.put(
    "/workspaces/{slug}/models",
    response=ModelsBody,
    summary="Replace the grant set (admin)",
    auth=requires(Perm.MANAGE_WORKSPACES),
)
def put_models(request, slug: str, payload: ModelsBody):
    workspace = get_workspace_for_user(request.user, slug)
    services.set_grants(workspace, payload.models, actor=request.user, source="api")
    return _callable(workspace)
