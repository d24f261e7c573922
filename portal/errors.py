"""Error pages of the portal's own (the 403, 404 and 500 pages are plain templates)."""

from django.core.exceptions import RequestDataTooBig
from django.http import HttpResponse
from django.template.loader import render_to_string


def bad_request(request, exception=None):
    """Django's 400 for a refused Host header, too many fields or a body over the upload limit,
    which is a 413. Rendered without the request, like Django's own: what was refused may be
    the very header a context processor would read. Under /api/ the body becomes JSON
    (portal.middleware.ApiErrorsAsJsonMiddleware)."""
    too_big = isinstance(exception, RequestDataTooBig)
    html = render_to_string("400.html", {"too_big": too_big})
    return HttpResponse(html, status=413 if too_big else 400)
