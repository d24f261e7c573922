from django.urls import path

from . import views

urlpatterns = [
    path("incidents/", views.incident_list, name="incident-list"),
    path("incidents/<int:pk>/", views.incident_detail, name="incident-detail"),
    path("incidents/<int:pk>/ack/", views.incident_ack, name="incident-ack"),
    path("maintenance/", views.maintenance_list, name="maintenance-list"),
    path("maintenance/<int:pk>/delete/", views.maintenance_delete, name="maintenance-delete"),
    path("workspaces/<slug:slug>/sla/", views.sla_report, name="sla-report"),
]
