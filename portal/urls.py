"""The URL map: each app's pages, and each app's API router under /api/v1/."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from endpoints.agents.api import router as agents_api
from endpoints.network.api import router as network_api
from endpoints.probes.api import router as probes_api
from endpoints.status.api import router as status_api
from endpoints.status.metrics import metrics_view
from portal.alerts.api import router as alerts_api
from portal.costs.api import router as costs_api
from portal.workspaces.api import router as workspaces_api

from .api import api

for router in (
    workspaces_api,
    costs_api,
    network_api,
    probes_api,
    agents_api,
    status_api,
    alerts_api,
):
    api.add_router("/", router)

handler400 = "portal.errors.bad_request"  # a body over the upload limit is a 413

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
    path("metrics", metrics_view, name="metrics"),
    path("", include("portal.accounts.urls")),
    path("", include("portal.audit.urls")),
    path("", include("portal.workspaces.urls")),
    path("", include("portal.costs.urls")),
    path("", include("endpoints.network.urls")),
    path("", include("endpoints.probes.urls")),
    path("", include("endpoints.agents.urls")),
    path("", include("endpoints.status.urls")),
    path("", include("portal.alerts.urls")),
]
