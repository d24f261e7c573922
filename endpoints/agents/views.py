"""The VPC page's "Agents" section (an htmx fragment): who probes from inside the VPC, how
they are doing, and "Add agent", which shows the commands with the token, once."""

import shlex

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import Count, Q
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from endpoints.network.access import get_vpc_for_user
from endpoints.network.choices import ProbedBy
from endpoints.probes.models import ProbeResult
from portal.roles import Perm, has_perm, require

from . import services
from .models import Agent, VpcWatch

WINDOW_MIN = 5  # results per minute are counted over the last five minutes


def _rows(vpc):
    since = timezone.now() - timezone.timedelta(minutes=WINDOW_MIN)
    counts = dict(
        ProbeResult.objects.filter(location=vpc.vpc_id, started_at__gte=since)
        .exclude(agent_id=None)
        .values("agent_id")
        .annotate(n=Count("id"))
        .values_list("agent_id", "n")
    )
    version = services.portal_version()
    return [
        {
            "agent": agent,
            "online": services.is_online(agent),
            "per_minute": round(counts.get(agent.pk, 0) / WINDOW_MIN, 1),
            "other_version": bool(agent.version) and agent.version != version,
        }
        for agent in vpc.agents.active().order_by("name")
    ]


def _commands(request, token: str) -> dict:
    portal = getattr(settings, "PORTAL_PUBLIC_URL", "") or request.build_absolute_uri("/")
    portal = portal.rstrip("/")
    env = f"PORTAL_URL={shlex.quote(portal)} PORTAL_AGENT_TOKEN={shlex.quote(token)}"
    return {
        "docker": (
            "docker run -d --name access-portal-agent --restart unless-stopped \\\n"
            f"  -e PORTAL_URL={shlex.quote(portal)} \\\n"
            f"  -e PORTAL_AGENT_TOKEN={shlex.quote(token)} \\\n"
            "  access-portal-agent:latest"
        ),
        "pip": f"pip install 'access-portal'\n{env} access-portal-agent",
    }


def _section(request, vpc, status=200, **extra):
    watch = VpcWatch.objects.filter(vpc=vpc).first()
    context = {
        "vpc": vpc,
        "rows": _rows(vpc),
        "watch": watch if vpc.probed_by == ProbedBy.AGENTS else None,
        "probed_by_agents": vpc.probed_by == ProbedBy.AGENTS,
        "can_manage": has_perm(request.user, Perm.MANAGE_ENDPOINTS),
        "portal_version": services.portal_version(),
        "revoked": vpc.agents.filter(~Q(revoked_at=None)).count(),
        **extra,
    }
    return render(request, "agents/agents_section.html", context, status=status)


@require(Perm.VIEW_ENDPOINTS)
def vpc_agents(request, pk):
    return _section(request, get_vpc_for_user(request.user, pk))


@require(Perm.MANAGE_ENDPOINTS)
@require_POST
def agent_add(request, pk):
    vpc = get_vpc_for_user(request.user, pk)
    try:
        agent, token = services.add_agent(vpc, request.POST.get("name", ""), actor=request.user)
    except ValidationError as exc:
        return _section(
            request,
            vpc,
            name_error=" ".join(exc.message_dict.get("name", exc.messages)),
            name=request.POST.get("name", "")[:60],
            status=422,
        )
    return _section(request, vpc, new_agent=agent, token=token, commands=_commands(request, token))


@require(Perm.MANAGE_ENDPOINTS)
@require_POST
def agent_revoke(request, pk, agent_id):
    vpc = get_vpc_for_user(request.user, pk)
    services.revoke_agent(get_object_or_404(Agent, pk=agent_id, vpc=vpc), actor=request.user)
    return _section(request, vpc)
