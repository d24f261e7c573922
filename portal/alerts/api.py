"""JSON API of alert channels (admin): list, create, send a test. Never returns a secret or
a target's token."""

from datetime import datetime

from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404
from ninja import Field, Router, Schema, Status

from endpoints.network.access import pk_or_404
from endpoints.network.models import Vpc
from portal.api import requires
from portal.roles import Perm
from portal.workspaces.models import Workspace

from . import services
from .models import MAX_EVENTS, Channel

router = Router(tags=["alerts"])


class ChannelIn(Schema):
    name: str = Field(..., min_length=1, max_length=100)
    kind: str = Field(
        ..., max_length=10, description="email, webhook, dingtalk, feishu, wecom, slack"
    )
    target: str = Field(
        ..., min_length=1, max_length=services.MAX_TARGET, description="URL or e-mail address"
    )
    secret: str | None = Field(
        None, max_length=services.MAX_SECRET, description="Signing secret (write-only)"
    )
    events: list[str] | None = Field(None, max_length=MAX_EVENTS, description="Default: all")
    vpcs: list[str] = Field(default_factory=list, max_length=services.MAX_SCOPE)
    workspaces: list[str] = Field(default_factory=list, max_length=services.MAX_SCOPE)
    remind_every_min: int | None = Field(None, ge=0, le=2_147_483_647)
    enabled: bool = True


class ChannelOut(Schema):
    id: int
    name: str
    kind: str
    target: str = Field(..., description="Masked")
    has_secret: bool
    events: list[str]
    vpcs: list[str]
    workspaces: list[str]
    remind_every_min: int | None
    enabled: bool
    state: str
    last_error: str | None
    last_error_at: datetime | None
    last_sent_at: datetime | None


class TestOut(Schema):
    state: str
    error: str | None


def _channels(user):
    return Channel.objects.for_user(user).prefetch_related("vpcs", "workspaces")


def _rows(model, lookup, values, field, problems):
    rows = list(model.objects.filter(**{f"{lookup}__in": values}))
    missing = sorted(set(values) - {getattr(r, lookup) for r in rows})
    if missing:
        problems[field] = [f"Unknown {field[:-1]} {', '.join(missing[:10])}."]
    return rows


@router.get(
    "/channels",
    response=list[ChannelOut],
    summary="Alert channels (admin)",
    auth=requires(Perm.MANAGE_ENDPOINTS),
)
def list_channels(request):
    return [c.as_json() for c in _channels(request.user)]


@router.post(
    "/channels",
    response={201: ChannelOut},
    summary="Add an alert channel (admin)",
    auth=requires(Perm.MANAGE_ENDPOINTS),
)
def create_channel(request, payload: ChannelIn):
    problems: dict[str, list[str]] = {}
    vpcs = _rows(Vpc, "vpc_id", payload.vpcs, "vpcs", problems)
    workspaces = _rows(Workspace, "slug", payload.workspaces, "workspaces", problems)
    if problems:
        raise ValidationError(problems)
    channel = Channel(
        name=payload.name.strip(),
        kind=payload.kind,
        remind_every_min=payload.remind_every_min or None,
        enabled=payload.enabled,
    )
    services.save_channel(
        channel,
        actor=request.user,
        target=payload.target,
        secret=payload.secret or "",
        events=payload.events,
        vpcs=vpcs,
        workspaces=workspaces,
        source="api",
    )
    return Status(201, _channels(request.user).get(pk=channel.pk).as_json())


@router.post(
    "/channels/{channel_id}/test",
    response=TestOut,
    summary="Send a test message now (admin)",
    auth=requires(Perm.MANAGE_ENDPOINTS),
)
def test_channel(request, channel_id: int):
    channel = get_object_or_404(_channels(request.user), pk=pk_or_404(channel_id))
    notification = services.send_test(channel, actor=request.user, source="api")
    return {"state": notification.state, "error": notification.last_error or None}
