"""The JSON API at /api/v1/: bearer-token auth and JSON errors. Each app has its own router
(`<app>/api.py`); portal/urls.py mounts them.

Error shapes every client can rely on:
- 401 `{"detail": ...}`: no token, or a bad or revoked one;
- 403 `{"detail": ...}`: the token's role may not do this;
- 400 `{"errors": {"field": ["message", ...]}}`: bad input, nothing changed;
- 404 `{"detail": "Not found."}` (an unknown route under /api/v1/ too:
  `portal.middleware.ApiErrorsAsJsonMiddleware`);
- 413 `{"detail": ...}`: a body over the upload limit.
Every operation documents them in the OpenAPI schema (`PortalAPI.get_openapi_schema`).
"""

from django.conf import settings
from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from ninja import NinjaAPI, Schema
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError
from ninja.parser import Parser
from ninja.security import HttpBearer

from . import inputs
from .accounts.models import ApiToken
from .roles import Perm, ensure, perms_for

BODY_METHODS = {"POST", "PUT", "PATCH"}
_PARSED = "_portal_json_body"


def check_input(request, *, body: bool = True) -> None:
    """Refuse a query string or JSON body holding text no field may store (a NUL, a lone
    surrogate), or a body that is not a strict JSON object, with a 400 naming the field.
    Called once the caller's role is known to be allowed, so a forbidden caller still gets
    its 403 first. `body=False`: the route reads (and answers for) its body itself."""
    problems = inputs.querydict_problems(request.GET)
    if body and request.method in BODY_METHODS and request.body:
        try:
            data = inputs.loads(request.body)
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            raise DjangoValidationError({"__all__": [inputs.NOT_JSON.format(error=exc)]}) from None
        if not isinstance(data, dict):  # ninja would read a string as an empty PATCH
            raise DjangoValidationError({"__all__": [inputs.NOT_AN_OBJECT]})
        setattr(request, _PARSED, data)
        for field, messages in inputs.problems_in(data).items():
            problems.setdefault(field, []).extend(messages)
    if problems:
        raise DjangoValidationError(problems)


class StrictJsonParser(Parser):
    """The body as `check_input` parsed it (strict JSON: no NaN or Infinity)."""

    def parse_body(self, request):
        if hasattr(request, _PARSED):
            return getattr(request, _PARSED)
        return inputs.loads(request.body)


class TokenAuth(HttpBearer):
    """Bearer token auth that also checks the role, before the body is even parsed:
    no token is a 401, a role without `perm` a 403, and only then is bad input a 400."""

    openapi_description = (
        "A personal API token from your profile page: `Authorization: Bearer ap_…`"
    )

    def __init__(self, perm: Perm | None = None, *, own_body: bool = False):
        super().__init__()
        self.perm = perm
        self.own_body = own_body

    def authenticate(self, request, token):
        user = ApiToken.authenticate(token)
        if user is None:
            return None
        request.user = user
        if self.perm is not None:
            ensure(user, self.perm)  # PermissionDenied: the 403 handler below answers
        check_input(request, body=not self.own_body)  # ValidationError: a 400 naming the field
        return user


def requires(perm: Perm, *, own_body: bool = False) -> TokenAuth:
    """`auth=requires(Perm.X)` on a route: the role table in portal.roles decides.
    `own_body=True`: a route whose body is not one JSON object (an array of rows) checks it
    itself, with `inputs.loads` and `inputs.problems_in`, and answers in its own shape."""
    return TokenAuth(perm, own_body=own_body)


class ErrorDetail(Schema):
    detail: str


class FieldErrors(Schema):
    errors: dict[str, list[str]]


ERROR_RESPONSES = {
    400: (
        "FieldErrors",
        "Bad input, by field (`__all__`: the request as a whole); nothing changed.",
    ),
    401: ("ErrorDetail", "No token, or a bad or revoked one."),
    403: ("ErrorDetail", "The token's role may not do this."),
    404: ("ErrorDetail", "Not found (or not yours to see)."),
    413: ("ErrorDetail", "The body is larger than the upload limit."),
}


class PortalAPI(NinjaAPI):
    def get_openapi_schema(self, *args, **kwargs):
        """Ninja's schema, with the error answers every client can rely on documented on each
        operation: 400 and 401 everywhere, 403 where a role is needed, 404 where the path names
        an object, 413 where a body is read."""
        schema = super().get_openapi_schema(*args, **kwargs)
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components["ErrorDetail"] = ErrorDetail.model_json_schema()
        components["FieldErrors"] = FieldErrors.model_json_schema()
        perms = self._operation_perms()
        for path, operations in schema.get("paths", {}).items():
            for method, operation in operations.items():
                codes = [400, 401]
                if perms.get(operation.get("operationId")) is not None:
                    codes.append(403)
                if "{" in path:
                    codes.append(404)
                if method.upper() in BODY_METHODS:
                    codes.append(413)
                responses = operation.setdefault("responses", {})
                for code in codes:
                    name, description = ERROR_RESPONSES[code]
                    responses.setdefault(
                        code,
                        {
                            "description": description,
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": f"#/components/schemas/{name}"}
                                }
                            },
                        },
                    )
        return schema

    def _operation_perms(self) -> dict[str, Perm | None]:
        """operationId → the permission its token check requires (None: any role)."""
        found = {}
        for router in self._get_bound_routers():
            for path_view in router.path_operations.values():
                for operation in path_view.operations:
                    operation_id = operation.operation_id or self.get_openapi_operation_id(
                        operation
                    )
                    found[operation_id] = next(
                        (
                            getattr(callback, "perm", None)
                            for callback in operation.auth_callbacks
                            if getattr(callback, "perm", None) is not None
                        ),
                        None,
                    )
        return found


api = PortalAPI(
    title="Access Portal API",
    version="1",
    description="Workspaces, keys, model permissions, VPC endpoints and probe results.",
    urls_namespace="api",
    auth=TokenAuth(),
    openapi_url="/openapi.json",
    docs_url="/docs",
    parser=StrictJsonParser(),
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
    if exc.status_code == 400:  # the documented shape of a 400, whoever raised it
        return api.create_response(request, {"errors": {"__all__": [str(exc)]}}, status=400)
    return api.create_response(request, {"detail": str(exc)}, status=exc.status_code)


@api.exception_handler(RequestDataTooBig)
def on_too_big(request, exc):
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return api.create_response(
        request,
        {"detail": f"The body is larger than the limit of {limit:,} bytes."},
        status=413,
    )


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
