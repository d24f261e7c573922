"""JSON API of probing: an endpoint's stored results, and probing it now."""

from typing import Annotated

from ninja import Field, Router, Schema, Status

from endpoints.network.access import get_endpoint_for_user
from portal.api import requires
from portal.roles import Perm

from . import services

router = Router(tags=["probes"])


@router.get(
    "/endpoints/{endpoint_id}/probes",
    summary="Stored probe results, newest first",
    auth=requires(Perm.VIEW_ENDPOINTS),
)
def list_probes(request, endpoint_id: int, limit: Annotated[int, Field(ge=1, le=1000)] = 20):
    endpoint = get_endpoint_for_user(request.user, endpoint_id)
    return [r.as_json() for r in endpoint.probe_results.all()[:limit]]


class RunOut(Schema):
    run: str
    total: int


class Unavailable(Schema):
    detail: str = Field(..., description="Why the probe could not be queued")


@router.post(
    "/endpoints/{endpoint_id}/probe",
    response={202: RunOut, 503: Unavailable},
    summary="Probe now (ops, admin)",
    auth=requires(Perm.TRIGGER_PROBES),
)
def trigger_probe(request, endpoint_id: int):
    endpoint = get_endpoint_for_user(request.user, endpoint_id)
    run = services.trigger_probe(
        [endpoint.pk], actor=request.user, label=f"probe of {endpoint.name}", source="api"
    )
    if run.error:  # the broker could not take it: say so now, not a run that never ends
        return Status(503, {"detail": run.error})
    return Status(202, {"run": str(run.pk), "total": run.total})
