"""JSON API of status over time: incidents (and acknowledging them), maintenance windows."""

from datetime import datetime

from django.shortcuts import get_object_or_404
from ninja import Field, Query, Router, Schema, Status

from endpoints.network.access import pk_or_404
from endpoints.network.models import Endpoint, Vpc
from portal.api import requires
from portal.roles import Perm

from . import services
from .models import MAX_NOTE, Incident, MaintenanceWindow

router = Router(tags=["status"])


class EndpointRef(Schema):
    id: int
    name: str


class IncidentOut(Schema):
    id: int
    endpoint: EndpointRef | None
    vpc: str | None
    scope: str
    status: str
    diagnosis: str
    message: str
    opened_at: datetime
    escalated_at: datetime | None
    closed_at: datetime | None
    duration_s: int
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    note: str
    results_total: int
    results_bad: int


def _incidents(user):
    return Incident.objects.for_user(user).select_related("endpoint", "vpc", "acknowledged_by")


@router.get(
    "/incidents",
    response=list[IncidentOut],
    summary="Incidents, newest first (open=true: the open ones)",
    auth=requires(Perm.VIEW_ENDPOINTS),
)
def list_incidents(
    request,
    open: bool | None = None,
    endpoint: int | None = Query(None, ge=1, le=2**62),
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0, le=10_000_000),
):
    queryset = _incidents(request.user)
    if open is True:
        queryset = queryset.open()
    elif open is False:
        queryset = queryset.filter(closed_at__isnull=False)
    if endpoint is not None:
        queryset = queryset.filter(endpoint_id=endpoint)
    return [i.as_json() for i in queryset[offset : offset + limit]]


class AckIn(Schema):
    note: str = Field("", max_length=MAX_NOTE)


@router.post(
    "/incidents/{incident_id}/ack",
    response=IncidentOut,
    summary="Acknowledge an incident, with a note (ops, admin)",
    auth=requires(Perm.TRIGGER_PROBES),
)
def acknowledge(request, incident_id: int, payload: AckIn):
    incident = get_object_or_404(_incidents(request.user), pk=pk_or_404(incident_id))
    incident = services.acknowledge(incident, actor=request.user, note=payload.note, source="api")
    return _incidents(request.user).get(pk=incident.pk).as_json()


# -- maintenance ------------------------------------------------------------------------------


class WindowIn(Schema):
    name: str = Field(..., min_length=1, max_length=100)
    endpoint: int | None = Field(None, ge=1, le=2**62, description="An endpoint's id")
    vpc: str | None = Field(None, max_length=50, description="A VPC's ID (vpc-…)")
    starts_at: datetime
    ends_at: datetime
    recurrence: str = Field("", max_length=10, description='"", DAILY, WEEKLY or MONTHLY')
    repeat_until: datetime | None = None
    timezone: str = Field("UTC", max_length=60)


class WindowOut(Schema):
    id: int
    name: str
    endpoint: int | None
    vpc: str | None
    starts_at: datetime
    ends_at: datetime
    recurrence: str
    repeat_until: datetime | None
    timezone: str


def _window_out(window: MaintenanceWindow) -> dict:
    return {
        "id": window.pk,
        "name": window.name,
        "endpoint": window.endpoint_id,
        "vpc": window.vpc.vpc_id if window.vpc_id else None,
        "starts_at": window.starts_at,
        "ends_at": window.ends_at,
        "recurrence": window.recurrence,
        "repeat_until": window.repeat_until,
        "timezone": window.timezone,
    }


@router.get(
    "/maintenance",
    response=list[WindowOut],
    summary="Maintenance windows",
    auth=requires(Perm.VIEW_ENDPOINTS),
)
def list_windows(request, limit: int = Query(200, ge=1, le=1000)):
    windows = MaintenanceWindow.objects.for_user(request.user).select_related("vpc")[:limit]
    return [_window_out(w) for w in windows]


@router.post(
    "/maintenance",
    response={201: WindowOut},
    summary="Plan a maintenance window (admin)",
    auth=requires(Perm.MANAGE_ENDPOINTS),
)
def create_window(request, payload: WindowIn):
    from django.core.exceptions import ValidationError

    data = payload.dict()
    problems = {}
    endpoint = vpc = None
    if data["endpoint"] is not None:
        endpoint = Endpoint.objects.filter(pk=data["endpoint"]).first()
        if endpoint is None:
            problems["endpoint"] = [f"Unknown endpoint {data['endpoint']}."]
    if data["vpc"]:
        vpc = Vpc.objects.filter(vpc_id=data["vpc"]).first()
        if vpc is None:
            problems["vpc"] = [f"Unknown VPC '{data['vpc']}'."]
    if problems:
        raise ValidationError(problems)
    window = MaintenanceWindow(
        name=data["name"],
        endpoint=endpoint,
        vpc=vpc,
        starts_at=data["starts_at"],
        ends_at=data["ends_at"],
        recurrence=data["recurrence"],
        repeat_until=data["repeat_until"],
        timezone=data["timezone"],
    )
    services.save_window(window, actor=request.user, source="api")
    return Status(201, _window_out(window))
