from django.urls import path

from . import views

urlpatterns = [
    path("endpoints/<int:pk>/", views.endpoint_detail, name="endpoint-detail"),
    path("endpoints/<int:pk>/probe/", views.probe_endpoint, name="endpoint-probe"),
    path("probes/", views.probe_board, name="probe-board"),
    path("probes/all/", views.probe_all, name="probe-all"),
    path("probes/runs/<uuid:run_id>/", views.probe_run, name="probe-run"),
]
