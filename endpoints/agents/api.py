"""The agents' API: enrolling agents (admins, with a personal token), and the protocol the
agents speak (with their own token): hello, lease, results, heartbeat.

An agent token answers only the protocol routes, a personal token only the others; a
revoked agent token is a 401 at once (the agent exits). docs/agent-protocol.md has the
shapes and which errors an agent retries.
"""

from datetime import datetime

from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404
from ninja import Field, Router, Schema, Status
from ninja.security import HttpBearer

from endpoints.network.models import Vpc
from portal.api import requires
from portal.roles import Perm

from . import services
from .models import Agent

router = Router(tags=["agents"])


class AgentAuth(HttpBearer):
    """`Authorization: Bearer apa_…`: the agent's own token (never a person's)."""

    openapi_description = "A probe agent's token (shown once when the agent was added)."

    def authenticate(self, request, token):
        agent = Agent.authenticate(token)
        if agent is not None:
            request.agent = agent
        return agent


AGENT = AgentAuth()


# -- enrolling (admins) ---------------------------------------------------------------------


class AgentIn(Schema):
    name: str = Field(..., max_length=60)


class AgentCreated(Schema):
    id: int
    name: str
    token: str = Field(..., description="Shown here once; the portal keeps only its digest.")


class AgentOut(Schema):
    id: int
    name: str
    version: str
    last_seen: datetime | None
    online: bool


def _vpc(request, vpc_id: str) -> Vpc:
    return get_object_or_404(Vpc.objects.for_user(request.user), vpc_id=vpc_id)


@router.post(
    "/vpcs/{vpc_id}/agents",
    response={201: AgentCreated},
    summary="Add a probe agent to a VPC (admin); its token is in this answer only",
    auth=requires(Perm.MANAGE_ENDPOINTS),
)
def add_agent(request, vpc_id: str, payload: AgentIn):
    agent, token = services.add_agent(
        _vpc(request, vpc_id), payload.name, actor=request.user, source="api"
    )
    return Status(201, {"id": agent.pk, "name": agent.name, "token": token})


@router.get(
    "/vpcs/{vpc_id}/agents",
    response=list[AgentOut],
    summary="A VPC's probe agents",
    auth=requires(Perm.VIEW_ENDPOINTS),
)
def list_agents(request, vpc_id: str):
    return [
        {
            "id": a.pk,
            "name": a.name,
            "version": a.version,
            "last_seen": a.last_seen_at,
            "online": services.is_online(a),
        }
        for a in _vpc(request, vpc_id).agents.active()
    ]


@router.delete(
    "/vpcs/{vpc_id}/agents/{agent_id}",
    response={204: None},
    summary="Revoke an agent's token (admin): it answers 401 at once",
    auth=requires(Perm.MANAGE_ENDPOINTS),
)
def revoke_agent(request, vpc_id: str, agent_id: int):
    agent = get_object_or_404(_vpc(request, vpc_id).agents.all(), pk=agent_id)
    services.revoke_agent(agent, actor=request.user, source="api")
    return Status(204, None)


# -- the protocol (agents) --------------------------------------------------------------------


class HelloIn(Schema):
    public_key: str = Field(..., max_length=64, description="X25519, base64")
    version: str = Field("", max_length=40)
    hostname: str = Field("", max_length=100)


class LeaseIn(Schema):
    capacity: int = Field(..., ge=0, le=services.MAX_LEASE)


class ResultIn(Schema):
    schedule: int = Field(..., ge=1)
    endpoint: int = Field(..., ge=1)
    lease: str | None = Field(None, max_length=40)
    slot: str | None = Field(None, max_length=40)
    run: str | None = Field(None, max_length=40)
    missing: str | None = Field(None, max_length=500)
    outcome: dict


class ResultsIn(Schema):
    results: list[ResultIn] = Field(..., max_length=services.MAX_RESULTS)


class HeartbeatIn(Schema):
    version: str = Field("", max_length=40)
    buffered: int = Field(0, ge=0, le=10**9)
    dropped: int = Field(0, ge=0, le=2**31 - 1)


def _agent(request) -> Agent:
    agent = getattr(request, "agent", None)
    if agent is None:  # a person's token on an agent's route
        raise PermissionDenied("Only a probe agent's token may speak the agent protocol.")
    return agent


@router.post("/agent/hello", summary="An agent starts: its key and version", auth=AGENT)
def hello(request, payload: HelloIn):
    return services.hello(_agent(request), **payload.dict())


@router.post("/agent/lease", summary="Due probes for the agent's VPC, leased to it", auth=AGENT)
def lease(request, payload: LeaseIn):
    return {"items": services.lease(_agent(request), payload.capacity), "poll_s": services.POLL_S}


@router.post("/agent/results", summary="What the agent found", auth=AGENT)
def results(request, payload: ResultsIn):
    return services.deliver(_agent(request), [r.dict() for r in payload.results])


@router.post(
    "/agent/heartbeat", summary="The agent is alive (and how full its buffer is)", auth=AGENT
)
def heartbeat(request, payload: HeartbeatIn):
    return services.heartbeat(_agent(request), **payload.dict())
