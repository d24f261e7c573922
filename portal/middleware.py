"""Middleware of the portal's own."""

import json

from django.db import connection
from django.http import Http404, HttpResponse, HttpResponseBadRequest
from django.template.loader import render_to_string

from . import inputs


class HealthCheckMiddleware:
    """Answer /healthz before host validation and HTTPS redirects.

    Container health checks and load balancers call it by IP over plain HTTP, with a Host
    header that ALLOWED_HOSTS rightly refuses for every other page. It checks the database.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path == "/healthz":
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
            return HttpResponse("ok", content_type="text/plain")
        return self.get_response(request)


API_PREFIX = "/api/"
API_DETAILS = {404: "Not found.", 405: "Method not allowed.", 413: "The body is too large."}


class ApiErrorsAsJsonMiddleware:
    """Errors under /api/ are JSON, whoever answered: an unknown route (Django's 404), a method
    the route lacks (ninja's 405), a refused Host header or a body over the upload limit
    (Django's 400 and 413). The response keeps its status and headers; only the HTML body
    becomes the documented `{"detail": ...}` (400: `{"errors": {"__all__": [...]}}`)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (
            request.path.startswith(API_PREFIX)
            and response.status_code >= 400
            and not response.get("Content-Type", "").startswith("application/json")
            and not response.streaming
        ):
            detail = API_DETAILS.get(response.status_code, f"{response.reason_phrase}.")
            body = (
                {"errors": {"__all__": [detail]}}
                if response.status_code == 400
                else {"detail": detail}
            )
            response.content = json.dumps(body).encode()
            response["Content-Type"] = "application/json; charset=utf-8"
        return response


class RefuseUnsafeTextMiddleware:
    """Text no field may hold (portal.inputs) never reaches a view through the request line or
    the headers: a NUL in the path is simply not found; in a header or cookie (which no real
    client sends) a 400; in a page's query string a 400 naming the parameter. The API's query
    strings and bodies are checked after its role check (portal.api.check_input)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if "\x00" in request.path_info:
            raise Http404("No such page.")
        for key, value in request.META.items():
            problem = inputs.text_problem(value) if isinstance(value, str) else None
            if key.startswith("HTTP_") and problem:
                return _bad_request([f"The {key[5:].replace('_', '-').title()} header: {problem}"])
        if not request.path.startswith(API_PREFIX):
            problems = inputs.querydict_problems(request.GET)
            if problems:
                return _bad_request(
                    [
                        f"The address's '{name}' parameter: {' '.join(messages)}"
                        for name, messages in problems.items()
                    ]
                )
        return self.get_response(request)


def _bad_request(reasons: list[str]) -> HttpResponse:
    # Rendered without the request: its session cookie may be what was refused.
    html = render_to_string("400.html", {"reasons": reasons})
    return HttpResponseBadRequest(html)
