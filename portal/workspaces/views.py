"""Workspace pages: list, create/edit, detail with keys, model grid and members (htmx partials)."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Count, Q, Sum
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRedirect

from portal.forms import style_widgets
from portal.htmx import page_or_fragment
from portal.roles import Perm, has_perm, require

from . import services
from .access import get_workspace_for_user
from .forms import ApiKeyForm, MemberForm, WorkspaceForm
from .models import ApiKey, CatalogModel, Membership, Region, Workspace


@require(Perm.VIEW_WORKSPACES)
def workspace_list(request):
    workspaces = (
        Workspace.objects.for_user(request.user)
        .select_related("region")
        .annotate(
            key_count=Count("api_keys", filter=Q(api_keys__revoked_at__isnull=True), distinct=True),
            grant_count=Count("grants", distinct=True),
            endpoint_count=Count("endpoints", distinct=True),
        )
        .prefetch_related("memberships__user")
    )
    return render(request, "workspaces/workspace_list.html", {"workspaces": workspaces})


@require(Perm.MANAGE_WORKSPACES)
def workspace_create(request):
    form = WorkspaceForm(request.POST or None, initial={"region": request.GET.get("region")})
    if request.method == "POST" and form.is_valid():
        workspace = services.save_workspace(form.instance, actor=request.user)
        messages.success(request, f"Workspace {workspace.name} registered. Add its API key next.")
        return redirect("workspace-detail", slug=workspace.slug)
    return _render_form(request, form, None)


@require(Perm.MANAGE_WORKSPACES)
def workspace_edit(request, slug):
    workspace = get_workspace_for_user(request.user, slug)
    form = WorkspaceForm(request.POST or None, instance=workspace)
    if request.method == "POST" and form.is_valid():
        workspace = services.save_workspace(form.instance, actor=request.user)
        messages.success(request, f"Saved {workspace.name}.")
        return redirect("workspace-detail", slug=workspace.slug)
    return _render_form(request, form, workspace)


def _render_form(request, form, workspace):
    style_widgets(form)
    status = 422 if form.is_bound and form.errors else 200
    template = page_or_fragment(request, "workspaces/workspace_form.html", "workspace-form")
    return render(request, template, {"form": form, "workspace": workspace}, status=status)


@require(Perm.MANAGE_WORKSPACES)
def scope_options(request):
    """The scope <select> for the chosen region (htmx, when the region changes)."""
    region = Region.objects.filter(pk=request.GET.get("region")).first()
    choices = region.scope_choices() if region else []
    return render(
        request,
        "workspaces/workspace_form.html#scope-options",
        {"choices": choices, "selected": request.GET.get("scope", "")},
    )


@require(Perm.VIEW_WORKSPACES)
def workspace_detail(request, slug):
    workspace = get_workspace_for_user(request.user, slug)
    return render(request, "workspaces/workspace_detail.html", _detail_context(request, workspace))


def _detail_context(request, workspace, **extra):
    spent = None
    if has_perm(request.user, Perm.VIEW_COSTS):
        month_start = timezone.localdate().replace(day=1)
        spent = (
            workspace.usage.filter(day__gte=month_start).aggregate(total=Sum("cost"))["total"] or 0
        )
    context = {
        "workspace": workspace,
        "keys": workspace.api_keys.select_related("created_by"),
        "key_form": style_widgets(ApiKeyForm()),
        "member_form": style_widgets(MemberForm()),
        "members": workspace.memberships.select_related("user").order_by(
            "-is_lead", "user__username"
        ),
        "grid": _model_grid(workspace),
        "endpoints": workspace.endpoints.select_related("region", "vpc").order_by("name")[:50],
        "month_spent": spent,
        "can_manage": has_perm(request.user, Perm.MANAGE_WORKSPACES),
    }
    context.update(extra)
    return context


def _model_grid(workspace):
    """Each catalog model of the region with whether this workspace may call it."""
    offered = list(CatalogModel.objects.offered_in(workspace.region_id).order_by("family", "name"))
    granted = set(workspace.grants.values_list("model_id", flat=True))
    return [{"model": m, "on": workspace.is_default or m.pk in granted} for m in offered]


@require(Perm.MANAGE_WORKSPACES)
@require_POST
def model_toggle(request, slug, model_name):
    workspace = get_workspace_for_user(request.user, slug)
    model = get_object_or_404(CatalogModel, name=model_name)
    error = None
    try:
        on = services.toggle_grant(workspace, model, actor=request.user)
    except ValidationError as exc:  # explain in the cell; nothing changed
        error = " ".join(exc.messages)
        on = workspace.grants.filter(model=model).exists()
    return render(
        request,
        "workspaces/workspace_detail.html#grant-cell",
        {
            "workspace": workspace,
            "cell": {"model": model, "on": on},
            "can_manage": True,
            "error": error,
        },
    )


@sensitive_post_parameters("secret")
@require(Perm.MANAGE_WORKSPACES)
@require_POST
def key_add(request, slug):
    workspace = get_workspace_for_user(request.user, slug)
    form = style_widgets(ApiKeyForm(request.POST))
    context = {"workspace": workspace, "can_manage": True}
    if not form.is_valid():
        return render(
            request,
            "workspaces/workspace_detail.html#keys-section",
            {**context, "keys": workspace.api_keys.all(), "key_form": form},
            status=422,
        )
    try:
        key, warnings = services.add_key(
            workspace, form.cleaned_data["label"], form.cleaned_data["secret"], actor=request.user
        )
    except ValidationError as exc:
        for field, errors in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
        return render(
            request,
            "workspaces/workspace_detail.html#keys-section",
            {**context, "keys": workspace.api_keys.all(), "key_form": form},
            status=422,
        )
    return render(
        request,
        "workspaces/workspace_detail.html#keys-section",
        {
            **context,
            "keys": workspace.api_keys.all(),
            "key_form": style_widgets(ApiKeyForm()),
            "added_key": key,
            "key_warnings": warnings,
        },
    )


@require(Perm.MANAGE_WORKSPACES)
@require_POST
def key_revoke(request, slug, pk):
    workspace = get_workspace_for_user(request.user, slug)
    services.revoke_key(get_object_or_404(ApiKey, pk=pk, workspace=workspace), actor=request.user)
    return render(
        request,
        "workspaces/workspace_detail.html#keys-section",
        {
            "workspace": workspace,
            "keys": workspace.api_keys.all(),
            "key_form": style_widgets(ApiKeyForm()),
            "can_manage": True,
        },
    )


@require(Perm.MANAGE_WORKSPACES)
@require_POST
def member_add(request, slug):
    workspace = get_workspace_for_user(request.user, slug)
    form = style_widgets(MemberForm(request.POST))
    if form.is_valid():
        try:
            services.add_member(
                workspace,
                form.cleaned_data["username"],
                is_lead=form.cleaned_data["is_lead"],
                actor=request.user,
            )
        except ValidationError as exc:
            form.add_error("username", exc.message_dict.get("username", exc.messages))
        else:
            form = style_widgets(MemberForm())
    return _members_section(request, workspace, form, status=200 if not form.errors else 422)


@require(Perm.MANAGE_WORKSPACES)
@require_POST
def member_remove(request, slug, pk):
    workspace = get_workspace_for_user(request.user, slug)
    membership = get_object_or_404(Membership, pk=pk, workspace=workspace)
    services.remove_member(membership, actor=request.user)
    return _members_section(request, workspace, style_widgets(MemberForm()))


def _members_section(request, workspace, form, status=200):
    return render(
        request,
        "workspaces/workspace_detail.html#members-section",
        {
            "workspace": workspace,
            "members": workspace.memberships.select_related("user").order_by(
                "-is_lead", "user__username"
            ),
            "member_form": form,
            "can_manage": True,
        },
        status=status,
    )


@require(Perm.MANAGE_WORKSPACES)
def workspace_delete(request, slug):
    workspace = get_workspace_for_user(request.user, slug)
    if workspace.endpoints.exists():
        messages.error(
            request, f"{workspace.name} is used by endpoints' probes; point them elsewhere first."
        )
        return redirect("workspace-detail", slug=slug)
    if request.method == "POST":
        name = workspace.name
        try:
            services.delete_workspace(workspace, actor=request.user)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            return redirect("workspace-detail", slug=slug)
        messages.success(request, f"Workspace {name} deleted from the portal.")
        if request.htmx:
            return HttpResponseClientRedirect("/workspaces/")
        return redirect("workspace-list")
    return render(
        request, "components/confirm_delete.html", {"object": workspace, "kind": "workspace"}
    )
