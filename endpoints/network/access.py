"""One access helper per object, used by the views and the API alike.

An object the user may not see is a 404 (not a 403), so its existence doesn't leak.
"""

from django.http import Http404
from django.shortcuts import get_object_or_404

from .models import Endpoint, Vpc


def pk_or_404(value) -> int:
    """An id from a URL or a form field; anything else is simply not found."""
    try:
        pk = int(value)
    except (TypeError, ValueError):
        raise Http404 from None
    if not 0 < pk < 2**63:
        raise Http404
    return pk


def get_endpoint_for_user(user, pk) -> Endpoint:
    queryset = Endpoint.objects.for_user(user).select_related(
        "region", "service_region", "vpc", "endpoint_vpc", "workspace", "eas_token", "check_model"
    )
    return get_object_or_404(queryset, pk=pk_or_404(pk))


def get_vpc_for_user(user, pk) -> Vpc:
    return get_object_or_404(Vpc.objects.for_user(user).select_related("region"), pk=pk_or_404(pk))
