"""Workspace pages: list, create/edit, detail with keys, model grid and members (htmx partials)."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Q, Sum
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRedirect

from portal import audit
from portal.htmx import page_or_fragment
from portal.roles import Perm, has_perm, require

from ..access import get_workspace_for_user
from ..forms import ApiKeyForm, MemberForm, WorkspaceForm, style_widgets
from ..models import ApiKey, CatalogModel, Membership, Region, UsageRecord, Workspace


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
    return render(request, "endpoints/workspace_list.html", {"workspaces": workspaces})


@require(Perm.MANAGE_WORKSPACES)
def workspace_create(request):
    form = WorkspaceForm(request.POST or None, initial={"region": request.GET.get("region")})
    if request.method == "POST" and form.is_valid():
        workspace = form.save()
        audit.record(request.user, "create", workspace, after=audit.snapshot(workspace))
        messages.success(request, f"Workspace {workspace.name} registered. Add its API key next.")
        return redirect("workspace-detail", slug=workspace.slug)
    return _render_form(request, form, None)


@require(Perm.MANAGE_WORKSPACES)
def workspace_edit(request, slug):
    workspace = get_workspace_for_user(request.user, slug)
    before = audit.snapshot(workspace)
    form = WorkspaceForm(request.POST or None, instance=workspace)
    if request.method == "POST" and form.is_valid():
        workspace = form.save()
        audit.record(
            request.user, "update", workspace, before=before, after=audit.snapshot(workspace)
        )
        messages.success(request, f"Saved {workspace.name}.")
        return redirect("workspace-detail", slug=workspace.slug)
    return _render_form(request, form, workspace)


def _render_form(request, form, workspace):
    style_widgets(form)
    status = 422 if form.is_bound and form.errors else 200
    template = page_or_fragment(request, "endpoints/workspace_form.html", "workspace-form")
    return render(request, template, {"form": form, "workspace": workspace}, status=status)


@require(Perm.MANAGE_WORKSPACES)
def scope_options(request):
    """The scope <select> for the chosen region (htmx, when the region changes)."""
    region = Region.objects.filter(pk=request.GET.get("region")).first()
    choices = region.scope_choices() if region else []
    return render(
        request,
        "endpoints/workspace_form.html#scope-options",
        {"choices": choices, "selected": request.GET.get("scope", "")},
    )


@require(Perm.VIEW_WORKSPACES)
def workspace_detail(request, slug):
    workspace = get_workspace_for_user(request.user, slug)
    return render(request, "endpoints/workspace_detail.html", _detail_context(request, workspace))


def _detail_context(request, workspace, **extra):
    spent = None
    if has_perm(request.user, Perm.VIEW_COSTS):
        month_start = timezone.localdate().replace(day=1)
        spent = (
            UsageRecord.objects.filter(workspace=workspace, day__gte=month_start).aggregate(
                total=Sum("cost")
            )["total"]
            or 0
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
        on = workspace.toggle_grant(model.name, request.user)
        workspace.endpoints.all().reprobe_soon()
    except ValidationError as exc:  # explain in the cell; nothing changed
        error = " ".join(exc.messages)
        on = workspace.grants.filter(model=model).exists()
    return render(
        request,
        "endpoints/workspace_detail.html#grant-cell",
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
            "endpoints/workspace_detail.html#keys-section",
            {**context, "keys": workspace.api_keys.all(), "key_form": form},
            status=422,
        )
    secret = form.cleaned_data["secret"]
    duplicate = ApiKey.objects.filter(
        secret_sha256=ApiKey.digest(secret), revoked_at__isnull=True
    ).first()
    if duplicate is not None:
        form.add_error(
            "secret",
            f"This key is already stored as '{duplicate.label}' in {duplicate.workspace.name}.",
        )
        return render(
            request,
            "endpoints/workspace_detail.html#keys-section",
            {**context, "keys": workspace.api_keys.all(), "key_form": form},
            status=422,
        )
    key = ApiKey(workspace=workspace, label=form.cleaned_data["label"], created_by=request.user)
    key.set_secret(secret)
    key.save()
    audit.record(request.user, "create", key, after=audit.snapshot(key))
    workspace.endpoints.all().reprobe_soon()
    return render(
        request,
        "endpoints/workspace_detail.html#keys-section",
        {
            **context,
            "keys": workspace.api_keys.all(),
            "key_form": style_widgets(ApiKeyForm()),
            "added_key": key,
            "key_warnings": form.warnings,
        },
    )


@require(Perm.MANAGE_WORKSPACES)
@require_POST
def key_revoke(request, slug, pk):
    workspace = get_workspace_for_user(request.user, slug)
    get_object_or_404(ApiKey, pk=pk, workspace=workspace).revoke(request.user)
    workspace.endpoints.all().reprobe_soon()
    return render(
        request,
        "endpoints/workspace_detail.html#keys-section",
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
        user = form.cleaned_data["username"]
        with transaction.atomic():
            Membership.objects.update_or_create(
                workspace=workspace, user=user, defaults={"is_lead": form.cleaned_data["is_lead"]}
            )
            audit.record(
                request.user,
                "update",
                workspace,
                label=f"{workspace.name}: {'lead' if form.cleaned_data['is_lead'] else 'member'} {user.username}",
            )
        form = style_widgets(MemberForm())
    return _members_section(request, workspace, form, status=200 if not form.errors else 422)


@require(Perm.MANAGE_WORKSPACES)
@require_POST
def member_remove(request, slug, pk):
    workspace = get_workspace_for_user(request.user, slug)
    membership = get_object_or_404(Membership, pk=pk, workspace=workspace)
    membership.delete()
    audit.record(
        request.user,
        "update",
        workspace,
        label=f"{workspace.name}: removed {membership.user.username}",
    )
    return _members_section(request, workspace, style_widgets(MemberForm()))


def _members_section(request, workspace, form, status=200):
    return render(
        request,
        "endpoints/workspace_detail.html#members-section",
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
        before = audit.snapshot(workspace)
        audit.record(request.user, "delete", workspace, before=before)
        workspace.delete()
        messages.success(request, f"Workspace {before['name']} deleted from the portal.")
        if request.htmx:
            return HttpResponseClientRedirect("/workspaces/")
        return redirect("workspace-list")
    return render(
        request, "endpoints/confirm_delete.html", {"object": workspace, "kind": "workspace"}
    )
