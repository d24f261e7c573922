"""The JSON API at /api/v1/: bearer-token auth and JSON errors. Each app has its own router
(`<app>/api.py`); portal/urls.py mounts them.

Error shapes every client can rely on:
- 401 `{"detail": ...}`: no token, or a bad or revoked one;
- 403 `{"detail": ...}`: the token's role may not do this;
- 400 `{"errors": {"field": ["message", ...]}}`: bad input, nothing changed;
- 404 `{"detail": "Not found."}`.
"""

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from ninja import NinjaAPI, Schema
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError
from ninja.security import HttpBearer

from .accounts.models import ApiToken
from .roles import Perm, ensure, perms_for


class TokenAuth(HttpBearer):
    """Bearer token auth that also checks the role, before the body is even parsed:
    no token is a 401, a role without `perm` a 403, and only then is bad input a 400."""

    openapi_description = (
        "A personal API token from your profile page: `Authorization: Bearer ap_…`"
    )

    def __init__(self, perm: Perm | None = None):
        super().__init__()
        self.perm = perm

    def authenticate(self, request, token):
        user = ApiToken.authenticate(token)
        if user is None:
            return None
        request.user = user
        if self.perm is not None:
            ensure(user, self.perm)  # PermissionDenied: the 403 handler below answers
        return user


def requires(perm: Perm) -> TokenAuth:
    """`auth=requires(Perm.X)` on a route: the role table in portal.roles decides."""
    return TokenAuth(perm)


api = NinjaAPI(
    title="Access Portal API",
    version="1",
    description="Workspaces, keys, model permissions, VPC endpoints and probe results.",
    urls_namespace="api",
    auth=TokenAuth(),
    openapi_url="/openapi.json",
    docs_url="/docs",
)


def _field_name(loc) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "payload", "data")]
    return ".".join(parts) or "__all__"


@api.exception_handler(NinjaValidationError)
def on_schema_error(request, exc):
    errors: dict[str, list[str]] = {}
    for error in exc.errors:
        field = _field_name(error.get("loc", ()))
        message = error.get("msg", "Invalid value.")
        if error.get("type") == "missing":
            message = "This field is required."
        errors.setdefault(field, []).append(message)
    return api.create_response(request, {"errors": errors}, status=400)


@api.exception_handler(DjangoValidationError)
def on_domain_error(request, exc):
    if hasattr(exc, "error_dict"):
        errors = {field: list(messages) for field, messages in exc.message_dict.items()}
    else:
        errors = {"__all__": list(exc.messages)}
    return api.create_response(request, {"errors": errors}, status=400)


@api.exception_handler(AuthenticationError)
def on_auth_error(request, exc):
    response = api.create_response(
        request, {"detail": "Missing, invalid or revoked API token."}, status=401
    )
    response["WWW-Authenticate"] = 'Bearer realm="access-portal"'
    return response


@api.exception_handler(PermissionDenied)
def on_forbidden(request, exc):
    detail = str(exc) or "Your role may not do this."
    return api.create_response(request, {"detail": detail}, status=403)


@api.exception_handler(Http404)
def on_not_found(request, exc):
    return api.create_response(request, {"detail": "Not found."}, status=404)


@api.exception_handler(HttpError)
def on_http_error(request, exc):
    return api.create_response(request, {"detail": str(exc)}, status=exc.status_code)


class MeOut(Schema):
    username: str
    role: str
    permissions: list[str]


@api.get(
    "/me",
    response=MeOut,
    tags=["auth"],
    summary="Who this token belongs to (any role)",
    auth=TokenAuth(),  # every role may ask who it is: a token, no permission
)
def me(request):
    return {
        "username": request.user.username,
        "role": request.user.role,
        "permissions": sorted(perms_for(request.user)),
    }
