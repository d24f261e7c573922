"""Who may do what. Every role check in views, the API and templates goes through here.

Roles are coarse on purpose (three kinds of people use the portal); what a team lead
sees inside a permitted area is narrowed further by `for_user()` querysets. A kernel
module: it imports no app, so every app (and the audit log) may use it.
"""

from enum import StrEnum
from functools import wraps

from django.core.exceptions import PermissionDenied
from django.db import models


class Role(models.TextChoices):
    """The three kinds of people who use the portal (what each may do: ROLE_PERMS below)."""

    ADMIN = "admin", "Admin"
    OPS = "ops", "Ops"
    LEAD = "lead", "Team lead"


class Perm(StrEnum):
    VIEW_ENDPOINTS = "view_endpoints"
    MANAGE_ENDPOINTS = "manage_endpoints"
    TRIGGER_PROBES = "trigger_probes"
    VIEW_WORKSPACES = "view_workspaces"
    MANAGE_WORKSPACES = "manage_workspaces"
    VIEW_COSTS = "view_costs"
    MANAGE_COSTS = "manage_costs"  # prices, usage ingest, every bill import
    IMPORT_BILLS = "import_bills"  # upload a bill: leads, for the workspaces they lead only
    VIEW_AUDIT = "view_audit"


ROLE_PERMS: dict[str, frozenset[Perm]] = {
    Role.ADMIN: frozenset(Perm),
    Role.OPS: frozenset({Perm.VIEW_ENDPOINTS, Perm.TRIGGER_PROBES, Perm.VIEW_WORKSPACES}),
    Role.LEAD: frozenset({Perm.VIEW_WORKSPACES, Perm.VIEW_COSTS, Perm.IMPORT_BILLS}),
}


def has_perm(user, perm: Perm) -> bool:
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    return perm in ROLE_PERMS.get(user.role, frozenset())


def perms_for(user) -> frozenset[Perm]:
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return frozenset()
    return ROLE_PERMS.get(user.role, frozenset())


def require(perm: Perm):
    """View decorator: anonymous users go to the login page, others without `perm` get 403."""

    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if not request.user.is_authenticated:
                from django.contrib.auth.views import redirect_to_login  # needs the User model

                return redirect_to_login(request.get_full_path())
            if not has_perm(request.user, perm):
                raise PermissionDenied(
                    f"Your role ({request.user.get_role_display()}) cannot do this."
                )
            return view(request, *args, **kwargs)

        wrapped.required_perm = perm
        return wrapped

    return decorator


def home_url_name(user) -> str:
    """Where each role lands after signing in."""
    if has_perm(user, Perm.VIEW_ENDPOINTS):
        return "probe-board"
    if has_perm(user, Perm.VIEW_COSTS):
        return "cost-split"  # a team lead: what their workspaces spend
    return "workspace-list"


def ensure(user, perm: Perm) -> None:
    """Raise PermissionDenied unless `user` has `perm` (the API's 403, the views' 403)."""
    if not has_perm(user, perm):
        role = user.get_role_display() if getattr(user, "is_authenticated", False) else "anonymous"
        raise PermissionDenied(f"The {role} role may not {perm.replace('_', ' ')}.")
