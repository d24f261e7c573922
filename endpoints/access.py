"""One access helper per object, used by the views and the API alike.

An object the user may not see is a 404 (not a 403), so its existence doesn't leak.
"""

from django.http import Http404
from django.shortcuts import get_object_or_404

from .models import Endpoint, Vpc, Workspace


def get_workspace_for_user(user, slug: str) -> Workspace:
    return get_object_or_404(Workspace.objects.for_user(user).select_related("region"), slug=slug)


def _pk(value) -> int:
    """An id from a URL or a form field; anything else is simply not found."""
    try:
        return int(value)
    except (TypeError, ValueError):
        raise Http404 from None


def get_endpoint_for_user(user, pk: int) -> Endpoint:
    queryset = Endpoint.objects.for_user(user).select_related(
        "region", "service_region", "vpc", "endpoint_vpc", "workspace", "eas_token", "check_model"
    )
    return get_object_or_404(queryset, pk=_pk(pk))


def get_vpc_for_user(user, pk: int) -> Vpc:
    return get_object_or_404(Vpc.objects.for_user(user).select_related("region"), pk=_pk(pk))
