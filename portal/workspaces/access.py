"""The access helper for workspaces, used by views and the API alike.

A workspace the user may not see is a 404 (not a 403), so its existence doesn't leak.
"""

from django.shortcuts import get_object_or_404

from .models import Workspace


def get_workspace_for_user(user, slug: str) -> Workspace:
    return get_object_or_404(Workspace.objects.for_user(user).select_related("region"), slug=slug)
