"""The landing redirect and the profile page with personal API tokens."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from portal import inputs
from portal.roles import home_url_name

from . import services
from .models import ApiToken


@login_required
def home(request):
    return redirect(home_url_name(request.user))


@login_required
def profile(request):
    tokens = request.user.api_tokens.all()
    return render(request, "accounts/profile.html", {"tokens": tokens})


@login_required
@require_POST
def token_create(request):
    name = request.POST.get("name", "").strip()
    tokens = request.user.api_tokens.all()
    if not name or len(name) > 100 or inputs.text_problem(name):
        return render(
            request,
            "accounts/profile.html#token-section",
            {
                "tokens": tokens,
                "name_error": "Give the token a name of up to 100 characters.",
                "name": name,
            },
            status=400 if not request.htmx else 200,
        )
    token, plaintext = services.issue_token(request.user, name, actor=request.user)
    return render(
        request,
        "accounts/profile.html#token-section",
        {"tokens": request.user.api_tokens.all(), "new_token": plaintext, "new_token_row": token},
    )


@login_required
@require_POST
def token_revoke(request, pk):
    token = get_object_or_404(ApiToken, pk=pk, user=request.user)
    if services.revoke_token(token, actor=request.user):
        messages.success(request, f"Token '{token.name}' revoked; it no longer works.")
    if request.htmx:
        return render(
            request,
            "accounts/profile.html#token-section",
            {"tokens": request.user.api_tokens.all()},
        )
    return redirect("profile")


def locked_out(request, original_response=None, credentials=None):
    """django-axes' answer to a sign-in of a locked (username, address) pair: the reason and
    what to do, with 429 Too Many Requests."""
    from axes.helpers import get_client_username, get_cool_off

    cool_off = get_cool_off(request)
    context = {
        "username": get_client_username(request, credentials) or "",
        "failure_limit": settings.AXES_FAILURE_LIMIT,
        "minutes": round(cool_off.total_seconds() / 60) if cool_off else None,
    }
    return render(request, "registration/locked_out.html", context, status=429)
