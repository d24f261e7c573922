from django.urls import path

from . import views

urlpatterns = [
    path("costs/", views.cost_split, name="cost-split"),
    path("costs/workspaces/<slug:slug>/", views.workspace_costs, name="cost-workspace"),
    path("costs/reconciliation/", views.reconciliation, name="cost-reconciliation"),
    path("costs/prices/", views.price_list, name="cost-prices"),
    path("costs/prices/new/", views.price_create, name="cost-price-create"),
    path("costs/prices/<int:pk>/edit/", views.price_edit, name="cost-price-edit"),
    path("costs/prices/<int:pk>/delete/", views.price_delete, name="cost-price-delete"),
    path("costs/bills/", views.bill_list, name="cost-bills"),
    path("costs/bills/<uuid:pk>/", views.bill_detail, name="cost-bill"),
    path("costs/bills/<uuid:pk>/mapping/", views.bill_mapping, name="cost-bill-mapping"),
    path("costs/bills/<uuid:pk>/confirm/", views.bill_confirm, name="cost-bill-confirm"),
    path("costs/bills/<uuid:pk>/progress/", views.bill_progress, name="cost-bill-progress"),
    path("costs/bills/<uuid:pk>/unmapped.csv", views.bill_problems_csv, name="cost-bill-problems"),
]
